/*
 * sr_repo.h — the git checkout a session works in, prepared on the VM by
 * ONE exec channel per `start`:
 *
 *   sh -c SCRIPT smrelay-repo URL REPO_PATH BRANCH WORKTREE_PATH WORKTREE_NAME FETCH
 *
 * SCRIPT is a constant string literal: user data (URL, paths, branch) only
 * arrives as positional parameters ("" = not given, FETCH "1" or "0"), and
 * the whole argv is quoted by sr_argv_quote, so a valid branch such as
 * `$(touch${IFS}x);y>z` is only ever a word. Branches and names are also
 * placed where git cannot take them for options: after --end-of-options
 * (switch, worktree add), after "--" (clone), as the value of an option
 * (-b, --create=) or behind a fixed prefix ("refs/heads/",
 * "refs/remotes/origin/").
 *
 * What SCRIPT does (LC_ALL=C so git's messages are the English ones this
 * file parses; everything but the final line goes to stderr):
 *  1. REPO_PATH/.git missing: the main clone is made with `git clone` into
 *     a hidden temp dir next to it (PARENT/.smrelay-clone.XXXXXX/r, made by
 *     mktemp -d) and then moved into place, so a failed or interrupted clone
 *     never leaves a half repository at REPO_PATH (a SIGKILLed one leaves
 *     the hidden temp dir behind; nothing else reads it). If another start
 *     finished the same clone meanwhile, that one is used. REPO_PATH
 *     existing without .git is an error (never overwritten).
 *     Present and FETCH: `git fetch --prune origin`; a failing fetch is an
 *     error (an expired token should be seen, not hidden by a stale tree).
 *  2. No worktree: with BRANCH, the main clone is switched to it (nothing
 *     when already on it). Without BRANCH it is left as it is.
 *  3. WORKTREE_PATH given: if it exists and is a worktree of this repository
 *     (its git-common-dir is REPO_PATH/.git) it is reused, switched to
 *     BRANCH when one is given. If it exists otherwise: error. Else stale
 *     registrations are pruned and `git worktree add` creates it: with
 *     BRANCH on that branch; without, on smrelay/WORKTREE_NAME (reused when
 *     the local branch exists, else created without upstream from
 *     origin/HEAD, which `git remote set-head origin --auto` sets when the
 *     clone lacks it).
 *  "Switch to BRANCH": a local branch is checked out as is; else if origin
 *  has it (refs/remotes/origin/BRANCH, or listed by ls-remote and fetched
 *  on its own when FETCH is off or the clone is older than the branch) a
 *  local branch tracking it is created; else "branch 'B' not found on
 *  origin". A dirty tree that blocks the switch or a branch checked out in
 *  another worktree fails with git's message.
 *  4. With FETCH, the working directory (main clone or worktree) is then
 *     fast-forwarded to its upstream when it is on a branch that has one
 *     and has no changes to tracked files; a tree that cannot be
 *     fast-forwarded only gets a warning on stderr.
 *  5. Exit status 0 and the working directory as the last stdout line, or
 *     non-zero with git's messages and/or "smrelay-repo: MESSAGE" on stderr.
 *
 * Credentials: GIT_TERMINAL_PROMPT=0, core.askPass= and no GIT_ASKPASS /
 * SSH_ASKPASS, so git never waits for a password: a private repository
 * without a token fails at once with git's message. When GH_TOKEN is set in
 * the VM's environment of the exec channel (the deployment's job, e.g.
 * /etc/environment or sshd SetEnv), git gets it only through a credential
 * helper defined in SCRIPT (username x-access-token) that replaces any
 * configured helper; the token is never in argv, a URL or a message, and
 * `git -c` settings are not written into the clone's config. Without
 * GH_TOKEN the VM's own helpers (if any) apply.
 *
 * Ownership: *out strings and *workdir are malloc'ed, the caller frees
 * them; sr_argv output is released with sr_argv_free. On error outputs are
 * NULL / empty.
 * Errors: 0 or a negative errno: -EINVAL (bad request, message in err),
 * -ENOMEM, -EIO (the remote script failed; message in err). Messages are
 * one line with control bytes shown as \xHH, safe for chat and logs. err
 * may be NULL.
 */
#ifndef SR_REPO_H
#define SR_REPO_H

#include <stdbool.h>
#include <stddef.h>

#include "sr_argv.h"
#include "sr_project.h"

struct sr_repo_req {
	const char *url;           /* clone URL (sr_repo_url) */
	const char *repo_path;     /* main clone path on the VM (absolute) */
	const char *branch;        /* NULL: the remote's default branch */
	const char *worktree_path; /* NULL: the session works in the main clone */
	const char *worktree_name; /* with worktree_path: its name (branch
	                            * smrelay/<name> when branch is NULL) */
	bool fetch;                /* SM_AUTO_PULL */
};

/* <base_url><org>/<repo>.git. base_url must start with https://, http://,
 * ssh://, git@, file:// or '/' and hold no whitespace or control bytes;
 * http(s) URLs must not carry credentials ('@' before the path: use
 * GH_TOKEN), and an scp-like "git@host:" needs its ':'. A '/' is added
 * when base_url does not end with '/' (or, for scp-like, with ':'). s must
 * be a valid org/repo spec. */
int sr_repo_url(const char *base_url, const struct sr_project_spec *s, char **out, char *err,
		size_t errlen);

/* The argv above, for sr_argv_quote and an exec channel. Checks r first:
 * url as in sr_repo_url, paths with sr_project_check_path and without a
 * trailing '/', the branch and the worktree name with the sr_project rules;
 * worktree_path and worktree_name go together, and the worktree must not be
 * the main clone or inside it. *out must be empty (zeroed) on entry. */
int sr_repo_prepare_argv(const struct sr_repo_req *r, struct sr_argv *out, char *err,
			 size_t errlen);

/* Interprets the exec result: exit_status 0 and an absolute path as the
 * last non-empty stdout line → 0 and *workdir = that path. Otherwise -EIO
 * with the message: git's first "fatal:" / "error:" line on stderr (e.g.
 * "fatal: repository '...' not found"), else the script's last
 * "smrelay-repo: " line without that prefix (e.g. "branch 'x' not found on
 * origin"), followed by " (LINE)" when another program's line came just
 * before it (e.g. "could not clone URL (sh: 1: git: not found)"), else the
 * last non-empty stderr line, else the exit status. Lines are cut after
 * 300 bytes ("..."). exit_status < 0 means killed by a signal or unknown.
 * out and errtext may be NULL (no output). */
int sr_repo_prepare_result(int exit_status, const char *out, const char *errtext, char **workdir,
			   char *err, size_t errlen);

/* The first "smrelay-repo: warning: " line of a run's stderr without that
 * prefix (e.g. "/r has local changes: not fast-forwarded to
 * refs/remotes/origin/main"), escaped like the messages above, into buf.
 * Worth showing the user next to a successful start. Returns false (and
 * buf "") when there is none. */
bool sr_repo_prepare_warning(const char *errtext, char *buf, size_t len);

#endif
