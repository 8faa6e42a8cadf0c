/* test_support.c — fixture loading for the tests (uses cJSON). */
#include "test_support.h"

#include "sr_file.h"
#include "vt_screen.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *ts_read_file(const char *name, size_t *len)
{
	char path[1024];
	if (name[0] == '/')
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%s/%s", SR_FIXTURES_DIR, name);
	return sr_read_file(path, len);
}

int ts_fixtures(struct ts_fixture *out, int max)
{
	char *json = ts_read_file("index.json", NULL);
	if (!json)
		return -1;
	cJSON *root = cJSON_Parse(json);
	free(json);
	if (!root)
		return -1;
	int n = 0;
	cJSON *it;
	cJSON_ArrayForEach(it, root)
	{
		if (n == max)
			break;
		struct ts_fixture *f = &out[n];
		memset(f, 0, sizeof(*f));
		snprintf(f->name, sizeof(f->name), "%s", it->string);
		f->cols = (unsigned)cJSON_GetNumberValue(cJSON_GetObjectItem(it, "cols"));
		f->rows = (unsigned)cJSON_GetNumberValue(cJSON_GetObjectItem(it, "rows"));
		cJSON *off;
		cJSON_ArrayForEach(off, cJSON_GetObjectItem(it, "golden_offsets"))
		{
			if (f->noffsets < 16)
				f->offsets[f->noffsets++] = (size_t)cJSON_GetNumberValue(off);
		}
		n++;
	}
	cJSON_Delete(root);
	return n;
}

static void feed_range(struct vt_screen *s, const char *raw, size_t from,
		       size_t to, size_t chunk)
{
	for (size_t i = from; i < to; i += chunk)
		vt_screen_feed(s, raw + i, to - i < chunk ? to - i : chunk);
}

char *ts_screen_text(const char *raw, size_t off, unsigned cols, unsigned rows,
		     size_t chunk, const struct ts_resize *rz, size_t nrz)
{
	struct vt_screen *s;
	struct vt_screen_opts o = {.cols = cols, .rows = rows};
	cr_assert_eq(vt_screen_new(&s, &o), 0);
	size_t pos = 0;
	for (size_t i = 0; i < nrz && rz[i].at <= off; i++) {
		cr_assert_geq(rz[i].at, pos, "resizes out of order");
		feed_range(s, raw, pos, rz[i].at, chunk);
		pos = rz[i].at;
		cr_assert_eq(vt_screen_resize(s, rz[i].cols, rz[i].rows), 0);
	}
	feed_range(s, raw, pos, off, chunk);
	struct vt_frame f;
	cr_assert_eq(vt_screen_snapshot(s, &f), 0);
	char *text = NULL;
	cr_assert_eq(vt_frame_text(&f, &text, NULL), 0);
	vt_frame_free(&f);
	vt_screen_free(s);
	return text;
}

/* ---- running a program with stdin fed and stdout/stderr captured ---- */

void ts_run_free(struct ts_run *r)
{
	free(r->out);
	free(r->err);
	*r = (struct ts_run){0};
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ts_append(char **buf, size_t *len, const char *p, size_t n)
{
	char *b = realloc(*buf, *len + n + 1);
	cr_assert_not_null(b);
	memcpy(b + *len, p, n);
	*len += n;
	b[*len] = '\0';
	*buf = b;
}

/* Reads what fd has now; returns 0 at EOF, 1 otherwise. */
static int drain(int fd, char **buf, size_t *len)
{
	char tmp[4096];
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n > 0) {
			ts_append(buf, len, tmp, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n == 0 ? 0 : 1;
	}
}

/* Runs argv (argv[0] a path) in dir, writing in[0..inlen) to its stdin and
 * then closing it. Output is collected until the program exits (a daemon
 * it leaves behind cannot hold the test up). */
struct ts_run ts_run_argv(const char *const *argv, const char *dir, const char *in, size_t inlen)
{
	int pin[2], pout[2], perr[2];
	cr_assert_eq(pipe(pin), 0);
	cr_assert_eq(pipe(pout), 0);
	cr_assert_eq(pipe(perr), 0);
	signal(SIGPIPE, SIG_IGN); /* the program may exit without reading */
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		if (dup2(pin[0], 0) < 0 || dup2(pout[1], 1) < 0 || dup2(perr[1], 2) < 0)
			_exit(126);
		for (int i = 0; i < 2; i++) {
			close(pin[i]);
			close(pout[i]);
			close(perr[i]);
		}
		if (dir && chdir(dir) != 0)
			_exit(126);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	fcntl(pin[1], F_SETFL, O_NONBLOCK);
	fcntl(pout[0], F_SETFL, O_NONBLOCK);
	fcntl(perr[0], F_SETFL, O_NONBLOCK);

	struct ts_run r = {.status = -1};
	ts_append(&r.out, &r.outlen, "", 0);
	ts_append(&r.err, &r.errlen, "", 0);
	size_t off = 0;
	int win = pin[1], rout = pout[0], rerr = perr[0], st = 0;
	if (inlen == 0) {
		close(win);
		win = -1;
	}
	double end = now_s() + 20.0; /* only guards hangs */
	for (;;) {
		struct pollfd p[3] = {{win, POLLOUT, 0}, {rout, POLLIN, 0}, {rerr, POLLIN, 0}};
		poll(p, 3, 50);
		if (win >= 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write(win, in + off, inlen - off);
			if (n > 0)
				off += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || off == inlen) {
				close(win);
				win = -1;
			}
		}
		if (rout >= 0 && !drain(rout, &r.out, &r.outlen)) {
			close(rout);
			rout = -1;
		}
		if (rerr >= 0 && !drain(rerr, &r.err, &r.errlen)) {
			close(rerr);
			rerr = -1;
		}
		if (waitpid(pid, &st, WNOHANG) == pid) {
			if (rout >= 0)
				drain(rout, &r.out, &r.outlen);
			if (rerr >= 0)
				drain(rerr, &r.err, &r.errlen);
			r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			break;
		}
		if (now_s() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
	}
	if (win >= 0)
		close(win);
	if (rout >= 0)
		close(rout);
	if (rerr >= 0)
		close(rerr);
	return r;
}

