/* mm_bot.c — commands, session threads, transcript posts and approval cards
 * (see mm_bot.h). */
#include "mm_bot.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mm_render.h"

#define SEEN_MAX 1024    /* post ids remembered against duplicates */
#define SECRET_HEX 32    /* 128-bit card secrets */

struct card {
	char rid[17];                 /* request id (hex) */
	char secret[SECRET_HEX + 1];
	char *host;
	char *post_id;                /* NULL until created */
	bool decided;
	bool applying;                /* approved, the firewall is working */
	int64_t created_ms;           /* wall clock, for expiry */
	char *context;                /* the card's code block, for updates */
};

struct thread {
	char *session;
	char *channel, *root;
	char *owner;
	char *owner_id;
	char **owed;         /* verdicts to type once the session is reattached */
	size_t nowed;
	char **invited;
	size_t ninvited;
	char *live_id;       /* the live post, NULL when the next live text starts one */
	char *live_text;     /* the newest live text not yet written, NULL when none */
	char **hist;         /* committed lines waiting to be written: merged chunks */
	size_t nhist;
	bool busy;           /* a create or a history write is on its way */
	bool sealed;         /* a seal came while a live create was on its way */
	struct card **cards;
	size_t ncards;
	bool ended;
};

struct chan_seen {
	char *channel;
	int64_t last_ms;
};

struct mm_bot {
	char *trigger, *bot_id, *callback_url;
	char **allowed;
	size_t nallowed;
	unsigned long n_approved, n_denied, n_failed, n_expired; /* for metrics */
	char **approvers; /* empty: each session's owner decides */
	size_t napprovers;
	int64_t ttl_ms;
	struct mm_bot_io io;
	struct thread **th;
	size_t nth;
	char *seen[SEEN_MAX];
	size_t seen_next;
	struct chan_seen *chans;
	size_t nchans;
};

/* ---- small helpers -------------------------------------------------------- */

static char *dupn(const char *s)
{
	return s ? strdup(s) : NULL;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool seen_post(struct mm_bot *b, const char *id)
{
	for (size_t i = 0; i < SEEN_MAX; i++)
		if (b->seen[i] && !strcmp(b->seen[i], id))
			return true;
	free(b->seen[b->seen_next]);
	b->seen[b->seen_next] = strdup(id);
	b->seen_next = (b->seen_next + 1) % SEEN_MAX;
	return false;
}

static void note_channel(struct mm_bot *b, const char *channel, int64_t t)
{
	for (size_t i = 0; i < b->nchans; i++)
		if (!strcmp(b->chans[i].channel, channel)) {
			if (t > b->chans[i].last_ms)
				b->chans[i].last_ms = t;
			return;
		}
	struct chan_seen *n = realloc(b->chans, (b->nchans + 1) * sizeof(*n));
	if (!n)
		return;
	b->chans = n;
	b->chans[b->nchans].channel = strdup(channel);
	b->chans[b->nchans].last_ms = t;
	if (b->chans[b->nchans].channel)
		b->nchans++;
}

static bool same_user(const char *a, const char *b)
{
	if (a[0] == '@')
		a++;
	if (b[0] == '@')
		b++;
	return strcasecmp(a, b) == 0;
}

static bool allowed(const struct mm_bot *b, const char *uid, const char *name)
{
	for (size_t i = 0; i < b->nallowed; i++)
		if ((uid && !strcmp(b->allowed[i], uid)) || (name && same_user(b->allowed[i], name)))
			return true;
	return false;
}

static bool may_type(const struct mm_bot *b, const struct thread *t, const char *uid,
		     const char *name)
{
	if (allowed(b, uid, name))
		return true;
	if (name && t->owner && same_user(t->owner, name))
		return true;
	for (size_t i = 0; name && i < t->ninvited; i++)
		if (same_user(t->invited[i], name))
			return true;
	return false;
}

/* SM_APPROVERS when set, else the session's owner. */
static bool may_decide(const struct mm_bot *b, const struct thread *t, const char *uid,
		       const char *name)
{
	if (b->napprovers) {
		for (size_t i = 0; i < b->napprovers; i++)
			if ((uid && !strcmp(b->approvers[i], uid)) ||
			    (name && same_user(b->approvers[i], name)))
				return true;
		return false;
	}
	return (uid && t->owner_id && !strcmp(t->owner_id, uid)) ||
	       (name && t->owner && same_user(t->owner, name));
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "15:40 UTC" for a decision's footer. */
static void hhmm(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d UTC", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min);
}

static struct thread *thread_by_session(struct mm_bot *b, const char *s)
{
	for (size_t i = 0; i < b->nth; i++)
		if (!strcmp(b->th[i]->session, s))
			return b->th[i];
	return NULL;
}

static struct thread *thread_by_root(struct mm_bot *b, const char *root)
{
	for (size_t i = 0; root && *root && i < b->nth; i++)
		if (!b->th[i]->ended && !strcmp(b->th[i]->root, root))
			return b->th[i];
	return NULL;
}

static void card_free(struct card *c)
{
	if (!c)
		return;
	free(c->context);
	free(c->host);
	free(c->post_id);
	free(c);
}

static void thread_free(struct thread *t)
{
	free(t->session);
	free(t->channel);
	free(t->root);
	free(t->owner);
	free(t->owner_id);
	for (size_t i = 0; i < t->nowed; i++)
		free(t->owed[i]);
	free(t->owed);
	for (size_t i = 0; i < t->ninvited; i++)
		free(t->invited[i]);
	free(t->invited);
	free(t->live_id);
	free(t->live_text);
	for (size_t i = 0; i < t->nhist; i++)
		free(t->hist[i]);
	free(t->hist);
	for (size_t i = 0; i < t->ncards; i++)
		card_free(t->cards[i]);
	free(t->cards);
	free(t);
}

static struct thread *thread_add(struct mm_bot *b, const char *session, const char *channel,
				 const char *root, const char *owner)
{
	struct thread *t = calloc(1, sizeof(*t));
	struct thread **n = realloc(b->th, (b->nth + 1) * sizeof(*n));
	if (!t || !n) {
		free(t);
		if (n)
			b->th = n;
		return NULL;
	}
	b->th = n;
	t->session = dupn(session);
	t->channel = dupn(channel);
	t->root = dupn(root);
	t->owner = dupn(owner);
	if (!t->session || !t->channel || !t->root || (owner && !t->owner)) {
		thread_free(t);
		return NULL;
	}
	b->th[b->nth++] = t;
	return t;
}

/* ---- posting ------------------------------------------------------------------ */

static long post(struct mm_bot *b, const char *channel, const char *root, const char *message,
		 cJSON *props, int prio, mm_bot_rest_cb cb, void *data)
{
	cJSON *o = cJSON_CreateObject();
	if (!o) {
		cJSON_Delete(props);
		return -ENOMEM;
	}
	cJSON_AddStringToObject(o, "channel_id", channel);
	if (root && *root)
		cJSON_AddStringToObject(o, "root_id", root);
	cJSON_AddStringToObject(o, "message", message);
	if (props)
		cJSON_AddItemToObject(o, "props", props);
	long h = b->io.rest(b->io.ctx, "POST", "/api/v4/posts", o, prio, NULL, cb, data);
	cJSON_Delete(o);
	return h;
}

static void reply(struct mm_bot *b, const char *channel, const char *root, const char *msg)
{
	post(b, channel, root, msg, NULL, MM_BOT_PRIO_REPLY, NULL, NULL);
}

/* Patches a post's message (coalesced per post: the newest text wins). */
static void patch(struct mm_bot *b, const char *post_id, const char *msg, int prio,
		  mm_bot_rest_cb cb, void *data)
{
	char path[128], key[96];
	snprintf(path, sizeof(path), "/api/v4/posts/%s/patch", post_id);
	snprintf(key, sizeof(key), "patch:%s", post_id);
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return;
	cJSON_AddStringToObject(o, "message", msg);
	b->io.rest(b->io.ctx, "PUT", path, o, prio, key, cb, data);
	cJSON_Delete(o);
}

/* The transcript writer, one per thread. Posts must reach the thread in
 * order and the REST budget is shared by every session, so each thread has
 * at most ONE create or history write on its way; what arrives meanwhile
 * waits here: committed lines are merged into chunks (each under the
 * message cap, fence included) and only the newest live text is kept.
 * When the way is free: history first (the live post, if there is one,
 * becomes the history post; else a new post), then the live text (a patch
 * of the live post, coalesced per post, or a new live post). So a busy
 * thread costs about two calls per flush, however many commits came. */

struct tref {
	struct mm_bot *b;
	char session[64];
	bool live; /* a live post's create: its id becomes the live post */
};

static struct tref *tref_new(struct mm_bot *b, const char *session)
{
	struct tref *r = calloc(1, sizeof(*r));
	if (r) {
		r->b = b;
		snprintf(r->session, sizeof(r->session), "%s", session);
	}
	return r;
}

static void pump(struct mm_bot *b, struct thread *t);

static void written(void *data, int rc, long status, const cJSON *resp, const char *msg)
{
	(void)status;
	(void)msg;
	struct tref *r = data;
	struct thread *t = thread_by_session(r->b, r->session);
	if (t) {
		t->busy = false;
		const char *id = rc == 0 ? jstr(resp, "id") : NULL;
		if (r->live && id && !t->live_id && !t->sealed)
			t->live_id = strdup(id);
		t->sealed = false;
		pump(r->b, t);
	}
	free(r);
}

static void pump(struct mm_bot *b, struct thread *t)
{
	if (t->busy)
		return;
	struct tref *r = NULL;
	if (t->nhist) {
		char *text = t->hist[0];
		memmove(t->hist, t->hist + 1, (t->nhist - 1) * sizeof(*t->hist));
		t->nhist--;
		char *msg = NULL;
		const char *one[] = {text};
		int rc = mm_render_code(one, 1, &msg);
		free(text);
		if (rc < 0)
			return;
		r = tref_new(b, t->session);
		if (!r) {
			free(msg);
			return;
		}
		long h;
		if (t->live_id) {
			/* the live post becomes history; the next live text starts anew */
			char path[128], key[96];
			snprintf(path, sizeof(path), "/api/v4/posts/%s/patch", t->live_id);
			snprintf(key, sizeof(key), "patch:%s", t->live_id);
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "message", msg);
			h = b->io.rest(b->io.ctx, "PUT", path, o, MM_BOT_PRIO_HISTORY, key, written, r);
			cJSON_Delete(o);
			free(t->live_id);
			t->live_id = NULL;
		} else {
			h = post(b, t->channel, t->root, msg, NULL, MM_BOT_PRIO_HISTORY, written, r);
		}
		free(msg);
		if (h > 0)
			t->busy = true;
		else
			free(r);
		return;
	}
	if (!t->live_text)
		return;
	char *msg = NULL;
	int rc = mm_render_screen(t->live_text, MM_MESSAGE_CAP, &msg);
	free(t->live_text);
	t->live_text = NULL;
	if (rc < 0)
		return;
	if (t->live_id) {
		patch(b, t->live_id, msg, MM_BOT_PRIO_LIVE, NULL, NULL);
	} else if ((r = tref_new(b, t->session))) {
		r->live = true;
		/* created at history priority: it must come after the history */
		if (post(b, t->channel, t->root, msg, NULL, MM_BOT_PRIO_HISTORY, written, r) > 0)
			t->busy = true;
		else
			free(r);
	}
	free(msg);
}

static void show_live(struct mm_bot *b, struct thread *t, const char *text)
{
	char *copy = strdup(text);
	if (!copy)
		return;
	free(t->live_text);
	t->live_text = copy;
	pump(b, t);
}

static void show_commit(struct mm_bot *b, struct thread *t, const char *const *lines, size_t n)
{
	if (!n)
		return;
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += strlen(lines[i]) + 1;
	char *text = malloc(len + 1);
	if (!text)
		return;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(lines[i]);
		memcpy(text + k, lines[i], l);
		k += l;
		if (i + 1 < n)
			text[k++] = '\n';
	}
	text[k] = '\0';
	/* merge into the last waiting chunk while the message stays under the
	 * cap (fences of up to 16 backticks and their newlines included) */
	if (t->nhist) {
		char *last = t->hist[t->nhist - 1];
		if (mm_runes(last) + mm_runes(text) + 1 + 40 <= MM_MESSAGE_CAP) {
			size_t ll = strlen(last);
			char *m = realloc(last, ll + 1 + k + 1);
			if (m) {
				m[ll] = '\n';
				memcpy(m + ll + 1, text, k + 1);
				t->hist[t->nhist - 1] = m;
				free(text);
				pump(b, t);
				return;
			}
		}
	}
	char **nh = realloc(t->hist, (t->nhist + 1) * sizeof(*nh));
	if (!nh) {
		free(text);
		return;
	}
	t->hist = nh;
	t->hist[t->nhist++] = text;
	pump(b, t);
}

static void seal_live(struct mm_bot *b, struct thread *t)
{
	/* the live post keeps its text; the next live text starts a new post
	 * (a create in flight completes as the live post and is sealed by
	 * the next seal or commit) */
	if (t->live_text)
		pump(b, t);
	if (t->busy)
		t->sealed = true; /* the post on its way will not be the live one */
	free(t->live_id);
	t->live_id = NULL;
}

/* ---- approval cards --------------------------------------------------------- */

static void hex(const unsigned char *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static cJSON *button(const char *id, const char *name, const char *style, const char *url,
		     const struct card *c)
{
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "id", id);
	cJSON_AddStringToObject(a, "type", "button");
	cJSON_AddStringToObject(a, "name", name);
	cJSON_AddStringToObject(a, "style", style);
	cJSON *in = cJSON_AddObjectToObject(a, "integration");
	cJSON_AddStringToObject(in, "url", url);
	cJSON *ctx = cJSON_AddObjectToObject(in, "context");
	cJSON_AddStringToObject(ctx, "request", c->rid);
	cJSON_AddStringToObject(ctx, "secret", c->secret);
	cJSON_AddStringToObject(ctx, "action", id);
	return a;
}

/* The card's props: one attachment; buttons only while undecided. */
static cJSON *card_props(const struct mm_bot *b, const struct card *c, const char *context,
			 const char *outcome)
{
	if (!context)
		context = c->context;
	cJSON *props = cJSON_CreateObject();
	cJSON *atts = cJSON_AddArrayToObject(props, "attachments");
	cJSON *a = cJSON_CreateObject();
	cJSON_AddItemToArray(atts, a);
	char *h = NULL;
	mm_render_inline(c->host, &h);
	char title[400];
	snprintf(title, sizeof(title), "Network access requested: %s", h ? h : "?");
	free(h);
	cJSON_AddStringToObject(a, "fallback", title);
	cJSON_AddStringToObject(a, "title", title);
	cJSON_AddStringToObject(a, "color", !outcome ? "#f9a825"
					    : strstr(outcome, "Approved") ? "#2e7d32"
					    : strstr(outcome, "Approving") ? "#1565c0"
									  : "#b71c1c");
	if (context)
		cJSON_AddStringToObject(a, "text", context);
	if (outcome)
		cJSON_AddStringToObject(a, "footer", outcome);
	if (!c->decided && !c->applying) {
		/* still actionable (new, or the firewall failed: try again) */
		cJSON *acts = cJSON_AddArrayToObject(a, "actions");
		cJSON_AddItemToArray(acts, button("approve", "Approve", "primary", b->callback_url, c));
		cJSON_AddItemToArray(acts, button("deny", "Deny", "danger", b->callback_url, c));
	}
	return props;
}

struct cref {
	struct mm_bot *b;
	char session[64];
	char rid[17];
	char user[80];
};

static struct card *find_card(struct mm_bot *b, const char *rid, struct thread **tt)
{
	for (size_t i = 0; i < b->nth; i++)
		for (size_t j = 0; j < b->th[i]->ncards; j++)
			if (!strcmp(b->th[i]->cards[j]->rid, rid)) {
				if (tt)
					*tt = b->th[i];
				return b->th[i]->cards[j];
			}
	return NULL;
}

static void card_created(void *data, int rc, long status, const cJSON *resp, const char *msg)
{
	(void)status;
	(void)msg;
	struct cref *r = data;
	struct card *c = find_card(r->b, r->rid, NULL);
	const char *id = rc == 0 ? jstr(resp, "id") : NULL;
	if (c && id && !c->post_id)
		c->post_id = strdup(id);
	free(r);
}

/* Types a verdict into the session. While it is reconnecting the verdict
 * waits in its thread and is typed on reattach: the program is waiting
 * for it, so it must never be lost. */
static void type_marker(struct mm_bot *b, const char *session, const char *verdict,
			const char *host)
{
	char text[400];
	snprintf(text, sizeof(text), "[NETWORK_%s: %s]", verdict, host);
	if (b->io.send_text(b->io.ctx, session, text) != -ENOTCONN)
		return;
	struct thread *t = thread_by_session(b, session);
	char **n = t ? realloc(t->owed, (t->nowed + 1) * sizeof(*n)) : NULL;
	if (!n)
		return;
	t->owed = n;
	if ((t->owed[t->nowed] = strdup(text)))
		t->nowed++;
}

static void pay_owed(struct mm_bot *b, struct thread *t)
{
	if (!t->nowed)
		return;
	size_t k = 0;
	for (; k < t->nowed; k++)
		if (b->io.send_text(b->io.ctx, t->session, t->owed[k]) == -ENOTCONN)
			break;
	for (size_t i = 0; i < k; i++)
		free(t->owed[i]);
	memmove(t->owed, t->owed + k, (t->nowed - k) * sizeof(*t->owed));
	t->nowed -= k;
}

static void on_marker(struct mm_bot *b, struct thread *t, const struct vt_marker *m)
{
	char norm[300], why[300];
	int chk = b->io.check_host(b->io.ctx, m->value, norm, sizeof(norm), why, sizeof(why));
	char *h = NULL;
	mm_render_inline(m->value, &h);
	char msg[900];
	if (chk < 0) {
		char *w = NULL;
		mm_render_inline(why, &w);
		snprintf(msg, sizeof(msg), "Refused a network request for `%s`: %s", h ? h : "?",
			 w ? w : "invalid host");
		free(w);
		free(h);
		reply(b, t->channel, t->root, msg);
		b->io.deny(b->io.ctx, t->session, m->value, NULL);
		type_marker(b, t->session, "DENIED", m->value);
		return;
	}
	free(h);
	if (chk == 1) {
		type_marker(b, t->session, "APPROVED", norm);
		return;
	}
	for (size_t i = 0; i < t->ncards; i++)
		if (!t->cards[i]->decided && !strcmp(t->cards[i]->host, norm))
			return; /* one pending card per host is enough */
	struct card *c = calloc(1, sizeof(*c));
	struct card **n = realloc(t->cards, (t->ncards + 1) * sizeof(*n));
	if (!c || !n) {
		free(c);
		if (n)
			t->cards = n;
		return;
	}
	t->cards = n;
	unsigned char rnd[8 + SECRET_HEX / 2];
	if (b->io.random(b->io.ctx, rnd, sizeof(rnd)) < 0 || !(c->host = strdup(norm))) {
		card_free(c);
		return;
	}
	hex(rnd, 8, c->rid);
	hex(rnd + 8, SECRET_HEX / 2, c->secret);
	c->created_ms = wall_ms();
	t->cards[t->ncards++] = c;
	/* the lines around the marker, in a code block */
	mm_render_code(m->context, m->ncontext, &c->context);
	cJSON *props = card_props(b, c, NULL, NULL);
	struct cref *r = calloc(1, sizeof(*r));
	if (r) {
		r->b = b;
		snprintf(r->session, sizeof(r->session), "%s", t->session);
		snprintf(r->rid, sizeof(r->rid), "%s", c->rid);
	}
	if (post(b, t->channel, t->root, "", props, MM_BOT_PRIO_CARD, r ? card_created : NULL, r) < 0)
		free(r);
}

/* ---- the relay's hooks --------------------------------------------------------- */

void mm_bot_on_op(struct mm_bot *b, const char *session, const struct vt_op *op)
{
	struct thread *t = thread_by_session(b, session);
	if (!t || !op)
		return;
	switch (op->kind) {
	case VT_OP_LIVE:
		if (op->text)
			show_live(b, t, op->text);
		break;
	case VT_OP_COMMIT:
		show_commit(b, t, op->lines, op->nlines);
		break;
	case VT_OP_SEAL:
		seal_live(b, t);
		break;
	case VT_OP_MARKER:
		if (op->marker)
			on_marker(b, t, op->marker);
		break;
	case VT_OP_END:
		break;
	}
}

void mm_bot_on_state(struct mm_bot *b, const char *session, int ended, int detached,
		     const char *why)
{
	struct thread *t = thread_by_session(b, session);
	if (!t)
		return;
	char *w = NULL;
	mm_render_inline(why ? why : "", &w);
	char msg[800];
	if (ended) {
		snprintf(msg, sizeof(msg), "Session `%s` ended: %s", session, w ? w : "");
		t->ended = true;
		/* cards of an ended session cannot be acted on any more */
		for (size_t i = 0; i < t->ncards; i++)
			t->cards[i]->decided = true;
	} else if (detached) {
		snprintf(msg, sizeof(msg), "Lost the connection to the session's VM (%s); reconnecting. The session keeps running.",
			 w ? w : "");
	} else {
		snprintf(msg, sizeof(msg), "Reconnected to session `%s`.", session);
		pay_owed(b, t);
	}
	free(w);
	reply(b, t->channel, t->root, msg);
}

/* ---- commands and typed messages ------------------------------------------------ */

struct sref {
	struct mm_bot *b;
	char channel[64], root[64];
};

static void start_done(void *data, int rc, const char *id, const char *msg)
{
	struct sref *r = data;
	char *m = NULL;
	mm_render_inline(msg ? msg : "", &m);
	char text[900];
	if (rc == 0) {
		snprintf(text, sizeof(text), "Session `%s` is running. Type here to talk to it; `@claude stop` ends it.", id);
	} else {
		snprintf(text, sizeof(text), "Could not start the session: %s", m ? m : "");
		struct thread *t = id ? thread_by_session(r->b, id) : NULL;
		if (t)
			t->ended = true;
	}
	free(m);
	reply(r->b, r->channel, r->root, text);
	free(r);
}

static void stop_done(void *data, int rc, const char *id, const char *msg)
{
	(void)id;
	struct sref *r = data;
	if (rc < 0) {
		char *m = NULL;
		mm_render_inline(msg ? msg : "", &m);
		char text[600];
		snprintf(text, sizeof(text), "Could not stop the session: %s", m ? m : "");
		free(m);
		reply(r->b, r->channel, r->root, text);
	}
	free(r);
}

static void cmd_start(struct mm_bot *b, const struct mm_cmd *c, const char *channel,
		      const char *root, const char *user, const char *uid)
{
	struct sref *r = calloc(1, sizeof(*r));
	if (!r)
		return;
	r->b = b;
	snprintf(r->channel, sizeof(r->channel), "%s", channel);
	snprintf(r->root, sizeof(r->root), "%s", root);
	char id[64] = "", err[512] = "";
	int rc = b->io.start(b->io.ctx, c->argc, (const char *const *)c->argv, user, start_done, r,
			     id, err, sizeof(err));
	if (rc < 0) {
		char *m = NULL;
		mm_render_inline(err, &m);
		char text[800];
		snprintf(text, sizeof(text), "Could not start: %s", m ? m : "");
		free(m);
		reply(b, channel, root, text);
		free(r);
		return;
	}
	struct thread *t = thread_add(b, id, channel, root, user);
	if (t && uid)
		t->owner_id = strdup(uid);
	char *p = NULL;
	char words[300] = "";
	for (int i = 0; i < c->argc; i++) {
		strncat(words, i ? " " : "", sizeof(words) - strlen(words) - 1);
		strncat(words, c->argv[i], sizeof(words) - strlen(words) - 1);
	}
	mm_render_inline(words, &p);
	char text[600];
	snprintf(text, sizeof(text), "Starting `%s` for %s: session `%s`…", p ? p : "", user, id);
	free(p);
	reply(b, channel, root, text);
}

static void cmd_list(struct mm_bot *b, const char *channel, const char *root)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);
	if (!f)
		return;
	int count = 0;
	for (size_t i = 0; i < b->nth; i++) {
		struct thread *t = b->th[i];
		if (t->ended || strcmp(t->channel, channel))
			continue;
		char line[512];
		if (b->io.describe(b->io.ctx, t->session, line, sizeof(line)) < 0)
			continue;
		char *l = NULL;
		mm_render_inline(line, &l);
		fprintf(f, "- `%s` %s\n", t->session, l ? l : "");
		free(l);
		count++;
	}
	fclose(f);
	reply(b, channel, root, count ? out : "No sessions in this channel.");
	free(out);
}

static void in_thread(struct mm_bot *b, struct thread *t, const struct mm_cmd *c,
		      const char *message, const char *uid, const char *user)
{
	char err[512] = "", text[900];
	int rc;
	if (!may_type(b, t, uid, user)) {
		char *o = NULL;
		mm_render_inline(t->owner ? t->owner : "the owner", &o);
		snprintf(text, sizeof(text), "Only %s and invited users can use this session (ask `@claude invite @you`).",
			 o ? o : "");
		free(o);
		reply(b, t->channel, t->root, text);
		return;
	}
	switch (c->kind) {
	case MM_CMD_NONE:
		rc = b->io.send_text(b->io.ctx, t->session, message);
		if (rc == -ENOTCONN)
			reply(b, t->channel, t->root, "The session is reconnecting; your message was not typed. Send it again in a moment.");
		else if (rc < 0)
			reply(b, t->channel, t->root, "Could not type into the session (it has ended?).");
		return;
	case MM_CMD_STOP: {
		struct sref *r = calloc(1, sizeof(*r));
		if (!r)
			return;
		r->b = b;
		snprintf(r->channel, sizeof(r->channel), "%s", t->channel);
		snprintf(r->root, sizeof(r->root), "%s", t->root);
		rc = b->io.stop(b->io.ctx, t->session, stop_done, r, err, sizeof(err));
		if (rc < 0) {
			free(r);
			char *m = NULL;
			mm_render_inline(err, &m);
			snprintf(text, sizeof(text), "Could not stop: %s", m ? m : "");
			free(m);
			reply(b, t->channel, t->root, text);
		}
		return;
	}
	case MM_CMD_KEYS:
		rc = b->io.send_keys(b->io.ctx, t->session, c->arg, err, sizeof(err));
		if (rc < 0) {
			char *m = NULL;
			mm_render_inline(err[0] ? err : "the session is not attached right now", &m);
			snprintf(text, sizeof(text), "Keys not sent: %s", m ? m : "");
			free(m);
			reply(b, t->channel, t->root, text);
		}
		return;
	case MM_CMD_RESIZE:
		rc = b->io.resize(b->io.ctx, t->session, c->cols, c->rows);
		snprintf(text, sizeof(text), rc < 0 ? "Could not resize to %ux%u." : "Resized to %ux%u.", c->cols, c->rows);
		reply(b, t->channel, t->root, text);
		return;
	case MM_CMD_STATUS: {
		char line[512];
		if (b->io.describe(b->io.ctx, t->session, line, sizeof(line)) < 0)
			snprintf(line, sizeof(line), "ended");
		char *l = NULL;
		mm_render_inline(line, &l);
		snprintf(text, sizeof(text), "Session `%s`: %s", t->session, l ? l : "");
		free(l);
		reply(b, t->channel, t->root, text);
		return;
	}
	case MM_CMD_INVITE:
		if (!(t->owner && same_user(t->owner, user)) && !allowed(b, uid, NULL)) {
			reply(b, t->channel, t->root, "Only the session's owner can invite.");
			return;
		}
		{
			char **n = realloc(t->invited, (t->ninvited + 1) * sizeof(*n));
			if (!n)
				return;
			t->invited = n;
			if ((t->invited[t->ninvited] = strdup(c->arg)))
				t->ninvited++;
			snprintf(text, sizeof(text), "@%s can now type into this session.", c->arg);
			reply(b, t->channel, t->root, text);
		}
		return;
	default:
		return;
	}
}

static void handle_post(struct mm_bot *b, const cJSON *p, const char *sender)
{
	const char *id = jstr(p, "id"), *uid = jstr(p, "user_id"), *channel = jstr(p, "channel_id");
	const char *root = jstr(p, "root_id"), *message = jstr(p, "message"), *type = jstr(p, "type");
	if (!id || !uid || !channel || !message)
		return;
	const cJSON *ca = cJSON_GetObjectItemCaseSensitive(p, "create_at");
	const cJSON *da = cJSON_GetObjectItemCaseSensitive(p, "delete_at");
	note_channel(b, channel, cJSON_IsNumber(ca) ? (int64_t)ca->valuedouble : 0);
	if (seen_post(b, id))
		return; /* a replay or a refetch of one we handled */
	if ((type && *type) || (b->bot_id && !strcmp(uid, b->bot_id)) ||
	    (cJSON_IsNumber(da) && da->valuedouble > 0))
		return; /* system messages, our own posts, deleted posts */
	const char *user = sender && sender[0] == '@' ? sender + 1 : sender;
	struct mm_cmd c;
	if (mm_cmd_parse(b->trigger, message, &c) < 0)
		return;
	const char *thread_root = root && *root ? root : id;
	struct thread *t = thread_by_root(b, root);
	if (t) {
		if (c.kind == MM_CMD_BAD)
			reply(b, t->channel, t->root, c.err);
		else if (c.kind == MM_CMD_HELP) {
			char *h = mm_cmd_help(b->trigger);
			reply(b, channel, thread_root, h ? h : "help");
			free(h);
		} else if (c.kind == MM_CMD_START || c.kind == MM_CMD_LIST)
			reply(b, t->channel, t->root, "This thread already has a session; start new ones in the channel.");
		else
			in_thread(b, t, &c, message, uid, user);
		mm_cmd_free(&c);
		return;
	}
	if (c.kind == MM_CMD_NONE) {
		mm_cmd_free(&c);
		return; /* channel chatter */
	}
	char text[600];
	if (c.kind == MM_CMD_BAD) {
		reply(b, channel, thread_root, c.err);
	} else if (c.kind == MM_CMD_HELP) {
		char *h = mm_cmd_help(b->trigger);
		reply(b, channel, thread_root, h ? h : "help");
		free(h);
	} else if (!allowed(b, uid, user)) {
		snprintf(text, sizeof(text), "Sorry, you are not allowed to use smrelay (ask an admin to add you to SM_ALLOWED_USERS).");
		reply(b, channel, thread_root, text);
	} else if (c.kind == MM_CMD_START) {
		cmd_start(b, &c, channel, thread_root, user ? user : uid, uid);
	} else if (c.kind == MM_CMD_LIST) {
		cmd_list(b, channel, thread_root);
	} else {
		reply(b, channel, thread_root, "That command works inside a session's thread.");
	}
	mm_cmd_free(&c);
}

static void decide(struct mm_bot *b, struct thread *t, struct card *c, bool approve,
		   const char *user, char *outcome, size_t len);
static void patch_card(struct mm_bot *b, const struct card *c, const char *outcome);

/* A 👍 / 👎 on a card by an approver decides it, for servers that cannot
 * reach the relay's callback URL. */
struct rref {
	struct mm_bot *b;
	char rid[17];
	bool approve;
	char uid[64];
};

static void reaction_decide(struct mm_bot *b, const char *rid, bool approve, const char *uid,
			    const char *name)
{
	struct thread *t = NULL;
	struct card *c = find_card(b, rid, &t);
	if (!c || c->decided || c->applying || !may_decide(b, t, uid, name))
		return;
	char outcome[400];
	decide(b, t, c, approve, name ? name : uid, outcome, sizeof(outcome));
	patch_card(b, c, outcome);
}

static void reactor_known(void *data, int rc, long status, const cJSON *resp, const char *msg)
{
	(void)status;
	(void)msg;
	struct rref *r = data;
	const char *name = rc == 0 ? jstr(resp, "username") : NULL;
	if (name)
		reaction_decide(r->b, r->rid, r->approve, r->uid, name);
	free(r);
}

static void on_reaction(struct mm_bot *b, const cJSON *re)
{
	const char *uid = jstr(re, "user_id"), *post = jstr(re, "post_id"), *emoji = jstr(re, "emoji_name");
	if (!uid || !post || !emoji || (b->bot_id && !strcmp(uid, b->bot_id)))
		return;
	bool approve = !strcmp(emoji, "+1") || !strcmp(emoji, "thumbsup");
	if (!approve && strcmp(emoji, "-1") && strcmp(emoji, "thumbsdown"))
		return;
	for (size_t i = 0; i < b->nth; i++)
		for (size_t j = 0; j < b->th[i]->ncards; j++) {
			struct card *c = b->th[i]->cards[j];
			if (!c->post_id || strcmp(c->post_id, post))
				continue;
			/* approvers may be listed by name: learn the reactor's */
			struct rref *r = calloc(1, sizeof(*r));
			if (!r)
				return;
			r->b = b;
			snprintf(r->rid, sizeof(r->rid), "%s", c->rid);
			snprintf(r->uid, sizeof(r->uid), "%s", uid);
			r->approve = approve;
			char path[128];
			snprintf(path, sizeof(path), "/api/v4/users/%s", uid);
			if (b->io.rest(b->io.ctx, "GET", path, NULL, MM_BOT_PRIO_REPLY, NULL, reactor_known, r) < 0)
				free(r);
			return;
		}
}

void mm_bot_on_event(struct mm_bot *b, const char *event, const cJSON *data,
		     const cJSON *broadcast)
{
	(void)broadcast;
	if (!b || !event)
		return;
	if (!strcmp(event, "reaction_added")) {
		const char *rs = jstr(data, "reaction");
		cJSON *re = rs ? cJSON_Parse(rs) : NULL;
		if (cJSON_IsObject(re))
			on_reaction(b, re);
		cJSON_Delete(re);
		return;
	}
	if (strcmp(event, "posted"))
		return;
	const char *ps = jstr(data, "post"); /* a JSON string inside the event */
	cJSON *p = ps ? cJSON_Parse(ps) : NULL;
	if (cJSON_IsObject(p))
		handle_post(b, p, jstr(data, "sender_name"));
	cJSON_Delete(p);
}

/* ---- refetch after a gap --------------------------------------------------------- */

struct gref {
	struct mm_bot *b;
};

static int by_create(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	double cx = cJSON_GetObjectItemCaseSensitive(x, "create_at")->valuedouble;
	double cy = cJSON_GetObjectItemCaseSensitive(y, "create_at")->valuedouble;
	return cx < cy ? -1 : cx > cy;
}

static void refetched(void *data, int rc, long status, const cJSON *resp, const char *msg)
{
	(void)status;
	(void)msg;
	struct gref *r = data;
	const cJSON *posts = rc == 0 ? cJSON_GetObjectItemCaseSensitive(resp, "posts") : NULL;
	size_t n = 0, k = 0;
	const cJSON *p;
	cJSON_ArrayForEach(p, posts)
		n++;
	const cJSON **v = calloc(n ? n : 1, sizeof(*v));
	cJSON_ArrayForEach(p, posts)
		if (v && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(p, "create_at")))
			v[k++] = p;
	if (v) {
		qsort(v, k, sizeof(*v), by_create); /* in the order they were written */
		for (size_t i = 0; i < k; i++)
			handle_post(r->b, v[i], NULL);
	}
	free(v);
	free(r);
}

void mm_bot_on_gap(struct mm_bot *b)
{
	for (size_t i = 0; b && i < b->nchans; i++) {
		char path[200];
		snprintf(path, sizeof(path), "/api/v4/channels/%s/posts?since=%lld", b->chans[i].channel,
			 (long long)b->chans[i].last_ms);
		struct gref *r = calloc(1, sizeof(*r));
		if (!r)
			return;
		r->b = b;
		if (b->io.rest(b->io.ctx, "GET", path, NULL, MM_BOT_PRIO_REPLY, NULL, refetched, r) < 0)
			free(r);
	}
}

/* ---- button clicks ------------------------------------------------------------------ */

static int ct_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static char *action_reply(const struct mm_bot *b, const struct card *c, const char *outcome,
			  const char *ephemeral)
{
	cJSON *o = cJSON_CreateObject();
	if (outcome && c) {
		cJSON *u = cJSON_AddObjectToObject(o, "update");
		cJSON_AddStringToObject(u, "message", "");
		cJSON_AddItemToObject(u, "props", card_props(b, c, NULL, outcome));
	}
	if (ephemeral)
		cJSON_AddStringToObject(o, "ephemeral_text", ephemeral);
	char *t = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return t;
}

static void patch_card(struct mm_bot *b, const struct card *c, const char *outcome)
{
	if (!c->post_id)
		return;
	char path[128];
	snprintf(path, sizeof(path), "/api/v4/posts/%s/patch", c->post_id);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "props", card_props(b, c, NULL, outcome));
	b->io.rest(b->io.ctx, "PUT", path, o, MM_BOT_PRIO_CARD, NULL, NULL, NULL);
	cJSON_Delete(o);
}

static void approved(void *data, int rc, const char *msg)
{
	struct cref *r = data;
	struct thread *t = NULL;
	struct card *c = find_card(r->b, r->rid, &t);
	if (c && t) {
		char outcome[700], when[40];
		hhmm(when, sizeof(when));
		c->applying = false;
		if (rc == 0) {
			c->decided = true;
			r->b->n_approved++;
			snprintf(outcome, sizeof(outcome), "Approved by @%s at %s: %s is allowed", r->user,
				 when, c->host);
			type_marker(r->b, t->session, "APPROVED", c->host);
		} else {
			/* the firewall failed: say so, keep the card actionable */
			r->b->n_failed++;
			char *m = NULL;
			mm_render_inline(msg ? msg : "", &m);
			snprintf(outcome, sizeof(outcome), "Approval by @%s failed at %s: the firewall said %s. Try again.",
				 r->user, when, m ? m : "");
			free(m);
		}
		patch_card(r->b, c, outcome);
	}
	free(r);
}

/* The decision itself (a click, a reaction or the operator's CLI): the
 * firewall is asked (approve) or the denial recorded and typed; outcome
 * says what the card shows now. */
static void decide(struct mm_bot *b, struct thread *t, struct card *c, bool approve,
		   const char *user, char *outcome, size_t len)
{
	char when[40];
	hhmm(when, sizeof(when));
	if (!approve) {
		c->decided = true;
		b->n_denied++;
		b->io.deny(b->io.ctx, t->session, c->host, user);
		type_marker(b, t->session, "DENIED", c->host);
		snprintf(outcome, len, "Denied by @%s at %s", user ? user : "?", when);
		return;
	}
	c->applying = true;
	snprintf(outcome, len, "Approving %s (by @%s at %s)…", c->host, user ? user : "?", when);
	struct cref *r = calloc(1, sizeof(*r));
	if (!r) {
		c->applying = false;
		return;
	}
	r->b = b;
	snprintf(r->session, sizeof(r->session), "%s", t->session);
	snprintf(r->rid, sizeof(r->rid), "%s", c->rid);
	snprintf(r->user, sizeof(r->user), "%s", user ? user : "?");
	if (b->io.approve(b->io.ctx, t->session, c->host, user, approved, r) < 0) {
		free(r);
		c->applying = false;
		snprintf(outcome, len, "The firewall refused %s; it can be tried again.", c->host);
	}
}

int mm_bot_decide(struct mm_bot *b, const char *rid, bool approve, const char *user, char *msg,
		  size_t len)
{
	struct thread *t = NULL;
	struct card *c = rid ? find_card(b, rid, &t) : NULL;
	if (!c) {
		snprintf(msg, len, "no pending request %s", rid ? rid : "");
		return -ENOENT;
	}
	if (c->decided || c->applying) {
		snprintf(msg, len, "request %s was already decided", rid);
		return -EALREADY;
	}
	char outcome[400];
	decide(b, t, c, approve, user, outcome, sizeof(outcome));
	snprintf(msg, len, "%s", outcome);
	patch_card(b, c, outcome);
	return 0;
}

cJSON *mm_bot_pending_json(const struct mm_bot *b)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < b->nth; i++)
		for (size_t j = 0; j < b->th[i]->ncards; j++) {
			const struct card *c = b->th[i]->cards[j];
			if (c->decided)
				continue;
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "request", c->rid);
			cJSON_AddStringToObject(o, "host", c->host);
			cJSON_AddStringToObject(o, "session", b->th[i]->session);
			cJSON_AddItemToArray(a, o);
		}
	return a;
}

int mm_bot_on_action(struct mm_bot *b, const char *body, size_t len, char **out)
{
	*out = NULL;
	cJSON *req = cJSON_ParseWithLength(body, len);
	const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(req, "context");
	const char *rid = jstr(ctx, "request"), *secret = jstr(ctx, "secret");
	const char *action = jstr(ctx, "action");
	const char *uid = jstr(req, "user_id"), *uname = jstr(req, "user_name");
	struct thread *t = NULL;
	struct card *c = rid ? find_card(b, rid, &t) : NULL;
	int status = 200;
	if (!req) {
		status = 400;
	} else if (!c || !secret || !ct_equal(secret, c->secret) || !action ||
		   (strcmp(action, "approve") && strcmp(action, "deny"))) {
		/* forged, or a card from before a restart that lost it */
		*out = action_reply(b, NULL, NULL, "This approval request is unknown or has expired; nothing was changed.");
	} else if (!may_decide(b, t, uid, uname)) {
		*out = action_reply(b, c, NULL, b->napprovers ? "Only the configured approvers can decide network requests."
							      : "Only the session's owner can decide its network requests.");
	} else if (c->decided || c->applying) {
		*out = action_reply(b, c, NULL, "This request was already decided; nothing was changed.");
	} else {
		char outcome[400];
		decide(b, t, c, !strcmp(action, "approve"), uname ? uname : uid, outcome, sizeof(outcome));
		*out = action_reply(b, c, outcome, NULL);
	}
	cJSON_Delete(req);
	return status;
}

void mm_bot_tick(struct mm_bot *b)
{
	int64_t now = wall_ms();
	for (size_t i = 0; b && b->ttl_ms > 0 && i < b->nth; i++) {
		struct thread *t = b->th[i];
		for (size_t j = 0; j < t->ncards; j++) {
			struct card *c = t->cards[j];
			if (c->decided || c->applying || !c->created_ms || now - c->created_ms < b->ttl_ms)
				continue;
			c->decided = true;
			b->n_expired++;
			b->io.deny(b->io.ctx, t->session, c->host, "expired");
			type_marker(b, t->session, "DENIED", c->host);
			char outcome[200];
			snprintf(outcome, sizeof(outcome), "Expired: nobody decided within %lld min",
				 (long long)(b->ttl_ms / 60000));
			patch_card(b, c, outcome);
		}
	}
}

int mm_bot_set_self(struct mm_bot *b, const char *user_id)
{
	char *n = user_id ? strdup(user_id) : NULL;
	if (user_id && !n)
		return -ENOMEM;
	free(b->bot_id);
	b->bot_id = n;
	return 0;
}

void mm_bot_counts(const struct mm_bot *b, unsigned long *approved, unsigned long *denied,
		   unsigned long *failed, unsigned long *expired)
{
	*approved = b ? b->n_approved : 0;
	*denied = b ? b->n_denied : 0;
	*failed = b ? b->n_failed : 0;
	*expired = b ? b->n_expired : 0;
}

size_t mm_bot_pending(const struct mm_bot *b)
{
	size_t n = 0;
	for (size_t i = 0; b && i < b->nth; i++)
		for (size_t j = 0; j < b->th[i]->ncards; j++)
			n += !b->th[i]->cards[j]->decided;
	/* (a card being applied counts as pending until the firewall answers) */
	return n;
}

/* ---- life ---------------------------------------------------------------------------- */

int mm_bot_new(const struct mm_bot_opts *o, struct mm_bot **out, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!o || !out || !o->io.rest || !o->io.start || !o->io.send_text || !o->io.random ||
	    !o->callback_url) {
		snprintf(err, errlen, "bot: missing options");
		return -EINVAL;
	}
	struct mm_bot *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->io = o->io;
	b->trigger = strdup(o->trigger ? o->trigger : "@claude");
	b->bot_id = dupn(o->bot_user_id);
	b->callback_url = strdup(o->callback_url);
	size_t n = 0;
	while (o->allowed_users && o->allowed_users[n])
		n++;
	b->allowed = calloc(n + 1, sizeof(*b->allowed));
	int bad = !b->trigger || !b->callback_url || !b->allowed || (o->bot_user_id && !b->bot_id);
	for (size_t i = 0; !bad && i < n; i++) {
		b->allowed[i] = strdup(o->allowed_users[i]);
		bad = !b->allowed[i];
		b->nallowed += !bad;
	}
	size_t na = 0;
	while (o->approvers && o->approvers[na])
		na++;
	b->approvers = calloc(na + 1, sizeof(*b->approvers));
	bad |= !b->approvers;
	for (size_t i = 0; !bad && i < na; i++) {
		b->approvers[i] = strdup(o->approvers[i]);
		bad = !b->approvers[i];
		b->napprovers += !bad;
	}
	b->ttl_ms = o->approval_ttl_s ? (int64_t)o->approval_ttl_s * 1000 : 3600 * 1000;
	if (bad) {
		mm_bot_free(b);
		return -ENOMEM;
	}
	*out = b;
	return 0;
}

void mm_bot_free(struct mm_bot *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->nth; i++)
		thread_free(b->th[i]);
	free(b->th);
	for (size_t i = 0; i < b->nallowed; i++)
		free(b->allowed[i]);
	free(b->allowed);
	for (size_t i = 0; i < b->napprovers; i++)
		free(b->approvers[i]);
	free(b->approvers);
	for (size_t i = 0; i < SEEN_MAX; i++)
		free(b->seen[i]);
	for (size_t i = 0; i < b->nchans; i++)
		free(b->chans[i].channel);
	free(b->chans);
	free(b->trigger);
	free(b->bot_id);
	free(b->callback_url);
	free(b);
}

cJSON *mm_bot_save(const struct mm_bot *b)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *ths = cJSON_AddArrayToObject(o, "threads");
	for (size_t i = 0; i < b->nth; i++) {
		const struct thread *t = b->th[i];
		if (t->ended)
			continue;
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "session", t->session);
		cJSON_AddStringToObject(x, "channel", t->channel);
		cJSON_AddStringToObject(x, "root", t->root);
		if (t->owner)
			cJSON_AddStringToObject(x, "owner", t->owner);
		if (t->owner_id)
			cJSON_AddStringToObject(x, "owner_id", t->owner_id);
		if (t->live_id)
			cJSON_AddStringToObject(x, "live", t->live_id);
		cJSON *owed = cJSON_AddArrayToObject(x, "owed");
		for (size_t j = 0; j < t->nowed; j++)
			cJSON_AddItemToArray(owed, cJSON_CreateString(t->owed[j]));
		cJSON *inv = cJSON_AddArrayToObject(x, "invited");
		for (size_t j = 0; j < t->ninvited; j++)
			cJSON_AddItemToArray(inv, cJSON_CreateString(t->invited[j]));
		cJSON *cards = cJSON_AddArrayToObject(x, "cards");
		for (size_t j = 0; j < t->ncards; j++) {
			const struct card *c = t->cards[j];
			if (c->decided)
				continue;
			cJSON *y = cJSON_CreateObject();
			cJSON_AddStringToObject(y, "request", c->rid);
			cJSON_AddStringToObject(y, "secret", c->secret);
			cJSON_AddStringToObject(y, "host", c->host);
			if (c->post_id)
				cJSON_AddStringToObject(y, "post", c->post_id);
			if (c->context)
				cJSON_AddStringToObject(y, "context", c->context);
			cJSON_AddNumberToObject(y, "created", (double)c->created_ms);
			cJSON_AddItemToArray(cards, y);
		}
		cJSON_AddItemToArray(ths, x);
	}
	cJSON *seen = cJSON_AddObjectToObject(o, "last_seen");
	for (size_t i = 0; i < b->nchans; i++)
		cJSON_AddNumberToObject(seen, b->chans[i].channel, (double)b->chans[i].last_ms);
	return o;
}

int mm_bot_load(struct mm_bot *b, const cJSON *saved)
{
	const cJSON *x;
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(saved, "threads"))
	{
		const char *s = jstr(x, "session"), *ch = jstr(x, "channel"), *root = jstr(x, "root");
		if (!s || !ch || !root || thread_by_session(b, s))
			continue;
		struct thread *t = thread_add(b, s, ch, root, jstr(x, "owner"));
		if (!t)
			return -ENOMEM;
		t->live_id = dupn(jstr(x, "live"));
		t->owner_id = dupn(jstr(x, "owner_id"));
		const cJSON *u;
		cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(x, "owed"))
		{
			char **n = cJSON_IsString(u) ? realloc(t->owed, (t->nowed + 1) * sizeof(*n)) : NULL;
			if (!n)
				continue;
			t->owed = n;
			if ((t->owed[t->nowed] = strdup(u->valuestring)))
				t->nowed++;
		}
		cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(x, "invited"))
		{
			char **n = cJSON_IsString(u) ? realloc(t->invited, (t->ninvited + 1) * sizeof(*n)) : NULL;
			if (!n)
				continue;
			t->invited = n;
			if ((t->invited[t->ninvited] = strdup(u->valuestring)))
				t->ninvited++;
		}
		const cJSON *y;
		cJSON_ArrayForEach(y, cJSON_GetObjectItemCaseSensitive(x, "cards"))
		{
			const char *rid = jstr(y, "request"), *sec = jstr(y, "secret"), *host = jstr(y, "host");
			if (!rid || !sec || !host || strlen(rid) >= sizeof(((struct card *)0)->rid) ||
			    strlen(sec) > SECRET_HEX)
				continue;
			struct card *c = calloc(1, sizeof(*c));
			struct card **n = realloc(t->cards, (t->ncards + 1) * sizeof(*n));
			if (!c || !n) {
				free(c);
				if (n)
					t->cards = n;
				continue;
			}
			t->cards = n;
			snprintf(c->rid, sizeof(c->rid), "%s", rid);
			snprintf(c->secret, sizeof(c->secret), "%s", sec);
			c->host = strdup(host);
			c->post_id = dupn(jstr(y, "post"));
			c->context = dupn(jstr(y, "context"));
			const cJSON *cr = cJSON_GetObjectItemCaseSensitive(y, "created");
			c->created_ms = cJSON_IsNumber(cr) ? (int64_t)cr->valuedouble : wall_ms();
			t->cards[t->ncards++] = c;
		}
	}
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(saved, "last_seen"))
		if (cJSON_IsNumber(x) && x->string)
			note_channel(b, x->string, (int64_t)x->valuedouble);
	return 0;
}
