/* mm_conn.c — glue: REST requests through the pacer onto mm_http, the
 * start-up check (GET /users/me), and the WebSocket (see mm_conn.h). */
#include "mm_conn.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_http.h"
#include "mm_ws.h"

#define MAX_CONNECT_RETRIES 5

struct req {
	struct mm_pacer_entry pe; /* first: pacer entries cast back to req */
	struct mm_conn *c;
	struct req *prev, *next; /* c->reqs: every live request */
	struct req *dnext;       /* c->done: completions waiting for step */
	long id;
	char method[8];
	char *path; /* for messages (never holds a secret) */
	char *url;
	char *body;
	char *key;
	mm_rest_cb cb;
	void *data;
	struct mm_http_xfer *xfer;
	unsigned conn_failures;
	bool internal;  /* GET /users/me at start */
	bool in_done;
	int rc; /* for the done list */
	char msg[160];
};

struct mm_conn {
	struct mm_conn_opts o;
	char *rest_base; /* scheme://host[:port][/prefix] */
	struct mm_http *http;
	struct mm_ws *ws;
	struct mm_pacer *pacer;
	struct req *reqs;
	struct req *done, *done_tail;
	long next_id;
	uint64_t pacer_wake;
	uint64_t me_retry_at; /* 0: none planned */
	unsigned me_failures;
	bool fatal;
	char user_id[64];
	unsigned long failed;
};

static void req_free(struct req *r)
{
	free(r->path);
	free(r->url);
	free(r->body);
	free(r->key);
	free(r);
}

static void req_unlink(struct mm_conn *c, struct req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else if (c->reqs == r)
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void done_push(struct mm_conn *c, struct req *r, int rc, const char *msg)
{
	r->rc = rc;
	snprintf(r->msg, sizeof(r->msg), "%s", msg);
	r->in_done = true;
	r->dnext = NULL;
	if (c->done_tail)
		c->done_tail->dnext = r;
	else
		c->done = r;
	c->done_tail = r;
}

static void done_remove(struct mm_conn *c, struct req *r)
{
	struct req **pp = &c->done, *prev = NULL;
	while (*pp && *pp != r) {
		prev = *pp;
		pp = &(*pp)->dnext;
	}
	if (!*pp)
		return;
	*pp = r->dnext;
	if (c->done_tail == r)
		c->done_tail = prev;
	r->in_done = false;
}

static int status_rc(long status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
		return -EACCES;
	case 403:
		return -EPERM;
	case 404:
		return -ENOENT;
	case 413:
		return -E2BIG;
	case 429:
		return -EBUSY;
	default:
		return -EIO;
	}
}

static unsigned backoff_ms(unsigned failures, unsigned lo, unsigned hi)
{
	uint64_t d = lo;
	for (unsigned i = 0; i < failures && d < hi; i++)
		d *= 2;
	return (unsigned)(d > hi ? hi : d);
}

static void start_me(struct mm_conn *c);

/* GET /users/me answered (or failed for good). */
static void me_done(struct mm_conn *c, int rc, long status, const cJSON *body, const char *msg)
{
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "id"));
	if (rc == 0 && id && *id) {
		snprintf(c->user_id, sizeof(c->user_id), "%s", id);
		mm_ws_start(c->ws);
		return;
	}
	char why[400];
	if (status == 401 || status == 403) {
		c->fatal = true;
		snprintf(why, sizeof(why), "token rejected: %s", msg);
		if (c->o.on_status)
			c->o.on_status(c->o.data, -1, why);
		return;
	}
	unsigned ms = backoff_ms(c->me_failures++, c->o.reconnect_min_ms, c->o.reconnect_max_ms);
	c->me_retry_at = mm_now_ms() + ms;
	snprintf(why, sizeof(why), "%s; retrying in %u ms",
		 rc == 0 ? "GET /api/v4/users/me: no user id in the answer" : msg, ms);
	if (c->o.on_status)
		c->o.on_status(c->o.data, 0, why);
}

/* Hands a finished request to its owner and frees it. */
static void finish(struct mm_conn *c, struct req *r, int rc, long status, const cJSON *body,
		   const char *msg)
{
	req_unlink(c, r);
	if (rc < 0 && rc != -ECANCELED)
		c->failed++;
	if (r->internal) {
		me_done(c, rc, status, body, msg);
	} else if (r->cb) {
		/* r is already unlinked: cancelling it from here is a no-op. */
		r->cb(r->data, rc, status, body, msg);
	}
	req_free(r);
}

static void supersede(struct mm_conn *c, struct mm_pacer_entry *e)
{
	if (e)
		done_push(c, (struct req *)e, -ECANCELED,
			  "superseded by a newer request with the same key");
}

/* "POST /api/v4/posts: HTTP 400: <message> (<id>)" from an AppError body,
 * or the start of a non-JSON body (a 429 is plain text). */
static void http_msg(char *out, size_t len, const struct req *r, long status, const cJSON *j,
		     const char *text)
{
	const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "message"));
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "id"));
	if (m)
		snprintf(out, len, "%s %s: HTTP %ld: %.200s%s%.80s%s", r->method, r->path, status, m,
			 id ? " (" : "", id ? id : "", id ? ")" : "");
	else {
		size_t n = strcspn(text, "\r\n");
		snprintf(out, len, "%s %s: HTTP %ld%s%.*s", r->method, r->path, status,
			 n ? ": " : "", (int)(n > 120 ? 120 : n), text);
	}
}

static void on_http(void *data, const struct mm_http_resp *resp)
{
	struct req *r = data;
	struct mm_conn *c = r->c;
	uint64_t now = mm_now_ms();
	r->xfer = NULL;

	if (resp->rc < 0 && resp->unsent && !r->internal &&
	    r->conn_failures < MAX_CONNECT_RETRIES) {
		/* Never reached the server: safe to send again, even a POST.
		 * (GET /users/me has its own retry, with a status each time.) */
		unsigned ms = backoff_ms(r->conn_failures++, 200, 5000);
		supersede(c, mm_pacer_requeue(c->pacer, &r->pe, now, now + ms));
		c->pacer_wake = 0;
		return;
	}
	struct mm_pacer_result pr = {
		.status = resp->rc < 0 ? 0 : resp->status,
		.limit = resp->rl_limit,
		.remaining = resp->rl_remaining,
		.reset_s = resp->rl_reset_s,
		.retry_after_s = resp->retry_after_s,
	};
	enum mm_pacer_verdict v = mm_pacer_done(c->pacer, &r->pe, now, &pr);
	c->pacer_wake = 0;
	if (v == MM_PACER_RETRY)
		return;
	if (v == MM_PACER_SUPERSEDED) {
		done_push(c, r, -ECANCELED, "superseded by a newer request with the same key");
		return;
	}
	char msg[400];
	if (resp->rc < 0) {
		snprintf(msg, sizeof(msg), "%s %s: %s", r->method, r->path, resp->error);
		finish(c, r, resp->rc, 0, NULL, msg);
		return;
	}
	cJSON *j = resp->len ? cJSON_ParseWithLength(resp->body, resp->len) : NULL;
	int rc = status_rc(resp->status);
	if (rc == 0)
		msg[0] = '\0';
	else
		http_msg(msg, sizeof(msg), r, resp->status, j, resp->body);
	finish(c, r, rc, resp->status, j, msg);
	cJSON_Delete(j);
}

static void start_ready(struct mm_conn *c, uint64_t now)
{
	struct mm_pacer_entry *e;
	uint64_t wake = UINT64_MAX;
	while ((e = mm_pacer_next(c->pacer, now, &wake)) != NULL) {
		struct req *r = (struct req *)e;
		int rc;
		r->xfer = mm_http_start(c->http, r->method, r->url, r->body, on_http, r, &rc);
		if (!r->xfer) {
			struct mm_pacer_result pr = {0, -1, -1, -1, -1};
			mm_pacer_done(c->pacer, e, now, &pr);
			/* Stays in c->reqs (cancel can find it) until delivered. */
			done_push(c, r, rc, "could not start the request");
		}
	}
	c->pacer_wake = wake;
}

static struct req *find_req(struct mm_conn *c, long id)
{
	for (struct req *r = c->reqs; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

static long queue_req(struct mm_conn *c, const char *method, const char *path, const cJSON *body,
		      enum mm_prio prio, const char *key, mm_rest_cb cb, void *data,
		      bool internal)
{
	struct req *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->c = c;
	r->cb = cb;
	r->data = data;
	r->internal = internal;
	snprintf(r->method, sizeof(r->method), "%s", method);
	size_t ulen = strlen(c->rest_base) + strlen(path) + 1;
	r->url = malloc(ulen);
	r->path = strdup(path);
	if (body)
		r->body = cJSON_PrintUnformatted(body);
	if (key)
		r->key = strdup(key);
	if (!r->url || !r->path || (body && !r->body) || (key && !r->key)) {
		req_free(r);
		return -ENOMEM;
	}
	snprintf(r->url, ulen, "%s%s", c->rest_base, path);
	r->id = ++c->next_id;
	r->pe.prio = prio;
	r->pe.key = r->key;
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	supersede(c, mm_pacer_push(c->pacer, &r->pe, mm_now_ms()));
	c->pacer_wake = 0;
	return r->id;
}

static void start_me(struct mm_conn *c)
{
	c->me_retry_at = 0;
	if (queue_req(c, "GET", "/api/v4/users/me", NULL, MM_PRIO_REPLY, NULL, NULL, NULL, true) <
	    0) {
		c->me_retry_at = mm_now_ms() + 1000; /* out of memory: later */
	}
}

static bool valid_method(const char *m)
{
	static const char *const ok[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(m, ok[i]) == 0)
			return true;
	return false;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

long mm_rest(struct mm_conn *c, const char *method, const char *path, const cJSON *body,
	     enum mm_prio prio, const char *coalesce_key, mm_rest_cb cb, void *data)
{
	if (!c || !method || !valid_method(method) || !path || path[0] != '/' ||
	    !printable(path) || prio < 0 || prio >= MM_PRIO_COUNT)
		return -EINVAL;
	return queue_req(c, method, path, body, prio, coalesce_key, cb, data, false);
}

void mm_rest_cancel(struct mm_conn *c, long handle)
{
	struct req *r = find_req(c, handle);
	if (!r)
		return;
	if (r->in_done)
		done_remove(c, r);
	if (r->xfer) {
		mm_http_abort(c->http, r->xfer);
		r->xfer = NULL;
	}
	mm_pacer_remove(c->pacer, &r->pe);
	req_unlink(c, r);
	req_free(r);
	c->pacer_wake = 0; /* a freed slot or key may let another go */
}

/* Parses the URL with curl's parser into the REST base and the
 * WebSocket's host, port, TLS flag and path prefix. */
static int parse_url(struct mm_conn *c, const char *url, struct mm_ws_opts *wo, char **host,
		     char **prefix, char *err, size_t errlen)
{
	int rc = -EINVAL;
	char *scheme = NULL, *h = NULL, *port = NULL, *path = NULL, *user = NULL, *query = NULL;
	CURLU *u = curl_url();
	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		snprintf(err, errlen, "Mattermost URL does not parse");
		goto out;
	}
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(u, CURLUPART_HOST, &h, 0);
	curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	if (!scheme || (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)) {
		snprintf(err, errlen, "Mattermost URL must be http:// or https://");
		goto out;
	}
	if (!h || !*h || !port) {
		snprintf(err, errlen, "Mattermost URL has no host");
		goto out;
	}
	if (user || query) {
		snprintf(err, errlen, "Mattermost URL must not carry credentials or a query");
		goto out;
	}
	size_t plen = path ? strlen(path) : 0;
	while (plen && path[plen - 1] == '/')
		plen--;
	if (!(*prefix = strndup(path ? path : "", plen))) {
		rc = -ENOMEM;
		goto out;
	}
	/* curl gives IPv6 hosts in brackets: keep them for URLs only. */
	size_t hlen = strlen(h);
	if (h[0] == '[' && hlen > 2)
		*host = strndup(h + 1, hlen - 2);
	else
		*host = strdup(h);
	size_t blen = strlen(scheme) + hlen + strlen(port) + plen + 8;
	c->rest_base = malloc(blen);
	if (!*host || !c->rest_base) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(c->rest_base, blen, "%s://%s:%s%s", scheme, h, port, *prefix);
	wo->tls = strcmp(scheme, "https") == 0;
	wo->port = (unsigned)strtoul(port, NULL, 10);
	rc = 0;
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	curl_free(scheme);
	curl_free(h);
	curl_free(port);
	curl_free(path);
	curl_free(user);
	curl_free(query);
	curl_url_cleanup(u);
	return rc;
}

int mm_conn_new(const struct mm_conn_opts *o, struct mm_conn **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!o || !o->url || !o->token || !*o->token) {
		snprintf(err, errlen, "Mattermost URL and token are required");
		return -EINVAL;
	}
	if (!printable(o->token)) {
		snprintf(err, errlen, "the token contains spaces or control characters");
		return -EINVAL;
	}
	struct mm_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->o = *o;
	c->o.url = c->o.token = c->o.ca_file = NULL; /* not kept: copies live below */
	if (!c->o.reconnect_min_ms)
		c->o.reconnect_min_ms = 1000;
	if (!c->o.reconnect_max_ms)
		c->o.reconnect_max_ms = 60000;

	struct mm_ws_opts wo = {
		.token = o->token,
		.insecure = o->insecure,
		.reconnect_min_ms = c->o.reconnect_min_ms,
		.reconnect_max_ms = c->o.reconnect_max_ms,
		.on_event = o->on_event,
		.on_connected = o->on_connected,
		.on_gap = o->on_gap,
		.on_status = o->on_status,
		.data = o->data,
	};
	char *host = NULL, *prefix = NULL;
	int rc = parse_url(c, o->url, &wo, &host, &prefix, err, errlen);
	if (rc < 0)
		goto fail;
	wo.host = host;
	wo.base_path = prefix;

	struct mm_http_opts ho = {
		.token = o->token,
		.ca_file = o->ca_file,
		.insecure = o->insecure,
		.max_host_conns = o->max_inflight ? (long)o->max_inflight : 4,
	};
	if ((rc = mm_http_new(&ho, &c->http, err, errlen)) < 0)
		goto fail;
	const char *dca = mm_http_default_ca(c->http);
	wo.ca_file = o->ca_file ? o->ca_file : (*dca ? dca : NULL);
	if ((rc = mm_ws_new(&wo, &c->ws, err, errlen)) < 0)
		goto fail;
	struct mm_pacer_opts po = {
		.rate_per_sec = o->rate_per_sec,
		.burst = o->burst,
		.max_inflight = o->max_inflight,
	};
	if (!(c->pacer = mm_pacer_new(&po, mm_now_ms()))) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	free(host);
	free(prefix);
	start_me(c);
	*out = c;
	return 0;
fail:
	free(host);
	free(prefix);
	mm_conn_free(c);
	return rc;
}

void mm_conn_free(struct mm_conn *c)
{
	if (!c)
		return;
	mm_ws_free(c->ws);
	mm_http_free(c->http); /* aborts transfers */
	mm_pacer_free(c->pacer);
	/* Every caller hears about its request once, even now: -ECANCELED,
	 * so whatever it allocated for the answer is released. */
	while (c->reqs) {
		struct req *r = c->reqs;
		c->reqs = r->next;
		if (r->cb && !r->internal)
			r->cb(r->data, -ECANCELED, 0, NULL, "the connection was closed");
		req_free(r);
	}
	free(c->rest_base);
	free(c);
}

size_t mm_conn_poll(struct mm_conn *c, struct pollfd *fds, size_t max, uint64_t *deadline_ms)
{
	uint64_t d = *deadline_ms;
	size_t n = mm_http_poll(c->http, fds, max, &d);
	n += mm_ws_poll(c->ws, fds + n, max - n, &d);
	if (c->done)
		d = 0;
	if (c->pacer_wake < d)
		d = c->pacer_wake;
	if (c->me_retry_at && c->me_retry_at < d)
		d = c->me_retry_at;
	*deadline_ms = d;
	return n;
}

static void deliver_done(struct mm_conn *c)
{
	/* Only as many as are queued now: callbacks may queue more (a new
	 * edit superseding another), which wait for the next step. */
	size_t n = 0;
	for (struct req *r = c->done; r; r = r->dnext)
		n++;
	while (n-- && c->done) {
		struct req *r = c->done;
		done_remove(c, r);
		finish(c, r, r->rc, 0, NULL, r->msg);
	}
}

void mm_conn_step(struct mm_conn *c)
{
	uint64_t now = mm_now_ms();
	mm_http_step(c->http, now);
	if (c->me_retry_at && now >= c->me_retry_at && !c->fatal)
		start_me(c);
	start_ready(c, now);
	mm_ws_step(c->ws, now);
	deliver_done(c);
	start_ready(c, mm_now_ms());
}

const char *mm_conn_user_id(const struct mm_conn *c)
{
	return c->user_id;
}

void mm_conn_stats(const struct mm_conn *c, struct mm_conn_stats *out)
{
	memset(out, 0, sizeof(*out));
	struct mm_pacer_stats ps;
	mm_pacer_stats(c->pacer, mm_now_ms(), &ps);
	out->rest_sent = ps.sent;
	out->rest_429 = ps.n429;
	out->rest_superseded = ps.superseded;
	out->rest_failed = c->failed;
	out->rest_queued = ps.queued;
	out->rest_inflight = ps.inflight;
	struct mm_ws_stats ws;
	mm_ws_stats(c->ws, &ws);
	out->ws_opens = ws.opens;
	out->ws_hellos = ws.hellos;
	out->ws_resumes = ws.resumes;
	out->ws_gaps = ws.gaps;
	out->ws_dups = ws.dups;
	out->ws_events = ws.events;
	out->ws_up = ws.up;
	snprintf(out->connection_id, sizeof(out->connection_id), "%s", ws.connection_id);
	out->next_seq = ws.next_seq;
}
