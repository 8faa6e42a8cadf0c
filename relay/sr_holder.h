/*
 * sr_holder.h — argv builders for the persistent session holder (tmux).
 *
 * A session's program runs inside a tmux server of its own, one per
 * session id, on the socket `tmux -L smrelay-<id>` (under the remote
 * user's tmux socket dir). The server keeps the screen on the VM, so when
 * the relay's connection drops the program runs on, and a reattach makes
 * tmux repaint the whole screen at once.
 *
 * These are pure builders: they make an argv array and nothing else. The
 * caller quotes it with sr_quote_argv (sr_holder_argv is laid out for it:
 * v[0..n-1] plus a NULL at v[n]) and runs it:
 *
 *   start   on an exec channel (no PTY); exit 0 once the server runs
 *   attach  on a PTY channel (sr_session / sr_ssh_pty_start, TERM set)
 *   alive   on an exec channel; exit 0 while the session exists
 *   stop    on an exec channel; exit 0 when a server was killed
 *
 * Session ids: 1 to 64 bytes of [A-Za-z0-9_-], not starting with '-';
 * anything else is -EINVAL (no path separators, shell or tmux syntax can
 * reach the socket name, and an id never looks like an option wherever a
 * caller might use it on its own).
 *
 * Ownership: on success *out holds malloc'ed strings; free them with
 * sr_holder_argv_free. On error *out is empty ({NULL, 0}).
 * Errors: 0, -EINVAL (bad id, NULL out, empty or NULL program, zero size),
 * -ENOMEM.
 */
#ifndef SR_HOLDER_H
#define SR_HOLDER_H

#include <stddef.h>

#include "sr_argv.h"

/* sr_argv_free (kept for the callers that predate sr_argv.h). */
void sr_holder_argv_free(struct sr_argv *a);

/* 1 when id is a valid session id, else 0. */
int sr_holder_id_valid(const char *id);

/* Starts the holder server with program (NULL-terminated argv, run by tmux
 * through execvp when it has several words) in a detached session "main"
 * of cols x rows, in ONE tmux invocation, working directory start_dir
 * (absolute; NULL: the caller's):
 *
 *   tmux -u -L smrelay-<id> -f /dev/null new-session -d -s main -x C -y R
 *        [-c START_DIR] -- PROGRAM... ; set-option -g status off
 *        ; set-option -g escape-time 0
 *        ; set-option -ga terminal-overrides ,*:smcup@:rmcup@
 *
 * "-f /dev/null" ignores the user's ~/.tmux.conf; the status line is off
 * (the whole window is the program's); escape-time 0 passes ESC through
 * at once; the smcup/rmcup override keeps tmux's client on the main
 * screen, so lines scrolled off reach the relay's scrollback. history-limit
 * keeps tmux's default. The ";" words are literal tmux command separators
 * (sr_quote_argv quotes them so the shell does not take them). */
int sr_holder_start_argv(const char *session_id, unsigned cols, unsigned rows,
			 const char *start_dir, const char *const *program, struct sr_argv *out);

/* tmux -u -L smrelay-<id> attach-session -t main (-u everywhere: the
 * client draws UTF-8 whatever the VM's locale says; without it a C locale
 * turns every non-ASCII glyph of Claude Code's UI into '_') */
int sr_holder_attach_argv(const char *session_id, struct sr_argv *out);

/* tmux -u -L smrelay-<id> has-session -t main (exit 0 if alive) */
int sr_holder_alive_argv(const char *session_id, struct sr_argv *out);

/* tmux -u -L smrelay-<id> kill-server */
int sr_holder_stop_argv(const char *session_id, struct sr_argv *out);

#endif
