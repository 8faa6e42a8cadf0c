/* test_local.c — the `local` transport (sr_ssh_local.c) behind the sr_ssh
 * API: exec channels (status, output, stdin, signals, large output), PTY
 * sessions through sr_session, child hygiene (fds, signals, environment,
 * session), closing running children, the tmux holder flow and the whole
 * relay with SM_VM_HOST=local — with no zombies and no leaked fds left.
 * Everything runs for real on this machine on a real sr_loop. GUARD_S only
 * guards against hangs; nothing asserts on timing. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sr_config.h"
#include "sr_envwrap.h"
#include "sr_exec.h"
#include "sr_holder.h"
#include "sr_log.h"
#include "sr_loop.h"
#include "sr_quote.h"
#include "sr_relay.h"
#include "sr_session.h"
#include "sr_ssh.h"
#include "sr_ssh_driver.h"
#include "vt_screen.h"
#include "relay_env.h"

#define GUARD_S 20.0
#define NSESS 4
#define MAXR 8

struct ctx {
	struct sr_session *s;
	int exited;
	int status;
	char why[256];
};

static struct sr_loop *L;
static struct sr_ssh *S;
static struct sr_ssh_driver *DRV;
static struct ctx *C[NSESS];
static int DRV_ERR;
static char HOLDER_ID[64];

/* relay tests */
static struct sr_relay *R;
static struct sr_config CFG;
static char TMP[256];
static char RIDS[MAXR][16];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void kill_tmux(const char *id)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd),
		 "tmux -L smrelay-%.63s kill-server >/dev/null 2>&1; "
		 "rm -f \"${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/smrelay-%.63s\"",
		 id, id);
	if (system(cmd) < 0) {
	}
}

static void free_conn(void)
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
	sr_ssh_free(S);
	S = NULL;
}

static void teardown(void)
{
	sr_relay_free(R);
	R = NULL;
	sr_config_free(&CFG);
	free_conn();
	sr_loop_free(L);
	L = NULL;
	if (HOLDER_ID[0]) {
		kill_tmux(HOLDER_ID);
		HOLDER_ID[0] = '\0';
	}
	for (size_t i = 0; i < MAXR; i++)
		if (RIDS[i][0]) {
			kill_tmux(RIDS[i]);
			RIDS[i][0] = '\0';
		}
	if (TMP[0]) {
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", TMP);
		if (system(cmd) < 0) {
		}
		TMP[0] = '\0';
	}
	sr_log_set_level(SR_LOG_INFO);
}

TestSuite(local, .fini = teardown);

/* ---- process and fd accounting ------------------------------------------ */

/* Children of this process, all of them or only zombies. */
static int children(int zombies_only)
{
	DIR *d = opendir("/proc");
	cr_assert_not_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		char path[300], buf[1024];
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		const char *p = strrchr(buf, ')'); /* the name may hold anything */
		char state;
		int ppid;
		if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
			continue;
		if (ppid == (int)getpid() && (!zombies_only || state == 'Z'))
			n++;
	}
	closedir(d);
	return n;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ---- connection and helpers ------------------------------------------------ */

static void on_drv_error(void *data, int code, const char *msg)
{
	(void)data;
	(void)msg;
	DRV_ERR = code;
}

static void connect_local(void)
{
	struct sr_ssh_opts o = {.host = SR_SSH_LOCAL};
	char err[256];
	cr_assert_eq(sr_ssh_connect(&o, &S, err, sizeof(err)), 0, "connect: %s", err);
	DRV_ERR = 0;
	cr_assert_eq(sr_ssh_driver_new(L, S, 0, on_drv_error, NULL, &DRV), 0);
}

static void setup(void)
{
	if (!L)
		cr_assert_eq(sr_loop_new(&L), 0);
	connect_local();
}

static void spin(void)
{
	cr_assert_eq(DRV_ERR, 0, "the local connection failed: %s", S ? sr_ssh_error(S) : "");
	cr_assert_geq(sr_loop_run_once(L, 50), 0);
}

struct xres {
	int rc;
	struct sr_ssh_exit exit;
	char *out, *err;
	size_t out_len, err_len;
	int truncated;
};

/* Runs cmd on an exec channel with stdin in (then EOF) to its end. */
static struct xres run_exec(const char *cmd, const void *in, size_t inlen)
{
	struct sr_ssh_chan *ch = NULL;
	cr_assert_eq(sr_ssh_exec_start(S, cmd, &ch), 0);
	cr_assert_eq(sr_ssh_chan_state(ch), SR_CHAN_STARTING);
	if (inlen)
		cr_assert_eq(sr_ssh_chan_write(ch, in, inlen), 0);
	cr_assert_eq(sr_ssh_chan_send_eof(ch), 0);
	sr_ssh_driver_kick(DRV);
	struct sr_ssh_exec_result r;
	struct xres x = {0};
	double end = now_s() + GUARD_S;
	while ((x.rc = sr_ssh_exec_result(ch, &r)) == -EAGAIN) {
		cr_assert(now_s() < end, "exec '%s' did not end", cmd);
		spin();
	}
	cr_assert_eq(x.rc, 0, "exec '%s' failed: %s", cmd, sr_ssh_chan_error(ch));
	cr_assert_eq(sr_ssh_chan_state(ch), SR_CHAN_ENDED);
	x.exit = r.exit;
	x.out = malloc(r.out_len + 1);
	x.err = malloc(r.err_len + 1);
	cr_assert(x.out && x.err);
	memcpy(x.out, r.out, r.out_len + 1);
	memcpy(x.err, r.err, r.err_len + 1);
	x.out_len = r.out_len;
	x.err_len = r.err_len;
	x.truncated = r.truncated;
	sr_ssh_chan_close(ch);
	return x;
}

static void xres_free(struct xres *x)
{
	free(x->out);
	free(x->err);
}

static void on_exit_cb(void *data, int status, const char *why)
{
	struct ctx *c = data;
	c->exited = 1;
	c->status = status;
	snprintf(c->why, sizeof(c->why), "%s", why);
}

static struct ctx *start_argv(size_t slot, const char *const *argv, const struct sr_env *env)
{
	struct ctx *c = calloc(1, sizeof(*c));
	cr_assert_not_null(c);
	C[slot] = c;
	struct sr_session_opts o = {
		.driver = DRV,
		.term = "xterm-256color",
		.cols = 80,
		.rows = 24,
		.argv = argv,
		.env = env,
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
	return start_argv(slot, (const char *const[]){"sh", "-c", script, NULL}, NULL);
}

/* Waits until text is on c's screen; returns the screen (caller frees). */
static char *wait_screen(struct ctx *c, const char *text)
{
	double end = now_s() + GUARD_S;
	for (;;) {
		char *t = NULL;
		cr_assert_eq(sr_session_screen_text(c->s, &t), 0);
		if (strstr(t, text))
			return t;
		cr_assert(now_s() < end, "no '%s' on the screen:\n%s\n(exited %d: %s)", text, t,
			  c->exited, c->why);
		free(t);
		spin();
	}
}

static void wait_exit(struct ctx *c)
{
	double end = now_s() + GUARD_S;
	while (!c->exited) {
		cr_assert(now_s() < end, "the program did not exit");
		spin();
	}
}

/* pid exists and is not a zombie (an orphan's zombie waits for init). */
static int alive(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Runs the loop until pid is gone (or a zombie: a grandchild's zombie is
 * init's to reap, not ours). */
static void wait_gone(pid_t pid)
{
	double end = now_s() + GUARD_S;
	while (alive(pid)) {
		cr_assert(now_s() < end, "process %ld still runs", (long)pid);
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
}

/* ---- connection, parsing, config --------------------------------------------- */

static const char *const *CFG_ENV; /* name, value, ..., NULL */

static const char *cfg_get(const char *name)
{
	for (size_t i = 0; CFG_ENV[i]; i += 2)
		if (!strcmp(CFG_ENV[i], name))
			return CFG_ENV[i + 1];
	return NULL;
}

Test(local, target_connect_and_config)
{
	char *host = NULL, err[256];
	unsigned port = 99;
	cr_assert_eq(sr_ssh_parse_target("local", &host, &port, err, sizeof(err)), 0);
	cr_assert_str_eq(host, "local");
	cr_assert_eq(port, 0);
	free(host);
	/* with a port it is an SSH host that happens to be called local */
	cr_assert_eq(sr_ssh_parse_target("local:2222", &host, &port, err, sizeof(err)), 0);
	cr_assert_str_eq(host, "local");
	cr_assert_eq(port, 2222);
	free(host);

	/* no user, key or known_hosts needed; ready at once */
	struct sr_ssh_opts o = {.host = "local"};
	cr_assert_eq(sr_ssh_connect(&o, &S, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sr_ssh_status(S), 1);
	cr_assert_eq(sr_ssh_step(S), 1);
	cr_assert_str_eq(sr_ssh_host_fingerprint(S), "local");
	cr_assert_str_eq(sr_ssh_error(S), "");
	cr_assert_geq(sr_ssh_fd(S), 0);
	cr_assert(sr_ssh_wants(S) & SR_SSH_WANT_READ);
	cr_assert_not(sr_ssh_wants(S) & SR_SSH_WANT_WRITE);
	cr_assert_not(sr_ssh_wants(S) & SR_SSH_WANT_STEP, "an idle connection wants no step");
	cr_assert_eq(sr_ssh_keepalive(S), 0);
	int fd = sr_ssh_fd(S);
	cr_assert_eq(sr_ssh_step(S), 1);
	cr_assert_eq(sr_ssh_fd(S), fd, "the fd must not change");
	sr_ssh_free(S);
	S = NULL;

	/* SM_VM_HOST=local needs no key and no known_hosts; mixed lists
	 * still need them for the real hosts. */
	static const char *const local_only[] = {"SM_VM_HOST", "local", NULL};
	static const char *const local_list[] = {"SM_VM_HOSTS", "local", NULL};
	static const char *const mixed[] = {"SM_VM_HOSTS", "local,vm1", NULL};
	static const char *const mixed_kh[] = {"SM_VM_HOSTS", "vm1, local", "SM_VM_SSH_KEY_PATH", "/k", NULL};
	static const char *const mixed_ok[] = {"SM_VM_HOSTS", "local, vm1:2222", "SM_VM_SSH_KEY_PATH", "/k",
					       "SM_VM_KNOWN_HOSTS", "/kh", NULL};
	struct {
		const char *const *env;
		const char *err; /* NULL: loads */
	} cases[] = {
		{local_only, NULL},
		{local_list, NULL},
		{mixed, "no key"},
		{mixed_kh, "SM_VM_KNOWN_HOSTS"},
		{mixed_ok, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_config c;
		CFG_ENV = cases[i].env;
		int rc = sr_config_load(&c, cfg_get, err, sizeof(err));
		if (cases[i].err) {
			cr_assert_eq(rc, -EINVAL, "case %zu loaded", i);
			cr_assert_not_null(strstr(err, cases[i].err), "case %zu: %s", i, err);
			continue;
		}
		cr_assert_eq(rc, 0, "case %zu: %s", i, err);
		cr_assert_str_eq(c.vm_hosts[0], "local");
		cr_assert_null(c.ssh_key);
		sr_config_free(&c);
	}
}

/* ---- exec channels -------------------------------------------------------------- */

Test(local, exec_status_and_output)
{
	setup();
	struct xres x = run_exec("echo out; echo err >&2; exit 3", NULL, 0);
	cr_assert_eq(x.exit.status, 3);
	cr_assert_str_eq(x.exit.signal, "");
	cr_assert_str_eq(x.out, "out\n");
	cr_assert_str_eq(x.err, "err\n");
	cr_assert_eq(x.truncated, 0);
	xres_free(&x);

	/* a command line as sr_quote makes it, run as over SSH: sh -c LINE */
	char *line = NULL, err[128];
	const char *argv[] = {"printf", "%s|", "a b", "it's", "$(id)", NULL};
	cr_assert_eq(sr_quote_argv(argv, 5, &line, err, sizeof(err)), 0);
	x = run_exec(line, NULL, 0);
	free(line);
	cr_assert_eq(x.exit.status, 0);
	cr_assert_str_eq(x.out, "a b|it's|$(id)|");
	xres_free(&x);

	/* stdin, written through the queue, then EOF */
	x = run_exec("tr a-z A-Z", "hello stdin", 11);
	cr_assert_str_eq(x.out, "HELLO STDIN");
	xres_free(&x);
	cr_assert_eq(children(0), 0, "children left");
}

Test(local, exec_killed_child_reports_the_signal)
{
	setup();
	struct xres x = run_exec("echo before; kill -TERM $$; echo after", NULL, 0);
	cr_assert_eq(x.exit.status, -1);
	cr_assert_str_eq(x.exit.signal, "TERM");
	cr_assert_str_eq(x.out, "before\n");
	xres_free(&x);
	x = run_exec("kill -KILL $$", NULL, 0);
	cr_assert_eq(x.exit.status, -1);
	cr_assert_str_eq(x.exit.signal, "KILL");
	xres_free(&x);
	cr_assert_eq(children(0), 0);
}

Test(local, exec_large_output_and_input)
{
	setup();
	/* 6.9 MB on stdout (kept whole), 9 MB on stderr (cut at 8 MiB) */
	struct xres x = run_exec("seq 1 1000000; head -c 9000000 /dev/zero >&2", NULL, 0);
	cr_assert_eq(x.exit.status, 0);
	cr_assert_eq(x.out_len, 6888896, "stdout %zu bytes", x.out_len);
	cr_assert_eq(strncmp(x.out, "1\n2\n3\n", 6), 0);
	cr_assert_str_eq(x.out + x.out_len - 15, "999999\n1000000\n");
	cr_assert_eq(x.err_len, 8u << 20);
	cr_assert_eq(x.truncated, 1);
	xres_free(&x);

	/* 3 MiB of input through a 64 KiB pipe: written as it drains */
	size_t n = 3u << 20;
	char *in = malloc(n);
	cr_assert_not_null(in);
	for (size_t i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	x = run_exec("wc -c; tail -c 5", in, n);
	cr_assert_eq(x.exit.status, 0);
	cr_assert_str_eq(x.out, "3145728\n", "%s", x.out);
	xres_free(&x);
	x = run_exec("md5sum", in, n);
	free(in);
	cr_assert_eq(x.exit.status, 0);
	cr_assert_eq(x.out_len, 36, "%s", x.out);
	xres_free(&x);

	/* a child that exits without reading its input: no SIGPIPE here */
	char *big = calloc(1, 2u << 20);
	cr_assert_not_null(big);
	x = run_exec("exit 4", big, 2u << 20);
	free(big);
	cr_assert_eq(x.exit.status, 4);
	xres_free(&x);
	cr_assert_eq(children(0), 0);
}

struct job {
	int called;
	struct sr_exec_res res;
	char out[512];
};

static void job_done(void *data, const struct sr_exec_res *res)
{
	struct job *j = data;
	j->called++;
	j->res = *res;
	snprintf(j->out, sizeof(j->out), "%s", res->out);
	j->res.out = j->out;
	j->res.err = "";
	j->res.msg = "";
}

/* sr_exec with an sr_envwrap payload on stdin: how the relay hands secrets
 * to a command; the daemon's own SM_* variables never reach it. */
Test(local, exec_stdin_payload_envwrap)
{
	setup();
	setenv("SM_MM_TOKEN", "daemon-secret", 1);
	setenv("SMRELAY_LOCAL_NOT_FORWARDED", "x", 1);
	sr_ssh_driver_free(DRV); /* a new connection: the environment is taken at connect */
	DRV = NULL;
	sr_ssh_free(S);
	S = NULL;
	connect_local();
	struct sr_argv inner = {0}, wrapped = {0};
	cr_assert_eq(sr_argv_push_list(&inner, (const char *const[]){"sh", "-c",
				       "printf '%s|%s|%s|%s|' \"$A_SECRET\" \"$B\" "
				       "\"${SM_MM_TOKEN-unset}\" \"${SMRELAY_LOCAL_NOT_FORWARDED-unset}\"; cat",
				       NULL}),
		     0);
	cr_assert_eq(sr_envwrap_argv(&inner, &wrapped), 0);
	struct sr_env env[] = {{"A_SECRET", "s3cr3t 'q' $(id) `x`;"}, {"B", ""}, {NULL, NULL}};
	char *payload = NULL, err[256];
	size_t plen = 0;
	cr_assert_eq(sr_envwrap_payload(env, &payload, &plen, err, sizeof(err)), 0, "%s", err);
	struct job j = {0};
	cr_assert_eq(sr_exec_start(DRV, &wrapped, payload, plen, 0, job_done, &j, NULL, err, sizeof(err)), 0,
		     "%s", err);
	sr_envwrap_payload_free(payload, plen);
	double end = now_s() + GUARD_S;
	while (!j.called) {
		cr_assert(now_s() < end);
		spin();
	}
	cr_assert_eq(j.res.rc, 0);
	cr_assert_eq(j.res.status, 0);
	cr_assert_str_eq(j.out, "s3cr3t 'q' $(id) `x`;||unset|unset|");
	sr_argv_free(&inner);
	sr_argv_free(&wrapped);
	unsetenv("SM_MM_TOKEN");
	unsetenv("SMRELAY_LOCAL_NOT_FORWARDED");
}

/* What a child starts with: fds 0-2 only, no blocked or ignored signals,
 * a session of its own, $HOME as working directory, a login-like
 * environment. */
Test(local, child_hygiene)
{
	setup();
	int leak = open("/dev/null", O_RDONLY); /* not CLOEXEC */
	cr_assert_geq(leak, 3);
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	struct sigaction ign = {.sa_handler = SIG_IGN}, oldsa;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &oldsa);

	struct xres x = run_exec("exec ls /proc/self/fd", NULL, 0);
	cr_assert_str_eq(x.out, "0\n1\n2\n3\n", "the child has more fds:\n%s", x.out);
	xres_free(&x);
	x = run_exec("exec grep -E '^Sig(Blk|Ign)' /proc/self/status", NULL, 0);
	cr_assert_str_eq(x.out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n", "%s", x.out);
	xres_free(&x);
	/* sh is the session and group leader: cut's stat has its sid/pgid */
	x = run_exec("echo $$; cut -d' ' -f5,6 /proc/self/stat", NULL, 0);
	long pid = 0, pgid = 0, sid = 0;
	cr_assert_eq(sscanf(x.out, "%ld %ld %ld", &pid, &pgid, &sid), 3, "%s", x.out);
	cr_assert_eq(pgid, pid);
	cr_assert_eq(sid, pid);
	xres_free(&x);
	x = run_exec("pwd; echo \"$HOME|${USER:+user}|${PATH:+path}|${TERM-noterm}\"", NULL, 0);
	char want[600];
	const char *home = getenv("HOME");
	snprintf(want, sizeof(want), "%s\n%s|user|path|noterm\n", home, home);
	if (home && access(home, X_OK) == 0)
		cr_assert_str_eq(x.out, want);
	xres_free(&x);

	sigaction(SIGPIPE, &oldsa, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(leak);
}

/* sr_ssh_fd wakes a plain poll() when a child writes or exits: the loop
 * needs nothing else. */
Test(local, fd_wakes_on_output_and_exit)
{
	cr_assert_eq(sr_loop_new(&L), 0);
	struct sr_ssh_opts o = {.host = "local"};
	char err[256];
	cr_assert_eq(sr_ssh_connect(&o, &S, err, sizeof(err)), 0, "%s", err);
	struct sr_ssh_chan *ch = NULL;
	cr_assert_eq(sr_ssh_exec_start(S, "sleep 0.3; echo late; sleep 0.3", &ch), 0);
	cr_assert(sr_ssh_wants(S) & SR_SSH_WANT_STEP, "a new channel wants a step");
	cr_assert_eq(sr_ssh_chan_send_eof(ch), 0);
	cr_assert_eq(sr_ssh_step(S), 1);
	cr_assert_eq(sr_ssh_chan_state(ch), SR_CHAN_RUNNING);
	cr_assert_not(sr_ssh_wants(S) & SR_SSH_WANT_STEP);
	struct sr_ssh_exec_result r;
	int wakeups = 0;
	double end = now_s() + GUARD_S;
	while (sr_ssh_exec_result(ch, &r) == -EAGAIN) {
		cr_assert(now_s() < end);
		struct pollfd p = {.fd = sr_ssh_fd(S), .events = POLLIN};
		int n = poll(&p, 1, (sr_ssh_wants(S) & SR_SSH_WANT_STEP) ? 0 : 10000);
		cr_assert(n == 1 || (sr_ssh_wants(S) & SR_SSH_WANT_STEP), "no wake-up within 10 s");
		wakeups += n == 1;
		cr_assert_eq(sr_ssh_step(S), 1);
	}
	cr_assert_eq(r.exit.status, 0);
	cr_assert_str_eq(r.out, "late\n");
	cr_assert_geq(wakeups, 2, "output and exit each wake the fd");
	sr_ssh_chan_close(ch);
	/* nothing left to report: the fd is quiet */
	struct pollfd p = {.fd = sr_ssh_fd(S), .events = POLLIN};
	cr_assert_eq(poll(&p, 1, 100), 0, "the epoll fd stays readable after the end");
	cr_assert_eq(children(0), 0);
}

/* ---- PTY sessions through sr_session ----------------------------------------------- */

Test(local, pty_session_output_typing_exit)
{
	setup();
	struct sr_env env[] = {{"SESSION_VAR", "v a l"}, {NULL, NULL}};
	struct ctx *c = start_argv(0, (const char *const[]){"sh", "-c",
				   "echo \"term=$TERM var=$SESSION_VAR tty=$(tty | cut -c1-9)\"; "
				   "read line; echo \"typed:$line\"; exit 3", NULL},
				   env);
	free(wait_screen(c, "term=xterm-256color var=v a l tty=/dev/pts/"));
	cr_assert_eq(sr_session_send_text(c->s, "abc def"), 0);
	free(wait_screen(c, "typed:abc def"));
	wait_exit(c);
	cr_assert_eq(c->status, 3);
	cr_assert_str_eq(c->why, "exited with status 3");
	cr_assert_eq(sr_session_send_text(c->s, "x"), -EPIPE);
	cr_assert_eq(children(0), 0);
}

Test(local, pty_resize_seen_by_the_program)
{
	setup();
	struct ctx *c = start_sh(0, "trap 'stty size' WINCH; stty size; echo ready; "
				    "while :; do sleep 0.1; done");
	char *t = wait_screen(c, "ready");
	cr_assert_not_null(strstr(t, "24 80"), "%s", t);
	free(t);
	cr_assert_eq(sr_session_resize(c->s, 120, 40), 0);
	free(wait_screen(c, "40 120"));
	cr_assert_eq(vt_screen_cols(sr_session_screen(c->s)), 120);
}

/* ^C reaches the foreground job: the slave is the controlling terminal. */
Test(local, pty_ctrl_c_and_killed_program)
{
	setup();
	/* "exec": one shell, the channel's own process (else the outer sh
	 * would die of the ^C too, and its hangup take the inner one) */
	struct ctx *c = start_argv(0, (const char *const[]){"exec", "sh", "-c",
				   "trap 'echo trapped' INT; echo sleeping; sleep 100; "
				   "echo \"after:$?\"; kill -KILL $$", NULL},
				   NULL);
	free(wait_screen(c, "sleeping"));
	char err[128], *t = NULL;
	double end = now_s() + GUARD_S;
	for (;;) {
		/* a ^C before sleep started only runs the trap: again */
		cr_assert_eq(sr_session_send_keys(c->s, "ctrl-c", err, sizeof(err)), 0, "%s", err);
		double next = now_s() + 0.5;
		while (now_s() < next && !c->exited)
			spin();
		cr_assert_eq(sr_session_screen_text(c->s, &t), 0);
		if (strstr(t, "after:130"))
			break;
		cr_assert(now_s() < end && !c->exited, "no 'after:130':\n%s\n(%s)", t, c->why);
		free(t);
	}
	cr_assert_not_null(strstr(t, "trapped"), "%s", t);
	free(t);
	wait_exit(c);
	cr_assert_eq(c->status, -1);
	cr_assert_str_eq(c->why, "killed by signal KILL");
	cr_assert_eq(children(0), 0);
}

Test(local, pty_login_shell)
{
	setup();
	struct ctx *c = start_argv(0, NULL, NULL);
	cr_assert_eq(sr_session_send_text(c->s, "echo \"login-$((6*7))-$0\""), 0);
	char *t = wait_screen(c, "login-42--");
	free(t);
	cr_assert_eq(sr_session_send_text(c->s, "exit 7"), 0);
	wait_exit(c);
	cr_assert_eq(c->status, 7, "%s", c->why);
}

/* Output beyond 1 MiB waits in the terminal until the owner reads. */
Test(local, pty_flow_control)
{
	setup();
	struct sr_ssh_chan *ch = NULL;
	/* no newlines: the terminal passes the bytes through unchanged */
	cr_assert_eq(sr_ssh_pty_start(S, NULL, 80, 24, "head -c 3000000 /dev/zero | tr '\\0' x", NULL, &ch),
		     0);
	sr_ssh_driver_kick(DRV);
	double end = now_s() + 0.5;
	while (now_s() < end)
		spin(); /* steps run; nobody reads */
	static char buf[1 << 16];
	size_t burst = 0, total = 0;
	ssize_t n;
	while ((n = sr_ssh_chan_read(ch, buf, sizeof(buf))) > 0)
		burst += (size_t)n;
	cr_assert_eq(burst, 1u << 20, "buffered %zu bytes", burst);
	total = burst;
	end = now_s() + GUARD_S;
	for (;;) {
		n = sr_ssh_chan_read(ch, buf, sizeof(buf));
		if (n == -EPIPE)
			break;
		cr_assert_geq(n, 0);
		for (ssize_t i = 0; i < n; i++)
			cr_assert_eq(buf[i], 'x');
		total += (size_t)n;
		if (n == 0) {
			cr_assert(now_s() < end, "read %zu bytes", total);
			spin();
		}
	}
	cr_assert_eq(total, 3000000);
	struct sr_ssh_exit ex;
	end = now_s() + GUARD_S;
	while (sr_ssh_chan_exit(ch, &ex) == -EAGAIN) {
		cr_assert(now_s() < end);
		spin();
	}
	cr_assert_eq(ex.status, 0);
	cr_assert_eq(sr_ssh_chan_state(ch), SR_CHAN_ENDED);
	sr_ssh_chan_close(ch);
}

/* A background process that survived the hangup (nohup) keeps the
 * terminal open: the channel still ends once its child was reaped. */
Test(local, pty_ends_although_a_survivor_holds_the_terminal)
{
	setup();
	struct ctx *c = start_sh(0, "sh -c 'trap \"\" HUP; exec sleep 30' </dev/tty >/dev/tty 2>&1 & "
				    "echo \"bg=$!\"; exit 5");
	char *t = wait_screen(c, "bg=");
	long bg = atol(strstr(t, "bg=") + 3);
	free(t);
	wait_exit(c);
	cr_assert_eq(c->status, 5, "%s", c->why);
	if (bg > 0)
		kill((pid_t)bg, SIGKILL); /* not our child: init reaps it */
}

/* Closing a running channel: SIGTERM to the group, SIGKILL when ignored. */
Test(local, close_terminates_and_reaps)
{
	setup();
	struct ctx *a = start_sh(0, "echo pid=$$; while :; do sleep 0.1; done");
	struct ctx *b = start_sh(1, "trap '' TERM HUP; echo pid=$$; while :; do sleep 0.1; done");
	char *ta = wait_screen(a, "pid=");
	char *tb = wait_screen(b, "pid=");
	pid_t pa = (pid_t)atol(strstr(ta, "pid=") + 4), pb = (pid_t)atol(strstr(tb, "pid=") + 4);
	free(ta);
	free(tb);
	cr_assert_gt(pa, 0);
	cr_assert_gt(pb, 0);
	double t0 = now_s();
	sr_session_free(a->s);
	a->s = NULL;
	sr_session_free(b->s);
	b->s = NULL;
	wait_gone(pa);
	wait_gone(pb); /* needs the SIGKILL after the grace */
	cr_log_info("TERM-ignoring child gone after %.2f s", now_s() - t0);
	cr_assert_eq(a->exited + b->exited, 0, "on_exit after sr_session_free");

	/* an exec channel, closed while it runs, with its child's group */
	char pidfile[] = "/tmp/smrelay-local-pid-XXXXXX";
	int fd = mkstemp(pidfile);
	cr_assert_geq(fd, 0);
	close(fd);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "trap '' TERM; sleep 60 & echo \"$$ $!\" > %s; wait", pidfile);
	struct sr_ssh_chan *ch = NULL;
	cr_assert_eq(sr_ssh_exec_start(S, cmd, &ch), 0);
	sr_ssh_driver_kick(DRV);
	long sh = 0, sl = 0;
	double end = now_s() + GUARD_S;
	while (sh == 0 || sl == 0) {
		cr_assert(now_s() < end);
		spin();
		FILE *f = fopen(pidfile, "r");
		if (f) {
			if (fscanf(f, "%ld %ld", &sh, &sl) != 2)
				sh = sl = 0;
			fclose(f);
		}
	}
	unlink(pidfile);
	sr_ssh_chan_close(ch);
	wait_gone((pid_t)sh);
	end = now_s() + GUARD_S;
	while (alive((pid_t)sl)) { /* the sleep: killed with the group */
		cr_assert(now_s() < end, "the group's sleep survived");
		spin();
	}
	end = now_s() + GUARD_S;
	while (children(0)) { /* reaped once the grace is over */
		cr_assert(now_s() < end, "a closed child was never reaped");
		spin();
	}
}

/* Many channels, some closed while running, then the connection freed
 * with children still running: no zombies, no fds left behind. */
Test(local, no_zombies_no_fd_leaks)
{
	int fds0 = count_fds();
	setup();
	for (int round = 0; round < 3; round++) {
		struct ctx *c = start_sh(0, "echo up; sleep 100");
		struct ctx *d = start_sh(1, "echo done");
		free(wait_screen(c, "up"));
		wait_exit(d);
		struct xres x = run_exec("echo hi >&2; exit 1", NULL, 0);
		cr_assert_eq(x.exit.status, 1);
		xres_free(&x);
		sr_session_free(c->s);
		free(c);
		C[0] = NULL;
		sr_session_free(d->s);
		free(d);
		C[1] = NULL;
	}
	/* left running at free: killed and reaped there */
	struct ctx *c = start_sh(0, "trap '' TERM HUP; echo up; while :; do sleep 0.1; done");
	free(wait_screen(c, "up"));
	struct sr_ssh_chan *ch = NULL;
	cr_assert_eq(sr_ssh_exec_start(S, "sleep 100", &ch), 0);
	sr_ssh_driver_kick(DRV);
	for (int i = 0; i < 5; i++)
		spin();
	cr_assert_gt(children(0), 0);
	free_conn(); /* sessions, driver, connection (with ch) */
	cr_assert_eq(children(0), 0, "children left after sr_ssh_free");
	sr_loop_free(L);
	L = NULL;
	cr_assert_eq(count_fds(), fds0, "fds: %d before, %d after", fds0, count_fds());
}

/* ---- the tmux holder flow, locally --------------------------------------------------- */

static int tmux_available(void)
{
	return system("command -v tmux >/dev/null 2>&1") == 0;
}

/* Runs argv (quoted as the relay does) on an exec channel. */
static int run_argv(const struct sr_argv *a, char *out, size_t outlen)
{
	char *line = NULL, err[256];
	cr_assert_eq(sr_quote_argv((const char *const *)a->v, a->n, &line, err, sizeof(err)), 0, "%s", err);
	struct xres x = run_exec(line, NULL, 0);
	free(line);
	snprintf(out, outlen, "%s%s", x.out, x.err);
	int st = x.exit.status;
	xres_free(&x);
	return st;
}

static struct ctx *attach_holder(size_t slot)
{
	struct sr_argv a = {0};
	cr_assert_eq(sr_holder_attach_argv(HOLDER_ID, &a), 0);
	struct ctx *c = start_argv(slot, (const char *const *)a.v, NULL);
	sr_holder_argv_free(&a);
	return c;
}

Test(local, holder_flow)
{
	if (!tmux_available())
		cr_skip_test("tmux is not installed");
	setup();
	snprintf(HOLDER_ID, sizeof(HOLDER_ID), "local-%ld-%ld", (long)getpid(), (long)time(NULL));
	const char *prog[] = {"sh", "-c", "echo holder-ready; while read l; do echo \"got:$l\"; done", NULL};
	struct sr_argv a = {0};
	char out[4096];
	cr_assert_eq(sr_holder_start_argv(HOLDER_ID, 80, 24, NULL, prog, &a), 0);
	cr_assert_eq(run_argv(&a, out, sizeof(out)), 0, "start: %s", out);
	sr_holder_argv_free(&a);
	cr_assert_eq(sr_holder_alive_argv(HOLDER_ID, &a), 0);
	cr_assert_eq(run_argv(&a, out, sizeof(out)), 0, "alive: %s", out);
	sr_holder_argv_free(&a);

	struct ctx *c = attach_holder(0);
	free(wait_screen(c, "holder-ready"));
	cr_assert_eq(sr_session_send_text(c->s, "one"), 0);
	free(wait_screen(c, "got:one"));

	/* the connection goes (its attach client with it); the holder stays */
	free_conn();
	cr_assert_eq(children(0), 0);
	connect_local();
	cr_assert_eq(sr_holder_alive_argv(HOLDER_ID, &a), 0);
	cr_assert_eq(run_argv(&a, out, sizeof(out)), 0, "alive after the drop: %s", out);
	sr_holder_argv_free(&a);
	c = attach_holder(0);
	char *t = wait_screen(c, "got:one");
	cr_assert_not_null(strstr(t, "holder-ready"), "the repaint lacks the start:\n%s", t);
	free(t);
	cr_assert_eq(sr_session_send_text(c->s, "two"), 0);
	free(wait_screen(c, "got:two"));

	/* stop: the attached client ends too; alive fails now */
	cr_assert_eq(sr_holder_stop_argv(HOLDER_ID, &a), 0);
	cr_assert_eq(run_argv(&a, out, sizeof(out)), 0, "stop: %s", out);
	sr_holder_argv_free(&a);
	cr_assert_eq(sr_holder_alive_argv(HOLDER_ID, &a), 0);
	cr_assert_neq(run_argv(&a, out, sizeof(out)), 0, "alive after stop: %s", out);
	sr_holder_argv_free(&a);
	wait_exit(c);
	cr_assert_eq(children(1), 0);
}

/* ---- the whole relay on SM_VM_HOST=local ------------------------------------------- */


static struct seen {
	char id[16];
	int states[8];
	char last_why[512];
} SEEN[MAXR];

static struct seen *seen_for(const char *id)
{
	for (size_t i = 0; i < MAXR; i++)
		if (!strcmp(SEEN[i].id, id))
			return &SEEN[i];
	for (size_t i = 0; i < MAXR; i++)
		if (!SEEN[i].id[0]) {
			snprintf(SEEN[i].id, sizeof(SEEN[i].id), "%s", id);
			snprintf(RIDS[i], sizeof(RIDS[i]), "%s", id); /* teardown kills its holder */
			return &SEEN[i];
		}
	return NULL;
}

static void hook_state(void *data, const char *id, enum sr_rstate st, const char *why)
{
	(void)data;
	struct seen *s = seen_for(id);
	if (s) {
		s->states[st]++;
		snprintf(s->last_why, sizeof(s->last_why), "%s", why ? why : "");
	}
}

/* The test TUI of test_relay.c: a banner, then echoes lines. */
static const char TUI[] = "#!/bin/sh\n"
			  "echo \"tui-ready\"\n"
			  "echo \"pwd=$(pwd)\"\n"
			  "echo \"inline=$CLAUDE_CODE_DISABLE_ALTERNATE_SCREEN\"\n"
			  "echo \"secret=${SMRELAY_TEST_SECRET:-unset}\"\n"
			  "echo \"token=${SM_MM_TOKEN:-unset}\"\n"
			  "while IFS= read -r l; do\n"
			  "  [ \"$l\" = quit ] && exit 0\n"
			  "  echo \"got:$l\"\n"
			  "done\n";

static void relay_setup(void)
{
	if (!tmux_available())
		cr_skip_test("tmux is not installed");
	memset(SEEN, 0, sizeof(SEEN));
	renv_reset();
	sr_log_set_level(SR_LOG_WARN);
	snprintf(TMP, sizeof(TMP), "/tmp/smrelay-local-XXXXXX");
	cr_assert_not_null(mkdtemp(TMP));
	cr_assert_eq(sr_loop_new(&L), 0);
	char path[512], buf[1024];
	snprintf(path, sizeof(path), "%s/tui.sh", TMP);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(TUI, f);
	fclose(f);
	chmod(path, 0755);
	snprintf(path, sizeof(path), "%s/demo", TMP);
	cr_assert_eq(mkdir(path, 0755), 0);
	/* no SM_VM_USER, key or known_hosts: none needed for local */
	renv_set("SM_VM_HOST", "local");
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
	renv_set("SM_CONTAINER_ENV", "SMRELAY_TEST_SECRET");
	renv_set("SM_COLS", "80");
	renv_set("SM_ROWS", "24");
	char err[512];
	cr_assert_eq(sr_config_load(&CFG, renv_get, err, sizeof(err)), 0, "config: %s", err);
	struct sr_relay_opts o = {
		.loop = L,
		.cfg = &CFG,
		.hooks = {.on_state = hook_state},
		.backoff_min_ms = 100,
		.backoff_max_ms = 500,
	};
	cr_assert_eq(sr_relay_new(&o, &R, err, sizeof(err)), 0, "relay: %s", err);
	double end = now_s() + GUARD_S;
	while (!sr_host_ready(sr_relay_host(R, 0))) {
		cr_assert(now_s() < end, "local host not ready: %s", sr_host_last_error(sr_relay_host(R, 0)));
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

static void relay_start(char *id)
{
	struct done d = {0};
	char err[512];
	int rc = sr_relay_start(R, 1, (const char *const[]){"demo"}, "alice", on_done, &d, id, err, sizeof(err));
	cr_assert_eq(rc, 0, "start: %d %s", rc, err);
	seen_for(id);
	wait_done(&d);
	cr_assert_eq(d.rc, 0, "start failed: %s", d.msg);
}

static char *relay_screen(const char *id, const char *text)
{
	double end = now_s() + GUARD_S;
	for (;;) {
		char *t = NULL;
		int rc = sr_relay_screen_text(R, id, &t);
		if (rc == 0 && strstr(t, text))
			return t;
		cr_assert(now_s() < end, "no '%s' on the screen of %s (rc %d):\n%s", text, id, rc, t ? t : "");
		free(t);
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
}

static void wait_state(const char *id, enum sr_rstate st, int count)
{
	double end = now_s() + GUARD_S;
	struct seen *s = seen_for(id);
	while (s->states[st] < count) {
		cr_assert(now_s() < end, "session %s never %s (last: %s)", id, sr_rstate_name(st), s->last_why);
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
}

static int holder_alive(const char *id)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "tmux -L smrelay-%s has-session -t main 2>/dev/null", id);
	return system(cmd) == 0;
}

static void pane_size(const char *id, const char *want)
{
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
		if (!strncmp(out, want, strlen(want)))
			return;
		cr_assert(now_s() < end, "pane is %s, want %s", out, want);
		cr_assert_geq(sr_loop_run_once(L, 50), 0);
	}
}

Test(local, relay_start_type_resize_stop)
{
	setenv("SMRELAY_TEST_SECRET", "s3cr3t 'quoted' $(id)", 1);
	setenv("SM_MM_TOKEN", "never-forwarded", 1);
	relay_setup();
	char id[16];
	relay_start(id);
	char *scr = relay_screen(id, "token=");
	char want[700];
	snprintf(want, sizeof(want), "tui-ready\npwd=%s/demo\ninline=1\nsecret=s3cr3t 'quoted' $(id)\ntoken=unset\n",
		 TMP);
	cr_assert_not_null(strstr(scr, want), "screen:\n%s", scr);
	free(scr);
	cr_assert(holder_alive(id));
	struct sr_relay_info info;
	cr_assert_eq(sr_relay_info(R, id, &info), 0);
	cr_assert_eq(info.state, SR_RS_RUNNING);
	cr_assert_str_eq(info.host, "local");

	cr_assert_eq(sr_relay_send_text(R, id, "hello relay"), 0);
	free(relay_screen(id, "got:hello relay"));
	cr_assert_eq(sr_relay_resize(R, id, 120, 40), 0);
	pane_size(id, "120x40");

	struct done d = {0};
	char err[256];
	cr_assert_eq(sr_relay_stop(R, id, on_done, &d, err, sizeof(err)), 0, "%s", err);
	wait_done(&d);
	cr_assert_eq(d.rc, 0, "%s", d.msg);
	cr_assert_str_eq(d.msg, "stopped");
	cr_assert_not(holder_alive(id));
	cr_assert_eq(sr_relay_list(R, NULL, 0), 0);
	cr_assert_eq(seen_for(id)->states[SR_RS_ENDED], 1);

	/* the program's own exit ends a session too */
	char id2[16];
	relay_start(id2);
	free(relay_screen(id2, "tui-ready"));
	cr_assert_eq(sr_relay_send_text(R, id2, "quit"), 0);
	wait_state(id2, SR_RS_ENDED, 1);
	cr_assert_str_eq(seen_for(id2)->last_why, "the program exited");

	sr_relay_free(R);
	R = NULL;
	cr_assert_eq(children(0), 0, "children left after the relay");
	unsetenv("SMRELAY_TEST_SECRET");
	unsetenv("SM_MM_TOKEN");
}

/* sr_host_drop on the local host: the session detaches, the connection is
 * made again and the session reattaches through its tmux holder. */
Test(local, relay_host_drop_reattaches)
{
	relay_setup();
	char id[16];
	relay_start(id);
	cr_assert_eq(sr_relay_send_text(R, id, "before-drop"), 0);
	free(relay_screen(id, "got:before-drop"));
	unsigned attempts = sr_host_attempts(sr_relay_host(R, 0));

	sr_host_drop(sr_relay_host(R, 0));
	wait_state(id, SR_RS_DETACHED, 1);
	cr_assert_eq(sr_relay_send_text(R, id, "lost?"), -ENOTCONN);
	wait_state(id, SR_RS_RUNNING, 2);
	cr_assert_str_eq(seen_for(id)->last_why, "reattached");
	cr_assert_gt(sr_host_attempts(sr_relay_host(R, 0)), attempts);
	char *scr = relay_screen(id, "got:before-drop");
	cr_assert_not_null(strstr(scr, "tui-ready"), "%s", scr);
	free(scr);
	cr_assert_eq(sr_relay_send_text(R, id, "after-drop"), 0);
	free(relay_screen(id, "got:after-drop"));
	cr_assert(holder_alive(id));

	/* the relay goes, the holder stays (as on a VM); no children left */
	sr_relay_free(R);
	R = NULL;
	cr_assert(holder_alive(id));
	cr_assert_eq(children(0), 0);
}
