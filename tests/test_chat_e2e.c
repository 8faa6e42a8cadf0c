/* test_chat_e2e.c — the product end to end: a user talks to the bot in the
 * fake Mattermost, a session runs over the real test sshd (runtime none,
 * tmux holder), its screen comes back as live posts, an approval card's
 * button (clicked through the fake, which calls our HTTP callback) makes the
 * firewall (log backend) allow the host and types the approval into the
 * session. GUARD_S only guards against hangs. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <errno.h>
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
#include "sshd_harness.h"
#include "relay_env.h"

#define GUARD_S 40.0

static struct sshd D;
static struct fake_mm F;
static struct sr_loop *L;
static struct sr_relay *R;
static struct sr_fw *FW;
static struct sr_http *H;
static struct sr_chat *CH;
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

TestSuite(chat_e2e, .fini = teardown);

/* The test TUI: a banner, echoes lines; "need-net" prints the marker. */
static const char TUI[] = "#!/bin/sh\n"
			  "echo tui-ready\n"
			  "while IFS= read -r l; do\n"
			  "  case \"$l\" in\n"
			  "  need-net) echo 'pip install failed: connection refused'; echo '[NETWORK_REQUEST: PyPI.org]' ;;\n"
			  "  need-net2) echo 'curl: (7) Failed to connect'; echo '[NETWORK_REQUEST: files.example.org]' ;;\n"
			  "  *) echo \"got:$l\" ;;\n"
			  "  esac\n"
			  "done\n";

/* The fake's posts in the channel, as one JSON text. */
static char *posts(void)
{
	char path[200];
	snprintf(path, sizeof(path), "/_fake/posts?channel_id=%s", F.town_id);
	long st = 0;
	char *body = NULL;
	cr_assert_eq(fake_mm_call(&F, "GET", path, NULL, &st, &body), 0, "%s", F.err);
	cr_assert_eq(st, 200);
	return body;
}

/* Pumps the loop until the channel's posts contain text. */
static char *wait_posts(const char *text)
{
	double end = now_s() + GUARD_S;
	for (;;) {
		char *p = posts();
		if (strstr(p, text))
			return p;
		size_t len = strlen(p);
		cr_assert(now_s() < end, "no '%s' in the channel's posts (the end of them):\n%s", text,
			  p + (len > 4000 ? len - 4000 : 0));
		free(p);
		for (int i = 0; i < 5; i++)
			cr_assert_geq(sr_loop_run_once(L, 20), 0);
	}
}

/* A user posts (as the webapp would). Returns the new post's id. */
static void user_post(const char *user, const char *root, const char *msg, char *id, size_t idlen)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "user", user);
	cJSON_AddStringToObject(o, "channel_id", F.town_id);
	if (root)
		cJSON_AddStringToObject(o, "root_id", root);
	cJSON_AddStringToObject(o, "message", msg);
	char *b = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	long st = 0;
	char *resp = NULL;
	cr_assert_eq(fake_mm_call(&F, "POST", "/_fake/post", b, &st, &resp), 0, "%s", F.err);
	free(b);
	cr_assert(st == 200 || st == 201, "post: %ld %s", st, resp);
	cJSON *r = cJSON_Parse(resp);
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(r, "id");
	cr_assert(cJSON_IsString(pid), "%s", resp);
	if (id)
		snprintf(id, idlen, "%s", pid->valuestring);
	cJSON_Delete(r);
	free(resp);
}

/* A button click through the fake, which calls our callback: done from a
 * child process so this loop keeps serving the callback meanwhile. */
static char *click(const char *user, const char *post_id, const char *action)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		char body[300];
		snprintf(body, sizeof(body), "{\"user\":\"%s\",\"post_id\":\"%s\",\"action_id\":\"%s\"}",
			 user, post_id, action);
		long st = 0;
		char *resp = NULL;
		int rc = fake_mm_call(&F, "POST", "/_fake/click", body, &st, &resp);
		char out[4096];
		int n = snprintf(out, sizeof(out), "%d %ld %s", rc, st, resp ? resp : "");
		if (write(p[1], out, (size_t)n) < 0)
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	char *out = calloc(1, 8192);
	size_t len = 0;
	double end = now_s() + GUARD_S;
	for (;;) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		if (poll(&pf, 1, 0) > 0) {
			ssize_t r = read(p[0], out + len, 8191 - len);
			if (r <= 0)
				break;
			len += (size_t)r;
		}
		cr_assert(now_s() < end, "click never answered");
		cr_assert_geq(sr_loop_run_once(L, 20), 0);
	}
	close(p[0]);
	waitpid(pid, NULL, 0);
	return out;
}

/* The id of the card post (the one with attachments) in the posts JSON. */
static int card_id(const char *posts_json, char *id, size_t len)
{
	cJSON *o = cJSON_Parse(posts_json);
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "posts");
	const cJSON *p;
	int found = 0;
	cJSON_ArrayForEach(p, arr)
	{
		char *t = cJSON_PrintUnformatted(p);
		if (t && strstr(t, "Network access requested") && strstr(t, "\"approve\"")) {
			const cJSON *pid = cJSON_GetObjectItemCaseSensitive(p, "id");
			snprintf(id, len, "%s", pid->valuestring);
			found = 1;
		}
		free(t);
	}
	cJSON_Delete(o);
	return found;
}

/* The daemon's parts, as `smrelay serve` puts them together. */
static void daemon_up(void)
{
	char err[1024];
	struct sr_relay_opts ro = {.loop = L, .cfg = &C};
	cr_assert_eq(sr_relay_new(&ro, &R, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sr_fw_new(L, &C, &FW, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sr_fw_follow(FW, R), 0);
	cr_assert_eq(sr_http_new(L, C.listen_addr, &H, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sr_chat_new(L, &C, R, FW, H, &CH, err, sizeof(err)), 0, "%s", err);
}

/* ... and down again, as a stopped daemon (sessions keep running). */
static void daemon_down(void)
{
	sr_chat_free(CH);
	CH = NULL;
	sr_http_free(H);
	H = NULL;
	sr_fw_free(FW);
	FW = NULL;
	sr_relay_free(R);
	R = NULL;
}

static void wait_connected(void)
{
	double end = now_s() + GUARD_S;
	while (!sr_chat_connected(CH) || !sr_host_ready(sr_relay_host(R, 0))) {
		cr_assert(now_s() < end, "not connected");
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
}

/* sshd, the fake, the TUI, and relay + firewall + HTTP + chat on L. */
static void setup(void)
{
	if (!sshd_available())
		cr_skip_test("OpenSSH is not installed");
	if (!fake_mm_available())
		cr_skip_test("the fake Mattermost needs python3 and python3-aiohttp");
	if (system("command -v tmux >/dev/null 2>&1") != 0)
		cr_skip_test("tmux is not installed");
	sr_log_set_level(SR_LOG_WARN);
	snprintf(TMP, sizeof(TMP), "/tmp/smrelay-chat-XXXXXX");
	cr_assert_not_null(mkdtemp(TMP));
	cr_assert_eq(sshd_start(&D), 0, "%s", D.err);
	cr_assert_eq(fake_mm_start(&F, NULL), 0, "%s", F.err);
	cr_assert_eq(sr_loop_new(&L), 0);

	char buf[1024], path[600];
	snprintf(path, sizeof(path), "%s/tui.sh", TMP);
	FILE *f = fopen(path, "w");
	fputs(TUI, f);
	fclose(f);
	chmod(path, 0755);
	snprintf(buf, sizeof(buf), "%s/demo", TMP);
	mkdir(buf, 0755);
	snprintf(buf, sizeof(buf), "127.0.0.1:%u", D.port);
	renv_set("SM_VM_HOST", buf);
	renv_set("SM_VM_USER", D.user);
	renv_set("SM_VM_SSH_KEY_PATH", D.user_key);
	renv_set("SM_VM_KNOWN_HOSTS", D.known_hosts);
	renv_set("SM_CONTAINER_RUNTIME", "none");
	renv_set("SM_CLAUDE_COMMAND", path);
	snprintf(buf, sizeof(buf), "{\"demo\": \"%s/demo\"}", TMP);
	renv_set("SM_PROJECTS", buf);
	snprintf(buf, sizeof(buf), "%s/state", TMP);
	renv_set("SM_STATE_DIR", buf);
	renv_set("SM_CONTAINER_ENV", "SMRELAY_UNSET_VAR");
	renv_set("SM_COLS", "80");
	renv_set("SM_ROWS", "24");
	renv_set("SM_MM_URL", F.url);
	renv_set("SM_MM_TOKEN", F.bot_token);
	renv_set("SM_ALLOWED_USERS", "alice");
	renv_set("SM_LISTEN_ADDR", "127.0.0.1:0");
	snprintf(buf, sizeof(buf), "%s/audit.jsonl", TMP);
	renv_set("SM_AUDIT_LOG", buf);
	char err[1024];
	cr_assert_eq(sr_config_load(&C, renv_get, err, sizeof(err)), 0, "%s", err);
	daemon_up();
	wait_connected();
}

Test(chat_e2e, start_type_approve_stop)
{
	setup();
	char path[600];
	FILE *f;
	/* start: the reply is in the command's thread; then the live post */
	char root[64];
	user_post("alice", NULL, "@claude start demo", root, sizeof(root));
	free(wait_posts("is running"));
	char *p = wait_posts("tui-ready");
	cr_assert_not_null(strstr(p, "```"), "the screen is in a code block");
	free(p);

	/* typing in the thread reaches the program; the live post follows */
	user_post("alice", root, "hello relay", NULL, 0);
	free(wait_posts("got:hello relay"));

	/* bob may not type */
	user_post("bob", root, "rm -rf /", NULL, 0);
	free(wait_posts("Only alice"));
	p = posts();
	cr_assert_null(strstr(p, "got:rm -rf"), "bob's text was typed");
	free(p);

	/* the marker: an approval card; alice approves through the button */
	user_post("alice", root, "need-net", NULL, 0);
	p = wait_posts("Network access requested: pypi.org");
	char card[64] = "";
	cr_assert(card_id(p, card, sizeof(card)), "no card with buttons:\n%.3000s", p);
	free(p);
	char *res = click("alice", card, "approve");
	cr_assert_not_null(strstr(res, "0 200"), "click: %s", res);
	free(res);
	/* the firewall applied it and the program heard the approval */
	free(wait_posts("got:[NETWORK_APPROVED: pypi.org]"));
	free(wait_posts("pypi.org is allowed"));
	snprintf(path, sizeof(path), "%s/audit.jsonl", TMP);
	f = fopen(path, "r");
	cr_assert_not_null(f, "no audit log");
	char audit[8192];
	size_t n = fread(audit, 1, sizeof(audit) - 1, f);
	audit[n] = '\0';
	fclose(f);
	cr_assert_not_null(strstr(audit, "pypi.org"), "%s", audit);
	cr_assert_not_null(strstr(audit, "alice"), "%s", audit);

	/* stop in the thread */
	user_post("alice", root, "@claude stop", NULL, 0);
	free(wait_posts("ended: stopped"));
	cr_assert_eq(sr_relay_list(R, NULL, 0), 0);
}

static void fake(const char *method, const char *path, const char *body)
{
	long st = 0;
	char *resp = NULL;
	cr_assert_eq(fake_mm_call(&F, method, path, body, &st, &resp), 0, "%s", F.err);
	cr_assert(st >= 200 && st < 300, "%s %s: %ld %s", method, path, st, resp);
	free(resp);
}

/* How often text occurs in s. */
static int count(const char *s, const char *text)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, text)); p += strlen(text))
		n++;
	return n;
}

/* Posts (top level, not their edit history) whose props title is title. */
static int count_cards(const char *posts_json, const char *title)
{
	cJSON *o = cJSON_Parse(posts_json);
	int n = 0;
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(o, "posts"))
	{
		const cJSON *att = cJSON_GetArrayItem(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "props"),
							 "attachments"),
			0);
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(att, "title");
		n += cJSON_IsString(t) && !strcmp(t->valuestring, title);
	}
	cJSON_Delete(o);
	return n;
}

/* A request straight to our callback URL, as a forger would send it. */
static char *forge_click(const char *json)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		struct fake_mm us = F;
		snprintf(us.url, sizeof(us.url), "http://127.0.0.1:%u", sr_http_port(H));
		long st = 0;
		char *resp = NULL;
		int rc = fake_mm_call(&us, "POST", "/mm/action", json, &st, &resp);
		char out[2048];
		int n = snprintf(out, sizeof(out), "%d %ld %s", rc, st, resp ? resp : "");
		if (write(p[1], out, (size_t)n) < 0)
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	char *out = calloc(1, 4096);
	size_t len = 0;
	double end = now_s() + GUARD_S;
	for (;;) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		if (poll(&pf, 1, 0) > 0) {
			ssize_t r = read(p[0], out + len, 4095 - len);
			if (r <= 0)
				break;
			len += (size_t)r;
		}
		cr_assert(now_s() < end, "no answer");
		cr_assert_geq(sr_loop_run_once(L, 20), 0);
	}
	close(p[0]);
	waitpid(pid, NULL, 0);
	return out;
}

Test(chat_e2e, drops_storms_reactions_denials_and_a_restart)
{
	setup();
	char root[64];
	user_post("alice", NULL, "@claude start demo", root, sizeof(root));
	free(wait_posts("is running"));
	free(wait_posts("tui-ready"));

	/* a conversation with the WebSocket dropped 5 times and the REST rate
	 * limit tight enough for 429s: every line typed exactly once */
	fake("POST", "/_fake/ratelimit", "{\"enabled\":true,\"per_sec\":4,\"burst\":4}");
	for (int i = 0; i < 10; i++) {
		char msg[32];
		snprintf(msg, sizeof(msg), "line-%02d", i);
		user_post("alice", root, msg, NULL, 0);
		if (i % 2 == 0)
			fake("POST", "/_fake/drop_ws", "{}");
		for (int k = 0; k < 5; k++)
			cr_assert_geq(sr_loop_run_once(L, 20), 0);
	}
	free(wait_posts("got:line-09"));
	char *scr = NULL;
	const char *ids[4];
	cr_assert_eq(sr_relay_list(R, ids, 4), 1);
	double end = now_s() + GUARD_S;
	for (;;) { /* the screen is the ground truth of what was typed */
		cr_assert_eq(sr_relay_screen_text(R, ids[0], &scr), 0);
		if (strstr(scr, "got:line-09"))
			break;
		free(scr);
		cr_assert(now_s() < end);
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
	for (int i = 0; i < 10; i++) {
		char want[32];
		snprintf(want, sizeof(want), "got:line-%02d\n", i);
		cr_assert_eq(count(scr, want), 1, "%s typed %d times:\n%s", want, count(scr, want), scr);
	}
	free(scr);
	long st = 0;
	char *stats = NULL;
	cr_assert_eq(fake_mm_call(&F, "GET", "/_fake/stats", NULL, &st, &stats), 0);
	cr_log_info("fake stats after the storm: %.600s", stats);
	free(stats);
	fake("POST", "/_fake/ratelimit", "{\"enabled\":false}");

	/* a reaction approves */
	user_post("alice", root, "need-net", NULL, 0);
	char *p = wait_posts("Network access requested: pypi.org");
	char card[64] = "";
	cr_assert(card_id(p, card, sizeof(card)));
	free(p);
	char body[200];
	snprintf(body, sizeof(body), "{\"user\":\"alice\",\"post_id\":\"%s\",\"emoji_name\":\"+1\"}", card);
	fake("POST", "/_fake/reaction", body);
	free(wait_posts("got:[NETWORK_APPROVED: pypi.org]"));

	/* a forged click straight at our endpoint changes nothing */
	char *res = forge_click("{\"user_id\":\"x\",\"user_name\":\"alice\",\"context\":"
				"{\"request\":\"0000000000000000\",\"secret\":\"bad\",\"action\":\"approve\"}}");
	cr_assert_not_null(strstr(res, "0 200"), "%s", res);
	cr_assert_not_null(strstr(res, "unknown or has expired"), "%s", res);
	free(res);

	/* the same host again: already allowed, approved at once, no new card */
	user_post("alice", root, "need-net", NULL, 0);
	end = now_s() + GUARD_S;
	for (;;) {
		cr_assert_eq(sr_relay_screen_text(R, ids[0], &scr), 0);
		int n = count(scr, "got:[NETWORK_APPROVED: pypi.org]");
		free(scr);
		if (n == 2)
			break;
		cr_assert(now_s() < end, "the second request was not approved at once");
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
	p = posts();
	cr_assert_eq(count_cards(p, "Network access requested: pypi.org"), 1,
		     "a second card for an allowed host");
	free(p);

	/* a new request survives a daemon restart; then bob (not an approver)
	 * is refused and alice denies */
	user_post("alice", root, "need-net2", NULL, 0);
	p = wait_posts("Network access requested: files.example.org");
	char card2[64] = "";
	cJSON *o = cJSON_Parse(p);
	const cJSON *x;
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "posts"))
	{
		char *t = cJSON_PrintUnformatted(x);
		if (strstr(t, "files.example.org") && strstr(t, "\"approve\""))
			snprintf(card2, sizeof(card2), "%s", cJSON_GetObjectItemCaseSensitive(x, "id")->valuestring);
		free(t);
	}
	cJSON_Delete(o);
	free(p);
	cr_assert(card2[0], "no second card");
	for (int j = 0; j < 80; j++) /* let the state be written */
		cr_assert_geq(sr_loop_run_once(L, 25), 0);
	/* the restarted daemon listens where the cards point (a fixed
	 * SM_LISTEN_ADDR in production) */
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", sr_http_port(H));
	daemon_down();
	free(C.listen_addr);
	C.listen_addr = strdup(addr);
	daemon_up();
	wait_connected();
	res = click("bob", card2, "deny");
	cr_assert_not_null(strstr(res, "0 200"), "%s", res);
	free(res);
	p = posts();
	cr_assert_null(strstr(p, "NETWORK_DENIED"), "bob's click was acted on");
	free(p);
	res = click("alice", card2, "deny");
	cr_assert_not_null(strstr(res, "0 200"), "%s", res);
	free(res);
	free(wait_posts("got:[NETWORK_DENIED: files.example.org]"));
	free(wait_posts("Denied by @alice"));
}
