/*
 * bench_attach.c — figures for `smrelay attach` over the control socket,
 * against a real `smrelay serve` child process whose VM is a real OpenSSH
 * sshd on loopback (tests/sshd_harness.c) with the `none` runtime (the
 * session holder is a tmux server of this user). The bench speaks the
 * control protocol itself (sr_ctl_proto.h: one JSON request line, then
 * frames), so no terminal is involved. Prints measurements; asserts nothing.
 *
 *   1. a control request round trip (connect, `list`, reply) — the floor
 *   2. attach-to-first-repaint: connect + attach request → the repaint
 *      ('o' frame) fully received; read-only and interactive (same size)
 *   3. keystroke round trip: one byte in an 'i' frame → relay → SSH → the
 *      holder's tmux → the program's terminal echoes it (`cat` in cooked
 *      mode) → back the same way → the 'o' frame carrying it
 *
 * Note: sshd, the holder and the daemon all run on this machine.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sr_ctl_proto.h"
#include "sshd_harness.h"

#define N_REQ 200
#define N_REPAINT 50
#define N_KEYS 200
#define N_WARMUP 20
#define GUARD_MS 30000

static struct sshd D;
static char TMP[256], STATE[300], SOCK[320], LOG[300];
static pid_t DAEMON;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench_attach: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (LOG[0]) {
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "tail -n 30 '%s' >&2", LOG);
		if (system(cmd) < 0) {
		}
	}
	if (DAEMON > 0)
		kill(DAEMON, SIGKILL);
	sshd_stop(&D);
	exit(1);
}

/* ---- a control connection: a reply line, then frames ---- */
struct conn {
	int fd;
	unsigned char buf[1 << 16];
	size_t len;
};

static int conn_open(struct conn *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, SOCK, strlen(SOCK) + 1);
	c->len = 0;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(c->fd);
		c->fd = -1;
		return -e;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void write_all(int fd, const void *p, size_t n)
{
	const char *b = p;
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write: %s", strerror(errno));
		b += w;
		n -= (size_t)w;
	}
}

/* More bytes into the buffer; 0 on EOF, -1 after timeout_ms. */
static int conn_fill(struct conn *c, int timeout_ms)
{
	if (c->len == sizeof(c->buf))
		die("frame buffer full");
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	int r = poll(&p, 1, timeout_ms);
	if (r == 0)
		return -1;
	if (r < 0)
		return errno == EINTR ? 1 : -1;
	ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n < 0 && errno == EINTR)
		return 1;
	if (n <= 0)
		return 0;
	c->len += (size_t)n;
	return 1;
}

static void conn_consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* Sends one request (a JSON object; "v" added) and parses the reply line. */
static cJSON *conn_request(struct conn *c, cJSON *req)
{
	cJSON_AddNumberToObject(req, "v", SR_CTL_VERSION);
	char *t = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (!t)
		die("out of memory");
	write_all(c->fd, t, strlen(t));
	write_all(c->fd, "\n", 1);
	free(t);
	for (;;) {
		unsigned char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			*nl = '\0';
			cJSON *o = cJSON_Parse((char *)c->buf);
			conn_consume(c, (size_t)(nl - c->buf) + 1);
			if (!cJSON_IsObject(o))
				die("a reply that is not a JSON object");
			return o;
		}
		int r = conn_fill(c, GUARD_MS);
		if (r <= 0)
			die("no reply from the daemon");
	}
}

/* The next whole frame: 1 (type, payload copied into out up to cap, *n its
 * full length), 0 on EOF, -1 on timeout. */
static int conn_frame(struct conn *c, int timeout_ms, int *type, unsigned char *out, size_t cap,
		      size_t *n)
{
	for (;;) {
		const unsigned char *p;
		size_t len;
		long f = sr_frame_parse(c->buf, c->len, type, &p, &len);
		if (f < 0)
			die("bad frame from the daemon");
		if (f > 0) {
			if (out)
				memcpy(out, p, len < cap ? len : cap);
			*n = len;
			conn_consume(c, (size_t)f);
			return 1;
		}
		int r = conn_fill(c, timeout_ms);
		if (r <= 0)
			return r;
	}
}

static void send_frame(struct conn *c, int type, const void *p, size_t n)
{
	unsigned char hdr[SR_CTL_FRAME_HDR];
	sr_frame_header(hdr, type, n);
	write_all(c->fd, hdr, sizeof(hdr));
	if (n)
		write_all(c->fd, p, n);
}

/* One request on its own connection; the reply (caller deletes). */
static cJSON *request(cJSON *req)
{
	struct conn *c = malloc(sizeof(*c));
	if (!c)
		die("out of memory");
	int rc = conn_open(c);
	if (rc < 0)
		die("connect %s: %s", SOCK, strerror(-rc));
	cJSON *o = conn_request(c, req);
	conn_close(c);
	free(c);
	return o;
}

static int reply_ok(const cJSON *o)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"));
}

static const char *reply_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static cJSON *req_id(const char *cmd, const char *id)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "cmd", cmd);
	if (id)
		cJSON_AddStringToObject(r, "id", id);
	return r;
}

/* ---- the daemon ---- */

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	if (!f)
		die("cannot write %s", path);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void daemon_start(void)
{
	static char env[24][PATH_MAX + 64];
	static char *envp[25];
	size_t n = 0;
	const char *path = getenv("PATH");
	snprintf(env[n++], sizeof(env[0]), "PATH=%s", path ? path : "/usr/bin:/bin");
	snprintf(env[n++], sizeof(env[0]), "HOME=%s", TMP);
	snprintf(env[n++], sizeof(env[0]), "SM_VM_HOST=127.0.0.1:%u", D.port);
	snprintf(env[n++], sizeof(env[0]), "SM_VM_USER=%s", D.user);
	snprintf(env[n++], sizeof(env[0]), "SM_VM_SSH_KEY_PATH=%s", D.user_key);
	snprintf(env[n++], sizeof(env[0]), "SM_VM_KNOWN_HOSTS=%s", D.known_hosts);
	snprintf(env[n++], sizeof(env[0]), "SM_CONTAINER_RUNTIME=none");
	snprintf(env[n++], sizeof(env[0]), "SM_CONTAINER_ENV=SMRELAY_BENCH_UNUSED");
	snprintf(env[n++], sizeof(env[0]), "SM_CLAUDE_COMMAND=%s/tui.sh", TMP);
	snprintf(env[n++], sizeof(env[0]), "SM_PROJECTS={\"demo\": \"%s/demo\"}", TMP);
	snprintf(env[n++], sizeof(env[0]), "SM_STATE_DIR=%s", STATE);
	snprintf(env[n++], sizeof(env[0]), "SM_REPOS_BASE_PATH=%s/repos", TMP);
	snprintf(env[n++], sizeof(env[0]), "SM_WORKTREES_PATH=%s/worktrees", TMP);
	snprintf(env[n++], sizeof(env[0]), "SM_COLS=80");
	snprintf(env[n++], sizeof(env[0]), "SM_ROWS=24");
	snprintf(env[n++], sizeof(env[0]), "SM_LOG_LEVEL=warn");
	snprintf(env[n++], sizeof(env[0]), "SM_LISTEN_ADDR=127.0.0.1:0");
	for (size_t i = 0; i < n; i++)
		envp[i] = env[i];
	envp[n] = NULL;
	int log = open(LOG, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log < 0)
		die("%s: %s", LOG, strerror(errno));
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		int nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
			_exit(126);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		execve(SR_SMRELAY_BIN, (char *[]){SR_SMRELAY_BIN, "serve", NULL}, envp);
		_exit(127);
	}
	close(log);
	DAEMON = pid;
	double end = now_s() + GUARD_MS / 1000.0;
	for (;;) {
		struct conn c;
		if (conn_open(&c) == 0) {
			cJSON *o = conn_request(&c, req_id("hello", NULL));
			conn_close(&c);
			int ok = reply_ok(o);
			cJSON_Delete(o);
			if (ok)
				return;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			DAEMON = 0;
			die("the daemon exited at start");
		}
		if (now_s() > end)
			die("the daemon does not answer on %s", SOCK);
		sleep_ms(20);
	}
}

/* ---- figures ---- */

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, double *ms, size_t n)
{
	qsort(ms, n, sizeof(*ms), cmp_d);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += ms[i];
	size_t i95 = (size_t)(0.95 * (double)(n - 1) + 0.5);
	printf("  %-50s n=%-4zu p50 %7.3f ms  p95 %7.3f ms  min %7.3f  max %7.3f  mean %7.3f\n", what,
	       n, ms[(n - 1) / 2], ms[i95], ms[0], ms[n - 1], sum / (double)n);
}

static char *screen_text(const char *id)
{
	cJSON *o = request(req_id("screen", id));
	char *t = reply_ok(o) ? strdup(reply_str(o, "text")) : NULL;
	cJSON_Delete(o);
	return t;
}

static void wait_screen(const char *id, const char *text)
{
	double end = now_s() + GUARD_MS / 1000.0;
	for (;;) {
		char *t = screen_text(id);
		int ok = t && strstr(t, text);
		free(t);
		if (ok)
			return;
		if (now_s() > end)
			die("no '%s' on the screen of %s", text, id);
		sleep_ms(20);
	}
}

/* Frames until none arrives for idle_ms. */
static void drain(struct conn *c, int idle_ms)
{
	int type;
	size_t n;
	while (conn_frame(c, idle_ms, &type, NULL, 0, &n) == 1)
		if (type == SR_FRAME_END)
			die("the daemon ended the attachment");
}

static struct conn *attach(const char *id, int read_only, size_t *paint_len)
{
	struct conn *c = malloc(sizeof(*c));
	if (!c)
		die("out of memory");
	int rc = conn_open(c);
	if (rc < 0)
		die("connect: %s", strerror(-rc));
	cJSON *req = req_id("attach", id);
	cJSON_AddBoolToObject(req, "read_only", read_only);
	cJSON_AddNumberToObject(req, "cols", 80);
	cJSON_AddNumberToObject(req, "rows", 24);
	cJSON *o = conn_request(c, req);
	if (!reply_ok(o))
		die("attach: %s", reply_str(o, "error"));
	cJSON_Delete(o);
	int type;
	size_t n;
	if (conn_frame(c, GUARD_MS, &type, NULL, 0, &n) != 1 || type != SR_FRAME_OUTPUT)
		die("no repaint after attach");
	*paint_len = n;
	return c;
}

static void detach(struct conn *c)
{
	send_frame(c, SR_FRAME_DETACH, NULL, 0);
	int type;
	size_t n;
	for (;;) {
		int r = conn_frame(c, GUARD_MS, &type, NULL, 0, &n);
		if (r != 1)
			break; /* closed after the end frame */
	}
	conn_close(c);
	free(c);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (!sshd_available()) {
		printf("bench_attach: OpenSSH is not installed; nothing measured\n");
		return 0;
	}
	snprintf(TMP, sizeof(TMP), "/tmp/smrelay-bench-attach-XXXXXX");
	if (!mkdtemp(TMP))
		die("mkdtemp: %s", strerror(errno));
	snprintf(STATE, sizeof(STATE), "%s/state", TMP);
	snprintf(SOCK, sizeof(SOCK), "%s/control.sock", STATE);
	snprintf(LOG, sizeof(LOG), "%s/daemon.log", TMP);
	if (sshd_start(&D) < 0)
		die("sshd_start: %s", D.err);
	char path[512];
	snprintf(path, sizeof(path), "%s/tui.sh", TMP);
	write_file(path, "#!/bin/sh\necho bench-ready\nexec cat\n", 0755);
	snprintf(path, sizeof(path), "%s/demo", TMP);
	mkdir(path, 0755);
	daemon_start();

	/* a session (the daemon refuses starts while its first connection
	 * is still being made: retry on that) */
	char id[16] = "";
	double end = now_s() + GUARD_MS / 1000.0;
	for (;;) {
		cJSON *req = req_id("start", NULL);
		cJSON *args = cJSON_AddArrayToObject(req, "args");
		cJSON_AddItemToArray(args, cJSON_CreateString("demo"));
		cJSON *o = request(req);
		if (reply_ok(o)) {
			snprintf(id, sizeof(id), "%s", reply_str(o, "id"));
			cJSON_Delete(o);
			break;
		}
		char err[512];
		snprintf(err, sizeof(err), "%s", reply_str(o, "error"));
		cJSON_Delete(o);
		if (!strstr(err, "connecting") || now_s() > end)
			die("start: %s", err);
		sleep_ms(50);
	}
	wait_screen(id, "bench-ready");
	/* a full screen to repaint: 22 lines, each echoed and printed by cat */
	for (int i = 0; i < 11; i++) {
		cJSON *req = req_id("send", id);
		char line[100];
		snprintf(line, sizeof(line), "line %02d the quick brown fox jumps over the lazy dog 0123456789", i);
		cJSON_AddStringToObject(req, "text", line);
		cJSON_Delete(request(req));
	}
	wait_screen(id, "line 10 the quick");

	printf("bench_attach: smrelay serve (%s) + OpenSSH sshd on loopback, runtime none, "
	       "session 80x24 running `cat`\n", SR_SMRELAY_BIN);
	static double ms[N_KEYS > N_REQ ? N_KEYS : N_REQ];

	/* 1. request round trip */
	for (int i = 0; i < N_REQ; i++) {
		double t0 = now_s();
		cJSON *o = request(req_id("list", NULL));
		ms[i] = (now_s() - t0) * 1000.0;
		if (!reply_ok(o))
			die("list failed");
		cJSON_Delete(o);
	}
	report("control request (connect, list, reply)", ms, N_REQ);

	/* 2. attach to first repaint */
	size_t plen = 0;
	for (int ro = 1; ro >= 0; ro--) {
		for (int i = 0; i < N_REPAINT; i++) {
			double t0 = now_s();
			struct conn *c = attach(id, ro, &plen);
			ms[i] = (now_s() - t0) * 1000.0;
			detach(c);
		}
		char what[96];
		snprintf(what, sizeof(what), "attach -> repaint received (%s, %zu B)",
			 ro ? "read-only" : "interactive", plen);
		report(what, ms, N_REPAINT);
	}

	/* 3. keystroke round trip */
	struct conn *c = attach(id, 0, &plen);
	drain(c, 200);
	static const char keys[] = "vwxyz";
	int nk = 0, sent_on_line = 0;
	for (int i = 0; i < N_WARMUP + N_KEYS; i++) {
		if (sent_on_line == 60) {
			send_frame(c, SR_FRAME_INPUT, "\x15", 1); /* ctrl-u: a fresh line */
			drain(c, 50);
			sent_on_line = 0;
		}
		char k = keys[i % 5];
		double t0 = now_s();
		send_frame(c, SR_FRAME_INPUT, &k, 1);
		sent_on_line++;
		for (;;) {
			int type;
			unsigned char p[4096];
			size_t n;
			int r = conn_frame(c, GUARD_MS, &type, p, sizeof(p), &n);
			if (r != 1)
				die("no echo of keystroke %d", i);
			if (type == SR_FRAME_END)
				die("the daemon ended the attachment");
			if (type == SR_FRAME_OUTPUT && memchr(p, k, n < sizeof(p) ? n : sizeof(p)))
				break;
		}
		double t = (now_s() - t0) * 1000.0;
		if (i >= N_WARMUP)
			ms[nk++] = t;
		drain(c, 5); /* trailing frames of this echo (cursor moves) */
	}
	report("keystroke i frame -> echo in an o frame", ms, (size_t)nk);
	detach(c);

	/* clean up: the session, the daemon (SIGTERM: exit 0 expected) */
	cJSON *o = request(req_id("stop", id));
	cJSON_Delete(o);
	kill(DAEMON, SIGTERM);
	int st = 0;
	waitpid(DAEMON, &st, 0);
	DAEMON = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		printf("  (the daemon exited with status %#x)\n", st);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "tmux -L smrelay-%s kill-server >/dev/null 2>&1; "
		 "rm -f \"/tmp/tmux-$(id -u)/smrelay-%s\"; rm -rf '%s'", id, id, TMP);
	sshd_stop(&D);
	if (system(cmd) < 0) {
	}
	return 0;
}
