/* sr_http.c — the HTTP listener: libwebsockets on a libuv loop embedded in
 * the sr_loop (see sr_http.h for why and how). */
#include "sr_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "sr_log.h"

#define WRITE_CHUNK 16384         /* body bytes per writeable callback */
#define ACCEPT_BATCH 32           /* accepts per readiness of the listen socket */
#define ACCEPT_RETRY_MS 1000      /* pause after EMFILE/ENFILE */
#define TEARDOWN_MAX_PASSES 1000  /* libuv passes to close lws's handles */
#define PENDING_TIMEOUT_MS 10000  /* a connection that never sends is closed */
#define PENDING_MAX 1024          /* silent connections kept; the oldest goes first */

struct route {
	char *method; /* NULL: any */
	char *prefix;
	size_t plen;
	sr_http_handler fn;
	void *data;
};

struct ws_route {
	char *path;
	struct sr_http_ws_ops ops;
	void *data;
};

/* An accepted connection that has not sent anything yet. It is handed to
 * lws only once readable: lws gives every adopted HTTP connection one of a
 * small pool of header tables, so connections that stay silent (browser
 * preconnects, port scans, slowloris) would otherwise starve real ones. */
struct pending {
	struct pending *prev, *next;
	struct sr_http *h;
	int fd;
	struct sr_watch *w;
	uint64_t deadline;
};

struct sr_http {
	struct sr_loop *loop;
	uv_loop_t uv;
	bool uv_ready;
	void *foreign_loops[1];
	struct lws_context *ctx; /* lws writes NULL here when fully destroyed */
	struct lws_vhost *vh;
	struct lws_protocols protocols[2];
	int lfd;
	unsigned port;
	struct sr_watch *lwatch; /* listening socket */
	struct sr_watch *uwatch; /* libuv's backend (epoll) fd */
	struct sr_timer *utimer; /* libuv's next deadline */
	struct sr_timer *accept_retry;
	struct pending *pend_head, *pend_tail; /* oldest first */
	size_t npend;
	struct sr_timer *pend_timer;
	bool step_queued;
	int depth;  /* our frames on the stack that are inside lws / libuv */
	bool dead;  /* sr_http_free ran inside a callback: tear down at depth 0 */
	bool tearing_down;
	struct route *routes;
	size_t nroutes;
	struct ws_route **ws;
	size_t nws;
	unsigned char wbuf[LWS_PRE + WRITE_CHUNK]; /* lws_write needs LWS_PRE headroom */
};

enum conn_kind { CONN_NONE, CONN_HTTP, CONN_WS };
enum wstate { W_IDLE, W_HEADERS, W_BODY };

struct ws_msg {
	struct ws_msg *next;
	size_t len;
	bool binary;
	unsigned char buf[]; /* LWS_PRE + len */
};

/* lws's per-connection user space (zeroed by lws). One struct serves both
 * an HTTP transaction and, after an upgrade, a WebSocket; sr_http_ws is
 * this struct seen from outside. */
struct conn {
	enum conn_kind kind;
	struct lws *wsi;
	/* HTTP */
	const char *method;
	char *path, *query, *auth, *ctype;
	char remote[64];
	char *body;
	size_t body_len, body_expect;
	bool dispatched, close_after, head;
	enum wstate wstate;
	struct sr_http_resp resp;
	size_t sent;
	char allow[96]; /* for 405 */
	/* WebSocket */
	const struct ws_route *wr;
	bool opened, closing;
	char *rx;
	size_t rx_len, rx_cap;
	struct ws_msg *q_head, *q_tail;
	size_t q_bytes;
	void *user;
};

struct sr_http_ws {
	struct conn c;
};

static void http_step(struct sr_http *h);
static void http_destroy(struct sr_http *h);

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* lws logs through sr_log: warnings and errors only (notices are chatty
 * start-up banners). The line ends with '\n', which sr_log adds itself. */
static void lws_log_emit(int level, const char *line)
{
	char buf[512];
	size_t n = strlen(line);
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, line, n);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	sr_log((level & LLL_ERR) ? SR_LOG_ERROR : SR_LOG_WARN, "http: lws: %s", buf);
}

/* ---- the libuv loop inside the sr_loop ---------------------------------- */

static void step_defer_cb(void *data)
{
	struct sr_http *h = data;
	h->step_queued = false;
	http_step(h);
}

static void kick(struct sr_http *h)
{
	if (h->dead || h->tearing_down || h->step_queued)
		return;
	if (sr_loop_defer(h->loop, step_defer_cb, h) == 0)
		h->step_queued = true;
}

static void utimer_cb(struct sr_timer *t, void *data)
{
	(void)t;
	http_step(data);
}

/* Brings the timer in line with libuv: libuv's uv_backend_timeout is 0 while
 * it has work that needs a pass (watchers started outside uv_run, pending
 * or closing handles, lws's idle handle for forced service), the delay to
 * its next timer otherwise, -1 for none. It is also 0 when nothing at all
 * is active, which here means there is nothing to wait for. */
static void sync_timer(struct sr_http *h)
{
	if (h->dead || h->tearing_down)
		return;
	int t = uv_backend_timeout(&h->uv);
	if (t == 0 && !uv_loop_alive(&h->uv))
		t = -1;
	if (t == 0) {
		kick(h);
		return;
	}
	if (t < 0) {
		if (h->utimer) {
			sr_timer_cancel(h->utimer);
			h->utimer = NULL;
		}
		return;
	}
	if (h->utimer)
		sr_timer_rearm(h->utimer, (uint64_t)t);
	else if (sr_loop_timer(h->loop, (uint64_t)t, utimer_cb, h, &h->utimer) < 0)
		kick(h); /* no timer: poll again next iteration rather than stall */
}

static void enter(struct sr_http *h)
{
	h->depth++;
}

static void leave(struct sr_http *h)
{
	if (--h->depth > 0)
		return;
	if (h->dead)
		http_destroy(h);
	else
		sync_timer(h);
}

static void http_step(struct sr_http *h)
{
	enter(h);
	uv_run(&h->uv, UV_RUN_NOWAIT);
	leave(h);
}

static void uwatch_cb(struct sr_watch *w, int fd, unsigned revents, void *data)
{
	(void)w;
	(void)fd;
	(void)revents;
	http_step(data);
}

/* ---- accepting ---------------------------------------------------------- */

static void accept_retry_cb(struct sr_timer *t, void *data)
{
	struct sr_http *h = data;
	(void)t;
	sr_watch_set_events(h->lwatch, SR_EV_READ);
}

static void pend_unlink(struct sr_http *h, struct pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		h->pend_head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		h->pend_tail = p->prev;
	h->npend--;
	sr_watch_remove(p->w);
}

static void pend_drop(struct sr_http *h, struct pending *p)
{
	pend_unlink(h, p);
	close(p->fd);
	free(p);
}

static void pend_timer_cb(struct sr_timer *t, void *data);

static void pend_sync_timer(struct sr_http *h)
{
	if (!h->pend_head) {
		if (h->pend_timer) {
			sr_timer_cancel(h->pend_timer);
			h->pend_timer = NULL;
		}
		return;
	}
	uint64_t now = sr_loop_now(h->loop), due = h->pend_head->deadline;
	uint64_t delay = due > now ? due - now : 0;
	if (h->pend_timer)
		sr_timer_rearm(h->pend_timer, delay);
	else
		sr_loop_timer(h->loop, delay, pend_timer_cb, h, &h->pend_timer);
}

static void pend_timer_cb(struct sr_timer *t, void *data)
{
	struct sr_http *h = data;
	(void)t;
	uint64_t now = sr_loop_now(h->loop);
	while (h->pend_head && h->pend_head->deadline <= now)
		pend_drop(h, h->pend_head);
	pend_sync_timer(h);
}

/* The connection sent something (or hung up): lws takes it from here. */
static void pend_cb(struct sr_watch *w, int fd, unsigned revents, void *data)
{
	struct pending *p = data;
	struct sr_http *h = p->h;
	(void)w;
	(void)revents;
	pend_unlink(h, p);
	free(p);
	pend_sync_timer(h);
	enter(h);
	/* lws closes fd itself when it cannot adopt it */
	if (!lws_adopt_socket_vhost(h->vh, fd))
		sr_log(SR_LOG_WARN, "http: could not take a connection");
	/* the new socket's libuv watcher starts on the next pass, and its
	 * request is already waiting: run that pass now */
	if (!h->dead)
		uv_run(&h->uv, UV_RUN_NOWAIT);
	leave(h);
}

static void pend_add(struct sr_http *h, int fd)
{
	struct pending *p = calloc(1, sizeof(*p));
	if (!p || sr_loop_watch(h->loop, fd, SR_EV_READ, pend_cb, p, &p->w) < 0) {
		free(p);
		close(fd);
		return;
	}
	if (h->npend >= PENDING_MAX)
		pend_drop(h, h->pend_head);
	p->h = h;
	p->fd = fd;
	p->deadline = sr_loop_now(h->loop) + PENDING_TIMEOUT_MS;
	p->prev = h->pend_tail;
	if (h->pend_tail)
		h->pend_tail->next = p;
	else
		h->pend_head = p;
	h->pend_tail = p;
	h->npend++;
	if (!h->pend_timer || !sr_timer_armed(h->pend_timer))
		pend_sync_timer(h);
}

static void listen_cb(struct sr_watch *w, int lfd, unsigned revents, void *data)
{
	struct sr_http *h = data;
	(void)revents;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* level-triggered: retrying now would spin */
				sr_log(SR_LOG_WARN, "http: accept: %s; pausing for %u ms", strerror(errno),
				       ACCEPT_RETRY_MS);
				sr_watch_set_events(w, 0);
				if (h->accept_retry)
					sr_timer_rearm(h->accept_retry, ACCEPT_RETRY_MS);
				else
					sr_loop_timer(h->loop, ACCEPT_RETRY_MS, accept_retry_cb, h,
						      &h->accept_retry);
			}
			break; /* EAGAIN, or a connection that died in the backlog */
		}
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
			close(fd);
			continue;
		}
		/* headers and body leave in separate writes: with Nagle the body
		 * would wait for the peer's delayed ACK (~40 ms per request) */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pend_add(h, fd);
	}
}

/* Parses "a.b.c.d:port", "[v6]:port", ":port", "localhost:port". */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *sl, bool *any)
{
	const char *colon, *host_b, *host_e;
	*any = false;
	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '[') {
		host_b = s + 1;
		host_e = strchr(host_b, ']');
		if (!host_e || host_e[1] != ':')
			return -EINVAL;
		colon = host_e + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL; /* unbracketed IPv6 is ambiguous */
		host_b = s;
		host_e = colon;
	}
	const char *p = colon + 1;
	if (!*p || strlen(p) > 5)
		return -EINVAL;
	unsigned long port = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port > 65535)
		return -EINVAL;
	char host[64];
	size_t hl = (size_t)(host_e - host_b);
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, host_b, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (hl == 0 || (s[0] == '[' && strcmp(host, "::") == 0)) {
		*any = true;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_addr = in6addr_any;
		a6->sin6_port = htons((uint16_t)port);
		*sl = sizeof(*a6);
		return 0;
	}
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (s[0] != '[' && inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*sl = sizeof(*a4);
		return 0;
	}
	if (s[0] == '[' && inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*sl = sizeof(*a6);
		return 0;
	}
	return -EINVAL; /* names other than localhost: bind exactly what is given */
}

static int open_listener(const struct sockaddr_storage *ss, socklen_t sl, bool any, int *out)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int e = fd < 0 ? -errno : 0;
	if (fd >= 0) {
		int one = 1, zero = 0;
		/* a restarted daemon must not wait for TIME_WAIT connections */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ss->ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, any ? &zero : &one, sizeof(int));
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		    bind(fd, (const struct sockaddr *)ss, sl) < 0 || listen(fd, SOMAXCONN) < 0) {
			e = -errno;
			close(fd);
		}
	}
	if (e == 0) {
		*out = fd;
		return 0;
	}
	if (any && (e == -EAFNOSUPPORT || e == -EADDRNOTAVAIL)) {
		/* no IPv6 here: every IPv4 address then */
		struct sockaddr_storage v4;
		memset(&v4, 0, sizeof(v4));
		struct sockaddr_in *a4 = (struct sockaddr_in *)&v4;
		a4->sin_family = AF_INET;
		a4->sin_port = ((const struct sockaddr_in6 *)ss)->sin6_port;
		a4->sin_addr.s_addr = htonl(INADDR_ANY);
		return open_listener(&v4, sizeof(*a4), false, out);
	}
	return e;
}

/* ---- HTTP transactions -------------------------------------------------- */

static void conn_reset_http(struct conn *c)
{
	free(c->path);
	free(c->query);
	free(c->auth);
	free(c->ctype);
	free(c->body);
	free(c->resp.body);
	struct lws *wsi = c->wsi;
	memset(c, 0, offsetof(struct conn, wr));
	c->wsi = wsi;
}

static void conn_reset_ws(struct conn *c)
{
	free(c->rx);
	c->rx = NULL;
	c->rx_len = c->rx_cap = 0;
	while (c->q_head) {
		struct ws_msg *m = c->q_head;
		c->q_head = m->next;
		free(m);
	}
	c->q_tail = NULL;
	c->q_bytes = 0;
	c->wr = NULL;
	c->opened = c->closing = false;
	c->user = NULL;
}

static char *hdr_dup(struct lws *wsi, enum lws_token_indexes t)
{
	int n = lws_hdr_total_length(wsi, t);
	if (n <= 0)
		return NULL;
	char *s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	if (lws_hdr_copy(wsi, s, n + 1, t) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

static char *query_dup(struct lws *wsi)
{
	int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
	if (total <= 0)
		return strdup("");
	size_t cap = (size_t)total * 2 + 2; /* fragments plus their '&' */
	char *q = malloc(cap);
	if (!q)
		return NULL;
	size_t len = 0;
	for (int i = 0;; i++) {
		int n = lws_hdr_copy_fragment(wsi, q + len + (len ? 1 : 0), (int)(cap - len - 1),
					      WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n < 0)
			break;
		if (len)
			q[len++] = '&';
		len += (size_t)n;
	}
	q[len] = '\0';
	return q;
}

static void peer_of(struct lws *wsi, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!lws_get_peer_simple(wsi, buf, len))
		buf[0] = '\0';
	/* dual-stack listeners see IPv4 peers as ::ffff:a.b.c.d */
	if (strncasecmp(buf, "::ffff:", 7) == 0 && strchr(buf + 7, '.'))
		memmove(buf, buf + 7, strlen(buf + 7) + 1);
}

static const char *method_name(struct lws *wsi)
{
	char *uri;
	int ulen;
	switch (lws_http_get_uri_and_method(wsi, &uri, &ulen)) {
	case LWSHUMETH_GET: return "GET";
	case LWSHUMETH_POST: return "POST";
	case LWSHUMETH_OPTIONS: return "OPTIONS";
	case LWSHUMETH_PUT: return "PUT";
	case LWSHUMETH_PATCH: return "PATCH";
	case LWSHUMETH_DELETE: return "DELETE";
	case LWSHUMETH_HEAD: return "HEAD";
	default: return NULL; /* CONNECT, h2 pseudo-headers, unknown */
	}
}

static bool prefix_matches(const struct route *r, const char *path)
{
	if (strncmp(path, r->prefix, r->plen) != 0)
		return false;
	return r->prefix[r->plen - 1] == '/' || path[r->plen] == '\0' || path[r->plen] == '/';
}

static bool method_matches(const char *route_m, const char *m)
{
	if (!route_m || strcmp(route_m, m) == 0)
		return true;
	return strcmp(m, "HEAD") == 0 && strcmp(route_m, "GET") == 0;
}

/* The route for method+path; NULL with *found_prefix set when only the
 * method is wrong (c->allow then lists the methods). */
static const struct route *find_route(struct sr_http *h, struct conn *c, const char *m, const char *path,
				      bool *found_prefix)
{
	size_t best = 0;
	*found_prefix = false;
	for (size_t i = 0; i < h->nroutes; i++)
		if (h->routes[i].plen > best && prefix_matches(&h->routes[i], path))
			best = h->routes[i].plen;
	if (!best)
		return NULL;
	*found_prefix = true;
	const struct route *hit = NULL;
	c->allow[0] = '\0';
	for (size_t i = 0; i < h->nroutes; i++) {
		const struct route *r = &h->routes[i];
		if (r->plen != best || !prefix_matches(r, path))
			continue;
		if (method_matches(r->method, m)) {
			/* an exact method beats "any" */
			if (!hit || (r->method && !hit->method))
				hit = r;
			continue;
		}
		size_t al = strlen(c->allow);
		snprintf(c->allow + al, sizeof(c->allow) - al, "%s%s", al ? ", " : "", r->method);
		if (strcmp(r->method, "GET") == 0 && !strstr(c->allow, "HEAD")) {
			al = strlen(c->allow);
			snprintf(c->allow + al, sizeof(c->allow) - al, ", HEAD");
		}
	}
	return hit;
}

static void set_json(struct sr_http_resp *r, int status, const char *json)
{
	free(r->body);
	r->status = status;
	r->content_type = "application/json";
	r->body = strdup(json);
	r->body_len = r->body ? strlen(r->body) : 0;
	memset(r->headers, 0, sizeof(r->headers));
}

static int start_response(struct conn *c)
{
	c->wstate = W_HEADERS;
	c->sent = 0;
	lws_callback_on_writable(c->wsi);
	return 0;
}

/* An error answered before the request was read to its end: the rest of
 * the body may still be in flight, so the connection closes after it. */
static int respond_early(struct conn *c, int status, const char *json)
{
	c->dispatched = true;
	c->close_after = true;
	set_json(&c->resp, status, json);
	return start_response(c);
}

static void dispatch(struct sr_http *h, struct conn *c)
{
	c->dispatched = true;
	struct sr_http_resp *resp = &c->resp;
	bool found_prefix;
	const struct route *r = find_route(h, c, c->method, c->path, &found_prefix);
	if (!r) {
		if (found_prefix) {
			set_json(resp, 405, "{\"error\":\"method not allowed\"}");
			resp->headers[0].name = "Allow";
			resp->headers[0].value = c->allow;
		} else {
			set_json(resp, 404, "{\"error\":\"not found\"}");
		}
		start_response(c);
		return;
	}
	if (!c->body && !(c->body = calloc(1, 1))) {
		set_json(resp, 500, "{\"error\":\"out of memory\"}");
		start_response(c);
		return;
	}
	struct sr_http_req req = {
		.method = c->method,
		.path = c->path,
		.query = c->query ? c->query : "",
		.body = c->body,
		.body_len = c->body_len,
		.remote = c->remote,
		.header_authorization = c->auth,
		.content_type = c->ctype,
		.priv_ = c->wsi,
	};
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
	/* the handler may add routes (moving the array): keep the prefix,
	 * whose string stays put until sr_http_free */
	const char *prefix = r->prefix;
	r->fn(r->data, &req, resp);
	if (h->dead) /* freed by the handler: nothing more is sent */
		return;
	if (resp->status < 200 || resp->status > 599 || (resp->body_len && !resp->body)) {
		sr_log(SR_LOG_ERROR, "http: handler for %s gave a bad response (status %d)", prefix,
		       resp->status);
		set_json(resp, 500, "{\"error\":\"internal error\"}");
	}
	if (resp->status == 204 || resp->status == 304) {
		/* these never carry a body */
		free(resp->body);
		resp->body = NULL;
		resp->body_len = 0;
	}
	start_response(c);
}

static bool header_ok(const struct sr_http_header *hd)
{
	if (!hd->value || !*hd->name || strpbrk(hd->value, "\r\n"))
		return false;
	for (const char *p = hd->name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_'))
			return false;
	return true;
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
		      unsigned char *end)
{
	char n[80];
	size_t nl = strlen(name);
	if (nl + 2 > sizeof(n))
		return -1;
	for (size_t i = 0; i < nl; i++)
		n[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
	n[nl] = ':';
	n[nl + 1] = '\0';
	return lws_add_http_header_by_name(wsi, (const unsigned char *)n, (const unsigned char *)value,
					   (int)strlen(value), p, end);
}

static int write_headers(struct sr_http *h, struct conn *c)
{
	unsigned char *start = h->wbuf + LWS_PRE, *p = start, *end = start + WRITE_CHUNK;
	const struct sr_http_resp *r = &c->resp;
	const char *ct = r->content_type ? r->content_type : "application/json";
	if (strpbrk(ct, "\r\n"))
		ct = "application/octet-stream";
	if (lws_add_http_common_headers(c->wsi, (unsigned)r->status, ct, r->body_len, &p, end) ||
	    add_header(c->wsi, "cache-control", "no-store", &p, end) ||
	    add_header(c->wsi, "x-content-type-options", "nosniff", &p, end) ||
	    add_header(c->wsi, "x-frame-options", "DENY", &p, end))
		return -1;
	if (c->close_after && add_header(c->wsi, "connection", "close", &p, end))
		return -1;
	for (int i = 0; i < SR_HTTP_RESP_MAX_HEADERS && r->headers[i].name; i++) {
		if (!header_ok(&r->headers[i])) {
			sr_log(SR_LOG_WARN, "http: dropping a malformed response header");
			continue;
		}
		/* lws checks the room before writing anything */
		if (add_header(c->wsi, r->headers[i].name, r->headers[i].value, &p, end))
			sr_log(SR_LOG_WARN, "http: dropping a response header that does not fit");
	}
	return lws_finalize_write_http_header(c->wsi, start, &p, end) ? -1 : 0;
}

/* Ends the transaction: -1 closes the connection (lws then calls
 * CLOSED_HTTP), 0 keeps it for the next request. */
static int finish(struct conn *c)
{
	bool close_after = c->close_after;
	struct lws *wsi = c->wsi;
	conn_reset_http(c);
	if (close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int on_writeable(struct sr_http *h, struct conn *c)
{
	if (c->wstate == W_HEADERS) {
		if (write_headers(h, c) < 0)
			return -1;
		if (!c->resp.body_len || c->head)
			return finish(c);
		c->wstate = W_BODY;
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	if (c->wstate != W_BODY)
		return 0;
	size_t n = c->resp.body_len - c->sent;
	if (n > WRITE_CHUNK)
		n = WRITE_CHUNK;
	bool last = c->sent + n == c->resp.body_len;
	memcpy(h->wbuf + LWS_PRE, c->resp.body + c->sent, n);
	if (lws_write(c->wsi, h->wbuf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
		return -1;
	c->sent += n;
	if (last)
		return finish(c);
	lws_callback_on_writable(c->wsi);
	return 0;
}

/* lws 4.1 ignores "Expect: 100-continue", so such clients (curl does it
 * for bodies over 1 MiB, or when told) would wait a second before sending
 * the body; the interim answer is a fixed line, sent before any header. */
static int expect_continue(struct lws *wsi)
{
	char ex[32];
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_EXPECT) <= 0 ||
	    lws_hdr_copy(wsi, ex, sizeof(ex), WSI_TOKEN_HTTP_EXPECT) <= 0 || strcasecmp(ex, "100-continue") != 0)
		return 0;
	static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
	unsigned char buf[LWS_PRE + sizeof(line)];
	memcpy(buf + LWS_PRE, line, sizeof(line) - 1);
	return lws_write(wsi, buf + LWS_PRE, sizeof(line) - 1, LWS_WRITE_HTTP) < (int)sizeof(line) - 1 ? -1 : 0;
}

static int on_http(struct sr_http *h, struct conn *c, struct lws *wsi, const char *uri, size_t len)
{
	conn_reset_http(c);
	c->kind = CONN_HTTP;
	c->wsi = wsi;
	c->method = method_name(wsi);
	peer_of(wsi, c->remote, sizeof(c->remote));
	if (!c->method)
		return respond_early(c, 405, "{\"error\":\"method not allowed\"}");
	c->head = strcmp(c->method, "HEAD") == 0;
	c->path = malloc(len + 1);
	c->query = query_dup(wsi);
	if (!c->path || !c->query)
		return -1;
	memcpy(c->path, uri, len);
	c->path[len] = '\0';
	c->auth = hdr_dup(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
	c->ctype = hdr_dup(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);

	char cl[32] = "";
	bool has_cl = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
		      lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
	if (!has_cl && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
		return respond_early(c, 411, "{\"error\":\"length required\"}");
	unsigned long long n = 0;
	if (has_cl) {
		char *e;
		errno = 0;
		n = strtoull(cl, &e, 10);
		if (errno || *e || cl[0] == '-')
			return respond_early(c, 400, "{\"error\":\"bad content-length\"}");
	}
	if (n > SR_HTTP_MAX_BODY)
		return respond_early(c, 413, "{\"error\":\"request body too large\"}");
	if (n == 0) {
		dispatch(h, c);
		return 0;
	}
	c->body_expect = (size_t)n;
	c->body = malloc((size_t)n + 1);
	if (!c->body)
		return respond_early(c, 500, "{\"error\":\"out of memory\"}");
	c->body[0] = '\0';
	return expect_continue(wsi);
}

static int on_body(struct conn *c, const void *in, size_t len)
{
	if (c->dispatched || !c->body)
		return 0; /* answered early; the rest is discarded */
	if (len > c->body_expect - c->body_len)
		return respond_early(c, 400, "{\"error\":\"body longer than content-length\"}");
	memcpy(c->body + c->body_len, in, len);
	c->body_len += len;
	c->body[c->body_len] = '\0';
	return 0;
}

/* ---- WebSocket ---------------------------------------------------------- */

static const struct ws_route *find_ws(struct sr_http *h, const char *path)
{
	for (size_t i = 0; i < h->nws; i++)
		if (strcmp(h->ws[i]->path, path) == 0)
			return h->ws[i];
	return NULL;
}

static const struct ws_route *ws_route_of(struct sr_http *h, struct lws *wsi)
{
	char path[512];
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0 ||
	    lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0)
		return NULL;
	return find_ws(h, path);
}

static int on_ws_open(struct sr_http *h, struct conn *c, struct lws *wsi)
{
	conn_reset_http(c);
	conn_reset_ws(c);
	c->kind = CONN_WS;
	c->wsi = wsi;
	c->wr = ws_route_of(h, wsi);
	if (!c->wr || h->dead)
		return -1;
	peer_of(wsi, c->remote, sizeof(c->remote));
	char path[512] = "";
	lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI);
	char *query = query_dup(wsi);
	char *auth = hdr_dup(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
	struct sr_http_req req = {
		.method = "GET",
		.path = path,
		.query = query ? query : "",
		.body = "",
		.remote = c->remote,
		.header_authorization = auth,
		.priv_ = wsi,
	};
	/* open during on_open, so it can send a greeting */
	c->opened = true;
	int rc = c->wr->ops.on_open ? c->wr->ops.on_open(c->wr->data, (struct sr_http_ws *)c, &req) : 0;
	free(query);
	free(auth);
	if (rc || h->dead) {
		c->opened = false; /* refused: no on_close */
		return -1;
	}
	return 0;
}

static int on_ws_receive(struct sr_http *h, struct conn *c, struct lws *wsi, const void *in, size_t len)
{
	if (!c->opened || c->closing || h->dead)
		return 0;
	if (lws_is_first_fragment(wsi))
		c->rx_len = 0;
	if (len > SR_HTTP_WS_MAX_MSG - c->rx_len) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
		return -1;
	}
	if (c->rx_len + len + 1 > c->rx_cap) {
		size_t cap = c->rx_cap ? c->rx_cap : 1024;
		while (cap < c->rx_len + len + 1)
			cap *= 2;
		char *n = realloc(c->rx, cap);
		if (!n)
			return -1;
		c->rx = n;
		c->rx_cap = cap;
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	c->rx[c->rx_len] = '\0';
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return 0;
	size_t n = c->rx_len;
	c->rx_len = 0;
	if (c->wr->ops.on_message)
		c->wr->ops.on_message(c->wr->data, (struct sr_http_ws *)c, c->rx, n,
				      lws_frame_is_binary(wsi) != 0);
	return 0;
}

static int on_ws_writeable(struct conn *c, struct lws *wsi)
{
	struct ws_msg *m = c->q_head;
	if (m) {
		c->q_head = m->next;
		if (!c->q_head)
			c->q_tail = NULL;
		c->q_bytes -= m->len;
		int rc = lws_write(wsi, m->buf + LWS_PRE, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
		bool short_write = rc < (int)m->len;
		free(m);
		if (short_write)
			return -1;
	}
	if (c->q_head) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (c->closing) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	return 0;
}

static void on_ws_closed(struct conn *c)
{
	bool opened = c->opened;
	const struct ws_route *wr = c->wr;
	c->opened = false;
	/* also during sr_http_free, so owners can drop their references */
	if (opened && wr && wr->ops.on_close)
		wr->ops.on_close(wr->data, (struct sr_http_ws *)c);
	conn_reset_ws(c);
	c->kind = CONN_NONE;
}

/* ---- the lws protocol callback ------------------------------------------ */

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct sr_http *h = ctx ? lws_context_user(ctx) : NULL;
	struct conn *c = user;
	if (!h)
		return lws_callback_http_dummy(wsi, reason, user, in, len);

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		if (!c || h->dead)
			return -1;
		return on_http(h, c, wsi, in ? in : "/", in ? strlen(in) : 1);
	case LWS_CALLBACK_HTTP_BODY:
		return c && !h->dead ? on_body(c, in, len) : -1;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!c || h->dead)
			return -1;
		if (!c->dispatched) {
			if (c->body_len != c->body_expect)
				return respond_early(c, 400, "{\"error\":\"short body\"}");
			dispatch(h, c);
		}
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!c || h->dead)
			return -1;
		return on_writeable(h, c);
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		/* only WebSocket upgrades to a registered path; never h2c */
		if (!in || strcmp(in, "websocket") != 0 || h->dead || !ws_route_of(h, wsi))
			return -1;
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		if (!c)
			return -1;
		return on_ws_open(h, c, wsi);
	case LWS_CALLBACK_RECEIVE:
		return c ? on_ws_receive(h, c, wsi, in, len) : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c ? on_ws_writeable(c, wsi) : -1;
	case LWS_CALLBACK_CLOSED:
		if (c)
			on_ws_closed(c);
		return 0;
	case LWS_CALLBACK_RAW_ADOPT:
	case LWS_CALLBACK_RAW_RX:
	case LWS_CALLBACK_RAW_WRITEABLE:
		/* lws turns a CONNECT request into a raw socket with no timeout:
		 * we proxy nothing, so it is closed */
		return -1;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (c && c->kind == CONN_HTTP) {
			conn_reset_http(c);
			c->kind = CONN_NONE;
		}
		return 0;
	default:
		/* lws_callback_http_dummy would serve mounts and files: we have
		 * none, and answer nothing else */
		return 0;
	}
}

/* ---- lifecycle ---------------------------------------------------------- */

int sr_http_new(struct sr_loop *loop, const char *listen_addr, struct sr_http **out, char *err,
		size_t errlen)
{
	if (out)
		*out = NULL;
	if (!loop || !listen_addr || !out) {
		seterr(err, errlen, "http: bad arguments");
		return -EINVAL;
	}
	struct sockaddr_storage ss;
	socklen_t sl;
	bool any;
	if (parse_addr(listen_addr, &ss, &sl, &any) < 0) {
		seterr(err, errlen,
		       "http: bad listen address \"%.64s\" (want 127.0.0.1:8080, [::1]:8080 or :8080)",
		       listen_addr);
		return -EINVAL;
	}
	struct sr_http *h = calloc(1, sizeof(*h));
	if (!h) {
		seterr(err, errlen, "http: out of memory");
		return -ENOMEM;
	}
	h->loop = loop;
	h->lfd = -1;
	int rc = open_listener(&ss, sl, any, &h->lfd);
	if (rc < 0) {
		seterr(err, errlen, "http: cannot listen on %.64s: %s", listen_addr, strerror(-rc));
		free(h);
		return rc;
	}
	struct sockaddr_storage bound;
	socklen_t bl = sizeof(bound);
	if (getsockname(h->lfd, (struct sockaddr *)&bound, &bl) == 0)
		h->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
							    : ((struct sockaddr_in *)&bound)->sin_port);

	if (uv_loop_init(&h->uv) != 0) {
		seterr(err, errlen, "http: cannot start libuv");
		close(h->lfd);
		free(h);
		return -EIO;
	}
	h->uv_ready = true;
	h->foreign_loops[0] = &h->uv;
	h->protocols[0] = (struct lws_protocols){
		.name = "http",
		.callback = http_cb,
		.per_session_data_size = sizeof(struct conn),
		.rx_buffer_size = 0,
	};

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* we accept and hand over */
	info.protocols = h->protocols;
	/* a foreign libuv loop: lws installs no signal handlers of its own
	 * (with a loop of its own it would take SIGINT, SIGTERM, SIGHUP...) */
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8 |
		       LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	info.foreign_loops = h->foreign_loops;
	info.pcontext = &h->ctx;
	info.user = h;
	info.vhost_name = "smrelay";
	info.server_string = "smrelay";
	info.keepalive_timeout = 5;
	info.timeout_secs = 10;
	info.max_http_header_data = 8192;
	info.max_http_header_pool = 128;
	h->ctx = lws_create_context(&info);
	if (!h->ctx) {
		seterr(err, errlen,
		       "http: cannot start libwebsockets (is its libuv plugin, package "
		       "libwebsockets-evlib-uv, installed?)");
		http_destroy(h);
		return -EIO;
	}
	h->vh = lws_get_vhost_by_name(h->ctx, "smrelay");
	if (!h->vh) {
		seterr(err, errlen, "http: libwebsockets made no vhost");
		http_destroy(h);
		return -EIO;
	}
	if ((rc = sr_loop_watch(loop, uv_backend_fd(&h->uv), SR_EV_READ, uwatch_cb, h, &h->uwatch)) < 0 ||
	    (rc = sr_loop_watch(loop, h->lfd, SR_EV_READ, listen_cb, h, &h->lwatch)) < 0) {
		seterr(err, errlen, "http: cannot watch: %s", strerror(-rc));
		http_destroy(h);
		return rc;
	}
	sync_timer(h);
	*out = h;
	return 0;
}

/* Closes lws's connections and handles. With a foreign libuv loop lws 4.1
 * destroys in two calls: the first closes everything and its libuv handles
 * (whose close callbacks need loop passes), the second frees the context
 * once they are gone; lws then clears h->ctx. */
static void destroy_lws(struct sr_http *h)
{
	if (!h->ctx)
		return;
	lws_context_destroy(h->ctx);
	for (int i = 0; i < TEARDOWN_MAX_PASSES && h->ctx && uv_loop_alive(&h->uv); i++)
		uv_run(&h->uv, UV_RUN_NOWAIT);
	if (h->ctx)
		lws_context_destroy(h->ctx);
	for (int i = 0; i < TEARDOWN_MAX_PASSES && uv_loop_alive(&h->uv); i++)
		uv_run(&h->uv, UV_RUN_NOWAIT);
}

static void http_destroy(struct sr_http *h)
{
	h->tearing_down = true;
	h->dead = true; /* lws's close callbacks run no handler, only on_close */
	if (h->lwatch)
		sr_watch_remove(h->lwatch);
	if (h->lfd >= 0)
		close(h->lfd);
	if (h->accept_retry)
		sr_timer_cancel(h->accept_retry);
	while (h->pend_head)
		pend_drop(h, h->pend_head);
	if (h->pend_timer)
		sr_timer_cancel(h->pend_timer);
	h->pend_timer = NULL;
	if (h->utimer)
		sr_timer_cancel(h->utimer);
	sr_loop_defer_cancel(h->loop, step_defer_cb, h);
	h->lwatch = NULL;
	h->accept_retry = h->utimer = NULL;
	h->depth++; /* callbacks during teardown must not tear down again */
	destroy_lws(h);
	h->depth--;
	if (h->uwatch)
		sr_watch_remove(h->uwatch);
	h->uwatch = NULL;
	if (h->uv_ready && uv_loop_close(&h->uv) != 0) {
		/* a handle is still open: freeing would leave libuv pointing at
		 * freed memory, so this is leaked instead */
		sr_log(SR_LOG_ERROR, "http: libuv loop still busy at teardown; leaking it");
		return;
	}
	for (size_t i = 0; i < h->nroutes; i++) {
		free(h->routes[i].method);
		free(h->routes[i].prefix);
	}
	free(h->routes);
	for (size_t i = 0; i < h->nws; i++) {
		free(h->ws[i]->path);
		free(h->ws[i]);
	}
	free(h->ws);
	free(h);
}

void sr_http_free(struct sr_http *h)
{
	if (!h || h->dead || h->tearing_down)
		return;
	if (h->depth > 0) {
		/* inside one of our callbacks: lws is on the stack */
		h->dead = true;
		return;
	}
	http_destroy(h);
}

/* ---- routes and accessors ----------------------------------------------- */

static bool method_valid(const char *m)
{
	static const char *const ok[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(m, ok[i]) == 0)
			return true;
	return false;
}

int sr_http_route(struct sr_http *h, const char *method, const char *path_prefix, sr_http_handler fn,
		  void *data)
{
	if (!h || h->dead || !path_prefix || path_prefix[0] != '/' || !fn || (method && !method_valid(method)))
		return -EINVAL;
	for (size_t i = 0; i < h->nroutes; i++) {
		struct route *r = &h->routes[i];
		if (strcmp(r->prefix, path_prefix) == 0 &&
		    ((!r->method && !method) || (r->method && method && strcmp(r->method, method) == 0))) {
			r->fn = fn;
			r->data = data;
			return 0;
		}
	}
	struct route r = {.prefix = strdup(path_prefix), .fn = fn, .data = data};
	r.method = method ? strdup(method) : NULL;
	struct route *n = realloc(h->routes, (h->nroutes + 1) * sizeof(*n));
	if (!r.prefix || (method && !r.method) || !n) {
		free(r.prefix);
		free(r.method);
		if (n)
			h->routes = n;
		return -ENOMEM;
	}
	r.plen = strlen(r.prefix);
	h->routes = n;
	h->routes[h->nroutes++] = r;
	return 0;
}

unsigned sr_http_port(const struct sr_http *h)
{
	return h ? h->port : 0;
}

int sr_http_req_header(const struct sr_http_req *req, const char *name, char *buf, size_t len)
{
	if (!req || !req->priv_ || !name || !*name || !buf || !len || len > INT32_MAX)
		return -EINVAL;
	struct lws *wsi = req->priv_;
	size_t nl = strlen(name);
	/* lws parses about a hundred known headers into tokens */
	for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
		const char *s = (const char *)lws_token_to_string((enum lws_token_indexes)t);
		if (!s || strncasecmp(s, name, nl) != 0 || s[nl] != ':' || s[nl + 1])
			continue;
		int n = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
		if (n <= 0)
			return -ENOENT;
		if ((size_t)n >= len)
			return -ENOSPC;
		return lws_hdr_copy(wsi, buf, (int)len, (enum lws_token_indexes)t) < 0 ? -ENOSPC : 0;
	}
	/* others are kept by name, lowercased, with the colon */
	char key[128];
	if (nl + 2 > sizeof(key))
		return -ENOENT;
	for (size_t i = 0; i < nl; i++)
		key[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
	key[nl] = ':';
	key[nl + 1] = '\0';
	int n = lws_hdr_custom_length(wsi, key, (int)nl + 1);
	if (n < 0)
		return -ENOENT;
	if ((size_t)n >= len)
		return -ENOSPC;
	return lws_hdr_custom_copy(wsi, buf, (int)len, key, (int)nl + 1) < 0 ? -ENOSPC : 0;
}

int sr_http_req_arg(const struct sr_http_req *req, const char *name, char *buf, size_t len)
{
	if (!req || !req->priv_ || !name || !*name || strchr(name, '=') || !buf || !len ||
	    len > INT32_MAX)
		return -EINVAL;
	struct lws *wsi = req->priv_;
	int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
	if (total <= 0)
		return -ENOENT;
	size_t nl = strlen(name);
	char *key = malloc(nl + 2), *tmp = malloc((size_t)total + 1);
	if (!key || !tmp) {
		free(key);
		free(tmp);
		return -ENOMEM;
	}
	memcpy(key, name, nl);
	key[nl] = '=';
	key[nl + 1] = '\0';
	const char *v = lws_get_urlarg_by_name(wsi, key, tmp, total + 1);
	int rc = -ENOENT;
	if (v) {
		size_t vl = strlen(v);
		rc = vl < len ? 0 : -ENOSPC;
		if (rc == 0)
			memcpy(buf, v, vl + 1);
	}
	free(key);
	free(tmp);
	return rc;
}

/* ---- WebSocket API ------------------------------------------------------ */

int sr_http_ws_route(struct sr_http *h, const char *path, const struct sr_http_ws_ops *ops, void *data)
{
	if (!h || h->dead || !path || path[0] != '/' || !ops || !ops->on_message)
		return -EINVAL;
	if (find_ws(h, path))
		return -EEXIST;
	/* open connections point at their route: each is allocated on its own
	 * so growing the array never moves one */
	struct ws_route **n = realloc(h->ws, (h->nws + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	h->ws = n;
	struct ws_route *r = calloc(1, sizeof(*r));
	if (!r || !(r->path = strdup(path))) {
		free(r);
		return -ENOMEM;
	}
	r->ops = *ops;
	r->data = data;
	h->ws[h->nws++] = r;
	return 0;
}

int sr_http_ws_send(struct sr_http_ws *ws, const void *msg, size_t len, bool binary)
{
	if (!ws || (!msg && len))
		return -EINVAL;
	struct conn *c = &ws->c;
	struct sr_http *h = lws_context_user(lws_get_context(c->wsi));
	if (!c->opened || c->closing || h->dead || h->tearing_down)
		return -EPIPE;
	if (len > SR_HTTP_WS_MAX_QUEUE - c->q_bytes)
		return -ENOBUFS;
	struct ws_msg *m = malloc(sizeof(*m) + LWS_PRE + len);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->len = len;
	m->binary = binary;
	if (len)
		memcpy(m->buf + LWS_PRE, msg, len);
	if (c->q_tail)
		c->q_tail->next = m;
	else
		c->q_head = m;
	c->q_tail = m;
	c->q_bytes += len;
	lws_callback_on_writable(c->wsi);
	/* outside a pass libuv only registers the new interest on its next
	 * pass */
	if (h->depth == 0)
		kick(h);
	return 0;
}

void sr_http_ws_close(struct sr_http_ws *ws)
{
	if (!ws || !ws->c.opened || ws->c.closing)
		return;
	struct sr_http *h = lws_context_user(lws_get_context(ws->c.wsi));
	ws->c.closing = true;
	if (h->dead || h->tearing_down)
		return;
	lws_callback_on_writable(ws->c.wsi);
	if (h->depth == 0)
		kick(h);
}

void sr_http_ws_set_user(struct sr_http_ws *ws, void *user)
{
	if (ws)
		ws->c.user = user;
}

void *sr_http_ws_user(const struct sr_http_ws *ws)
{
	return ws ? ws->c.user : NULL;
}
