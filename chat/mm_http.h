/*
 * mm_http.h — HTTP requests on the libcurl multi interface, driven by the
 * owner's poll loop (internal to chat/; mm_conn is its only user).
 *
 * The loop contract is mm_conn's: mm_http_poll tells which sockets curl
 * wants watched and its next timeout (absolute CLOCK_MONOTONIC ms or
 * UINT64_MAX); mm_http_step finds out which sockets are ready (a zero
 * timeout poll of its own: the owner's loop does not pass revents) and
 * lets curl act. Completion callbacks run only from mm_http_step.
 *
 * Every request carries `Authorization: Bearer <token>` (a header, never
 * in the URL), `Accept: application/json` and, with a body,
 * `Content-Type: application/json`. TLS is verified unless `insecure`.
 * curl's verbose output stays off, so the token is never printed.
 *
 * Ownership: mm_http_new copies the options. A transfer belongs to mm_http
 * from mm_http_start until its callback returns or mm_http_abort; the body
 * is copied. Response pointers are valid during the callback only.
 * Errors: negative errno codes; messages never contain the token.
 */
#ifndef MM_HTTP_H
#define MM_HTTP_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mm_http_opts {
	const char *token;   /* bearer token (secret) */
	const char *ca_file; /* NULL: curl's default CA bundle */
	bool insecure;       /* no certificate or host name check */
	long timeout_ms;     /* whole transfer; 0 → 30000 */
	long max_host_conns; /* parallel connections; 0 → 4 */
};

struct mm_http_resp {
	int rc;              /* 0: the server answered (any status); <0: no answer */
	bool unsent;         /* rc < 0 and the request never reached the server
	                      * (connect or name lookup failed): safe to retry */
	long status;         /* HTTP status, 0 without an answer */
	const char *body;    /* NUL-terminated (may be ""), len bytes */
	size_t len;
	long rl_limit;       /* X-RateLimit-Limit, -1 when absent */
	long rl_remaining;   /* X-RateLimit-Remaining, -1 when absent */
	double rl_reset_s;   /* X-RateLimit-Reset, -1 when absent */
	double retry_after_s; /* Retry-After, -1 when absent */
	const char *error;   /* why, when rc < 0 ("" otherwise) */
};

typedef void (*mm_http_cb)(void *data, const struct mm_http_resp *r);

struct mm_http;
struct mm_http_xfer;

int mm_http_new(const struct mm_http_opts *o, struct mm_http **out, char *err, size_t errlen);
/* Aborts every transfer without calling back. */
void mm_http_free(struct mm_http *h);

/* Starts method url now (the caller paces). body may be NULL. Returns the
 * transfer or NULL (out of memory / curl refused; *rc set). */
struct mm_http_xfer *mm_http_start(struct mm_http *h, const char *method, const char *url,
				   const char *body, mm_http_cb cb, void *data, int *rc);

/* Stops a transfer; its callback is never called. Safe from callbacks. */
void mm_http_abort(struct mm_http *h, struct mm_http_xfer *x);

size_t mm_http_poll(struct mm_http *h, struct pollfd *fds, size_t max, uint64_t *deadline_ms);
void mm_http_step(struct mm_http *h, uint64_t now_ms);

/* curl's default CA bundle path ("" if unknown): the WebSocket uses the
 * same trust store as REST when no ca_file is given. */
const char *mm_http_default_ca(struct mm_http *h);

/* CLOCK_MONOTONIC in ms (shared by chat/'s transport files). */
uint64_t mm_now_ms(void);

#endif
