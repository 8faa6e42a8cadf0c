/* test_fake_mm.c — the fake Mattermost server through its C harness
 * (fake_mm.h): start/stop, PR_SET_PDEATHSIG clean-up, seed data, the
 * control endpoints, and REST behaviours the relay relies on, checked over
 * libcurl. The WebSocket side, buttons and the rest are pinned by the fake's
 * own Python tests (tests/fake_mattermost/test_*.py). */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_mm.h"

static struct fake_mm F;
static cJSON *T_JSON[32]; /* freed by teardown, so a failed assertion leaks nothing */
static char *T_TEXT[32];

static void teardown(void)
{
	fake_mm_stop(&F);
	for (size_t i = 0; i < sizeof(T_JSON) / sizeof(T_JSON[0]); i++) {
		cJSON_Delete(T_JSON[i]);
		T_JSON[i] = NULL;
	}
	for (size_t i = 0; i < sizeof(T_TEXT) / sizeof(T_TEXT[0]); i++) {
		free(T_TEXT[i]);
		T_TEXT[i] = NULL;
	}
}

TestSuite(fake_mm, .fini = teardown);

static void start(const char *args)
{
	if (!fake_mm_available())
		cr_skip_test("python3-aiohttp is not installed (fake Mattermost unavailable)");
	int rc = fake_mm_start(&F, args);
	cr_assert_eq(rc, 0, "fake_mm_start: %d %s", rc, F.err);
}

static char *keep_text(char *s)
{
	for (size_t i = 0; i < sizeof(T_TEXT) / sizeof(T_TEXT[0]); i++)
		if (!T_TEXT[i])
			return T_TEXT[i] = s;
	cr_assert_fail("keep_text: too many buffers");
	return s;
}

static cJSON *keep_json(cJSON *j)
{
	for (size_t i = 0; i < sizeof(T_JSON) / sizeof(T_JSON[0]); i++)
		if (!T_JSON[i])
			return T_JSON[i] = j;
	cr_assert_fail("keep_json: too many documents");
	return j;
}

/* The response body as text (kept until teardown). */
static char *call(const char *token, const char *method, const char *path,
		  const char *body, long *status)
{
	char *out = NULL;
	int rc = fake_mm_call_as(&F, token, method, path, body, status, &out);
	cr_assert_eq(rc, 0, "%s %s: %s", method, path, F.err);
	return keep_text(out);
}

/* The response body parsed as JSON (kept until teardown). */
static cJSON *call_json(const char *token, const char *method, const char *path,
			const char *body, long *status)
{
	char *text = call(token, method, path, body, status);
	cJSON *j = cJSON_Parse(text);
	cr_assert_not_null(j, "%s %s: not JSON: %.200s", method, path, text);
	return keep_json(j);
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	cr_assert(cJSON_IsString(v), "field %s is not a string", key);
	return v->valuestring;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	cr_assert(cJSON_IsNumber(v), "field %s is not a number", key);
	return v->valuedouble;
}

static const cJSON *obj(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	cr_assert_not_null(v, "field %s is missing", key);
	return v;
}

/* Gone, or a zombie waiting for a reaper that is not us. */
static int process_gone(pid_t pid)
{
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 1;
	char path[64], stat[256] = {0};
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return 1;
	size_t n = fread(stat, 1, sizeof(stat) - 1, fp);
	fclose(fp);
	stat[n] = '\0';
	const char *rp = strrchr(stat, ')');
	return rp && rp[1] == ' ' && rp[2] == 'Z';
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

Test(fake_mm, start_fills_seed_and_serves_api)
{
	start(NULL);
	cr_assert_gt(F.pid, 0);
	cr_assert_gt(F.port, 0u);
	char want[64];
	snprintf(want, sizeof(want), "http://127.0.0.1:%u", F.port);
	cr_assert_str_eq(F.url, want);
	cr_assert_str_eq(F.bot_token, "bot-token");
	const char *ids[] = {F.bot_id, F.alice_id, F.bob_id, F.carol_id, F.town_id, F.other_id};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		cr_assert_eq(strlen(ids[i]), 26u, "seed id %zu: %s", i, ids[i]);
	long st;
	cJSON *me = call_json(F.bot_token, "GET", "/api/v4/users/me", NULL, &st);
	cr_assert_eq(st, 200);
	cr_assert_str_eq(str(me, "id"), F.bot_id);
	cr_assert_str_eq(str(me, "username"), "claude");
	cr_assert(cJSON_IsTrue(obj(me, "is_bot")));
	cJSON *alice = call_json(F.bot_token, "GET", "/api/v4/users/username/alice", NULL, &st);
	cr_assert_eq(st, 200);
	cr_assert_str_eq(str(alice, "id"), F.alice_id);
	cJSON *town = call_json(F.bot_token, "GET", "/api/v4/teams/name/t1", NULL, &st);
	cr_assert_eq(st, 200);
	cr_assert_str_eq(str(town, "name"), "t1");
}

Test(fake_mm, stop_ends_the_server_and_start_again_works)
{
	start(NULL);
	pid_t pid = F.pid;
	unsigned port = F.port;
	fake_mm_stop(&F);
	cr_assert_eq(F.pid, 0);
	cr_assert(process_gone(pid), "server %d still running after stop", (int)pid);
	F.port = port;
	long st;
	char *body = NULL;
	cr_assert_lt(fake_mm_call(&F, "GET", "/_fake/seed", NULL, &st, &body), 0,
		     "a stopped server answered");
	cr_assert_null(body);
	fake_mm_stop(&F); /* idempotent */
	start("--ping-interval 0.2 --pong-wait 0.5 --auth-timeout 1");
	cr_assert_neq(F.pid, pid);
	call(NULL, "GET", "/_fake/seed", NULL, &st);
	cr_assert_eq(st, 200);
}

Test(fake_mm, bad_arguments_fail_cleanly)
{
	if (!fake_mm_available())
		cr_skip_test("python3-aiohttp is not installed");
	/* server.py prints its usage on stderr: keep the test log clean */
	fflush(stderr);
	int saved = dup(2);
	int nul = open("/dev/null", O_WRONLY);
	cr_assert(saved >= 0 && nul >= 0);
	dup2(nul, 2);
	close(nul);
	int rc = fake_mm_start(&F, "--no-such-option");
	dup2(saved, 2);
	close(saved);
	cr_assert_lt(rc, 0);
	cr_assert_eq(F.pid, 0, "nothing may be left running");
	cr_assert_neq(F.err[0], '\0');
}

Test(fake_mm, server_dies_with_its_parent)
{
	if (!fake_mm_available())
		cr_skip_test("python3-aiohttp is not installed");
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		/* A "crashed test": starts a server and exits without stopping it. */
		struct fake_mm g;
		int rc = fake_mm_start(&g, NULL);
		pid_t spid = rc == 0 ? g.pid : 0;
		if (write(pfd[1], &spid, sizeof(spid)) != (ssize_t)sizeof(spid))
			_exit(2);
		_exit(rc == 0 ? 0 : 1);
	}
	close(pfd[1]);
	pid_t spid = 0;
	ssize_t n = read(pfd[0], &spid, sizeof(spid));
	close(pfd[0]);
	int st;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	cr_assert_eq(n, (ssize_t)sizeof(spid));
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child could not start a server");
	cr_assert_gt(spid, 0);
	int gone = 0;
	for (int i = 0; i < 500 && !gone; i++) {
		gone = process_gone(spid);
		if (!gone)
			sleep_ms(10);
	}
	if (!gone)
		kill(spid, SIGKILL);
	cr_assert(gone, "orphaned fake server %d still running", (int)spid);
}

Test(fake_mm, app_error_on_401)
{
	start(NULL);
	long st;
	cJSON *e = call_json(NULL, "GET", "/api/v4/users/me", NULL, &st);
	cr_assert_eq(st, 401);
	cr_assert_str_eq(str(e, "id"), "api.context.session_expired.app_error");
	cr_assert_str_eq(str(e, "detailed_error"), "");
	cr_assert_eq(strlen(str(e, "request_id")), 26u);
	cr_assert_eq(num(e, "status_code"), 401);
	cr_assert_neq(str(e, "message")[0], '\0');
	e = call_json("not-a-token", "GET", "/api/v4/users/me", NULL, &st);
	cr_assert_eq(st, 401);
	e = call_json(F.bot_token, "GET", "/api/v4/nothing/here", NULL, &st);
	cr_assert_eq(st, 404);
	cr_assert_str_eq(str(e, "id"), "api.context.404.app_error");
}

static char *post_body(const char *channel, const char *message)
{
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "channel_id", channel);
	cJSON_AddStringToObject(b, "message", message);
	char *s = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	return keep_text(s);
}

Test(fake_mm, message_length_cap)
{
	start(NULL);
	char *msg = keep_text(malloc(16385));
	memset(msg, 'a', 16383);
	msg[16383] = '\0';
	long st;
	call(F.bot_token, "POST", "/api/v4/posts", post_body(F.town_id, msg), &st);
	cr_assert_eq(st, 201);
	msg[16383] = 'a';
	msg[16384] = '\0';
	cJSON *e = call_json(F.bot_token, "POST", "/api/v4/posts", post_body(F.town_id, msg), &st);
	cr_assert_eq(st, 400);
	cr_assert_str_eq(str(e, "id"), "model.post.is_valid.message_length.app_error");
}

Test(fake_mm, patch_keeps_props_put_replaces_them)
{
	start(NULL);
	char body[512];
	snprintf(body, sizeof(body),
		 "{\"channel_id\":\"%s\",\"message\":\"card\",\"props\":{\"attachments\":"
		 "[{\"text\":\"t\",\"actions\":[{\"id\":\"ok\",\"name\":\"OK\","
		 "\"integration\":{\"url\":\"http://127.0.0.1:9/x\",\"context\":{\"s\":\"1\"}}}]}]}}",
		 F.town_id);
	long st;
	cJSON *p = call_json(F.bot_token, "POST", "/api/v4/posts", body, &st);
	cr_assert_eq(st, 201);
	char pid[32], path[128];
	snprintf(pid, sizeof(pid), "%s", str(p, "id"));
	snprintf(path, sizeof(path), "/api/v4/posts/%s", pid);
	char *got = call(F.bot_token, "GET", path, NULL, &st);
	cr_assert_eq(st, 200);
	cr_assert_not_null(strstr(got, "\"ok\""), "%s", got);
	cr_assert_null(strstr(got, "integration"), "integrations must be stripped: %s", got);
	snprintf(path, sizeof(path), "/api/v4/posts/%s/patch", pid);
	cJSON *q = call_json(F.bot_token, "PUT", path, "{\"message\":\"live 1\"}", &st);
	cr_assert_eq(st, 200);
	cr_assert_str_eq(str(q, "message"), "live 1");
	const cJSON *atts = obj(obj(q, "props"), "attachments");
	cr_assert_eq(cJSON_GetArraySize(atts), 1);
	cr_assert_gt(num(q, "edit_at"), 0);
	snprintf(path, sizeof(path), "/api/v4/posts/%s", pid);
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"message\":\"final\"}", pid);
	q = call_json(F.bot_token, "PUT", path, body, &st);
	cr_assert_eq(st, 200);
	cr_assert_eq(cJSON_GetArraySize(obj(q, "props")), 0, "PUT without props must wipe them");
	/* the fake's record: two edits, integration kept server-side */
	char ctl[128];
	snprintf(ctl, sizeof(ctl), "/_fake/posts?channel_id=%s", F.town_id);
	cJSON *all = call_json(NULL, "GET", ctl, NULL, &st);
	const cJSON *first = cJSON_GetArrayItem(obj(all, "posts"), 0);
	cr_assert_eq(num(first, "edit_count"), 2);
	const cJSON *h0 = cJSON_GetArrayItem(obj(first, "history"), 0);
	char *props_text = keep_text(cJSON_PrintUnformatted(obj(h0, "props")));
	cr_assert_not_null(strstr(props_text, "\"integration\""), "%s", props_text);
}

Test(fake_mm, since_returns_edits)
{
	start(NULL);
	long st;
	cJSON *a = call_json(F.bot_token, "POST", "/api/v4/posts", post_body(F.town_id, "a"), &st);
	cr_assert_eq(st, 201);
	cJSON *b = call_json(F.bot_token, "POST", "/api/v4/posts", post_body(F.town_id, "b"), &st);
	cr_assert_eq(st, 201);
	char aid[32], path[160];
	snprintf(aid, sizeof(aid), "%s", str(a, "id"));
	long long since = (long long)num(b, "create_at");
	snprintf(path, sizeof(path), "/api/v4/posts/%s/patch", aid);
	call(F.bot_token, "PUT", path, "{\"message\":\"a2\"}", &st);
	cr_assert_eq(st, 200);
	snprintf(path, sizeof(path), "/api/v4/channels/%s/posts?since=%lld", F.town_id, since);
	cJSON *lst = call_json(F.bot_token, "GET", path, NULL, &st);
	cr_assert_eq(st, 200);
	const cJSON *posts = obj(lst, "posts");
	cr_assert_str_eq(str(obj(posts, aid), "message"), "a2");
	int history = 0;
	const cJSON *p;
	cJSON_ArrayForEach(p, posts)
	{
		if (!strcmp(str(p, "original_id"), aid)) {
			history++;
			cr_assert_str_eq(str(p, "message"), "a");
			cr_assert_gt(num(p, "delete_at"), 0);
		}
	}
	cr_assert_eq(history, 1);
	cr_assert_null(cJSON_GetObjectItemCaseSensitive(posts, str(b, "id")),
		       "b was not updated after since");
}

Test(fake_mm, rate_limit_answers_429_in_plain_text)
{
	start(NULL);
	long st;
	call(NULL, "POST", "/_fake/ratelimit", "{\"enabled\":true,\"per_sec\":1,\"burst\":1}", &st);
	cr_assert_eq(st, 200);
	call(F.bot_token, "GET", "/api/v4/users/me", NULL, &st);
	cr_assert_eq(st, 200);
	call(F.bot_token, "GET", "/api/v4/users/me", NULL, &st);
	cr_assert_eq(st, 200);
	char *text = call(F.bot_token, "GET", "/api/v4/users/me", NULL, &st);
	cr_assert_eq(st, 429);
	cr_assert_str_eq(text, "limit exceeded\n");
	cJSON *s = call_json(NULL, "GET", "/_fake/stats", NULL, &st);
	cr_assert_eq(num(s, "status_429"), 1);
}

Test(fake_mm, control_endpoints)
{
	start(NULL);
	long st;
	char body[256], path[128];
	snprintf(body, sizeof(body), "{\"user\":\"alice\",\"channel_id\":\"%s\",\"message\":\"hello @claude\"}",
		 F.town_id);
	cJSON *p = call_json(NULL, "POST", "/_fake/post", body, &st);
	cr_assert_eq(st, 201);
	cr_assert_str_eq(str(p, "user_id"), F.alice_id);
	snprintf(body, sizeof(body), "{\"user\":\"carol\",\"channel_id\":\"%s\",\"message\":\"x\"}", F.town_id);
	call(NULL, "POST", "/_fake/post", body, &st);
	cr_assert_eq(st, 403, "carol is in no channel");
	snprintf(path, sizeof(path), "/_fake/posts?channel_id=%s", F.town_id);
	cJSON *all = call_json(NULL, "GET", path, NULL, &st);
	cr_assert_eq(cJSON_GetArraySize(obj(all, "posts")), 1);
	call(NULL, "POST", "/_fake/fail",
	     "{\"method\":\"GET\",\"path_regex\":\"^/api/v4/users/\",\"status\":503,\"count\":1}", &st);
	cr_assert_eq(st, 200);
	cJSON *e = call_json(F.bot_token, "GET", "/api/v4/users/me", NULL, &st);
	cr_assert_eq(st, 503);
	cr_assert_str_eq(str(e, "id"), "fake.injected.app_error");
	call(F.bot_token, "GET", "/api/v4/users/me", NULL, &st);
	cr_assert_eq(st, 200);
	cJSON *s = call_json(NULL, "GET", "/_fake/stats", NULL, &st);
	cr_assert_eq(num(obj(s, "requests"), "GET /api/v4/users/{user_id}"), 2);
	cr_assert_eq(num(s, "injected"), 1);
	call(NULL, "POST", "/_fake/reset", NULL, &st);
	cr_assert_eq(st, 200);
	all = call_json(NULL, "GET", path, NULL, &st);
	cr_assert_eq(cJSON_GetArraySize(obj(all, "posts")), 0);
}
