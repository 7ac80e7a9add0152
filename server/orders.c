/*
 * orders.c - an order read back from the journal (see orders.h).
 */
#include "orders.h"

#include <string.h>

#include "record.h"

uint64_t orders_last_seq(const struct model_order *o)
{
	return o->last_return_seq > o->seq ? o->last_return_seq : o->seq;
}

static int read_sale(void *ctx, uint64_t seq, const struct record *rec)
{
	struct orders_view *v = ctx;

	(void)seq;
	if (rec->type != PROTO_ENTRY_ACCRUE)
		return 1;
	v->ok = 1;
	v->time_us = rec->time_us;
	v->multiplier = rec->u.accrue.multiplier;
	v->nlines = rec->u.accrue.nlines;
	for (uint16_t i = 0; i < v->nlines; i++) {
		const struct record_line *l = &rec->u.accrue.lines[i];
		memcpy(v->line[i].sku, l->sku.ptr, l->sku.len);
		v->line[i].sku_len = (uint8_t)l->sku.len;
		memcpy(v->line[i].category, l->category.ptr, l->category.len);
		v->line[i].category_len = (uint8_t)l->category.len;
		v->line[i].qty = l->qty;
		v->line[i].amount = l->amount;
		v->line[i].earned = l->earned;
		v->line[i].refunded_qty = v->line[i].refunded = v->line[i].taken = 0;
	}
	return 1;
}

int orders_line_for_sku(const struct orders_view *v, struct proto_str sku, int64_t qty)
{
	for (uint16_t i = 0; i < v->nlines; i++)
		if (v->line[i].sku_len == sku.len && memcmp(v->line[i].sku, sku.ptr, sku.len) == 0 &&
		    v->line[i].qty - v->line[i].refunded_qty >= qty)
			return i;
	return -1;
}

int orders_sold(const struct orders_view *v, struct proto_str sku)
{
	for (uint16_t i = 0; i < v->nlines; i++)
		if (v->line[i].sku_len == sku.len && memcmp(v->line[i].sku, sku.ptr, sku.len) == 0)
			return 1;
	return 0;
}

static int read_return(void *ctx, uint64_t seq, const struct record *rec)
{
	struct orders_view *v = ctx;

	(void)seq;
	if (rec->type != PROTO_ENTRY_RETURN) {
		v->ok = 0;
		return 1;
	}
	for (uint16_t i = 0; i < rec->u.ret.nlines; i++) {
		const struct record_line *l = &rec->u.ret.lines[i];
		struct proto_str sku = {l->sku.ptr, l->sku.len};
		/* Replayed oldest first, the line is the one chosen when the return was made. */
		int k = orders_line_for_sku(v, sku, l->qty);
		if (k < 0) {
			v->ok = 0;
			return 1;
		}
		v->line[k].refunded_qty += l->qty;
		v->line[k].refunded += l->amount;
		v->line[k].taken += l->earned;
	}
	v->next_return = rec->u.ret.prev_return_seq;
	return 1;
}

static int note_return(void *ctx, uint64_t seq, const struct record *rec)
{
	struct orders_view *v = ctx;

	(void)seq;
	v->next_return = rec->type == PROTO_ENTRY_RETURN ? rec->u.ret.prev_return_seq : 0;
	v->ok = rec->type == PROTO_ENTRY_RETURN;
	return 1;
}

int orders_load(struct store *s, const struct model_order *o, struct orders_view *v)
{
	uint32_t n = 0;

	v->ok = 0;
	if (store_walk_chain(s, o->seq, read_sale, v) || !v->ok)
		return -1;
	/* The chain runs newest first; the lines must be matched oldest first. */
	for (uint64_t seq = o->last_return_seq; seq; seq = v->next_return) {
		if (n == ORDERS_MAX_RETURNS || store_walk_chain(s, seq, note_return, v) || !v->ok)
			return -1;
		v->return_seqs[n++] = seq;
	}
	while (n--)
		if (store_walk_chain(s, v->return_seqs[n], read_return, v) || !v->ok)
			return -1;
	return 0;
}

/* What orders_sale_time reads: only the sale's time. */
struct sale_time {
	int ok;
	int64_t time_us;
};

static int read_sale_time(void *ctx, uint64_t seq, const struct record *rec)
{
	struct sale_time *t = ctx;

	(void)seq;
	if (rec->type == PROTO_ENTRY_ACCRUE) {
		t->ok = 1;
		t->time_us = rec->time_us;
	}
	return 1;
}

int orders_sale_time(struct store *s, const struct model_order *o, int64_t *time_us)
{
	struct sale_time t = {0, 0};

	if (store_walk_chain(s, o->seq, read_sale_time, &t) || !t.ok)
		return -1;
	*time_us = t.time_us;
	return 0;
}
