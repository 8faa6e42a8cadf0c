/*
 * bench_session.c — figures for sr_session over loopback SSH against a real
 * OpenSSH sshd (tests/sshd_harness.c). Prints measurements; asserts nothing.
 *
 *   1. start latency: sr_session_start on a connected driver until the
 *      program's first output is on the session's screen; connect+auth time
 *   2. RSS per idle session and CPU of idle sessions
 *   3. CPU for many sessions each receiving ~10 KB/s of TUI-like output
 *
 * Note: sshd and the remote programs run on this machine too; only this
 * process's own CPU (getrusage RUSAGE_SELF) and memory are reported.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/tcp.h>

#include "sr_loop.h"
#include "sr_session.h"
#include "sr_ssh.h"
#include "sshd_harness.h"
#include "vt_pipe.h"

#define N_LAT 30
#define N_IDLE 50
#define IDLE_CPU_S 5.0
#define N_TUI 50   /* sessions per connection */
#define N_TUI_CONN 2
#define TUI_S 10.0
#define GUARD_S 30.0

static struct sshd D;
static struct sr_loop *L;
static int DRV_ERR;

struct ctx {
	struct sr_session *s;
	int exited;
	char why[256];
	double t_op;       /* first op containing the wanted text, 0 before */
	const char *want;
	long last_frame;   /* highest "frame N" seen in the ops, -1 before */
};

struct conn {
	struct sr_ssh *ssh;
	struct sr_ssh_driver *drv;
	double connect_ms;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
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

/* Bytes received on the connection's TCP socket (SSH ciphertext, after
 * loopback TCP; sr_ssh_fd is a dup of the socket). */
static long long tcp_rx(const struct sr_ssh *ssh)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(sr_ssh_fd(ssh), IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -1;
	return (long long)ti.tcpi_bytes_received;
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

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_session: %s: %s\n", what, msg);
	sshd_stop(&D);
	exit(1);
}

static void on_drv_error(void *data, int code, const char *msg)
{
	(void)data;
	DRV_ERR = code;
	fprintf(stderr, "bench_session: connection failed: %d %s\n", code, msg);
}

static void scan_text(struct ctx *c, const char *t)
{
	if (c->want && c->t_op == 0 && strstr(t, c->want))
		c->t_op = now_s();
	for (const char *p = t; (p = strstr(p, "frame ")) != NULL; p += 6) {
		long v = strtol(p + 6, NULL, 10);
		if (v > c->last_frame)
			c->last_frame = v;
	}
}

static void on_op(void *data, const struct vt_op *op)
{
	struct ctx *c = data;
	if (op->kind == VT_OP_LIVE && op->text)
		scan_text(c, op->text);
	else if (op->kind == VT_OP_COMMIT)
		for (size_t i = 0; i < op->nlines; i++)
			scan_text(c, op->lines[i]);
}

static void on_exit_cb(void *data, int status, const char *why)
{
	struct ctx *c = data;
	(void)status;
	c->exited = 1;
	snprintf(c->why, sizeof(c->why), "%s", why);
}

/* Connects with plain poll(2) (no loop) so the time is connect + host key
 * check + auth only, then puts a driver on the loop. */
static void conn_open(struct conn *k)
{
	struct sr_ssh_opts o = sshd_client_opts(&D);
	char err[512] = "";
	double t0 = now_s();
	if (sr_ssh_connect(&o, &k->ssh, err, sizeof(err)) < 0)
		die("connect", err);
	for (;;) {
		int rc = sr_ssh_step(k->ssh);
		if (rc == 1)
			break;
		if (rc < 0)
			die("connect", sr_ssh_error(k->ssh));
		if (now_s() - t0 > GUARD_S)
			die("connect", "timed out");
		unsigned w = sr_ssh_wants(k->ssh);
		if (w & SR_SSH_WANT_STEP)
			continue;
		struct pollfd p = {.fd = sr_ssh_fd(k->ssh)};
		if (w & SR_SSH_WANT_READ)
			p.events |= POLLIN;
		if (w & SR_SSH_WANT_WRITE)
			p.events |= POLLOUT;
		poll(&p, 1, 100);
	}
	k->connect_ms = (now_s() - t0) * 1000.0;
	if (sr_ssh_driver_new(L, k->ssh, 0, on_drv_error, NULL, &k->drv) < 0)
		die("driver", "sr_ssh_driver_new failed");
}

static void conn_close(struct conn *k)
{
	sr_ssh_driver_free(k->drv);
	sr_ssh_free(k->ssh);
	k->drv = NULL;
	k->ssh = NULL;
}

static struct ctx *start(struct conn *k, const char *const *argv, unsigned cols, unsigned rows)
{
	struct ctx *c = calloc(1, sizeof(*c));
	if (!c)
		die("calloc", "out of memory");
	c->last_frame = -1;
	struct sr_session_opts o = {
		.driver = k->drv,
		.cols = cols,
		.rows = rows,
		.argv = argv,
		.on_op = on_op,
		.op_data = c,
		.on_exit = on_exit_cb,
		.exit_data = c,
	};
	char err[512] = "";
	if (sr_session_start(&o, &c->s, err, sizeof(err)) < 0)
		die("sr_session_start", err);
	return c;
}

static void stop(struct ctx *c)
{
	if (!c)
		return;
	sr_session_free(c->s);
	free(c);
}

static void run_for(double secs)
{
	double end = now_s() + secs;
	for (double t = now_s(); t < end; t = now_s()) {
		int ms = (int)((end - t) * 1000.0) + 1;
		if (sr_loop_run_once(L, ms) < 0)
			die("loop", "sr_loop_run_once failed");
	}
}

/* 1 when the screen holds text, 0 when not (yet), negative on error. */
static int screen_has(struct ctx *c, const char *text)
{
	char *t = NULL;
	int rc = sr_session_screen_text(c->s, &t);
	if (rc < 0)
		return rc;
	int ok = strstr(t, text) != NULL;
	free(t);
	return ok;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(const double *sorted, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return sorted[i < n ? i : n - 1];
}

/* ---- 1. start latency ---------------------------------------------------- */

static void bench_latency(struct conn *k)
{
	static const char *const argv[] = {"sh", "-c", "printf ready; exec sleep 1000", NULL};
	double scr[N_LAT], op[N_LAT];
	size_t n = 0, nop = 0;
	for (size_t i = 0; i < N_LAT; i++) {
		double t0 = now_s();
		struct ctx *c = start(k, argv, 80, 24);
		c->want = "ready";
		double t_scr = 0;
		while (t_scr == 0) {
			int rc = screen_has(c, "ready");
			if (rc == 1) {
				t_scr = now_s();
				break;
			}
			if (rc < 0)
				die("screen_text", strerror(-rc));
			if (c->exited)
				die("latency session ended", c->why);
			if (DRV_ERR || now_s() - t0 > GUARD_S)
				die("latency", "no 'ready' on the screen");
			sr_loop_run_once(L, 100);
		}
		scr[n++] = (t_scr - t0) * 1000.0;
		/* The ops are batched (quiet period): wait a little for the
		 * first live op too, for the record. */
		double lim = now_s() + 3.0;
		while (c->t_op == 0 && now_s() < lim)
			sr_loop_run_once(L, 100);
		if (c->t_op != 0)
			op[nop++] = (c->t_op - t0) * 1000.0;
		stop(c);
		run_for(0.02); /* let the close go out */
	}
	qsort(scr, n, sizeof(double), cmp_double);
	printf("start latency, sr_session_start -> 'ready' on screen (%zu starts, 80x24):\n", n);
	printf("  p50 %.1f ms   p95 %.1f ms   max %.1f ms   min %.1f ms\n",
	       pct(scr, n, 0.5), pct(scr, n, 0.95), scr[n - 1], scr[0]);
	if (nop) {
		qsort(op, nop, sizeof(double), cmp_double);
		printf("  first vt op with 'ready' (batched, for reference): p50 %.1f ms   p95 %.1f ms"
		       "   max %.1f ms (%zu/%zu)\n",
		       pct(op, nop, 0.5), pct(op, nop, 0.95), op[nop - 1], nop, n);
	}
}

/* ---- 2. idle sessions ---------------------------------------------------- */

static void bench_idle(struct conn *k)
{
	/* One byte of output so we know each program runs, then idle. */
	static const char *const argv[] = {"sh", "-c", "printf r; exec sleep 1000", NULL};
	struct ctx *c[N_IDLE];
	malloc_trim(0);
	run_for(0.2);
	long before = status_kib("VmRSS");
	struct mallinfo2 m0 = mallinfo2();
	double t0 = now_s();
	for (size_t i = 0; i < N_IDLE; i++)
		c[i] = start(k, argv, 0, 0);
	/* Settle: every program printed, every frame taken. */
	for (size_t i = 0; i < N_IDLE; i++) {
		while (screen_has(c[i], "r") != 1) {
			if (c[i]->exited)
				die("idle session ended", c[i]->why);
			if (DRV_ERR || now_s() - t0 > GUARD_S)
				die("idle", "sessions did not start");
			sr_loop_run_once(L, 100);
		}
	}
	double t_up = now_s() - t0;
	run_for(1.5); /* ops batching, quiet periods */
	long after = status_kib("VmRSS");
	struct mallinfo2 m1 = mallinfo2();
	printf("idle sessions: %d started and on screen in %.0f ms (one connection, 100x30 default)\n",
	       N_IDLE, t_up * 1000.0);
	printf("  VmRSS before %ld KiB, after %ld KiB: %.1f KiB per idle session\n", before, after,
	       (double)(after - before) / N_IDLE);
	printf("  malloc in use (mallinfo2, main arena + mmap): +%.1f KiB per idle session\n",
	       ((double)(m1.uordblks + m1.hblkhd) - (double)(m0.uordblks + m0.hblkhd)) / 1024.0 /
		       N_IDLE);

	/* For comparison: bare vt pipes of the same size, no SSH channel. */
	struct vt_pipe *vp[N_IDLE];
	struct mallinfo2 p0 = mallinfo2();
	for (size_t i = 0; i < N_IDLE; i++) {
		struct vt_pipe_opts po = {.screen = {.cols = 100, .rows = 30}};
		char err[128];
		if (vt_pipe_new(&vp[i], &po, err, sizeof(err)) < 0)
			die("vt_pipe_new", err);
	}
	struct mallinfo2 p1 = mallinfo2();
	for (size_t i = 0; i < N_IDLE; i++)
		vt_pipe_free(vp[i]);
	printf("  for comparison, a bare vt_pipe_new (100x30, defaults, no channel): %.1f KiB each\n",
	       ((double)(p1.uordblks + p1.hblkhd) - (double)(p0.uordblks + p0.hblkhd)) / 1024.0 /
		       N_IDLE);

	double c0 = cpu_s(), w0 = now_s();
	run_for(IDLE_CPU_S);
	double dc = cpu_s() - c0, dw = now_s() - w0;
	printf("  CPU over %.1f s with %d idle sessions: %.3f ms (%.4f %%)\n", dw, N_IDLE,
	       dc * 1000.0, 100.0 * dc / dw);
	for (size_t i = 0; i < N_IDLE; i++)
		stop(c[i]);
	run_for(0.3);
}

/* ---- 3. TUI output ------------------------------------------------------- */

#define TUI_LINES 20
#define TUI_PAD "abcdefghijklmnopqrs"
#define TUI_LINE_FMT "\033[3%dmline %2d frame %7ld " TUI_PAD "\033[0m\r\n"

static const char TUI_SCRIPT[] =
	"n=0; while :; do printf '\\033[H\\033[2J'; i=0; "
	"while [ $i -lt 20 ]; do "
	"printf '\\033[3%dmline %2d frame %7d %s\\033[0m\\r\\n' $((i%7)) $i $n " TUI_PAD "; "
	"i=$((i+1)); done; n=$((n+1)); sleep 0.1; done";

/* Plaintext bytes of one frame of TUI_SCRIPT (fixed width: %2d, %7d). */
static size_t tui_frame_bytes(void)
{
	char buf[256];
	size_t total = strlen("\033[H\033[2J");
	for (int i = 0; i < TUI_LINES; i++)
		total += (size_t)snprintf(buf, sizeof(buf), TUI_LINE_FMT, i % 7, i, 0L);
	return total;
}

static void bench_tui(void)
{
	static const char *const argv[] = {"sh", "-c", TUI_SCRIPT, NULL};
	struct conn k[N_TUI_CONN];
	struct ctx *c[N_TUI_CONN * N_TUI];
	size_t n = 0;
	memset(k, 0, sizeof(k));
	for (size_t j = 0; j < N_TUI_CONN; j++) {
		conn_open(&k[j]);
		printf("  (fresh connection %zu: connect+auth %.1f ms)\n", j + 1, k[j].connect_ms);
	}
	double t0 = now_s();
	for (size_t j = 0; j < N_TUI_CONN; j++)
		for (size_t i = 0; i < N_TUI; i++)
			c[n++] = start(&k[j], argv, 80, 24);
	/* Warm up until every session has shown a frame. */
	for (size_t i = 0; i < n; i++)
		while (c[i]->last_frame < 0) {
			if (c[i]->exited)
				die("tui session ended", c[i]->why);
			if (DRV_ERR || now_s() - t0 > GUARD_S)
				die("tui", "sessions did not start");
			sr_loop_run_once(L, 100);
		}
	run_for(1.0);

	long f0[N_TUI_CONN * N_TUI];
	for (size_t i = 0; i < n; i++)
		f0[i] = c[i]->last_frame;
	long long r0 = 0, dr = 0;
	for (size_t j = 0; j < N_TUI_CONN; j++)
		r0 += tcp_rx(k[j].ssh);
	unsigned long long sb0, st0, sb1, st1;
	sys_cpu(&sb0, &st0);
	double c0 = cpu_s(), w0 = now_s();
	run_for(TUI_S);
	double dc = cpu_s() - c0, dw = now_s() - w0;
	sys_cpu(&sb1, &st1);
	for (size_t j = 0; j < N_TUI_CONN; j++)
		dr += tcp_rx(k[j].ssh);
	dr -= r0;
	long frames = 0, fmin = -1, fmax = 0;
	for (size_t i = 0; i < n; i++) {
		long d = c[i]->last_frame - f0[i];
		frames += d;
		if (fmin < 0 || d < fmin)
			fmin = d;
		if (d > fmax)
			fmax = d;
	}
	size_t fb = tui_frame_bytes();
	double plain = (double)frames * (double)fb;
	printf("TUI output: %zu sessions (%d connections x %d), 80x24, %.1f s:\n", n, N_TUI_CONN,
	       N_TUI, dw);
	printf("  remote frames: %ld total (%.1f /s per session; per session %ld..%ld), %zu bytes"
	       " each\n",
	       frames, (double)frames / (double)n / dw, fmin, fmax, fb);
	printf("  received: %.3f MB/s terminal output (%.1f KB/s per session); %.3f MB/s on the SSH"
	       " TCP sockets\n",
	       plain / dw / 1e6, plain / dw / 1e3 / (double)n, (double)dr / dw / 1e6);
	printf("  our CPU: %.2f s user+sys over %.2f s wall = %.1f %% of one core\n", dc, dw,
	       100.0 * dc / dw);
	if (st1 > st0)
		printf("  (whole machine, %ld CPUs, incl. sshd and the remote shells: %.0f %% busy)\n",
		       sysconf(_SC_NPROCESSORS_ONLN), 100.0 * (double)(sb1 - sb0) / (double)(st1 - st0));
	for (size_t i = 0; i < n; i++)
		stop(c[i]);
	run_for(0.3);
	for (size_t j = 0; j < N_TUI_CONN; j++)
		conn_close(&k[j]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!sshd_available()) {
		printf("bench_session: OpenSSH is not installed (%s or ssh-keygen); skipped\n",
		       SSHD_BIN);
		return 0;
	}
	if (sshd_start(&D) < 0)
		die("sshd_start", D.err);
	if (sr_loop_new(&L) < 0)
		die("loop", "sr_loop_new failed");

	struct conn k = {0};
	conn_open(&k);
	printf("connect+auth (fresh connection, loopback, ed25519): %.1f ms\n", k.connect_ms);
	bench_idle(&k);
	bench_latency(&k);
	conn_close(&k);
	bench_tui();

	sshd_stop(&D);
	sr_loop_free(L);
	return 0;
}
