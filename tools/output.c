/*
 * output.c - the tools' text tables, fields and JSON strings (see output.h).
 */
#include "output.h"

#include <csv.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- values as text ------------------------------------------------------ */

void out_time_format(char *buf, size_t cap, int64_t us)
{
	int64_t s = us / 1000000;
	struct tm tm;
	time_t t;

	buf[0] = '\0';
	if (us == 0)
		return;
	if (us % 1000000 < 0)
		s--;
	t = (time_t)s;
	if (!gmtime_r(&t, &tm) || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "@%" PRId64, us);
}

void out_money_format(char *buf, size_t cap, int64_t minor)
{
	uint64_t m = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;

	snprintf(buf, cap, "%s%" PRIu64 ".%02" PRIu64, minor < 0 ? "-" : "", m / 100, m % 100);
}

/* ---- text for a terminal ------------------------------------------------- */

char *out_text_clean(const char *s)
{
	char *out;

	if (!*s)
		s = "-";
	out = strdup(s);
	if (!out)
		return NULL;
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return out;
}

/* Columns a string takes on a terminal, counting a UTF-8 sequence as one. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

void out_field_print(const char *label, const char *value)
{
	char *clean = out_text_clean(value);

	printf("%-16s %s\n", label, clean ? clean : "?");
	free(clean);
}

void out_table_row(struct out_table *t, const char *const *values)
{
	if (t->nomem)
		return;
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		char **p = realloc(t->cells, cap * (size_t)t->ncols * sizeof *p);

		if (!p) {
			t->nomem = 1;
			return;
		}
		t->cells = p;
		t->cap = cap;
	}
	for (int i = 0; i < t->ncols; i++) {
		char *cell = out_text_clean(values[i]);

		if (!cell)
			t->nomem = 1;
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = cell;
	}
	t->nrows++;
}

static void cell_print(const char *s, size_t width, int right, int last)
{
	size_t pad = width - text_width(s);

	if (right)
		printf("%*s%s", (int)pad, "", s);
	else if (last)
		fputs(s, stdout);
	else
		printf("%s%*s", s, (int)pad, "");
}

void out_table_print(const struct out_table *t)
{
	size_t width[OUT_TABLE_MAX_COLS];

	for (int i = 0; i < t->ncols; i++) {
		width[i] = text_width(t->heads[i]);
		for (size_t r = 0; r < t->nrows; r++) {
			const char *cell = t->cells[r * (size_t)t->ncols + (size_t)i];
			size_t w = text_width(cell ? cell : "?");

			if (w > width[i])
				width[i] = w;
		}
	}
	for (int i = 0; i < t->ncols; i++) {
		cell_print(t->heads[i], width[i], t->right[i], i == t->ncols - 1);
		fputs(i == t->ncols - 1 ? "\n" : "  ", stdout);
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (int i = 0; i < t->ncols; i++) {
			const char *cell = t->cells[r * (size_t)t->ncols + (size_t)i];

			cell_print(cell ? cell : "?", width[i], t->right[i], i == t->ncols - 1);
			fputs(i == t->ncols - 1 ? "\n" : "  ", stdout);
		}
	}
}

int out_table_finish(struct out_table *t, const char *none)
{
	int rc = 0;

	if (t->nomem)
		rc = -1;
	else if (t->nrows == 0 && none)
		puts(none);
	else
		out_table_print(t);
	out_table_free(t);
	return rc;
}

void out_table_free(struct out_table *t)
{
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = 0;
	t->cap = 0;
}

/* ---- JSON ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_sequence(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))
			return 0; /* overlong, or a UTF-16 surrogate */
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

void out_json_str(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	putchar('"');
	while (*s) {
		size_t n = utf8_sequence(s);

		if (n == 0) {
			fputs("\\ufffd", stdout);
			s++;
			continue;
		}
		switch (*s) {
		case '"': fputs("\\\"", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		case '\b': fputs("\\b", stdout); break;
		case '\f': fputs("\\f", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		default:
			if (*s < 0x20)
				printf("\\u%04x", *s);
			else
				fwrite(s, 1, n, stdout);
		}
		s += n;
	}
	putchar('"');
}

void out_json_time(int64_t us)
{
	char buf[64];

	out_time_format(buf, sizeof buf, us);
	if (buf[0])
		out_json_str(buf);
	else
		fputs("null", stdout);
}

/* ---- CSV (wave 2) ------------------------------------------------------------ */

/* Reserved: out_csv_* go here (see output.h). */

/* ---- CSV ------------------------------------------------------------------- */

void out_csv_text(FILE *f, const char *s, int first)
{
	size_t n = strlen(s);
	int formula = n && strchr("=+-@\t\r", s[0]) != NULL;
	int quote = formula || (n && (s[0] == ' ' || s[n - 1] == ' ')) || strpbrk(s, ",\"\r\n") != NULL;

	if (!first)
		putc(',', f);
	if (!quote) {
		fwrite(s, 1, n, f);
		return;
	}
	if (formula) {
		/* libcsv quotes what it is given; the ' goes inside the quotes. */
		char *t = malloc(n + 2);

		if (t) {
			t[0] = '\'';
			memcpy(t + 1, s, n + 1);
			csv_fwrite(f, t, n + 1);
			free(t);
			return;
		}
		fputs("\"'", f);
		for (const char *p = s; *p; p++) {
			if (*p == '"')
				putc('"', f);
			putc(*p, f);
		}
		putc('"', f);
		return;
	}
	csv_fwrite(f, s, n);
}

void out_csv_plain(FILE *f, const char *s, int first)
{
	if (!first)
		putc(',', f);
	fputs(s, f);
}

void out_csv_end(FILE *f)
{
	fputs("\r\n", f);
}
