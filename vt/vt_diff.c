/* vt_diff.c — the diff engine described in vt_diff.h. */
#include "vt_diff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FIXED_CAP 1024u     /* learned fixed rows (open addressing) */
#define HIST_HASHES 4096u   /* committed lines the replay guard looks at */
#define GUARD_CANDIDATES 64u
#define GUARD_CONFIRM 3u    /* matching lines that make a replay */
#define GUARD_LIFETIME 4096u /* lines after arming before the guard stands down */

struct vt_diff {
	bool have_prev, prev_alt;
	unsigned cols, rows;
	char **prev;        /* previous frame's rows as text */
	uint64_t *prev_hash;
	char **cur;
	uint64_t *cur_hash;
	bool *wraps;

	uint64_t fixed[FIXED_CAP];
	unsigned nfixed;

	bool started;    /* a non-blank line was committed */
	bool last_blank; /* the last committed line was blank */

	/* Replay guard: recent committed line hashes, and a run being matched. */
	uint64_t hist[HIST_HASHES];
	size_t hist_head, hist_len;
	bool armed;
	size_t armed_left;
	size_t cand[GUARD_CANDIDATES]; /* positions (age) expected to match next */
	size_t ncand;
	char *held[GUARD_CONFIRM];
	size_t nheld;
	bool confirmed;
};

static uint64_t text_hash(const char *s)
{
	if (!*s)
		return 0;
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h | 1; /* 0 is reserved for blank */
}

/* ---- fixed rows ---------------------------------------------------------- */

static bool fixed_has(const struct vt_diff *d, uint64_t h)
{
	if (!h)
		return false;
	for (unsigned i = 0, k = (unsigned)(h % FIXED_CAP); i < FIXED_CAP;
	     i++, k = (k + 1) % FIXED_CAP) {
		if (d->fixed[k] == h)
			return true;
		if (d->fixed[k] == 0)
			return false;
	}
	return false;
}

static void fixed_add(struct vt_diff *d, uint64_t h)
{
	if (!h || fixed_has(d, h) || d->nfixed >= FIXED_CAP / 2)
		return; /* bounded: a program that keeps inventing rows stops teaching us */
	unsigned k = (unsigned)(h % FIXED_CAP);
	while (d->fixed[k])
		k = (k + 1) % FIXED_CAP;
	d->fixed[k] = h;
	d->nfixed++;
}

bool vt_diff_is_fixed(const struct vt_diff *d, const char *row)
{
	return fixed_has(d, text_hash(row));
}

/* ---- result building ------------------------------------------------------ */

static int result_push(struct vt_diff_result *res, char *line)
{
	if ((res->ncommit & (res->ncommit - 1)) == 0) { /* grow at powers of two */
		size_t cap = res->ncommit ? res->ncommit * 2 : 16;
		char **p = realloc(res->commit, cap * sizeof(*p));
		if (!p) {
			free(line);
			return -ENOMEM;
		}
		res->commit = p;
	}
	res->commit[res->ncommit++] = line;
	return 0;
}

static void hist_add(struct vt_diff *d, uint64_t h)
{
	size_t idx = (d->hist_head + d->hist_len) % HIST_HASHES;
	if (d->hist_len == HIST_HASHES)
		d->hist_head = (d->hist_head + 1) % HIST_HASHES;
	else
		d->hist_len++;
	d->hist[idx] = h;
}

/* Hash of the committed line `age` lines back from the newest (age 0). */
static uint64_t hist_at(const struct vt_diff *d, size_t age)
{
	return d->hist[(d->hist_head + d->hist_len - 1 - age) % HIST_HASHES];
}

/* Appends one line to the transcript: no leading blanks, blank runs
 * collapsed to one. Takes ownership of line. */
static int emit_line(struct vt_diff *d, struct vt_diff_result *res, char *line)
{
	bool blank = line[0] == '\0';
	if (blank && (!d->started || d->last_blank)) {
		free(line);
		return 0;
	}
	d->started = true;
	d->last_blank = blank;
	hist_add(d, text_hash(line));
	return result_push(res, line);
}

static void guard_reset(struct vt_diff *d)
{
	d->ncand = 0;
	d->confirmed = false;
}

static int guard_flush_held(struct vt_diff *d, struct vt_diff_result *res)
{
	int r = 0;
	for (size_t i = 0; i < d->nheld; i++) {
		if (r == 0)
			r = emit_line(d, res, d->held[i]);
		else
			free(d->held[i]);
	}
	d->nheld = 0;
	return r;
}

static void guard_drop_held(struct vt_diff *d)
{
	for (size_t i = 0; i < d->nheld; i++)
		free(d->held[i]);
	d->nheld = 0;
}

/* Starts a candidate run for a line equal to committed lines: each match
 * at age a means the next replayed line should equal the line at age a-1. */
static bool guard_start(struct vt_diff *d, uint64_t h)
{
	d->ncand = 0;
	for (size_t age = 1; age < d->hist_len && d->ncand < GUARD_CANDIDATES; age++)
		if (hist_at(d, age) == h)
			d->cand[d->ncand++] = age - 1;
	return d->ncand > 0;
}

/* Positions are ages relative to the newest committed line; held lines are
 * not in the history, so ages stay valid while a run is being matched. */
static bool guard_advance(struct vt_diff *d, uint64_t h)
{
	size_t k = 0;
	for (size_t i = 0; i < d->ncand; i++) {
		size_t age = d->cand[i];
		if (hist_at(d, age) == h && age > 0)
			d->cand[k++] = age - 1;
		else if (hist_at(d, age) == h && age == 0)
			d->cand[k++] = 0; /* replay reached the newest line: stays in sync */
	}
	d->ncand = k;
	return k > 0;
}

/* Commits one line, through the replay guard while it is armed. */
static int commit_line(struct vt_diff *d, struct vt_diff_result *res, char *line)
{
	uint64_t h = text_hash(line);
	if (fixed_has(d, h)) {
		free(line);
		return 0;
	}
	if (!d->armed)
		return emit_line(d, res, line);
	if (d->armed_left && --d->armed_left == 0)
		d->armed = false;
	if (d->ncand > 0) {
		if (guard_advance(d, h)) {
			if (d->confirmed) {
				free(line);
				return 0;
			}
			d->held[d->nheld++] = line;
			if (d->nheld == GUARD_CONFIRM) {
				d->confirmed = true; /* a reprint: drop it */
				guard_drop_held(d);
			}
			return 0;
		}
		bool was_replay = d->confirmed;
		guard_reset(d);
		int r = guard_flush_held(d, res);
		if (r < 0) {
			free(line);
			return r;
		}
		if (was_replay)
			d->armed = false; /* the reprint is over; new output follows */
		if (!d->armed)
			return emit_line(d, res, line);
	}
	if (h && guard_start(d, h)) {
		d->held[d->nheld++] = line;
		return 0;
	}
	/* A reprint starts right away: the first non-blank line that is new
	 * output stands the guard down, so a program that merely prints
	 * something it printed before (later) is not swallowed. */
	if (h)
		d->armed = false;
	return emit_line(d, res, line);
}

static void arm_guard(struct vt_diff *d)
{
	d->armed = true;
	d->armed_left = GUARD_LIFETIME;
}

static int commit_copy(struct vt_diff *d, struct vt_diff_result *res, const char *s)
{
	char *line = strdup(s);
	if (!line)
		return -ENOMEM;
	return commit_line(d, res, line);
}

/* ---- frames --------------------------------------------------------------- */

static void free_rows(char **rows, unsigned n)
{
	if (!rows)
		return;
	for (unsigned i = 0; i < n; i++)
		free(rows[i]);
	free(rows);
}

static int load_rows(struct vt_diff *d, const struct vt_frame *f)
{
	d->cur = calloc(f->rows, sizeof(*d->cur));
	d->cur_hash = calloc(f->rows, sizeof(*d->cur_hash));
	free(d->wraps);
	d->wraps = calloc(f->rows, sizeof(*d->wraps));
	if (!d->cur || !d->cur_hash || !d->wraps)
		return -ENOMEM;
	size_t cap = vt_frame_row_cap(f);
	for (unsigned y = 0; y < f->rows; y++) {
		char *buf = malloc(cap);
		if (!buf)
			return -ENOMEM;
		int n = vt_frame_row_text(f, y, buf, cap);
		if (n < 0) {
			free(buf);
			return n;
		}
		d->cur[y] = buf;
		d->cur_hash[y] = text_hash(buf);
		d->wraps[y] = vt_frame_row_wraps(f, y);
	}
	return 0;
}

/* The live text: the screen without blank rows at its edges, and runs of
 * blank rows inside it shown as one (a mostly empty full-screen program
 * would otherwise make a tall, empty post). */
static char *join_live(char *const *rows, unsigned n)
{
	unsigned first = 0, last = n;
	while (first < n && !rows[first][0])
		first++;
	while (last > first && !rows[last - 1][0])
		last--;
	size_t len = 1;
	for (unsigned i = first; i < last; i++)
		len += strlen(rows[i]) + 1;
	char *out = malloc(len), *p = out;
	if (!out)
		return NULL;
	for (unsigned i = first; i < last; i++) {
		if (!rows[i][0] && i > first && !rows[i - 1][0])
			continue;
		size_t l = strlen(rows[i]);
		memcpy(p, rows[i], l);
		p += l;
		if (i + 1 < last)
			*p++ = '\n';
	}
	*p = '\0';
	return out;
}

/* Rows at the bottom that stayed in place while the content above moved by
 * `shift` rows are the program's fixed status rows (input box, mode line).
 * A row that is also consistent with moving, or equal to a line that just
 * scrolled off (`yes` prints the same line over and over), is no evidence. */
static bool scrolled_has(const struct vt_frame *f, uint64_t h)
{
	size_t from = f->nscrolled > 256 ? f->nscrolled - 256 : 0;
	for (size_t i = from; i < f->nscrolled; i++)
		if (text_hash(f->scrolled[i]) == h)
			return true;
	return false;
}

static void learn_fixed(struct vt_diff *d, const struct vt_frame *f, unsigned shift)
{
	for (unsigned i = d->rows; i-- > 0;) {
		uint64_t p = d->prev_hash[i], n = d->cur_hash[i];
		if (!p && !n)
			continue;
		if (p != n)
			break;
		if (i >= shift && d->cur_hash[i - shift] == p)
			continue;
		if (scrolled_has(f, p))
			continue;
		fixed_add(d, p);
	}
}

static bool significant(const struct vt_diff *d, uint64_t h)
{
	return h && !fixed_has(d, h);
}

/* How many significant rows of the previous frame reappear `shift` rows
 * higher (shift > 0) or lower (shift < 0) in the current frame. */
static unsigned shift_score(const struct vt_diff *d, int shift)
{
	unsigned score = 0;
	for (unsigned i = 0; i < d->rows; i++) {
		long j = (long)i - shift;
		if (j < 0 || j >= (long)d->rows)
			continue;
		if (significant(d, d->prev_hash[i]) && d->prev_hash[i] == d->cur_hash[j])
			score++;
	}
	return score;
}

/* Detects an in-place redraw that moved content: returns the shift (rows
 * moved up, negative for down) or 0. The top-most significant current row
 * that also exists in the previous frame must sit at the shifted position,
 * so a collapse in the middle of the screen is not taken for a scroll. */
static int detect_shift(const struct vt_diff *d)
{
	unsigned score0 = shift_score(d, 0), best = score0;
	int best_shift = 0;
	for (int s = 1; s < (int)d->rows; s++) {
		unsigned up = shift_score(d, s), down = shift_score(d, -s);
		if (up > best) {
			best = up;
			best_shift = s;
		}
		if (down > best) {
			best = down;
			best_shift = -s;
		}
	}
	if (best_shift == 0 || best < 2)
		return 0;
	for (unsigned j = 0; j < d->rows; j++) {
		uint64_t h = d->cur_hash[j];
		if (!significant(d, h))
			continue;
		long i = (long)j + best_shift;
		if (i >= 0 && i < (long)d->rows && d->prev_hash[i] == h)
			return best_shift;
		for (unsigned k = 0; k < d->rows; k++)
			if (d->prev_hash[k] == h)
				return 0; /* the top row anchors elsewhere */
	}
	return 0;
}

static int commit_rows(struct vt_diff *d, struct vt_diff_result *res,
		       char *const *rows, unsigned from, unsigned to)
{
	while (to > from && !rows[to - 1][0])
		to--;
	for (unsigned i = from; i < to; i++) {
		int r = commit_copy(d, res, rows[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int commit_scrolled(struct vt_diff *d, struct vt_diff_result *res,
			   const struct vt_frame *f, size_t from, size_t to)
{
	for (size_t i = from; i < to && i < f->nscrolled; i++) {
		int r = commit_copy(d, res, f->scrolled[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Commits what left the main screen: the scrolled lines, and when it was
 * cleared, the previous frame's rows that were still on it (a program that
 * reprints after clearing is caught by the replay guard). */
static int commit_departed(struct vt_diff *d, struct vt_diff_result *res,
			   const struct vt_frame *f)
{
	if (!(f->events & VT_FRAME_CLEARED) || f->alt_screen || !d->have_prev)
		return commit_scrolled(d, res, f, 0, f->nscrolled);
	size_t before = f->scrolled_before_clear;
	int r = commit_scrolled(d, res, f, 0, before);
	unsigned from = before < d->rows ? (unsigned)before : d->rows;
	if (r == 0 && !d->prev_alt)
		r = commit_rows(d, res, d->prev, from, d->rows);
	arm_guard(d);
	if (r == 0)
		r = commit_scrolled(d, res, f, before, f->nscrolled);
	return r;
}

static int diff_same_geometry(struct vt_diff *d, const struct vt_frame *f,
			      struct vt_diff_result *res)
{
	if ((f->events & VT_FRAME_CLEARED) && !f->alt_screen)
		return commit_departed(d, res, f);
	if (f->nscrolled > 0) {
		learn_fixed(d, f, f->nscrolled < d->rows ? (unsigned)f->nscrolled : d->rows);
		return commit_scrolled(d, res, f, 0, f->nscrolled);
	}
	int shift = detect_shift(d);
	if (shift > 0) {
		learn_fixed(d, f, (unsigned)shift);
		return commit_rows(d, res, d->prev, 0, (unsigned)shift);
	}
	if (shift < 0)
		arm_guard(d); /* scrolled back: what comes up again was seen */
	return 0;
}

int vt_diff_frame(struct vt_diff *d, const struct vt_frame *f,
		  struct vt_diff_result *res)
{
	memset(res, 0, sizeof(*res));
	if (!d || !f)
		return -EINVAL;
	int r = load_rows(d, f);
	if (r < 0)
		goto out;
	bool same_geometry = d->have_prev && f->cols == d->cols &&
			     f->rows == d->rows && !(f->events & VT_FRAME_RESIZED);
	if (!d->have_prev) {
		r = commit_scrolled(d, res, f, 0, f->nscrolled);
	} else if (!same_geometry) {
		/* The program repaints after a resize: never diff across it, and
		 * drop a reprint of what was already committed. */
		arm_guard(d);
		r = commit_departed(d, res, f);
	} else if (d->prev_alt != f->alt_screen) {
		if (d->prev_alt)
			res->seal = true; /* the last alternate frame stays as it was */
		else
			arm_guard(d);
		r = commit_scrolled(d, res, f, 0, f->nscrolled);
	} else {
		r = diff_same_geometry(d, f, res);
	}
	if (r < 0)
		goto out;
	res->live = join_live(d->cur, f->rows);
	if (!res->live) {
		r = -ENOMEM;
		goto out;
	}
	free_rows(d->prev, d->rows);
	free(d->prev_hash);
	d->prev = d->cur;
	d->prev_hash = d->cur_hash;
	d->cur = NULL;
	d->cur_hash = NULL;
	d->cols = f->cols;
	d->rows = f->rows;
	d->prev_alt = f->alt_screen;
	d->have_prev = true;
	res->rows = (const char *const *)d->prev;
	res->wraps = d->wraps;
	res->nrows = d->rows;
	return 0;
out:
	free_rows(d->cur, f->rows);
	free(d->cur_hash);
	d->cur = NULL;
	d->cur_hash = NULL;
	vt_diff_result_free(res);
	return r;
}

int vt_diff_end(struct vt_diff *d, struct vt_diff_result *res)
{
	memset(res, 0, sizeof(*res));
	if (!d)
		return -EINVAL;
	res->final = true;
	int r = 0;
	if (d->have_prev && d->prev_alt) {
		res->seal = true;
	} else if (d->have_prev) {
		r = commit_rows(d, res, d->prev, 0, d->rows);
	}
	if (r == 0 && !d->confirmed)
		r = guard_flush_held(d, res);
	else
		guard_drop_held(d);
	guard_reset(d);
	if (r < 0)
		vt_diff_result_free(res);
	return r;
}

void vt_diff_result_free(struct vt_diff_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->ncommit; i++)
		free(res->commit[i]);
	free(res->commit);
	free(res->live);
	memset(res, 0, sizeof(*res));
}

int vt_diff_new(struct vt_diff **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void vt_diff_free(struct vt_diff *d)
{
	if (!d)
		return;
	free_rows(d->prev, d->rows);
	free(d->prev_hash);
	free(d->wraps);
	guard_drop_held(d);
	free(d);
}
