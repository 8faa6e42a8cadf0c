/*
 * vt_filter.h — streaming pre-filter in front of libtsm's tsm_vte_input().
 *
 * Debian 12 ships libtsm 4.0.2, which mishandles sequences that real TUIs
 * (Claude Code among them) send. The filter sits on the byte stream and:
 *   - swallows DECRQM (CSI ? Ps $ p / CSI Ps $ p), which makes 4.0.2
 *     soft-reset (dropping the alternate screen), and answers it itself;
 *     the other CSI ... p sequences, which 4.0.2 also turns into a soft
 *     reset, are swallowed too (DECSCL performed as DECSTR);
 *   - reports CSI 3 J (erase scrollback), which 4.0.2 ignores;
 *   - maps CSI s / CSI u (SCOSC/SCORC) to ESC 7 / ESC 8;
 *   - performs DECSTR without libtsm's soft reset (which would leave the
 *     alternate screen), and drops C1 controls sent as UTF-8 (U+0080-U+009F),
 *     which libtsm would obey behind the filter's back;
 *   - expands CSI Ps b (REP), which 4.0.2 ignores;
 *   - tracks the modes 4.0.2 ignores or hides (bracketed paste, focus,
 *     synchronized output, mouse modes and encodings, cursor keys, keypad,
 *     kitty keyboard flags, modifyOtherKeys) and swallows the kitty keyboard
 *     and modifyOtherKeys sequences, which 4.0.2 would misparse as SGR;
 *   - leaves XTVERSION and the kitty keyboard query unanswered: we do not
 *     implement those protocols and must not claim them.
 * Escape sequences split across calls are normal; state persists.
 *
 * Ownership: the filter is a plain struct owned by the caller; it allocates
 * nothing. Callbacks receive buffers valid only during the call.
 */
#ifndef VT_FILTER_H
#define VT_FILTER_H

#include <stddef.h>
#include <stdint.h>

/* Tracked modes (vt_filter.modes). */
enum {
	VT_MODE_APP_CURSOR = 1u << 0,       /* DECCKM ?1 */
	VT_MODE_APP_KEYPAD = 1u << 1,       /* ESC = / ESC > */
	VT_MODE_BRACKETED_PASTE = 1u << 2,  /* ?2004 */
	VT_MODE_FOCUS = 1u << 3,            /* ?1004 */
	VT_MODE_SYNC = 1u << 4,             /* ?2026 synchronized output */
	VT_MODE_MOUSE_X10 = 1u << 5,        /* ?9 */
	VT_MODE_MOUSE_NORMAL = 1u << 6,     /* ?1000 */
	VT_MODE_MOUSE_BUTTON = 1u << 7,     /* ?1002 */
	VT_MODE_MOUSE_ANY = 1u << 8,        /* ?1003 */
	VT_MODE_MOUSE_UTF8 = 1u << 9,       /* ?1005 */
	VT_MODE_MOUSE_SGR = 1u << 10,       /* ?1006 */
	VT_MODE_MOUSE_URXVT = 1u << 11,     /* ?1015 */
	VT_MODE_MOUSE_SGR_PIXELS = 1u << 12,/* ?1016 */
	VT_MODE_THEME_REPORTS = 1u << 13,   /* ?2031 */
	VT_MODE_ALT_SCREEN = 1u << 14,      /* ?1049 / ?1047 / ?47 (informational) */
	VT_MODE_CURSOR_HIDDEN = 1u << 15,   /* ?25 reset */
	VT_MODE_REVERSE_VIDEO = 1u << 16,   /* ?5 */
	VT_MODE_ORIGIN = 1u << 17,          /* ?6 */
	VT_MODE_NO_AUTOWRAP = 1u << 18,     /* ?7 reset */
	VT_MODE_INSERT = 1u << 19,          /* IRM, CSI 4 h */
};

enum vt_filter_event {
	VT_FILTER_CLEAR_SCROLLBACK, /* CSI 3 J */
	VT_FILTER_SYNC_BEGIN,       /* ?2026 h */
	VT_FILTER_SYNC_END,         /* ?2026 l */
	VT_FILTER_RESET,            /* RIS or DECSTR: modes were reset */
	VT_FILTER_CLEAR_SCREEN,     /* CSI 2 J */
};

struct vt_filter_ops {
	/* bytes for the emulator (tsm_vte_input) */
	void (*out)(void *data, const char *bytes, size_t len);
	/* answers for the program (write to the PTY) */
	void (*reply)(void *data, const char *bytes, size_t len);
	/* optional */
	void (*event)(void *data, enum vt_filter_event ev);
};

#define VT_FILTER_SEQ_MAX 96
#define VT_FILTER_KITTY_DEPTH 8

struct vt_filter {
	const struct vt_filter_ops *ops;
	void *data;
	int state;
	uint32_t modes;
	uint8_t kitty_stack[VT_FILTER_KITTY_DEPTH]; /* kitty keyboard flags */
	unsigned kitty_depth;                       /* 0: flags are 0 */
	int modify_other_keys;                      /* CSI > 4 ; n m */
	uint64_t newlines;      /* LF, VT, FF, IND and NEL seen */
	uint64_t alt_switches;  /* alternate screen entered or left */
	char seq[VT_FILTER_SEQ_MAX];
	size_t seqlen;
	char last[4];           /* last printed character, for REP */
	uint8_t lastlen;
	char part[4];           /* a character cut by the end of a read */
	uint8_t partlen;
};

void vt_filter_init(struct vt_filter *f, const struct vt_filter_ops *ops,
		    void *data);
void vt_filter_feed(struct vt_filter *f, const char *buf, size_t len);

/* Current kitty keyboard flags (0 when none were pushed). */
unsigned vt_filter_kitty_flags(const struct vt_filter *f);

#endif
