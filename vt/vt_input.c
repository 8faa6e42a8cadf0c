/* vt_input.c — text and named keys encoded for the program's modes. */
#include "vt_input.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_buf.h"
#include "vt_filter.h"

#define PASTE_START "\x1b[200~"
#define PASTE_END "\x1b[201~"

int vt_input_text(uint32_t modes, const char *text, char **out, size_t *len)
{
	if (!text || !out || !len)
		return -EINVAL;
	bool paste = modes & VT_MODE_BRACKETED_PASTE;
	size_t n = strlen(text);
	char *buf = malloc(n + sizeof(PASTE_START) + sizeof(PASTE_END) + 2);
	if (!buf)
		return -ENOMEM;
	size_t o = 0;
	if (paste) {
		memcpy(buf, PASTE_START, sizeof(PASTE_START) - 1);
		o = sizeof(PASTE_START) - 1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == 0x1b && strncmp(text + i, PASTE_END, sizeof(PASTE_END) - 1) == 0) {
			i += sizeof(PASTE_END) - 2;
			continue;
		}
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			continue; /* control characters: use named keys */
		if (c == 0xc2 && (unsigned char)text[i + 1] >= 0x80 &&
		    (unsigned char)text[i + 1] <= 0x9f) {
			i++; /* C1 controls as UTF-8 */
			continue;
		}
		buf[o++] = (char)c;
	}
	if (paste) {
		memcpy(buf + o, PASTE_END, sizeof(PASTE_END) - 1);
		o += sizeof(PASTE_END) - 1;
	}
	buf[o++] = '\r';
	buf[o] = '\0';
	*out = buf;
	*len = o;
	return 0;
}

/* Keys with a CSI/SS3 final byte (cursor keys) or a CSI number + '~'. */
struct key {
	const char *name;
	char final;   /* cursor-style key: CSI final / SS3 final */
	int tilde;    /* CSI n ~ */
	const char *plain; /* fixed bytes */
};

static const struct key keys[] = {
	{"up", 'A', 0, NULL},      {"down", 'B', 0, NULL},     {"right", 'C', 0, NULL},
	{"left", 'D', 0, NULL},    {"home", 'H', 0, NULL},     {"end", 'F', 0, NULL},
	{"insert", 0, 2, NULL},    {"delete", 0, 3, NULL},     {"del", 0, 3, NULL},
	{"pgup", 0, 5, NULL},      {"pageup", 0, 5, NULL},     {"pgdn", 0, 6, NULL},
	{"pagedown", 0, 6, NULL},  {"f1", 'P', 0, NULL},       {"f2", 'Q', 0, NULL},
	{"f3", 'R', 0, NULL},      {"f4", 'S', 0, NULL},       {"f5", 0, 15, NULL},
	{"f6", 0, 17, NULL},       {"f7", 0, 18, NULL},        {"f8", 0, 19, NULL},
	{"f9", 0, 20, NULL},       {"f10", 0, 21, NULL},       {"f11", 0, 23, NULL},
	{"f12", 0, 24, NULL},      {"enter", 0, 0, "\r"},      {"return", 0, 0, "\r"},
	{"tab", 0, 0, "\t"},       {"esc", 0, 0, "\x1b"},      {"escape", 0, 0, "\x1b"},
	{"backspace", 0, 0, "\x7f"}, {"bs", 0, 0, "\x7f"},     {"space", 0, 0, " "},
};

const char *vt_input_key_names(void)
{
	return "up down left right home end pgup pgdn insert delete enter tab esc "
	       "backspace space f1-f12, a single character, with ctrl-/alt-/shift- "
	       "prefixes and *N to repeat (e.g. down*3)";
}

/* xterm's modifier parameter: 1 + shift(1) + alt(2) + ctrl(4). */
static int mod_param(bool shift, bool alt, bool ctrl)
{
	return 1 + (shift ? 1 : 0) + (alt ? 2 : 0) + (ctrl ? 4 : 0);
}

static int encode(uint32_t modes, const char *tok, struct vt_buf *b, char *err,
		  size_t errlen)
{
	bool ctrl = false, alt = false, shift = false;
	for (;;) {
		if (!strncmp(tok, "ctrl-", 5) || !strncmp(tok, "c-", 2)) {
			ctrl = true;
			tok += tok[1] == '-' ? 2 : 5;
		} else if (!strncmp(tok, "alt-", 4) || !strncmp(tok, "m-", 2)) {
			alt = true;
			tok += tok[1] == '-' ? 2 : 4;
		} else if (!strncmp(tok, "shift-", 6)) {
			shift = true;
			tok += 6;
		} else {
			break;
		}
	}
	char tmp[32];
	int mod = mod_param(shift, alt, ctrl);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key *k = &keys[i];
		if (strcmp(tok, k->name) != 0)
			continue;
		int n;
		if (k->final && mod == 1) {
			bool app = (modes & VT_MODE_APP_CURSOR) || k->final >= 'P';
			n = snprintf(tmp, sizeof(tmp), app ? "\x1bO%c" : "\x1b[%c", k->final);
		} else if (k->final) {
			n = snprintf(tmp, sizeof(tmp), "\x1b[1;%d%c", mod, k->final);
		} else if (k->tilde) {
			n = mod == 1 ? snprintf(tmp, sizeof(tmp), "\x1b[%d~", k->tilde)
				     : snprintf(tmp, sizeof(tmp), "\x1b[%d;%d~", k->tilde, mod);
		} else if (shift && !strcmp(k->name, "tab")) {
			n = snprintf(tmp, sizeof(tmp), "\x1b[Z");
		} else {
			if (ctrl && !strcmp(k->plain, " ")) {
				vt_buf_put(b, "", 1); /* ctrl-space is NUL */
				return 0;
			}
			n = snprintf(tmp, sizeof(tmp), "%s%s", alt ? "\x1b" : "", k->plain);
		}
		vt_buf_put(b, tmp, (size_t)n);
		return 0;
	}
	/* a single printable ASCII character */
	if (tok[0] && !tok[1] && isprint((unsigned char)tok[0])) {
		char c = tok[0];
		if (ctrl) {
			char u = (char)toupper((unsigned char)c);
			if (u < '@' || u > '_') {
				snprintf(err, errlen, "ctrl-%c is not a control key", c);
				return -EINVAL;
			}
			c = (char)(u & 0x1f);
		} else if (shift) {
			c = (char)toupper((unsigned char)c);
		}
		if (alt)
			vt_buf_put(b, "\x1b", 1);
		vt_buf_put(b, &c, 1);
		return 0;
	}
	snprintf(err, errlen, "unknown key '%.40s' (keys: %s)", tok, vt_input_key_names());
	return -EINVAL;
}

int vt_input_keys(uint32_t modes, const char *spec, char **out, size_t *len,
		  char *err, size_t errlen)
{
	if (!spec || !out || !len)
		return -EINVAL;
	struct vt_buf b = {0};
	const char *p = spec;
	int count = 0, r = 0;
	while (r == 0) {
		p += strspn(p, " ,\t");
		if (!*p)
			break;
		size_t n = strcspn(p, " ,\t");
		char tok[64];
		if (n >= sizeof(tok)) {
			snprintf(err, errlen, "key name too long: '%.20s...'", p);
			r = -EINVAL;
			break;
		}
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;
		long times = 1;
		char *star = strrchr(tok, '*');
		if (star && star != tok && star[1]) {
			char *end;
			times = strtol(star + 1, &end, 10);
			if (*end || times < 1 || times > 100) {
				snprintf(err, errlen, "repeat count in '%s' must be 1 to 100", tok);
				r = -EINVAL;
				break;
			}
			*star = '\0';
		}
		for (long i = 0; i < times && r == 0; i++)
			r = encode(modes, tok, &b, err, errlen);
		count++;
	}
	if (r == 0 && count == 0) {
		snprintf(err, errlen, "no keys given (keys: %s)", vt_input_key_names());
		r = -EINVAL;
	}
	if (r == 0 && b.oom)
		r = -ENOMEM;
	if (r < 0) {
		free(b.p);
		return r;
	}
	*out = b.p;
	*len = b.n;
	return 0;
}
