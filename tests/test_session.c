/* test_session.c — sr_session and sr_ssh_driver against a real OpenSSH sshd
 * on loopback (sshd_harness.h) and a real sr_loop. GUARD_S only guards
 * against hangs; nothing here asserts on timing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sr_loop.h"
#include "sr_session.h"
#include "sr_ssh.h"
#include "sshd_harness.h"
#include "vt_filter.h"
#include "vt_screen.h"

#define GUARD_S 20.0
#define NSESS 10

struct ctx {
	struct sr_session *s;
	int exited;
	int status;
	char why[256];
	int ended_op;  /* VT_OP_END seen */
	char ops[1 << 16]; /* live texts and committed lines, concatenated */
	size_t ops_len;
};

static struct sshd D;
static struct sr_loop *L;
static struct sr_ssh *S;
static struct sr_ssh_driver *DRV;
static struct ctx *C[NSESS]; /* freed (with their sessions) by teardown */
static int DRV_ERR;

static void teardown(void)
{
	for (size_t i = 0; i < NSESS; i++) {
		if (C[i]) {
			sr_session_free(C[i]->s);
			free(C[i]);
			C[i] = NULL;
		}
	}
	sr_ssh_driver_free(DRV);
	DRV = NULL;
	sshd_stop(&D);
	sr_ssh_free(S);
	S = NULL;
	sr_loop_free(L);
	L = NULL;
}

TestSuite(session, .fini = teardown);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_drv_error(void *data, int code, const char *msg)
{
	(void)data;
	(void)msg;
	DRV_ERR = code;
}

static void setup(void)
{
	if (!sshd_available())
		cr_skip_test("OpenSSH is not installed (%s or ssh-keygen missing)", SSHD_BIN);
	cr_assert_eq(sshd_start(&D), 0, "sshd_start: %s", D.err);
	cr_assert_eq(sr_loop_new(&L), 0);
	struct sr_ssh_opts o = sshd_client_opts(&D);
	char err[512];
	int rc = sr_ssh_connect(&o, &S, err, sizeof(err));
	cr_assert_eq(rc, 0, "connect: %s", err);
	DRV_ERR = 0;
	/* Sessions start while the connection is still connecting. */
	cr_assert_eq(sr_ssh_driver_new(L, S, 0, on_drv_error, NULL, &DRV), 0);
}

static void on_op(void *data, const struct vt_op *op)
{
	struct ctx *c = data;
	const char *parts[64];
	size_t np = 0;
	if (op->kind == VT_OP_LIVE && op->text)
		parts[np++] = op->text;
	else if (op->kind == VT_OP_COMMIT)
		for (size_t i = 0; i < op->nlines && np < 64; i++)
			parts[np++] = op->lines[i];
	else if (op->kind == VT_OP_END)
		c->ended_op = 1;
	for (size_t i = 0; i < np; i++) {
		size_t n = strlen(parts[i]);
		if (c->ops_len + n + 2 > sizeof(c->ops))
			return;
		memcpy(c->ops + c->ops_len, parts[i], n);
		c->ops_len += n;
		c->ops[c->ops_len++] = '\n';
		c->ops[c->ops_len] = '\0';
	}
}

static void on_exit_cb(void *data, int status, const char *why)
{
	struct ctx *c = data;
	c->exited = 1;
	c->status = status;
	snprintf(c->why, sizeof(c->why), "%s", why);
}

static struct ctx *start_argv(size_t slot, const char *const *argv, unsigned cols, unsigned rows)
{
	struct ctx *c = calloc(1, sizeof(*c));
	cr_assert_not_null(c);
	C[slot] = c;
	struct sr_session_opts o = {
		.driver = DRV,
		.term = "xterm-256color",
		.cols = cols,
		.rows = rows,
		.argv = argv,
		.on_op = on_op,
		.op_data = c,
		.on_exit = on_exit_cb,
		.exit_data = c,
	};
	char err[512] = "";
	int rc = sr_session_start(&o, &c->s, err, sizeof(err));
	cr_assert_eq(rc, 0, "sr_session_start: %d %s", rc, err);
	return c;
}

static struct ctx *start_sh(size_t slot, const char *script)
{
	const char *argv[] = {"sh", "-c", script, NULL};
	return start_argv(slot, argv, 80, 24);
}

/* Runs the loop until done(arg) holds; fails at the guard. */
static void run_until(int (*done)(void *), void *arg, const char *what)
{
	double end = now_s() + GUARD_S;
	while (!done(arg)) {
		cr_assert_eq(DRV_ERR, 0, "connection failed: %s", sr_ssh_error(S));
		cr_assert(now_s() < end, "timed out waiting for %s", what);
		cr_assert_geq(sr_loop_run_once(L, 100), 0);
	}
}

struct want {
	struct ctx *c;
	const char *text;
	char screen[8192];
};

static int screen_has(void *arg)
{
	struct want *w = arg;
	char *t = NULL;
	int rc = sr_session_screen_text(w->c->s, &t);
	cr_assert_eq(rc, 0);
	snprintf(w->screen, sizeof(w->screen), "%s", t);
	int ok = strstr(t, w->text) != NULL;
	free(t);
	return ok;
}

static void wait_screen(struct ctx *c, const char *text)
{
	struct want w = {.c = c, .text = text};
	double end = now_s() + GUARD_S;
	while (!screen_has(&w)) {
		cr_assert_eq(DRV_ERR, 0, "connection failed: %s", sr_ssh_error(S));
		cr_assert(now_s() < end, "no '%s' on the screen:\n%s\n(exited %d: %s)", text,
			  w.screen, c->exited, c->why);
		cr_assert_geq(sr_loop_run_once(L, 100), 0);
	}
}

static int exited(void *arg)
{
	return ((struct ctx *)arg)->exited;
}

static int end_op_seen(void *arg)
{
	return ((struct ctx *)arg)->ended_op;
}

static void wait_exit(struct ctx *c, int status)
{
	run_until(exited, c, "on_exit");
	cr_assert_eq(c->status, status, "status %d (%s)", c->status, c->why);
}

/* ---- tests -------------------------------------------------------------- */

Test(session, output_input_exit_and_ops)
{
	setup();
	struct ctx *c = start_sh(0, "printf 'hello from pty\\n'; read line; echo \"typed:$line\"; sleep 0.2");
	wait_screen(c, "hello from pty");
	cr_assert_eq(sr_session_send_text(c->s, "abc"), 0);
	wait_screen(c, "typed:abc");
	wait_exit(c, 0);
	cr_assert_str_eq(c->why, "exited with status 0");
	cr_assert(sr_session_ended(c->s));
	run_until(end_op_seen, c, "the END op");
	cr_assert_not_null(strstr(c->ops, "hello from pty"), "ops: %s", c->ops);
	cr_assert_not_null(strstr(c->ops, "typed:abc"), "ops: %s", c->ops);
	/* The screen stays readable after the end; writes are refused. */
	wait_screen(c, "typed:abc");
	cr_assert_eq(sr_session_send_text(c->s, "x"), -EPIPE);
	cr_assert_eq(sr_session_resize(c->s, 90, 20), -EPIPE);
}

Test(session, exit_status_nonzero)
{
	setup();
	struct ctx *c = start_sh(0, "echo bye; exit 3");
	wait_exit(c, 3);
	cr_assert_str_eq(c->why, "exited with status 3");
	run_until(end_op_seen, c, "the END op");
	cr_assert_not_null(strstr(c->ops, "bye"), "ops: %s", c->ops);
}

Test(session, resize)
{
	setup();
	struct ctx *c = start_sh(0, "trap 'stty size' WINCH; stty size; echo ready; "
				    "while :; do sleep 0.1; done");
	wait_screen(c, "ready");
	cr_assert_eq(vt_screen_cols(sr_session_screen(c->s)), 80);
	cr_assert_eq(sr_session_resize(c->s, 120, 40), 0);
	cr_assert_eq(vt_screen_cols(sr_session_screen(c->s)), 120);
	cr_assert_eq(vt_screen_rows(sr_session_screen(c->s)), 40);
	wait_screen(c, "40 120");
	char *t = NULL;
	cr_assert_eq(sr_session_screen_text(c->s, &t), 0);
	size_t nl = 0;
	for (const char *p = t; *p; p++)
		nl += *p == '\n';
	free(t);
	cr_assert_geq(nl + 1, 40, "screen text has %zu lines", nl + 1);
	cr_assert_eq(sr_session_resize(c->s, 0, 10), -EINVAL);
}

static int has_paste_mode(void *arg)
{
	return (vt_screen_modes(sr_session_screen(arg)) & VT_MODE_BRACKETED_PASTE) != 0;
}

Test(session, bracketed_paste)
{
	setup();
	struct ctx *c = start_sh(0, "stty -echo; printf '\\033[?2004h'; echo ready; exec cat -v");
	wait_screen(c, "ready");
	run_until(has_paste_mode, c->s, "bracketed paste mode");
	cr_assert_eq(sr_session_send_text(c->s, "abc"), 0);
	wait_screen(c, "^[[200~abc^[[201~");
	char err[128];
	cr_assert_eq(sr_session_send_keys(c->s, "ctrl-d", err, sizeof(err)), 0, "%s", err);
	wait_exit(c, 0);
	cr_assert_eq(sr_session_send_keys(c->s, "nosuchkey", err, sizeof(err)), -EINVAL);
	cr_assert_neq(err[0], '\0');
}

Test(session, terminal_query_answered)
{
	setup();
	/* The cursor is at 1;1 when the program asks: the answer is ESC[1;1R. */
	struct ctx *c = start_sh(0, "stty raw -echo; printf '\\033[6n'; "
				    "r=$(dd bs=1 count=6 2>/dev/null); stty sane; "
				    "printf '\\ngot:%s\\n' \"$r\" | cat -v");
	wait_screen(c, "got:^[[1;1R");
	wait_exit(c, 0);
}

Test(session, ten_sessions_one_connection)
{
	setup();
	char scripts[NSESS][128];
	for (int i = 0; i < NSESS; i++) {
		snprintf(scripts[i], sizeof(scripts[i]),
			 "echo session-%02d-output; sleep 0.3; echo session-%02d-done", i, i);
		start_sh((size_t)i, scripts[i]);
	}
	for (int i = 0; i < NSESS; i++) {
		char want[64];
		snprintf(want, sizeof(want), "session-%02d-done", i);
		wait_screen(C[i], want);
		wait_exit(C[i], 0);
	}
	for (int i = 0; i < NSESS; i++) {
		char *t = NULL;
		cr_assert_eq(sr_session_screen_text(C[i]->s, &t), 0);
		for (int j = 0; j < NSESS; j++) {
			char other[64];
			snprintf(other, sizeof(other), "session-%02d-output", j);
			if (i == j)
				cr_assert_not_null(strstr(t, other), "%d: %s", i, t);
			else
				cr_assert_null(strstr(t, other), "%d shows %d: %s", i, j, t);
		}
		free(t);
	}
}

Test(session, free_running_session)
{
	setup();
	struct ctx *c = start_sh(0, "echo running; while :; do sleep 1; done");
	wait_screen(c, "running");
	sr_session_free(c->s);
	c->s = NULL;
	/* The connection stays usable for new sessions. */
	struct ctx *c2 = start_sh(1, "echo second");
	wait_exit(c2, 0);
	wait_screen(c2, "second");
	cr_assert_eq(c->exited, 0, "on_exit ran after sr_session_free");
}

Test(session, vim)
{
	if (access("/usr/bin/vim", X_OK) != 0)
		cr_skip_test("vim is not installed");
	setup();
	const char *argv[] = {"vim", "-u", "NONE", "-N", NULL};
	struct ctx *c = start_argv(0, argv, 80, 24);
	wait_screen(c, "\n~");
	char err[128];
	cr_assert_eq(sr_session_send_keys(c->s, "esc : q enter", err, sizeof(err)), 0, "%s", err);
	wait_exit(c, 0);
}

static void free_on_exit(void *data, int status, const char *why)
{
	struct ctx *c = data;
	on_exit_cb(data, status, why);
	sr_session_free(c->s); /* allowed from on_exit */
	c->s = NULL;
}

static void free_driver_on_error(void *data, int code, const char *msg)
{
	on_drv_error(data, code, msg);
	sr_ssh_driver_free(DRV); /* allowed from on_error */
	DRV = NULL;
}

Test(session, connection_drop)
{
	setup();
	sr_ssh_driver_free(DRV);
	cr_assert_eq(sr_ssh_driver_new(L, S, 200, free_driver_on_error, NULL, &DRV), 0);
	struct ctx *a = start_sh(0, "echo up-a; while :; do sleep 1; done");
	struct ctx *b = start_sh(1, "echo up-b; while :; do sleep 1; done");
	wait_screen(a, "up-a");
	wait_screen(b, "up-b");
	/* Replace a's exit handler by one that frees the session. */
	sr_session_free(a->s);
	a->s = NULL;
	struct sr_session_opts o = {.driver = DRV, .argv = (const char *const[]){"sh", "-c", "echo up-c; while :; do sleep 1; done", NULL},
				    .on_exit = free_on_exit, .exit_data = a, .on_op = on_op, .op_data = a};
	char err[256];
	cr_assert_eq(sr_session_start(&o, &a->s, err, sizeof(err)), 0, "%s", err);
	wait_screen(a, "up-c");
	cr_assert_gt(sshd_kill_connections(&D), 0);
	double end = now_s() + GUARD_S;
	while (!(a->exited && b->exited && DRV_ERR)) {
		cr_assert(now_s() < end, "no failure reported (a %d b %d err %d)", a->exited,
			  b->exited, DRV_ERR);
		cr_assert_geq(sr_loop_run_once(L, 100), 0);
	}
	cr_assert_lt(DRV_ERR, 0);
	cr_assert_null(DRV);
	cr_assert_null(a->s);
	cr_assert_eq(a->status, -1);
	cr_assert_eq(b->status, -1);
	cr_assert_neq(b->why[0], '\0');
	/* b outlived its driver: it is detached and refuses work. */
	cr_assert_eq(sr_session_send_text(b->s, "x"), -EPIPE);
	run_until(end_op_seen, b, "b's END op");
}

static int ops_have_live_check(void *arg)
{
	return strstr(((struct ctx *)arg)->ops, "live-check") != NULL;
}

/* Live updates come from the session's pipe timer while the program still
 * runs (nothing else wakes the loop: the program is silent afterwards). */
Test(session, live_ops_while_running)
{
	setup();
	struct ctx *c = start_sh(0, "echo live-check; sleep 60");
	run_until(ops_have_live_check, c, "a live op with the output");
	cr_assert_eq(c->exited, 0);
	cr_assert_eq(c->ended_op, 0);
}
