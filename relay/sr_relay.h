/*
 * sr_relay.h — the daemon's core: VM hosts, sessions and their lifecycle,
 * persistent state. Nothing here knows about chat or the control socket;
 * they drive it through this interface and hear back through hooks.
 *
 * Starting a session (all asynchronous, on the loop, each step one remote
 * command on an exec channel of the chosen host):
 *
 *   1. repository   org/repo specs: clone / fetch / switch / worktree
 *                   (sr_repo); static projects use their SM_PROJECTS path
 *   2. container    `run -d` with the session's name and label (sr_container;
 *                   nothing for the `none` runtime)
 *   3. holder       tmux started inside it running SM_CLAUDE_COMMAND in the
 *                   workspace; forwarded variables (SM_CONTAINER_ENV) reach
 *                   it through stdin (sr_envwrap), never argv
 *   4. attach       a PTY channel running the holder's attach client feeds
 *                   the session's vt pipeline (sr_session, reattachable)
 *
 * Hosts: new sessions go to the reachable host with the fewest sessions.
 * When a connection drops, its sessions are detached (their screens stay);
 * when it is back, each is checked (container running, holder alive) and
 * reattached, or ended when its program is gone. The same happens to the
 * sessions of the state file when the relay starts.
 *
 * The main clone of a repository serves one session at a time; a second
 * start without --worktree gets -EBUSY naming the session that holds it.
 *
 * Hooks run from the loop. on_op carries the vt pipeline's ops of a session
 * (live text, committed lines, markers); on_state reports STARTING →
 * RUNNING (why "started"), RUNNING → DETACHED (why: the connection's error),
 * DETACHED → RUNNING ("reattached"), and ENDED (why: "stopped", "the
 * program exited", the failed step's message…). Hooks must not free the
 * relay; they may call any other function here.
 *
 * Ownership: the caller owns the relay and the config (which must outlive
 * it). Freeing the relay closes connections but leaves the sessions running
 * on their VMs: the next relay with the same state dir reattaches them.
 * Strings returned through sr_relay_info belong to the relay and stay valid
 * until the next call that changes sessions.
 * Errors: 0 or a negative errno-style code with a message in err.
 */
#ifndef SR_RELAY_H
#define SR_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sr_config.h"
#include "sr_host.h"
#include "sr_loop.h"
#include "vt_batch.h"

#define SR_RELAY_ID_LEN 8 /* session ids: 8 of [a-z0-9] */

struct sr_relay;

enum sr_rstate {
	SR_RS_STARTING,
	SR_RS_RUNNING,
	SR_RS_DETACHED, /* its connection is down or the relay just started */
	SR_RS_STOPPING,
	SR_RS_ENDED,
};

const char *sr_rstate_name(enum sr_rstate st);

struct sr_relay_hooks {
	void (*on_op)(void *data, const char *id, const struct vt_op *op);
	void (*on_state)(void *data, const char *id, enum sr_rstate st, const char *why);
	/* the program's output as read (attached terminals) */
	void (*on_raw)(void *data, const char *id, const char *buf, size_t len);
	void *data;
};

#define SR_RELAY_MAX_HOOKS 8

/* More listeners besides the options' hooks (chat, control socket): h is
 * caller-owned and must stay valid until removed. -ENOSPC when full. */
int sr_relay_add_hooks(struct sr_relay *r, const struct sr_relay_hooks *h);
void sr_relay_remove_hooks(struct sr_relay *r, const struct sr_relay_hooks *h);

struct sr_relay_opts {
	struct sr_loop *loop;
	const struct sr_config *cfg;
	struct sr_relay_hooks hooks;
	uint64_t backoff_min_ms; /* reconnect backoff; 0: sr_host defaults */
	uint64_t backoff_max_ms;
};

/* Loads the state (a corrupt file is moved aside and reported), starts
 * connecting to every VM host and queues the reattachment of the sessions
 * it knew. Errors: -EINVAL (config), -ENOMEM, state directory trouble. */
int sr_relay_new(const struct sr_relay_opts *o, struct sr_relay **out, char *err, size_t errlen);
void sr_relay_free(struct sr_relay *r);

/* cb for start and stop: rc 0 or negative, msg "" or the reason. */
typedef void (*sr_relay_done_cb)(void *data, int rc, const char *id, const char *msg);

/* Starts a session from the words of a start command ({"acme/api@dev",
 * "--worktree"} or {"demo"}). Checks everything it can at once: -EINVAL
 * (bad spec, unknown project), -EBUSY (main clone in use),
 * -EHOSTUNREACH (no VM host reachable); then returns 0 with the new id in
 * id_out (SR_RELAY_ID_LEN + 1 bytes) and calls cb (may be NULL) once the
 * session runs or its start failed. */
int sr_relay_start(struct sr_relay *r, int argc, const char *const *argv, const char *owner,
		   sr_relay_done_cb cb, void *data, char *id_out, char *err, size_t errlen);

/* Stops a session: its vt pipeline ends (last ops), the container is
 * removed (the holder stopped, for `none`); worktrees and clones stay.
 * cb (may be NULL) runs when the remote side is cleaned up. -ENOENT for an
 * unknown or ended session. */
int sr_relay_stop(struct sr_relay *r, const char *id, sr_relay_done_cb cb, void *data,
		  char *err, size_t errlen);

/* Typing, keys, size, screen: as sr_session_* (-ENOENT for an unknown
 * session, -ENOTCONN while it is detached or starting). */
int sr_relay_send_text(struct sr_relay *r, const char *id, const char *text);
int sr_relay_send_keys(struct sr_relay *r, const char *id, const char *spec, char *err,
		       size_t errlen);
int sr_relay_resize(struct sr_relay *r, const char *id, unsigned cols, unsigned rows);
int sr_relay_screen_text(struct sr_relay *r, const char *id, char **out);
/* Bytes from an attached terminal, as typed (one write). */
int sr_relay_send_raw(struct sr_relay *r, const char *id, const char *buf, size_t len);
/* The repaint for a terminal attaching now (sr_session_repaint). */
int sr_relay_repaint(struct sr_relay *r, const char *id, char **out, size_t *len);

struct sr_relay_info {
	const char *id, *host, *project, *owner, *workdir, *worktree; /* NULL when none */
	enum sr_rstate state;
	int64_t created; /* unix seconds */
	unsigned cols, rows;
};

int sr_relay_info(const struct sr_relay *r, const char *id, struct sr_relay_info *out);

/* Ids of the sessions that have not ended, up to max; returns how many
 * there are in all. */
size_t sr_relay_list(const struct sr_relay *r, const char **ids, size_t max);

/* A top-level object of the state file for another part of the daemon
 * (e.g. "chat"), created empty when missing; owned by the relay. Write it
 * with sr_relay_save. */
cJSON *sr_relay_state_section(struct sr_relay *r, const char *name);
void sr_relay_save(struct sr_relay *r);

/* Bytes of program output fed to the sessions' screens since start. */
uint64_t sr_relay_vt_bytes(const struct sr_relay *r);

/* The configured hosts (for status, and tests that drop a connection). */
size_t sr_relay_nhosts(const struct sr_relay *r);
struct sr_host *sr_relay_host(const struct sr_relay *r, size_t i);

#endif
