/*
 * sr_container.h — argv builders for the container runtime a session runs
 * in on the VM: one long-lived container per session, named
 * smrelay-<session id>, with the session's working directory mounted at
 * /workspace. The holder (tmux, sr_holder.h) runs inside it through
 * `exec`; the PTY channel attaches through `exec -it`.
 *
 * Like sr_holder these are pure builders: the caller quotes the result
 * (sr_argv_quote) and runs it on an exec channel, or on the PTY channel for
 * the attach argv. Nothing here touches the network or the VM.
 *
 *   create   exit 0 once the container runs (prints its id)
 *   exec     runs INNER in it (INNER's exit status)
 *   attach   INNER in it on the PTY channel
 *   running  prints the container id while it runs, nothing otherwise
 *   remove   kills and removes it. Note: for a container that does not
 *            exist, `podman rm -f` exits 1 before podman 4.2 and 0 from
 *            4.2 on, docker prints a warning and exits 0: do not treat
 *            its status as "the session was running".
 *
 * With SR_RUNTIME_NONE the session runs directly on the VM (the VM is the
 * sandbox): create, running and remove return 0 with an EMPTY argv
 * (out->n == 0: nothing to run; the caller uses the holder's own
 * alive/stop commands instead), exec and attach return INNER unchanged.
 *
 * Validation (every function checks the whole spec first, so a bad field
 * is reported the same way whichever command comes first):
 *   always:           runtime, session_id (sr_holder_id_valid), workdir
 *   podman/docker:    image (required), network, memory, cpus, term,
 *                     runtime_bin, env_names; with NONE these are ignored
 * The charsets below leave no shell syntax and no option (leading '-') in
 * any field that reaches the runtime as an operand; workdir, which may hold
 * any byte but control bytes, ',' and ':', is safe only through sr_quote.
 *
 * Ownership: spec strings are borrowed (copied into out). Each *_argv
 * function overwrites *out (its previous content is not freed; a zeroed
 * struct is the normal input); on success the caller frees it with
 * sr_argv_free, on error it is empty.
 * Errors: 0, -EINVAL (NULL argument or bad field; err names the field and
 * shows hostile bytes escaped as \xHH, so it is safe to log or post to
 * chat), -ENOMEM. err may be NULL.
 */
#ifndef SR_CONTAINER_H
#define SR_CONTAINER_H

#include <stddef.h>

#include "sr_argv.h"
#include "sr_config.h" /* enum sr_runtime */

/* Mount point of the session's working directory inside the container. */
#define SR_CONTAINER_WORKSPACE "/workspace"

/* Bytes needed for sr_container_name's buffer: "smrelay-" + a 64-byte
 * session id + NUL. */
#define SR_CONTAINER_NAME_MAX 73

struct sr_container_spec {
	enum sr_runtime runtime;
	const char *runtime_bin;  /* NULL: "podman" / "docker"; else the program
	                           * to run, e.g. an absolute path to a shim;
	                           * no control bytes, not starting with '-'
	                           * or '%' */
	const char *session_id;   /* must pass sr_holder_id_valid */
	const char *image;        /* required unless NONE: [A-Za-z0-9._/:@-],
	                           * 1..255 bytes, not starting with '-' */
	const char *network;      /* NULL: the runtime's default;
	                           * [A-Za-z0-9._-], 1..255, no leading '-' */
	const char *memory;       /* NULL: no limit; [0-9]+[bkmgBKMG]?, e.g. "4g" */
	const char *cpus;         /* NULL: no limit; digits with at most one
	                           * '.', e.g. "2" or "1.5" */
	const char *workdir;      /* absolute path on the VM
	                           * (sr_project_check_path rules), without ','
	                           * or ':' (they break the -v syntax); mounted
	                           * at /workspace */
	const char *git_dir;      /* NULL, or a worktree's main .git directory
	                           * (same rules as workdir), mounted at the
	                           * same path so the worktree's .git link works */
	const char *const *env_names; /* NULL or NULL-terminated names
	                               * (sr_envwrap_name_valid) forwarded to
	                               * the agent by exec with_env */
	const char *term;         /* TERM inside the container for the attach
	                           * client; NULL: "xterm-256color";
	                           * [A-Za-z0-9._+-], 1..64 bytes */
};

/* "smrelay-<id>" into buf. Errors: -EINVAL (bad id, NULL buf), -ERANGE
 * (len too small: use SR_CONTAINER_NAME_MAX). */
int sr_container_name(const char *session_id, char *buf, size_t len);

/* The directory the holder starts in: "/workspace" for podman/docker,
 * s->workdir for NONE. NULL when s is NULL or its runtime unknown. The
 * string belongs to s (or is static). Does not validate the spec. */
const char *sr_container_workspace(const struct sr_container_spec *s);

/* BIN run -d --init --name smrelay-<id> --label smrelay.session=<id>
 *     [--network N] [--memory M] [--cpus C]
 *     -v WORKDIR:/workspace -w /workspace IMAGE sleep infinity
 * --init puts a reaping init (catatonit / docker-init) at PID 1: the tmux
 * server daemonizes, so it and its orphans are reparented to PID 1, which
 * `sleep` would never reap. NONE: 0 with an empty argv. */
int sr_container_create_argv(const struct sr_container_spec *s, struct sr_argv *out,
			     char *err, size_t errlen);

/* BIN exec [--env NAME]... smrelay-<id> INNER...
 * The --env words (one per env_names entry, only when with_env) carry no
 * value: the runtime copies it from its own environment, which
 * sr_envwrap filled (wrap this whole argv with sr_envwrap_argv). No -i:
 * INNER gets no stdin. NONE: INNER unchanged (the wrapper exports the
 * variables itself). inner must hold at least one word. */
int sr_container_exec_argv(const struct sr_container_spec *s, const struct sr_argv *inner,
			   int with_env, struct sr_argv *out, char *err, size_t errlen);

/* BIN exec -it --env TERM=<term> smrelay-<id> INNER...  (PTY channel)
 * NONE: INNER unchanged (the PTY request sets TERM). */
int sr_container_attach_argv(const struct sr_container_spec *s, const struct sr_argv *inner,
			     struct sr_argv *out, char *err, size_t errlen);

/* BIN ps -q --filter label=smrelay.session=<id>
 * Prints the (short) id when the container runs, nothing otherwise; exit 0
 * either way. NONE: 0 with an empty argv. */
int sr_container_running_argv(const struct sr_container_spec *s, struct sr_argv *out,
			      char *err, size_t errlen);

/* BIN rm -f smrelay-<id>   (see the note on exit statuses above)
 * NONE: 0 with an empty argv (stop the holder instead). */
int sr_container_remove_argv(const struct sr_container_spec *s, struct sr_argv *out,
			     char *err, size_t errlen);

#endif
