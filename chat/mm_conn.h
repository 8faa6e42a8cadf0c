/*
 * mm_conn.h — the connection to one Mattermost server as the bot: REST
 * calls (libcurl multi, all through one global pacer) and the WebSocket
 * event stream (libwebsockets), as ONE pollable object for the relay's
 * single-threaded loop. Nothing here blocks (except the WebSocket's name
 * lookup, see below) and nothing starts threads.
 *
 * The loop contract is fw.h's / sr_ssh.h's:
 *   - after every call into this module, ask mm_conn_poll() which fds to
 *     watch (and for what) and until when to wait at most (an absolute
 *     CLOCK_MONOTONIC deadline in ms, or UINT64_MAX; a deadline in the past
 *     means "step now");
 *   - call mm_conn_step() when one of those fds is ready or the deadline
 *     passed (calling it more often is harmless);
 *   - every callback (REST completions, events, status) runs only from
 *     inside mm_conn_step(), never from the call that queued the work.
 *   Callbacks may call mm_rest / mm_rest_cancel, but not mm_conn_free.
 *
 * Start: mm_conn_new queues GET /api/v4/users/me (the bot's own id, and a
 * check of the token); once it answers, the WebSocket connects. A 401/403
 * there is final: on_status(-1, why) and nothing more happens. Other
 * failures are retried with backoff (on_status(0, why)).
 *
 * REST: see mm_rest. One pacer (mm_pacer.h) decides when each request is
 * sent: token bucket (rate_per_sec, burst), the server's X-RateLimit-*
 * headers, 429 + Retry-After (the same request is retried, never lost),
 * strict priorities, coalescing, at most one request in flight per
 * coalesce key. A request that failed to connect (never reached the
 * server) is retried up to 5 times with backoff; other failures are
 * reported, not retried (a POST may have been applied).
 *
 * WebSocket (mm_ws.h): `Authorization: Bearer` on the upgrade, hello,
 * seq tracking, Ping/Pong, reconnect with exponential backoff and jitter,
 * resume with connection_id + sequence_number. Every event after hello is
 * passed to on_event once, in order: replays of events already delivered
 * are dropped by seq. When events may have been lost (the server answered a
 * resume with a new connection_id, or seq jumped), on_gap is called: the
 * bot then refetches posts (GET /channels/{id}/posts?since=<last seen>).
 * The name lookup of the WebSocket's host is blocking (libwebsockets 4.1
 * as Debian ships it has no async DNS): configure an address or a name
 * the local resolver answers quickly.
 *
 * TLS is verified by default (ca_file, or curl's default CA bundle for
 * both REST and the WebSocket); `insecure` turns verification off.
 *
 * Secrets: the token is sent only in Authorization headers; it never
 * appears in URLs, messages, status strings or logs.
 *
 * Ownership: mm_conn_new copies the options; the caller frees the
 * connection with mm_conn_free (pending REST callbacks are then not
 * called). cJSON and string arguments of callbacks are valid during the
 * call only.
 * Errors: negative errno codes. Setup: -EINVAL (bad URL, empty token, a
 * token with control characters), -ENOMEM, -EIO; message in err.
 */
#ifndef MM_CONN_H
#define MM_CONN_H

#include <cjson/cJSON.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm_pacer.h" /* enum mm_prio */

struct mm_conn_opts {
	const char *url;    /* https://mm.example.com[:port][/prefix]; http:// too */
	const char *token;  /* bot token (secret) */
	const char *ca_file; /* NULL: curl's default CA bundle */
	bool insecure;      /* skip TLS verification (explicit) */
	double rate_per_sec; /* pacer; 0 → 10 */
	unsigned burst;      /* 0 → 100 */
	unsigned max_inflight; /* REST requests in flight; 0 → 4 */
	unsigned reconnect_min_ms, reconnect_max_ms; /* 0 → 1000, 60000 */

	/* Every WebSocket event after hello, in order, exactly once. data.post
	 * of "posted" / "post_edited" is a JSON string (parse it). */
	void (*on_event)(void *data, const char *event, const cJSON *ev_data,
			 const cJSON *broadcast, long seq);
	/* After hello (a fresh connection, or a resume that lost events:
	 * resumed_without_loss false) or a resume that lost nothing (true). */
	void (*on_connected)(void *data, bool resumed_without_loss);
	/* Events may have been lost; called before the on_connected(false)
	 * of the new connection. */
	void (*on_gap)(void *data);
	/* up: 1 connected, 0 down and retrying, -1 failed for good (token
	 * rejected). why is for people and never contains the token. */
	void (*on_status)(void *data, int up, const char *why);
	void *data;
};

struct mm_conn;

int mm_conn_new(const struct mm_conn_opts *o, struct mm_conn **out, char *err, size_t errlen);
/* Requests still queued or in flight get their callback with -ECANCELED
 * (from inside this call; they must not call back into c). */
void mm_conn_free(struct mm_conn *c);

/* Fills up to max entries of fds and returns how many; lowers
 * *deadline_ms (the caller sets it, e.g. to UINT64_MAX) to this module's
 * next deadline. max_inflight + 2 entries are enough (one socket per REST
 * request in flight, one for the WebSocket, one spare while curl swaps a
 * connection); with fewer, some sockets are left unwatched. */
size_t mm_conn_poll(struct mm_conn *c, struct pollfd *fds, size_t max, uint64_t *deadline_ms);
void mm_conn_step(struct mm_conn *c);

/* The bot's user id, "" until GET /users/me answered. */
const char *mm_conn_user_id(const struct mm_conn *c);

/* rc 0 on 2xx; body: the parsed JSON answer or NULL (no body, not JSON).
 * rc < 0 otherwise, with msg saying why ("" on success):
 *   HTTP errors: -EINVAL 400, -EACCES 401, -EPERM 403, -ENOENT 404,
 *                -E2BIG 413, -EBUSY 429 (gave up after 50), -EIO others
 *                (http_status says which; msg holds the AppError message);
 *   -ECANCELED   superseded by a newer request with the same coalesce key;
 *   -ECONNREFUSED / -EHOSTUNREACH  could not connect (after retries);
 *   -ETIMEDOUT, -EPROTO (TLS), -EFBIG, -EIO  transport failures. */
typedef void (*mm_rest_cb)(void *data, int rc, long http_status, const cJSON *body,
			   const char *msg);

/* Queues a REST call: method GET/POST/PUT/PATCH/DELETE, path absolute
 * ("/api/v4/posts"), body JSON or NULL (copied), cb may be NULL.
 * coalesce_key (copied; e.g. "patch:<post_id>"): a queued, not yet sent
 * request with the same key is REPLACED: the new one takes its place in
 * the queue (and the better priority of the two), and the old one's
 * callback gets -ECANCELED. While a request with the key is in flight, the
 * next one waits for it, so the server applies them in order and the last
 * queued text is what remains.
 * Returns a handle (> 0) or -EINVAL / -ENOMEM. */
long mm_rest(struct mm_conn *c, const char *method, const char *path, const cJSON *body,
	     enum mm_prio prio, const char *coalesce_key, mm_rest_cb cb, void *data);

/* Forgets a request: no callback. A request already sent is aborted (the
 * server may still have applied it). Unknown handles are ignored. */
void mm_rest_cancel(struct mm_conn *c, long handle);

struct mm_conn_stats {
	/* REST */
	unsigned long rest_sent;       /* requests put on the wire */
	unsigned long rest_429;        /* 429 answers (each retried) */
	unsigned long rest_superseded; /* replaced by coalescing */
	unsigned long rest_failed;     /* completed with rc < 0 (not -ECANCELED) */
	size_t rest_queued, rest_inflight;
	/* WebSocket */
	unsigned ws_opens, ws_hellos, ws_resumes, ws_gaps, ws_dups;
	unsigned long ws_events;
	bool ws_up;
	char connection_id[64];
	long next_seq;
};

void mm_conn_stats(const struct mm_conn *c, struct mm_conn_stats *out);

#endif
