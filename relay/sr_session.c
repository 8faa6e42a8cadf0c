/* sr_session.c — PTY sessions over a shared SSH connection on the loop
 * (see sr_session.h). */
#include "sr_session.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_quote.h"
#include "vt_frame.h"
#include "vt_input.h"
#include "vt_screen.h"

#define DEFAULT_KEEPALIVE_MS 1000u
#define READ_CHUNK 16384

struct sr_session {
	struct sr_ssh_listener lis; /* first: the listener is the session */
	struct sr_ssh_driver *drv;
	struct sr_loop *loop;
	struct sr_ssh_chan *chan;
	struct vt_pipe *pipe;
	struct sr_timer *timer; /* armed at vt_pipe_deadline, NULL when none */
	void (*on_exit)(void *data, int status, const char *why);
	void *exit_data;
	void (*on_raw)(void *data, const char *buf, size_t len);
	void *raw_data;
	bool ended;       /* the channel ended (for now, when reattachable) */
	bool reattachable;
	bool finished;    /* vt_pipe_end ran */
	char *term;       /* for reattach */
	bool in_pipe;         /* inside vt_pipe_* (ops callbacks may run) */
};

static void session_pump(struct sr_session *s);

static void session_on_step(struct sr_ssh_listener *l)
{
	session_pump((struct sr_session *)l);
}

/* The driver is being freed, its sr_ssh still exists: give the channel
 * back now, so the session never holds a channel of a freed connection. */
static void session_on_detach(struct sr_ssh_listener *l)
{
	struct sr_session *s = (struct sr_session *)l;
	s->drv = NULL;
	sr_ssh_chan_close(s->chan);
	s->chan = NULL;
}

/* ---- session ----------------------------------------------------------- */

static void session_timer_cb(struct sr_timer *t, void *data);

/* Keeps the session's one timer at the pipe's deadline. */
static void session_arm(struct sr_session *s)
{
	uint64_t now = sr_loop_now(s->loop);
	uint64_t dl = vt_pipe_deadline(s->pipe);
	if (dl == UINT64_MAX) {
		if (s->timer) {
			sr_timer_cancel(s->timer);
			s->timer = NULL;
		}
		return;
	}
	uint64_t delay = dl > now ? dl - now : 0;
	if (s->timer)
		sr_timer_rearm(s->timer, delay);
	else
		sr_loop_timer(s->loop, delay, session_timer_cb, s, &s->timer);
}

/* Ticks the pipe (frames and ops that are due) and rearms the timer. */
static void session_tick(struct sr_session *s)
{
	s->in_pipe = true;
	vt_pipe_tick(s->pipe, sr_loop_now(s->loop));
	s->in_pipe = false;
	session_arm(s);
}

static void session_timer_cb(struct sr_timer *t, void *data)
{
	(void)t;
	struct sr_session *s = data;
	session_tick(s);
}

static void on_reply(void *data, const char *bytes, size_t len)
{
	struct sr_session *s = data;
	if (s->ended || !s->chan || !len)
		return;
	if (sr_ssh_chan_write(s->chan, bytes, len) == 0)
		sr_ssh_driver_kick(s->drv);
}

/* Last frame and END op, once. */
static void session_end_pipe(struct sr_session *s)
{
	if (s->finished)
		return;
	s->finished = true;
	if (s->timer) {
		sr_timer_cancel(s->timer);
		s->timer = NULL;
	}
	s->in_pipe = true;
	vt_pipe_end(s->pipe, sr_loop_now(s->loop));
	s->in_pipe = false;
}

/* The channel ended: unless reattachable, last frame and END op; then
 * on_exit. Nothing touches s after on_exit (it may free s). */
static void session_finish(struct sr_session *s, int status, const char *why)
{
	s->ended = true;
	if (!s->reattachable)
		session_end_pipe(s);
	else
		session_tick(s); /* flush what is due; the pipe lives on */
	if (s->on_exit)
		s->on_exit(s->exit_data, status, why);
}

static void session_pump(struct sr_session *s)
{
	if (s->ended)
		return;
	char buf[READ_CHUNK];
	ssize_t n;
	bool fed = false;
	while ((n = sr_ssh_chan_read(s->chan, buf, sizeof(buf))) > 0) {
		if (s->on_raw)
			s->on_raw(s->raw_data, buf, (size_t)n);
		s->in_pipe = true; /* screen replies are written from here */
		vt_pipe_feed(s->pipe, buf, (size_t)n, sr_loop_now(s->loop));
		s->in_pipe = false;
		fed = true;
	}
	if (fed || s->timer)
		session_tick(s);
	if (n == 0)
		return;
	char why[512];
	if (n == -EPIPE) {
		struct sr_ssh_exit ex;
		int rc = sr_ssh_chan_exit(s->chan, &ex);
		if (rc == -EAGAIN)
			return; /* output ended; the exit status follows */
		if (rc == 0) {
			if (ex.status >= 0)
				snprintf(why, sizeof(why), "exited with status %d", ex.status);
			else if (ex.signal[0])
				snprintf(why, sizeof(why), "killed by signal %s%s", ex.signal,
					 ex.core_dumped ? " (core dumped)" : "");
			else
				snprintf(why, sizeof(why), "ended without an exit status");
			session_finish(s, ex.status, why);
			return;
		}
		n = rc;
	}
	const char *msg = sr_ssh_chan_error(s->chan);
	snprintf(why, sizeof(why), "%s", msg && *msg ? msg : strerror((int)-n));
	session_finish(s, -1, why);
}

/* Opens the PTY channel on d at the pipe's size and listens to d. */
static int session_open(struct sr_session *s, struct sr_ssh_driver *d, const char *const *argv,
			const struct sr_env *env, char *err, size_t errlen)
{
	if (sr_ssh_driver_dead(d)) {
		snprintf(err, errlen, "session: driver was freed");
		return -EINVAL;
	}
	char *cmd = NULL;
	if (argv) {
		size_t argc = 0;
		while (argv[argc])
			argc++;
		int rc = sr_quote_argv(argv, argc, &cmd, err, errlen);
		if (rc < 0)
			return rc;
	}
	const struct vt_screen *scr = vt_pipe_screen(s->pipe);
	struct sr_ssh *ssh = sr_ssh_driver_ssh(d);
	int rc = sr_ssh_pty_start(ssh, s->term, vt_screen_cols(scr), vt_screen_rows(scr), cmd, env,
				  &s->chan);
	free(cmd);
	if (rc < 0) {
		const char *m = sr_ssh_error(ssh);
		snprintf(err, errlen, "session: PTY channel: %s", m && *m ? m : strerror(-rc));
		s->chan = NULL;
		return rc;
	}
	rc = sr_ssh_driver_listen(d, &s->lis);
	if (rc < 0) {
		snprintf(err, errlen, "session: out of memory");
		sr_ssh_chan_close(s->chan);
		s->chan = NULL;
		return rc;
	}
	s->drv = d;
	sr_ssh_driver_kick(d);
	return 0;
}

int sr_session_start(const struct sr_session_opts *o, struct sr_session **out, char *err,
		     size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!o || !out || !o->driver) {
		snprintf(err, errlen, "session: missing options or driver");
		return -EINVAL;
	}
	*out = NULL;
	struct sr_ssh_driver *d = o->driver;
	if (sr_ssh_driver_dead(d)) {
		snprintf(err, errlen, "session: driver was freed");
		return -EINVAL;
	}
	struct sr_session *s = calloc(1, sizeof(*s));
	if (!s || (o->term && !(s->term = strdup(o->term)))) {
		free(s);
		snprintf(err, errlen, "session: out of memory");
		return -ENOMEM;
	}
	s->loop = sr_ssh_driver_loop(d);
	s->lis.on_step = session_on_step;
	s->lis.on_detach = session_on_detach;
	s->reattachable = o->reattachable;
	s->on_exit = o->on_exit;
	s->on_raw = o->on_raw;
	s->raw_data = o->raw_data;
	s->exit_data = o->exit_data;
	unsigned cols = o->cols ? o->cols : 100, rows = o->rows ? o->rows : 30;

	struct vt_pipe_opts po = {0};
	if (o->pipe)
		po = *o->pipe;
	po.screen.cols = cols;
	po.screen.rows = rows;
	po.screen.reply = on_reply;
	po.screen.reply_data = s;
	po.cb = o->on_op;
	po.cb_data = o->op_data;
	int rc = vt_pipe_new(&s->pipe, &po, err, errlen);
	if (rc < 0) {
		free(s->term);
		free(s);
		return rc;
	}
	rc = session_open(s, d, o->argv, o->env, err, errlen);
	if (rc < 0) {
		vt_pipe_free(s->pipe);
		free(s->term);
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int sr_session_detach(struct sr_session *s)
{
	if (!s)
		return -EINVAL;
	if (!s->reattachable)
		return -EINVAL;
	sr_ssh_chan_close(s->chan);
	s->chan = NULL;
	if (s->drv) {
		struct sr_ssh_driver *d = s->drv;
		sr_ssh_driver_unlisten(&s->lis);
		sr_ssh_driver_kick(d);
	}
	s->drv = NULL;
	s->ended = true;
	return 0;
}

int sr_session_reattach(struct sr_session *s, struct sr_ssh_driver *d, const char *const *argv,
			char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!s || !d || !s->reattachable || s->finished) {
		snprintf(err, errlen, "session: cannot reattach");
		return -EINVAL;
	}
	if (s->chan)
		sr_session_detach(s);
	int rc = session_open(s, d, argv, NULL, err, errlen);
	if (rc == 0)
		s->ended = false;
	return rc;
}

void sr_session_finish(struct sr_session *s)
{
	if (s && !s->in_pipe)
		session_end_pipe(s);
}

static int session_write(struct sr_session *s, const char *buf, size_t len)
{
	if (s->ended || !s->drv) /* detached (reattachable) or truly over */
		return s->reattachable && !s->finished ? -ENOTCONN : s->ended ? -EPIPE : -ENOTCONN;
	int rc = sr_ssh_chan_write(s->chan, buf, len);
	if (rc == 0)
		sr_ssh_driver_kick(s->drv);
	return rc;
}

int sr_session_send_text(struct sr_session *s, const char *text)
{
	if (!s || !text)
		return -EINVAL;
	char *buf = NULL;
	size_t len = 0;
	int rc = vt_input_text(vt_screen_modes(vt_pipe_screen(s->pipe)), text, &buf, &len);
	if (rc < 0)
		return rc;
	rc = session_write(s, buf, len);
	free(buf);
	return rc;
}

int sr_session_send_raw(struct sr_session *s, const char *buf, size_t len)
{
	if (!s || (!buf && len))
		return -EINVAL;
	if (!len)
		return 0;
	return session_write(s, buf, len);
}

int sr_session_repaint(struct sr_session *s, char **out, size_t *len)
{
	if (!s || !out || !len)
		return -EINVAL;
	*out = NULL;
	*len = 0;
	const struct vt_screen *scr = vt_pipe_screen(s->pipe);
	char *modes = NULL, *paint = NULL;
	size_t mlen = 0, plen = 0;
	struct vt_frame f;
	int rc = vt_screen_peek((struct vt_screen *)scr, &f);
	if (rc < 0)
		return rc;
	rc = vt_frame_ansi(&f, &paint, &plen);
	vt_frame_free(&f);
	if (rc == 0)
		rc = vt_modes_ansi(vt_screen_modes(scr), &modes, &mlen);
	if (rc == 0) {
		/* a reset first, so the terminal starts from known modes */
		static const char reset[] = "\x1b[!p\x1b[?1049l";
		size_t rlen = sizeof(reset) - 1;
		*out = malloc(rlen + mlen + plen + 1);
		if (!*out) {
			rc = -ENOMEM;
		} else {
			memcpy(*out, reset, rlen);
			memcpy(*out + rlen, modes, mlen);
			memcpy(*out + rlen + mlen, paint, plen);
			(*out)[rlen + mlen + plen] = '\0';
			*len = rlen + mlen + plen;
		}
	}
	free(modes);
	free(paint);
	return rc;
}

int sr_session_send_keys(struct sr_session *s, const char *spec, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!s || !spec)
		return -EINVAL;
	char *buf = NULL;
	size_t len = 0;
	int rc = vt_input_keys(vt_screen_modes(vt_pipe_screen(s->pipe)), spec, &buf, &len, err,
			       errlen);
	if (rc < 0)
		return rc;
	rc = session_write(s, buf, len);
	free(buf);
	return rc;
}

int sr_session_resize(struct sr_session *s, unsigned cols, unsigned rows)
{
	if (!s || !cols || !rows)
		return -EINVAL;
	if (s->finished || (s->ended && !s->reattachable))
		return -EPIPE;
	if (s->in_pipe)
		return -EBUSY;
	/* Detached: only the screen; the next channel opens at its size. */
	bool live = !s->ended && s->drv;
	if (!live && !s->reattachable)
		return -ENOTCONN;
	if (live) {
		int rc = sr_ssh_chan_resize(s->chan, cols, rows);
		if (rc < 0)
			return rc;
		sr_ssh_driver_kick(s->drv);
	}
	int rc = vt_pipe_resize(s->pipe, cols, rows, sr_loop_now(s->loop));
	if (rc < 0)
		return rc;
	session_arm(s);
	return 0;
}

int sr_session_screen_text(struct sr_session *s, char **out)
{
	if (!s || !out)
		return -EINVAL;
	*out = NULL;
	struct vt_frame f; /* a peek: the pipe's own frames keep their lines */
	int rc = vt_screen_peek(vt_pipe_screen(s->pipe), &f);
	if (rc < 0)
		return rc;
	size_t len = 0;
	rc = vt_frame_text(&f, out, &len);
	vt_frame_free(&f);
	return rc;
}

const struct vt_screen *sr_session_screen(const struct sr_session *s)
{
	return s ? vt_pipe_screen(s->pipe) : NULL;
}

int sr_session_ended(const struct sr_session *s)
{
	return s ? s->ended : 0;
}

void sr_session_free(struct sr_session *s)
{
	if (!s)
		return;
	if (s->timer)
		sr_timer_cancel(s->timer);
	/* The sr_ssh outlives drivers and sessions (see the header), so the
	 * channel can be given back even after the driver went away. */
	sr_ssh_chan_close(s->chan);
	if (s->drv) {
		struct sr_ssh_driver *d = s->drv;
		sr_ssh_driver_unlisten(&s->lis);
		sr_ssh_driver_kick(d);
	}
	vt_pipe_free(s->pipe);
	free(s->term);
	free(s);
}
