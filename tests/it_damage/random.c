/*
 * random.c - the randomised damage run of `make damage`: DAMAGE_FLIPS
 * trials, each a copy of the clean directory with one random bit flipped
 * anywhere in the used part of data.mdb (nine trials in ten) or the file
 * cut at a random length (one in ten), from DAMAGE_SEED.
 *
 * No trial knows what it hit, so each is held to what holds for any
 * damage (dmg_trial with DMG_CHECK_ANY and DMG_ANY): no signal, no fresh
 * start, no wrong data; the daemon refuses with a message or serves the
 * remembered state, where a read may get STORAGE; and it agrees with
 * accrue-check: a directory accrue-check calls clean is served whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "record.h"
#include "damage.h"

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64: one seed names the whole run. */
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static const char *kind_name(int kind)
{
	static const char *const names[] = {"unused", "meta", "branch", "leaf", "overflow"};
	return kind >= 0 && kind <= DMG_PAGE_OVERFLOW ? names[kind] : "?";
}

/* Failures by kind: the first few of each are printed, all are counted. */
#define KINDS_MAX 24
#define SHOWN_PER_KIND 3

static struct {
	const char *kind;
	long count;
	char first[112];
} kinds[KINDS_MAX];
static int nkinds;

static void tally(const struct dmg_case *c, const struct dmg_outcome *o)
{
	int k;

	for (k = 0; k < nkinds && strcmp(kinds[k].kind, o->failure); k++)
		;
	if (k == nkinds) {
		REQUIRE(nkinds < KINDS_MAX);
		kinds[nkinds].kind = o->failure;
		snprintf(kinds[nkinds].first, sizeof kinds[nkinds].first, "%s", c->name);
		nkinds++;
	}
	if (kinds[k].count++ < SHOWN_PER_KIND)
		dmg_report(c, o);
}

int dmg_random_run(const struct dmg_map *m, long flips, uint64_t seed)
{
	size_t used = (size_t)((m->last_pg + 1) * m->psize);
	long failures = 0, refused = 0, served = 0, served_storage = 0, check_rc[3] = {0, 0, 0};
	long long t0 = harness_now_ms();
	uint64_t s = seed;

	printf("  random run: %ld trials from seed %llu over %zu bytes (%llu pages)\n", flips, (unsigned long long)seed,
	       used, (unsigned long long)(m->last_pg + 1));
	for (long i = 0; i < flips; i++) {
		struct dmg_case c;
		struct dmg_outcome o;
		char name[sizeof c.name];

		if (rng_next(&s) % 10 == 0) {
			size_t cut = (size_t)(rng_next(&s) % used);
			snprintf(name, sizeof name, "random %ld: truncated to %zu bytes", i, cut);
			dmg_case_init(&c, name);
			c.truncate = cut;
		} else {
			size_t off = (size_t)(rng_next(&s) % used);
			uint8_t mask = (uint8_t)(1u << (rng_next(&s) % 8));
			uint64_t pg = off / m->psize;
			snprintf(name, sizeof name, "random %ld: bit 0x%02x of byte %zu (page %llu: %s, %s)", i, mask, off,
				 (unsigned long long)pg, kind_name(m->pages[pg].kind), dmg_tree_name(m->pages[pg].tree));
			dmg_case_init(&c, name);
			dmg_case_flip(&c, off, mask);
		}
		c.check = DMG_CHECK_ANY;
		c.daemon = DMG_ANY;
		if (!dmg_trial(&c, &o, 1)) {
			failures++;
			tally(&c, &o);
		}
		if (o.check_rc >= 0 && o.check_rc <= 2)
			check_rc[o.check_rc]++;
		if (!o.started)
			refused++;
		else if (o.storage_reads)
			served_storage++;
		else
			served++;
		if ((i + 1) % 100 == 0) {
			printf("  ... %ld trials, %ld failed (%lld s)\n", i + 1, failures, (harness_now_ms() - t0) / 1000);
			fflush(stdout);
		}
	}
	printf("  random run: %ld trials in %lld s: daemon refused %ld, served %ld whole, served %ld with STORAGE on "
	       "read; accrue-check clean %ld, problems %ld, cannot check %ld; %ld failed\n",
	       flips, (harness_now_ms() - t0) / 1000, refused, served, served_storage, check_rc[0], check_rc[1],
	       check_rc[2], failures);
	for (int k = 0; k < nkinds; k++)
		printf("  failed: %ld x %s (first: %s)\n", kinds[k].count, kinds[k].kind, kinds[k].first);
	printf("  to run these trials again: DAMAGE_FLIPS=%ld DAMAGE_SEED=%llu\n", flips, (unsigned long long)seed);
	/* One check for the whole run: the failures were counted and shown above. */
	CHECK_INT(failures, 0);
	return (int)(failures > 0);
}
