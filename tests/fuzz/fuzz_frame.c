/*
 * fuzz_frame.c - the frame decoder, on a byte stream as a connection reads it.
 *
 * Input: the bytes a peer sent, any number of frames or none.
 *
 * 1. The whole input, and a few of its prefixes, are decoded under several
 *    max_body limits, and every result is compared with a model written
 *    from PROTOCOL.md ("Frames"): which code comes back, what is filled in
 *    (the header on TOO_LARGE, FLAGS and CHECKSUM; header, body and length
 *    on a whole frame; nothing on need-more, MAGIC or VERSION), and for a
 *    whole frame that the lengths add up within the buffer and that the
 *    header re-encodes to the same 24 bytes. A prefix of a frame never
 *    gets an error the whole frame would not get.
 * 2. A copy of the input is then walked frame by frame the way net.c does,
 *    with each frame's checksum made right first (and its body_len cut to
 *    the bytes there are), so that mutated bodies get past the checksum:
 *    each whole frame's body goes to the request decoder of its opcode, or
 *    to the reply decoders when it carries the REPLY flag (fuzz_codec.c).
 *
 * The input buffer is exactly size bytes, so ASan catches a read past it.
 */
#include "fuzz.h"

#include <string.h>
#include <xxhash.h>

static const uint32_t max_bodies[] = {
	0, 1, 64, 4096, PROTO_MAX_BODY_DEFAULT, PROTO_MAX_BODY_HARD, UINT32_MAX,
};

enum {
	MODEL_TOO_LARGE_OR_FLAGS = -100, /* both apply: the header does not say which comes first */
};

/* What proto_frame_decode must return for buf[0..len), from PROTOCOL.md. */
static int model_decode(const uint8_t *buf, size_t len, uint32_t max_body)
{
	static const uint8_t magic[4] = {0x41, 0x43, 0x52, 0x55}; /* "ACRU" */
	uint32_t body_len;
	uint16_t flags;
	int too_large, bad_flags;

	/* A wrong magic or version is refused as soon as its bytes are in. */
	for (size_t i = 0; i < len && i < 4; i++)
		if (buf[i] != magic[i])
			return PROTO_E_MAGIC;
	if (len >= 5 && buf[4] != PROTO_VERSION)
		return PROTO_E_VERSION;
	if (len < PROTO_HEADER_SIZE)
		return 0;
	flags = (uint16_t)fuzz_load_le(buf + 6, 2);
	body_len = (uint32_t)fuzz_load_le(buf + 12, 4);
	too_large = body_len > max_body || body_len > PROTO_MAX_BODY_HARD;
	bad_flags = (flags & ~(PROTO_FLAG_REPLY | PROTO_FLAG_REPLAY)) != 0;
	/* Both are judged from the header alone, before the body is waited for. */
	if (too_large && bad_flags)
		return MODEL_TOO_LARGE_OR_FLAGS;
	if (too_large)
		return PROTO_E_TOO_LARGE;
	if (bad_flags)
		return PROTO_E_FLAGS;
	if (len - PROTO_HEADER_SIZE < body_len)
		return 0;
	if (XXH3_64bits_withSeed(buf + PROTO_HEADER_SIZE, body_len, XXH3_64bits(buf, 16)) != fuzz_load_le(buf + 16, 8))
		return PROTO_E_CHECKSUM;
	return 1;
}

/* Whether h holds the 24 header bytes at buf. */
static int header_is(const struct proto_header *h, const uint8_t *buf)
{
	return h->magic == fuzz_load_le(buf, 4) && h->version == buf[4] && h->opcode == buf[5] &&
	       h->flags == fuzz_load_le(buf + 6, 2) && h->request_id == fuzz_load_le(buf + 8, 4) &&
	       h->body_len == fuzz_load_le(buf + 12, 4) && h->checksum == fuzz_load_le(buf + 16, 8);
}

/* Whether h still holds the 0xa5 bytes decode_checked filled it with. */
static int header_untouched(const struct proto_header *h)
{
	struct proto_header p;

	memset(&p, 0xa5, sizeof p);
	return h->magic == p.magic && h->version == p.version && h->opcode == p.opcode && h->flags == p.flags &&
	       h->request_id == p.request_id && h->body_len == p.body_len && h->checksum == p.checksum;
}

/* Decode buf[0..len) under max_body, check the result against the model, and return it. */
static int decode_checked(const uint8_t *buf, size_t len, uint32_t max_body, struct proto_header *h,
			  const uint8_t **body, size_t *frame_len)
{
	static const uint8_t body_poison;
	const size_t len_poison = (size_t)-1;
	int want = model_decode(buf, len, max_body);
	int rc;

	memset(h, 0xa5, sizeof *h);
	*body = &body_poison;
	*frame_len = len_poison;
	rc = proto_frame_decode(buf, len, max_body, h, body, frame_len);
	if (want == MODEL_TOO_LARGE_OR_FLAGS)
		FUZZ_ASSERT(rc == PROTO_E_TOO_LARGE || rc == PROTO_E_FLAGS);
	else
		FUZZ_ASSERT(rc == want);

	switch (rc) {
	case 1:
		FUZZ_ASSERT(header_is(h, buf));
		FUZZ_ASSERT(h->magic == PROTO_MAGIC && h->version == PROTO_VERSION);
		FUZZ_ASSERT(h->body_len <= max_body && h->body_len <= PROTO_MAX_BODY_HARD);
		FUZZ_ASSERT(*body == buf + PROTO_HEADER_SIZE);
		FUZZ_ASSERT(*frame_len == PROTO_HEADER_SIZE + (size_t)h->body_len);
		FUZZ_ASSERT(*frame_len <= len);
		FUZZ_ASSERT(proto_checksum(buf, *body, h->body_len) == h->checksum);
		{
			/* The header as an encoder would write it for this body. */
			uint8_t again[PROTO_HEADER_SIZE];
			proto_header_encode(again, h->opcode, h->flags, h->request_id, *body, h->body_len);
			FUZZ_ASSERT(memcmp(again, buf, PROTO_HEADER_SIZE) == 0);
		}
		return rc;
	case PROTO_E_TOO_LARGE:
	case PROTO_E_FLAGS:
	case PROTO_E_CHECKSUM:
		FUZZ_ASSERT(len >= PROTO_HEADER_SIZE);
		FUZZ_ASSERT(header_is(h, buf));
		break;
	case 0:
	case PROTO_E_MAGIC:
	case PROTO_E_VERSION:
		FUZZ_ASSERT(header_untouched(h));
		break;
	default:
		FUZZ_ASSERT(!"proto_frame_decode returned a code the header does not list");
	}
	FUZZ_ASSERT(*body == &body_poison && *frame_len == len_poison);
	return rc;
}

/* The body of a whole frame, to the decoder a server or a client would use. */
static void check_body(const struct proto_header *h, const uint8_t *body)
{
	if (h->flags & PROTO_FLAG_REPLY) {
		fuzz_check_reply(h->opcode, body, h->body_len);
	} else {
		const struct fuzz_body *req = fuzz_request_by_opcode(h->opcode);
		if (req)
			req->check(body, h->body_len);
	}
}

static void check_raw(const uint8_t *data, size_t size)
{
	struct proto_header h;
	const uint8_t *body;
	size_t frame_len;

	for (size_t i = 0; i < sizeof max_bodies / sizeof max_bodies[0]; i++) {
		int rc = decode_checked(data, size, max_bodies[i], &h, &body, &frame_len);
		size_t whole = frame_len;

		/* A connection sees the bytes arrive a few at a time. */
		if (size > 0)
			decode_checked(data, size - 1, max_bodies[i], &h, &body, &frame_len);
		if (size > PROTO_HEADER_SIZE)
			decode_checked(data, PROTO_HEADER_SIZE, max_bodies[i], &h, &body, &frame_len);
		if (size > 4)
			decode_checked(data, 4, max_bodies[i], &h, &body, &frame_len);
		if (rc == 1) {
			FUZZ_ASSERT(decode_checked(data, whole - 1, max_bodies[i], &h, &body, &frame_len) == 0);
			FUZZ_ASSERT(decode_checked(data, whole, max_bodies[i], &h, &body, &frame_len) == 1);
		}
	}
}

/* Walk a copy frame by frame, each checksum made right, as net.c would. */
static void check_stream(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	size_t off = 0;

	FUZZ_ASSERT(copy != NULL);
	if (size)
		memcpy(copy, data, size);
	while (size - off >= PROTO_HEADER_SIZE) {
		uint8_t *f = copy + off;
		size_t left = size - off;
		uint32_t body_len = (uint32_t)fuzz_load_le(f + 12, 4);
		struct proto_header h;
		const uint8_t *body;
		size_t frame_len;
		uint64_t sum;

		if (body_len > left - PROTO_HEADER_SIZE) {
			body_len = (uint32_t)(left - PROTO_HEADER_SIZE);
			for (int i = 0; i < 4; i++)
				f[12 + i] = (uint8_t)(body_len >> (8 * i));
		}
		sum = proto_checksum(f, f + PROTO_HEADER_SIZE, body_len);
		for (int i = 0; i < 8; i++)
			f[16 + i] = (uint8_t)(sum >> (8 * i));
		if (decode_checked(f, left, PROTO_MAX_BODY_HARD, &h, &body, &frame_len) != 1)
			break;
		check_body(&h, body);
		off += frame_len;
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_raw(data, size);
	check_stream(data, size);
	return 0;
}
