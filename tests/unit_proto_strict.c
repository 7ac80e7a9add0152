/*
 * unit_proto_strict.c - the body decoders are strict: each body, built from
 * a template of PROTOCOL.md's fields, decodes; every truncation, a trailing
 * byte, a string one byte over its limit and an enum out of its range do
 * not. What the unit_proto_*.c tests share, and why they work as they do:
 * unit_proto/proto_samples.h.
 */
#include "check.h"
#include "proto.h"
#include "proto_samples.h"

/* ---- strict bodies: templates from PROTOCOL.md ---------------------- */

/*
 * Each body is described as a list of fields so it can be built with any
 * string at any length. Every decoder is wrapped to the same shape.
 */
enum tkind { T_U8, T_U16, T_U32, T_U64, T_KEY, T_STR, T_ITEM };

struct tfield {
	enum tkind kind;
	/* The integer, or a string's usual length; for T_ITEM (a u32 byte
	 * count of what follows), how many of the next fields it counts. */
	uint64_t value;
	uint32_t max;   /* a string's limit */
	const char *name;
};

struct tmsg {
	const char *name;
	int (*decode)(const uint8_t *b, size_t n);
	const struct tfield *fields;
	size_t nfields;
};

static int dec_hello_req(const uint8_t *b, size_t n)
{
	struct proto_hello_req m;
	return proto_hello_req_decode(b, n, &m);
}
static int dec_hello_rep(const uint8_t *b, size_t n)
{
	struct proto_hello_rep m;
	return proto_hello_rep_decode(b, n, &m);
}
static int dec_enrol_req(const uint8_t *b, size_t n)
{
	struct proto_enrol_req m;
	return proto_enrol_req_decode(b, n, &m);
}
static int dec_edit_req(const uint8_t *b, size_t n)
{
	struct proto_edit_req m;
	return proto_edit_req_decode(b, n, &m);
}
static int dec_card_req(const uint8_t *b, size_t n)
{
	struct proto_card_req m;
	return proto_card_req_decode(b, n, &m);
}
static int dec_optout_req(const uint8_t *b, size_t n)
{
	struct proto_optout_req m;
	return proto_optout_req_decode(b, n, &m);
}
static int dec_archive_req(const uint8_t *b, size_t n)
{
	struct proto_archive_req m;
	return proto_archive_req_decode(b, n, &m);
}
static int dec_merge_req(const uint8_t *b, size_t n)
{
	struct proto_merge_req m;
	return proto_merge_req_decode(b, n, &m);
}
static int dec_lookup_req(const uint8_t *b, size_t n)
{
	struct proto_lookup_req m;
	return proto_lookup_req_decode(b, n, &m);
}
static int dec_accrue_req(const uint8_t *b, size_t n)
{
	static struct proto_accrue_req m;
	return proto_accrue_req_decode(b, n, &m);
}
static int dec_return_req(const uint8_t *b, size_t n)
{
	static struct proto_return_req m;
	return proto_return_req_decode(b, n, &m);
}
static int dec_quote_req(const uint8_t *b, size_t n)
{
	static struct proto_quote_req m;
	return proto_quote_req_decode(b, n, &m);
}
static int dec_order_req(const uint8_t *b, size_t n)
{
	struct proto_order_req m;
	return proto_order_req_decode(b, n, &m);
}
static int dec_group_req(const uint8_t *b, size_t n)
{
	struct proto_group_req m;
	return proto_group_req_decode(b, n, &m);
}
static int dec_tier_req(const uint8_t *b, size_t n)
{
	struct proto_tier_req m;
	return proto_tier_req_decode(b, n, &m);
}
static int dec_program_set_req(const uint8_t *b, size_t n)
{
	struct proto_program_set_req m;
	return proto_program_set_req_decode(b, n, &m);
}
/* The whole of an ACCRUE_BATCH request: every item must decode. */
static int dec_batch_req(const uint8_t *b, size_t n)
{
	static struct proto_accrue_req m;
	struct proto_rbuf r;
	const uint8_t *item;
	size_t item_len;
	uint16_t count;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_batch_req_begin(&r, &count);
	for (uint16_t i = 0; rc == 0 && i < count; i++) {
		rc = proto_batch_req_next(&r, &item, &item_len);
		if (rc == 0)
			rc = proto_accrue_req_decode(item, item_len, &m);
	}
	return rc ? rc : proto_rbuf_finish(&r);
}
static int dec_adjust_req(const uint8_t *b, size_t n)
{
	struct proto_adjust_req m;
	return proto_adjust_req_decode(b, n, &m);
}
static int dec_history_req(const uint8_t *b, size_t n)
{
	struct proto_history_req m;
	return proto_history_req_decode(b, n, &m);
}
static int dec_key_create_req(const uint8_t *b, size_t n)
{
	struct proto_key_create_req m;
	return proto_key_create_req_decode(b, n, &m);
}
static int dec_key_revoke_req(const uint8_t *b, size_t n)
{
	struct proto_key_revoke_req m;
	return proto_key_revoke_req_decode(b, n, &m);
}
static int dec_customer_rep(const uint8_t *b, size_t n)
{
	struct proto_customer m;
	return proto_customer_rep_decode(b, n, &m);
}
static int dec_change_rep(const uint8_t *b, size_t n)
{
	struct proto_change_rep m;
	return proto_change_rep_decode(b, n, &m);
}
static int dec_key_create_rep(const uint8_t *b, size_t n)
{
	struct proto_key_create_rep m;
	return proto_key_create_rep_decode(b, n, &m);
}
static int dec_return_rep(const uint8_t *b, size_t n)
{
	struct proto_return_rep m;
	return proto_return_rep_decode(b, n, &m);
}
static int dec_quote_rep(const uint8_t *b, size_t n)
{
	static struct proto_quote_rep m;
	return proto_quote_rep_decode(b, n, &m);
}
static int dec_order_rep(const uint8_t *b, size_t n)
{
	static struct proto_order_rep m;
	return proto_order_rep_decode(b, n, &m);
}
static int dec_batch_rep(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	struct proto_batch_item it;
	uint16_t count;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_batch_rep_begin(&r, &count);
	for (uint16_t i = 0; rc == 0 && i < count; i++)
		rc = proto_batch_item_next(&r, &it);
	return rc ? rc : proto_rbuf_finish(&r);
}
static int dec_program_rep(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	struct proto_str name, value;
	uint16_t count;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_program_rep_begin(&r, &count);
	for (uint16_t i = 0; rc == 0 && i < count; i++)
		rc = proto_setting_next(&r, &name, &value);
	return rc ? rc : proto_rbuf_finish(&r);
}
static int dec_history_rep(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	uint64_t next;
	uint32_t count;
	struct proto_entry e;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_history_rep_begin(&r, &next, &count);
	for (uint32_t i = 0; rc == 0 && i < count; i++)
		rc = proto_entry_next(&r, &e);
	return rc ? rc : proto_rbuf_finish(&r);
}
static int dec_key_list_rep(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	uint32_t count;
	struct proto_key_info k;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_key_list_rep_begin(&r, &count);
	for (uint32_t i = 0; rc == 0 && i < count; i++)
		rc = proto_key_info_next(&r, &k);
	return rc ? rc : proto_rbuf_finish(&r);
}
static int dec_error_reply(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	struct proto_str msg;
	uint16_t status;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_reply_status(&r, &status);
	return rc ? rc : proto_reply_error_decode(&r, &msg);
}

#define KEY16 {T_KEY, 0, 0, "key"}
#define CUSTOMER_FIELDS                                                                                      \
	{T_U64, 42, 0, "id"}, {T_STR, 15, PROTO_MAX_EMAIL, "email"}, {T_STR, 12, PROTO_MAX_PHONE, "phone"},   \
		{T_STR, 3, PROTO_MAX_NAME, "first_name"}, {T_STR, 3, PROTO_MAX_NAME, "last_name"},            \
		{T_U64, 10, 0, "balance"}, {T_U64, 20, 0, "lifetime"}, {T_U64, 1, 0, "visits"},               \
		{T_U64, 500, 0, "total_spend"}, {T_U64, 7, 0, "created"}, {T_U64, 8, 0, "last_visit"},         \
		{T_U8, 1, 0, "member"}, {T_STR, 4, PROTO_MAX_TIER, "tier"}, {T_U8, 2, 0, "ngroups"},          \
		{T_STR, 5, PROTO_MAX_GROUP, "group 1"}, {T_STR, 1, PROTO_MAX_GROUP, "group 2"},               \
		{T_U8, 1, 0, "opted_out"}, {T_U64, 256, 0, "optout_time"},                                    \
		{T_STR, 1, PROTO_MAX_OPTOUT_SOURCE, "optout_source"}, {T_U8, 0, 0, "ncards"},                 \
		{T_U8, 0, 0, "archived"}, {T_U64, 0, 0, "merged_into"}
/*
 * (The lengths and values after the groups are chosen so that a group
 * count larger than the groups there reads on into them and runs out of
 * bytes, as it did when the groups ended the customer: PROTO_E_BODY.)
 */
/* A sale with one line. */
#define SALE_FIELDS                                                                                          \
	{T_STR, 8, PROTO_MAX_LOCATION, "location"}, {T_STR, 8, PROTO_MAX_ORDER, "order_id"},                  \
		{T_U64, 1700000000000000ull, 0, "time"}, {T_U64, 12345, 0, "amount"}, {T_U16, 1, 0, "nlines"}, \
		{T_STR, 6, PROTO_MAX_SKU, "sku"}, {T_STR, 5, PROTO_MAX_CATEGORY, "category"},                  \
		{T_U64, 2, 0, "qty"}, {T_U64, 12345, 0, "line amount"}

static const struct tfield t_hello_req[] = {{T_U16, 1, 0, "version"}, {T_STR, 4, PROTO_MAX_APIKEY, "api_key"}};
static const struct tfield t_hello_rep[] = {{T_U8, 2, 0, "role"},         {T_U64, 7, 0, "key_id"},
					    {T_STR, 5, PROTO_MAX_LOCATION, "location"}, {T_U32, 1u << 20, 0, "max_body"},
					    {T_U32, 64, 0, "max_inflight"}, {T_U64, 123, 0, "server_time"}};
static const struct tfield t_enrol[] = {KEY16,
					{T_STR, 15, PROTO_MAX_EMAIL, "email"},
					{T_STR, 12, PROTO_MAX_PHONE, "phone"},
					{T_STR, 3, PROTO_MAX_NAME, "first_name"},
					{T_STR, 3, PROTO_MAX_NAME, "last_name"}};
static const struct tfield t_lookup_id[] = {{T_U8, PROTO_REF_ID, 0, "kind"}, {T_U64, 42, 0, "id"}};
static const struct tfield t_lookup_email[] = {{T_U8, PROTO_REF_EMAIL, 0, "kind"},
					       {T_STR, 15, PROTO_MAX_EMAIL, "ref email"}};
static const struct tfield t_lookup_phone[] = {{T_U8, PROTO_REF_PHONE, 0, "kind"},
					       {T_STR, 12, PROTO_MAX_PHONE, "ref phone"}};
static const struct tfield t_lookup_card[] = {{T_U8, PROTO_REF_CARD, 0, "kind"},
					      {T_STR, 16, PROTO_MAX_CARD, "ref card"}};
static const struct tfield t_edit_req[] = {KEY16,
					   {T_U8, PROTO_REF_ID, 0, "kind"},
					   {T_U64, 42, 0, "id"},
					   {T_U8, PROTO_EDIT_EMAIL | PROTO_EDIT_LAST, 0, "fields"},
					   {T_STR, 15, PROTO_MAX_EMAIL, "email"},
					   {T_STR, 0, PROTO_MAX_PHONE, "phone"},
					   {T_STR, 0, PROTO_MAX_NAME, "first_name"},
					   {T_STR, 3, PROTO_MAX_NAME, "last_name"}};
static const struct tfield t_card_req[] = {KEY16,
					   {T_U8, PROTO_REF_CARD, 0, "kind"},
					   {T_STR, 16, PROTO_MAX_CARD, "ref card"},
					   {T_U8, 1, 0, "link"},
					   {T_STR, 16, PROTO_MAX_CARD, "card"}};
static const struct tfield t_optout_req[] = {KEY16,
					     {T_U8, PROTO_REF_PHONE, 0, "kind"},
					     {T_STR, 12, PROTO_MAX_PHONE, "ref phone"},
					     {T_U8, 1, 0, "opted_out"},
					     {T_STR, 8, PROTO_MAX_OPTOUT_SOURCE, "source"}};
static const struct tfield t_archive_req[] = {KEY16, {T_U8, PROTO_REF_EMAIL, 0, "kind"},
					      {T_STR, 15, PROTO_MAX_EMAIL, "ref email"}};
static const struct tfield t_merge_req[] = {KEY16, {T_U8, PROTO_REF_ID, 0, "kind"}, {T_U64, 7, 0, "keep id"},
					    {T_U8, PROTO_REF_CARD, 0, "drop kind"},
					    {T_STR, 4, PROTO_MAX_CARD, "drop card"}};
static const struct tfield t_accrue[] = {KEY16, {T_U8, PROTO_REF_EMAIL, 0, "kind"},
					 {T_STR, 15, PROTO_MAX_EMAIL, "ref email"}, SALE_FIELDS};
static const struct tfield t_return_req[] = {KEY16, SALE_FIELDS};
static const struct tfield t_quote_id[] = {{T_U8, PROTO_REF_ID, 0, "kind"}, {T_U64, 42, 0, "id"}, SALE_FIELDS};
static const struct tfield t_quote_phone[] = {{T_U8, PROTO_REF_PHONE, 0, "kind"},
					      {T_STR, 12, PROTO_MAX_PHONE, "ref phone"}, SALE_FIELDS};
static const struct tfield t_quote_anon[] = {{T_U8, 0, 0, "kind"}, SALE_FIELDS};
static const struct tfield t_order_req[] = {{T_STR, 8, PROTO_MAX_LOCATION, "location"},
					    {T_STR, 8, PROTO_MAX_ORDER, "order_id"}};
static const struct tfield t_group_req[] = {KEY16,
					    {T_U8, PROTO_REF_ID, 0, "kind"},
					    {T_U64, 42, 0, "id"},
					    {T_U8, 1, 0, "add"},
					    {T_STR, 5, PROTO_MAX_GROUP, "group"}};
static const struct tfield t_tier_req[] = {KEY16,
					   {T_U8, PROTO_REF_EMAIL, 0, "kind"},
					   {T_STR, 15, PROTO_MAX_EMAIL, "ref email"},
					   {T_STR, 4, PROTO_MAX_TIER, "tier"},
					   {T_STR, 10, PROTO_MAX_REASON, "note"}};
static const struct tfield t_program_set_req[] = {KEY16, {T_STR, 11, PROTO_MAX_SETTING_KEY, "name"},
						  {T_STR, 3, PROTO_MAX_SETTING_VALUE, "value"}};
/* Two items, each an ACCRUE body (key, ref by id, a sale with one line). */
static const struct tfield t_batch_req[] = {
	{T_U16, 2, 0, "count"},
	{T_ITEM, 12, 0, "item 1 length"}, KEY16, {T_U8, PROTO_REF_ID, 0, "kind"}, {T_U64, 42, 0, "id"}, SALE_FIELDS,
	{T_ITEM, 12, 0, "item 2 length"}, KEY16, {T_U8, PROTO_REF_ID, 0, "kind 2"}, {T_U64, 43, 0, "id 2"},
	SALE_FIELDS};
static const struct tfield t_adjust[] = {KEY16,
					 {T_U8, PROTO_REF_PHONE, 0, "kind"},
					 {T_STR, 12, PROTO_MAX_PHONE, "ref phone"},
					 {T_U64, 100, 0, "points"},
					 {T_STR, 8, PROTO_MAX_REASON, "reason"},
					 {T_STR, 18, PROTO_MAX_REASON, "comment"}};
static const struct tfield t_history[] = {{T_U8, PROTO_REF_ID, 0, "kind"},
					  {T_U64, 42, 0, "id"},
					  {T_U64, 0, 0, "before_seq"},
					  {T_U32, 50, 0, "limit"}};
static const struct tfield t_key_create_req[] = {KEY16, {T_U8, PROTO_ROLE_TERMINAL, 0, "role"},
						 {T_STR, 8, PROTO_MAX_LOCATION, "location"}};
static const struct tfield t_key_revoke[] = {KEY16, {T_U64, 3, 0, "key_id"}};
static const struct tfield t_customer[] = {CUSTOMER_FIELDS};
static const struct tfield t_change[] = {{T_U64, 77, 0, "seq"}, {T_U64, 5, 0, "points"}, CUSTOMER_FIELDS};
static const struct tfield t_key_create_rep[] = {{T_U64, 3, 0, "key_id"},
						 {T_U8, PROTO_ROLE_READONLY, 0, "role"},
						 {T_STR, 0, PROTO_MAX_LOCATION, "location"},
						 {T_STR, 40, PROTO_MAX_APIKEY, "secret"}};
static const struct tfield t_history_rep[] = {
	{T_U64, 0, 0, "next_before"},  {T_U32, 1, 0, "count"},
	{T_U64, 77, 0, "seq"},         {T_U8, PROTO_ENTRY_ACCRUE, 0, "type"},
	{T_U64, 1, 0, "time"},         {T_U64, 5, 0, "points"},
	{T_U64, 5, 0, "balance_after"}, {T_U64, 500, 0, "amount"},
	{T_STR, 8, PROTO_MAX_LOCATION, "entry location"}, {T_STR, 8, PROTO_MAX_ORDER, "entry order_id"},
	{T_STR, 0, PROTO_MAX_REASON, "entry reason"},     {T_STR, 0, PROTO_MAX_REASON, "entry comment"},
	{T_STR, 9, PROTO_MAX_DETAIL, "entry detail"}};
static const struct tfield t_key_list_rep[] = {{T_U32, 1, 0, "count"},
					       {T_U64, 3, 0, "id"},
					       {T_U8, PROTO_ROLE_ADMIN, 0, "role"},
					       {T_U8, 0, 0, "revoked"},
					       {T_U64, 1, 0, "created"},
					       {T_STR, 0, PROTO_MAX_LOCATION, "key location"}};
static const struct tfield t_error_reply[] = {{T_U16, PROTO_ST_CONFLICT, 0, "status"},
					      {T_STR, 20, PROTO_MAX_MESSAGE, "message"}};
static const struct tfield t_return_rep[] = {{T_U64, 77, 0, "seq"},
					     {T_U64, (uint64_t)-5, 0, "points"},
					     {T_U64, 1, 0, "shortfall"},
					     {T_U64, 500, 0, "refunded"},
					     CUSTOMER_FIELDS};
static const struct tfield t_quote_rep[] = {{T_U64, 185, 0, "earned"},     {T_U64, 12345, 0, "qualifying"},
					    {T_U64, 3, 0, "items"},        {T_U32, 15000, 0, "multiplier"},
					    {T_U8, PROTO_UNIT_POINTS, 0, "unit"}, {T_U16, 2, 0, "nlines"},
					    {T_U64, 100, 0, "line 1"},     {T_U64, 85, 0, "line 2"}};
static const struct tfield t_order_rep[] = {
	{T_U64, 42, 0, "customer_id"},    {T_U64, 1001, 0, "seq"},
	{T_U64, 1, 0, "time"},            {T_STR, 8, PROTO_MAX_LOCATION, "location"},
	{T_STR, 5, PROTO_MAX_ORDER, "order_id"}, {T_U64, 12345, 0, "amount"},
	{T_U64, 123, 0, "earned"},        {T_U64, 100, 0, "refunded"},
	{T_U64, 1, 0, "taken_back"},      {T_U32, 10000, 0, "multiplier"},
	{T_U16, 1, 0, "nlines"},          {T_STR, 6, PROTO_MAX_SKU, "sku"},
	{T_STR, 5, PROTO_MAX_CATEGORY, "category"}, {T_U64, 2, 0, "qty"},
	{T_U64, 12345, 0, "line amount"}, {T_U64, 123, 0, "line earned"},
	{T_U64, 1, 0, "refunded_qty"},    {T_U64, 100, 0, "line refunded"}};
static const struct tfield t_batch_rep[] = {
	{T_U16, 2, 0, "count"},       {T_U16, PROTO_OK, 0, "status 1"}, {T_U8, 0, 0, "replay 1"},
	{T_U64, 1001, 0, "seq"},      {T_U64, 123, 0, "points"},         {T_U64, 42, 0, "customer_id"},
	{T_U64, 456, 0, "balance"},   {T_U16, PROTO_ST_DUPLICATE_ORDER, 0, "status 2"},
	{T_U8, 0, 0, "replay 2"},     {T_STR, 30, PROTO_MAX_MESSAGE, "item message"}};
static const struct tfield t_program_rep[] = {{T_U16, 2, 0, "count"},
					      {T_STR, 4, PROTO_MAX_SETTING_KEY, "name 1"},
					      {T_STR, 6, PROTO_MAX_SETTING_VALUE, "value 1"},
					      {T_STR, 8, PROTO_MAX_SETTING_KEY, "name 2"},
					      {T_STR, 4, PROTO_MAX_SETTING_VALUE, "value 2"}};

#define TMSG(name, dec, fields) {name, dec, fields, sizeof(fields) / sizeof((fields)[0])}

static const struct tmsg tmsgs[] = {
	TMSG("hello req", dec_hello_req, t_hello_req),
	TMSG("hello rep", dec_hello_rep, t_hello_rep),
	TMSG("enrol req", dec_enrol_req, t_enrol),
	TMSG("lookup req (id)", dec_lookup_req, t_lookup_id),
	TMSG("lookup req (email)", dec_lookup_req, t_lookup_email),
	TMSG("lookup req (phone)", dec_lookup_req, t_lookup_phone),
	TMSG("lookup req (card)", dec_lookup_req, t_lookup_card),
	TMSG("edit req", dec_edit_req, t_edit_req),
	TMSG("card req", dec_card_req, t_card_req),
	TMSG("optout req", dec_optout_req, t_optout_req),
	TMSG("archive req", dec_archive_req, t_archive_req),
	TMSG("merge req", dec_merge_req, t_merge_req),
	TMSG("accrue req", dec_accrue_req, t_accrue),
	TMSG("adjust req", dec_adjust_req, t_adjust),
	TMSG("history req", dec_history_req, t_history),
	TMSG("key_create req", dec_key_create_req, t_key_create_req),
	TMSG("key_revoke req", dec_key_revoke_req, t_key_revoke),
	TMSG("customer rep", dec_customer_rep, t_customer),
	TMSG("change rep", dec_change_rep, t_change),
	TMSG("key_create rep", dec_key_create_rep, t_key_create_rep),
	TMSG("history rep", dec_history_rep, t_history_rep),
	TMSG("key_list rep", dec_key_list_rep, t_key_list_rep),
	TMSG("error reply", dec_error_reply, t_error_reply),
	TMSG("return req", dec_return_req, t_return_req),
	TMSG("quote req (id)", dec_quote_req, t_quote_id),
	TMSG("quote req (phone)", dec_quote_req, t_quote_phone),
	TMSG("quote req (anonymous)", dec_quote_req, t_quote_anon),
	TMSG("order req", dec_order_req, t_order_req),
	TMSG("group req", dec_group_req, t_group_req),
	TMSG("tier req", dec_tier_req, t_tier_req),
	TMSG("program_set req", dec_program_set_req, t_program_set_req),
	TMSG("batch req", dec_batch_req, t_batch_req),
	TMSG("return rep", dec_return_rep, t_return_rep),
	TMSG("quote rep", dec_quote_rep, t_quote_rep),
	TMSG("order rep", dec_order_rep, t_order_rep),
	TMSG("batch rep", dec_batch_rep, t_batch_rep),
	TMSG("program rep", dec_program_rep, t_program_rep),
};

/* tmsg_build option: write only the overridden string's length prefix. */
enum { STR_PREFIX_ONLY = 1 };

/*
 * Build m's body into s. The string at field index `which` (SIZE_MAX: none)
 * gets length len; the other strings keep their usual length.
 */
static void tmsg_build(struct spec *s, const struct tmsg *m, size_t which, size_t len, int opts)
{
	size_t item_at = SIZE_MAX, item_last = 0;

	s->n = 0;
	for (size_t i = 0; i < m->nfields; i++) {
		const struct tfield *f = &m->fields[i];
		switch (f->kind) {
		case T_ITEM:
			item_at = s->n;
			item_last = i + f->value;
			spec_le(s, 0, 4);
			break;
		case T_U8: spec_le(s, f->value, 1); break;
		case T_U16: spec_le(s, f->value, 2); break;
		case T_U32: spec_le(s, f->value, 4); break;
		case T_U64: spec_le(s, f->value, 8); break;
		case T_KEY: spec_bytes(s, sample_key, PROTO_KEY_SIZE); break;
		case T_STR:
			if (i != which)
				spec_fill(s, f->value, (char)('a' + i));
			else if (opts & STR_PREFIX_ONLY)
				spec_le(s, len, 2);
			else
				spec_fill(s, len, (char)('a' + i));
			break;
		}
		if (item_at != SIZE_MAX && i == item_last) {
			uint64_t n = s->n - item_at - 4;
			for (int k = 0; k < 4; k++)
				s->b[item_at + (size_t)k] = (uint8_t)(n >> (8 * k));
			item_at = SIZE_MAX;
		}
	}
}

static int decode_exact(const struct tmsg *m, const uint8_t *b, size_t n)
{
	uint8_t *copy = dup_exact(b, n);
	int rc = m->decode(copy, n);
	free(copy);
	return rc;
}

/* The template decodes; every truncation and any trailing byte does not. */
static void test_bodies_strict(void)
{
	static struct spec s;

	for (size_t t = 0; t < sizeof tmsgs / sizeof tmsgs[0]; t++) {
		const struct tmsg *m = &tmsgs[t];
		tmsg_build(&s, m, SIZE_MAX, 0, 0);
		CHECK_INT(decode_exact(m, s.b, s.n), 0);
		for (size_t cut = 0; cut < s.n; cut++) {
			int rc = decode_exact(m, s.b, cut);
			if (rc != PROTO_E_BODY)
				fprintf(stderr, "%s: cut at %zu of %zu gave %d\n", m->name, cut, s.n, rc);
			CHECK_INT(rc, PROTO_E_BODY);
		}
		static const uint8_t extra[] = {0x00, 0xff};
		for (size_t e = 0; e < sizeof extra; e++) {
			s.b[s.n] = extra[e];
			int rc = decode_exact(m, s.b, s.n + 1);
			if (rc != PROTO_E_BODY)
				fprintf(stderr, "%s: trailing 0x%02x gave %d\n", m->name, extra[e], rc);
			CHECK_INT(rc, PROTO_E_BODY);
		}
	}
}

/* Every string is accepted at its limit and refused one byte past it. */
static void test_string_limits(void)
{
	static struct spec s;
	int strings = 0;

	for (size_t t = 0; t < sizeof tmsgs / sizeof tmsgs[0]; t++) {
		const struct tmsg *m = &tmsgs[t];
		for (size_t i = 0; i < m->nfields; i++) {
			const struct tfield *f = &m->fields[i];
			if (f->kind != T_STR)
				continue;
			strings++;
			tmsg_build(&s, m, i, f->max, 0);
			int at = decode_exact(m, s.b, s.n);
			tmsg_build(&s, m, i, (size_t)f->max + 1, 0);
			int over = decode_exact(m, s.b, s.n);
			/* Judged from the length alone: the bytes need not be there. */
			tmsg_build(&s, m, i, 0xffff, STR_PREFIX_ONLY);
			int huge = decode_exact(m, s.b, s.n);
			tmsg_build(&s, m, i, 0, 0);
			int empty = decode_exact(m, s.b, s.n);
			if (at != 0 || over != PROTO_E_FIELD || huge != PROTO_E_FIELD || empty != 0)
				fprintf(stderr, "%s: %s: at %d over %d huge %d empty %d\n", m->name, f->name, at, over,
					huge, empty);
			CHECK_INT(at, 0);
			CHECK_INT(over, PROTO_E_FIELD);
			CHECK_INT(huge, PROTO_E_FIELD);
			CHECK_INT(empty, 0);
		}
	}
	/*
	 * Every string field of every message is in a template: hello req 1,
	 * hello rep 1, enrol 4, lookup refs 2, accrue 1 + 4 (a sale with a
	 * line), adjust 3, key_create req 1, customer 8, change 8,
	 * key_create rep 2, history rep 5, key_list rep 1, error 1, return req
	 * 4, quotes 4 + 5 + 4, order req 2, group 1, tier 3, program_set 2,
	 * batch req 2 * 4, return rep 8, order rep 4, batch rep 1, program
	 * rep 4; the customer book: lookup by card 1, edit 4, card 2, optout 2,
	 * archive 1, merge 1.
	 */
	CHECK_INT(strings, 1 + 1 + 4 + 2 + 5 + 3 + 1 + 8 + 8 + 2 + 5 + 1 + 1 + 4 + 13 + 2 + 1 + 3 + 2 + 8 + 8 + 4 +
				   1 + 4 + 1 + 4 + 2 + 2 + 1 + 1);
}

/* Build m with the u8/u16/u32 field called name set to value, and decode. */
static int tmsg_with(const struct tmsg *m, const char *name, uint64_t value)
{
	struct tfield fields[48];
	struct tmsg copy = *m;
	static struct spec s;
	int found = 0;

	REQUIRE(m->nfields <= 48);
	memcpy(fields, m->fields, m->nfields * sizeof fields[0]);
	for (size_t i = 0; i < m->nfields; i++) {
		if (strcmp(fields[i].name, name) == 0) {
			fields[i].value = value;
			found = 1;
		}
	}
	REQUIRE(found);
	copy.fields = fields;
	tmsg_build(&s, &copy, SIZE_MAX, 0, 0);
	return decode_exact(&copy, s.b, s.n);
}

static const struct tmsg *tmsg_named(const char *name)
{
	for (size_t t = 0; t < sizeof tmsgs / sizeof tmsgs[0]; t++)
		if (strcmp(tmsgs[t].name, name) == 0)
			return &tmsgs[t];
	REQUIRE(!"no such template");
	return NULL;
}

static void test_enum_ranges(void)
{
	static const char *const with_ref[] = {"lookup req (email)", "accrue req", "adjust req", "history req",
					       "group req",          "tier req",   "batch req",  "edit req",
					       "card req",           "optout req", "archive req"};
	static const uint8_t bad_kinds[] = {0, PROTO_REF_CARD + 1, 0x80, 0xff};

	/* A ref kind other than 1..4 is refused; the good ones pass. */
	for (size_t i = 0; i < sizeof with_ref / sizeof with_ref[0]; i++) {
		const struct tmsg *m = tmsg_named(with_ref[i]);
		for (size_t k = 0; k < sizeof bad_kinds; k++)
			CHECK_INT(tmsg_with(m, "kind", bad_kinds[k]), PROTO_E_FIELD);
	}
	/* QUOTE alone takes kind 0 (nobody in particular); 5 and up are still refused. */
	static const char *const quotes[] = {"quote req (id)", "quote req (phone)"};
	for (size_t i = 0; i < sizeof quotes / sizeof quotes[0]; i++)
		for (size_t k = 1; k < sizeof bad_kinds; k++)
			CHECK_INT(tmsg_with(tmsg_named(quotes[i]), "kind", bad_kinds[k]), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(tmsg_named("quote req (anonymous)"), "kind", 0), 0);
	CHECK_INT(tmsg_with(tmsg_named("quote req (anonymous)"), "kind", PROTO_REF_CARD + 1), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(tmsg_named("lookup req (card)"), "kind", PROTO_REF_PHONE), 0);
	CHECK_INT(tmsg_with(tmsg_named("lookup req (email)"), "kind", PROTO_REF_PHONE), 0);
	CHECK_INT(tmsg_with(tmsg_named("lookup req (phone)"), "kind", PROTO_REF_EMAIL), 0);
	/* An email of 33..254 bytes read as a phone is over the phone limit. */
	{
		struct spec s = {.n = 0};
		spec_le(&s, PROTO_REF_PHONE, 1);
		spec_fill(&s, PROTO_MAX_PHONE + 1, '1');
		CHECK_INT(dec_lookup_req(s.b, s.n), PROTO_E_FIELD);
	}

	/* Roles are 1..3 wherever they appear in a request or reply. */
	static const char *const with_role[] = {"key_create req", "hello rep", "key_create rep"};
	for (size_t i = 0; i < sizeof with_role / sizeof with_role[0]; i++) {
		const struct tmsg *m = tmsg_named(with_role[i]);
		CHECK_INT(tmsg_with(m, "role", 0), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "role", 4), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "role", 0xff), PROTO_E_FIELD);
		for (uint64_t role = PROTO_ROLE_ADMIN; role <= PROTO_ROLE_READONLY; role++)
			CHECK_INT(tmsg_with(m, "role", role), 0);
	}

	/* History pages hold 1..1000 entries. */
	const struct tmsg *hist = tmsg_named("history req");
	CHECK_INT(tmsg_with(hist, "limit", 0), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(hist, "limit", 1), 0);
	CHECK_INT(tmsg_with(hist, "limit", PROTO_MAX_HISTORY), 0);
	CHECK_INT(tmsg_with(hist, "limit", PROTO_MAX_HISTORY + 1), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(hist, "limit", UINT32_MAX), PROTO_E_FIELD);

	/* A history reply announcing more than a page is refused at its header. */
	uint8_t hdr[12];
	struct proto_wbuf w;
	struct proto_rbuf r;
	uint64_t next;
	uint32_t count;
	WBUF(w, hdr);
	proto_history_rep_put_header(&w, 5, PROTO_MAX_HISTORY + 1);
	proto_rbuf_init(&r, hdr, sizeof hdr);
	CHECK_INT(proto_history_rep_begin(&r, &next, &count), PROTO_E_FIELD);
	WBUF(w, hdr);
	proto_history_rep_put_header(&w, 5, PROTO_MAX_HISTORY);
	proto_rbuf_init(&r, hdr, sizeof hdr);
	CHECK_INT(proto_history_rep_begin(&r, &next, &count), 0);
	CHECK_INT(count, PROTO_MAX_HISTORY);
	/* A count larger than the items present fails on the missing item. */
	CHECK_INT(tmsg_with(tmsg_named("history rep"), "count", 2), PROTO_E_BODY);
	CHECK_INT(tmsg_with(tmsg_named("key_list rep"), "count", 2), PROTO_E_BODY);
	/* And a smaller one leaves trailing bytes. */
	CHECK_INT(tmsg_with(tmsg_named("history rep"), "count", 0), PROTO_E_BODY);
	CHECK_INT(tmsg_with(tmsg_named("key_list rep"), "count", 0), PROTO_E_BODY);

	/* member is 0 or 1, and a customer is in at most 16 groups, wherever a customer appears. */
	static const char *const with_customer[] = {"customer rep", "change rep", "return rep"};
	for (size_t i = 0; i < sizeof with_customer / sizeof with_customer[0]; i++) {
		const struct tmsg *m = tmsg_named(with_customer[i]);
		CHECK_INT(tmsg_with(m, "member", 0), 0);
		CHECK_INT(tmsg_with(m, "member", 1), 0);
		CHECK_INT(tmsg_with(m, "member", 2), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "member", 0xff), PROTO_E_FIELD);
		/* Refused from the count alone, before the groups are read. */
		CHECK_INT(tmsg_with(m, "ngroups", PROTO_MAX_GROUPS + 1), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "ngroups", 0xff), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "ngroups", PROTO_MAX_GROUPS), PROTO_E_BODY);
		CHECK_INT(tmsg_with(m, "ngroups", 3), PROTO_E_BODY);
		CHECK_INT(tmsg_with(m, "ngroups", 1), PROTO_E_BODY);
		/* opted_out is 0 or 1, and a customer holds at most 8 cards. */
		CHECK_INT(tmsg_with(m, "opted_out", 0), 0);
		CHECK_INT(tmsg_with(m, "opted_out", 2), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "ncards", PROTO_MAX_CARDS + 1), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "ncards", 0xff), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "ncards", 1), PROTO_E_BODY);
		/* archived is 0 or 1; merged into someone only when archived. */
		CHECK_INT(tmsg_with(m, "archived", 1), 0);
		CHECK_INT(tmsg_with(m, "archived", 2), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "merged_into", 3), PROTO_E_FIELD);
	}
	/* EDIT changes 1 to 15 (every bit a field); CARD links or unlinks; OPTOUT is 0 or 1. */
	CHECK_INT(tmsg_with(tmsg_named("edit req"), "fields", 0), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(tmsg_named("edit req"), "fields", PROTO_EDIT_ALL), 0);
	CHECK_INT(tmsg_with(tmsg_named("edit req"), "fields", PROTO_EDIT_ALL + 1), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(tmsg_named("card req"), "link", 0), 0);
	CHECK_INT(tmsg_with(tmsg_named("card req"), "link", 2), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(tmsg_named("optout req"), "opted_out", 0), 0);
	CHECK_INT(tmsg_with(tmsg_named("optout req"), "opted_out", 2), PROTO_E_FIELD);

	/* At most 256 lines, judged from the count before any line is read. */
	static const char *const with_lines[] = {"accrue req", "return req", "quote req (id)", "quote req (anonymous)",
						 "batch req", "order rep", "quote rep"};
	for (size_t i = 0; i < sizeof with_lines / sizeof with_lines[0]; i++) {
		const struct tmsg *m = tmsg_named(with_lines[i]);
		uint64_t usual = 0;
		for (size_t f = 0; f < m->nfields; f++)
			if (strcmp(m->fields[f].name, "nlines") == 0)
				usual = m->fields[f].value;
		REQUIRE(usual > 0);
		CHECK_INT(tmsg_with(m, "nlines", PROTO_MAX_LINES + 1), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "nlines", UINT16_MAX), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "nlines", PROTO_MAX_LINES), PROTO_E_BODY);
		CHECK_INT(tmsg_with(m, "nlines", usual + 1), PROTO_E_BODY);
		CHECK_INT(tmsg_with(m, "nlines", usual - 1), PROTO_E_BODY);
	}

	/* GROUP's add is 0 (remove) or 1 (add). */
	const struct tmsg *group = tmsg_named("group req");
	CHECK_INT(tmsg_with(group, "add", 0), 0);
	CHECK_INT(tmsg_with(group, "add", 1), 0);
	CHECK_INT(tmsg_with(group, "add", 2), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(group, "add", 0xff), PROTO_E_FIELD);

	/* A quote's unit is 0 (points) or 1 (stamps). */
	const struct tmsg *quote_rep = tmsg_named("quote rep");
	CHECK_INT(tmsg_with(quote_rep, "unit", PROTO_UNIT_POINTS), 0);
	CHECK_INT(tmsg_with(quote_rep, "unit", PROTO_UNIT_STAMPS), 0);
	CHECK_INT(tmsg_with(quote_rep, "unit", 2), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(quote_rep, "unit", 0xff), PROTO_E_FIELD);

	/* A batch holds 1..8190 sales; its reply at most as many items. */
	const struct tmsg *batch = tmsg_named("batch req");
	CHECK_INT(tmsg_with(batch, "count", 0), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(batch, "count", PROTO_MAX_BATCH + 1), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(batch, "count", UINT16_MAX), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(batch, "count", PROTO_MAX_BATCH), PROTO_E_BODY);
	CHECK_INT(tmsg_with(batch, "count", 3), PROTO_E_BODY);
	CHECK_INT(tmsg_with(batch, "count", 1), PROTO_E_BODY);
	const struct tmsg *batch_rep = tmsg_named("batch rep");
	CHECK_INT(tmsg_with(batch_rep, "count", PROTO_MAX_BATCH + 1), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(batch_rep, "count", 3), PROTO_E_BODY);
	CHECK_INT(tmsg_with(batch_rep, "count", 1), PROTO_E_BODY);
	/* An item length that does not match its body: too short leaves the
	 * sale cut, too long takes the next item's bytes. */
	{
		static struct spec s;
		tmsg_build(&s, batch, SIZE_MAX, 0, 0);
		CHECK_INT(decode_exact(batch, s.b, s.n), 0);
		uint32_t len1 = (uint32_t)le_read(s.b + 2, 4);
		const uint32_t bad[] = {len1 - 1, len1 + 1, 0, UINT32_MAX};
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			for (int k = 0; k < 4; k++)
				s.b[2 + k] = (uint8_t)(bad[i] >> (8 * k));
			CHECK_INT(decode_exact(batch, s.b, s.n), PROTO_E_BODY);
		}
	}

	/* A program holds at most 512 settings. */
	const struct tmsg *program = tmsg_named("program rep");
	CHECK_INT(tmsg_with(program, "count", PROTO_MAX_SETTINGS + 1), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(program, "count", 3), PROTO_E_BODY);
	CHECK_INT(tmsg_with(program, "count", 1), PROTO_E_BODY);
}

int main(void)
{
	test_bodies_strict();
	test_string_limits();
	test_enum_ranges();
	return check_done("unit_proto_strict");
}
