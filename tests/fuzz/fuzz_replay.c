/*
 * fuzz_replay.c - run a fuzz target once over every input in some files
 * and directories, without libFuzzer.
 *
 * Linked with one fuzz_<target>.c in every build (the ASan and UBSan build
 * too), so the seed corpus and the committed regression inputs are checked
 * by ctest as fuzz_replay_<target>. Usage:
 *
 *   fuzz_replay_<target> [--allow-empty] PATH...
 *
 * A PATH is a file or a directory; a directory's files are run in name
 * order, skipping names that start with '.' (a .gitkeep) and README files.
 * Each input is read into a heap buffer of exactly its size, so ASan
 * catches a read past its end. The name of each input goes to stderr
 * before it runs, so a crash names the input that caused it. Exit status:
 * 0 when every input ran, 1 when a path cannot be read or no input was
 * found at all (unless --allow-empty); a failed check aborts.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static unsigned long inputs_run;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0;

	if (!f) {
		fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t got;
		if (len == cap) {
			uint8_t *p;
			cap = cap ? cap * 2 : 4096;
			p = realloc(buf, cap);
			if (!p) {
				fprintf(stderr, "fuzz_replay: %s: out of memory\n", path);
				free(buf);
				fclose(f);
				return -1;
			}
			buf = p;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "fuzz_replay: %s: read error\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);

	/* An exact-size copy: ASan then reports a read even one byte past the input. */
	{
		uint8_t *exact = malloc(len ? len : 1);
		if (!exact) {
			fprintf(stderr, "fuzz_replay: %s: out of memory\n", path);
			free(buf);
			return -1;
		}
		if (len)
			memcpy(exact, buf, len);
		free(buf);
		fprintf(stderr, "fuzz_replay: %s (%zu bytes)\n", path, len);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	inputs_run++;
	return 0;
}

static int skip_name(const char *name)
{
	return name[0] == '.' || strncmp(name, "README", 6) == 0;
}

static int run_path(const char *path)
{
	struct stat st;
	struct dirent **names;
	int n, rc = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char file[4096];
		size_t plen = strlen(path);
		const char *sep = plen > 0 && path[plen - 1] == '/' ? "" : "/";
		int len = snprintf(file, sizeof file, "%s%s%s", path, sep, names[i]->d_name);

		if (len < 0 || (size_t)len >= sizeof file) {
			fprintf(stderr, "fuzz_replay: %s/%s: path too long\n", path, names[i]->d_name);
			rc = -1;
		} else if (!skip_name(names[i]->d_name) && stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(file) != 0)
				rc = -1;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	int allow_empty = 0, failed = 0, first = 1;

	if (argc > 1 && strcmp(argv[1], "--allow-empty") == 0) {
		allow_empty = 1;
		first = 2;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: %s [--allow-empty] FILE-OR-DIRECTORY...\n", argv[0]);
		return 2;
	}
	for (int i = first; i < argc; i++)
		if (run_path(argv[i]) != 0)
			failed = 1;
	if (inputs_run == 0 && !allow_empty) {
		fprintf(stderr, "fuzz_replay: no inputs found (was the seed corpus generated?)\n");
		failed = 1;
	}
	printf("fuzz_replay: %lu inputs ran%s\n", inputs_run, failed ? ", but some paths failed" : "");
	return failed;
}
