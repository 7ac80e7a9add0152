/*
 * auth.c - API key generation and checking (see auth.h).
 */
#include "auth.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define SECRET_BYTES 24

int auth_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

void auth_key_generate(uint64_t id, char text[AUTH_KEY_TEXT_MAX], uint8_t hash[RECORD_HASH_SIZE])
{
	uint8_t secret[SECRET_BYTES];
	char hex[SECRET_BYTES * 2 + 1];

	randombytes_buf(secret, sizeof secret);
	sodium_bin2hex(hex, sizeof hex, secret, sizeof secret);
	snprintf(text, AUTH_KEY_TEXT_MAX, "ak_%llu_%s", (unsigned long long)id, hex);
	crypto_generichash(hash, RECORD_HASH_SIZE, (const uint8_t *)text, strlen(text), NULL, 0);
	sodium_memzero(secret, sizeof secret);
}

uint64_t auth_key_id(const char *text, size_t len)
{
	uint64_t id = 0;
	size_t i = 3;

	if (len < 5 || memcmp(text, "ak_", 3) != 0)
		return 0;
	for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
		if (id > (UINT64_MAX - 9) / 10)
			return 0;
		id = id * 10 + (uint64_t)(text[i] - '0');
	}
	if (i == 3 || i >= len || text[i] != '_')
		return 0;
	return id;
}

int auth_key_matches(const char *text, size_t len, const uint8_t hash[RECORD_HASH_SIZE])
{
	uint8_t h[RECORD_HASH_SIZE];

	crypto_generichash(h, sizeof h, (const uint8_t *)text, len, NULL, 0);
	return sodium_memcmp(h, hash, RECORD_HASH_SIZE) == 0;
}
