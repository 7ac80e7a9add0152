/*
 * auth.h - API keys: made random, kept only as a hash, checked in constant time.
 *
 * A key reads "ak_<id>_<48 hex digits>": the id says which stored hash to
 * compare against, so checking a key is one hash and one constant-time
 * compare, and the 192 random bits are the secret. The daemon stores the
 * BLAKE2b-256 hash (libsodium's crypto_generichash) of the whole key text.
 */
#ifndef ACCRUE_AUTH_H
#define ACCRUE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define AUTH_KEY_TEXT_MAX 96

/* Initialise libsodium. Returns 0 or -1. */
int auth_init(void);

/* Make a new key for id into text (NUL-terminated) and its hash. */
void auth_key_generate(uint64_t id, char text[AUTH_KEY_TEXT_MAX], uint8_t hash[RECORD_HASH_SIZE]);

/* The id a key text names, or 0 if it is not of the key form. */
uint64_t auth_key_id(const char *text, size_t len);

/* Whether text hashes to hash; constant time in the hash comparison. */
int auth_key_matches(const char *text, size_t len, const uint8_t hash[RECORD_HASH_SIZE]);

#endif
