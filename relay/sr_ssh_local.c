/*
 * sr_ssh_local.c — the `local` transport behind sr_ssh.h: a "connection"
 * whose channels are child processes of this daemon instead of SSH
 * channels, so sessions can run on the relay's own machine (SM_VM_HOST=local)
 * through the same session / vt / exec code. Linux only (epoll, pidfd).
 *
 * _GNU_SOURCE, for this file only: posix_spawn's POSIX_SPAWN_SETSID,
 * posix_spawn_file_actions_addchdir_np / _addclosefrom_np, ptsname_r and
 * sigabbrev_np are glibc extensions (glibc >= 2.34; Debian 12 has 2.36).
 *
 * Children are started with posix_spawn, not fork: nothing of the daemon
 * runs in the child (no async-signal-safety concerns, no daemon signal
 * handler can fire there), glibc reports a failed exec as an error of the
 * call, and setsid has happened by the time it returns. Each child:
 *   - is a session (and process group) leader of its own (setsid);
 *   - starts with an empty signal mask and every disposition at default
 *     (the daemon ignores SIGPIPE; its children must not);
 *   - has only fds 0, 1, 2 (closefrom 3; our own fds are CLOEXEC anyway);
 *   - starts in $HOME (like an SSH login; "/" when that is not a directory);
 *   - gets a login-like environment, not the daemon's: HOME, USER, LOGNAME,
 *     SHELL, PATH, LANG, LANGUAGE, LC_*, TZ, TMPDIR and TMUX_TMPDIR are
 *     kept (the first four filled from the passwd entry when unset), nothing
 *     else — the daemon's SM_* secrets never reach an agent; what a session
 *     must see is forwarded explicitly (sr_env for PTYs, sr_envwrap for
 *     exec), exactly as over SSH. PTYs add TERM and their sr_env pairs.
 *
 * Exec channels run `/bin/sh -c CMDLINE` on three pipes. PTY channels run
 * `/bin/sh -c CMDLINE` (or $SHELL as a login shell, argv[0] "-name", when
 * CMDLINE is NULL) on a new pseudo-terminal that the child opens as its
 * controlling terminal, so ^C, SIGWINCH and hangups behave as on a real
 * terminal.
 *
 * Ending, as sshd does it: an exec channel ends once its child was reaped
 * and stdout and stderr reached EOF (a grandchild holding them open keeps
 * it running, as with sshd). A PTY's output ends at EIO on the master (all
 * slave fds closed; the kernel delivers every byte before it), or, when
 * something that survived the hangup (nohup) still holds the terminal,
 * PTY_EOF_GRACE_S after the child was reaped; then the master is closed.
 *
 * Wake-ups: sr_ssh_fd is an epoll set over every channel fd the transport
 * waits for and each child's pidfd (readable once it exited), so the
 * driver's one watcher wakes on output, on room for input and on exits.
 * Exits are reaped with waitpid(pid, WNOHANG) — no SIGCHLD handler, the
 * daemon's loop owns signals. A child without a pidfd (kernel < 5.3) is
 * polled from keepalive instead.
 *
 * Closing a channel whose child is not reaped yet sends SIGTERM to its
 * process group (closing a PTY's master also hangs its terminal up) and
 * keeps only the pidfd. KILL_GRACE_S later (checked in step and keepalive;
 * nothing here sleeps) the group gets SIGKILL — a shell that died of the
 * TERM may leave children that ignore it — and the child is reaped. Until
 * then an exited child stays a zombie on purpose: its pid is the group's
 * id, and reaping it would let the kernel reuse that id before the
 * SIGKILL. srl_free SIGKILLs and reaps (blocking) whatever is left, so no
 * zombie outlives the connection.
 */
#define _GNU_SOURCE
#include "sr_ssh_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define KILL_GRACE_S 1.0     /* SIGTERM to SIGKILL for a closed channel */
#define PTY_EOF_GRACE_S 1.0  /* reaped child, terminal still held: give up */
#define READ_CHUNK 65536u
#define EXEC_READS_PER_STEP 16 /* bound one step against a child like `yes` */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum lstate { LC_STARTING, LC_RUNNING, LC_ENDED, LC_FAILED };

struct srl_chan {
	struct srl *l;
	struct srl_chan *next;
	bool pty;
	enum lstate st;
	char *cmd;          /* NULL: the login shell (PTY only) */
	char **env;         /* "NAME=value" for the child (TERM first); wiped at spawn */
	size_t nenv;
	unsigned cols, rows;
	bool resize_pending;
	pid_t pid;          /* > 0 once spawned */
	int pidfd;
	int in_fd;          /* exec: our end of its stdin (PTY: writes go to the master) */
	int out_fd;         /* exec: its stdout; PTY: the master */
	int err_fd;         /* exec: its stderr */
	unsigned in_ev, out_ev, err_ev, pid_ev; /* registered epoll events, 0: none */
	bool in_blocked;    /* the last write met a full pipe / terminal */
	struct buf out;     /* stdout (PTY: everything) */
	struct buf err;     /* exec stderr */
	bool truncated;
	struct buf wq;      /* queued input */
	bool eof_wanted, write_closed;
	bool out_eof, err_eof;
	bool reaped;
	double reaped_at;
	struct sr_ssh_exit exit;
	bool detached;      /* the owner closed it while the child ran */
	double kill_at;     /* detached: SIGKILL the group from then on */
	bool killed;
	int err_code;
	char errmsg[384];
};

struct srl {
	int epfd;
	bool kick;          /* step has work that does not wait for the epoll fd */
	bool poll;          /* a wake-up source is missing (pidfd, epoll_ctl): poll */
	char **env;         /* the children's base environment, NULL-terminated */
	char *home;         /* their working directory */
	char *shell;        /* the login shell */
	struct srl_chan *chans;
};

/* ---- helpers ---------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void free_secret(char *s)
{
	if (s) {
		wipe(s, strlen(s));
		free(s);
	}
}

static void chan_fail(struct srl_chan *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void chan_fail(struct srl_chan *c, int code, const char *fmt, ...)
{
	if (c->st == LC_FAILED)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	c->err_code = code;
	c->st = LC_FAILED;
}

/* Brings fd's epoll registration to want (0: not registered). A failed
 * registration would leave nothing to wake the loop: fall back to polling. */
static void watch(struct srl *l, int fd, unsigned *cur, unsigned want)
{
	if (fd < 0 || *cur == want)
		return;
	struct epoll_event ev = {.events = want, .data.fd = fd};
	int op = !*cur ? EPOLL_CTL_ADD : want ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;
	if (epoll_ctl(l->epfd, op, fd, &ev) == 0 || !want)
		*cur = want;
	else
		l->poll = true;
}

static void close_fd(struct srl *l, int *fd, unsigned *ev)
{
	if (*fd < 0)
		return;
	watch(l, *fd, ev, 0);
	close(*fd);
	*fd = -1;
	*ev = 0;
}

/* Closes every fd of the channel but the pidfd. */
static void close_io(struct srl_chan *c)
{
	close_fd(c->l, &c->in_fd, &c->in_ev);
	close_fd(c->l, &c->out_fd, &c->out_ev);
	close_fd(c->l, &c->err_fd, &c->err_ev);
}

static void wipe_env(struct srl_chan *c)
{
	for (size_t i = 0; i < c->nenv; i++)
		free_secret(c->env[i]);
	free(c->env);
	c->env = NULL;
	c->nenv = 0;
}

/* The length of a "NAME=value" string's name. */
static size_t name_len(const char *kv)
{
	return strcspn(kv, "=");
}

static bool same_name(const char *a, const char *b)
{
	size_t n = name_len(a);
	return n == name_len(b) && !strncmp(a, b, n);
}

/* ---- the children's environment ---------------------------------------- */

static bool keep_var(const char *kv)
{
	static const char *const keep[] = {"HOME=",   "USER=", "LOGNAME=", "SHELL=",  "PATH=",
					   "LANG=",   "LANGUAGE=", "TZ=",  "TMPDIR=", "TMUX_TMPDIR=",
					   NULL};
	if (!strncmp(kv, "LC_", 3))
		return true;
	for (size_t i = 0; keep[i]; i++)
		if (same_name(kv, keep[i]))
			return true;
	return false;
}

static const char *env_value(char **env, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; env[i]; i++)
		if (!strncmp(env[i], name, n) && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

static int env_push(char ***env, size_t *n, const char *name, const char *value)
{
	size_t len = strlen(name) + 1 + strlen(value) + 1;
	char *kv = malloc(len);
	char **v = realloc(*env, (*n + 2) * sizeof(*v));
	if (!kv || !v) {
		free(kv);
		if (v)
			*env = v;
		return -ENOMEM;
	}
	snprintf(kv, len, "%s=%s", name, value);
	*env = v;
	v[(*n)++] = kv;
	v[*n] = NULL;
	return 0;
}

static void env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

/* Login-like environment, home directory and shell for the children
 * (see the top of the file). Called once per connection: getpwuid may
 * consult NSS, like the name lookup of an SSH connect. */
static int make_env(struct srl *l)
{
	size_t n = 0;
	char **env = calloc(1, sizeof(*env));
	if (!env)
		return -ENOMEM;
	for (char **e = environ; e && *e; e++) {
		if (!keep_var(*e) || !strchr(*e, '='))
			continue;
		size_t nl = name_len(*e);
		char name[32];
		snprintf(name, sizeof(name), "%.*s", (int)nl, *e);
		if (nl >= sizeof(name) || env_value(env, name))
			continue; /* LC_ names longer than that do not exist; no duplicates */
		if (env_push(&env, &n, name, *e + nl + 1) < 0)
			goto oom;
	}
	struct passwd *pw = getpwuid(geteuid());
	const char *fill[][2] = {
		{"HOME", pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/"},
		{"USER", pw && pw->pw_name ? pw->pw_name : NULL},
		{"LOGNAME", pw && pw->pw_name ? pw->pw_name : NULL},
		{"SHELL", pw && pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh"},
		{"PATH", DEFAULT_PATH},
	};
	for (size_t i = 0; i < sizeof(fill) / sizeof(fill[0]); i++) {
		const char *v = env_value(env, fill[i][0]);
		if ((!v || !*v) && fill[i][1] && env_push(&env, &n, fill[i][0], fill[i][1]) < 0)
			goto oom;
	}
	const char *home = env_value(env, "HOME");
	struct stat st;
	l->home = strdup(home && stat(home, &st) == 0 && S_ISDIR(st.st_mode) ? home : "/");
	const char *shell = env_value(env, "SHELL");
	l->shell = strdup(shell && *shell == '/' ? shell : "/bin/sh");
	l->env = env;
	if (!l->home || !l->shell)
		return -ENOMEM;
	return 0;
oom:
	env_free(env);
	return -ENOMEM;
}

/* The child's envp: the base environment without the names the channel
 * sets, then the channel's own. Strings are borrowed, not copied. */
static char **child_env(const struct srl_chan *c)
{
	const struct srl *l = c->l;
	size_t nbase = 0;
	while (l->env[nbase])
		nbase++;
	char **v = calloc(nbase + c->nenv + 1, sizeof(*v));
	if (!v)
		return NULL;
	size_t n = 0;
	for (size_t i = 0; i < nbase; i++) {
		bool overridden = false;
		for (size_t j = 0; j < c->nenv && !overridden; j++)
			overridden = same_name(l->env[i], c->env[j]);
		if (!overridden)
			v[n++] = l->env[i];
	}
	for (size_t j = 0; j < c->nenv; j++) {
		bool later = false; /* the last of a repeated name wins */
		for (size_t k = j + 1; k < c->nenv && !later; k++)
			later = same_name(c->env[j], c->env[k]);
		if (!later)
			v[n++] = c->env[j];
	}
	v[n] = NULL;
	return v;
}

/* ---- starting a child --------------------------------------------------- */

/* fd moved above 2 (the child's 0-2 are dup2 targets: a daemon started
 * with a std fd closed could otherwise hand out 0-2 here), CLOEXEC. */
static int high_fd(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	int e = errno;
	close(fd);
	errno = e;
	return n;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* A pipe, both ends CLOEXEC and above 2; ours non-blocking. */
static int make_pipe(int p[2], int ours)
{
	int raw[2];
	if (pipe2(raw, O_CLOEXEC) < 0)
		return -errno;
	p[0] = high_fd(raw[0]);
	p[1] = high_fd(raw[1]);
	if (p[0] < 0 || p[1] < 0 || set_nonblock(p[ours]) < 0) {
		int e = errno;
		if (p[0] >= 0)
			close(p[0]);
		if (p[1] >= 0)
			close(p[1]);
		p[0] = p[1] = -1;
		return -e;
	}
	return 0;
}

/* A new pseudo-terminal of cols x rows: *master (non-blocking, CLOEXEC),
 * the slave's path, and *slave, an O_NOCTTY fd held until the child has
 * opened the slave itself (so the master never sees "no slave"). */
static int make_pty(unsigned cols, unsigned rows, int *master, int *slave, char *path, size_t len)
{
	*master = *slave = -1;
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return -errno;
	struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
	if (fcntl(m, F_SETFD, FD_CLOEXEC) < 0 || grantpt(m) < 0 || unlockpt(m) < 0 ||
	    ptsname_r(m, path, len) != 0 || ioctl(m, TIOCSWINSZ, &ws) < 0 || set_nonblock(m) < 0)
		goto fail;
	int s = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0)
		goto fail;
	*master = m;
	*slave = s;
	return 0;
fail:;
	int e = errno ? errno : EIO;
	close(m);
	return -e;
}

static void chan_spawn(struct srl_chan *c)
{
	struct srl *l = c->l;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	int master = -1, slave = -1;
	char slave_path[128];
	int rc;
	if (c->pty) {
		rc = make_pty(c->cols, c->rows, &master, &slave, slave_path, sizeof(slave_path));
		c->resize_pending = false; /* created at the latest size */
	} else {
		rc = make_pipe(in, 1);
		if (rc == 0)
			rc = make_pipe(out, 0);
		if (rc == 0)
			rc = make_pipe(err, 0);
	}
	if (rc < 0) {
		chan_fail(c, rc, "cannot set up a local %s: %s", c->pty ? "terminal" : "command",
			  strerror(-rc));
		goto out;
	}

	/* argv: sh -c CMDLINE, or the login shell as "-name" (the login
	 * convention every shell understands). */
	const char *path = "/bin/sh";
	char login[256];
	char *argv[4] = {"sh", "-c", c->cmd, NULL};
	if (!c->cmd) {
		path = l->shell;
		const char *base = strrchr(path, '/');
		snprintf(login, sizeof(login), "-%s", base ? base + 1 : path);
		argv[0] = login;
		argv[1] = NULL;
	}
	char **envp = child_env(c);
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	bool fa_ok = false, at_ok = false;
	rc = -ENOMEM;
	if (envp && posix_spawn_file_actions_init(&fa) == 0) {
		fa_ok = true;
		if (posix_spawnattr_init(&at) == 0) {
			at_ok = true;
			rc = 0;
		}
	}
	if (rc == 0) {
		/* Every disposition back to default. sigfillset leaves out
		 * glibc's internal signals (32, 33), which posix_spawn then
		 * sets to SIG_IGN in the child — and exec keeps SIG_IGN; a set
		 * with every bit on includes them. */
		sigset_t none, all;
		sigemptyset(&none);
		memset(&all, 0xff, sizeof(all));
		int e = posix_spawnattr_setsigmask(&at, &none);
		e = e ? e : posix_spawnattr_setsigdefault(&at, &all);
		e = e ? e
		      : posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
							      POSIX_SPAWN_SETSIGDEF);
		/* as sshd: "/" when the home directory went away */
		struct stat st;
		bool home_ok = stat(l->home, &st) == 0 && S_ISDIR(st.st_mode);
		e = e ? e : posix_spawn_file_actions_addchdir_np(&fa, home_ok ? l->home : "/");
		if (c->pty) {
			/* Opened by the new session leader without O_NOCTTY:
			 * the slave becomes its controlling terminal. */
			e = e ? e : posix_spawn_file_actions_addopen(&fa, 0, slave_path, O_RDWR, 0);
			e = e ? e : posix_spawn_file_actions_adddup2(&fa, 0, 1);
			e = e ? e : posix_spawn_file_actions_adddup2(&fa, 0, 2);
		} else {
			e = e ? e : posix_spawn_file_actions_adddup2(&fa, in[0], 0);
			e = e ? e : posix_spawn_file_actions_adddup2(&fa, out[1], 1);
			e = e ? e : posix_spawn_file_actions_adddup2(&fa, err[1], 2);
		}
		e = e ? e : posix_spawn_file_actions_addclosefrom_np(&fa, 3);
		if (e == 0)
			e = posix_spawn(&c->pid, path, &fa, &at, argv, envp);
		if (e != 0) {
			c->pid = 0;
			rc = -e;
			chan_fail(c, rc, "cannot run %s locally: %s", c->cmd ? path : "the login shell",
				  strerror(e));
		}
	} else {
		chan_fail(c, rc, "out of memory starting a local %s", c->pty ? "terminal" : "command");
	}
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (at_ok)
		posix_spawnattr_destroy(&at);
	free(envp); /* the strings belong to l->env and c->env */
	wipe_env(c);
	if (rc < 0)
		goto out;

	/* The child's exit wakes the loop through its pidfd. */
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	if (c->pidfd < 0)
		l->poll = true;
	if (c->pty) {
		c->out_fd = master;
		master = -1;
	} else {
		c->in_fd = in[1];
		c->out_fd = out[0];
		c->err_fd = err[0];
		in[1] = out[0] = err[0] = -1;
	}
	c->st = LC_RUNNING;
out:
	/* the child's ends, and whatever a failure left */
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	if (slave >= 0)
		close(slave);
	if (master >= 0)
		close(master);
}

/* ---- running ------------------------------------------------------------ */

static void signal_group(struct srl_chan *c, int sig)
{
	/* Only while the child is unreaped: its pid, which is also its
	 * process group id (setsid), cannot have been reused. */
	if (c->pid <= 0 || c->reaped)
		return;
	if (kill(-c->pid, sig) < 0)
		kill(c->pid, sig);
}

/* The child exited, without reaping it (its zombie keeps the pid, and so
 * the process group id, from being reused). ECHILD counts as exited. */
static bool exited_unreaped(struct srl_chan *c)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	int r;
	do
		r = waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT);
	while (r < 0 && errno == EINTR);
	return r < 0 || si.si_pid != 0;
}

static void reap(struct srl_chan *c)
{
	if (c->pid <= 0 || c->reaped)
		return;
	int st = 0;
	pid_t r;
	do
		r = waitpid(c->pid, &st, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return;
	c->reaped = true;
	c->reaped_at = now_s();
	c->exit.status = -1;
	if (r < 0) {
		/* ECHILD: someone else reaped it (a SIGCHLD handler that
		 * waits for any child): the status is lost. */
	} else if (WIFEXITED(st)) {
		c->exit.status = WEXITSTATUS(st);
	} else if (WIFSIGNALED(st)) {
		const char *name = sigabbrev_np(WTERMSIG(st));
		if (name)
			snprintf(c->exit.signal, sizeof(c->exit.signal), "%s", name);
		else
			snprintf(c->exit.signal, sizeof(c->exit.signal), "%d", WTERMSIG(st));
		c->exit.core_dumped = WCOREDUMP(st) != 0;
	}
	close_fd(c->l, &c->pidfd, &c->pid_ev);
}

/* write(2) to a pipe without SIGPIPE killing the daemon when the child
 * closed its stdin: the signal is blocked for the call and, if the write
 * raised it, consumed (unless it was pending already). */
static ssize_t write_nosig(int fd, const void *p, size_t n)
{
	sigset_t pipe_set, old, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	bool was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	ssize_t w = write(fd, p, n);
	int e = errno;
	if (w < 0 && e == EPIPE && !was_pending) {
		struct timespec zero = {0, 0};
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return w;
}

static void drop_queue(struct srl_chan *c)
{
	wipe(c->wq.p, c->wq.cap);
	c->wq.off = c->wq.len = 0;
}

static void chan_flush(struct srl_chan *c)
{
	int fd = c->pty ? c->out_fd : c->in_fd;
	c->in_blocked = false;
	while (buf_used(&c->wq) && !c->write_closed) {
		if (fd < 0) {
			c->write_closed = true; /* the terminal's output already ended */
			drop_queue(c);
			break;
		}
		size_t n = buf_used(&c->wq);
		if (n > READ_CHUNK)
			n = READ_CHUNK;
		ssize_t w = c->pty ? write(fd, c->wq.p + c->wq.off, n) : write_nosig(fd, c->wq.p + c->wq.off, n);
		if (w > 0) {
			wipe(c->wq.p + c->wq.off, (size_t)w);
			buf_consume(&c->wq, (size_t)w);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			c->in_blocked = true;
			break;
		}
		/* EPIPE (it closed its stdin) or EIO (the terminal is gone):
		 * what is queued can never be delivered. */
		c->write_closed = true;
		drop_queue(c);
		if (!c->pty)
			close_fd(c->l, &c->in_fd, &c->in_ev);
	}
	if (!c->pty && (c->eof_wanted || c->write_closed) && !buf_used(&c->wq))
		close_fd(c->l, &c->in_fd, &c->in_ev);
}

/* Exec output: everything up to EXEC_OUT_CAP is kept, the rest drained
 * and flagged. Bounded per step; more waiting asks for another step. */
static void read_pipe(struct srl_chan *c, int *fd, unsigned *ev, struct buf *b, bool *eof)
{
	char tmp[READ_CHUNK];
	for (int i = 0; *fd >= 0; i++) {
		if (i == EXEC_READS_PER_STEP) {
			c->l->kick = true;
			return;
		}
		ssize_t n = read(*fd, tmp, sizeof(tmp));
		if (n > 0) {
			size_t keep = (size_t)n;
			if (buf_used(b) + keep > EXEC_OUT_CAP) {
				keep = EXEC_OUT_CAP - buf_used(b);
				c->truncated = true;
			}
			if (keep && buf_add(b, tmp, keep) < 0) {
				chan_fail(c, -ENOMEM, "out of memory buffering local command output");
				return;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		close_fd(c->l, fd, ev); /* EOF (or an error, which ends it too) */
		*eof = true;
		return;
	}
}

/* PTY output, up to PTY_IN_CAP buffered: beyond it the master is not read
 * (and not watched), so the program blocks on a full terminal. */
static void read_pty(struct srl_chan *c)
{
	char tmp[READ_CHUNK];
	while (c->out_fd >= 0 && buf_used(&c->out) < PTY_IN_CAP) {
		size_t room = PTY_IN_CAP - buf_used(&c->out);
		ssize_t n = read(c->out_fd, tmp, room < sizeof(tmp) ? room : sizeof(tmp));
		if (n > 0) {
			if (buf_add(&c->out, tmp, (size_t)n) < 0) {
				chan_fail(c, -ENOMEM, "out of memory buffering local terminal output");
				return;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/* EIO: no slave fd is open any more, everything was read. */
		c->out_eof = true;
		close_fd(c->l, &c->out_fd, &c->out_ev);
		c->write_closed = true;
		drop_queue(c);
		return;
	}
}

static void update_watch(struct srl_chan *c)
{
	struct srl *l = c->l;
	bool out_wait = c->in_blocked && buf_used(&c->wq);
	if (c->pty) {
		unsigned want = out_wait ? EPOLLOUT : 0;
		if (buf_used(&c->out) < PTY_IN_CAP)
			want |= EPOLLIN;
		watch(l, c->out_fd, &c->out_ev, want);
	} else {
		watch(l, c->out_fd, &c->out_ev, EPOLLIN);
		watch(l, c->err_fd, &c->err_ev, EPOLLIN);
		/* Only while blocked: an idle write end would report
		 * EPOLLERR forever once the child closed its stdin. */
		watch(l, c->in_fd, &c->in_ev, out_wait ? EPOLLOUT : 0);
	}
	watch(l, c->pidfd, &c->pid_ev, EPOLLIN);
}

static void chan_destroy(struct srl_chan *c)
{
	close_io(c);
	close_fd(c->l, &c->pidfd, &c->pid_ev);
	wipe_env(c);
	free(c->cmd);
	buf_free(&c->out);
	buf_free(&c->err);
	buf_free(&c->wq);
	free(c);
}

static void chan_unlink_free(struct srl_chan *c)
{
	for (struct srl_chan **pp = &c->l->chans; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	chan_destroy(c);
}

/* Advances one channel; may free a detached one. */
static void chan_step(struct srl_chan *c, double now)
{
	if (c->detached) {
		/* Until the grace is over the child is not reaped even when it
		 * exited, so that its group (what it left behind: children
		 * ignoring SIGTERM) can still be killed by its id. */
		if (!c->killed && now >= c->kill_at) {
			signal_group(c, SIGKILL);
			c->killed = true;
			watch(c->l, c->pidfd, &c->pid_ev, EPOLLIN);
		}
		if (!c->killed) {
			if (exited_unreaped(c)) /* its pidfd stays readable: stop watching */
				watch(c->l, c->pidfd, &c->pid_ev, 0);
			return;
		}
		reap(c);
		if (c->reaped)
			chan_unlink_free(c);
		return;
	}
	if (c->st == LC_STARTING)
		chan_spawn(c);
	if (c->st != LC_RUNNING)
		return;
	reap(c);
	chan_flush(c);
	if (c->resize_pending && c->out_fd >= 0) {
		/* after the queued input: the program sees what was typed
		 * at the old size first, as over SSH */
		struct winsize ws = {.ws_row = (unsigned short)c->rows, .ws_col = (unsigned short)c->cols};
		ioctl(c->out_fd, TIOCSWINSZ, &ws); /* the kernel sends SIGWINCH */
		c->resize_pending = false;
	}
	if (c->pty) {
		read_pty(c);
		if (c->reaped && !c->out_eof && buf_used(&c->out) < PTY_IN_CAP &&
		    now - c->reaped_at >= PTY_EOF_GRACE_S)
			c->out_eof = true; /* a survivor holds the terminal: hang it up */
	} else {
		read_pipe(c, &c->out_fd, &c->out_ev, &c->out, &c->out_eof);
		if (c->st == LC_RUNNING)
			read_pipe(c, &c->err_fd, &c->err_ev, &c->err, &c->err_eof);
	}
	if (c->st != LC_RUNNING) {
		close_io(c); /* failed (out of memory) */
		return;
	}
	if (c->reaped && c->out_eof && (c->pty || c->err_eof)) {
		c->st = LC_ENDED;
		close_io(c);
		c->write_closed = true;
		drop_queue(c);
		return;
	}
	update_watch(c);
}

/* ---- connection ----------------------------------------------------------- */

int srl_new(struct srl **out, char *err, size_t errlen)
{
	*out = NULL;
	struct srl *l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int e = errno;
		free(l);
		snprintf(err, errlen, "cannot create an epoll set for local sessions: %s", strerror(e));
		return -e;
	}
	if (make_env(l) < 0) {
		srl_free(l);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*out = l;
	return 0;
}

int srl_fd(const struct srl *l)
{
	return l->epfd;
}

unsigned srl_wants(const struct srl *l)
{
	return SR_SSH_WANT_READ | (l->kick ? SR_SSH_WANT_STEP : 0);
}

int srl_step(struct srl *l)
{
	l->kick = false;
	double now = now_s();
	for (struct srl_chan *c = l->chans, *next; c; c = next) {
		next = c->next;
		chan_step(c, now);
	}
	return 1;
}

/* Nothing to keep alive; the timed parts (the kill grace, a terminal held
 * after its child ended, children without a pidfd) want a step. */
int srl_keepalive(struct srl *l)
{
	for (struct srl_chan *c = l->chans; c; c = c->next)
		if ((c->detached && !c->killed) || (c->pty && c->st == LC_RUNNING && c->reaped) || l->poll)
			l->kick = true;
	return 0;
}

void srl_free(struct srl *l)
{
	if (!l)
		return;
	/* Unreaped children (running, or detached in their grace) and their
	 * groups; an ended child was reaped already and is left alone. */
	for (struct srl_chan *c = l->chans; c; c = c->next)
		signal_group(c, SIGKILL);
	while (l->chans) {
		struct srl_chan *c = l->chans;
		l->chans = c->next;
		if (c->pid > 0 && !c->reaped)
			while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR) {
			}
		c->reaped = true;
		chan_destroy(c);
	}
	env_free(l->env);
	free(l->home);
	free(l->shell);
	if (l->epfd >= 0)
		close(l->epfd);
	free(l);
}

/* ---- channels --------------------------------------------------------------- */

static struct srl_chan *chan_new(struct srl *l, bool pty, const char *cmdline)
{
	struct srl_chan *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->l = l;
	c->pty = pty;
	c->pid = 0;
	c->pidfd = c->in_fd = c->out_fd = c->err_fd = -1;
	c->exit.status = -1;
	if (cmdline && !(c->cmd = strdup(cmdline))) {
		free(c);
		return NULL;
	}
	return c;
}

static void chan_add(struct srl *l, struct srl_chan *c)
{
	c->next = l->chans;
	l->chans = c;
	l->kick = true; /* spawned in the next step */
}

int srl_exec_start(struct srl *l, const char *cmdline, struct srl_chan **out)
{
	*out = NULL;
	struct srl_chan *c = chan_new(l, false, cmdline);
	if (!c)
		return -ENOMEM;
	chan_add(l, c);
	*out = c;
	return 0;
}

int srl_pty_start(struct srl *l, const char *term, unsigned cols, unsigned rows, const char *cmdline,
		  const struct sr_env *env, struct srl_chan **out)
{
	*out = NULL;
	struct srl_chan *c = chan_new(l, true, cmdline);
	if (!c)
		return -ENOMEM;
	c->cols = cols;
	c->rows = rows;
	size_t nenv = 1;
	for (const struct sr_env *e = env; e && e->name; e++)
		nenv++;
	c->env = calloc(nenv, sizeof(*c->env));
	bool oom = !c->env;
	if (c->env) {
		const char *t = term ? term : "xterm-256color";
		size_t len = strlen("TERM=") + strlen(t) + 1;
		if ((c->env[c->nenv] = malloc(len)))
			snprintf(c->env[c->nenv++], len, "TERM=%s", t);
		else
			oom = true;
		for (const struct sr_env *e = env; e && e->name && !oom; e++) {
			len = strlen(e->name) + 1 + strlen(e->value) + 1;
			if ((c->env[c->nenv] = malloc(len)))
				snprintf(c->env[c->nenv++], len, "%s=%s", e->name, e->value);
			else
				oom = true;
		}
	}
	if (oom) {
		chan_destroy(c);
		return -ENOMEM;
	}
	chan_add(l, c);
	*out = c;
	return 0;
}

enum sr_chan_state srl_chan_state(const struct srl_chan *c)
{
	switch (c->st) {
	case LC_RUNNING:
		return SR_CHAN_RUNNING;
	case LC_ENDED:
		return SR_CHAN_ENDED;
	case LC_FAILED:
		return SR_CHAN_FAILED;
	default:
		return SR_CHAN_STARTING;
	}
}

ssize_t srl_chan_read(struct srl_chan *c, void *buf, size_t n)
{
	if (!c->pty)
		return -EINVAL;
	if (buf_used(&c->out)) {
		bool was_full;
		n = buf_take(&c->out, buf, n, &was_full);
		if (was_full) /* room again below the cap: read the master next step */
			c->l->kick = true;
		return (ssize_t)n;
	}
	if (c->st == LC_FAILED)
		return c->err_code;
	if (c->out_eof || c->st == LC_ENDED)
		return -EPIPE;
	return 0;
}

int srl_chan_write(struct srl_chan *c, const void *buf, size_t n)
{
	if (c->st == LC_FAILED)
		return c->err_code;
	if (c->st == LC_ENDED || c->eof_wanted || c->write_closed)
		return -EPIPE;
	int rc = buf_queue(&c->wq, buf, n);
	if (rc || n == 0)
		return rc;
	c->l->kick = true;
	return 0;
}

size_t srl_chan_pending(const struct srl_chan *c)
{
	return buf_used(&c->wq);
}

/* Exec: the child's stdin is closed once the queue is written. PTY: only
 * further writes are refused (a terminal has no end of input; sshd does
 * the same). */
int srl_chan_send_eof(struct srl_chan *c)
{
	if (c->st == LC_FAILED)
		return c->err_code;
	c->eof_wanted = true;
	c->l->kick = true;
	return 0;
}

int srl_chan_resize(struct srl_chan *c, unsigned cols, unsigned rows)
{
	if (!c->pty || !size_valid(cols, rows))
		return -EINVAL;
	if (c->st == LC_FAILED)
		return c->err_code;
	if (c->st == LC_ENDED)
		return -EPIPE;
	if (cols == c->cols && rows == c->rows && !c->resize_pending)
		return 0;
	c->cols = cols;
	c->rows = rows;
	/* Before the spawn the terminal is made at the new size. */
	if (c->st == LC_RUNNING)
		c->resize_pending = true;
	c->l->kick = true;
	return 0;
}

int srl_chan_exit(const struct srl_chan *c, struct sr_ssh_exit *out)
{
	if (c->st == LC_FAILED)
		return c->err_code;
	if (c->st != LC_ENDED)
		return -EAGAIN;
	*out = c->exit;
	return 0;
}

int srl_exec_result(const struct srl_chan *c, struct sr_ssh_exec_result *out)
{
	if (c->pty)
		return -EINVAL;
	int rc = srl_chan_exit(c, &out->exit);
	if (rc)
		return rc;
	out->out = buf_str(&c->out, &out->out_len);
	out->err = buf_str(&c->err, &out->err_len);
	out->truncated = c->truncated;
	return 0;
}

const char *srl_chan_error(const struct srl_chan *c)
{
	return c->st == LC_FAILED ? c->errmsg : "";
}

void srl_chan_close(struct srl_chan *c)
{
	if (!c)
		return;
	if (c->pid <= 0 || c->reaped) {
		chan_unlink_free(c);
		return;
	}
	/* Not reaped yet (running, or just exited): TERM its group (closing a
	 * PTY's master hangs its terminal up as well), KILL the group after
	 * the grace, then reap (step). */
	close_io(c);
	wipe_env(c);
	buf_free(&c->out);
	buf_free(&c->err);
	buf_free(&c->wq);
	signal_group(c, SIGTERM);
	c->detached = true;
	c->kill_at = now_s() + KILL_GRACE_S;
	watch(c->l, c->pidfd, &c->pid_ev, EPOLLIN);
}
