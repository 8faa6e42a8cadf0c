/* test_holder.c — sr_holder argv builders, and the real tmux flow over the
 * test sshd: start, attach, drop the connection, reattach on a new one
 * (the screen comes back from tmux), stop. GUARD_S only guards hangs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sr_holder.h"
#include "sr_loop.h"
#include "sr_quote.h"
#include "sr_session.h"
#include "sr_ssh.h"
#include "sshd_harness.h"
#include "vt_screen.h"

#define GUARD_S 20.0

struct hctx {
	struct sr_session *s;
	int exited;
	int status;
	char why[256];
};

static struct sshd D;
static struct sr_loop *L;
static struct sr_ssh *S;
static struct sr_ssh_driver *DRV;
static struct hctx *HC;
static int DRV_ERR;
static char ID[64];
static int STARTED; /* the holder may be running: stop it in teardown */

static void free_conn(void)
{
	if (HC) {
		sr_session_free(HC->s);
		free(HC);
		HC = NULL;
	}
	sr_ssh_driver_free(DRV);
	DRV = NULL;
	sr_ssh_free(S);
	S = NULL;
}

static void teardown(void)
{
	free_conn();
	if (STARTED) {
		/* Best effort, locally (sshd runs as this user on this host). */
		char cmd[160];
		snprintf(cmd, sizeof(cmd), "tmux -L smrelay-%s kill-server >/dev/null 2>&1", ID);
		if (system(cmd) < 0) {
		}
		STARTED = 0;
	}
	if (ID[0]) {
		/* kill-server leaves its socket file behind: remove it (the
		 * test sshd runs as this user, default socket dir). */
		char path[256];
		const char *dir = getenv("TMUX_TMPDIR");
		snprintf(path, sizeof(path), "%s/tmux-%ld/smrelay-%s", dir && *dir ? dir : "/tmp",
			 (long)getuid(), ID);
		unlink(path);
		ID[0] = '\0';
	}
	sshd_stop(&D);
	sr_loop_free(L);
	L = NULL;
}

TestSuite(holder, .fini = teardown);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- pure builders ---- */

static void expect_argv(const struct sr_argv *a, const char *const *want)
{
	size_t n = 0;
	while (want[n])
		n++;
	cr_assert_eq(a->n, n, "argc %zu, want %zu", a->n, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(a->v[i], want[i], "argv[%zu]", i);
	cr_assert_null(a->v[n]);
}

Test(holder, argv_shape)
{
	struct sr_argv a = {0};
	const char *prog[] = {"sh", "-c", "echo hi", NULL};
	cr_assert_eq(sr_holder_start_argv("abc-1_Z", 120, 40, "/work dir", prog, &a), 0);
	const char *ws[] = {"tmux", "-u", "-L", "smrelay-abc-1_Z", "-f", "/dev/null", "new-session", "-d",
			    "-s", "main", "-x", "120", "-y", "40", "-c", "/work dir", "--", "sh", "-c", "echo hi",
			    ";", "set-option", "-g", "status", "off",
			    ";", "set-option", "-g", "escape-time", "0",
			    ";", "set-option", "-ga", "terminal-overrides", ",*:smcup@:rmcup@", NULL};
	expect_argv(&a, ws);
	char *line = NULL;
	char err[128];
	cr_assert_eq(sr_quote_argv((const char *const *)a.v, a.n, &line, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(line, " ';' set-option -g status off"), "%s", line);
	free(line);
	sr_holder_argv_free(&a);
	cr_assert_null(a.v);
	cr_assert_eq(a.n, 0);

	cr_assert_eq(sr_holder_attach_argv("abc", &a), 0);
	expect_argv(&a, (const char *const[]){"tmux", "-u", "-L", "smrelay-abc", "attach-session", "-t", "main", NULL});
	sr_holder_argv_free(&a);
	cr_assert_eq(sr_holder_alive_argv("abc", &a), 0);
	expect_argv(&a, (const char *const[]){"tmux", "-u", "-L", "smrelay-abc", "has-session", "-t", "main", NULL});
	sr_holder_argv_free(&a);
	cr_assert_eq(sr_holder_stop_argv("abc", &a), 0);
	expect_argv(&a, (const char *const[]){"tmux", "-u", "-L", "smrelay-abc", "kill-server", NULL});
	sr_holder_argv_free(&a);
	sr_holder_argv_free(&a); /* idempotent */
	sr_holder_argv_free(NULL);

	/* 64 chars is the limit. */
	char id64[65];
	memset(id64, 'a', 64);
	id64[64] = '\0';
	cr_assert_eq(sr_holder_alive_argv(id64, &a), 0);
	sr_holder_argv_free(&a);
}

Test(holder, hostile_ids)
{
	char id65[66];
	memset(id65, 'a', 65);
	id65[65] = '\0';
	const char *bad[] = {"../x", "a;b", "", id65, "-x", "a b", "a/b", "a\nb", "é", NULL};
	const char *prog[] = {"sh", NULL};
	for (size_t i = 0; bad[i]; i++) {
		struct sr_argv a = {(char **)1, 7, 9};
		cr_assert_eq(sr_holder_start_argv(bad[i], 80, 24, NULL, prog, &a), -EINVAL, "%s", bad[i]);
		cr_assert_null(a.v);
		cr_assert_eq(a.n, 0);
		cr_assert_eq(sr_holder_attach_argv(bad[i], &a), -EINVAL, "%s", bad[i]);
		cr_assert_eq(sr_holder_alive_argv(bad[i], &a), -EINVAL, "%s", bad[i]);
		cr_assert_eq(sr_holder_stop_argv(bad[i], &a), -EINVAL, "%s", bad[i]);
	}
	struct sr_argv a = {0};
	cr_assert_eq(sr_holder_attach_argv(NULL, &a), -EINVAL);
	cr_assert_eq(sr_holder_attach_argv("ok", NULL), -EINVAL);
	cr_assert_eq(sr_holder_start_argv("ok", 80, 24, NULL, NULL, &a), -EINVAL);
	cr_assert_eq(sr_holder_start_argv("ok", 80, 24, NULL, (const char *const[]){NULL}, &a), -EINVAL);
	cr_assert_eq(sr_holder_start_argv("ok", 0, 24, NULL, prog, &a), -EINVAL);
	cr_assert_eq(sr_holder_start_argv("ok", 80, 24, "relative", prog, &a), -EINVAL);
	/* '-' is fine after the first byte. */
	cr_assert_eq(sr_holder_attach_argv("x-", &a), 0);
	cr_assert_str_eq(a.v[3], "smrelay-x-");
	sr_holder_argv_free(&a);
}

/* ---- the real flow over the test sshd ---- */

static int tmux_available(void)
{
	return access("/usr/bin/tmux", X_OK) == 0 || access("/usr/local/bin/tmux", X_OK) == 0 ||
	       access("/bin/tmux", X_OK) == 0;
}

static void on_drv_error(void *data, int code, const char *msg)
{
	(void)data;
	(void)msg;
	DRV_ERR = code;
}

static void connect_new(void)
{
	struct sr_ssh_opts o = sshd_client_opts(&D);
	char err[512];
	int rc = sr_ssh_connect(&o, &S, err, sizeof(err));
	cr_assert_eq(rc, 0, "connect: %s", err);
	DRV_ERR = 0;
	cr_assert_eq(sr_ssh_driver_new(L, S, 0, on_drv_error, NULL, &DRV), 0);
}

/* Runs argv on an exec channel; returns its exit status. */
static int run_exec(const struct sr_argv *a, char *out, size_t outlen)
{
	char *line = NULL;
	char err[256];
	cr_assert_eq(sr_quote_argv((const char *const *)a->v, a->n, &line, err, sizeof(err)), 0, "%s", err);
	struct sr_ssh_chan *ch = NULL;
	cr_assert_eq(sr_ssh_exec_start(S, line, &ch), 0);
	free(line);
	sr_ssh_driver_kick(DRV);
	struct sr_ssh_exec_result r;
	double end = now_s() + GUARD_S;
	int rc;
	while ((rc = sr_ssh_exec_result(ch, &r)) == -EAGAIN) {
		cr_assert_eq(DRV_ERR, 0, "connection failed: %s", sr_ssh_error(S));
		cr_assert(now_s() < end, "exec timed out");
		cr_assert_geq(sr_loop_run_once(L, 100), 0);
	}
	cr_assert_eq(rc, 0, "exec failed: %s", sr_ssh_chan_error(ch));
	if (out)
		snprintf(out, outlen, "%s%s", r.out, r.err);
	int status = r.exit.status;
	sr_ssh_chan_close(ch);
	return status;
}

static void on_exit_cb(void *data, int status, const char *why)
{
	struct hctx *c = data;
	c->exited = 1;
	c->status = status;
	snprintf(c->why, sizeof(c->why), "%s", why);
}

static void attach(void)
{
	struct sr_argv a = {0};
	cr_assert_eq(sr_holder_attach_argv(ID, &a), 0);
	HC = calloc(1, sizeof(*HC));
	cr_assert_not_null(HC);
	struct sr_session_opts o = {
		.driver = DRV,
		.term = "xterm-256color",
		.cols = 100,
		.rows = 30,
		.argv = (const char *const *)a.v,
		.on_exit = on_exit_cb,
		.exit_data = HC,
	};
	char err[512] = "";
	int rc = sr_session_start(&o, &HC->s, err, sizeof(err));
	sr_holder_argv_free(&a);
	cr_assert_eq(rc, 0, "sr_session_start: %d %s", rc, err);
}

static int screen_has(const char *const *texts, char *screen, size_t len)
{
	char *t = NULL;
	cr_assert_eq(sr_session_screen_text(HC->s, &t), 0);
	snprintf(screen, len, "%s", t);
	int ok = 1;
	for (size_t i = 0; texts[i]; i++)
		if (!strstr(t, texts[i]))
			ok = 0;
	free(t);
	return ok;
}

/* Waits until every text is on the screen; returns the seconds it took. */
static double wait_screen(const char *const *texts)
{
	static char screen[16384];
	double start = now_s(), end = start + GUARD_S;
	while (!screen_has(texts, screen, sizeof(screen))) {
		cr_assert_eq(DRV_ERR, 0, "connection failed: %s", sr_ssh_error(S));
		cr_assert(now_s() < end, "no '%s' on the screen:\n%s\n(exited %d: %s)", texts[0],
			  screen, HC->exited, HC->why);
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
	return now_s() - start;
}

Test(holder, real_flow_survives_reconnect)
{
	if (!sshd_available())
		cr_skip_test("OpenSSH is not installed (%s or ssh-keygen missing)", SSHD_BIN);
	if (!tmux_available())
		cr_skip_test("tmux is not installed");
	cr_assert_eq(sshd_start(&D), 0, "sshd_start: %s", D.err);
	cr_assert_eq(sr_loop_new(&L), 0);
	snprintf(ID, sizeof(ID), "test-%ld-%ld", (long)getpid(), (long)time(NULL));
	connect_new();

	/* start */
	const char *prog[] = {"sh", "-c", "echo holder-ready; while read l; do echo \"got:$l\"; done", NULL};
	struct sr_argv a = {0};
	cr_assert_eq(sr_holder_start_argv(ID, 100, 30, NULL, prog, &a), 0);
	char out[4096];
	STARTED = 1;
	double t0 = now_s();
	cr_assert_eq(run_exec(&a, out, sizeof(out)), 0, "start: %s", out);
	double t_start = now_s() - t0;
	sr_holder_argv_free(&a);

	/* alive */
	cr_assert_eq(sr_holder_alive_argv(ID, &a), 0);
	cr_assert_eq(run_exec(&a, out, sizeof(out)), 0, "alive: %s", out);
	sr_holder_argv_free(&a);

	/* attach, type */
	t0 = now_s();
	attach();
	wait_screen((const char *const[]){"holder-ready", NULL});
	double t_attach = now_s() - t0;
	/* terminal-overrides smcup@/rmcup@: tmux's client stays on the main
	 * screen, so its scrolling reaches the relay's history. */
	cr_assert(!vt_screen_alt_active(sr_session_screen(HC->s)), "tmux switched to the alternate screen");
	cr_assert_eq(sr_session_send_text(HC->s, "one"), 0);
	wait_screen((const char *const[]){"got:one", NULL});

	/* drop the connection: the session ends, the holder lives on */
	cr_assert_gt(sshd_kill_connections(&D), 0);
	double end = now_s() + GUARD_S;
	while (!(HC->exited && DRV_ERR)) {
		cr_assert(now_s() < end, "no failure reported (exited %d err %d)", HC->exited, DRV_ERR);
		cr_assert_geq(sr_loop_run_once(L, 100), 0);
	}
	cr_assert_eq(HC->status, -1);
	free_conn();

	/* new connection, reattach: tmux repaints the whole screen */
	connect_new();
	cr_assert_eq(sr_holder_alive_argv(ID, &a), 0);
	cr_assert_eq(run_exec(&a, out, sizeof(out)), 0, "alive after drop: %s", out);
	sr_holder_argv_free(&a);
	t0 = now_s();
	attach();
	wait_screen((const char *const[]){"holder-ready", "got:one", NULL});
	double t_reattach = now_s() - t0;
	cr_assert(!vt_screen_alt_active(sr_session_screen(HC->s)));
	cr_assert_eq(sr_session_send_text(HC->s, "two"), 0);
	wait_screen((const char *const[]){"holder-ready", "got:one", "got:two", NULL});

	/* stop: the attached client ends too; alive now fails */
	cr_assert_eq(sr_holder_stop_argv(ID, &a), 0);
	cr_assert_eq(run_exec(&a, out, sizeof(out)), 0, "stop: %s", out);
	sr_holder_argv_free(&a);
	STARTED = 0;
	cr_assert_eq(sr_holder_alive_argv(ID, &a), 0);
	int st = run_exec(&a, out, sizeof(out));
	sr_holder_argv_free(&a);
	cr_assert_neq(st, 0, "alive after stop: %s", out);
	end = now_s() + GUARD_S;
	while (!HC->exited) {
		cr_assert(now_s() < end, "attached client did not end after stop");
		cr_assert_geq(sr_loop_run_once(L, 100), 0);
	}
	cr_log_info("holder: start exec %.3fs, first attach to screen %.3fs, reattach to restored screen %.3fs",
		    t_start, t_attach, t_reattach);
	fprintf(stderr, "holder timings: start %.3fs attach %.3fs reattach %.3fs\n", t_start, t_attach,
		t_reattach);
}
