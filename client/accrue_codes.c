/*
 * accrue_codes.c - the names of libaccrue's return values (accrue_strerror).
 */
#include "accrue_int.h"

const char *accrue_strerror(int err)
{
	switch (err) {
	case 0: return "ok";
	case ACCRUE_E_CONNECT: return "cannot connect";
	case ACCRUE_E_IO: return "connection lost";
	case ACCRUE_E_PROTOCOL: return "invalid reply from the server";
	case ACCRUE_E_NOMEM: return "out of memory";
	case ACCRUE_E_INVALID: return "invalid argument";
	case ACCRUE_E_TIMEOUT: return "timed out";
	case ACCRUE_ST_PROTOCOL: return "protocol error";
	case ACCRUE_ST_UNSUPPORTED: return "unsupported operation";
	case ACCRUE_ST_BAD_REQUEST: return "bad request";
	case ACCRUE_ST_AUTH: return "authentication failed";
	case ACCRUE_ST_FORBIDDEN: return "forbidden";
	case ACCRUE_ST_NOT_FOUND: return "not found";
	case ACCRUE_ST_CONFLICT: return "conflict";
	case ACCRUE_ST_DUPLICATE_ORDER: return "duplicate order";
	case ACCRUE_ST_INSUFFICIENT: return "insufficient points";
	case ACCRUE_ST_KEY_REUSED: return "request key reused";
	case ACCRUE_ST_STORAGE: return "storage error";
	case ACCRUE_ST_BUSY: return "busy";
	case ACCRUE_ST_RANGE: return "out of range";
	case ACCRUE_ST_HELLO_REQUIRED: return "hello required";
	case ACCRUE_ST_SHUTTING_DOWN: return "shutting down";
	case ACCRUE_ST_INTERNAL: return "internal server error";
	case ACCRUE_ST_VERSION: return "unsupported protocol version";
	case ACCRUE_ST_OVER_RETURN: return "over return";
	case ACCRUE_ST_NOT_MEMBER: return "not a member";
	}
	return err > 0 ? "unknown server status" : "unknown error";
}
