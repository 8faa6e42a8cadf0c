/* mm_ws.c — libwebsockets client for the Mattermost event stream, driven
 * by the owner's loop (see mm_ws.h for how lws 4.1 is fitted into it). */
#include "mm_ws.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_http.h" /* mm_now_ms */
#include "mm_wsseq.h"

/* A message larger than this is not Mattermost (a posted event with a
 * 16383-rune message is ~100 KB). */
#define MAX_MSG (32u << 20)
/* The server reads at most 8192 bytes per client frame (§1.5). */
#define MAX_OUT_FRAME 8192
#define TICK_MS 1000

enum ws_state { WS_IDLE, WS_WAIT, WS_CONNECTING, WS_OPEN };

enum note_kind { N_EVENT, N_CONNECTED, N_GAP, N_STATUS };

/* Outcomes are queued while lws is on the stack and handed to the owner's
 * callbacks after lws_service returns. */
struct note {
	struct note *next;
	enum note_kind kind;
	cJSON *msg;
	long seq;
	int flag; /* N_CONNECTED: resumed without loss; N_STATUS: up */
	char why[320];
};

struct mm_ws {
	struct mm_ws_opts o;
	char *host, *base_path, *auth_value, *ca_file;
	char host_hdr[300];
	char path[600];

	struct lws_context *ctx;
	struct lws *wsi;
	enum ws_state state;
	bool freeing;

	struct mm_wsseq seq; /* connection id, next seq, resume state */

	uint64_t opened_at, last_rx, last_ping, last_svc;
	unsigned failures;
	uint64_t reconnect_at;
	bool seen_writable; /* the TCP connect completed */
	bool want_ping;
	bool again;         /* one more lws pass right away */
	unsigned activity;  /* lws callbacks seen (detects busy passes) */

	char *rx;
	size_t rx_len, rx_cap;
	bool rx_skip; /* rest of an oversized or binary message */
	char close_why[200];

	struct note *notes, *notes_tail;
	uint64_t rng;
	struct mm_ws_stats st;
};

static uint64_t rnd(struct mm_ws *w)
{
	/* xorshift64*: jitter only, not security. */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * 2685821657736338717ull;
}

static struct note *note_add(struct mm_ws *w, enum note_kind kind)
{
	struct note *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->kind = kind;
	if (w->notes_tail)
		w->notes_tail->next = n;
	else
		w->notes = n;
	w->notes_tail = n;
	return n;
}

static void note_status(struct mm_ws *w, int up, const char *why)
{
	struct note *n = note_add(w, N_STATUS);
	if (!n)
		return;
	n->flag = up;
	snprintf(n->why, sizeof(n->why), "%s", why);
}

static void confirm(struct mm_ws *w, bool resumed)
{
	w->failures = 0;
	w->st.up = true;
	if (resumed)
		w->st.resumes++;
	struct note *n = note_add(w, N_CONNECTED);
	if (n)
		n->flag = resumed;
	note_status(w, 1, resumed ? "WebSocket resumed" : "WebSocket connected");
}

static void gap(struct mm_ws *w)
{
	w->st.gaps++;
	note_add(w, N_GAP);
}

/* A gap is reported before the connection it was found on. */
static void apply(struct mm_ws *w, const struct mm_wsseq_res *r)
{
	if (r->gap)
		gap(w);
	if (r->connected)
		confirm(w, r->resumed);
}

static unsigned backoff_ms(struct mm_ws *w)
{
	uint64_t d = w->o.reconnect_min_ms;
	for (unsigned i = 0; i < w->failures && d < w->o.reconnect_max_ms; i++)
		d *= 2;
	if (d > w->o.reconnect_max_ms)
		d = w->o.reconnect_max_ms;
	/* Jitter in [d/2, d] so many relays do not reconnect in step. */
	return (unsigned)(d / 2 + rnd(w) % (d / 2 + 1));
}

/* The connection is gone (lws already forgot the wsi): plan the next. */
static void lost(struct mm_ws *w, const char *why)
{
	w->wsi = NULL;
	if (w->freeing || w->state == WS_WAIT || w->state == WS_IDLE)
		return;
	w->state = WS_WAIT;
	w->st.up = false;
	unsigned ms = backoff_ms(w);
	w->failures++;
	w->reconnect_at = mm_now_ms() + ms;
	char msg[300];
	snprintf(msg, sizeof(msg), "%s; reconnecting in %u ms", why, ms);
	note_status(w, 0, msg);
}

static void close_now(struct mm_ws *w, const char *why)
{
	if (!w->wsi)
		return;
	snprintf(w->close_why, sizeof(w->close_why), "%s", why);
	lws_set_timeout(w->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	w->again = true;
}

/* One complete text message from the server. */
static void on_message(struct mm_ws *w)
{
	cJSON *m = cJSON_ParseWithLength(w->rx, w->rx_len);
	if (!cJSON_IsObject(m)) {
		cJSON_Delete(m);
		return;
	}
	const char *ev = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "event"));
	if (!ev) { /* a reply to a client request: not an event */
		cJSON_Delete(m);
		return;
	}
	const cJSON *js = cJSON_GetObjectItemCaseSensitive(m, "seq");
	long seq = cJSON_IsNumber(js) ? (long)js->valuedouble : -1;
	struct mm_wsseq_res r;

	if (strcmp(ev, "hello") == 0) {
		w->st.hellos++;
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "data");
		mm_wsseq_hello(&w->seq,
			       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "connection_id")),
			       seq, &r);
		apply(w, &r);
		cJSON_Delete(m);
		return;
	}
	mm_wsseq_event(&w->seq, seq, &r);
	apply(w, &r);
	if (!r.deliver) {
		w->st.dups += r.dup;
		cJSON_Delete(m);
		return;
	}
	struct note *n = note_add(w, N_EVENT);
	if (!n) {
		cJSON_Delete(m);
		return;
	}
	n->msg = m;
	n->seq = seq;
	w->st.events++;
}

static void rx_append(struct mm_ws *w, const void *in, size_t len)
{
	if (w->rx_skip)
		return;
	if (w->rx_len + len + 1 > MAX_MSG) {
		w->rx_skip = true;
		close_now(w, "WebSocket message too large");
		return;
	}
	if (w->rx_len + len + 1 > w->rx_cap) {
		size_t cap = w->rx_cap ? w->rx_cap : 16384;
		while (cap < w->rx_len + len + 1)
			cap *= 2;
		char *b = realloc(w->rx, cap);
		if (!b) {
			w->rx_skip = true;
			close_now(w, "out of memory");
			return;
		}
		w->rx = b;
		w->rx_cap = cap;
	}
	memcpy(w->rx + w->rx_len, in, len);
	w->rx_len += len;
	w->rx[w->rx_len] = '\0';
}

/* Whether lws's error string (len bytes) mentions SSL. */
static bool memmem_ssl(const char *s, size_t len)
{
	for (size_t i = 0; i + 3 <= len; i++)
		if (s[i] == 'S' && s[i + 1] == 'S' && s[i + 2] == 'L')
			return true;
	return false;
}

static int send_ping(struct mm_ws *w, struct lws *wsi)
{
	unsigned char buf[LWS_PRE + 16];
	size_t len = 0; /* an empty Ping; far below MAX_OUT_FRAME */
	_Static_assert(sizeof(buf) - LWS_PRE <= MAX_OUT_FRAME, "frame cap");
	w->want_ping = false;
	return lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_PING) < 0 ? -1 : 0;
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		 size_t len)
{
	struct lws_context *cx = lws_get_context(wsi);
	struct mm_ws *w = cx ? lws_context_user(cx) : NULL;
	if (!w)
		return lws_callback_http_dummy(wsi, reason, user, in, len);

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		unsigned char **p = in, *end = *p + len;
		w->activity++;
		/* The token goes in a header only, never in the URL. */
		if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
						 (const unsigned char *)w->auth_value,
						 (int)strlen(w->auth_value), p, end))
			return -1;
		return 0;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		w->activity++;
		w->state = WS_OPEN;
		w->opened_at = w->last_rx = w->last_ping = mm_now_ms();
		w->rx_len = 0;
		w->rx_skip = false;
		w->st.opens++;
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		w->activity++;
		w->last_rx = mm_now_ms();
		if (lws_frame_is_binary(wsi))
			w->rx_skip = true; /* Mattermost sends text (JSON) only */
		rx_append(w, in, len);
		if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
			if (!w->rx_skip)
				on_message(w);
			w->rx_len = 0;
			w->rx_skip = false;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		w->activity++;
		w->last_rx = mm_now_ms();
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		w->activity++;
		if (w->want_ping)
			return send_ping(w, wsi);
		return 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
		w->activity++;
		const unsigned char *b = in;
		if (len >= 2)
			snprintf(w->close_why, sizeof(w->close_why),
				 "server closed the WebSocket (code %u%s%.*s)",
				 (unsigned)(b[0] << 8 | b[1]), len > 2 ? ": " : "",
				 (int)(len > 2 ? (len - 2 > 120 ? 120 : len - 2) : 0),
				 (const char *)b + 2);
		else
			snprintf(w->close_why, sizeof(w->close_why), "server closed the WebSocket");
		return 0;
	}
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
		w->activity++;
		char why[220];
		unsigned status = lws_http_client_http_response(wsi);
		/* lws's string is len bytes, not always NUL-terminated. */
		const char *what = in && len ? (const char *)in : "connect failed";
		int wl = (int)(in && len ? len : strlen(what));
		if (wl > 120)
			wl = 120;
		if (status == 401 || status == 403)
			snprintf(why, sizeof(why),
				 "WebSocket upgrade refused with HTTP %u (token rejected?)", status);
		else if (status && status != 101)
			snprintf(why, sizeof(why), "WebSocket upgrade failed: HTTP %u (%.*s)", status,
				 wl, what);
		else if (w->o.tls && memmem_ssl(what, (size_t)wl))
			snprintf(why, sizeof(why),
				 "WebSocket TLS handshake failed (certificate not trusted, or "
				 "not for this host?): %.*s",
				 wl, what);
		else
			snprintf(why, sizeof(why), "WebSocket connect failed: %.*s", wl, what);
		lost(w, why);
		return 0;
	}
	case LWS_CALLBACK_CLIENT_CLOSED:
		w->activity++;
		/* The server drops an upgrade it could not authenticate some
		 * seconds later, without a hello (reference §1.2). */
		if (!w->close_why[0] && w->state == WS_OPEN && !w->seq.confirmed &&
		    !w->seq.resume_sent)
			snprintf(w->close_why, sizeof(w->close_why),
				 "WebSocket closed before hello (token not accepted?)");
		lost(w, w->close_why[0] ? w->close_why : "WebSocket closed");
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		if (wsi == w->wsi) {
			w->activity++;
			lost(w, w->close_why[0] ? w->close_why : "WebSocket closed");
		}
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
	{"mm", ws_cb, 0, 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static void connect_now(struct mm_ws *w)
{
	char query[128];
	mm_wsseq_attempt(&w->seq, query, sizeof(query));
	snprintf(w->path, sizeof(w->path), "%s/api/v4/websocket%s", w->base_path, query);

	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof(ci));
	ci.context = w->ctx;
	ci.address = w->host;
	ci.port = (int)w->o.port;
	ci.path = w->path;
	ci.host = w->host_hdr;
	ci.origin = NULL; /* a native client sends no Origin (§1.1) */
	ci.protocol = NULL;
	ci.local_protocol_name = "mm";
	ci.ietf_version_or_minus_one = -1;
	ci.pwsi = &w->wsi;
	if (w->o.tls) {
		ci.ssl_connection = LCCSCF_USE_SSL;
		if (w->o.insecure)
			ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
					     LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
					     LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
	}
	w->state = WS_CONNECTING;
	w->seen_writable = false;
	w->want_ping = false;
	w->close_why[0] = '\0';
	w->rx_len = 0;
	w->rx_skip = false;
	struct lws *wsi = lws_client_connect_via_info(&ci);
	if (!wsi && w->state == WS_CONNECTING)
		lost(w, "WebSocket connect failed at once");
	w->again = true;
}

int mm_ws_new(const struct mm_ws_opts *o, struct mm_ws **out, char *err, size_t errlen)
{
	*out = NULL;
	struct mm_ws *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	w->o = *o;
	if (!w->o.reconnect_min_ms)
		w->o.reconnect_min_ms = 1000;
	if (!w->o.reconnect_max_ms)
		w->o.reconnect_max_ms = 60000;
	if (w->o.reconnect_max_ms < w->o.reconnect_min_ms)
		w->o.reconnect_max_ms = w->o.reconnect_min_ms;
	w->host = strdup(o->host);
	w->base_path = strdup(o->base_path ? o->base_path : "");
	size_t alen = strlen("Bearer ") + strlen(o->token) + 1;
	w->auth_value = malloc(alen);
	w->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
	if (!w->host || !w->base_path || !w->auth_value || (o->ca_file && !w->ca_file)) {
		snprintf(err, errlen, "out of memory");
		mm_ws_free(w);
		return -ENOMEM;
	}
	snprintf(w->auth_value, alen, "Bearer %s", o->token);
	bool v6 = strchr(o->host, ':') != NULL;
	bool dflt = o->port == (o->tls ? 443u : 80u);
	if (dflt)
		snprintf(w->host_hdr, sizeof(w->host_hdr), v6 ? "[%s]" : "%s", o->host);
	else
		snprintf(w->host_hdr, sizeof(w->host_hdr), v6 ? "[%s]:%u" : "%s:%u", o->host,
			 o->port);
	w->rng = mm_now_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)w;
	if (!w->rng)
		w->rng = 88172645463325252ull;

	/* lws logs errors to stderr; nothing it logs at that level carries
	 * the handshake headers. */
	lws_set_log_level(LLL_ERR, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	info.user = w;
	/* A small fd table: lws otherwise sizes it by ulimit -n. */
	info.fd_limit_per_thread = 16;
	if (o->tls) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.client_ssl_ca_filepath = w->ca_file;
	}
	w->ctx = lws_create_context(&info);
	if (!w->ctx) {
		snprintf(err, errlen, "libwebsockets context creation failed");
		mm_ws_free(w);
		return -EIO;
	}
	*out = w;
	return 0;
}

void mm_ws_free(struct mm_ws *w)
{
	if (!w)
		return;
	w->freeing = true;
	if (w->ctx)
		lws_context_destroy(w->ctx);
	while (w->notes) {
		struct note *n = w->notes;
		w->notes = n->next;
		cJSON_Delete(n->msg);
		free(n);
	}
	if (w->auth_value) {
		memset(w->auth_value, 0, strlen(w->auth_value)); /* the token */
		free(w->auth_value);
	}
	free(w->host);
	free(w->base_path);
	free(w->ca_file);
	free(w->rx);
	free(w);
}

void mm_ws_start(struct mm_ws *w)
{
	if (w->state != WS_IDLE)
		return;
	w->state = WS_WAIT;
	w->reconnect_at = 0; /* now */
}

static short want_events(struct mm_ws *w)
{
	short ev = POLLIN;
	if ((w->state == WS_CONNECTING && !w->seen_writable) || w->want_ping ||
	    lws_partial_buffered(w->wsi))
		ev |= POLLOUT;
	return ev;
}

size_t mm_ws_poll(struct mm_ws *w, struct pollfd *fds, size_t max, uint64_t *deadline_ms)
{
	uint64_t d = UINT64_MAX;
	size_t n = 0;
	if (w->notes || w->again)
		d = 0;
	if (w->wsi) {
		int fd = lws_get_socket_fd(w->wsi);
		if (fd >= 0 && n < max) {
			fds[n].fd = fd;
			fds[n].events = want_events(w);
			fds[n].revents = 0;
			n++;
		}
		if (w->last_svc + TICK_MS < d)
			d = w->last_svc + TICK_MS;
		/* lws holds input it has not parsed yet. */
		if (!lws_service_adjust_timeout(w->ctx, 1, 0))
			d = 0;
	}
	if (w->state == WS_WAIT && w->reconnect_at < d)
		d = w->reconnect_at;
	if (w->state == WS_OPEN) {
		if (!w->seq.confirmed) {
			uint64_t t = w->opened_at + (w->seq.resume_sent ? MM_WS_RESUME_GRACE_MS
									: MM_WS_HELLO_TIMEOUT_MS);
			if (t < d)
				d = t;
		}
		uint64_t since = w->last_rx > w->last_ping ? w->last_rx : w->last_ping;
		if (since + MM_WS_PING_IDLE_MS < d)
			d = since + MM_WS_PING_IDLE_MS;
		if (w->last_rx + MM_WS_DEAD_MS < d)
			d = w->last_rx + MM_WS_DEAD_MS;
	}
	if (d < *deadline_ms)
		*deadline_ms = d;
	return n;
}

static void timers(struct mm_ws *w, uint64_t now)
{
	if (w->state == WS_WAIT && now >= w->reconnect_at) {
		connect_now(w);
		return;
	}
	if (w->state != WS_OPEN || !w->wsi)
		return;
	if (!w->seq.confirmed) {
		if (w->seq.resume_sent && now >= w->opened_at + MM_WS_RESUME_GRACE_MS) {
			struct mm_wsseq_res r; /* no hello: nothing was missed */
			mm_wsseq_grace(&w->seq, &r);
			apply(w, &r);
		} else if (!w->seq.resume_sent && now >= w->opened_at + MM_WS_HELLO_TIMEOUT_MS) {
			close_now(w, "no hello from the server within 10 s (token rejected?)");
		}
	}
	if (now >= w->last_rx + MM_WS_DEAD_MS) {
		close_now(w, "nothing received for 75 s");
	} else if (now >= w->last_rx + MM_WS_PING_IDLE_MS &&
		   now >= w->last_ping + MM_WS_PING_IDLE_MS) {
		w->last_ping = now;
		w->want_ping = true;
		lws_callback_on_writable(w->wsi);
		w->again = true;
	}
}

static void dispatch(struct mm_ws *w)
{
	while (w->notes) {
		struct note *n = w->notes;
		w->notes = n->next;
		if (!w->notes)
			w->notes_tail = NULL;
		switch (n->kind) {
		case N_EVENT:
			if (w->o.on_event)
				w->o.on_event(w->o.data,
					      cJSON_GetStringValue(
						      cJSON_GetObjectItemCaseSensitive(n->msg, "event")),
					      cJSON_GetObjectItemCaseSensitive(n->msg, "data"),
					      cJSON_GetObjectItemCaseSensitive(n->msg, "broadcast"),
					      n->seq);
			break;
		case N_CONNECTED:
			if (w->o.on_connected)
				w->o.on_connected(w->o.data, n->flag != 0);
			break;
		case N_GAP:
			if (w->o.on_gap)
				w->o.on_gap(w->o.data);
			break;
		case N_STATUS:
			if (w->o.on_status)
				w->o.on_status(w->o.data, n->flag, n->why);
			break;
		}
		cJSON_Delete(n->msg);
		free(n);
	}
}

void mm_ws_step(struct mm_ws *w, uint64_t now_ms)
{
	short revents = 0;
	if (w->wsi) {
		/* The owner's loop does not pass revents: look ourselves. */
		struct pollfd p = {.fd = lws_get_socket_fd(w->wsi), .events = want_events(w)};
		if (p.fd >= 0 && poll(&p, 1, 0) > 0) {
			revents = p.revents;
			if ((revents & POLLOUT) && w->state == WS_CONNECTING)
				w->seen_writable = true;
		}
	}
	unsigned before = w->activity;
	w->again = false;
	if (w->ctx)
		lws_service(w->ctx, -1);
	w->last_svc = now_ms;
	/* lws clears w->wsi (ci.pwsi) when it frees the connection; should
	 * that ever happen without a CLOSED or CONNECTION_ERROR callback,
	 * treat it as lost here. */
	if (!w->wsi && (w->state == WS_CONNECTING || w->state == WS_OPEN))
		lost(w, w->close_why[0] ? w->close_why : "WebSocket closed");
	/* What lws queued in this pass (a Pong, a close) goes out on the
	 * next pass, which it gets at once. */
	if (revents || w->activity != before)
		w->again = true;
	timers(w, mm_now_ms());
	dispatch(w);
}

void mm_ws_stats(const struct mm_ws *w, struct mm_ws_stats *out)
{
	*out = w->st;
	snprintf(out->connection_id, sizeof(out->connection_id), "%s", w->seq.conn_id);
	out->next_seq = w->seq.next_seq;
}
