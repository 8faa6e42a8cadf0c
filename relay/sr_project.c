/* sr_project.c — `start` arguments, SM_PROJECTS and project paths (see
 * sr_project.h). Everything here is validation: these strings end up in
 * remote command lines (quoted, but still operands of git and podman) and
 * in paths on the VM. */
#include "sr_project.h"
#include "sr_show.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_CAP 4096 /* PATH_MAX on Linux, including the NUL */


static int is_name_byte(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* org, repo, worktree and static project names: [A-Za-z0-9._-]{1,max}, not
 * starting with '-' (an option to git/podman) or '.' ("..", hidden dirs). */
static int check_name(const char *what, const char *s, size_t max, char *err, size_t errlen)
{
	char v[SR_SHOW_CAP], c[SR_SHOW_CAP];
	if (!s || !*s)
		return sr_fail(err, errlen, "%s is empty", what);
	for (size_t i = 0; s[i]; i++) {
		if (i == max)
			return sr_fail(err, errlen, "%s '%s' is longer than %zu characters", what, sr_show(v, s), max);
		if (!is_name_byte((unsigned char)s[i])) {
			char one[2] = {s[i], '\0'};
			return sr_fail(err, errlen,
				    "%s '%s' contains '%s': only letters, digits, '.', '_' and '-' are allowed",
				    what, sr_show(v, s), sr_show(c, one));
		}
	}
	if (s[0] == '-' || s[0] == '.')
		return sr_fail(err, errlen, "%s '%s' must not start with '%c'", what, s, s[0]);
	return 0;
}

static int check_branch_bytes(const char *b, char *err, size_t errlen)
{
	char v[SR_SHOW_CAP], c[SR_SHOW_CAP];
	for (size_t i = 0; b[i]; i++) {
		unsigned char ch = (unsigned char)b[i];
		if (i == SR_PROJECT_BRANCH_MAX)
			return sr_fail(err, errlen, "branch '%s' is longer than %d characters", sr_show(v, b),
				    SR_PROJECT_BRANCH_MAX);
		if (ch <= 0x20 || ch >= 0x7f || strchr("~^:?*[\\", ch)) {
			char one[2] = {b[i], '\0'};
			return sr_fail(err, errlen,
				    "branch '%s' contains '%s' (not allowed: space, ~ ^ : ? * [ \\, "
				    "control characters and non-ASCII)",
				    sr_show(v, b), sr_show(c, one));
		}
	}
	return 0;
}

/* git check-ref-format rules on each '/'-separated component. */
static int check_branch_components(const char *b, char *err, size_t errlen)
{
	for (const char *p = b; *p;) {
		size_t len = strcspn(p, "/");
		if (p[0] == '.')
			return sr_fail(err, errlen, "branch '%s' has a component starting with '.'", b);
		if (len >= 5 && memcmp(p + len - 5, ".lock", 5) == 0)
			return sr_fail(err, errlen, "branch '%s' has a component ending in '.lock'", b);
		p += len + (p[len] == '/');
	}
	return 0;
}

/* git check-ref-format --branch, restricted to ASCII. */
static int check_branch(const char *b, char *err, size_t errlen)
{
	if (!b || !*b)
		return sr_fail(err, errlen, "branch is empty");
	int rc = check_branch_bytes(b, err, errlen);
	if (rc)
		return rc;
	/* b is printable ASCII from here on: safe to echo */
	static const char *const seqs[] = {"..", "@{", "//"};
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++)
		if (strstr(b, seqs[i]))
			return sr_fail(err, errlen, "branch '%s' contains '%s'", b, seqs[i]);
	size_t len = strlen(b);
	if (b[0] == '-' || b[0] == '/')
		return sr_fail(err, errlen, "branch '%s' must not start with '%c'", b, b[0]);
	if (b[len - 1] == '/' || b[len - 1] == '.')
		return sr_fail(err, errlen, "branch '%s' must not end with '%c'", b, b[len - 1]);
	if (!strcmp(b, "@") || !strcmp(b, "HEAD"))
		return sr_fail(err, errlen, "branch '%s' is not a valid branch name", b);
	return check_branch_components(b, err, errlen);
}

int sr_project_validate(const struct sr_project_spec *s, char *err, size_t errlen)
{
	if (!s)
		return sr_fail(err, errlen, "no project");
	if (s->name) {
		/* the name first: the messages below echo it */
		int rc = check_name("project name", s->name, SR_PROJECT_NAME_MAX, err, errlen);
		if (rc)
			return rc;
		if (s->worktree || s->worktree_name)
			return sr_fail(err, errlen, "--worktree needs org/repo; '%s' is a static project",
				    s->name);
		if (s->branch)
			return sr_fail(err, errlen, "a branch needs org/repo; '%s' is a static project",
				    s->name);
		if (s->org || s->repo)
			return sr_fail(err, errlen, "a project has either a name or org/repo, not both");
		return 0;
	}
	if (!s->org || !s->repo)
		return sr_fail(err, errlen, "no project given: expected org/repo[@branch] or a project name");
	int rc = check_name("org", s->org, SR_PROJECT_ORG_MAX, err, errlen);
	if (!rc)
		rc = check_name("repo", s->repo, SR_PROJECT_ORG_MAX, err, errlen);
	if (!rc && s->branch)
		rc = check_branch(s->branch, err, errlen);
	if (!rc && s->worktree_name && !s->worktree)
		rc = sr_fail(err, errlen, "a worktree name without --worktree");
	if (!rc && s->worktree_name)
		rc = check_name("worktree name", s->worktree_name, SR_PROJECT_NAME_MAX, err, errlen);
	return rc;
}

void sr_project_spec_free(struct sr_project_spec *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->org);
	free(s->repo);
	free(s->branch);
	free(s->worktree_name);
	memset(s, 0, sizeof(*s));
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* Splits "org/repo[@branch]" or "name[@branch]" into s; the contents are
 * validated afterwards. The first '@' ends org/repo: names cannot hold one,
 * branches can. */
static int split_spec(const char *spec, struct sr_project_spec *s, char *err, size_t errlen)
{
	char v[SR_SHOW_CAP];
	size_t left = strcspn(spec, "@");
	const char *slash = memchr(spec, '/', left);
	if (spec[left] == '@' && !(s->branch = strdup(spec + left + 1)))
		return -ENOMEM;
	if (!slash)
		return (s->name = dup_n(spec, left)) ? 0 : -ENOMEM;
	if (memchr(slash + 1, '/', left - (size_t)(slash + 1 - spec)))
		return sr_fail(err, errlen, "'%s' is not org/repo: more than one '/' before the branch",
			    sr_show(v, spec));
	s->org = dup_n(spec, (size_t)(slash - spec));
	s->repo = dup_n(slash + 1, left - (size_t)(slash + 1 - spec));
	return s->org && s->repo ? 0 : -ENOMEM;
}

static int parse_option(const char *arg, struct sr_project_spec *s, char *err, size_t errlen)
{
	char v[SR_SHOW_CAP];
	const char *name = NULL;
	if (!strncmp(arg, "--worktree=", 11))
		name = arg + 11;
	else if (strcmp(arg, "--worktree"))
		return sr_fail(err, errlen, "unknown option '%s' (expected --worktree or --worktree=NAME)",
			    sr_show(v, arg));
	if (s->worktree)
		return sr_fail(err, errlen, "--worktree given more than once");
	s->worktree = true;
	if (name && !(s->worktree_name = strdup(name)))
		return -ENOMEM;
	/* an empty --worktree= is checked (and refused) with the name rules */
	if (name && !*name)
		return sr_fail(err, errlen, "worktree name is empty (use --worktree alone for a generated one)");
	return 0;
}

static int parse_args(int argc, const char *const *argv, struct sr_project_spec *s,
		      char *err, size_t errlen)
{
	char v1[SR_SHOW_CAP], v2[SR_SHOW_CAP];
	const char *spec = NULL;
	if (argc < 0 || (argc > 0 && !argv))
		return sr_fail(err, errlen, "no arguments");
	for (int i = 0; i < argc; i++) {
		int rc = 0;
		if (!argv[i])
			rc = sr_fail(err, errlen, "argument %d is NULL", i);
		else if (argv[i][0] == '-')
			rc = parse_option(argv[i], s, err, errlen);
		else if (spec)
			rc = sr_fail(err, errlen, "more than one project given: '%s' and '%s'",
				  sr_show(v1, spec), sr_show(v2, argv[i]));
		else
			spec = argv[i];
		if (rc)
			return rc;
	}
	if (!spec)
		return sr_fail(err, errlen, "no project given: expected org/repo[@branch] or a project name");
	return split_spec(spec, s, err, errlen);
}

int sr_project_parse(int argc, const char *const *argv, struct sr_project_spec *out,
		     char *err, size_t errlen)
{
	if (!out)
		return sr_fail(err, errlen, "no output");
	struct sr_project_spec s = {0};
	int rc = parse_args(argc, argv, &s, err, errlen);
	if (!rc)
		rc = sr_project_validate(&s, err, errlen);
	if (rc == -ENOMEM && err && errlen)
		snprintf(err, errlen, "out of memory");
	if (rc) {
		sr_project_spec_free(&s);
		memset(out, 0, sizeof(*out));
		return rc;
	}
	*out = s;
	return 0;
}

int sr_project_check_path(const char *what, const char *path, char *err, size_t errlen)
{
	char v[SR_SHOW_CAP];
	if (!path || !*path)
		return sr_fail(err, errlen, "%s is empty", what);
	if (path[0] != '/')
		return sr_fail(err, errlen, "%s '%s' is not an absolute path", what, sr_show(v, path));
	for (const char *p = path; *p; p++) {
		if ((size_t)(p - path) == PATH_CAP - 1)
			return sr_fail(err, errlen, "%s is longer than %d bytes", what, PATH_CAP - 1);
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return sr_fail(err, errlen, "%s '%s' contains a control character", what,
				    sr_show(v, path));
	}
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return sr_fail(err, errlen, "%s '%s' has a '..' component", what, sr_show(v, path));
		p += len + (p[len] == '/');
	}
	return 0;
}

/* base (without trailing '/') + "/" + parts joined by '/'; NULL on ENOMEM. */
static char *join(const char *base, const char *const *parts, size_t n)
{
	size_t blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	size_t total = blen + 1;
	for (size_t i = 0; i < n; i++)
		total += 1 + strlen(parts[i]);
	char *out = malloc(total);
	if (!out)
		return NULL;
	memcpy(out, base, blen);
	size_t o = blen;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(parts[i]);
		out[o++] = '/';
		memcpy(out + o, parts[i], len);
		o += len;
	}
	out[o] = '\0';
	return out;
}

static int repo_spec_ok(const char *base, const struct sr_project_spec *s)
{
	return s && !s->name && sr_project_check_path("base", base, NULL, 0) == 0 &&
	       sr_project_validate(s, NULL, 0) == 0;
}

int sr_project_repo_path(const char *repos_base, const struct sr_project_spec *s, char **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!repo_spec_ok(repos_base, s))
		return -EINVAL;
	const char *parts[] = {"github.com", s->org, s->repo};
	*out = join(repos_base, parts, 3);
	return *out ? 0 : -ENOMEM;
}

int sr_project_worktree_path(const char *worktrees_base, const struct sr_project_spec *s,
			     const char *name, char **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!repo_spec_ok(worktrees_base, s) ||
	    check_name("worktree name", name, SR_PROJECT_NAME_MAX, NULL, 0))
		return -EINVAL;
	const char *parts[] = {s->org, s->repo, name};
	*out = join(worktrees_base, parts, 3);
	return *out ? 0 : -ENOMEM;
}

static int add_project(struct sr_projects *p, const cJSON *item, char *err, size_t errlen)
{
	char what[SR_SHOW_CAP + 64];
	const char *name = item->string;
	int rc = check_name("SM_PROJECTS: project name", name, SR_PROJECT_NAME_MAX, err, errlen);
	if (rc)
		return rc;
	if (sr_projects_path(p, name))
		return sr_fail(err, errlen, "SM_PROJECTS: project '%s' is given twice", name);
	if (!cJSON_IsString(item))
		return sr_fail(err, errlen, "SM_PROJECTS: project '%s': path must be a string", name);
	snprintf(what, sizeof(what), "SM_PROJECTS: project '%s': path", name);
	rc = sr_project_check_path(what, item->valuestring, err, errlen);
	if (rc)
		return rc;
	struct sr_project_entry *e = &p->v[p->n];
	e->name = strdup(name);
	e->path = strdup(item->valuestring);
	p->n++; /* counted even if a strdup failed, so sr_projects_free frees the other */
	return e->name && e->path ? 0 : -ENOMEM;
}

static int load_object(const cJSON *root, struct sr_projects *p, char *err, size_t errlen)
{
	if (!cJSON_IsObject(root))
		return sr_fail(err, errlen,
			    "SM_PROJECTS must be a JSON object of name to path, e.g. {\"demo\": \"/srv/demo\"}");
	size_t n = (size_t)cJSON_GetArraySize(root);
	if (n == 0)
		return 0;
	if (!(p->v = calloc(n, sizeof(*p->v))))
		return -ENOMEM;
	for (const cJSON *item = root->child; item; item = item->next) {
		int rc = add_project(p, item, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

int sr_projects_load(const char *json, struct sr_projects *out, char *err, size_t errlen)
{
	if (!out)
		return sr_fail(err, errlen, "no output");
	memset(out, 0, sizeof(*out));
	if (!json || !*json)
		return 0;
	/* cJSON would decode it into a C string cut short: refuse, not truncate */
	if (strstr(json, "\\u0000"))
		return sr_fail(err, errlen, "SM_PROJECTS contains \\u0000, which no name or path can hold");
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
	if (!root)
		return sr_fail(err, errlen, "SM_PROJECTS is not valid JSON (error at byte %zu)",
			    end && end >= json ? (size_t)(end - json) : 0);
	int rc = load_object(root, out, err, errlen);
	cJSON_Delete(root);
	if (rc == -ENOMEM && err && errlen)
		snprintf(err, errlen, "out of memory");
	if (rc)
		sr_projects_free(out);
	return rc;
}

const char *sr_projects_path(const struct sr_projects *p, const char *name)
{
	if (!p || !name)
		return NULL;
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].name && !strcmp(p->v[i].name, name))
			return p->v[i].path;
	return NULL;
}

void sr_projects_free(struct sr_projects *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].name);
		free(p->v[i].path);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}
