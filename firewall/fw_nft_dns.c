/* fw_nft_dns.c — non-blocking A/AAAA lookups through libresolv (see
 * fw_nft_dns.h). */
#include "fw_nft_dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Per try: 1 s, then 2 s, then 3 s (6 s in all) before -ETIMEDOUT. A
 * resolver that answers at all does so in milliseconds; the retries only
 * cover a lost datagram. */
static const unsigned try_ms[] = {1000, 2000, 3000};
#define NTRIES (sizeof(try_ms) / sizeof(try_ms[0]))

#define CNAME_HOPS 8 /* longer chains are treated as a loop */

struct query {
	struct query *next;
	uint64_t id;
	int fd;
	uint16_t dns_id;
	int qtype;
	unsigned tries;       /* packets sent */
	uint64_t deadline_ms; /* retransmit or give up */
	fw_dns_cb cb;
	void *data;
	int len;
	unsigned char pkt[NS_PACKETSZ];
	char name[NS_MAXDNAME];
};

struct fw_dns {
	struct sockaddr_storage server;
	socklen_t server_len;
	struct __res_state rs; /* only for res_nmkquery's options */
	struct query *q;
	uint64_t next_id;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int fw_dns_new(const char *server, struct fw_dns **out, char *err, size_t errlen)
{
	*out = NULL;
	struct fw_dns *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)&d->server;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&d->server;
	if (server && inet_pton(AF_INET, server, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(53);
		d->server_len = sizeof(*s4);
	} else if (server && inet_pton(AF_INET6, server, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(53);
		d->server_len = sizeof(*s6);
	} else {
		snprintf(err, errlen, "resolver must be an IPv4 or IPv6 address");
		free(d);
		return -EINVAL;
	}
	/* res_ninit reads resolv.conf (a local file, no network); we use the
	 * state only for res_nmkquery's flags (recursion desired). */
	if (res_ninit(&d->rs) != 0) {
		snprintf(err, errlen, "res_ninit failed");
		res_nclose(&d->rs);
		free(d);
		return -EIO;
	}
	*out = d;
	return 0;
}

static void query_free(struct query *q)
{
	if (q->fd >= 0)
		close(q->fd);
	free(q);
}

void fw_dns_free(struct fw_dns *d)
{
	if (!d)
		return;
	while (d->q) {
		struct query *q = d->q;
		d->q = q->next;
		query_free(q);
	}
	res_nclose(&d->rs);
	free(d);
}

static int send_try(struct query *q, uint64_t now)
{
	ssize_t w = send(q->fd, q->pkt, (size_t)q->len, 0);
	q->deadline_ms = now + try_ms[q->tries < NTRIES ? q->tries : NTRIES - 1];
	q->tries++;
	/* A full socket buffer is as good as a lost datagram: the retry timer
	 * covers both. */
	if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
		return -errno;
	return 0;
}

int fw_dns_query(struct fw_dns *d, const char *name, int qtype, fw_dns_cb cb, void *data,
		 uint64_t *id)
{
	if (!d || !name || !cb || (qtype != ns_t_a && qtype != ns_t_aaaa) ||
	    strlen(name) >= NS_MAXDNAME)
		return -EINVAL;
	struct query *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->fd = -1;
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->qtype = qtype;
	q->cb = cb;
	q->data = data;
	q->len = res_nmkquery(&d->rs, ns_o_query, name, ns_c_in, qtype, NULL, 0, NULL, q->pkt,
			      sizeof(q->pkt));
	if (q->len < NS_HFIXEDSZ) {
		query_free(q);
		return -EINVAL;
	}
	/* Our own id from the kernel's CSPRNG, written over the one
	 * res_nmkquery chose (the id is the header's first 16 bits). */
	uint16_t rid;
	if (getrandom(&rid, sizeof(rid), GRND_NONBLOCK) != (ssize_t)sizeof(rid)) {
		query_free(q);
		return -EIO;
	}
	ns_put16(rid, q->pkt);
	q->dns_id = rid;

	/* One socket per query: a fresh ephemeral source port each time, and
	 * connect() makes the kernel drop datagrams from anyone but the
	 * server. */
	q->fd = socket(d->server.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (q->fd < 0 || connect(q->fd, (struct sockaddr *)&d->server, d->server_len) < 0) {
		int e = -errno;
		query_free(q);
		return e;
	}
	int rc = send_try(q, now_ms());
	if (rc < 0) {
		query_free(q);
		return rc;
	}
	q->id = ++d->next_id;
	q->next = d->q;
	d->q = q;
	if (id)
		*id = q->id;
	return 0;
}

void fw_dns_cancel(struct fw_dns *d, uint64_t id)
{
	for (struct query **pp = &d->q; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct query *q = *pp;
			*pp = q->next;
			query_free(q);
			return;
		}
	}
}

size_t fw_dns_pending(const struct fw_dns *d)
{
	size_t n = 0;
	for (const struct query *q = d->q; q; q = q->next)
		n++;
	return n;
}

size_t fw_dns_poll(struct fw_dns *d, struct pollfd *fds, size_t max, uint64_t *deadline_ms)
{
	size_t n = 0;
	for (struct query *q = d->q; q; q = q->next) {
		if (n == max) {
			*deadline_ms = now_ms();
			break;
		}
		fds[n].fd = q->fd;
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		n++;
		if (q->deadline_ms < *deadline_ms)
			*deadline_ms = q->deadline_ms;
	}
	return n;
}

/* Names in presentation form as ns_rr_name gives them; DNS compares
 * ASCII case-insensitively (ns_samename does the same but is deprecated in
 * glibc). A trailing dot is optional on either side. */
static bool same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

int fw_dns_parse(const unsigned char *msg, size_t len, uint16_t id, const char *qname, int qtype,
		 struct fw_dns_answer *a)
{
	memset(a, 0, sizeof(*a));
	a->ttl = UINT32_MAX;
	ns_msg m;
	ns_rr rr;
	if (len > NS_MAXMSG || ns_initparse(msg, (int)len, &m) < 0)
		return -EBADMSG;
	if (ns_msg_id(m) != id || !ns_msg_getflag(m, ns_f_qr) ||
	    ns_msg_getflag(m, ns_f_opcode) != ns_o_query || ns_msg_count(m, ns_s_qd) != 1)
		return -EBADMSG;
	if (ns_parserr(&m, ns_s_qd, 0, &rr) < 0 || (int)ns_rr_type(rr) != qtype ||
	    ns_rr_class(rr) != ns_c_in || !same_name(ns_rr_name(rr), qname))
		return -EBADMSG;

	a->truncated = ns_msg_getflag(m, ns_f_tc) != 0;
	int rcode = ns_msg_getflag(m, ns_f_rcode);
	if (rcode == ns_r_nxdomain) {
		a->nxdomain = true;
	} else if (rcode != ns_r_noerror) {
		a->rc = -EIO;
		snprintf(a->why, sizeof(a->why), "resolver answered rcode %d%s", rcode,
			 rcode == ns_r_servfail ? " (SERVFAIL)" :
			 rcode == ns_r_refused	? " (REFUSED)" :
						  "");
		return 0;
	}

	/* Follow the CNAME chain from the asked name; only records owned by
	 * the chain's current end count (a server cannot slip in addresses
	 * for some other name). */
	char cur[NS_MAXDNAME];
	snprintf(cur, sizeof(cur), "%s", qname);
	int nan = ns_msg_count(m, ns_s_an);
	uint32_t chain_ttl = UINT32_MAX;
	for (int hop = 0; hop < CNAME_HOPS; hop++) {
		bool moved = false;
		for (int i = 0; i < nan; i++) {
			if (ns_parserr(&m, ns_s_an, i, &rr) < 0)
				return -EBADMSG;
			if (ns_rr_type(rr) != ns_t_cname || ns_rr_class(rr) != ns_c_in ||
			    !same_name(ns_rr_name(rr), cur))
				continue;
			char target[NS_MAXDNAME];
			if (ns_name_uncompress(ns_msg_base(m), ns_msg_end(m), ns_rr_rdata(rr),
					       target, sizeof(target)) < 0)
				return -EBADMSG;
			snprintf(cur, sizeof(cur), "%s", target);
			chain_ttl = min_u32(chain_ttl, ns_rr_ttl(rr));
			moved = true;
			break;
		}
		if (!moved)
			break;
	}
	for (int i = 0; i < nan; i++) {
		if (ns_parserr(&m, ns_s_an, i, &rr) < 0)
			return -EBADMSG;
		if ((int)ns_rr_type(rr) != qtype || ns_rr_class(rr) != ns_c_in ||
		    !same_name(ns_rr_name(rr), cur))
			continue;
		size_t want = qtype == ns_t_a ? 4 : 16;
		if (ns_rr_rdlen(rr) != want)
			return -EBADMSG;
		if (a->n == FW_DNS_MAX_ADDRS)
			continue;
		struct fw_dns_addr *ad = &a->addrs[a->n++];
		ad->family = qtype == ns_t_a ? AF_INET : AF_INET6;
		memcpy(qtype == ns_t_a ? (void *)&ad->u.v4 : (void *)&ad->u.v6, ns_rr_rdata(rr),
		       want);
		a->ttl = min_u32(a->ttl, ns_rr_ttl(rr));
	}
	if (a->n) {
		a->ttl = min_u32(a->ttl, chain_ttl);
	} else {
		/* Negative answer: RFC 2308 has the server put min(SOA TTL,
		 * SOA MINIMUM) in the SOA record's own TTL. */
		int nns = ns_msg_count(m, ns_s_ns);
		for (int i = 0; i < nns; i++) {
			if (ns_parserr(&m, ns_s_ns, i, &rr) < 0)
				return -EBADMSG;
			if (ns_rr_type(rr) == ns_t_soa)
				a->ttl = min_u32(a->ttl, ns_rr_ttl(rr));
		}
	}
	if (a->truncated)
		snprintf(a->why, sizeof(a->why), "truncated answer (records kept as received)");
	return 0;
}

static void finish(struct fw_dns *d, struct query *q, const struct fw_dns_answer *a)
{
	for (struct query **pp = &d->q; *pp; pp = &(*pp)->next) {
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	}
	fw_dns_cb cb = q->cb;
	void *data = q->data;
	query_free(q);
	cb(data, a);
}

/* One query's socket: 1 when the query finished (q freed), 0 otherwise. */
static int read_answers(struct fw_dns *d, struct query *q, struct fw_dns_answer *a)
{
	unsigned char buf[NS_MAXMSG];
	for (;;) {
		ssize_t r = recv(q->fd, buf, sizeof(buf), 0);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			/* An ICMP error for our connected socket: the resolver
			 * is unreachable or refuses; waiting longer won't help. */
			memset(a, 0, sizeof(*a));
			a->rc = -errno;
			snprintf(a->why, sizeof(a->why), "resolver: %s", strerror(errno));
			finish(d, q, a);
			return 1;
		}
		if (fw_dns_parse(buf, (size_t)r, q->dns_id, q->name, q->qtype, a) == 0) {
			finish(d, q, a);
			return 1;
		}
		/* Not the answer to this question: ignore it, keep waiting. */
	}
}

void fw_dns_step(struct fw_dns *d, uint64_t now)
{
	/* Answers are big (addresses for 32 records); one on the heap serves
	 * every callback of this step. */
	struct fw_dns_answer *a = malloc(sizeof(*a));
	if (!a)
		return; /* retried at the next step */
	bool again = true;
	/* A callback may start or cancel queries: restart the walk after
	 * each finished one. */
	while (again) {
		again = false;
		for (struct query *q = d->q; q; q = q->next) {
			if (read_answers(d, q, a)) {
				again = true;
				break;
			}
			if (q->deadline_ms > now)
				continue;
			if (q->tries < NTRIES) {
				int rc = send_try(q, now);
				if (rc == 0)
					continue;
				memset(a, 0, sizeof(*a));
				a->rc = rc;
				snprintf(a->why, sizeof(a->why), "resolver: %s", strerror(-rc));
			} else {
				memset(a, 0, sizeof(*a));
				a->rc = -ETIMEDOUT;
				snprintf(a->why, sizeof(a->why), "resolver: no answer after %u tries",
					 q->tries);
			}
			finish(d, q, a);
			again = true;
			break;
		}
	}
	free(a);
}
