/* vt_filter.c — the byte pre-filter described in vt_filter.h. */
#include "vt_filter.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_compose.h"
#include "vt_utf8.h"

enum {
	ST_GROUND,
	ST_ESC,        /* after ESC */
	ST_ESC_INTER,  /* ESC + intermediates, waiting for the final byte */
	ST_CSI,        /* collecting a CSI sequence in seq[] */
	ST_CSI_SKIP,   /* CSI too long to inspect: passed through to its end */
	ST_STRING,     /* OSC / DCS / SOS / PM / APC body, passed through */
	ST_STRING_ESC, /* ESC inside a string: ST or a new sequence */
	ST_C2,         /* 0xC2 at the end of a read: maybe a C1 control */
};

#define ESC 0x1b

void vt_filter_init(struct vt_filter *f, const struct vt_filter_ops *ops,
		    void *data)
{
	memset(f, 0, sizeof(*f));
	f->ops = ops;
	f->data = data;
	f->state = ST_GROUND;
}

unsigned vt_filter_kitty_flags(const struct vt_filter *f)
{
	return f->kitty_depth ? f->kitty_stack[f->kitty_depth - 1] : 0;
}

static void emit(struct vt_filter *f, const char *b, size_t n)
{
	if (n)
		f->ops->out(f->data, b, n);
}

static void reply(struct vt_filter *f, const char *b, size_t n)
{
	if (f->ops->reply)
		f->ops->reply(f->data, b, n);
}

static void event(struct vt_filter *f, enum vt_filter_event ev)
{
	if (f->ops->event)
		f->ops->event(f->data, ev);
}

/* Length of a UTF-8 sequence from its lead byte; 0 for a byte that cannot
 * start one. */
static size_t utf8_len(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
}

/* If [s, s+len) is a complete, valid character that prints (not a control,
 * not C1), returns true. */
static bool graphic_char(const unsigned char *s, size_t len)
{
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return false;
	if (len == 1)
		return s[0] >= 0x20 && s[0] != 0x7f;
	if (len == 2 && s[0] == 0xc2 && s[1] < 0xa0)
		return false; /* U+0080-U+009F */
	return true;
}

/* Remembers the last graphic character of a ground-state run, for REP.
 * A character cut between two reads is completed from the next one, so the
 * result does not depend on where reads are cut. */
static void note_last_char(struct vt_filter *f, const char *buf, size_t n)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t from = 0;
	if (f->partlen) { /* complete the character the previous read cut */
		size_t need = utf8_len((unsigned char)f->part[0]);
		while (f->partlen < need && from < n && (b[from] & 0xc0) == 0x80)
			f->part[f->partlen++] = (char)b[from++];
		if (f->partlen == need && graphic_char((const unsigned char *)f->part, need)) {
			memcpy(f->last, f->part, need);
			f->lastlen = (uint8_t)need;
		}
		if (f->partlen == need || from < n)
			f->partlen = 0;
	}
	/* a valid character cut at the end of this read */
	for (size_t k = 1; k <= 3 && k <= n - from; k++) {
		size_t need = utf8_len(b[n - k]);
		if (need > 1) {
			if (need > k && graphic_char(b + n - k, k)) {
				memcpy(f->part, b + n - k, k);
				f->partlen = (uint8_t)k;
				n -= k;
			}
			break;
		}
		if ((b[n - k] & 0xc0) != 0x80)
			break;
	}
	for (size_t i = n; i > from; i--) {
		size_t len = utf8_len(b[i - 1]);
		if (len == 0 || i - 1 + len > n)
			continue;
		if (graphic_char(b + i - 1, len)) {
			memcpy(f->last, b + i - 1, len);
			f->lastlen = (uint8_t)len;
			return;
		}
	}
}

static void count_newlines(struct vt_filter *f, const char *b, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++) /* a loop the compiler vectorises */
		c += b[i] == '\n' || b[i] == '\v' || b[i] == '\f';
	f->newlines += c;
}

/* Which private modes we track, and the bit for each. */
static uint32_t private_mode_bit(long mode)
{
	switch (mode) {
	case 1: return VT_MODE_APP_CURSOR;
	case 5: return VT_MODE_REVERSE_VIDEO;
	case 6: return VT_MODE_ORIGIN;
	case 7: return VT_MODE_NO_AUTOWRAP; /* inverted below */
	case 9: return VT_MODE_MOUSE_X10;
	case 25: return VT_MODE_CURSOR_HIDDEN; /* inverted below */
	case 47: case 1047: case 1049: return VT_MODE_ALT_SCREEN;
	case 1000: return VT_MODE_MOUSE_NORMAL;
	case 1002: return VT_MODE_MOUSE_BUTTON;
	case 1003: return VT_MODE_MOUSE_ANY;
	case 1004: return VT_MODE_FOCUS;
	case 1005: return VT_MODE_MOUSE_UTF8;
	case 1006: return VT_MODE_MOUSE_SGR;
	case 1015: return VT_MODE_MOUSE_URXVT;
	case 1016: return VT_MODE_MOUSE_SGR_PIXELS;
	case 2004: return VT_MODE_BRACKETED_PASTE;
	case 2026: return VT_MODE_SYNC;
	case 2031: return VT_MODE_THEME_REPORTS;
	default: return 0;
	}
}

/* Private modes the emulator supports (libtsm or this filter): DECRQM
 * answers "set"/"reset" for these and "not recognised" for the rest. */
static bool private_mode_known(long mode)
{
	switch (mode) {
	case 1048:
		return true;
	default:
		return private_mode_bit(mode) != 0;
	}
}

static bool private_mode_is_set(const struct vt_filter *f, long mode)
{
	uint32_t bit = private_mode_bit(mode);
	if (mode == 25)
		return !(f->modes & VT_MODE_CURSOR_HIDDEN);
	if (mode == 7)
		return !(f->modes & VT_MODE_NO_AUTOWRAP);
	return bit && (f->modes & bit);
}

struct csi {
	char priv;  /* '?', '>', '<', '=' or 0 */
	char inter; /* last intermediate byte (0x20-0x2f) or 0 */
	char final;
	long args[16];
	unsigned nargs;
	bool has_args;
};

/* Parses seq[] = ESC [ ... final. */
static void csi_parse(const struct vt_filter *f, struct csi *c)
{
	memset(c, 0, sizeof(*c));
	size_t i = 2, n = f->seqlen;
	c->final = f->seq[n - 1];
	if (i < n - 1 && strchr("?><=", f->seq[i]))
		c->priv = f->seq[i++];
	long cur = -1;
	for (; i < n - 1; i++) {
		unsigned char ch = (unsigned char)f->seq[i];
		if (ch >= '0' && ch <= '9') {
			cur = (cur < 0 ? 0 : cur) * 10 + (ch - '0');
			if (cur > 1000000)
				cur = 1000000;
			c->has_args = true;
		} else if (ch == ';' || ch == ':') {
			if (c->nargs < 16)
				c->args[c->nargs++] = cur;
			cur = -1;
			c->has_args = true;
		} else if (ch >= 0x20 && ch <= 0x2f) {
			c->inter = (char)ch;
		}
	}
	if (c->has_args && c->nargs < 16)
		c->args[c->nargs++] = cur;
}

static long arg(const struct csi *c, unsigned i, long dflt)
{
	return (i < c->nargs && c->args[i] >= 0) ? c->args[i] : dflt;
}

static void set_private_modes(struct vt_filter *f, const struct csi *c, bool on)
{
	for (unsigned i = 0; i < c->nargs; i++) {
		long m = c->args[i];
		uint32_t bit = private_mode_bit(m);
		if (!bit)
			continue;
		bool set = (m == 25 || m == 7) ? !on : on; /* stored inverted */
		bool was_sync = f->modes & VT_MODE_SYNC;
		if (bit == VT_MODE_ALT_SCREEN && !(f->modes & bit) != !set)
			f->alt_switches++;
		if (set)
			f->modes |= bit;
		else
			f->modes &= ~bit;
		if (m == 2026 && on && !was_sync)
			event(f, VT_FILTER_SYNC_BEGIN);
		else if (m == 2026 && !on && was_sync)
			event(f, VT_FILTER_SYNC_END);
	}
}

static void answer_decrqm(struct vt_filter *f, const struct csi *c)
{
	char buf[48];
	long mode = arg(c, 0, 0);
	int n;
	if (c->priv == '?') {
		int v = !private_mode_known(mode) ? 0 :
			private_mode_is_set(f, mode) ? 1 : 2;
		n = snprintf(buf, sizeof(buf), "\x1b[?%ld;%d$y", mode, v);
	} else {
		/* ANSI modes: insert mode is the one we track. */
		int v = mode == 4 ? ((f->modes & VT_MODE_INSERT) ? 1 : 2) : 0;
		n = snprintf(buf, sizeof(buf), "\x1b[%ld;%d$y", mode, v);
	}
	if (n > 0)
		reply(f, buf, (size_t)n);
}

static void kitty_sequence(struct vt_filter *f, const struct csi *c)
{
	switch (c->priv) {
	case '>': /* push */
		if (f->kitty_depth == VT_FILTER_KITTY_DEPTH) {
			memmove(f->kitty_stack, f->kitty_stack + 1,
				VT_FILTER_KITTY_DEPTH - 1);
			f->kitty_depth--;
		}
		f->kitty_stack[f->kitty_depth++] = (uint8_t)(arg(c, 0, 0) & 0xff);
		break;
	case '<': { /* pop n */
		long n = arg(c, 0, 1);
		f->kitty_depth = n >= (long)f->kitty_depth ? 0 :
				 f->kitty_depth - (unsigned)n;
		break;
	}
	case '=': { /* set: mode 1 replace, 2 or, 3 and-not */
		uint8_t v = (uint8_t)(arg(c, 0, 0) & 0xff);
		long how = arg(c, 1, 1);
		if (f->kitty_depth == 0)
			f->kitty_stack[f->kitty_depth++] = 0;
		uint8_t *top = &f->kitty_stack[f->kitty_depth - 1];
		*top = how == 2 ? (uint8_t)(*top | v) :
		       how == 3 ? (uint8_t)(*top & ~v) : v;
		break;
	}
	default: /* CSI ? u: query; unanswered on purpose */
		break;
	}
}

static void repeat_last(struct vt_filter *f, long n)
{
	if (!f->lastlen)
		return;
	if (n < 1)
		n = 1;
	if (n > 65535)
		n = 65535; /* a screen is never larger; bounds hostile input */
	char buf[256];
	size_t fill = 0;
	for (long i = 0; i < n; i++) {
		if (fill + f->lastlen > sizeof(buf)) {
			emit(f, buf, fill);
			fill = 0;
		}
		memcpy(buf + fill, f->last, f->lastlen);
		fill += f->lastlen;
	}
	emit(f, buf, fill);
}

/* Cheap test on the final byte and prefix: most CSI sequences (SGR, cursor
 * moves, erases) are none of our business and must cost next to nothing. */
static bool csi_interesting(const char *seq, size_t n)
{
	char fin = seq[n - 1], lead = n > 3 ? seq[2] : 0;
	switch (fin) {
	case 'p': case 'u': case 's': case 'b': case 'J':
		return true;
	case 'h': case 'l':
		return true;
	case 'm': case 'q':
		return lead == '>';
	default:
		return false;
	}
}

/* A complete CSI sequence we may act on is in seq[], and everything before
 * it has been handed over: emit it, its replacement, or nothing. */
static void csi_dispatch(struct vt_filter *f)
{
	struct csi c;
	csi_parse(f, &c);

	if (c.final == 'p' && c.inter == '$') { /* DECRQM */
		answer_decrqm(f, &c);
		return;
	}
	if (c.final == 'p' && (c.inter == '!' || c.inter == '"')) {
		/* DECSTR soft reset, or DECSCL (which implies one) */
		/* libtsm's soft reset also leaves the alternate screen, which
		 * DECSTR must not do: perform its parts one by one instead
		 * (margins reset with the cursor kept, then modes and SGR). */
		static const char decstr[] =
			"\x1b" "7\x1b[r\x1b" "8\x1b[?6l\x1b[?7h\x1b[4l\x1b[?25h"
			"\x1b[?1l\x1b>\x1b[0m\x1b(B";
		f->modes &= VT_MODE_ALT_SCREEN;
		f->kitty_depth = 0;
		f->modify_other_keys = 0;
		event(f, VT_FILTER_RESET);
		emit(f, decstr, sizeof(decstr) - 1);
		return;
	}
	if (c.final == 'p') /* any other: libtsm 4.0.2 would soft-reset */
		return;
	if (c.final == 'u' && c.priv) {
		kitty_sequence(f, &c);
		return;
	}
	if (c.final == 'm' && c.priv == '>') { /* modifyOtherKeys */
		if (arg(&c, 0, -1) == 4)
			f->modify_other_keys = (int)arg(&c, 1, 0);
		else if (!c.has_args)
			f->modify_other_keys = 0;
		return;
	}
	if (c.final == 'q' && c.priv == '>') /* XTVERSION: not claimed */
		return;
	if (!c.priv && !c.inter && !c.has_args) {
		if (c.final == 's') { /* SCOSC */
			emit(f, "\x1b" "7", 2);
			return;
		}
		if (c.final == 'u') { /* SCORC */
			emit(f, "\x1b" "8", 2);
			return;
		}
	}
	if (c.final == 'b' && !c.priv && !c.inter) { /* REP */
		repeat_last(f, arg(&c, 0, 1));
		return;
	}
	if ((c.final == 'h' || c.final == 'l') && c.priv == '?')
		set_private_modes(f, &c, c.final == 'h');
	if ((c.final == 'h' || c.final == 'l') && !c.priv && !c.inter)
		for (unsigned i = 0; i < c.nargs; i++)
			if (c.args[i] == 4) /* IRM, which libtsm implements */
				f->modes = c.final == 'h' ? f->modes | VT_MODE_INSERT
							  : f->modes & ~VT_MODE_INSERT;
	emit(f, f->seq, f->seqlen);
	if (c.final == 'J' && !c.priv && !c.inter) {
		long a = arg(&c, 0, 0);
		/* after the emit: the screen must see the erase first */
		if (a == 3)
			event(f, VT_FILTER_CLEAR_SCROLLBACK);
		else if (a == 2)
			event(f, VT_FILTER_CLEAR_SCREEN);
	}
}

/*
 * Bytes that pass through unchanged are not copied: they accumulate as a
 * span of the caller's buffer, handed to the emulator in one piece when a
 * sequence must be rewritten or swallowed, or when the buffer ends. Only a
 * sequence that started in an earlier call lives in seq[] alone.
 */
struct feed {
	struct vt_filter *f;
	const char *span;      /* first byte not yet emitted */
	const char *seq_start; /* where seq[] began in this buffer, or NULL */
};

static void flush_span(struct feed *fd, const char *upto)
{
	if (upto > fd->span)
		emit(fd->f, fd->span, (size_t)(upto - fd->span));
	fd->span = upto;
}

/* The sequence in seq[] ends at p (exclusive) and passes through as is. */
static void seq_pass(struct feed *fd, const char *p)
{
	if (!fd->seq_start) { /* began in an earlier call: nothing before it here */
		emit(fd->f, fd->f->seq, fd->f->seqlen);
		fd->span = p;
	}
	fd->seq_start = NULL;
	fd->f->seqlen = 0;
}

/* The sequence in seq[] ending at p is replaced: emit what came before it. */
static void seq_cut(struct feed *fd, const char *p)
{
	flush_span(fd, fd->seq_start ? fd->seq_start : fd->span);
	fd->span = p;
	fd->seq_start = NULL;
	fd->f->seqlen = 0;
}

static void seq_begin(struct feed *fd, const char *esc)
{
	fd->f->seq[0] = ESC;
	fd->f->seqlen = 1;
	fd->seq_start = esc;
	fd->f->state = ST_ESC;
}

/* A combining mark U+0300-U+036F (two bytes, lead 0xCC or 0xCD) at q? */
static uint32_t mark_at(const char *q, const char *stop)
{
	if (q + 1 >= stop)
		return 0;
	unsigned char c0 = (unsigned char)q[0];
	if ((c0 != 0xcc && c0 != 0xcd) ||
	    ((unsigned char)q[1] & 0xc0) != 0x80)
		return 0;
	uint32_t cp = ((uint32_t)(c0 & 0x1f) << 6) | ((unsigned char)q[1] & 0x3f);
	return cp <= 0x36f ? cp : 0;
}

/* Decodes the UTF-8 character that ends right before q (not before from). */
static uint32_t char_before(const char *from, const char *q, const char **start)
{
	const char *s = q - 1;
	while (s > from && q - s < 4 && ((unsigned char)*s & 0xc0) == 0x80)
		s--;
	uint32_t cp;
	if (vt_utf8_decode(s, (size_t)(q - s), &cp) != (size_t)(q - s))
		return 0;
	*start = s;
	return cp;
}

/*
 * Text fix-ups on a ground-state run [p, stop), done in one pass so the
 * output stays in order:
 *  - libtsm decodes UTF-8 first and then obeys U+0080-U+009F as C1 controls,
 *    so "\xc2\x9b" would be a CSI this filter never sees (a DECRQM sent that
 *    way would soft-reset libtsm). Like tmux, we drop them.
 *  - libtsm drops combining marks; a base character followed by marks that
 *    Unicode composes ("e" U+0301 → "é") is replaced by the composed form.
 *    (A mark whose base came in the previous read is still dropped.)
 * Returns true when the run ends in a lone 0xC2 the next read must complete.
 */
static bool fix_text(struct feed *fd, const char *p, const char *stop, const char *end)
{
	for (const char *q = p; q < stop; q++) {
		unsigned char c = (unsigned char)*q;
		if (c < 0xc2 || (c != 0xc2 && c != 0xcc && c != 0xcd))
			continue;
		if (c == 0xc2) {
			if (q + 1 == end) {
				flush_span(fd, q);
				fd->span = end;
				fd->f->state = ST_C2;
				return true;
			}
			if ((unsigned char)q[1] >= 0x80 && (unsigned char)q[1] <= 0x9f) {
				flush_span(fd, q);
				fd->span = q + 2;
				q++;
			}
			continue;
		}
		uint32_t mark = mark_at(q, stop);
		const char *base_start;
		uint32_t base = mark && q > p && q > fd->span ?
			char_before(fd->span > p ? fd->span : p, q, &base_start) : 0;
		uint32_t cur = base ? vt_compose(base, mark) : 0;
		if (!cur)
			continue;
		const char *next = q + 2;
		uint32_t m2, more;
		while ((m2 = mark_at(next, stop)) && (more = vt_compose(cur, m2))) {
			cur = more;
			next += 2;
		}
		char out[4];
		flush_span(fd, base_start);
		emit(fd->f, out, vt_utf8_put(cur, out));
		fd->span = next;
		q = next - 1;
	}
	return false;
}

void vt_filter_feed(struct vt_filter *f, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	struct feed fd = {.f = f, .span = buf, .seq_start = NULL};
	while (p < end) {
		if (f->state == ST_GROUND) {
			const char *esc = memchr(p, ESC, (size_t)(end - p));
			const char *stop = esc ? esc : end;
			if (stop > p) {
				count_newlines(f, p, (size_t)(stop - p));
				note_last_char(f, p, (size_t)(stop - p));
				if (fix_text(&fd, p, stop, end)) {
					p = end;
					break;
				}
			}
			if (!esc) {
				p = end;
				break;
			}
			seq_begin(&fd, esc);
			p = esc + 1;
			continue;
		}
		unsigned char ch = (unsigned char)*p;
		switch (f->state) {
		case ST_ESC:
			if (ch == ESC) { /* ESC ESC: the first is dropped, as terminals do */
				p++;
				seq_cut(&fd, p - 1);
				seq_begin(&fd, p - 1);
				break;
			}
			p++;
			if (ch == 0x18 || ch == 0x1a) { /* CAN / SUB abort */
				seq_cut(&fd, p);
				f->state = ST_GROUND;
				break;
			}
			f->seq[f->seqlen++] = (char)ch;
			if (ch == '[') {
				f->state = ST_CSI;
			} else if (strchr("]PX^_", ch)) {
				seq_pass(&fd, p);
				f->state = ST_STRING;
			} else if (ch >= 0x20 && ch <= 0x2f) {
				f->state = ST_ESC_INTER;
			} else {
				if (ch == '=')
					f->modes |= VT_MODE_APP_KEYPAD;
				else if (ch == '>')
					f->modes &= ~VT_MODE_APP_KEYPAD;
				else if (ch == 'D' || ch == 'E') /* IND / NEL scroll */
					f->newlines++;
				else if (ch == 'c') { /* RIS */
					/* the screen harvests scrollback first */
					flush_span(&fd, fd.seq_start ? fd.seq_start : fd.span);
					f->modes = 0;
					f->kitty_depth = 0;
					f->modify_other_keys = 0;
					event(f, VT_FILTER_RESET);
				}
				seq_pass(&fd, p);
				f->state = ST_GROUND;
			}
			break;
		case ST_ESC_INTER:
			if (ch == ESC) { /* cut short by a new sequence */
				seq_pass(&fd, p);
				seq_begin(&fd, p);
				p++;
				break;
			}
			p++;
			if (f->seqlen < VT_FILTER_SEQ_MAX)
				f->seq[f->seqlen++] = (char)ch;
			if (ch >= 0x30 || ch < 0x20) {
				seq_pass(&fd, p);
				f->state = ST_GROUND;
			}
			break;
		case ST_CSI:
			if (ch == ESC) { /* cut short by a new sequence: hand it over */
				seq_pass(&fd, p);
				seq_begin(&fd, p);
				p++;
				break;
			}
			p++;
			if (ch == 0x18 || ch == 0x1a) {
				seq_cut(&fd, p);
				f->state = ST_GROUND;
				break;
			}
			if (f->seqlen == VT_FILTER_SEQ_MAX) {
				/* Too long to be one we rewrite: pass it through. */
				seq_pass(&fd, p - 1);
				f->state = ST_CSI_SKIP;
				p--;
				break;
			}
			f->seq[f->seqlen++] = (char)ch;
			if (ch >= 0x40 && ch <= 0x7e) {
				f->state = ST_GROUND;
				if (!csi_interesting(f->seq, f->seqlen)) {
					seq_pass(&fd, p);
				} else {
					/* hand over what precedes it, then act */
					flush_span(&fd, fd.seq_start ? fd.seq_start : fd.span);
					csi_dispatch(f);
					fd.span = p;
					fd.seq_start = NULL;
					f->seqlen = 0;
				}
			}
			break;
		case ST_CSI_SKIP:
			while (p < end && *p != ESC &&
			       !((unsigned char)*p >= 0x40 && (unsigned char)*p <= 0x7e))
				p++;
			if (p < end && *p == ESC) {
				seq_begin(&fd, p);
				p++;
			} else if (p < end) {
				p++;
				f->state = ST_GROUND;
			}
			break;
		case ST_STRING: {
			const char *q = p;
			while (q < end && *q != 0x07 && *q != ESC && *q != 0x18 && *q != 0x1a)
				q++;
			if (q == end) {
				p = q;
				break;
			}
			if (*q == ESC) { /* ST, or a new sequence cutting the string */
				seq_begin(&fd, q);
				f->state = ST_STRING_ESC;
			} else {
				f->state = ST_GROUND;
			}
			p = q + 1;
			break;
		}
		case ST_STRING_ESC:
			if (ch == '\\') { /* ST: passes through */
				f->seq[f->seqlen++] = (char)ch;
				p++;
				seq_pass(&fd, p);
				f->state = ST_GROUND;
			} else {
				/* The string is cut short: terminate it for the
				 * emulator, then the ESC starts a new sequence. */
				flush_span(&fd, fd.seq_start ? fd.seq_start : fd.span);
				emit(f, "\x1b\\", 2);
				f->state = ST_ESC;
			}
			break;
		case ST_C2:
			f->state = ST_GROUND;
			if ((unsigned char)ch >= 0x80 && (unsigned char)ch <= 0x9f) {
				p++; /* a C1 control: dropped with its lead byte */
				fd.span = p;
			} else {
				emit(f, "\xc2", 1);
			}
			break;
		default:
			f->state = ST_GROUND;
			break;
		}
	}
	/* Hand over everything except an unfinished sequence we may rewrite. */
	if (f->state == ST_ESC || f->state == ST_ESC_INTER || f->state == ST_CSI ||
	    f->state == ST_STRING_ESC) {
		flush_span(&fd, fd.seq_start ? fd.seq_start : fd.span);
	} else {
		flush_span(&fd, end);
	}
}
