/*
 * places.h - the program's groups and locations as the manager sees them:
 * how many customers each group has, and what each location has sold.
 *
 * Both are aggregates the model keeps beside its customers and orders, so
 * GROUPS and LOCATIONS answer in O(groups) and O(locations) without a scan
 * of a million customers on the loop thread. They are kept by the same
 * code that changes what they count: a customer added (enrolment, or a
 * snapshot loaded at start) or a GROUP or GROUP_RENAME record counts in
 * groups; an order added (a sale applied, or an order snapshot loaded) and
 * a return count in locations. Nothing here is persisted: recovery loads
 * customers and orders and so rebuilds both.
 *
 * A location's last sale is the sale booked last (the highest journal
 * seq). Its time is known when the sale was applied in this run; for an
 * order loaded from a snapshot only its seq is, and last_us stays 0 until
 * the caller (op_places.c) reads it from the journal and sets it with
 * places_sale_time.
 *
 * Only the loop thread touches it, like the rest of the model.
 */
#ifndef ACCRUE_PLACES_H
#define ACCRUE_PLACES_H

#include <stdint.h>

#include "hidx.h"
#include "proto.h"
#include "rules.h"

struct places_group {
	char name[PROTO_MAX_GROUP];
	uint8_t len;
	uint64_t members; /* 0: no customer holds it (a row kept for its index slot, not listed) */
};

struct places_location {
	char name[PROTO_MAX_LOCATION];
	uint8_t len;
	uint64_t sales;     /* orders accrued here */
	int64_t amount;     /* what they sold for */
	int64_t points;     /* what they earned */
	int64_t refunded;   /* of amount, refunded by returns */
	int64_t taken_back; /* of points, taken back by returns */
	uint64_t last_seq;  /* the sale booked last; 0: none */
	int64_t last_us;    /* its time; 0 while unknown (see above) */
};

struct places {
	struct places_group *groups;
	uint32_t ngroups, groups_cap;
	struct hidx by_group;
	struct places_location *locations;
	uint32_t nlocations, locations_cap;
	struct hidx by_location;
};

/* Empty. Returns 0, or -1 out of memory. */
int places_init(struct places *p);
void places_free(struct places *p);

/* The group's row, or NULL. */
const struct places_group *places_group_find(const struct places *p, struct proto_str group);
/* Add delta members to group (made on first use). Returns 0, -1 (out of
 * memory, or a name over PROTO_MAX_GROUP), or -2 (the count would go below 0). */
int places_group_count(struct places *p, struct proto_str group, int64_t delta);

/* The location's row, or NULL. location is compared byte for byte (sales store it normalised). */
const struct places_location *places_location_find(const struct places *p, struct proto_str location);
/*
 * Count one order at location: sold for amount, earned points, of which
 * refunded and taken_back were returned already (an order snapshot), sale
 * seq at time_us (0 when unknown). Returns 0 or -1 (out of memory, or a
 * name over PROTO_MAX_LOCATION).
 */
int places_sale(struct places *p, struct proto_str location, int64_t amount, int64_t points, int64_t refunded,
		int64_t taken_back, uint64_t seq, int64_t time_us);
/* A return at location. Returns 0, or -1 if the location has no sales. */
int places_return(struct places *p, struct proto_str location, int64_t refunded, int64_t taken);
/* The time of sale seq, if it is the location's last sale. */
void places_sale_time(struct places *p, struct proto_str location, uint64_t seq, int64_t time_us);

/*
 * The program's list of locations (the setting "locations", a comma list):
 * whether loc (normalised, as sales store it) may be named by a new sale or
 * terminal key. An empty list allows any, as before the list existed. The
 * list's entries are compared normalised too, so "Store-1" in the setting
 * is store-1.
 */
int places_location_listed(const struct rules_list *list, struct proto_str loc);

#endif
