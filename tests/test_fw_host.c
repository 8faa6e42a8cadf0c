/* test_fw_host.c — the hostname policy (fw_host_normalize) against a table
 * of hostile and tricky inputs: each one is either normalised to an exact
 * expected name or refused with a reason that says why. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fw.h"

struct row {
	const char *in;
	const char *out; /* expected name, or NULL: refused */
	const char *why; /* a substring of the reason when refused */
};

static const struct row rows[] = {
	/* plain names, case folding, one trailing dot */
	{"pypi.org", "pypi.org", NULL},
	{"API.OpenAI.COM", "api.openai.com", NULL},
	{"pypi.org.", "pypi.org", NULL},
	{"files.pythonhosted.org", "files.pythonhosted.org", NULL},
	{"1abc.example", "1abc.example", NULL},
	{"a-b.c-d.example", "a-b.c-d.example", NULL},
	/* IDN → punycode, so the approver sees xn-- */
	{"Bücher.example", "xn--bcher-kva.example", NULL},
	{"xn--bcher-kva.example", "xn--bcher-kva.example", NULL},
	{"ß.de", "xn--zca.de", NULL},
	{"例え.jp", "xn--r8jz45g.jp", NULL}, /* Han + Hiragana: one writing system */
	{"mañana.example", "xn--maana-pta.example", NULL},
	/* a whole-script look-alike passes, but only ever shown as punycode */
	{"аррӏе.com", "xn--80ak6aa92e.com", NULL},
	/* UTS #46 folds full-width letters and ideographic dots */
	{"ｅｖｉｌ.com", "evil.com", NULL},
	{"evil。com", "evil.com", NULL},

	/* more than one name, whitespace, control bytes */
	{"", NULL, "empty"},
	{".", NULL, "empty"},
	{"evil.com\nbad.com", NULL, "line break"},
	{"evil.com\r\nbad.com", NULL, "line break"},
	{"evil.com\n", NULL, "line break"},
	{"evil.com\tbad", NULL, "control character"},
	{"evil.com\x1b[2J", NULL, "control character"},
	{"evil.com bad.com", NULL, "space"},
	{" pypi.org", NULL, "space"},
	{"\x80pypi.org", NULL, "UTF-8"},
	{"pypi\xc0\xaf.org", NULL, "UTF-8"}, /* overlong '/' */
	/* ranges, wildcards, URLs, ports, user info */
	{"0.0.0.0/0", NULL, "CIDR"},
	{"10.0.0.0/8", NULL, "CIDR"},
	{"::/0", NULL, "CIDR"},
	{"*.com", NULL, "wildcard"},
	{"*", NULL, "wildcard"},
	{"pypi.*", NULL, "wildcard"},
	{"https://pypi.org/simple", NULL, "URL"},
	{"pypi.org/simple", NULL, "path"},
	{"pypi.org:443", NULL, "port"},
	{"user@host.example", NULL, "user info"},
	{"user:pw@host.example", NULL, "user info"},
	{"pypi.org,evil.com", NULL, "','"},
	{"pypi.org;evil.com", NULL, "';'"},
	{"$(reboot).example", NULL, "'$'"},
	{"`id`.example", NULL, "'`'"},
	/* addresses in every notation */
	{"127.0.0.1", NULL, "IPv4 address"},
	{"169.254.169.254", NULL, "IPv4 address"},
	{"0.0.0.0", NULL, "IPv4 address"},
	{"::1", NULL, "IPv6"},
	{"[::1]", NULL, "IPv6"},
	{"[::1]:443", NULL, "IPv6"},
	{"fe80::1%eth0", NULL, "IPv6"},
	{"::ffff:169.254.169.254", NULL, "IPv6"},
	{"0x7f.1", NULL, "another notation"},
	{"2130706433", NULL, "another notation"},
	{"0x7f000001", NULL, "another notation"},
	{"017.0.0.1", NULL, "another notation"},
	{"1.2.3", NULL, "another notation"},
	{"abc.123", NULL, "all digits"},
	/* label syntax */
	{"foo..com", NULL, "empty label"},
	{".foo.com", NULL, "empty label"},
	{"foo.com..", NULL, "empty label"},
	{"-foo.com", NULL, "'-'"},
	{"foo-.com", NULL, "'-'"},
	{"foo.-com", NULL, "'-'"},
	{"ab--cd.com", NULL, "reserved"},
	{"foo_bar.com", NULL, "'_'"},
	{"_dmarc.example.com", NULL, "'_'"},
	{"xn--zzzzzz.com", NULL, "punycode"},
	{"xn--pypal-4ve.com", NULL, "mixes Latin and Cyrillic"},
	/* look-alikes mixing scripts inside one label */
	{"pаypal.com", NULL, "mixes Latin and Cyrillic"},       /* Cyrillic а */
	{"gοogle.com", NULL, "mixes Latin and Greek"},          /* Greek ο */
	{"аpple.com", NULL, "xn--pple-43d.com"},                /* the reason names the punycode */
	{"evil\xe2\x80\xae" "moc.example", NULL, "internationalised"}, /* RTL override */
	{"a\xe2\x80\x8d" "b.example", NULL, "internationalised"},      /* ZWJ */
	/* built-in deny names */
	{"localhost", NULL, "loopback"},
	{"LOCALHOST.", NULL, "loopback"},
	{"db.localhost", NULL, "loopback"},
	{"localhost.localdomain", NULL, "loopback"},
	{"metadata.google.internal", NULL, "metadata"},
	{"METADATA.GOOGLE.INTERNAL.", NULL, "metadata"},
	{"metadata.goog", NULL, "metadata"},
	{"instance-data.ec2.internal", NULL, "metadata"},
	{"metadata", NULL, "single-label"},
	{"intranet", NULL, "single-label"},
	{"printer.local", NULL, "multicast DNS"},
	{"1.0.0.127.in-addr.arpa", NULL, "reverse-DNS"},
};

Test(fw_host, hostile_and_tricky_inputs)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		char out[FW_HOST_MAX + 1], why[256];
		int rc = fw_host_normalize(r->in, NULL, out, sizeof(out), why, sizeof(why));
		if (r->out) {
			cr_expect_eq(rc, 0, "row %zu '%s' refused: %s", i, r->in, why);
			if (rc == 0)
				cr_expect_str_eq(out, r->out, "row %zu '%s'", i, r->in);
		} else {
			cr_expect_eq(rc, -EINVAL, "row %zu '%s' accepted as '%s'", i, r->in, out);
			cr_expect_not_null(strstr(why, r->why), "row %zu '%s': reason '%s' lacks '%s'", i,
					   r->in, why, r->why);
			cr_expect_str_eq(out, "", "row %zu: refused input left output behind", i);
		}
	}
}

Test(fw_host, length_limits)
{
	char in[600], out[FW_HOST_MAX + 1], why[256];
	/* a 63-character label is fine, 64 is not */
	memset(in, 'a', 63);
	strcpy(in + 63, ".example");
	cr_assert_eq(fw_host_normalize(in, NULL, out, sizeof(out), why, sizeof(why)), 0, "%s", why);
	memset(in, 'a', 64);
	strcpy(in + 64, ".example");
	cr_assert_eq(fw_host_normalize(in, NULL, out, sizeof(out), why, sizeof(why)), -EINVAL);
	cr_assert_not_null(strstr(why, "63"), "%s", why);

	/* exactly 253 characters (four labels of 63, one of 1... and dots) */
	char *p = in;
	for (int l = 0; l < 3; l++) {
		memset(p, 'b' + l, 63);
		p += 63;
		*p++ = '.';
	}
	memset(p, 'z', 61); /* 3*64 + 61 = 253 */
	p[61] = '\0';
	cr_assert_eq(strlen(in), 253);
	cr_assert_eq(fw_host_normalize(in, NULL, out, sizeof(out), why, sizeof(why)), 0, "%s", why);
	cr_assert_str_eq(out, in);
	/* one more is too long; a trailing dot does not count */
	strcat(in, ".");
	cr_assert_eq(fw_host_normalize(in, NULL, out, sizeof(out), why, sizeof(why)), 0, "%s", why);
	in[253] = 'z';
	in[254] = '\0';
	cr_assert_eq(fw_host_normalize(in, NULL, out, sizeof(out), why, sizeof(why)), -EINVAL);
	cr_assert_not_null(strstr(why, "253"), "%s", why);

	/* 500 characters */
	for (int i = 0; i < 500; i++)
		in[i] = (i % 10 == 9) ? '.' : 'x';
	in[500] = '\0';
	cr_assert_eq(fw_host_normalize(in, NULL, out, sizeof(out), why, sizeof(why)), -EINVAL);
	cr_assert_not_null(strstr(why, "longer than 253"), "%s", why);
}

Test(fw_host, configured_deny_list)
{
	const char *deny[] = {"internal.corp.example", "*.relay.example", "Bücher.example",
			      ".Mirror.Example.", NULL};
	char out[FW_HOST_MAX + 1], why[256];
	const char *refused[] = {"internal.corp.example", "git.internal.corp.example",
				 "relay.example", "x.relay.example", "INTERNAL.corp.example.",
				 "xn--bcher-kva.example", "shop.bücher.example", "mirror.example"};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		cr_expect_eq(fw_host_normalize(refused[i], deny, out, sizeof(out), why, sizeof(why)),
			     -EINVAL, "%s was not denied", refused[i]);
		cr_expect_not_null(strstr(why, "deny list"), "%s: %s", refused[i], why);
	}
	/* a suffix match only counts on a label boundary */
	const char *allowed[] = {"notrelay.example", "corp.example", "mirror.example.org",
				 "internal.corp.example.org"};
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		cr_expect_eq(fw_host_normalize(allowed[i], deny, out, sizeof(out), why, sizeof(why)),
			     0, "%s: %s", allowed[i], why);
}

Test(fw_host, small_output_buffer_is_refused)
{
	char out[16], why[128];
	cr_assert_eq(fw_host_normalize("pypi.org", NULL, out, sizeof(out), why, sizeof(why)),
		     -EINVAL);
	cr_assert_not_null(strstr(why, "buffer"), "%s", why);
	cr_assert_eq(fw_host_normalize(NULL, NULL, out, 0, NULL, 0), -EINVAL);
}
