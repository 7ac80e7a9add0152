/*
 * net.h - accrued's TCP side on libuv.
 *
 * net accepts connections, reads bytes into each connection's buffer, asks
 * the codec for whole frames and hands each to dispatch. A reply goes out at
 * once if everything it depends on is durable; otherwise it is parked on the
 * store until the batch holding its journal record is committed. Replies are
 * collected in a per-connection buffer and written once per loop iteration.
 *
 * Backpressure: a connection stops being read while the store's open batch
 * is full, while it has max_inflight replies parked, or while its unsent
 * output is over a bound; it is resumed after a commit or a write.
 *
 * Hostile clients: a frame begun (or the HELLO owed after connecting) must be
 * complete within frame_timeout, or the connection gets a PROTOCOL error and
 * is closed; a connection with nothing pending that sends nothing for
 * idle_timeout is closed. Failed HELLOs are counted per client address: from
 * the fourth within a minute on, each AUTH reply is held back (250 ms,
 * doubling, at most 4 s). A held connection whose peer leaves closes at
 * once; past 4 held replies for an address its wrong HELLOs get BUSY at
 * once, so the slowdown cannot fill the connection limit. Once a key is
 * revoked, its connections take no more requests and close when their
 * pending replies are out.
 *
 * Loop thread only.
 */
#ifndef ACCRUE_NET_H
#define ACCRUE_NET_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "dispatch.h"
#include "store.h"

struct net;

struct net_config {
	const char *listen; /* "HOST:PORT", "[V6]:PORT"; port 0: any free port */
	uint32_t max_connections;
	uint32_t max_inflight;  /* parked replies per connection before it is paused */
	uint32_t frame_timeout; /* seconds: a begun frame, or the HELLO, must be whole by then */
	uint32_t idle_timeout;  /* seconds without a byte before an idle connection closes; 0: never */
};

/*
 * Listen on cfg->listen. On success *out is the new server and bound (if not
 * NULL) holds the address actually bound. Returns 0 or -1 with err.
 */
int net_start(struct net **out, uv_loop_t *loop, struct dispatch *d, struct store *s, const struct net_config *cfg,
	      char *bound, size_t bound_len, char *err, size_t errlen);

/* After each commit (and after memory was rebuilt if it failed): resume paused connections. */
void net_after_commit(struct net *n);

/* Write out what replies are ready. Called once per loop iteration. */
void net_flush(struct net *n);

/* Stop accepting and stop reading requests (shutdown, first step). */
void net_stop_reading(struct net *n);

/* Close every connection and the listener (their close callbacks run in the loop). */
void net_close(struct net *n);

/* Free n after the loop has closed every handle (uv_run returned). */
void net_free(struct net *n);

uint32_t net_connection_count(const struct net *n);

#endif
