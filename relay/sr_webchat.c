/* sr_webchat.c — the built-in web chat (see sr_webchat.h). */
#include "sr_webchat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "mm_bot.h"
#include "mm_render.h"
#include "sr_bot_io.h"
#include "sr_log.h"
#include "sr_webchat_page.h"

#define ID_LEN 26
#define MAX_WS 64            /* pages watching at once */
#define SINCE_MAX 1000       /* posts per answer, as Mattermost's GetPostsSince */
#define AUDIT_TAIL 30        /* audit entries in the operator's view */
#define AUDIT_TAIL_BYTES 65536
#define COOKIE "smrelay_webchat"
#define CHANNEL_NAME "town-square"
#define CHANNEL_DISPLAY "Town Square"
#define TEAM_NAME "smrelay"

struct wc_post {
	char id[ID_LEN + 1];
	char user_id[ID_LEN + 1];
	char root_id[ID_LEN + 1]; /* "" for a root post */
	char *message;
	cJSON *props; /* an object; integrations included (never sent out) */
	int64_t create_at, update_at, edit_at;
	unsigned edits;
};

/* A deferred job: a REST call of the bot, or an event for the bot. */
struct wc_job {
	struct wc_job *next;
	long handle;
	char *method, *path, *key;
	cJSON *body;
	sr_webchat_rest_cb cb;
	void *data;
	char *event;    /* an event instead of a call */
	cJSON *ev_data;
};

struct sr_webchat {
	struct sr_loop *loop;
	const struct sr_config *cfg;
	struct sr_relay *relay;
	struct sr_fw *fw;
	struct sr_http *http;
	struct mm_bot *bot;  /* NULL in the operator's view */
	struct sr_chat *chat; /* Mattermost, for the operator's view */
	struct sr_bot_link link; /* the bot's io context */
	struct sr_relay_hooks hooks;
	bool hooked, routed;
	struct sr_timer *tick;
	char *user, *bot_name;
	char user_id[ID_LEN + 1], bot_id[ID_LEN + 1], channel_id[ID_LEN + 1], team_id[ID_LEN + 1];
	char *token; /* NULL: none required */
	char *cookie; /* the Set-Cookie value that carries it */
	bool loopback;
	struct wc_post **posts; /* in creation order */
	size_t nposts;
	struct wc_job *head, *tail;
	bool deferred;
	long next_handle;
	struct sr_http_ws *ws[MAX_WS];
	size_t nws;
	int64_t last_ms;
};

/* ---- small helpers --------------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Mattermost's NewId: 26 characters of its base32 alphabet. */
static void new_id(char out[ID_LEN + 1])
{
	static const char abc[] = "ybndrfg8ejkmcpqxot1uwisza345h769";
	unsigned char r[ID_LEN];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		/* getrandom on Linux does not fail for small sizes once seeded;
		 * mix the clock in rather than abort */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)((uint64_t)ts.tv_nsec >> (i % 8) ^ (uint64_t)ts.tv_sec * 31u * i);
	}
	for (size_t i = 0; i < ID_LEN; i++)
		out[i] = abc[r[i] & 31];
	out[ID_LEN] = '\0';
}

/* Wall-clock ms, strictly increasing: a page asking for posts `since` the
 * newest update_at it saw never misses one made in the same millisecond. */
static int64_t stamp(struct sr_webchat *w)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (now <= w->last_ms)
		now = w->last_ms + 1;
	w->last_ms = now;
	return now;
}

static bool ct_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0;
}

static void set_json(struct sr_http_resp *resp, int status, cJSON *o)
{
	resp->status = status;
	resp->content_type = "application/json";
	resp->body = o ? cJSON_PrintUnformatted(o) : NULL;
	resp->body_len = resp->body ? strlen(resp->body) : 0;
	cJSON_Delete(o);
}

static void set_error(struct sr_http_resp *resp, int status, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "error", msg);
	set_json(resp, status, o);
}

/* Mattermost's AppError body. */
static cJSON *app_error(const char *id, const char *msg, int status)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "message", msg);
	cJSON_AddStringToObject(o, "detailed_error", "");
	cJSON_AddNumberToObject(o, "status_code", status);
	return o;
}

/* ---- the post store ---------------------------------------------------------------- */

static struct wc_post *find_post(const struct sr_webchat *w, const char *id)
{
	/* newest first: live posts, the ones edited most, are recent */
	for (size_t i = w->nposts; id && i-- > 0;)
		if (!strcmp(w->posts[i]->id, id))
			return w->posts[i];
	return NULL;
}

static void post_free(struct wc_post *p)
{
	if (!p)
		return;
	free(p->message);
	cJSON_Delete(p->props);
	free(p);
}

/* The props as clients see them: every action's integration removed
 * (Mattermost's StripActionIntegrations), so card secrets never leave. */
static cJSON *strip_props(const cJSON *props)
{
	cJSON *c = cJSON_Duplicate(props, true);
	cJSON *a, *act;
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(c, "attachments"))
		cJSON_ArrayForEach(act, cJSON_GetObjectItemCaseSensitive(a, "actions"))
			cJSON_DeleteItemFromObjectCaseSensitive(act, "integration");
	return c ? c : cJSON_CreateObject();
}

static cJSON *post_json(const struct sr_webchat *w, const struct wc_post *p)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", p->id);
	cJSON_AddNumberToObject(o, "create_at", (double)p->create_at);
	cJSON_AddNumberToObject(o, "update_at", (double)p->update_at);
	cJSON_AddNumberToObject(o, "edit_at", (double)p->edit_at);
	cJSON_AddNumberToObject(o, "delete_at", 0);
	cJSON_AddBoolToObject(o, "is_pinned", 0);
	cJSON_AddStringToObject(o, "user_id", p->user_id);
	cJSON_AddStringToObject(o, "channel_id", w->channel_id);
	cJSON_AddStringToObject(o, "root_id", p->root_id);
	cJSON_AddStringToObject(o, "original_id", "");
	cJSON_AddStringToObject(o, "message", p->message);
	cJSON_AddStringToObject(o, "type", "");
	cJSON_AddItemToObject(o, "props", strip_props(p->props));
	cJSON_AddStringToObject(o, "hashtags", "");
	cJSON_AddStringToObject(o, "pending_post_id", "");
	cJSON_AddNumberToObject(o, "edit_count", p->edits); /* ours: how often it was edited */
	return o;
}

/* Action ids Mattermost would generate (GenerateActionIds). */
static void action_ids(cJSON *props)
{
	cJSON *a, *act;
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(props, "attachments"))
		cJSON_ArrayForEach(act, cJSON_GetObjectItemCaseSensitive(a, "actions"))
			if (!jstr(act, "id") || !*jstr(act, "id")) {
				char id[ID_LEN + 1];
				new_id(id);
				cJSON_DeleteItemFromObjectCaseSensitive(act, "id");
				cJSON_AddStringToObject(act, "id", id);
			}
}

static void ws_broadcast(struct sr_webchat *w, const char *event, cJSON *post);
static void queue_event(struct sr_webchat *w, const char *event, cJSON *data);

static const char *user_name(const struct sr_webchat *w, const char *uid)
{
	return !strcmp(uid, w->bot_id) ? w->bot_name : w->user;
}

/* What Mattermost broadcasts for a new post: the page gets it, and the bot
 * its "posted" event (data.post a JSON string). */
static void announce_created(struct sr_webchat *w, const struct wc_post *p)
{
	cJSON *pj = post_json(w, p);
	ws_broadcast(w, "posted", pj);
	char *s = cJSON_PrintUnformatted(pj);
	cJSON_Delete(pj);
	cJSON *d = cJSON_CreateObject();
	if (!s || !d) {
		free(s);
		cJSON_Delete(d);
		return;
	}
	char sender[128];
	snprintf(sender, sizeof(sender), "@%s", user_name(w, p->user_id));
	cJSON_AddStringToObject(d, "channel_display_name", CHANNEL_DISPLAY);
	cJSON_AddStringToObject(d, "channel_name", CHANNEL_NAME);
	cJSON_AddStringToObject(d, "channel_type", "O");
	cJSON_AddStringToObject(d, "post", s);
	cJSON_AddStringToObject(d, "sender_name", sender);
	cJSON_AddBoolToObject(d, "set_online", 1);
	cJSON_AddStringToObject(d, "team_id", w->team_id);
	free(s);
	queue_event(w, "posted", d);
}

static void announce_edited(struct sr_webchat *w, const struct wc_post *p)
{
	cJSON *pj = post_json(w, p);
	ws_broadcast(w, "post_edited", pj);
	char *s = cJSON_PrintUnformatted(pj);
	cJSON_Delete(pj);
	cJSON *d = cJSON_CreateObject();
	if (!s || !d) {
		free(s);
		cJSON_Delete(d);
		return;
	}
	cJSON_AddStringToObject(d, "post", s); /* post_edited carries only the post */
	free(s);
	queue_event(w, "post_edited", d);
}

/* Validates and stores a new post. *why and the status on failure. */
static struct wc_post *store_post(struct sr_webchat *w, const char *uid, const char *root,
				  const char *message, const cJSON *props, int *status,
				  const char **why)
{
	*status = 400;
	if (!message) {
		*why = "message is required";
		return NULL;
	}
	if (mm_runes(message) > MM_MESSAGE_CAP) {
		*why = "the message is longer than 16383 characters";
		return NULL;
	}
	if (props && !cJSON_IsObject(props)) {
		*why = "props must be an object";
		return NULL;
	}
	if (root && *root) {
		const struct wc_post *r = find_post(w, root);
		if (!r || r->root_id[0]) { /* Mattermost: only a root can be replied to */
			*why = "invalid root_id";
			return NULL;
		}
	}
	struct wc_post *p = calloc(1, sizeof(*p));
	if (!p || !(p->message = strdup(message)) ||
	    !(p->props = props ? cJSON_Duplicate(props, true) : cJSON_CreateObject())) {
		post_free(p);
		*status = 500;
		*why = "out of memory";
		return NULL;
	}
	if (w->nposts == SR_WEBCHAT_MAX_POSTS) { /* the oldest goes */
		post_free(w->posts[0]);
		memmove(w->posts, w->posts + 1, (w->nposts - 1) * sizeof(*w->posts));
		w->nposts--;
	} else {
		struct wc_post **n = realloc(w->posts, (w->nposts + 1) * sizeof(*n));
		if (!n) {
			post_free(p);
			*status = 500;
			*why = "out of memory";
			return NULL;
		}
		w->posts = n;
	}
	new_id(p->id);
	snprintf(p->user_id, sizeof(p->user_id), "%s", uid);
	snprintf(p->root_id, sizeof(p->root_id), "%s", root ? root : "");
	p->create_at = p->update_at = stamp(w);
	if (!strcmp(uid, w->bot_id)) /* the server marks bot posts */
		cJSON_AddStringToObject(p->props, "from_bot", "true");
	action_ids(p->props);
	w->posts[w->nposts++] = p;
	*status = 201;
	return p;
}

/* UpdatePost: message replaced; edit_at when it changed. */
static void update_post(struct sr_webchat *w, struct wc_post *p, const char *message, cJSON *props)
{
	if (message && strcmp(message, p->message)) {
		char *m = strdup(message);
		if (m) {
			free(p->message);
			p->message = m;
			p->edit_at = stamp(w);
		}
	}
	if (props) {
		action_ids(props);
		cJSON_Delete(p->props);
		p->props = props;
	}
	p->edits++;
	p->update_at = stamp(w);
	announce_edited(w, p);
}

/* ---- the bot's REST ------------------------------------------------------------------ */

struct answer {
	int rc;
	long status;
	cJSON *body;
	const char *msg;
};

static void answer_error(struct answer *a, long status, const char *id, const char *msg)
{
	a->status = status;
	a->rc = status == 400 ? -EINVAL : status == 403 ? -EPERM : status == 404 ? -ENOENT : -EIO;
	a->msg = msg;
	a->body = app_error(id, msg, (int)status);
}

static void rest_create(struct sr_webchat *w, const cJSON *body, struct answer *a)
{
	const char *ch = jstr(body, "channel_id");
	if (!ch || strcmp(ch, w->channel_id)) {
		answer_error(a, 403, "api.context.permissions.app_error",
			     "You do not have the appropriate permissions.");
		return;
	}
	int st;
	const char *why = "";
	struct wc_post *p = store_post(w, w->bot_id, jstr(body, "root_id"), jstr(body, "message"),
				       cJSON_GetObjectItemCaseSensitive(body, "props"), &st, &why);
	if (!p) {
		answer_error(a, st, "api.post.create_post.app_error", why);
		return;
	}
	a->status = 201;
	a->body = post_json(w, p);
	announce_created(w, p);
}

static void rest_patch(struct sr_webchat *w, const char *id, const cJSON *body, struct answer *a)
{
	struct wc_post *p = find_post(w, id);
	if (!p) {
		answer_error(a, 404, "app.post.get.app_error", "Unable to get the post.");
		return;
	}
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "message");
	const cJSON *pr = cJSON_GetObjectItemCaseSensitive(body, "props");
	if ((m && !cJSON_IsString(m)) || (pr && !cJSON_IsObject(pr) && !cJSON_IsNull(pr))) {
		answer_error(a, 400, "api.context.invalid_body_param.app_error", "Invalid patch body.");
		return;
	}
	if (m && mm_runes(m->valuestring) > MM_MESSAGE_CAP) {
		answer_error(a, 400, "model.post.is_valid.message_length.app_error",
			     "the message is longer than 16383 characters");
		return;
	}
	/* PostPatch: absent fields untouched; props, when present, replace all */
	update_post(w, p, m ? m->valuestring : NULL,
		    cJSON_IsObject(pr) ? cJSON_Duplicate(pr, true) : NULL);
	a->status = 200;
	a->body = post_json(w, p);
}

static void rest_user(struct sr_webchat *w, const char *id, struct answer *a)
{
	const char *name = !strcmp(id, "me") || !strcmp(id, w->bot_id) ? w->bot_name
			   : !strcmp(id, w->user_id)			   ? w->user
									   : NULL;
	if (!name) {
		answer_error(a, 404, "app.user.missing_account.const", "Unable to find the user.");
		return;
	}
	a->status = 200;
	a->body = cJSON_CreateObject();
	cJSON_AddStringToObject(a->body, "id", !strcmp(id, "me") ? w->bot_id : id);
	cJSON_AddStringToObject(a->body, "username", name);
	cJSON_AddBoolToObject(a->body, "is_bot", name == w->bot_name);
}

static int by_create(const void *x, const void *y)
{
	const struct wc_post *a = *(const struct wc_post *const *)x, *b = *(const struct wc_post *const *)y;
	return a->create_at < b->create_at ? -1 : a->create_at > b->create_at;
}

/* Posts with update_at > since, oldest first, at most SINCE_MAX (the
 * newest ones). NULL on allocation failure. */
static struct wc_post **posts_since(const struct sr_webchat *w, int64_t since, size_t *n)
{
	struct wc_post **v = calloc(w->nposts ? w->nposts : 1, sizeof(*v));
	*n = 0;
	for (size_t i = 0; v && i < w->nposts; i++)
		if (w->posts[i]->update_at > since)
			v[(*n)++] = w->posts[i];
	if (v)
		qsort(v, *n, sizeof(*v), by_create);
	if (v && *n > SINCE_MAX) {
		memmove(v, v + (*n - SINCE_MAX), SINCE_MAX * sizeof(*v));
		*n = SINCE_MAX;
	}
	return v;
}

static bool parse_ms(const char *s, int64_t *out)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end || errno || v < 0)
		return false;
	*out = v;
	return true;
}

static void rest_channel_posts(struct sr_webchat *w, const char *rest, struct answer *a)
{
	/* rest: "<channel>/posts?since=N" */
	const char *slash = strchr(rest, '/');
	if (!slash || (size_t)(slash - rest) != ID_LEN || strncmp(rest, w->channel_id, ID_LEN)) {
		answer_error(a, 404, "app.channel.get.existing.app_error", "Unable to find the channel.");
		return;
	}
	const char *q = strstr(slash, "?since=");
	int64_t since = 0;
	if (strncmp(slash, "/posts", 6) || !q || !parse_ms(q + 7, &since)) {
		answer_error(a, 400, "api.context.invalid_url_param.app_error",
			     "Invalid or missing since parameter in request URL.");
		return;
	}
	size_t n = 0;
	struct wc_post **v = posts_since(w, since, &n);
	a->status = 200;
	a->body = cJSON_CreateObject();
	cJSON *order = cJSON_AddArrayToObject(a->body, "order");
	cJSON *posts = cJSON_AddObjectToObject(a->body, "posts");
	for (size_t i = n; v && i-- > 0;) { /* order: newest first, as Mattermost */
		cJSON_AddItemToArray(order, cJSON_CreateString(v[i]->id));
		cJSON_AddItemToObject(posts, v[i]->id, post_json(w, v[i]));
	}
	cJSON_AddStringToObject(a->body, "next_post_id", "");
	cJSON_AddStringToObject(a->body, "prev_post_id", "");
	free(v);
}

static void run_rest(struct sr_webchat *w, const struct wc_job *j, struct answer *a)
{
	const char *p = j->path;
	a->msg = "";
	if (!strcmp(j->method, "POST") && !strcmp(p, "/api/v4/posts")) {
		rest_create(w, j->body, a);
	} else if (!strcmp(j->method, "PUT") && !strncmp(p, "/api/v4/posts/", 14) &&
		   strlen(p) == 14 + ID_LEN + 6 && !strcmp(p + 14 + ID_LEN, "/patch")) {
		char id[ID_LEN + 1];
		memcpy(id, p + 14, ID_LEN);
		id[ID_LEN] = '\0';
		rest_patch(w, id, j->body, a);
	} else if (!strcmp(j->method, "GET") && !strncmp(p, "/api/v4/users/", 14) &&
		   !strchr(p + 14, '/') && !strchr(p + 14, '?')) {
		rest_user(w, p + 14, a);
	} else if (!strcmp(j->method, "GET") && !strncmp(p, "/api/v4/channels/", 17)) {
		rest_channel_posts(w, p + 17, a);
	} else {
		answer_error(a, 404, "api.context.404.app_error", "Sorry, we could not find the page.");
	}
	if (a->rc < 0 && a->body)
		a->msg = jstr(a->body, "message");
}

static void job_free(struct wc_job *j)
{
	free(j->method);
	free(j->path);
	free(j->key);
	cJSON_Delete(j->body);
	free(j->event);
	cJSON_Delete(j->ev_data);
	free(j);
}

static void run_job(struct sr_webchat *w, struct wc_job *j)
{
	if (j->event) {
		cJSON *bc = cJSON_CreateObject();
		cJSON_AddStringToObject(bc, "channel_id", w->channel_id);
		cJSON_AddStringToObject(bc, "team_id", "");
		cJSON_AddStringToObject(bc, "user_id", "");
		mm_bot_on_event(w->bot, j->event, j->ev_data, bc);
		cJSON_Delete(bc);
		return;
	}
	struct answer a = {0};
	run_rest(w, j, &a);
	if (j->cb)
		j->cb(j->data, a.rc, a.status, a.body, a.msg ? a.msg : "");
	cJSON_Delete(a.body);
}

/* Runs what was queued before this call; jobs queued meanwhile (a
 * callback's next request) wait for the next deferred call. */
static void dispatch(void *data)
{
	struct sr_webchat *w = data;
	w->deferred = false;
	struct wc_job *list = w->head;
	w->head = w->tail = NULL;
	while (list) {
		struct wc_job *j = list;
		list = j->next;
		run_job(w, j);
		job_free(j);
	}
}

static int enqueue(struct sr_webchat *w, struct wc_job *j)
{
	if (!w->deferred) {
		int rc = sr_loop_defer(w->loop, dispatch, w);
		if (rc < 0)
			return rc;
		w->deferred = true;
	}
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	return 0;
}

static void queue_event(struct sr_webchat *w, const char *event, cJSON *data)
{
	struct wc_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->event = strdup(event))) {
		free(j);
		cJSON_Delete(data);
		return;
	}
	j->ev_data = data;
	if (enqueue(w, j) < 0)
		job_free(j);
}

long sr_webchat_rest(struct sr_webchat *w, const char *method, const char *path,
		     const cJSON *body, const char *coalesce_key, sr_webchat_rest_cb cb, void *data)
{
	if (!w || !method || !path || path[0] != '/')
		return -EINVAL;
	struct wc_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->method = strdup(method);
	j->path = strdup(path);
	j->key = coalesce_key ? strdup(coalesce_key) : NULL;
	j->body = body ? cJSON_Duplicate(body, true) : NULL;
	j->cb = cb;
	j->data = data;
	j->handle = ++w->next_handle;
	if (!j->method || !j->path || (coalesce_key && !j->key) || (body && !j->body)) {
		job_free(j);
		return -ENOMEM;
	}
	/* a queued request with the same key is replaced in its place (as the
	 * pacer does): the newest text wins, the older callback is cancelled */
	for (struct wc_job *q = w->head; coalesce_key && q; q = q->next) {
		if (q->event || !q->key || strcmp(q->key, coalesce_key))
			continue;
		sr_webchat_rest_cb ocb = q->cb;
		void *odata = q->data;
		free(q->method);
		free(q->path);
		cJSON_Delete(q->body);
		q->method = j->method;
		q->path = j->path;
		q->body = j->body;
		q->cb = j->cb;
		q->data = j->data;
		q->handle = j->handle;
		j->method = j->path = NULL;
		j->body = NULL;
		long h = q->handle;
		job_free(j);
		if (ocb)
			ocb(odata, -ECANCELED, 0, NULL, "superseded");
		return h;
	}
	long h = j->handle;
	int rc = enqueue(w, j);
	if (rc < 0) {
		job_free(j);
		return rc;
	}
	return h;
}

/* ---- WebSocket pushes --------------------------------------------------------------- */

static void ws_send_obj(struct sr_webchat *w, cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!s)
		return;
	size_t len = strlen(s);
	for (size_t i = 0; i < w->nws; i++)
		if (sr_http_ws_send(w->ws[i], s, len, false) == -ENOBUFS)
			sr_http_ws_close(w->ws[i]); /* a page that does not read; it reloads */
	free(s);
}

/* Takes post. */
static void ws_broadcast(struct sr_webchat *w, const char *event, cJSON *post)
{
	if (!w->nws)
		return;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "event", event);
	if (post)
		cJSON_AddItemToObject(o, "post", cJSON_Duplicate(post, true));
	ws_send_obj(w, o);
}

static void ws_sessions_changed(struct sr_webchat *w)
{
	ws_broadcast(w, "sessions", NULL);
}

/* ---- the bot's io -------------------------------------------------------------------- */

static long web_rest(void *ctx, const char *method, const char *path, const cJSON *body, int prio,
		     const char *key, mm_bot_rest_cb cb, void *data)
{
	(void)prio; /* answered at once: nothing waits long enough to reorder */
	return sr_webchat_rest(ctx, method, path, body, key, cb, data);
}

static void link_changed(void *data)
{
	ws_sessions_changed(data);
}

/* ---- the relay's hooks ----------------------------------------------------------------- */

static void hook_op(void *data, const char *id, const struct vt_op *op)
{
	struct sr_webchat *w = data;
	if (w->bot)
		mm_bot_on_op(w->bot, id, op);
	if (op && op->kind == VT_OP_MARKER)
		ws_sessions_changed(w);
}

static void hook_state(void *data, const char *id, enum sr_rstate st, const char *why)
{
	struct sr_webchat *w = data;
	ws_sessions_changed(w);
	if (!w->bot)
		return;
	if (st == SR_RS_ENDED)
		mm_bot_on_state(w->bot, id, 1, 0, why);
	else if (st == SR_RS_DETACHED && why && strcmp(why, "starting"))
		mm_bot_on_state(w->bot, id, 0, 1, why);
	else if (st == SR_RS_RUNNING && why && !strcmp(why, "reattached"))
		mm_bot_on_state(w->bot, id, 0, 0, why);
}

static void tick_cb(struct sr_timer *t, void *data)
{
	struct sr_webchat *w = data;
	if (mm_bot_pending(w->bot)) {
		mm_bot_tick(w->bot);
		ws_sessions_changed(w);
	}
	sr_timer_rearm(t, 10000);
}

/* ---- authentication and CSRF --------------------------------------------------------------- */

/* The host part of a Host header or listen address: "[::1]:80" → "::1". */
static void host_part(const char *s, char *out, size_t len)
{
	size_t n;
	if (s[0] == '[') {
		s++;
		n = strcspn(s, "]");
	} else {
		n = strcspn(s, ":");
		if (strchr(s + n + (s[n] != 0), ':')) /* a bare IPv6 address */
			n = strlen(s);
	}
	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), s);
}

static bool loopback_name(const char *h)
{
	unsigned char a[16];
	if (!strcasecmp(h, "localhost"))
		return true;
	if (inet_pton(AF_INET, h, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, h, a) == 1) {
		static const unsigned char one[16] = {[15] = 1};
		return !memcmp(a, one, 16);
	}
	return false;
}

static bool listen_loopback(const char *addr)
{
	char h[128];
	host_part(addr ? addr : "", h, sizeof(h));
	return h[0] && loopback_name(h);
}

/* The token from a Cookie header: "a=b; smrelay_webchat=TOKEN; c=d". */
static bool cookie_token(const char *cookies, char *out, size_t len)
{
	const size_t kl = strlen(COOKIE);
	for (const char *p = cookies; p && *p;) {
		p += strspn(p, " ;");
		size_t n = strcspn(p, ";");
		if (n > kl && !strncmp(p, COOKIE, kl) && p[kl] == '=') {
			snprintf(out, len, "%.*s", (int)(n - kl - 1), p + kl + 1);
			return true;
		}
		p += n;
	}
	return false;
}

static bool authorized(const struct sr_webchat *w, const struct sr_http_req *req)
{
	if (!w->token)
		return true;
	char buf[512];
	if (req->header_authorization && !strncasecmp(req->header_authorization, "Bearer ", 7) &&
	    ct_equal(req->header_authorization + 7, w->token))
		return true;
	char tok[128];
	return sr_http_req_header(req, "cookie", buf, sizeof(buf)) == 0 &&
	       cookie_token(buf, tok, sizeof(tok)) && ct_equal(tok, w->token);
}

/* Without a token (loopback only), the Host must be a loopback name: a
 * page on another site that re-points its DNS name at 127.0.0.1 (DNS
 * rebinding) would otherwise be same-origin with us. */
static bool host_ok(const struct sr_webchat *w, const struct sr_http_req *req)
{
	if (w->token)
		return true;
	char hdr[256], h[256];
	if (sr_http_req_header(req, "host", hdr, sizeof(hdr)) < 0)
		return false;
	host_part(hdr, h, sizeof(h));
	return loopback_name(h);
}

/* A browser's cross-site request carries an Origin that is not ours. */
static bool origin_ok(const struct sr_http_req *req)
{
	char origin[300], host[256], want[300];
	if (sr_http_req_header(req, "sec-fetch-site", origin, sizeof(origin)) == 0 &&
	    (!strcasecmp(origin, "cross-site") || !strcasecmp(origin, "same-site")))
		return false;
	if (sr_http_req_header(req, "origin", origin, sizeof(origin)) < 0)
		return true; /* not a browser's cross-origin request */
	if (sr_http_req_header(req, "host", host, sizeof(host)) < 0)
		return false;
	snprintf(want, sizeof(want), "http://%s", host);
	return !strcasecmp(origin, want);
}

/* Checks for every data route; false: resp is filled in. */
static bool guard(const struct sr_webchat *w, const struct sr_http_req *req, struct sr_http_resp *resp,
		  bool is_post)
{
	if (!host_ok(w, req)) {
		set_error(resp, 403, "this address is only served to loopback host names (use http://127.0.0.1)");
		return false;
	}
	if (!authorized(w, req)) {
		set_error(resp, 401, "the web chat needs its token: open the URL smrelay printed (with ?token=)");
		resp->headers[0] = (struct sr_http_header){"WWW-Authenticate", "Bearer realm=\"smrelay\""};
		return false;
	}
	if (is_post) {
		if (!origin_ok(req)) {
			set_error(resp, 403, "cross-site request refused");
			return false;
		}
		if (!req->content_type || strncasecmp(req->content_type, "application/json", 16) ||
		    (req->content_type[16] && req->content_type[16] != ';' && req->content_type[16] != ' ')) {
			set_error(resp, 415, "send application/json");
			return false;
		}
	}
	return true;
}

/* ---- routes -------------------------------------------------------------------------------- */

static const char CSP[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
			  "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
			  "form-action 'none'; frame-ancestors 'none'";

static void set_static(struct sr_http_resp *resp, const char *ctype, const char *text)
{
	resp->content_type = ctype;
	resp->body = strdup(text);
	resp->body_len = resp->body ? strlen(resp->body) : 0;
	resp->headers[0] = (struct sr_http_header){"Content-Security-Policy", CSP};
	resp->headers[1] = (struct sr_http_header){"Referrer-Policy", "no-referrer"};
}

static void route_page(void *data, const struct sr_http_req *req, struct sr_http_resp *resp)
{
	struct sr_webchat *w = data;
	if (strcmp(req->path, "/") && strcmp(req->path, "/index.html")) {
		set_error(resp, 404, "not found");
		return;
	}
	if (!host_ok(w, req)) {
		set_error(resp, 403, "this address is only served to loopback host names (use http://127.0.0.1)");
		return;
	}
	char tok[256];
	if (w->token && sr_http_req_arg(req, "token", tok, sizeof(tok)) == 0) {
		if (!ct_equal(tok, w->token)) {
			set_static(resp, "text/html; charset=utf-8", SR_WEBCHAT_DENIED_HTML);
			resp->status = 401;
			return;
		}
		/* the token becomes a cookie, and the URL loses it */
		resp->status = 303;
		resp->content_type = "text/plain";
		resp->headers[0] = (struct sr_http_header){"Set-Cookie", w->cookie};
		resp->headers[1] = (struct sr_http_header){"Location", "/"};
		resp->headers[2] = (struct sr_http_header){"Referrer-Policy", "no-referrer"};
		return;
	}
	if (!authorized(w, req)) {
		set_static(resp, "text/html; charset=utf-8", SR_WEBCHAT_DENIED_HTML);
		resp->status = 401;
		return;
	}
	set_static(resp, "text/html; charset=utf-8", SR_WEBCHAT_HTML);
}

static void route_js(void *data, const struct sr_http_req *req, struct sr_http_resp *resp)
{
	(void)data;
	if (strcmp(req->path, "/app.js"))
		set_error(resp, 404, "not found");
	else
		set_static(resp, "text/javascript; charset=utf-8", SR_WEBCHAT_JS);
}

static void route_css(void *data, const struct sr_http_req *req, struct sr_http_resp *resp)
{
	(void)data;
	if (strcmp(req->path, "/app.css"))
		set_error(resp, 404, "not found");
	else
		set_static(resp, "text/css; charset=utf-8", SR_WEBCHAT_CSS);
}

static cJSON *user_obj(const char *id, const char *name, bool bot)
{
	cJSON *u = cJSON_CreateObject();
	cJSON_AddStringToObject(u, "id", id);
	cJSON_AddStringToObject(u, "username", name);
	cJSON_AddBoolToObject(u, "is_bot", bot);
	return u;
}

static void route_posts(void *data, const struct sr_http_req *req, struct sr_http_resp *resp)
{
	struct sr_webchat *w = data;
	if (!guard(w, req, resp, false))
		return;
	char arg[32];
	int64_t since = 0;
	if (sr_http_req_arg(req, "since", arg, sizeof(arg)) == 0 && !parse_ms(arg, &since)) {
		set_error(resp, 400, "since must be a time in milliseconds");
		return;
	}
	size_t n = 0;
	struct wc_post **v = posts_since(w, since, &n);
	if (!v) {
		set_error(resp, 500, "out of memory");
		return;
	}
	cJSON *o = cJSON_CreateObject();
	/* operator: Mattermost is the chat, the page shows only the panel */
	cJSON_AddStringToObject(o, "mode", w->bot ? "chat" : "operator");
	cJSON_AddStringToObject(o, "channel_id", w->channel_id);
	cJSON_AddStringToObject(o, "channel_name", CHANNEL_DISPLAY);
	cJSON_AddStringToObject(o, "trigger", w->cfg->bot_trigger ? w->cfg->bot_trigger : "@claude");
	cJSON_AddItemToObject(o, "me", user_obj(w->user_id, w->user, false));
	cJSON *users = cJSON_AddObjectToObject(o, "users");
	cJSON_AddItemToObject(users, w->user_id, user_obj(w->user_id, w->user, false));
	cJSON_AddItemToObject(users, w->bot_id, user_obj(w->bot_id, w->bot_name, true));
	cJSON_AddNumberToObject(o, "now", (double)w->last_ms);
	cJSON *arr = cJSON_AddArrayToObject(o, "posts");
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, post_json(w, v[i]));
	free(v);
	set_json(resp, 200, o);
}

static cJSON *parse_body(const struct sr_http_req *req, struct sr_http_resp *resp)
{
	cJSON *b = cJSON_ParseWithLength(req->body, req->body_len);
	if (!cJSON_IsObject(b)) {
		cJSON_Delete(b);
		set_error(resp, 400, "the body must be a JSON object");
		return NULL;
	}
	return b;
}

static void route_post(void *data, const struct sr_http_req *req, struct sr_http_resp *resp)
{
	struct sr_webchat *w = data;
	if (!guard(w, req, resp, true))
		return;
	cJSON *b = parse_body(req, resp);
	if (!b)
		return;
	const char *msg = jstr(b, "message"), *root = jstr(b, "root_id");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(b, "root_id");
	if (!msg || !msg[strspn(msg, " \t\r\n")] || (r && !cJSON_IsString(r) && !cJSON_IsNull(r))) {
		cJSON_Delete(b);
		set_error(resp, 400, "message (a non-empty string) is required; root_id is a post id");
		return;
	}
	int st;
	const char *why = "";
	struct wc_post *p = store_post(w, w->user_id, root, msg, NULL, &st, &why);
	cJSON_Delete(b);
	if (!p) {
		set_error(resp, st, why);
		return;
	}
	set_json(resp, 201, post_json(w, p));
	announce_created(w, p);
}

/* The clicked action in the post's attachments. */
static const cJSON *find_action(const struct wc_post *p, const char *id)
{
	const cJSON *a, *act;
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(p->props, "attachments"))
		cJSON_ArrayForEach(act, cJSON_GetObjectItemCaseSensitive(a, "actions"))
		{
			const char *aid = jstr(act, "id");
			if (aid && !strcmp(aid, id))
				return act;
		}
	return NULL;
}

/* The integration's answer applied as Mattermost's DoPostAction does. */
static void apply_update(struct sr_webchat *w, struct wc_post *p, const cJSON *update)
{
	const cJSON *up = cJSON_GetObjectItemCaseSensitive(update, "props");
	cJSON *props = NULL;
	if (cJSON_IsObject(up)) {
		/* replaces all props, but these keep the original's value */
		static const char *const retain[] = {"from_webhook", "override_username",
						     "override_icon_url", NULL};
		props = cJSON_Duplicate(up, true);
		for (size_t i = 0; props && retain[i]; i++) {
			cJSON_DeleteItemFromObjectCaseSensitive(props, retain[i]);
			const cJSON *o = cJSON_GetObjectItemCaseSensitive(p->props, retain[i]);
			if (o)
				cJSON_AddItemToObject(props, retain[i], cJSON_Duplicate(o, true));
		}
	}
	const char *m = jstr(update, "message");
	update_post(w, p, m ? m : "", props); /* an omitted message clears the text */
}

static void route_click(void *data, const struct sr_http_req *req, struct sr_http_resp *resp)
{
	struct sr_webchat *w = data;
	if (!guard(w, req, resp, true))
		return;
	cJSON *b = parse_body(req, resp);
	if (!b)
		return;
	char pid[ID_LEN + 1] = "";
	const char *given = jstr(b, "post_id");
	if (given && strlen(given) == ID_LEN)
		memcpy(pid, given, ID_LEN + 1);
	const char *aid = jstr(b, "action_id");
	struct wc_post *p = find_post(w, pid);
	const cJSON *act = p && aid ? find_action(p, aid) : NULL;
	const cJSON *integ = cJSON_GetObjectItemCaseSensitive(act, "integration");
	if (!act || !cJSON_IsObject(integ)) {
		cJSON_Delete(b);
		set_error(resp, act ? 400 : 404, act ? "the button has no integration" : "no such post or button");
		return;
	}
	/* PostActionIntegrationRequest, with the context only the store knows */
	char trigger[ID_LEN + 1];
	new_id(trigger);
	cJSON *ir = cJSON_CreateObject();
	cJSON_AddStringToObject(ir, "user_id", w->user_id);
	cJSON_AddStringToObject(ir, "user_name", w->user);
	cJSON_AddStringToObject(ir, "channel_id", w->channel_id);
	cJSON_AddStringToObject(ir, "channel_name", CHANNEL_NAME);
	cJSON_AddStringToObject(ir, "team_id", w->team_id);
	cJSON_AddStringToObject(ir, "team_domain", TEAM_NAME);
	cJSON_AddStringToObject(ir, "post_id", p->id);
	cJSON_AddStringToObject(ir, "trigger_id", trigger);
	cJSON_AddStringToObject(ir, "type", jstr(act, "type") ? jstr(act, "type") : "");
	cJSON_AddStringToObject(ir, "data_source", "");
	const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(integ, "context");
	if (ctx)
		cJSON_AddItemToObject(ir, "context", cJSON_Duplicate(ctx, true));
	char *body = cJSON_PrintUnformatted(ir);
	cJSON_Delete(ir);
	cJSON_Delete(b);
	char *reply = NULL;
	int st = body ? mm_bot_on_action(w->bot, body, strlen(body), &reply) : 500;
	free(body);
	cJSON *rj = reply && *reply ? cJSON_Parse(reply) : NULL;
	if (st != 200 || (reply && *reply && !rj)) {
		/* Mattermost: api.post.do_action.action_integration.app_error */
		free(reply);
		cJSON_Delete(rj);
		set_error(resp, 400, "the button's integration failed");
		return;
	}
	free(reply);
	p = find_post(w, pid); /* the bot may have posted meanwhile, dropping the oldest */
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "status", "OK");
	cJSON_AddStringToObject(out, "trigger_id", trigger);
	const cJSON *update = cJSON_GetObjectItemCaseSensitive(rj, "update");
	if (p && cJSON_IsObject(update))
		apply_update(w, p, update);
	const char *eph = jstr(rj, "ephemeral_text");
	if (p && eph && *eph) {
		/* an ephemeral post for the clicker in the thread: pushed, not stored */
		struct wc_post e = {0};
		new_id(e.id);
		snprintf(e.user_id, sizeof(e.user_id), "%s", w->bot_id);
		snprintf(e.root_id, sizeof(e.root_id), "%s", p->root_id[0] ? p->root_id : p->id);
		e.message = (char *)eph;
		e.props = cJSON_CreateObject();
		e.create_at = e.update_at = stamp(w);
		cJSON *ej = post_json(w, &e);
		cJSON_ReplaceItemInObjectCaseSensitive(ej, "type", cJSON_CreateString("system_ephemeral"));
		ws_broadcast(w, "ephemeral_message", ej);
		cJSON_AddItemToObject(out, "ephemeral", ej);
		cJSON_Delete(e.props);
	}
	cJSON_Delete(rj);
	set_json(resp, 200, out);
	ws_sessions_changed(w);
}

/* The last AUDIT_TAIL records of the audit log, oldest first. */
static cJSON *audit_tail(const char *path)
{
	cJSON *a = cJSON_CreateArray();
	FILE *f = path ? fopen(path, "r") : NULL;
	if (!f)
		return a;
	char *buf = malloc(AUDIT_TAIL_BYTES + 1);
	size_t n = 0;
	if (buf && fseek(f, 0, SEEK_END) == 0) {
		long size = ftell(f);
		long from = size > AUDIT_TAIL_BYTES ? size - AUDIT_TAIL_BYTES : 0;
		if (size >= 0 && fseek(f, from, SEEK_SET) == 0)
			n = fread(buf, 1, AUDIT_TAIL_BYTES, f);
		buf[n] = '\0';
		char *lines[AUDIT_TAIL];
		size_t k = 0;
		/* the first line may be cut by the seek: skip it unless at 0 */
		char *p = buf;
		if (from > 0) {
			p = strchr(buf, '\n');
			p = p ? p + 1 : buf + n;
		}
		char *save = NULL;
		for (char *line = strtok_r(p, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (k == AUDIT_TAIL) {
				memmove(lines, lines + 1, (AUDIT_TAIL - 1) * sizeof(*lines));
				k--;
			}
			lines[k++] = line;
		}
		for (size_t i = 0; i < k; i++) {
			cJSON *r = cJSON_Parse(lines[i]);
			if (cJSON_IsObject(r))
				cJSON_AddItemToArray(a, r);
			else
				cJSON_Delete(r);
		}
	}
	free(buf);
	fclose(f);
	return a;
}

static void route_sessions(void *data, const struct sr_http_req *req, struct sr_http_resp *resp)
{
	struct sr_webchat *w = data;
	if (!guard(w, req, resp, false))
		return;
	size_t n = sr_relay_list(w->relay, NULL, 0);
	const char **ids = calloc(n ? n : 1, sizeof(*ids));
	if (!ids) {
		set_error(resp, 500, "out of memory");
		return;
	}
	n = sr_relay_list(w->relay, ids, n);
	cJSON *saved = w->bot ? mm_bot_save(w->bot) : NULL; /* for each session's thread */
	cJSON *pending = sr_webchat_pending_json(w);
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "sessions");
	for (size_t i = 0; i < n; i++) {
		struct sr_relay_info in;
		if (sr_relay_info(w->relay, ids[i], &in) < 0)
			continue;
		cJSON *s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "id", in.id);
		cJSON_AddStringToObject(s, "project", in.project ? in.project : "");
		cJSON_AddStringToObject(s, "host", in.host ? in.host : "");
		cJSON_AddStringToObject(s, "owner", in.owner ? in.owner : "");
		cJSON_AddStringToObject(s, "state", sr_rstate_name(in.state));
		cJSON_AddNumberToObject(s, "created", (double)in.created);
		cJSON_AddNumberToObject(s, "cols", in.cols);
		cJSON_AddNumberToObject(s, "rows", in.rows);
		const cJSON *t;
		cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(saved, "threads"))
		{
			const char *sid = jstr(t, "session"), *root = jstr(t, "root");
			if (sid && root && !strcmp(sid, in.id))
				cJSON_AddStringToObject(s, "thread", root);
		}
		cJSON *pa = cJSON_AddArrayToObject(s, "pending");
		const cJSON *x;
		cJSON_ArrayForEach(x, pending)
		{
			const char *sid = jstr(x, "session");
			if (sid && !strcmp(sid, in.id))
				cJSON_AddItemToArray(pa, cJSON_Duplicate(x, true));
		}
		cJSON_AddItemToArray(arr, s);
	}
	free(ids);
	cJSON_Delete(saved);
	cJSON_AddItemToObject(o, "pending", pending);
	cJSON_AddBoolToObject(o, "audit_enabled", w->cfg->audit_log != NULL);
	cJSON_AddItemToObject(o, "audit", audit_tail(w->cfg->audit_log));
	set_json(resp, 200, o);
}

/* ---- the page's WebSocket ------------------------------------------------------------------- */

static int ws_open(void *data, struct sr_http_ws *ws, const struct sr_http_req *req)
{
	struct sr_webchat *w = data;
	char tok[256];
	/* browsers cannot set headers on a WebSocket: the cookie, or ?token= */
	bool ok = authorized(w, req) || (w->token && sr_http_req_arg(req, "token", tok, sizeof(tok)) == 0 &&
					 ct_equal(tok, w->token));
	if (!ok || !host_ok(w, req) || !origin_ok(req) || w->nws == MAX_WS)
		return -1;
	w->ws[w->nws++] = ws;
	sr_http_ws_set_user(ws, w); /* on_close finds us through it, or not at all */
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "event", "hello");
	cJSON_AddNumberToObject(o, "now", (double)w->last_ms);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s)
		sr_http_ws_send(ws, s, strlen(s), false);
	free(s);
	return 0;
}

static void ws_message(void *data, struct sr_http_ws *ws, const char *msg, size_t len, bool binary)
{
	(void)data;
	if (!binary && len == 4 && !memcmp(msg, "ping", 4))
		sr_http_ws_send(ws, "{\"event\":\"pong\"}", 16, false);
}

static void ws_closed(void *data, struct sr_http_ws *ws)
{
	(void)data; /* may be gone: sr_http_free closes sockets after sr_webchat_free */
	struct sr_webchat *w = sr_http_ws_user(ws);
	for (size_t i = 0; w && i < w->nws; i++)
		if (w->ws[i] == ws) {
			w->ws[i] = w->ws[--w->nws];
			return;
		}
}

/* ---- life ----------------------------------------------------------------------------------- */

static const struct {
	const char *method, *path;
	sr_http_handler fn;
	bool chat; /* not in the operator's view */
} ROUTES[] = {
	{"GET", "/", route_page, false},
	{"GET", "/app.js", route_js, false},
	{"GET", "/app.css", route_css, false},
	{"GET", "/api/posts", route_posts, false},
	{"POST", "/api/post", route_post, true},
	{"POST", "/api/click", route_click, true},
	{"GET", "/api/sessions", route_sessions, false},
};

/* What the routes answer once the web chat is gone (the listener may
 * outlive it a little). */
static void route_gone(void *data, const struct sr_http_req *req, struct sr_http_resp *resp)
{
	(void)data;
	(void)req;
	set_error(resp, 503, "the web chat has stopped");
}

static bool plain_name(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 64 || s[0] == '-' || s[0] == '.')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("._-", *s)))
			return false;
	return true;
}

static bool user_allowed(const struct sr_config *cfg, const char *user)
{
	for (size_t i = 0; i < cfg->nallowed_users; i++) {
		const char *a = cfg->allowed_users[i];
		if (!strcasecmp(a[0] == '@' ? a + 1 : a, user))
			return true;
	}
	return false;
}

int sr_webchat_new(const struct sr_webchat_opts *o, struct sr_webchat **out, char *err,
		   size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	*out = NULL;
	if (!o || !o->loop || !o->cfg || !o->relay || !o->fw || !o->http) {
		snprintf(err, errlen, "web chat: needs the loop, the config, the relay, the firewall "
				      "and the HTTP listener");
		return -EINVAL;
	}
	const char *user = o->user ? o->user : "you";
	if (!plain_name(user)) {
		snprintf(err, errlen, "web chat: the user name '%.64s' must be letters, digits, '.', '_' or '-'", user);
		return -EINVAL;
	}
	if (o->token && (strlen(o->token) < 16 || strlen(o->token) > 128 || !plain_name(o->token))) {
		snprintf(err, errlen, "web chat: the token must be 16 to 128 letters, digits, '.', '_' or '-'");
		return -EINVAL;
	}
	struct sr_webchat *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->loop = o->loop;
	w->cfg = o->cfg;
	w->relay = o->relay;
	w->fw = o->fw;
	w->http = o->http;
	w->loopback = listen_loopback(o->cfg->listen_addr);
	const char *trig = o->cfg->bot_trigger ? o->cfg->bot_trigger : "@claude";
	w->user = strdup(user);
	w->bot_name = strdup(trig[0] == '@' && trig[1] ? trig + 1 : trig);
	int rc = w->user && w->bot_name ? 0 : -ENOMEM;
	if (rc == 0 && o->token) {
		rc = (w->token = strdup(o->token)) ? 0 : -ENOMEM;
	} else if (rc == 0 && !w->loopback) {
		unsigned char r[16];
		rc = getrandom(r, sizeof(r), 0) == (ssize_t)sizeof(r) ? 0 : -EIO;
		if (rc == 0 && !(w->token = malloc(33)))
			rc = -ENOMEM;
		for (size_t i = 0; rc == 0 && i < sizeof(r); i++)
			snprintf(w->token + 2 * i, 3, "%02x", r[i]);
	}
	if (rc == 0 && w->token) {
		size_t n = strlen(w->token) + 64;
		if ((w->cookie = malloc(n)))
			snprintf(w->cookie, n, COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict", w->token);
		else
			rc = -ENOMEM;
	}
	new_id(w->user_id);
	new_id(w->bot_id);
	new_id(w->channel_id);
	new_id(w->team_id);
	char cb_url[300];
	/* the buttons' integration URL: never called over HTTP (clicks reach
	 * the bot in process) and never shown to the page */
	snprintf(cb_url, sizeof(cb_url), "http://127.0.0.1:%u/webchat/action", sr_http_port(o->http));
	struct mm_bot_opts bo = {
		.trigger = o->cfg->bot_trigger,
		.bot_user_id = w->bot_id,
		.allowed_users = (const char *const *)o->cfg->allowed_users,
		.callback_url = cb_url,
		.approvers = (const char *const *)o->cfg->approvers,
		.approval_ttl_s = o->cfg->approval_ttl_s,
	};
	w->link = (struct sr_bot_link){.relay = w->relay, .fw = w->fw,
				       .deny_reason = "denied in the web chat", .rest = web_rest,
				       .rest_ctx = w, .changed = link_changed, .changed_data = w};
	sr_bot_io_fill(&bo.io, &w->link);
	w->chat = o->chat;
	if (rc == 0 && !w->chat)
		rc = mm_bot_new(&bo, &w->bot, err, errlen);
	if (rc == 0 && w->bot)
		rc = sr_loop_timer(o->loop, 10000, tick_cb, w, &w->tick);
	for (size_t i = 0; rc == 0 && i < sizeof(ROUTES) / sizeof(ROUTES[0]); i++) {
		if (ROUTES[i].chat && !w->bot)
			continue;
		rc = sr_http_route(o->http, ROUTES[i].method, ROUTES[i].path, ROUTES[i].fn, w);
		w->routed = rc == 0;
	}
	if (rc == 0) {
		struct sr_http_ws_ops ops = {.on_open = ws_open, .on_message = ws_message, .on_close = ws_closed};
		rc = sr_http_ws_route(o->http, "/ws", &ops, w);
	}
	if (rc == 0) {
		w->hooks = (struct sr_relay_hooks){.on_op = hook_op, .on_state = hook_state, .data = w};
		rc = sr_relay_add_hooks(o->relay, &w->hooks);
		w->hooked = rc == 0;
	}
	if (rc < 0) {
		if (!err[0])
			snprintf(err, errlen, "web chat: %s", strerror(-rc));
		sr_webchat_free(w);
		return rc;
	}
	if (w->bot && !user_allowed(o->cfg, w->user))
		sr_log(SR_LOG_WARN, "web chat: %s is not in SM_ALLOWED_USERS: the bot will not take their commands",
		       w->user);
	*out = w;
	return 0;
}

void sr_webchat_free(struct sr_webchat *w)
{
	if (!w)
		return;
	if (w->hooked)
		sr_relay_remove_hooks(w->relay, &w->hooks);
	for (size_t i = 0; w->routed && i < sizeof(ROUTES) / sizeof(ROUTES[0]); i++)
		if (!ROUTES[i].chat || w->bot)
			sr_http_route(w->http, ROUTES[i].method, ROUTES[i].path, route_gone, NULL);
	if (w->tick)
		sr_timer_cancel(w->tick);
	sr_loop_defer_cancel(w->loop, dispatch, w);
	/* calls still queued are answered "cancelled", so the bot releases
	 * what it keeps for them; events are dropped */
	for (int round = 0; w->head && round < 8; round++) {
		struct wc_job *list = w->head;
		w->head = w->tail = NULL;
		while (list) {
			struct wc_job *j = list;
			list = j->next;
			if (!j->event && j->cb)
				j->cb(j->data, -ECANCELED, 0, NULL, "shutting down");
			job_free(j);
		}
	}
	sr_loop_defer_cancel(w->loop, dispatch, w);
	for (struct wc_job *j = w->head, *n; j; j = n) {
		n = j->next;
		job_free(j);
	}
	mm_bot_free(w->bot);
	/* open WebSockets are closed by sr_http_free, whose on_close must not
	 * find us: forget them */
	for (size_t i = 0; i < w->nws; i++)
		sr_http_ws_set_user(w->ws[i], NULL);
	for (size_t i = 0; i < w->nposts; i++)
		post_free(w->posts[i]);
	free(w->posts);
	free(w->user);
	free(w->bot_name);
	free(w->token);
	free(w->cookie);
	free(w);
}

const char *sr_webchat_token(const struct sr_webchat *w)
{
	return w ? w->token : NULL;
}

int sr_webchat_decide(struct sr_webchat *w, const char *request, int approve, const char *user,
		      char *msg, size_t len)
{
	int rc = w->bot ? mm_bot_decide(w->bot, request, approve != 0, user, msg, len)
			: sr_chat_decide(w->chat, request, approve, user, msg, len);
	ws_sessions_changed(w);
	return rc;
}

cJSON *sr_webchat_pending_json(const struct sr_webchat *w)
{
	if (w && w->bot)
		return mm_bot_pending_json(w->bot);
	return w && w->chat ? sr_chat_pending_json(w->chat) : cJSON_CreateArray();
}
