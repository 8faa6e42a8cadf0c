/*
 * sr_project.h — what `start` accepts, validated before anything reaches a
 * remote command or a path:
 *
 *   org/repo[@branch] [--worktree | --worktree=NAME]   (options anywhere)
 *   NAME                                               a static project
 *
 * A spec with a '/' before its first '@' is org/repo; one without is a
 * static project name, which takes no branch and no --worktree. Whether the
 * name exists in SM_PROJECTS is the caller's check (sr_projects_path).
 *
 * Rules (the messages name the offending part; hostile bytes in them are
 * shown escaped, e.g. "\x0a", so err is safe to post to chat or log):
 * - org, repo: [A-Za-z0-9._-], 1..100 bytes, not starting with '-' or '.'
 *   (so never "." or "..").
 * - branch: git check-ref-format --branch rules, ASCII only, <= 200 bytes:
 *   no "..", "@{", "//", control bytes, space or any of ~^:?*[\ ; no leading
 *   '-' or '/'; no trailing '/' or '.'; no component starting with '.' or
 *   ending in ".lock"; not "@" or "HEAD". Git allows shell metacharacters
 *   ($ ; | & ` ' " ! #), so a valid branch is NOT shell-safe: it reaches a
 *   remote command only through sr_quote, after "--" or as "origin/<b>".
 * - worktree name and static project name: [A-Za-z0-9._-], 1..64 bytes, not
 *   starting with '-' or '.'.
 * Non-ASCII is rejected in all of these, so they are also safe in JSON and
 * chat (paths in SM_PROJECTS may be UTF-8).
 *
 * Ownership: every char * in a spec or an sr_projects is malloc'ed and owned
 * by the struct; free with sr_project_spec_free / sr_projects_free, which
 * leave it zeroed (freeing twice is harmless). Path helpers return a
 * malloc'ed string the caller frees. On error nothing needs freeing: outputs
 * are zeroed / NULL.
 * Errors: 0, -EINVAL (described in err where there is one), -ENOMEM. err may
 * be NULL.
 */
#ifndef SR_PROJECT_H
#define SR_PROJECT_H

#include <stdbool.h>
#include <stddef.h>

#define SR_PROJECT_ORG_MAX 100
#define SR_PROJECT_BRANCH_MAX 200
#define SR_PROJECT_NAME_MAX 64 /* static project and worktree names */

struct sr_project_spec {
	char *name;          /* static project name, or NULL for org/repo */
	char *org, *repo;    /* NULL for a static project */
	char *branch;        /* NULL = the repository's default branch */
	bool worktree;       /* --worktree or --worktree=NAME given */
	char *worktree_name; /* --worktree=NAME; NULL = generated later */
};

/* Parses the arguments of `start` as the user typed them, e.g.
 * {"acme/api@feature/x", "--worktree=fix-1"}. Exactly one spec; options
 * before or after it; "--worktree NAME" is NOT a form (NAME would be read as
 * a second spec), and anything else starting with '-' is an unknown option. */
int sr_project_parse(int argc, const char *const *argv, struct sr_project_spec *out,
		     char *err, size_t errlen);

/* Checks a spec built elsewhere (e.g. reloaded from the state file) against
 * the rules above, including the shape: either name, or org and repo. */
int sr_project_validate(const struct sr_project_spec *s, char *err, size_t errlen);

void sr_project_spec_free(struct sr_project_spec *s);

/* Checks a path on the VM: absolute, no ".." component, no control bytes,
 * shorter than 4096 bytes. `what` names it in the message ("SM_REPOS_BASE_PATH"). */
int sr_project_check_path(const char *what, const char *path, char *err, size_t errlen);

/* <repos_base>/github.com/<org>/<repo>. repos_base must pass
 * sr_project_check_path (trailing '/' ignored); s must be a valid org/repo
 * spec. Errors: -EINVAL, -ENOMEM. */
int sr_project_repo_path(const char *repos_base, const struct sr_project_spec *s, char **out);

/* <worktrees_base>/<org>/<repo>/<name>. name is required (pass
 * s->worktree_name or a generated one) and must be a valid worktree name. */
int sr_project_worktree_path(const char *worktrees_base, const struct sr_project_spec *s,
			     const char *name, char **out);

/* SM_PROJECTS: a JSON object mapping static project names to absolute paths
 * on the VM, e.g. {"demo": "/srv/demo"}. Names follow the static-name rule;
 * paths sr_project_check_path. Duplicate names are rejected. NULL or ""
 * (the variable unset or empty) loads an empty set. */
struct sr_project_entry {
	char *name, *path;
};

struct sr_projects {
	struct sr_project_entry *v;
	size_t n;
};

int sr_projects_load(const char *json, struct sr_projects *out, char *err, size_t errlen);

/* The path of a static project, or NULL if there is none by that name. The
 * string belongs to p. */
const char *sr_projects_path(const struct sr_projects *p, const char *name);

void sr_projects_free(struct sr_projects *p);

#endif
