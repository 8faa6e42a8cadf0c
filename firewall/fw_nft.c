/*
 * fw_nft.c — the nftables backend: approved names become addresses in two
 * nft sets (allow4, allow6) of our own table; everything else the sandbox
 * sends is rejected. See fw_nft.h for the table's life cycle and the
 * ruleset text (fw_nft_ruleset) for the rules and which hook applies when.
 *
 * Why the nft binary (`nft -f -`, run through fw_proc) and not libnftables:
 * libnftables' nft_run_cmd_from_buffer talks netlink synchronously, so it
 * would block the relay's single loop (or need a thread); a child process
 * is pollable like everything else here, its failures (or a crash) stay
 * out of the relay's address space, and the build needs no extra -dev
 * package. The text is the same either way, and an `nft -f -` file is one
 * kernel transaction.
 *
 * Flow. The core hands us one operation at a time (fw_backend.h):
 *   add     asks the resolver for A and AAAA (fw_nft_dns), then applies the
 *           table with the name's addresses in the sets; done(0) once nft
 *           exited 0. A name that resolves to nothing fails (-ENOENT), one
 *           the resolver cannot answer for fails with its error.
 *   remove  applies the table without the name's addresses, except those
 *           another approved name still resolves to (a shared CDN address
 *           stays while any name needs it).
 *   list    the approved names, at once.
 * Every approved name is asked again when its TTL runs out (clamped to
 * [min_ttl_s, max_ttl_s]); when the answer changed the table is applied
 * with the new addresses (gone ones removed, new ones added). A lookup that
 * fails keeps the old addresses and is retried after min_ttl_s: a flaky
 * resolver must not cut approved access, and an authoritative "no such
 * name" does remove them.
 *
 * Changes are "mutations" in a FIFO: each waits for its DNS answers, then
 * all ready ones go into ONE nft run (a batch) against a copy of the
 * committed state; the copy becomes the committed state only when nft
 * exited 0, so memory never claims what the kernel does not have. One nft
 * child at a time.
 *
 * On destroy nothing is touched in the kernel: the table stays and keeps
 * the sandbox closed (deny by default survives a relay exit or crash), and
 * the addresses approved so far stay allowed. The names are saved in
 * state_dir (fw_nft.h); the next start keeps the sets as they are while it
 * resolves those names again, then replaces them with the fresh addresses.
 * Without saved names the start replaces the table with empty sets.
 *
 * fw_new cannot wait for the first nft run (init must not block): until
 * the owner's loop has stepped it to completion (milliseconds) a FIRST
 * start leaves the sandbox as open as it was before; a failing nft run is
 * audited ("failed", "nft") and every add fails with nft's message.
 *
 * Not done: no TCP fallback for truncated DNS answers (their records are
 * used; 512 bytes hold ~28 A records), one resolver only.
 */
#include "fw_nft.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fw_backend.h"
#include "fw_proc.h"

#define NAME_MAX_ADDRS (2 * FW_DNS_MAX_ADDRS)
/* Refreshes start only while fewer queries than this are in flight: with
 * an add's two and nft's three pipes that stays within FW_POLL_FDS. */
#define MAX_DNS_INFLIGHT 10
#define NFT_TIMEOUT_MS 30000

/* ---------------------------------------------------------------- text */

struct sb {
	char *s;
	size_t len, cap;
	bool oom;
};

static void sb_printf(struct sb *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt,
				  ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 1024;
		while (cap <= b->len + (size_t)n)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

static const char *addr_str(const struct fw_dns_addr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family, a->family == AF_INET ? (const void *)&a->u.v4 :
							 (const void *)&a->u.v6,
		       buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

static int addr_cmp(const void *x, const void *y)
{
	const struct fw_dns_addr *a = x, *b = y;
	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	return a->family == AF_INET ? memcmp(&a->u.v4, &b->u.v4, sizeof(a->u.v4)) :
				      memcmp(&a->u.v6, &b->u.v6, sizeof(a->u.v6));
}

static bool addr_eq(const struct fw_dns_addr *a, const struct fw_dns_addr *b)
{
	return addr_cmp(a, b) == 0;
}

/* ---------------------------------------------------------- options */

static int parse_cidr(const char *s, size_t len, struct fw_nft_cidr *c)
{
	char buf[64];
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *slash = strchr(buf, '/');
	unsigned bits;
	if (slash)
		*slash = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, &c->net.u.v4) == 1) {
		c->net.family = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, buf, &c->net.u.v6) == 1) {
		c->net.family = AF_INET6;
		bits = 128;
	} else {
		return -EINVAL;
	}
	c->prefix = bits;
	if (slash) {
		const char *p = slash + 1;
		if (!*p || strlen(p) > 3)
			return -EINVAL;
		unsigned v = 0;
		for (; *p; p++) {
			if (!isdigit((unsigned char)*p))
				return -EINVAL;
			v = v * 10 + (unsigned)(*p - '0');
		}
		if (v > bits)
			return -EINVAL;
		c->prefix = v;
	}
	/* Clear host bits: nft refuses a prefix with them set. */
	unsigned char *b = c->net.family == AF_INET ? (unsigned char *)&c->net.u.v4 :
						     (unsigned char *)&c->net.u.v6;
	for (unsigned i = 0; i < bits / 8; i++) {
		unsigned keep = c->prefix > i * 8 ? c->prefix - i * 8 : 0;
		if (keep < 8)
			b[i] &= (unsigned char)(0xff00u >> keep);
	}
	return 0;
}

int fw_nft_conf_parse(const struct fw_nft_opts *o, struct fw_nft_conf *c, char *err,
		      size_t errlen)
{
	memset(c, 0, sizeof(*c));
	const char *nft = o->nft && *o->nft ? o->nft : "nft";
	if (strlen(nft) >= sizeof(c->nft)) {
		snprintf(err, errlen, "nftables: nft path too long");
		return -EINVAL;
	}
	snprintf(c->nft, sizeof(c->nft), "%s", nft);

	/* Names end up in the ruleset text: only what cannot change its
	 * meaning there is accepted. */
	const char *t = o->table && *o->table ? o->table : "smrelay";
	size_t tl = strlen(t);
	bool ok = tl < sizeof(c->table) && isalpha((unsigned char)t[0]);
	for (size_t i = 0; ok && i < tl; i++)
		ok = isalnum((unsigned char)t[i]) || t[i] == '_';
	if (!ok) {
		snprintf(err, errlen,
			 "nftables: table name must be a letter then letters, digits or '_' "
			 "(at most 32)");
		return -EINVAL;
	}
	snprintf(c->table, sizeof(c->table), "%s", t);

	if (o->sandbox_iface && *o->sandbox_iface) {
		const char *f = o->sandbox_iface;
		size_t fl = strlen(f);
		ok = fl < 16;
		for (size_t i = 0; ok && i < fl; i++)
			ok = isalnum((unsigned char)f[i]) || f[i] == '_' || f[i] == '-' ||
			     f[i] == '.' || (f[i] == '*' && i == fl - 1 && i > 0);
		if (!ok) {
			snprintf(err, errlen,
				 "nftables: sandbox interface must be at most 15 of [A-Za-z0-9_.-] "
				 "(a trailing '*' matches a prefix)");
			return -EINVAL;
		}
		snprintf(c->iface, sizeof(c->iface), "%s", f);
	}

	if (o->sandbox_cidr && *o->sandbox_cidr) {
		const char *p = o->sandbox_cidr;
		while (*p) {
			while (*p == ',' || *p == ' ')
				p++;
			if (!*p)
				break;
			size_t len = strcspn(p, ", ");
			if (c->ncidr == FW_NFT_MAX_CIDRS ||
			    parse_cidr(p, len, &c->cidr[c->ncidr]) < 0) {
				snprintf(err, errlen,
					 "nftables: sandbox_cidr must be up to %d address/prefix "
					 "entries separated by ',' or ' '",
					 FW_NFT_MAX_CIDRS);
				return -EINVAL;
			}
			c->ncidr++;
			p += len;
		}
	}
	if (!c->iface[0] && !c->ncidr) {
		snprintf(err, errlen,
			 "nftables: set sandbox_iface or sandbox_cidr (what to filter)");
		return -EINVAL;
	}

	if (o->resolver && inet_pton(AF_INET, o->resolver, &c->resolver.u.v4) == 1) {
		c->resolver.family = AF_INET;
	} else if (o->resolver && inet_pton(AF_INET6, o->resolver, &c->resolver.u.v6) == 1) {
		c->resolver.family = AF_INET6;
	} else {
		snprintf(err, errlen, "nftables: resolver must be an IPv4 or IPv6 address");
		return -EINVAL;
	}
	addr_str(&c->resolver, c->resolver_text, sizeof(c->resolver_text));

	c->min_ttl_s = o->min_ttl_s ? o->min_ttl_s : 30;
	c->max_ttl_s = o->max_ttl_s ? o->max_ttl_s : 3600;
	if (c->min_ttl_s > c->max_ttl_s) {
		snprintf(err, errlen, "nftables: min_ttl_s (%u) exceeds max_ttl_s (%u)",
			 c->min_ttl_s, c->max_ttl_s);
		return -EINVAL;
	}
	return 0;
}

/* ---------------------------------------------------------- ruleset */

static void put_cidrs(struct sb *b, const struct fw_nft_conf *c, int family)
{
	bool first = true;
	sb_printf(b, "{ ");
	for (size_t i = 0; i < c->ncidr; i++) {
		if (c->cidr[i].net.family != family)
			continue;
		char a[INET6_ADDRSTRLEN];
		sb_printf(b, "%s%s/%u", first ? "" : ", ",
			  addr_str(&c->cidr[i].net, a, sizeof(a)), c->cidr[i].prefix);
		first = false;
	}
	sb_printf(b, " }");
}

static bool has_family(const struct fw_nft_conf *c, int family)
{
	for (size_t i = 0; i < c->ncidr; i++)
		if (c->cidr[i].net.family == family)
			return true;
	return false;
}

static void put_set(struct sb *b, const char *name, const char *type,
		    const struct fw_dns_addr *v, size_t n, int family)
{
	sb_printf(b, "\tset %s {\n\t\ttype %s\n", name, type);
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		if (v[i].family != family || (i > 0 && addr_eq(&v[i], &v[i - 1])))
			continue;
		char a[INET6_ADDRSTRLEN];
		sb_printf(b, "%s%s", first ? "\t\telements = { " : ",\n\t\t\t",
			  addr_str(&v[i], a, sizeof(a)));
		first = false;
	}
	sb_printf(b, "%s\t}\n", first ? "" : " }\n");
}

#define CHAIN_HEAD_FORWARD "type filter hook forward priority filter; policy accept;"
#define CHAIN_HEAD_INPUT "type filter hook input priority filter; policy accept;"
#define CHAIN_HEAD_OUTPUT "type filter hook output priority filter; policy accept;"

/* The five chains with their rules (inside a `table ... {` block). */
static void put_chains(struct sb *b, const struct fw_nft_conf *c);

char *fw_nft_ruleset(const struct fw_nft_conf *c, const struct fw_dns_addr *addrs, size_t n)
{
	struct fw_dns_addr *v = NULL;
	if (n) {
		v = malloc(n * sizeof(*v));
		if (!v)
			return NULL;
		memcpy(v, addrs, n * sizeof(*v));
		qsort(v, n, sizeof(*v), addr_cmp);
	}
	struct sb b = {0};
	const char *t = c->table;
	sb_printf(&b,
		  "# smrelay nftables backend: this table is replaced as a whole on every\n"
		  "# change (create-if-missing, delete, declare: one atomic transaction).\n"
		  "table inet %s\n"
		  "delete table inet %s\n"
		  "table inet %s {\n",
		  t, t, t);
	put_set(&b, "allow4", "ipv4_addr", v, n, AF_INET);
	put_set(&b, "allow6", "ipv6_addr", v, n, AF_INET6);
	put_chains(&b, c);
	sb_printf(&b, "}\n");
	free(v);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

char *fw_nft_ruleset_keep_sets(const struct fw_nft_conf *c)
{
	struct sb b = {0};
	const char *t = c->table;
	static const char *const chains[] = {"forward", "input", "output", "sandbox_to_host",
					     "sandbox"};
	sb_printf(&b,
		  "# smrelay nftables backend, start-up with names from an earlier run:\n"
		  "# sets created if missing and their elements KEPT, chains re-declared.\n"
		  "table inet %s {\n"
		  "\tset allow4 {\n\t\ttype ipv4_addr\n\t}\n"
		  "\tset allow6 {\n\t\ttype ipv6_addr\n\t}\n"
		  "\tchain forward {\n\t\t" CHAIN_HEAD_FORWARD "\n\t}\n"
		  "\tchain input {\n\t\t" CHAIN_HEAD_INPUT "\n\t}\n"
		  "\tchain output {\n\t\t" CHAIN_HEAD_OUTPUT "\n\t}\n"
		  "\tchain sandbox_to_host {\n\t}\n"
		  "\tchain sandbox {\n\t}\n"
		  "}\n",
		  t);
	for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++)
		sb_printf(&b, "flush chain inet %s %s\n", t, chains[i]);
	sb_printf(&b, "table inet %s {\n", t);
	put_chains(&b, c);
	sb_printf(&b, "}\n");
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

static void put_chains(struct sb *b, const struct fw_nft_conf *c)
{
	const char *rip = c->resolver.family == AF_INET ? "ip" : "ip6";

	/* forward: the sandbox is a namespace, container or VM whose traffic
	 * this host routes (the main layout). Matched by the interface it
	 * comes in on (cannot be spoofed from inside) and/or by its source
	 * subnet (pair that with rp_filter: a sandbox that forges its source
	 * address escapes a subnet match). */
	sb_printf(b, "\tchain forward {\n\t\t" CHAIN_HEAD_FORWARD "\n");
	if (c->iface[0])
		sb_printf(b, "\t\tiifname \"%s\" jump sandbox\n", c->iface);
	if (has_family(c, AF_INET)) {
		sb_printf(b, "\t\tip saddr ");
		put_cidrs(b, c, AF_INET);
		sb_printf(b, " jump sandbox\n");
	}
	if (has_family(c, AF_INET6)) {
		sb_printf(b, "\t\tip6 saddr ");
		put_cidrs(b, c, AF_INET6);
		sb_printf(b, " jump sandbox\n");
	}
	sb_printf(b, "\t}\n");

	/* input: the same sandbox talking to this host itself (its services,
	 * the relay, ssh) is outside the allowlist too, except what a link
	 * needs to work: IPv6 neighbour/router discovery and DHCP. DNS to the
	 * resolver is allowed by the sandbox chain when it runs here. */
	sb_printf(b, "\tchain input {\n\t\t" CHAIN_HEAD_INPUT "\n");
	if (c->iface[0])
		sb_printf(b, "\t\tiifname \"%s\" jump sandbox_to_host\n", c->iface);
	if (has_family(c, AF_INET)) {
		sb_printf(b, "\t\tip saddr ");
		put_cidrs(b, c, AF_INET);
		sb_printf(b, " jump sandbox_to_host\n");
	}
	if (has_family(c, AF_INET6)) {
		sb_printf(b, "\t\tip6 saddr ");
		put_cidrs(b, c, AF_INET6);
		sb_printf(b, " jump sandbox_to_host\n");
	}
	sb_printf(b, "\t}\n");

	/* output: the sandbox is processes on this host (e.g. the table lives
	 * inside the sandbox's own namespace, or sandbox processes are given
	 * a source address of their own). Only a source subnet can tell
	 * their packets apart here; traffic to the sandbox subnet itself and
	 * to loopback is not the sandbox leaving, so it passes (this host
	 * reaching into a sandbox behind it must keep working). With only an
	 * interface configured this chain filters nothing: `oifname` would be
	 * traffic INTO a sandbox behind this host. */
	sb_printf(b, "\tchain output {\n\t\t" CHAIN_HEAD_OUTPUT "\n\t\toifname \"lo\" accept\n");
	if (has_family(c, AF_INET)) {
		sb_printf(b, "\t\tip saddr ");
		put_cidrs(b, c, AF_INET);
		sb_printf(b, " ip daddr != ");
		put_cidrs(b, c, AF_INET);
		sb_printf(b, " jump sandbox\n");
	}
	if (has_family(c, AF_INET6)) {
		sb_printf(b, "\t\tip6 saddr ");
		put_cidrs(b, c, AF_INET6);
		sb_printf(b, " ip6 daddr != ");
		put_cidrs(b, c, AF_INET6);
		sb_printf(b, " jump sandbox\n");
	}
	sb_printf(b, "\t}\n");

	sb_printf(b,
		  "\tchain sandbox_to_host {\n"
		  "\t\ticmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } "
		  "accept\n"
		  "\t\tudp dport { 67, 547 } accept\n"
		  "\t\tjump sandbox\n"
		  "\t}\n");

	/* The verdict for sandbox traffic. `ct direction reply` lets the
	 * sandbox answer connections opened TOWARDS it (e.g. ssh from the
	 * relay); connections the sandbox opens are checked against the sets
	 * on every packet, so a removal cuts open connections as well. DNS
	 * only to the configured resolver. The rest is REJECTED (a TCP reset
	 * or ICMP administratively prohibited): a tool in the sandbox fails at
	 * once with "connection refused" / "no route" instead of hanging in a
	 * silent drop until its connect timeout. */
	sb_printf(b,
		  "\tchain sandbox {\n"
		  "\t\tct direction reply accept\n"
		  "\t\t%s daddr %s meta l4proto { tcp, udp } th dport 53 accept\n"
		  "\t\tip daddr @allow4 accept\n"
		  "\t\tip6 daddr @allow6 accept\n"
		  "\t\tmeta l4proto tcp reject with tcp reset\n"
		  "\t\treject with icmpx admin-prohibited\n"
		  "\t}\n",
		  rip, c->resolver_text);
}

/* ---------------------------------------------------------- state */

struct name {
	char host[FW_HOST_MAX + 1];
	size_t n;
	struct fw_dns_addr a[NAME_MAX_ADDRS];
	uint64_t next_ms; /* when to ask again */
	bool refreshing;  /* a REFRESH mutation is queued */
	bool failing;     /* its last lookup failed (noted once) */
};

struct names {
	struct name *v;
	size_t n, cap;
};

enum mut_kind { M_SYNC, M_ADD, M_REMOVE, M_REFRESH };

struct mut;

struct qslot {
	struct mut *m;
	int fam; /* 0: A, 1: AAAA */
};

struct mut {
	struct mut *next;
	enum mut_kind kind;
	bool core;    /* the core's operation: it gets done */
	int pending;  /* DNS answers outstanding */
	uint64_t qid[2];
	bool qlive[2];
	struct qslot slot[2];
	struct fw_dns_answer ans[2];
	char host[FW_HOST_MAX + 1];
	int rc; /* for the core: result unless nft fails */
	char msg[256];
};

struct nft {
	struct fw_be *be;
	struct fw_nft_conf conf;
	struct fw_dns *dns;
	struct names committed; /* what the kernel has (last nft exit 0) */
	struct names proposed;  /* what the running nft is applying */
	struct mut *queue;      /* FIFO: resolving or ready */
	struct mut *batch;      /* in the running nft */
	struct fw_proc *proc;
	char *text;       /* the running nft's input */
	char *last_text;  /* the last one applied */
	fw_be_done_fn done;
	char state_path[PATH_MAX]; /* "" without a state_dir */
	bool names_dirty;          /* the name list changed since saved */
	bool keep_sets;            /* the next batch is the start-up one keeping them */
	/* A finished core operation, reported at the end of step (so the
	 * core may start its next operation from inside done safely). */
	bool have_result;
	int result_rc;
	char result_msg[512];
};

static void names_free(struct names *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int names_copy(struct names *dst, const struct names *src)
{
	memset(dst, 0, sizeof(*dst));
	if (!src->n)
		return 0;
	dst->v = malloc(src->n * sizeof(*dst->v));
	if (!dst->v)
		return -ENOMEM;
	memcpy(dst->v, src->v, src->n * sizeof(*dst->v));
	dst->n = dst->cap = src->n;
	return 0;
}

static struct name *names_find(struct names *s, const char *host)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].host, host) == 0)
			return &s->v[i];
	return NULL;
}

static struct name *names_add(struct names *s, const char *host)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct name *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		s->v = v;
		s->cap = cap;
	}
	struct name *nm = &s->v[s->n++];
	memset(nm, 0, sizeof(*nm));
	snprintf(nm->host, sizeof(nm->host), "%s", host);
	return nm;
}

static void names_del(struct names *s, struct name *nm)
{
	size_t i = (size_t)(nm - s->v);
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	s->n--;
}

/* Every address of every name (duplicates included: the ruleset
 * de-duplicates). NULL with *n 0 when there are none. */
static struct fw_dns_addr *names_addrs(const struct names *s, size_t *n, int *rc)
{
	size_t total = 0;
	*rc = 0;
	for (size_t i = 0; i < s->n; i++)
		total += s->v[i].n;
	*n = total;
	if (!total)
		return NULL;
	struct fw_dns_addr *v = malloc(total * sizeof(*v));
	if (!v) {
		*rc = -ENOMEM;
		return NULL;
	}
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = 0; j < s->v[i].n; j++)
			v[k++] = s->v[i].a[j];
	return v;
}

static uint64_t clamp_ttl_ms(const struct nft *t, uint32_t ttl)
{
	if (ttl < t->conf.min_ttl_s)
		ttl = t->conf.min_ttl_s;
	if (ttl > t->conf.max_ttl_s)
		ttl = t->conf.max_ttl_s;
	return (uint64_t)ttl * 1000u;
}

/* When to ask again after answers ans[0] (A) and ans[1] (AAAA): the
 * smallest TTL of the records; without records the negative TTL; a family
 * that failed is retried soon (min_ttl). */
static uint64_t next_after(const struct nft *t, const struct fw_dns_answer ans[2], uint64_t now)
{
	uint32_t ttl = UINT32_MAX;
	bool any = false;
	for (int f = 0; f < 2; f++) {
		if (ans[f].rc == 0 && ans[f].n) {
			any = true;
			if (ans[f].ttl < ttl)
				ttl = ans[f].ttl;
		}
	}
	for (int f = 0; f < 2; f++) {
		if (!any && ans[f].rc == 0 && ans[f].ttl < ttl)
			ttl = ans[f].ttl;
		if (ans[f].rc < 0 && t->conf.min_ttl_s < ttl)
			ttl = t->conf.min_ttl_s;
	}
	if (ttl == UINT32_MAX)
		ttl = t->conf.min_ttl_s;
	return now + clamp_ttl_ms(t, ttl);
}

/* Replaces nm's addresses of each family that got an answer (rc 0) by
 * that answer's; families whose lookup failed keep theirs. */
static void name_update(struct name *nm, const struct fw_dns_answer ans[2])
{
	struct fw_dns_addr keep[NAME_MAX_ADDRS];
	size_t k = 0;
	for (size_t i = 0; i < nm->n; i++) {
		int f = nm->a[i].family == AF_INET ? 0 : 1;
		if (ans[f].rc < 0)
			keep[k++] = nm->a[i];
	}
	for (int f = 0; f < 2; f++)
		if (ans[f].rc == 0)
			for (size_t i = 0; i < ans[f].n && k < NAME_MAX_ADDRS; i++)
				keep[k++] = ans[f].addrs[i];
	memcpy(nm->a, keep, k * sizeof(keep[0]));
	nm->n = k;
}

/* "+a -b" between two address lists, for the audit log. */
static void describe_change(const struct name *before, const struct name *after, char *buf,
			    size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (int pass = 0; pass < 2; pass++) {
		const struct name *x = pass ? before : after, *y = pass ? after : before;
		for (size_t i = 0; i < x->n; i++) {
			bool found = false;
			for (size_t j = 0; j < y->n && !found; j++)
				found = addr_eq(&x->a[i], &y->a[j]);
			if (found)
				continue;
			char a[INET6_ADDRSTRLEN];
			int w = snprintf(buf + o, len - o, "%s%c%s", o ? " " : "", pass ? '-' : '+',
					 addr_str(&x->a[i], a, sizeof(a)));
			if (w < 0 || (size_t)w >= len - o)
				return;
			o += (size_t)w;
		}
	}
}

/* ---------------------------------------------------------- persistence */

/* The approved names survive a restart in state_dir/nft-<table>.names,
 * one per line (written to a temporary file, fsync'ed, renamed: never
 * torn). The kernel's sets hold only addresses; without the names a
 * restarted relay could neither re-resolve them nor list them to the
 * core. */
static void save_names(struct nft *t)
{
	if (!t->state_path[0])
		return;
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", t->state_path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok = fd >= 0;
	for (size_t i = 0; ok && i < t->committed.n; i++) {
		char line[FW_HOST_MAX + 2];
		int n = snprintf(line, sizeof(line), "%s\n", t->committed.v[i].host);
		ok = write(fd, line, (size_t)n) == n;
	}
	if (fd >= 0) {
		ok = fsync(fd) == 0 && ok;
		ok = close(fd) == 0 && ok;
	}
	ok = ok && rename(tmp, t->state_path) == 0;
	if (!ok) {
		unlink(tmp);
		fw_be_note(t->be, "notice", NULL, "failed",
			   "nftables: cannot save the approved names in the state directory");
		return;
	}
	t->names_dirty = false;
}

/* Names saved by an earlier run, each checked by the hostname policy again
 * with today's deny list (a name denied since is not restored; and only a
 * name that passed the policy ever reaches the resolver). Returns how many
 * were loaded. */
static size_t load_names(struct nft *t, const char *const *deny)
{
	if (!t->state_path[0])
		return 0;
	FILE *f = fopen(t->state_path, "r");
	if (!f)
		return 0;
	char line[1024];
	size_t n = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		char norm[FW_HOST_MAX + 1], why[128];
		if (!line[0] ||
		    fw_host_normalize(line, deny, norm, sizeof(norm), why, sizeof(why)) < 0) {
			if (line[0])
				fw_be_note(t->be, "notice", NULL, "dropped",
					   "nftables: a saved name no longer passes the policy");
			continue;
		}
		if (names_find(&t->committed, norm))
			continue;
		struct name *nm = names_add(&t->committed, norm);
		if (!nm)
			break;
		nm->next_ms = 0; /* resolve at the first step */
		n++;
	}
	fclose(f);
	return n;
}

/* ---------------------------------------------------------- mutations */

static void mut_free(struct nft *t, struct mut *m)
{
	for (int f = 0; f < 2; f++)
		if (m->qlive[f])
			fw_dns_cancel(t->dns, m->qid[f]);
	free(m);
}

static void on_answer(void *data, const struct fw_dns_answer *a)
{
	struct qslot *s = data;
	struct mut *m = s->m;
	m->ans[s->fam] = *a;
	m->qlive[s->fam] = false;
	m->pending--;
}

static struct mut *mut_new(struct nft *t, enum mut_kind kind, const char *host)
{
	struct mut *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->kind = kind;
	if (host)
		snprintf(m->host, sizeof(m->host), "%s", host);
	if (kind == M_ADD || kind == M_REFRESH) {
		for (int f = 0; f < 2; f++) {
			m->slot[f].m = m;
			m->slot[f].fam = f;
			int rc = fw_dns_query(t->dns, host, f ? ns_t_aaaa : ns_t_a, on_answer,
					      &m->slot[f], &m->qid[f]);
			if (rc < 0) {
				m->ans[f].rc = rc;
				snprintf(m->ans[f].why, sizeof(m->ans[f].why),
					 "cannot query the resolver: %s", strerror(-rc));
			} else {
				m->qlive[f] = true;
				m->pending++;
			}
		}
	}
	/* FIFO */
	struct mut **pp = &t->queue;
	while (*pp)
		pp = &(*pp)->next;
	*pp = m;
	return m;
}

static bool queue_has_ready(const struct nft *t)
{
	for (const struct mut *m = t->queue; m; m = m->next)
		if (!m->pending)
			return true;
	return false;
}

static void set_result(struct nft *t, int rc, const char *msg)
{
	t->have_result = true;
	t->result_rc = rc;
	snprintf(t->result_msg, sizeof(t->result_msg), "%s", msg);
}

/* Names with a REFRESH still queued keep their flag whichever copy of the
 * state became the committed one. */
static void remark_refreshing(struct nft *t)
{
	for (size_t i = 0; i < t->committed.n; i++)
		t->committed.v[i].refreshing = false;
	for (const struct mut *m = t->queue; m; m = m->next) {
		if (m->kind != M_REFRESH)
			continue;
		struct name *nm = names_find(&t->committed, m->host);
		if (nm)
			nm->refreshing = true;
	}
}

static void finish_batch(struct nft *t, bool ok, const char *why)
{
	uint64_t now = fw_now_ms();
	if (ok) {
		bool changed = t->committed.n != t->proposed.n;
		for (size_t i = 0; !changed && i < t->committed.n; i++)
			changed = strcmp(t->committed.v[i].host, t->proposed.v[i].host) != 0;
		t->names_dirty = t->names_dirty || changed;
		names_free(&t->committed);
		t->committed = t->proposed;
		memset(&t->proposed, 0, sizeof(t->proposed));
		free(t->last_text);
		t->last_text = t->text;
		t->text = NULL;
	} else {
		names_free(&t->proposed);
		free(t->text);
		t->text = NULL;
		fw_be_note(t->be, "failed", NULL, "nft", why);
	}
	remark_refreshing(t);
	if (t->names_dirty)
		save_names(t);
	while (t->batch) {
		struct mut *m = t->batch;
		t->batch = m->next;
		if (m->kind == M_REFRESH && !ok) {
			/* Kept the old addresses; try again soon. */
			struct name *nm = names_find(&t->committed, m->host);
			if (nm)
				nm->next_ms = now + clamp_ttl_ms(t, t->conf.min_ttl_s);
		}
		if (m->core) {
			if (!ok && m->rc == 0)
				set_result(t, -EIO, why);
			else
				set_result(t, m->rc, m->msg);
		}
		mut_free(t, m);
	}
}

/* Applies every ready mutation to a copy of the committed state and starts
 * nft with the resulting table (or finishes at once when nothing changed).
 * Returns 0 or the error that kept nft from starting (the batch is then
 * finished as failed). */
static int start_batch(struct nft *t)
{
	if (t->proc || t->batch)
		return 0;
	/* Move the ready mutations, in order, into the batch. */
	struct mut **tail = &t->batch;
	for (struct mut **pp = &t->queue; *pp;) {
		if ((*pp)->pending) {
			pp = &(*pp)->next;
			continue;
		}
		struct mut *m = *pp;
		*pp = m->next;
		m->next = NULL;
		*tail = m;
		tail = &m->next;
	}
	if (!t->batch)
		return 0;

	uint64_t now = fw_now_ms();
	bool force = false;
	char why[512];
	if (names_copy(&t->proposed, &t->committed) < 0) {
		finish_batch(t, false, "out of memory");
		return -ENOMEM;
	}
	for (struct mut *m = t->batch; m; m = m->next) {
		struct name *nm = m->kind == M_SYNC ? NULL : names_find(&t->proposed, m->host);
		switch (m->kind) {
		case M_SYNC:
			force = true;
			break;
		case M_ADD: {
			force = true;
			size_t got = 0;
			for (int f = 0; f < 2; f++)
				got += m->ans[f].rc == 0 ? m->ans[f].n : 0;
			if (!got) {
				const struct fw_dns_answer *bad =
					m->ans[0].rc < 0 ? &m->ans[0] : &m->ans[1];
				if (bad->rc < 0) {
					m->rc = bad->rc;
					snprintf(m->msg, sizeof(m->msg), "cannot resolve: %s",
						 bad->why);
				} else {
					m->rc = -ENOENT;
					snprintf(m->msg, sizeof(m->msg), "%s",
						 m->ans[0].nxdomain ?
							 "the name does not exist (NXDOMAIN)" :
							 "the name has no A or AAAA records");
				}
				break;
			}
			bool existed = nm != NULL;
			if (!nm)
				nm = names_add(&t->proposed, m->host);
			if (!nm) {
				m->rc = -ENOMEM;
				snprintf(m->msg, sizeof(m->msg), "out of memory");
				break;
			}
			name_update(nm, m->ans);
			nm->next_ms = next_after(t, m->ans, now);
			size_t o = 0;
			o += (size_t)snprintf(m->msg, sizeof(m->msg), "%s:",
					      existed ? "already present, refreshed" : "added");
			for (size_t i = 0; i < nm->n && o < sizeof(m->msg); i++) {
				char a[INET6_ADDRSTRLEN];
				o += (size_t)snprintf(m->msg + o, sizeof(m->msg) - o, " %s",
						      addr_str(&nm->a[i], a, sizeof(a)));
			}
			break;
		}
		case M_REMOVE:
			force = true;
			if (nm) {
				names_del(&t->proposed, nm);
				snprintf(m->msg, sizeof(m->msg), "removed");
			} else {
				snprintf(m->msg, sizeof(m->msg), "not present");
			}
			break;
		case M_REFRESH:
			if (!nm)
				break; /* removed meanwhile */
			{
				struct name before = *nm;
				name_update(nm, m->ans);
				nm->next_ms = next_after(t, m->ans, now);
				char ch[512];
				describe_change(&before, nm, ch, sizeof(ch));
				if (ch[0])
					fw_be_note(t->be, "resolved", nm->host, "changed", ch);
				/* Noted when lookups start failing and when they
				 * work again, not at every retry. */
				const struct fw_dns_answer *bad =
					m->ans[0].rc < 0 ? &m->ans[0] :
					m->ans[1].rc < 0 ? &m->ans[1] : NULL;
				if (bad && !nm->failing)
					fw_be_note(t->be, "resolved", nm->host,
						   "failed, addresses kept", bad->why);
				else if (!bad && nm->failing)
					fw_be_note(t->be, "resolved", nm->host, "ok",
						   "the resolver answers again");
				nm->failing = bad != NULL;
			}
			break;
		}
	}

	int rc = 0;
	size_t n;
	struct fw_dns_addr *v = names_addrs(&t->proposed, &n, &rc);
	if (rc == 0 && t->keep_sets) {
		t->text = fw_nft_ruleset_keep_sets(&t->conf);
		t->keep_sets = false;
	} else {
		t->text = rc < 0 ? NULL : fw_nft_ruleset(&t->conf, v, n);
	}
	free(v);
	if (!t->text) {
		finish_batch(t, false, "out of memory");
		return -ENOMEM;
	}
	if (!force && t->last_text && strcmp(t->text, t->last_text) == 0) {
		finish_batch(t, true, NULL);
		return 0;
	}
	const char *argv[] = {t->conf.nft, "-f", "-", NULL};
	struct fw_proc_opts po = {
		.argv = argv,
		.stdin_data = t->text,
		.stdin_len = strlen(t->text),
		.timeout_ms = NFT_TIMEOUT_MS,
	};
	char err[256];
	rc = fw_proc_start(&po, &t->proc, err, sizeof(err));
	if (rc < 0) {
		snprintf(why, sizeof(why), "nft: %s", err);
		finish_batch(t, false, why);
		return rc;
	}
	return 0;
}

static void proc_done(struct nft *t)
{
	struct fw_proc_result r;
	bool ok = fw_proc_result(t->proc, &r) == 0 && !r.timed_out && r.exit_status == 0;
	char why[512] = "";
	if (!ok) {
		char d[400];
		fw_proc_describe(t->proc, d, sizeof(d));
		snprintf(why, sizeof(why), "nft: %s", d);
	}
	fw_proc_free(t->proc);
	t->proc = NULL;
	finish_batch(t, ok, why);
}

static void schedule_refreshes(struct nft *t, uint64_t now)
{
	for (size_t i = 0; i < t->committed.n; i++) {
		struct name *nm = &t->committed.v[i];
		if (nm->refreshing || nm->next_ms > now)
			continue;
		if (fw_dns_pending(t->dns) + 2 > MAX_DNS_INFLIGHT)
			return;
		if (!mut_new(t, M_REFRESH, nm->host))
			return;
		nm->refreshing = true;
	}
}

/* ---------------------------------------------------------- backend ops */

static void nft_destroy(struct fw_be *be)
{
	struct nft *t = be->priv;
	if (!t)
		return;
	/* A running nft is killed: its transaction either committed whole or
	 * not at all. The table stays in the kernel (see the top). */
	fw_proc_free(t->proc);
	while (t->queue) {
		struct mut *m = t->queue;
		t->queue = m->next;
		mut_free(t, m);
	}
	while (t->batch) {
		struct mut *m = t->batch;
		t->batch = m->next;
		mut_free(t, m);
	}
	fw_dns_free(t->dns);
	names_free(&t->committed);
	names_free(&t->proposed);
	free(t->text);
	free(t->last_text);
	free(t);
	be->priv = NULL;
}

static int nft_init(struct fw_be *be, const struct fw_opts *o, char *err, size_t errlen)
{
	struct nft *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	be->priv = t;
	t->be = be;
	int rc = fw_nft_conf_parse(&o->nft, &t->conf, err, errlen);
	if (rc < 0)
		return rc;
	rc = fw_dns_new(t->conf.resolver_text, &t->dns, err, errlen);
	if (rc < 0)
		return rc;
	if (o->state_dir)
		snprintf(t->state_path, sizeof(t->state_path), "%s/nft-%s.names", o->state_dir,
			 t->conf.table);
	/* Set the table up now. Without names from an earlier run: the same
	 * whole replace as every later change, with empty sets (deny by
	 * default from the start, stale addresses gone). With them: sets kept
	 * as the last run left them, so approved names keep working while
	 * they are resolved again (the first step asks; the batch after
	 * that replaces the table with exactly their addresses). Either way
	 * the rules are re-declared and the table exists before fw_new
	 * returns to the loop. */
	t->keep_sets = load_names(t, o->deny) > 0;
	if (!mut_new(t, M_SYNC, NULL)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = start_batch(t);
	if (rc < 0) {
		snprintf(err, errlen, "nftables: cannot run %s: %s", t->conf.nft, strerror(-rc));
		return rc;
	}
	return 0;
}

static int nft_apply(struct fw_be *be, enum fw_op op, const char *host, fw_be_done_fn done)
{
	struct nft *t = be->priv;
	t->done = done;
	if (op == FW_OP_LIST) {
		const char **hosts = calloc(t->committed.n + 1, sizeof(*hosts));
		if (!hosts) {
			done(be, -ENOMEM, "out of memory", NULL, 0);
			return 0;
		}
		for (size_t i = 0; i < t->committed.n; i++)
			hosts[i] = t->committed.v[i].host;
		done(be, 0, "ok", hosts, t->committed.n);
		free(hosts);
		return 0;
	}
	if (!host)
		return -EINVAL;
	struct mut *m = mut_new(t, op == FW_OP_ADD ? M_ADD : M_REMOVE, host);
	if (!m) {
		done(be, -ENOMEM, "out of memory", NULL, 0);
		return 0;
	}
	m->core = true;
	return 0;
}

static size_t nft_poll(struct fw_be *be, struct pollfd *fds, size_t max, uint64_t *deadline_ms)
{
	struct nft *t = be->priv;
	uint64_t now = fw_now_ms();
	size_t n = fw_dns_poll(t->dns, fds, max, deadline_ms);
	if (t->proc)
		n += fw_proc_poll(t->proc, fds + n, max - n, deadline_ms);
	else if (queue_has_ready(t))
		*deadline_ms = now;
	if (t->have_result)
		*deadline_ms = now;
	bool dns_room = fw_dns_pending(t->dns) + 2 <= MAX_DNS_INFLIGHT;
	for (size_t i = 0; dns_room && i < t->committed.n; i++) {
		const struct name *nm = &t->committed.v[i];
		if (!nm->refreshing && nm->next_ms < *deadline_ms)
			*deadline_ms = nm->next_ms;
	}
	return n;
}

static void nft_step(struct fw_be *be)
{
	struct nft *t = be->priv;
	uint64_t now = fw_now_ms();
	fw_dns_step(t->dns, now);
	if (t->proc && fw_proc_step(t->proc))
		proc_done(t);
	schedule_refreshes(t, now);
	if (!t->proc)
		start_batch(t);
	if (t->have_result && t->done) {
		/* Last: done may call apply for the next operation. */
		t->have_result = false;
		t->done(be, t->result_rc, t->result_msg, NULL, 0);
	}
}

const struct fw_backend_ops fw_backend_nft = {
	.name = "nftables",
	.init = nft_init,
	.destroy = nft_destroy,
	.apply = nft_apply,
	.poll = nft_poll,
	.step = nft_step,
};
