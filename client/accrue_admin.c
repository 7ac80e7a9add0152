/*
 * accrue_admin.c - libaccrue's operations on the loyalty program and the
 * API keys: program_get and program_set, key_create, key_list and
 * key_revoke (see accrue.h).
 *
 * These are a manager's calls, not a till's: the two that return lists
 * allocate them for the caller, because their length is only known once
 * the reply is in.
 */
#include "accrue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The smallest encoding of one key in a KEY_LIST reply: id, role, revoked, created, empty location. */
#define KEY_INFO_MIN_SIZE (8 + 1 + 1 + 8 + 2)

static void key_info_copy(struct accrue_key_info *dst, const struct proto_key_info *k)
{
	memset(dst, 0, sizeof *dst);
	dst->id = k->id;
	dst->role = k->role;
	dst->revoked = k->revoked != 0;
	dst->created_us = k->created_us;
	accrue__str_copy(dst->location, sizeof dst->location, k->location);
}

/* ---- the program ----------------------------------------------------- */

static int pairs_invalid(accrue *a, const char *text, const char *what)
{
	char why[96];

	snprintf(why, sizeof why, "%s of %s", text, what);
	return accrue__reply_invalid(a, why);
}

/* A reply of (name, value) text pairs: PROGRAM_GET's settings, STATS's figures. */
static int get_pairs(accrue *a, uint8_t opcode, const char *what, struct accrue_setting **settings, uint32_t *count)
{
	struct request rq;
	struct reply rep;
	struct proto_rbuf r;
	struct accrue_setting *list;
	uint16_t n;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (!settings || !count)
		return accrue__arg_invalid(a, "no place for the reply's pairs");
	*settings = NULL;
	*count = 0;
	accrue__request_init(&rq, opcode);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	proto_rbuf_init(&r, rep.body, rep.len);
	if (proto_program_rep_begin(&r, &n) != 0)
		return pairs_invalid(a, "a malformed reply", what);
	/* Each setting takes at least two length prefixes: a count beyond that is a bad reply. */
	if (n > (rep.len - r.off) / 4)
		return accrue__reply_invalid(a, "a setting count larger than the reply");
	list = calloc(n ? n : 1, sizeof *list);
	if (!list) {
		accrue__message_set(a, "out of memory for %u settings", (unsigned)n);
		return ACCRUE_E_NOMEM;
	}
	for (uint16_t i = 0; i < n; i++) {
		struct proto_str name, value;

		if (proto_setting_next(&r, &name, &value) != 0) {
			rc = pairs_invalid(a, "a malformed pair in the reply", what);
			goto fail;
		}
		accrue__str_copy(list[i].name, sizeof list[i].name, name);
		accrue__str_copy(list[i].value, sizeof list[i].value, value);
	}
	if (proto_rbuf_finish(&r) != 0) {
		rc = pairs_invalid(a, "trailing bytes after the pairs", what);
		goto fail;
	}
	*settings = list;
	*count = n;
	return 0;

fail:
	free(list);
	return rc;
}

int accrue_program_get(accrue *a, struct accrue_setting **settings, uint32_t *count)
{
	return get_pairs(a, PROTO_OP_PROGRAM_GET, "PROGRAM_GET", settings, count);
}

int accrue_stats(accrue *a, struct accrue_setting **stats, uint32_t *count)
{
	return get_pairs(a, PROTO_OP_STATS, "STATS", stats, count);
}

int accrue_program_set(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const char *name, const char *value)
{
	struct request rq;
	struct reply rep;
	struct proto_program_set_req m;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (!name || !*name)
		return accrue__arg_invalid(a, "no setting named");
	if (accrue__text_too_long(a, "setting name", name, PROTO_MAX_SETTING_KEY) ||
	    accrue__text_too_long(a, "setting value", value, PROTO_MAX_SETTING_VALUE))
		return ACCRUE_E_INVALID;
	if ((rc = accrue__key_fill(a, m.key, key)) != 0)
		return rc;
	m.name = proto_str_c(name);
	m.value = proto_str_c(value);
	accrue__request_init(&rq, PROTO_OP_PROGRAM_SET);
	proto_program_set_req_encode(&rq.body, &m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	if (rep.len != 0)
		return accrue__reply_invalid(a, "trailing bytes after a PROGRAM_SET reply");
	return 0;
}

/* ---- API keys -------------------------------------------------------- */

int accrue_key_create(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], int role, const char *location,
		      struct accrue_key_info *info, char *secret, size_t secret_cap, int *replay)
{
	struct request rq;
	struct reply rep;
	struct proto_key_create_req m;
	struct proto_key_create_rep k;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (!secret || secret_cap < PROTO_MAX_APIKEY + 1)
		return accrue__arg_invalid(a, "the secret buffer must hold at least 129 bytes");
	secret[0] = '\0';
	if (role < ACCRUE_ROLE_ADMIN || role > ACCRUE_ROLE_READONLY)
		return accrue__arg_invalid(a, "unknown role");
	if (accrue__text_too_long(a, "location", location, PROTO_MAX_LOCATION))
		return ACCRUE_E_INVALID;
	if ((rc = accrue__key_fill(a, m.key, key)) != 0)
		return rc;
	m.role = (uint8_t)role;
	m.location = proto_str_c(location);
	accrue__request_init(&rq, PROTO_OP_KEY_CREATE);
	proto_key_create_req_encode(&rq.body, &m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	if (proto_key_create_rep_decode(rep.body, rep.len, &k) != 0)
		return accrue__reply_invalid(a, "a malformed KEY_CREATE reply");
	if (info) {
		memset(info, 0, sizeof *info);
		info->id = k.key_id;
		info->role = k.role;
		accrue__str_copy(info->location, sizeof info->location, k.location);
	}
	accrue__str_copy(secret, secret_cap, k.secret);
	if (replay)
		*replay = (rep.flags & PROTO_FLAG_REPLAY) != 0;
	return 0;
}

int accrue_key_list(accrue *a, struct accrue_key_info **keys, uint32_t *count)
{
	struct request rq;
	struct reply rep;
	struct proto_rbuf r;
	struct accrue_key_info *list;
	uint32_t n;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (!keys || !count)
		return accrue__arg_invalid(a, "no place for the key list");
	*keys = NULL;
	*count = 0;
	accrue__request_init(&rq, PROTO_OP_KEY_LIST);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	proto_rbuf_init(&r, rep.body, rep.len);
	if (proto_key_list_rep_begin(&r, &n) != 0)
		return accrue__reply_invalid(a, "a malformed KEY_LIST reply");
	/* A count the body cannot hold is a bad reply and must not drive a huge allocation. */
	if (n > (rep.len - r.off) / KEY_INFO_MIN_SIZE)
		return accrue__reply_invalid(a, "a key count larger than the reply");
	list = calloc(n ? n : 1, sizeof *list);
	if (!list) {
		accrue__message_set(a, "out of memory for %u keys", (unsigned)n);
		return ACCRUE_E_NOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct proto_key_info k;

		if (proto_key_info_next(&r, &k) != 0) {
			rc = accrue__reply_invalid(a, "a malformed key in KEY_LIST");
			goto fail;
		}
		key_info_copy(&list[i], &k);
	}
	if (proto_rbuf_finish(&r) != 0) {
		rc = accrue__reply_invalid(a, "trailing bytes after the key list");
		goto fail;
	}
	*keys = list;
	*count = n;
	return 0;

fail:
	free(list);
	return rc;
}

int accrue_key_revoke(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], uint64_t key_id)
{
	struct request rq;
	struct reply rep;
	struct proto_key_revoke_req m;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if ((rc = accrue__key_fill(a, m.key, key)) != 0)
		return rc;
	m.key_id = key_id;
	accrue__request_init(&rq, PROTO_OP_KEY_REVOKE);
	proto_key_revoke_req_encode(&rq.body, &m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	if (rep.len != 0)
		return accrue__reply_invalid(a, "trailing bytes after a KEY_REVOKE reply");
	return 0;
}
