/* test_webchat.c — the built-in web chat as its page and the bot see it:
 * the real HTTP listener on 127.0.0.1 (or every address, for the token),
 * clients in forked children (libcurl, a libwebsockets client) while the
 * test's loop serves; the bot's REST answered by the in-process store with
 * Mattermost's semantics; and the whole demo flow over the real test sshd
 * (runtime none, tmux holder) with `smrelay demo-tui` in the session:
 * start from the channel box, the live post edited in place, an approval
 * card whose Approve button makes the firewall (log backend) allow
 * pypi.org and types the approval into the program, which continues.
 * GUARD_S only guards against hangs. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_mm.h"
#include "sr_chat.h"
#include "sr_config.h"
#include "sr_fw.h"
#include "sr_http.h"
#include "sr_log.h"
#include "sr_loop.h"
#include "sr_relay.h"
#include "sr_webchat.h"
#include "sshd_harness.h"
#include "relay_env.h"

#define GUARD_S 40.0

static struct sshd D;
static struct sr_loop *L;
static struct sr_relay *R;
static struct sr_fw *FW;
static struct sr_http *H;
static struct sr_webchat *W;
static struct sr_chat *CH;
static struct fake_mm F;
static struct sr_config C;
static char TMP[256];


static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void teardown(void)
{
	sr_webchat_free(W);
	W = NULL;
	sr_chat_free(CH);
	CH = NULL;
	sr_http_free(H);
	H = NULL;
	sr_fw_free(FW);
	FW = NULL;
	sr_relay_free(R);
	R = NULL;
	sr_config_free(&C);
	sshd_stop(&D);
	fake_mm_stop(&F);
	sr_loop_free(L);
	L = NULL;
	if (TMP[0]) {
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", TMP);
		if (system(cmd) < 0) {
		}
		TMP[0] = '\0';
	}
	renv_reset();
	sr_log_set_level(SR_LOG_INFO);
}

TestSuite(webchat, .fini = teardown);

enum vm { NO_VM, SSHD_VM, LOCAL_VM };

/* The daemon's parts as `smrelay demo` assembles them, sessions running
 * `smrelay demo-tui --fast` on the test sshd or on this machine (`local`),
 * or nowhere. */
static void up(enum vm vm, const char *listen, const char *user, const char *token)
{
	sr_log_set_level(SR_LOG_WARN);
	snprintf(TMP, sizeof(TMP), "/tmp/smrelay-webchat-XXXXXX");
	cr_assert_not_null(mkdtemp(TMP));
	cr_assert_eq(sr_loop_new(&L), 0);
	char buf[1024];
	if (vm == LOCAL_VM)
		renv_set("SM_VM_HOST", "local");
	if (vm == SSHD_VM) {
		cr_assert_eq(sshd_start(&D), 0, "%s", D.err);
		snprintf(buf, sizeof(buf), "127.0.0.1:%u", D.port);
		renv_set("SM_VM_HOST", buf);
		renv_set("SM_VM_USER", D.user);
		renv_set("SM_VM_SSH_KEY_PATH", D.user_key);
		renv_set("SM_VM_KNOWN_HOSTS", D.known_hosts);
	}
	renv_set("SM_CONTAINER_RUNTIME", "none");
	snprintf(buf, sizeof(buf), "%s demo-tui --fast", SR_SMRELAY_BIN);
	renv_set("SM_CLAUDE_COMMAND", buf);
	snprintf(buf, sizeof(buf), "%s/demo", TMP);
	mkdir(buf, 0755);
	snprintf(buf, sizeof(buf), "{\"demo\": \"%s/demo\"}", TMP);
	renv_set("SM_PROJECTS", buf);
	snprintf(buf, sizeof(buf), "%s/state", TMP);
	renv_set("SM_STATE_DIR", buf);
	renv_set("SM_CONTAINER_ENV", "SMRELAY_UNSET_VAR");
	renv_set("SM_COLS", "80");
	renv_set("SM_ROWS", "24");
	if (!renv_get("SM_ALLOWED_USERS"))
		renv_set("SM_ALLOWED_USERS", "you");
	renv_set("SM_LISTEN_ADDR", listen);
	snprintf(buf, sizeof(buf), "%s/audit.jsonl", TMP);
	renv_set("SM_AUDIT_LOG", buf);
	char err[1024];
	cr_assert_eq(sr_config_load(&C, renv_get, err, sizeof(err)), 0, "%s", err);
	struct sr_relay_opts ro = {.loop = L, .cfg = &C};
	cr_assert_eq(sr_relay_new(&ro, &R, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sr_fw_new(L, &C, &FW, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sr_fw_follow(FW, R), 0);
	cr_assert_eq(sr_http_new(L, C.listen_addr, &H, err, sizeof(err)), 0, "%s", err);
	if (C.mm_url)
		cr_assert_eq(sr_chat_new(L, &C, R, FW, H, &CH, err, sizeof(err)), 0, "%s", err);
	struct sr_webchat_opts wo = {.loop = L, .cfg = &C, .relay = R, .fw = FW, .http = H,
				     .user = user, .token = token, .chat = CH};
	cr_assert_eq(sr_webchat_new(&wo, &W, err, sizeof(err)), 0, "%s", err);
	if (vm != NO_VM) {
		double end = now_s() + GUARD_S;
		while (!sr_host_ready(sr_relay_host(R, 0))) {
			cr_assert(now_s() < end, "the test sshd never became ready");
			cr_assert_geq(sr_loop_run_once(L, 50), 0);
		}
	}
}

/* ---- an HTTP client in a child, the loop serving meanwhile ------------------------ */

struct hres {
	long status;
	char ctype[128], cookie[256], location[128], csp[512], auth[128];
	char *body;
};

struct wire {
	long status;
	size_t body_len;
	char ctype[128], cookie[256], location[128], csp[512], auth[128];
};

struct buf {
	char *p;
	size_t len;
};

static size_t buf_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;
	size_t n = size * nmemb;
	char *q = realloc(b->p, b->len + n + 1);
	if (!q)
		return 0;
	memcpy(q + b->len, ptr, n);
	b->p = q;
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static void copy_header(CURL *e, const char *name, char *dst, size_t len)
{
	struct curl_header *hd = NULL;
	dst[0] = '\0';
	if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &hd) == CURLHE_OK && hd->value)
		snprintf(dst, len, "%s", hd->value);
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

/* Reads fd to its end, serving the loop meanwhile. */
static char *drain(int fd, size_t *len)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	char *out = NULL;
	size_t n = 0;
	double end = now_s() + GUARD_S;
	for (;;) {
		char tmp[65536];
		ssize_t r = read(fd, tmp, sizeof(tmp));
		if (r > 0) {
			out = realloc(out, n + (size_t)r + 1);
			memcpy(out + n, tmp, (size_t)r);
			n += (size_t)r;
			continue;
		}
		if (r == 0)
			break;
		cr_assert(errno == EAGAIN || errno == EINTR, "read: %s", strerror(errno));
		cr_assert(now_s() < end, "the client child never finished");
		cr_assert_geq(sr_loop_run_once(L, 10), 0);
	}
	if (!out)
		out = calloc(1, 1);
	else
		out[n] = '\0';
	*len = n;
	return out;
}

/* One request; headers: NULL-terminated extra header lines. */
static struct hres http(const char *method, const char *path, const char *body,
			const char *const *headers)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		CURL *e = curl_easy_init();
		char url[600];
		snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", sr_http_port(H), path);
		curl_easy_setopt(e, CURLOPT_URL, url);
		curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 20000L);
		struct buf b = {0};
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, buf_write);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
		if (body) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
		}
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
		struct curl_slist *hl = NULL;
		for (size_t i = 0; headers && headers[i]; i++)
			hl = curl_slist_append(hl, headers[i]);
		if (hl)
			curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
		struct wire w;
		memset(&w, 0, sizeof(w));
		int rc = curl_easy_perform(e);
		if (rc == CURLE_OK)
			curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &w.status);
		else
			w.status = -rc;
		copy_header(e, "Content-Type", w.ctype, sizeof(w.ctype));
		copy_header(e, "Set-Cookie", w.cookie, sizeof(w.cookie));
		copy_header(e, "Location", w.location, sizeof(w.location));
		copy_header(e, "Content-Security-Policy", w.csp, sizeof(w.csp));
		copy_header(e, "WWW-Authenticate", w.auth, sizeof(w.auth));
		w.body_len = b.len;
		write_all(p[1], &w, sizeof(w));
		if (b.len)
			write_all(p[1], b.p, b.len);
		_exit(0);
	}
	close(p[1]);
	size_t len = 0;
	char *out = drain(p[0], &len);
	close(p[0]);
	int st = 0;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client child status %d", st);
	struct wire w;
	cr_assert_geq(len, sizeof(w), "short answer");
	memcpy(&w, out, sizeof(w));
	struct hres r = {.status = w.status};
	memcpy(r.ctype, w.ctype, sizeof(r.ctype));
	memcpy(r.cookie, w.cookie, sizeof(r.cookie));
	memcpy(r.location, w.location, sizeof(r.location));
	memcpy(r.csp, w.csp, sizeof(r.csp));
	memcpy(r.auth, w.auth, sizeof(r.auth));
	r.body = malloc(w.body_len + 1);
	memcpy(r.body, out + sizeof(w), w.body_len);
	r.body[w.body_len] = '\0';
	free(out);
	return r;
}

static const char *const JSON_HDR[] = {"Content-Type: application/json", NULL};

/* POST /api/post as the page does; returns the new post's id. */
static void page_post(const char *root, const char *msg, char *id, size_t idlen)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "message", msg);
	if (root)
		cJSON_AddStringToObject(o, "root_id", root);
	char *b = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	struct hres r = http("POST", "/api/post", b, JSON_HDR);
	free(b);
	cr_assert_eq(r.status, 201, "post: %ld %s", r.status, r.body);
	cJSON *j = cJSON_Parse(r.body);
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(j, "id");
	cr_assert(cJSON_IsString(pid) && strlen(pid->valuestring) == 26, "%s", r.body);
	if (id)
		snprintf(id, idlen, "%s", pid->valuestring);
	cJSON_Delete(j);
	free(r.body);
}

static char *page_posts(void)
{
	struct hres r = http("GET", "/api/posts?since=0", NULL, NULL);
	cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
	return r.body;
}

/* Serves until the page's posts contain text; returns them. */
static char *wait_posts(const char *text)
{
	double end = now_s() + GUARD_S;
	for (;;) {
		char *p = page_posts();
		if (strstr(p, text))
			return p;
		size_t len = strlen(p);
		cr_assert(now_s() < end, "no '%s' in the posts (the end of them):\n%s", text,
			  p + (len > 4000 ? len - 4000 : 0));
		free(p);
		for (int i = 0; i < 10; i++)
			cr_assert_geq(sr_loop_run_once(L, 20), 0);
	}
}

/* The post in the posts JSON that matches: has text in its message (or
 * its props, with_props) and, with min_edits, was edited that often. */
static cJSON *find_post(const char *posts_json, const char *text, bool in_props, int min_edits)
{
	cJSON *o = cJSON_Parse(posts_json);
	cJSON *found = NULL, *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(o, "posts"))
	{
		char *s = in_props ? cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(p, "props"))
				   : strdup(cJSON_GetObjectItemCaseSensitive(p, "message")->valuestring);
		const cJSON *ec = cJSON_GetObjectItemCaseSensitive(p, "edit_count");
		if (s && strstr(s, text) && cJSON_IsNumber(ec) && ec->valueint >= min_edits) {
			cJSON_Delete(found);
			found = cJSON_Duplicate(p, true);
		}
		free(s);
	}
	cJSON_Delete(o);
	return found;
}

/* Serves until find_post finds the post; the caller deletes it. */
static cJSON *wait_post(const char *text, bool in_props, int min_edits)
{
	double end = now_s() + GUARD_S;
	for (;;) {
		char *p = page_posts();
		cJSON *found = find_post(p, text, in_props, min_edits);
		if (found) {
			free(p);
			return found;
		}
		size_t len = strlen(p);
		cr_assert(now_s() < end, "no post with '%s' (edited %d+ times); the end of the posts:\n%s",
			  text, min_edits, p + (len > 4000 ? len - 4000 : 0));
		free(p);
		for (int i = 0; i < 10; i++)
			cr_assert_geq(sr_loop_run_once(L, 20), 0);
	}
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* ---- the page and its assets --------------------------------------------------------- */

Test(webchat, page_and_assets_are_served_with_a_strict_policy)
{
	up(NO_VM, "127.0.0.1:0", NULL, NULL);
	struct hres r = http("GET", "/", NULL, NULL);
	cr_assert_eq(r.status, 200);
	cr_assert_not_null(strstr(r.ctype, "text/html"), "%s", r.ctype);
	cr_assert_not_null(strstr(r.body, "<script src=\"/app.js\"></script>"));
	cr_assert_not_null(strstr(r.body, "id=\"channel-input\""));
	cr_assert_not_null(strstr(r.csp, "script-src 'self'"), "CSP: %s", r.csp);
	cr_assert_not_null(strstr(r.csp, "frame-ancestors 'none'"), "CSP: %s", r.csp);
	free(r.body);
	r = http("GET", "/app.js", NULL, NULL);
	cr_assert_eq(r.status, 200);
	cr_assert_not_null(strstr(r.ctype, "text/javascript"), "%s", r.ctype);
	/* data is only ever rendered as text */
	cr_assert_not_null(strstr(r.body, "textContent"));
	cr_assert_null(strstr(r.body, "innerHTML"));
	cr_assert_null(strstr(r.body, "insertAdjacentHTML"));
	cr_assert_null(strstr(r.body, "document.write"));
	free(r.body);
	r = http("GET", "/app.css", NULL, NULL);
	cr_assert_eq(r.status, 200);
	cr_assert_not_null(strstr(r.ctype, "text/css"), "%s", r.ctype);
	free(r.body);
	r = http("GET", "/nothing-here", NULL, NULL);
	cr_assert_eq(r.status, 404);
	free(r.body);
	r = http("GET", "/api/posts?since=x", NULL, NULL);
	cr_assert_eq(r.status, 400, "%s", r.body);
	free(r.body);
	r = http("GET", "/api/posts?since=0", NULL, NULL);
	cr_assert_eq(r.status, 200);
	cJSON *o = cJSON_Parse(r.body);
	cr_assert_str_eq(str(cJSON_GetObjectItemCaseSensitive(o, "me"), "username"), "you");
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "posts")), 0);
	cJSON_Delete(o);
	free(r.body);
	r = http("GET", "/api/sessions", NULL, NULL);
	cr_assert_eq(r.status, 200);
	o = cJSON_Parse(r.body);
	cr_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "sessions")), "%s", r.body);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "audit_enabled")), "%s", r.body);
	cJSON_Delete(o);
	free(r.body);
}

/* ---- the bot's REST, as Mattermost answers it ---------------------------------------- */

struct got {
	int calls;
	int rc;
	long status;
	cJSON *body;
};

static void got_cb(void *data, int rc, long status, const cJSON *resp, const char *msg)
{
	(void)msg;
	struct got *g = data;
	g->calls++;
	g->rc = rc;
	g->status = status;
	cJSON_Delete(g->body);
	g->body = resp ? cJSON_Duplicate(resp, true) : NULL;
}

static void rest(const char *method, const char *path, const char *body_json, const char *key,
		 struct got *g)
{
	cJSON *b = body_json ? cJSON_Parse(body_json) : NULL;
	cr_assert(!body_json || b, "bad test JSON %s", body_json);
	int before = g->calls;
	long h = sr_webchat_rest(W, method, path, b, key, got_cb, g);
	cJSON_Delete(b);
	cr_assert_gt(h, 0);
	/* never answered from inside the call */
	cr_assert_eq(g->calls, before, "answered re-entrantly");
	double end = now_s() + GUARD_S;
	while (g->calls == before) {
		cr_assert(now_s() < end);
		cr_assert_geq(sr_loop_run_once(L, 10), 0);
	}
}

Test(webchat, the_bots_rest_calls_get_mattermost_answers)
{
	up(NO_VM, "127.0.0.1:0", NULL, NULL);
	struct hres r = http("GET", "/api/posts?since=0", NULL, NULL);
	cJSON *meta = cJSON_Parse(r.body);
	free(r.body);
	char chan[64], path[200], body[1024];
	snprintf(chan, sizeof(chan), "%s", str(meta, "channel_id"));
	cJSON_Delete(meta);
	cr_assert_eq(strlen(chan), 26);

	/* create: 201, a new id, the integration kept from clients */
	struct got g = {0};
	snprintf(body, sizeof(body),
		 "{\"channel_id\":\"%s\",\"message\":\"card\",\"props\":{\"attachments\":[{\"title\":\"t\","
		 "\"actions\":[{\"id\":\"approve\",\"name\":\"Approve\",\"integration\":{\"url\":\"http://x/\","
		 "\"context\":{\"secret\":\"s3cr3t\"}}},{\"name\":\"No id\",\"integration\":{\"url\":\"http://x/\"}}]}]}}",
		 chan);
	rest("POST", "/api/v4/posts", body, NULL, &g);
	cr_assert_eq(g.rc, 0);
	cr_assert_eq(g.status, 201);
	char id[64];
	snprintf(id, sizeof(id), "%s", str(g.body, "id"));
	cr_assert_eq(strlen(id), 26);
	char *s = cJSON_PrintUnformatted(g.body);
	cr_assert_null(strstr(s, "s3cr3t"), "the integration reached a client: %s", s);
	cr_assert_null(strstr(s, "integration"), "%s", s);
	cr_assert_not_null(strstr(s, "\"from_bot\":\"true\""), "%s", s);
	free(s);
	/* the action without an id got one (26 characters) */
	const cJSON *acts = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(g.body, "props"),
								    "attachments"),
				   0),
		"actions");
	cr_assert_eq(strlen(str(cJSON_GetArrayItem(acts, 1), "id")), 26);
	double created = cJSON_GetObjectItemCaseSensitive(g.body, "update_at")->valuedouble;

	/* a reply to a reply is refused, as Mattermost does */
	struct got g2 = {0};
	snprintf(body, sizeof(body), "{\"channel_id\":\"%s\",\"root_id\":\"%s\",\"message\":\"reply\"}", chan, id);
	rest("POST", "/api/v4/posts", body, NULL, &g2);
	cr_assert_eq(g2.status, 201);
	snprintf(body, sizeof(body), "{\"channel_id\":\"%s\",\"root_id\":\"%s\",\"message\":\"x\"}", chan,
		 str(g2.body, "id"));
	rest("POST", "/api/v4/posts", body, NULL, &g2);
	cr_assert_eq(g2.status, 400);
	cr_assert_eq(g2.rc, -EINVAL);
	rest("POST", "/api/v4/posts", "{\"channel_id\":\"nochannel\",\"message\":\"x\"}", NULL, &g2);
	cr_assert_eq(g2.status, 403);

	/* patch with only a message keeps the buttons */
	snprintf(path, sizeof(path), "/api/v4/posts/%s/patch", id);
	rest("PUT", path, "{\"message\":\"edited\"}", NULL, &g);
	cr_assert_eq(g.status, 200);
	cr_assert_str_eq(str(g.body, "message"), "edited");
	cr_assert_gt(cJSON_GetObjectItemCaseSensitive(g.body, "edit_at")->valuedouble, 0);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(g.body, "edit_count")->valueint, 1);
	s = cJSON_PrintUnformatted(g.body);
	cr_assert_not_null(strstr(s, "\"Approve\""), "%s", s);
	free(s);
	/* props, when given, replace all of them */
	rest("PUT", path, "{\"props\":{\"attachments\":[{\"title\":\"decided\"}]}}", NULL, &g);
	cr_assert_eq(g.status, 200);
	cr_assert_str_eq(str(g.body, "message"), "edited");
	s = cJSON_PrintUnformatted(g.body);
	cr_assert_null(strstr(s, "Approve"), "%s", s);
	cr_assert_null(strstr(s, "from_bot"), "%s", s);
	cr_assert_not_null(strstr(s, "decided"), "%s", s);
	free(s);
	rest("PUT", "/api/v4/posts/aaaaaaaaaaaaaaaaaaaaaaaaaa/patch", "{\"message\":\"x\"}", NULL, &g);
	cr_assert_eq(g.status, 404);
	cr_assert_eq(g.rc, -ENOENT);

	/* coalescing: a queued patch with the same key is replaced */
	struct got first = {0}, second = {0};
	cJSON *m1 = cJSON_Parse("{\"message\":\"one\"}"), *m2 = cJSON_Parse("{\"message\":\"two\"}");
	cr_assert_gt(sr_webchat_rest(W, "PUT", path, m1, "k", got_cb, &first), 0);
	cr_assert_gt(sr_webchat_rest(W, "PUT", path, m2, "k", got_cb, &second), 0);
	cJSON_Delete(m1);
	cJSON_Delete(m2);
	cr_assert_eq(first.calls, 1);
	cr_assert_eq(first.rc, -ECANCELED);
	while (!second.calls)
		cr_assert_geq(sr_loop_run_once(L, 10), 0);
	cr_assert_str_eq(str(second.body, "message"), "two");

	/* users and the posts since a time */
	rest("GET", "/api/v4/users/me", NULL, NULL, &g);
	cr_assert_eq(g.status, 200);
	cr_assert_str_eq(str(g.body, "username"), "claude");
	snprintf(path, sizeof(path), "/api/v4/users/%s", str(g.body, "id"));
	rest("GET", path, NULL, NULL, &g);
	cr_assert_str_eq(str(g.body, "username"), "claude");
	rest("GET", "/api/v4/users/nobodynobodynobodynobody12", NULL, NULL, &g);
	cr_assert_eq(g.status, 404);
	snprintf(path, sizeof(path), "/api/v4/channels/%s/posts?since=%.0f", chan, created);
	rest("GET", path, NULL, NULL, &g);
	cr_assert_eq(g.status, 200);
	/* the card was edited after `created`; the first reply was not */
	const cJSON *posts = cJSON_GetObjectItemCaseSensitive(g.body, "posts");
	cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(posts, id));
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(g.body, "order")),
		     cJSON_GetArraySize(posts));
	snprintf(path, sizeof(path), "/api/v4/channels/%s/posts?since=soon", chan);
	rest("GET", path, NULL, NULL, &g);
	cr_assert_eq(g.status, 400);
	rest("DELETE", "/api/v4/posts", NULL, NULL, &g);
	cr_assert_eq(g.status, 404);

	/* the page never sees the integration either */
	r = http("GET", "/api/posts?since=0", NULL, NULL);
	cr_assert_null(strstr(r.body, "s3cr3t"));
	cr_assert_null(strstr(r.body, "integration"));
	free(r.body);
	cJSON_Delete(g.body);
	cJSON_Delete(g2.body);
	cJSON_Delete(first.body);
	cJSON_Delete(second.body);
}

/* ---- a WebSocket client in a child --------------------------------------------------- */

struct wscli {
	unsigned port;
	int wfd;
	const char *path; /* NULL: /ws */
	const char *origin;
	const char *want; /* stop once a message contains this */
	char *rx;
	size_t rx_len;
	bool done;
};

static void report(struct wscli *c, const char *p, size_t n)
{
	write_all(c->wfd, p, n);
	write_all(c->wfd, "\n", 1);
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
		c->rx[c->rx_len] = '\0';
		if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
			return 0;
		report(c, c->rx, c->rx_len);
		if (strstr(c->rx, c->want)) {
			c->done = true;
			return -1;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		report(c, "closed", 6);
		c->done = true;
		return 0;
	default:
		return 0;
	}
}

static void ws_child(struct wscli *c)
{
	struct lws_protocols protos[] = {{"c", wscli_cb, 0, 0, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};
	lws_set_log_level(0, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protos;
	info.user = c;
	struct lws_context *ctx = lws_create_context(&info);
	if (!ctx)
		_exit(4);
	char host[64];
	snprintf(host, sizeof(host), "127.0.0.1:%u", c->port);
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof(ci));
	ci.context = ctx;
	ci.address = "127.0.0.1";
	ci.port = (int)c->port;
	ci.path = c->path ? c->path : "/ws";
	ci.host = host;
	ci.origin = c->origin;
	ci.local_protocol_name = "c";
	if (!lws_client_connect_via_info(&ci))
		report(c, "refused", 7), c->done = true;
	double end = now_s() + 20;
	while (!c->done && now_s() < end)
		lws_service(ctx, 0);
	_exit(c->done ? 0 : 5);
}

/* Runs the client in a child until it is done; what it got, one message a
 * line. */
static char *ws_run(struct wscli *c)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		c->wfd = p[1];
		ws_child(c);
	}
	close(p[1]);
	size_t len;
	char *out = drain(p[0], &len);
	close(p[0]);
	waitpid(pid, NULL, 0);
	return out;
}

/* ---- security ---------------------------------------------------------------------- */

Test(webchat, posts_from_other_sites_and_rebound_names_are_refused)
{
	up(NO_VM, "127.0.0.1:0", NULL, NULL);
	char origin[128], evil_host[64];
	snprintf(origin, sizeof(origin), "Origin: http://127.0.0.1:%u", sr_http_port(H));
	snprintf(evil_host, sizeof(evil_host), "Host: evil.example:%u", sr_http_port(H));
	const char *msg = "{\"message\":\"hello\"}";

	const char *const cross[] = {"Content-Type: application/json", "Origin: http://evil.example", NULL};
	struct hres r = http("POST", "/api/post", msg, cross);
	cr_assert_eq(r.status, 403, "%s", r.body);
	free(r.body);
	const char *const fetch_site[] = {"Content-Type: application/json", "Sec-Fetch-Site: cross-site", NULL};
	r = http("POST", "/api/post", msg, fetch_site);
	cr_assert_eq(r.status, 403, "%s", r.body);
	free(r.body);
	/* what an HTML form can send without a preflight */
	const char *const form[] = {"Content-Type: text/plain", origin, NULL};
	r = http("POST", "/api/post", msg, form);
	cr_assert_eq(r.status, 415, "%s", r.body);
	free(r.body);
	r = http("POST", "/api/click", "{\"post_id\":\"x\",\"action_id\":\"approve\"}", cross);
	cr_assert_eq(r.status, 403, "%s", r.body);
	free(r.body);
	/* DNS rebinding: a foreign name pointing at 127.0.0.1 */
	const char *const rebound[] = {evil_host, NULL};
	r = http("GET", "/api/posts?since=0", NULL, rebound);
	cr_assert_eq(r.status, 403, "%s", r.body);
	free(r.body);
	r = http("GET", "/", NULL, rebound);
	cr_assert_eq(r.status, 403, "%s", r.body);
	free(r.body);
	r = http("GET", "/api/posts?since=0", NULL, NULL);
	cr_assert_null(strstr(r.body, "hello"), "a refused post was stored");
	free(r.body);

	/* the page's own request is fine; bad bodies are 400, unknown posts 404 */
	const char *const same[] = {"Content-Type: application/json; charset=utf-8", origin, NULL};
	r = http("POST", "/api/post", msg, same);
	cr_assert_eq(r.status, 201, "%s", r.body);
	free(r.body);
	r = http("POST", "/api/post", "{\"message\":\"  \"}", same);
	cr_assert_eq(r.status, 400, "%s", r.body);
	free(r.body);
	r = http("POST", "/api/post", "not json", same);
	cr_assert_eq(r.status, 400, "%s", r.body);
	free(r.body);
	r = http("POST", "/api/post", "{\"message\":\"x\",\"root_id\":\"nonexistentnonexistent1234\"}", same);
	cr_assert_eq(r.status, 400, "%s", r.body);
	free(r.body);
	r = http("POST", "/api/click",
		 "{\"post_id\":\"nonexistentnonexistent1234\",\"action_id\":\"approve\"}", same);
	cr_assert_eq(r.status, 404, "%s", r.body);
	free(r.body);
}

Test(webchat, off_loopback_every_data_route_needs_the_token)
{
	up(NO_VM, ":0", NULL, NULL); /* every address */
	const char *tok = sr_webchat_token(W);
	cr_assert_not_null(tok, "no token made up off loopback");
	cr_assert_eq(strlen(tok), 32);
	struct hres r = http("GET", "/api/posts?since=0", NULL, NULL);
	cr_assert_eq(r.status, 401, "%s", r.body);
	cr_assert_not_null(strstr(r.auth, "Bearer"), "%s", r.auth);
	free(r.body);
	r = http("GET", "/", NULL, NULL);
	cr_assert_eq(r.status, 401);
	cr_assert_null(strstr(r.body, "app.js"), "the page without its token");
	free(r.body);
	r = http("GET", "/api/sessions", NULL, NULL);
	cr_assert_eq(r.status, 401);
	free(r.body);
	r = http("POST", "/api/post", "{\"message\":\"x\"}", JSON_HDR);
	cr_assert_eq(r.status, 401);
	free(r.body);
	r = http("GET", "/?token=wrongwrongwrongwrongwrongwrong12", NULL, NULL);
	cr_assert_eq(r.status, 401);
	free(r.body);
	/* the static assets hold no data */
	r = http("GET", "/app.js", NULL, NULL);
	cr_assert_eq(r.status, 200);
	free(r.body);

	char bearer[200], path[200], cookie[300];
	snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", tok);
	const char *const with_bearer[] = {bearer, NULL};
	r = http("GET", "/api/posts?since=0", NULL, with_bearer);
	cr_assert_eq(r.status, 200, "%s", r.body);
	free(r.body);
	/* ?token= sets an HttpOnly, SameSite=Strict cookie and drops itself
	 * from the address */
	snprintf(path, sizeof(path), "/?token=%s", tok);
	r = http("GET", path, NULL, NULL);
	cr_assert_eq(r.status, 303, "%s", r.body);
	cr_assert_str_eq(r.location, "/");
	cr_assert_not_null(strstr(r.cookie, tok), "%s", r.cookie);
	cr_assert_not_null(strstr(r.cookie, "HttpOnly"), "%s", r.cookie);
	cr_assert_not_null(strstr(r.cookie, "SameSite=Strict"), "%s", r.cookie);
	free(r.body);
	snprintf(cookie, sizeof(cookie), "Cookie: other=1; smrelay_webchat=%s", tok);
	const char *const with_cookie[] = {cookie, NULL};
	r = http("GET", "/", NULL, with_cookie);
	cr_assert_eq(r.status, 200);
	cr_assert_not_null(strstr(r.body, "app.js"));
	free(r.body);
	const char *const post_cookie[] = {cookie, "Content-Type: application/json", NULL};
	r = http("POST", "/api/post", "{\"message\":\"with the cookie\"}", post_cookie);
	cr_assert_eq(r.status, 201, "%s", r.body);
	free(r.body);
	/* the page's WebSocket: with the token (a browser sends the cookie; the
	 * query works too), never without */
	char origin[64];
	snprintf(origin, sizeof(origin), "127.0.0.1:%u", sr_http_port(H));
	struct wscli c = {.port = sr_http_port(H), .origin = origin, .want = "\"hello\""};
	char *out = ws_run(&c);
	cr_assert_null(strstr(out, "hello"), "a socket without the token: %s", out);
	free(out);
	char wspath[200];
	snprintf(wspath, sizeof(wspath), "/ws?token=%s", tok);
	c = (struct wscli){.port = sr_http_port(H), .origin = origin, .want = "\"hello\"", .path = wspath};
	out = ws_run(&c);
	cr_assert_not_null(strstr(out, "\"hello\""), "no socket with the token: %s", out);
	free(out);

	/* off loopback the Host may be any name: the token protects */
	const char *const named[] = {bearer, "Host: relay.example.com", NULL};
	r = http("GET", "/api/posts?since=0", NULL, named);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_not_null(strstr(r.body, "with the cookie"));
	free(r.body);
}

/* a shared machine: a token given on loopback is required too */
Test(webchat, a_token_given_on_loopback_is_required_there_too)
{
	up(NO_VM, "127.0.0.1:0", NULL, "shared-machine-token-1234");
	cr_assert_str_eq(sr_webchat_token(W), "shared-machine-token-1234");
	struct hres r = http("GET", "/api/sessions", NULL, NULL);
	cr_assert_eq(r.status, 401, "%s", r.body);
	free(r.body);
	const char *const bearer[] = {"Authorization: Bearer shared-machine-token-1234", NULL};
	r = http("GET", "/api/sessions", NULL, bearer);
	cr_assert_eq(r.status, 200, "%s", r.body);
	free(r.body);
	const char *const wrong[] = {"Authorization: Bearer shared-machine-token-123", NULL};
	r = http("GET", "/api/sessions", NULL, wrong);
	cr_assert_eq(r.status, 401, "%s", r.body);
	free(r.body);
}

Test(webchat, users_outside_the_allowed_list_are_answered_not_obeyed)
{
	renv_set("SM_ALLOWED_USERS", "alice");
	up(NO_VM, "127.0.0.1:0", "you", NULL);
	char root[64];
	page_post(NULL, "@claude start demo", root, sizeof(root));
	char *p = wait_posts("not allowed to use smrelay");
	free(p);
	cr_assert_eq(sr_relay_list(R, NULL, 0), 0, "a session was started");
	/* help is for everyone, in the command's thread */
	page_post(NULL, "@claude help", NULL, 0);
	p = wait_posts("drives terminal sessions");
	cJSON *help = find_post(p, "drives terminal sessions", false, 0);
	cr_assert_not_null(help);
	cr_assert_eq(strlen(str(help, "root_id")), 26);
	cJSON_Delete(help);
	free(p);
}

/* ---- the WebSocket ------------------------------------------------------------------ */

Test(webchat, the_websocket_pushes_new_and_edited_posts_to_pages_of_this_origin)
{
	up(NO_VM, "127.0.0.1:0", NULL, NULL);
	struct hres r = http("GET", "/api/posts?since=0", NULL, NULL);
	cJSON *meta = cJSON_Parse(r.body);
	free(r.body);
	char chan[64];
	snprintf(chan, sizeof(chan), "%s", str(meta, "channel_id"));
	cJSON_Delete(meta);

	/* a page of another site is refused at the upgrade */
	/* (libwebsockets' client puts "http://" in front of the origin) */
	struct wscli c = {.port = sr_http_port(H), .origin = "evil.example", .want = "posted"};
	char *out = ws_run(&c);
	cr_assert_null(strstr(out, "hello"), "a foreign origin got a socket: %s", out);
	free(out);
	int p[2];
	pid_t pid;

	/* ours gets hello, then the bot's post and its edit, live */
	char origin[64];
	snprintf(origin, sizeof(origin), "127.0.0.1:%u", sr_http_port(H));
	cr_assert_eq(pipe(p), 0);
	c = (struct wscli){.port = sr_http_port(H), .origin = origin, .want = "\"post_edited\""};
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		c.wfd = p[1];
		ws_child(&c);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	char got[65536] = "";
	size_t n = 0;
	double end = now_s() + GUARD_S;
	while (!strstr(got, "\"hello\"")) { /* the socket is open */
		ssize_t k = read(p[0], got + n, sizeof(got) - 1 - n);
		if (k > 0)
			got[n += (size_t)k] = '\0';
		cr_assert(k != 0, "the socket closed: %s", got);
		cr_assert(now_s() < end, "no hello");
		cr_assert_geq(sr_loop_run_once(L, 10), 0);
	}
	char body[300];
	snprintf(body, sizeof(body), "{\"channel_id\":\"%s\",\"message\":\"```\\nscreen 1\\n```\"}", chan);
	cJSON *b = cJSON_Parse(body);
	struct got g = {0};
	cr_assert_gt(sr_webchat_rest(W, "POST", "/api/v4/posts", b, NULL, got_cb, &g), 0);
	cJSON_Delete(b);
	while (!g.calls)
		cr_assert_geq(sr_loop_run_once(L, 10), 0);
	char path[200];
	snprintf(path, sizeof(path), "/api/v4/posts/%s/patch", str(g.body, "id"));
	b = cJSON_Parse("{\"message\":\"```\\nscreen 2\\n```\"}");
	cr_assert_gt(sr_webchat_rest(W, "PUT", path, b, NULL, got_cb, &g), 0);
	cJSON_Delete(b);
	size_t rest_len;
	char *tail = drain(p[0], &rest_len);
	close(p[0]);
	waitpid(pid, NULL, 0);
	size_t all = strlen(got) + rest_len + 1;
	char *msgs = malloc(all);
	snprintf(msgs, all, "%s%s", got, tail);
	free(tail);
	char *posted = strstr(msgs, "\"event\":\"posted\"");
	char *edited = strstr(msgs, "\"event\":\"post_edited\"");
	cr_assert_not_null(posted, "%s", msgs);
	cr_assert_not_null(edited, "%s", msgs);
	cr_assert_lt(posted, edited, "out of order: %s", msgs);
	cr_assert_not_null(strstr(edited, "screen 2"), "%s", msgs);
	free(msgs);
	cJSON_Delete(g.body);
}

/* ---- the demo's whole flow ------------------------------------------------------------ */

static void click(const char *post_id, const char *action, char *eph, size_t len)
{
	char body[200];
	snprintf(body, sizeof(body), "{\"post_id\":\"%s\",\"action_id\":\"%s\"}", post_id, action);
	struct hres r = http("POST", "/api/click", body, JSON_HDR);
	cr_assert_eq(r.status, 200, "click: %ld %s", r.status, r.body);
	cJSON *o = cJSON_Parse(r.body);
	cr_assert_str_eq(str(o, "status"), "OK", "%s", r.body);
	if (eph)
		snprintf(eph, len, "%s", str(cJSON_GetObjectItemCaseSensitive(o, "ephemeral"), "message"));
	cJSON_Delete(o);
	free(r.body);
}

static void demo_flow(void)
{
	/* the channel box: the bot answers in the command's thread */
	char root[64];
	page_post(NULL, "@claude start demo", root, sizeof(root));
	char *p = wait_posts("is running");
	cJSON *reply = find_post(p, "is running", false, 0);
	cr_assert_str_eq(str(reply, "root_id"), root);
	cJSON_Delete(reply);
	free(p);

	/* the program's screen: a code block in the thread */
	cJSON *live = wait_post("Waiting for your decision", false, 0);
	cr_assert_eq(strncmp(str(live, "message"), "```", 3), 0, "not a code block: %s", str(live, "message"));
	cr_assert_str_eq(str(live, "root_id"), root);
	char live_id[64];
	snprintf(live_id, sizeof(live_id), "%s", str(live, "id"));
	int edits = cJSON_GetObjectItemCaseSensitive(live, "edit_count")->valueint;
	cJSON_Delete(live);

	/* typing into the thread reaches the program, and its answer shows up
	 * in the same post, edited in place */
	page_post(root, "hello there", NULL, 0);
	live = wait_post("you said: hello there", false, 0);
	cr_assert_str_eq(str(live, "id"), live_id, "a new post instead of an edit");
	cr_assert_gt(cJSON_GetObjectItemCaseSensitive(live, "edit_count")->valueint, edits);
	cr_assert_not_null(strstr(str(live, "message"), "[NETWORK_REQUEST: pypi.org]"));
	cJSON_Delete(live);

	/* the card: Approve and Deny, no secrets on the page */
	p = wait_posts("Network access requested: pypi.org");
	cr_assert_null(strstr(p, "secret"), "the card's secret reached the page");
	cr_assert_null(strstr(p, "integration"));
	cJSON *card = find_post(p, "\"approve\"", true, 0);
	cr_assert_not_null(card, "no card with buttons:\n%.3000s", p);
	char card_id[64];
	snprintf(card_id, sizeof(card_id), "%s", str(card, "id"));
	cr_assert_str_eq(str(card, "root_id"), root);
	cJSON_Delete(card);
	free(p);
	struct hres r = http("GET", "/api/sessions", NULL, NULL);
	cr_assert_not_null(strstr(r.body, "\"host\":\"pypi.org\""), "no pending approval: %s", r.body);
	cr_assert_not_null(strstr(r.body, root), "the session's thread is not shown: %s", r.body);
	free(r.body);

	/* Approve: the card changes at once, the firewall allows, the program
	 * hears it and continues */
	click(card_id, "approve", NULL, 0);
	p = wait_posts("pypi.org is allowed");
	card = find_post(p, "pypi.org is allowed", true, 1);
	cr_assert_not_null(card);
	char *cs = cJSON_PrintUnformatted(card);
	cr_assert_null(strstr(cs, "\"approve\""), "the buttons stayed: %s", cs);
	free(cs);
	cJSON_Delete(card);
	free(p);
	cJSON_Delete(wait_post("downloading", false, 0));
	cJSON_Delete(wait_post("5 passed. done.", false, 0));
	char path[600];
	snprintf(path, sizeof(path), "%s/audit.jsonl", TMP);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "no audit log");
	char audit[8192];
	size_t n = fread(audit, 1, sizeof(audit) - 1, f);
	audit[n] = '\0';
	fclose(f);
	cr_assert_not_null(strstr(audit, "pypi.org"), "%s", audit);
	cr_assert_not_null(strstr(audit, "\"user\":\"you\""), "%s", audit);
	r = http("GET", "/api/sessions", NULL, NULL);
	cr_assert_not_null(strstr(r.body, "pypi.org"), "the audit tail is missing: %s", r.body);
	free(r.body);

	/* the decided card has no buttons left: a stale click finds none */
	char body[200];
	snprintf(body, sizeof(body), "{\"post_id\":\"%s\",\"action_id\":\"deny\"}", card_id);
	r = http("POST", "/api/click", body, JSON_HDR);
	cr_assert_eq(r.status, 404, "%s", r.body);
	free(r.body);
	p = page_posts();
	cr_assert_null(strstr(p, "NETWORK_DENIED"));
	free(p);

	/* another host, denied */
	page_post(root, "fetch example.org", NULL, 0);
	p = wait_posts("Network access requested: example.org");
	card = NULL;
	cJSON *o = cJSON_Parse(p);
	const cJSON *x;
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "posts"))
	{
		char *t = cJSON_PrintUnformatted(x);
		if (strstr(t, "example.org") && strstr(t, "\"deny\""))
			snprintf(card_id, sizeof(card_id), "%s", str(x, "id"));
		free(t);
	}
	cJSON_Delete(o);
	free(p);
	click(card_id, "deny", NULL, 0);
	free(wait_posts("Denied by @you"));
	cJSON_Delete(wait_post("not fetching example.org", false, 0));

	/* stop from the thread */
	page_post(root, "@claude stop", NULL, 0);
	free(wait_posts("ended: stopped"));
	cr_assert_eq(sr_relay_list(R, NULL, 0), 0);
}

Test(webchat, start_live_screen_approve_and_stop_over_ssh)
{
	if (!sshd_available())
		cr_skip_test("OpenSSH is not installed");
	if (system("command -v tmux >/dev/null 2>&1") != 0)
		cr_skip_test("tmux is not installed");
	up(SSHD_VM, "127.0.0.1:0", NULL, NULL);
	demo_flow();
}

/* what `smrelay demo` does: sessions on this machine */
Test(webchat, start_live_screen_approve_and_stop_on_this_machine)
{
	if (system("command -v tmux >/dev/null 2>&1") != 0)
		cr_skip_test("tmux is not installed");
	up(LOCAL_VM, "127.0.0.1:0", NULL, NULL);
	demo_flow();
}

/* ---- the operator's view next to Mattermost ------------------------------------------- */

Test(webchat, with_mattermost_the_page_is_the_operators_view)
{
	if (!fake_mm_available())
		cr_skip_test("the fake Mattermost needs python3 and python3-aiohttp");
	cr_assert_eq(fake_mm_start(&F, NULL), 0, "%s", F.err);
	renv_set("SM_MM_URL", F.url);
	renv_set("SM_MM_TOKEN", F.bot_token);
	up(NO_VM, "127.0.0.1:0", NULL, NULL);
	struct hres r = http("GET", "/api/posts?since=0", NULL, NULL);
	cr_assert_eq(r.status, 200);
	cr_assert_not_null(strstr(r.body, "\"mode\":\"operator\""), "%s", r.body);
	free(r.body);
	/* no chat here: nothing to post or click */
	r = http("POST", "/api/post", "{\"message\":\"@claude start demo\"}", JSON_HDR);
	cr_assert(r.status == 404 || r.status == 405, "%ld %s", r.status, r.body);
	free(r.body);
	r = http("POST", "/api/click", "{\"post_id\":\"x\",\"action_id\":\"y\"}", JSON_HDR);
	cr_assert(r.status == 404 || r.status == 405, "%ld %s", r.status, r.body);
	free(r.body);
	r = http("GET", "/api/sessions", NULL, NULL);
	cr_assert_eq(r.status, 200);
	cJSON *o = cJSON_Parse(r.body);
	cr_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "pending")), "%s", r.body);
	cJSON_Delete(o);
	free(r.body);
	r = http("GET", "/", NULL, NULL);
	cr_assert_eq(r.status, 200);
	free(r.body);
	/* the button callback of sr_chat is still its own */
	r = http("POST", "/mm/action", "{}", JSON_HDR);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_not_null(strstr(r.body, "unknown or has expired"), "%s", r.body);
	free(r.body);
	char msg[200];
	cr_assert_eq(sr_webchat_decide(W, "0000000000000000", 1, "root", msg, sizeof(msg)), -ENOENT);
}
