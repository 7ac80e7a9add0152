/*
 * accrue_util.c - libaccrue's helpers that need no connection (request
 * keys, key files, customer references), and the argument checks that
 * every operation shares (see accrue.h and accrue_int.h).
 */
#include "accrue_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

/* ---- public helpers -------------------------------------------------- */

int accrue_key_random(uint8_t key[ACCRUE_KEY_SIZE])
{
	if (!key || sodium_init() < 0)
		return ACCRUE_E_IO;
	randombytes_buf(key, ACCRUE_KEY_SIZE);
	return 0;
}

int accrue_key_file_read(const char *path, char *key, size_t cap, char *msg, size_t msg_cap)
{
	char line[512];
	size_t start = 0, end;
	FILE *f;
	int rc = 0;

	if (msg && msg_cap)
		msg[0] = '\0';
	if (!path || !key || !cap)
		return ACCRUE_E_INVALID;
	if (!(f = fopen(path, "r"))) {
		if (msg)
			snprintf(msg, msg_cap, "cannot read key file %s: %s", path, strerror(errno));
		return ACCRUE_E_IO;
	}
	if (!fgets(line, sizeof line, f)) {
		if (msg && ferror(f))
			snprintf(msg, msg_cap, "cannot read key file %s: %s", path, strerror(errno));
		else if (msg)
			snprintf(msg, msg_cap, "key file %s is empty", path);
		fclose(f);
		return ACCRUE_E_IO;
	}
	fclose(f);
	end = strlen(line);
	while (end > 0 && strchr(" \t\r\n\v\f", line[end - 1]))
		end--;
	while (start < end && strchr(" \t\r\n\v\f", line[start]))
		start++;
	if (start == end) {
		if (msg)
			snprintf(msg, msg_cap, "key file %s has no key on its first line", path);
		rc = ACCRUE_E_IO;
	} else if (end - start >= cap) {
		if (msg)
			snprintf(msg, msg_cap, "key file %s: the key is longer than %zu bytes", path, cap - 1);
		rc = ACCRUE_E_INVALID;
	} else {
		memcpy(key, line + start, end - start);
		key[end - start] = '\0';
	}
	return rc;
}

int accrue_ref_parse(const char *text, struct accrue_ref *ref)
{
	size_t len;
	int digits = 0;

	if (!text || !ref)
		return ACCRUE_E_INVALID;
	memset(ref, 0, sizeof *ref);
	if (text[0] == '#') {
		uint64_t id = 0;
		const char *p = text + 1;

		if (*p == '\0')
			return ACCRUE_E_INVALID;
		for (; *p; p++) {
			uint64_t d;

			if (*p < '0' || *p > '9')
				return ACCRUE_E_INVALID;
			d = (uint64_t)(*p - '0');
			if (id > (UINT64_MAX - d) / 10)
				return ACCRUE_E_INVALID;
			id = id * 10 + d;
		}
		if (id == 0)
			return ACCRUE_E_INVALID;
		ref->kind = ACCRUE_REF_ID;
		ref->id = id;
		return 0;
	}
	if (strncasecmp(text, "card:", 5) == 0) {
		/* The server normalises the number (spaces, dashes, case). */
		len = strlen(text + 5);
		if (len == 0 || len > PROTO_MAX_CARD)
			return ACCRUE_E_INVALID;
		ref->kind = ACCRUE_REF_CARD;
		memcpy(ref->text, text + 5, len + 1);
		return 0;
	}
	len = strlen(text);
	if (strchr(text, '@')) {
		if (len > PROTO_MAX_EMAIL)
			return ACCRUE_E_INVALID;
		ref->kind = ACCRUE_REF_EMAIL;
	} else {
		for (const char *p = text; *p; p++)
			digits += *p >= '0' && *p <= '9';
		if (digits == 0 || len > PROTO_MAX_PHONE)
			return ACCRUE_E_INVALID;
		ref->kind = ACCRUE_REF_PHONE;
	}
	memcpy(ref->text, text, len + 1);
	return 0;
}

/* ---- shared by the operations ---------------------------------------- */

/* Copy a string view into a fixed field, truncating, always NUL-terminated. */
void accrue__str_copy(char *dst, size_t cap, struct proto_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;

	if (n)
		memcpy(dst, s.ptr, n);
	dst[n] = '\0';
}

void accrue__text_copy(char *dst, size_t cap, const char *src)
{
	if (!dst || cap == 0)
		return;
	snprintf(dst, cap, "%s", src ? src : "");
}

int accrue__arg_invalid(accrue *a, const char *what)
{
	accrue__message_set(a, "%s", what);
	return ACCRUE_E_INVALID;
}

/* 1 (and the message set) if s is longer than max bytes; NULL counts as empty. */
int accrue__text_too_long(accrue *a, const char *field, const char *s, size_t max)
{
	if (s && strnlen(s, max + 1) > max) {
		accrue__message_set(a, "%s is longer than %zu bytes", field, max);
		return 1;
	}
	return 0;
}

/* The caller's request key, or a random one drawn once for this call. */
int accrue__key_fill(accrue *a, uint8_t dst[PROTO_KEY_SIZE], const uint8_t *key)
{
	if (key) {
		memcpy(dst, key, PROTO_KEY_SIZE);
		return 0;
	}
	if (accrue_key_random(dst) != 0) {
		accrue__message_set(a, "cannot draw a random request key");
		return ACCRUE_E_IO;
	}
	return 0;
}
