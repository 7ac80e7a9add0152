/*
 * scrub.c - the background scrubber (see scrub.h).
 */
#include "scrub.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

/* Slices a second: each reads per_second / SLICES_PER_SECOND items in one short read transaction. */
#define SLICES_PER_SECOND 10
#define KEY_MAX 512

struct scrub {
	struct store *s;
	struct scrub_config cfg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	struct scrub_result res; /* guarded by mu */
	struct record rec;       /* the scrubber thread's alone */
};

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Wait ms, or until asked to stop. Returns 1 when asked to stop. */
static int pause_ms(struct scrub *sc, uint64_t ms)
{
	struct timespec until;
	int stop;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&sc->mu);
	while (!sc->stop && pthread_cond_timedwait(&sc->cv, &sc->mu, &until) != ETIMEDOUT)
		;
	stop = sc->stop;
	pthread_mutex_unlock(&sc->mu);
	return stop;
}

static void say(struct scrub *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct scrub *sc, const char *fmt, ...)
{
	char line[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (sc->cfg.log)
		sc->cfg.log(line);
}

static void key_text(const MDB_val *k, char *buf, size_t cap)
{
	if (k->mv_size == 8) {
		snprintf(buf, cap, "%llu", (unsigned long long)record_key_u64_read(k->mv_data));
		return;
	}
	snprintf(buf, cap, "of %zu bytes", k->mv_size);
}

/* Check one item of db; 1 if it is damaged (and said so). */
static int check_item(struct scrub *sc, int db, const MDB_val *k, const MDB_val *v)
{
	char name[40];
	size_t len;
	int rc;

	if (db == RECORD_DB_JOURNAL) {
		uint64_t seq = k->mv_size == 8 ? record_key_u64_read(k->mv_data) : 0;
		if (!seq) {
			say(sc, "scrub: the journal holds a key of %zu bytes, which is not a seq; accrue-check names every problem",
			    k->mv_size);
			return 1;
		}
		if ((rc = record_decode(v->mv_data, v->mv_size, seq, &sc->rec))) {
			say(sc, "scrub: journal record %llu is damaged: %s; accrue-check names every problem",
			    (unsigned long long)seq, record_errstr(rc));
			return 1;
		}
		return 0;
	}
	if ((rc = record_snapshot_check(db, k->mv_data, k->mv_size, v->mv_data, v->mv_size, &len))) {
		key_text(k, name, sizeof name);
		say(sc, "scrub: snapshot in %s, entry %s, is damaged: %s; accrue-check names every problem",
		    record_db_name(db), name, rc == RECORD_E_CHECKSUM ? "checksum mismatch" : record_errstr(rc));
		return 1;
	}
	return 0;
}

/*
 * Read up to n items of db after the key in last (all of it from the start
 * when *last_len is 0). Returns 1 when the database is done, 0 when there
 * is more, -1 when it could not be read now (tried again next slice).
 */
static int read_slice(struct scrub *sc, int db, uint8_t *last, size_t *last_len, uint32_t n, uint64_t *items,
		      uint64_t *damaged)
{
	struct store *s = sc->s;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, done = 0;

	if (store__read_begin(s, &txn))
		return -1;
	if (mdb_cursor_open(txn, s->dbi[db], &cur)) {
		store__read_end(s, txn);
		return -1;
	}
	if (*last_len == 0) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	} else {
		k.mv_size = *last_len;
		k.mv_data = last;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && k.mv_size == *last_len && memcmp(k.mv_data, last, *last_len) == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		(*items)++;
		*damaged += (uint64_t)check_item(sc, db, &k, &v);
		*last_len = k.mv_size <= KEY_MAX ? k.mv_size : KEY_MAX;
		memcpy(last, k.mv_data, *last_len);
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc == MDB_NOTFOUND)
		done = 1;
	else if (rc)
		say(sc, "scrub: cannot read %s: %s", record_db_name(db), mdb_strerror(rc));
	mdb_cursor_close(cur);
	store__read_end(s, txn);
	return done;
}

static void *scrub_main(void *arg)
{
	struct scrub *sc = arg;
	uint32_t slice = sc->cfg.per_second / SLICES_PER_SECOND ? sc->cfg.per_second / SLICES_PER_SECOND : 1;
	uint64_t slice_ms = sc->cfg.per_second >= SLICES_PER_SECOND ? 1000 / SLICES_PER_SECOND : 1000 / sc->cfg.per_second;
	uint8_t last[KEY_MAX];

	for (;;) {
		/* The journal first (what was acknowledged), then each snapshot database. */
		static const int order[] = {RECORD_DB_JOURNAL, RECORD_DB_CUSTOMERS, RECORD_DB_ORDERS, RECORD_DB_REQUESTS,
					    RECORD_DB_KEYS, RECORD_DB_PROGRAM};
		uint64_t records = 0, snapshots = 0, damaged = 0;
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
			size_t last_len = 0;
			for (;;) {
				int rc = read_slice(sc, order[i], last, &last_len, slice,
						    order[i] == RECORD_DB_JOURNAL ? &records : &snapshots, &damaged);
				if (pause_ms(sc, slice_ms))
					return NULL;
				if (rc == 1)
					break;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		pthread_mutex_lock(&sc->mu);
		sc->res.passes++;
		sc->res.last_end_us = wall_us();
		sc->res.last_records = records;
		sc->res.last_snapshots = snapshots;
		sc->res.last_damaged = damaged;
		sc->res.last_ms = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
		pthread_mutex_unlock(&sc->mu);
		say(sc, "scrub: pass %llu read %llu journal records and %llu snapshots in %llu ms: %s%llu damaged",
		    (unsigned long long)sc->res.passes, (unsigned long long)records, (unsigned long long)snapshots,
		    (unsigned long long)sc->res.last_ms, damaged ? "" : "clean, ", (unsigned long long)damaged);
		if (pause_ms(sc, (uint64_t)sc->cfg.pause_s * 1000))
			return NULL;
	}
}

int scrub_start(struct scrub **out, struct store *s, const struct scrub_config *cfg)
{
	struct scrub *sc;
	pthread_condattr_t ca;

	*out = NULL;
	if (!cfg->per_second)
		return 0;
	if (!(sc = calloc(1, sizeof *sc)))
		return -1;
	sc->s = s;
	sc->cfg = *cfg;
	pthread_mutex_init(&sc->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sc->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&sc->thread, NULL, scrub_main, sc)) {
		pthread_cond_destroy(&sc->cv);
		pthread_mutex_destroy(&sc->mu);
		free(sc);
		return -1;
	}
	*out = sc;
	return 0;
}

void scrub_stop(struct scrub *sc)
{
	if (!sc)
		return;
	pthread_mutex_lock(&sc->mu);
	sc->stop = 1;
	pthread_cond_signal(&sc->cv);
	pthread_mutex_unlock(&sc->mu);
	pthread_join(sc->thread, NULL);
	pthread_cond_destroy(&sc->cv);
	pthread_mutex_destroy(&sc->mu);
	free(sc);
}

void scrub_result(struct scrub *sc, struct scrub_result *r)
{
	memset(r, 0, sizeof *r);
	if (!sc)
		return;
	pthread_mutex_lock(&sc->mu);
	*r = sc->res;
	pthread_mutex_unlock(&sc->mu);
}
