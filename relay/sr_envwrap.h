/*
 * sr_envwrap.h — secrets for a remote command without putting them in argv.
 *
 * Remote commands run over SSH exec channels as `$SHELL -c LINE`, LINE made
 * by sr_argv_quote. Anything in LINE is visible in `ps` on the VM (and in
 * sshd's logs at high verbosity), so secret values (ANTHROPIC_API_KEY, ...)
 * never go there. SSH "env" requests are no substitute: sshd drops every
 * name its AcceptEnv does not list.
 *
 * Instead the inner argv is wrapped:
 *
 *   /bin/sh -c SCRIPT smrelay-env INNER...
 *
 * SCRIPT is a constant of this module (no data is ever formatted into it).
 * It reads `NAME=value` lines from its stdin and exports each, until an
 * empty line, then execs INNER with the rest of stdin still unread. The
 * relay writes the payload (sr_envwrap_payload) to the channel's stdin and
 * then sends EOF. `export "$l"` assigns the line literally: quotes, `$(..)`,
 * backticks and ';' in a value are never expanded or run.
 *
 * Exit status: INNER's own (exec), 127/126 when INNER cannot be run, and
 * non-zero without running INNER when the payload is malformed: 125 from
 * the script (EOF before the empty line, or a line that is not NAME=...);
 * when `export` itself fails (e.g. a readonly name such as bash's UID),
 * dash exits 2 and bash 125.
 *
 * Ownership: sr_envwrap_argv fills *out (sr_argv_free). sr_envwrap_payload
 * returns a malloc'ed buffer holding secrets: the caller wipes and frees it
 * with sr_envwrap_payload_free once it has been handed over.
 * Errors: 0, -EINVAL (message in err where there is one; it names the
 * variable but never contains its value), -ENOMEM.
 */
#ifndef SR_ENVWRAP_H
#define SR_ENVWRAP_H

#include <stddef.h>

#include "sr_argv.h"
#include "sr_ssh.h" /* struct sr_env */

/* 1 when name is a portable environment variable name,
 * [A-Za-z_][A-Za-z0-9_]*, else 0 (NULL included). */
int sr_envwrap_name_valid(const char *name);

/* out = /bin/sh -c SCRIPT smrelay-env INNER... ("/bin/sh", not "sh": the
 * wrapper must not depend on the remote PATH). inner must hold at least one
 * word (-EINVAL otherwise); out need not be initialised (its previous
 * content is overwritten, not freed) and is empty on error. */
int sr_envwrap_argv(const struct sr_argv *inner, struct sr_argv *out);

/* The stdin payload for the wrapper: `NAME=value\n` per entry of env (an
 * array ending with {NULL, NULL}; NULL means no variables), then `\n`.
 * Names must pass sr_envwrap_name_valid; values may be empty but must not
 * contain '\n' or '\r' (a line would end early, or the remote would keep a
 * stray CR). Linux limits one environment string to 128 KiB: a longer
 * variable makes the exec of INNER fail (E2BIG) on the remote.
 * On success *out (malloc'ed, NOT NUL-terminated, *len bytes) belongs to
 * the caller: release it with sr_envwrap_payload_free. On error *out is
 * NULL and *len 0. */
int sr_envwrap_payload(const struct sr_env *env, char **out, size_t *len, char *err,
		       size_t errlen);

/* Zeroes len bytes of p (in a way the compiler keeps), then frees p.
 * NULL is fine. */
void sr_envwrap_payload_free(char *p, size_t len);

#endif
