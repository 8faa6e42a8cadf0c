/* vt_batch.c — the batching policy described in vt_batch.h. */
#include "vt_batch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_utf8.h"

/* A commit message is wrapped in a code fence by the chat: "```\n" + "\n```". */
#define FENCE_CHARS 8u

struct vt_batch {
	struct vt_batch_opts o;
	vt_op_cb cb;
	void *data;

	char **lines; /* pending commits */
	size_t nlines, cap;
	size_t pending_chars;
	char *live;      /* pending live text (NULL: none) */
	char *sent_live; /* last live text sent to the current post */

	bool pending;           /* something waits for a flush */
	uint64_t pending_since; /* when it started waiting */
	uint64_t last_change;   /* last time new output changed something */
	uint64_t last_flush;
	bool flushed_once;
};

size_t vt_utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Glyphs that animate in place: digits (timers, counters) and spinners. */
static uint32_t volatile_class(uint32_t cp)
{
	if (cp >= '0' && cp <= '9')
		return '0';
	if ((cp >= 0x2800 && cp <= 0x28ff) ||  /* braille spinners */
	    (cp >= 0x25d0 && cp <= 0x25d3) ||  /* ◐◑◒◓ */
	    (cp >= 0x2722 && cp <= 0x273d) ||  /* ✢✳✶✻✽ (Claude Code) */
	    cp == 0x00b7 || cp == '*')
		return '*';
	return cp;
}

bool vt_batch_volatile_only(const char *a, const char *b)
{
	if (!a || !b)
		return false;
	while (*a && *b) {
		uint32_t ca, cb;
		a += vt_utf8_decode(a, 4, &ca);
		b += vt_utf8_decode(b, 4, &cb);
		if (volatile_class(ca) != volatile_class(cb))
			return false;
	}
	return *a == *b;
}

int vt_batch_new(struct vt_batch **out, const struct vt_batch_opts *opts,
		 vt_op_cb cb, void *data)
{
	struct vt_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	if (opts)
		b->o = *opts;
	if (!b->o.min_interval_ms)
		b->o.min_interval_ms = 1000;
	if (!b->o.volatile_interval_ms)
		b->o.volatile_interval_ms = 5000;
	if (!b->o.quiet_ms)
		b->o.quiet_ms = 300;
	if (!b->o.message_cap)
		b->o.message_cap = 16383;
	if (b->o.message_cap < FENCE_CHARS + 16) {
		free(b);
		return -EINVAL;
	}
	b->cb = cb;
	b->data = data;
	*out = b;
	return 0;
}

static void clear_lines(struct vt_batch *b)
{
	for (size_t i = 0; i < b->nlines; i++)
		free(b->lines[i]);
	b->nlines = 0;
	b->pending_chars = 0;
}

void vt_batch_free(struct vt_batch *b)
{
	if (!b)
		return;
	clear_lines(b);
	free(b->lines);
	free(b->live);
	free(b->sent_live);
	free(b);
}

static void emit(struct vt_batch *b, struct vt_op *op, uint64_t now)
{
	op->t_ms = now;
	if (b->cb)
		b->cb(b->data, op);
}

/* Byte length of the longest prefix of s with at most max_chars code
 * points, never cutting a UTF-8 sequence. */
static size_t prefix_bytes(const char *s, size_t max_chars)
{
	size_t i = 0, chars = 0;
	while (s[i] && chars < max_chars) {
		uint32_t cp;
		i += vt_utf8_decode(s + i, 4, &cp);
		chars++;
	}
	return i;
}

/* Emits lines as COMMIT ops, each message within the cap. A line longer
 * than a message is cut into pieces (continuations, nothing dropped). */
static int emit_commits(struct vt_batch *b, char **lines, size_t n, bool final,
			uint64_t now)
{
	size_t budget = b->o.message_cap - FENCE_CHARS;
	const char **msg = malloc((n ? n : 1) * sizeof(*msg));
	if (!msg)
		return -ENOMEM;
	size_t count = 0, chars = 0;
	struct vt_op op = {.kind = VT_OP_COMMIT};
	for (size_t i = 0; i < n; i++) {
		size_t c = vt_utf8_chars(lines[i]);
		if (c > budget) {
			if (count) {
				op = (struct vt_op){.kind = VT_OP_COMMIT, .lines = msg,
						    .nlines = count};
				emit(b, &op, now);
				count = chars = 0;
			}
			const char *p = lines[i];
			while (*p) {
				size_t len = prefix_bytes(p, budget);
				char *piece = strndup(p, len);
				if (!piece) {
					free(msg);
					return -ENOMEM;
				}
				const char *one[1] = {piece};
				bool last = p[len] == '\0' && i + 1 == n;
				op = (struct vt_op){.kind = VT_OP_COMMIT, .lines = one,
						    .nlines = 1, .final = final && last};
				emit(b, &op, now);
				free(piece);
				p += len;
			}
			continue;
		}
		if (count && chars + 1 + c > budget) {
			op = (struct vt_op){.kind = VT_OP_COMMIT, .lines = msg, .nlines = count};
			emit(b, &op, now);
			count = chars = 0;
		}
		chars += (count ? 1 : 0) + c;
		msg[count++] = lines[i];
	}
	if (count) {
		op = (struct vt_op){.kind = VT_OP_COMMIT, .lines = msg, .nlines = count,
				    .final = final};
		emit(b, &op, now);
	}
	free(msg);
	return 0;
}

/* Sends the live text if it differs from what the post shows. A text over
 * the cap keeps its last lines and says how many lines are not shown. */
static int emit_live(struct vt_batch *b, uint64_t now)
{
	if (!b->live)
		return 0;
	if ((b->sent_live && strcmp(b->live, b->sent_live) == 0) ||
	    (!b->sent_live && !b->live[0])) { /* no empty new posts */
		free(b->live);
		b->live = NULL;
		return 0;
	}
	const char *text = b->live;
	char *fitted = NULL;
	size_t budget = b->o.message_cap - FENCE_CHARS;
	if (vt_utf8_chars(text) > budget) {
		/* keep the bottom of the screen: that is where programs work */
		const char *p = text + strlen(text);
		size_t hidden = 0;
		for (const char *q = text; *q; q++)
			hidden += *q == '\n';
		hidden++;
		const char *start = p;
		size_t shown = 0;
		while (start > text) {
			const char *nl = start - 1;
			while (nl > text && nl[-1] != '\n')
				nl--;
			if (vt_utf8_chars(nl) + 64 > budget)
				break;
			start = nl;
			shown++;
		}
		hidden -= shown;
		size_t len = strlen(start) + 64;
		fitted = malloc(len);
		if (!fitted)
			return -ENOMEM;
		snprintf(fitted, len, "[%zu lines above not shown]\n%s", hidden, start);
		text = fitted;
	}
	struct vt_op op = {.kind = VT_OP_LIVE, .text = text};
	emit(b, &op, now);
	free(fitted);
	free(b->sent_live);
	b->sent_live = b->live;
	b->live = NULL;
	return 0;
}

static int flush(struct vt_batch *b, uint64_t now)
{
	int r = emit_commits(b, b->lines, b->nlines, false, now);
	clear_lines(b);
	if (r == 0)
		r = emit_live(b, now);
	b->pending = false;
	b->last_flush = now;
	b->flushed_once = true;
	return r;
}

static bool live_changed(const struct vt_batch *b)
{
	return b->live && (!b->sent_live || strcmp(b->live, b->sent_live) != 0);
}

/* The interval that applies to what is pending. */
static uint64_t interval(const struct vt_batch *b)
{
	if (b->nlines == 0 && vt_batch_volatile_only(b->live, b->sent_live))
		return b->o.volatile_interval_ms;
	return b->o.min_interval_ms;
}

uint64_t vt_batch_deadline(const struct vt_batch *b)
{
	if (!b->pending)
		return UINT64_MAX;
	uint64_t iv = interval(b);
	/* Far more history than one message: no reason to hold it back. */
	if (b->pending_chars > 4 * b->o.message_cap)
		return b->last_change;
	uint64_t earliest = b->flushed_once ? b->last_flush + iv : 0;
	uint64_t quiet = b->last_change + b->o.quiet_ms;
	uint64_t waited = b->pending_since + iv;
	uint64_t ready = quiet < waited ? quiet : waited;
	return ready > earliest ? ready : earliest;
}

int vt_batch_poll(struct vt_batch *b, uint64_t now_ms)
{
	if (b->pending && now_ms >= vt_batch_deadline(b))
		return flush(b, now_ms);
	return 0;
}

int vt_batch_push(struct vt_batch *b, struct vt_diff_result *res, uint64_t now_ms)
{
	int r = 0;
	if (res->seal) {
		r = flush(b, now_ms);
		struct vt_op op = {.kind = VT_OP_SEAL};
		emit(b, &op, now_ms);
		free(b->sent_live);
		b->sent_live = NULL;
	}
	bool changed = false;
	if (res->ncommit) {
		size_t need = b->nlines + res->ncommit;
		if (need > b->cap) {
			size_t cap = b->cap ? b->cap : 64;
			while (cap < need)
				cap *= 2;
			char **p = realloc(b->lines, cap * sizeof(*p));
			if (!p) {
				vt_diff_result_free(res);
				return -ENOMEM;
			}
			b->lines = p;
			b->cap = cap;
		}
		for (size_t i = 0; i < res->ncommit; i++) {
			b->pending_chars += strlen(res->commit[i]) + 1;
			b->lines[b->nlines++] = res->commit[i];
		}
		free(res->commit);
		res->commit = NULL;
		res->ncommit = 0;
		changed = true;
	}
	if (res->live && (!b->live || strcmp(res->live, b->live) != 0)) {
		free(b->live);
		b->live = res->live;
		res->live = NULL;
		changed = live_changed(b) || changed;
	}
	vt_diff_result_free(res);
	if (changed) {
		if (!b->pending)
			b->pending_since = now_ms;
		b->pending = true;
		b->last_change = now_ms;
	} else if (b->pending && b->nlines == 0 && !live_changed(b)) {
		b->pending = false; /* back to what the post shows */
	}
	return r;
}

int vt_batch_end(struct vt_batch *b, struct vt_diff_result *final_res,
		 uint64_t now_ms)
{
	int r = emit_commits(b, b->lines, b->nlines, false, now_ms);
	clear_lines(b);
	if (r == 0 && final_res && final_res->seal) {
		r = emit_live(b, now_ms);
		struct vt_op op = {.kind = VT_OP_SEAL};
		emit(b, &op, now_ms);
	}
	if (r == 0 && final_res && final_res->ncommit)
		r = emit_commits(b, final_res->commit, final_res->ncommit, true, now_ms);
	vt_diff_result_free(final_res);
	free(b->live);
	b->live = NULL;
	b->pending = false;
	struct vt_op op = {.kind = VT_OP_END};
	emit(b, &op, now_ms);
	return r;
}
