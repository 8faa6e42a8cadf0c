/* sr_repo.c — the remote script that prepares a session's git checkout, its
 * argv, and the reading of its result (see sr_repo.h). */
#include "sr_repo.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOW_MAX 300 /* bytes of a remote line kept in a message */

/*
 * $1 URL, $2 REPO, $3 BRANCH, $4 WORKTREE, $5 WORKTREE_NAME, $6 FETCH.
 * Never formatted: every value is a positional parameter, always expanded
 * inside double quotes. stdout is moved to fd 3 so that only the final
 * line reaches it; git's chatter and our messages all go to stderr.
 */
static const char SCRIPT[] =
	"set -u\n"
	"if [ $# -ne 6 ]; then echo 'smrelay-repo: expected 6 arguments' >&2; exit 2; fi\n"
	"url=$1 repo=$2 branch=$3 wt=$4 wtname=$5 fetch=$6\n"
	"exec 3>&1 1>&2\n"
	"LC_ALL=C GIT_TERMINAL_PROMPT=0\n"
	"export LC_ALL GIT_TERMINAL_PROMPT\n"
	"unset GIT_ASKPASS SSH_ASKPASS SSH_ASKPASS_REQUIRE\n"
	"tmp=\n"
	"trap '[ -z \"$tmp\" ] || rm -rf -- \"$tmp\"' EXIT\n"
	"trap 'exit 129' HUP\n"
	"trap 'exit 130' INT\n"
	"trap 'exit 143' TERM\n"
	"die() { printf 'smrelay-repo: %s\\n' \"$*\"; exit 1; }\n"
	"warn() { printf 'smrelay-repo: warning: %s\\n' \"$*\"; }\n"
	/* Every git call goes through g: -c settings reach git's children
	 * (e.g. an LFS smudge filter) through GIT_CONFIG_PARAMETERS, which
	 * holds the helper's text, never the token's value. */
	"g() {\n"
	"\tif [ -n \"${GH_TOKEN:-}\" ]; then\n"
	"\t\texport GH_TOKEN\n"
	"\t\tgit -c core.askPass= -c credential.helper= -c 'credential.helper=!f() {"
	" test \"$1\" = get || exit 0;"
	" printf \"%s\\n\" username=x-access-token \"password=$GH_TOKEN\"; }; f' \"$@\"\n"
	"\telse\n"
	"\t\tgit -c core.askPass= \"$@\"\n"
	"\tfi\n"
	"}\n"
	"has_ref() { g -C \"$repo\" show-ref --verify --quiet \"$1\"; }\n"
	/* Makes refs/remotes/origin/$branch exist, or fails with our message. */
	"remote_branch() {\n"
	"\thas_ref \"refs/remotes/origin/$branch\" && return 0\n"
	"\tg -C \"$repo\" ls-remote --quiet --exit-code origin \"refs/heads/$branch\" >/dev/null\n"
	"\tcase $? in\n"
	"\t0) ;;\n"
	"\t2) die \"branch '$branch' not found on origin\" ;;\n"
	"\t*) die \"could not list the branches of origin\" ;;\n"
	"\tesac\n"
	"\tg -C \"$repo\" fetch --quiet origin \"+refs/heads/$branch:refs/remotes/origin/$branch\" ||\n"
	"\t\tdie \"could not fetch branch '$branch'\"\n"
	"}\n"
	/* Checks out $branch in the working tree $1 (the main clone or a
	 * worktree): a local branch as is, else a new one tracking origin's. */
	"switch_branch() {\n"
	"\t[ \"$(g -C \"$1\" symbolic-ref --quiet HEAD)\" = \"refs/heads/$branch\" ] && return 0\n"
	"\tif has_ref \"refs/heads/$branch\"; then\n"
	"\t\tg -C \"$1\" switch --quiet --end-of-options \"$branch\" ||\n"
	"\t\t\tdie \"could not check out branch '$branch' in $1\"\n"
	"\telse\n"
	"\t\tremote_branch\n"
	"\t\tg -C \"$1\" switch --quiet --create=\"$branch\" --track \"refs/remotes/origin/$branch\" ||\n"
	"\t\t\tdie \"could not check out branch '$branch' in $1\"\n"
	"\tfi\n"
	"}\n"
	/* Creates the worktree $wt on $branch, or on smrelay/$wtname. */
	"add_worktree() {\n"
	"\tif [ -n \"$branch\" ]; then\n"
	"\t\tnew=$branch\n"
	"\t\tif has_ref \"refs/heads/$new\"; then\n"
	"\t\t\tg -C \"$repo\" worktree add --quiet --end-of-options \"$wt\" \"$new\"\n"
	"\t\telse\n"
	"\t\t\tremote_branch\n"
	"\t\t\tg -C \"$repo\" worktree add --quiet --track -b \"$new\" --end-of-options \"$wt\" \\\n"
	"\t\t\t\t\"refs/remotes/origin/$new\"\n"
	"\t\tfi\n"
	"\t\treturn\n"
	"\tfi\n"
	"\tnew=smrelay/$wtname\n"
	"\tif has_ref \"refs/heads/$new\"; then\n"
	"\t\tg -C \"$repo\" worktree add --quiet --end-of-options \"$wt\" \"$new\"\n"
	"\t\treturn\n"
	"\tfi\n"
	"\thead=$(g -C \"$repo\" symbolic-ref --quiet refs/remotes/origin/HEAD) || {\n"
	"\t\tg -C \"$repo\" remote set-head origin --auto >/dev/null &&\n"
	"\t\thead=$(g -C \"$repo\" symbolic-ref --quiet refs/remotes/origin/HEAD)\n"
	"\t} || die \"could not find the default branch of origin\"\n"
	"\tg -C \"$repo\" worktree add --quiet --no-track -b \"$new\" --end-of-options \"$wt\" \"$head\"\n"
	"}\n"
	/* 1. the main clone */
	"if [ -d \"$repo/.git\" ]; then\n"
	"\tif [ \"$fetch\" = 1 ]; then\n"
	"\t\tg -C \"$repo\" fetch --quiet --prune origin || die \"could not fetch origin in $repo\"\n"
	"\tfi\n"
	"elif [ -e \"$repo\" ] || [ -L \"$repo\" ]; then\n"
	"\tdie \"$repo exists and is not a git repository\"\n"
	"else\n"
	"\tparent=$(dirname -- \"$repo\") && mkdir -p -- \"$parent\" || die \"could not create $parent\"\n"
	"\ttmp=$(mktemp -d -- \"$parent/.smrelay-clone.XXXXXX\") ||\n"
	"\t\tdie \"could not create a temporary directory in $parent\"\n"
	/* git creates r itself, with the umask's mode (mktemp's dir is 0700) */
	"\tg clone --quiet -- \"$url\" \"$tmp/r\" || die \"could not clone $url\"\n"
	"\tif [ ! -e \"$repo\" ]; then\n"
	"\t\tmv -- \"$tmp/r\" \"$repo\" || die \"could not move the clone to $repo\"\n"
	"\tfi\n"
	"\trm -rf -- \"$tmp\"\n"
	"\ttmp=\n"
	"fi\n"
	/* 2. and 3. the working directory */
	"if [ -z \"$wt\" ]; then\n"
	"\tdir=$repo\n"
	"\t[ -z \"$branch\" ] || switch_branch \"$repo\"\n"
	"elif [ -e \"$wt\" ] || [ -L \"$wt\" ]; then\n"
	"\tdir=$wt\n"
	"\t[ -f \"$wt/.git\" ] &&\n"
	"\t\tcommon=$(g -C \"$wt\" rev-parse --path-format=absolute --git-common-dir 2>/dev/null) &&\n"
	"\t\t[ \"$common\" -ef \"$repo/.git\" ] || die \"$wt exists and is not a worktree of $repo\"\n"
	"\t[ -z \"$branch\" ] || switch_branch \"$wt\"\n"
	"else\n"
	"\tdir=$wt\n"
	"\tg -C \"$repo\" worktree prune\n"
	"\tparent=$(dirname -- \"$wt\") && mkdir -p -- \"$parent\" || die \"could not create $parent\"\n"
	"\tadd_worktree || die \"could not create worktree $wt on branch '$new'\"\n"
	"fi\n"
	/* 4. fast-forward the working directory */
	"if [ \"$fetch\" = 1 ] &&\n"
	"\tup=$(g -C \"$dir\" rev-parse --symbolic-full-name '@{upstream}' 2>/dev/null) &&\n"
	"\t[ -n \"$up\" ]; then\n"
	"\tif [ -n \"$(g -C \"$dir\" status --porcelain --untracked-files=no)\" ]; then\n"
	"\t\twarn \"$dir has local changes: not fast-forwarded to $up\"\n"
	"\telif ! g -C \"$dir\" merge --ff-only --quiet --end-of-options \"$up\" >/dev/null 2>&1; then\n"
	"\t\twarn \"could not fast-forward $dir to $up\"\n"
	"\tfi\n"
	"fi\n"
	"printf '%s\\n' \"$dir\" >&3\n";

__attribute__((format(printf, 4, 5)))
static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* A clone URL or base URL: a known scheme (or an absolute path), no bytes
 * a shell word or a git config line would trip on, and no credentials. */
static int check_url(const char *what, const char *url, char *err, size_t errlen)
{
	static const char *const schemes[] = {"https://", "http://", "ssh://", "git@", "file://", "/"};
	if (!url || !*url)
		return fail(-EINVAL, err, errlen, "%s is empty", what);
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return fail(-EINVAL, err, errlen,
				    "%s contains whitespace or a control character", what);
	bool known = false;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]) && !known; i++)
		known = has_prefix(url, schemes[i]);
	if (!known)
		return fail(-EINVAL, err, errlen,
			    "%s '%.200s' must start with https://, http://, ssh://, git@, file:// or '/'",
			    what, url);
	/* without the ':' git would take "git@host/x" for a local path */
	if (has_prefix(url, "git@") && !strchr(url, ':'))
		return fail(-EINVAL, err, errlen, "%s '%.200s' needs a ':' after the host (git@host:)",
			    what, url);
	if (has_prefix(url, "https://") || has_prefix(url, "http://")) {
		const char *host = strstr(url, "://") + 3;
		size_t auth = strcspn(host, "/");
		if (memchr(host, '@', auth))
			return fail(-EINVAL, err, errlen,
				    "%s must not contain credentials (GH_TOKEN on the VM is used for them)",
				    what);
	}
	return 0;
}

int sr_repo_url(const char *base_url, const struct sr_project_spec *s, char **out, char *err,
		size_t errlen)
{
	if (!out)
		return fail(-EINVAL, err, errlen, "no output");
	*out = NULL;
	int rc = check_url("repository base URL", base_url, err, errlen);
	if (rc)
		return rc;
	if (!s || s->name || !s->org)
		return fail(-EINVAL, err, errlen, "a repository URL needs org/repo");
	rc = sr_project_validate(s, err, errlen);
	if (rc)
		return rc;
	size_t blen = strlen(base_url);
	char last = base_url[blen - 1];
	/* "git@github.com:" + "org/repo.git": a '/' there would make the
	 * path absolute on the server */
	const char *sep = last == '/' || (has_prefix(base_url, "git@") && last == ':') ? "" : "/";
	size_t len = blen + strlen(sep) + strlen(s->org) + 1 + strlen(s->repo) + 5;
	if (!(*out = malloc(len)))
		return fail(-ENOMEM, err, errlen, "out of memory");
	snprintf(*out, len, "%s%s%s/%s.git", base_url, sep, s->org, s->repo);
	return 0;
}

static int check_dir(const char *what, const char *path, char *err, size_t errlen)
{
	int rc = sr_project_check_path(what, path, err, errlen);
	if (rc)
		return rc;
	/* the script derives "<path>/.git" and the parent from it */
	if (path[strlen(path) - 1] == '/')
		return fail(-EINVAL, err, errlen, "%s '%.200s' must not end with '/'", what, path);
	return 0;
}

static int check_req(const struct sr_repo_req *r, char *err, size_t errlen)
{
	int rc = check_url("repository URL", r->url, err, errlen);
	if (!rc)
		rc = check_dir("repository path", r->repo_path, err, errlen);
	if (!rc && r->worktree_path)
		rc = check_dir("worktree path", r->worktree_path, err, errlen);
	if (rc)
		return rc;
	if (r->worktree_path && !r->worktree_name)
		return fail(-EINVAL, err, errlen, "a worktree path needs a worktree name");
	if (r->worktree_name && !r->worktree_path)
		return fail(-EINVAL, err, errlen, "a worktree name without a worktree path");
	/* The branch and worktree name rules live in sr_project: check them
	 * through a spec with placeholder org/repo (valid by construction). */
	struct sr_project_spec s = {
		.org = "x",
		.repo = "x",
		.branch = (char *)r->branch,
		.worktree = r->worktree_path != NULL,
		.worktree_name = (char *)r->worktree_name,
	};
	rc = sr_project_validate(&s, err, errlen);
	if (rc)
		return rc;
	if (r->worktree_path) {
		size_t n = strlen(r->repo_path);
		if (!strncmp(r->worktree_path, r->repo_path, n) &&
		    (r->worktree_path[n] == '\0' || r->worktree_path[n] == '/'))
			return fail(-EINVAL, err, errlen,
				    "worktree path '%.200s' is the repository path or inside it",
				    r->worktree_path);
	}
	return 0;
}

int sr_repo_prepare_argv(const struct sr_repo_req *r, struct sr_argv *out, char *err,
			 size_t errlen)
{
	if (!r || !out)
		return fail(-EINVAL, err, errlen, "no request");
	if (out->n)
		return fail(-EINVAL, err, errlen, "the argv is not empty");
	int rc = check_req(r, err, errlen);
	if (rc)
		return rc;
	const char *words[] = {
		"sh", "-c", SCRIPT, "smrelay-repo",
		r->url, r->repo_path, r->branch ? r->branch : "",
		r->worktree_path ? r->worktree_path : "",
		r->worktree_name && r->worktree_path ? r->worktree_name : "",
		r->fetch ? "1" : "0",
	};
	rc = sr_argv_push_n(out, words, sizeof(words) / sizeof(words[0]));
	if (rc)
		return fail(rc, err, errlen, "out of memory");
	return 0;
}

/* ---- the result ---- */

struct line {
	const char *p;
	size_t n;
};

/* The next line of text at *pos, ended by any byte of seps, without its
 * trailing blanks when trim is set. False at the end. */
static bool next_line(const char **pos, const char *seps, bool trim, struct line *l)
{
	const char *s = *pos;
	if (!s || !*s)
		return false;
	size_t n = strcspn(s, seps);
	*pos = s + n + (s[n] != '\0');
	while (trim && n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	l->p = s;
	l->n = n;
	return true;
}

static bool line_starts(const struct line *l, const char *prefix)
{
	size_t n = strlen(prefix);
	return l->n >= n && !memcmp(l->p, prefix, n);
}

/* The line into err, control bytes and non-ASCII as \xHH, cut at SHOW_MAX. */
static void show_line(const struct line *l, char *err, size_t errlen)
{
	if (!err || !errlen)
		return;
	size_t o = 0;
	for (size_t i = 0; i < l->n && i < SHOW_MAX; i++) {
		unsigned char c = (unsigned char)l->p[i];
		char buf[8];
		int len = c >= 0x20 && c < 0x7f ? snprintf(buf, sizeof(buf), "%c", c)
						 : snprintf(buf, sizeof(buf), "\\x%02x", c);
		if (o + (size_t)len + 1 > errlen)
			break;
		memcpy(err + o, buf, (size_t)len);
		o += (size_t)len;
	}
	err[o] = '\0';
	if (l->n > SHOW_MAX && o + 4 <= errlen)
		strcpy(err + o, "...");
}

static const char OUR_PREFIX[] = "smrelay-repo: ";
static const char WARN_PREFIX[] = "smrelay-repo: warning: ";

/* Picks the message of a failed run (see sr_repo.h for the order). */
static void failure_message(int exit_status, const char *errtext, char *err, size_t errlen)
{
	struct line l, git = {0}, ours = {0}, why = {0}, other = {0}, last = {0};
	const char *pos = errtext;
	/* '\r' too: a progress line ("Receiving objects: 10%\r") is a line */
	while (next_line(&pos, "\r\n", true, &l)) {
		if (!l.n)
			continue;
		last = l;
		if (line_starts(&l, WARN_PREFIX))
			continue;
		if (!git.p && (line_starts(&l, "fatal: ") || line_starts(&l, "error: ")))
			git = l;
		if (line_starts(&l, OUR_PREFIX)) {
			ours.p = l.p + strlen(OUR_PREFIX);
			ours.n = l.n - strlen(OUR_PREFIX);
			why = other; /* what failed before we gave up, e.g. "git: not found" */
			other.p = NULL;
		} else {
			other = l;
		}
	}
	if (git.p) {
		show_line(&git, err, errlen);
	} else if (ours.p) {
		show_line(&ours, err, errlen);
		size_t o = err ? strlen(err) : 0;
		if (err && why.p && o + 4 < errlen) {
			memcpy(err + o, " (", 3);
			show_line(&why, err + o + 2, errlen - o - 3);
			strcat(err, ")");
		}
	} else if (last.p) {
		show_line(&last, err, errlen);
	} else if (exit_status < 0) {
		fail(0, err, errlen, "preparing the repository was killed or ended without a status");
	} else {
		fail(0, err, errlen, "preparing the repository failed with exit status %d", exit_status);
	}
}

bool sr_repo_prepare_warning(const char *errtext, char *buf, size_t len)
{
	struct line l;
	const char *pos = errtext;
	while (next_line(&pos, "\r\n", true, &l)) {
		if (!line_starts(&l, WARN_PREFIX))
			continue;
		l.p += strlen(WARN_PREFIX);
		l.n -= strlen(WARN_PREFIX);
		show_line(&l, buf, len);
		return true;
	}
	if (buf && len)
		buf[0] = '\0';
	return false;
}

int sr_repo_prepare_result(int exit_status, const char *out, const char *errtext, char **workdir,
			   char *err, size_t errlen)
{
	if (!workdir)
		return fail(-EINVAL, err, errlen, "no output");
	*workdir = NULL;
	if (exit_status != 0) {
		failure_message(exit_status, errtext, err, errlen);
		return -EIO;
	}
	struct line l, last = {0};
	const char *pos = out;
	/* only '\n' and no trimming: a path may end in a space */
	while (next_line(&pos, "\n", false, &l))
		if (l.n)
			last = l;
	if (!last.p || last.p[0] != '/')
		return fail(-EIO, err, errlen, "preparing the repository printed no working directory");
	for (size_t i = 0; i < last.n; i++)
		if ((unsigned char)last.p[i] < 0x20 || last.p[i] == 0x7f)
			return fail(-EIO, err, errlen,
				    "the working directory printed contains a control character");
	if (!(*workdir = malloc(last.n + 1)))
		return fail(-ENOMEM, err, errlen, "out of memory");
	memcpy(*workdir, last.p, last.n);
	(*workdir)[last.n] = '\0';
	if (err && errlen)
		err[0] = '\0';
	return 0;
}
