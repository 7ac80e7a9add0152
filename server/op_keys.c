/*
 * op_keys.c - API keys: HELLO (a connection proves its key and learns its
 * role, location and limits), KEY_CREATE (a new key, its secret shown
 * once), KEY_LIST and KEY_REVOKE. See dispatch_ops.h and auth.h.
 */
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "auth.h"
#include "dispatch_ops.h"

enum dispatch_action op_hello(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			      struct dispatch_out *out)
{
	struct proto_hello_req req;
	struct proto_hello_rep rep;
	const struct model_apikey *k;
	struct proto_wbuf w;
	uint64_t id;

	if (proto_hello_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed HELLO");
		return DISPATCH_REPLY_CLOSE;
	}
	if (req.version != PROTO_VERSION) {
		dispatch_error(out, PROTO_ST_VERSION, "protocol version %u not supported; this server speaks %d",
			       req.version, PROTO_VERSION);
		return DISPATCH_REPLY_CLOSE;
	}
	id = auth_key_id(req.api_key.ptr, req.api_key.len);
	k = id ? model_apikey_find(d->model, id) : NULL;
	if (!k || k->revoked || !auth_key_matches(req.api_key.ptr, req.api_key.len, k->hash)) {
		/* One message for every failure, so a caller learns nothing about which part was wrong. */
		dispatch_error(out, PROTO_ST_AUTH, "unknown or revoked API key");
		return DISPATCH_REPLY_CLOSE;
	}
	sess->authed = 1;
	sess->role = k->role;
	sess->key_id = k->id;
	snprintf(sess->location, sizeof sess->location, "%s", k->location);
	rep.role = k->role;
	rep.key_id = k->id;
	rep.location = proto_str_c(k->location);
	rep.max_body = d->max_body;
	rep.max_inflight = d->max_inflight;
	rep.server_time_us = dispatch_now_us();
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_hello_rep_encode(&w, &rep);
	out->len = w.len;
	return DISPATCH_REPLY;
}

enum dispatch_action op_key_create(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			           struct dispatch_out *out)
{
	struct proto_key_create_req req;
	struct proto_key_create_rep rep;
	struct proto_wbuf w;
	struct record *rec = &d->scratch->rec;
	char text[AUTH_KEY_TEXT_MAX], loc_buf[PROTO_MAX_LOCATION + 1];
	uint64_t seq, hash = XXH3_64bits(body, len);

	if (proto_key_create_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed KEY_CREATE body (role must be 1, 2 or 3)");
		return DISPATCH_REPLY;
	}
	if (dispatch_check_request_key(d, PROTO_OP_KEY_CREATE, req.key, hash, out))
		return DISPATCH_REPLY;
	/* Stored as sales name it (trimmed, A-Z lower-cased), so "Store-1 " is store-1. */
	if (model_location_normalise(req.location, loc_buf, &req.location)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "location must be text of at most %d bytes without control characters",
			       PROTO_MAX_LOCATION);
		return DISPATCH_REPLY;
	}
	if (req.role == PROTO_ROLE_TERMINAL && !req.location.len) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "a terminal key needs a location");
		return DISPATCH_REPLY;
	}
	if (req.location.len && !places_location_listed(&d->model->rules.locations, req.location)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST,
			       "location \"%.*s\" is not one of the program's locations (program setting locations)",
			       (int)req.location.len, req.location.ptr);
		return DISPATCH_REPLY;
	}
	dispatch_record_init(rec, PROTO_ENTRY_KEY_CREATE, req.key, hash);
	rec->u.key_create.key_id = d->model->next_key_id;
	rec->u.key_create.role = req.role;
	rec->u.key_create.location = req.location;
	auth_key_generate(rec->u.key_create.key_id, text, rec->u.key_create.hash);
	if (!(seq = dispatch_commit_record(d, rec, out)))
		return DISPATCH_REPLY;
	rep.key_id = rec->u.key_create.key_id;
	rep.role = req.role;
	rep.location = req.location;
	rep.secret = proto_str_c(text);
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_key_create_rep_encode(&w, &rep);
	out->len = w.len;
	dispatch_depend(out, seq);
	return DISPATCH_REPLY;
}

enum dispatch_action op_key_list(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			         struct dispatch_out *out)
{
	struct proto_wbuf w;
	uint64_t last = 0;

	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_key_list_rep_put_header(&w, d->model->nkeys);
	for (uint32_t i = 0; i < d->model->nkeys; i++) {
		const struct model_apikey *k = &d->model->keys[i];
		struct proto_key_info info = {k->id, k->role, k->revoked, k->created_us, proto_str_c(k->location)};
		proto_key_info_put(&w, &info);
	}
	out->len = w.len;
	/* Keys change rarely; the list must not show one that is not yet durable. */
	last = store_last_seq(d->store);
	dispatch_depend(out, last);
	return DISPATCH_REPLY;
}

enum dispatch_action op_key_revoke(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			           struct dispatch_out *out)
{
	struct proto_key_revoke_req req;
	struct record *rec = &d->scratch->rec;
	const struct model_apikey *k;
	uint64_t seq, hash = XXH3_64bits(body, len);

	if (proto_key_revoke_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed KEY_REVOKE body");
		return DISPATCH_REPLY;
	}
	if (dispatch_check_request_key(d, PROTO_OP_KEY_REVOKE, req.key, hash, out))
		return DISPATCH_REPLY;
	if (!(k = model_apikey_find(d->model, req.key_id))) {
		dispatch_error(out, PROTO_ST_NOT_FOUND, "no API key %llu", (unsigned long long)req.key_id);
		return DISPATCH_REPLY;
	}
	dispatch_record_init(rec, PROTO_ENTRY_KEY_REVOKE, req.key, hash);
	rec->u.key_revoke.key_id = req.key_id;
	if (!(seq = dispatch_commit_record(d, rec, out)))
		return DISPATCH_REPLY;
	dispatch_reply_empty(out);
	dispatch_depend(out, seq);
	return DISPATCH_REPLY;
}
