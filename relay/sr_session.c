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

struct sr_ssh_driver {
	struct sr_loop *loop;
	struct sr_ssh *ssh;
	struct sr_watch *watch;
	struct sr_timer *keepalive;
	uint64_t keepalive_ms;
	sr_ssh_driver_error_cb on_error;
	void *error_data;
	bool step_queued;
	bool error_reported;
	bool dead;  /* freed from inside a callback: release when depth drops */
	int depth;  /* callbacks of this driver on the stack */
	struct sr_session **sess; /* NULL slots while depth > 0 */
	size_t nsess, cap;
};

struct sr_session {
	struct sr_ssh_driver *drv;
	struct sr_loop *loop;
	struct sr_ssh_chan *chan;
	struct vt_pipe *pipe;
	struct sr_timer *timer; /* armed at vt_pipe_deadline, NULL when none */
	void (*on_exit)(void *data, int status, const char *why);
	void *exit_data;
	bool ended;
	bool in_pipe;         /* inside vt_pipe_* (ops callbacks may run) */
};

static void session_pump(struct sr_session *s);

/* ---- driver ------------------------------------------------------------ */

static void drv_release(struct sr_ssh_driver *d)
{
	for (size_t i = 0; i < d->nsess; i++)
		if (d->sess[i])
			d->sess[i]->drv = NULL;
	free(d->sess);
	free(d);
}

static void drv_leave(struct sr_ssh_driver *d)
{
	if (--d->depth > 0)
		return;
	if (d->dead) {
		drv_release(d);
		return;
	}
	/* compact slots emptied while notifying */
	size_t j = 0;
	for (size_t i = 0; i < d->nsess; i++)
		if (d->sess[i])
			d->sess[j++] = d->sess[i];
	d->nsess = j;
}

static void drv_step_cb(void *data);

static void drv_update(struct sr_ssh_driver *d)
{
	if (d->dead)
		return;
	unsigned w = sr_ssh_wants(d->ssh);
	unsigned ev = ((w & SR_SSH_WANT_READ) ? SR_EV_READ : 0) |
		      ((w & SR_SSH_WANT_WRITE) ? SR_EV_WRITE : 0);
	if (sr_watch_events(d->watch) != ev)
		sr_watch_set_events(d->watch, ev);
	if ((w & SR_SSH_WANT_STEP) && !d->step_queued) {
		if (sr_loop_defer(d->loop, drv_step_cb, d) == 0)
			d->step_queued = true;
	}
}

/* Tells every session, then reports a connection failure once. */
static void drv_after(struct sr_ssh_driver *d, int rc)
{
	for (size_t i = 0; i < d->nsess && !d->dead; i++)
		if (d->sess[i])
			session_pump(d->sess[i]);
	if (d->dead)
		return;
	if (rc < 0 && !d->error_reported) {
		d->error_reported = true;
		if (d->on_error)
			d->on_error(d->error_data, rc, sr_ssh_error(d->ssh));
	}
	drv_update(d);
}

static void drv_step(struct sr_ssh_driver *d)
{
	d->depth++;
	int rc = sr_ssh_step(d->ssh);
	drv_after(d, rc);
	drv_leave(d);
}

static void drv_step_cb(void *data)
{
	struct sr_ssh_driver *d = data;
	d->step_queued = false;
	drv_step(d);
}

static void drv_fd_cb(struct sr_watch *w, int fd, unsigned revents, void *data)
{
	(void)w;
	(void)fd;
	(void)revents;
	drv_step(data);
}

static void drv_keepalive_cb(struct sr_timer *t, void *data)
{
	struct sr_ssh_driver *d = data;
	sr_timer_rearm(t, d->keepalive_ms);
	d->depth++;
	int rc = sr_ssh_keepalive(d->ssh);
	if (rc < 0)
		drv_after(d, rc);
	else
		drv_update(d);
	drv_leave(d);
}

int sr_ssh_driver_new(struct sr_loop *loop, struct sr_ssh *ssh, uint64_t keepalive_ms,
		      sr_ssh_driver_error_cb on_error, void *error_data,
		      struct sr_ssh_driver **out)
{
	if (!loop || !ssh || !out)
		return -EINVAL;
	*out = NULL;
	struct sr_ssh_driver *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->ssh = ssh;
	d->keepalive_ms = keepalive_ms ? keepalive_ms : DEFAULT_KEEPALIVE_MS;
	d->on_error = on_error;
	d->error_data = error_data;
	int rc = sr_loop_watch(loop, sr_ssh_fd(ssh), 0, drv_fd_cb, d, &d->watch);
	if (rc < 0) {
		free(d);
		return rc;
	}
	rc = sr_loop_timer(loop, d->keepalive_ms, drv_keepalive_cb, d, &d->keepalive);
	if (rc < 0) {
		sr_watch_remove(d->watch);
		free(d);
		return rc;
	}
	rc = sr_loop_defer(loop, drv_step_cb, d);
	if (rc < 0) {
		sr_timer_cancel(d->keepalive);
		sr_watch_remove(d->watch);
		free(d);
		return rc;
	}
	d->step_queued = true;
	*out = d;
	return 0;
}

void sr_ssh_driver_free(struct sr_ssh_driver *d)
{
	if (!d || d->dead)
		return;
	sr_loop_defer_cancel(d->loop, drv_step_cb, d);
	sr_timer_cancel(d->keepalive);
	sr_watch_remove(d->watch);
	d->dead = true;
	for (size_t i = 0; i < d->nsess; i++)
		if (d->sess[i]) {
			d->sess[i]->drv = NULL;
			d->sess[i] = NULL;
		}
	if (d->depth == 0)
		drv_release(d);
}

void sr_ssh_driver_kick(struct sr_ssh_driver *d)
{
	if (!d || d->dead || d->step_queued)
		return;
	if (sr_loop_defer(d->loop, drv_step_cb, d) == 0)
		d->step_queued = true;
}

static int drv_attach(struct sr_ssh_driver *d, struct sr_session *s)
{
	if (d->nsess == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct sr_session **n = realloc(d->sess, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		d->sess = n;
		d->cap = cap;
	}
	d->sess[d->nsess++] = s;
	return 0;
}

static void drv_detach(struct sr_ssh_driver *d, struct sr_session *s)
{
	for (size_t i = 0; i < d->nsess; i++) {
		if (d->sess[i] != s)
			continue;
		if (d->depth > 0) {
			d->sess[i] = NULL;
		} else {
			memmove(&d->sess[i], &d->sess[i + 1], (d->nsess - i - 1) * sizeof(*d->sess));
			d->nsess--;
		}
		return;
	}
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

/* Ends the session: last frame, END op, on_exit. Nothing touches s after
 * on_exit (it may free s). */
static void session_finish(struct sr_session *s, int status, const char *why)
{
	s->ended = true;
	if (s->timer) {
		sr_timer_cancel(s->timer);
		s->timer = NULL;
	}
	s->in_pipe = true;
	vt_pipe_end(s->pipe, sr_loop_now(s->loop));
	s->in_pipe = false;
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
	if (d->dead) {
		snprintf(err, errlen, "session: driver was freed");
		return -EINVAL;
	}
	char *cmd = NULL;
	if (o->argv) {
		size_t argc = 0;
		while (o->argv[argc])
			argc++;
		int rc = sr_quote_argv(o->argv, argc, &cmd, err, errlen);
		if (rc < 0)
			return rc;
	}
	struct sr_session *s = calloc(1, sizeof(*s));
	if (!s) {
		free(cmd);
		snprintf(err, errlen, "session: out of memory");
		return -ENOMEM;
	}
	s->drv = d;
	s->loop = d->loop;
	s->on_exit = o->on_exit;
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
		free(cmd);
		free(s);
		return rc;
	}
	rc = sr_ssh_pty_start(d->ssh, o->term, cols, rows, cmd, o->env, &s->chan);
	free(cmd);
	if (rc < 0) {
		const char *m = sr_ssh_error(d->ssh);
		snprintf(err, errlen, "session: PTY channel: %s", m && *m ? m : strerror(-rc));
		vt_pipe_free(s->pipe);
		free(s);
		return rc;
	}
	rc = drv_attach(d, s);
	if (rc < 0) {
		snprintf(err, errlen, "session: out of memory");
		sr_ssh_chan_close(s->chan);
		vt_pipe_free(s->pipe);
		free(s);
		return rc;
	}
	sr_ssh_driver_kick(d);
	*out = s;
	return 0;
}

static int session_write(struct sr_session *s, const char *buf, size_t len)
{
	if (s->ended)
		return -EPIPE;
	if (!s->drv)
		return -ENOTCONN;
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
	if (s->ended)
		return -EPIPE;
	if (!s->drv)
		return -ENOTCONN;
	if (s->in_pipe)
		return -EBUSY;
	int rc = sr_ssh_chan_resize(s->chan, cols, rows);
	if (rc < 0)
		return rc;
	sr_ssh_driver_kick(s->drv);
	rc = vt_pipe_resize(s->pipe, cols, rows, sr_loop_now(s->loop));
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
		drv_detach(s->drv, s);
		sr_ssh_driver_kick(s->drv);
	}
	vt_pipe_free(s->pipe);
	free(s);
}
