/*
 * fw_nft_dns.h — internal: a small non-blocking stub resolver for the
 * nftables backend. It asks ONE configured DNS server for the A or AAAA
 * records of a name and hands back the addresses with their TTL, so the
 * backend can keep its nft sets in step with the names.
 *
 * Why not getaddrinfo: it blocks (the relay's loop must not), hides the
 * TTL (re-resolution is scheduled from it) and asks whatever resolv.conf
 * says, not the resolver the sandbox is allowed to use. Queries are built
 * and answers parsed with libresolv (res_nmkquery, ns_initparse,
 * ns_parserr); nothing here takes a DNS packet apart by hand.
 *
 * Pollable like the rest of firewall/: every query in flight has its own
 * connected UDP socket (a fresh random source port per query, plus a random
 * 16-bit id: an off-path spoofer has to guess both), fw_dns_poll lists
 * those fds and the next retransmit deadline, fw_dns_step reads answers
 * and runs callbacks. Callbacks run only from fw_dns_step.
 *
 * Answers are accepted only when id, question (name, type, class) and the
 * QR bit match. Records are taken from the answer section along the CNAME
 * chain that starts at the asked name (records for other owners are
 * ignored). A truncated (TC) answer is used as it is: its records are valid,
 * only possibly incomplete, and the name is asked again at the TTL; there is
 * no TCP fallback (see fw_nft.c's notes).
 *
 * Ownership: fw_dns_new copies the server address; the caller frees with
 * fw_dns_free, which drops queries in flight without calling back.
 * Errors: 0 or a negative errno-style code, detail in err / answer->why.
 */
#ifndef FW_NFT_DNS_H
#define FW_NFT_DNS_H

#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_DNS_MAX_ADDRS 32 /* records kept per answer; more are dropped */

struct fw_dns_addr {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} u;
};

struct fw_dns_answer {
	/* 0: the server answered (n may be 0: NXDOMAIN or no records of the
	 * type); negative: no usable answer (-ETIMEDOUT after the retries,
	 * -EIO for SERVFAIL/REFUSED/..., -ECONNREFUSED and other socket
	 * errors). */
	int rc;
	bool nxdomain;
	bool truncated;
	/* Seconds: the smallest TTL of the records used (CNAMEs included); for
	 * an answer without records, the negative TTL from the SOA in the
	 * authority section; UINT32_MAX when the answer carried neither. */
	uint32_t ttl;
	size_t n;
	struct fw_dns_addr addrs[FW_DNS_MAX_ADDRS];
	char why[160]; /* for rc < 0, or a note ("truncated answer") */
};

/* The answer is valid during the call only. */
typedef void (*fw_dns_cb)(void *data, const struct fw_dns_answer *a);

struct fw_dns;

/* server: an IPv4 or IPv6 literal (port 53). -EINVAL when it is not one. */
int fw_dns_new(const char *server, struct fw_dns **out, char *err, size_t errlen);
void fw_dns_free(struct fw_dns *d);

/* Starts a query for name (type ns_t_a or ns_t_aaaa); *id names it for
 * fw_dns_cancel. The first packet is sent at once (a non-blocking send).
 * 0, or -EINVAL (bad name or type), -ENOMEM, or a socket error; cb is not
 * called when this fails. */
int fw_dns_query(struct fw_dns *d, const char *name, int qtype, fw_dns_cb cb, void *data,
		 uint64_t *id);

/* Forgets a query in flight (its callback will not run). Unknown ids are
 * ignored. */
void fw_dns_cancel(struct fw_dns *d, uint64_t id);

/* Number of queries in flight. */
size_t fw_dns_pending(const struct fw_dns *d);

/* Fills at most max fds (POLLIN) and lowers *deadline_ms to the next
 * retransmit or give-up time. With more sockets than max it fills max and
 * sets the deadline to now. */
size_t fw_dns_poll(struct fw_dns *d, struct pollfd *fds, size_t max, uint64_t *deadline_ms);

/* Reads what arrived, retransmits or gives up on what timed out, runs
 * callbacks. now_ms is CLOCK_MONOTONIC in ms. */
void fw_dns_step(struct fw_dns *d, uint64_t now_ms);

/* The parser behind fw_dns_step, exposed for tests: fills *a from the
 * response msg (len bytes) to a question (qname, qtype) sent with id.
 * Returns 0 when msg answers that question (a->rc then tells the outcome),
 * -EBADMSG when it is malformed or answers something else (the caller
 * keeps waiting for the real answer). */
int fw_dns_parse(const unsigned char *msg, size_t len, uint16_t id, const char *qname, int qtype,
		 struct fw_dns_answer *a);

#endif
