/* vt_scan.c — marker scanner: PCRE2 over logical lines, multiset of known
 * occurrences so each occurrence is reported once. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "vt_scan.h"

#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_MAX 1024      /* longer values are cut (at a UTF-8 boundary) */
#define RETIRED_MAX 1024    /* bounds memory if output keeps churning markers */
#define MATCH_LIMIT 1000000 /* bounds per-line work on hostile text */
#define NONE ((size_t)-1)

/* A known occurrence; identity is (value, line), hash only speeds lookup. */
struct known {
	uint64_t hash;
	char *value;
	char *line;
	uint64_t gone_ms; /* retired set: when it vanished */
	bool used;        /* visible set: matched again this frame */
};

struct kset {
	struct known *v;
	size_t n, cap;
};

/* One match in the current line: the byte span of its value. */
struct hit {
	size_t vstart, vend;
};

struct vt_scan {
	struct pat {
		pcre2_code *code;
		bool group1; /* value is group 1, else the whole match */
	} *pats;
	size_t npats;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	unsigned before, after;
	uint64_t forget_ms;
	struct kset visible; /* on the previous frame's screen */
	struct kset retired; /* vanished without being committed */
	struct kset next;    /* being built: on this frame's screen */
	/* This frame: committed lines then screen logical lines (joined in buf). */
	const char **lines;
	size_t linescap;
	char *buf;
	size_t bufcap;
	struct hit *hits;
	size_t hitscap;
	char value[VALUE_MAX + 1];
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	if (n > SIZE_MAX / elem)
		return -ENOMEM;
	void *q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static void known_free(struct known *k)
{
	free(k->value);
	free(k->line);
}

static void kset_clear(struct kset *set)
{
	for (size_t i = 0; i < set->n; i++)
		known_free(&set->v[i]);
	set->n = 0;
}

static void kset_remove(struct kset *set, size_t i)
{
	known_free(&set->v[i]);
	set->v[i] = set->v[--set->n];
}

static int kset_push(struct kset *set, const struct known *k)
{
	int r = grow((void **)&set->v, &set->cap, set->n + 1, sizeof(*set->v));
	if (r < 0)
		return r;
	set->v[set->n++] = *k;
	return 0;
}

static size_t kset_find(const struct kset *set, uint64_t hash,
			const char *value, const char *line, bool skip_used)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct known *k = &set->v[i];
		if (k->hash == hash && !(skip_used && k->used) &&
		    strcmp(k->value, value) == 0 && strcmp(k->line, line) == 0)
			return i;
	}
	return NONE;
}

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static uint64_t key_hash(const char *value, const char *line)
{
	/* 0xff separator: keeps ("ab","c") and ("a","bc") apart. */
	uint64_t h = fnv(0xcbf29ce484222325ULL, value);
	h = (h ^ 0xff) * 0x100000001b3ULL;
	return fnv(h, line);
}

static void set_err(char *err, size_t errlen, const char *msg, size_t idx,
		    size_t off)
{
	if (!err || errlen == 0)
		return;
	if (off == NONE)
		snprintf(err, errlen, "pattern %zu: %s", idx, msg);
	else
		snprintf(err, errlen, "pattern %zu: %s at offset %zu", idx, msg,
			 off);
}

int vt_scan_new(struct vt_scan **out, const struct vt_scan_opts *opts,
		char *err, size_t errlen)
{
	static const char *const def[] = { VT_SCAN_DEFAULT_PATTERN };
	static const struct vt_scan_opts defopts = { 0 };

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!opts)
		opts = &defopts;
	const char *const *pats = opts->patterns;
	size_t npats = opts->npatterns;
	if (!pats || npats == 0) {
		pats = def;
		npats = 1;
	}

	struct vt_scan *s = calloc(1, sizeof(*s));
	if (!s || !(s->pats = calloc(npats, sizeof(*s->pats))))
		goto nomem;
	s->npats = npats;
	bool ctx_given = opts->context_set;
	s->before = ctx_given || opts->context_before ? opts->context_before : 3;
	s->after = ctx_given || opts->context_after ? opts->context_after : 1;
	s->forget_ms = opts->forget_ms ? opts->forget_ms : 5000;

	uint32_t maxcap = 0;
	for (size_t i = 0; i < npats; i++) {
		if (!pats[i]) {
			set_err(err, errlen, "null pattern", i + 1, NONE);
			vt_scan_free(s);
			return -EINVAL;
		}
		int ec;
		PCRE2_SIZE eoff;
		/* MATCH_INVALID_UTF: screen text may hold broken UTF-8; such
		 * bytes simply never match instead of failing the whole line. */
		pcre2_code *code = pcre2_compile(
			(PCRE2_SPTR)pats[i], PCRE2_ZERO_TERMINATED,
			PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ec, &eoff, NULL);
		if (!code) {
			PCRE2_UCHAR msg[256];
			if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
				snprintf((char *)msg, sizeof(msg), "error %d", ec);
			set_err(err, errlen, (const char *)msg, i + 1, eoff);
			vt_scan_free(s);
			return ec == PCRE2_ERROR_HEAP_FAILED ? -ENOMEM : -EINVAL;
		}
		s->pats[i].code = code;
		(void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* optional */
		uint32_t cap = 0;
		pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &cap);
		s->pats[i].group1 = cap >= 1;
		if (cap > maxcap)
			maxcap = cap;
	}
	s->md = pcre2_match_data_create(maxcap + 1, NULL);
	s->mctx = pcre2_match_context_create(NULL);
	if (!s->md || !s->mctx)
		goto nomem;
	pcre2_set_match_limit(s->mctx, MATCH_LIMIT);
	*out = s;
	return 0;

nomem:
	if (err && errlen)
		snprintf(err, errlen, "out of memory");
	vt_scan_free(s);
	return -ENOMEM;
}

void vt_scan_free(struct vt_scan *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->pats && i < s->npats; i++)
		pcre2_code_free(s->pats[i].code);
	free(s->pats);
	pcre2_match_data_free(s->md);
	pcre2_match_context_free(s->mctx);
	kset_clear(&s->visible);
	kset_clear(&s->retired);
	kset_clear(&s->next);
	free(s->visible.v);
	free(s->retired.v);
	free(s->next.v);
	free(s->lines);
	free(s->buf);
	free(s->hits);
	free(s);
}

/* Fills s->lines: committed lines as given, then screen rows joined while
 * wraps[] is set; *nlines gets their count. */
static int build_lines(struct vt_scan *s, const struct vt_scan_input *in,
		       size_t *nlines)
{
	size_t nc = in->ncommitted, bytes = in->nrows; /* one NUL per row at most */
	if (nc > SIZE_MAX / 2 || in->nrows > SIZE_MAX / 2)
		return -ENOMEM;
	for (size_t i = 0; i < in->nrows; i++)
		bytes += in->rows[i] ? strlen(in->rows[i]) : 0;
	int r = grow((void **)&s->lines, &s->linescap, nc + in->nrows + 1,
		     sizeof(*s->lines));
	if (r == 0)
		r = grow((void **)&s->buf, &s->bufcap, bytes + 1, 1);
	if (r < 0)
		return r;

	size_t n = 0;
	for (size_t i = 0; i < nc; i++)
		s->lines[n++] = in->committed[i] ? in->committed[i] : "";
	char *p = s->buf;
	for (size_t i = 0; i < in->nrows; i++) {
		bool cont = i > 0 && in->wraps && in->wraps[i - 1];
		if (cont)
			p--; /* overwrite the previous row's NUL */
		else
			s->lines[n++] = p;
		const char *row = in->rows[i] ? in->rows[i] : "";
		size_t len = strlen(row);
		memcpy(p, row, len);
		p += len;
		*p++ = '\0';
	}
	*nlines = n;
	return 0;
}

static bool blank(const char *l)
{
	return l[strspn(l, " \t")] == '\0';
}

static int hit_cmp(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;
	if (x->vstart != y->vstart)
		return x->vstart < y->vstart ? -1 : 1;
	return (x->vend > y->vend) - (x->vend < y->vend);
}

/* Collects all matches of all patterns in `line` into s->hits, in line
 * order, one per value span (redundant patterns must not double-report). */
static int find_hits(struct vt_scan *s, const char *line, size_t *nhits)
{
	size_t len = strlen(line), n = 0;
	for (size_t p = 0; p < s->npats; p++) {
		PCRE2_SIZE start = 0;
		/* NOTEMPTY: a marker is never empty, and it guarantees progress. */
		while (start <= len &&
		       pcre2_match(s->pats[p].code, (PCRE2_SPTR)line, len, start,
				   PCRE2_NOTEMPTY, s->md, s->mctx) > 0) {
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
			struct hit h = { ov[0], ov[1] };
			if (s->pats[p].group1)
				h = ov[2] == PCRE2_UNSET ? (struct hit){ ov[0], ov[0] }
							 : (struct hit){ ov[2], ov[3] };
			int r = grow((void **)&s->hits, &s->hitscap, n + 1,
				     sizeof(*s->hits));
			if (r < 0)
				return r;
			s->hits[n++] = h;
			start = ov[1] > start ? ov[1] : start + 1;
		}
	}
	if (s->npats > 1 && n > 1) {
		qsort(s->hits, n, sizeof(*s->hits), hit_cmp);
		size_t w = 1;
		for (size_t i = 1; i < n; i++)
			if (hit_cmp(&s->hits[i], &s->hits[w - 1]) != 0)
				s->hits[w++] = s->hits[i];
		n = w;
	}
	*nhits = n;
	return 0;
}

static void report(struct vt_scan *s, size_t idx, size_t first, size_t end,
		   vt_marker_cb cb, void *data)
{
	/* Context window inside [first, end), blank edges trimmed; the
	 * marker line itself always stays. */
	size_t lo = idx - first > s->before ? idx - s->before : first;
	size_t hi = end - 1 - idx > s->after ? idx + s->after : end - 1;
	while (lo < idx && blank(s->lines[lo]))
		lo++;
	while (hi > idx && blank(s->lines[hi]))
		hi--;
	struct vt_marker m = {
		.value = s->value,
		.line = s->lines[idx],
		.context = s->lines + lo,
		.ncontext = hi - lo + 1,
	};
	if (cb)
		cb(data, &m);
}

/* Handles one occurrence: consume a known one or report it as new; screen
 * occurrences also go into the next visible set. Returns 1 if reported. */
static int occurrence(struct vt_scan *s, size_t idx, size_t nc, size_t nlines,
		      vt_marker_cb cb, void *data)
{
	const char *line = s->lines[idx];
	uint64_t h = key_hash(s->value, line);
	int reported = 0;
	size_t k = kset_find(&s->visible, h, s->value, line, true);
	if (k != NONE) {
		s->visible.v[k].used = true;
	} else if ((k = kset_find(&s->retired, h, s->value, line, false)) != NONE) {
		kset_remove(&s->retired, k);
	} else {
		/* Committed context stays in committed lines; screen context
		 * may reach back into the committed tail (it is adjacent). */
		report(s, idx, 0, idx < nc ? nc : nlines, cb, data);
		reported = 1;
	}
	if (idx < nc)
		return reported;
	struct known kn = { .hash = h, .value = strdup(s->value),
			    .line = strdup(line) };
	if (!kn.value || !kn.line || kset_push(&s->next, &kn) < 0) {
		known_free(&kn);
		return -ENOMEM;
	}
	return reported;
}

static int retire(struct vt_scan *s, struct known *k, uint64_t now)
{
	if (s->retired.n >= RETIRED_MAX) {
		size_t oldest = 0;
		for (size_t i = 1; i < s->retired.n; i++)
			if (s->retired.v[i].gone_ms < s->retired.v[oldest].gone_ms)
				oldest = i;
		kset_remove(&s->retired, oldest);
	}
	k->gone_ms = now;
	return kset_push(&s->retired, k);
}

int vt_scan_frame(struct vt_scan *s, const struct vt_scan_input *in,
		  vt_marker_cb cb, void *data)
{
	if (!s || !in || (in->ncommitted && !in->committed) ||
	    (in->nrows && !in->rows))
		return -EINVAL;
	uint64_t now = in->now_ms;

	/* Forget first, so an occurrence back after forget_ms is new. */
	for (size_t i = s->retired.n; i-- > 0;) {
		uint64_t gone = s->retired.v[i].gone_ms;
		if (now > gone && now - gone > s->forget_ms)
			kset_remove(&s->retired, i);
	}

	size_t nlines;
	int r = build_lines(s, in, &nlines);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s->visible.n; i++)
		s->visible.v[i].used = false;

	/* Committed lines come first in s->lines, so step (1) precedes (2). */
	int reported = 0;
	for (size_t i = 0; i < nlines; i++) {
		size_t nhits;
		r = find_hits(s, s->lines[i], &nhits);
		for (size_t j = 0; r == 0 && j < nhits; j++) {
			const struct hit *h = &s->hits[j];
			size_t vlen = h->vend - h->vstart;
			if (vlen > VALUE_MAX) {
				vlen = VALUE_MAX;
				while (vlen > 0 &&
				       ((unsigned char)s->lines[i][h->vstart + vlen] & 0xc0) == 0x80)
					vlen--;
			}
			memcpy(s->value, s->lines[i] + h->vstart, vlen);
			s->value[vlen] = '\0';
			int o = occurrence(s, i, in->ncommitted, nlines, cb, data);
			if (o < 0)
				r = o;
			else
				reported += o;
		}
		if (r < 0) {
			kset_clear(&s->next);
			return r;
		}
	}

	/* Unconsumed visible occurrences vanished: retire them. */
	for (size_t i = 0; i < s->visible.n; i++) {
		struct known *k = &s->visible.v[i];
		if (k->used || retire(s, k, now) < 0)
			known_free(k);
	}
	s->visible.n = 0;
	struct kset t = s->visible;
	s->visible = s->next;
	s->next = t;
	return reported;
}
