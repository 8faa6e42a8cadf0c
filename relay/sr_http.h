/*
 * sr_http.h — the daemon's HTTP listener (libwebsockets as a server) on the
 * sr_loop: the approval-button callback, /healthz, /readyz, /metrics, the
 * built-in web chat page and its WebSocket.
 *
 * Handlers are routed by method and path prefix and answer synchronously:
 * they get the whole request (body up to SR_HTTP_MAX_BODY, read before the
 * handler runs) and fill in a response that sr_http then sends with a
 * Content-Length. HTTP/1.1 keep-alive and Expect: 100-continue are
 * supported; there is no TLS (put a proxy in front when the listener is
 * not on loopback), no HTTP/2 (an h2c upgrade request is hung up on), no
 * directory or file serving, and only the methods GET HEAD POST PUT PATCH
 * DELETE OPTIONS reach a handler (lws itself answers TRACE and unknown
 * methods with 403; a CONNECT is hung up on). Paths arrive decoded with
 * ".." resolved, so no request reaches above "/".
 *
 * Routing: a route's prefix matches a path equal to it, or continuing it
 * with '/' ("/api" matches "/api" and "/api/x", not "/apix"; a prefix that
 * ends with '/' matches everything below it, so "/" matches every path).
 * The longest matching prefix wins; among the routes with that prefix the
 * one for the request's method (or registered for any method) answers,
 * GET routes also answer HEAD (the body is not sent). No matching prefix:
 * 404 {"error":"not found"}; a prefix but no method: 405
 * {"error":"method not allowed"} with an Allow header. Request bodies over
 * SR_HTTP_MAX_BODY: 413 and the connection is closed; a body sent with
 * chunked encoding (no Content-Length): 411. Every response carries
 * Cache-Control: no-store, X-Content-Type-Options: nosniff and
 * X-Frame-Options: DENY (the approve buttons must not be framable).
 *
 * Binding: exactly the address given, nothing more ("127.0.0.1:8080",
 * "[::1]:8080"; ":8080" or "[::]:8080" means every address, IPv4 and IPv6).
 * The daemon's default is loopback: anything else exposes the endpoints to
 * the network, and the callers must then authenticate (the button
 * callback carries its per-card secret; the web chat needs its own auth).
 * Port 0 picks a free port (sr_http_port tells which).
 *
 * Loop integration: Debian 12's libwebsockets 4.1 is built without
 * LWS_WITH_EXTERNAL_POLL, so the ADD/DEL/CHANGE_MODE_POLL_FD callbacks never
 * fire. lws runs instead on a private libuv loop (lws's supported "foreign
 * loop" mode) that is embedded in the sr_loop: one watcher on libuv's epoll
 * fd, one timer at libuv's next deadline (uv_backend_timeout), and the
 * libuv loop runs one non-blocking pass (UV_RUN_NOWAIT) when either fires.
 * We own the listening socket (so binding errors are ours to report) and
 * hand a connection to lws (lws_adopt_socket_vhost) once it has sent its
 * first bytes: lws gives each connection one of 128 header tables, and
 * connections that never send (browser preconnects, scanners) would hold
 * them; those are closed after 10 s instead. An idle listener arms no
 * timer; lws's own are its per-connection timeouts (5 s keep-alive idle,
 * 10 s for a stalled request) and a 30 s header-table check. At run time
 * lws loads its libuv plugin (Debian package libwebsockets-evlib-uv).
 *
 * Re-entrancy: handlers and WebSocket callbacks run on the loop inside
 * sr_http; they may call sr_http_ws_send/close, sr_http_route and even
 * sr_http_free (the teardown then happens when the callback returns).
 * Once sr_http_free was called no handler, on_open or on_message runs;
 * on_close still runs for each open WebSocket, so owners can drop it.
 *
 * Ownership: the caller owns the sr_http and frees it before the loop.
 * Strings in a request are valid only while the handler or callback runs.
 * A response body is malloc'ed by the handler and freed by sr_http (also
 * when the connection drops first); content_type and header strings must
 * stay valid after the handler returns (string literals, or memory owned
 * by the handler's data).
 *
 * Errors: 0 or a negative errno-style code (-EINVAL bad argument,
 * -ENOMEM, -EADDRINUSE / -EADDRNOTAVAIL / -EACCES from bind, -EIO when
 * libwebsockets or libuv cannot start); sr_http_new also writes a message.
 * Not thread-safe (the daemon has one thread).
 */
#ifndef SR_HTTP_H
#define SR_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "sr_loop.h"

#define SR_HTTP_MAX_BODY (1u << 20)     /* request bodies; more: 413 */
#define SR_HTTP_WS_MAX_MSG (1u << 20)   /* inbound WebSocket messages; more: close 1009 */
#define SR_HTTP_WS_MAX_QUEUE (16u << 20) /* outbound bytes queued per WebSocket */
#define SR_HTTP_RESP_MAX_HEADERS 4

struct sr_http;
struct sr_http_ws;

struct sr_http_req {
	const char *method; /* "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" */
	const char *path;   /* decoded by lws (%xx, "..", "//" resolved), without the query */
	const char *query;  /* the arguments as lws decodes them, joined by '&'; "" if
	                     * none. Decoded, so "a=x%26y" reads "a=x&y": use
	                     * sr_http_req_arg for values */
	const char *body;   /* NUL-terminated for convenience; may contain NULs */
	size_t body_len;
	const char *remote; /* peer address, numeric ("127.0.0.1", "::1") */
	const char *header_authorization; /* NULL if absent */
	const char *content_type;         /* NULL if absent */
	void *priv_;                      /* sr_http's: for the accessors below */
};

struct sr_http_header {
	const char *name;  /* a token ("WWW-Authenticate"); NULL ends the list */
	const char *value; /* no CR or LF: such a header is dropped */
};

struct sr_http_resp {
	int status;               /* 200 when the handler starts; 200..599 (else 500); 204 and
	                           * 304 are sent without a body */
	const char *content_type; /* default "application/json" */
	char *body;               /* malloc'ed by the handler, freed by sr_http */
	size_t body_len;
	struct sr_http_header headers[SR_HTTP_RESP_MAX_HEADERS]; /* extra headers */
};

typedef void (*sr_http_handler)(void *data, const struct sr_http_req *req, struct sr_http_resp *resp);

/* Listens on listen_addr (see Binding) and serves on loop. On failure
 * *out is NULL and err (may be NULL) says why. */
int sr_http_new(struct sr_loop *loop, const char *listen_addr, struct sr_http **out, char *err,
		size_t errlen);

/* Closes every connection (WebSocket on_close callbacks run), removes all
 * its watchers, timers and deferred calls from the loop and releases
 * libwebsockets and libuv. NULL is a no-op. */
void sr_http_free(struct sr_http *h);

/* Adds a route (method NULL = any; path_prefix starts with '/'). Strings
 * are copied. A second route with the same method and prefix replaces the
 * first. -EINVAL, -ENOMEM. */
int sr_http_route(struct sr_http *h, const char *method, const char *path_prefix, sr_http_handler fn,
		  void *data);

/* The bound port. */
unsigned sr_http_port(const struct sr_http *h);

/* The value of request header `name` (case-insensitive) while the handler
 * runs, copied to buf; -ENOENT if absent, -ENOSPC if it does not fit. */
int sr_http_req_header(const struct sr_http_req *req, const char *name, char *buf, size_t len);

/* The decoded value of query argument `name` ("since" for ?since=5) while
 * the handler runs; -ENOENT if absent, -ENOSPC if it does not fit. */
int sr_http_req_arg(const struct sr_http_req *req, const char *name, char *buf, size_t len);

/* --- WebSocket ----------------------------------------------------------
 * A WebSocket route answers upgrades on exactly `path` (no subprotocol);
 * upgrades elsewhere are refused (the connection is closed). */
struct sr_http_ws_ops {
	/* The upgrade completed; req has method "GET", path, query, remote and
	 * the request headers (no body). ws can already send. Return non-zero
	 * to close the connection at once (on_close then does not run). */
	int (*on_open)(void *data, struct sr_http_ws *ws, const struct sr_http_req *req);
	/* One whole message (fragments joined, at most SR_HTTP_WS_MAX_MSG;
	 * text messages are valid UTF-8). msg is valid during the call. */
	void (*on_message)(void *data, struct sr_http_ws *ws, const char *msg, size_t len, bool binary);
	/* The connection is gone (peer closed, error, sr_http_ws_close, or
	 * sr_http_free): ws becomes invalid when this returns. May be NULL. */
	void (*on_close)(void *data, struct sr_http_ws *ws);
};

/* Adds a WebSocket route; ops is copied. -EINVAL, -ENOMEM, -EEXIST. */
int sr_http_ws_route(struct sr_http *h, const char *path, const struct sr_http_ws_ops *ops,
		     void *data);

/* Queues a message (copied) and sends it as soon as the socket allows;
 * callable from anywhere on the loop thread while ws is open. -EINVAL,
 * -ENOMEM, -EPIPE after sr_http_ws_close, -ENOBUFS over
 * SR_HTTP_WS_MAX_QUEUE bytes waiting (a peer that does not read). */
int sr_http_ws_send(struct sr_http_ws *ws, const void *msg, size_t len, bool binary);

/* Sends what is queued, then a normal close; on_close follows. */
void sr_http_ws_close(struct sr_http_ws *ws);

/* A pointer for the caller, NULL until set. */
void sr_http_ws_set_user(struct sr_http_ws *ws, void *user);
void *sr_http_ws_user(const struct sr_http_ws *ws);

#endif
