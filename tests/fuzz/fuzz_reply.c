/*
 * fuzz_reply.c - the reply decoders, as libaccrue meets a server's bytes.
 *
 * Input: one byte, the opcode of the request answered (as on the wire,
 * 0x11 for LOOKUP), then the reply body: the u16 status and what follows
 * it. fuzz_codec.c (fuzz_check_reply) says what is checked.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	fuzz_check_reply(data[0], data + 1, size - 1);
	return 0;
}
