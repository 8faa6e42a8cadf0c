/*
 * sr_session.h — one interactive session: a PTY channel on an SSH
 * connection feeding a vt pipeline, all on the sr_loop.
 *
 * A session is one PTY channel + one vt_pipe on a connection driven by an
 * sr_ssh_driver (sr_ssh_driver.h; several sessions share one). After each
 * step of the driver it reads all channel output into the pipe
 * (vt_pipe_feed at sr_loop_now), ticks the pipe and keeps ONE loop timer
 * armed at vt_pipe_deadline, so frames and flushes happen on time without
 * polling. Answers the vt screen generates for terminal queries (DA, CPR,
 * DECRQM…) are written back to the channel.
 *
 * When the remote program exits or the channel fails the session calls
 * vt_pipe_end (final commit, END op) and then on_exit(status, why) once:
 * status is the exit status 0..255, or -1 (killed by a signal, channel or
 * connection failure); why is a short reason ("exited with status 0",
 * "killed by signal TERM", or the channel's error message), valid during
 * the call.
 *
 * Re-entrancy: on_exit may free its session (nothing touches it after the
 * call). The driver's on_error may free the driver and any sessions. The
 * vt ops callback (on_op) may send text/keys and read the screen, but must
 * not free the session (free it later, e.g. from a deferred call) and
 * cannot resize it (-EBUSY: the pipe is in the middle of a frame).
 *
 * Ownership and order: the caller owns the sr_ssh, the driver and the
 * sessions. Free the driver before its sr_ssh. A driver freed with
 * sessions still attached detaches them and closes their channels (so a
 * session never holds a channel of a freed connection); their operations
 * then return -ENOTCONN, and reattachable ones can be reattached.
 *
 * Errors: 0 or a negative errno-style code; setup errors are described in
 * err.
 */
#ifndef SR_SESSION_H
#define SR_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "sr_loop.h"
#include "sr_ssh.h"
#include "sr_ssh_driver.h"
#include "vt_pipe.h"

struct sr_session;

struct sr_session_opts {
	struct sr_ssh_driver *driver; /* the connection (and its loop); not owned */
	const char *term;             /* NULL → "xterm-256color" */
	unsigned cols, rows;          /* 0 → 100 x 30 */
	const char *const *argv;      /* remote command, NULL-terminated, quoted
	                               * with sr_quote_argv; NULL → login shell */
	const struct sr_env *env;     /* NULL or {NULL, NULL}-terminated */
	vt_op_cb on_op;               /* the vt pipeline's ops (may be NULL) */
	void *op_data;
	void (*on_exit)(void *data, int status, const char *why);
	void *exit_data;
	/* Every chunk of the program's output, as read, before the screen
	 * sees it (an attached terminal's live stream). May be NULL. */
	void (*on_raw)(void *data, const char *buf, size_t len);
	void *raw_data;
	/* Reattachable sessions outlive their channel: when it ends, on_exit
	 * runs but the pipeline stays (no END op); the owner either opens a
	 * new channel on the same screen (sr_session_reattach: e.g. a holder's
	 * attach command after a dropped connection, so the diff engine sees
	 * the repaint as a repaint) or ends it (sr_session_finish). */
	bool reattachable;
	/* Optional pipeline tuning (NULL: defaults); its screen size, reply,
	 * and cb fields are ignored. */
	const struct vt_pipe_opts *pipe;
};

/* Opens the PTY channel (it starts once the connection is ready) and the
 * vt pipeline of the same size. On success *out belongs to the caller.
 * Errors: -EINVAL, -ENOMEM, -ENOTCONN (driver's connection failed), or
 * what sr_ssh_pty_start returned; message in err. */
int sr_session_start(const struct sr_session_opts *opts, struct sr_session **out,
		     char *err, size_t errlen);

/* Encodes text for the modes the program enabled (vt_input_text: bracketed
 * paste when on, then CR) and queues it as ONE channel write.
 * Errors: -EINVAL, -ENOMEM, -EPIPE (session ended), -ENOTCONN, or what
 * sr_ssh_chan_write returned. */
int sr_session_send_text(struct sr_session *s, const char *text);

/* Bytes typed on an attached terminal, as they are (one write).
 * Errors as sr_session_send_text. */
int sr_session_send_raw(struct sr_session *s, const char *buf, size_t len);

/* What makes a terminal of the session's size show the current screen: a
 * soft reset, the program's input modes (vt_modes_ansi), the repaint
 * (vt_frame_ansi). *out malloc'ed (NUL-terminated, *len bytes).
 * Errors: -EINVAL, -ENOMEM. */
int sr_session_repaint(struct sr_session *s, char **out, size_t *len);

/* Named keys (vt_input_keys), one write. -EINVAL with a message on a bad
 * spec; otherwise as sr_session_send_text. */
int sr_session_send_keys(struct sr_session *s, const char *spec, char *err, size_t errlen);

/* Window change on the channel and resize of the vt screen (the pipe's
 * next frame is marked resized); a detached reattachable session resizes
 * its screen only and reattaches at the new size. Errors: -EINVAL (zero
 * size), -EPIPE, -ENOTCONN, -EBUSY (called from on_op), or what the parts
 * returned. */
int sr_session_resize(struct sr_session *s, unsigned cols, unsigned rows);

/* The current screen as text (one row per line, trailing blanks trimmed;
 * vt_frame_text), *out malloc'ed.
 *
 * It peeks at the screen (vt_screen_peek), so it never takes anything from
 * the pipeline's own frames and may be called at any time.
 * Errors: -EINVAL, -ENOMEM. */
int sr_session_screen_text(struct sr_session *s, char **out);

/* The session's vt screen (read-only use: modes, size, history). */
const struct vt_screen *sr_session_screen(const struct sr_session *s);

/* Reattachable sessions: closes the channel now (e.g. its connection is
 * about to be freed) without on_exit; writes then return -ENOTCONN until
 * sr_session_reattach. -EINVAL for other sessions. */
int sr_session_detach(struct sr_session *s);

/* Reattachable sessions: opens a new PTY channel running argv on d (any
 * connection), at the screen's current size, feeding the same pipeline.
 * Errors: -EINVAL (not reattachable, finished), or as sr_session_start. */
int sr_session_reattach(struct sr_session *s, struct sr_ssh_driver *d, const char *const *argv,
			char *err, size_t errlen);

/* Ends the pipeline: final commit and END op (once; a no-op from on_op). */
void sr_session_finish(struct sr_session *s);

/* True while no channel runs: on_exit has run (or is running), or the
 * session was detached. */
int sr_session_ended(const struct sr_session *s);

/* Closes the channel (a running program gets SIGTERM / hangup), frees the
 * pipe and removes everything from the loop. on_exit is not called.
 * NULL is a no-op. */
void sr_session_free(struct sr_session *s);

#endif
