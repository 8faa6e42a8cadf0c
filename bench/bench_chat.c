/*
 * bench_chat.c — the chat under load: N concurrent sessions, each replaying
 * a recorded Claude Code stream (tests/fixtures/tty/claude-*.raw on its own
 * .timing, looped), driven the real way from the fake Mattermost with its
 * rate limit on (10/s, burst 100): relay + sr_fw + sr_http + sr_chat on one
 * sr_loop in this process, real sshd (tests/sshd_harness.c), tmux holders,
 * runtime none, static project. Prints a report; asserts nothing.
 *
 * Each session is started by a user post `@claude start demo` (alice, via
 * /_fake/post). The session's program is this binary in replay mode
 * (`bench_chat --replay DIR MARKER_MS`, SM_CLAUDE_COMMAND): it takes a slot
 * (0, 1, ...; O_EXCL files), replays recording slot % nrec with the
 * recorded delays (1 s pause between loops), and every MARKER_MS writes a
 * marker `@@T<unix ms>s<slot>q<seq>x<letter>@@` at row 1, column 1 (cursor
 * saved and restored; only between complete escape sequences and UTF-8
 * characters). Each new marker overwrites the previous one in place, so the
 * screen always shows the newest. The letter changes with every marker so
 * that the change is not "digits only" (which the batcher paces at 5 s).
 * Markers are also logged to DIR/markers/<slot>.
 *
 * Figures over a fixed window (after all sessions run and a warm-up):
 *   - REST calls at the fake (/_fake/stats deltas) per route, per session
 *     per minute; 429 answers (target 0);
 *   - latency of each marker stamped in the window: to the first relay op
 *     (live or commit) that holds it (this process's hook), and to the
 *     first post write at the fake (posted / post_edited event, the fake's
 *     update_at) whose message holds it. A marker overwritten before any
 *     post carried it is "superseded"; for those the "reflected" figure
 *     counts the first post write holding it or a newer marker of the same
 *     session (how stale the thread is at worst);
 *     Also per recording (slot % 5), since inline output (history posts)
 *     and alternate-screen output (live edits) take different paths. A
 *     marker written on the main screen just before the stream enters the
 *     alternate screen is hidden until the next loop leaves it: such
 *     outliers (~28 s, the loop length) are the replay's, not the relay's;
 *   - relay ops in the window (live updates, commits, seals) from this
 *     process's relay hook, and the bot's posts by kind (fake events);
 *   - this process's CPU (getrusage) and RSS; the fake's CPU; the machine.
 * Both the replayer and the fake stamp with the wall clock (CLOCK_REALTIME
 * / time.time()) on this machine.
 *
 * Options: --sessions=N (default 10) --secs=S (window, 60) --warmup=S (10)
 * --grace=S (time after the window for late markers, 20) --marker-secs=S
 * (3) --hosts=1|2 (default: 2 above 60 sessions; sshd MaxSessions is 64)
 * --recording=NAME (one fixture instead of the five claude-* ones).
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "fake_mm.h"
#include "mm_conn.h"
#include "sr_chat.h"
#include "sr_config.h"
#include "sr_fw.h"
#include "sr_host.h"
#include "sr_http.h"
#include "sr_log.h"
#include "sr_loop.h"
#include "sr_relay.h"
#include "sr_timing.h"
#include "sshd_harness.h"

#define MAXSESS 400
#define MAXREC 8
#define LOOP_GAP_MS 1000

static const char *const CLAUDE_RECS[] = {"claude-network-request", "claude-spinner",
					  "claude-long-output", "claude-inline-long",
					  "claude-apikey-dialog"};

/* ---- clocks ---- */

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ======================================================================
 * The replayer (the session's program)
 * ====================================================================== */

/* Where the byte stream is: markers go in only at GROUND. */
enum pst { P_GROUND, P_ESC, P_ESC_INT, P_CSI, P_STR, P_STR_ESC };

struct parser {
	enum pst st;
	int utf8; /* continuation bytes still expected */
};

static void parse_bytes(struct parser *p, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = b[i];
		switch (p->st) {
		case P_GROUND:
			if (c == 0x1b) {
				p->st = P_ESC;
				p->utf8 = 0;
			} else if (c >= 0xc0 && c < 0xe0) {
				p->utf8 = 1;
			} else if (c >= 0xe0 && c < 0xf0) {
				p->utf8 = 2;
			} else if (c >= 0xf0 && c < 0xf8) {
				p->utf8 = 3;
			} else if (c >= 0x80 && c < 0xc0) {
				if (p->utf8 > 0)
					p->utf8--;
			} else {
				p->utf8 = 0;
			}
			break;
		case P_ESC:
			if (c == '[')
				p->st = P_CSI;
			else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_')
				p->st = P_STR;
			else if (c >= 0x20 && c <= 0x2f)
				p->st = P_ESC_INT;
			else
				p->st = P_GROUND;
			break;
		case P_ESC_INT:
			if (c >= 0x30 && c <= 0x7e)
				p->st = P_GROUND;
			break;
		case P_CSI:
			if (c >= 0x40 && c <= 0x7e)
				p->st = P_GROUND;
			break;
		case P_STR:
			if (c == 0x07)
				p->st = P_GROUND;
			else if (c == 0x1b)
				p->st = P_STR_ESC;
			break;
		case P_STR_ESC:
			p->st = c == '\\' ? P_GROUND : P_STR;
			break;
		}
	}
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pf = {.fd = fd, .events = POLLOUT};
				poll(&pf, 1, 100);
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

struct replayer {
	struct parser ps;
	int slot;
	unsigned seq;
	uint64_t next_marker, marker_ms;
	FILE *log;
};

static int write_marker(struct replayer *r)
{
	uint64_t t = wall_ms();
	char m[96], out[160];
	snprintf(m, sizeof(m), "@@T%013llus%03dq%05ux%c@@", (unsigned long long)t, r->slot, r->seq,
		 'a' + (int)(r->seq % 26));
	int n = snprintf(out, sizeof(out), "\0337\033[1;1H\033[0m%s\0338", m);
	if (write_all(1, out, (size_t)n) < 0)
		return -1;
	if (r->log) {
		fprintf(r->log, "%llu %u\n", (unsigned long long)t, r->seq);
		fflush(r->log);
	}
	r->seq++;
	r->next_marker += r->marker_ms;
	if (r->next_marker <= t)
		r->next_marker = t + r->marker_ms;
	return 0;
}

/* Waits until deadline (wall ms), writing markers when due and draining
 * stdin (the terminal's answers to the stream's queries). -1: the terminal
 * is gone. */
static int replay_wait(struct replayer *r, uint64_t deadline)
{
	for (;;) {
		uint64_t t = wall_ms();
		if (r->ps.st == P_GROUND && r->ps.utf8 == 0 && r->next_marker <= t) {
			if (write_marker(r) < 0)
				return -1;
			continue;
		}
		if (t >= deadline)
			return 0;
		uint64_t until = deadline;
		if (r->ps.st == P_GROUND && r->ps.utf8 == 0 && r->next_marker < until)
			until = r->next_marker;
		struct pollfd pf = {.fd = 0, .events = POLLIN};
		int rc = poll(&pf, 1, (int)(until - t));
		if (rc > 0) {
			if (pf.revents & POLLIN) {
				char buf[1024];
				ssize_t n = read(0, buf, sizeof(buf));
				if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
					return -1;
			} else if (pf.revents & (POLLHUP | POLLERR | POLLNVAL)) {
				return -1;
			}
		}
	}
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 65536, n = 0;
	char *b = malloc(cap);
	size_t k;
	while (b && (k = fread(b + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap) {
			char *nb = realloc(b, cap *= 2);
			if (!nb) {
				free(b);
				b = NULL;
			}
			b = nb;
		}
	}
	fclose(f);
	if (b) {
		b[n < cap ? n : cap - 1] = '\0';
		*len = n;
	}
	return b;
}

static int replay_main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: bench_chat --replay DIR MARKER_MS\n");
		return 2;
	}
	const char *dir = argv[2];
	long marker_ms = atol(argv[3]);
	if (marker_ms < 100)
		marker_ms = 100;
	char path[PATH_MAX], raws[MAXREC][PATH_MAX], tims[MAXREC][PATH_MAX];
	int nrec = 0;
	snprintf(path, sizeof(path), "%s/recordings", dir);
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "replay: no %s\n", path);
		return 1;
	}
	while (nrec < MAXREC && fscanf(f, "%4095s %4095s", raws[nrec], tims[nrec]) == 2)
		nrec++;
	fclose(f);
	if (!nrec)
		return 1;
	struct replayer r = {.slot = -1, .marker_ms = (uint64_t)marker_ms};
	for (int k = 0; k < 100000; k++) {
		snprintf(path, sizeof(path), "%s/slots/%d", dir, k);
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd >= 0) {
			close(fd);
			r.slot = k;
			break;
		}
		if (errno != EEXIST)
			break;
	}
	if (r.slot < 0)
		return 1;
	int which = r.slot % nrec;
	size_t len = 0;
	char *raw = slurp(raws[which], &len);
	struct sr_timing tm = {0};
	size_t bad = 0;
	if (!raw || sr_timing_load(tims[which], &tm, &bad) < 0 || tm.n == 0) {
		fprintf(stderr, "replay: cannot load %s\n", raws[which]);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/markers/%d", dir, r.slot);
	r.log = fopen(path, "a");
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);

	uint64_t t0 = wall_ms() + (uint64_t)((r.slot * 397) % 2000);
	r.next_marker = t0 + 500 + (uint64_t)((r.slot * 131) % marker_ms);
	for (;;) {
		size_t off = 0;
		for (size_t i = 0; i < tm.n; i++) {
			if (replay_wait(&r, t0 + tm.at_ms[i]) < 0)
				goto out;
			size_t n = tm.bytes[i];
			if (off + n > len)
				n = off < len ? len - off : 0;
			if (n && write_all(1, raw + off, n) < 0)
				goto out;
			parse_bytes(&r.ps, (const unsigned char *)raw + off, n);
			off += n;
		}
		t0 += tm.at_ms[tm.n - 1] + LOOP_GAP_MS;
		if (replay_wait(&r, t0) < 0)
			goto out;
	}
out:
	if (r.log)
		fclose(r.log);
	sr_timing_free(&tm);
	free(raw);
	return 0;
}

/* ======================================================================
 * The bench
 * ====================================================================== */

static int OPT_SESSIONS = 10, OPT_HOSTS;
static double OPT_SECS = 60, OPT_WARMUP = 10, OPT_GRACE = 20, OPT_MARKER = 3;
static const char *OPT_REC;

static struct sshd D[2];
static int ND;
static struct fake_mm F;
static struct sr_loop *L;
static struct sr_relay *R;
static struct sr_fw *FW;
static struct sr_http *H;
static struct sr_chat *CH;
static struct sr_config C;
static char TMP[256];
static int LOG_WARN, LOG_ERR;

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

static const char *env_get(const char *name)
{
	for (size_t i = 0; i < NENV; i++)
		if (!strcmp(ENV[i].name, name))
			return ENV[i].value;
	return NULL;
}

/* ---- sessions seen by the hooks ---- */

struct sess {
	char id[24];
	int running, ended, detached;
	char end_why[128];
};
static struct sess SS[MAXSESS];
static int NSS;
static unsigned long OPS_LIVE, OPS_COMMIT, OPS_COMMIT_LINES, OPS_SEAL, OPS_MARKER;

static struct sess *sess_find(const char *id, int create)
{
	for (int i = 0; i < NSS; i++)
		if (!strcmp(SS[i].id, id))
			return &SS[i];
	if (!create || NSS == MAXSESS)
		return NULL;
	struct sess *s = &SS[NSS++];
	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", id);
	return s;
}

/* ---- markers: [slot][seq] ---- */

struct mark {
	uint64_t stamp;  /* from the replayer's log (0: not logged) */
	uint64_t t_op;   /* first relay op holding it (wall ms), 0: none */
	uint64_t t_fake; /* first post write at the fake holding it, 0: none */
};

struct slotm {
	struct mark *m;
	size_t n, cap;
};
static struct slotm MK[MAXSESS];

static struct mark *mark_get(int slot, unsigned seq)
{
	if (slot < 0 || slot >= MAXSESS || seq > 1000000)
		return NULL;
	struct slotm *s = &MK[slot];
	if (seq >= s->cap) {
		size_t nc = s->cap ? s->cap : 64;
		while (nc <= seq)
			nc *= 2;
		struct mark *nm = realloc(s->m, nc * sizeof(*nm));
		if (!nm)
			return NULL;
		memset(nm + s->cap, 0, (nc - s->cap) * sizeof(*nm));
		s->m = nm;
		s->cap = nc;
	}
	if (seq >= s->n)
		s->n = seq + 1;
	return &s->m[seq];
}

/* Calls fn for each well-formed marker in text. */
static void scan_markers(const char *text, uint64_t t, int at_fake)
{
	for (const char *p = text; (p = strstr(p, "@@T")) != NULL; p += 3) {
		unsigned long long stamp;
		int slot, used = 0;
		unsigned seq;
		char letter;
		if (sscanf(p, "@@T%13llus%3dq%5ux%c@@%n", &stamp, &slot, &seq, &letter, &used) != 4 ||
		    used != 30 || letter != 'a' + (int)(seq % 26))
			continue;
		struct mark *m = mark_get(slot, seq);
		if (!m)
			continue;
		if (m->stamp && m->stamp != stamp)
			continue; /* torn: halves of two markers */
		if (at_fake) {
			if (!m->t_fake || t < m->t_fake)
				m->t_fake = t;
		} else if (!m->t_op) {
			m->t_op = t;
			OPS_MARKER++;
		}
	}
}

static void hook_op(void *data, const char *id, const struct vt_op *op)
{
	(void)data;
	(void)id;
	uint64_t t = wall_ms();
	if (op->kind == VT_OP_LIVE && op->text) {
		OPS_LIVE++;
		scan_markers(op->text, t, 0);
	} else if (op->kind == VT_OP_SEAL) {
		OPS_SEAL++;
	} else if (op->kind == VT_OP_COMMIT) {
		OPS_COMMIT++;
		OPS_COMMIT_LINES += op->nlines;
		for (size_t i = 0; i < op->nlines; i++)
			scan_markers(op->lines[i], t, 0);
	}
}

static void hook_state(void *data, const char *id, enum sr_rstate st, const char *why)
{
	(void)data;
	struct sess *s = sess_find(id, 1);
	if (!s)
		return;
	if (st == SR_RS_RUNNING)
		s->running = 1;
	else if (st == SR_RS_DETACHED && why && strcmp(why, "starting"))
		s->detached++;
	else if (st == SR_RS_ENDED) {
		s->ended = 1;
		snprintf(s->end_why, sizeof(s->end_why), "%s", why ? why : "");
	}
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

/* ---- taps on the chat transport --------------------------------------------
 * sr_chat keeps its mm_conn private and relay/ and chat/ are not ours to
 * change, so the bench links with -Wl,--wrap=mm_conn_new,--wrap=mm_rest
 * (bench/CMakeLists.txt): the wrappers below see the connection (for
 * mm_conn_stats) and every REST call the bot queues, with its priority
 * and coalesce key, and time each one from queueing to its answer. A call
 * superseded by coalescing hands its queueing time on to the next call
 * with the same key, so a live post's wait counts from the first edit
 * that was queued for it. */

int __real_mm_conn_new(const struct mm_conn_opts *o, struct mm_conn **out, char *err,
		       size_t errlen);
int __wrap_mm_conn_new(const struct mm_conn_opts *o, struct mm_conn **out, char *err,
		       size_t errlen);
long __real_mm_rest(struct mm_conn *c, const char *method, const char *path, const cJSON *body,
		    enum mm_prio prio, const char *coalesce_key, mm_rest_cb cb, void *data);
long __wrap_mm_rest(struct mm_conn *c, const char *method, const char *path, const cJSON *body,
		    enum mm_prio prio, const char *coalesce_key, mm_rest_cb cb, void *data);

static struct mm_conn *CONN;
static int IN_WINDOW;

enum { C_REPLY, C_CARD, C_HIST_POST, C_HIST_PATCH, C_LIVE_PATCH, C_OTHER, C_N };
static const char *const CLS_NAME[C_N] = {
	"reply (POST)", "card (POST/PUT)", "new live/history post (POST)",
	"history: live post -> history (PUT)", "live: edit (PUT)", "other"};

static struct clsstat {
	unsigned long queued, ok, superseded, failed;
	double *wait;
	size_t nwait;
} CS[C_N];

struct tap {
	mm_rest_cb cb;
	void *data;
	uint64_t t_queued;
	int cls;
	char key[96];
};

static struct carry {
	char key[96];
	uint64_t t;
} CARRY[4096];
static size_t NCARRY;

static void carry_set(const char *key, uint64_t t)
{
	for (size_t i = 0; i < NCARRY; i++)
		if (!strcmp(CARRY[i].key, key)) {
			if (t < CARRY[i].t)
				CARRY[i].t = t;
			return;
		}
	if (NCARRY < sizeof(CARRY) / sizeof(CARRY[0])) {
		snprintf(CARRY[NCARRY].key, sizeof(CARRY[0].key), "%s", key);
		CARRY[NCARRY++].t = t;
	}
}

static uint64_t carry_take(const char *key)
{
	for (size_t i = 0; i < NCARRY; i++)
		if (!strcmp(CARRY[i].key, key)) {
			uint64_t t = CARRY[i].t;
			CARRY[i] = CARRY[--NCARRY];
			return t;
		}
	return 0;
}

static void tap_cb(void *data, int rc, long status, const cJSON *body, const char *msg)
{
	struct tap *t = data;
	uint64_t now = wall_ms();
	struct clsstat *c = &CS[t->cls];
	if (rc == -ECANCELED) {
		if (t->key[0])
			carry_set(t->key, t->t_queued);
		c->superseded += IN_WINDOW;
	} else {
		uint64_t start = t->t_queued;
		if (t->key[0]) {
			uint64_t k = carry_take(t->key);
			if (k && k < start)
				start = k;
		}
		if (IN_WINDOW && rc < 0)
			c->failed++;
		if (IN_WINDOW && rc == 0) {
			c->ok++;
			double *nw = realloc(c->wait, (c->nwait + 1) * sizeof(double));
			if (nw) {
				c->wait = nw;
				nw[c->nwait++] = (double)(now - start);
			}
		}
	}
	if (t->cb)
		t->cb(t->data, rc, status, body, msg);
	free(t);
}

int __wrap_mm_conn_new(const struct mm_conn_opts *o, struct mm_conn **out, char *err,
		       size_t errlen)
{
	int rc = __real_mm_conn_new(o, out, err, errlen);
	if (rc == 0)
		CONN = *out;
	return rc;
}

long __wrap_mm_rest(struct mm_conn *c, const char *method, const char *path, const cJSON *body,
		    enum mm_prio prio, const char *coalesce_key, mm_rest_cb cb, void *data)
{
	struct tap *t = calloc(1, sizeof(*t));
	if (!t)
		return __real_mm_rest(c, method, path, body, prio, coalesce_key, cb, data);
	int post = !strcmp(method, "POST"), put = !strcmp(method, "PUT");
	if (prio == MM_PRIO_REPLY)
		t->cls = C_REPLY;
	else if (prio == MM_PRIO_CARD)
		t->cls = C_CARD;
	else if (prio == MM_PRIO_HISTORY && post)
		t->cls = C_HIST_POST;
	else if (prio == MM_PRIO_HISTORY && put)
		t->cls = C_HIST_PATCH;
	else if (prio == MM_PRIO_LIVE && put)
		t->cls = C_LIVE_PATCH;
	else
		t->cls = C_OTHER;
	t->cb = cb;
	t->data = data;
	t->t_queued = wall_ms();
	if (coalesce_key)
		snprintf(t->key, sizeof(t->key), "%s", coalesce_key);
	CS[t->cls].queued += IN_WINDOW;
	long h = __real_mm_rest(c, method, path, body, prio, coalesce_key, tap_cb, t);
	if (h < 0)
		free(t);
	return h;
}

static const char *ppm(double *v, size_t k, char *buf, size_t len);

static void report_taps(const struct mm_conn_stats *s0, const struct mm_conn_stats *s1,
			double q_mean, size_t q_max)
{
	printf("  chat transport in the window (mm_conn_stats): %lu sent, %lu answered 429, %lu"
	       " superseded by coalescing, %lu failed; queue depth mean %.1f, max %zu\n",
	       s1->rest_sent - s0->rest_sent, s1->rest_429 - s0->rest_429,
	       s1->rest_superseded - s0->rest_superseded, s1->rest_failed - s0->rest_failed, q_mean,
	       q_max);
	printf("    %-36s %7s %7s %10s %6s %24s\n", "the bot's REST calls, by kind", "queued", "sent",
	       "superseded", "failed", "wait ms p50/p95/max");
	for (int i = 0; i < C_N; i++) {
		struct clsstat *c = &CS[i];
		if (!c->queued && !c->ok && !c->superseded && !c->failed)
			continue;
		char b[64];
		printf("    %-36s %7lu %7lu %10lu %6lu %24s\n", CLS_NAME[i], c->queued, c->ok,
		       c->superseded, c->failed, ppm(c->wait, c->nwait, b, sizeof(b)));
	}
	printf("    (wait: queued -> answered; for a coalesced edit, from the first edit queued for"
	       " that post)\n");
}

/* ---- setup and cleanup ---- */

static void kill_holders(void)
{
	for (int i = 0; i < NSS; i++) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd),
			 "tmux -L smrelay-%.20s kill-server 2>/dev/null; "
			 "rm -f \"/tmp/tmux-$(id -u)/smrelay-%.20s\"",
			 SS[i].id, SS[i].id);
		if (system(cmd) < 0) {
		}
	}
}

static void cleanup(void)
{
	CONN = NULL;
	sr_chat_free(CH);
	CH = NULL;
	sr_http_free(H);
	H = NULL;
	sr_fw_free(FW);
	FW = NULL;
	sr_relay_free(R);
	R = NULL;
	sr_config_free(&C);
	kill_holders();
	fake_mm_stop(&F);
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
	for (int i = 0; i < MAXSESS; i++) {
		free(MK[i].m);
		MK[i].m = NULL;
		MK[i].n = MK[i].cap = 0;
	}
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench_chat: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	cleanup();
	if (L)
		sr_loop_free(L);
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

static void pump(int ms)
{
	if (sr_loop_run_once(L, ms) < 0)
		die("sr_loop_run_once failed");
}

/* ---- process figures ---- */

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

/* utime + stime of another process, seconds (-1 if unknown). */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long ut = 0, st = 0;
	/* fields 3.. after ") ": state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

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

static double loadavg1(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

/* ---- the fake ---- */

static cJSON *fake_json(const char *method, const char *path, const char *body)
{
	long st = 0;
	char *resp = NULL;
	if (fake_mm_call(&F, method, path, body, &st, &resp) < 0)
		die("fake %s %s: %s", method, path, F.err);
	if (st != 200 && st != 201)
		die("fake %s %s: HTTP %ld %.300s", method, path, st, resp ? resp : "");
	cJSON *o = cJSON_Parse(resp ? resp : "");
	free(resp);
	if (!o)
		die("fake %s %s: not JSON", method, path);
	return o;
}

static void user_post(const char *msg, char *id, size_t idlen)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "user", "alice");
	cJSON_AddStringToObject(o, "channel_id", F.town_id);
	cJSON_AddStringToObject(o, "message", msg);
	char *b = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	cJSON *r = fake_json("POST", "/_fake/post", b);
	free(b);
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(r, "id");
	if (id)
		snprintf(id, idlen, "%s", cJSON_IsString(pid) ? pid->valuestring : "");
	cJSON_Delete(r);
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void row(const char *label, double *v, size_t k, size_t of)
{
	if (!k) {
		printf("    %-46s %8s %8s %8s %8s   (0 of %zu)\n", label, "-", "-", "-", "-", of);
		return;
	}
	qsort(v, k, sizeof(double), cmp_double);
	size_t i50 = (size_t)(0.5 * (double)(k - 1) + 0.5);
	size_t i95 = (size_t)(0.95 * (double)(k - 1) + 0.5);
	printf("    %-46s %8.0f %8.0f %8.0f %8.0f   (%zu of %zu)\n", label, v[i50], v[i95], v[k - 1],
	       v[0], k, of);
}

/* ---- environment ---- */

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

static void print_env(int nhosts)
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
	char ssh[128], tmux[64], py[64];
	first_line("ssh -V 2>&1", ssh, sizeof(ssh));
	first_line("tmux -V 2>&1", tmux, sizeof(tmux));
	first_line(FAKE_MM_PYTHON " --version 2>&1", py, sizeof(py));
	printf("bench_chat — %s\n", date);
	printf("  machine: %ld CPUs online (%s), %s RAM, %s %s %s; load average (1 min) %.2f\n",
	       sysconf(_SC_NPROCESSORS_ONLN), model, mem, u.sysname, u.release, u.machine,
	       loadavg1());
	printf("  software: %s; %s; fake Mattermost on %s + aiohttp\n", ssh, tmux, py);
	printf("  build: %s%s\n",
#ifdef __OPTIMIZE__
	       "optimised",
#else
	       "not optimised",
#endif
#if defined(__SANITIZE_ADDRESS__)
	       ", ASan"
#else
	       ""
#endif
	);
	printf("  setup: %d sessions, %d sshd host%s (MaxSessions 64 each), runtime none, tmux"
	       " holders, 120x40, fake rate limit ON (10/s, burst 100), relay pacer 10/s burst 100\n",
	       OPT_SESSIONS, nhosts, nhosts > 1 ? "s" : "");
	printf("  window %.0f s after all sessions run + %.0f s warm-up; markers every %.1f s per"
	       " session; %.0f s grace for late markers\n",
	       OPT_SECS, OPT_WARMUP, OPT_MARKER, OPT_GRACE);
	printf("  this process is the relay (relay + firewall log backend + HTTP + chat on one loop);"
	       " sshd, tmux, the replayers and the fake share the machine\n");
}

/* ---- the run ---- */

static void setup(int nhosts, const char *self)
{
	snprintf(TMP, sizeof(TMP), "/tmp/smrelay-chatbench-XXXXXX");
	if (!mkdtemp(TMP))
		die("mkdtemp: %s", strerror(errno));
	for (int i = 0; i < nhosts; i++) {
		if (sshd_start(&D[i]) < 0)
			die("sshd_start: %s", D[i].err);
		ND++;
	}
	char path[PATH_MAX], src[PATH_MAX], buf[2048];
	char kh[400];
	snprintf(kh, sizeof(kh), "%s/known_hosts", TMP);
	write_file(kh, "", 0644);
	for (int i = 0; i < nhosts; i++)
		append_file(kh, D[i].known_hosts);
	if (nhosts > 1) /* one key for both */
		append_file(sshd_path(&D[1], "authorized_keys", path, sizeof(path)),
			    sshd_path(&D[0], "user_key.pub", src, sizeof(src)));

	/* the replayer's directory */
	snprintf(path, sizeof(path), "%s/slots", TMP);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/markers", TMP);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/demo", TMP);
	mkdir(path, 0755);
	char recs[4096] = "";
	size_t rl = 0;
	if (OPT_REC) {
		rl += (size_t)snprintf(recs + rl, sizeof(recs) - rl, "%s/%s.raw %s/%s.timing\n",
				       SR_FIXTURES_DIR, OPT_REC, SR_FIXTURES_DIR, OPT_REC);
	} else {
		for (size_t i = 0; i < sizeof(CLAUDE_RECS) / sizeof(CLAUDE_RECS[0]); i++)
			rl += (size_t)snprintf(recs + rl, sizeof(recs) - rl,
					       "%s/%s.raw %s/%s.timing\n", SR_FIXTURES_DIR,
					       CLAUDE_RECS[i], SR_FIXTURES_DIR, CLAUDE_RECS[i]);
	}
	snprintf(path, sizeof(path), "%s/recordings", TMP);
	write_file(path, recs, 0644);

	if (fake_mm_start(&F, NULL) < 0)
		die("fake Mattermost: %s", F.err);
	cJSON_Delete(fake_json("POST", "/_fake/ratelimit",
			       "{\"enabled\":true,\"per_sec\":10,\"burst\":100}"));

	if (nhosts == 1) {
		snprintf(buf, sizeof(buf), "127.0.0.1:%u", D[0].port);
		env_set("SM_VM_HOST", buf);
	} else {
		snprintf(buf, sizeof(buf), "127.0.0.1:%u,127.0.0.1:%u", D[0].port, D[1].port);
		env_set("SM_VM_HOSTS", buf);
	}
	env_set("SM_VM_USER", D[0].user);
	env_set("SM_VM_SSH_KEY_PATH", D[0].user_key);
	env_set("SM_VM_KNOWN_HOSTS", kh);
	env_set("SM_CONTAINER_RUNTIME", "none");
	snprintf(buf, sizeof(buf), "%.1500s --replay %s %ld", self, TMP, (long)(OPT_MARKER * 1000.0));
	env_set("SM_CLAUDE_COMMAND", buf);
	snprintf(buf, sizeof(buf), "{\"demo\": \"%s/demo\"}", TMP);
	env_set("SM_PROJECTS", buf);
	snprintf(buf, sizeof(buf), "%s/state", TMP);
	env_set("SM_STATE_DIR", buf);
	/* forwarding runs as in production: one variable, set */
	setenv("SMRELAY_BENCH_TOKEN", "not-a-secret", 1);
	env_set("SM_CONTAINER_ENV", "SMRELAY_BENCH_TOKEN");
	env_set("SM_COLS", "120");
	env_set("SM_ROWS", "40");
	env_set("SM_MM_URL", F.url);
	env_set("SM_MM_TOKEN", F.bot_token);
	env_set("SM_ALLOWED_USERS", "alice");
	env_set("SM_LISTEN_ADDR", "127.0.0.1:0");
	snprintf(buf, sizeof(buf), "%s/audit.jsonl", TMP);
	env_set("SM_AUDIT_LOG", buf);

	char err[1024];
	if (sr_config_load(&C, env_get, err, sizeof(err)) < 0)
		die("config: %s", err);
	struct sr_relay_opts ro = {
		.loop = L, .cfg = &C, .hooks = {.on_op = hook_op, .on_state = hook_state}};
	if (sr_relay_new(&ro, &R, err, sizeof(err)) < 0)
		die("relay: %s", err);
	if (sr_fw_new(L, &C, &FW, err, sizeof(err)) < 0)
		die("firewall: %s", err);
	if (sr_fw_follow(FW, R) < 0)
		die("sr_fw_follow failed");
	if (sr_http_new(L, C.listen_addr, &H, err, sizeof(err)) < 0)
		die("http: %s", err);
	if (sr_chat_new(L, &C, R, FW, H, &CH, err, sizeof(err)) < 0)
		die("chat: %s", err);
	double end = now_s() + 60;
	for (;;) {
		int ok = sr_chat_connected(CH);
		for (size_t i = 0; i < sr_relay_nhosts(R); i++)
			ok = ok && sr_host_ready(sr_relay_host(R, i));
		if (ok)
			break;
		if (now_s() > end)
			die("not connected (chat %d)", sr_chat_connected(CH));
		pump(50);
	}
}

static int nrunning(int *ended)
{
	int n = 0, e = 0;
	for (int i = 0; i < NSS; i++) {
		n += SS[i].running && !SS[i].ended;
		e += SS[i].ended;
	}
	*ended = e;
	return n;
}

/* /_fake/stats "requests" deltas. */
struct routes {
	char name[40][96];
	double d[40];
	int n;
};

static double route_total(const cJSON *a, const cJSON *b, struct routes *out)
{
	const cJSON *ra = cJSON_GetObjectItemCaseSensitive(a, "requests");
	const cJSON *rb = cJSON_GetObjectItemCaseSensitive(b, "requests");
	const cJSON *it;
	double total = 0;
	out->n = 0;
	cJSON_ArrayForEach(it, rb)
	{
		if (!cJSON_IsNumber(it) || !it->string)
			continue;
		double d = it->valuedouble - jnum(ra, it->string);
		if (d <= 0)
			continue;
		if (strstr(it->string, "websocket")) /* the upgrade, not a REST call */
			continue;
		total += d;
		if (out->n < 40) {
			snprintf(out->name[out->n], sizeof(out->name[0]), "%s", it->string);
			out->d[out->n++] = d;
		}
	}
	return total;
}

/* Markers logged by the replayers: stamps. */
static void read_marker_logs(void)
{
	char dir[400];
	snprintf(dir, sizeof(dir), "%s/markers", TMP);
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		int slot = atoi(e->d_name);
		char path[700], line[128];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			unsigned long long st;
			unsigned seq;
			if (sscanf(line, "%llu %u", &st, &seq) != 2)
				continue;
			struct mark *m = mark_get(slot, seq);
			if (m)
				m->stamp = st;
		}
		fclose(f);
	}
	closedir(d);
}

/* Every post write at the fake since event index `from`: markers' first
 * appearance (the post's update_at), and counts. */
static unsigned long NPOST_CARD, NPOST_CODE, NPOST_TEXT;

static void scan_fake_events(long from, unsigned long *nposted, unsigned long *nedited,
			     double *bytes_edit)
{
	char path[64];
	snprintf(path, sizeof(path), "/_fake/events?after=%ld", from);
	cJSON *o = fake_json("GET", path, NULL);
	const cJSON *evs = cJSON_GetObjectItemCaseSensitive(o, "events");
	const cJSON *ev;
	*nposted = *nedited = 0;
	*bytes_edit = 0;
	cJSON_ArrayForEach(ev, evs)
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(ev, "event");
		if (!cJSON_IsString(name))
			continue;
		int posted = !strcmp(name->valuestring, "posted");
		int edited = !strcmp(name->valuestring, "post_edited");
		if (!posted && !edited)
			continue;
		const cJSON *data = cJSON_GetObjectItemCaseSensitive(ev, "data");
		const cJSON *ps = cJSON_GetObjectItemCaseSensitive(data, "post");
		if (!cJSON_IsString(ps))
			continue;
		cJSON *p = cJSON_Parse(ps->valuestring);
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(p, "message");
		const cJSON *uid = cJSON_GetObjectItemCaseSensitive(p, "user_id");
		if (cJSON_IsString(uid) && !strcmp(uid->valuestring, F.bot_id)) {
			if (posted) {
				(*nposted)++;
				const char *t = cJSON_IsString(msg) ? msg->valuestring : "";
				const cJSON *pr = cJSON_GetObjectItemCaseSensitive(p, "props");
				if (cJSON_GetObjectItemCaseSensitive(pr, "attachments"))
					NPOST_CARD++;
				else if (!strncmp(t, "```", 3))
					NPOST_CODE++;
				else if (NPOST_TEXT++ < 3)
					printf("  (bot text post: %.100s)\n", t);
			} else {
				(*nedited)++;
				if (cJSON_IsString(msg))
					*bytes_edit += (double)strlen(msg->valuestring);
			}
		}
		if (cJSON_IsString(msg))
			scan_markers(msg->valuestring, (uint64_t)jnum(p, "update_at"), 1);
		cJSON_Delete(p);
	}
	cJSON_Delete(o);
}

static long events_next(void)
{
	cJSON *o = fake_json("GET", "/_fake/events?after=1000000000", NULL);
	long n = (long)jnum(o, "next");
	cJSON_Delete(o);
	return n;
}

struct lat {
	double *v[4]; /* PTY->op, op->fake, PTY->fake (verbatim), PTY->reflected */
	size_t n[4], nw;
	int sessions, sessions_seen; /* with markers; with one in a post */
};

static void lat_push(struct lat *l, int i, double x)
{
	double *nv = realloc(l->v[i], (l->n[i] + 1) * sizeof(double));
	if (!nv)
		die("out of memory");
	l->v[i] = nv;
	nv[l->n[i]++] = x;
}

/* Markers stamped in [w0, w1] of the sessions running recording rec
 * (slot % nrec; -1: all). */
static void lat_collect(struct lat *l, uint64_t w0, uint64_t w1, int rec, int nrec)
{
	memset(l, 0, sizeof(*l));
	for (int s = 0; s < MAXSESS; s++) {
		struct slotm *sm = &MK[s];
		int any = 0, seen = 0;
		if (rec >= 0 && s % nrec != rec)
			continue;
		for (size_t q = 0; q < sm->n; q++) {
			struct mark *m = &sm->m[q];
			if (!m->stamp || m->stamp < w0 || m->stamp > w1)
				continue;
			l->nw++;
			any = 1;
			if (m->t_op)
				lat_push(l, 0, (double)m->t_op - (double)m->stamp);
			if (m->t_fake) {
				seen = 1;
				lat_push(l, 2, (double)m->t_fake - (double)m->stamp);
				if (m->t_op)
					lat_push(l, 1, (double)m->t_fake - (double)m->t_op);
			}
			/* reflected: the first write holding this or a newer marker */
			uint64_t best = 0;
			for (size_t k = q; k < sm->n; k++)
				if (sm->m[k].t_fake && (!best || sm->m[k].t_fake < best))
					best = sm->m[k].t_fake;
			if (best)
				lat_push(l, 3, (double)best - (double)m->stamp);
		}
		l->sessions += any;
		l->sessions_seen += seen;
	}
}

static void lat_free(struct lat *l)
{
	for (int i = 0; i < 4; i++)
		free(l->v[i]);
}

/* "p50/p95/max" of v (sorted here), or "-". */
static const char *ppm(double *v, size_t k, char *buf, size_t len)
{
	if (!k) {
		snprintf(buf, len, "-");
		return buf;
	}
	qsort(v, k, sizeof(double), cmp_double);
	snprintf(buf, len, "%.0f/%.0f/%.0f", v[(size_t)(0.5 * (double)(k - 1) + 0.5)],
		 v[(size_t)(0.95 * (double)(k - 1) + 0.5)], v[k - 1]);
	return buf;
}

static void report_markers(uint64_t w0, uint64_t w1, int nrec)
{
	struct lat l;
	lat_collect(&l, w0, w1, -1, nrec);
	size_t nw = l.nw;
	printf("  markers stamped in the window: %zu from %d sessions\n", nw, l.sessions);
	printf("    %-46s %8s %8s %8s %8s\n", "latency, ms", "p50", "p95", "max", "min");
	row("PTY write -> relay op holding it", l.v[0], l.n[0], nw);
	row("relay op -> post write at the fake", l.v[1], l.n[1], nw);
	row("PTY write -> post write holding it", l.v[2], l.n[2], nw);
	row("PTY write -> post with it or a newer one", l.v[3], l.n[3], nw);
	printf("  markers never in any post (superseded on screen before the next edit, or"
	       " never on screen): %zu of %zu (%.1f %%); in no relay op: %zu\n",
	       nw - l.n[2], nw, nw ? 100.0 * (double)(nw - l.n[2]) / (double)nw : 0.0,
	       nw - l.n[0]);
	printf("  sessions with at least one of their window's markers in a post: %d of %d\n",
	       l.sessions_seen, l.sessions);
	lat_free(&l);
	if (nrec < 2)
		return;
	printf("  per recording (ms, p50/p95/max):\n");
	printf("    %-24s %5s %19s %8s %19s %19s\n", "recording", "marks", "PTY->op", "in posts",
	       "PTY->post", "PTY->it or newer");
	for (int r = 0; r < nrec; r++) {
		char b0[64], b2[64], b3[64];
		lat_collect(&l, w0, w1, r, nrec);
		printf("    %-24s %5zu %19s %8zu %19s %19s\n", CLAUDE_RECS[r], l.nw,
		       ppm(l.v[0], l.n[0], b0, sizeof(b0)), l.n[2], ppm(l.v[2], l.n[2], b2, sizeof(b2)),
		       ppm(l.v[3], l.n[3], b3, sizeof(b3)));
		lat_free(&l);
	}
}

static void stop_all(void)
{
	const char *ids[MAXSESS];
	size_t n = sr_relay_list(R, ids, MAXSESS);
	char idc[MAXSESS][24];
	for (size_t i = 0; i < n; i++)
		snprintf(idc[i], sizeof(idc[i]), "%s", ids[i]);
	int done[MAXSESS] = {0};
	size_t next = 0, answered = 0;
	double t0 = now_s();
	while (answered < n && now_s() - t0 < 120) {
		size_t inflight = 0;
		for (size_t i = 0; i < next; i++)
			inflight += !done[i];
		while (next < n && inflight < 8) {
			char err[256];
			if (sr_relay_stop(R, idc[next], NULL, NULL, err, sizeof(err)) < 0)
				done[next] = 1;
			next++;
			inflight++;
		}
		pump(50);
		answered = 0;
		for (size_t i = 0; i < next; i++) {
			struct sr_relay_info in;
			if (!done[i] && (sr_relay_info(R, idc[i], &in) < 0 || in.state == SR_RS_ENDED))
				done[i] = 1;
			answered += done[i];
		}
	}
	printf("  stopped %zu of %zu sessions in %.1f s (8 at a time)\n", answered, n,
	       now_s() - t0);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_chat [--sessions=N] [--secs=S] [--warmup=S] [--grace=S]"
			" [--marker-secs=S] [--hosts=1|2] [--recording=NAME]\n"
			"       bench_chat --replay DIR MARKER_MS   (the sessions' program)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--replay"))
		return replay_main(argc, argv);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strncmp(a, "--sessions=", 11))
			OPT_SESSIONS = atoi(a + 11);
		else if (!strncmp(a, "--secs=", 7))
			OPT_SECS = atof(a + 7);
		else if (!strncmp(a, "--warmup=", 9))
			OPT_WARMUP = atof(a + 9);
		else if (!strncmp(a, "--grace=", 8))
			OPT_GRACE = atof(a + 8);
		else if (!strncmp(a, "--marker-secs=", 14))
			OPT_MARKER = atof(a + 14);
		else if (!strncmp(a, "--hosts=", 8))
			OPT_HOSTS = atoi(a + 8);
		else if (!strncmp(a, "--recording=", 12))
			OPT_REC = a + 12;
		else
			usage();
	}
	if (OPT_SESSIONS < 1 || OPT_SESSIONS > 120 || OPT_SECS <= 0 || OPT_WARMUP < 0 ||
	    OPT_GRACE < 0 || OPT_MARKER < 0.2 || OPT_HOSTS < 0 || OPT_HOSTS > 2 ||
	    (OPT_REC && strpbrk(OPT_REC, "/ ")))
		usage();
	int nhosts = OPT_HOSTS ? OPT_HOSTS : (OPT_SESSIONS > 60 ? 2 : 1);
	if (OPT_SESSIONS > 60 * nhosts) {
		fprintf(stderr, "bench_chat: %d sessions need --hosts=2 (sshd MaxSessions 64)\n",
			OPT_SESSIONS);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!sshd_available()) {
		printf("bench_chat: OpenSSH is not installed; skipped\n");
		return 0;
	}
	if (!fake_mm_available()) {
		printf("bench_chat: the fake Mattermost needs python3 and python3-aiohttp; skipped\n");
		return 0;
	}
	if (system("command -v tmux >/dev/null 2>&1") != 0) {
		printf("bench_chat: tmux is not installed; skipped\n");
		return 0;
	}
	char self[PATH_MAX];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sl <= 0)
		return 1;
	self[sl] = '\0';
	if (strchr(self, ' ')) {
		fprintf(stderr, "bench_chat: the binary's path has a blank (SM_CLAUDE_COMMAND splits"
				" on blanks)\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	print_env(nhosts);
	sr_log_set_level(SR_LOG_WARN);
	sr_log_set_sink(log_sink, NULL);
	if (sr_loop_new(&L) < 0)
		die("sr_loop_new failed");
	setup(nhosts, self);

	/* ---- start N sessions from chat ---- */
	int n = OPT_SESSIONS, ended = 0;
	double t_start = now_s();
	for (int i = 0; i < n; i++) {
		user_post("@claude start demo", NULL, 0);
		pump(0);
	}
	double guard = 60 + 1.0 * n;
	while (nrunning(&ended) < n) {
		if (now_s() - t_start > guard || ended)
			die("only %d of %d sessions run after %.0f s (%d ended)", nrunning(&ended), n,
			    now_s() - t_start, ended);
		pump(50);
	}
	double t_all = now_s() - t_start;
	printf("\n  all %d sessions RUNNING %.1f s after the first `@claude start demo`\n", n, t_all);
	for (double end = now_s() + OPT_WARMUP; now_s() < end;)
		pump(100);

	/* ---- the window ---- */
	cJSON *st0 = fake_json("GET", "/_fake/stats", NULL);
	long ev0 = events_next();
	unsigned long live0 = OPS_LIVE, commit0 = OPS_COMMIT_LINES, cops0 = OPS_COMMIT,
		      seal0 = OPS_SEAL;
	unsigned long long sb0, stt0, sb1, stt1;
	sys_cpu(&sb0, &stt0);
	double fake0 = proc_cpu_s(F.pid);
	long rss0 = status_kib("VmRSS"), rss_max = rss0;
	struct mm_conn_stats cs0 = {0}, cs1 = {0}, csq;
	if (CONN)
		mm_conn_stats(CONN, &cs0);
	double qsum = 0;
	size_t qmax = 0, qn = 0;
	IN_WINDOW = 1;
	printf("\n  window: %.0f s (the pacer's queue every 10 s)\n", OPT_SECS);
	double c0 = cpu_s(), m0 = now_s();
	uint64_t w0 = wall_ms();
	double next_sample = m0 + 1;
	while (now_s() - m0 < OPT_SECS) {
		double left = OPT_SECS - (now_s() - m0);
		pump(left > 0.2 ? 200 : (int)(left * 1000) + 1);
		if (now_s() >= next_sample) {
			long r = status_kib("VmRSS");
			if (r > rss_max)
				rss_max = r;
			if (CONN) {
				mm_conn_stats(CONN, &csq);
				qsum += (double)csq.rest_queued;
				qn++;
				if (csq.rest_queued > qmax)
					qmax = csq.rest_queued;
				if (qn % 10 == 0)
					printf("    +%3zu s: REST queue %zu, %lu sent since the window's start,"
					       " RSS %ld KiB\n",
					       qn, csq.rest_queued, csq.rest_sent - cs0.rest_sent, r);
			}
			next_sample += 1;
		}
	}
	double dc = cpu_s() - c0, dw = now_s() - m0;
	uint64_t w1 = wall_ms();
	IN_WINDOW = 0;
	if (CONN)
		mm_conn_stats(CONN, &cs1);
	long rss1 = status_kib("VmRSS");
	if (rss1 > rss_max)
		rss_max = rss1;
	double fake1 = proc_cpu_s(F.pid);
	sys_cpu(&sb1, &stt1);
	cJSON *st1 = fake_json("GET", "/_fake/stats", NULL);
	unsigned long dlive = OPS_LIVE - live0, dcommit = OPS_COMMIT_LINES - commit0;
	unsigned long dcops = OPS_COMMIT - cops0, dseal = OPS_SEAL - seal0;
	int run_end = nrunning(&ended);

	/* ---- grace: late markers reach the fake ---- */
	for (double end = now_s() + OPT_GRACE; now_s() < end;)
		pump(100);
	cJSON *st2 = fake_json("GET", "/_fake/stats", NULL);

	/* ---- report ---- */
	double mins = dw / 60.0;
	struct routes rt;
	double total = route_total(st0, st1, &rt);
	double e429 = jnum(st1, "status_429") - jnum(st0, "status_429");
	printf("\n== %d session%s, window %.1f s ==\n", n, n > 1 ? "s" : "", dw);
	printf("  REST calls at the fake in the window: %.0f = %.1f/s = %.1f per session per minute\n",
	       total, total / dw, total / n / mins);
	for (int i = 0; i < rt.n; i++)
		printf("    %-44s %6.0f  (%.2f per session per minute)\n", rt.name[i], rt.d[i],
		       rt.d[i] / n / mins);
	printf("  429 answers: %.0f in the window, %.0f over the whole run (start storm and grace"
	       " included)\n",
	       e429, jnum(st2, "status_429"));
	printf("  fake: max concurrent REST requests %.0f; WebSocket connects %.0f, resumes %.0f\n",
	       jnum(st2, "max_concurrent"), jnum(st2, "ws_connects"), jnum(st2, "ws_resumes"));
	report_taps(&cs0, &cs1, qn ? qsum / (double)qn : 0.0, qmax);
	printf("  relay ops in the window: %lu live updates (%.1f per session per minute), %lu"
	       " commits (%.1f per session per minute) with %lu lines, %lu seals\n",
	       dlive, (double)dlive / n / mins, dcops, (double)dcops / n / mins, dcommit, dseal);

	read_marker_logs();
	unsigned long nposted = 0, nedited = 0;
	double bedit = 0;
	scan_fake_events(ev0, &nposted, &nedited, &bedit);
	printf("  bot post writes at the fake from the window's start to the end of grace: %lu"
	       " created (%lu screen/transcript, %lu cards, %lu text), %lu edited (%.1f KB per edit"
	       " on average)\n",
	       nposted, NPOST_CODE, NPOST_CARD, NPOST_TEXT, nedited,
	       nedited ? bedit / (double)nedited / 1e3 : 0.0);
	report_markers(w0, w1, OPT_REC ? 1 : (int)(sizeof(CLAUDE_RECS) / sizeof(CLAUDE_RECS[0])));

	printf("  relay CPU (this process, user+sys): %.2f s over %.1f s = %.1f %% of one core"
	       " (%.3f %% per session)\n",
	       dc, dw, 100.0 * dc / dw, 100.0 * dc / dw / n);
	printf("  relay RSS: %ld KiB at the window's start, %ld KiB at its end, max %ld KiB; peak"
	       " (VmHWM) %ld KiB\n",
	       rss0, rss1, rss_max, status_kib("VmHWM"));
	if (fake0 >= 0 && fake1 >= 0)
		printf("  fake Mattermost CPU: %.1f %% of one core\n", 100.0 * (fake1 - fake0) / dw);
	if (stt1 > stt0)
		printf("  whole machine (%ld CPUs, incl. sshd, tmux, replayers, fake): %.0f %% busy;"
		       " load average (1 min) %.2f\n",
		       sysconf(_SC_NPROCESSORS_ONLN),
		       100.0 * (double)(sb1 - sb0) / (double)(stt1 - stt0), loadavg1());
	int det = 0;
	for (int i = 0; i < NSS; i++)
		det += SS[i].detached;
	printf("  sessions running at the window's end: %d of %d (%d ended, %d detaches seen)\n",
	       run_end, n, ended, det);
	for (int i = 0, shown = 0; i < NSS && shown < 3; i++)
		if (SS[i].ended) {
			printf("    %s ended: %s\n", SS[i].id, SS[i].end_why);
			shown++;
		}
	printf("  pending approval cards: %zu\n", sr_chat_pending(CH));
	cJSON_Delete(st0);
	cJSON_Delete(st1);
	cJSON_Delete(st2);

	stop_all();
	printf("relay log: %d warnings, %d errors\n", LOG_WARN, LOG_ERR);
	cleanup();
	sr_loop_free(L);
	int left = 0;
	for (int i = 0; i < NSS; i++) {
		char cmd[200];
		snprintf(cmd, sizeof(cmd), "tmux -L smrelay-%.20s has-session 2>/dev/null", SS[i].id);
		left += system(cmd) == 0;
	}
	printf("cleanup: %d of %d tmux servers (smrelay-<id>) still running\n", left, NSS);
	return 0;
}
