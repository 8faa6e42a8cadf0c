/*
 * bench_vt.c — figures for the vt pipeline (screen + diff + scanner +
 * batching). Prints measurements; asserts nothing.
 *
 *   bench_vt [--fixtures DIR] [--mb N]     all benchmarks
 *   bench_vt --write-synthetic FILE [--mb N]  writes the synthetic stream
 *   bench_vt --write-fixtures FILE [--mb N]   writes the fixtures, concatenated
 *   bench_vt --file FILE [--cols C --rows R]  pipeline throughput on FILE
 *   bench_vt --pty FILE [--cols C --rows R]   same, read from a PTY running
 *                                             `cat FILE` (like a tmux pane)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sr_file.h"
#include "vt_pipe.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ms(void)
{
	return (uint64_t)(now_s() * 1000.0);
}

struct counts {
	uint64_t commits, lines, lives, markers;
};

static void count_op(void *data, const struct vt_op *op)
{
	struct counts *c = data;
	switch (op->kind) {
	case VT_OP_COMMIT:
		c->commits++;
		c->lines += op->nlines;
		break;
	case VT_OP_LIVE:
		c->lives++;
		break;
	case VT_OP_MARKER:
		c->markers++;
		break;
	default:
		break;
	}
}

static struct vt_pipe *new_pipe(unsigned cols, unsigned rows, unsigned sb,
				struct counts *c)
{
	struct vt_pipe_opts o = {
		.screen = {.cols = cols, .rows = rows, .scrollback_lines = sb},
		.cb = count_op,
		.cb_data = c,
	};
	struct vt_pipe *p;
	char err[128];
	if (vt_pipe_new(&p, &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_vt: %s\n", err);
		exit(1);
	}
	return p;
}

/* Feeds buf in 16 KiB reads on the real clock (frames every 50 ms while
 * output flows, as live), ticking after each read. Returns seconds. */
static double run_pipeline(const char *buf, size_t len, unsigned cols,
			   unsigned rows, bool frame_per_read, struct counts *c,
			   uint64_t *frames)
{
	struct vt_pipe *p = new_pipe(cols, rows, 10000, c);
	double t0 = now_s();
	uint64_t fake = 0;
	for (size_t off = 0; off < len; off += 16384) {
		size_t n = len - off < 16384 ? len - off : 16384;
		/* frame_per_read: every read is followed by a quiet gap */
		uint64_t t = frame_per_read ? (fake += 20) : now_ms();
		vt_pipe_feed(p, buf + off, n, t);
		vt_pipe_tick(p, frame_per_read ? t + 16 : t);
	}
	vt_pipe_end(p, frame_per_read ? fake + 100 : now_ms());
	double dt = now_s() - t0;
	*frames = vt_pipe_frames(p);
	vt_pipe_free(p);
	return dt;
}

static void report(const char *what, size_t bytes, double secs, uint64_t frames,
		   const struct counts *c)
{
	printf("%-44s %8.1f MiB in %6.3f s = %7.1f MiB/s  (%llu frames, %llu lines committed, %llu live, %llu markers)\n",
	       what, (double)bytes / 1048576.0, secs, (double)bytes / 1048576.0 / secs,
	       (unsigned long long)frames, (unsigned long long)c->lines,
	       (unsigned long long)c->lives, (unsigned long long)c->markers);
}

/* xorshift: a deterministic stream for repeatable figures */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* Coloured text with cursor movement: SGR 16/256/truecolour, CUP, EL,
 * CUU/CUD, wide glyphs, CRLF scrolling, an occasional marker. */
static char *synthetic(size_t target, size_t *len)
{
	char *b = malloc(target + 512);
	size_t n = 0;
	static const char *const words[] = {"lorem", "ipsum", "dolor", "sit", "amet",
					    "中文", "ünïcödé", "─────", "[ok]", "→"};
	while (n < target) {
		switch (rnd() % 8) {
		case 0:
			n += (size_t)sprintf(b + n, "\x1b[38;5;%um", rnd() % 256);
			break;
		case 1:
			n += (size_t)sprintf(b + n, "\x1b[38;2;%u;%u;%um\x1b[48;2;%u;%u;%um",
					     rnd() % 256, rnd() % 256, rnd() % 256,
					     rnd() % 256, rnd() % 256, rnd() % 256);
			break;
		case 2:
			n += (size_t)sprintf(b + n, "\x1b[%u;%uH", 1 + rnd() % 40, 1 + rnd() % 120);
			break;
		case 3:
			n += (size_t)sprintf(b + n, "\x1b[K\x1b[%uA", 1 + rnd() % 3);
			break;
		case 4:
			n += (size_t)sprintf(b + n, "\x1b[0m\r\n");
			break;
		case 5:
			if (rnd() % 64 == 0) {
				n += (size_t)sprintf(b + n, "[NETWORK_REQUEST: host%u.example.com]\r\n",
						     rnd() % 1000);
				break;
			}
			/* fall through */
		default:
			for (int k = 0; k < 6; k++)
				n += (size_t)sprintf(b + n, "%s ", words[rnd() % 10]);
			break;
		}
	}
	*len = n;
	return b;
}

static char *fixtures_concat(const char *dir, size_t target, size_t *len)
{
	static const char *const names[] = {
		"claude-network-request", "claude-long-output", "claude-inline-long",
		"claude-spinner", "claude-apikey-dialog", "vim-edit", "less-scroll",
		"whiptail-menu", "progress-bar"};
	char *one = NULL;
	size_t onelen = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s.raw", dir, names[i]);
		size_t l;
		char *f = sr_read_file(path, &l);
		if (!f) {
			fprintf(stderr, "bench_vt: cannot read %s\n", path);
			exit(1);
		}
		one = realloc(one, onelen + l);
		memcpy(one + onelen, f, l);
		onelen += l;
		free(f);
	}
	size_t reps = target / onelen + 1;
	char *all = malloc(onelen * reps);
	for (size_t r = 0; r < reps; r++)
		memcpy(all + r * onelen, one, onelen);
	free(one);
	*len = onelen * reps;
	return all;
}

/* Heap in use per pipeline: 120x40, 10 000 lines of scrollback, filled. */
static void memory_per_instance(void)
{
	enum { N = 8 };
	struct counts c = {0};
	struct vt_pipe *p[N];
	char line[160];
	struct mallinfo2 before = mallinfo2();
	for (int i = 0; i < N; i++) {
		p[i] = new_pipe(120, 40, 10000, &c);
		for (int k = 0; k < 10100; k++) {
			int l = snprintf(line, sizeof(line),
					 "\x1b[32m%06d\x1b[0m lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore\r\n", k);
			vt_pipe_feed(p[i], line, (size_t)l, 0);
		}
		vt_pipe_tick(p[i], 1000);
	}
	struct mallinfo2 after = mallinfo2();
	size_t used = after.uordblks + after.hblkhd - before.uordblks - before.hblkhd;
	size_t hist = vt_screen_history_len(vt_pipe_screen(p[0]));
	printf("memory per vt pipeline (120x40, %zu scrollback lines of ~112 chars): %.2f MiB heap\n",
	       hist, (double)used / N / 1048576.0);
	for (int i = 0; i < N; i++)
		vt_pipe_free(p[i]);
}

/* Reads FILE through a real PTY (child runs cat), as a tmux pane would. */
static double run_pty(const char *path, unsigned cols, unsigned rows, size_t *bytes,
		      uint64_t *frames, struct counts *c)
{
	struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
	int master;
	double t0 = now_s();
	pid_t pid = forkpty(&master, NULL, NULL, &ws);
	if (pid < 0) {
		perror("forkpty");
		exit(1);
	}
	if (pid == 0) {
		execlp("sh", "sh", "-c", "stty raw -echo; exec cat \"$0\"", path, (char *)NULL);
		_exit(127);
	}
	struct vt_pipe *p = new_pipe(cols, rows, 10000, c);
	char buf[16384];
	*bytes = 0;
	for (;;) {
		ssize_t n = read(master, buf, sizeof(buf));
		if (n <= 0)
			break; /* EIO once the child has exited */
		*bytes += (size_t)n;
		uint64_t t = now_ms();
		vt_pipe_feed(p, buf, (size_t)n, t);
		vt_pipe_tick(p, t);
	}
	vt_pipe_end(p, now_ms());
	double dt = now_s() - t0;
	*frames = vt_pipe_frames(p);
	vt_pipe_free(p);
	close(master);
	waitpid(pid, NULL, 0);
	return dt;
}

int main(int argc, char **argv)
{
	const char *fixtures = SR_FIXTURES_DIR, *file = NULL, *pty = NULL, *write_to = NULL;
	bool write_fixtures = false;
	unsigned cols = 120, rows = 40;
	size_t mb = 64;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--fixtures") && i + 1 < argc)
			fixtures = argv[++i];
		else if (!strcmp(argv[i], "--mb") && i + 1 < argc)
			mb = (size_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--file") && i + 1 < argc)
			file = argv[++i];
		else if (!strcmp(argv[i], "--pty") && i + 1 < argc)
			pty = argv[++i];
		else if (!strcmp(argv[i], "--write-synthetic") && i + 1 < argc)
			write_to = argv[++i];
		else if (!strcmp(argv[i], "--write-fixtures") && i + 1 < argc)
			write_to = argv[++i], write_fixtures = true;
		else if (!strcmp(argv[i], "--cols") && i + 1 < argc)
			cols = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--rows") && i + 1 < argc)
			rows = (unsigned)atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: see the comment at the top of bench/bench_vt.c\n");
			return 2;
		}
	}
	struct counts c = {0};
	uint64_t frames = 0;
	if (write_to) {
		size_t len;
		char *b = write_fixtures ? fixtures_concat(fixtures, mb << 20, &len) : synthetic(mb << 20, &len);
		FILE *fp = fopen(write_to, "wb");
		if (!fp || fwrite(b, 1, len, fp) != len || fclose(fp) != 0) {
			fprintf(stderr, "bench_vt: cannot write %s\n", write_to);
			return 1;
		}
		free(b);
		return 0;
	}
	if (file) {
		size_t len;
		char *b = sr_read_file(file, &len);
		if (!b) {
			fprintf(stderr, "bench_vt: cannot read %s\n", file);
			return 1;
		}
		double dt = run_pipeline(b, len, cols, rows, false, &c, &frames);
		report("pipeline, in process", len, dt, frames, &c);
		free(b);
		return 0;
	}
	if (pty) {
		size_t bytes;
		double dt = run_pty(pty, cols, rows, &bytes, &frames, &c);
		report("pipeline, read from a PTY (cat)", bytes, dt, frames, &c);
		return 0;
	}
	size_t len;
	char *fx = fixtures_concat(fixtures, mb << 20, &len);
	double dt = run_pipeline(fx, len, cols, rows, false, &c, &frames);
	report("(a) fixtures concatenated, live pacing", len, dt, frames, &c);
	memset(&c, 0, sizeof(c));
	dt = run_pipeline(fx, len, cols, rows, true, &c, &frames);
	report("(a') same, a frame after every 16 KiB read", len, dt, frames, &c);
	free(fx);
	memset(&c, 0, sizeof(c));
	char *syn = synthetic(mb << 20, &len);
	dt = run_pipeline(syn, len, cols, rows, false, &c, &frames);
	report("(b) synthetic coloured text + cursor moves", len, dt, frames, &c);
	memset(&c, 0, sizeof(c));
	dt = run_pipeline(syn, len, cols, rows, true, &c, &frames);
	report("(b') same, a frame after every 16 KiB read", len, dt, frames, &c);
	free(syn);
	memory_per_instance();
	return 0;
}
