/*
 * model.c - the ledger's state in memory (see model.h).
 */
#include "model.h"
#include "model_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

/* Grow *arr (of *cap elements of size) so that it holds at least need. */
/* Arrays of millions of customers, orders or keys are written all over on
 * load: ask for transparent huge pages on their aligned middle (a hint). */
static void hint_huge(void *p, size_t bytes)
{
#ifdef MADV_HUGEPAGE
	const uintptr_t huge = (uintptr_t)2 << 20;
	uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1), hi = ((uintptr_t)p + bytes) & ~(huge - 1);

	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
	(void)p;
	(void)bytes;
#endif
}

static int grow(void **arr, uint32_t *cap, uint32_t need, size_t size)
{
	uint32_t n;
	void *p;

	if (need <= *cap)
		return 0;
	n = *cap ? *cap : 64;
	while (n < need) {
		if (n > UINT32_MAX / 2)
			return MODEL_E_NOMEM;
		n *= 2;
	}
	p = realloc(*arr, (size_t)n * size);
	if (!p)
		return MODEL_E_NOMEM;
	*arr = p;
	*cap = n;
	hint_huge(p, (size_t)n * size);
	return 0;
}

uint64_t model__hash_bytes(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

int model_init(struct model *m)
{
	memset(m, 0, sizeof *m);
	m->next_customer_id = 1;
	m->next_key_id = 1;
	rules_init_default(&m->rules);
	if (hidx_init(&m->by_email, 1024) || hidx_init(&m->by_phone, 1024) ||
	    hidx_init(&m->by_order, 1024) || hidx_init(&m->by_request, 1024) || hidx_init(&m->by_card, 64) ||
	    places_init(&m->places)) {
		model_free(m);
		return MODEL_E_NOMEM;
	}
	return 0;
}

void model_free(struct model *m)
{
	places_free(&m->places);
	for (uint32_t i = 0; i < m->ncustomers; i++) {
		free(m->customers[i].text);
		free(m->customers[i].tags);
		free(m->customers[i].book);
	}
	for (uint32_t i = 0; i < m->norders; i++)
		free(m->orders[i].key);
	free(m->customers);
	free(m->dirty);
	free(m->orders);
	free(m->orders_dirty);
	free(m->requests);
	free(m->keys);
	hidx_free(&m->by_email);
	hidx_free(&m->by_phone);
	hidx_free(&m->by_order);
	hidx_free(&m->by_request);
	hidx_free(&m->by_card);
	memset(m, 0, sizeof *m);
}

/* ---- customers -------------------------------------------------------- */

struct proto_str model_customer_email(const struct model_customer *c)
{
	struct proto_str s = {c->text, c->email_len};
	return s;
}

struct proto_str model_customer_phone(const struct model_customer *c)
{
	struct proto_str s = {c->text + c->email_len, c->phone_len};
	return s;
}

void model_customer_view(const struct model_customer *c, struct proto_customer *out)
{
	const char *t = c->text;

	out->id = c->id;
	out->email.ptr = t;
	out->email.len = c->email_len;
	t += c->email_len;
	out->phone.ptr = t;
	out->phone.len = c->phone_len;
	t += c->phone_len;
	out->first_name.ptr = t;
	out->first_name.len = c->first_len;
	t += c->first_len;
	out->last_name.ptr = t;
	out->last_name.len = c->last_len;
	out->balance = c->balance;
	out->lifetime_points = c->lifetime_points;
	out->visits = c->visits;
	out->total_spend = c->total_spend;
	out->created_us = c->created_us;
	out->last_visit_us = c->last_visit_us;
	out->member = c->member;
	out->tier.ptr = "";
	out->tier.len = 0;
	out->ngroups = 0;
	if (c->tags) {
		const char *p = c->tags->text;
		out->tier.ptr = p;
		out->tier.len = c->tags->tier_len;
		p += c->tags->tier_len;
		out->ngroups = c->tags->ngroups;
		for (uint8_t i = 0; i < c->tags->ngroups; i++) {
			out->groups[i].ptr = p;
			out->groups[i].len = c->tags->group_len[i];
			p += c->tags->group_len[i];
		}
	}
	model__book_view(c, out);
	out->archived = c->archived;
}

void model_customer_rules(const struct model_customer *c, struct rules_customer *out)
{
	struct proto_customer v;

	model_customer_view(c, &v);
	out->member = c->member;
	out->tier.ptr = v.tier.ptr;
	out->tier.len = v.tier.len;
	out->ngroups = v.ngroups;
	for (uint8_t i = 0; i < v.ngroups; i++) {
		out->groups[i].ptr = v.groups[i].ptr;
		out->groups[i].len = v.groups[i].len;
	}
}

int model_customer_in_group(const struct model_customer *c, struct proto_str group)
{
	struct proto_customer v;

	model_customer_view(c, &v);
	for (uint8_t i = 0; i < v.ngroups; i++)
		if (v.groups[i].len == group.len && memcmp(v.groups[i].ptr, group.ptr, group.len) == 0)
			return 1;
	return 0;
}

/* Build the tags of a tier and groups; NULL (and *rc 0) when both are empty. */
struct model_tags *model__tags_make(struct proto_str tier, uint8_t ngroups, const struct proto_str *groups, int *rc)
{
	struct model_tags *t;
	size_t len = tier.len;
	char *p;

	*rc = 0;
	if (tier.len > PROTO_MAX_TIER || ngroups > PROTO_MAX_GROUPS) {
		*rc = MODEL_E_CORRUPT;
		return NULL;
	}
	for (uint8_t i = 0; i < ngroups; i++) {
		if (groups[i].len > PROTO_MAX_GROUP) {
			*rc = MODEL_E_CORRUPT;
			return NULL;
		}
		len += groups[i].len;
	}
	if (!tier.len && !ngroups)
		return NULL;
	t = malloc(sizeof *t + len);
	if (!t) {
		*rc = MODEL_E_NOMEM;
		return NULL;
	}
	t->tier_len = (uint8_t)tier.len;
	t->ngroups = ngroups;
	p = t->text;
	memcpy(p, tier.ptr, tier.len);
	p += tier.len;
	for (uint8_t i = 0; i < ngroups; i++) {
		t->group_len[i] = (uint8_t)groups[i].len;
		memcpy(p, groups[i].ptr, groups[i].len);
		p += groups[i].len;
	}
	return t;
}

struct match_ctx {
	const struct model *m;
	struct proto_str s;
	uint64_t id;
};

static int str_eq(struct proto_str a, struct proto_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int match_email(const void *ctx, uint32_t slot)
{
	const struct match_ctx *mc = ctx;
	return str_eq(model_customer_email(&mc->m->customers[slot]), mc->s);
}

static int match_phone(const void *ctx, uint32_t slot)
{
	const struct match_ctx *mc = ctx;
	return str_eq(model_customer_phone(&mc->m->customers[slot]), mc->s);
}

/* Ids are handed out densely from 1 and never reused: customer id is at slot id - 1. */
struct model_customer *model_customer_by_id(const struct model *m, uint64_t id)
{
	return id >= 1 && id <= m->ncustomers ? &m->customers[id - 1] : NULL;
}

struct model_customer *model_customer_by_email(const struct model *m, struct proto_str email)
{
	struct match_ctx mc = {m, email, 0};
	uint32_t slot;

	if (!email.len)
		return NULL;
	slot = hidx_find(&m->by_email, model__hash_bytes(email.ptr, email.len), match_email, &mc);
	return slot == HIDX_NONE ? NULL : &m->customers[slot];
}

struct model_customer *model_customer_by_phone(const struct model *m, struct proto_str phone)
{
	struct match_ctx mc = {m, phone, 0};
	uint32_t slot;

	if (!phone.len)
		return NULL;
	slot = hidx_find(&m->by_phone, model__hash_bytes(phone.ptr, phone.len), match_phone, &mc);
	return slot == HIDX_NONE ? NULL : &m->customers[slot];
}

void model__mark_dirty(struct model *m, uint32_t slot)
{
	struct model_customer *c = &m->customers[slot];

	if (c->dirty)
		return;
	/* The dirty list was grown when the customer was added. */
	c->dirty = 1;
	m->dirty[m->ndirty++] = slot;
}

int model__customer_set_text(struct model_customer *c, struct proto_str email, struct proto_str phone,
			     struct proto_str first, struct proto_str last)
{
	size_t tlen = (size_t)email.len + phone.len + first.len + last.len;
	char *text = malloc(tlen ? tlen : 1), *p = text;

	if (!text)
		return MODEL_E_NOMEM;
	memcpy(p, email.ptr, email.len);
	p += email.len;
	memcpy(p, phone.ptr, phone.len);
	p += phone.len;
	memcpy(p, first.ptr, first.len);
	p += first.len;
	memcpy(p, last.ptr, last.len);
	free(c->text);
	c->text = text;
	c->email_len = (uint8_t)email.len;
	c->phone_len = (uint8_t)phone.len;
	c->first_len = (uint8_t)first.len;
	c->last_len = (uint8_t)last.len;
	return 0;
}

int model__customer_add(struct model *m, const struct proto_customer *v, uint64_t last_seq)
{
	struct model_customer *c;
	uint32_t slot = m->ncustomers;

	/* The id must be the next one (see model_customer_by_id); taken emails
	 * and phones are found by the inserts below. */
	if (v->id != (uint64_t)slot + 1 || v->email.len > 255 || v->phone.len > 255 || v->first_name.len > 255 || v->last_name.len > 255)
		return MODEL_E_CORRUPT;
	if (grow((void **)&m->customers, &m->customers_cap, slot + 1, sizeof *m->customers) ||
	    grow((void **)&m->dirty, &m->dirty_cap, slot + 1, sizeof *m->dirty))
		return MODEL_E_NOMEM;
	c = &m->customers[slot];
	memset(c, 0, sizeof *c);
	if (model__customer_set_text(c, v->email, v->phone, v->first_name, v->last_name))
		return MODEL_E_NOMEM;
	c->id = v->id;
	c->last_seq = last_seq;
	c->balance = v->balance;
	c->lifetime_points = v->lifetime_points;
	c->visits = v->visits;
	c->total_spend = v->total_spend;
	c->created_us = v->created_us;
	c->last_visit_us = v->last_visit_us;
	c->member = v->member;
	c->archived = v->archived;
	{
		int trc;
		c->tags = model__tags_make(v->tier, v->ngroups, v->groups, &trc);
		if (trc) {
			free(c->text);
			return trc;
		}
		c->book = model__book_make(v->opted_out, v->optout_us, v->optout_source, v->ncards, v->cards, &trc);
		if (!trc && (v->archived > 1 || (v->merged_into && (!v->archived || v->merged_into == v->id))))
			trc = MODEL_E_CORRUPT;
		if (!trc && v->merged_into && !c->book && !(c->book = calloc(1, sizeof *c->book)))
			trc = MODEL_E_NOMEM;
		if (trc) {
			free(c->text);
			free(c->tags);
			free(c->book);
			return trc;
		}
		if (c->book)
			c->book->merged_into = v->merged_into;
	}

	{
		/* Each index refuses a taken key in the same probe that inserts;
		 * a refusal half way undoes the inserts before it. */
		struct match_ctx me = {m, v->email, 0}, mp = {m, v->phone, 0};
		uint64_t he = model__hash_bytes(v->email.ptr, v->email.len), hp = model__hash_bytes(v->phone.ptr, v->phone.len);
		uint32_t was = HIDX_NONE;
		int in_email = 0;

		if (was == HIDX_NONE && c->email_len) {
			was = hidx_insert_unique(&m->by_email, he, slot, match_email, &me);
			in_email = was == HIDX_NONE;
		}
		if (was == HIDX_NONE && c->phone_len)
			was = hidx_insert_unique(&m->by_phone, hp, slot, match_phone, &mp);
		if (was != HIDX_NONE) {
			if (in_email)
				hidx_remove(&m->by_email, he, slot);
			free(c->text);
			free(c->tags);
			free(c->book);
			return was == HIDX_NOMEM ? MODEL_E_NOMEM : MODEL_E_CORRUPT;
		}
		/* Cards last: a refusal there undoes its own inserts. */
		int crc = c->book ? model__cards_index(m, slot) : 0;
		if (crc) {
			if (in_email)
				hidx_remove(&m->by_email, he, slot);
			if (c->phone_len)
				hidx_remove(&m->by_phone, hp, slot);
			free(c->text);
			free(c->tags);
			free(c->book);
			return crc;
		}
	}
	m->ncustomers++;
	m->next_customer_id = c->id + 1;
	/* The customer is in: a count that cannot grow is out of memory, and
	 * the caller stops, as for a half-indexed customer. */
	for (uint8_t i = 0; i < v->ngroups; i++)
		if (places_group_count(&m->places, v->groups[i], 1))
			return MODEL_E_NOMEM;
	return 0;
}

/* ---- orders, requests, keys ------------------------------------------ */


/* location NUL order_id: the one key an order has, in memory and on disk. */
size_t model__order_key(char *buf, struct proto_str location, struct proto_str order_id)
{
	memcpy(buf, location.ptr, location.len);
	buf[location.len] = 0;
	memcpy(buf + location.len + 1, order_id.ptr, order_id.len);
	return (size_t)location.len + 1 + order_id.len;
}

struct order_match {
	const struct model *m;
	const char *key;
	size_t len;
};

static int match_order(const void *ctx, uint32_t slot)
{
	const struct order_match *om = ctx;
	const struct model_order *o = &om->m->orders[slot];
	return o->key_len == om->len && memcmp(o->key, om->key, om->len) == 0;
}

uint32_t model__order_find_key(const struct model *m, const char *key, size_t len)
{
	struct order_match om = {m, key, len};
	return hidx_find(&m->by_order, model__hash_bytes(key, len), match_order, &om);
}

const struct model_order *model_order_find(const struct model *m, struct proto_str location, struct proto_str order_id)
{
	char key[PROTO_MAX_LOCATION + 1 + PROTO_MAX_ORDER];
	uint32_t slot;

	if (location.len > PROTO_MAX_LOCATION || order_id.len > PROTO_MAX_ORDER)
		return NULL;
	slot = model__order_find_key(m, key, model__order_key(key, location, order_id));
	return slot == HIDX_NONE ? NULL : &m->orders[slot];
}

const struct model_order *model_order_by_key(const struct model *m, const char *key, size_t key_len)
{
	uint32_t slot = model__order_find_key(m, key, key_len);
	return slot == HIDX_NONE ? NULL : &m->orders[slot];
}

void model__order_mark_dirty(struct model *m, uint32_t slot)
{
	if (m->orders[slot].dirty)
		return;
	/* The list was grown when the order was added. */
	m->orders[slot].dirty = 1;
	m->orders_dirty[m->norders_dirty++] = slot;
}

int model__order_add(struct model *m, const char *key, size_t len, const struct record_order *s)
{
	uint32_t slot = m->norders;
	struct model_order *o;

	if (grow((void **)&m->orders, &m->orders_cap, slot + 1, sizeof *m->orders) ||
	    grow((void **)&m->orders_dirty, &m->orders_dirty_cap, slot + 1, sizeof *m->orders_dirty))
		return MODEL_E_NOMEM;
	o = &m->orders[slot];
	o->key = malloc(len);
	if (!o->key)
		return MODEL_E_NOMEM;
	memcpy(o->key, key, len);
	o->key_len = (uint32_t)len;
	o->customer_id = s->customer_id;
	o->seq = s->seq;
	o->amount = s->amount;
	o->points = s->points;
	o->refunded = s->refunded;
	o->taken_back = s->taken_back;
	o->last_return_seq = s->last_return_seq;
	o->dirty = 0;
	{
		/* The check that the order is new and its insertion, in one probe. */
		struct order_match om = {m, key, len};
		uint32_t was = hidx_insert_unique(&m->by_order, model__hash_bytes(key, len), slot, match_order, &om);
		if (was != HIDX_NONE) {
			free(o->key);
			if (was == HIDX_NOMEM)
				return MODEL_E_NOMEM;
			/* Replaying the sale of an order saved with its record. */
			return m->orders[was].seq == s->seq && m->orders[was].customer_id == s->customer_id &&
					       m->orders[was].amount == s->amount && m->orders[was].points == s->points
				       ? MODEL_EXISTED
				       : MODEL_E_CORRUPT;
		}
	}
	m->norders++;
	return 0;
}

static int match_request(const void *ctx, uint32_t slot)
{
	const struct match_ctx *mc = ctx;
	return memcmp(mc->m->requests[slot].key, mc->s.ptr, PROTO_KEY_SIZE) == 0;
}

const struct model_request *model_request_find(const struct model *m, const uint8_t key[PROTO_KEY_SIZE])
{
	struct match_ctx mc = {m, {(const char *)key, PROTO_KEY_SIZE}, 0};
	uint32_t slot = hidx_find(&m->by_request, model__hash_bytes(key, PROTO_KEY_SIZE), match_request, &mc);
	return slot == HIDX_NONE ? NULL : &m->requests[slot];
}

int model__request_add(struct model *m, const uint8_t key[PROTO_KEY_SIZE], const struct record_request *s)
{
	uint32_t slot = m->nrequests;
	struct model_request *q;

	if (grow((void **)&m->requests, &m->requests_cap, slot + 1, sizeof *m->requests))
		return MODEL_E_NOMEM;
	q = &m->requests[slot];
	memcpy(q->key, key, PROTO_KEY_SIZE);
	q->opcode = s->opcode;
	q->body_hash = s->body_hash;
	q->seq = s->seq;
	q->object_id = s->object_id;
	q->value = s->value;
	{
		/* The slot is filled first: match_request reads candidates' keys, never this one's. */
		struct match_ctx mc = {m, {(const char *)key, PROTO_KEY_SIZE}, 0};
		uint32_t was = hidx_insert_unique(&m->by_request, model__hash_bytes(key, PROTO_KEY_SIZE), slot, match_request, &mc);
		if (was == HIDX_NOMEM)
			return MODEL_E_NOMEM;
		if (was != HIDX_NONE) {
			/* Replaying the record of a request key saved with it. */
			const struct model_request *o = &m->requests[was];
			return o->seq == s->seq && o->opcode == s->opcode && o->body_hash == s->body_hash &&
					       o->object_id == s->object_id && o->value == s->value
				       ? MODEL_EXISTED
				       : MODEL_E_CORRUPT;
		}
	}
	m->nrequests++;
	return 0;
}

const struct model_apikey *model_apikey_find(const struct model *m, uint64_t id)
{
	/* A handful of keys per store: a scan is the right index. */
	for (uint32_t i = 0; i < m->nkeys; i++)
		if (m->keys[i].id == id)
			return &m->keys[i];
	return NULL;
}

int model_load_apikey(struct model *m, uint64_t id, const struct record_apikey *s)
{
	struct model_apikey *k;

	if (id == 0 || model_apikey_find(m, id) || s->location.len > PROTO_MAX_LOCATION)
		return MODEL_E_CORRUPT;
	if (grow((void **)&m->keys, &m->keys_cap, m->nkeys + 1, sizeof *m->keys))
		return MODEL_E_NOMEM;
	k = &m->keys[m->nkeys++];
	memset(k, 0, sizeof *k);
	k->id = id;
	k->role = s->role;
	k->revoked = s->revoked;
	k->created_us = s->created_us;
	memcpy(k->location, s->location.ptr, s->location.len);
	memcpy(k->hash, s->hash, RECORD_HASH_SIZE);
	if (id >= m->next_key_id)
		m->next_key_id = id + 1;
	return 0;
}

int model_key_is_zero(const uint8_t key[PROTO_KEY_SIZE])
{
	uint8_t acc = 0;
	for (int i = 0; i < PROTO_KEY_SIZE; i++)
		acc |= key[i];
	return acc == 0;
}

int model_reserve(struct model *m, uint64_t customers, uint64_t orders_n, uint64_t requests_n)
{
	uint64_t ncust = m->ncustomers + customers, orders = m->norders + orders_n, requests = m->nrequests + requests_n;

	if (ncust > UINT32_MAX - 1 || orders > UINT32_MAX - 1 || requests > UINT32_MAX - 1)
		return MODEL_E_NOMEM;
	if (grow((void **)&m->customers, &m->customers_cap, (uint32_t)ncust, sizeof *m->customers) ||
	    grow((void **)&m->dirty, &m->dirty_cap, (uint32_t)ncust, sizeof *m->dirty) ||
	    hidx_reserve(&m->by_email, customers) ||
	    hidx_reserve(&m->by_phone, customers) ||
	    grow((void **)&m->orders, &m->orders_cap, (uint32_t)orders, sizeof *m->orders) ||
	    grow((void **)&m->orders_dirty, &m->orders_dirty_cap, (uint32_t)orders, sizeof *m->orders_dirty) ||
	    grow((void **)&m->requests, &m->requests_cap, (uint32_t)requests, sizeof *m->requests) ||
	    hidx_reserve(&m->by_order, orders_n) || hidx_reserve(&m->by_request, requests_n))
		return MODEL_E_NOMEM;
	return 0;
}

/* ---- snapshots -------------------------------------------------------- */

int model_load_customer(struct model *m, const struct record_customer *s)
{
	return model__customer_add(m, &s->c, s->last_seq);
}

int model_load_order(struct model *m, const void *key, size_t key_len, const struct record_order *s)
{
	int rc = model__order_add(m, key, key_len, s);
	if (rc == 0) {
		const char *z = memchr(key, 0, key_len);
		struct proto_str loc = {key, z ? (uint32_t)(z - (const char *)key) : 0};

		m->orders_saved = m->norders;
		/* The sale's time is not in the snapshot: places.h says who reads it. */
		if (places_sale(&m->places, loc, s->amount, s->points, s->refunded, s->taken_back, s->seq, 0))
			return MODEL_E_NOMEM;
	}
	/* Two snapshots of one order cannot both be right. */
	return rc == MODEL_EXISTED ? MODEL_E_CORRUPT : rc;
}

int model_load_program(struct model *m, const void *val, size_t len)
{
	struct proto_rbuf r;
	uint16_t n;

	proto_rbuf_init(&r, val, len);
	if (proto_program_rep_begin(&r, &n))
		return MODEL_E_CORRUPT;
	for (uint16_t i = 0; i < n; i++) {
		struct proto_str name, value;
		if (proto_setting_next(&r, &name, &value) ||
		    rules_set(&m->rules, name.ptr, name.len, value.ptr, value.len, NULL, 0) != RULES_OK)
			return MODEL_E_CORRUPT;
	}
	return proto_rbuf_finish(&r) ? MODEL_E_CORRUPT : 0;
}

void model_prefetch_customer(const struct model *m, const struct record_customer *s)
{
	if (s->c.email.len)
		hidx_prefetch(&m->by_email, model__hash_bytes(s->c.email.ptr, s->c.email.len));
	if (s->c.phone.len)
		hidx_prefetch(&m->by_phone, model__hash_bytes(s->c.phone.ptr, s->c.phone.len));
}

void model_prefetch_request(const struct model *m, const uint8_t key[PROTO_KEY_SIZE])
{
	hidx_prefetch(&m->by_request, model__hash_bytes(key, PROTO_KEY_SIZE));
}

void model_prefetch_order(const struct model *m, const void *key, size_t key_len)
{
	hidx_prefetch(&m->by_order, model__hash_bytes(key, key_len));
}

void model_prefetch_sale(const struct model *m, const uint8_t key[PROTO_KEY_SIZE], struct proto_str location,
			 struct proto_str order_id, const struct proto_ref *ref)
{
	char okey[PROTO_MAX_LOCATION + 1 + PROTO_MAX_ORDER];

	model_prefetch_request(m, key);
	if (location.len <= PROTO_MAX_LOCATION && order_id.len <= PROTO_MAX_ORDER)
		model_prefetch_order(m, okey, model__order_key(okey, location, order_id));
	if (ref->kind == PROTO_REF_ID && ref->id >= 1 && ref->id <= m->ncustomers)
		__builtin_prefetch(&m->customers[ref->id - 1], 1);
}

int model_load_request(struct model *m, const uint8_t key[PROTO_KEY_SIZE], const struct record_request *s)
{
	int rc = model__request_add(m, key, s);
	if (rc == 0)
		m->requests_saved = m->nrequests;
	return rc == MODEL_EXISTED ? MODEL_E_CORRUPT : rc;
}

struct program_snap {
	struct proto_wbuf w;
	uint16_t n;
};

static int program_snap_put(void *ctx, const char *key, const char *value)
{
	struct program_snap *ps = ctx;
	proto_setting_put(&ps->w, proto_str_c(key), proto_str_c(value));
	ps->n++;
	return 0;
}

/* Room enough for one encoded order or request-key snapshot. */
#define ORDER_SNAPSHOT_MAX (PROTO_MAX_LOCATION + 1 + PROTO_MAX_ORDER + 128)
#define REQUEST_SNAPSHOT_MAX (PROTO_KEY_SIZE + 128)

/* An order's snapshot, as it is now, or as its sale made it (no returns). */
static int put_order(const struct model *m, uint32_t slot, int as_made, model_put_fn put, void *ctx)
{
	const struct model_order *o = &m->orders[slot];
	struct record_order s = {o->customer_id, o->seq, o->amount, o->points, o->refunded, o->taken_back,
				 o->last_return_seq, {o->key, o->key_len}};
	uint8_t kbuf[8], vbuf[ORDER_SNAPSHOT_MAX];
	struct proto_wbuf w;
	int rc;

	if (as_made)
		s.refunded = s.taken_back = 0, s.last_return_seq = 0;
	proto_wbuf_init(&w, vbuf, sizeof vbuf);
	record_key_u64(kbuf, o->seq);
	if ((rc = record_order_encode(&w, &s)))
		return rc;
	return put(ctx, RECORD_DB_ORDERS, kbuf, 8, vbuf, w.len);
}

static int put_request(const struct model *m, uint32_t slot, model_put_fn put, void *ctx)
{
	const struct model_request *q = &m->requests[slot];
	struct record_request s = {q->opcode, q->body_hash, q->seq, q->object_id, q->value, {0}};
	uint8_t kbuf[8], vbuf[REQUEST_SNAPSHOT_MAX];
	struct proto_wbuf w;
	int rc;

	memcpy(s.key, q->key, PROTO_KEY_SIZE);
	proto_wbuf_init(&w, vbuf, sizeof vbuf);
	record_key_u64(kbuf, q->seq);
	if ((rc = record_request_encode(&w, &s)))
		return rc;
	return put(ctx, RECORD_DB_REQUESTS, kbuf, 8, vbuf, w.len);
}

int model_save_new(struct model *m, model_put_fn put, void *ctx)
{
	int rc;

	/*
	 * An order goes as its sale made it, even if a return has changed it
	 * since: recovery replays that return after loading it, unless a
	 * checkpoint (which the return marked it for) wrote it as it is.
	 */
	for (uint32_t i = m->orders_saved; i < m->norders; i++)
		if ((rc = put_order(m, i, 1, put, ctx)))
			return rc;
	for (uint32_t i = m->requests_saved; i < m->nrequests; i++)
		if ((rc = put_request(m, i, put, ctx)))
			return rc;
	m->orders_saved = m->norders;
	m->requests_saved = m->nrequests;
	return 0;
}

uint64_t model_unsaved(const struct model *m)
{
	return (uint64_t)(m->norders - m->orders_saved) + (m->nrequests - m->requests_saved);
}

int model_checkpoint(struct model *m, model_put_fn put, void *ctx, uint64_t *count)
{
	uint8_t kbuf[8], vbuf[RECORD_MAX_SIZE];
	struct proto_wbuf w;
	uint64_t n = 0;
	int rc;

	/* Every put first, the marks cleared only once all went through: a
	 * checkpoint that fails half way leaves everything still marked, and
	 * the store drops what was put. */
	for (uint32_t i = 0; i < m->ndirty; i++) {
		struct model_customer *c = &m->customers[m->dirty[i]];
		struct record_customer s;
		model_customer_view(c, &s.c);
		s.last_seq = c->last_seq;
		proto_wbuf_init(&w, vbuf, sizeof vbuf);
		record_key_u64(kbuf, c->id);
		if ((rc = record_customer_encode(&w, &s)) || (rc = put(ctx, RECORD_DB_CUSTOMERS, kbuf, 8, vbuf, w.len)))
			return rc;
		n++;
	}
	/* Orders not saved yet go as they are now, returns and all; then the
	 * saved ones a return changed (an unsaved one may be both: the second
	 * put is the same). */
	for (uint32_t i = m->orders_saved; i < m->norders; i++) {
		if ((rc = put_order(m, i, 0, put, ctx)))
			return rc;
		n++;
	}
	for (uint32_t i = 0; i < m->norders_dirty; i++) {
		if ((rc = put_order(m, m->orders_dirty[i], 0, put, ctx)))
			return rc;
		n++;
	}
	for (uint32_t i = m->requests_saved; i < m->nrequests; i++) {
		if ((rc = put_request(m, i, put, ctx)))
			return rc;
		n++;
	}
	if (m->keys_dirty) {
		for (uint32_t i = 0; i < m->nkeys; i++) {
			const struct model_apikey *k = &m->keys[i];
			struct record_apikey s;
			s.role = k->role;
			s.revoked = k->revoked;
			s.created_us = k->created_us;
			s.location = proto_str_c(k->location);
			memcpy(s.hash, k->hash, RECORD_HASH_SIZE);
			proto_wbuf_init(&w, vbuf, sizeof vbuf);
			record_key_u64(kbuf, k->id);
			if ((rc = record_apikey_encode(&w, &s)) || (rc = put(ctx, RECORD_DB_KEYS, kbuf, 8, vbuf, w.len)))
				return rc;
			n++;
		}
	}
	if (m->program_dirty) {
		/* Every setting at its limits still fits. */
		size_t cap = 2 + (size_t)PROTO_MAX_SETTINGS * (4 + PROTO_MAX_SETTING_KEY + PROTO_MAX_SETTING_VALUE);
		struct program_snap ps;
		uint8_t *buf = malloc(cap);

		if (!buf)
			return MODEL_E_NOMEM;
		ps.n = 0;
		proto_wbuf_init(&ps.w, buf, cap);
		proto_program_rep_put_header(&ps.w, 0);
		rules_each(&m->rules, program_snap_put, &ps);
		/* The count was not known before the walk: write it now. */
		buf[0] = (uint8_t)ps.n;
		buf[1] = (uint8_t)(ps.n >> 8);
		rc = ps.w.overflow ? PROTO_E_SPACE
				   : put(ctx, RECORD_DB_PROGRAM, RECORD_PROGRAM_KEY, strlen(RECORD_PROGRAM_KEY), buf, ps.w.len);
		free(buf);
		if (rc)
			return rc;
		n++;
	}

	for (uint32_t i = 0; i < m->ndirty; i++)
		m->customers[m->dirty[i]].dirty = 0;
	m->ndirty = 0;
	for (uint32_t i = 0; i < m->norders_dirty; i++)
		m->orders[m->orders_dirty[i]].dirty = 0;
	m->norders_dirty = 0;
	m->orders_saved = m->norders;
	m->requests_saved = m->nrequests;
	m->keys_dirty = 0;
	m->program_dirty = 0;
	if (count)
		*count += n;
	return 0;
}
