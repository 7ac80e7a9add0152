/*
 * orders.h - an order as the journal tells it: its sale's lines and what
 * each of its returns did to each line.
 *
 * The model keeps an order's totals in memory (struct model_order); the
 * lines live only in the journal. A return by lines and ORDER read them
 * back here: the sale record, then the order's returns oldest first along
 * their prev_return_seq chain, so each returned line is matched to the sale
 * line it was matched to when the return was made.
 *
 * Reads go through store_walk_chain, so everything read must be durable:
 * callers wait until store_durable_seq() reaches orders_last_seq() first.
 */
#ifndef ACCRUE_ORDERS_H
#define ACCRUE_ORDERS_H

#include <stdint.h>

#include "model.h"
#include "proto.h"
#include "store.h"

/* Returns of one order that orders_load reads back, at most. */
#define ORDERS_MAX_RETURNS 1024

struct orders_line {
	char sku[PROTO_MAX_SKU], category[PROTO_MAX_CATEGORY];
	uint8_t sku_len, category_len;
	int64_t qty, amount, earned;
	int64_t refunded_qty, refunded, taken; /* by returns naming this line */
};

struct orders_view {
	int64_t time_us;     /* the sale's */
	uint32_t multiplier; /* the sale's earning multiplier */
	uint16_t nlines;
	struct orders_line line[PROTO_MAX_LINES];
	/* Working space of orders_load. */
	int ok;
	uint64_t next_return;
	uint64_t return_seqs[ORDERS_MAX_RETURNS];
};

/* The newest journal record an order's view is made of: its last return, or the sale. */
uint64_t orders_last_seq(const struct model_order *o);

/*
 * Read order o's sale and the per-line effect of its returns into v.
 * Returns 0, or -1 if a record cannot be read (missing or damaged), is not
 * of the kind its chain says, names a line the sale does not have, or the
 * order has more than ORDERS_MAX_RETURNS returns.
 */
int orders_load(struct store *s, const struct model_order *o, struct orders_view *v);

/*
 * The time of order o's sale, read from the journal (o->seq must be
 * durable). Returns 0, or -1 if the sale cannot be read.
 */
int orders_sale_time(struct store *s, const struct model_order *o, int64_t *time_us);

/* The line of the sale a returned SKU belongs to: the first with qty left to return, or -1. */
int orders_line_for_sku(const struct orders_view *v, struct proto_str sku, int64_t qty);

/* Whether the sale has a line with this SKU at all. */
int orders_sold(const struct orders_view *v, struct proto_str sku);

#endif
