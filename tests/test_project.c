/* test_project.c — `start` arguments (accepted shapes, rejected names with
 * their exact messages, option order), SM_PROJECTS loading (including
 * malformed JSON) and the repository / worktree paths. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sr_project.h"

#define MAXARGS 4

/* NULL-terminated argument lists keep the tables readable. */
static int count(const char *const *args)
{
	int n = 0;
	while (n < MAXARGS && args[n])
		n++;
	return n;
}

static const char *str_or(const char *s)
{
	return s ? s : "(null)";
}

static void assert_same_str(const char *got, const char *want, const char *field, int row)
{
	if (!want)
		cr_assert_null(got, "row %d: %s is '%s', want NULL", row, field, got);
	else
		cr_assert(got && !strcmp(got, want), "row %d: %s is '%s', want '%s'", row, field,
			  str_or(got), want);
}

Test(project, accepted_specs)
{
	static const struct {
		const char *args[MAXARGS + 1];
		const char *name, *org, *repo, *branch;
		bool worktree;
		const char *wt_name;
	} cases[] = {
		{{"acme/api"}, NULL, "acme", "api", NULL, false, NULL},
		{{"acme/api@main"}, NULL, "acme", "api", "main", false, NULL},
		{{"acme/api@feature/x", "--worktree=fix-1"}, NULL, "acme", "api", "feature/x", true, "fix-1"},
		{{"--worktree=fix-1", "acme/api@feature/x"}, NULL, "acme", "api", "feature/x", true, "fix-1"},
		{{"--worktree", "acme/api"}, NULL, "acme", "api", NULL, true, NULL},
		{{"acme/api", "--worktree"}, NULL, "acme", "api", NULL, true, NULL},
		{{"Acme-Co/my.repo_2@v1.0.0-rc1"}, NULL, "Acme-Co", "my.repo_2", "v1.0.0-rc1", false, NULL},
		{{"a/b@user/jane/fix-2"}, NULL, "a", "b", "user/jane/fix-2", false, NULL},
		{{"a/b@a@b"}, NULL, "a", "b", "a@b", false, NULL},
		{{"a/b@x.y+z,w=1{"}, NULL, "a", "b", "x.y+z,w=1{", false, NULL},
		{{"a/b@_"}, NULL, "a", "b", "_", false, NULL},
		/* git allows shell metacharacters in branches: only quoting makes them safe */
		{{"a/b@$(id);x|y&z`w`'q\"!#"}, NULL, "a", "b", "$(id);x|y&z`w`'q\"!#", false, NULL},
		{{"a-/b..c"}, NULL, "a-", "b..c", NULL, false, NULL},
		{{"a/b", "--worktree=W.1_x-"}, NULL, "a", "b", NULL, true, "W.1_x-"},
		{{"demo"}, "demo", NULL, NULL, NULL, false, NULL},
		{{"my.project_2-x"}, "my.project_2-x", NULL, NULL, NULL, false, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_project_spec s;
		char err[256] = "";
		int rc = sr_project_parse(count(cases[i].args), cases[i].args, &s, err, sizeof(err));
		cr_assert_eq(rc, 0, "row %zu (%s): %s", i, cases[i].args[0], err);
		assert_same_str(s.name, cases[i].name, "name", (int)i);
		assert_same_str(s.org, cases[i].org, "org", (int)i);
		assert_same_str(s.repo, cases[i].repo, "repo", (int)i);
		assert_same_str(s.branch, cases[i].branch, "branch", (int)i);
		cr_assert_eq(s.worktree, cases[i].worktree, "row %zu: worktree", i);
		assert_same_str(s.worktree_name, cases[i].wt_name, "worktree_name", (int)i);
		cr_assert_eq(sr_project_validate(&s, err, sizeof(err)), 0, "row %zu: %s", i, err);
		sr_project_spec_free(&s);
		cr_assert_null(s.org);
		sr_project_spec_free(&s); /* harmless twice */
	}
}

Test(project, limits_are_inclusive)
{
	char org[101], repo[101], branch[201], wt[65], arg[512], opt[100];
	memset(org, 'o', 100), org[100] = '\0';
	memset(repo, 'r', 100), repo[100] = '\0';
	memset(branch, 'b', 200), branch[200] = '\0';
	memset(wt, 'w', 64), wt[64] = '\0';
	snprintf(arg, sizeof(arg), "%s/%s@%s", org, repo, branch);
	snprintf(opt, sizeof(opt), "--worktree=%s", wt);
	const char *args[] = {arg, opt};
	struct sr_project_spec s;
	char err[256] = "";
	cr_assert_eq(sr_project_parse(2, args, &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(strlen(s.branch), 200);
	sr_project_spec_free(&s);

	char name[65];
	memset(name, 'n', 64), name[64] = '\0';
	const char *one[] = {name};
	cr_assert_eq(sr_project_parse(1, one, &s, err, sizeof(err)), 0, "%s", err);
	sr_project_spec_free(&s);
}

#define ONLY "only letters, digits, '.', '_' and '-' are allowed"
#define NOTGIT "(not allowed: space, ~ ^ : ? * [ \\, control characters and non-ASCII)"
#define X48 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

Test(project, rejected_specs_with_messages)
{
	static char long_org[160], long_branch[260], long_wt[100], long_name[100];
	snprintf(long_org, sizeof(long_org), "%s%s%s/r", X48, X48, "xxxxx"); /* 101 */
	snprintf(long_branch, sizeof(long_branch), "a/b@%s%s%s%s%s", X48, X48, X48, X48, "xxxxxxxxx");
	snprintf(long_wt, sizeof(long_wt), "--worktree=%s%s", X48, "xxxxxxxxxxxxxxxxx"); /* 65 */
	snprintf(long_name, sizeof(long_name), "%s%s", X48, "xxxxxxxxxxxxxxxxx");
	const struct {
		const char *args[MAXARGS + 1];
		const char *msg;
	} cases[] = {
		/* shape */
		{{NULL}, "no project given: expected org/repo[@branch] or a project name"},
		{{"--worktree"}, "no project given: expected org/repo[@branch] or a project name"},
		{{"a/b", "c/d"}, "more than one project given: 'a/b' and 'c/d'"},
		{{"a/b", "--worktree", "demo"}, "more than one project given: 'a/b' and 'demo'"},
		{{"org//repo"}, "'org//repo' is not org/repo: more than one '/' before the branch"},
		{{"org/repo/extra"}, "'org/repo/extra' is not org/repo: more than one '/' before the branch"},
		{{"demo@main"}, "a branch needs org/repo; 'demo' is a static project"},
		{{"demo", "--worktree"}, "--worktree needs org/repo; 'demo' is a static project"},
		{{"--worktree=x", "demo"}, "--worktree needs org/repo; 'demo' is a static project"},
		/* options */
		{{"-rf/x"}, "unknown option '-rf/x' (expected --worktree or --worktree=NAME)"},
		{{"--wt", "a/b"}, "unknown option '--wt' (expected --worktree or --worktree=NAME)"},
		{{"a/b", "-"}, "unknown option '-' (expected --worktree or --worktree=NAME)"},
		{{"a/b", "--"}, "unknown option '--' (expected --worktree or --worktree=NAME)"},
		{{"a/b", "--worktree\n"}, "unknown option '--worktree\\x0a' (expected --worktree or --worktree=NAME)"},
		{{"--worktree", "--worktree=x", "a/b"}, "--worktree given more than once"},
		{{"a/b", "--worktree="}, "worktree name is empty (use --worktree alone for a generated one)"},
		/* org and repo */
		{{"../x"}, "org '..' must not start with '.'"},
		{{"./x"}, "org '.' must not start with '.'"},
		{{"org/.."}, "repo '..' must not start with '.'"},
		{{"org/.git"}, "repo '.git' must not start with '.'"},
		{{"org/-x"}, "repo '-x' must not start with '-'"},
		{{"/repo"}, "org is empty"},
		{{"org/"}, "repo is empty"},
		{{"org/@main"}, "repo is empty"},
		{{"org/repo;rm"}, "repo 'repo;rm' contains ';': " ONLY},
		{{"org/repo rm"}, "repo 'repo rm' contains ' ': " ONLY},
		{{"org/$(id)"}, "repo '$(id)' contains '$': " ONLY},
		{{"org/re\npo"}, "repo 're\\x0apo' contains '\\x0a': " ONLY},
		{{"org/repo\n"}, "repo 'repo\\x0a' contains '\\x0a': " ONLY},
		{{"caf\xc3\xa9/api"}, "org 'caf\\xc3\\xa9' contains '\\xc3': " ONLY},
		{{"a/b\x1b[31m"}, "repo 'b\\x1b[31m' contains '\\x1b': " ONLY},
		{{"o'rg/r"}, "org 'o'rg' contains ''': " ONLY},
		{{long_org}, "org '" X48 "...' is longer than 100 characters"},
		/* branch */
		{{"org/repo@"}, "branch is empty"},
		{{"org/repo@-x"}, "branch '-x' must not start with '-'"},
		{{"a/b@/x"}, "branch '/x' must not start with '/'"},
		{{"a/b@x/"}, "branch 'x/' must not end with '/'"},
		{{"a/b@x."}, "branch 'x.' must not end with '.'"},
		{{"a/b@a..b"}, "branch 'a..b' contains '..'"},
		{{"a/b@a@{1}"}, "branch 'a@{1}' contains '@{'"},
		{{"a/b@a//b"}, "branch 'a//b' contains '//'"},
		{{"a/b@x.lock"}, "branch 'x.lock' has a component ending in '.lock'"},
		{{"a/b@x.lock/y"}, "branch 'x.lock/y' has a component ending in '.lock'"},
		{{"a/b@x/.y"}, "branch 'x/.y' has a component starting with '.'"},
		{{"a/b@.x"}, "branch '.x' has a component starting with '.'"},
		{{"a/b@@"}, "branch '@' is not a valid branch name"},
		{{"a/b@HEAD"}, "branch 'HEAD' is not a valid branch name"},
		{{"a/b@a b"}, "branch 'a b' contains ' ' " NOTGIT},
		{{"a/b@a~1"}, "branch 'a~1' contains '~' " NOTGIT},
		{{"a/b@a^"}, "branch 'a^' contains '^' " NOTGIT},
		{{"a/b@a:b"}, "branch 'a:b' contains ':' " NOTGIT},
		{{"a/b@a?"}, "branch 'a?' contains '?' " NOTGIT},
		{{"a/b@a*"}, "branch 'a*' contains '*' " NOTGIT},
		{{"a/b@a[b"}, "branch 'a[b' contains '[' " NOTGIT},
		{{"a/b@a\\b"}, "branch 'a\\b' contains '\\' " NOTGIT},
		{{"a/b@ma\nin"}, "branch 'ma\\x0ain' contains '\\x0a' " NOTGIT},
		{{"a/b@a\tb"}, "branch 'a\\x09b' contains '\\x09' " NOTGIT},
		{{"a/b@a\rb"}, "branch 'a\\x0db' contains '\\x0d' " NOTGIT},
		{{"a/b@a\x7f"}, "branch 'a\\x7f' contains '\\x7f' " NOTGIT},
		{{"a/b@caf\xc3\xa9"}, "branch 'caf\\xc3\\xa9' contains '\\xc3' " NOTGIT},
		{{"a/b@x;rm -rf ~"}, "branch 'x;rm -rf ~' contains ' ' " NOTGIT},
		{{long_branch}, "branch '" X48 "...' is longer than 200 characters"},
		/* worktree name */
		{{"a/b", "--worktree=-x"}, "worktree name '-x' must not start with '-'"},
		{{"a/b", "--worktree=.x"}, "worktree name '.x' must not start with '.'"},
		{{"a/b", "--worktree=.."}, "worktree name '..' must not start with '.'"},
		{{"a/b", "--worktree=a/b"}, "worktree name 'a/b' contains '/': " ONLY},
		{{"a/b", "--worktree=../../x"}, "worktree name '../../x' contains '/': " ONLY},
		{{"a/b", "--worktree=a\nb"}, "worktree name 'a\\x0ab' contains '\\x0a': " ONLY},
		{{"a/b", "--worktree=a b"}, "worktree name 'a b' contains ' ': " ONLY},
		{{"a/b", long_wt}, "worktree name '" X48 "...' is longer than 64 characters"},
		/* static project names */
		{{""}, "project name is empty"},
		{{"@main"}, "project name is empty"},
		{{"de;mo"}, "project name 'de;mo' contains ';': " ONLY},
		{{".demo"}, "project name '.demo' must not start with '.'"},
		{{"d\xc3\xa9mo"}, "project name 'd\\xc3\\xa9mo' contains '\\xc3': " ONLY},
		{{"de\nmo@x"}, "project name 'de\\x0amo' contains '\\x0a': " ONLY},
		{{long_name}, "project name '" X48 "...' is longer than 64 characters"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_project_spec s;
		memset(&s, 0xa5, sizeof(s)); /* garbage in: must come back zeroed */
		char err[512] = "";
		int rc = sr_project_parse(count(cases[i].args), cases[i].args, &s, err, sizeof(err));
		cr_assert_eq(rc, -EINVAL, "row %zu (%s): rc %d", i, cases[i].args[0] ? cases[i].args[0] : "-", rc);
		cr_assert_str_eq(err, cases[i].msg, "row %zu", i);
		cr_assert(!s.name && !s.org && !s.repo && !s.branch && !s.worktree && !s.worktree_name,
			  "row %zu: output not zeroed", i);
		for (size_t b = 0; err[b]; b++)
			cr_assert((unsigned char)err[b] >= 0x20 && (unsigned char)err[b] < 0x7f,
				  "row %zu: raw byte 0x%02x in the message", i, (unsigned char)err[b]);
	}
}

Test(project, option_order_does_not_matter)
{
	const char *orders[][3] = {
		{"acme/api@dev", "--worktree=w1", NULL},
		{"--worktree=w1", "acme/api@dev", NULL},
	};
	for (size_t i = 0; i < 2; i++) {
		struct sr_project_spec s;
		char err[256];
		cr_assert_eq(sr_project_parse(2, orders[i], &s, err, sizeof(err)), 0, "%s", err);
		cr_assert_str_eq(s.org, "acme");
		cr_assert_str_eq(s.repo, "api");
		cr_assert_str_eq(s.branch, "dev");
		cr_assert(s.worktree);
		cr_assert_str_eq(s.worktree_name, "w1");
		sr_project_spec_free(&s);
	}
}

Test(project, bad_calls)
{
	struct sr_project_spec s;
	char err[256];
	const char *args[] = {"a/b", NULL};
	cr_assert_eq(sr_project_parse(2, args, &s, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "argument 1 is NULL");
	cr_assert_eq(sr_project_parse(1, NULL, &s, err, sizeof(err)), -EINVAL);
	cr_assert_eq(sr_project_parse(-1, args, &s, err, sizeof(err)), -EINVAL);
	cr_assert_eq(sr_project_parse(1, args, NULL, err, sizeof(err)), -EINVAL);
	cr_assert_eq(sr_project_parse(1, args, &s, NULL, 0), 0); /* err is optional */
	sr_project_spec_free(&s);
	const char *bad[] = {"../x"};
	cr_assert_eq(sr_project_parse(1, bad, &s, NULL, 0), -EINVAL);
	sr_project_spec_free(NULL);
}

/* Specs that did not come from sr_project_parse (e.g. the state file). */
Test(project, validate_hand_built_specs)
{
	static const struct {
		struct sr_project_spec s;
		const char *msg;
	} cases[] = {
		{{0}, "no project given: expected org/repo[@branch] or a project name"},
		{{.org = "a"}, "no project given: expected org/repo[@branch] or a project name"},
		{{.name = "demo", .org = "a", .repo = "b"}, "a project has either a name or org/repo, not both"},
		{{.name = "de mo", .worktree = true}, "project name 'de mo' contains ' ': " ONLY},
		{{.org = "a", .repo = "b", .worktree_name = "x"}, "a worktree name without --worktree"},
		{{.org = "a", .repo = "b", .branch = ""}, "branch is empty"},
		{{.org = "..", .repo = "b"}, "org '..' must not start with '.'"},
		{{.org = "a", .repo = "b", .worktree = true, .worktree_name = "x/y"},
		 "worktree name 'x/y' contains '/': " ONLY},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		cr_assert_eq(sr_project_validate(&cases[i].s, err, sizeof(err)), -EINVAL, "row %zu", i);
		cr_assert_str_eq(err, cases[i].msg, "row %zu", i);
	}
	cr_assert_eq(sr_project_validate(NULL, NULL, 0), -EINVAL);
}

static struct sr_project_spec acme_api = {.org = "acme", .repo = "api"};

Test(project, repo_and_worktree_paths)
{
	static const struct {
		const char *base, *want;
	} repos[] = {
		{"/srv/repos", "/srv/repos/github.com/acme/api"},
		{"/srv/repos/", "/srv/repos/github.com/acme/api"},
		{"/srv/repos//", "/srv/repos/github.com/acme/api"},
		{"/", "/github.com/acme/api"},
		{"/home/claude/my repos", "/home/claude/my repos/github.com/acme/api"},
		{"/srv/..repos", "/srv/..repos/github.com/acme/api"},
	};
	for (size_t i = 0; i < sizeof(repos) / sizeof(repos[0]); i++) {
		char *p;
		cr_assert_eq(sr_project_repo_path(repos[i].base, &acme_api, &p), 0, "row %zu", i);
		cr_assert_str_eq(p, repos[i].want);
		free(p);
	}
	char *p;
	cr_assert_eq(sr_project_worktree_path("/srv/wt", &acme_api, "fix-1", &p), 0);
	cr_assert_str_eq(p, "/srv/wt/acme/api/fix-1");
	free(p);
	cr_assert_eq(sr_project_worktree_path("/srv/wt/", &acme_api, "a.b_c", &p), 0);
	cr_assert_str_eq(p, "/srv/wt/acme/api/a.b_c");
	free(p);

	/* the path of a parsed spec */
	struct sr_project_spec s;
	const char *args[] = {"--worktree=w2", "Org/Repo@x"};
	cr_assert_eq(sr_project_parse(2, args, &s, NULL, 0), 0);
	cr_assert_eq(sr_project_worktree_path("/wt", &s, s.worktree_name, &p), 0);
	cr_assert_str_eq(p, "/wt/Org/Repo/w2");
	free(p);
	sr_project_spec_free(&s);
}

Test(project, paths_refuse_bad_bases_specs_and_names)
{
	static const char *const bad_bases[] = {
		NULL, "", "srv/repos", "./srv", "~/repos", "/srv/../etc", "/srv/..", "/..",
		"/srv/re\npos", "/srv/\x1b",
	};
	char *p = (char *)1;
	for (size_t i = 0; i < sizeof(bad_bases) / sizeof(bad_bases[0]); i++) {
		cr_assert_eq(sr_project_repo_path(bad_bases[i], &acme_api, &p), -EINVAL, "base %zu", i);
		cr_assert_null(p);
		cr_assert_eq(sr_project_worktree_path(bad_bases[i], &acme_api, "w", &p), -EINVAL,
			     "base %zu", i);
	}
	struct sr_project_spec demo = {.name = "demo"}, dotdot = {.org = "..", .repo = "x"},
			       half = {.org = "a"};
	cr_assert_eq(sr_project_repo_path("/srv", &demo, &p), -EINVAL);
	cr_assert_eq(sr_project_repo_path("/srv", &dotdot, &p), -EINVAL);
	cr_assert_eq(sr_project_repo_path("/srv", &half, &p), -EINVAL);
	cr_assert_eq(sr_project_repo_path("/srv", NULL, &p), -EINVAL);
	cr_assert_eq(sr_project_repo_path("/srv", &acme_api, NULL), -EINVAL);
	static const char *const bad_names[] = {NULL, "", "..", "../x", "a/b", "-x", ".x", "a\nb"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		cr_assert_eq(sr_project_worktree_path("/srv", &acme_api, bad_names[i], &p), -EINVAL,
			     "name %zu", i);
	cr_assert_eq(sr_project_worktree_path("/srv", &demo, "w", &p), -EINVAL);
}

Test(project, check_path_messages)
{
	static char long_path[5000];
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	static const struct {
		const char *path, *msg;
	} cases[] = {
		{NULL, "SM_REPOS_BASE_PATH is empty"},
		{"", "SM_REPOS_BASE_PATH is empty"},
		{"srv", "SM_REPOS_BASE_PATH 'srv' is not an absolute path"},
		{"/srv/../etc", "SM_REPOS_BASE_PATH '/srv/../etc' has a '..' component"},
		{"/srv/x/..", "SM_REPOS_BASE_PATH '/srv/x/..' has a '..' component"},
		{"/srv/a\nb", "SM_REPOS_BASE_PATH '/srv/a\\x0ab' contains a control character"},
		{"/srv/\x7f", "SM_REPOS_BASE_PATH '/srv/\\x7f' contains a control character"},
		{long_path, "SM_REPOS_BASE_PATH is longer than 4095 bytes"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		cr_assert_eq(sr_project_check_path("SM_REPOS_BASE_PATH", cases[i].path, err, sizeof(err)),
			     -EINVAL, "row %zu", i);
		cr_assert_str_eq(err, cases[i].msg, "row %zu", i);
	}
	cr_assert_eq(sr_project_check_path("X", "/srv/./a/..b/c.../", NULL, 0), 0);
	cr_assert_eq(sr_project_check_path("X", "/srv/caf\xc3\xa9", NULL, 0), 0);
}

Test(project, projects_load_and_lookup)
{
	struct sr_projects p;
	char err[256] = "";
	cr_assert_eq(sr_projects_load("{\"demo\": \"/srv/demo\", \"other.x_2\": \"/home/claude/other\"}", &p,
				      err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(p.n, 2);
	cr_assert_str_eq(sr_projects_path(&p, "demo"), "/srv/demo");
	cr_assert_str_eq(sr_projects_path(&p, "other.x_2"), "/home/claude/other");
	cr_assert_null(sr_projects_path(&p, "missing"));
	cr_assert_null(sr_projects_path(&p, NULL));
	cr_assert_null(sr_projects_path(NULL, "demo"));
	sr_projects_free(&p);
	cr_assert_eq(p.n, 0);
	sr_projects_free(&p);

	/* unset, empty and {} are all "no static projects" */
	static const char *const empty[] = {NULL, "", "{}", " { } \n"};
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(sr_projects_load(empty[i], &p, err, sizeof(err)), 0, "row %zu: %s", i, err);
		cr_assert_eq(p.n, 0);
		cr_assert_null(sr_projects_path(&p, "demo"));
		sr_projects_free(&p);
	}
}

#define NOT_OBJECT "SM_PROJECTS must be a JSON object of name to path, e.g. {\"demo\": \"/srv/demo\"}"

Test(project, projects_load_rejects)
{
	static char deep[20001];
	memset(deep, '[', 10000);
	memset(deep + 10000, ']', 10000);
	static const struct {
		const char *json, *msg;
	} cases[] = {
		/* malformed JSON: the prefix is checked, the byte offset is cJSON's */
		{"{", "SM_PROJECTS is not valid JSON (error at byte "},
		{"{\"demo\": }", "SM_PROJECTS is not valid JSON (error at byte "},
		{"{\"demo\": \"/srv/demo\"", "SM_PROJECTS is not valid JSON (error at byte "},
		{"{\"demo\": \"/srv/demo\"} trailing", "SM_PROJECTS is not valid JSON (error at byte "},
		{"{demo: \"/srv/demo\"}", "SM_PROJECTS is not valid JSON (error at byte "},
		{"{'demo': '/srv/demo'}", "SM_PROJECTS is not valid JSON (error at byte "},
		{"not json", "SM_PROJECTS is not valid JSON (error at byte "},
		{"{\"demo\": \"/srv/\xff\"", "SM_PROJECTS is not valid JSON (error at byte "},
		{deep, "SM_PROJECTS is not valid JSON (error at byte "},
		{"{\"de\\u0000mo\": \"/srv/demo\"}", "SM_PROJECTS contains \\u0000, which no name or path can hold"},
		{"{\"demo\": \"/srv/demo\\u0000/../../etc\"}", "SM_PROJECTS contains \\u0000, which no name or path can hold"},
		/* not an object */
		{"[\"/srv/demo\"]", NOT_OBJECT},
		{"\"/srv/demo\"", NOT_OBJECT},
		{"null", NOT_OBJECT},
		{"42", NOT_OBJECT},
		/* values */
		{"{\"demo\": 1}", "SM_PROJECTS: project 'demo': path must be a string"},
		{"{\"demo\": null}", "SM_PROJECTS: project 'demo': path must be a string"},
		{"{\"demo\": [\"/srv/demo\"]}", "SM_PROJECTS: project 'demo': path must be a string"},
		{"{\"demo\": {\"path\": \"/srv/demo\"}}", "SM_PROJECTS: project 'demo': path must be a string"},
		{"{\"demo\": \"srv/demo\"}", "SM_PROJECTS: project 'demo': path 'srv/demo' is not an absolute path"},
		{"{\"demo\": \"\"}", "SM_PROJECTS: project 'demo': path is empty"},
		{"{\"demo\": \"/srv/../etc\"}", "SM_PROJECTS: project 'demo': path '/srv/../etc' has a '..' component"},
		{"{\"demo\": \"/srv/de\\nmo\"}", "SM_PROJECTS: project 'demo': path '/srv/de\\x0amo' contains a control character"},
		{"{\"demo\": \"/srv/\\u001b[31m\"}", "SM_PROJECTS: project 'demo': path '/srv/\\x1b[31m' contains a control character"},
		/* names */
		{"{\"a b\": \"/x\"}", "SM_PROJECTS: project name 'a b' contains ' ': " ONLY},
		{"{\"\": \"/x\"}", "SM_PROJECTS: project name is empty"},
		{"{\"../x\": \"/x\"}", "SM_PROJECTS: project name '../x' contains '/': " ONLY},
		{"{\"acme/api\": \"/x\"}", "SM_PROJECTS: project name 'acme/api' contains '/': " ONLY},
		{"{\"-rf\": \"/x\"}", "SM_PROJECTS: project name '-rf' must not start with '-'"},
		{"{\"caf\\u00e9\": \"/x\"}", "SM_PROJECTS: project name 'caf\\xc3\\xa9' contains '\\xc3': " ONLY},
		{"{\"ok\": \"/x\", \"bad\\n\": \"/y\"}", "SM_PROJECTS: project name 'bad\\x0a' contains '\\x0a': " ONLY},
		{"{\"demo\": \"/a\", \"demo\": \"/b\"}", "SM_PROJECTS: project 'demo' is given twice"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_projects p;
		memset(&p, 0xa5, sizeof(p));
		char err[256] = "";
		cr_assert_eq(sr_projects_load(cases[i].json, &p, err, sizeof(err)), -EINVAL, "row %zu", i);
		cr_assert(!strncmp(err, cases[i].msg, strlen(cases[i].msg)), "row %zu: got '%s', want '%s'",
			  i, err, cases[i].msg);
		cr_assert(p.v == NULL && p.n == 0, "row %zu: output not zeroed", i);
	}
	cr_assert_eq(sr_projects_load("{}", NULL, NULL, 0), -EINVAL);
}

/* Malformed-JSON messages carry cJSON's offset, and exact matches above
 * cover every other message; here the offset itself. */
Test(project, projects_json_error_offset)
{
	struct sr_projects p;
	char err[256] = "";
	cr_assert_eq(sr_projects_load("{\"demo\": }", &p, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "SM_PROJECTS is not valid JSON (error at byte 9)");
}

/* git check-ref-format is the reference for branch names: for every ASCII
 * candidate our verdict must be git's on refs/heads/<b>, plus --branch's own
 * refusals of a leading '-' and "HEAD", and "@" (git's shorthand for HEAD,
 * which `git branch @` refuses too). */
static int git_accepts(const char *branch)
{
	char ref[512];
	snprintf(ref, sizeof(ref), "refs/heads/%s", branch);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr))
			_exit(127);
		execlp("git", "git", "check-ref-format", ref, (char *)NULL);
		_exit(127);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 127, "git is not runnable");
	return WEXITSTATUS(st) == 0 && branch[0] != '-' && strcmp(branch, "HEAD") != 0 &&
	       strcmp(branch, "@") != 0;
}

Test(project, branch_rules_agree_with_git)
{
	if (access("/usr/bin/git", X_OK) != 0)
		cr_skip_test("git is not installed");
	static const char *const branches[] = {
		"main", "feature/x", "a@b", "@", "HEAD", "-x", "x-", "a$(id)", "a;b", "a|b", "a'b",
		"a\"b", "a{b", "a}b", "a#b", "a!b", "a%b", "a&b", "a`b", "a=b", "a,b", "a+b",
		"a.lock/b", "a/b.lock", "x.lock", "lock", ".lock", "a.lockx", ".a", "a/.b", "a./b",
		"x.", "x/", "/x", "a..b", "a.b", "a@{1}", "a@}", "a{@", "a//b", "a b", "a~", "a^",
		"a:b", "a?", "a*", "a[b", "a]b", "a\\b", "a\x7f", "a\tb", "a\nb", "a\x01", "_",
		"refs/heads/x", "v1.0.0", "1", "a/b/c/d", "...", "a/-b", "a/@", "@/a", "a/HEAD",
		"\x1b[31m",
	};
	for (size_t i = 0; i < sizeof(branches) / sizeof(branches[0]); i++) {
		char arg[512], err[256] = "";
		snprintf(arg, sizeof(arg), "o/r@%s", branches[i]);
		const char *args[] = {arg};
		struct sr_project_spec s;
		int ours = sr_project_parse(1, args, &s, err, sizeof(err)) == 0;
		sr_project_spec_free(&s);
		int git = git_accepts(branches[i]);
		cr_assert_eq(ours, git, "branch %zu: we %s it (%s), git %s it", i,
			     ours ? "accept" : "refuse", err, git ? "accepts" : "refuses");
	}
}
