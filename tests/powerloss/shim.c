/*
 * shim.c - an LD_PRELOAD library that records every change and every flush
 * a process makes to the files of one directory, for the power-loss test
 * (tests/it_powerloss.c; the format is powerloss_log.h).
 *
 * Interposed: write, pwrite, writev, pwritev, pwritev2 (and their 64
 * names), ftruncate, truncate, fallocate, posix_fallocate, fsync,
 * fdatasync, sync, syncfs, sync_file_range, msync, the open family (a file
 * created, or truncated by O_TRUNC), rename, renameat, renameat2, unlink,
 * unlinkat, and mmap (a writable shared mapping of a watched file other
 * than LMDB's lock.mdb cannot be replayed and is logged as such, as are
 * copy_file_range and sendfile into a watched file). Each calls the real
 * function (dlsym RTLD_NEXT) and, when it succeeded on a file in
 * $POWERLOSS_DIR, appends one record.
 *
 * Whether a write is durable when it returns is read from the descriptor
 * at the time of the write (O_DSYNC, O_SYNC) or from pwritev2's flags, so
 * LMDB's meta page, written through a descriptor opened with O_DSYNC, is
 * recorded as durable and its data pages, written through another one, as
 * not durable until an fdatasync of the file.
 *
 * One mutex is held from before the real call until its record is written,
 * for calls on watched files only, so the log's order is the order in which
 * the calls took effect, across threads. Stdio is not interposed (glibc's
 * internal calls bypass the symbols); accrued does not use it for its data
 * directory. A descriptor is matched by its /proc/self/fd link, so files
 * opened by any means are seen.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "powerloss_log.h"

/* Declared by glibc only under _FORTIFY_SOURCE; interposed all the same. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

static pthread_mutex_t shim_mu = PTHREAD_MUTEX_INITIALIZER;
static uint32_t *busy; /* POWERLOSS_BUSY's word, or NULL */
static int log_fd = -1, data_fd = -1;
static uint64_t data_end;
static char watch[PATH_MAX];
static size_t watch_len;
static int lie_sync, lie_dsync;
static _Thread_local int in_resolve;

/* ---- the real functions ------------------------------------------------ */

static void *resolve(const char *name)
{
	void *p;

	in_resolve++;
	p = dlsym(RTLD_NEXT, name);
	in_resolve--;
	if (!p) {
		static const char msg[] = "powerloss shim: a libc function is missing\n";
		if (syscall(SYS_write, 2, msg, sizeof msg - 1) < 0)
			_exit(127);
		_exit(127);
	}
	return p;
}

/* The real function NAME of type TYPE, looked up once into the slot real_NAME. */
#define REAL(type, name) ((type)real_fn(&real_##name, #name))

static void *real_fn(void **slot, const char *name)
{
	void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	if (!p) {
		p = resolve(name);
		__atomic_store_n(slot, p, __ATOMIC_RELEASE);
	}
	return p;
}

static void *real_write, *real_pwrite, *real_writev, *real_pwritev, *real_pwritev2, *real_ftruncate, *real_truncate,
	*real_fallocate, *real_posix_fallocate, *real_fsync, *real_fdatasync, *real_syncfs, *real_sync,
	*real_sync_file_range, *real_msync, *real_openat, *real_renameat2, *real_unlinkat, *real_mmap,
	*real_copy_file_range, *real_sendfile;

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t (*pwritev2_fn)(int, const struct iovec *, int, off_t, int);
typedef int (*fd_fn)(int);
typedef void (*void_fn)(void);
typedef int (*ftruncate_fn)(int, off_t);
typedef int (*truncate_fn)(const char *, off_t);
typedef int (*fallocate_fn)(int, int, off_t, off_t);
typedef int (*posix_fallocate_fn)(int, off_t, off_t);
typedef int (*sync_file_range_fn)(int, off_t, off_t, unsigned int);
typedef int (*msync_fn)(void *, size_t, int);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*rename_fn)(const char *, const char *);
typedef int (*renameat_fn)(int, const char *, int, const char *);
typedef int (*renameat2_fn)(int, const char *, int, const char *, unsigned int);
typedef int (*unlink_fn)(const char *);
typedef int (*unlinkat_fn)(int, const char *, int);
typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef ssize_t (*copy_file_range_fn)(int, off_t *, int, off_t *, size_t, unsigned int);
typedef ssize_t (*sendfile_fn)(int, int, off_t *, size_t);

/* Around every watched call and its record (see PL_ENV_BUSY). */
static void shim_lock(void)
{
	pthread_mutex_lock(&shim_mu);
	if (busy)
		__atomic_store_n(busy, 1, __ATOMIC_SEQ_CST);
}

static void shim_unlock(void)
{
	if (busy)
		__atomic_store_n(busy, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&shim_mu);
}

/* ---- set-up ------------------------------------------------------------- */

__attribute__((constructor)) static void shim_init(void)
{
	const char *log = getenv(PL_ENV_LOG), *data = getenv(PL_ENV_DATA), *dir = getenv(PL_ENV_DIR);
	const char *lie = getenv(PL_ENV_LIE), *busy_path = getenv(PL_ENV_BUSY);
	openat_fn openat_real = REAL(openat_fn, openat);
	struct stat st;

	if (!log || !data || !dir || !*dir || strlen(dir) >= sizeof watch)
		return;
	log_fd = openat_real(AT_FDCWD, log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	data_fd = openat_real(AT_FDCWD, data, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (log_fd < 0 || data_fd < 0 || fstat(data_fd, &st) != 0) {
		fprintf(stderr, "powerloss shim: cannot open %s or %s: %s\n", log, data, strerror(errno));
		_exit(127);
	}
	if (busy_path) {
		int fd = openat_real(AT_FDCWD, busy_path, O_RDWR | O_CLOEXEC);
		void *p = fd >= 0 ? mmap(NULL, sizeof *busy, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
		if (p == MAP_FAILED) {
			fprintf(stderr, "powerloss shim: cannot map %s: %s\n", busy_path, strerror(errno));
			_exit(127);
		}
		close(fd);
		busy = p;
	}
	/* The data file outlives a daemon: the next one appends after it. */
	data_end = (uint64_t)st.st_size;
	snprintf(watch, sizeof watch, "%s", dir);
	watch_len = strlen(watch);
	while (watch_len > 1 && watch[watch_len - 1] == '/')
		watch[--watch_len] = '\0';
	if (lie && strcmp(lie, "sync") == 0) {
		lie_sync = 1;
	} else if (lie && strcmp(lie, "all") == 0) {
		lie_sync = 1;
		lie_dsync = 1;
	}
}

/* ---- which file --------------------------------------------------------- */

/*
 * A canonical path: its name in the watched directory (1), the directory
 * itself (2, name ""), or neither (0).
 */
static int canonical_name(const char *path, char name[PL_NAME_MAX])
{
	const char *rest;

	if (strncmp(path, watch, watch_len) != 0)
		return 0;
	if (path[watch_len] == '\0') {
		name[0] = '\0';
		return 2;
	}
	rest = path + watch_len;
	if (*rest != '/' || strchr(rest + 1, '/') || !rest[1])
		return 0;
	snprintf(name, PL_NAME_MAX, "%s", rest + 1);
	return 1;
}

/* What a descriptor is open on, as canonical_name says. */
static int fd_name(int fd, char name[PL_NAME_MAX])
{
	struct stat st;
	char link[64], path[PATH_MAX];
	ssize_t n;

	if (fd < 0 || !watch_len || fd == log_fd || fd == data_fd)
		return 0;
	if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
		return 0;
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof path - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	/* An unlinked file is in no directory: nothing written to it survives a power cut. */
	if ((size_t)n > 10 && strcmp(path + n - 10, " (deleted)") == 0)
		return 0;
	return canonical_name(path, name);
}

/* What a path (relative to dirfd) names, as canonical_name says; the file itself need not exist. */
static int path_name(int dirfd, const char *path, char name[PL_NAME_MAX])
{
	char dir[PATH_MAX], real[PATH_MAX], full[PATH_MAX * 2 + 2];
	const char *slash, *base;

	if (!watch_len || !path)
		return 0;
	slash = strrchr(path, '/');
	if (slash) {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof dir)
			return 0;
		memcpy(dir, path, n);
		dir[n] = '\0';
		if (n == 0)
			snprintf(dir, sizeof dir, "/");
		base = slash + 1;
	} else {
		snprintf(dir, sizeof dir, ".");
		base = path;
	}
	if (dir[0] != '/' && dirfd != AT_FDCWD) {
		char link[64], at[PATH_MAX];
		ssize_t n;
		snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
		n = readlink(link, at, sizeof at - 1);
		if (n <= 0)
			return 0;
		at[n] = '\0';
		snprintf(full, sizeof full, "%s/%s", at, dir);
	} else {
		snprintf(full, sizeof full, "%s", dir);
	}
	if (!realpath(full, real))
		return 0;
	if (*base == '\0' || strcmp(base, ".") == 0)
		return canonical_name(real, name);
	snprintf(full, sizeof full, "%s/%s", strcmp(real, "/") == 0 ? "" : real, base);
	return canonical_name(full, name);
}

/* ---- the log ------------------------------------------------------------ */

static void write_all(int fd, const void *buf, size_t len)
{
	write_fn write_real = REAL(write_fn, write);
	const char *p = buf;

	while (len) {
		ssize_t w = write_real(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			static const char msg[] = "powerloss shim: cannot write the log\n";
			if (write_real(2, msg, sizeof msg - 1) < 0)
				_exit(127);
			_exit(127);
		}
		p += w;
		len -= (size_t)w;
	}
}

/* Append a record. Called with shim_mu held. */
static void log_record(uint16_t op, uint16_t flags, const char *name, const char *name2, uint64_t off, uint64_t len,
		       uint64_t data_off, uint64_t arg)
{
	struct pl_record r;

	memset(&r, 0, sizeof r);
	r.magic = PL_MAGIC;
	r.op = op;
	r.flags = flags;
	r.pid = (uint32_t)getpid();
	r.off = off;
	r.len = len;
	r.data_off = data_off;
	r.arg = arg;
	if (name)
		snprintf(r.name, sizeof r.name, "%s", name);
	if (name2)
		snprintf(r.name2, sizeof r.name2, "%s", name2);
	write_all(log_fd, &r, sizeof r);
}

static int all_zero(const struct iovec *iov, int iovcnt, size_t total)
{
	for (int i = 0; i < iovcnt && total; i++) {
		const unsigned char *p = iov[i].iov_base;
		size_t n = iov[i].iov_len < total ? iov[i].iov_len : total;
		for (size_t j = 0; j < n; j++)
			if (p[j])
				return 0;
		total -= n;
	}
	return 1;
}

/* Log the first `written` bytes of iov as written at off. Called with shim_mu held. */
static void log_write(const char *name, const struct iovec *iov, int iovcnt, size_t written, uint64_t off, int dsync)
{
	uint16_t flags = 0;
	uint64_t data_off = 0;

	if (dsync && lie_dsync)
		flags |= PL_F_LIED;
	else if (dsync)
		flags |= PL_F_DSYNC;
	if (all_zero(iov, iovcnt, written)) {
		flags |= PL_F_ZERO;
	} else {
		size_t left = written;
		data_off = data_end;
		for (int i = 0; i < iovcnt && left; i++) {
			size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
			write_all(data_fd, iov[i].iov_base, n);
			left -= n;
		}
		data_end += written;
	}
	log_record(PL_WRITE, flags, name, NULL, off, written, data_off, 0);
}

/* ---- writes ----------------------------------------------------------------- */

static int fd_dsync(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_DSYNC);
}

/* Where a write without an offset goes: the current offset, or the end with O_APPEND. */
static off_t fd_position(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	struct stat st;

	if (fl >= 0 && (fl & O_APPEND))
		return fstat(fd, &st) == 0 ? st.st_size : -1;
	return lseek(fd, 0, SEEK_CUR);
}

/*
 * The common path of every write. off < 0: at the descriptor's offset.
 * extra_dsync: pwritev2's RWF_DSYNC or RWF_SYNC.
 */
static ssize_t do_write(int fd, const struct iovec *iov, int iovcnt, off_t off, int extra_dsync,
			ssize_t (*call)(int, const struct iovec *, int, off_t, const void *), const void *ctx)
{
	char name[PL_NAME_MAX];
	ssize_t r;
	int saved, kind = fd_name(fd, name);

	if (kind != 1)
		return call(fd, iov, iovcnt, off, ctx);
	shim_lock();
	{
		off_t at = off >= 0 ? off : fd_position(fd);
		int dsync = extra_dsync || fd_dsync(fd);
		r = call(fd, iov, iovcnt, off, ctx);
		saved = errno;
		if (r > 0)
			log_write(name, iov, iovcnt, (size_t)r, (uint64_t)at, dsync);
	}
	shim_unlock();
	errno = saved;
	return r;
}

static ssize_t call_write(int fd, const struct iovec *iov, int iovcnt, off_t off, const void *ctx)
{
	return REAL(write_fn, write)(fd, iov[0].iov_base, iov[0].iov_len);
}

static ssize_t call_pwrite(int fd, const struct iovec *iov, int iovcnt, off_t off, const void *ctx)
{
	return REAL(pwrite_fn, pwrite)(fd, iov[0].iov_base, iov[0].iov_len, off);
}

static ssize_t call_writev(int fd, const struct iovec *iov, int iovcnt, off_t off, const void *ctx)
{
	return REAL(writev_fn, writev)(fd, iov, iovcnt);
}

static ssize_t call_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off, const void *ctx)
{
	return REAL(pwritev_fn, pwritev)(fd, iov, iovcnt, off);
}

static ssize_t call_pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, const void *ctx)
{
	return REAL(pwritev2_fn, pwritev2)(fd, iov, iovcnt, off, *(const int *)ctx);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	struct iovec iov = { (void *)buf, n };
	return do_write(fd, &iov, 1, -1, 0, call_write, NULL);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	struct iovec iov = { (void *)buf, n };
	return do_write(fd, &iov, 1, off, 0, call_pwrite, NULL);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	return pwrite(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	return do_write(fd, iov, iovcnt, -1, 0, call_writev, NULL);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	return do_write(fd, iov, iovcnt, off, 0, call_pwritev, NULL);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off64_t off)
{
	return pwritev(fd, iov, iovcnt, off);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	int dsync = (flags & (RWF_DSYNC | RWF_SYNC)) != 0;
	/* -1: at the descriptor's offset, as writev. */
	return do_write(fd, iov, iovcnt, off, dsync, call_pwritev2, &flags);
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int iovcnt, off64_t off, int flags)
{
	return pwritev2(fd, iov, iovcnt, off, flags);
}

/* ---- sizes -------------------------------------------------------------------- */

int ftruncate(int fd, off_t len)
{
	char name[PL_NAME_MAX];
	int r, saved;

	if (fd_name(fd, name) != 1)
		return REAL(ftruncate_fn, ftruncate)(fd, len);
	shim_lock();
	r = REAL(ftruncate_fn, ftruncate)(fd, len);
	saved = errno;
	if (r == 0)
		log_record(PL_TRUNCATE, 0, name, NULL, (uint64_t)len, 0, 0, 0);
	shim_unlock();
	errno = saved;
	return r;
}

int ftruncate64(int fd, off64_t len)
{
	return ftruncate(fd, len);
}

int truncate(const char *path, off_t len)
{
	char name[PL_NAME_MAX];
	int r, saved;

	if (path_name(AT_FDCWD, path, name) != 1)
		return REAL(truncate_fn, truncate)(path, len);
	shim_lock();
	r = REAL(truncate_fn, truncate)(path, len);
	saved = errno;
	if (r == 0)
		log_record(PL_TRUNCATE, 0, name, NULL, (uint64_t)len, 0, 0, 0);
	shim_unlock();
	errno = saved;
	return r;
}

int truncate64(const char *path, off64_t len)
{
	return truncate(path, len);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	char name[PL_NAME_MAX];
	int r, saved;

	if (fd_name(fd, name) != 1)
		return REAL(fallocate_fn, fallocate)(fd, mode, off, len);
	shim_lock();
	r = REAL(fallocate_fn, fallocate)(fd, mode, off, len);
	saved = errno;
	if (r == 0)
		log_record(PL_FALLOCATE, 0, name, NULL, (uint64_t)off, (uint64_t)len, 0, (uint64_t)mode);
	shim_unlock();
	errno = saved;
	return r;
}

int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
	return fallocate(fd, mode, off, len);
}

int posix_fallocate(int fd, off_t off, off_t len)
{
	char name[PL_NAME_MAX];
	int r;

	if (fd_name(fd, name) != 1)
		return REAL(posix_fallocate_fn, posix_fallocate)(fd, off, len);
	shim_lock();
	r = REAL(posix_fallocate_fn, posix_fallocate)(fd, off, len);
	if (r == 0)
		log_record(PL_FALLOCATE, 0, name, NULL, (uint64_t)off, (uint64_t)len, 0, 0);
	shim_unlock();
	return r;
}

int posix_fallocate64(int fd, off64_t off, off64_t len)
{
	return posix_fallocate(fd, off, len);
}

/* ---- flushes -------------------------------------------------------------------- */

static int do_sync(int fd, fd_fn real)
{
	char name[PL_NAME_MAX];
	int r, saved, kind = fd_name(fd, name);

	if (kind == 0)
		return real(fd);
	shim_lock();
	if (lie_sync) {
		r = 0;
		saved = errno;
		log_record(kind == 2 ? PL_DIRSYNC : PL_SYNC, PL_F_LIED, name, NULL, 0, 0, 0, 0);
	} else {
		r = real(fd);
		saved = errno;
		if (r == 0)
			log_record(kind == 2 ? PL_DIRSYNC : PL_SYNC, 0, name, NULL, 0, 0, 0, 0);
	}
	shim_unlock();
	errno = saved;
	return r;
}

int fsync(int fd)
{
	return do_sync(fd, REAL(fd_fn, fsync));
}

int fdatasync(int fd)
{
	return do_sync(fd, REAL(fd_fn, fdatasync));
}

int syncfs(int fd)
{
	int r, saved;

	if (!watch_len)
		return REAL(fd_fn, syncfs)(fd);
	shim_lock();
	r = lie_sync ? 0 : REAL(fd_fn, syncfs)(fd);
	saved = errno;
	if (r == 0)
		log_record(PL_SYNC_ALL, lie_sync ? PL_F_LIED : 0, NULL, NULL, 0, 0, 0, 0);
	shim_unlock();
	errno = saved;
	return r;
}

void sync(void)
{
	if (!watch_len) {
		REAL(void_fn, sync)();
		return;
	}
	shim_lock();
	if (!lie_sync)
		REAL(void_fn, sync)();
	log_record(PL_SYNC_ALL, lie_sync ? PL_F_LIED : 0, NULL, NULL, 0, 0, 0, 0);
	shim_unlock();
}

/* No promise of durability (metadata and the disk's cache are not flushed): logged, modelled as nothing. */
int sync_file_range(int fd, off_t off, off_t len, unsigned int flags)
{
	char name[PL_NAME_MAX];
	int r = REAL(sync_file_range_fn, sync_file_range)(fd, off, len, flags), saved = errno;

	if (r == 0 && fd_name(fd, name) == 1) {
		shim_lock();
		log_record(PL_SYNC_RANGE, 0, name, "sync_file_range", (uint64_t)off, (uint64_t)len, 0, flags);
		shim_unlock();
	}
	errno = saved;
	return r;
}

int msync(void *addr, size_t len, int flags)
{
	int r = REAL(msync_fn, msync)(addr, len, flags), saved = errno;

	if (watch_len) {
		shim_lock();
		log_record(PL_SYNC_RANGE, 0, NULL, "msync", (uint64_t)(uintptr_t)addr, len, 0, (uint64_t)flags);
		shim_unlock();
	}
	errno = saved;
	return r;
}

/* ---- mappings and copies that bypass write ----------------------------------- */

static void *do_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	char name[PL_NAME_MAX];
	void *p;
	int saved;

	/* dlsym may allocate; an mmap from inside it goes straight to the kernel. */
	if (in_resolve)
		return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	p = REAL(mmap_fn, mmap)(addr, len, prot, flags, fd, off);
	saved = errno;
	if (p != MAP_FAILED && fd >= 0 && (prot & PROT_WRITE) && (flags & MAP_SHARED) && fd_name(fd, name) == 1 &&
	    strcmp(name, "lock.mdb") != 0) {
		shim_lock();
		log_record(PL_UNMODELLED, 0, name, "mmap PROT_WRITE MAP_SHARED", (uint64_t)off, len, 0, 0);
		shim_unlock();
	}
	errno = saved;
	return p;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	return do_mmap(addr, len, prot, flags, fd, off);
}

static void log_unmodelled_fd(int fd, const char *what)
{
	char name[PL_NAME_MAX];

	if (fd_name(fd, name) == 1) {
		shim_lock();
		log_record(PL_UNMODELLED, 0, name, what, 0, 0, 0, 0);
		shim_unlock();
	}
}

ssize_t copy_file_range(int in, off_t *in_off, int out, off_t *out_off, size_t len, unsigned int flags)
{
	ssize_t r = REAL(copy_file_range_fn, copy_file_range)(in, in_off, out, out_off, len, flags);
	int saved = errno;

	if (r > 0)
		log_unmodelled_fd(out, "copy_file_range");
	errno = saved;
	return r;
}

ssize_t sendfile(int out, int in, off_t *off, size_t len)
{
	ssize_t r = REAL(sendfile_fn, sendfile)(out, in, off, len);
	int saved = errno;

	if (r > 0)
		log_unmodelled_fd(out, "sendfile");
	errno = saved;
	return r;
}

ssize_t sendfile64(int out, int in, off64_t *off, size_t len)
{
	return sendfile(out, in, off, len);
}

/* ---- names ----------------------------------------------------------------------- */

static int open_common(int dirfd, const char *path, int flags, mode_t mode)
{
	openat_fn openat_real = REAL(openat_fn, openat);
	char name[PL_NAME_MAX];
	struct stat st;
	int fd, saved, existed;

	if (path_name(dirfd, path, name) != 1)
		return openat_real(dirfd, path, flags, mode);
	shim_lock();
	existed = fstatat(dirfd, path, &st, 0) == 0;
	fd = openat_real(dirfd, path, flags, mode);
	saved = errno;
	if (fd >= 0 && !existed && (flags & O_CREAT))
		log_record(PL_CREATE, 0, name, NULL, 0, 0, 0, 0);
	else if (fd >= 0 && existed && (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY && S_ISREG(st.st_mode))
		log_record(PL_TRUNCATE, 0, name, NULL, 0, 0, 0, 0);
	shim_unlock();
	errno = saved;
	return fd;
}

static mode_t open_mode(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, unsigned int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return open_common(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return open_common(AT_FDCWD, path, flags | O_LARGEFILE, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return open_common(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return open_common(dirfd, path, flags | O_LARGEFILE, mode);
}

int __open_2(const char *path, int flags)
{
	return open_common(AT_FDCWD, path, flags, 0);
}

int __open64_2(const char *path, int flags)
{
	return open_common(AT_FDCWD, path, flags | O_LARGEFILE, 0);
}

int __openat_2(int dirfd, const char *path, int flags)
{
	return open_common(dirfd, path, flags, 0);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	return open_common(dirfd, path, flags | O_LARGEFILE, 0);
}

int creat(const char *path, mode_t mode)
{
	return open_common(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode)
{
	return open_common(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_LARGEFILE, mode);
}

/* A rename with either end in the directory; renameat2's flags are logged in arg. */
static int do_rename(int olddirfd, const char *from, int newdirfd, const char *to, unsigned int flags)
{
	char a[PL_NAME_MAX], b[PL_NAME_MAX];
	int in_a = path_name(olddirfd, from, a) == 1, in_b = path_name(newdirfd, to, b) == 1, r, saved;

	if (!in_a && !in_b)
		return REAL(renameat2_fn, renameat2)(olddirfd, from, newdirfd, to, flags);
	shim_lock();
	r = REAL(renameat2_fn, renameat2)(olddirfd, from, newdirfd, to, flags);
	saved = errno;
	if (r == 0)
		log_record(PL_RENAME, 0, in_a ? a : "", in_b ? b : "", 0, 0, 0, flags);
	shim_unlock();
	errno = saved;
	return r;
}

int rename(const char *from, const char *to)
{
	return do_rename(AT_FDCWD, from, AT_FDCWD, to, 0);
}

int renameat(int olddirfd, const char *from, int newdirfd, const char *to)
{
	return do_rename(olddirfd, from, newdirfd, to, 0);
}

int renameat2(int olddirfd, const char *from, int newdirfd, const char *to, unsigned int flags)
{
	return do_rename(olddirfd, from, newdirfd, to, flags);
}

int unlinkat(int dirfd, const char *path, int flags)
{
	char name[PL_NAME_MAX];
	int r, saved;

	if ((flags & AT_REMOVEDIR) || path_name(dirfd, path, name) != 1)
		return REAL(unlinkat_fn, unlinkat)(dirfd, path, flags);
	shim_lock();
	r = REAL(unlinkat_fn, unlinkat)(dirfd, path, flags);
	saved = errno;
	if (r == 0)
		log_record(PL_UNLINK, 0, name, NULL, 0, 0, 0, 0);
	shim_unlock();
	errno = saved;
	return r;
}

int unlink(const char *path)
{
	return unlinkat(AT_FDCWD, path, 0);
}
