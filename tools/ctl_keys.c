/*
 * ctl_keys.c - accruectl's API key commands: key create, key list and
 * key revoke. A new key's secret is printed once, as the server sends it.
 */
#include "ctl.h"
#include "proto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

const char ctl_help_key[] =
	"Usage: accruectl key create --role admin|terminal|readonly [--location L]\n"
	"       accruectl key list\n"
	"       accruectl key revoke ID\n"
	"\n"
	"Manage API keys (admin keys only). A new key is shown once: the server\n"
	"keeps only its hash. A terminal key is bound to a location, which it needs;\n"
	"the location is trimmed and lower-cased (A-Z) as sales name it.\n";

int ctl_cmd_key_create(struct ctl *c, int argc, char **argv)
{
	const char *role_text = NULL, *location = NULL;
	const struct ctl_option opts[] = {
		{"role", &role_text}, {"location", &location}, {NULL, NULL},
	};
	struct accrue_key_info info;
	char secret[PROTO_MAX_APIKEY + 1];
	int rc, role, replay = 0;

	rc = ctl_args_parse(c, argc, argv, opts, NULL, NULL, 0, 0);
	if (rc != 0)
		return rc;
	if (!role_text)
		return ctl_usage_error(c, "key create needs --role admin|terminal|readonly");
	role = proto_role_parse(role_text);
	if (role == 0)
		return ctl_usage_error(c, "unknown role '%s': use admin, terminal or readonly", role_text);
	if (role == ACCRUE_ROLE_TERMINAL && (!location || !*location))
		return ctl_usage_error(c, "a terminal key needs --location");
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rc = accrue_key_create(c->a, NULL, role, location, &info, secret, sizeof secret, &replay);
	if (rc != 0)
		return ctl_call_failed(c, rc);
	if (c->json) {
		printf("{\"id\":%" PRIu64 ",\"role\":", info.id);
		out_json_str(proto_role_name(info.role));
		fputs(",\"location\":", stdout);
		out_json_str(info.location);
		fputs(",\"key\":", stdout);
		if (secret[0])
			out_json_str(secret);
		else
			fputs("null", stdout);
		fputs("}\n", stdout);
		return CTL_EXIT_DONE;
	}
	printf("created %s key %" PRIu64, proto_role_name(info.role), info.id);
	if (info.location[0])
		printf(" for location %s", info.location);
	putchar('\n');
	if (secret[0]) {
		printf("key: %s\n", secret);
		puts("This key is shown once: store it now. The server keeps only its hash.");
	} else {
		puts("This repeats an earlier request: the key was shown then and cannot be shown again.");
	}
	return CTL_EXIT_DONE;
}

int ctl_cmd_key_list(struct ctl *c, int argc, char **argv)
{
	struct accrue_key_info *keys = NULL;
	uint32_t n = 0;
	int rc;

	rc = ctl_args_parse(c, argc, argv, NULL, NULL, NULL, 0, 0);
	if (rc != 0)
		return rc;
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rc = accrue_key_list(c->a, &keys, &n);
	if (rc != 0)
		return ctl_call_failed(c, rc);
	if (c->json) {
		fputs("{\"keys\":[", stdout);
		for (uint32_t i = 0; i < n; i++) {
			printf("%s{\"id\":%" PRIu64 ",\"role\":", i ? "," : "", keys[i].id);
			out_json_str(proto_role_name(keys[i].role));
			fputs(",\"location\":", stdout);
			out_json_str(keys[i].location);
			fputs(",\"created\":", stdout);
			out_json_time(keys[i].created_us);
			printf(",\"revoked\":%s}", keys[i].revoked ? "true" : "false");
		}
		fputs("]}\n", stdout);
	} else {
		struct out_table t = {
			.ncols = 5,
			.heads = {"ID", "ROLE", "LOCATION", "CREATED", "STATUS"},
			.right = {1, 0, 0, 0, 0},
		};

		for (uint32_t i = 0; i < n; i++) {
			char id[24], created[64];
			const char *row[5];

			snprintf(id, sizeof id, "%" PRIu64, keys[i].id);
			out_time_format(created, sizeof created, keys[i].created_us);
			row[0] = id;
			row[1] = proto_role_name(keys[i].role);
			row[2] = keys[i].location;
			row[3] = created;
			row[4] = keys[i].revoked ? "revoked" : "active";
			out_table_row(&t, row);
		}
		rc = ctl_table_finish(&t, NULL);
	}
	free(keys);
	return rc;
}

int ctl_cmd_key_revoke(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"ID"};
	const char *pos[1];
	uint64_t id;
	int rc;

	rc = ctl_args_parse(c, argc, argv, NULL, pos, names, 1, 1);
	if (rc != 0)
		return rc;
	if (ctl_uint_parse(pos[0], UINT64_MAX, &id) != 0)
		return ctl_usage_error(c, "key ID '%s' is not a positive whole number", pos[0]);
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rc = accrue_key_revoke(c->a, NULL, id);
	if (rc != 0)
		return ctl_call_failed(c, rc);
	if (c->json)
		printf("{\"id\":%" PRIu64 ",\"revoked\":true}\n", id);
	else
		printf("revoked key %" PRIu64 "\n", id);
	return CTL_EXIT_DONE;
}
