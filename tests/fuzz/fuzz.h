/*
 * fuzz.h - what the fuzz targets share.
 *
 * Each fuzz_<target>.c defines LLVMFuzzerTestOneInput, the entry point
 * libFuzzer calls with one input at a time. The same source is linked either
 * with libFuzzer (clang, -fsanitize=fuzzer) to search for inputs, or with
 * fuzz_replay.c (the project's own compiler, in every build) to run the seed
 * corpus and the committed regression inputs once each. README.md beside
 * this file explains the targets and their input layouts.
 *
 * A target checks what the codec's headers promise and calls FUZZ_ASSERT,
 * which aborts: libFuzzer saves the input as a crash artifact, and a replay
 * test fails with the file's name on stderr.
 *
 * fuzz_codec.c holds the checks themselves, one per message kind, so a body
 * is checked the same way whether it came straight from the fuzzer or out of
 * a frame.
 */
#ifndef ACCRUE_FUZZ_H
#define ACCRUE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Report a broken promise of the codec and abort (a crash to libFuzzer). */
#define FUZZ_ASSERT(cond)                                                                    \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: FUZZ_ASSERT failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                             \
		}                                                                            \
	} while (0)

/* One message kind: its name (as in the target's name) and how to check a body. */
struct fuzz_body {
	const char *name;
	uint8_t opcode; /* the request's opcode, 0 for none */
	void (*check)(const uint8_t *b, size_t n);
};

/*
 * The request bodies, each with its decoder checked: the codes it may return,
 * the limits and ranges of what it decoded, that every decoded string lies in
 * b[0..n), that no shorter prefix decodes too, and that encoding the decoded
 * struct gives back exactly b[0..n) (the encoding has no choices in it).
 */
extern const struct fuzz_body fuzz_requests[];
extern const size_t fuzz_nrequests;

/* The request body check by name ("accrue") or opcode; NULL if none. */
const struct fuzz_body *fuzz_request_by_name(const char *name);
const struct fuzz_body *fuzz_request_by_opcode(uint8_t opcode);

/*
 * A reply body as a client reads it for a request with this opcode: the u16
 * status, then the opcode's reply (status OK) or an error message, with the
 * same checks as the requests, lists (HISTORY, KEY_LIST, PROGRAM_GET,
 * ACCRUE_BATCH) included. An opcode without a reply decoder is ignored.
 */
void fuzz_check_reply(uint8_t opcode, const uint8_t *b, size_t n);

/* Whether s is a view of at most max bytes inside b[0..n) (or empty). */
int fuzz_str_ok(struct proto_str s, uint32_t max, const uint8_t *b, size_t n);

/* Little-endian reads, for targets that take numbers from their input. */
uint64_t fuzz_load_le(const uint8_t *p, int nbytes);

#endif
