/*
 * bench_relay.c — figures for the relay core (sr_relay) over loopback SSH
 * against real OpenSSH sshd instances (tests/sshd_harness.c), the way the
 * daemon runs sessions: through the repository / container / holder steps
 * and a tmux holder. Prints a report; asserts nothing.
 *
 *   a. start latency, sr_relay_start → the program's banner on the screen
 *      (sr_relay_screen_text), with its milestones: the program running
 *      (a timestamp it prints), RUNNING (the holder step answered), and
 *      for the podman path the shim's `run` / `exec` calls (a wrapper logs
 *      when each reached the VM). Runtime none, podman through
 *      tests/tools/fake-podman, and org/repo against a local bare git
 *      repository (file:// via SM_GIT_BASE_URL): the first start clones,
 *      the later ones use --worktree=wN. Each session is stopped before
 *      the next start (stop → done is reported too).
 *   b. memory and CPU of this process with many idle sessions
 *   c. CPU of this process with many sessions each receiving ~10 KB/s of
 *      TUI-like output, and how much of it reached the screens and ops
 *
 * sshd (tests/sshd_harness.c) allows 64 channels per connection
 * (MaxSessions 64), and the relay multiplexes all sessions of a VM host on
 * one connection: by default b and c use two sshd instances as two hosts
 * (SM_VM_HOSTS, least-loaded: 50 + 50). --hosts=1 --max-sessions=N puts
 * them all on one connection, raising MaxSessions in the bench's own copy
 * of the sshd config (rewritten, then SIGHUP).
 *
 * Options: --hosts=1|2 --max-sessions=N --sessions=N (b, c; default 100)
 * --starts=N (a; default 20) --secs=S (b, c; default 10) --only=a|b|c
 * --nodelay: an experiment — sets TCP_NODELAY on the relay's SSH sockets
 * once connected (through the duplicate sr_ssh_fd: same socket), which
 * the relay itself does not do (libssh's SSH_OPTIONS_NODELAY is off by
 * default), to show what Nagle's algorithm costs each step.
 *
 * sshd, tmux and the programs run on this machine too: only this
 * process's own CPU (getrusage RUSAGE_SELF) and memory are the relay's.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <linux/tcp.h>

#include "sr_argv.h"
#include "sr_config.h"
#include "sr_exec.h"
#include "sr_host.h"
#include "sr_log.h"
#include "sr_loop.h"
#include "sr_relay.h"
#include "sr_ssh.h"
#include "sshd_harness.h"

#define GUARD_S 60.0
#define MAXREC 1024
#define TUI_LINES 20
#define TUI_PAD "abcdefghijklmnopqrs"
#define TUI_LINE_FMT "\033[3%dmline %2d frame %7ld " TUI_PAD "\033[0m\r\n"

/* ---- options ---- */
static int OPT_HOSTS = 2, OPT_MAXSESS, OPT_SESSIONS = 100, OPT_STARTS = 20;
static double OPT_SECS = 10.0;
static char OPT_ONLY;
static int OPT_NODELAY;

static struct sshd D[2];
static int ND; /* sshd instances started */
static struct sr_loop *L;
static struct sr_relay *R;
static struct sr_config C;
static char TMP[256];
static char PODMAN[400], PODLOG[400], FRAMES[400];
static long PODLOG_OFF;
static int LOG_WARN, LOG_ERR;

/* ---- environment for sr_config_load ---- */
static struct kv {
	char name[64];
	char value[2048];
} ENV[40];
static size_t NENV;

static void env_set(const char *name, const char *value)
{
	for (size_t i = 0; i < NENV; i++)
		if (!strcmp(ENV[i].name, name)) {
			snprintf(ENV[i].value, sizeof(ENV[i].value), "%s", value);
			return;
		}
	if (NENV == sizeof(ENV) / sizeof(ENV[0]))
		abort();
	snprintf(ENV[NENV].name, sizeof(ENV[NENV].name), "%s", name);
	snprintf(ENV[NENV].value, sizeof(ENV[NENV].value), "%s", value);
	NENV++;
}

static void env_unset(const char *name)
{
	for (size_t i = 0; i < NENV; i++)
		if (!strcmp(ENV[i].name, name)) {
			ENV[i] = ENV[--NENV];
			return;
		}
}

static const char *env_get(const char *name)
{
	for (size_t i = 0; i < NENV; i++)
		if (!strcmp(ENV[i].name, name))
			return ENV[i].value;
	return NULL;
}

/* ---- clocks, process figures ---- */

/* Wall clock (realtime: the programs' timestamps come from date(1)). */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	char line[256];
	long v = -1;
	size_t n = strlen(field);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Busy and total jiffies of the whole machine (/proc/stat "cpu" line). */
static void sys_cpu(unsigned long long *busy, unsigned long long *total)
{
	unsigned long long v[8] = {0};
	*busy = *total = 0;
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (int i = 0; i < 8; i++)
			*total += v[i];
		*busy = *total - v[3] - v[4];
	}
	fclose(f);
}

/* Bytes received on a host's SSH TCP socket (ciphertext), -1 without one. */
static long long host_rx(size_t i)
{
	struct sr_ssh_driver *d = sr_host_driver(sr_relay_host(R, i));
	if (!d)
		return -1;
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(sr_ssh_fd(sr_ssh_driver_ssh(d)), IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -1;
	return (long long)ti.tcpi_bytes_received;
}

/* ---- what the hooks saw, per session ---- */
struct rec {
	char id[16];
	double t_start, t_running, t_done, t_stopped;
	int nrunning, ndetached, nended;
	int done, rc, stop_done, stop_rc;
	char msg[256];
	long op_frame; /* highest "frame N" in the ops, -1 before */
	long nlive, ncommit_lines;
	size_t op_bytes;
	long scr_frame0; /* screen's frame at the start of a window */
};
static struct rec REC[MAXREC];
static size_t NREC;

static struct rec *rec_find(const char *id)
{
	for (size_t i = NREC; i-- > 0;)
		if (!strcmp(REC[i].id, id))
			return &REC[i];
	return NULL;
}

static struct rec *rec_new(void)
{
	if (NREC == MAXREC)
		abort();
	struct rec *r = &REC[NREC++];
	memset(r, 0, sizeof(*r));
	r->op_frame = -1;
	return r;
}

static long max_frame(const char *t)
{
	long m = -1;
	for (const char *p = t; (p = strstr(p, "frame ")) != NULL; p += 6) {
		long v = strtol(p + 6, NULL, 10);
		if (v > m)
			m = v;
	}
	return m;
}

static void hook_op(void *data, const char *id, const struct vt_op *op)
{
	(void)data;
	struct rec *r = rec_find(id);
	if (!r)
		return;
	if (op->kind == VT_OP_LIVE && op->text) {
		r->nlive++;
		r->op_bytes += strlen(op->text);
		long f = max_frame(op->text);
		if (f > r->op_frame)
			r->op_frame = f;
	} else if (op->kind == VT_OP_COMMIT) {
		for (size_t i = 0; i < op->nlines; i++) {
			r->ncommit_lines++;
			r->op_bytes += strlen(op->lines[i]);
			long f = max_frame(op->lines[i]);
			if (f > r->op_frame)
				r->op_frame = f;
		}
	}
}

static void hook_state(void *data, const char *id, enum sr_rstate st, const char *why)
{
	(void)data;
	(void)why;
	struct rec *r = rec_find(id);
	if (!r)
		return;
	if (st == SR_RS_RUNNING && !r->nrunning++)
		r->t_running = now_s();
	else if (st == SR_RS_DETACHED)
		r->ndetached++;
	else if (st == SR_RS_ENDED)
		r->nended++;
}

static void on_start_done(void *data, int rc, const char *id, const char *msg)
{
	(void)id;
	struct rec *r = data;
	r->done = 1;
	r->rc = rc;
	r->t_done = now_s();
	snprintf(r->msg, sizeof(r->msg), "%s", msg);
}

static void on_stop_done(void *data, int rc, const char *id, const char *msg)
{
	(void)id;
	(void)msg;
	struct rec *r = data;
	r->stop_done = 1;
	r->stop_rc = rc;
	r->t_stopped = now_s();
}

static void log_sink(void *data, enum sr_log_level level, const char *line)
{
	(void)data;
	if (level == SR_LOG_WARN)
		LOG_WARN++;
	if (level >= SR_LOG_ERROR)
		LOG_ERR++;
	if (level >= SR_LOG_WARN && LOG_WARN + LOG_ERR <= 20)
		fprintf(stderr, "  [relay log] %s\n", line);
}

/* ---- setup and cleanup ---- */

static void kill_holders(void)
{
	for (size_t i = 0; i < NREC; i++) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "tmux -L smrelay-%.15s kill-server 2>/dev/null; "
			 "rm -f \"/tmp/tmux-$(id -u)/smrelay-%.15s\"", REC[i].id, REC[i].id);
		if (system(cmd) < 0) {
		}
	}
}

static void cleanup(void)
{
	if (R) {
		sr_relay_free(R);
		R = NULL;
	}
	sr_config_free(&C);
	kill_holders();
	if (PODMAN[0]) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "'%s' rm -f -a >/dev/null 2>&1", PODMAN);
		if (system(cmd) < 0) {
		}
	}
	for (int i = 0; i < ND; i++)
		sshd_stop(&D[i]);
	ND = 0;
	if (TMP[0]) {
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", TMP);
		if (system(cmd) < 0) {
		}
		TMP[0] = '\0';
	}
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench_relay: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	cleanup();
	exit(1);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		die("cannot write %s", path);
	chmod(path, mode);
}

static void append_file(const char *dst, const char *src)
{
	FILE *in = fopen(src, "r"), *out = fopen(dst, "a");
	if (!in || !out)
		die("cannot copy %s to %s", src, dst);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			die("cannot write %s", dst);
	fclose(in);
	if (fclose(out) != 0)
		die("cannot write %s", dst);
}

static void sh(const char *cmd)
{
	if (system(cmd) != 0)
		die("command failed: %s", cmd);
}

static void run_for(double secs)
{
	double end = now_s() + secs;
	for (double t = now_s(); t < end; t = now_s())
		if (sr_loop_run_once(L, (int)((end - t) * 1000.0) + 1) < 0)
			die("sr_loop_run_once failed");
}

static int port_accepts(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* --max-sessions: the bench's own sshd config, rewritten; sshd re-executes
 * itself on SIGHUP with the new one. */
static void raise_max_sessions(struct sshd *d, int n)
{
	char path[PATH_MAX], text[8192];
	sshd_path(d, "sshd_config", path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (!f)
		die("cannot read %s", path);
	size_t len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	char *p = strstr(text, "MaxSessions ");
	if (!p)
		die("no MaxSessions in %s", path);
	char out[8400];
	snprintf(out, sizeof(out), "%.*sMaxSessions %d%s", (int)(p - text), text, n,
		 p + strcspn(p, "\n"));
	write_file(path, out, 0644);
	kill(d->pid, SIGHUP);
	struct timespec ts = {0, 200 * 1000000L};
	nanosleep(&ts, NULL);
	double end = now_s() + 10;
	while (!port_accepts(d->port)) {
		if (now_s() > end)
			die("sshd did not come back after SIGHUP");
		nanosleep(&ts, NULL);
	}
}

/* The banner program: a timestamp of when it runs, then idle. */
static const char BANNER[] = "#!/bin/sh\n"
			     "t=$(date +%s.%N)\n"
			     "echo \"tui-ready $t\"\n"
			     "exec sleep 1000000\n";

/* bench_session's generator (20 coloured lines with cursor moves, ~10 per
 * second), plus a file per program with its frame counter. */
static const char TUI_FMT[] =
	"#!/bin/sh\n"
	"f='%s/frames.'$$\n"
	"n=0; while :; do printf '\\033[H\\033[2J'; i=0; "
	"while [ $i -lt 20 ]; do "
	"printf '\\033[3%%dmline %%2d frame %%7d %%s\\033[0m\\r\\n' $((i%%7)) $i $n " TUI_PAD "; "
	"i=$((i+1)); done; echo $n >\"$f\"; n=$((n+1)); sleep 0.1; done\n";

static size_t tui_frame_bytes(void)
{
	char buf[256];
	size_t total = strlen("\033[H\033[2J");
	for (int i = 0; i < TUI_LINES; i++)
		total += (size_t)snprintf(buf, sizeof(buf), TUI_LINE_FMT, i % 7, i, 0L);
	return total;
}

static void setup(void)
{
	for (int i = 0; i < 2; i++) {
		if (sshd_start(&D[i]) < 0)
			die("sshd_start: %s", D[i].err);
		ND++;
		if (OPT_MAXSESS)
			raise_max_sessions(&D[i], OPT_MAXSESS);
	}
	snprintf(TMP, sizeof(TMP), "/tmp/smrelay-bench-XXXXXX");
	if (!mkdtemp(TMP))
		die("mkdtemp: %s", strerror(errno));
	char path[600], src[PATH_MAX], buf[2048];
	/* one key for both hosts, one known_hosts with both keys */
	append_file(sshd_path(&D[1], "authorized_keys", path, sizeof(path)),
		    sshd_path(&D[0], "user_key.pub", src, sizeof(src)));
	char kh[400];
	snprintf(kh, sizeof(kh), "%s/known_hosts", TMP);
	write_file(kh, "", 0644);
	append_file(kh, D[0].known_hosts);
	append_file(kh, D[1].known_hosts);

	snprintf(path, sizeof(path), "%s/banner.sh", TMP);
	write_file(path, BANNER, 0755);
	snprintf(FRAMES, sizeof(FRAMES), "%s/frames", TMP);
	mkdir(FRAMES, 0755);
	snprintf(buf, sizeof(buf), TUI_FMT, FRAMES);
	snprintf(path, sizeof(path), "%s/tui.sh", TMP);
	write_file(path, buf, 0755);
	snprintf(path, sizeof(path), "%s/demo", TMP);
	mkdir(path, 0755);

	/* the podman path: the shim with its own root, and a log of when
	 * each of its calls reached the VM */
	snprintf(PODMAN, sizeof(PODMAN), "%s/podman", TMP);
	snprintf(PODLOG, sizeof(PODLOG), "%s/podman.log", TMP);
	snprintf(buf, sizeof(buf),
		 "#!/bin/sh\nprintf '%%s %%s\\n' \"$(date +%%s.%%N)\" \"$1\" >>'%s'\n"
		 "FAKE_PODMAN_ROOT='%s/fake-root' exec '%s/fake-podman' \"$@\"\n",
		 PODLOG, TMP, SR_TOOLS_DIR);
	write_file(PODMAN, buf, 0755);

	/* a bare repository served by path: 20 small files, 3 commits */
	snprintf(buf, sizeof(buf),
		 "set -e; cd '%s'; export HOME=$PWD GIT_CONFIG_NOSYSTEM=1; "
		 "git init -q -b main src; cd src; "
		 "for c in 1 2 3; do for i in $(seq 1 20); do echo \"file $i rev $c\" >f$i.txt; done; "
		 "git add -A; git -c user.name=b -c user.email=b@b commit -q -m rev$c; done; "
		 "mkdir -p ../remote/acme; git clone -q --bare . ../remote/acme/api.git",
		 TMP);
	sh(buf);

	env_set("SM_VM_USER", D[0].user);
	env_set("SM_VM_SSH_KEY_PATH", D[0].user_key);
	env_set("SM_VM_KNOWN_HOSTS", kh);
	snprintf(buf, sizeof(buf), "{\"demo\": \"%s/demo\"}", TMP);
	env_set("SM_PROJECTS", buf);
	snprintf(buf, sizeof(buf), "%s/repos", TMP);
	env_set("SM_REPOS_BASE_PATH", buf);
	snprintf(buf, sizeof(buf), "%s/worktrees", TMP);
	env_set("SM_WORKTREES_PATH", buf);
	snprintf(buf, sizeof(buf), "file://%s/remote/", TMP);
	env_set("SM_GIT_BASE_URL", buf);
	/* the forwarding path runs as in production: one variable, set */
	setenv("SMRELAY_BENCH_TOKEN", "not-a-secret", 1);
	env_set("SM_CONTAINER_ENV", "SMRELAY_BENCH_TOKEN");
	env_set("SM_CONTAINER_IMAGE", "localhost/smrelay-agent:bench");
	env_set("SM_COLS", "80");
	env_set("SM_ROWS", "24");
}

/* A relay on nhosts hosts with the given runtime and program; its own
 * state dir. Returns the time until every host was connected (ms). */
static double relay_new(int nhosts, const char *runtime, const char *program, const char *tag)
{
	char buf[600], err[512];
	if (nhosts == 1) {
		env_unset("SM_VM_HOSTS");
		snprintf(buf, sizeof(buf), "127.0.0.1:%u", D[0].port);
		env_set("SM_VM_HOST", buf);
	} else {
		env_unset("SM_VM_HOST");
		snprintf(buf, sizeof(buf), "127.0.0.1:%u,127.0.0.1:%u", D[0].port, D[1].port);
		env_set("SM_VM_HOSTS", buf);
	}
	env_set("SM_CONTAINER_RUNTIME", runtime);
	if (!strcmp(runtime, "podman"))
		env_set("SM_CONTAINER_RUNTIME_BIN", PODMAN);
	else
		env_unset("SM_CONTAINER_RUNTIME_BIN");
	snprintf(buf, sizeof(buf), "%s/%s", TMP, program);
	env_set("SM_CLAUDE_COMMAND", buf);
	snprintf(buf, sizeof(buf), "%s/state-%s", TMP, tag);
	env_set("SM_STATE_DIR", buf);
	sr_config_free(&C);
	if (sr_config_load(&C, env_get, err, sizeof(err)) < 0)
		die("config: %s", err);
	struct sr_relay_opts o = {
		.loop = L,
		.cfg = &C,
		.hooks = {.on_op = hook_op, .on_state = hook_state},
	};
	double t0 = now_s();
	if (sr_relay_new(&o, &R, err, sizeof(err)) < 0)
		die("relay: %s", err);
	for (size_t i = 0; i < sr_relay_nhosts(R); i++)
		while (!sr_host_ready(sr_relay_host(R, i))) {
			if (now_s() - t0 > GUARD_S)
				die("host %zu not ready: %s", i, sr_host_last_error(sr_relay_host(R, i)));
			sr_loop_run_once(L, 50);
		}
	double ms = (now_s() - t0) * 1000.0;
	for (size_t i = 0; OPT_NODELAY && i < sr_relay_nhosts(R); i++) {
		int one = 1;
		int fd = sr_ssh_fd(sr_ssh_driver_ssh(sr_host_driver(sr_relay_host(R, i))));
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			die("TCP_NODELAY: %s", strerror(errno));
	}
	return ms;
}

static void relay_free(void)
{
	sr_relay_free(R);
	R = NULL;
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* p50 / p95 / max of the non-NaN values, as one table row. */
static void row(const char *label, const double *v, size_t n)
{
	double s[MAXREC];
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!isnan(v[i]))
			s[k++] = v[i];
	if (!k) {
		printf("    %-44s %9s\n", label, "-");
		return;
	}
	qsort(s, k, sizeof(double), cmp_double);
	size_t i50 = (size_t)(0.5 * (double)(k - 1) + 0.5), i95 = (size_t)(0.95 * (double)(k - 1) + 0.5);
	printf("    %-44s %9.1f %9.1f %9.1f", label, s[i50], s[i95], s[k - 1]);
	if (k != n)
		printf("   (%zu of %zu)", k, n);
	printf("\n");
}

static double median(const double *v, size_t n)
{
	double s[MAXREC];
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!isnan(v[i]))
			s[k++] = v[i];
	if (!k)
		return NAN;
	qsort(s, k, sizeof(double), cmp_double);
	return s[(size_t)(0.5 * (double)(k - 1) + 0.5)];
}

/* ---- a. start latency ------------------------------------------------------ */

struct lat {
	double prog, running, screen, stop;  /* ms after sr_relay_start / stop */
	double p_run, p_exec1, p_exec2;       /* podman shim calls (ms), NaN if none */
};

/* Podman calls logged since the last look: the first `run`, then the
 * first two `exec` (holder, attach), relative to t0. */
static void podman_calls(double t0, struct lat *l)
{
	FILE *f = fopen(PODLOG, "r");
	if (!f)
		return;
	fseek(f, PODLOG_OFF, SEEK_SET);
	char line[256];
	int nexec = 0;
	while (fgets(line, sizeof(line), f)) {
		char cmd[64] = "";
		double t = 0;
		if (sscanf(line, "%lf %63s", &t, cmd) != 2)
			continue;
		double ms = (t - t0) * 1000.0;
		if (!strcmp(cmd, "run") && isnan(l->p_run))
			l->p_run = ms;
		else if (!strcmp(cmd, "exec") && nexec == 0)
			l->p_exec1 = ms, nexec++;
		else if (!strcmp(cmd, "exec") && nexec == 1)
			l->p_exec2 = ms, nexec++;
	}
	fclose(f);
}

static void podman_log_skip(void)
{
	FILE *f = fopen(PODLOG, "r");
	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	PODLOG_OFF = ftell(f);
	fclose(f);
}

static void lat_one(int argc, const char *const *argv, struct lat *l)
{
	*l = (struct lat){NAN, NAN, NAN, NAN, NAN, NAN, NAN};
	podman_log_skip();
	struct rec *r = rec_new();
	char err[512];
	double t0 = now_s();
	r->t_start = t0;
	if (sr_relay_start(R, argc, argv, "bench", on_start_done, r, r->id, err, sizeof(err)) < 0)
		die("start %s: %s", argv[0], err);
	for (;;) {
		if (r->done && r->rc < 0)
			die("start %s failed: %s", argv[0], r->msg);
		if (r->nrunning) {
			char *t = NULL;
			if (sr_relay_screen_text(R, r->id, &t) == 0) {
				const char *p = strstr(t, "tui-ready ");
				if (p && strchr(p, '\n')) {
					l->screen = (now_s() - t0) * 1000.0;
					l->prog = (strtod(p + 10, NULL) - t0) * 1000.0;
					free(t);
					break;
				}
			}
			free(t);
		}
		if (now_s() - t0 > GUARD_S)
			die("no banner on the screen of %s", r->id);
		sr_loop_run_once(L, 20);
	}
	l->running = (r->t_running - t0) * 1000.0;
	podman_calls(t0, l);
	double s0 = now_s();
	if (sr_relay_stop(R, r->id, on_stop_done, r, err, sizeof(err)) < 0)
		die("stop %s: %s", r->id, err);
	while (!r->stop_done) {
		if (now_s() - s0 > GUARD_S)
			die("stop of %s never finished", r->id);
		sr_loop_run_once(L, 20);
	}
	if (r->stop_rc < 0)
		die("stop of %s failed", r->id);
	l->stop = (r->t_stopped - s0) * 1000.0;
}

static void lat_report(const char *title, const struct lat *l, size_t n, int podman)
{
	double v[MAXREC] = {0};
	printf("  %s (%zu starts)%*s %9s %9s %9s\n", title, n, (int)(38 - strlen(title)), "",
	       "p50 ms", "p95 ms", "max ms");
#define COL(field, label)                                                                   \
	do {                                                                                \
		for (size_t i = 0; i < n; i++)                                              \
			v[i] = l[i].field;                                                  \
		row(label, v, n);                                                           \
	} while (0)
	if (podman)
		COL(p_run, "podman run -d reached the VM");
	if (podman)
		COL(p_exec1, "podman exec (holder) reached the VM");
	COL(prog, "the program runs (its own timestamp)");
	COL(running, "RUNNING (holder step answered)");
	if (podman)
		COL(p_exec2, "podman exec -t (attach) reached the VM");
	COL(screen, "banner on the screen  = start latency");
	COL(stop, "stop -> done (holder/container removed)");
#undef COL
}

struct exec_wait {
	int done, rc, status;
};

static void exec_cb(void *data, const struct sr_exec_res *res)
{
	struct exec_wait *w = data;
	w->done = 1;
	w->rc = res->rc;
	w->status = res->status;
}

/* One remote `true` on the relay's connection to host 0: the floor of
 * every step (one exec channel: open, exec request, exit status, close). */
static void bench_exec_floor(size_t n)
{
	double v[MAXREC] = {0};
	struct sr_argv a = {0};
	if (sr_argv_push(&a, "true") < 0)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		struct exec_wait w = {0};
		char err[256];
		double t0 = now_s();
		if (sr_exec_start(sr_host_driver(sr_relay_host(R, 0)), &a, NULL, 0, 10000, exec_cb, &w,
				  NULL, err, sizeof(err)) < 0)
			die("exec: %s", err);
		while (!w.done)
			sr_loop_run_once(L, 20);
		if (w.rc < 0 || w.status != 0)
			die("exec true failed");
		v[i] = (now_s() - t0) * 1000.0;
	}
	sr_argv_free(&a);
	printf("  for reference, one exec channel running `true` (%zu runs)   %9s %9s %9s\n", n,
	       "p50 ms", "p95 ms", "max ms");
	row("open + exec + exit status + close", v, n);
}

/* Typing: sr_relay_send_text → the echo on the screen (the terminal's
 * own echo: the banner program sleeps), one line at a time. */
static void bench_typing(size_t n)
{
	double v[MAXREC] = {0};
	struct rec *r = rec_new();
	char err[512];
	double t0 = now_s();
	if (sr_relay_start(R, 1, (const char *[]){"demo"}, "bench", on_start_done, r, r->id, err,
			   sizeof(err)) < 0)
		die("start: %s", err);
	for (;;) {
		char *t = NULL;
		int ok = sr_relay_screen_text(R, r->id, &t) == 0 && strstr(t, "tui-ready");
		free(t);
		if (ok)
			break;
		if (now_s() - t0 > GUARD_S)
			die("typing: no banner");
		sr_loop_run_once(L, 20);
	}
	run_for(0.5);
	for (size_t i = 0; i < n; i++) {
		char word[32];
		snprintf(word, sizeof(word), "typed%zu", i);
		double t1 = now_s();
		if (sr_relay_send_text(R, r->id, word) < 0)
			die("send_text failed");
		for (;;) {
			char *t = NULL;
			int ok = sr_relay_screen_text(R, r->id, &t) == 0 && strstr(t, word);
			free(t);
			if (ok)
				break;
			if (now_s() - t1 > GUARD_S)
				die("typing: no echo");
			sr_loop_run_once(L, 20);
		}
		v[i] = (now_s() - t1) * 1000.0;
		run_for(0.05);
	}
	printf("  typing, one line at a time (%zu lines)%*s %9s %9s %9s\n", n, 21, "", "p50 ms",
	       "p95 ms", "max ms");
	row("sr_relay_send_text -> echo on the screen", v, n);
	if (sr_relay_stop(R, r->id, on_stop_done, r, err, sizeof(err)) < 0)
		die("stop: %s", err);
	while (!r->stop_done)
		sr_loop_run_once(L, 20);
}

static void bench_latency(void)
{
	size_t n = (size_t)OPT_STARTS;
	static struct lat none[MAXREC], pod[MAXREC], wt[MAXREC], clone1;
	printf("\n== a. start latency: sr_relay_start -> banner on the screen (one host, sequential,"
	       " each stopped before the next) ==\n");
	printf("  milestones are ms after sr_relay_start (wall clock; the program and the shim"
	       " stamp with date(1))\n");

	double conn = relay_new(1, "none", "banner.sh", "lat-none");
	printf("  relay start -> host connected (connect + host key + auth): %.1f ms\n", conn);
	lat_one(1, (const char *[]){"demo"}, &none[0]); /* warm-up, not counted */
	for (size_t i = 0; i < n; i++)
		lat_one(1, (const char *[]){"demo"}, &none[i]);
	lat_report("runtime none, static project", none, n, 0);
	bench_exec_floor(n);
	bench_typing(n);
	relay_free();

	relay_new(1, "podman", "banner.sh", "lat-podman");
	lat_one(1, (const char *[]){"demo"}, &pod[0]);
	for (size_t i = 0; i < n; i++)
		lat_one(1, (const char *[]){"demo"}, &pod[i]);
	lat_report("runtime podman (fake-podman shim)", pod, n, 1);
	relay_free();

	relay_new(1, "none", "banner.sh", "lat-repo");
	lat_one(1, (const char *[]){"acme/api"}, &clone1);
	for (size_t i = 0; i < n; i++) {
		char w[48];
		snprintf(w, sizeof(w), "--worktree=w%zu", i + 1);
		lat_one(2, (const char *[]){"acme/api", w}, &wt[i]);
	}
	printf("  org/repo, runtime none, local bare repo (file://, 20 files, 3 commits; SM_AUTO_PULL"
	       " on)\n");
	printf("    first start (clone): program runs %.1f ms, RUNNING %.1f ms, banner on the screen"
	       " %.1f ms, stop %.1f ms\n",
	       clone1.prog, clone1.running, clone1.screen, clone1.stop);
	lat_report("later starts --worktree=wN (fetch + worktree add)", wt, n, 0);
	double nprog[MAXREC], wprog[MAXREC];
	for (size_t i = 0; i < n; i++) {
		nprog[i] = none[i].prog;
		wprog[i] = wt[i].prog;
	}
	printf("  repository step (p50 'program runs', repo minus static): clone %.1f ms, worktree"
	       " %.1f ms\n",
	       clone1.prog - median(nprog, n), median(wprog, n) - median(nprog, n));
	relay_free();
}

/* ---- b. idle sessions, c. TUI output ------------------------------------------ */

/* Starts n sessions at once; waits for every answer and for want on every
 * screen. Returns the records (consecutive in REC). */
static struct rec *start_many(int n, const char *want, double *ms_all)
{
	struct rec *first = NULL;
	double t0 = now_s();
	int refused = 0;
	char err[512], firsterr[512] = "";
	for (int i = 0; i < n; i++) {
		struct rec *r = rec_new();
		if (!first)
			first = r;
		r->t_start = now_s();
		if (sr_relay_start(R, 1, (const char *[]){"demo"}, "bench", on_start_done, r, r->id,
				   err, sizeof(err)) < 0) {
			r->done = 1;
			r->rc = -1;
			snprintf(r->msg, sizeof(r->msg), "refused: %.200s", err);
			if (!refused++)
				snprintf(firsterr, sizeof(firsterr), "%s", err);
		}
	}
	int failed = 0;
	for (int i = 0; i < n; i++) {
		struct rec *r = first + i;
		while (!r->done) {
			if (now_s() - t0 > GUARD_S)
				die("start of %s never answered", r->id);
			sr_loop_run_once(L, 50);
		}
		if (r->rc < 0 && failed++ < 3)
			fprintf(stderr, "  start %d failed: %s\n", i, r->msg);
	}
	if (failed)
		die("%d of %d starts failed (MaxSessions of the sshd? see --hosts/--max-sessions)",
		    failed, n);
	for (int i = 0; i < n; i++) {
		struct rec *r = first + i;
		for (;;) {
			char *t = NULL;
			int ok = sr_relay_screen_text(R, r->id, &t) == 0 && strstr(t, want);
			free(t);
			if (ok)
				break;
			if (now_s() - t0 > GUARD_S)
				die("no '%s' on the screen of %s", want, r->id);
			sr_loop_run_once(L, 50);
		}
	}
	*ms_all = (now_s() - t0) * 1000.0;
	return first;
}

/* Stops n sessions, at most STOP_WAVE in flight: each stop opens an exec
 * channel while the session's PTY channel may still count against the
 * sshd's MaxSessions, and a refused channel leaves the session STOPPING
 * for good (see the report). */
#define STOP_WAVE 8

static void stop_many(struct rec *first, int n, double *ms_all)
{
	double t0 = now_s();
	char err[256];
	int next = 0, answered = 0;
	while (answered < n) {
		while (next < n && next - answered < STOP_WAVE) {
			if (sr_relay_stop(R, first[next].id, on_stop_done, &first[next], err,
					  sizeof(err)) < 0)
				die("stop %s: %s", first[next].id, err);
			next++;
		}
		if (now_s() - t0 > GUARD_S)
			die("stop of %s never finished", first[answered].id);
		sr_loop_run_once(L, 50);
		while (answered < next && first[answered].stop_done)
			answered++;
	}
	*ms_all = (now_s() - t0) * 1000.0;
}

static void per_host(struct rec *first, int n)
{
	printf("  sessions per host:");
	for (size_t h = 0; h < sr_relay_nhosts(R); h++) {
		int k = 0;
		for (int i = 0; i < n; i++) {
			struct sr_relay_info info;
			if (sr_relay_info(R, first[i].id, &info) == 0 &&
			    !strcmp(info.host, sr_host_name(sr_relay_host(R, h))))
				k++;
		}
		printf(" %s %d%s", sr_host_name(sr_relay_host(R, h)), k,
		       h + 1 < sr_relay_nhosts(R) ? "," : "\n");
	}
}

static void bench_idle(void)
{
	int n = OPT_SESSIONS;
	printf("\n== b. %d idle sessions (runtime none, tmux holders, program: banner then sleep)"
	       " ==\n",
	       n);
	relay_new(OPT_HOSTS, "none", "banner.sh", "idle");
	malloc_trim(0);
	run_for(0.3);
	long before = status_kib("VmRSS");
	struct mallinfo2 m0 = mallinfo2();
	double ms_up;
	struct rec *first = start_many(n, "tui-ready", &ms_up);
	double conc[MAXREC];
	for (int i = 0; i < n; i++)
		conc[i] = (first[i].t_done - first[i].t_start) * 1000.0;
	run_for(1.5); /* ops batching, quiet periods */
	long after = status_kib("VmRSS");
	struct mallinfo2 m1 = mallinfo2();
	per_host(first, n);
	printf("  %d started at once: all on the screen after %.0f ms; each start -> RUNNING:\n", n,
	       ms_up);
	printf("    %-44s %9s %9s %9s\n", "", "p50 ms", "p95 ms", "max ms");
	row("start -> RUNNING, under a start storm", conc, (size_t)n);
	printf("  VmRSS before %ld KiB, after %ld KiB: %.1f KiB per idle session\n", before, after,
	       (double)(after - before) / n);
	printf("  malloc in use (mallinfo2 uordblks + hblkhd): +%.1f KiB per idle session\n",
	       ((double)(m1.uordblks + m1.hblkhd) - (double)(m0.uordblks + m0.hblkhd)) / 1024.0 / n);

	double c0 = cpu_s(), w0 = now_s();
	unsigned long long sb0, st0, sb1, st1;
	sys_cpu(&sb0, &st0);
	run_for(OPT_SECS);
	sys_cpu(&sb1, &st1);
	double dc = cpu_s() - c0, dw = now_s() - w0;
	printf("  our CPU over %.1f s with %d idle sessions: %.1f ms (%.3f %% of one core)\n", dw, n,
	       dc * 1000.0, 100.0 * dc / dw);
	if (st1 > st0)
		printf("  (whole machine meanwhile: %.1f %% busy)\n",
		       100.0 * (double)(sb1 - sb0) / (double)(st1 - st0));
	int detached = 0;
	for (int i = 0; i < n; i++)
		detached += first[i].ndetached;
	double ms_stop;
	stop_many(first, n, &ms_stop);
	printf("  stopping all %d, %d at a time: %.0f ms; detaches seen: %d\n", n, STOP_WAVE, ms_stop,
	       detached);
	relay_free();
}

static long screen_frame(const char *id)
{
	char *t = NULL;
	long f = -1;
	if (sr_relay_screen_text(R, id, &t) == 0)
		f = max_frame(t);
	free(t);
	return f;
}

/* Sum of the programs' frame counters (one file each). */
static long long frames_written(int *nfiles)
{
	DIR *d = opendir(FRAMES);
	long long sum = 0;
	*nfiles = 0;
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "frames.", 7))
			continue;
		char path[700], buf[64];
		snprintf(path, sizeof(path), "%s/%s", FRAMES, e->d_name);
		/* the shell truncates, then writes: an empty read is a race */
		for (int tries = 0; tries < 50; tries++) {
			FILE *f = fopen(path, "r");
			if (!f)
				break;
			int got = fgets(buf, sizeof(buf), f) != NULL;
			fclose(f);
			if (got) {
				sum += strtol(buf, NULL, 10);
				(*nfiles)++;
				break;
			}
			struct timespec ts = {0, 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	closedir(d);
	return sum;
}

static void bench_tui(void)
{
	int n = OPT_SESSIONS;
	size_t fb = tui_frame_bytes();
	printf("\n== c. %d sessions each receiving TUI-like output (runtime none, tmux holders,"
	       " 80x24) ==\n",
	       n);
	printf("  program: 20 coloured lines with cursor home + clear, %zu bytes a frame, then"
	       " sleep 0.1\n",
	       fb);
	relay_new(OPT_HOSTS, "none", "tui.sh", "tui");
	double ms_up;
	struct rec *first = start_many(n, "frame", &ms_up);
	per_host(first, n);
	run_for(1.0);

	int nf0, nf1;
	for (int i = 0; i < n; i++)
		first[i].scr_frame0 = screen_frame(first[i].id);
	long long w0f = frames_written(&nf0);
	long op0[MAXREC], live0 = 0, commit0 = 0;
	size_t opb0 = 0;
	for (int i = 0; i < n; i++) {
		op0[i] = first[i].op_frame;
		live0 += first[i].nlive;
		commit0 += first[i].ncommit_lines;
		opb0 += first[i].op_bytes;
	}
	long long rx0 = 0;
	for (size_t h = 0; h < sr_relay_nhosts(R); h++)
		rx0 += host_rx(h);
	unsigned long long sb0, st0, sb1, st1;
	sys_cpu(&sb0, &st0);
	double c0 = cpu_s(), w0 = now_s();
	run_for(OPT_SECS);
	double dc = cpu_s() - c0, dw = now_s() - w0;
	sys_cpu(&sb1, &st1);
	long long rx1 = 0;
	for (size_t h = 0; h < sr_relay_nhosts(R); h++)
		rx1 += host_rx(h);
	long long w1f = frames_written(&nf1);
	long long scr = 0, smin = -1, smax = 0, opf = 0;
	long live = 0, commit = 0;
	size_t opb = 0;
	int lagging = 0;
	for (int i = 0; i < n; i++) {
		long f1 = screen_frame(first[i].id);
		long d = f1 - first[i].scr_frame0;
		scr += d;
		if (smin < 0 || d < smin)
			smin = d;
		if (d > smax)
			smax = d;
		opf += first[i].op_frame - op0[i];
		lagging += first[i].op_frame < f1 - 60; /* ops > ~6 s behind the screen */
		live += first[i].nlive;
		commit += first[i].ncommit_lines;
		opb += first[i].op_bytes;
	}
	live -= live0;
	commit -= commit0;
	opb -= opb0;
	long long wrote = w1f - w0f;
	double plain = (double)wrote * (double)fb;
	printf("  window %.2f s (after all %d were on screen in %.0f ms, and 1 s warm-up):\n", dw, n,
	       ms_up);
	printf("  the programs wrote %lld frames (%d counters): %.1f frames/s per session,"
	       " %.1f KB/s per session, %.3f MB/s in all\n",
	       wrote, nf1, (double)wrote / n / dw, plain / dw / 1e3 / n, plain / dw / 1e6);
	printf("  SSH TCP sockets received %.3f MB/s (tmux's rendering of it, encrypted)\n",
	       (double)(rx1 - rx0) / dw / 1e6);
	printf("  our CPU: %.2f s user+sys over %.2f s = %.1f %% of one core (%.3f %% per session)\n",
	       dc, dw, 100.0 * dc / dw, 100.0 * dc / dw / n);
	if (st1 > st0)
		printf("  (whole machine, %ld CPUs, incl. sshd, tmux and the programs: %.0f %% busy)\n",
		       sysconf(_SC_NPROCESSORS_ONLN), 100.0 * (double)(sb1 - sb0) / (double)(st1 - st0));
	printf("  sanity — screens: frame counters advanced by %lld in all = %.1f %% of the frames"
	       " written (per session %lld..%lld)\n",
	       scr, wrote > 0 ? 100.0 * (double)scr / (double)wrote : 0.0, smin, smax);
	printf("  sanity — ops: %ld live updates (%.2f /s per session; digits-only changes are paced"
	       " at 5 s), %ld committed lines, %.1f KB of text; highest frame in the ops advanced by"
	       " %lld in all; %d sessions' ops more than ~6 s behind their screen\n",
	       live, (double)live / n / dw, commit, (double)opb / 1e3, opf, lagging);
	int detached = 0;
	for (int i = 0; i < n; i++)
		detached += first[i].ndetached;
	double ms_stop;
	stop_many(first, n, &ms_stop);
	printf("  stopping all %d, %d at a time: %.0f ms; detaches seen: %d\n", n, STOP_WAVE, ms_stop,
	       detached);
	relay_free();
}

/* ---- environment ------------------------------------------------------------------- */

static void first_line(const char *cmd, char *out, size_t len)
{
	out[0] = '\0';
	FILE *p = popen(cmd, "r");
	if (!p)
		return;
	if (!fgets(out, (int)len, p))
		out[0] = '\0';
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
}

static void print_env(void)
{
	struct utsname u;
	uname(&u);
	char model[256] = "?", mem[64] = "?", line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(model, sizeof(model), "%s", strchr(line, ':') + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	if (f)
		fclose(f);
	f = fopen("/proc/meminfo", "r");
	if (f && fgets(line, sizeof(line), f)) {
		long kb = 0;
		if (sscanf(line, "MemTotal: %ld", &kb) == 1)
			snprintf(mem, sizeof(mem), "%.1f GiB", (double)kb / 1048576.0);
	}
	if (f)
		fclose(f);
	time_t t = time(NULL);
	char date[64];
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&t));
	char ssh[128], tmux[64], git[64];
	first_line("ssh -V 2>&1", ssh, sizeof(ssh));
	first_line("tmux -V 2>&1", tmux, sizeof(tmux));
	first_line("git --version 2>&1", git, sizeof(git));
	printf("bench_relay — %s\n", date);
	printf("  machine: %ld CPUs online (%s), %s RAM, %s %s %s\n", sysconf(_SC_NPROCESSORS_ONLN),
	       model, mem, u.sysname, u.release, u.machine);
	printf("  software: %s; %s; %s; libssh %s\n", ssh, tmux, git, ssh_version(0));
	printf("  build: %s%s; sshd MaxSessions %s; hosts for b/c: %d%s\n",
#ifdef __OPTIMIZE__
	       "optimised",
#else
	       "not optimised",
#endif
#if defined(__SANITIZE_ADDRESS__)
	       ", ASan",
#else
	       "",
#endif
	       OPT_MAXSESS ? "raised by --max-sessions" : "64 (tests/sshd_harness.c)", OPT_HOSTS,
	       OPT_NODELAY ? "; --nodelay: TCP_NODELAY set by the bench on the relay's sockets" : "");
	if (OPT_MAXSESS)
		printf("  (MaxSessions %d)\n", OPT_MAXSESS);
	printf("  only this process's CPU and memory are the relay's: sshd, tmux and the programs"
	       " share the machine\n");
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_relay [--hosts=1|2] [--max-sessions=N] [--sessions=N]"
			" [--starts=N] [--secs=S] [--only=a|b|c] [--nodelay]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strncmp(a, "--hosts=", 8))
			OPT_HOSTS = atoi(a + 8);
		else if (!strncmp(a, "--max-sessions=", 15))
			OPT_MAXSESS = atoi(a + 15);
		else if (!strncmp(a, "--sessions=", 11))
			OPT_SESSIONS = atoi(a + 11);
		else if (!strncmp(a, "--starts=", 9))
			OPT_STARTS = atoi(a + 9);
		else if (!strncmp(a, "--secs=", 7))
			OPT_SECS = atof(a + 7);
		else if (!strncmp(a, "--only=", 7) && strchr("abc", a[7]) && a[7])
			OPT_ONLY = a[7];
		else if (!strcmp(a, "--nodelay"))
			OPT_NODELAY = 1;
		else
			usage();
	}
	if (OPT_HOSTS < 1 || OPT_HOSTS > 2 || OPT_SESSIONS < 1 || OPT_SESSIONS > 400 ||
	    OPT_STARTS < 1 || OPT_STARTS > 200 || OPT_SECS <= 0 || OPT_MAXSESS < 0)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!sshd_available()) {
		printf("bench_relay: OpenSSH is not installed (%s or ssh-keygen); skipped\n", SSHD_BIN);
		return 0;
	}
	if (system("command -v tmux >/dev/null 2>&1 && command -v git >/dev/null 2>&1") != 0) {
		printf("bench_relay: tmux or git is not installed; skipped\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	print_env();
	sr_log_set_level(SR_LOG_WARN);
	sr_log_set_sink(log_sink, NULL);
	if (sr_loop_new(&L) < 0)
		die("sr_loop_new failed");
	setup();
	if (!OPT_ONLY || OPT_ONLY == 'a')
		bench_latency();
	if (!OPT_ONLY || OPT_ONLY == 'b')
		bench_idle();
	if (!OPT_ONLY || OPT_ONLY == 'c')
		bench_tui();
	printf("\nrelay log: %d warnings, %d errors\n", LOG_WARN, LOG_ERR);
	cleanup();
	sr_loop_free(L);
	return 0;
}
