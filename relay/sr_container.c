/* sr_container.c — container runtime argv builders (see sr_container.h). */
#include "sr_container.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_envwrap.h"
#include "sr_holder.h"
#include "sr_project.h"
#include "sr_show.h"

#define IMAGE_MAX 255
#define NETWORK_MAX 255
#define LIMIT_MAX 32 /* memory and cpus */
#define TERM_MAX 64

#define LABEL "smrelay.session"


static bool is_alnum(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* A field made of alphanumerics and the bytes in `extra`, 1..max bytes, not
 * starting with '-' (it would be read as an option by the runtime). */
static int check_charset(const char *what, const char *s, size_t max, const char *extra,
			 const char *allowed, char *err, size_t errlen)
{
	char v[SR_SHOW_CAP], c[SR_SHOW_CAP];
	if (!*s)
		return sr_fail(err, errlen, "container %s is empty", what);
	for (size_t i = 0; s[i]; i++) {
		if (i == max)
			return sr_fail(err, errlen, "container %s '%s' is longer than %zu bytes", what,
				    sr_show(v, s), max);
		unsigned char b = (unsigned char)s[i];
		if (!is_alnum(b) && !strchr(extra, b)) {
			char one[2] = {s[i], '\0'};
			return sr_fail(err, errlen, "container %s '%s' contains '%s': only %s are allowed",
				    what, sr_show(v, s), sr_show(c, one), allowed);
		}
	}
	if (s[0] == '-')
		return sr_fail(err, errlen, "container %s '%s' must not start with '-'", what, sr_show(v, s));
	return 0;
}

/* [0-9]+[bkmgBKMG]? — the units podman and docker both take. */
static int check_memory(const char *s, char *err, size_t errlen)
{
	char v[SR_SHOW_CAP];
	size_t n = strlen(s), d = strspn(s, "0123456789");
	bool ok = n > 0 && n <= LIMIT_MAX && d > 0 &&
		  (d == n || (d == n - 1 && strchr("bkmgBKMG", s[d])));
	if (!ok)
		return sr_fail(err, errlen,
			    "container memory limit '%s' is invalid: use a number with an optional unit b, k, m or g (e.g. 4g)",
			    sr_show(v, s));
	return 0;
}

/* Digits with at most one '.', at least one digit. */
static int check_cpus(const char *s, char *err, size_t errlen)
{
	char v[SR_SHOW_CAP];
	size_t n = strlen(s), dots = 0;
	for (size_t i = 0; i < n; i++)
		dots += s[i] == '.';
	/* every byte a digit or a '.', one '.' at most, one digit at least */
	if (n == 0 || n > LIMIT_MAX || strspn(s, "0123456789.") != n || dots > 1 ||
	    n - dots == 0)
		return sr_fail(err, errlen,
			    "container cpus '%s' is invalid: use a number such as 2 or 1.5", sr_show(v, s));
	return 0;
}

/* argv[0] chosen by the operator: any path, but nothing that would make it
 * an option or (bash) a job spec, and no control bytes in the command line. */
static int check_bin(const char *s, char *err, size_t errlen)
{
	char v[SR_SHOW_CAP];
	if (!*s)
		return sr_fail(err, errlen, "container runtime program is empty");
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return sr_fail(err, errlen,
				    "container runtime program '%s' contains a control character",
				    sr_show(v, s));
	if (s[0] == '-' || s[0] == '%')
		return sr_fail(err, errlen, "container runtime program '%s' must not start with '%c'",
			    sr_show(v, s), s[0]);
	return 0;
}

static int check_workdir(const char *s, char *err, size_t errlen)
{
	char v[SR_SHOW_CAP];
	if (!s)
		return sr_fail(err, errlen, "container workdir is missing");
	int rc = sr_project_check_path("container workdir", s, err, errlen);
	if (rc)
		return rc;
	/* -v SRC:DST[:OPTS] splits on ':', --mount type=bind,src=...,dst=...
	 * on ','; neither syntax has an escape. ',' is refused as well so
	 * either form can carry every accepted workdir. */
	const char *bad = strpbrk(s, ",:");
	if (bad)
		return sr_fail(err, errlen,
			    "container workdir '%s' contains '%c', which the runtime's volume syntax cannot carry",
			    sr_show(v, s), *bad);
	return 0;
}

static int check_spec(const struct sr_container_spec *s, char *err, size_t errlen)
{
	char v[SR_SHOW_CAP];
	if (!s)
		return sr_fail(err, errlen, "no container spec");
	if (s->runtime != SR_RUNTIME_PODMAN && s->runtime != SR_RUNTIME_DOCKER &&
	    s->runtime != SR_RUNTIME_NONE)
		return sr_fail(err, errlen, "unknown container runtime %d", (int)s->runtime);
	if (!s->session_id)
		return sr_fail(err, errlen, "session id is missing");
	if (!sr_holder_id_valid(s->session_id))
		return sr_fail(err, errlen,
			    "session id '%s' is invalid: 1 to 64 letters, digits, '_' or '-', not starting with '-'",
			    sr_show(v, s->session_id));
	int rc = check_workdir(s->workdir, err, errlen);
	if (!rc && s->git_dir)
		rc = check_workdir(s->git_dir, err, errlen);
	if (rc || s->runtime == SR_RUNTIME_NONE)
		return rc;

	if (s->runtime_bin && (rc = check_bin(s->runtime_bin, err, errlen)))
		return rc;
	if (!s->image)
		return sr_fail(err, errlen, "container image is missing");
	rc = check_charset("image", s->image, IMAGE_MAX, "._/:@-",
			   "letters, digits and . _ / : @ -", err, errlen);
	if (!rc && s->network)
		rc = check_charset("network", s->network, NETWORK_MAX, "._-",
				   "letters, digits and . _ -", err, errlen);
	if (!rc && s->memory)
		rc = check_memory(s->memory, err, errlen);
	if (!rc && s->cpus)
		rc = check_cpus(s->cpus, err, errlen);
	if (!rc && s->term)
		rc = check_charset("term", s->term, TERM_MAX, "._+-",
				   "letters, digits and . _ + -", err, errlen);
	for (size_t i = 0; !rc && s->env_names && s->env_names[i]; i++)
		if (!sr_envwrap_name_valid(s->env_names[i]))
			rc = sr_fail(err, errlen,
				  "forwarded environment variable name '%s' is invalid: use letters, digits and '_', not starting with a digit",
				  sr_show(v, s->env_names[i]));
	return rc;
}

static const char *bin(const struct sr_container_spec *s)
{
	if (s->runtime_bin)
		return s->runtime_bin;
	return s->runtime == SR_RUNTIME_DOCKER ? "docker" : "podman";
}

int sr_container_name(const char *session_id, char *buf, size_t len)
{
	if (!buf || !sr_holder_id_valid(session_id))
		return -EINVAL;
	int n = snprintf(buf, len, "smrelay-%s", session_id);
	if (n < 0 || (size_t)n >= len) {
		if (len)
			buf[0] = '\0';
		return -ERANGE;
	}
	return 0;
}

const char *sr_container_workspace(const struct sr_container_spec *s)
{
	if (!s)
		return NULL;
	switch (s->runtime) {
	case SR_RUNTIME_PODMAN:
	case SR_RUNTIME_DOCKER:
		return SR_CONTAINER_WORKSPACE;
	case SR_RUNTIME_NONE:
		return s->workdir;
	}
	return NULL;
}

/* Common entry: resets out, checks the spec, fills name. Returns 1 when
 * the runtime is NONE (the caller has nothing container-specific to do). */
static int begin(const struct sr_container_spec *s, struct sr_argv *out,
		 char name[SR_CONTAINER_NAME_MAX], char *err, size_t errlen)
{
	if (!out)
		return sr_fail(err, errlen, "no output argv");
	*out = (struct sr_argv){0};
	int rc = check_spec(s, err, errlen);
	if (rc)
		return rc;
	if (s->runtime == SR_RUNTIME_NONE)
		return 1;
	return sr_container_name(s->session_id, name, SR_CONTAINER_NAME_MAX);
}

static int finish(int rc, struct sr_argv *out, char *err, size_t errlen)
{
	if (rc) {
		sr_argv_free(out);
		if (rc == -ENOMEM)
			sr_fail(err, errlen, "out of memory");
	}
	return rc;
}

static int check_inner(const struct sr_argv *inner, char *err, size_t errlen)
{
	if (!inner || inner->n == 0 || !inner->v)
		return sr_fail(err, errlen, "no command to run in the container");
	return 0;
}

int sr_container_create_argv(const struct sr_container_spec *s, struct sr_argv *out,
			     char *err, size_t errlen)
{
	char name[SR_CONTAINER_NAME_MAX];
	int rc = begin(s, out, name, err, errlen);
	if (rc)
		return rc > 0 ? 0 : rc;
	const char *const head[] = {bin(s), "run", "-d", "--init", "--name", name};
	rc = sr_argv_push_n(out, head, sizeof(head) / sizeof(head[0]));
	if (!rc)
		rc = sr_argv_push(out, "--label");
	if (!rc)
		rc = sr_argv_pushf(out, LABEL "=%s", s->session_id);
	const struct {
		const char *opt, *val;
	} opts[] = {{"--network", s->network}, {"--memory", s->memory}, {"--cpus", s->cpus}};
	for (size_t i = 0; !rc && i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (!opts[i].val)
			continue;
		const char *const w[] = {opts[i].opt, opts[i].val};
		rc = sr_argv_push_n(out, w, 2);
	}
	if (!rc)
		rc = sr_argv_push(out, "-v");
	if (!rc)
		rc = sr_argv_pushf(out, "%s:" SR_CONTAINER_WORKSPACE, s->workdir);
	/* A worktree's .git file points at the main clone's .git by its path
	 * on the VM: mount that at the same path, or git fails inside. */
	if (!rc && s->git_dir)
		rc = sr_argv_push(out, "-v");
	if (!rc && s->git_dir)
		rc = sr_argv_pushf(out, "%s:%s", s->git_dir, s->git_dir);
	/* "sleep infinity": the container only exists to host the holder,
	 * which exec starts; coreutils and busybox sleep both take it. */
	const char *const tail[] = {"-w", SR_CONTAINER_WORKSPACE, s->image, "sleep", "infinity"};
	if (!rc)
		rc = sr_argv_push_n(out, tail, sizeof(tail) / sizeof(tail[0]));
	return finish(rc, out, err, errlen);
}

int sr_container_exec_argv(const struct sr_container_spec *s, const struct sr_argv *inner,
			   int with_env, struct sr_argv *out, char *err, size_t errlen)
{
	char name[SR_CONTAINER_NAME_MAX];
	int rc = begin(s, out, name, err, errlen);
	if (rc < 0)
		return rc;
	int none = rc;
	rc = check_inner(inner, err, errlen);
	if (!rc && !none) {
		const char *const head[] = {bin(s), "exec"};
		rc = sr_argv_push_n(out, head, 2);
		for (size_t i = 0; !rc && with_env && s->env_names && s->env_names[i]; i++) {
			/* No "=value": the runtime takes it from its own
			 * environment, so the secret stays out of argv. */
			const char *const w[] = {"--env", s->env_names[i]};
			rc = sr_argv_push_n(out, w, 2);
		}
		if (!rc)
			rc = sr_argv_push(out, name);
	}
	if (!rc)
		rc = sr_argv_push_n(out, (const char *const *)inner->v, inner->n);
	return finish(rc, out, err, errlen);
}

int sr_container_attach_argv(const struct sr_container_spec *s, const struct sr_argv *inner,
			     struct sr_argv *out, char *err, size_t errlen)
{
	char name[SR_CONTAINER_NAME_MAX];
	int rc = begin(s, out, name, err, errlen);
	if (rc < 0)
		return rc;
	int none = rc;
	rc = check_inner(inner, err, errlen);
	if (!rc && !none) {
		/* exec does not inherit the PTY request's TERM: pass it. */
		const char *const head[] = {bin(s), "exec", "-it", "--env"};
		rc = sr_argv_push_n(out, head, sizeof(head) / sizeof(head[0]));
		if (!rc)
			rc = sr_argv_pushf(out, "TERM=%s", s->term ? s->term : "xterm-256color");
		if (!rc)
			rc = sr_argv_push(out, name);
	}
	if (!rc)
		rc = sr_argv_push_n(out, (const char *const *)inner->v, inner->n);
	return finish(rc, out, err, errlen);
}

int sr_container_running_argv(const struct sr_container_spec *s, struct sr_argv *out,
			      char *err, size_t errlen)
{
	char name[SR_CONTAINER_NAME_MAX];
	int rc = begin(s, out, name, err, errlen);
	if (rc)
		return rc > 0 ? 0 : rc;
	/* By label rather than name: "--filter name=" matches substrings
	 * (a regex) in both runtimes, so smrelay-a would also find
	 * smrelay-ab. A label value is matched exactly. */
	const char *const head[] = {bin(s), "ps", "-q", "--filter"};
	rc = sr_argv_push_n(out, head, sizeof(head) / sizeof(head[0]));
	if (!rc)
		rc = sr_argv_pushf(out, "label=" LABEL "=%s", s->session_id);
	return finish(rc, out, err, errlen);
}

int sr_container_remove_argv(const struct sr_container_spec *s, struct sr_argv *out,
			     char *err, size_t errlen)
{
	char name[SR_CONTAINER_NAME_MAX];
	int rc = begin(s, out, name, err, errlen);
	if (rc)
		return rc > 0 ? 0 : rc;
	const char *const w[] = {bin(s), "rm", "-f", name};
	rc = sr_argv_push_n(out, w, sizeof(w) / sizeof(w[0]));
	return finish(rc, out, err, errlen);
}
