/* test_relay.c — the relay core end to end over a real OpenSSH sshd on
 * loopback, with the `none` runtime (tmux holders run as the test user) or
 * the fake-podman shim: start → screen, typing, resize, stop, ten sessions,
 * a dropped connection, a relay killed with SIGKILL and restarted, the
 * main-clone lock with a real git repository, hostile names, host-key
 * refusal. GUARD_S only guards against hangs; nothing asserts on timing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sr_config.h"
#include "sr_log.h"
#include "sr_loop.h"
#include "sr_relay.h"
#include "sshd_harness.h"
#include "relay_env.h"

#define GUARD_S 30.0
#define MAXS 16

static struct sshd D;
static struct sr_loop *L;
static struct sr_relay *R;
static struct sr_config C;
static char TMP[256];
static char FAKE_ROOT[300];


/* ---- what the hooks saw ---- */
struct seen {
	char id[16];
	int states[8]; /* count per sr_rstate */
	char last_why[512];
	char ops[1 << 15];
	size_t ops_len;
};
static struct seen SEEN[MAXS];

static struct seen *seen_for(const char *id)
{
	for (size_t i = 0; i < MAXS; i++)
		if (!strcmp(SEEN[i].id, id))
			return &SEEN[i];
	for (size_t i = 0; i < MAXS; i++)
		if (!SEEN[i].id[0]) {
			snprintf(SEEN[i].id, sizeof(SEEN[i].id), "%s", id);
			return &SEEN[i];
		}
	return NULL;
}

static void hook_state(void *data, const char *id, enum sr_rstate st, const char *why)
{
	(void)data;
	struct seen *s = seen_for(id);
	if (!s)
		return;
	s->states[st]++;
	snprintf(s->last_why, sizeof(s->last_why), "%s", why ? why : "");
}

static void hook_op(void *data, const char *id, const struct vt_op *op)
{
	(void)data;
	struct seen *s = seen_for(id);
	if (!s)
		return;
	const char *t = op->text;
	for (size_t i = 0; i < op->nlines || t; i++) {
		const char *x = t ? t : op->lines[i];
		size_t n = strlen(x);
		if (s->ops_len + n + 2 < sizeof(s->ops)) {
			memcpy(s->ops + s->ops_len, x, n);
			s->ops_len += n;
			s->ops[s->ops_len++] = '\n';
			s->ops[s->ops_len] = '\0';
		}
		if (t)
			break;
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Holders of the none runtime run as this user on this host; sshd_stop
 * kills them (they are orphans below this process), their sockets stay. */
static void kill_holders(void)
{
	for (size_t i = 0; i < MAXS; i++) {
		if (!SEEN[i].id[0])
			continue;
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "tmux -L smrelay-%.15s kill-server 2>/dev/null; "
			 "rm -f \"/tmp/tmux-$(id -u)/smrelay-%.15s\"", SEEN[i].id, SEEN[i].id);
		if (system(cmd) < 0) {
		}
	}
}

static void teardown(void)
{
	sr_relay_free(R);
	R = NULL;
	sr_config_free(&C);
	kill_holders();
	sshd_stop(&D);
	sr_loop_free(L);
	L = NULL;
	if (TMP[0]) {
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", TMP);
		if (system(cmd) < 0) {
		}
		TMP[0] = '\0';
	}
	memset(SEEN, 0, sizeof(SEEN));
	renv_reset();
	sr_log_set_level(SR_LOG_INFO);
}

TestSuite(relay, .fini = teardown);

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* The test TUI: prints a banner and echoes lines. */
static const char TUI[] = "#!/bin/sh\n"
			  "echo \"tui-ready\"\n"
			  "echo \"pwd=$(pwd)\"\n"
			  "echo \"inline=$CLAUDE_CODE_DISABLE_ALTERNATE_SCREEN\"\n"
			  "echo \"secret=${SMRELAY_TEST_SECRET:-unset}\"\n"
			  "while IFS= read -r l; do\n"
			  "  [ \"$l\" = quit ] && exit 0\n"
			  "  echo \"got:$l\"\n"
			  "done\n";

/* sshd, temp dir, the TUI, a static project, and the base settings. */
static void setup(const char *runtime)
{
	if (!sshd_available())
		cr_skip_test("OpenSSH is not installed (%s or ssh-keygen missing)", SSHD_BIN);
	if (system("command -v tmux >/dev/null 2>&1") != 0)
		cr_skip_test("tmux is not installed");
	sr_log_set_level(SR_LOG_WARN);
	snprintf(TMP, sizeof(TMP), "/tmp/smrelay-relay-XXXXXX");
	cr_assert_not_null(mkdtemp(TMP));
	cr_assert_eq(sshd_start(&D), 0, "sshd_start: %s", D.err);
	cr_assert_eq(sr_loop_new(&L), 0);
	char path[512], buf[2048];
	snprintf(path, sizeof(path), "%s/tui.sh", TMP);
	write_file(path, TUI, 0755);
	snprintf(path, sizeof(path), "%s/demo", TMP);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/127.0.0.1:%u", TMP, D.port);
	snprintf(buf, sizeof(buf), "127.0.0.1:%u", D.port);
	renv_set("SM_VM_HOST", buf);
	renv_set("SM_VM_USER", D.user);
	renv_set("SM_VM_SSH_KEY_PATH", D.user_key);
	renv_set("SM_VM_KNOWN_HOSTS", D.known_hosts);
	renv_set("SM_CONTAINER_RUNTIME", runtime);
	snprintf(buf, sizeof(buf), "%s/tui.sh", TMP);
	renv_set("SM_CLAUDE_COMMAND", buf);
	snprintf(buf, sizeof(buf), "{\"demo\": \"%s/demo\"}", TMP);
	renv_set("SM_PROJECTS", buf);
	snprintf(buf, sizeof(buf), "%s/state", TMP);
	renv_set("SM_STATE_DIR", buf);
	snprintf(buf, sizeof(buf), "%s/repos", TMP);
	renv_set("SM_REPOS_BASE_PATH", buf);
	snprintf(buf, sizeof(buf), "%s/worktrees", TMP);
	renv_set("SM_WORKTREES_PATH", buf);
	renv_set("SM_CONTAINER_ENV", "SMRELAY_TEST_SECRET");
	renv_set("SM_COLS", "80");
	renv_set("SM_ROWS", "24");
	if (!strcmp(runtime, "podman")) {
		/* The shim runs under sshd, which passes no environment: a
		 * wrapper gives it this test's own state root. */
		snprintf(FAKE_ROOT, sizeof(FAKE_ROOT), "%s/podman", TMP);
		snprintf(buf, sizeof(buf),
			 "#!/bin/sh\nFAKE_PODMAN_ROOT='%s/fake-root' exec '%s/fake-podman' \"$@\"\n",
			 TMP, SR_TOOLS_DIR);
		write_file(FAKE_ROOT, buf, 0755);
		renv_set("SM_CONTAINER_RUNTIME_BIN", FAKE_ROOT);
		renv_set("SM_CONTAINER_IMAGE", "localhost/smrelay-agent:test");
	}
}

static void relay_new(void)
{
	char err[512];
	sr_config_free(&C);
	cr_assert_eq(sr_config_load(&C, renv_get, err, sizeof(err)), 0, "config: %s", err);
	struct sr_relay_opts o = {
		.loop = L,
		.cfg = &C,
		.hooks = {.on_op = hook_op, .on_state = hook_state},
		.backoff_min_ms = 100,
		.backoff_max_ms = 500,
	};
	cr_assert_eq(sr_relay_new(&o, &R, err, sizeof(err)), 0, "relay: %s", err);
}

static void wait_ready(void)
{
	double end = now_s() + GUARD_S;
	while (!sr_host_ready(sr_relay_host(R, 0))) {
		cr_assert(now_s() < end, "host not ready: %s", sr_host_last_error(sr_relay_host(R, 0)));
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
}

struct done {
	int called, rc;
	char msg[512];
};

static void on_done(void *data, int rc, const char *id, const char *msg)
{
	(void)id;
	struct done *d = data;
	d->called++;
	d->rc = rc;
	snprintf(d->msg, sizeof(d->msg), "%s", msg);
}

static void wait_done(struct done *d)
{
	double end = now_s() + GUARD_S;
	while (!d->called) {
		cr_assert(now_s() < end, "no answer");
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
}

static void start_ok(const char *const *words, int n, char *id)
{
	struct done d = {0};
	char err[512];
	int rc = sr_relay_start(R, n, words, "alice", on_done, &d, id, err, sizeof(err));
	cr_assert_eq(rc, 0, "start: %d %s", rc, err);
	cr_assert_eq(d.called, 0, "the callback must not run before start returns");
	wait_done(&d);
	cr_assert_eq(d.rc, 0, "start failed: %s", d.msg);
}

/* Waits until the screen of id contains text; returns the screen. */
static char *wait_screen(const char *id, const char *text)
{
	double end = now_s() + GUARD_S;
	for (;;) {
		char *t = NULL;
		int rc = sr_relay_screen_text(R, id, &t);
		if (rc == 0 && strstr(t, text))
			return t;
		struct sr_relay_info info = {0};
		sr_relay_info(R, id, &info);
		cr_assert(now_s() < end, "no '%s' on the screen of %s (state %s, rc %d):\n%s", text, id,
			  sr_rstate_name(info.state), rc, t ? t : "");
		free(t);
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
}

static void wait_state(const char *id, enum sr_rstate st, int count)
{
	double end = now_s() + GUARD_S;
	struct seen *s = seen_for(id);
	while (s->states[st] < count) {
		cr_assert(now_s() < end, "session %s never %s (last: %s)", id, sr_rstate_name(st),
			  s->last_why);
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
}

static int holder_alive(const char *id)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "tmux -L smrelay-%s has-session -t main 2>/dev/null", id);
	return system(cmd) == 0;
}

Test(relay, start_type_resize_stop)
{
	setup("none");
	setenv("SMRELAY_TEST_SECRET", "s3cr3t 'quoted' $(id)", 1);
	relay_new();
	wait_ready();
	char id[16];
	start_ok((const char *[]){"demo"}, 1, id);
	char *scr = wait_screen(id, "secret="); /* the banner's last line */
	char want[512];
	snprintf(want, sizeof(want), "pwd=%s/demo\ninline=1\nsecret=s3cr3t 'quoted' $(id)\n", TMP);
	cr_assert_not_null(strstr(scr, want), "screen:\n%s", scr);
	free(scr);
	cr_assert(holder_alive(id));

	struct sr_relay_info info;
	cr_assert_eq(sr_relay_info(R, id, &info), 0);
	cr_assert_eq(info.state, SR_RS_RUNNING);
	cr_assert_str_eq(info.project, "demo");
	cr_assert_str_eq(info.owner, "alice");
	cr_assert_eq(info.cols, 80);

	cr_assert_eq(sr_relay_send_text(R, id, "hello relay"), 0);
	free(wait_screen(id, "got:hello relay"));

	cr_assert_eq(sr_relay_resize(R, id, 120, 40), 0);
	cr_assert_eq(sr_relay_send_text(R, id, "size"), 0);
	free(wait_screen(id, "got:size"));
	/* the program's terminal follows: ask tmux for the pane size */
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "tmux -L smrelay-%s display -p -t main '#{pane_width}x#{pane_height}'", id);
	double end = now_s() + GUARD_S;
	for (;;) {
		char out[64] = "";
		FILE *p = popen(cmd, "r");
		cr_assert_not_null(p);
		if (!fgets(out, sizeof(out), p))
			out[0] = '\0';
		pclose(p);
		if (!strncmp(out, "120x40", 6))
			break;
		cr_assert(now_s() < end, "pane is %s", out);
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}

	/* the state file has it, without the secret */
	char path[512];
	snprintf(path, sizeof(path), "%s/state/state.json", TMP);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	char st[8192];
	size_t n = fread(st, 1, sizeof(st) - 1, f);
	st[n] = '\0';
	fclose(f);
	cr_assert_not_null(strstr(st, id), "%s", st);
	cr_assert_null(strstr(st, "s3cr3t"));

	struct done d = {0};
	char err[256];
	cr_assert_eq(sr_relay_stop(R, id, on_done, &d, err, sizeof(err)), 0, "%s", err);
	wait_done(&d);
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	cr_assert_str_eq(d.msg, "stopped");
	cr_assert_not(holder_alive(id));
	cr_assert_eq(sr_relay_screen_text(R, id, &scr), -ENOENT);
	cr_assert_eq(sr_relay_stop(R, id, NULL, NULL, err, sizeof(err)), -ENOENT);
	cr_assert_eq(sr_relay_list(R, NULL, 0), 0);
	/* the END op reached the hook; the ops carried the output */
	struct seen *s = seen_for(id);
	cr_assert_eq(s->states[SR_RS_ENDED], 1);
	cr_assert_not_null(strstr(s->ops, "got:hello relay"), "ops: %s", s->ops);
	unsetenv("SMRELAY_TEST_SECRET");
}

Test(relay, program_exit_ends_session)
{
	setup("none");
	relay_new();
	wait_ready();
	char id[16];
	start_ok((const char *[]){"demo"}, 1, id);
	free(wait_screen(id, "tui-ready"));
	cr_assert_eq(sr_relay_send_text(R, id, "quit"), 0);
	wait_state(id, SR_RS_ENDED, 1);
	cr_assert_str_eq(seen_for(id)->last_why, "the program exited");
	cr_assert_eq(sr_relay_list(R, NULL, 0), 0);
}

Test(relay, ten_sessions)
{
	setup("none");
	relay_new();
	wait_ready();
	char ids[10][16];
	struct done d[10] = {0};
	char err[512];
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(sr_relay_start(R, 1, (const char *[]){"demo"}, "bob", on_done, &d[i],
					    ids[i], err, sizeof(err)),
			     0, "%s", err);
	}
	for (int i = 0; i < 10; i++) {
		wait_done(&d[i]);
		cr_assert_eq(d[i].rc, 0, "%s", d[i].msg);
	}
	for (int i = 0; i < 10; i++) {
		char msg[32];
		snprintf(msg, sizeof(msg), "n%d", i);
		cr_assert_eq(sr_relay_send_text(R, ids[i], msg), 0);
	}
	for (int i = 0; i < 10; i++) {
		char want[32];
		snprintf(want, sizeof(want), "got:n%d", i);
		char *scr = wait_screen(ids[i], want);
		/* no cross-talk: nobody else's line is on this screen */
		for (int j = 0; j < 10; j++) {
			char other[32];
			snprintf(other, sizeof(other), "got:n%d\n", j);
			if (j != i)
				cr_assert_null(strstr(scr, other), "%s on %s", other, ids[i]);
		}
		free(scr);
	}
	const char *list[16];
	cr_assert_eq(sr_relay_list(R, list, 16), 10);
}

Test(relay, connection_drop_reattaches)
{
	setup("none");
	relay_new();
	wait_ready();
	char id[16];
	start_ok((const char *[]){"demo"}, 1, id);
	cr_assert_eq(sr_relay_send_text(R, id, "before-drop"), 0);
	free(wait_screen(id, "got:before-drop"));

	cr_assert_gt(sshd_kill_connections(&D), 0);
	wait_state(id, SR_RS_DETACHED, 1);
	/* while detached, typing is refused (not lost silently) */
	cr_assert_eq(sr_relay_send_text(R, id, "lost?"), -ENOTCONN);
	wait_state(id, SR_RS_RUNNING, 2);
	cr_assert_str_eq(seen_for(id)->last_why, "reattached");
	/* the holder repainted: the earlier output is back on the screen */
	char *scr = wait_screen(id, "got:before-drop");
	cr_assert_not_null(strstr(scr, "tui-ready"), "%s", scr);
	free(scr);
	cr_assert_eq(sr_relay_send_text(R, id, "after-drop"), 0);
	free(wait_screen(id, "got:after-drop"));
	cr_assert(sr_host_attempts(sr_relay_host(R, 0)) >= 2);
}

static void child_done(void *data, int rc, const char *id, const char *msg)
{
	(void)id;
	(void)msg;
	*(int *)data = rc == 0 ? 1 : -1;
}

/* The child: a relay that starts one session, types into it, reports the
 * id on fd once the echo is on the screen, and runs until killed. No
 * criterion asserts here (this is a forked copy of the test): any failure
 * is an exit code the parent sees as a closed pipe. */
static void child_relay(int fd)
{
	char err[512];
	if (sr_config_load(&C, renv_get, err, sizeof(err)) < 0)
		_exit(2);
	struct sr_relay_opts o = {.loop = L, .cfg = &C};
	if (sr_relay_new(&o, &R, err, sizeof(err)) < 0)
		_exit(2);
	double end = now_s() + GUARD_S;
	while (!sr_host_ready(sr_relay_host(R, 0)) && now_s() < end)
		sr_loop_run_once(L, 50);
	char id[16];
	int done = 0;
	if (sr_relay_start(R, 1, (const char *[]){"demo"}, "alice", child_done, &done, id, err,
			   sizeof(err)) < 0)
		_exit(3);
	while (!done && now_s() < end)
		sr_loop_run_once(L, 50);
	if (done != 1 || sr_relay_send_text(R, id, "from-first-relay") < 0)
		_exit(4);
	for (;;) {
		char *t = NULL;
		if (sr_relay_screen_text(R, id, &t) == 0 && strstr(t, "got:from-first-relay")) {
			free(t);
			break;
		}
		free(t);
		if (now_s() > end)
			_exit(5);
		sr_loop_run_once(L, 50);
	}
	if (write(fd, id, strlen(id) + 1) < 0)
		_exit(6);
	for (;;)
		sr_loop_run_once(L, 1000);
}

Test(relay, sigkill_restart_reattaches)
{
	setup("none");
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		child_relay(p[1]);
		_exit(0);
	}
	close(p[1]);
	char id[16] = "";
	ssize_t n = read(p[0], id, sizeof(id));
	close(p[0]);
	if (n <= 0) {
		int st;
		waitpid(pid, &st, 0);
		cr_assert_fail("the first relay did not start its session (exit %d)",
			       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	seen_for(id); /* teardown removes its holder's socket */
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	cr_assert(WIFSIGNALED(status));

	relay_new(); /* same state dir */
	const char *list[4];
	cr_assert_eq(sr_relay_list(R, list, 4), 1);
	cr_assert_str_eq(list[0], id);
	struct sr_relay_info info;
	cr_assert_eq(sr_relay_info(R, id, &info), 0);
	cr_assert_eq(info.state, SR_RS_DETACHED);
	cr_assert_str_eq(info.owner, "alice");
	wait_state(id, SR_RS_RUNNING, 1);
	cr_assert_str_eq(seen_for(id)->last_why, "reattached");
	char *scr = wait_screen(id, "got:from-first-relay");
	free(scr);
	cr_assert_eq(sr_relay_send_text(R, id, "from-second-relay"), 0);
	free(wait_screen(id, "got:from-second-relay"));
}

Test(relay, restart_ends_sessions_whose_program_is_gone)
{
	setup("none");
	relay_new();
	wait_ready();
	char id[16];
	start_ok((const char *[]){"demo"}, 1, id);
	free(wait_screen(id, "tui-ready"));
	sr_relay_free(R); /* the relay goes; the session stays on the VM */
	R = NULL;
	cr_assert(holder_alive(id));
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "tmux -L smrelay-%s kill-server", id);
	cr_assert_eq(system(cmd), 0);
	relay_new();
	wait_state(id, SR_RS_ENDED, 1);
	cr_assert_str_eq(seen_for(id)->last_why, "the program exited");
	cr_assert_eq(sr_relay_list(R, NULL, 0), 0);
}

Test(relay, bad_requests_are_refused_clearly)
{
	setup("none");
	relay_new();
	wait_ready();
	char id[16], err[512];
	struct {
		const char *const words[3];
		int n, rc;
		const char *msg;
	} cases[] = {
		{{"../x"}, 1, -EINVAL, ""},
		{{"org/repo;rm"}, 1, -EINVAL, "repo"},
		{{"org/repo@"}, 1, -EINVAL, "branch"},
		{{"-rf"}, 1, -EINVAL, ""},
		{{"nosuch"}, 1, -EINVAL, "unknown project 'nosuch'"},
		{{"demo", "--worktree"}, 2, -EINVAL, ""},
		{{"acme/api", "extra"}, 2, -EINVAL, ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		int rc = sr_relay_start(R, cases[i].n, cases[i].words, "eve", NULL, NULL, id, err,
					sizeof(err));
		cr_assert_eq(rc, cases[i].rc, "%s: %d %s", cases[i].words[0], rc, err);
		cr_assert_neq(err[0], '\0', "%s: no message", cases[i].words[0]);
		cr_assert_not_null(strstr(err, cases[i].msg), "%s: %s", cases[i].words[0], err);
	}
	cr_assert_eq(sr_relay_list(R, NULL, 0), 0);
	cr_assert_eq(sr_relay_send_text(R, "nosuchid", "x"), -ENOENT);
	cr_assert_eq(sr_relay_resize(R, "nosuchid", 80, 24), -ENOENT);
}

Test(relay, host_key_refused)
{
	setup("none");
	renv_set("SM_VM_KNOWN_HOSTS", D.wrong_known_hosts);
	relay_new();
	double end = now_s() + GUARD_S;
	while (!sr_host_last_error(sr_relay_host(R, 0))[0]) {
		cr_assert(now_s() < end);
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
	char id[16], err[512];
	int rc = sr_relay_start(R, 1, (const char *[]){"demo"}, "alice", NULL, NULL, id, err,
				sizeof(err));
	cr_assert_eq(rc, -EHOSTUNREACH);
	cr_assert_not_null(strstr(err, "HOST KEY MISMATCH"), "%s", err);
	cr_assert_not(sr_host_ready(sr_relay_host(R, 0)));
}

/* ---- repositories: a real bare repo served by path ---- */

static void sh(const char *fmt, const char *a)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), fmt, a, a, a, a);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(relay, repository_clone_worktree_and_lock)
{
	if (system("command -v git >/dev/null 2>&1") != 0)
		cr_skip_test("git is not installed");
	setup("none");
	sh("set -e; cd %s; export HOME=$PWD GIT_CONFIG_NOSYSTEM=1; git init -q -b main src; cd src; "
	   "git -c user.name=t -c user.email=t@t commit -q --allow-empty -m first; "
	   "mkdir -p ../remote/acme; git clone -q --bare . ../remote/acme/api.git", TMP);
	char url[512];
	snprintf(url, sizeof(url), "file://%s/remote/", TMP);
	renv_set("SM_GIT_BASE_URL", url);
	relay_new();
	wait_ready();

	char a[16], b[16], c[16], err[512];
	start_ok((const char *[]){"acme/api"}, 1, a);
	char *scr = wait_screen(a, "secret="); /* the banner's last line */
	char want[600];
	snprintf(want, sizeof(want), "pwd=%s/repos/github.com/acme/api\n", TMP);
	cr_assert_not_null(strstr(scr, want), "%s", scr);
	free(scr);

	/* the main clone is taken */
	int rc = sr_relay_start(R, 1, (const char *[]){"acme/api"}, "bob", NULL, NULL, b, err,
				sizeof(err));
	cr_assert_eq(rc, -EBUSY);
	char msg[200];
	snprintf(msg, sizeof(msg), "acme/api is in use by session %s", a);
	cr_assert_not_null(strstr(err, msg), "%s", err);
	cr_assert_not_null(strstr(err, "--worktree"), "%s", err);
	/* case does not get around it */
	rc = sr_relay_start(R, 1, (const char *[]){"ACME/Api"}, "bob", NULL, NULL, b, err,
			    sizeof(err));
	cr_assert_eq(rc, -EBUSY, "%s", err);

	/* a worktree works in parallel */
	start_ok((const char *[]){"acme/api", "--worktree=fix-1"}, 2, b);
	scr = wait_screen(b, "secret="); /* the banner's last line */
	snprintf(want, sizeof(want), "pwd=%s/worktrees/acme/api/fix-1\n", TMP);
	cr_assert_not_null(strstr(scr, want), "%s", scr);
	free(scr);

	/* after stop, the main clone is free again and the worktree stays */
	struct done d = {0};
	cr_assert_eq(sr_relay_stop(R, a, on_done, &d, err, sizeof(err)), 0);
	wait_done(&d);
	start_ok((const char *[]){"acme/api"}, 1, c);
	free(wait_screen(c, "tui-ready"));
	memset(&d, 0, sizeof(d));
	cr_assert_eq(sr_relay_stop(R, b, on_done, &d, err, sizeof(err)), 0);
	wait_done(&d);
	char path[600];
	snprintf(path, sizeof(path), "%s/worktrees/acme/api/fix-1/.git", TMP);
	cr_assert_eq(access(path, F_OK), 0, "worktree removed");

	/* a repository that does not exist: a clear failure through the callback */
	char x[16];
	memset(&d, 0, sizeof(d));
	cr_assert_eq(sr_relay_start(R, 1, (const char *[]){"acme/nope"}, "bob", on_done, &d, x,
				    err, sizeof(err)),
		     0, "%s", err);
	wait_done(&d);
	cr_assert_lt(d.rc, 0);
	cr_assert_not_null(strstr(d.msg, "could not prepare acme/nope"), "%s", d.msg);
}

/* ---- the container runtime path, through the fake-podman shim ---- */

Test(relay, podman_runtime_creates_and_removes_the_container)
{
	setup("podman");
	setenv("SMRELAY_TEST_SECRET", "container-secret", 1);
	relay_new();
	wait_ready();
	char id[16];
	start_ok((const char *[]){"demo"}, 1, id);
	char *scr = wait_screen(id, "secret="); /* the banner's last line */
	char want[600];
	snprintf(want, sizeof(want), "pwd=%s/demo\ninline=1\nsecret=container-secret\n", TMP);
	cr_assert_not_null(strstr(scr, want), "%s", scr);
	free(scr);
	char cmd[800];
	snprintf(cmd, sizeof(cmd), "%s ps -q --filter label=smrelay.session=%s | grep -q .",
		 FAKE_ROOT, id);
	cr_assert_eq(system(cmd), 0, "no container labelled for %s", id);

	/* a drop: the container is checked and the session reattached */
	cr_assert_gt(sshd_kill_connections(&D), 0);
	wait_state(id, SR_RS_RUNNING, 2);
	cr_assert_eq(sr_relay_send_text(R, id, "in-container"), 0);
	free(wait_screen(id, "got:in-container"));

	struct done d = {0};
	char err[256];
	cr_assert_eq(sr_relay_stop(R, id, on_done, &d, err, sizeof(err)), 0);
	wait_done(&d);
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	cr_assert_neq(system(cmd), 0, "the container is still there");
	unsetenv("SMRELAY_TEST_SECRET");
}
