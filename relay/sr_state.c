/* sr_state.c — atomic JSON state under SM_STATE_DIR. */
#include "sr_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sr_file.h"

struct sr_state {
	char *dir;
	char *path;
	cJSON *doc;
};

static int fail(char *err, size_t errlen, int code, const char *fmt, const char *a)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, a, strerror(-code));
	return code;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int sr_atomic_write(const char *path, const void *data, size_t len, char *err,
		    size_t errlen)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 16);
	char *dircopy = strdup(path);
	if (!tmp || !dircopy) {
		free(tmp);
		free(dircopy);
		return fail(err, errlen, -ENOMEM, "cannot write %s: %s", path);
	}
	snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
	int r = 0;
	int fd = mkstemp(tmp); /* mode 0600 */
	if (fd < 0) {
		r = fail(err, errlen, -errno, "cannot create a temporary file next to %s: %s", path);
		goto out;
	}
	r = write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		fail(err, errlen, r, "cannot write %s: %s", path);
		goto out;
	}
	/* the rename itself must reach the disk too */
	int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			r = fail(err, errlen, -errno, "cannot sync the directory of %s: %s", path);
		close(dfd);
	}
out:
	free(tmp);
	free(dircopy);
	return r;
}

static int mkdir_p(const char *dir)
{
	char *p = strdup(dir);
	if (!p)
		return -ENOMEM;
	int r = 0;
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0700) < 0 && errno != EEXIST) {
				r = -errno;
				break;
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	free(p);
	return r;
}

/* Moves a file that cannot be used out of the way, keeping it for a human. */
static char *move_aside(const char *path, const char *why)
{
	char aside[4096], *msg = malloc(4096 + 256);
	snprintf(aside, sizeof(aside), "%s.corrupt-%lld", path, (long long)time(NULL));
	if (!msg)
		return NULL;
	if (rename(path, aside) == 0)
		snprintf(msg, 4096 + 256, "state file %s was unreadable (%s); moved to %s and starting empty",
			 path, why, aside);
	else
		snprintf(msg, 4096 + 256, "state file %s was unreadable (%s) and could not be moved aside (%s)",
			 path, why, strerror(errno));
	return msg;
}

static bool valid_doc(const cJSON *doc, const char **why)
{
	if (!cJSON_IsObject(doc)) {
		*why = "not a JSON object";
		return false;
	}
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "version");
	if (!cJSON_IsNumber(v) || v->valuedouble != SR_STATE_VERSION) {
		*why = "missing or unsupported \"version\"";
		return false;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, doc)
	{
		if (strcmp(it->string, "version") != 0 && !cJSON_IsObject(it)) {
			*why = "a section is not an object";
			return false;
		}
	}
	return true;
}

/* Temporary files of writes a killed relay never finished: the rename did
 * not happen, so state.json is intact and these hold nothing of value. */
static void remove_stale_temps(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "state.json.tmp.", 15) != 0)
			continue;
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
}

int sr_state_open(const char *dir, struct sr_state **out, char **warning,
		  char *err, size_t errlen)
{
	if (warning)
		*warning = NULL;
	if (!dir || dir[0] != '/')
		return fail(err, errlen, -EINVAL, "state directory '%s' must be an absolute path (%s)",
			    dir ? dir : "");
	int r = mkdir_p(dir);
	if (r < 0)
		return fail(err, errlen, r, "cannot create state directory %s: %s", dir);
	struct sr_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->dir = strdup(dir);
	size_t n = strlen(dir) + sizeof("/state.json");
	st->path = malloc(n);
	if (!st->dir || !st->path) {
		sr_state_close(st);
		return -ENOMEM;
	}
	snprintf(st->path, n, "%s/state.json", dir);
	remove_stale_temps(dir);
	size_t len;
	char *text = sr_read_file(st->path, &len);
	if (!text && errno != ENOENT) {
		r = fail(err, errlen, -errno, "cannot read %s: %s", st->path);
		sr_state_close(st);
		return r;
	}
	if (text) {
		const char *why = "not valid JSON";
		st->doc = cJSON_ParseWithLength(text, len);
		free(text);
		if (!st->doc || !valid_doc(st->doc, &why)) {
			cJSON_Delete(st->doc);
			st->doc = NULL;
			char *msg = move_aside(st->path, why);
			if (warning)
				*warning = msg;
			else
				free(msg);
		}
	}
	if (!st->doc) {
		st->doc = cJSON_CreateObject();
		if (!st->doc || !cJSON_AddNumberToObject(st->doc, "version", SR_STATE_VERSION)) {
			sr_state_close(st);
			return -ENOMEM;
		}
	}
	*out = st;
	return 0;
}

void sr_state_close(struct sr_state *st)
{
	if (!st)
		return;
	cJSON_Delete(st->doc);
	free(st->dir);
	free(st->path);
	free(st);
}

cJSON *sr_state_section(struct sr_state *st, const char *name)
{
	cJSON *s = cJSON_GetObjectItemCaseSensitive(st->doc, name);
	if (!s)
		s = cJSON_AddObjectToObject(st->doc, name);
	return s;
}

int sr_state_save(struct sr_state *st, char *err, size_t errlen)
{
	char *text = cJSON_Print(st->doc);
	if (!text)
		return fail(err, errlen, -ENOMEM, "cannot serialise the state for %s: %s", st->path);
	int r = sr_atomic_write(st->path, text, strlen(text), err, errlen);
	free(text);
	return r;
}

const char *sr_state_path(const struct sr_state *st)
{
	return st->path;
}
