/*
 * op_program.c - the handlers that shape the program: GROUP (a customer in
 * or out of a group), TIER (a customer's tier), PROGRAM_GET and PROGRAM_SET
 * (the earning rules and settings, server/rules.h). See dispatch_ops.h.
 */
#include <string.h>
#include <xxhash.h>

#include "dispatch_ops.h"

/* A group or tier name: printable, no spaces or commas (they separate lists in settings). */
static int name_ok(struct proto_str n)
{
	for (uint32_t i = 0; i < n.len; i++) {
		unsigned char ch = (unsigned char)n.ptr[i];
		if (ch <= ' ' || ch == ',' || ch == 0x7f)
			return 0;
	}
	return 1;
}

enum dispatch_action op_group(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			      struct dispatch_out *out)
{
	struct proto_group_req req;
	struct model_customer *c;
	struct record *rec = &d->scratch->rec;
	uint64_t hash = XXH3_64bits(body, len);
	int in;

	if (proto_group_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed GROUP body");
		return DISPATCH_REPLY;
	}
	if (dispatch_check_request_key(d, PROTO_OP_GROUP, req.key, hash, out))
		return DISPATCH_REPLY;
	if (!req.group.len || !name_ok(req.group)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "a group name is required: printable, no spaces or commas");
		return DISPATCH_REPLY;
	}
	if (!(c = dispatch_find_customer(d, &req.ref, out)))
		return DISPATCH_REPLY;
	in = model_customer_in_group(c, req.group);
	if (req.add && in) {
		dispatch_reply_customer(out, c);
		return DISPATCH_REPLY;
	}
	if (!req.add && !in) {
		dispatch_depend(out, c->last_seq);
		dispatch_error(out, PROTO_ST_NOT_FOUND, "customer #%llu is not in group \"%.*s\"", (unsigned long long)c->id,
			       (int)req.group.len, req.group.ptr);
		return DISPATCH_REPLY;
	}
	if (req.add && c->tags && c->tags->ngroups >= PROTO_MAX_GROUPS) {
		dispatch_depend(out, c->last_seq);
		dispatch_error(out, PROTO_ST_RANGE, "a customer is in at most %d groups", PROTO_MAX_GROUPS);
		return DISPATCH_REPLY;
	}
	dispatch_record_init(rec, PROTO_ENTRY_GROUP, req.key, hash);
	rec->customer_id = c->id;
	rec->prev_seq = c->last_seq;
	rec->u.group.add = req.add;
	rec->u.group.group = req.group;
	if (!dispatch_commit_record(d, rec, out))
		return DISPATCH_REPLY;
	dispatch_reply_customer(out, c);
	return DISPATCH_REPLY;
}

enum dispatch_action op_tier(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			     struct dispatch_out *out)
{
	struct proto_tier_req req;
	struct proto_customer v;
	struct model_customer *c;
	struct record *rec = &d->scratch->rec;
	uint64_t hash = XXH3_64bits(body, len);

	if (proto_tier_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed TIER body");
		return DISPATCH_REPLY;
	}
	if (dispatch_check_request_key(d, PROTO_OP_TIER, req.key, hash, out))
		return DISPATCH_REPLY;
	if (!name_ok(req.tier) || dispatch_has_control(req.note)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "a tier name is printable, with no spaces or commas");
		return DISPATCH_REPLY;
	}
	if (!(c = dispatch_find_customer(d, &req.ref, out)))
		return DISPATCH_REPLY;
	model_customer_view(c, &v);
	if (v.tier.len == req.tier.len && memcmp(v.tier.ptr, req.tier.ptr, v.tier.len) == 0) {
		dispatch_reply_customer(out, c);
		return DISPATCH_REPLY;
	}
	dispatch_record_init(rec, PROTO_ENTRY_TIER, req.key, hash);
	rec->customer_id = c->id;
	rec->prev_seq = c->last_seq;
	rec->u.tier.tier = req.tier;
	rec->u.tier.note = req.note;
	if (!dispatch_commit_record(d, rec, out))
		return DISPATCH_REPLY;
	dispatch_reply_customer(out, c);
	return DISPATCH_REPLY;
}

static int program_list_put(void *ctx, const char *key, const char *value)
{
	dispatch_pairs_put(ctx, key, value);
	return 0;
}

enum dispatch_action op_program_get(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			            struct dispatch_out *out)
{
	struct dispatch_pairs pl;

	dispatch_pairs_begin(&pl, out);
	rules_each(&d->model->rules, program_list_put, &pl);
	dispatch_pairs_end(&pl, out, "the program's settings");
	dispatch_depend(out, d->model->program_seq);
	return DISPATCH_REPLY;
}

enum dispatch_action op_program_set(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			            struct dispatch_out *out)
{
	struct rules *trial = &d->scratch->trial;
	struct proto_program_set_req req;
	struct record *rec = &d->scratch->rec;
	char err[300];
	uint64_t hash = XXH3_64bits(body, len);
	int rc;

	if (proto_program_set_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed PROGRAM_SET body");
		return DISPATCH_REPLY;
	}
	if (dispatch_check_request_key(d, PROTO_OP_PROGRAM_SET, req.key, hash, out))
		return DISPATCH_REPLY;
	/* Try it on a copy: only a setting that applies cleanly is journalled. */
	*trial = d->model->rules;
	err[0] = 0;
	rc = rules_set(trial, req.name.ptr, req.name.len, req.value.ptr, req.value.len, err, sizeof err);
	if (rc != RULES_OK) {
		dispatch_error(out, rc == RULES_E_FULL ? PROTO_ST_RANGE : PROTO_ST_BAD_REQUEST, "%s",
			       err[0] ? err : "invalid setting");
		return DISPATCH_REPLY;
	}
	dispatch_record_init(rec, PROTO_ENTRY_PROGRAM, req.key, hash);
	rec->u.program.name = req.name;
	rec->u.program.value = req.value;
	if (!dispatch_commit_record(d, rec, out))
		return DISPATCH_REPLY;
	dispatch_reply_empty(out);
	dispatch_depend(out, d->model->program_seq);
	return DISPATCH_REPLY;
}
