/*
 * ctl_csv.h - CSV files for accruectl's import (and export) commands: a
 * file read whole, with the XXH3-128 of its bytes, and a reader over libcsv
 * that hands over one record at a time with the line it starts on.
 *
 * The dialect is RFC 4180: comma separated, fields in double quotes may hold
 * commas, doubled quotes and line breaks; lines end in LF, CRLF or CR; a UTF-8
 * byte order mark before the first record is skipped. Nothing is trimmed:
 * spaces around a field are part of it. Blank lines between records are
 * skipped. A quote that does not open or close a field is an error.
 */
#ifndef ACCRUE_CTL_CSV_H
#define ACCRUE_CTL_CSV_H

#include <stddef.h>
#include <stdint.h>

/* A file's bytes (NUL-terminated; data[len] is 0) and the XXH3-128 of them, canonical (big-endian). */
struct ctl_csv_file {
	char *data;
	size_t len;
	uint8_t hash[16];
};

/*
 * Read path ("-": standard input) whole into f. Returns 0, or -1 with a
 * sentence naming the file and the cause in why. f->data is the caller's to
 * release with ctl_csv_file_free, also after a failure.
 */
int ctl_csv_file_read(const char *path, struct ctl_csv_file *f, char *why, size_t cap);
void ctl_csv_file_free(struct ctl_csv_file *f);

/* One record. Fields are NUL-terminated copies, valid until the callback returns. */
struct ctl_csv_record {
	uint32_t line;    /* the line of the file it starts on, from 1 */
	uint32_t nfields; /* at least 1 */
	const char *const *fields;
	const size_t *lens; /* bytes of each field (a field may hold a NUL byte: compare with strlen) */
};

/* Called once per record, in order; a non-zero return stops the reading and is returned by ctl_csv_each. */
typedef int ctl_csv_record_fn(void *ctx, const struct ctl_csv_record *rec);

/*
 * Read the records of data[0..len) in order, calling fn for each. Returns 0
 * after the last, fn's non-zero return, or -1 for text that is not CSV: then
 * *bad_line is the line where it goes wrong and why says how (a quote in
 * the middle of a field, a quoted field never closed, out of memory).
 */
int ctl_csv_each(const char *data, size_t len, ctl_csv_record_fn *fn, void *ctx, uint32_t *bad_line, char *why,
		 size_t cap);

#endif
