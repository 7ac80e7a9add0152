/*
 * addr.h - the one parser of "HOST:PORT" addresses.
 *
 * The daemon's --listen, libaccrue's server address (and so accruectl's
 * --server) and accrue-bench's --server all name an endpoint the same way,
 * so they share one set of rules and one set of error messages. Like the
 * rest of proto/ this is pure: text in, struct out, no I/O and no name
 * resolution. Each caller resolves the host in its own way afterwards
 * (getaddrinfo, or uv_ip4_addr for a listener that wants a numeric host).
 *
 * The rules:
 *   - "HOST:PORT", or "[IPV6]:PORT" for an IPv6 literal. The port follows
 *     the last ':' outside brackets.
 *   - HOST is 1..ADDR_HOST_MAX bytes. It holds no '[' or ']', and no ':'
 *     unless it is in brackets: "::1:7400" cannot be split without
 *     guessing, so an IPv6 literal must be written "[::1]:7400". Brackets
 *     hold an IPv6 literal and nothing else, so what they enclose must
 *     contain a ':'.
 *   - PORT is decimal digits only (no sign, no spaces, nothing after them),
 *     with a value of at most 65535. Port 0 asks the kernel for any free
 *     port, which only means something to a listener: it is accepted only
 *     with ADDR_PORT_ZERO.
 */
#ifndef ACCRUE_ADDR_H
#define ACCRUE_ADDR_H

#include <stddef.h>
#include <stdint.h>

/* The longest host, in bytes; DNS names stop at 253. */
#define ADDR_HOST_MAX 255
/* The longest address addr_format writes: brackets, ':' and five digits around a host. */
#define ADDR_TEXT_MAX (ADDR_HOST_MAX + 8)

/* addr_parse flags. */
enum addr_flag {
	ADDR_PORT_ZERO = 1, /* accept port 0 (a listener: any free port) */
};

struct addr_host_port {
	char host[ADDR_HOST_MAX + 1]; /* NUL-terminated, without brackets */
	uint16_t port;
	int ipv6; /* 1 if the address was written in brackets */
};

/*
 * Split text into out->host and out->port by the rules above. flags is 0
 * or ADDR_PORT_ZERO. Returns 0, or -1 when text breaks a rule; then err
 * (when not NULL) receives a sentence saying which rule and out is left
 * with an empty host. The sentence does not repeat the whole address, so
 * a caller can put it after its own context ("--listen 1.2.3.4: ...").
 */
int addr_parse(const char *text, unsigned flags, struct addr_host_port *out, char *err, size_t err_cap);

/*
 * Write a back as text, "host:port" or "[host]:port", into buf (cap bytes,
 * NUL-terminated; ADDR_TEXT_MAX + 1 always suffices). Returns 0, or -1 if
 * the text was cut short to fit.
 */
int addr_format(const struct addr_host_port *a, char *buf, size_t cap);

#endif
