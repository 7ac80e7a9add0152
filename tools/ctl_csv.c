/*
 * ctl_csv.c - CSV files read whole and parsed with libcsv; see ctl_csv.h.
 *
 * libcsv pushes fields and record ends through callbacks and knows nothing
 * of lines. To name the line a record starts on, the text is fed to it one
 * line at a time (up to and including each LF, CRLF or lone CR): a record begins on the
 * line being fed when its first field or end arrives while no record is
 * open, or on the first non-blank line fed while none is.
 */
#include "ctl_csv.h"

#include <csv.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

int ctl_csv_file_read(const char *path, struct ctl_csv_file *f, char *why, size_t cap)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t room = 1 << 16;
	XXH128_hash_t h;
	XXH128_canonical_t canon;

	memset(f, 0, sizeof *f);
	if (!fp) {
		snprintf(why, cap, "%s: %s", path, strerror(errno));
		return -1;
	}
	f->data = malloc(room);
	for (;;) {
		size_t n;

		if (!f->data) {
			snprintf(why, cap, "%s: out of memory", path);
			goto fail;
		}
		if (f->len + 1 == room) {
			char *bigger = room > SIZE_MAX / 2 ? NULL : realloc(f->data, room * 2);
			if (!bigger) {
				snprintf(why, cap, "%s: out of memory", path);
				goto fail;
			}
			f->data = bigger;
			room *= 2;
		}
		n = fread(f->data + f->len, 1, room - 1 - f->len, fp);
		f->len += n;
		if (n == 0) {
			if (ferror(fp)) {
				snprintf(why, cap, "%s: %s", path, strerror(errno));
				goto fail;
			}
			break;
		}
	}
	f->data[f->len] = '\0';
	if (fp != stdin)
		fclose(fp);
	h = XXH3_128bits(f->data, f->len);
	XXH128_canonicalFromHash(&canon, h);
	memcpy(f->hash, canon.digest, sizeof f->hash);
	return 0;
fail:
	if (fp != stdin)
		fclose(fp);
	return -1;
}

void ctl_csv_file_free(struct ctl_csv_file *f)
{
	free(f->data);
	f->data = NULL;
	f->len = 0;
}

/* The record being built and where the reading stands. */
struct reader {
	ctl_csv_record_fn *fn;
	void *ctx;
	uint32_t line;      /* the line being fed */
	uint32_t open_line; /* where the open record began; 0: none open */
	int stop;           /* fn's non-zero return */
	int nomem;          /* memory for a field ran out */
	/* The open record's fields: their bytes, each NUL-terminated, one after another. */
	char *text;
	size_t text_len, text_cap;
	size_t *offs, *lens;
	const char **fields;
	size_t nfields, fields_cap;
};

/* Make room for need elements of elem bytes in *p (now *cap). 0, or -1 with *p unchanged. */
static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	if (!(q = realloc(*p, n * elem)))
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

/* Room for one more field in the three per-field arrays, which share fields_cap. */
static int field_room(struct reader *r)
{
	size_t a = r->fields_cap, b = r->fields_cap, c = r->fields_cap;

	if (grow((void **)&r->offs, &a, r->nfields + 1, sizeof *r->offs) ||
	    grow((void **)&r->lens, &b, r->nfields + 1, sizeof *r->lens) ||
	    grow((void **)&r->fields, &c, r->nfields + 1, sizeof *r->fields))
		return -1;
	r->fields_cap = a;
	return 0;
}

static void field_end(void *s, size_t len, void *data)
{
	struct reader *r = data;

	if (r->stop || r->nomem)
		return;
	if (!r->open_line)
		r->open_line = r->line;
	if (grow((void **)&r->text, &r->text_cap, r->text_len + len + 1, 1) || field_room(r)) {
		r->nomem = 1;
		return;
	}
	if (len)
		memcpy(r->text + r->text_len, s, len);
	r->text[r->text_len + len] = '\0';
	r->offs[r->nfields] = r->text_len;
	r->lens[r->nfields] = len;
	r->nfields++;
	r->text_len += len + 1;
}

static void record_end(int c, void *data)
{
	struct reader *r = data;
	struct ctl_csv_record rec;

	(void)c;
	if (r->stop || r->nomem)
		return;
	for (uint32_t i = 0; i < r->nfields; i++)
		r->fields[i] = r->text + r->offs[i];
	rec.line = r->open_line ? r->open_line : r->line;
	rec.nfields = (uint32_t)r->nfields;
	rec.fields = r->fields;
	rec.lens = r->lens;
	if (r->nfields)
		r->stop = r->fn(r->ctx, &rec);
	r->open_line = 0;
	r->nfields = 0;
	r->text_len = 0;
}

/*
 * Bytes up to and including the end of the line at p: an LF, a CRLF, or a
 * CR alone (as libcsv, which ends a record at either, and as an editor
 * counts lines), so that two records never share a line number.
 */
static size_t line_length(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n')
			return i + 1;
		if (p[i] == '\r')
			return i + 1 < len && p[i + 1] == '\n' ? i + 2 : i + 1;
	}
	return len;
}

/* Nothing is space: a field keeps the spaces around it. */
static int no_space(unsigned char c)
{
	(void)c;
	return 0;
}

int ctl_csv_each(const char *data, size_t len, ctl_csv_record_fn *fn, void *ctx, uint32_t *bad_line, char *why,
		 size_t cap)
{
	struct csv_parser p;
	struct reader r;
	size_t at = 0;
	int rc = 0;

	*bad_line = 0;
	memset(&r, 0, sizeof r);
	r.fn = fn;
	r.ctx = ctx;
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) {
		snprintf(why, cap, "out of memory");
		return -1;
	}
	csv_set_space_func(&p, no_space);
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		at = 3;
	while (at < len && !r.stop && !r.nomem) {
		size_t n = line_length(data + at, len - at);

		if (r.line == UINT32_MAX) {
			*bad_line = r.line;
			snprintf(why, cap, "the file has more lines than can be counted");
			rc = -1;
			goto done;
		}
		r.line++;
		if (!r.open_line && !(n == 1 && (data[at] == '\n' || data[at] == '\r')) && !(n == 2 && data[at] == '\r'))
			r.open_line = r.line;
		if (csv_parse(&p, data + at, n, field_end, record_end, &r) != n) {
			*bad_line = r.line;
			if (csv_error(&p) != CSV_EPARSE)
				snprintf(why, cap, "%s", csv_strerror(csv_error(&p)));
			else if (r.open_line && r.open_line != r.line)
				snprintf(why, cap,
					 "a quote in the middle of a field, in the record that begins on line %" PRIu32
					 " (a quoted field there may not be closed)",
					 r.open_line);
			else
				snprintf(why, cap,
					 "a quote in the middle of a field (quote the whole field and double the quotes "
					 "inside it)");
			rc = -1;
			goto done;
		}
		at += n;
	}
	if (!r.stop && !r.nomem && csv_fini(&p, field_end, record_end, &r) != 0) {
		*bad_line = r.open_line ? r.open_line : r.line;
		snprintf(why, cap, "%s",
			 csv_error(&p) == CSV_EPARSE ? "a quoted field is never closed" : csv_strerror(csv_error(&p)));
		rc = -1;
		goto done;
	}
	if (r.nomem) {
		*bad_line = r.line;
		snprintf(why, cap, "out of memory");
		rc = -1;
	} else {
		rc = r.stop;
	}
done:
	csv_free(&p);
	free(r.text);
	free(r.offs);
	free(r.lens);
	free(r.fields);
	return rc;
}
