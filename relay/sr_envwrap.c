/* sr_envwrap.c — secrets through stdin instead of argv (see sr_envwrap.h). */
#include "sr_envwrap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_show.h"

/*
 * The remote side, run by /bin/sh (dash or bash in practice):
 *   - IFS= read -r keeps leading/trailing blanks and backslashes;
 *   - the empty line is the only way to reach exec, so a payload cut short
 *     (EOF first) runs nothing;
 *   - the name is checked here again before export, so a bad line can
 *     neither become an option to export (bash: -f, -n) nor make bash echo
 *     the line, value included, in its "not a valid identifier" message;
 *   - export "$l" is one quoted word: the value is assigned as is, never
 *     expanded again.
 * read consumes stdin one byte at a time on a pipe, so whatever follows
 * the empty line is left for the inner command.
 */
static const char SCRIPT[] =
	"while IFS= read -r l; do "
	"[ -n \"$l\" ] || exec \"$@\"; "
	"case $l in *=*) ;; *) exit 125;; esac; "
	"case ${l%%=*} in \"\"|[!A-Za-z_]*|*[!A-Za-z0-9_]*) exit 125;; esac; "
	"export \"$l\" || exit 125; "
	"done; exit 125";


int sr_envwrap_name_valid(const char *name)
{
	if (!name || !*name || (name[0] >= '0' && name[0] <= '9'))
		return 0;
	for (const char *p = name; *p; p++) {
		char c = *p;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return 0;
	}
	return 1;
}

int sr_envwrap_argv(const struct sr_argv *inner, struct sr_argv *out)
{
	if (!out)
		return -EINVAL;
	*out = (struct sr_argv){0};
	if (!inner || inner->n == 0 || !inner->v)
		return -EINVAL;
	const char *const head[] = {"/bin/sh", "-c", SCRIPT, "smrelay-env"};
	int rc = sr_argv_push_n(out, head, sizeof(head) / sizeof(head[0]));
	if (!rc)
		rc = sr_argv_push_n(out, (const char *const *)inner->v, inner->n);
	if (rc)
		sr_argv_free(out);
	return rc;
}

int sr_envwrap_payload(const struct sr_env *env, char **out, size_t *len, char *err,
		       size_t errlen)
{
	if (out)
		*out = NULL;
	if (len)
		*len = 0;
	if (!out || !len)
		return sr_fail(err, errlen, "envwrap: no output buffer");

	/* Check everything before allocating, so a rejected set never leaves
	 * a partial copy of a secret anywhere. */
	size_t total = 1; /* the final empty line */
	for (size_t i = 0; env && env[i].name; i++) {
		char v[SR_SHOW_CAP];
		const char *name = env[i].name;
		if (!sr_envwrap_name_valid(name))
			return sr_fail(err, errlen,
				    "environment variable name '%s' is invalid: use letters, digits and '_', not starting with a digit",
				    sr_show(v, name));
		const char *value = env[i].value;
		if (!value)
			return sr_fail(err, errlen, "environment variable %s has no value", name);
		/* Never echo the value: only say what is wrong with it. */
		if (strpbrk(value, "\n\r"))
			return sr_fail(err, errlen,
				    "the value of environment variable %s contains a line break (not allowed)",
				    name);
		size_t nl = strlen(name), vl = strlen(value);
		if (vl > (size_t)-1 / 2 - total - nl - 2)
			return sr_fail(err, errlen, "environment variable %s is too long", name);
		total += nl + 1 + vl + 1;
	}

	char *p = malloc(total);
	if (!p)
		return -ENOMEM;
	size_t o = 0;
	for (size_t i = 0; env && env[i].name; i++) {
		size_t nl = strlen(env[i].name), vl = strlen(env[i].value);
		memcpy(p + o, env[i].name, nl);
		o += nl;
		p[o++] = '=';
		memcpy(p + o, env[i].value, vl);
		o += vl;
		p[o++] = '\n';
	}
	p[o++] = '\n';
	*out = p;
	*len = o;
	return 0;
}

void sr_envwrap_payload_free(char *p, size_t len)
{
	if (!p)
		return;
	/* volatile: a memset right before free may be dropped as dead. */
	volatile unsigned char *v = (volatile unsigned char *)p;
	for (size_t i = 0; i < len; i++)
		v[i] = 0;
	free(p);
}
