/* fw_proc.c — a child process driven without blocking (fw_proc.h).
 * posix_spawnp rather than fork: nothing of ours runs in the child, and
 * glibc reports a failed exec as an error of the spawn call itself. */
#include "fw_proc.h"
#include "fw_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RECHECK_MS 100 /* waitpid while pipes stay open (a grandchild may hold them) */
#define REAP_MS 2      /* pipes closed, exit status not in yet */

struct obuf {
	char *data;
	size_t len, cap;
};

struct fw_proc {
	pid_t pid;
	bool reaped;
	int status;
	bool timed_out, truncated;
	int in_fd, out_fd, err_fd;
	char *in_data;
	size_t in_len, in_off;
	struct obuf out, err;
	size_t max;
	unsigned timeout_ms;
	uint64_t deadline;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Moves fd above 2 with FD_CLOEXEC: a relay started with stdin closed would
 * otherwise get a pipe end at 0, and dup2(0, 0) keeps close-on-exec. */
static int high_cloexec(int fd)
{
	int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	int e = errno;
	close(fd);
	errno = e;
	return n;
}

static int make_pipe(int p[2], int our_end)
{
	int raw[2];
	if (pipe(raw) < 0)
		return -errno;
	p[0] = high_cloexec(raw[0]);
	p[1] = high_cloexec(raw[1]);
	if (p[0] < 0 || p[1] < 0) {
		int e = errno;
		close_fd(&p[0]);
		close_fd(&p[1]);
		return -e;
	}
	int fl = fcntl(p[our_end], F_GETFL);
	fcntl(p[our_end], F_SETFL, fl | O_NONBLOCK);
	return 0;
}

static const char *const default_env[] = {
	"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	"LC_ALL=C",
	NULL,
};

int fw_proc_start(const struct fw_proc_opts *o, struct fw_proc **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!o || !o->argv || !o->argv[0] || !o->argv[0][0]) {
		snprintf(err, errlen, "no program to run");
		return -EINVAL;
	}
	struct fw_proc *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->in_fd = p->out_fd = p->err_fd = -1;
	p->max = o->max_output ? o->max_output : 1u << 20;
	p->timeout_ms = o->timeout_ms ? o->timeout_ms : 60000;
	if (o->stdin_len) {
		p->in_data = malloc(o->stdin_len);
		if (!p->in_data) {
			free(p);
			return -ENOMEM;
		}
		memcpy(p->in_data, o->stdin_data, o->stdin_len);
		p->in_len = o->stdin_len;
	}

	int in[2] = {-1, -1}, po[2] = {-1, -1}, pe[2] = {-1, -1};
	int rc = make_pipe(po, 0);
	if (rc == 0)
		rc = make_pipe(pe, 0);
	if (rc == 0 && p->in_len)
		rc = make_pipe(in, 1);
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	bool fa_ok = false, attr_ok = false;
	if (rc == 0) {
		fa_ok = posix_spawn_file_actions_init(&fa) == 0;
		attr_ok = posix_spawnattr_init(&attr) == 0;
		if (!fa_ok || !attr_ok)
			rc = -ENOMEM;
	}
	if (rc == 0) {
		if (p->in_len)
			posix_spawn_file_actions_adddup2(&fa, in[0], 0);
		else
			posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
		posix_spawn_file_actions_adddup2(&fa, po[1], 1);
		posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
		sigset_t none, all;
		sigemptyset(&none);
		sigfillset(&all);
		posix_spawnattr_setsigmask(&attr, &none);
		posix_spawnattr_setsigdefault(&attr, &all);
		posix_spawnattr_setpgroup(&attr, 0);
		posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
							POSIX_SPAWN_SETPGROUP);
		const char *const *env = o->env ? o->env : default_env;
		int e = posix_spawnp(&p->pid, o->argv[0], &fa, &attr, (char *const *)o->argv,
				     (char *const *)env);
		if (e != 0) {
			rc = -e;
			snprintf(err, errlen, "cannot run %s: %s", o->argv[0], strerror(e));
		}
	} else {
		snprintf(err, errlen, "cannot set up pipes: %s", strerror(-rc));
	}
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	close_fd(&in[0]);
	close_fd(&po[1]);
	close_fd(&pe[1]);
	p->in_fd = in[1];
	p->out_fd = po[0];
	p->err_fd = pe[0];
	if (rc < 0) {
		p->reaped = true; /* nothing to kill */
		fw_proc_free(p);
		return rc;
	}
	p->deadline = fw_now_ms() + p->timeout_ms;
	*out = p;
	return 0;
}

static int pipes_open(const struct fw_proc *p)
{
	return p->in_fd >= 0 || p->out_fd >= 0 || p->err_fd >= 0;
}

static int finished(const struct fw_proc *p)
{
	return p->reaped && !pipes_open(p);
}

size_t fw_proc_poll(struct fw_proc *p, struct pollfd *fds, size_t max, uint64_t *deadline_ms)
{
	size_t n = 0;
	if (!p || finished(p))
		return 0;
	int fdv[3] = {p->in_fd, p->out_fd, p->err_fd};
	short ev[3] = {POLLOUT, POLLIN, POLLIN};
	for (int i = 0; i < 3; i++) {
		if (fdv[i] < 0)
			continue;
		if (n == max) {
			*deadline_ms = 0;
			break;
		}
		fds[n].fd = fdv[i];
		fds[n].events = ev[i];
		fds[n].revents = 0;
		n++;
	}
	uint64_t now = fw_now_ms(), d;
	if (p->reaped)
		d = now; /* only the pipes left: drained and closed in the next step */
	else if (!pipes_open(p))
		d = now + REAP_MS;
	else
		d = now + RECHECK_MS;
	if (!p->reaped && p->deadline < d)
		d = p->deadline;
	if (d < *deadline_ms)
		*deadline_ms = d;
	return n;
}

/* Writes to the child's stdin without letting SIGPIPE (a child that exits
 * without reading) kill the relay: the signal is blocked for the write and
 * a pending one consumed. */
static void write_stdin(struct fw_proc *p)
{
	sigset_t pipe_set, old, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	int was_pending = sigismember(&pending, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_set, &old);
	while (p->in_off < p->in_len) {
		ssize_t w = write(p->in_fd, p->in_data + p->in_off, p->in_len - p->in_off);
		if (w > 0) {
			p->in_off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		/* EPIPE or worse: the child does not want the rest */
		if (!was_pending) {
			struct timespec zero = {0, 0};
			sigtimedwait(&pipe_set, NULL, &zero);
		}
		p->in_off = p->in_len;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (p->in_off >= p->in_len)
		close_fd(&p->in_fd);
}

static void read_stream(struct fw_proc *p, int *fd, struct obuf *b)
{
	char tmp[8192];
	for (;;) {
		ssize_t r = read(*fd, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			close_fd(fd);
			return;
		}
		size_t take = (size_t)r;
		if (b->len + take > p->max) {
			take = p->max - b->len;
			p->truncated = true;
		}
		if (take == 0)
			continue;
		if (b->len + take + 1 > b->cap) {
			size_t cap = b->cap ? b->cap : 4096;
			while (cap < b->len + take + 1)
				cap *= 2;
			char *nd = realloc(b->data, cap);
			if (!nd) {
				p->truncated = true;
				continue;
			}
			b->data = nd;
			b->cap = cap;
		}
		memcpy(b->data + b->len, tmp, take);
		b->len += take;
		b->data[b->len] = '\0';
	}
}

int fw_proc_step(struct fw_proc *p)
{
	if (!p)
		return 1;
	if (finished(p))
		return 1;
	if (!p->reaped) {
		int st;
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid) {
			p->reaped = true;
			p->status = st;
		} else if (r < 0 && errno == ECHILD) {
			/* someone else reaped it (a SIGCHLD handler): status unknown */
			p->reaped = true;
			p->status = -1;
		}
	}
	if (p->in_fd >= 0)
		write_stdin(p);
	if (p->out_fd >= 0)
		read_stream(p, &p->out_fd, &p->out);
	if (p->err_fd >= 0)
		read_stream(p, &p->err_fd, &p->err);
	if (p->reaped) {
		/* What it wrote before exiting was read above; a grandchild
		 * keeping the pipes open does not hold us up. */
		close_fd(&p->in_fd);
		close_fd(&p->out_fd);
		close_fd(&p->err_fd);
		return 1;
	}
	if (fw_now_ms() >= p->deadline && !p->timed_out) {
		p->timed_out = true;
		kill(-p->pid, SIGKILL);
		p->deadline = UINT64_MAX; /* now only waiting for the reap */
	}
	return 0;
}

int fw_proc_result(const struct fw_proc *p, struct fw_proc_result *r)
{
	if (!finished(p))
		return -EAGAIN;
	memset(r, 0, sizeof(*r));
	r->exit_status = -1;
	if (p->status >= 0 && WIFEXITED(p->status))
		r->exit_status = WEXITSTATUS(p->status);
	else if (p->status >= 0 && WIFSIGNALED(p->status))
		r->signal = WTERMSIG(p->status);
	r->timed_out = p->timed_out;
	r->truncated = p->truncated;
	r->out = p->out.data ? p->out.data : "";
	r->out_len = p->out.len;
	r->err = p->err.data ? p->err.data : "";
	r->err_len = p->err.len;
	return 0;
}

void fw_proc_describe(const struct fw_proc *p, char *buf, size_t len)
{
	struct fw_proc_result r;
	if (fw_proc_result(p, &r) < 0) {
		snprintf(buf, len, "still running");
		return;
	}
	if (r.timed_out) {
		snprintf(buf, len, "timed out after %u s (killed)", (p->timeout_ms + 999) / 1000);
		return;
	}
	/* first non-empty stderr line, control bytes made harmless */
	char line[160] = "";
	const char *s = r.err;
	while (*s == '\n' || *s == '\r' || *s == ' ')
		s++;
	size_t i = 0;
	for (; s[i] && s[i] != '\n' && i + 1 < sizeof(line); i++)
		line[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	line[i] = '\0';
	if (r.signal)
		snprintf(buf, len, "killed by signal %d%s%s", r.signal, line[0] ? ": " : "", line);
	else if (r.exit_status < 0)
		snprintf(buf, len, "exit status unknown%s%s", line[0] ? ": " : "", line);
	else
		snprintf(buf, len, "exit status %d%s%s", r.exit_status, line[0] ? ": " : "", line);
}

void fw_proc_free(struct fw_proc *p)
{
	if (!p)
		return;
	if (!p->reaped && p->pid > 0) {
		kill(-p->pid, SIGKILL);
		while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	close_fd(&p->in_fd);
	close_fd(&p->out_fd);
	close_fd(&p->err_fd);
	free(p->in_data);
	free(p->out.data);
	free(p->err.data);
	free(p);
}
