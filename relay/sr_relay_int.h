/*
 * sr_relay_int.h — what the relay's files share (not a public interface):
 * sr_relay.c (table, hosts, state, public calls) and sr_relay_steps.c
 * (the remote steps of start, check, reattach and stop).
 */
#ifndef SR_RELAY_INT_H
#define SR_RELAY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "sr_container.h"
#include "sr_exec.h"
#include "sr_project.h"
#include "sr_relay.h"
#include "sr_session.h"
#include "sr_state.h"

enum rs_step {
	STEP_NONE,
	STEP_REPO,    /* clone / fetch / worktree */
	STEP_CREATE,  /* container run */
	STEP_HOLDER,  /* tmux new-session inside it */
	STEP_RUNNING, /* is the container still there? */
	STEP_ALIVE,   /* is the holder still there? */
	STEP_REMOVE,  /* container rm / holder kill */
};

struct rsess {
	struct sr_relay *r;
	char id[SR_RELAY_ID_LEN + 1];
	char *host;      /* target name */
	char *project;   /* the spec as a canonical start command */
	char *repo_key;  /* "org/repo" (lower case) while it holds the main clone */
	char *workdir;   /* on the VM, once known */
	char *worktree;  /* worktree name or NULL */
	char *owner;
	char *why;       /* the end reason */
	int64_t created;
	unsigned cols, rows;
	enum sr_rstate st;
	enum rs_step step;
	bool started;      /* reached RUNNING once */
	bool cleanup;      /* remote leftovers to remove when the host is back */
	bool stop_wanted;
	bool waiting;      /* no host connected yet at start: waits for the first */
	uint64_t wait_since;
	struct sr_project_spec spec;
	struct sr_host *h; /* NULL: its host is not configured any more */
	struct sr_session *vs;
	struct sr_exec *job;
	uint64_t flap_t0;  /* reattach storm detection */
	unsigned flaps;
	sr_relay_done_cb done;
	void *done_data;
};

struct sr_relay {
	struct sr_loop *loop;
	const struct sr_config *cfg;
	const struct sr_relay_hooks *hooks[SR_RELAY_MAX_HOOKS + 1];
	size_t nhooks;
	struct sr_relay_hooks own_hooks; /* the options' copy, hooks[0] */
	struct sr_host **hosts;
	size_t nhosts;
	struct rsess **sess;
	size_t nsess, cap;
	struct rsess **dead; /* dropped, freed at the next iteration */
	size_t ndead, capdead;
	struct sr_state *state;
	struct sr_projects projects;
	struct sr_timer *wait_timer; /* gives up on starts waiting for a host */
	uint64_t env_warned;
	uint64_t vt_bytes; /* program output fed to the screens (metrics) */ /* SM_CONTAINER_ENV names already reported unset */
	bool freeing;
};

/* sr_relay.c */
void rs_emit_op(struct rsess *s, const struct vt_op *op);
void rs_emit_raw(struct rsess *s, const char *buf, size_t len);
void rs_save(struct sr_relay *r);
void rs_set_state(struct rsess *s, enum sr_rstate st, const char *why);
/* Ends s (hooks, state), releases it later; the remote side is cleaned
 * up first when cleanup is set and the host is reachable. */
void rs_end(struct rsess *s, const char *why);
/* Drops an ended session from the table and the state file. */
void rs_forget(struct rsess *s);
void rs_finish_done(struct rsess *s, int rc, const char *msg);
struct sr_ssh_driver *rs_driver(struct rsess *s);
void rs_fill_spec(struct rsess *s, struct sr_container_spec *spec, const char *const *env_names);

/* sr_relay_steps.c */
void rs_step_repo(struct rsess *s);
void rs_step_create(struct rsess *s);
/* Checks a session whose connection came back (or that the state file
 * listed): container running, holder alive → reattach; else end. */
void rs_check(struct rsess *s);
void rs_attach(struct rsess *s);
void rs_remove(struct rsess *s);

#endif
