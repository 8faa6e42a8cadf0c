/* test_mm_bot.c — the bot's logic with a recording io: what it posts,
 * types and asks for, for each chat event, vt op and button click. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mm_bot.h"

#define MAXC 64

struct call {
	char method[8];
	char path[160];
	char *body; /* JSON text */
	int prio;
	char key[96];
	mm_bot_rest_cb cb;
	void *data;
	int done;
};

static struct {
	struct call calls[MAXC];
	int ncalls;
	char typed[16][256];
	int ntyped;
	char started_owner[64];
	char started_argv0[128];
	int nstarted;
	mm_bot_done_cb start_done;
	void *start_data;
	mm_bot_fw_cb approve_done;
	void *approve_data;
	char approved_host[128];
	int ndenied;
	unsigned char rnd;
	int send_rc;
} W;

static long io_rest(void *ctx, const char *method, const char *path, const cJSON *body, int prio,
		    const char *key, mm_bot_rest_cb cb, void *data)
{
	(void)ctx;
	cr_assert_lt(W.ncalls, MAXC);
	struct call *c = &W.calls[W.ncalls++];
	snprintf(c->method, sizeof(c->method), "%s", method);
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->body = body ? cJSON_PrintUnformatted(body) : strdup("");
	c->prio = prio;
	snprintf(c->key, sizeof(c->key), "%s", key ? key : "");
	c->cb = cb;
	c->data = data;
	return W.ncalls;
}

static int io_start(void *ctx, int argc, const char *const *argv, const char *owner,
		    mm_bot_done_cb done, void *data, char *id_out, char *err, size_t errlen)
{
	(void)ctx;
	if (!strcmp(argv[0], "bad/"))
		return snprintf(err, errlen, "bad spec"), -EINVAL;
	(void)argc;
	W.nstarted++;
	snprintf(W.started_owner, sizeof(W.started_owner), "%s", owner);
	snprintf(W.started_argv0, sizeof(W.started_argv0), "%s", argv[0]);
	W.start_done = done;
	W.start_data = data;
	strcpy(id_out, "sess0001");
	return 0;
}

static int io_stop(void *ctx, const char *id, mm_bot_done_cb done, void *data, char *err,
		   size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	done(data, 0, id, "stopped");
	return 0;
}

static int io_send(void *ctx, const char *id, const char *text)
{
	(void)ctx;
	(void)id;
	if (W.send_rc)
		return W.send_rc;
	snprintf(W.typed[W.ntyped++ % 16], 256, "%s", text);
	return 0;
}

static int io_keys(void *ctx, const char *id, const char *spec, char *err, size_t errlen)
{
	(void)ctx;
	(void)id;
	if (strstr(spec, "nope"))
		return snprintf(err, errlen, "unknown key 'nope'"), -EINVAL;
	return 0;
}

static int io_resize(void *ctx, const char *id, unsigned c, unsigned r)
{
	(void)ctx;
	(void)id;
	return c && r ? 0 : -EINVAL;
}

static int io_describe(void *ctx, const char *id, char *buf, size_t len)
{
	(void)ctx;
	snprintf(buf, len, "running acme/api (%s)", id);
	return 0;
}

static int io_check(void *ctx, const char *host, char *norm, size_t nlen, char *why, size_t wlen)
{
	(void)ctx;
	if (strchr(host, '/') || strchr(host, '*'))
		return snprintf(why, wlen, "not a hostname"), -EINVAL;
	snprintf(norm, nlen, "%s", host);
	for (char *p = norm; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 32;
	return !strcmp(norm, "allowed.example") ? 1 : 0;
}

static int io_approve(void *ctx, const char *session, const char *host, const char *user,
		      mm_bot_fw_cb done, void *data)
{
	(void)ctx;
	(void)session;
	(void)user;
	snprintf(W.approved_host, sizeof(W.approved_host), "%s", host);
	W.approve_done = done;
	W.approve_data = data;
	return 0;
}

static void io_deny(void *ctx, const char *session, const char *host, const char *user)
{
	(void)ctx;
	(void)session;
	(void)host;
	(void)user;
	W.ndenied++;
}

static int io_random(void *ctx, void *buf, size_t n)
{
	(void)ctx;
	unsigned char *p = buf;
	for (size_t i = 0; i < n; i++)
		p[i] = W.rnd++;
	return 0;
}

static struct mm_bot *B;

static void cleanup(void)
{
	/* finish what is still pending (these may make more calls), then
	 * deliver pending REST callbacks, so no callback data leaks */
	if (W.start_done)
		W.start_done(W.start_data, -ECANCELED, "sess0001", "cancelled");
	if (W.approve_done)
		W.approve_done(W.approve_data, -ECANCELED, "cancelled");
	for (int i = 0; i < W.ncalls; i++)
		if (W.calls[i].cb && !W.calls[i].done) {
			W.calls[i].done = 1;
			W.calls[i].cb(W.calls[i].data, -ECANCELED, 0, NULL, "cancelled");
		}
	for (int i = 0; i < W.ncalls; i++)
		free(W.calls[i].body);
	mm_bot_free(B);
	B = NULL;
	memset(&W, 0, sizeof(W));
}

TestSuite(mm_bot, .fini = cleanup);

static void new_bot(void)
{
	const char *allowed[] = {"alice", "uid-carol", NULL};
	struct mm_bot_opts o = {
		.bot_user_id = "botid",
		.allowed_users = allowed,
		.callback_url = "http://relay.example/mm/action",
		.io = {.rest = io_rest, .start = io_start, .stop = io_stop, .send_text = io_send,
		       .send_keys = io_keys, .resize = io_resize, .describe = io_describe,
		       .check_host = io_check, .approve = io_approve, .deny = io_deny,
		       .random = io_random},
	};
	char err[128];
	cr_assert_eq(mm_bot_new(&o, &B, err, sizeof(err)), 0, "%s", err);
}

/* A `posted` event as the server sends it: data.post is a JSON string. */
static void posted(const char *id, const char *uid, const char *user, const char *root,
		   const char *msg, double create_at)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "id", id);
	cJSON_AddStringToObject(p, "user_id", uid);
	cJSON_AddStringToObject(p, "channel_id", "chan1");
	cJSON_AddStringToObject(p, "root_id", root ? root : "");
	cJSON_AddStringToObject(p, "message", msg);
	cJSON_AddStringToObject(p, "type", "");
	cJSON_AddNumberToObject(p, "create_at", create_at);
	char *ps = cJSON_PrintUnformatted(p);
	cJSON_Delete(p);
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "post", ps);
	char sender[80];
	snprintf(sender, sizeof(sender), "@%s", user);
	cJSON_AddStringToObject(d, "sender_name", sender);
	free(ps);
	mm_bot_on_event(B, "posted", d, NULL);
	cJSON_Delete(d);
}

static struct call *last(void)
{
	cr_assert_gt(W.ncalls, 0);
	return &W.calls[W.ncalls - 1];
}

static cJSON *body_of(const struct call *c)
{
	cJSON *o = cJSON_Parse(c->body);
	cr_assert_not_null(o, "%s", c->body);
	return o;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* Completes call i with {"id": post_id}. */
static void complete(int i, const char *post_id)
{
	struct call *c = &W.calls[i];
	cr_assert_not_null(c->cb, "call %d has no callback", i);
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "id", post_id);
	c->done = 1;
	c->cb(c->data, 0, 201, r, "");
	cJSON_Delete(r);
}

static void start_session(void)
{
	new_bot();
	posted("p1", "uid-alice", "alice", NULL, "@claude start acme/api --worktree", 1000);
	cr_assert_eq(W.nstarted, 1);
	cr_assert_str_eq(W.started_owner, "alice");
	cr_assert_str_eq(W.started_argv0, "acme/api");
	cJSON *b = body_of(last());
	cr_assert_str_eq(str(b, "root_id"), "p1");
	cr_assert_not_null(strstr(str(b, "message"), "session `sess0001`"), "%s", str(b, "message"));
	cJSON_Delete(b);
	W.start_done(W.start_data, 0, "sess0001", "");
	W.start_done = NULL;
	b = body_of(last());
	cr_assert_not_null(strstr(str(b, "message"), "is running"));
	cJSON_Delete(b);
}

Test(mm_bot, start_and_authorization)
{
	start_session();
	int n = W.ncalls;
	posted("p2", "uid-eve", "eve", NULL, "@claude start acme/api", 1001);
	cr_assert_eq(W.nstarted, 1, "eve may not start");
	cr_assert_eq(W.ncalls, n + 1);
	cJSON *b = body_of(last());
	cr_assert_not_null(strstr(str(b, "message"), "not allowed"));
	cr_assert_str_eq(str(b, "root_id"), "p2");
	cJSON_Delete(b);
	/* allowed by id */
	posted("p3", "uid-carol", "carol", NULL, "@claude start bad/", 1002);
	b = body_of(last());
	cr_assert_not_null(strstr(str(b, "message"), "Could not start: bad spec"), "%s", str(b, "message"));
	cJSON_Delete(b);
	/* the bot's own posts and channel chatter are ignored */
	n = W.ncalls;
	posted("p4", "botid", "claude", NULL, "@claude start x/y", 1003);
	posted("p5", "uid-bob", "bob", NULL, "lunch?", 1004);
	cr_assert_eq(W.ncalls, n);
	/* malformed commands always get an answer */
	posted("p6", "uid-bob", "bob", NULL, "@claude frobnicate", 1005);
	b = body_of(last());
	cr_assert_not_null(strstr(str(b, "message"), "Try '@claude help'"));
	cJSON_Delete(b);
}

Test(mm_bot, typing_in_the_thread)
{
	start_session();
	posted("t1", "uid-alice", "alice", "p1", "run the tests please", 2000);
	cr_assert_eq(W.ntyped, 1);
	cr_assert_str_eq(W.typed[0], "run the tests please");
	/* the same post again (a resume replay) is not typed twice */
	posted("t1", "uid-alice", "alice", "p1", "run the tests please", 2000);
	cr_assert_eq(W.ntyped, 1);
	/* a stranger is told, not typed */
	posted("t2", "uid-bob", "bob", "p1", "rm -rf /", 2001);
	cr_assert_eq(W.ntyped, 1);
	cJSON *b = body_of(last());
	cr_assert_not_null(strstr(str(b, "message"), "Only alice"), "%s", str(b, "message"));
	cr_assert_str_eq(str(b, "root_id"), "p1");
	cJSON_Delete(b);
	/* the owner invites bob */
	posted("t3", "uid-alice", "alice", "p1", "@claude invite @bob", 2002);
	posted("t4", "uid-bob", "bob", "p1", "hello from bob", 2003);
	cr_assert_eq(W.ntyped, 2);
	cr_assert_str_eq(W.typed[1], "hello from bob");
	/* keys: good and bad */
	int n = W.ncalls;
	posted("t5", "uid-alice", "alice", "p1", "@claude keys down*3 enter", 2004);
	cr_assert_eq(W.ncalls, n, "good keys need no reply");
	posted("t6", "uid-alice", "alice", "p1", "@claude keys nope", 2005);
	b = body_of(last());
	cr_assert_not_null(strstr(str(b, "message"), "unknown key 'nope'"));
	cJSON_Delete(b);
	/* reconnecting: the user is told the message was not typed */
	W.send_rc = -ENOTCONN;
	posted("t7", "uid-alice", "alice", "p1", "are you there", 2006);
	b = body_of(last());
	cr_assert_not_null(strstr(str(b, "message"), "was not typed"));
	cJSON_Delete(b);
}

Test(mm_bot, transcript_posts)
{
	start_session();
	int n0 = W.ncalls;
	struct vt_op live = {.kind = VT_OP_LIVE, .text = "$ make\nbuilding\n"};
	mm_bot_on_op(B, "sess0001", &live);
	cr_assert_eq(W.ncalls, n0 + 1);
	struct call *c = last();
	cr_assert_str_eq(c->method, "POST");
	cr_assert_eq(c->prio, MM_BOT_PRIO_HISTORY, "live posts are created in order with history");
	cJSON *b = body_of(c);
	cr_assert_str_eq(str(b, "message"), "```\n$ make\nbuilding\n```");
	cr_assert_str_eq(str(b, "root_id"), "p1");
	cJSON_Delete(b);
	/* a newer live text while it is being created waits for the id */
	live.text = "$ make\nbuilding\n50%\n";
	mm_bot_on_op(B, "sess0001", &live);
	cr_assert_eq(W.ncalls, n0 + 1);
	complete(n0, "live1");
	c = last();
	cr_assert_str_eq(c->method, "PUT");
	cr_assert_str_eq(c->path, "/api/v4/posts/live1/patch");
	cr_assert_str_eq(c->key, "patch:live1");
	cr_assert_eq(c->prio, MM_BOT_PRIO_LIVE);
	b = body_of(c);
	cr_assert_str_eq(str(b, "message"), "```\n$ make\nbuilding\n50%\n```");
	cr_assert_null(cJSON_GetObjectItemCaseSensitive(b, "props"), "a patch carries only the message");
	cJSON_Delete(b);
	/* committed lines turn the live post into history ... */
	const char *lines[] = {"$ make", "building"};
	struct vt_op commit = {.kind = VT_OP_COMMIT, .lines = lines, .nlines = 2};
	mm_bot_on_op(B, "sess0001", &commit);
	c = last();
	cr_assert_str_eq(c->path, "/api/v4/posts/live1/patch");
	cr_assert_eq(c->prio, MM_BOT_PRIO_HISTORY);
	b = body_of(c);
	cr_assert_str_eq(str(b, "message"), "```\n$ make\nbuilding\n```");
	cJSON_Delete(b);
	int hist = W.ncalls - 1;
	/* ... and the next live text is a new post below it, once the history
	 * write is done (one write on its way per thread keeps the order) */
	live.text = "100%\n$ ";
	mm_bot_on_op(B, "sess0001", &live);
	cr_assert_eq(W.ncalls, hist + 1, "nothing new while the history write is on its way");
	complete(hist, "live1");
	c = last();
	cr_assert_str_eq(c->method, "POST");
	int creating = W.ncalls - 1;
	/* a commit while that one is being created: it becomes history when it exists */
	const char *l2[] = {"100%"};
	commit.lines = l2;
	commit.nlines = 1;
	mm_bot_on_op(B, "sess0001", &commit);
	int n = W.ncalls;
	complete(creating, "live2");
	cr_assert_eq(W.ncalls, n + 1);
	c = last();
	cr_assert_str_eq(c->path, "/api/v4/posts/live2/patch");
	b = body_of(c);
	cr_assert_str_eq(str(b, "message"), "```\n100%\n```");
	cJSON_Delete(b);
	/* a burst of commits while that write is on its way: ONE write later,
	 * the lines merged in order (the REST budget is shared) */
	int busy = W.ncalls - 1;
	const char *l3[] = {"a"}, *l4[] = {"b", "c"}, *l5[] = {"d"};
	struct vt_op c3 = {.kind = VT_OP_COMMIT, .lines = l3, .nlines = 1};
	struct vt_op c4 = {.kind = VT_OP_COMMIT, .lines = l4, .nlines = 2};
	struct vt_op c5 = {.kind = VT_OP_COMMIT, .lines = l5, .nlines = 1};
	mm_bot_on_op(B, "sess0001", &c3);
	mm_bot_on_op(B, "sess0001", &c4);
	mm_bot_on_op(B, "sess0001", &c5);
	cr_assert_eq(W.ncalls, busy + 1);
	complete(busy, "live2");
	cr_assert_eq(W.ncalls, busy + 2);
	c = last();
	cr_assert_str_eq(c->method, "POST");
	b = body_of(c);
	cr_assert_str_eq(str(b, "message"), "```\na\nb\nc\nd\n```");
	cJSON_Delete(b);
	complete(W.ncalls - 1, "hist3");
	/* the state changes are announced in the thread */
	mm_bot_on_state(B, "sess0001", 0, 1, "Socket error: disconnected");
	b = body_of(last());
	cr_assert_not_null(strstr(str(b, "message"), "reconnecting"));
	cJSON_Delete(b);
	mm_bot_on_state(B, "sess0001", 1, 0, "the program exited");
	b = body_of(last());
	cr_assert_not_null(strstr(str(b, "message"), "ended: the program exited"), "%s", str(b, "message"));
	cJSON_Delete(b);
	/* an ended session's thread takes no more typing */
	n = W.ncalls;
	int typed = W.ntyped;
	posted("z1", "uid-alice", "alice", "p1", "still there?", 3000);
	cr_assert_eq(W.ntyped, typed);
}

static cJSON *card_context(const struct call *c, const char *action)
{
	cJSON *b = body_of(c);
	cJSON *acts = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
					   cJSON_GetObjectItemCaseSensitive(b, "props"), "attachments"),
				   0),
		"actions");
	cJSON *found = NULL, *a;
	cJSON_ArrayForEach(a, acts)
		if (!strcmp(str(a, "id"), action))
			found = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(
							cJSON_GetObjectItemCaseSensitive(a, "integration"), "context"),
						1);
	cJSON_Delete(b);
	cr_assert_not_null(found, "no %s button", action);
	return found;
}

static int click(const cJSON *ctx, const char *user, char **reply)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "user_id", "uid-x");
	cJSON_AddStringToObject(r, "user_name", user);
	cJSON_AddStringToObject(r, "post_id", "card1");
	cJSON_AddItemToObject(r, "context", cJSON_Duplicate(ctx, 1));
	char *t = cJSON_PrintUnformatted(r);
	cJSON_Delete(r);
	int st = mm_bot_on_action(B, t, strlen(t), reply);
	free(t);
	return st;
}

Test(mm_bot, approval_cards)
{
	start_session();
	const char *ctxl[] = {"curl failed", "[NETWORK_REQUEST: PyPI.org]"};
	struct vt_marker m = {.value = "PyPI.org", .line = ctxl[1], .context = ctxl, .ncontext = 2};
	struct vt_op op = {.kind = VT_OP_MARKER, .marker = &m};
	mm_bot_on_op(B, "sess0001", &op);
	int card = W.ncalls - 1;
	struct call *c = last();
	cr_assert_eq(c->prio, MM_BOT_PRIO_CARD);
	cr_assert_not_null(strstr(c->body, "Network access requested: pypi.org"), "%s", c->body);
	cr_assert_not_null(strstr(c->body, "http://relay.example/mm/action"));
	cr_assert_not_null(strstr(c->body, "[NETWORK_REQUEST: PyPI.org]"), "context lines");
	cJSON *ctx = card_context(c, "approve");
	cr_assert_eq(strlen(str(ctx, "secret")), 32);
	complete(card, "card1");
	/* the same host again while pending: no second card */
	int n = W.ncalls;
	mm_bot_on_op(B, "sess0001", &op);
	cr_assert_eq(W.ncalls, n);
	cr_assert_eq(mm_bot_pending(B), 1);

	/* a forged secret is refused without detail */
	char *reply = NULL;
	cJSON *forged = cJSON_Duplicate(ctx, 1);
	cJSON_ReplaceItemInObject(forged, "secret", cJSON_CreateString("00000000000000000000000000000000"));
	cr_assert_eq(click(forged, "alice", &reply), 200);
	cr_assert_not_null(strstr(reply, "unknown or has expired"), "%s", reply);
	cr_assert_null(strstr(reply, "update"), "a forged click changes nothing");
	free(reply);
	cJSON_Delete(forged);
	/* only the session's owner decides (no SM_APPROVERS here) */
	cr_assert_eq(click(ctx, "carol", &reply), 200);
	cr_assert_not_null(strstr(reply, "Only the session's owner"), "%s", reply);
	free(reply);
	cr_assert_str_eq(W.approved_host, "");
	/* alice approves: the firewall is asked, the card loses its buttons */
	cr_assert_eq(click(ctx, "alice", &reply), 200);
	cr_assert_str_eq(W.approved_host, "pypi.org");
	cr_assert_not_null(strstr(reply, "Approving pypi.org"), "%s", reply);
	cr_assert_null(strstr(reply, "\"actions\""), "%s", reply);
	free(reply);
	cr_assert_eq(W.ntyped, 0, "nothing typed before the firewall applied it");
	/* a second click is answered, not acted on */
	cr_assert_eq(click(ctx, "alice", &reply), 200);
	cr_assert_not_null(strstr(reply, "already decided"));
	free(reply);
	n = W.ncalls;
	W.approve_done(W.approve_data, 0, "");
	W.approve_done = NULL;
	cr_assert_eq(W.ntyped, 1);
	cr_assert_str_eq(W.typed[0], "[NETWORK_APPROVED: pypi.org]");
	c = last();
	cr_assert_str_eq(c->path, "/api/v4/posts/card1/patch");
	cr_assert_not_null(strstr(c->body, "Approved by @alice at "), "%s", c->body);
	cr_assert_not_null(strstr(c->body, " UTC: pypi.org is allowed"), "%s", c->body);
	cr_assert_null(strstr(c->body, "\"actions\""), "a decided card has no buttons");
	cr_assert_eq(mm_bot_pending(B), 0);
	cJSON_Delete(ctx);

	/* deny path */
	struct vt_marker m2 = {.value = "evil.example", .line = "x", .context = ctxl, .ncontext = 1};
	op.marker = &m2;
	mm_bot_on_op(B, "sess0001", &op);
	ctx = card_context(last(), "deny");
	complete(W.ncalls - 1, "card2");
	cr_assert_eq(click(ctx, "alice", &reply), 200);
	cr_assert_not_null(strstr(reply, "Denied by @alice"));
	free(reply);
	cr_assert_eq(W.ndenied, 1);
	cr_assert_str_eq(W.typed[1], "[NETWORK_DENIED: evil.example]");
	cJSON_Delete(ctx);

	/* a hostile host never gets a card; the program hears a denial */
	n = W.ncalls;
	struct vt_marker m3 = {.value = "*.com/x", .line = "x", .context = ctxl, .ncontext = 1};
	op.marker = &m3;
	mm_bot_on_op(B, "sess0001", &op);
	cr_assert_eq(W.ncalls, n + 1);
	cr_assert_not_null(strstr(last()->body, "Refused a network request"), "%s", last()->body);
	cr_assert_str_eq(W.typed[2], "[NETWORK_DENIED: *.com/x]");
	/* an already allowed host is approved at once, without a card */
	struct vt_marker m4 = {.value = "allowed.example", .line = "x", .context = ctxl, .ncontext = 1};
	op.marker = &m4;
	n = W.ncalls;
	mm_bot_on_op(B, "sess0001", &op);
	cr_assert_eq(W.ncalls, n);
	cr_assert_str_eq(W.typed[3], "[NETWORK_APPROVED: allowed.example]");
	/* garbage bodies */
	cr_assert_eq(mm_bot_on_action(B, "not json", 8, &reply), 400);
	free(reply);
}

Test(mm_bot, firewall_failure_keeps_the_card_and_reactions_decide)
{
	start_session();
	const char *ctxl[] = {"[NETWORK_REQUEST: pypi.org]"};
	struct vt_marker m = {.value = "pypi.org", .line = ctxl[0], .context = ctxl, .ncontext = 1};
	struct vt_op op = {.kind = VT_OP_MARKER, .marker = &m};
	mm_bot_on_op(B, "sess0001", &op);
	cJSON *ctx = card_context(last(), "approve");
	complete(W.ncalls - 1, "card1");
	char *reply = NULL;
	cr_assert_eq(click(ctx, "alice", &reply), 200);
	free(reply);
	/* the firewall fails: nothing typed, the card says so and keeps its buttons */
	W.approve_done(W.approve_data, -EIO, "alias apply failed");
	W.approve_done = NULL;
	cr_assert_eq(W.ntyped, 0);
	struct call *c = last();
	cr_assert_str_eq(c->path, "/api/v4/posts/card1/patch");
	cr_assert_not_null(strstr(c->body, "failed"), "%s", c->body);
	cr_assert_not_null(strstr(c->body, "alias apply failed"), "%s", c->body);
	cr_assert_not_null(strstr(c->body, "\"actions\""), "the card stays actionable");
	cr_assert_eq(mm_bot_pending(B), 1);
	cJSON_Delete(ctx);

	/* a thumbs-up by the owner (reactions arrive over the WebSocket with a
	 * user id; the bot learns the name, then decides) */
	W.approved_host[0] = '\0';
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "reaction",
				"{\"user_id\":\"uid-alice\",\"post_id\":\"card1\",\"emoji_name\":\"+1\"}");
	mm_bot_on_event(B, "reaction_added", d, NULL);
	cJSON_Delete(d);
	c = last();
	cr_assert_str_eq(c->path, "/api/v4/users/uid-alice");
	cJSON *u = cJSON_Parse("{\"id\":\"uid-alice\",\"username\":\"alice\"}");
	c->done = 1;
	c->cb(c->data, 0, 200, u, "");
	cJSON_Delete(u);
	cr_assert_str_eq(W.approved_host, "pypi.org");
	W.approve_done(W.approve_data, 0, "");
	W.approve_done = NULL;
	cr_assert_str_eq(W.typed[0], "[NETWORK_APPROVED: pypi.org]");
	/* a reaction by someone else does nothing */
	const char *l2[] = {"[NETWORK_REQUEST: other.example]"};
	struct vt_marker m2 = {.value = "other.example", .line = l2[0], .context = l2, .ncontext = 1};
	op.marker = &m2;
	mm_bot_on_op(B, "sess0001", &op);
	complete(W.ncalls - 1, "card2");
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "reaction",
				"{\"user_id\":\"uid-bob\",\"post_id\":\"card2\",\"emoji_name\":\"-1\"}");
	mm_bot_on_event(B, "reaction_added", d, NULL);
	cJSON_Delete(d);
	c = last();
	u = cJSON_Parse("{\"id\":\"uid-bob\",\"username\":\"bob\"}");
	c->done = 1;
	c->cb(c->data, 0, 200, u, "");
	cJSON_Delete(u);
	cr_assert_eq(W.ndenied, 0);
	cr_assert_eq(mm_bot_pending(B), 1);
}

Test(mm_bot, pending_requests_expire)
{
	const char *allowed[] = {"alice", NULL};
	struct mm_bot_opts o = {
		.bot_user_id = "botid",
		.allowed_users = allowed,
		.callback_url = "http://relay.example/mm/action",
		.approval_ttl_s = 1,
		.io = {.rest = io_rest, .start = io_start, .stop = io_stop, .send_text = io_send,
		       .send_keys = io_keys, .resize = io_resize, .describe = io_describe,
		       .check_host = io_check, .approve = io_approve, .deny = io_deny,
		       .random = io_random},
	};
	char err[128];
	cr_assert_eq(mm_bot_new(&o, &B, err, sizeof(err)), 0, "%s", err);
	posted("p1", "uid-alice", "alice", NULL, "@claude start acme/api", 1000);
	W.start_done(W.start_data, 0, "sess0001", "");
	W.start_done = NULL;
	const char *ctxl[] = {"[NETWORK_REQUEST: pypi.org]"};
	struct vt_marker m = {.value = "pypi.org", .line = ctxl[0], .context = ctxl, .ncontext = 1};
	struct vt_op op = {.kind = VT_OP_MARKER, .marker = &m};
	mm_bot_on_op(B, "sess0001", &op);
	complete(W.ncalls - 1, "card1");
	mm_bot_tick(B);
	cr_assert_eq(W.ntyped, 0, "not expired yet");
	nanosleep(&(struct timespec){1, 100000000}, NULL); /* the TTL is in whole seconds */
	mm_bot_tick(B);
	cr_assert_eq(W.ntyped, 1);
	cr_assert_str_eq(W.typed[0], "[NETWORK_DENIED: pypi.org]");
	cr_assert_not_null(strstr(last()->body, "Expired"), "%s", last()->body);
	cr_assert_eq(mm_bot_pending(B), 0);
}

Test(mm_bot, gap_refetch_and_persistence)
{
	start_session();
	mm_bot_on_gap(B);
	struct call *c = last();
	cr_assert_str_eq(c->method, "GET");
	cr_assert_str_eq(c->path, "/api/v4/channels/chan1/posts?since=1000");
	/* the refetch returns a post already handled and two new ones, unordered */
	cJSON *resp = cJSON_Parse(
		"{\"order\":[],\"posts\":{"
		"\"p1\":{\"id\":\"p1\",\"user_id\":\"uid-alice\",\"channel_id\":\"chan1\",\"root_id\":\"\",\"message\":\"@claude start acme/api --worktree\",\"type\":\"\",\"create_at\":1000},"
		"\"m2\":{\"id\":\"m2\",\"user_id\":\"uid-carol\",\"channel_id\":\"chan1\",\"root_id\":\"p1\",\"message\":\"second\",\"type\":\"\",\"create_at\":1200},"
		"\"m1\":{\"id\":\"m1\",\"user_id\":\"uid-carol\",\"channel_id\":\"chan1\",\"root_id\":\"p1\",\"message\":\"first\",\"type\":\"\",\"create_at\":1100}}}");
	c->done = 1;
	c->cb(c->data, 0, 200, resp, "");
	cJSON_Delete(resp);
	cr_assert_eq(W.nstarted, 1, "the start was not repeated");
	cr_assert_eq(W.ntyped, 2);
	cr_assert_str_eq(W.typed[0], "first");
	cr_assert_str_eq(W.typed[1], "second");

	/* a pending card and the thread survive save/load */
	const char *ctxl[] = {"[NETWORK_REQUEST: pypi.org]"};
	struct vt_marker m = {.value = "pypi.org", .line = ctxl[0], .context = ctxl, .ncontext = 1};
	struct vt_op op = {.kind = VT_OP_MARKER, .marker = &m};
	mm_bot_on_op(B, "sess0001", &op);
	cJSON *ctx = card_context(last(), "approve");
	complete(W.ncalls - 1, "card1");
	cJSON *saved = mm_bot_save(B);
	char *text = cJSON_PrintUnformatted(saved);
	cJSON_Delete(saved);
	mm_bot_free(B);
	B = NULL;
	new_bot();
	saved = cJSON_Parse(text);
	free(text);
	cr_assert_eq(mm_bot_load(B, saved), 0);
	cJSON_Delete(saved);
	cr_assert_eq(mm_bot_pending(B), 1);
	char *reply = NULL;
	cr_assert_eq(click(ctx, "alice", &reply), 200);
	cr_assert_str_eq(W.approved_host, "pypi.org");
	free(reply);
	cJSON_Delete(ctx);
	int typed = W.ntyped;
	posted("m3", "uid-alice", "alice", "p1", "after restart", 1300);
	cr_assert_eq(W.ntyped, typed + 1);
}
