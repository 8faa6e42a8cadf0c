/* fw_host.c — the hostname policy shared by every backend (fw.h,
 * fw_host_normalize). Pure: no I/O, no global state.
 *
 * The aim is that what an approver sees is exactly one DNS name that the
 * firewall will resolve, in a form that cannot be mistaken for another:
 * IDNs become punycode (xn--...), and a label that mixes scripts (a Latin
 * "paypal" with one Cyrillic "а") is refused outright, since no registry
 * sells such names for honest use and the punycode alone is easy to wave
 * through. Whole-script names (all Cyrillic, all Greek, ...) pass, shown
 * as xn--.
 */
#include "fw.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <idn2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN_MAX 1024 /* bytes of input looked at; anything longer is refused */

static int refuse(char *why, size_t whylen, const char *fmt, ...)
{
	if (why && whylen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Decodes one UTF-8 sequence at s (strict: no overlongs, surrogates or
 * values past U+10FFFF). Returns its length, or 0 when invalid. */
static size_t utf8_decode(const unsigned char *s, unsigned long *cp)
{
	unsigned long c;
	size_t n;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		c = s[0] & 0x1f;
		n = 2;
	} else if ((s[0] & 0xf0) == 0xe0) {
		c = s[0] & 0x0f;
		n = 3;
	} else if ((s[0] & 0xf8) == 0xf0) {
		c = s[0] & 0x07;
		n = 4;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	static const unsigned long min[] = {0, 0, 0x80, 0x800, 0x10000};
	if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* ---- scripts (a small table in the spirit of UTS #39) ---------------- */

enum script {
	SC_COMMON = 0, /* digits, hyphen, combining marks: belong to any script */
	SC_LATIN,
	SC_GREEK,
	SC_CYRILLIC,
	SC_ARMENIAN,
	SC_HEBREW,
	SC_ARABIC,
	SC_DEVANAGARI,
	SC_THAI,
	SC_GEORGIAN,
	SC_HANGUL,
	SC_HIRAGANA,
	SC_KATAKANA,
	SC_BOPOMOFO,
	SC_HAN,
	SC_OTHER, /* anything else: told apart by Unicode block (128 code points) */
};

static const char *const script_names[] = {
	"common", "Latin", "Greek", "Cyrillic", "Armenian", "Hebrew", "Arabic", "Devanagari",
	"Thai", "Georgian", "Hangul", "Hiragana", "Katakana", "Bopomofo", "Han", "other",
};

static const struct {
	unsigned long lo, hi;
	enum script sc;
} script_ranges[] = {
	{0x30, 0x39, SC_COMMON},       {0x2d, 0x2d, SC_COMMON},      {0x61, 0x7a, SC_LATIN},
	{0xdf, 0x24f, SC_LATIN},       {0x300, 0x36f, SC_COMMON},    {0x370, 0x3ff, SC_GREEK},
	{0x400, 0x52f, SC_CYRILLIC},   {0x530, 0x58f, SC_ARMENIAN},  {0x590, 0x5ff, SC_HEBREW},
	{0x600, 0x6ff, SC_ARABIC},     {0x750, 0x77f, SC_ARABIC},    {0x8a0, 0x8ff, SC_ARABIC},
	{0x900, 0x97f, SC_DEVANAGARI}, {0xe00, 0xe7f, SC_THAI},      {0x10a0, 0x10ff, SC_GEORGIAN},
	{0x1100, 0x11ff, SC_HANGUL},   {0x1c80, 0x1c8f, SC_CYRILLIC}, {0x1e00, 0x1eff, SC_LATIN},
	{0x1f00, 0x1fff, SC_GREEK},    {0x200c, 0x200d, SC_COMMON},  {0x2c60, 0x2c7f, SC_LATIN},
	{0x2d00, 0x2d2f, SC_GEORGIAN}, {0x2de0, 0x2dff, SC_CYRILLIC}, {0x3005, 0x3007, SC_HAN},
	{0x3040, 0x309f, SC_HIRAGANA}, {0x30a0, 0x30ff, SC_KATAKANA}, {0x3100, 0x312f, SC_BOPOMOFO},
	{0x3130, 0x318f, SC_HANGUL},   {0x31a0, 0x31bf, SC_BOPOMOFO}, {0x31f0, 0x31ff, SC_KATAKANA},
	{0x3400, 0x4dbf, SC_HAN},      {0x4e00, 0x9fff, SC_HAN},     {0xa640, 0xa69f, SC_CYRILLIC},
	{0xa720, 0xa7ff, SC_LATIN},    {0xab30, 0xab6f, SC_LATIN},   {0xac00, 0xd7af, SC_HANGUL},
	{0xf900, 0xfaff, SC_HAN},      {0x20000, 0x3ffff, SC_HAN},
};

static enum script script_of(unsigned long cp, unsigned long *block)
{
	*block = 0;
	for (size_t i = 0; i < sizeof(script_ranges) / sizeof(script_ranges[0]); i++)
		if (cp >= script_ranges[i].lo && cp <= script_ranges[i].hi)
			return script_ranges[i].sc;
	*block = cp >> 7;
	return SC_OTHER;
}

#define BIT(s) (1u << (s))

/* The combinations UTS #39 "highly restrictive" allows in one label:
 * a single script, or Latin with the CJK sets used together in practice. */
static int scripts_ok(unsigned mask)
{
	static const unsigned allowed[] = {
		BIT(SC_LATIN) | BIT(SC_HAN) | BIT(SC_HIRAGANA) | BIT(SC_KATAKANA),
		BIT(SC_LATIN) | BIT(SC_HAN) | BIT(SC_BOPOMOFO),
		BIT(SC_LATIN) | BIT(SC_HAN) | BIT(SC_HANGUL),
	};
	if ((mask & (mask - 1)) == 0)
		return 1;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if ((mask & ~allowed[i]) == 0)
			return 1;
	return 0;
}

/* Checks every label of the Unicode form u (as libidn2 decoded it).
 * Returns 0 or -EINVAL with the two scripts that meet in one label. */
static int check_scripts(const char *u, const char *ascii, char *why, size_t whylen)
{
	const unsigned char *p = (const unsigned char *)u;
	while (*p) {
		unsigned mask = 0;
		unsigned long other_block = 0;
		enum script first = SC_COMMON, second = SC_COMMON;
		const unsigned char *start = p;
		while (*p && *p != '.') {
			unsigned long cp, block;
			size_t n = utf8_decode(p, &cp);
			if (n == 0)
				return refuse(why, whylen, "not valid UTF-8 after IDN decoding");
			p += n;
			enum script sc = script_of(cp, &block);
			if (sc == SC_COMMON)
				continue;
			if (sc == SC_OTHER) {
				/* two unknown blocks count as two scripts */
				if (other_block && other_block != block)
					mask |= BIT(SC_GREEK) | BIT(SC_CYRILLIC);
				other_block = block;
			}
			if (first == SC_COMMON)
				first = sc;
			else if (sc != first && second == SC_COMMON)
				second = sc;
			mask |= BIT(sc);
		}
		if (!scripts_ok(mask)) {
			int len = (int)(p - start);
			return refuse(why, whylen,
				      "the label '%.*s' mixes %s and %s letters (%s): a look-alike "
				      "of another name is refused",
				      len > 63 ? 63 : len, (const char *)start, script_names[first],
				      script_names[second == SC_COMMON ? SC_OTHER : second], ascii);
		}
		if (*p == '.')
			p++;
	}
	return 0;
}

/* ---- deny lists ----------------------------------------------------- */

static const struct {
	const char *name;
	const char *why;
} builtin_deny[] = {
	{"localhost", "loopback (RFC 6761: every name under localhost is the machine itself)"},
	{"localhost.localdomain", "loopback"},
	{"metadata.google.internal", "a cloud metadata service"},
	{"metadata.goog", "a cloud metadata service"},
	{"instance-data.ec2.internal", "a cloud metadata service"},
	{"metadata.tencentyun.com", "a cloud metadata service"},
	{"local", "a multicast DNS (.local) name, only meaningful on the local link"},
	{"arpa", "a reverse-DNS name, not a host"},
};

/* name is `entry` or a name under it. */
static int name_under(const char *name, const char *entry)
{
	size_t n = strlen(name), e = strlen(entry);
	if (e == 0 || e > n)
		return 0;
	if (strcmp(name + (n - e), entry) != 0)
		return 0;
	return n == e || name[n - e - 1] == '.';
}

/* A configured deny entry compared the way names are: case-insensitive,
 * without a trailing dot, a leading "*." or "." meaning the same as the
 * bare name (names under an entry are always denied). IDN entries are
 * converted so they match their punycode. */
static int deny_matches(const char *name, const char *entry)
{
	char buf[FW_HOST_MAX + 2];
	if (strncmp(entry, "*.", 2) == 0)
		entry += 2;
	else if (entry[0] == '.')
		entry++;
	char *ascii = NULL;
	if (idn2_to_ascii_8z(entry, &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) == IDN2_OK) {
		snprintf(buf, sizeof(buf), "%s", ascii);
		free(ascii);
	} else {
		snprintf(buf, sizeof(buf), "%s", entry);
		for (char *c = buf; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	}
	size_t bl = strlen(buf);
	if (bl && buf[bl - 1] == '.')
		buf[bl - 1] = '\0';
	return name_under(name, buf);
}

/* ---- the policy ----------------------------------------------------- */

static int all_digits(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* inet_aton also accepts 0x7f.1, 017.0.0.1 or 2130706433: every label a
 * decimal, octal or hex number is an address in disguise. */
static int looks_numeric(const char *s)
{
	const char *p = s;
	while (*p) {
		const char *e = strchr(p, '.');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n > 2 && p[0] == '0' && p[1] == 'x') {
			for (size_t i = 2; i < n; i++)
				if (!isxdigit((unsigned char)p[i]))
					return 0;
		} else if (!all_digits(p, n)) {
			return 0;
		}
		if (!e)
			break;
		p = e + 1;
	}
	return 1;
}

static int idn_reason(int rc, const char *in, char *why, size_t whylen)
{
	switch (rc) {
	case IDN2_TOO_BIG_DOMAIN:
		return refuse(why, whylen, "longer than %d characters", FW_HOST_MAX);
	case IDN2_TOO_BIG_LABEL:
		return refuse(why, whylen, "a label is longer than 63 characters");
	case IDN2_HYPHEN_STARTEND:
		return refuse(why, whylen, "a label starts or ends with '-'");
	case IDN2_2HYPHEN:
		return refuse(why, whylen,
			      "'--' in a label's 3rd and 4th place is reserved (only xn-- for IDNs)");
	case IDN2_PUNYCODE_BAD_INPUT:
	case IDN2_PUNYCODE_OVERFLOW:
		return refuse(why, whylen, "an xn-- label is not valid punycode");
	default:
		(void)in;
		return refuse(why, whylen, "not a valid internationalised name (%s)",
			      idn2_strerror(rc));
	}
}

int fw_host_normalize(const char *in, const char *const *deny, char *out, size_t outlen,
		      char *why, size_t whylen)
{
	if (why && whylen)
		why[0] = '\0';
	if (out && outlen)
		out[0] = '\0';
	if (!out || outlen < FW_HOST_MAX + 1)
		return refuse(why, whylen, "internal: output buffer too small");
	if (!in || !in[0])
		return refuse(why, whylen, "empty hostname");
	size_t len = strnlen(in, IN_MAX + 1);
	if (len > IN_MAX)
		return refuse(why, whylen, "longer than %d characters", FW_HOST_MAX);

	/* Bytes first, so a line break or a CIDR gets its own plain reason
	 * rather than a libidn2 error code. */
	int non_ascii = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '\n' || c == '\r')
			return refuse(why, whylen, "contains a line break: give exactly one hostname");
		if (c < 0x20 || c == 0x7f)
			return refuse(why, whylen, "contains a control character (0x%02x)", c);
		if (c == ' ')
			return refuse(why, whylen, "contains a space: give exactly one hostname");
		if (c >= 0x80) {
			unsigned long cp;
			size_t n = utf8_decode((const unsigned char *)in + i, &cp);
			if (n == 0 || i + n > len)
				return refuse(why, whylen, "not valid UTF-8");
			i += n - 1;
			non_ascii = 1;
		}
	}
	if (strstr(in, "://"))
		return refuse(why, whylen, "a URL: give the hostname only, without scheme or path");
	if (strchr(in, '/'))
		return refuse(why, whylen,
			      "contains '/': network ranges (CIDR) and paths are not hostnames");
	if (strchr(in, '*'))
		return refuse(why, whylen, "a wildcard: approve each hostname on its own");
	if (strchr(in, '@'))
		return refuse(why, whylen, "contains '@' (user info): give the hostname only");
	if (strchr(in, '[') || strchr(in, ']'))
		return refuse(why, whylen, "an IPv6 address literal: approve hostnames, not addresses");
	const char *colon = strchr(in, ':');
	if (colon) {
		struct in6_addr a6;
		/* two colons never occur in host:port, always in IPv6 (fe80::1%eth0) */
		if (inet_pton(AF_INET6, in, &a6) == 1 || strchr(colon + 1, ':'))
			return refuse(why, whylen, "an IPv6 address: approve hostnames, not addresses");
		return refuse(why, whylen, "contains ':' (a port?): give the hostname without a port");
	}
	if (strchr(in, '_'))
		return refuse(why, whylen,
			      "contains '_': not allowed in hostnames (RFC 1123; OPNsense refuses it "
			      "too)");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x80 && !isalnum(c) && c != '.' && c != '-')
			return refuse(why, whylen, "contains the character '%c'", c);
	}
	struct in_addr a4;
	if (inet_pton(AF_INET, in, &a4) == 1)
		return refuse(why, whylen, "an IPv4 address: approve hostnames, not addresses");

	/* Lower case and IDN → punycode (UTS #46 mapping also folds full-width
	 * letters and ideographic dots, so the result is what DNS sees). */
	char name[IN_MAX + 1];
	if (non_ascii || strstr(in, "xn--") || strstr(in, "XN--") || strstr(in, "Xn--") ||
	    strstr(in, "xN--")) {
		char *ascii = NULL;
		int rc = idn2_to_ascii_8z(in, &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
		if (rc != IDN2_OK)
			return idn_reason(rc, in, why, whylen);
		snprintf(name, sizeof(name), "%s", ascii);
		free(ascii);
	} else {
		for (size_t i = 0; i <= len; i++)
			name[i] = (char)tolower((unsigned char)in[i]);
	}
	size_t n = strlen(name);
	if (n && name[n - 1] == '.')
		name[--n] = '\0';
	if (n == 0)
		return refuse(why, whylen, "empty hostname");
	if (n > FW_HOST_MAX)
		return refuse(why, whylen, "longer than %d characters (%zu)", FW_HOST_MAX, n);

	/* RFC 1123 labels on the ASCII form. */
	size_t labels = 0;
	const char *last = name;
	for (const char *p = name;;) {
		const char *e = strchr(p, '.');
		size_t ln = e ? (size_t)(e - p) : strlen(p);
		if (ln == 0)
			return refuse(why, whylen, "an empty label ('..' or a leading '.')");
		if (ln > 63)
			return refuse(why, whylen, "a label is longer than 63 characters (%zu)", ln);
		for (size_t i = 0; i < ln; i++)
			if (!(isalnum((unsigned char)p[i]) || p[i] == '-') || (unsigned char)p[i] >= 0x80)
				return refuse(why, whylen, "contains the character '%c'", p[i]);
		if (p[0] == '-' || p[ln - 1] == '-')
			return refuse(why, whylen, "a label starts or ends with '-'");
		if (ln >= 4 && p[2] == '-' && p[3] == '-' && strncmp(p, "xn--", 4) != 0)
			return refuse(why, whylen,
				      "'--' in a label's 3rd and 4th place is reserved (only xn-- for "
				      "IDNs)");
		labels++;
		last = p;
		if (!e)
			break;
		p = e + 1;
	}
	if (looks_numeric(name))
		return refuse(why, whylen,
			      "an IPv4 address in another notation (like 0x7f.1 or 2130706433)");
	if (all_digits(last, strlen(last)))
		return refuse(why, whylen, "the last label is all digits: not a hostname");

	for (size_t i = 0; i < sizeof(builtin_deny) / sizeof(builtin_deny[0]); i++)
		if (name_under(name, builtin_deny[i].name))
			return refuse(why, whylen, "%s is denied: %s", name, builtin_deny[i].why);
	if (labels < 2)
		return refuse(why, whylen,
			      "a single-label name ('%s'): what it reaches depends on the resolver's "
			      "search list; give the full name",
			      name);

	/* Punycode labels must decode (libidn2 checks them on the way back),
	 * and the decoded letters must not mix scripts. */
	if (strstr(name, "xn--")) {
		char *u = NULL;
		int rc = idn2_to_unicode_8z8z(name, &u, 0);
		if (rc != IDN2_OK) {
			free(u);
			return idn_reason(rc, name, why, whylen);
		}
		char *check = NULL;
		rc = idn2_to_ascii_8z(u, &check, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
		int same = rc == IDN2_OK && strcmp(check, name) == 0;
		free(check);
		if (!same) {
			free(u);
			return refuse(why, whylen, "an xn-- label is not in canonical form");
		}
		rc = check_scripts(u, name, why, whylen);
		free(u);
		if (rc < 0)
			return rc;
	}

	for (const char *const *d = deny; d && *d; d++)
		if (deny_matches(name, *d))
			return refuse(why, whylen, "%s is on the deny list (%s)", name, *d);

	memcpy(out, name, n + 1);
	return 0;
}
