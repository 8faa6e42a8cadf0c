/*
 * test_fw_nft_lab.h — the network-namespace lab the nftables tests and
 * bench_fw_nft run in (tests/netns/topology.sh draws it):
 *
 *   sandbox (192.0.2.2, 2001:db8:1::2)
 *     └─ sbx1 ── sbx0 ─ router (nft table; the test's fw runs here)
 *                         └─ up0 ── up1 ─ internet: HTTP on 203.0.113.10/11/12
 *                                         and [2001:db8:3::10/11], dnsmasq on
 *                                         203.0.113.53 (the resolver), .54
 *                                         and [2001:db8:3::53], a probe
 *                                         listener on port 81 everywhere
 *
 * netlab_up makes the namespaces, starts dnsmasq (answering from a hosts
 * file the test controls, TTL 1 s) and python3's http.server, waits until the
 * sandbox reaches both servers, and then moves the CALLING PROCESS into
 * the router namespace (setns), so an fw created afterwards runs its nft
 * commands and DNS queries exactly where a router would. Client sockets
 * "in the sandbox" are made by switching to the sandbox namespace for the
 * socket() call only (a socket stays in the namespace it was made in).
 *
 * Needs root, ip, nft, dnsmasq and python3; netlab_available says what is
 * missing. Names are smrnft-<pid>-<n>: parallel test processes never
 * share one, and netlab_up first removes the leftovers of test processes
 * that died before their cleanup.
 *
 * Ownership: the caller owns the struct; netlab_down (idempotent, also on
 * a half-made lab) kills the daemons, deletes the namespaces and the temp
 * dir, and moves the process back to its own namespace.
 * Errors: 0 or a negative errno code, detail in l->err.
 */
#ifndef TEST_FW_NFT_LAB_H
#define TEST_FW_NFT_LAB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "fw.h"
#include "fw_nft_dns.h"

#define LAB_RESOLVER "203.0.113.53"
#define LAB_OTHER_DNS "203.0.113.54"
#define LAB_RESOLVER6 "2001:db8:3::53"
#define LAB_BODY "smrelay-netns-ok" /* what the HTTP server serves at / */
/* Every internet address accepts (and at once closes) connections on this
 * port: what the tests probe in tight loops (see start_probe_server). */
#define LAB_PROBE_PORT 81

struct netlab {
	char prefix[64];
	char dir[PATH_MAX];
	int ns_orig, ns_sandbox, ns_router;
	pid_t probe_pid;
	bool up;
	char err[512];
};

enum lab_where { LAB_SANDBOX, LAB_ROUTER };

/* 0 when the lab can run here; otherwise -EPERM/-ENOENT and why. */
int netlab_available(char *why, size_t len);

/* hosts: the dnsmasq hosts file ("203.0.113.10 web.test\n..."). */
int netlab_up(struct netlab *l, const char *hosts);
void netlab_down(struct netlab *l);

/* Rewrites the hosts file and makes dnsmasq re-read it (SIGHUP). */
int netlab_set_hosts(struct netlab *l, const char *hosts);

/* Stops dnsmasq (SIGTERM): the resolver's port is closed from then on. */
int netlab_stop_dns(struct netlab *l);

/* A TCP connection from `where` to addr:port (bound to bind_addr when not
 * NULL). Returns 0 with *fd open (caller closes; NULL: closed at once) or
 * the negative errno of the failure; *ms gets the time it took. */
int netlab_connect(struct netlab *l, enum lab_where where, const char *addr, unsigned port,
		   const char *bind_addr, unsigned timeout_ms, double *ms, int *fd);

/* GET / over a new connection; 0 when the reply is 200 and carries
 * LAB_BODY. */
int netlab_http_get(struct netlab *l, enum lab_where where, const char *addr);

/* One DNS question over UDP from `where` to server; 0 with *a filled (the
 * answer), or a negative errno (-ETIMEDOUT after timeout_ms, or the ICMP
 * error the socket got). */
int netlab_dns(struct netlab *l, enum lab_where where, const char *server, const char *name,
	       int qtype, unsigned timeout_ms, struct fw_dns_answer *a);

/* Runs argv (searched in PATH) in the current namespace; stdout and stderr
 * into out (NUL-terminated, may be NULL). Returns the exit status or -errno. */
int netlab_run(const char *const *argv, char *out, size_t outlen);

/* The fw loop, as an owner would run it. */
struct lab_wait {
	bool done;
	int rc;
	char msg[512];
	char hosts[1024]; /* fw_list: the names, space-separated */
	size_t n;
};
void lab_done_cb(void *data, int rc, const char *msg);
void lab_list_cb(void *data, int rc, const char *const *hosts, size_t n, const char *msg);
/* One round: fw_poll, poll(2) for at most max_ms, fw_step. */
void lab_pump(struct fw *f, unsigned max_ms);
/* Pumps until w->done or timeout; true when done. */
bool lab_wait_done(struct fw *f, struct lab_wait *w, unsigned timeout_ms);

/* Pumps until the fw has nothing in flight and no timer (e.g. the table
 * set-up fw_new started is done); false on timeout. Only for an fw without
 * approved names (those keep a re-resolution timer). */
bool lab_settle(struct fw *f, unsigned timeout_ms);

double lab_now_ms(void);

#endif
