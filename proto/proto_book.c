/*
 * proto_book.c - the request codecs of the customer book: EDIT, CARD and
 * OPTOUT (see proto.h and PROTOCOL.md). Apart from proto.c only to keep
 * that file a readable size; the same rules hold: no I/O, no allocation.
 */
#include "proto.h"

static int wbuf_result(const struct proto_wbuf *w)
{
	return w->overflow ? PROTO_E_SPACE : 0;
}

static void field_check(struct proto_rbuf *r, int ok)
{
	if (!ok && !r->error)
		r->error = PROTO_E_FIELD;
}

int proto_edit_req_encode(struct proto_wbuf *w, const struct proto_edit_req *m)
{
	proto_put_bytes(w, m->key, PROTO_KEY_SIZE);
	proto_ref_put(w, &m->ref);
	proto_put_u8(w, m->fields);
	proto_put_str(w, m->email);
	proto_put_str(w, m->phone);
	proto_put_str(w, m->first_name);
	proto_put_str(w, m->last_name);
	return wbuf_result(w);
}

int proto_edit_req_decode(const uint8_t *b, size_t n, struct proto_edit_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_get_bytes(&r, m->key, PROTO_KEY_SIZE);
	proto_ref_get(&r, &m->ref);
	m->fields = proto_get_u8(&r);
	m->email = proto_get_str(&r, PROTO_MAX_EMAIL);
	m->phone = proto_get_str(&r, PROTO_MAX_PHONE);
	m->first_name = proto_get_str(&r, PROTO_MAX_NAME);
	m->last_name = proto_get_str(&r, PROTO_MAX_NAME);
	field_check(&r, m->fields >= 1 && m->fields <= PROTO_EDIT_ALL);
	return proto_rbuf_finish(&r);
}

int proto_card_req_encode(struct proto_wbuf *w, const struct proto_card_req *m)
{
	proto_put_bytes(w, m->key, PROTO_KEY_SIZE);
	proto_ref_put(w, &m->ref);
	proto_put_u8(w, m->link);
	proto_put_str(w, m->card);
	return wbuf_result(w);
}

int proto_card_req_decode(const uint8_t *b, size_t n, struct proto_card_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_get_bytes(&r, m->key, PROTO_KEY_SIZE);
	proto_ref_get(&r, &m->ref);
	m->link = proto_get_u8(&r);
	m->card = proto_get_str(&r, PROTO_MAX_CARD);
	field_check(&r, m->link <= 1);
	return proto_rbuf_finish(&r);
}

int proto_optout_req_encode(struct proto_wbuf *w, const struct proto_optout_req *m)
{
	proto_put_bytes(w, m->key, PROTO_KEY_SIZE);
	proto_ref_put(w, &m->ref);
	proto_put_u8(w, m->opted_out);
	proto_put_str(w, m->source);
	return wbuf_result(w);
}

int proto_optout_req_decode(const uint8_t *b, size_t n, struct proto_optout_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_get_bytes(&r, m->key, PROTO_KEY_SIZE);
	proto_ref_get(&r, &m->ref);
	m->opted_out = proto_get_u8(&r);
	m->source = proto_get_str(&r, PROTO_MAX_OPTOUT_SOURCE);
	field_check(&r, m->opted_out <= 1);
	return proto_rbuf_finish(&r);
}

int proto_archive_req_encode(struct proto_wbuf *w, const struct proto_archive_req *m)
{
	proto_put_bytes(w, m->key, PROTO_KEY_SIZE);
	proto_ref_put(w, &m->ref);
	return wbuf_result(w);
}

int proto_archive_req_decode(const uint8_t *b, size_t n, struct proto_archive_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_get_bytes(&r, m->key, PROTO_KEY_SIZE);
	proto_ref_get(&r, &m->ref);
	return proto_rbuf_finish(&r);
}

int proto_merge_req_encode(struct proto_wbuf *w, const struct proto_merge_req *m)
{
	proto_put_bytes(w, m->key, PROTO_KEY_SIZE);
	proto_ref_put(w, &m->keep);
	proto_ref_put(w, &m->drop);
	return wbuf_result(w);
}

int proto_merge_req_decode(const uint8_t *b, size_t n, struct proto_merge_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_get_bytes(&r, m->key, PROTO_KEY_SIZE);
	proto_ref_get(&r, &m->keep);
	proto_ref_get(&r, &m->drop);
	return proto_rbuf_finish(&r);
}
