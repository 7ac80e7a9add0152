/*
 * ctl_session.c - accruectl's connection to accrued, and what it says when
 * something fails: the key file is read and the session opened only once a
 * command's arguments are good, and every failure becomes one message on
 * stderr and the exit status scripts rely on (see ctl.h).
 */
#include "ctl.h"
#include "proto.h"

#include <stdio.h>
#include <string.h>

/* ---- messages and exit statuses ---------------------------------------- */

const char *ctl_status_name(int status, char *buf, size_t cap)
{
	const char *name = proto_status_name(status);
	size_t i;

	for (i = 0; name[i] && i + 1 < cap; i++)
		buf[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
	buf[i] = '\0';
	return buf;
}

/* With --json, what failed as one document on stdout too: {"status":..,"message":..}. */
static void failure_json(const struct ctl *c, const char *status, const char *message)
{
	if (!c->json)
		return;
	fputs("{\"status\":", stdout);
	out_json_str(status);
	fputs(",\"message\":", stdout);
	out_json_str(message);
	fputs("}\n", stdout);
}

int ctl_call_failed(const struct ctl *c, int rc)
{
	const char *msg = accrue_message(c->a);
	char name[32], text[PROTO_MAX_MESSAGE + 300];

	if (rc > 0) {
		ctl_status_name(rc, name, sizeof name);
		fprintf(stderr, "accruectl: %s: %s\n", name, *msg ? msg : accrue_strerror(rc));
		failure_json(c, name, *msg ? msg : accrue_strerror(rc));
		return CTL_EXIT_REFUSED;
	}
	if (rc == ACCRUE_E_INVALID)
		return ctl_usage_error(c, "%s", *msg ? msg : accrue_strerror(rc));
	if (*msg)
		snprintf(text, sizeof text, "%s", msg);
	else
		snprintf(text, sizeof text, "%s: %s", c->server, accrue_strerror(rc));
	fprintf(stderr, "accruectl: %s\n", text);
	failure_json(c, "unavailable", text);
	return CTL_EXIT_IO;
}

int ctl_nomem(void)
{
	fputs("accruectl: out of memory\n", stderr);
	return CTL_EXIT_IO;
}

int ctl_table_finish(struct out_table *t, const char *none)
{
	if (out_table_finish(t, none) != 0)
		return ctl_nomem();
	return CTL_EXIT_DONE;
}

/* ---- the session --------------------------------------------------------- */

/* Read the API key from the key file (accrue_key_file_read). */
static int key_read(const struct ctl *c, char *key, size_t cap)
{
	char msg[600];

	if (accrue_key_file_read(c->key_file, key, cap, msg, sizeof msg)) {
		fprintf(stderr, "accruectl: %s\n", msg);
		failure_json(c, "unavailable", msg);
		return CTL_EXIT_IO;
	}
	return 0;
}

int ctl_session_open(struct ctl *c)
{
	char key[PROTO_MAX_APIKEY + 1];
	char msg[PROTO_MAX_MESSAGE + 64];
	char name[32];
	int rc;

	rc = key_read(c, key, sizeof key);
	if (rc != 0)
		return rc;
	rc = accrue_connect_message(c->server, key, &c->a, msg, sizeof msg);
	memset(key, 0, sizeof key);
	if (rc == 0)
		return 0;
	if (rc > 0) {
		fprintf(stderr, "accruectl: %s: %s", ctl_status_name(rc, name, sizeof name),
			*msg ? msg : accrue_strerror(rc));
		if (rc == ACCRUE_ST_AUTH)
			fprintf(stderr, " (key from %s)", c->key_file);
		fputc('\n', stderr);
		failure_json(c, name, *msg ? msg : accrue_strerror(rc));
		return CTL_EXIT_REFUSED;
	}
	if (rc == ACCRUE_E_INVALID)
		return ctl_usage_error(c, "%s", msg);
	fprintf(stderr, "accruectl: %s\n", *msg ? msg : accrue_strerror(rc));
	failure_json(c, "unavailable", *msg ? msg : accrue_strerror(rc));
	return CTL_EXIT_IO;
}
