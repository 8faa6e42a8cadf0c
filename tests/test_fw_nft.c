/*
 * test_fw_nft.c — the nftables backend, enforced for real: a sandbox
 * namespace routed through a router namespace (where the fw runs and its
 * nft table lives) to an "internet" namespace with HTTP and DNS servers
 * (test_fw_nft_lab.h). Every test builds its own lab (unique names) and
 * tears it down in .fini, also when an assertion failed.
 *
 * Root only; without root, ip netns, nft, dnsmasq or python3 the lab tests
 * skip with the reason. The option-validation, ruleset and DNS-parser
 * tests at the end run everywhere.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fw.h"
#include "fw_nft.h"
#include "fw_nft_dns.h"
#include "test_fw_nft_lab.h"

/* ------------------------------------------------------------ fixture */

static struct netlab lab = {.ns_orig = -1, .ns_sandbox = -1, .ns_router = -1};
static struct fw *fw;

static void lab_fini(void)
{
	fw_free(fw); /* before leaving the router namespace: it reaps nft there */
	fw = NULL;
	netlab_down(&lab);
}

/* An nft wrapper in the lab's dir that appends every transaction it is
 * given to nft.log there, then hands it to the real nft. */
static void write_nft_wrapper(char *path, size_t len)
{
	char log[PATH_MAX + 16];
	snprintf(path, len, "%s/nft", lab.dir);
	snprintf(log, sizeof(log), "%s/nft.log", lab.dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"#!/bin/sh\n"
		"cat > '%s.in'\n"
		"{ echo '=== nft' \"$@\"; cat '%s.in'; } >> '%s'\n"
		"exec nft \"$@\" < '%s.in'\n",
		log, log, log, log);
	fclose(f);
	cr_assert_eq(chmod(path, 0755), 0);
}

/* Skips when the lab cannot run here, builds it with the hosts file, and
 * creates the fw (nftables backend) inside the router namespace; with
 * wrap_nft, nft is write_nft_wrapper's recorder. */
static void lab_start(const char *hosts, const struct fw_nft_opts *nft_opts, bool wrap_nft)
{
	char why[256];
	if (netlab_available(why, sizeof(why)) < 0)
		cr_skip_test("nftables namespace tests skipped: %s", why);
	int rc = netlab_up(&lab, hosts);
	cr_assert_eq(rc, 0, "lab: %s", lab.err);
	char audit[PATH_MAX + 16], state[PATH_MAX + 16], wrapper[PATH_MAX + 16];
	snprintf(audit, sizeof(audit), "%s/audit.jsonl", lab.dir);
	snprintf(state, sizeof(state), "%s/state", lab.dir);
	struct fw_opts o = {.kind = FW_BACKEND_NFTABLES, .audit_path = audit, .state_dir = state};
	if (nft_opts) {
		o.nft = *nft_opts;
	} else {
		o.nft.sandbox_iface = "sbx0";
		o.nft.resolver = LAB_RESOLVER;
		o.nft.min_ttl_s = 1;
	}
	if (wrap_nft) {
		write_nft_wrapper(wrapper, sizeof(wrapper));
		o.nft.nft = wrapper;
	}
	char err[512] = "";
	rc = fw_new(&o, &fw, err, sizeof(err));
	cr_assert_eq(rc, 0, "fw_new: %s", err);
	/* fw_new only starts the table's set-up (it never blocks); the loop
	 * finishes it. */
	cr_assert(lab_settle(fw, 5000), "the fw never went idle after fw_new");
}

static const struct fw_actor who = {.user = "tester", .scope = FW_SCOPE_PERMANENT};

static void fw_add_wait(const char *host, struct lab_wait *w)
{
	memset(w, 0, sizeof(*w));
	char err[256] = "";
	int rc = fw_add(fw, host, &who, lab_done_cb, w, err, sizeof(err));
	cr_assert_eq(rc, 0, "fw_add(%s): %s", host, err);
	cr_assert(lab_wait_done(fw, w, 15000), "fw_add(%s) never completed", host);
}

static void add_ok(const char *host)
{
	struct lab_wait w;
	fw_add_wait(host, &w);
	cr_assert_eq(w.rc, 0, "fw_add(%s) failed: %d %s", host, w.rc, w.msg);
}

static void remove_ok(const char *host)
{
	struct lab_wait w = {0};
	char err[256] = "";
	int rc = fw_remove(fw, host, &who, lab_done_cb, &w, err, sizeof(err));
	cr_assert_eq(rc, 0, "fw_remove(%s): %s", host, err);
	cr_assert(lab_wait_done(fw, &w, 15000), "fw_remove(%s) never completed", host);
	cr_assert_eq(w.rc, 0, "fw_remove(%s) failed: %d %s", host, w.rc, w.msg);
}

static void list_now(struct lab_wait *w)
{
	memset(w, 0, sizeof(*w));
	cr_assert_eq(fw_list(fw, lab_list_cb, w), 0);
	cr_assert(lab_wait_done(fw, w, 5000), "fw_list never completed");
	cr_assert_eq(w->rc, 0, "fw_list: %s", w->msg);
}

/* The sandbox's connection attempt is refused, and fast: a reject (TCP
 * reset / ICMP), not a drop that would hang until a timeout. */
static double assert_rejected(enum lab_where where, const char *addr, const char *bind_addr)
{
	double ms;
	int rc = netlab_connect(&lab, where, addr, 80, bind_addr, 3000, &ms, NULL);
	cr_assert_neq(rc, 0, "%s reached %s:80 but must not", where == LAB_SANDBOX ? "sandbox" : "router",
		      addr);
	cr_assert_neq(rc, -ETIMEDOUT, "connect to %s timed out: dropped, not rejected", addr);
	cr_assert_lt(ms, 500.0, "refusal took %.1f ms (a reject answers at once)", ms);
	return ms;
}

static void assert_reaches(enum lab_where where, const char *addr)
{
	int rc = netlab_http_get(&lab, where, addr);
	cr_assert_eq(rc, 0, "HTTP GET http://%s/ from the %s failed: %s", addr,
		     where == LAB_SANDBOX ? "sandbox" : "router", strerror(-rc));
}

/* Runs the fw loop until `addr` becomes reachable from the sandbox (a
 * connect every round). Returns ms from t0 to the first successful connect,
 * or -1 on timeout. */
static double pump_until_reachable(const char *addr, double t0, unsigned timeout_ms,
				   struct lab_wait *w, double *done_ms)
{
	double end = lab_now_ms() + timeout_ms;
	double first = -1;
	while (lab_now_ms() < end) {
		lab_pump(fw, 0);
		if (w && w->done && *done_ms < 0)
			*done_ms = lab_now_ms() - t0;
		double ms;
		if (first < 0 &&
		    netlab_connect(&lab, LAB_SANDBOX, addr, LAB_PROBE_PORT, NULL, 500, &ms, NULL) == 0)
			first = lab_now_ms() - t0;
		if (first >= 0 && (!w || w->done))
			break;
	}
	if (w && w->done && *done_ms < 0)
		*done_ms = lab_now_ms() - t0;
	return first;
}

static void nft_list_table(char *out, size_t len)
{
	const char *argv[] = {"nft", "list", "table", "inet", "smrelay", NULL};
	int rc = netlab_run(argv, out, len);
	cr_assert_eq(rc, 0, "nft list table failed (%d)", rc);
}

static bool audit_has(const char *a, const char *b, const char *c);

/* ------------------------------------------------------------ lab tests */

Test(fw_nft, add_allows_remove_blocks_ipv4, .fini = lab_fini)
{
	lab_start("203.0.113.10 web.test\n", NULL, false);

	/* The server is there (the router is not filtered) ... */
	assert_reaches(LAB_ROUTER, "203.0.113.10");
	/* ... and the sandbox is refused, fast. */
	double ms = assert_rejected(LAB_SANDBOX, "203.0.113.10", NULL);
	cr_log_info("fw_nft: refused before approval in %.3f ms (TCP reset)", ms);
	char table[8192];
	nft_list_table(table, sizeof(table));
	cr_assert(strstr(table, "reject with tcp reset"), "table:\n%s", table);

	/* add: enforcement observed in the sandbox */
	struct lab_wait w = {0};
	char err[256] = "";
	double t0 = lab_now_ms(), done_ms = -1;
	cr_assert_eq(fw_add(fw, "web.test", &who, lab_done_cb, &w, err, sizeof(err)), 0, "%s", err);
	double first = pump_until_reachable("203.0.113.10", t0, 15000, &w, &done_ms);
	cr_assert(w.done, "fw_add never completed");
	cr_assert_eq(w.rc, 0, "fw_add: %s", w.msg);
	cr_assert_geq(first, 0.0, "the sandbox never reached 203.0.113.10 after add");
	cr_log_info("fw_nft: add -> first successful connect %.1f ms, add -> callback %.1f ms",
		    first, done_ms);
	/* The callback came only once the address was in the set: a connect
	 * right after it works, and the kernel's set holds it. */
	assert_reaches(LAB_SANDBOX, "203.0.113.10");
	nft_list_table(table, sizeof(table));
	cr_assert(strstr(table, "203.0.113.10"), "set lacks the address:\n%s", table);
	cr_assert_null(strstr(table, "web.test"), "a hostname reached the ruleset");
	/* Only that address: its neighbour on the same server stays closed. */
	assert_rejected(LAB_SANDBOX, "203.0.113.11", NULL);

	struct lab_wait l;
	list_now(&l);
	cr_assert_str_eq(l.hosts, "web.test");

	/* An open connection, then remove: new connections are refused and
	 * the open one is cut too (the sandbox's packets are checked against
	 * the set on every packet). */
	int keep;
	double kms;
	cr_assert_eq(netlab_connect(&lab, LAB_SANDBOX, "203.0.113.10", 80, NULL, 2000, &kms, &keep), 0);
	remove_ok("web.test");
	ms = assert_rejected(LAB_SANDBOX, "203.0.113.10", NULL);
	cr_log_info("fw_nft: refused after remove in %.3f ms", ms);
	const char req[] = "GET / HTTP/1.0\r\n\r\n";
	ssize_t sent = send(keep, req, sizeof(req) - 1, MSG_NOSIGNAL);
	char buf[256];
	ssize_t got = sent > 0 ? recv(keep, buf, sizeof(buf), 0) : -1;
	int e = errno;
	close(keep);
	cr_assert(got < 0, "the connection opened before remove still got %zd bytes", got);
	cr_assert(e == ECONNRESET || e == EPIPE || e == EHOSTUNREACH || e == EACCES,
		  "open connection after remove: %s (want reset)", strerror(e));
	list_now(&l);
	cr_assert_eq(l.n, 0, "still listed: %s", l.hosts);
	nft_list_table(table, sizeof(table));
	cr_assert_null(strstr(table, "203.0.113.10"), "address still in the set:\n%s", table);
}

Test(fw_nft, add_allows_remove_blocks_ipv6, .fini = lab_fini)
{
	lab_start("2001:db8:3::10 web6.test\n", NULL, false);
	assert_reaches(LAB_ROUTER, "2001:db8:3::10");
	double ms = assert_rejected(LAB_SANDBOX, "2001:db8:3::10", NULL);
	cr_log_info("fw_nft: IPv6 refused before approval in %.3f ms", ms);

	struct lab_wait w = {0};
	char err[256] = "";
	double t0 = lab_now_ms(), done_ms = -1;
	cr_assert_eq(fw_add(fw, "web6.test", &who, lab_done_cb, &w, err, sizeof(err)), 0, "%s", err);
	double first = pump_until_reachable("2001:db8:3::10", t0, 15000, &w, &done_ms);
	cr_assert_eq(w.rc, 0, "fw_add: %s", w.msg);
	cr_assert_geq(first, 0.0, "the sandbox never reached [2001:db8:3::10]");
	cr_log_info("fw_nft: IPv6 add -> first connect %.1f ms, -> callback %.1f ms", first, done_ms);
	assert_reaches(LAB_SANDBOX, "2001:db8:3::10");
	/* A v6-only name opens nothing on v4. */
	assert_rejected(LAB_SANDBOX, "203.0.113.10", NULL);
	assert_rejected(LAB_SANDBOX, "2001:db8:3::11", NULL);

	remove_ok("web6.test");
	assert_rejected(LAB_SANDBOX, "2001:db8:3::10", NULL);
}

Test(fw_nft, follows_an_address_change, .fini = lab_fini)
{
	lab_start("203.0.113.10 moving.test\n", NULL, false);
	add_ok("moving.test");
	assert_reaches(LAB_SANDBOX, "203.0.113.10");
	assert_rejected(LAB_SANDBOX, "203.0.113.11", NULL);

	/* The name moves; dnsmasq answers with TTL 1 s and the fw asks again
	 * after max(TTL, min_ttl_s = 1). */
	cr_assert_eq(netlab_set_hosts(&lab, "203.0.113.11 moving.test\n"), 0);
	double t0 = lab_now_ms(), done = -1;
	double moved = pump_until_reachable("203.0.113.11", t0, 10000, NULL, &done);
	cr_assert_geq(moved, 0.0, "the new address was never allowed");
	cr_log_info("fw_nft: address change followed after %.0f ms (TTL 1 s)", moved);
	assert_reaches(LAB_SANDBOX, "203.0.113.11");
	/* The old address went out of the set with the new answer. */
	assert_rejected(LAB_SANDBOX, "203.0.113.10", NULL);
	char table[8192];
	nft_list_table(table, sizeof(table));
	cr_assert_null(strstr(table, "203.0.113.10"), "old address kept:\n%s", table);

	/* A name that disappears (NXDOMAIN) takes its addresses with it; it
	 * stays approved and comes back when it resolves again. */
	cr_assert_eq(netlab_set_hosts(&lab, ""), 0);
	double end = lab_now_ms() + 10000;
	double ms;
	while (lab_now_ms() < end &&
	       netlab_connect(&lab, LAB_SANDBOX, "203.0.113.11", LAB_PROBE_PORT, NULL, 500, &ms,
			      NULL) == 0)
		lab_pump(fw, 20);
	assert_rejected(LAB_SANDBOX, "203.0.113.11", NULL);
	struct lab_wait l;
	list_now(&l);
	cr_assert_str_eq(l.hosts, "moving.test");
	cr_assert_eq(netlab_set_hosts(&lab, "203.0.113.12 moving.test\n"), 0);
	t0 = lab_now_ms();
	cr_assert_geq(pump_until_reachable("203.0.113.12", t0, 10000, NULL, &done), 0.0,
		      "the name's return was not followed");

	/* The audit log tells what changed. */
	cr_assert(audit_has("moving.test", "+203.0.113.11", "-203.0.113.10"),
		  "no audit record of the change 203.0.113.10 -> .11");
}

static bool audit_has(const char *a, const char *b, const char *c)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/audit.jsonl", lab.dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	char line[2048];
	bool seen = false;
	while (!seen && fgets(line, sizeof(line), f))
		seen = strstr(line, a) && strstr(line, b) && (!c || strstr(line, c));
	fclose(f);
	return seen;
}

Test(fw_nft, resolver_outage_keeps_addresses, .fini = lab_fini)
{
	lab_start("203.0.113.10 web.test\n", NULL, false);
	add_ok("web.test");
	/* The resolver goes away: lookups fail (port unreachable) at every
	 * re-resolution (TTL 1 s), and the approved address must stay. */
	cr_assert_eq(netlab_stop_dns(&lab), 0);
	double end = lab_now_ms() + 3500;
	while (lab_now_ms() < end)
		lab_pump(fw, 50);
	assert_reaches(LAB_SANDBOX, "203.0.113.10");
	cr_assert(audit_has("web.test", "failed, addresses kept", NULL),
		  "no audit record of the failing lookups");
	struct lab_wait l;
	list_now(&l);
	cr_assert_str_eq(l.hosts, "web.test");
	/* A new name cannot be approved meanwhile, with the reason. */
	struct lab_wait w;
	fw_add_wait("other.test", &w);
	cr_assert_neq(w.rc, 0);
	cr_assert(strstr(w.msg, "resolve"), "reason: %s", w.msg);
	cr_log_info("fw_nft: add during a resolver outage: %s", w.msg);
}

Test(fw_nft, dns_only_to_the_resolver, .fini = lab_fini)
{
	lab_start("203.0.113.10 web.test\n", NULL, false);
	struct fw_dns_answer a;
	/* The resolver answers the sandbox (UDP) ... */
	int rc = netlab_dns(&lab, LAB_SANDBOX, LAB_RESOLVER, "web.test", ns_t_a, 2000, &a);
	cr_assert_eq(rc, 0, "sandbox -> resolver: %s", strerror(-rc));
	cr_assert_eq(a.rc, 0);
	cr_assert_eq(a.n, 1);
	char txt[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET, &a.addrs[0].u.v4, txt, sizeof(txt));
	cr_assert_str_eq(txt, "203.0.113.10");
	/* ... and over TCP. */
	double ms;
	cr_assert_eq(netlab_connect(&lab, LAB_SANDBOX, LAB_RESOLVER, 53, NULL, 2000, &ms, NULL), 0);

	/* Another DNS server (the same dnsmasq on .54) answers the router ... */
	rc = netlab_dns(&lab, LAB_ROUTER, LAB_OTHER_DNS, "web.test", ns_t_a, 2000, &a);
	cr_assert_eq(rc, 0, "router -> other DNS: %s", strerror(-rc));
	/* ... but not the sandbox: refused at once, over UDP and TCP. */
	double t0 = lab_now_ms();
	rc = netlab_dns(&lab, LAB_SANDBOX, LAB_OTHER_DNS, "web.test", ns_t_a, 2000, &a);
	double took = lab_now_ms() - t0;
	cr_assert_neq(rc, 0, "the sandbox got an answer from %s", LAB_OTHER_DNS);
	cr_assert_neq(rc, -ETIMEDOUT, "DNS to %s was dropped, not rejected", LAB_OTHER_DNS);
	cr_assert_lt(took, 500.0);
	cr_log_info("fw_nft: DNS to a non-resolver refused in %.2f ms (%s)", took, strerror(-rc));
	rc = netlab_connect(&lab, LAB_SANDBOX, LAB_OTHER_DNS, 53, NULL, 2000, &ms, NULL);
	cr_assert_eq(rc, -ECONNREFUSED, "TCP 53 to %s: %s", LAB_OTHER_DNS, strerror(-rc));
	/* The resolver's address grants DNS only: its web port stays shut. */
	rc = netlab_connect(&lab, LAB_SANDBOX, LAB_RESOLVER, 80, NULL, 2000, &ms, NULL);
	cr_assert_eq(rc, -ECONNREFUSED, "port 80 on the resolver: %s", strerror(-rc));
}

Test(fw_nft, two_names_sharing_an_address, .fini = lab_fini)
{
	lab_start("203.0.113.12 a.test\n203.0.113.12 b.test\n203.0.113.10 b.test\n", NULL, false);
	add_ok("a.test");
	add_ok("b.test");
	assert_reaches(LAB_SANDBOX, "203.0.113.12");
	assert_reaches(LAB_SANDBOX, "203.0.113.10");

	/* b.test still needs .12: it stays; .10 was b's alone. */
	remove_ok("a.test");
	assert_reaches(LAB_SANDBOX, "203.0.113.12");
	struct lab_wait l;
	list_now(&l);
	cr_assert_str_eq(l.hosts, "b.test");

	add_ok("a.test");
	remove_ok("b.test");
	assert_reaches(LAB_SANDBOX, "203.0.113.12"); /* a.test again */
	assert_rejected(LAB_SANDBOX, "203.0.113.10", NULL);
	remove_ok("a.test");
	assert_rejected(LAB_SANDBOX, "203.0.113.12", NULL);

	/* A name that does not resolve is not approved. */
	struct lab_wait w;
	fw_add_wait("nosuch.test", &w);
	cr_assert_neq(w.rc, 0, "adding an unresolvable name succeeded: %s", w.msg);
	cr_log_info("fw_nft: unresolvable name: %s", w.msg);
	list_now(&l);
	cr_assert_eq(l.n, 0, "listed: %s", l.hosts);
}

Test(fw_nft, hostile_names_never_reach_nft, .fini = lab_fini)
{
	/* nft is a recorder of every transaction it is given. */
	lab_start("203.0.113.10 web.test\n", NULL, true);

	const char *hostile[] = {
		"evil.test\nweb.test",
		"0.0.0.0/0",
		"203.0.113.10",
		"*.test",
		"web.test:80",
		"user@web.test",
		"web.test }; flush ruleset; table inet x {",
		"web.test\"",
		"web test",
		"localhost",
		"169.254.169.254",
		"metadata.google.internal",
		"",
	};
	char long_name[600];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	for (size_t i = 0; i <= sizeof(hostile) / sizeof(hostile[0]); i++) {
		const char *h = i < sizeof(hostile) / sizeof(hostile[0]) ? hostile[i] : long_name;
		struct lab_wait w = {0};
		char err[256] = "";
		int rc = fw_add(fw, h, &who, lab_done_cb, &w, err, sizeof(err));
		cr_assert_eq(rc, -EINVAL, "fw_add(\"%.40s\") = %d, want -EINVAL", h, rc);
		cr_assert(err[0], "no reason given for \"%.40s\"", h);
	}
	lab_pump(fw, 200);
	lab_pump(fw, 200);
	assert_rejected(LAB_SANDBOX, "203.0.113.10", NULL);

	/* Then a good name goes through the same wrapper. */
	add_ok("web.test");
	assert_reaches(LAB_SANDBOX, "203.0.113.10");

	char text[65536], log[PATH_MAX + 16];
	snprintf(log, sizeof(log), "%s/nft.log", lab.dir);
	FILE *f = fopen(log, "r");
	cr_assert_not_null(f, "the wrapper never ran");
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	/* Two transactions: the start-up one and web.test's; nothing for the
	 * refused names, and no name at all in the ruleset text. */
	size_t runs = 0;
	for (const char *p = text; (p = strstr(p, "=== nft")); p++)
		runs++;
	cr_assert_eq(runs, 2, "nft ran %zu times:\n%s", runs, text);
	const char *needles[] = {"evil", "flush ruleset", "0.0.0.0", "*.test", "user@", "localhost",
				 "169.254", "metadata", "aaaaaaaa", "web.test", "table inet x"};
	for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
		cr_assert_null(strstr(text, needles[i]), "\"%s\" reached nft:\n%s", needles[i], text);
}

Test(fw_nft, output_chain_and_cidr_mode, .fini = lab_fini)
{
	/* The sandbox given as a subnet. The router's own address on the
	 * sandbox link (192.0.2.1) is inside it: a process on the router
	 * using it as source stands for "sandbox processes on this host". */
	struct fw_nft_opts o = {.sandbox_cidr = "192.0.2.0/24, 2001:db8:1::/64",
				.resolver = LAB_RESOLVER,
				.min_ttl_s = 1};
	lab_start("203.0.113.10 web.test\n2001:db8:3::10 web.test\n", &o, false);
	/* forward, by source subnet */
	assert_rejected(LAB_SANDBOX, "203.0.113.10", NULL);
	assert_rejected(LAB_SANDBOX, "2001:db8:3::10", NULL);
	/* output: a local process with a sandbox source address */
	double ms = assert_rejected(LAB_ROUTER, "203.0.113.10", "192.0.2.1");
	cr_log_info("fw_nft: output chain refused a local sandbox-sourced connect in %.3f ms", ms);
	assert_rejected(LAB_ROUTER, "2001:db8:3::10", "2001:db8:1::1");
	/* the router's own traffic (uplink source) is not the sandbox */
	assert_reaches(LAB_ROUTER, "203.0.113.10");

	add_ok("web.test");
	assert_reaches(LAB_SANDBOX, "203.0.113.10");
	assert_reaches(LAB_SANDBOX, "2001:db8:3::10");
	cr_assert_eq(netlab_connect(&lab, LAB_ROUTER, "203.0.113.10", 80, "192.0.2.1", 2000, &ms,
				    NULL),
		     0, "output chain still refuses an approved address");
	remove_ok("web.test");
	assert_rejected(LAB_ROUTER, "203.0.113.10", "192.0.2.1");
	assert_rejected(LAB_SANDBOX, "203.0.113.10", NULL);
}

Test(fw_nft, restart_keeps_approved_names, .fini = lab_fini)
{
	lab_start("203.0.113.10 web.test\n203.0.113.12 gone.test\n", NULL, false);
	add_ok("web.test");
	add_ok("gone.test");
	assert_reaches(LAB_SANDBOX, "203.0.113.10");

	/* The relay exits: the table stays, so the sandbox stays closed
	 * except for what was approved. */
	fw_free(fw);
	fw = NULL;
	assert_reaches(LAB_SANDBOX, "203.0.113.10");
	assert_rejected(LAB_SANDBOX, "203.0.113.11", NULL);

	/* Restart with the same state_dir: the name is listed and re-resolved
	 * (it moved meanwhile), and access never lapsed on the way. */
	cr_assert_eq(netlab_set_hosts(&lab, "203.0.113.11 web.test\n"), 0);
	char audit[PATH_MAX + 16], state[PATH_MAX + 16], err[512] = "";
	snprintf(audit, sizeof(audit), "%s/audit.jsonl", lab.dir);
	snprintf(state, sizeof(state), "%s/state", lab.dir);
	/* gone.test is on the deny list now: not restored. */
	const char *deny[] = {"gone.test", NULL};
	struct fw_opts o = {.kind = FW_BACKEND_NFTABLES, .audit_path = audit, .state_dir = state,
			    .deny = deny};
	o.nft.sandbox_iface = "sbx0";
	o.nft.resolver = LAB_RESOLVER;
	o.nft.min_ttl_s = 1;
	cr_assert_eq(fw_new(&o, &fw, err, sizeof(err)), 0, "%s", err);
	/* still open while the name is asked again (the sets were kept) */
	assert_reaches(LAB_SANDBOX, "203.0.113.10");
	double t0 = lab_now_ms(), done = -1;
	cr_assert_geq(pump_until_reachable("203.0.113.11", t0, 10000, NULL, &done), 0.0);
	assert_rejected(LAB_SANDBOX, "203.0.113.10", NULL);
	assert_rejected(LAB_SANDBOX, "203.0.113.12", NULL);
	struct lab_wait l;
	list_now(&l);
	cr_assert_str_eq(l.hosts, "web.test");
	cr_assert_eq(fw_is_allowed(fw, "web.test"), 1);
}

/* ------------------------------------------------------------ everywhere */

Test(fw_nft, options_are_validated)
{
	struct fw_nft_conf c;
	char err[256];
	struct fw_nft_opts ok = {.sandbox_iface = "veth*", .sandbox_cidr = "192.0.2.77/24 2001:db8::5/64",
				 .resolver = "2001:db8::53"};
	cr_assert_eq(fw_nft_conf_parse(&ok, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.table, "smrelay");
	cr_assert_str_eq(c.nft, "nft");
	cr_assert_eq(c.ncidr, 2);
	cr_assert_eq(c.min_ttl_s, 30);
	cr_assert_eq(c.max_ttl_s, 3600);
	char *text = fw_nft_ruleset(&c, NULL, 0);
	cr_assert_not_null(text);
	/* host bits cleared, resolver rule in the right family */
	cr_assert(strstr(text, "ip saddr { 192.0.2.0/24 }"), "%s", text);
	cr_assert(strstr(text, "ip6 saddr { 2001:db8::/64 }"), "%s", text);
	cr_assert(strstr(text, "ip6 daddr 2001:db8::53 meta l4proto { tcp, udp } th dport 53 accept"),
		  "%s", text);
	cr_assert(strstr(text, "iifname \"veth*\" jump sandbox"), "%s", text);
	free(text);

	struct {
		struct fw_nft_opts o;
		const char *what;
	} bad[] = {
		{{.resolver = "203.0.113.53"}, "nothing to filter"},
		{{.sandbox_iface = "sbx0"}, "no resolver"},
		{{.sandbox_iface = "sbx0", .resolver = "dns.test"}, "resolver by name"},
		{{.sandbox_iface = "sbx0\" accept", .resolver = "203.0.113.53"}, "quote in iface"},
		{{.sandbox_iface = "averyveryverylongname", .resolver = "203.0.113.53"}, "long iface"},
		{{.sandbox_iface = "*", .resolver = "203.0.113.53"}, "bare wildcard"},
		{{.sandbox_cidr = "192.0.2.0/33", .resolver = "203.0.113.53"}, "prefix too long"},
		{{.sandbox_cidr = "192.0.2.0/24; flush ruleset", .resolver = "203.0.113.53"}, "junk"},
		{{.sandbox_iface = "sbx0", .table = "smr elay", .resolver = "203.0.113.53"}, "table"},
		{{.sandbox_iface = "sbx0", .resolver = "203.0.113.53", .min_ttl_s = 90, .max_ttl_s = 60},
		 "min > max"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert_eq(fw_nft_conf_parse(&bad[i].o, &c, err, sizeof(err)), -EINVAL,
			     "accepted: %s", bad[i].what);
		cr_assert(err[0], "no reason for: %s", bad[i].what);
	}
}

Test(fw_nft, ruleset_sets_are_sorted_and_unique)
{
	struct fw_nft_opts o = {.sandbox_iface = "sbx0", .resolver = "203.0.113.53"};
	struct fw_nft_conf c;
	char err[256];
	cr_assert_eq(fw_nft_conf_parse(&o, &c, err, sizeof(err)), 0, "%s", err);
	const char *in[] = {"203.0.113.12", "2001:db8::1", "203.0.113.10", "203.0.113.12"};
	struct fw_dns_addr a[4];
	for (int i = 0; i < 4; i++) {
		a[i].family = strchr(in[i], ':') ? AF_INET6 : AF_INET;
		inet_pton(a[i].family, in[i], &a[i].u);
	}
	char *t = fw_nft_ruleset(&c, a, 4);
	cr_assert_not_null(t);
	cr_assert(strstr(t, "elements = { 203.0.113.10,\n\t\t\t203.0.113.12 }"), "%s", t);
	cr_assert(strstr(t, "elements = { 2001:db8::1 }"), "%s", t);
	/* the whole-table replace and the fast-failure verdicts */
	cr_assert(strstr(t, "table inet smrelay\ndelete table inet smrelay\ntable inet smrelay {"));
	cr_assert(strstr(t, "meta l4proto tcp reject with tcp reset\n\t\treject with icmpx "
			    "admin-prohibited"));
	free(t);
	t = fw_nft_ruleset_keep_sets(&c);
	cr_assert_not_null(t);
	cr_assert_null(strstr(t, "delete table"), "%s", t);
	cr_assert_null(strstr(t, "elements ="), "%s", t);
	cr_assert(strstr(t, "flush chain inet smrelay sandbox\n"), "%s", t);
	free(t);
}

/* A response built with libresolv's own helpers (dn_comp, ns_put16/32):
 * the question, then the given answer records. */
struct rr_spec {
	const char *owner;
	int type;
	uint32_t ttl;
	const char *data; /* address text, or the CNAME target */
};

static size_t build_response(unsigned char *buf, size_t cap, const char *qname, int qtype,
			     uint16_t id, int rcode, const struct rr_spec *rr, size_t nrr)
{
	struct __res_state rs;
	memset(&rs, 0, sizeof(rs));
	cr_assert_eq(res_ninit(&rs), 0);
	int len = res_nmkquery(&rs, ns_o_query, qname, ns_c_in, qtype, NULL, 0, NULL, buf, (int)cap);
	res_nclose(&rs);
	cr_assert_gt(len, 0);
	ns_put16(id, buf);
	buf[2] |= 0x80;                            /* QR */
	buf[3] = (unsigned char)(0x80 | rcode); /* RA, rcode */
	ns_put16((unsigned)nrr, buf + 6);          /* ANCOUNT */
	unsigned char *p = buf + len, *end = buf + cap;
	const unsigned char *dnptrs[16] = {buf, NULL};
	for (size_t i = 0; i < nrr; i++) {
		int n = dn_comp(rr[i].owner, p, (int)(end - p), (unsigned char **)dnptrs,
				(unsigned char **)(dnptrs + 15));
		cr_assert_gt(n, 0);
		p += n;
		ns_put16((unsigned)rr[i].type, p);
		ns_put16(ns_c_in, p + 2);
		ns_put32(rr[i].ttl, p + 4);
		unsigned char *rdlen = p + 8;
		p += 10;
		if (rr[i].type == ns_t_cname) {
			n = dn_comp(rr[i].data, p, (int)(end - p), (unsigned char **)dnptrs,
				    (unsigned char **)(dnptrs + 15));
			cr_assert_gt(n, 0);
		} else {
			n = rr[i].type == ns_t_a ? 4 : 16;
			cr_assert_eq(inet_pton(rr[i].type == ns_t_a ? AF_INET : AF_INET6, rr[i].data, p), 1);
		}
		ns_put16((unsigned)n, rdlen);
		p += n;
	}
	return (size_t)(p - buf);
}

Test(fw_nft, dns_parser_follows_cnames_and_ignores_strangers)
{
	unsigned char buf[NS_PACKETSZ];
	struct fw_dns_answer a;
	const struct rr_spec chain[] = {
		{"www.example.test", ns_t_cname, 300, "edge.cdn.test"},
		{"evil.test", ns_t_a, 300, "198.51.100.66"}, /* not on the chain */
		{"edge.cdn.test", ns_t_a, 60, "203.0.113.10"},
		{"EDGE.cdn.test", ns_t_a, 120, "203.0.113.11"}, /* case-insensitive */
	};
	size_t len = build_response(buf, sizeof(buf), "www.example.test", ns_t_a, 0x1234, ns_r_noerror,
				    chain, 4);
	cr_assert_eq(fw_dns_parse(buf, len, 0x1234, "www.example.test", ns_t_a, &a), 0);
	cr_assert_eq(a.rc, 0);
	cr_assert_eq(a.n, 2, "took %zu records", a.n);
	cr_assert_eq(a.ttl, 60);
	char t[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET, &a.addrs[0].u.v4, t, sizeof(t));
	cr_assert_str_eq(t, "203.0.113.10");

	/* wrong id, other question: not this query's answer */
	cr_assert_eq(fw_dns_parse(buf, len, 0x4321, "www.example.test", ns_t_a, &a), -EBADMSG);
	cr_assert_eq(fw_dns_parse(buf, len, 0x1234, "other.test", ns_t_a, &a), -EBADMSG);
	cr_assert_eq(fw_dns_parse(buf, len, 0x1234, "www.example.test", ns_t_aaaa, &a), -EBADMSG);
	/* truncated garbage */
	cr_assert_eq(fw_dns_parse(buf, 20, 0x1234, "www.example.test", ns_t_a, &a), -EBADMSG);

	/* SERVFAIL is an error; NXDOMAIN an answer without addresses */
	len = build_response(buf, sizeof(buf), "x.test", ns_t_aaaa, 7, ns_r_servfail, NULL, 0);
	cr_assert_eq(fw_dns_parse(buf, len, 7, "x.test", ns_t_aaaa, &a), 0);
	cr_assert_eq(a.rc, -EIO);
	len = build_response(buf, sizeof(buf), "x.test", ns_t_aaaa, 7, ns_r_nxdomain, NULL, 0);
	cr_assert_eq(fw_dns_parse(buf, len, 7, "x.test", ns_t_aaaa, &a), 0);
	cr_assert_eq(a.rc, 0);
	cr_assert(a.nxdomain);
	cr_assert_eq(a.n, 0);

	/* a record of another type than asked is not taken */
	const struct rr_spec wrong[] = {{"x.test", ns_t_a, 5, "203.0.113.1"}};
	len = build_response(buf, sizeof(buf), "x.test", ns_t_a, 9, ns_r_noerror, wrong, 1);
	/* type(2) class(2) ttl(4) rdlen(2) rdata(4): the type's low byte */
	buf[len - 13] = ns_t_aaaa;
	cr_assert_eq(fw_dns_parse(buf, len, 9, "x.test", ns_t_a, &a), 0);
	cr_assert_eq(a.n, 0, "a record of another type was taken");
}
