/*
 * addr.c - the one parser of "HOST:PORT" addresses (see addr.h).
 */
#include "addr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ADDR_EXPECTED "expected HOST:PORT or [IPV6]:PORT"

/* How much of a bad piece of input an error message quotes. */
#define ADDR_QUOTE_MAX 64

__attribute__((format(printf, 3, 4))) static int addr_refuse(char *err, size_t err_cap, const char *fmt, ...)
{
	va_list ap;

	if (err && err_cap) {
		va_start(ap, fmt);
		vsnprintf(err, err_cap, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Parse the text after the host's ':' into *port; see addr.h for the rules. */
static int port_parse(const char *text, unsigned flags, uint16_t *port, char *err, size_t err_cap)
{
	uint32_t value = 0;

	if (*text == '\0')
		return addr_refuse(err, err_cap, "no port after the ':'; " ADDR_EXPECTED);
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return addr_refuse(err, err_cap, "port \"%.*s\" is not a decimal number", ADDR_QUOTE_MAX, text);
		/* Past 65535 the digits that follow cannot bring it back: stop counting. */
		if (value <= 65535)
			value = value * 10 + (uint32_t)(*p - '0');
	}
	if (value > 65535)
		return addr_refuse(err, err_cap, "port %.*s is over 65535", ADDR_QUOTE_MAX, text);
	if (value == 0 && !(flags & ADDR_PORT_ZERO))
		return addr_refuse(err, err_cap, "port 0 means any free port, which only a listener can use");
	*port = (uint16_t)value;
	return 0;
}

int addr_parse(const char *text, unsigned flags, struct addr_host_port *out, char *err, size_t err_cap)
{
	const char *host, *colon;
	size_t host_len;
	int ipv6 = 0;

	if (err && err_cap)
		err[0] = '\0';
	if (out)
		memset(out, 0, sizeof *out);
	if (!text || !out)
		return addr_refuse(err, err_cap, "no address given");
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close)
			return addr_refuse(err, err_cap, "the '[' has no ']' after it; " ADDR_EXPECTED);
		if (close[1] != ':')
			return addr_refuse(err, err_cap, "no ':' and port after the ']'; " ADDR_EXPECTED);
		host = text + 1;
		host_len = (size_t)(close - host);
		colon = close + 1;
		ipv6 = 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return addr_refuse(err, err_cap, "no ':' and port; " ADDR_EXPECTED);
		host = text;
		host_len = (size_t)(colon - text);
	}
	if (host_len == 0)
		return addr_refuse(err, err_cap, "no host before the ':'; " ADDR_EXPECTED);
	if (host_len > ADDR_HOST_MAX)
		return addr_refuse(err, err_cap, "the host is longer than %d bytes", ADDR_HOST_MAX);
	if (memchr(host, '[', host_len) || memchr(host, ']', host_len))
		return addr_refuse(err, err_cap, "a '[' or ']' inside the host; " ADDR_EXPECTED);
	if (!ipv6 && memchr(host, ':', host_len))
		return addr_refuse(err, err_cap, "an IPv6 address needs brackets, as in [::1]:7400");
	if (ipv6 && !memchr(host, ':', host_len))
		return addr_refuse(err, err_cap,
				   "brackets are for IPv6 addresses; write a name or an IPv4 address without them");
	if (port_parse(colon + 1, flags, &out->port, err, err_cap) != 0)
		return -1;
	memcpy(out->host, host, host_len);
	out->host[host_len] = '\0';
	out->ipv6 = ipv6;
	return 0;
}

int addr_format(const struct addr_host_port *a, char *buf, size_t cap)
{
	int n;

	if (!buf || cap == 0)
		return -1;
	n = snprintf(buf, cap, a->ipv6 ? "[%s]:%u" : "%s:%u", a->host, (unsigned)a->port);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}
