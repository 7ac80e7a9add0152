/*
 * output.h - how the tools print: aligned text for people, JSON for
 * scripts, and (wave 2) CSV for spreadsheets.
 *
 * accruectl and accrue-check link this as the accrue_output library. It
 * knows nothing of accrue's objects: callers format their own numbers and
 * names into strings and hand them over. Everything prints to stdout;
 * callers check ferror(stdout) once at the end, so no function here
 * reports a failed write.
 */
#ifndef ACCRUE_OUTPUT_H
#define ACCRUE_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- values as text ------------------------------------------------------ */

/*
 * UTC microseconds as ISO-8601 to the second (2026-11-23T12:19:41Z) into
 * buf; "" for 0, which means never. A time gmtime cannot show is written
 * "@" and the microseconds.
 */
void out_time_format(char *buf, size_t cap, int64_t us);

/* Minor units as an amount with two decimals: 1234 -> "12.34", -5 -> "-0.05". */
void out_money_format(char *buf, size_t cap, int64_t minor);

/* ---- text for a terminal ------------------------------------------------- */

/*
 * A copy of s that is safe to print on a terminal: control characters
 * (which could move the cursor or worse) become '?', and empty text
 * becomes "-" so that a column never looks missing. The caller frees it;
 * NULL when out of memory.
 */
char *out_text_clean(const char *s);

/* One "label            value" line, the value cleaned as out_text_clean does. */
void out_field_print(const char *label, const char *value);

#define OUT_TABLE_MAX_COLS 12

/*
 * A text table whose columns are as wide as their widest cell. Set ncols,
 * heads and right, zero the rest ({0} initialisers do), add rows with
 * out_table_row, then print it with out_table_finish (or free it with
 * out_table_free).
 */
struct out_table {
	int ncols;
	const char *heads[OUT_TABLE_MAX_COLS];
	int right[OUT_TABLE_MAX_COLS]; /* 1: right-aligned (numbers) */
	char **cells;                  /* nrows * ncols, cleaned copies, owned */
	size_t nrows;
	size_t cap;
	int nomem; /* a row could not be stored; the table will not print */
};

/* Add a row of ncols values, copied (cleaned). Out of memory sets t->nomem. */
void out_table_row(struct out_table *t, const char *const *values);

/* Print the heads and every row, the last column unpadded. */
void out_table_print(const struct out_table *t);

/*
 * Print the table, or the line none when it has no rows and none is not
 * NULL, then free it. Returns 0, or -1 without printing anything if
 * t->nomem is set: the caller says so in its own name.
 */
int out_table_finish(struct out_table *t, const char *none);

/* Free the cells; the table is then empty and may be freed again. */
void out_table_free(struct out_table *t);

/* ---- JSON ------------------------------------------------------------------ */

/*
 * Print str as a JSON string on stdout, quotes included. Texts should be
 * UTF-8, but a document that a parser rejects is worse than a replaced
 * character, so bytes that are not valid UTF-8 become U+FFFD.
 */
void out_json_str(const char *str);

/* A time as out_time_format writes it, as a JSON string; null for 0 (never). */
void out_json_time(int64_t us);

/* ---- CSV ------------------------------------------------------------------- */

/*
 * RFC 4180 CSV into f: fields separated by commas, records ended by CRLF.
 * out_csv_text quotes a field that needs it (a comma, a quote, a line
 * break, a leading or trailing space) through libcsv, and neutralises a
 * text that a spreadsheet would run as a formula (one starting with =, +,
 * -, @, a tab or a carriage return) by putting a ' before it, as OWASP
 * advises; an importer takes that ' off again. out_csv_plain writes a value
 * the caller made (a number, a time) as it is. first: 1 for a record's
 * first field.
 */
void out_csv_text(FILE *f, const char *s, int first);
void out_csv_plain(FILE *f, const char *s, int first);
void out_csv_end(FILE *f);

#endif
