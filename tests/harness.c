/*
 * harness.c - start, stop, crash and restart the real accrued for a test
 * (see harness.h).
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define START_TIMEOUT_MS 20000
#define MAX_HARNESSES 8
#define MAX_ARGS 64
/* Descriptors above stderr that a child closes before exec, so a daemon
 * never inherits the test's client sockets or pipes. */
#define CHILD_FD_LIMIT 1024

static struct harness *live[MAX_HARNESSES];
static int atexit_done;

/* ---- small utilities ------------------------------------------------- */

void harness_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

long long harness_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long harness_read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = 0;
	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (long)len;
}

/* dst = dir + "/" + name; dst has HARNESS_PATH_MAX bytes. Returns 0 or -1. */
static int path_join(char *dst, const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	if (a + 1 + b + 1 > HARNESS_PATH_MAX)
		return -1;
	memcpy(dst, dir, a);
	dst[a] = '/';
	memcpy(dst + a + 1, name, b + 1);
	return 0;
}

/* Recursively remove path (no symlinks are followed). */
static void remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		/* Whether readdir still returns every entry while entries are being
		 * removed is unspecified, so scan again until the directory goes. */
		for (int pass = 0; pass < 4; pass++) {
			DIR *d = opendir(path);
			if (d) {
				struct dirent *e;
				while ((e = readdir(d)) != NULL) {
					if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
						continue;
					char child[HARNESS_PATH_MAX * 2];
					snprintf(child, sizeof child, "%s/%s", path, e->d_name);
					remove_tree(child);
				}
				closedir(d);
			}
			if (rmdir(path) == 0)
				return;
		}
		fprintf(stderr, "harness: rmdir %s: %s\n", path, strerror(errno));
	} else if (unlink(path) != 0) {
		fprintf(stderr, "harness: unlink %s: %s\n", path, strerror(errno));
	}
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

/* Wait up to timeout_ms for pid. Returns exit_code(), or -2 if still running. */
static int wait_exit(pid_t pid, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	for (;;) {
		int status;
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return exit_code(status);
		if (r < 0 && errno != EINTR)
			return -1;
		if (harness_now_ms() >= deadline)
			return -2;
		harness_sleep_ms(5);
	}
}

/* In a forked child: close every descriptor above stderr. Async-signal-safe. */
static void close_inherited(void)
{
	for (int fd = 3; fd < CHILD_FD_LIMIT; fd++)
		close(fd);
}

/* ---- the atexit safety net ------------------------------------------ */

static void cleanup_at_exit(void)
{
	for (int i = 0; i < MAX_HARNESSES; i++) {
		struct harness *h = live[i];
		if (!h)
			continue;
		fprintf(stderr, "harness: %s exited without harness_finish; daemon log follows\n", h->name);
		harness_finish(h, 1);
	}
}

static void track(struct harness *h)
{
	if (!atexit_done) {
		atexit(cleanup_at_exit);
		atexit_done = 1;
	}
	for (int i = 0; i < MAX_HARNESSES; i++) {
		if (!live[i]) {
			live[i] = h;
			h->registered = 1;
			return;
		}
	}
}

static void untrack(struct harness *h)
{
	for (int i = 0; i < MAX_HARNESSES; i++)
		if (live[i] == h)
			live[i] = NULL;
	h->registered = 0;
}

/* ---- the daemon ------------------------------------------------------ */

void harness_dump_log(const struct harness *h, size_t max_bytes)
{
	int fd = open(h->log, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "harness: no daemon log at %s\n", h->log);
		return;
	}
	struct stat st;
	off_t from = 0;
	if (fstat(fd, &st) == 0 && (size_t)st.st_size > max_bytes)
		from = st.st_size - (off_t)max_bytes;
	lseek(fd, from, SEEK_SET);
	fprintf(stderr, "---- %s: accrued log%s (%s) ----\n", h->name, from ? " (tail)" : "", h->log);
	fflush(stderr);
	char buf[8192];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		if (write(2, buf, (size_t)n) < 0)
			break;
	close(fd);
	fprintf(stderr, "---- end of accrued log ----\n");
}

/* Whether pid has exited, without reaping it: its status stays for
 * harness_stop or harness_kill to collect. */
static int has_exited(pid_t pid)
{
	siginfo_t info;
	memset(&info, 0, sizeof info);
	return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

int harness_wait_log(const struct harness *h, const char *needle, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	off_t offset = (off_t)h->start_offset;
	char line[8192];
	size_t len = 0;
	int in_marker = 1; /* the first line read is the harness's own marker */
	for (;;) {
		/* Asked before reading, so that a line written just before the
		 * daemon exited is still read once. */
		int exited = h->pid == 0 || has_exited(h->pid);
		int fd = open(h->log, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && lseek(fd, offset, SEEK_SET) == offset) {
			char buf[16384];
			ssize_t n;
			while ((n = read(fd, buf, sizeof buf)) > 0) {
				offset += n;
				for (ssize_t i = 0; i < n; i++) {
					if (buf[i] != '\n') {
						if (len + 1 < sizeof line)
							line[len++] = buf[i];
						continue;
					}
					/* Only whole lines count: the start of a line
					 * not ended yet waits in line[] for its end. */
					line[len] = '\0';
					len = 0;
					if (!in_marker && strstr(line, needle)) {
						close(fd);
						return 0;
					}
					in_marker = 0;
				}
			}
		}
		if (fd >= 0)
			close(fd);
		if (exited) {
			fprintf(stderr, "harness: accrued exited without logging \"%s\"\n", needle);
			return -1;
		}
		if (harness_now_ms() >= deadline) {
			fprintf(stderr, "harness: accrued did not log \"%s\" within %d ms\n", needle, timeout_ms);
			return -1;
		}
		harness_sleep_ms(10);
	}
}

/* Fork and exec the daemon with --listen 127.0.0.1:port. */
static int spawn(struct harness *h, int port)
{
	const char *bin = getenv("ACCRUED_BIN");
	if (!bin || !*bin) {
		fprintf(stderr, "harness: ACCRUED_BIN is not set\n");
		return -1;
	}
	char listen[64];
	snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
	char *argv[6 + 8] = { (char *)bin, "--data", h->data, "--listen", listen, NULL };
	int argc = 5;
	for (int i = 0; i < 7 && h->extra[i]; i++)
		argv[argc++] = (char *)h->extra[i];
	argv[argc] = NULL;

	int logfd = open(h->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		fprintf(stderr, "harness: open %s: %s\n", h->log, strerror(errno));
		return -1;
	}
	h->starts++;
	/* Appending: the marker goes where the file ends now (nothing else
	 * writes to the log while no daemon runs). */
	h->start_offset = (long long)lseek(logfd, 0, SEEK_END);
	dprintf(logfd, "==== harness: start #%d: %s --data %s --listen %s ====\n", h->starts, bin, h->data, listen);

	/* A stale address file from the previous run must not be taken for
	 * this one's. */
	unlink(h->addr_file);

	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "harness: fork: %s\n", strerror(errno));
		close(logfd);
		return -1;
	}
	if (pid == 0) {
#ifdef __linux__
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
#else
		(void)parent;
#endif
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		close_inherited();
		execv(bin, argv);
		_exit(127);
	}
	close(logfd);
	h->pid = pid;
	return 0;
}

/* Read admin.key into h->admin_key. */
static int read_admin_key(struct harness *h)
{
	char buf[512];
	long n = harness_read_file(h->key_file, buf, sizeof buf);
	if (n <= 0) {
		fprintf(stderr, "harness: %s: cannot read the admin key\n", h->key_file);
		return -1;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	if ((size_t)n >= sizeof h->admin_key) {
		fprintf(stderr, "harness: %s: admin key too long\n", h->key_file);
		return -1;
	}
	memcpy(h->admin_key, buf, (size_t)n + 1);
	return 0;
}

/*
 * Wait for the address file. Returns 0 when the daemon is listening, 1 if it
 * exited first (*code set), -1 on timeout.
 */
static int wait_listening(struct harness *h, int *code)
{
	long long deadline = harness_now_ms() + START_TIMEOUT_MS;
	for (;;) {
		int status;
		pid_t r = waitpid(h->pid, &status, WNOHANG);
		if (r == h->pid) {
			h->pid = 0;
			*code = exit_code(status);
			return 1;
		}
		char buf[128];
		long n = harness_read_file(h->addr_file, buf, sizeof buf);
		/* The daemon renames a complete file into place; still insist on
		 * the newline so a torn write would be caught, not misread. */
		if (n > 0 && buf[n - 1] == '\n') {
			buf[n - 1] = '\0';
			const char *colon = strrchr(buf, ':');
			int port = colon ? atoi(colon + 1) : 0;
			if (port <= 0 || port > 65535 || (size_t)n > sizeof h->addr) {
				fprintf(stderr, "harness: %s holds \"%s\", not HOST:PORT\n", h->addr_file, buf);
				return -1;
			}
			memcpy(h->addr, buf, (size_t)n);
			h->port = port;
			return 0;
		}
		if (harness_now_ms() >= deadline) {
			fprintf(stderr, "harness: accrued did not write %s within %d ms\n", h->addr_file,
				START_TIMEOUT_MS);
			return -1;
		}
		harness_sleep_ms(10);
	}
}

static int start_on_port(struct harness *h, int port)
{
	/* Reusing a port can fail while the kernel still holds the old
	 * listener; try a few times before calling it a failure. */
	for (int attempt = 0; attempt < 5; attempt++) {
		if (spawn(h, port) != 0)
			return -1;
		int code = 0;
		int r = wait_listening(h, &code);
		if (r == 0)
			return read_admin_key(h);
		if (r < 0) {
			harness_kill(h);
			harness_dump_log(h, 16384);
			return -1;
		}
		fprintf(stderr, "harness: accrued exited with status %d while starting (attempt %d)\n", code,
			attempt + 1);
		if (port == 0)
			break;
		harness_sleep_ms(200);
	}
	harness_dump_log(h, 16384);
	return -1;
}

int harness_start(struct harness *h, const char *name)
{
	return harness_start_args(h, name, NULL);
}

int harness_start_args(struct harness *h, const char *name, const char *const *extra)
{
	memset(h, 0, sizeof *h);
	for (int i = 0; extra && i < 7 && extra[i]; i++)
		h->extra[i] = extra[i];
	snprintf(h->name, sizeof h->name, "%s", name);
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(h->root, sizeof h->root, "%s/accrue-%s-XXXXXX", tmp, name);
	if (!mkdtemp(h->root)) {
		fprintf(stderr, "harness: mkdtemp %s: %s\n", h->root, strerror(errno));
		return -1;
	}
	track(h);
	if (path_join(h->data, h->root, "data") || path_join(h->log, h->root, "accrued.log") ||
	    path_join(h->addr_file, h->data, "accrued.addr") || path_join(h->key_file, h->data, "admin.key")) {
		fprintf(stderr, "harness: temporary directory path too long: %s\n", h->root);
		return -1;
	}
	if (mkdir(h->data, 0700) != 0) {
		fprintf(stderr, "harness: mkdir %s: %s\n", h->data, strerror(errno));
		return -1;
	}
	return start_on_port(h, 0);
}

int harness_start_nowait(struct harness *h)
{
	if (h->pid) {
		fprintf(stderr, "harness: start while a daemon is running\n");
		return -1;
	}
	return spawn(h, h->port);
}

int harness_restart(struct harness *h)
{
	if (h->pid) {
		fprintf(stderr, "harness: restart while a daemon is running\n");
		return -1;
	}
	return start_on_port(h, h->port);
}

int harness_stop_signal(struct harness *h, int sig, int timeout_ms)
{
	if (!h->pid)
		return -1;
	kill(h->pid, sig);
	int code = wait_exit(h->pid, timeout_ms);
	if (code == -2) {
		fprintf(stderr, "harness: accrued did not exit within %d ms of signal %d; killing it\n", timeout_ms,
			sig);
		harness_kill(h);
		return -1;
	}
	h->pid = 0;
	return code;
}

int harness_stop(struct harness *h)
{
	return harness_stop_signal(h, SIGTERM, 20000);
}

void harness_kill(struct harness *h)
{
	if (!h->pid)
		return;
	kill(h->pid, SIGKILL);
	while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
		;
	h->pid = 0;
}

void harness_finish(struct harness *h, int failed)
{
	harness_kill(h);
	if (failed && h->root[0])
		harness_dump_log(h, 65536);
	if (h->root[0]) {
		remove_tree(h->root);
		h->root[0] = '\0';
	}
	if (h->registered)
		untrack(h);
}

int harness_connect(const struct harness *h, accrue **out)
{
	return accrue_connect(h->addr, h->admin_key, out);
}

int harness_connect_key(const struct harness *h, const char *api_key, accrue **out)
{
	return accrue_connect(h->addr, api_key, out);
}

/* ---- running programs ------------------------------------------------ */

struct sink {
	int fd;
	char *buf;
	size_t cap, len;
};

static void drain(struct sink *s)
{
	char scratch[4096];
	ssize_t n;
	char *dst = scratch;
	size_t room = sizeof scratch;
	if (s->buf && s->len + 1 < s->cap) {
		dst = s->buf + s->len;
		room = s->cap - 1 - s->len;
	}
	n = read(s->fd, dst, room);
	if (n > 0) {
		if (dst != scratch) {
			s->len += (size_t)n;
			s->buf[s->len] = '\0';
		}
		return;
	}
	if (n < 0 && errno == EINTR)
		return;
	close(s->fd);
	s->fd = -1;
}

static int pipe_cloexec(int p[2])
{
	if (pipe(p) != 0)
		return -1;
	fcntl(p[0], F_SETFD, FD_CLOEXEC);
	fcntl(p[1], F_SETFD, FD_CLOEXEC);
	return 0;
}

int harness_run(char *const argv[], char *out, size_t out_cap, char *err, size_t err_cap, int timeout_ms)
{
	int po[2], pe[2];
	if (out && out_cap)
		out[0] = '\0';
	if (err && err_cap)
		err[0] = '\0';
	if (pipe_cloexec(po) != 0)
		return -1;
	if (pipe_cloexec(pe) != 0) {
		close(po[0]);
		close(po[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(po[0]);
		close(po[1]);
		close(pe[0]);
		close(pe[1]);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close_inherited();
		execv(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	struct sink sinks[2] = { { po[0], out, out_cap, 0 }, { pe[0], err, err_cap, 0 } };
	long long deadline = harness_now_ms() + timeout_ms;
	int timed_out = 0;
	while (sinks[0].fd >= 0 || sinks[1].fd >= 0) {
		long long left = deadline - harness_now_ms();
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		struct pollfd pfd[2];
		int n = 0, which[2];
		for (int i = 0; i < 2; i++) {
			if (sinks[i].fd >= 0) {
				pfd[n].fd = sinks[i].fd;
				pfd[n].events = POLLIN;
				pfd[n].revents = 0;
				which[n++] = i;
			}
		}
		int r = poll(pfd, (nfds_t)n, (int)left);
		if (r < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n && r > 0; i++)
			if (pfd[i].revents)
				drain(&sinks[which[i]]);
	}
	for (int i = 0; i < 2; i++)
		if (sinks[i].fd >= 0)
			close(sinks[i].fd);
	int code = timed_out ? -2 : wait_exit(pid, (int)(deadline - harness_now_ms() > 0 ? deadline - harness_now_ms() : 1));
	if (code == -2) {
		fprintf(stderr, "harness: %s did not finish within %d ms; killed\n", argv[0], timeout_ms);
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return -1;
	}
	return code;
}

int harness_ctl(const struct harness *h, char *out, size_t out_cap, char *err, size_t err_cap, ...)
{
	const char *bin = getenv("ACCRUECTL_BIN");
	if (!bin || !*bin) {
		fprintf(stderr, "harness: ACCRUECTL_BIN is not set\n");
		return -1;
	}
	char *argv[MAX_ARGS];
	int argc = 0;
	argv[argc++] = (char *)bin;
	argv[argc++] = "--server";
	argv[argc++] = (char *)h->addr;
	argv[argc++] = "--key-file";
	argv[argc++] = (char *)h->key_file;
	va_list ap;
	va_start(ap, err_cap);
	const char *arg;
	while ((arg = va_arg(ap, const char *)) != NULL) {
		if (argc >= MAX_ARGS - 1) {
			va_end(ap);
			fprintf(stderr, "harness: too many accruectl arguments\n");
			return -1;
		}
		argv[argc++] = (char *)arg;
	}
	va_end(ap);
	argv[argc] = NULL;
	return harness_run(argv, out, out_cap, err, err_cap, 20000);
}

int harness_flip_in_file(const char *path, const char *needle)
{
	int fd = open(path, O_RDWR);
	off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
	size_t nl = strlen(needle);
	char *buf = size > 0 ? malloc((size_t)size) : NULL;
	int found = 0;

	if (!buf || pread(fd, buf, (size_t)size, 0) != size) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (off_t i = 0; found >= 0 && i + (off_t)nl <= size; i++)
		if (!memcmp(buf + i, needle, nl)) {
			char c = buf[i + (off_t)nl - 1] ^ 0x20;
			found = pwrite(fd, &c, 1, i + (off_t)nl - 1) == 1 ? found + 1 : -1;
		}
	if (fsync(fd) != 0)
		found = -1;
	free(buf);
	close(fd);
	return found;
}
