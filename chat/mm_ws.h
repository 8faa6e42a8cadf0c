/*
 * mm_ws.h — the Mattermost WebSocket (libwebsockets client) on the
 * owner's poll loop (internal to chat/; mm_conn is its only user).
 *
 * Debian 12's libwebsockets 4.1 is built without LWS_WITH_EXTERNAL_POLL:
 * the ADD/DEL/CHANGE_MODE_POLL_FD callbacks never fire, and it has no
 * public way to read its pollfds or its next timer. So lws keeps its own
 * poll table and mm_ws_step runs it with lws_service(ctx, -1), which polls
 * with a zero timeout, services what is ready and runs due lws timers; the
 * owner's loop is woken by:
 *   - the connection's socket (lws_get_socket_fd) for POLLIN, plus
 *     POLLOUT while the TCP connect is in progress, while lws holds
 *     unsent data (lws_partial_buffered) or while we wait to write;
 *   - one immediate extra pass after any pass that had socket activity or
 *     callbacks, so what lws queued in that pass (a Pong to the server's
 *     Ping, a close frame) goes out at once on a writable socket;
 *   - lws_service_adjust_timeout() == 0 (lws has buffered input to parse);
 *   - a 1 s tick while a connection exists, for lws's own timeouts.
 *
 * Protocol (see shared/reference/mattermost.md §1): the upgrade carries
 * `Authorization: Bearer <token>` (never the URL) and no Origin; hello
 * gives the connection_id and seq 0; reconnects resume with
 * `?connection_id=<id>&sequence_number=<last seen + 1>`. The seq rules
 * (replays dropped, gaps detected, resume confirmation) are mm_wsseq.h's:
 * on a lost resume on_gap comes first, then on_connected(false); a resume
 * that lost nothing gives on_connected(true), at its first replayed event
 * or MM_WS_RESUME_GRACE_MS after the upgrade without a hello.
 * Keepalive: lws answers the server's Ping frames. We also send a Ping
 * after 30 s without inbound traffic and drop the connection after 75 s
 * without any, so a vanished server is noticed. Nothing we send comes near
 * the server's 8192-byte inbound frame cap (only empty Pings).
 * Reconnect: exponential backoff from reconnect_min_ms to reconnect_max_ms
 * with jitter (each delay is drawn from [d/2, d]); it resets once a
 * connection is confirmed. The name lookup (getaddrinfo) inside lws is
 * blocking: lws 4.1 here has no async DNS.
 *
 * Ownership: options are copied. cJSON pointers passed to on_event are
 * valid during the call. Callbacks run only from mm_ws_step, never while
 * lws is on the stack.
 */
#ifndef MM_WS_H
#define MM_WS_H

#include <cjson/cJSON.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MM_WS_RESUME_GRACE_MS 2000
#define MM_WS_HELLO_TIMEOUT_MS 10000
#define MM_WS_PING_IDLE_MS 30000
#define MM_WS_DEAD_MS 75000

struct mm_ws_opts {
	bool tls;
	const char *host;      /* name or address, IPv6 without brackets */
	unsigned port;
	const char *base_path; /* "" or "/prefix" (no trailing slash) */
	const char *token;     /* secret */
	const char *ca_file;   /* NULL: the caller resolved a default */
	bool insecure;
	unsigned reconnect_min_ms, reconnect_max_ms;

	void (*on_event)(void *data, const char *event, const cJSON *ev_data,
			 const cJSON *broadcast, long seq);
	void (*on_connected)(void *data, bool resumed_without_loss);
	void (*on_gap)(void *data);
	void (*on_status)(void *data, int up, const char *why);
	void *data;
};

struct mm_ws_stats {
	unsigned opens;    /* upgrades completed */
	unsigned hellos;   /* hello frames received */
	unsigned resumes;  /* resumes confirmed without loss */
	unsigned gaps;     /* on_gap calls */
	unsigned dups;     /* replayed events dropped */
	unsigned long events;
	bool up;
	char connection_id[64];
	long next_seq;
};

struct mm_ws;

int mm_ws_new(const struct mm_ws_opts *o, struct mm_ws **out, char *err, size_t errlen);
void mm_ws_free(struct mm_ws *w);
/* Starts connecting (at once); afterwards it reconnects by itself. */
void mm_ws_start(struct mm_ws *w);
size_t mm_ws_poll(struct mm_ws *w, struct pollfd *fds, size_t max, uint64_t *deadline_ms);
void mm_ws_step(struct mm_ws *w, uint64_t now_ms);
void mm_ws_stats(const struct mm_ws *w, struct mm_ws_stats *out);

#endif
