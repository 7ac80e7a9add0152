/*
 * proto_samples.h - what the codec tests unit_proto_*.c share: one sample
 * value of every message, an independent writer of PROTOCOL.md's layouts,
 * and checks that compare decoded messages field by field.
 *
 * The codec is the one place where bytes from the network become structs, so
 * those tests try every way a frame or a body can be short, long, corrupt or
 * over a limit, and check the exact code each gets. Bytes handed to the codec
 * are heap copies of exactly the length under test (dup_exact), and encoders
 * write into heap buffers of exactly their capacity, so AddressSanitizer
 * catches any access past the end.
 *
 * Expected bodies are built with the spec_* writer here, from PROTOCOL.md
 * rather than from the codec, so a field moved in both the encoder and the
 * decoder is still caught.
 *
 * A message with lines holds up to PROTO_MAX_LINES of them (about 13 KB a
 * struct), so those structs and the spec writer are static, not on the stack.
 */
#ifndef ACCRUE_TEST_PROTO_SAMPLES_H
#define ACCRUE_TEST_PROTO_SAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* A proto_str of a string literal. */
#define LIT(s) { (s), (uint32_t)(sizeof(s) - 1) }

/* Start a wbuf over buf (the caller's scratch space). */
#define WBUF(w, buf) proto_wbuf_init(&(w), (buf), sizeof(buf))

/* Whether s holds exactly want. */
int str_is(struct proto_str s, const char *want);

/* Whether a and b hold the same bytes. */
int str_same(struct proto_str a, struct proto_str b);

/* A heap copy of exactly n bytes, so a read past n trips ASan. Free it. */
uint8_t *dup_exact(const uint8_t *b, size_t n);

/* The little-endian integer of n bytes at p. */
uint64_t le_read(const uint8_t *p, int n);

/* An independent writer for the layouts PROTOCOL.md describes. */
struct spec {
	uint8_t b[1 << 17]; /* the largest body built here is an ORDER reply of 44 KB */
	size_t n;
};

/* Append v as size little-endian bytes. */
void spec_le(struct spec *s, uint64_t v, int size);
void spec_bytes(struct spec *s, const void *p, size_t n);
/* A string: u16 length, then the bytes. */
void spec_str(struct spec *s, struct proto_str v);
/* A string of n copies of c. */
void spec_fill(struct spec *s, size_t n, char c);
void spec_ref(struct spec *s, const struct proto_ref *ref);
void spec_line(struct spec *s, const struct proto_line *l);
/* A sale: location, order_id, time_us, amount, u16 nlines, the lines. */
void spec_sale(struct spec *s, const struct proto_sale *sale);
void spec_customer(struct spec *s, const struct proto_customer *c);

/* Whether what an encoder wrote into w equals the spec's bytes. */
int bytes_equal(const struct proto_wbuf *w, const struct spec *s);

/* Samples: one value of every message. */
extern const uint8_t sample_key[PROTO_KEY_SIZE];
extern const struct proto_hello_req s_hello_req;
extern const struct proto_hello_rep s_hello_rep;
extern const struct proto_customer s_customer;
/* A guest a sale recorded: no names, no tier, no groups. */
extern const struct proto_customer s_guest;
extern const struct proto_entry s_entries[2];
extern const struct proto_key_info s_keys[2];

/* A reference by id, by email and by phone. */
void sample_refs(struct proto_ref refs[3]);

/*
 * Lines for samples: line i has its own SKU and category ("sku-i", or 64
 * bytes starting with it when at_limits), quantity i + 1 and amount
 * 100 * (i + 1) + i; the first line's amount is -1 and the last line's
 * quantity INT64_MAX, since the codec carries any i64 (the server judges).
 * The strings live in one static table: each call rewrites it.
 */
void sample_lines(struct proto_line *lines, uint16_t n, int at_limits);

/* Checks that a decoded message equals what was encoded, field by field. */
void check_ref(const struct proto_ref *got, const struct proto_ref *want);
void check_customer(const struct proto_customer *got, const struct proto_customer *want);
void check_line(const struct proto_line *got, const struct proto_line *want);
void check_sale(const struct proto_sale *got, const struct proto_sale *want);

#endif
