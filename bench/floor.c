/*
 * floor.c - accrue-floor: what this machine's loopback TCP allows at most.
 *
 * One request in flight per connection makes every request a round trip
 * through the kernel: a write and a read on the client, a read and a write
 * on the server, each a TCP segment over loopback. Those costs do not
 * depend on the server's work, so they bound every 1-in-flight figure of
 * any server measured with its load generator on the same machine.
 *
 * accrue-floor measures the least CPU time one round trip costs: one
 * thread holds both ends of N loopback connections and, round after round,
 * writes a request on every client end, reads it on the server end, writes
 * the reply and reads it back, all back to back. Nothing waits, nothing
 * sleeps and nothing is woken, there is no epoll, parsing or allocation,
 * so a real client and server spend more per round trip, never less. With
 * C cores the machine cannot carry more than C / that cost round trips per
 * second, whatever the server does. The default sizes are those of
 * accrue-bench's ACCRUE request and accrued's reply to it.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG_MAX 4096

struct options {
	unsigned connections;
	double duration_s;
	size_t request_len, reply_len;
	int json;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: accrue-floor [--connections N] [--duration S] [--request BYTES] [--reply BYTES] [--json]\n"
		   "\n"
		   "The least CPU time one request/reply round trip over loopback TCP costs\n"
		   "on this machine, and the most round trips per second its CPUs can carry\n"
		   "therefore: one thread holds both ends of N connections and, round after\n"
		   "round, writes a request on each, reads it at the other end, writes the\n"
		   "reply and reads it back, with no waiting, wakeups, epoll or parsing. A\n"
		   "real server and load generator on the same machine spend more per\n"
		   "round trip, so with one request in flight per connection none can be\n"
		   "measured above the bound printed.\n"
		   "\n"
		   "  --connections N  connections (default 50)\n"
		   "  --duration S     seconds measured, after 1 s of warmup (default 5)\n"
		   "  --request BYTES  request size (default 84: an ACCRUE frame as\n"
		   "                   accrue-bench sends it)\n"
		   "  --reply BYTES    reply size (default 142: accrued's reply to it)\n"
		   "  --json           one JSON object: connections, round_trip_cpu_us,\n"
		   "                   cpus, bound_per_sec\n"
		   "  --help           show this help\n"
		   "\n"
		   "Exit status: 0 measured; 1 the run failed; 2 usage.\n");
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void raise_file_limit(unsigned need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
		fprintf(stderr, "accrue-floor: the open-file limit is %llu, below the %u needed\n",
			(unsigned long long)rl.rlim_cur, need);
}

/* Read exactly one message of len bytes; returns 0, or -1 when the peer is gone. */
static int read_msg(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && errno == EAGAIN && got == 0)
			return 1;
		else if (n < 0 && errno == EAGAIN)
			continue; /* the rest of a message is on its way: it is small */
		else
			return -1;
	}
	return 0;
}

static int write_msg(int fd, const uint8_t *buf, size_t len)
{
	size_t put = 0;

	while (put < len) {
		ssize_t n = write(fd, buf + put, len - put);
		if (n > 0)
			put += (size_t)n;
		else if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		else
			return -1;
	}
	return 0;
}

static void set_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Fill cli[] and srv[] with the two ends of n loopback connections. */
static int connect_pairs(unsigned n, int *cli, int *srv)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof addr;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 4096) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0) {
		fprintf(stderr, "accrue-floor: cannot listen on loopback: %s\n", strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		cli[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (cli[i] < 0 || connect(cli[i], (const struct sockaddr *)&addr, sizeof addr) != 0 ||
		    (srv[i] = accept(lfd, NULL, NULL)) < 0) {
			fprintf(stderr, "accrue-floor: connection %u: %s\n", i + 1, strerror(errno));
			close(lfd);
			return -1;
		}
		set_nodelay(cli[i]);
		set_nodelay(srv[i]);
	}
	close(lfd);
	return 0;
}

/* One round on every connection: request out and in, reply out and in. */
static int one_round(unsigned n, const int *cli, const int *srv, uint8_t *buf, const struct options *o)
{
	for (unsigned i = 0; i < n; i++)
		if (write_msg(cli[i], buf, o->request_len))
			return -1;
	for (unsigned i = 0; i < n; i++)
		if (read_msg(srv[i], buf, o->request_len))
			return -1;
	for (unsigned i = 0; i < n; i++)
		if (write_msg(srv[i], buf, o->reply_len))
			return -1;
	for (unsigned i = 0; i < n; i++)
		if (read_msg(cli[i], buf, o->reply_len))
			return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"connections", required_argument, NULL, 'c'}, {"duration", required_argument, NULL, 'd'},
		{"request", required_argument, NULL, 'q'},     {"reply", required_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},              {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct options o = {.connections = 50, .duration_s = 5, .request_len = 84, .reply_len = 142};
	static uint8_t buf[MSG_MAX];
	int *cli, *srv, opt;
	uint64_t rounds = 0;
	double t_start, t_end, cost_us, bound;
	long ncpu;
	char *end;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o.connections = (unsigned)strtoul(optarg, &end, 10);
			if (*end || o.connections < 1 || o.connections > 1000000)
				goto bad;
			break;
		case 'd':
			o.duration_s = strtod(optarg, &end);
			if (*end || !(o.duration_s > 0))
				goto bad;
			break;
		case 'q':
		case 'r': {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v < 1 || v > MSG_MAX)
				goto bad;
			*(opt == 'q' ? &o.request_len : &o.reply_len) = v;
			break;
		}
		case 'j':
			o.json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;

	raise_file_limit(2 * o.connections + 64);
	cli = calloc(o.connections, sizeof *cli);
	srv = calloc(o.connections, sizeof *srv);
	if (!cli || !srv || connect_pairs(o.connections, cli, srv))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	/* A second of warmup, then whole rounds until the duration is up. */
	for (double t0 = now_s(); now_s() - t0 < 1.0;)
		if (one_round(o.connections, cli, srv, buf, &o))
			goto broken;
	t_start = now_s();
	do {
		if (one_round(o.connections, cli, srv, buf, &o))
			goto broken;
		rounds++;
		t_end = now_s();
	} while (t_end - t_start < o.duration_s);
	cost_us = (t_end - t_start) / ((double)rounds * o.connections) * 1e6;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	bound = (double)ncpu / cost_us * 1e6;
	if (o.json)
		printf("{\"connections\": %u, \"request_bytes\": %zu, \"reply_bytes\": %zu, \"round_trip_cpu_us\": %.2f, "
		       "\"cpus\": %ld, \"bound_per_sec\": %.0f}\n",
		       o.connections, o.request_len, o.reply_len, cost_us, ncpu, bound);
	else
		printf("accrue-floor: %u connections, %zu-byte requests, %zu-byte replies: one round trip costs at least "
		       "%.2f us of CPU; %ld CPUs carry at most %.0f round trips/s\n",
		       o.connections, o.request_len, o.reply_len, cost_us, ncpu, bound);
	return 0;
broken:
	fprintf(stderr, "accrue-floor: a loopback connection failed: %s\n", strerror(errno));
	return 1;
bad:
	usage(stderr);
	return 2;
}
