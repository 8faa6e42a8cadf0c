/* test_relay_hosts.c — the relay core with two VM hosts (SM_VM_HOSTS), two
 * real OpenSSH sshd instances on loopback, the `none` runtime: sessions
 * spread least-loaded, a host whose sshd dies entirely (its sessions
 * detach, new ones go to the other host, the dead one is retried and, once
 * an sshd listens on its port again, its sessions are reattached), and a
 * host whose key does not match known_hosts (everything goes to the good
 * one). Helpers are copied from test_relay.c. GUARD_S only guards against
 * hangs; nothing asserts on timing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

static struct sshd D[2];
static struct sr_loop *L;
static struct sr_relay *R;
static struct sr_config C;
static char TMP[256];


/* ---- what the hooks saw ---- */
struct seen {
	char id[16];
	int states[8]; /* count per sr_rstate */
	char last_why[512];
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
	sshd_stop(&D[0]);
	sshd_stop(&D[1]);
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

TestSuite(relay_hosts, .fini = teardown);

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void append_file(const char *dst, const char *src)
{
	FILE *in = fopen(src, "r"), *out = fopen(dst, "a");
	cr_assert_not_null(in, "%s", src);
	cr_assert_not_null(out, "%s", dst);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		cr_assert_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	cr_assert_eq(fclose(out), 0);
}

/* The test TUI: prints a banner and echoes lines. */
static const char TUI[] = "#!/bin/sh\n"
			  "echo \"tui-ready\"\n"
			  "while IFS= read -r l; do\n"
			  "  [ \"$l\" = quit ] && exit 0\n"
			  "  echo \"got:$l\"\n"
			  "done\n";

/* Two sshds, temp dir, the TUI, a static project, the base settings. One
 * key (D[0]'s) is authorised on both; known_hosts holds host 0's real key
 * (or, with wrong_key0, another key for its address) and host 1's. */
static void setup(int wrong_key0)
{
	if (!sshd_available())
		cr_skip_test("OpenSSH is not installed (%s or ssh-keygen missing)", SSHD_BIN);
	if (system("command -v tmux >/dev/null 2>&1") != 0)
		cr_skip_test("tmux is not installed");
	sr_log_set_level(SR_LOG_WARN);
	snprintf(TMP, sizeof(TMP), "/tmp/smrelay-hosts-XXXXXX");
	cr_assert_not_null(mkdtemp(TMP));
	cr_assert_eq(sshd_start(&D[0]), 0, "sshd_start: %s", D[0].err);
	cr_assert_eq(sshd_start(&D[1]), 0, "sshd_start: %s", D[1].err);
	cr_assert_neq(D[0].port, D[1].port);
	cr_assert_eq(sr_loop_new(&L), 0);

	char path[512], src[PATH_MAX], buf[2048];
	append_file(sshd_path(&D[1], "authorized_keys", path, sizeof(path)),
		    sshd_path(&D[0], "user_key.pub", src, sizeof(src)));
	char kh[512];
	snprintf(kh, sizeof(kh), "%s/known_hosts", TMP);
	write_file(kh, "", 0644);
	append_file(kh, wrong_key0 ? D[0].wrong_known_hosts : D[0].known_hosts);
	append_file(kh, D[1].known_hosts);

	snprintf(path, sizeof(path), "%s/tui.sh", TMP);
	write_file(path, TUI, 0755);
	snprintf(path, sizeof(path), "%s/demo", TMP);
	mkdir(path, 0755);
	snprintf(buf, sizeof(buf), "127.0.0.1:%u,127.0.0.1:%u", D[0].port, D[1].port);
	renv_set("SM_VM_HOSTS", buf);
	renv_set("SM_VM_USER", D[0].user);
	renv_set("SM_VM_SSH_KEY_PATH", D[0].user_key);
	renv_set("SM_VM_KNOWN_HOSTS", kh);
	renv_set("SM_CONTAINER_RUNTIME", "none");
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
	renv_set("SM_CONTAINER_ENV", "SMRELAY_TEST_UNSET_VAR");
	renv_set("SM_COLS", "80");
	renv_set("SM_ROWS", "24");
}

static void relay_new(void)
{
	char err[512];
	sr_config_free(&C);
	cr_assert_eq(sr_config_load(&C, renv_get, err, sizeof(err)), 0, "config: %s", err);
	struct sr_relay_opts o = {
		.loop = L,
		.cfg = &C,
		.hooks = {.on_state = hook_state},
		.backoff_min_ms = 100,
		.backoff_max_ms = 500,
	};
	cr_assert_eq(sr_relay_new(&o, &R, err, sizeof(err)), 0, "relay: %s", err);
	cr_assert_eq(sr_relay_nhosts(R), 2);
}

static const char *host_name(int i)
{
	return sr_host_name(sr_relay_host(R, (size_t)i));
}

static void wait_ready(int i)
{
	double end = now_s() + GUARD_S;
	struct sr_host *h = sr_relay_host(R, (size_t)i);
	while (!sr_host_ready(h)) {
		cr_assert(now_s() < end, "host %d not ready: %s", i, sr_host_last_error(h));
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

/* Starts n "demo" sessions at once (no waiting in between) and waits for
 * every answer: none may fail. */
static void start_many(int n, char ids[][16])
{
	struct done d[MAXS];
	memset(d, 0, sizeof(d));
	char err[512];
	for (int i = 0; i < n; i++) {
		int rc = sr_relay_start(R, 1, (const char *[]){"demo"}, "alice", on_done, &d[i],
					ids[i], err, sizeof(err));
		cr_assert_eq(rc, 0, "start %d: %d %s", i, rc, err);
		seen_for(ids[i]); /* teardown kills its holder */
	}
	for (int i = 0; i < n; i++) {
		wait_done(&d[i]);
		cr_assert_eq(d[i].rc, 0, "start %d (%s) failed: %s", i, ids[i], d[i].msg);
		cr_assert_eq(d[i].called, 1);
	}
}

static const char *host_of(const char *id)
{
	struct sr_relay_info info;
	cr_assert_eq(sr_relay_info(R, id, &info), 0, "no session %s", id);
	cr_assert_not_null(info.host);
	return info.host;
}

static enum sr_rstate state_of(const char *id)
{
	struct sr_relay_info info;
	cr_assert_eq(sr_relay_info(R, id, &info), 0, "no session %s", id);
	return info.state;
}

/* Waits until the screen of id contains text. */
static void wait_screen(const char *id, const char *text)
{
	double end = now_s() + GUARD_S;
	for (;;) {
		char *t = NULL;
		int rc = sr_relay_screen_text(R, id, &t);
		int ok = rc == 0 && strstr(t, text);
		if (!ok)
			cr_assert(now_s() < end, "no '%s' on the screen of %s (state %s, rc %d):\n%s",
				  text, id, sr_rstate_name(state_of(id)), rc, t ? t : "");
		free(t);
		if (ok)
			return;
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

/* Types "<tag>-<id>" and waits for the echo. */
static void type_and_see(const char *id, const char *tag)
{
	char line[64], want[80];
	snprintf(line, sizeof(line), "%s-%s", tag, id);
	snprintf(want, sizeof(want), "got:%s", line);
	cr_assert_eq(sr_relay_send_text(R, id, line), 0, "typing into %s", id);
	wait_screen(id, want);
}

static void run_for(double secs)
{
	double end = now_s() + secs;
	while (now_s() < end)
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
}

/* The whole sshd gone, as when its VM dies: connections and listener.
 * Not sshd_stop: that also kills every orphan below this process, i.e.
 * the other host's holders too (both "VMs" are this machine). Its dir
 * stays, so it can be started again on the same port. */
static void sshd_kill_all(struct sshd *d)
{
	cr_assert_gt(d->pid, 0);
	sshd_kill_connections(d);
	kill(d->pid, SIGKILL);
	while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR)
		;
	d->pid = 0;
}

/* A new sshd with the same config (port, host key): the VM is back. */
static void sshd_restart(struct sshd *d)
{
	char cfg[PATH_MAX];
	sshd_path(d, "sshd_config", cfg, sizeof(cfg));
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
		}
		for (int fd = 3; fd < 4096; fd++)
			close(fd);
		execl(SSHD_BIN, SSHD_BIN, "-D", "-f", cfg, "-E", d->log, (char *)NULL);
		_exit(127);
	}
	d->pid = pid;
}

Test(relay_hosts, spread_least_loaded_and_failover)
{
	setup(0);
	relay_new();
	wait_ready(0);
	wait_ready(1);

	/* Four starts at once: starting sessions count as load, 2 and 2. */
	char ids[12][16];
	start_many(4, ids);
	int on[2] = {0, 0};
	for (int i = 0; i < 4; i++) {
		const char *h = host_of(ids[i]);
		cr_assert(!strcmp(h, host_name(0)) || !strcmp(h, host_name(1)), "host %s", h);
		on[!strcmp(h, host_name(1))]++;
		cr_assert_eq(state_of(ids[i]), SR_RS_RUNNING);
	}
	cr_assert_eq(on[0], 2, "host 0 has %d sessions", on[0]);
	cr_assert_eq(on[1], 2, "host 1 has %d sessions", on[1]);
	for (int i = 0; i < 4; i++) {
		wait_screen(ids[i], "tui-ready");
		type_and_see(ids[i], "before");
	}

	/* Host 0's sshd dies entirely. */
	unsigned att0 = sr_host_attempts(sr_relay_host(R, 0));
	sshd_kill_all(&D[0]);
	double end;
	for (int i = 0; i < 4; i++) {
		if (strcmp(host_of(ids[i]), host_name(0)))
			continue;
		wait_state(ids[i], SR_RS_DETACHED, 1);
		/* the why names the host (its wording depends on whether the
		 * channel or the connection noticed first) */
		cr_assert_not_null(strstr(seen_for(ids[i])->last_why, host_name(0)), "%s",
				   seen_for(ids[i])->last_why);
		cr_assert_eq(sr_relay_send_text(R, ids[i], "lost?"), -ENOTCONN);
	}
	/* the host notices in its own (deferred) teardown, after the
	 * sessions' channels may have */
	end = now_s() + GUARD_S;
	while (sr_host_ready(sr_relay_host(R, 0))) {
		cr_assert(now_s() < end, "host 0 still ready");
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
	cr_assert(sr_host_ready(sr_relay_host(R, 1)));

	/* New starts all go to host 1, and none fails. */
	start_many(4, ids + 4);
	for (int i = 4; i < 8; i++) {
		cr_assert_str_eq(host_of(ids[i]), host_name(1));
		cr_assert_eq(state_of(ids[i]), SR_RS_RUNNING);
		wait_screen(ids[i], "tui-ready");
	}

	/* The relay keeps trying host 0 (backoff 100..500 ms here). */
	end = now_s() + GUARD_S;
	while (sr_host_attempts(sr_relay_host(R, 0)) < att0 + 3) {
		cr_assert(now_s() < end, "host 0 retried only %u times",
			  sr_host_attempts(sr_relay_host(R, 0)) - att0);
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
	cr_assert_not(sr_host_ready(sr_relay_host(R, 0)));
	cr_assert_neq(sr_host_last_error(sr_relay_host(R, 0))[0], '\0');

	/* ... without disturbing host 1's sessions, old and new. */
	for (int i = 0; i < 8; i++) {
		if (strcmp(host_of(ids[i]), host_name(1)))
			continue;
		cr_assert_eq(state_of(ids[i]), SR_RS_RUNNING);
		cr_assert_eq(seen_for(ids[i])->states[SR_RS_DETACHED], 0, "%s detached", ids[i]);
		type_and_see(ids[i], "during");
	}
	for (int i = 0; i < 4; i++)
		if (!strcmp(host_of(ids[i]), host_name(0)))
			cr_assert_eq(state_of(ids[i]), SR_RS_DETACHED);
	cr_assert_eq(sr_relay_list(R, NULL, 0), 8);

	/* The VM comes back (an sshd on the same port, same host key): its
	 * sessions are checked and reattached, their screens repainted. */
	sshd_restart(&D[0]);
	wait_ready(0);
	for (int i = 0; i < 4; i++) {
		if (strcmp(host_of(ids[i]), host_name(0)))
			continue;
		wait_state(ids[i], SR_RS_RUNNING, 2);
		cr_assert_str_eq(seen_for(ids[i])->last_why, "reattached");
		char want[64];
		snprintf(want, sizeof(want), "got:before-%.15s", ids[i]);
		wait_screen(ids[i], want);
		type_and_see(ids[i], "after");
	}
	/* and host 1's were never touched */
	for (int i = 0; i < 8; i++)
		if (!strcmp(host_of(ids[i]), host_name(1)))
			cr_assert_eq(seen_for(ids[i])->states[SR_RS_DETACHED], 0);
	/* both hosts count again: the next start goes to the emptier host 0
	 * (2 sessions against 6) */
	start_many(1, ids + 8);
	cr_assert_str_eq(host_of(ids[8]), host_name(0));
	wait_screen(ids[8], "tui-ready");
}

Test(relay_hosts, wrong_host_key_on_one_host)
{
	setup(1);
	relay_new();
	wait_ready(1);
	struct sr_host *bad = sr_relay_host(R, 0);
	double end = now_s() + GUARD_S;
	while (!sr_host_last_error(bad)[0]) {
		cr_assert(now_s() < end, "host 0 never failed");
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
	cr_assert_not_null(strstr(sr_host_last_error(bad), "HOST KEY MISMATCH"), "%s",
			   sr_host_last_error(bad));
	cr_assert_not(sr_host_ready(bad));

	char ids[6][16];
	start_many(6, ids);
	for (int i = 0; i < 6; i++) {
		cr_assert_str_eq(host_of(ids[i]), host_name(1));
		wait_screen(ids[i], "tui-ready");
		type_and_see(ids[i], "typed");
	}
	/* a while later: still refused, still all on host 1 */
	run_for(1.0);
	cr_assert_not(sr_host_ready(bad));
	cr_assert_not_null(strstr(sr_host_last_error(bad), "HOST KEY MISMATCH"), "%s",
			   sr_host_last_error(bad));
	for (int i = 0; i < 6; i++)
		cr_assert_eq(state_of(ids[i]), SR_RS_RUNNING);
}
