/* sr_relay.c — the session table, hosts, state file and the public calls
 * (see sr_relay.h; the remote steps are in sr_relay_steps.c). */
#include "sr_relay.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "sr_log.h"
#include "sr_relay_int.h"

const char *sr_rstate_name(enum sr_rstate st)
{
	switch (st) {
	case SR_RS_STARTING:
		return "starting";
	case SR_RS_RUNNING:
		return "running";
	case SR_RS_DETACHED:
		return "detached";
	case SR_RS_STOPPING:
		return "stopping";
	case SR_RS_ENDED:
		return "ended";
	}
	return "?";
}

/* ---- the table ---------------------------------------------------------- */

static void rs_release(struct rsess *s)
{
	sr_exec_cancel(s->job);
	sr_session_free(s->vs);
	sr_project_spec_free(&s->spec);
	free(s->host);
	free(s->project);
	free(s->repo_key);
	free(s->workdir);
	free(s->worktree);
	free(s->owner);
	free(s->why);
	free(s);
}

static struct rsess *find(const struct sr_relay *r, const char *id)
{
	for (size_t i = 0; id && i < r->nsess; i++)
		if (strcmp(r->sess[i]->id, id) == 0)
			return r->sess[i];
	return NULL;
}

/* A live session (not ended) by id. */
static struct rsess *find_live(const struct sr_relay *r, const char *id)
{
	struct rsess *s = find(r, id);
	return s && s->st != SR_RS_ENDED ? s : NULL;
}

static int add(struct sr_relay *r, struct rsess *s)
{
	if (r->nsess == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct rsess **n = realloc(r->sess, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		r->sess = n;
		r->cap = cap;
	}
	r->sess[r->nsess++] = s;
	return 0;
}

static void reap_cb(void *data)
{
	struct sr_relay *r = data;
	for (size_t i = 0; i < r->ndead; i++)
		rs_release(r->dead[i]);
	r->ndead = 0;
}

/* Takes s out of the table; it is freed at the next loop iteration, so
 * callers up the stack may still look at it. */
static void drop(struct rsess *s)
{
	struct sr_relay *r = s->r;
	for (size_t i = 0; i < r->nsess; i++)
		if (r->sess[i] == s) {
			memmove(&r->sess[i], &r->sess[i + 1], (r->nsess - i - 1) * sizeof(*r->sess));
			r->nsess--;
			break;
		}
	sr_exec_cancel(s->job);
	s->job = NULL;
	if (r->ndead == r->capdead) {
		size_t cap = r->capdead ? r->capdead * 2 : 8;
		struct rsess **n = realloc(r->dead, cap * sizeof(*n));
		if (!n)
			return; /* out of memory: a leak beats a use-after-free */
		r->dead = n;
		r->capdead = cap;
	}
	r->dead[r->ndead++] = s;
	sr_loop_defer_cancel(r->loop, reap_cb, r);
	sr_loop_defer(r->loop, reap_cb, r);
}

void rs_forget(struct rsess *s)
{
	struct sr_relay *r = s->r;
	drop(s);
	rs_save(r);
}

static struct sr_host *host_by_name(struct sr_relay *r, const char *name)
{
	for (size_t i = 0; name && i < r->nhosts; i++)
		if (strcmp(sr_host_name(r->hosts[i]), name) == 0)
			return r->hosts[i];
	return NULL;
}

/* ---- state file ----------------------------------------------------------- */

static void put_str(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
}

void rs_save(struct sr_relay *r)
{
	if (r->freeing)
		return;
	cJSON *sec = sr_state_section(r->state, "sessions");
	if (!sec)
		return;
	while (sec->child)
		cJSON_Delete(cJSON_DetachItemViaPointer(sec, sec->child));
	for (size_t i = 0; i < r->nsess; i++) {
		struct rsess *s = r->sess[i];
		if (s->st == SR_RS_ENDED && !s->cleanup)
			continue;
		cJSON *o = cJSON_CreateObject();
		if (!o)
			break;
		put_str(o, "host", s->host);
		put_str(o, "project", s->project);
		put_str(o, "repo_key", s->repo_key);
		put_str(o, "workdir", s->workdir);
		put_str(o, "worktree", s->worktree);
		put_str(o, "owner", s->owner);
		cJSON_AddNumberToObject(o, "created", (double)s->created);
		cJSON_AddNumberToObject(o, "cols", s->cols);
		cJSON_AddNumberToObject(o, "rows", s->rows);
		cJSON_AddStringToObject(o, "state", s->st == SR_RS_ENDED ? "cleanup" : "live");
		cJSON_AddItemToObject(sec, s->id, o);
	}
	char err[512];
	if (sr_state_save(r->state, err, sizeof(err)) < 0)
		sr_log(SR_LOG_ERROR, "state: %s", err);
}

static char *json_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) && v->valuestring ? strdup(v->valuestring) : NULL;
}

static unsigned json_uint(const cJSON *o, const char *k, unsigned dflt, unsigned max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > max)
		return dflt;
	return (unsigned)v->valuedouble;
}

static int valid_id(const char *id)
{
	if (strlen(id) != SR_RELAY_ID_LEN)
		return 0;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return 0;
	return 1;
}

/* Parses the words of a stored project (a canonical start command). */
static int parse_words(const char *text, struct sr_project_spec *spec, char *err, size_t errlen)
{
	char *copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	const char *words[8];
	int n = 0;
	for (char *save = NULL, *w = strtok_r(copy, " ", &save); w && n < 8;
	     w = strtok_r(NULL, " ", &save))
		words[n++] = w;
	int rc = sr_project_parse(n, words, spec, err, errlen);
	free(copy);
	return rc;
}

/* One session of the state file; anything unusable is reported and left
 * out (never silently: the log says which and why). */
static void load_one(struct sr_relay *r, const cJSON *o)
{
	const char *id = o->string;
	if (!cJSON_IsObject(o) || !id || !valid_id(id)) {
		sr_log(SR_LOG_ERROR, "state: ignoring a malformed session entry");
		return;
	}
	struct rsess *s = calloc(1, sizeof(*s));
	if (!s)
		return;
	s->r = r;
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->host = json_str(o, "host");
	s->project = json_str(o, "project");
	s->repo_key = json_str(o, "repo_key");
	s->workdir = json_str(o, "workdir");
	s->worktree = json_str(o, "worktree");
	s->owner = json_str(o, "owner");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "created");
	s->created = cJSON_IsNumber(c) ? (int64_t)c->valuedouble : 0;
	s->cols = json_uint(o, "cols", r->cfg->cols, 1000);
	s->rows = json_uint(o, "rows", r->cfg->rows, 500);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "state");
	s->cleanup = cJSON_IsString(st) && strcmp(st->valuestring, "cleanup") == 0;
	s->st = s->cleanup ? SR_RS_ENDED : SR_RS_DETACHED;
	s->started = true;
	char err[256] = "";
	if (!s->host || !s->project || parse_words(s->project, &s->spec, err, sizeof(err)) < 0 ||
	    (s->workdir && sr_project_check_path("workdir", s->workdir, err, sizeof(err)) < 0)) {
		sr_log(SR_LOG_ERROR, "state: session %s is unusable (%s); forgetting it", s->id,
		       err[0] ? err : "missing host or project");
		rs_release(s);
		return;
	}
	s->h = host_by_name(r, s->host);
	if (add(r, s) < 0) {
		rs_release(s);
		return;
	}
	if (!s->h) {
		/* Its VM is no longer configured: nothing can reach it. */
		s->cleanup = false;
		rs_end(s, "its VM host is no longer configured");
		return;
	}
	sr_log(SR_LOG_INFO, "session %s: known from the state file; reattaching when %s is reachable",
	       s->id, s->host);
}

static void load_state(struct sr_relay *r)
{
	cJSON *sec = sr_state_section(r->state, "sessions");
	if (!sec)
		return;
	cJSON *copy = cJSON_Duplicate(sec, 1); /* load_one may save, rewriting sec */
	if (!copy)
		return;
	const cJSON *o;
	cJSON_ArrayForEach(o, copy)
		load_one(r, o);
	cJSON_Delete(copy);
	rs_save(r);
}

/* ---- session life ------------------------------------------------------- */

void rs_set_state(struct rsess *s, enum sr_rstate st, const char *why)
{
	s->st = st;
	sr_log(SR_LOG_INFO, "session %s: %s%s%s", s->id, sr_rstate_name(st), why ? " — " : "",
	       why ? why : "");
	struct sr_relay *r = s->r;
	for (size_t i = 0; i < r->nhooks; i++)
		if (r->hooks[i] && r->hooks[i]->on_state)
			r->hooks[i]->on_state(r->hooks[i]->data, s->id, st, why);
}

void rs_emit_op(struct rsess *s, const struct vt_op *op)
{
	struct sr_relay *r = s->r;
	for (size_t i = 0; i < r->nhooks; i++)
		if (r->hooks[i] && r->hooks[i]->on_op)
			r->hooks[i]->on_op(r->hooks[i]->data, s->id, op);
}

void rs_emit_raw(struct rsess *s, const char *buf, size_t len)
{
	struct sr_relay *r = s->r;
	r->vt_bytes += len;
	for (size_t i = 0; i < r->nhooks; i++)
		if (r->hooks[i] && r->hooks[i]->on_raw)
			r->hooks[i]->on_raw(r->hooks[i]->data, s->id, buf, len);
}

int sr_relay_add_hooks(struct sr_relay *r, const struct sr_relay_hooks *h)
{
	if (!r || !h)
		return -EINVAL;
	for (size_t i = 0; i < r->nhooks; i++)
		if (!r->hooks[i]) {
			r->hooks[i] = h;
			return 0;
		}
	if (r->nhooks >= SR_RELAY_MAX_HOOKS)
		return -ENOSPC;
	r->hooks[r->nhooks++] = h;
	return 0;
}

void sr_relay_remove_hooks(struct sr_relay *r, const struct sr_relay_hooks *h)
{
	/* a NULL slot, not a shift: this may run from inside a hook walk */
	for (size_t i = 0; r && i < r->nhooks; i++)
		if (r->hooks[i] == h)
			r->hooks[i] = NULL;
}

void rs_finish_done(struct rsess *s, int rc, const char *msg)
{
	sr_relay_done_cb cb = s->done;
	s->done = NULL;
	if (cb)
		cb(s->done_data, rc, s->id, msg ? msg : "");
}

void rs_end(struct rsess *s, const char *why)
{
	if (s->st == SR_RS_ENDED && !s->cleanup)
		return;
	sr_exec_cancel(s->job);
	s->job = NULL;
	s->step = STEP_NONE;
	if (s->vs) {
		sr_session_finish(s->vs); /* last ops of the pipeline */
		sr_session_free(s->vs);
		s->vs = NULL;
	}
	if (s->st != SR_RS_ENDED) {
		free(s->why);
		s->why = strdup(why ? why : "ended");
		rs_set_state(s, SR_RS_ENDED, s->why);
	}
	if (!s->started)
		rs_finish_done(s, -EIO, why);
	else
		rs_finish_done(s, 0, why);
	if (s->cleanup && sr_host_ready(s->h)) {
		rs_save(s->r);
		rs_remove(s);
		return;
	}
	if (!s->cleanup)
		drop(s);
	rs_save(s->r);
}

struct sr_ssh_driver *rs_driver(struct rsess *s)
{
	return sr_host_ready(s->h) ? sr_host_driver(s->h) : NULL;
}

void rs_fill_spec(struct rsess *s, struct sr_container_spec *spec, const char *const *env_names)
{
	const struct sr_config *c = s->r->cfg;
	*spec = (struct sr_container_spec){
		.runtime = c->runtime,
		.runtime_bin = c->runtime_bin,
		.session_id = s->id,
		.image = c->container_image,
		.network = c->container_network,
		.memory = c->container_memory,
		.cpus = c->container_cpus,
		.workdir = s->workdir,
		.env_names = env_names,
		.term = c->term,
	};
}

static void first_step_cb(void *data);
static struct sr_host *pick_host(const struct sr_relay *r);

#define WAIT_MS 30000u /* how long a start waits for the first connection */

static void wait_timer_cb(struct sr_timer *t, void *data)
{
	struct sr_relay *r = data;
	uint64_t now = sr_loop_now(r->loop);
	bool more = false;
	for (size_t i = 0; i < r->nsess; i++) {
		struct rsess *s = r->sess[i];
		if (!s->waiting || s->st != SR_RS_STARTING)
			continue;
		if (now - s->wait_since < WAIT_MS) {
			more = true;
			continue;
		}
		s->waiting = false;
		char why[700];
		snprintf(why, sizeof(why), "no VM host became reachable within %u s (%s: %s)",
			 WAIT_MS / 1000, sr_host_name(r->hosts[0]),
			 sr_host_last_error(r->hosts[0])[0] ? sr_host_last_error(r->hosts[0]) : "connecting");
		rs_end(s, why);
		i = (size_t)-1; /* rs_end may have dropped it: start over */
	}
	if (more)
		sr_timer_rearm(t, 1000);
}

/* ---- hosts ----------------------------------------------------------------- */

static void host_up(void *data, struct sr_host *h)
{
	struct sr_relay *r = data;
	/* rs_check / rs_remove may drop entries: walk a snapshot of ids */
	size_t n = r->nsess;
	char (*ids)[SR_RELAY_ID_LEN + 1] = calloc(n ? n : 1, sizeof(*ids));
	if (!ids)
		return;
	for (size_t i = 0; i < n; i++)
		memcpy(ids[i], r->sess[i]->id, sizeof(ids[i]));
	for (size_t i = 0; i < n; i++) {
		struct rsess *s = find(r, ids[i]);
		if (s && s->waiting && s->st == SR_RS_STARTING) {
			s->waiting = false;
			s->h = pick_host(r);
			free(s->host);
			s->host = strdup(sr_host_name(s->h ? s->h : h));
			if (!s->h)
				s->h = h;
			rs_save(r);
			sr_loop_defer(r->loop, first_step_cb, s);
			continue;
		}
		if (!s || s->h != h || s->job)
			continue;
		if (s->st == SR_RS_ENDED && s->cleanup)
			rs_remove(s);
		else if (s->st == SR_RS_DETACHED)
			rs_check(s);
	}
	free(ids);
}

static void host_down(void *data, struct sr_host *h, int code, const char *msg)
{
	(void)code;
	struct sr_relay *r = data;
	size_t n = r->nsess;
	char (*ids)[SR_RELAY_ID_LEN + 1] = calloc(n ? n : 1, sizeof(*ids));
	if (!ids)
		return;
	for (size_t i = 0; i < n; i++)
		memcpy(ids[i], r->sess[i]->id, sizeof(ids[i]));
	for (size_t i = 0; i < n; i++) {
		struct rsess *s = find(r, ids[i]);
		if (!s || s->h != h)
			continue;
		/* The connection is about to be freed: no channel may outlive it. */
		sr_exec_cancel(s->job);
		s->job = NULL;
		enum rs_step step = s->step;
		s->step = STEP_NONE;
		if (s->vs)
			sr_session_detach(s->vs);
		char why[600];
		snprintf(why, sizeof(why), "lost the connection to %s: %s", s->host, msg);
		switch (s->st) {
		case SR_RS_STARTING:
			if (step == STEP_REPO) {
				rs_end(s, why); /* nothing to clean up in a container */
			} else if (step == STEP_CREATE) {
				s->cleanup = true; /* the container may exist */
				rs_end(s, why);
			} else {
				/* the holder may run: check it when the host is back */
				rs_set_state(s, SR_RS_DETACHED, why);
			}
			break;
		case SR_RS_RUNNING:
			rs_set_state(s, SR_RS_DETACHED, why);
			break;
		case SR_RS_STOPPING:
			s->cleanup = true;
			s->started = true;
			rs_end(s, "stopped (its container is removed when the VM is reachable again)");
			break;
		case SR_RS_DETACHED:
		case SR_RS_ENDED:
			break;
		}
	}
	free(ids);
}

/* ---- public calls ----------------------------------------------------------- */

static int make_hosts(struct sr_relay *r, const struct sr_relay_opts *o, char *err, size_t errlen)
{
	const struct sr_config *c = r->cfg;
	if (c->nvm_hosts == 0)
		return 0;
	r->hosts = calloc(c->nvm_hosts, sizeof(*r->hosts));
	if (!r->hosts)
		return -ENOMEM;
	for (size_t i = 0; i < c->nvm_hosts; i++) {
		struct sr_host_opts ho = {
			.target = c->vm_hosts[i],
			.ssh = {
				.user = c->vm_user,
				.key_path = c->ssh_key_path,
				.key_data = c->ssh_key,
				.known_hosts_path = c->known_hosts,
				.policy = c->host_key_policy == SR_POLICY_ACCEPT_NEW
						  ? SR_HOSTKEY_ACCEPT_NEW
						  : SR_HOSTKEY_STRICT,
				.keepalive_s = c->keepalive_s,
			},
			.backoff_min_ms = o->backoff_min_ms,
			.backoff_max_ms = o->backoff_max_ms,
			.on_up = host_up,
			.on_down = host_down,
			.data = r,
		};
		int rc = sr_host_new(r->loop, &ho, &r->hosts[i], err, errlen);
		if (rc < 0)
			return rc;
		r->nhosts++;
	}
	return 0;
}

int sr_relay_new(const struct sr_relay_opts *o, struct sr_relay **out, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!o || !o->loop || !o->cfg || !out) {
		snprintf(err, errlen, "relay: missing options");
		return -EINVAL;
	}
	*out = NULL;
	struct sr_relay *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->loop = o->loop;
	r->cfg = o->cfg;
	r->own_hooks = o->hooks;
	r->hooks[r->nhooks++] = &r->own_hooks;
	int rc = sr_projects_load(o->cfg->projects_json, &r->projects, err, errlen);
	char *warning = NULL;
	if (rc == 0)
		rc = sr_state_open(o->cfg->state_dir, &r->state, &warning, err, errlen);
	if (warning) {
		sr_log(SR_LOG_ERROR, "%s", warning);
		free(warning);
	}
	if (rc == 0)
		rc = make_hosts(r, o, err, errlen);
	if (rc == 0) /* idle until a start waits (rearmed then); a day is "never" */
		rc = sr_loop_timer(r->loop, 86400000, wait_timer_cb, r, &r->wait_timer);
	if (rc < 0) {
		sr_relay_free(r);
		return rc;
	}
	load_state(r);
	*out = r;
	return 0;
}

void sr_relay_free(struct sr_relay *r)
{
	if (!r)
		return;
	r->freeing = true;
	/* Sessions first (their channels), then the connections. The remote
	 * sides keep running: the next relay reattaches them. */
	for (size_t i = 0; i < r->nsess; i++) {
		sr_exec_cancel(r->sess[i]->job);
		r->sess[i]->job = NULL;
		sr_session_free(r->sess[i]->vs);
		r->sess[i]->vs = NULL;
	}
	for (size_t i = 0; i < r->nhosts; i++)
		sr_host_free(r->hosts[i]);
	free(r->hosts);
	for (size_t i = 0; i < r->nsess; i++)
		rs_release(r->sess[i]);
	free(r->sess);
	sr_loop_defer_cancel(r->loop, reap_cb, r);
	reap_cb(r);
	free(r->dead);
	if (r->wait_timer)
		sr_timer_cancel(r->wait_timer);
	sr_state_close(r->state);
	sr_projects_free(&r->projects);
	free(r);
}

static int new_id(struct sr_relay *r, char *id)
{
	static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	for (int tries = 0; tries < 16; tries++) {
		unsigned char b[SR_RELAY_ID_LEN];
		if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
			return -EIO;
		for (int i = 0; i < SR_RELAY_ID_LEN; i++)
			id[i] = al[b[i] % 36];
		id[SR_RELAY_ID_LEN] = '\0';
		if (!find(r, id))
			return 0;
	}
	return -EEXIST;
}

/* The spec as one canonical line of words (stored; parsed again on load). */
static char *canonical(const struct sr_project_spec *p)
{
	char buf[512];
	if (p->name)
		snprintf(buf, sizeof(buf), "%s", p->name);
	else
		snprintf(buf, sizeof(buf), "%s/%s%s%s%s%s%s", p->org, p->repo, p->branch ? "@" : "",
			 p->branch ? p->branch : "", p->worktree ? " --worktree" : "",
			 p->worktree_name ? "=" : "", p->worktree_name ? p->worktree_name : "");
	return strdup(buf);
}

static char *repo_key(const struct sr_project_spec *p)
{
	char buf[SR_PROJECT_ORG_MAX * 2 + 2];
	snprintf(buf, sizeof(buf), "%s/%s", p->org, p->repo);
	for (char *c = buf; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return strdup(buf);
}

static size_t host_load(const struct sr_relay *r, const struct sr_host *h)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nsess; i++)
		n += r->sess[i]->h == h && r->sess[i]->st != SR_RS_ENDED;
	return n;
}

static struct sr_host *pick_host(const struct sr_relay *r)
{
	struct sr_host *best = NULL;
	size_t best_load = 0;
	for (size_t i = 0; i < r->nhosts; i++) {
		if (!sr_host_ready(r->hosts[i]))
			continue;
		size_t l = host_load(r, r->hosts[i]);
		if (!best || l < best_load) {
			best = r->hosts[i];
			best_load = l;
		}
	}
	return best;
}

static void first_step_cb(void *data)
{
	struct rsess *s = data;
	if (s->spec.name)
		rs_step_create(s);
	else
		rs_step_repo(s);
}

int sr_relay_start(struct sr_relay *r, int argc, const char *const *argv, const char *owner,
		   sr_relay_done_cb cb, void *data, char *id_out, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!r || !argv || !id_out)
		return -EINVAL;
	id_out[0] = '\0';
	struct rsess *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->r = r;
	int rc = sr_project_parse(argc, argv, &s->spec, err, errlen);
	if (rc < 0)
		goto fail;
	if (s->spec.name) {
		const char *path = sr_projects_path(&r->projects, s->spec.name);
		if (!path) {
			snprintf(err, errlen, "unknown project '%s'%s", s->spec.name,
				 r->projects.n ? " (see SM_PROJECTS)" : "; start org/repo instead");
			rc = -EINVAL;
			goto fail;
		}
		s->workdir = strdup(path);
	} else if (!s->spec.worktree) {
		s->repo_key = repo_key(&s->spec);
		for (size_t i = 0; s->repo_key && i < r->nsess; i++) {
			const struct rsess *o = r->sess[i];
			if (o->st != SR_RS_ENDED && o->repo_key && !strcmp(o->repo_key, s->repo_key)) {
				snprintf(err, errlen,
					 "%s is in use by session %s; start with --worktree to work on it in parallel",
					 s->repo_key, o->id);
				rc = -EBUSY;
				goto fail;
			}
		}
	}
	s->h = pick_host(r);
	/* Right after start-up the first connections may still be on their
	 * way: wait for them rather than refuse (scripts run serve, then
	 * start). Later, an unreachable VM is reported at once. */
	bool first_connects = false;
	for (size_t i = 0; !s->h && i < r->nhosts; i++)
		first_connects |= sr_host_attempts(r->hosts[i]) <= 1 &&
				  !sr_host_last_error(r->hosts[i])[0];
	if (!s->h && first_connects) {
		s->waiting = true;
		s->wait_since = sr_loop_now(r->loop);
	} else if (!s->h) {
		if (r->nhosts == 0) {
			snprintf(err, errlen, "no VM host is configured (SM_VM_HOST)");
		} else {
			size_t k = (size_t)snprintf(err, errlen, "no VM host is reachable");
			for (size_t i = 0; i < r->nhosts && k < errlen; i++) {
				const char *le = sr_host_last_error(r->hosts[i]);
				k += (size_t)snprintf(err + k, errlen - k, "%s%s: %s", i ? "; " : " (",
						      sr_host_name(r->hosts[i]), le[0] ? le : "connecting");
			}
			if (k + 1 < errlen)
				strcat(err, ")");
		}
		rc = -EHOSTUNREACH;
		goto fail;
	}
	rc = new_id(r, s->id);
	if (rc < 0) {
		snprintf(err, errlen, "cannot make a session id");
		goto fail;
	}
	if (s->spec.worktree)
		s->worktree = strdup(s->spec.worktree_name ? s->spec.worktree_name : s->id);
	s->host = strdup(s->h ? sr_host_name(s->h) : "");
	s->project = canonical(&s->spec);
	s->owner = owner ? strdup(owner) : NULL;
	s->created = (int64_t)time(NULL);
	s->cols = r->cfg->cols;
	s->rows = r->cfg->rows;
	s->st = SR_RS_STARTING;
	s->done = cb;
	s->done_data = data;
	if (!s->host || !s->project || (owner && !s->owner) || (s->spec.worktree && !s->worktree) ||
	    (s->spec.name && !s->workdir) || (!s->spec.name && !s->spec.worktree && !s->repo_key) ||
	    add(r, s) < 0) {
		rc = -ENOMEM;
		goto fail;
	}
	/* The first step runs from the loop, so cb never runs before we return. */
	if (s->waiting) {
		sr_timer_rearm(r->wait_timer, 1000);
	} else if (sr_loop_defer(r->loop, first_step_cb, s) < 0) {
		r->nsess--;
		rc = -ENOMEM;
		goto fail;
	}
	memcpy(id_out, s->id, sizeof(s->id));
	sr_log(SR_LOG_INFO, "session %s: starting %s on %s for %s", s->id, s->project,
	       s->waiting ? "the first VM host to connect" : s->host, s->owner ? s->owner : "(nobody)");
	rs_save(r);
	for (size_t i = 0; i < r->nhooks; i++)
		if (r->hooks[i] && r->hooks[i]->on_state)
			r->hooks[i]->on_state(r->hooks[i]->data, s->id, SR_RS_STARTING, "starting");
	return 0;
fail:
	if (rc == -ENOMEM && !err[0])
		snprintf(err, errlen, "out of memory");
	s->done = NULL;
	rs_release(s);
	return rc;
}

int sr_relay_stop(struct sr_relay *r, const char *id, sr_relay_done_cb cb, void *data,
		  char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	struct rsess *s = r ? find_live(r, id) : NULL;
	if (!s) {
		snprintf(err, errlen, "no such session");
		return -ENOENT;
	}
	if (s->st == SR_RS_STOPPING) {
		snprintf(err, errlen, "session %s is already stopping", s->id);
		return -EALREADY;
	}
	sr_loop_defer_cancel(r->loop, first_step_cb, s);
	if (!s->started)
		rs_finish_done(s, -ECANCELED, "stopped before it started");
	s->started = true;
	s->done = cb;
	s->done_data = data;
	sr_exec_cancel(s->job);
	s->job = NULL;
	if (s->vs) {
		sr_session_finish(s->vs);
		sr_session_free(s->vs);
		s->vs = NULL;
	}
	if (s->waiting) { /* never reached a VM: nothing to remove */
		s->waiting = false;
		s->cleanup = false;
		rs_end(s, "stopped");
		return 0;
	}
	rs_set_state(s, SR_RS_STOPPING, "stop requested");
	if (sr_host_ready(s->h)) {
		rs_remove(s);
	} else {
		s->cleanup = true;
		rs_end(s, "stopped (its container is removed when the VM is reachable again)");
	}
	return 0;
}

static struct sr_session *live_vs(struct sr_relay *r, const char *id, int *rc)
{
	struct rsess *s = r ? find_live(r, id) : NULL;
	if (!s) {
		*rc = -ENOENT;
		return NULL;
	}
	if (!s->vs || s->st != SR_RS_RUNNING) {
		*rc = -ENOTCONN;
		return NULL;
	}
	return s->vs;
}

int sr_relay_send_text(struct sr_relay *r, const char *id, const char *text)
{
	int rc = 0;
	struct sr_session *vs = live_vs(r, id, &rc);
	return vs ? sr_session_send_text(vs, text) : rc;
}

int sr_relay_send_keys(struct sr_relay *r, const char *id, const char *spec, char *err,
		       size_t errlen)
{
	int rc = 0;
	struct sr_session *vs = live_vs(r, id, &rc);
	if (!vs) {
		snprintf(err, errlen, rc == -ENOENT ? "no such session" : "session is not attached");
		return rc;
	}
	return sr_session_send_keys(vs, spec, err, errlen);
}

int sr_relay_resize(struct sr_relay *r, const char *id, unsigned cols, unsigned rows)
{
	struct rsess *s = r ? find_live(r, id) : NULL;
	if (!s)
		return -ENOENT;
	if (cols < 2 || rows < 1 || cols > 1000 || rows > 500)
		return -EINVAL;
	if (cols == s->cols && rows == s->rows)
		return 0; /* nothing to do, nothing to write to disk */
	if (s->vs) {
		int rc = sr_session_resize(s->vs, cols, rows);
		if (rc < 0)
			return rc;
	}
	s->cols = cols;
	s->rows = rows;
	rs_save(r);
	return 0;
}

int sr_relay_screen_text(struct sr_relay *r, const char *id, char **out)
{
	struct rsess *s = r ? find_live(r, id) : NULL;
	if (!s)
		return -ENOENT;
	if (!s->vs)
		return -ENOTCONN;
	return sr_session_screen_text(s->vs, out);
}

int sr_relay_send_raw(struct sr_relay *r, const char *id, const char *buf, size_t len)
{
	int rc = 0;
	struct sr_session *vs = live_vs(r, id, &rc);
	return vs ? sr_session_send_raw(vs, buf, len) : rc;
}

int sr_relay_repaint(struct sr_relay *r, const char *id, char **out, size_t *len)
{
	struct rsess *s = r ? find_live(r, id) : NULL;
	if (!s)
		return -ENOENT;
	if (!s->vs)
		return -ENOTCONN;
	return sr_session_repaint(s->vs, out, len);
}

int sr_relay_info(const struct sr_relay *r, const char *id, struct sr_relay_info *out)
{
	const struct rsess *s = r ? find_live(r, id) : NULL;
	if (!s || !out)
		return -ENOENT;
	*out = (struct sr_relay_info){
		.id = s->id,
		.host = s->host,
		.project = s->project,
		.owner = s->owner,
		.workdir = s->workdir,
		.worktree = s->worktree,
		.state = s->st,
		.created = s->created,
		.cols = s->cols,
		.rows = s->rows,
	};
	return 0;
}

size_t sr_relay_list(const struct sr_relay *r, const char **ids, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; r && i < r->nsess; i++) {
		if (r->sess[i]->st == SR_RS_ENDED)
			continue;
		if (n < max)
			ids[n] = r->sess[i]->id;
		n++;
	}
	return n;
}

cJSON *sr_relay_state_section(struct sr_relay *r, const char *name)
{
	return r ? sr_state_section(r->state, name) : NULL;
}

void sr_relay_save(struct sr_relay *r)
{
	if (r)
		rs_save(r);
}

uint64_t sr_relay_vt_bytes(const struct sr_relay *r)
{
	return r ? r->vt_bytes : 0;
}

size_t sr_relay_nhosts(const struct sr_relay *r)
{
	return r ? r->nhosts : 0;
}

struct sr_host *sr_relay_host(const struct sr_relay *r, size_t i)
{
	return r && i < r->nhosts ? r->hosts[i] : NULL;
}
