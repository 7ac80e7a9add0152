/*
 * fuzz_body.c - one request body decoder, as the server meets it.
 *
 * Built once per request kind with -DFUZZ_BODY_NAME="accrue" (a name of
 * fuzz_requests in fuzz_codec.c): the input is the body of that request,
 * without the frame header. fuzz_codec.c says what is checked.
 */
#include "fuzz.h"

#ifndef FUZZ_BODY_NAME
#error "build with -DFUZZ_BODY_NAME=\"accrue\" (a name of fuzz_requests in fuzz_codec.c)"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fuzz_body *body;

	if (!body) {
		body = fuzz_request_by_name(FUZZ_BODY_NAME);
		if (!body) {
			fprintf(stderr, "fuzz_body: no request body named \"%s\" in fuzz_codec.c\n", FUZZ_BODY_NAME);
			abort();
		}
	}
	body->check(data, size);
	return 0;
}
