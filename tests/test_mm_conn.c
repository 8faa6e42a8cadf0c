/* test_mm_conn.c — the Mattermost transport (mm_conn) against the fake
 * Mattermost server (tests/fake_mattermost, started per test through
 * fake_mm.h), driven by a small poll(2) loop over mm_conn_poll/step the
 * way the relay's loop drives it: REST round trips and errors, events over
 * the WebSocket (large ones too), the pacer under a real rate limiter,
 * coalescing, resume after dropped WebSockets, the gap after a server
 * restart, keepalive against short Ping deadlines, a bad token, an
 * unreachable server, and TLS. Every wait is bounded; nothing uses
 * criterion's .timeout. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_mm.h"
#include "mm_conn.h"
#include "mm_http.h" /* mm_now_ms */

#define MAX_EV 512

struct ev {
	char event[32];
	long seq;
	char *post_message; /* data.post's message, for posted/post_edited */
	char *post_user;
	char *post_id;
};

struct rec {
	struct ev ev[MAX_EV];
	int nev;
	int connected, connected_resumed, gaps;
	int up, down, fatal;
	char status[512];
};

static struct fake_mm fk;
static bool fk_started;
static char tls_dir[64]; /* the TLS test's certificate, removed in teardown */
static struct rec R;
static unsigned long steps; /* mm_conn_step calls, to catch busy loops */

static void rec_free(struct rec *r)
{
	for (int i = 0; i < r->nev; i++) {
		free(r->ev[i].post_message);
		free(r->ev[i].post_user);
		free(r->ev[i].post_id);
	}
	memset(r, 0, sizeof(*r));
}

static char *dup_str(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
	return s ? strdup(s) : NULL;
}

static void on_event(void *data, const char *event, const cJSON *ev_data, const cJSON *bc,
		     long seq)
{
	(void)bc;
	struct rec *r = data;
	cr_assert_lt(r->nev, MAX_EV);
	struct ev *e = &r->ev[r->nev++];
	snprintf(e->event, sizeof(e->event), "%s", event);
	e->seq = seq;
	const cJSON *post = cJSON_GetObjectItemCaseSensitive(ev_data, "post");
	if (post) {
		/* data.post is a JSON string (reference §1.3), not an object. */
		cr_assert(cJSON_IsString(post), "data.post of %s is not a string", event);
		cJSON *p = cJSON_Parse(post->valuestring);
		cr_assert_not_null(p, "data.post does not parse");
		e->post_message = dup_str(p, "message");
		e->post_user = dup_str(p, "user_id");
		e->post_id = dup_str(p, "id");
		cJSON_Delete(p);
	}
}

static void on_connected(void *data, bool resumed)
{
	struct rec *r = data;
	r->connected++;
	r->connected_resumed += resumed;
}

static void on_gap(void *data)
{
	((struct rec *)data)->gaps++;
}

static void on_status(void *data, int up, const char *why)
{
	struct rec *r = data;
	if (up > 0)
		r->up++;
	else if (up == 0)
		r->down++;
	else
		r->fatal++;
	snprintf(r->status, sizeof(r->status), "%s", why);
}

/* A REST call's outcome. */
struct call {
	bool done;
	int rc;
	long status;
	char *body; /* printed JSON */
	char msg[400];
};

static void on_rest(void *data, int rc, long status, const cJSON *body, const char *msg)
{
	struct call *k = data;
	cr_assert(!k->done, "callback called twice");
	k->done = true;
	k->rc = rc;
	k->status = status;
	k->body = body ? cJSON_PrintUnformatted(body) : NULL;
	snprintf(k->msg, sizeof(k->msg), "%s", msg);
}

typedef bool (*cond_fn)(void *arg);

/* Runs the loop until cond holds or max_ms passed; returns cond's value. */
static bool drive(struct mm_conn *c, cond_fn cond, void *arg, unsigned max_ms)
{
	uint64_t end = mm_now_ms() + max_ms;
	for (;;) {
		if (cond && cond(arg))
			return true;
		uint64_t now = mm_now_ms();
		if (now >= end)
			return cond ? cond(arg) : true;
		struct pollfd fds[16];
		uint64_t deadline = UINT64_MAX;
		size_t n = mm_conn_poll(c, fds, 16, &deadline);
		uint64_t wait = end - now;
		if (deadline <= now)
			wait = 0;
		else if (deadline - now < wait)
			wait = deadline - now;
		if (wait > 200)
			wait = 200;
		poll(fds, (nfds_t)n, (int)wait);
		mm_conn_step(c);
		steps++;
	}
}

static bool is_connected(void *arg)
{
	(void)arg;
	return R.connected > 0;
}

static bool call_done(void *arg)
{
	return ((struct call *)arg)->done;
}

static void setup(void)
{
	memset(&R, 0, sizeof(R));
	fk_started = false;
}

static void teardown(void)
{
	if (fk_started)
		fake_mm_stop(&fk);
	rec_free(&R);
	if (tls_dir[0]) {
		char p[128];
		snprintf(p, sizeof(p), "%s/cert.pem", tls_dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/key.pem", tls_dir);
		unlink(p);
		rmdir(tls_dir);
		tls_dir[0] = '\0';
	}
}

static void start_fake(const char *args)
{
	if (!fake_mm_available())
		cr_skip_test("the fake Mattermost server cannot run here");
	cr_assert_eq(fake_mm_start(&fk, args), 0, "fake: %s", fk.err);
	fk_started = true;
}

static struct mm_conn *connect_bot(const char *token, double rate, unsigned burst,
				   unsigned inflight)
{
	struct mm_conn_opts o = {
		.url = fk.url,
		.token = token ? token : fk.bot_token,
		.rate_per_sec = rate,
		.burst = burst,
		.max_inflight = inflight,
		.reconnect_min_ms = 400,
		.reconnect_max_ms = 4000,
		.on_event = on_event,
		.on_connected = on_connected,
		.on_gap = on_gap,
		.on_status = on_status,
		.data = &R,
	};
	struct mm_conn *c;
	char err[256];
	cr_assert_eq(mm_conn_new(&o, &c, err, sizeof(err)), 0, "%s", err);
	return c;
}

static struct mm_conn *connect_ready(void)
{
	struct mm_conn *c = connect_bot(NULL, 0, 0, 0);
	cr_assert(drive(c, is_connected, NULL, 10000), "no hello: %s", R.status);
	cr_assert_str_eq(mm_conn_user_id(c), fk.bot_id);
	return c;
}

/* Calls the fake directly (test driver side) with a printf-formatted JSON
 * body (fmt NULL: none); asserts a 2xx and returns the parsed answer. */
static cJSON *fake(const char *method, const char *path, const char *fmt, ...)
{
	char body[2048];
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(body, sizeof(body), fmt, ap);
		va_end(ap);
	}
	long status = 0;
	char *out = NULL;
	cr_assert_eq(fake_mm_call(&fk, method, path, fmt ? body : NULL, &status, &out), 0,
		     "%s %s: %s", method, path, fk.err);
	cr_assert(status >= 200 && status < 300, "%s %s: HTTP %ld %s", method, path, status,
		  out ? out : "");
	cJSON *j = out ? cJSON_Parse(out) : NULL;
	free(out);
	return j;
}

static void alice_posts(const char *msg)
{
	cJSON_Delete(fake("POST", "/_fake/post",
			  "{\"user\":\"alice\",\"channel_id\":\"%s\",\"message\":\"%s\"}",
			  fk.town_id, msg));
}

static long fake_stat(const char *key)
{
	cJSON *s = fake("GET", "/_fake/stats", NULL);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, key);
	long n = cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
	cJSON_Delete(s);
	return n;
}

static long fake_requests(const char *route)
{
	cJSON *s = fake("GET", "/_fake/stats", NULL);
	const cJSON *v =
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s, "requests"),
						 route);
	long n = cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
	cJSON_Delete(s);
	return n;
}

/* The server's stored message of post id (from /_fake/posts, not through
 * the code under test); the caller frees it. */
static char *stored_message(const char *id)
{
	char path[128];
	snprintf(path, sizeof(path), "/_fake/posts?channel_id=%s", fk.town_id);
	cJSON *all = fake("GET", path, NULL);
	char *msg = NULL;
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(all, "posts"))
	{
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "id")), id) == 0)
			msg = dup_str(p, "message");
	}
	cJSON_Delete(all);
	cr_assert_not_null(msg, "post %s not on the server", id);
	return msg;
}

static int count_posted(const char *message)
{
	int n = 0;
	for (int i = 0; i < R.nev; i++)
		n += strcmp(R.ev[i].event, "posted") == 0 && R.ev[i].post_message &&
		     strcmp(R.ev[i].post_message, message) == 0;
	return n;
}

struct want_posted {
	const char *const *msgs;
	int n;
};

static bool all_posted(void *arg)
{
	struct want_posted *w = arg;
	for (int i = 0; i < w->n; i++)
		if (count_posted(w->msgs[i]) == 0)
			return false;
	return true;
}

/* Seqs delivered since index `from` rise by exactly one each time. */
static void assert_seq_consecutive(int from)
{
	for (int i = from + 1; i < R.nev; i++)
		cr_assert_eq(R.ev[i].seq, R.ev[i - 1].seq + 1, "event %d: seq %ld after %ld", i,
			     R.ev[i].seq, R.ev[i - 1].seq);
}

static cJSON *post_body(const char *channel, const char *message)
{
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "channel_id", channel);
	cJSON_AddStringToObject(b, "message", message);
	return b;
}

/* Creates a post as the bot and waits for the answer; returns its id. */
static char *bot_post(struct mm_conn *c, const char *message)
{
	struct call k = {0};
	cJSON *b = post_body(fk.town_id, message);
	cr_assert_gt(mm_rest(c, "POST", "/api/v4/posts", b, MM_PRIO_REPLY, NULL, on_rest, &k), 0);
	cJSON_Delete(b);
	cr_assert(drive(c, call_done, &k, 10000), "POST /posts never answered");
	cr_assert_eq(k.rc, 0, "POST /posts: %s", k.msg);
	cr_assert_eq(k.status, 201);
	cJSON *j = cJSON_Parse(k.body);
	char *id = dup_str(j, "id");
	cJSON_Delete(j);
	free(k.body);
	cr_assert_not_null(id);
	return id;
}

TestSuite(mm_conn, .init = setup, .fini = teardown);

Test(mm_conn, rejects_bad_options)
{
	struct mm_conn *c = NULL;
	char err[256];
	struct mm_conn_opts o = {.url = "ftp://x.example", .token = "abc"};
	cr_assert_eq(mm_conn_new(&o, &c, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "http"), "%s", err);
	o.url = "https://x.example";
	o.token = "abc\r\nX-Evil: 1";
	cr_assert_eq(mm_conn_new(&o, &c, err, sizeof(err)), -EINVAL);
	cr_assert_null(strstr(err, "Evil"), "the token leaked into the message: %s", err);
	o.token = "";
	cr_assert_eq(mm_conn_new(&o, &c, err, sizeof(err)), -EINVAL);
	o.token = "abc";
	o.url = "https://user:pw@x.example/";
	cr_assert_eq(mm_conn_new(&o, &c, err, sizeof(err)), -EINVAL);
	cr_assert_null(c);
}

Test(mm_conn, users_me_post_and_events)
{
	start_fake(NULL);
	struct mm_conn *c = connect_ready();
	cr_assert_eq(R.connected_resumed, 0);
	cr_assert_eq(R.up, 1, "status: %s", R.status);

	/* The token went in the Authorization header of the upgrade. */
	cJSON *s = fake("GET", "/_fake/stats", NULL);
	const cJSON *hdrs = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(s, "last_headers"), "GET /api/v4/websocket");
	const char *auth = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hdrs, "Authorization"));
	char want[128];
	snprintf(want, sizeof(want), "Bearer %s", fk.bot_token);
	cr_assert(auth && strcmp(auth, want) == 0, "upgrade Authorization: %s", auth ? auth : "(none)");
	cr_assert_null(cJSON_GetObjectItemCaseSensitive(hdrs, "Origin"));
	cJSON_Delete(s);

	/* The bot's own post comes back as a posted event (§1.3). */
	char *id = bot_post(c, "hello from the bot");
	const char *m1[] = {"hello from the bot"};
	struct want_posted w1 = {m1, 1};
	cr_assert(drive(c, all_posted, &w1, 5000), "own post not seen over the WebSocket");

	/* Alice's posts arrive in order, once each, with consecutive seqs. */
	int from = R.nev;
	char msgs[20][32];
	const char *ptrs[20];
	for (int i = 0; i < 20; i++) {
		snprintf(msgs[i], sizeof(msgs[i]), "alice says %d", i);
		ptrs[i] = msgs[i];
		alice_posts(msgs[i]);
	}
	struct want_posted w2 = {ptrs, 20};
	cr_assert(drive(c, all_posted, &w2, 10000), "alice's posts did not all arrive");
	drive(c, NULL, NULL, 300); /* nothing more should come */
	for (int i = 0; i < 20; i++)
		cr_assert_eq(count_posted(msgs[i]), 1, "%s delivered %d times", msgs[i],
			     count_posted(msgs[i]));
	int k = 0;
	for (int i = from; i < R.nev; i++)
		if (strcmp(R.ev[i].event, "posted") == 0) {
			cr_assert_str_eq(R.ev[i].post_message, msgs[k], "order at %d", k);
			cr_assert_str_eq(R.ev[i].post_user, fk.alice_id);
			k++;
		}
	cr_assert_eq(k, 20);
	assert_seq_consecutive(0);
	cr_assert_eq(R.ev[0].seq, 1, "the first event after hello (seq 0) is 1");
	free(id);
	mm_conn_free(c);
}

Test(mm_conn, patch_and_errors)
{
	start_fake(NULL);
	struct mm_conn *c = connect_ready();
	char *id = bot_post(c, "draft");

	struct call k = {0};
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "message", "edited text");
	char path[128];
	snprintf(path, sizeof(path), "/api/v4/posts/%s/patch", id);
	cr_assert_gt(mm_rest(c, "PUT", path, b, MM_PRIO_LIVE, NULL, on_rest, &k), 0);
	cJSON_Delete(b);
	cr_assert(drive(c, call_done, &k, 5000));
	cr_assert_eq(k.rc, 0, "%s", k.msg);
	cr_assert_eq(k.status, 200);
	cr_assert_str_eq(k.msg, "");
	cJSON *j = cJSON_Parse(k.body);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "message")), "edited text");
	cJSON_Delete(j);
	free(k.body);

	/* The edit is seen as post_edited with the new text. */
	bool seen = false;
	uint64_t end = mm_now_ms() + 5000;
	while (!seen && mm_now_ms() < end) {
		drive(c, NULL, NULL, 100);
		for (int i = 0; i < R.nev; i++)
			seen |= strcmp(R.ev[i].event, "post_edited") == 0 &&
				strcmp(R.ev[i].post_message, "edited text") == 0 &&
				strcmp(R.ev[i].post_id, id) == 0;
	}
	cr_assert(seen, "no post_edited event");

	/* An HTTP error: rc, status, the AppError message, never the token. */
	struct call e = {0};
	cr_assert_gt(mm_rest(c, "GET", "/api/v4/posts/aaaaaaaaaaaaaaaaaaaaaaaaaa", NULL,
			     MM_PRIO_REPLY, NULL, on_rest, &e),
		     0);
	cr_assert(drive(c, call_done, &e, 5000));
	cr_assert_eq(e.status, 404);
	cr_assert_eq(e.rc, -ENOENT);
	cr_assert_str_eq(e.msg, "GET /api/v4/posts/aaaaaaaaaaaaaaaaaaaaaaaaaa: HTTP 404: "
				"Unable to get the post. (app.post.get.app_error)");
	cr_assert_null(strstr(e.msg, fk.bot_token), "token in message");
	cr_assert_not_null(e.body, "AppError JSON is given to the caller");
	free(e.body);

	/* Bad calls are refused at once. */
	cr_assert_eq(mm_rest(c, "BREW", "/api/v4/x", NULL, MM_PRIO_REPLY, NULL, NULL, NULL),
		     -EINVAL);
	cr_assert_eq(mm_rest(c, "GET", "api/v4/x", NULL, MM_PRIO_REPLY, NULL, NULL, NULL),
		     -EINVAL);
	cr_assert_eq(mm_rest(c, "GET", "/api/v4/x y", NULL, MM_PRIO_REPLY, NULL, NULL, NULL),
		     -EINVAL);
	free(id);
	mm_conn_free(c);
}

struct many {
	struct call k[60];
	int n;
};

static bool many_done(void *arg)
{
	struct many *m = arg;
	for (int i = 0; i < m->n; i++)
		if (!m->k[i].done)
			return false;
	return true;
}

/* Our pacer far more generous than the server: 429s happen, every request
 * still succeeds once, none lost or duplicated. */
Test(mm_conn, rate_limited_burst_loses_nothing)
{
	start_fake(NULL);
	/* Connected while the limiter is off, so no X-RateLimit header has
	 * been seen yet: the first 16 go out at once against a burst of 5
	 * (afterwards the headers slow the pacer down by themselves). */
	struct mm_conn *c = connect_bot(NULL, 1000, 1000, 16);
	cr_assert(drive(c, is_connected, NULL, 10000), "%s", R.status);
	cJSON_Delete(fake("POST", "/_fake/ratelimit",
			  "{\"enabled\":true,\"per_sec\":10,\"burst\":5}"));

	static struct many m;
	memset(&m, 0, sizeof(m));
	m.n = 40;
	char text[40][32];
	for (int i = 0; i < m.n; i++) {
		snprintf(text[i], sizeof(text[i]), "burst %d", i);
		cJSON *b = post_body(fk.town_id, text[i]);
		cr_assert_gt(mm_rest(c, "POST", "/api/v4/posts", b, MM_PRIO_HISTORY, NULL,
				     on_rest, &m.k[i]),
			     0);
		cJSON_Delete(b);
	}
	cr_assert(drive(c, many_done, &m, 30000), "not every request completed");
	for (int i = 0; i < m.n; i++) {
		cr_assert_eq(m.k[i].rc, 0, "request %d: %s", i, m.k[i].msg);
		cr_assert_eq(m.k[i].status, 201);
		free(m.k[i].body);
	}
	long n429 = fake_stat("status_429");
	struct mm_conn_stats st;
	mm_conn_stats(c, &st);
	cr_assert_gt(n429, 0, "the server never limited us: the test proves nothing");
	cr_assert_eq((long)st.rest_429, n429, "we saw %lu 429s, the server sent %ld",
		     st.rest_429, n429);

	/* Each post exists exactly once on the server. */
	char path[128];
	snprintf(path, sizeof(path), "/_fake/posts?channel_id=%s", fk.town_id);
	cJSON *posts = fake("GET", path, NULL);
	cr_assert_not_null(posts);
	char *all = cJSON_PrintUnformatted(posts);
	for (int i = 0; i < m.n; i++) {
		char needle[48];
		snprintf(needle, sizeof(needle), "\"message\":\"%s\"", text[i]);
		int found = 0;
		for (const char *p = all; (p = strstr(p, needle)) != NULL; p++)
			found++;
		cr_assert_eq(found, 1, "%s stored %d times", text[i], found);
	}
	free(all);
	cJSON_Delete(posts);
	mm_conn_free(c);
}

/* One request at a time: the X-RateLimit-Remaining header alone keeps the
 * pacer under the server's limit even though its own bucket is bigger. */
Test(mm_conn, ratelimit_headers_prevent_429)
{
	start_fake(NULL);
	cJSON_Delete(fake("POST", "/_fake/ratelimit",
			  "{\"enabled\":true,\"per_sec\":10,\"burst\":5}"));
	struct mm_conn *c = connect_bot(NULL, 10, 100, 1);
	cr_assert(drive(c, is_connected, NULL, 10000), "%s", R.status);
	static struct many m;
	memset(&m, 0, sizeof(m));
	m.n = 30;
	for (int i = 0; i < m.n; i++) {
		char t[32];
		snprintf(t, sizeof(t), "paced %d", i);
		cJSON *b = post_body(fk.town_id, t);
		mm_rest(c, "POST", "/api/v4/posts", b, MM_PRIO_HISTORY, NULL, on_rest, &m.k[i]);
		cJSON_Delete(b);
	}
	uint64_t t0 = mm_now_ms();
	cr_assert(drive(c, many_done, &m, 30000));
	uint64_t took = mm_now_ms() - t0;
	for (int i = 0; i < m.n; i++) {
		cr_assert_eq(m.k[i].rc, 0, "%s", m.k[i].msg);
		free(m.k[i].body);
	}
	cr_assert_eq(fake_stat("status_429"), 0, "the pacer ran into the limit");
	/* 30 requests with a server burst of 6 take at least ~2 s at 10/s. */
	cr_assert_geq(took, 1800, "took %llu ms: the limit was not respected",
		      (unsigned long long)took);
	mm_conn_free(c);
}

Test(mm_conn, coalescing_queued_patches)
{
	start_fake(NULL);
	struct mm_conn *c = connect_ready();
	char *id = bot_post(c, "live 0");
	char path[128], key[64];
	snprintf(path, sizeof(path), "/api/v4/posts/%s/patch", id);
	snprintf(key, sizeof(key), "patch:%s", id);
	long before = fake_requests("PUT /api/v4/posts/{post_id}/patch");

	/* 20 edits queued before the loop runs: one PATCH, the newest text. */
	struct call k[20] = {0};
	for (int i = 0; i < 20; i++) {
		char t[32];
		snprintf(t, sizeof(t), "live %d", i + 1);
		cJSON *b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "message", t);
		cr_assert_gt(mm_rest(c, "PUT", path, b, MM_PRIO_LIVE, key, on_rest, &k[i]), 0);
		cJSON_Delete(b);
	}
	uint64_t end = mm_now_ms() + 5000;
	while (!k[19].done && mm_now_ms() < end)
		drive(c, call_done, &k[19], 100);
	cr_assert(k[19].done);
	for (int i = 0; i < 19; i++) {
		cr_assert(k[i].done, "superseded request %d got no callback", i);
		cr_assert_eq(k[i].rc, -ECANCELED, "request %d: rc %d", i, k[i].rc);
	}
	cr_assert_eq(k[19].rc, 0, "%s", k[19].msg);
	free(k[19].body);
	cr_assert_eq(fake_requests("PUT /api/v4/posts/{post_id}/patch") - before, 1);

	char *final = stored_message(id);
	cr_assert_str_eq(final, "live 20");
	free(final);
	free(id);
	mm_conn_free(c);
}

/* Edits keep coming while a slow PATCH is in flight: never two PATCHes of
 * the post at once, far fewer than edits, and the last text wins. */
Test(mm_conn, coalescing_while_in_flight)
{
	start_fake(NULL);
	struct mm_conn *c = connect_ready();
	char *id = bot_post(c, "v0");
	cJSON_Delete(fake("POST", "/_fake/delay", "{\"ms\":250}"));
	char path[128], key[64];
	snprintf(path, sizeof(path), "/api/v4/posts/%s/patch", id);
	snprintf(key, sizeof(key), "patch:%s", id);
	long before = fake_requests("PUT /api/v4/posts/{post_id}/patch");
	struct call k[40] = {0};
	for (int i = 0; i < 40; i++) {
		char t[32];
		snprintf(t, sizeof(t), "v%d", i + 1);
		cJSON *b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "message", t);
		cr_assert_gt(mm_rest(c, "PUT", path, b, MM_PRIO_LIVE, key, on_rest, &k[i]), 0);
		cJSON_Delete(b);
		drive(c, NULL, NULL, 25);
	}
	struct call *last = &k[39];
	cr_assert(drive(c, call_done, last, 10000));
	int ok = 0, cancelled = 0;
	for (int i = 0; i < 40; i++) {
		cr_assert(k[i].done, "request %d got no callback", i);
		ok += k[i].rc == 0;
		cancelled += k[i].rc == -ECANCELED;
		free(k[i].body);
	}
	cr_assert_eq(ok + cancelled, 40);
	cr_assert_eq(last->rc, 0, "%s", last->msg);
	long sent = fake_requests("PUT /api/v4/posts/{post_id}/patch") - before;
	cr_assert_eq(sent, ok);
	cr_assert_lt(sent, 10, "%ld PATCHes for 40 edits", sent);
	cr_assert_geq(sent, 2);
	cJSON *s = fake("GET", "/_fake/stats", NULL);
	const cJSON *mc = cJSON_GetObjectItemCaseSensitive(s, "max_concurrent");
	cr_assert(cJSON_IsNumber(mc) && mc->valuedouble <= 1, "two PATCHes in flight at once");
	cJSON_Delete(s);
	cJSON_Delete(fake("POST", "/_fake/delay", "{\"ms\":0}"));

	char *final = stored_message(id);
	cr_assert_str_eq(final, "v40");
	free(final);
	free(id);
	mm_conn_free(c);
}

/* The WebSocket is dropped 5 times in the middle of a conversation: posts
 * before, during and right after each drop are all delivered exactly once,
 * in order, with consecutive seqs, on the same connection id. */
Test(mm_conn, drop_ws_resumes_without_loss)
{
	start_fake(NULL);
	struct mm_conn *c = connect_ready();
	struct mm_conn_stats st0;
	mm_conn_stats(c, &st0);

	enum { ROUNDS = 5, PER = 6 };
	static char msgs[ROUNDS * PER][32];
	const char *ptrs[ROUNDS * PER];
	int n = 0;
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < PER; i++) {
			if (i == 2)
				cJSON_Delete(fake("POST", "/_fake/drop_ws", "{}"));
			snprintf(msgs[n], sizeof(msgs[n]), "msg %d.%d", round, i);
			ptrs[n] = msgs[n];
			alice_posts(msgs[n]);
			n++;
			drive(c, NULL, NULL, 30);
		}
		struct want_posted w = {ptrs, n};
		cr_assert(drive(c, all_posted, &w, 10000), "round %d: missed events (%s)", round,
			  R.status);
	}
	drive(c, NULL, NULL, 2500); /* let resumes confirm; nothing more arrives */
	for (int i = 0; i < n; i++)
		cr_assert_eq(count_posted(msgs[i]), 1, "%s delivered %d times", msgs[i],
			     count_posted(msgs[i]));
	int k = 0;
	for (int i = 0; i < R.nev; i++)
		if (strcmp(R.ev[i].event, "posted") == 0)
			cr_assert_str_eq(R.ev[i].post_message, msgs[k++], "order");
	assert_seq_consecutive(0);
	struct mm_conn_stats st;
	mm_conn_stats(c, &st);
	cr_assert_eq(R.gaps, 0, "a resume lost events");
	cr_assert_geq(st.ws_opens, st0.ws_opens + ROUNDS, "opens %u", st.ws_opens);
	cr_assert_str_eq(st.connection_id, st0.connection_id, "connection id changed");
	cr_assert_geq(R.connected_resumed, ROUNDS, "resumed %d", R.connected_resumed);
	cr_assert_geq(R.down, ROUNDS);
	cJSON *s = fake("GET", "/_fake/stats", NULL);
	const cJSON *outc = cJSON_GetObjectItemCaseSensitive(s, "ws_resume_outcomes");
	/* Events posted while we were away waited in the connection's send
	 * queue ("lossless") or were written and replayed ("replay"); none
	 * forced a new connection id ("lost"). */
	double ok = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(outc, "replay")) +
		    cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(outc, "lossless"));
	cr_assert_geq(ok, ROUNDS, "resumes on the server: %g", ok);
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(outc, "lost")), 0);
	cJSON_Delete(s);
	mm_conn_free(c);
}

static bool had_gap(void *arg)
{
	(void)arg;
	return R.gaps > 0;
}

/* The server forgot our connection: hello with a new connection_id →
 * on_gap, then on_connected(false), and events flow again from seq 1. */
Test(mm_conn, restart_ws_reports_gap)
{
	start_fake(NULL);
	struct mm_conn *c = connect_ready();
	alice_posts("one");
	const char *one[] = {"one"};
	struct want_posted w1 = {one, 1};
	cr_assert(drive(c, all_posted, &w1, 5000));
	struct mm_conn_stats st0;
	mm_conn_stats(c, &st0);

	cJSON_Delete(fake("POST", "/_fake/restart_ws", "{}"));
	alice_posts("lost maybe");
	cr_assert(drive(c, had_gap, NULL, 10000), "no on_gap (%s)", R.status);
	cr_assert_eq(R.gaps, 1);
	cr_assert_eq(R.connected, 2);
	cr_assert_eq(R.connected_resumed, 0);
	struct mm_conn_stats st;
	mm_conn_stats(c, &st);
	cr_assert_str_neq(st.connection_id, st0.connection_id);

	int from = R.nev;
	alice_posts("after restart");
	const char *two[] = {"after restart"};
	struct want_posted w2 = {two, 1};
	cr_assert(drive(c, all_posted, &w2, 5000));
	cr_assert_eq(R.ev[from].seq, 1, "seq restarts on the new connection");
	mm_conn_free(c);
}

/* Server Pings every second, dropped without a Pong within 3 s: an idle
 * connection stays up because lws answers them on our loop. */
Test(mm_conn, idle_connection_survives_pings)
{
	start_fake("--ping-interval 1 --pong-wait 3");
	struct mm_conn *c = connect_ready();
	unsigned long steps0 = steps;
	drive(c, NULL, NULL, 5500);
	/* ~6 Pings, each costing a few passes, and the 1 s lws tick: an idle
	 * connection must not spin the loop. */
	cr_assert_lt(steps - steps0, 120, "%lu loop iterations while idle", steps - steps0);
	struct mm_conn_stats st;
	mm_conn_stats(c, &st);
	cr_assert_eq(st.ws_opens, 1, "reconnected %u times: %s", st.ws_opens - 1, R.status);
	cr_assert_eq(R.down, 0, "went down: %s", R.status);
	cr_assert_eq(fake_stat("ws_pong_timeouts"), 0);
	alice_posts("still there");
	const char *m[] = {"still there"};
	struct want_posted w = {m, 1};
	cr_assert(drive(c, all_posted, &w, 5000));
	mm_conn_free(c);
}

static bool is_fatal(void *arg)
{
	(void)arg;
	return R.fatal > 0;
}

Test(mm_conn, bad_token_fails_clearly)
{
	start_fake(NULL);
	const char *bad = "wrongtoken1234567890abcdef";
	struct mm_conn *c = connect_bot(bad, 0, 0, 0);
	cr_assert(drive(c, is_fatal, NULL, 10000), "no final status: %s", R.status);
	cr_assert_not_null(strstr(R.status, "401"), "%s", R.status);
	cr_assert_not_null(strstr(R.status, "token"), "%s", R.status);
	cr_assert_null(strstr(R.status, bad), "the token leaked: %s", R.status);
	drive(c, NULL, NULL, 500);
	struct mm_conn_stats st;
	mm_conn_stats(c, &st);
	cr_assert_eq(st.ws_opens, 0);
	cr_assert_eq(R.connected, 0);
	cr_assert_str_eq(mm_conn_user_id(c), "");
	mm_conn_free(c);
}

/* A posted event far above the 8192-byte frame size the server reads:
 * reassembled from lws's fragments and delivered intact. */
Test(mm_conn, large_event_intact)
{
	start_fake(NULL);
	struct mm_conn *c = connect_ready();
	static char big[16384];
	for (int i = 0; i < 16383; i++)
		big[i] = (char)('a' + i % 26);
	big[16383] = '\0';
	/* Quotes and backslashes double their size when the post is encoded
	 * as a JSON string inside the event. */
	memcpy(big + 100, "\\\"\\\"", 4);
	cJSON *b = post_body(fk.town_id, big);
	struct call k = {0};
	cr_assert_gt(mm_rest(c, "POST", "/api/v4/posts", b, MM_PRIO_REPLY, NULL, on_rest, &k), 0);
	cJSON_Delete(b);
	const char *m[] = {big};
	struct want_posted w = {m, 1};
	cr_assert(drive(c, all_posted, &w, 10000), "the large event never arrived intact");
	cr_assert(drive(c, call_done, &k, 5000));
	cr_assert_eq(k.rc, 0, "%s", k.msg);
	free(k.body);
	mm_conn_free(c);
}

/* The server is not there yet: connect failures are retried, and the bot
 * comes up once it is. Cancelled requests never call back. */
Test(mm_conn, cancel_and_unreachable_server)
{
	start_fake(NULL);
	struct mm_conn *c = connect_ready();
	struct call k = {0};
	cJSON *b = post_body(fk.town_id, "never");
	long h = mm_rest(c, "POST", "/api/v4/posts", b, MM_PRIO_REPLY, NULL, on_rest, &k);
	cJSON_Delete(b);
	cr_assert_gt(h, 0);
	mm_rest_cancel(c, h);
	mm_rest_cancel(c, 123456); /* unknown: ignored */
	drive(c, NULL, NULL, 500);
	cr_assert(!k.done, "a cancelled request called back");
	mm_conn_free(c);

	/* Nothing listens on this port. */
	struct mm_conn_opts o = {.url = "http://127.0.0.1:9", .token = "x", .on_status = on_status,
				 .data = &R, .reconnect_min_ms = 100};
	char err[256];
	memset(&R, 0, sizeof(R));
	cr_assert_eq(mm_conn_new(&o, &c, err, sizeof(err)), 0, "%s", err);
	struct call q = {0};
	mm_rest(c, "GET", "/api/v4/system/ping", NULL, MM_PRIO_REPLY, NULL, on_rest, &q);
	cr_assert(drive(c, call_done, &q, 15000), "no answer at all");
	drive(c, NULL, NULL, 500);
	cr_assert_eq(q.rc, -ECONNREFUSED, "rc %d %s", q.rc, q.msg);
	cr_assert_neq(R.down, 0, "no status while the server is unreachable");
	cr_assert_eq(R.fatal, 0);
	mm_conn_free(c);
}

static bool is_down(void *arg)
{
	(void)arg;
	return R.down > 0;
}

/* TLS for REST and the WebSocket: verified against a given CA file,
 * refused without it (the system store does not know a self-signed
 * certificate), accepted when `insecure` is explicitly set. */
Test(mm_conn, tls_verified_refused_insecure)
{
	if (access("/usr/bin/openssl", X_OK) != 0)
		cr_skip_test("no openssl command to make a certificate");
	char dir[] = "/tmp/smrelay-mmtls-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	snprintf(tls_dir, sizeof(tls_dir), "%s", dir);
	char cmd[1024], cert[128], key[128], args[300];
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost -days 2 "
		 "-keyout %s -out %s >/dev/null 2>&1",
		 key, cert);
	cr_assert_eq(system(cmd), 0, "openssl req failed");
	snprintf(args, sizeof(args), "--tls-cert %s --tls-key %s", cert, key);
	start_fake(args);
	cr_assert_eq(strncmp(fk.url, "https://", 8), 0, "%s", fk.url);

	/* Verified with the CA file: REST and the WebSocket both work. */
	struct mm_conn_opts o = {
		.url = fk.url, .token = fk.bot_token, .ca_file = cert,
		.reconnect_min_ms = 200, .reconnect_max_ms = 1000,
		.on_event = on_event, .on_connected = on_connected, .on_gap = on_gap,
		.on_status = on_status, .data = &R,
	};
	struct mm_conn *c;
	char err[256];
	cr_assert_eq(mm_conn_new(&o, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert(drive(c, is_connected, NULL, 10000), "no hello over TLS: %s", R.status);
	cr_assert_str_eq(mm_conn_user_id(c), fk.bot_id);
	alice_posts("over tls");
	const char *m[] = {"over tls"};
	struct want_posted w = {m, 1};
	cr_assert(drive(c, all_posted, &w, 5000));
	mm_conn_free(c);
	rec_free(&R);

	/* Without it: refused, reported, retried; never connected. */
	o.ca_file = NULL;
	cr_assert_eq(mm_conn_new(&o, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert(drive(c, is_down, NULL, 10000), "no status for a bad certificate");
	cr_assert_not_null(strstr(R.status, "certificate"), "%s", R.status);
	drive(c, NULL, NULL, 500);
	cr_assert_eq(R.connected, 0);
	cr_assert_eq(R.fatal, 0, "a certificate problem may be fixed: keep retrying");
	mm_conn_free(c);
	rec_free(&R);

	/* insecure, explicitly: works without the CA. */
	o.insecure = true;
	cr_assert_eq(mm_conn_new(&o, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert(drive(c, is_connected, NULL, 10000), "insecure: %s", R.status);
	mm_conn_free(c);
}
