/* test_http.c — the HTTP listener as its clients see it: routing, errors,
 * bodies, limits, concurrency, silent clients, WebSockets, teardown and an
 * idle loop that stays asleep.
 *
 * The listener runs on an sr_loop in the test process; clients run in a
 * forked child (libcurl's multi interface, or a libwebsockets client), so
 * the loop keeps serving while they wait. The child writes what it got to
 * a pipe that the loop watches. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sr_http.h"
#include "sr_loop.h"

static uint64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct sr_loop *new_loop(void)
{
	struct sr_loop *loop = NULL;
	cr_assert_eq(sr_loop_new(&loop), 0);
	return loop;
}

static struct sr_http *new_http(struct sr_loop *loop)
{
	struct sr_http *h = NULL;
	char err[256] = "";
	int rc = sr_http_new(loop, "127.0.0.1:0", &h, err, sizeof(err));
	cr_assert_eq(rc, 0, "sr_http_new: %d %s", rc, err);
	cr_assert_not_null(h);
	cr_assert_gt(sr_http_port(h), 0u);
	return h;
}

/* Iterations in which anything ran, over ms. */
static int wakeups(struct sr_loop *loop, uint64_t ms)
{
	int n = 0;
	uint64_t end = ms_now() + ms;
	for (uint64_t now = ms_now(); now < end; now = ms_now())
		if (sr_loop_run_once(loop, (int)(end - now)) > 0)
			n++;
	return n;
}

/* ---- the child side: curl ---------------------------------------------- */

struct creq {
	const char *method; /* NULL: GET */
	const char *path;   /* with the query */
	const char *body;
	size_t body_len;
	const char *header, *header2; /* extra request header lines, or NULL */
};

/* What the child sends back per request, followed by body_len bytes. */
struct wire {
	long status;
	int curl_rc;
	long num_connects;
	double total_s;
	size_t body_len;
	char ctype[128], cache[64], allow[64], nosniff[32], xfo[32], clen[32];
};

struct cres {
	struct wire w;
	char *body;
};

struct cbuf {
	char *p;
	size_t len, cap;
};

static size_t cbuf_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct cbuf *b = ud;
	size_t n = size * nmemb;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return 0;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static void write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t k = write(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			_exit(3);
		c += k;
		n -= (size_t)k;
	}
}

static void copy_header(CURL *e, const char *name, char *dst, size_t len)
{
	struct curl_header *hd = NULL;
	dst[0] = '\0';
	if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &hd) == CURLHE_OK && hd->value)
		snprintf(dst, len, "%s", hd->value);
}

static void setup_easy(CURL *e, unsigned port, const struct creq *r, struct cbuf *b,
		       struct curl_slist **hl)
{
	char url[512];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, r->path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 15000L);
	/* a server that ignores Expect: 100-continue costs a request 10 s */
	curl_easy_setopt(e, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, cbuf_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
	const char *m = r->method ? r->method : "GET";
	if (strcmp(m, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (r->body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
		if (strcmp(m, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	} else if (strcmp(m, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	}
	*hl = NULL;
	if (r->header)
		*hl = curl_slist_append(*hl, r->header);
	if (r->header2)
		*hl = curl_slist_append(*hl, r->header2);
	if (*hl)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, *hl);
}

static void send_result(int wfd, CURL *e, int rc, const struct cbuf *b)
{
	struct wire w;
	memset(&w, 0, sizeof(w));
	w.curl_rc = rc;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &w.status);
	curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &w.num_connects);
	curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &w.total_s);
	copy_header(e, "Content-Type", w.ctype, sizeof(w.ctype));
	copy_header(e, "Cache-Control", w.cache, sizeof(w.cache));
	copy_header(e, "Allow", w.allow, sizeof(w.allow));
	copy_header(e, "X-Content-Type-Options", w.nosniff, sizeof(w.nosniff));
	copy_header(e, "X-Frame-Options", w.xfo, sizeof(w.xfo));
	copy_header(e, "Content-Length", w.clen, sizeof(w.clen));
	w.body_len = b->len;
	write_all(wfd, &w, sizeof(w));
	if (b->len)
		write_all(wfd, b->p, b->len);
}

/* All requests at once, each on its own connection (multi), or one after
 * the other on one reused connection (keep-alive). */
static void child_curl(unsigned port, const struct creq *reqs, size_t n, bool sequential, int wfd)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct cbuf *bufs = calloc(n, sizeof(*bufs));
	struct curl_slist **hls = calloc(n, sizeof(*hls));
	CURL **es = calloc(n, sizeof(*es));
	int *rcs = calloc(n, sizeof(*rcs));
	if (sequential) {
		/* one handle, reset between requests: curl keeps the connection */
		CURL *e = curl_easy_init();
		for (size_t i = 0; i < n; i++) {
			curl_easy_reset(e);
			setup_easy(e, port, &reqs[i], &bufs[i], &hls[i]);
			int rc = curl_easy_perform(e);
			send_result(wfd, e, rc, &bufs[i]);
		}
		_exit(0);
	}
	CURLM *m = curl_multi_init();
	for (size_t i = 0; i < n; i++) {
		es[i] = curl_easy_init();
		setup_easy(es[i], port, &reqs[i], &bufs[i], &hls[i]);
		curl_easy_setopt(es[i], CURLOPT_PRIVATE, (void *)(uintptr_t)i);
		curl_multi_add_handle(m, es[i]);
	}
	int running = 1;
	while (running) {
		curl_multi_perform(m, &running);
		if (running)
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(m, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		void *priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		rcs[(uintptr_t)priv] = msg->data.result;
	}
	for (size_t i = 0; i < n; i++)
		send_result(wfd, es[i], rcs[i], &bufs[i]);
	_exit(0);
}

/* ---- the parent side: collect the child's report on the loop ------------ */

struct collector {
	struct sr_watch *w;
	char *buf;
	size_t len, cap;
	bool eof;
};

static void collect_cb(struct sr_watch *w, int fd, unsigned revents, void *data)
{
	struct collector *c = data;
	(void)revents;
	for (;;) {
		if (c->len + 65536 > c->cap) {
			c->cap = c->cap ? c->cap * 2 : 1 << 20;
			c->buf = realloc(c->buf, c->cap);
			cr_assert_not_null(c->buf);
		}
		ssize_t n = read(fd, c->buf + c->len, c->cap - c->len);
		if (n > 0) {
			c->len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		c->eof = true;
		sr_watch_remove(w);
		return;
	}
}

/* Forks a child running fn, serves on the loop until the child's report is
 * complete, and returns it (malloc'ed, *len bytes). */
typedef void (*child_fn)(void *arg, int wfd);

static char *run_child(struct sr_loop *loop, child_fn fn, void *arg, size_t *len)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		fn(arg, p[1]);
		_exit(0);
	}
	close(p[1]);
	cr_assert_geq(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK), 0);
	struct collector c = {0};
	cr_assert_eq(sr_loop_watch(loop, p[0], SR_EV_READ, collect_cb, &c, &c.w), 0);
	uint64_t end = ms_now() + 30000;
	while (!c.eof && ms_now() < end)
		sr_loop_run_once(loop, 200);
	if (!c.eof)
		sr_watch_remove(c.w);
	close(p[0]);
	int st = 0;
	if (!c.eof)
		kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(c.eof, "the client child did not finish");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client child status %d", st);
	*len = c.len;
	return c.buf;
}

struct curl_job {
	unsigned port;
	const struct creq *reqs;
	size_t n;
	bool sequential;
};

static void curl_job_fn(void *arg, int wfd)
{
	struct curl_job *j = arg;
	child_curl(j->port, j->reqs, j->n, j->sequential, wfd);
}

static void run_requests(struct sr_loop *loop, struct sr_http *h, const struct creq *reqs, size_t n,
			 bool sequential, struct cres *out)
{
	struct curl_job j = {sr_http_port(h), reqs, n, sequential};
	size_t len = 0;
	char *buf = run_child(loop, curl_job_fn, &j, &len);
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		cr_assert_leq(off + sizeof(struct wire), len, "short report");
		memcpy(&out[i].w, buf + off, sizeof(struct wire));
		off += sizeof(struct wire);
		cr_assert_leq(off + out[i].w.body_len, len);
		out[i].body = malloc(out[i].w.body_len + 1);
		memcpy(out[i].body, buf + off, out[i].w.body_len);
		out[i].body[out[i].w.body_len] = '\0';
		off += out[i].w.body_len;
	}
	free(buf);
}

static void free_results(struct cres *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].body);
}

/* ---- handlers ------------------------------------------------------------ */

struct server {
	struct sr_http *h;
	int calls;
	size_t last_body_len;
	uint32_t last_body_sum;
	char last_arg[64];
	char last_hdr[64];
	char last_ua[64];
};

static uint32_t fnv(const char *p, size_t n)
{
	uint32_t x = 2166136261u;
	for (size_t i = 0; i < n; i++)
		x = (x ^ (unsigned char)p[i]) * 16777619u;
	return x;
}

/* Answers {"route":..., "method":..., "path":..., "query":..., "len":...}. */
static void reply_json(void *data, const char *route, const struct sr_http_req *req, struct sr_http_resp *resp)
{
	struct server *s = data;
	s->calls++;
	s->last_body_len = req->body_len;
	s->last_body_sum = fnv(req->body, req->body_len);
	if (sr_http_req_arg(req, "x", s->last_arg, sizeof(s->last_arg)) < 0)
		s->last_arg[0] = '\0';
	if (sr_http_req_header(req, "X-Test", s->last_hdr, sizeof(s->last_hdr)) < 0)
		s->last_hdr[0] = '\0';
	if (sr_http_req_header(req, "user-agent", s->last_ua, sizeof(s->last_ua)) < 0)
		s->last_ua[0] = '\0';
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "route", route);
	cJSON_AddStringToObject(o, "method", req->method);
	cJSON_AddStringToObject(o, "path", req->path);
	cJSON_AddStringToObject(o, "query", req->query);
	cJSON_AddStringToObject(o, "remote", req->remote);
	cJSON_AddStringToObject(o, "auth", req->header_authorization ? req->header_authorization : "");
	cJSON_AddNumberToObject(o, "len", (double)req->body_len);
	resp->body = cJSON_PrintUnformatted(o);
	resp->body_len = strlen(resp->body);
	cJSON_Delete(o);
}

static void h_root(void *d, const struct sr_http_req *q, struct sr_http_resp *r) { reply_json(d, "root", q, r); }
static void h_api(void *d, const struct sr_http_req *q, struct sr_http_resp *r) { reply_json(d, "api", q, r); }
static void h_items_get(void *d, const struct sr_http_req *q, struct sr_http_resp *r) { reply_json(d, "items-get", q, r); }
static void h_items_post(void *d, const struct sr_http_req *q, struct sr_http_resp *r)
{
	reply_json(d, "items-post", q, r);
	r->status = 201;
}
static void h_any(void *d, const struct sr_http_req *q, struct sr_http_resp *r) { reply_json(d, "any", q, r); }

/* Echoes the body back byte for byte. */
static void h_echo(void *data, const struct sr_http_req *req, struct sr_http_resp *resp)
{
	struct server *s = data;
	s->calls++;
	s->last_body_len = req->body_len;
	s->last_body_sum = fnv(req->body, req->body_len);
	resp->content_type = "application/octet-stream";
	resp->body = malloc(req->body_len ? req->body_len : 1);
	memcpy(resp->body, req->body, req->body_len);
	resp->body_len = req->body_len;
}

static cJSON *parse(const struct cres *r)
{
	cJSON *o = cJSON_Parse(r->body);
	cr_assert_not_null(o, "not JSON: %s", r->body);
	return o;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	cr_assert(cJSON_IsString(v), "no string %s", k);
	return v->valuestring;
}

static void assert_route(const struct cres *r, long status, const char *route, const char *method,
			 const char *path)
{
	cr_assert_eq(r->w.curl_rc, 0, "curl rc %d", r->w.curl_rc);
	cr_assert_eq(r->w.status, status, "status %ld for %s %s: %s", r->w.status, method, path, r->body);
	cJSON *o = parse(r);
	cr_assert_str_eq(jstr(o, "route"), route);
	cr_assert_str_eq(jstr(o, "method"), method);
	cr_assert_str_eq(jstr(o, "path"), path);
	cJSON_Delete(o);
}

static char *pattern(size_t n)
{
	char *p = malloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)((i * 131u + (i >> 10)) & 0xff); /* NULs included */
	return p;
}

/* ---- routing ------------------------------------------------------------- */

Test(http, get_and_post_are_routed_by_method_and_longest_prefix)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct server s = {.h = h};
	cr_assert_eq(sr_http_route(h, "GET", "/", h_root, &s), 0);
	cr_assert_eq(sr_http_route(h, "GET", "/api", h_api, &s), 0);
	cr_assert_eq(sr_http_route(h, "GET", "/api/items", h_items_get, &s), 0);
	cr_assert_eq(sr_http_route(h, "POST", "/api/items", h_items_post, &s), 0);
	cr_assert_eq(sr_http_route(h, NULL, "/any", h_any, &s), 0);
	cr_assert_eq(sr_http_route(h, "TRACE", "/t", h_any, &s), -EINVAL);
	cr_assert_eq(sr_http_route(h, "GET", "relative", h_any, &s), -EINVAL);

	const char json[] = "{\"a\":1}";
	struct creq reqs[] = {
		{.path = "/api/x?x=1&y=two", .header = "Authorization: Bearer tok"},
		{.path = "/api/items/5"},
		{.method = "POST", .path = "/api/items", .body = json, .body_len = sizeof(json) - 1},
		{.path = "/apix"},
		{.path = "/api"},
		{.method = "PUT", .path = "/any/thing", .body = "x", .body_len = 1},
		{.method = "DELETE", .path = "/any"},
		{.path = "/deep/unknown/path"},
		{.method = "HEAD", .path = "/api/items"},
	};
	size_t n = sizeof(reqs) / sizeof(reqs[0]);
	struct cres res[sizeof(reqs) / sizeof(reqs[0])];
	run_requests(loop, h, reqs, n, false, res);

	assert_route(&res[0], 200, "api", "GET", "/api/x");
	cJSON *o = parse(&res[0]);
	cr_assert_str_eq(jstr(o, "query"), "x=1&y=two");
	cr_assert_str_eq(jstr(o, "auth"), "Bearer tok");
	cr_assert_str_eq(jstr(o, "remote"), "127.0.0.1");
	cJSON_Delete(o);
	assert_route(&res[1], 200, "items-get", "GET", "/api/items/5");
	assert_route(&res[2], 201, "items-post", "POST", "/api/items");
	assert_route(&res[3], 200, "root", "GET", "/apix"); /* prefixes end at '/' */
	assert_route(&res[4], 200, "api", "GET", "/api");
	assert_route(&res[5], 200, "any", "PUT", "/any/thing");
	assert_route(&res[6], 200, "any", "DELETE", "/any");
	assert_route(&res[7], 200, "root", "GET", "/deep/unknown/path");
	cr_assert_eq(s.calls, 9, "every request reached its handler");
	/* HEAD: the GET route, its length, no body */
	cr_assert_eq(res[8].w.curl_rc, 0);
	cr_assert_eq(res[8].w.status, 200);
	cr_assert_eq(res[8].w.body_len, 0u);
	cr_assert_gt(atoi(res[8].w.clen), 0);
	for (size_t i = 0; i < n; i++) {
		cr_assert_str_eq(res[i].w.ctype, "application/json");
		cr_assert_str_eq(res[i].w.cache, "no-store");
		cr_assert_str_eq(res[i].w.nosniff, "nosniff");
		cr_assert_str_eq(res[i].w.xfo, "DENY");
	}
	free_results(res, n);
	sr_http_free(h);
	sr_loop_free(loop);
}

Test(http, request_accessors_see_args_and_headers)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct server s = {.h = h};
	cr_assert_eq(sr_http_route(h, NULL, "/", h_root, &s), 0);
	struct creq reqs[] = {{.path = "/q?y=2&x=hello%20world", .header = "X-Test: custom value",
				.header2 = "User-Agent: tester/1.0"}};
	struct cres res[1];
	run_requests(loop, h, reqs, 1, false, res);
	cr_assert_eq(res[0].w.status, 200);
	cr_assert_str_eq(s.last_arg, "hello world");
	cr_assert_str_eq(s.last_hdr, "custom value");
	cr_assert_str_eq(s.last_ua, "tester/1.0");
	free_results(res, 1);
	sr_http_free(h);
	sr_loop_free(loop);
}

Test(http, unknown_paths_are_404_and_wrong_methods_405_in_json)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct server s = {.h = h};
	cr_assert_eq(sr_http_route(h, "GET", "/api/items", h_items_get, &s), 0);
	cr_assert_eq(sr_http_route(h, "POST", "/api/items", h_items_post, &s), 0);
	struct creq reqs[] = {
		{.path = "/nope"},
		{.path = "/api"},
		{.method = "DELETE", .path = "/api/items/3"},
		{.method = "PUT", .path = "/api/items", .body = "{}", .body_len = 2},
	};
	struct cres res[4];
	run_requests(loop, h, reqs, 4, false, res);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(res[i].w.status, 404, "status %ld", res[i].w.status);
		cJSON *o = parse(&res[i]);
		cr_assert_str_eq(jstr(o, "error"), "not found");
		cJSON_Delete(o);
	}
	for (int i = 2; i < 4; i++) {
		cr_assert_eq(res[i].w.status, 405, "status %ld", res[i].w.status);
		cJSON *o = parse(&res[i]);
		cr_assert_str_eq(jstr(o, "error"), "method not allowed");
		cJSON_Delete(o);
		cr_assert(strstr(res[i].w.allow, "GET") && strstr(res[i].w.allow, "POST") &&
				  strstr(res[i].w.allow, "HEAD"),
			  "Allow: %s", res[i].w.allow);
	}
	for (int i = 0; i < 4; i++) {
		cr_assert_str_eq(res[i].w.ctype, "application/json");
		cr_assert_str_eq(res[i].w.cache, "no-store");
	}
	cr_assert_eq(s.calls, 0);
	free_results(res, 4);
	sr_http_free(h);
	sr_loop_free(loop);
}

Test(http, trace_connect_and_unknown_methods_never_reach_a_handler)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct server s = {.h = h};
	cr_assert_eq(sr_http_route(h, NULL, "/", h_any, &s), 0);
	struct creq reqs[] = {
		{.method = "TRACE", .path = "/"},
		{.method = "BREW", .path = "/pot"},
		{.method = "CONNECT", .path = "/"},
		{.path = "/../../etc/passwd"},
	};
	struct cres res[4];
	run_requests(loop, h, reqs, 4, false, res);
	for (int i = 0; i < 3; i++) {
		/* refused (lws's 403) or hung up on, at once: lws would keep a
		 * CONNECT as an idle raw socket forever */
		cr_assert(res[i].w.curl_rc != 0 || (res[i].w.status >= 400 && res[i].w.status != 404),
			  "%s answered %ld", reqs[i].method, res[i].w.status);
		cr_assert_neq(res[i].w.curl_rc, CURLE_OPERATION_TIMEDOUT, "%s hung", reqs[i].method);
		cr_assert_lt(res[i].w.total_s, 5.0, "%s took %.1f s", reqs[i].method, res[i].w.total_s);
	}
	/* the path is resolved by lws before routing: no way above "/" */
	cr_assert_eq(res[3].w.status, 200);
	cJSON *o = parse(&res[3]);
	cr_assert_str_eq(jstr(o, "path"), "/etc/passwd");
	cJSON_Delete(o);
	cr_assert_eq(s.calls, 1);
	free_results(res, 4);
	sr_http_free(h);
	sr_loop_free(loop);
}

/* ---- bodies -------------------------------------------------------------- */

Test(http, a_200k_post_body_arrives_intact_and_comes_back)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct server s = {.h = h};
	cr_assert_eq(sr_http_route(h, "POST", "/echo", h_echo, &s), 0);
	size_t n = 200 * 1024;
	char *body = pattern(n);
	struct creq reqs[] = {
		{.method = "POST", .path = "/echo", .body = body, .body_len = n},
		/* lws ignores Expect; sr_http answers 100 Continue, or curl
		 * would wait (10 s here) before sending the body */
		{.method = "POST", .path = "/echo", .body = body, .body_len = n, .header = "Expect: 100-continue"},
	};
	struct cres res[2];
	run_requests(loop, h, reqs, 2, false, res);
	cr_assert_eq(res[1].w.status, 200);
	cr_assert_eq(res[1].w.body_len, n);
	cr_assert_eq(memcmp(res[1].body, body, n), 0);
	cr_assert_lt(res[1].w.total_s, 5.0, "Expect: 100-continue took %.3f s", res[1].w.total_s);
	cr_assert_eq(res[0].w.curl_rc, 0);
	cr_assert_eq(res[0].w.status, 200);
	cr_assert_eq(s.calls, 2);
	cr_assert_eq(s.last_body_len, n);
	cr_assert_eq(s.last_body_sum, fnv(body, n));
	cr_assert_eq(res[0].w.body_len, n);
	cr_assert_eq(memcmp(res[0].body, body, n), 0);
	cr_assert_str_eq(res[0].w.ctype, "application/octet-stream");
	cr_assert_eq(strtoul(res[0].w.clen, NULL, 10), n);
	free(body);
	free_results(res, 2);
	sr_http_free(h);
	sr_loop_free(loop);
}

Test(http, bodies_over_one_mib_get_413_and_the_server_keeps_serving)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct server s = {.h = h};
	cr_assert_eq(sr_http_route(h, "POST", "/echo", h_echo, &s), 0);
	size_t max = SR_HTTP_MAX_BODY;
	char *body = pattern(max + 1);
	struct creq reqs[] = {
		{.method = "POST", .path = "/echo", .body = body, .body_len = max + 1},
		/* without curl's Expect: 100-continue the body is already on its way */
		{.method = "POST", .path = "/echo", .body = body, .body_len = max + 1, .header = "Expect:"},
		{.method = "POST", .path = "/echo", .body = body, .body_len = max},
	};
	struct cres res[3];
	run_requests(loop, h, reqs, 3, false, res);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(res[i].w.status, 413, "status %ld rc %d", res[i].w.status, res[i].w.curl_rc);
		cJSON *o = parse(&res[i]);
		cr_assert_str_eq(jstr(o, "error"), "request body too large");
		cJSON_Delete(o);
	}
	cr_assert_eq(res[2].w.status, 200);
	cr_assert_eq(res[2].w.body_len, max);
	cr_assert_eq(memcmp(res[2].body, body, max), 0);
	cr_assert_eq(s.calls, 1, "only the request within the limit reached the handler");
	free(body);
	free_results(res, 3);
	sr_http_free(h);
	sr_loop_free(loop);
}

Test(http, keep_alive_serves_several_requests_on_one_connection)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct server s = {.h = h};
	cr_assert_eq(sr_http_route(h, NULL, "/", h_echo, &s), 0);
	char *big = pattern(50000);
	struct creq reqs[] = {
		{.path = "/a"},
		{.method = "POST", .path = "/b", .body = big, .body_len = 50000},
		{.path = "/c"},
	};
	struct cres res[3];
	run_requests(loop, h, reqs, 3, true, res);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(res[i].w.status, 200);
	cr_assert_eq(res[0].w.num_connects, 1);
	cr_assert_eq(res[1].w.num_connects, 0, "the connection was reused");
	cr_assert_eq(res[2].w.num_connects, 0, "the connection was reused");
	cr_assert_eq(res[1].w.body_len, 50000u);
	cr_assert_eq(memcmp(res[1].body, big, 50000), 0);
	cr_assert_eq(s.calls, 3);
	free(big);
	free_results(res, 3);
	sr_http_free(h);
	sr_loop_free(loop);
}

Test(http, keep_alive_answers_are_not_held_back_by_nagle)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct server s = {.h = h};
	cr_assert_eq(sr_http_route(h, NULL, "/", h_root, &s), 0);
	/* headers and body are two writes: without TCP_NODELAY each answer
	 * waits for the client's delayed ACK, about 40 ms */
	enum { N = 40 };
	struct creq reqs[N];
	for (int i = 0; i < N; i++)
		reqs[i] = (struct creq){.path = "/x"};
	struct cres res[N];
	run_requests(loop, h, reqs, N, true, res);
	double total = 0;
	for (int i = 0; i < N; i++) {
		cr_assert_eq(res[i].w.status, 200);
		total += res[i].w.total_s;
	}
	cr_assert_lt(total, 1.2, "%d keep-alive requests took %.3f s", N, total);
	free_results(res, N);
	sr_http_free(h);
	sr_loop_free(loop);
}

/* ---- many clients -------------------------------------------------------- */

static int connect_raw(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

Test(http, concurrent_clients_are_all_served)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct server s = {.h = h};
	cr_assert_eq(sr_http_route(h, NULL, "/", h_echo, &s), 0);
	enum { N = 16 };
	char *bodies[N];
	struct creq reqs[N];
	for (int i = 0; i < N; i++) {
		size_t n = (size_t)(i + 1) * 20000;
		bodies[i] = pattern(n);
		bodies[i][0] = (char)i;
		reqs[i] = (struct creq){.method = "POST", .path = "/e", .body = bodies[i], .body_len = n};
	}
	struct cres res[N];
	run_requests(loop, h, reqs, N, false, res);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(res[i].w.status, 200, "client %d: %ld rc %d", i, res[i].w.status, res[i].w.curl_rc);
		cr_assert_eq(res[i].w.body_len, reqs[i].body_len);
		cr_assert_eq(memcmp(res[i].body, bodies[i], reqs[i].body_len), 0);
		free(bodies[i]);
	}
	cr_assert_eq(s.calls, N);
	free_results(res, N);
	sr_http_free(h);
	sr_loop_free(loop);
}

Test(http, silent_and_half_sent_clients_do_not_block_others)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct server s = {.h = h};
	cr_assert_eq(sr_http_route(h, NULL, "/", h_root, &s), 0);
	/* more silent connections than lws has header tables (128) */
	enum { SILENT = 160 };
	int silent[SILENT];
	for (int i = 0; i < SILENT; i++) {
		silent[i] = connect_raw(sr_http_port(h));
		sr_loop_run_once(loop, 0); /* accept as they come: the backlog is finite */
	}
	const char partial[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc";
	cr_assert_eq(write(silent[0], partial, sizeof(partial) - 1), (ssize_t)sizeof(partial) - 1);
	const char *half = "GET /slow HT";
	cr_assert_eq(write(silent[1], half, strlen(half)), (ssize_t)strlen(half));
	wakeups(loop, 100);
	struct creq reqs[] = {{.path = "/a"}, {.path = "/b"}, {.path = "/c"}};
	uint64_t t0 = ms_now();
	struct cres res[3];
	run_requests(loop, h, reqs, 3, false, res);
	uint64_t took = ms_now() - t0;
	for (int i = 0; i < 3; i++)
		cr_assert_eq(res[i].w.status, 200);
	cr_assert_lt(took, 3000, "served in %llu ms", (unsigned long long)took);
	cr_assert_eq(s.calls, 3);
	for (int i = 0; i < SILENT; i++)
		close(silent[i]);
	free_results(res, 3);
	sr_http_free(h);
	sr_loop_free(loop);
}

/* ---- loop behaviour ------------------------------------------------------ */

Test(http, an_idle_listener_lets_the_loop_sleep)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct server s = {.h = h};
	cr_assert_eq(sr_http_route(h, NULL, "/", h_root, &s), 0);
	int fresh = wakeups(loop, 2000);
	cr_assert_leq(fresh, 2, "%d wakeups of a fresh listener in 2 s", fresh);

	struct creq reqs[] = {{.path = "/a"}, {.path = "/b"}};
	struct cres res[2];
	run_requests(loop, h, reqs, 2, false, res);
	cr_assert_eq(res[0].w.status, 200);
	free_results(res, 2);
	wakeups(loop, 300); /* the client's closes arrive */
	int after = wakeups(loop, 2000);
	cr_assert_leq(after, 2, "%d wakeups in 2 s after serving", after);
	sr_http_free(h);
	sr_loop_free(loop);
}

static void assert_loop_empty(struct sr_loop *loop)
{
	cr_assert_eq(sr_loop_run_once(loop, 0), 0, "callbacks ran after free");
	/* with timeout -1 run_once does not block at all when nothing could
	 * wake the loop; a watcher, timer or deferred call left behind would
	 * make it wait (SIGALRM then ends the test as a crash) or run it */
	alarm(5);
	uint64_t t0 = ms_now();
	int n = sr_loop_run_once(loop, -1);
	alarm(0);
	cr_assert_eq(n, 0, "%d callbacks ran after free", n);
	cr_assert_lt(ms_now() - t0, 250, "the loop still had something to wait for");
}

Test(http, free_removes_every_watcher_timer_and_call)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct server s = {.h = h};
	cr_assert_eq(sr_http_route(h, NULL, "/", h_root, &s), 0);
	struct creq reqs[] = {{.path = "/a"}};
	struct cres res[1];
	run_requests(loop, h, reqs, 1, false, res);
	cr_assert_eq(res[0].w.status, 200);
	free_results(res, 1);
	/* connections open at free: one idle, one mid-request */
	int a = connect_raw(sr_http_port(h)), b = connect_raw(sr_http_port(h));
	cr_assert_eq(write(b, "GET / HTTP/1.1\r\n", 16), 16);
	wakeups(loop, 100);
	sr_http_free(h);
	assert_loop_empty(loop);
	/* the listening socket is closed too */
	char c;
	cr_assert_eq(read(a, &c, 1), 0);
	close(a);
	close(b);
	sr_loop_free(loop);
}

static void h_free_self(void *data, const struct sr_http_req *req, struct sr_http_resp *resp)
{
	struct server *s = data;
	(void)req;
	(void)resp;
	s->calls++;
	sr_http_free(s->h);
}

Test(http, a_handler_may_free_the_listener)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct server s = {.h = h};
	cr_assert_eq(sr_http_route(h, NULL, "/", h_free_self, &s), 0);
	struct creq reqs[] = {{.path = "/bye"}};
	struct cres res[1];
	run_requests(loop, h, reqs, 1, false, res);
	cr_assert_eq(s.calls, 1);
	cr_assert_neq(res[0].w.curl_rc, 0, "no answer after the listener is gone");
	free_results(res, 1);
	assert_loop_empty(loop);
	sr_loop_free(loop);
}

/* ---- listen addresses ---------------------------------------------------- */

Test(http, listen_addresses_are_parsed_and_bind_errors_reported)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = NULL;
	char err[256];
	const char *bad[] = {"", "8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:80",
			     "[::1]8080", "example.com:80", "127.0.0.1:8x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert_eq(sr_http_new(loop, bad[i], &h, err, sizeof(err)), -EINVAL, "%s", bad[i]);
		cr_assert_null(h);
		cr_assert(strstr(err, "listen address"), "%s: %s", bad[i], err);
	}
	struct sr_http *a = new_http(loop);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", sr_http_port(a));
	err[0] = '\0';
	cr_assert_eq(sr_http_new(loop, addr, &h, err, sizeof(err)), -EADDRINUSE);
	cr_assert(strstr(err, addr), "%s", err);
	sr_http_free(a);

	/* every address: reachable on 127.0.0.1 */
	cr_assert_eq(sr_http_new(loop, ":0", &h, err, sizeof(err)), 0, "%s", err);
	struct server s = {.h = h};
	cr_assert_eq(sr_http_route(h, NULL, "/", h_root, &s), 0);
	struct creq reqs[] = {{.path = "/"}};
	struct cres res[1];
	run_requests(loop, h, reqs, 1, false, res);
	cr_assert_eq(res[0].w.status, 200);
	cJSON *o = parse(&res[0]);
	cr_assert_str_eq(jstr(o, "remote"), "127.0.0.1");
	cJSON_Delete(o);
	free_results(res, 1);
	sr_http_free(h);

	/* IPv6 loopback where the namespace has it: IPv4 then does not reach it */
	int probe = socket(AF_INET6, SOCK_STREAM, 0);
	if (probe >= 0) {
		close(probe);
		h = NULL;
		if (sr_http_new(loop, "[::1]:0", &h, err, sizeof(err)) == 0) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)sr_http_port(h))};
			a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			cr_assert_neq(connect(fd, (struct sockaddr *)&a4, sizeof(a4)), 0);
			close(fd);
			sr_http_free(h);
		}
	}
	assert_loop_empty(loop);
	sr_loop_free(loop);
}

/* ---- WebSocket ------------------------------------------------------------ */

struct wsrv {
	struct sr_loop *loop;
	int opens, closes;
	char path[64], query[64];
	char *msgs[8];
	size_t lens[8];
	int nmsgs;
	struct sr_http_ws *ws;
	struct sr_timer *tick;
};

static void tick_cb(struct sr_timer *t, void *data)
{
	struct wsrv *w = data;
	(void)t;
	w->tick = NULL;
	/* from a timer, outside any lws callback */
	cr_assert_eq(sr_http_ws_send(w->ws, "tick", 4, false), 0);
}

static int ws_open(void *data, struct sr_http_ws *ws, const struct sr_http_req *req)
{
	struct wsrv *w = data;
	w->opens++;
	w->ws = ws;
	snprintf(w->path, sizeof(w->path), "%s", req->path);
	snprintf(w->query, sizeof(w->query), "%s", req->query);
	sr_http_ws_set_user(ws, w);
	sr_loop_timer(w->loop, 50, tick_cb, w, NULL);
	return 0;
}

static void ws_message(void *data, struct sr_http_ws *ws, const char *msg, size_t len, bool binary)
{
	struct wsrv *w = data;
	cr_assert_eq(sr_http_ws_user(ws), w);
	cr_assert(!binary);
	if (w->nmsgs < 8) {
		w->msgs[w->nmsgs] = malloc(len + 1);
		memcpy(w->msgs[w->nmsgs], msg, len);
		w->msgs[w->nmsgs][len] = '\0';
		w->lens[w->nmsgs++] = len;
	}
	if (len == 3 && memcmp(msg, "bye", 3) == 0) {
		sr_http_ws_close(ws);
		return;
	}
	char *out = malloc(len + 5);
	memcpy(out, "echo:", 5);
	memcpy(out + 5, msg, len);
	cr_assert_eq(sr_http_ws_send(ws, out, len + 5, false), 0);
	free(out);
}

static void ws_closed(void *data, struct sr_http_ws *ws)
{
	struct wsrv *w = data;
	(void)ws;
	w->closes++;
	w->ws = NULL;
}

/* The child's libwebsockets client: waits for "tick", sends "hello", then a
 * big message, then "bye"; reports each message it received (length-
 * prefixed) and finally "closed". */
struct wscli {
	unsigned port;
	int wfd;
	const char *path;
	char *rx;
	size_t rx_len;
	int received, sent;
	bool quiet;    /* only listens */
	bool oversize; /* sends one message over the limit at once */
	bool done;
	size_t big;
	char *big_msg;
};

static void report(struct wscli *c, const char *p, size_t n)
{
	write_all(c->wfd, &n, sizeof(n));
	write_all(c->wfd, p, n);
}

static int wscli_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wscli *c = lws_context_user(lws_get_context(wsi));
	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		report(c, "refused", 7);
		c->done = true;
		return -1;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (lws_is_first_fragment(wsi))
			c->rx_len = 0;
		c->rx = realloc(c->rx, c->rx_len + len + 1);
		memcpy(c->rx + c->rx_len, in, len);
		c->rx_len += len;
		if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
			return 0;
		report(c, c->rx, c->rx_len);
		c->received++;
		lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (c->oversize)
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
		char msg[32];
		const unsigned char *b = in;
		int n = snprintf(msg, sizeof(msg), "close:%d", len >= 2 ? (b[0] << 8) | b[1] : 0);
		report(c, msg, (size_t)n);
		return 0;
	}
	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		if (c->oversize) {
			if (c->sent++)
				return 0;
			size_t n = SR_HTTP_WS_MAX_MSG + 1;
			unsigned char *buf = calloc(1, LWS_PRE + n);
			memset(buf + LWS_PRE, 'x', n);
			int rc = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
			free(buf);
			return rc < (int)n ? -1 : 0;
		}
		/* one message per message received: tick -> hello, echo -> big,
		 * echo -> bye */
		const char *m = NULL;
		size_t n = 0;
		if (c->quiet || c->sent >= c->received)
			return 0;
		if (c->sent == 0)
			m = "hello", n = 5;
		else if (c->sent == 1)
			m = c->big_msg, n = c->big;
		else if (c->sent == 2)
			m = "bye", n = 3;
		if (!m)
			return 0;
		c->sent++;
		unsigned char *buf = malloc(LWS_PRE + n);
		memcpy(buf + LWS_PRE, m, n);
		int rc = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
		free(buf);
		return rc < (int)n ? -1 : 0;
	}
	case LWS_CALLBACK_CLIENT_CLOSED:
		report(c, "closed", 6);
		c->done = true;
		return 0;
	default:
		return 0;
	}
}

static void ws_child(void *arg, int wfd)
{
	struct wscli *c = arg;
	c->wfd = wfd;
	c->big = 100000;
	c->big_msg = malloc(c->big);
	for (size_t i = 0; i < c->big; i++)
		c->big_msg[i] = (char)('a' + i % 26);
	struct lws_protocols protos[] = {{"c", wscli_cb, 0, 0, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};
	lws_set_log_level(LLL_ERR, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protos;
	info.user = c;
	struct lws_context *ctx = lws_create_context(&info);
	if (!ctx)
		_exit(4);
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof(ci));
	ci.context = ctx;
	ci.address = "127.0.0.1";
	ci.port = (int)c->port;
	ci.path = c->path;
	ci.host = "127.0.0.1";
	ci.origin = "127.0.0.1";
	ci.local_protocol_name = "c";
	if (!lws_client_connect_via_info(&ci))
		report(c, "refused", 7), c->done = true;
	uint64_t end = ms_now() + 15000;
	while (!c->done && ms_now() < end)
		lws_service(ctx, 0);
	/* the child does not tidy up: _exit follows */
	_exit(c->done ? 0 : 5);
}

static int ws_messages(const char *buf, size_t len, char **out, size_t *lens, int max)
{
	int n = 0;
	for (size_t off = 0; off + sizeof(size_t) <= len && n < max;) {
		size_t l;
		memcpy(&l, buf + off, sizeof(l));
		off += sizeof(l);
		cr_assert_leq(off + l, len);
		out[n] = malloc(l + 1);
		memcpy(out[n], buf + off, l);
		out[n][l] = '\0';
		lens[n++] = l;
		off += l;
	}
	return n;
}

Test(http, websocket_route_echoes_pushes_and_closes)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct wsrv w = {.loop = loop};
	struct sr_http_ws_ops ops = {.on_open = ws_open, .on_message = ws_message, .on_close = ws_closed};
	cr_assert_eq(sr_http_ws_route(h, "/ws", &ops, &w), 0);
	cr_assert_eq(sr_http_ws_route(h, "/ws", &ops, &w), -EEXIST);

	struct wscli c = {.path = "/ws?chan=1", .port = sr_http_port(h)};
	size_t len;
	char *buf = run_child(loop, ws_child, &c, &len);
	char *got[8];
	size_t lens[8];
	int n = ws_messages(buf, len, got, lens, 8);
	free(buf);
	/* the client got: the pushed tick, both echoes, then the close */
	cr_assert_eq(n, 4, "%d messages", n);
	cr_assert_str_eq(got[0], "tick");
	cr_assert_str_eq(got[1], "echo:hello");
	cr_assert_eq(lens[2], 100005u);
	cr_assert_eq(memcmp(got[2], "echo:abcdefghij", 15), 0);
	cr_assert_eq(got[2][100004], (char)('a' + 99999 % 26));
	cr_assert_str_eq(got[3], "closed");
	for (int i = 0; i < n; i++)
		free(got[i]);
	wakeups(loop, 100);
	cr_assert_eq(w.opens, 1);
	cr_assert_eq(w.closes, 1);
	cr_assert_str_eq(w.path, "/ws");
	cr_assert_str_eq(w.query, "chan=1");
	cr_assert_eq(w.nmsgs, 3);
	cr_assert_str_eq(w.msgs[0], "hello");
	cr_assert_eq(w.lens[1], 100000u);
	cr_assert_str_eq(w.msgs[2], "bye");
	for (int i = 0; i < w.nmsgs; i++)
		free(w.msgs[i]);
	sr_http_free(h);
	assert_loop_empty(loop);
	sr_loop_free(loop);
}

Test(http, websocket_upgrades_elsewhere_are_refused)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct wsrv w = {.loop = loop};
	struct sr_http_ws_ops ops = {.on_open = ws_open, .on_message = ws_message, .on_close = ws_closed};
	cr_assert_eq(sr_http_ws_route(h, "/ws", &ops, &w), 0);
	struct wscli c = {.path = "/other", .port = sr_http_port(h)};
	size_t len;
	char *buf = run_child(loop, ws_child, &c, &len);
	char *got[8];
	size_t lens[8];
	int n = ws_messages(buf, len, got, lens, 8);
	free(buf);
	cr_assert_geq(n, 1);
	cr_assert(strcmp(got[n - 1], "refused") == 0 || strcmp(got[n - 1], "closed") == 0, "%s", got[n - 1]);
	cr_assert_eq(n, 1, "no message before the refusal");
	for (int i = 0; i < n; i++)
		free(got[i]);
	cr_assert_eq(w.opens, 0);
	sr_http_free(h);
	sr_loop_free(loop);
}

static int ws_open_keep(void *data, struct sr_http_ws *ws, const struct sr_http_req *req)
{
	struct wsrv *w = data;
	(void)req;
	w->opens++;
	w->ws = ws;
	/* a greeting from inside on_open */
	cr_assert_eq(sr_http_ws_send(ws, "hi", 2, false), 0);
	return 0;
}

/* The client child for the teardown test: connects and waits for the
 * close, reporting messages as above. */
static void ws_wait_child(void *arg, int wfd)
{
	struct wscli *c = arg;
	c->quiet = true;
	ws_child(c, wfd);
}

Test(http, free_closes_open_websockets_and_calls_on_close)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct wsrv w = {.loop = loop};
	struct sr_http_ws_ops ops = {.on_open = ws_open_keep, .on_message = ws_message, .on_close = ws_closed};
	cr_assert_eq(sr_http_ws_route(h, "/ws", &ops, &w), 0);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct wscli c = {.path = "/ws", .port = sr_http_port(h)};
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		ws_wait_child(&c, p[1]);
	}
	close(p[1]);
	uint64_t end = ms_now() + 10000;
	while (w.opens == 0 && ms_now() < end)
		sr_loop_run_once(loop, 100);
	cr_assert_eq(w.opens, 1);
	wakeups(loop, 200); /* the greeting goes out */
	sr_http_free(h);
	cr_assert_eq(w.closes, 1, "on_close ran during free");
	assert_loop_empty(loop);
	/* the client saw the connection end */
	char buf[64];
	size_t got = 0;
	ssize_t k;
	while ((k = read(p[0], buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)k;
	close(p[0]);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* the greeting sent from on_open, then the end */
	cr_assert_eq(got, 2 * sizeof(size_t) + 2 + 6);
	cr_assert_eq(memcmp(buf + sizeof(size_t), "hi", 2), 0);
	cr_assert_eq(memcmp(buf + 2 * sizeof(size_t) + 2, "closed", 6), 0);
	sr_loop_free(loop);
}

Test(http, websocket_messages_over_the_limit_close_with_1009)
{
	struct sr_loop *loop = new_loop();
	struct sr_http *h = new_http(loop);
	struct wsrv w = {.loop = loop};
	struct sr_http_ws_ops ops = {.on_open = ws_open_keep, .on_message = ws_message, .on_close = ws_closed};
	cr_assert_eq(sr_http_ws_route(h, "/ws", &ops, &w), 0);
	struct wscli c = {.path = "/ws", .port = sr_http_port(h), .oversize = true};
	size_t len;
	char *buf = run_child(loop, ws_child, &c, &len);
	char *got[8];
	size_t lens[8];
	int n = ws_messages(buf, len, got, lens, 8);
	free(buf);
	cr_assert_eq(n, 3, "%d reports", n);
	cr_assert_str_eq(got[0], "hi");
	cr_assert_str_eq(got[1], "close:1009");
	cr_assert_str_eq(got[2], "closed");
	for (int i = 0; i < n; i++)
		free(got[i]);
	wakeups(loop, 100);
	cr_assert_eq(w.opens, 1);
	cr_assert_eq(w.nmsgs, 0, "no message was delivered");
	cr_assert_eq(w.closes, 1);
	sr_http_free(h);
	assert_loop_empty(loop);
	sr_loop_free(loop);
}
