/*
 * accrue_codes.c - the names of libaccrue's return values (accrue_strerror).
 */
#include "accrue_int.h"

const char *accrue_strerror(int err)
{
	switch (err) {
	case 0: return "ok";
	case ACCRUE_E_CONNECT: return "cannot connect";
	case ACCRUE_E_IO: return "connection lost";
	case ACCRUE_E_PROTOCOL: return "invalid reply from the server";
	case ACCRUE_E_NOMEM: return "out of memory";
	case ACCRUE_E_INVALID: return "invalid argument";
	case ACCRUE_E_TIMEOUT: return "timed out";
#define STATUS_TEXT(name, code, text) \
	case PROTO_ST_##name: return text;
		PROTO_STATUSES(STATUS_TEXT)
#undef STATUS_TEXT
	}
	return err > 0 ? "unknown server status" : "unknown error";
}

/*
 * accrue.h repeats proto.h's numbers so that POS software needs no header
 * of ours but one; the library hands them across unconverted (a status
 * from the wire is returned as it is, an entry type is copied into
 * struct accrue_entry). So each copy must equal its original, and these
 * assertions make any drift between the two headers fail the build.
 *
 * Statuses and entry kinds are lists in proto.h (PROTO_STATUSES,
 * PROTO_ENTRIES): the assertions are made from them, so a code added there
 * breaks this build until accrue.h copies it. Roles, ref kinds and units
 * are short enums asserted one by one.
 */

/*
 * One assertion per code. The enums are cast to int because they are
 * distinct types and GCC warns about comparing them (-Wenum-compare); it is
 * their values that have to agree.
 */
#define SAME_CODE(ours, theirs) _Static_assert((int)(ours) == (int)(theirs), #ours " must equal " #theirs)

/* Success is 0 on both sides. */
_Static_assert(PROTO_OK == 0, "a zero status must mean success, as every accrue_* call returns it");

/* Server statuses: one assertion per row of proto.h's list, so a status
 * added there fails the build here until accrue.h has its copy. */
#define SAME_STATUS(name, code, text) SAME_CODE(ACCRUE_ST_##name, PROTO_ST_##name);
PROTO_STATUSES(SAME_STATUS)
#undef SAME_STATUS

/* Roles. */
SAME_CODE(ACCRUE_ROLE_ADMIN, PROTO_ROLE_ADMIN);
SAME_CODE(ACCRUE_ROLE_TERMINAL, PROTO_ROLE_TERMINAL);
SAME_CODE(ACCRUE_ROLE_READONLY, PROTO_ROLE_READONLY);

/* How a request names a customer. */
SAME_CODE(ACCRUE_REF_ID, PROTO_REF_ID);
SAME_CODE(ACCRUE_REF_EMAIL, PROTO_REF_EMAIL);
SAME_CODE(ACCRUE_REF_PHONE, PROTO_REF_PHONE);
SAME_CODE(ACCRUE_REF_CARD, PROTO_REF_CARD);

/* Journal entry kinds, likewise from proto.h's PROTO_ENTRIES. */
#define SAME_ENTRY(TYPE, kind, code, name, payload, op, of_customer) SAME_CODE(ACCRUE_ENTRY_##TYPE, PROTO_ENTRY_##TYPE);
PROTO_ENTRIES(SAME_ENTRY)
#undef SAME_ENTRY

/* The unit a program counts in. */
SAME_CODE(ACCRUE_UNIT_POINTS, PROTO_UNIT_POINTS);
SAME_CODE(ACCRUE_UNIT_STAMPS, PROTO_UNIT_STAMPS);

/* Sizes and maxima. */
SAME_CODE(ACCRUE_KEY_SIZE, PROTO_KEY_SIZE);
SAME_CODE(ACCRUE_MAX_LINES, PROTO_MAX_LINES);
SAME_CODE(ACCRUE_MAX_GROUPS, PROTO_MAX_GROUPS);
SAME_CODE(ACCRUE_MAX_CARDS, PROTO_MAX_CARDS);
SAME_CODE(ACCRUE_MAX_CARD, PROTO_MAX_CARD);
SAME_CODE(ACCRUE_MAX_BATCH, PROTO_MAX_BATCH);

/*
 * Numbers accrue.h and the library's messages state in words. They are
 * not symbols a program can use, but a reader relies on them as much.
 */
_Static_assert(PROTO_MAX_APIKEY == 128, "accrue.h says an API key has at most 128 bytes (a 129-byte secret buffer)");
_Static_assert(PROTO_MAX_HISTORY == 1000, "accrue.h says accrue_history caps max at 1000");
_Static_assert(PROTO_MAX_GROUP == 64 && PROTO_MAX_TIER == 64, "accrue.h says group and tier names have at most 64 bytes");
_Static_assert(PROTO_MAX_REASON == 500, "accrue.h says a tier note has at most 500 bytes");
_Static_assert(PROTO_MAX_SETTING_KEY == 100 && PROTO_MAX_SETTING_VALUE == 2500,
	       "accrue.h says a setting name has at most 100 bytes and a value 2500");
_Static_assert(PROTO_MAX_BODY_DEFAULT == 1u << 20, "accrue.h says a frame is 1 MiB by default");

/*
 * The text fields of accrue.h's structs hold whatever the protocol allows
 * in them, with the NUL after it: a reply is copied in whole, and an
 * argument that fits the field is never refused as too long by the server.
 * (struct accrue_setting's value is the one exception: see accrue.h.)
 */
#define FIELD_HOLDS(type, field, max) (sizeof(((type *)0)->field) > (size_t)(max))
_Static_assert(FIELD_HOLDS(struct accrue_ref, text, PROTO_MAX_EMAIL) &&
		       FIELD_HOLDS(struct accrue_ref, text, PROTO_MAX_PHONE),
	       "struct accrue_ref's text must hold an email or a phone");
_Static_assert(FIELD_HOLDS(struct accrue_customer, email, PROTO_MAX_EMAIL) &&
		       FIELD_HOLDS(struct accrue_customer, phone, PROTO_MAX_PHONE) &&
		       FIELD_HOLDS(struct accrue_customer, first_name, PROTO_MAX_NAME) &&
		       FIELD_HOLDS(struct accrue_customer, last_name, PROTO_MAX_NAME) &&
		       FIELD_HOLDS(struct accrue_customer, tier, PROTO_MAX_TIER) &&
		       FIELD_HOLDS(struct accrue_customer, groups[0], PROTO_MAX_GROUP),
	       "struct accrue_customer's fields must hold what a customer reply carries");
_Static_assert(FIELD_HOLDS(struct accrue_line, sku, PROTO_MAX_SKU) &&
		       FIELD_HOLDS(struct accrue_line, category, PROTO_MAX_CATEGORY),
	       "struct accrue_line's SKU and category");
_Static_assert(FIELD_HOLDS(struct accrue_order, location, PROTO_MAX_LOCATION) &&
		       FIELD_HOLDS(struct accrue_order, order_id, PROTO_MAX_ORDER) &&
		       FIELD_HOLDS(struct accrue_order_line, sku, PROTO_MAX_SKU) &&
		       FIELD_HOLDS(struct accrue_order_line, category, PROTO_MAX_CATEGORY),
	       "struct accrue_order's fields must hold what an ORDER reply carries");
_Static_assert(FIELD_HOLDS(struct accrue_entry, location, PROTO_MAX_LOCATION) &&
		       FIELD_HOLDS(struct accrue_entry, order_id, PROTO_MAX_ORDER) &&
		       FIELD_HOLDS(struct accrue_entry, reason, PROTO_MAX_REASON) &&
		       FIELD_HOLDS(struct accrue_entry, comment, PROTO_MAX_REASON),
	       "struct accrue_entry's fields must hold what a HISTORY entry carries");
_Static_assert(FIELD_HOLDS(struct accrue_key_info, location, PROTO_MAX_LOCATION),
	       "struct accrue_key_info's location");
_Static_assert(FIELD_HOLDS(struct accrue_setting, name, PROTO_MAX_SETTING_KEY), "struct accrue_setting's name");
