/* test_fw_nft_lab.c — the namespace lab (see test_fw_nft_lab.h). No tests
 * here; the file name only puts it into the test binary's glob. */

/* setns(2) is a Linux extension: sched.h declares it under _GNU_SOURCE
 * only. Nothing else here relies on GNU behaviour. */
#define _GNU_SOURCE

#include "test_fw_nft_lab.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* __FILE__ is the absolute source path (CMake passes those), so the script
 * is found from the tests and from bench/ alike. */
static void script_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s", __FILE__);
	char *slash = strrchr(buf, '/');
	if (slash)
		slash[1] = '\0';
	else
		buf[0] = '\0';
	size_t n = strlen(buf);
	snprintf(buf + n, len - n, "netns/topology.sh");
}

double lab_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool in_path(const char *prog)
{
	const char *dirs[] = {"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin",
			      "/usr/local/bin"};
	char p[256];
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dirs[i], prog);
		if (access(p, X_OK) == 0)
			return true;
	}
	return false;
}

int netlab_available(char *why, size_t len)
{
	if (geteuid() != 0) {
		snprintf(why, len, "needs root (network namespaces and nftables)");
		return -EPERM;
	}
	const char *progs[] = {"ip", "nft", "dnsmasq", "python3"};
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (!in_path(progs[i])) {
			snprintf(why, len,
				 "%s is not installed (deploy/install-build-deps.sh --tests installs "
				 "iproute2, nftables, dnsmasq-base, python3)",
				 progs[i]);
			return -ENOENT;
		}
	}
	/* A container without CAP_SYS_ADMIN cannot make namespaces. */
	char out[64];
	const char *probe[] = {"ip", "netns", "list", NULL};
	if (netlab_run(probe, out, sizeof(out)) != 0) {
		snprintf(why, len, "`ip netns` does not work here");
		return -ENOENT;
	}
	return 0;
}

int netlab_run(const char *const *argv, char *out, size_t outlen)
{
	int p[2];
	if (pipe(p) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(p[0]);
		close(p[1]);
		return e;
	}
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	size_t used = 0;
	char sink[512];
	for (;;) {
		char *dst = out && used + 1 < outlen ? out + used : sink;
		size_t room = out && used + 1 < outlen ? outlen - used - 1 : sizeof(sink);
		ssize_t r = read(p[0], dst, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (dst != sink)
			used += (size_t)r;
	}
	if (out && outlen)
		out[used] = '\0';
	close(p[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -EINTR;
}

static int write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fputs(text, f);
	if (fclose(f) != 0)
		return -EIO;
	/* rename: dnsmasq never reads a half-written file. */
	return rename(tmp, path) < 0 ? -errno : 0;
}

static int open_ns(const char *name)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "/run/netns/%s", name);
	return open(p, O_RDONLY | O_CLOEXEC);
}

/* Waits until the sandbox reaches the web server over v4 and v6 (links
 * up, neighbours known: the first measured connect must not include
 * neighbour discovery). */
static int wait_ready(struct netlab *l)
{
	double end = lab_now_ms() + 10000;
	bool v4 = false, v6 = false;
	while (lab_now_ms() < end && !(v4 && v6)) {
		double ms;
		if (!v4)
			v4 = netlab_connect(l, LAB_SANDBOX, "203.0.113.10", 80, NULL, 500, &ms,
					    NULL) == 0 &&
			     netlab_connect(l, LAB_SANDBOX, "203.0.113.10", LAB_PROBE_PORT, NULL,
					    500, &ms, NULL) == 0;
		if (!v6)
			v6 = netlab_connect(l, LAB_SANDBOX, "2001:db8:3::10", 80, NULL, 500, &ms,
					    NULL) == 0 &&
			     netlab_connect(l, LAB_SANDBOX, "2001:db8:3::10", LAB_PROBE_PORT, NULL,
					    500, &ms, NULL) == 0;
		if (!(v4 && v6))
			usleep(50 * 1000);
	}
	if (!(v4 && v6)) {
		snprintf(l->err, sizeof(l->err), "lab not ready: sandbox reaches web v4 %s, v6 %s",
			 v4 ? "yes" : "no", v6 ? "yes" : "no");
		return -ETIMEDOUT;
	}
	return 0;
}

/* The probe server: one process in the internet namespace that accepts
 * and closes connections on port LAB_PROBE_PORT of every address, as fast
 * as they come. An HTTP server falls behind a probe loop (busybox httpd,
 * forking per connection, dropped SYNs: a 1 s retransmit stall in ~5% of
 * connects); this one does not, so a probe's time is the firewall's. It dies with the test process
 * (PDEATHSIG) and with the namespace (topology.sh down kills it). */
static int start_probe_server(struct netlab *l)
{
	char name[128];
	snprintf(name, sizeof(name), "%s-internet", l->prefix);
	int ns = open_ns(name);
	if (ns < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		close(ns);
		return -errno;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (setns(ns, CLONE_NEWNET) < 0)
			_exit(1);
		int fd = socket(AF_INET6, SOCK_STREAM, 0);
		int off = 0, on = 1;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(LAB_PROBE_PORT),
					 .sin6_addr = IN6ADDR_ANY_INIT};
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0)
			_exit(1);
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c >= 0)
				close(c);
		}
	}
	close(ns);
	l->probe_pid = pid;
	return 0;
}

int netlab_up(struct netlab *l, const char *hosts)
{
	static unsigned seq;
	memset(l, 0, sizeof(*l));
	l->ns_orig = l->ns_sandbox = l->ns_router = -1;
	snprintf(l->prefix, sizeof(l->prefix), "smrnft-%ld-%u", (long)getpid(), seq++);
	/* The prefix in the dir's name lets `topology.sh gc` remove it once
	 * this process is gone, even if it died before netlab_down. */
	snprintf(l->dir, sizeof(l->dir), "/tmp/%s-XXXXXX", l->prefix);
	if (!mkdtemp(l->dir)) {
		l->dir[0] = '\0';
		snprintf(l->err, sizeof(l->err), "mkdtemp: %s", strerror(errno));
		return -errno;
	}
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/hosts", l->dir);
	int rc = write_file(path, hosts);
	if (rc < 0) {
		snprintf(l->err, sizeof(l->err), "hosts file: %s", strerror(-rc));
		return rc;
	}
	l->ns_orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	char script[PATH_MAX];
	script_path(script, sizeof(script));
	const char *argv[] = {"sh", script, "up", l->prefix, l->dir, NULL};
	char out[1024];
	l->up = true; /* from here on netlab_down has something to undo */
	rc = netlab_run(argv, out, sizeof(out));
	if (rc != 0) {
		snprintf(l->err, sizeof(l->err), "topology.sh up failed (%d): %.400s", rc, out);
		return -EIO;
	}
	char name[128];
	snprintf(name, sizeof(name), "%s-sandbox", l->prefix);
	l->ns_sandbox = open_ns(name);
	snprintf(name, sizeof(name), "%s-router", l->prefix);
	l->ns_router = open_ns(name);
	if (l->ns_orig < 0 || l->ns_sandbox < 0 || l->ns_router < 0) {
		snprintf(l->err, sizeof(l->err), "cannot open the namespaces: %s", strerror(errno));
		return -EIO;
	}
	rc = start_probe_server(l);
	if (rc < 0) {
		snprintf(l->err, sizeof(l->err), "probe server: %s", strerror(-rc));
		return rc;
	}
	rc = wait_ready(l);
	if (rc < 0)
		return rc;
	if (setns(l->ns_router, CLONE_NEWNET) < 0) {
		snprintf(l->err, sizeof(l->err), "setns(router): %s", strerror(errno));
		return -errno;
	}
	return 0;
}

void netlab_down(struct netlab *l)
{
	if (!l->up && l->ns_orig < 0)
		return;
	/* Back home first: `topology.sh down` kills every process inside the
	 * lab's namespaces, and that would include us. */
	if (l->ns_orig >= 0)
		setns(l->ns_orig, CLONE_NEWNET);
	if (l->probe_pid > 0) {
		kill(l->probe_pid, SIGKILL);
		waitpid(l->probe_pid, NULL, 0);
		l->probe_pid = 0;
	}
	if (l->up) {
		char script[PATH_MAX];
		script_path(script, sizeof(script));
		const char *argv[] = {"sh", script, "down", l->prefix, NULL};
		netlab_run(argv, NULL, 0);
	}
	if (l->dir[0]) {
		const char *rm[] = {"rm", "-rf", l->dir, NULL};
		netlab_run(rm, NULL, 0);
	}
	for (int *fd = &l->ns_orig; fd <= &l->ns_router; fd++) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
	l->up = false;
	l->dir[0] = '\0';
}

/* dnsmasq's pid from its pid file (it is ours: topology.sh started it). */
static int signal_dnsmasq(struct netlab *l, int sig)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/dnsmasq.pid", l->dir);
	FILE *f = fopen(path, "r");
	long pid = 0;
	if (!f)
		return -errno;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 1)
		return -ESRCH;
	return kill((pid_t)pid, sig) < 0 ? -errno : 0;
}

int netlab_set_hosts(struct netlab *l, const char *hosts)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/hosts", l->dir);
	int rc = write_file(path, hosts);
	if (rc < 0)
		return rc;
	return signal_dnsmasq(l, SIGHUP);
}

int netlab_stop_dns(struct netlab *l)
{
	return signal_dnsmasq(l, SIGTERM);
}

/* A socket made inside the sandbox or router namespace. */
static int lab_socket(struct netlab *l, enum lab_where where, int family, int type)
{
	int ns = where == LAB_SANDBOX ? l->ns_sandbox : l->ns_router;
	/* Where the process is now: the router once netlab_up finished, the
	 * original namespace while it runs. */
	int back = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (back < 0)
		return -errno;
	if (setns(ns, CLONE_NEWNET) < 0) {
		int e = -errno;
		close(back);
		return e;
	}
	int fd = socket(family, type | SOCK_CLOEXEC, 0);
	int e = fd < 0 ? -errno : 0;
	if (setns(back, CLONE_NEWNET) < 0) {
		/* Stuck in the wrong namespace: nothing after this is sound. */
		abort();
	}
	close(back);
	return fd < 0 ? e : fd;
}

static int sockaddr_of(const char *addr, unsigned port, struct sockaddr_storage *ss,
		       socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return AF_INET6;
	}
	return -EINVAL;
}

int netlab_connect(struct netlab *l, enum lab_where where, const char *addr, unsigned port,
		   const char *bind_addr, unsigned timeout_ms, double *ms, int *fdp)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int family = sockaddr_of(addr, port, &ss, &len);
	if (fdp)
		*fdp = -1;
	*ms = 0;
	if (family < 0)
		return family;
	int fd = lab_socket(l, where, family, SOCK_STREAM | SOCK_NONBLOCK);
	if (fd < 0)
		return fd;
	if (bind_addr) {
		struct sockaddr_storage bs;
		socklen_t blen;
		if (sockaddr_of(bind_addr, 0, &bs, &blen) != family ||
		    bind(fd, (struct sockaddr *)&bs, blen) < 0) {
			int e = -errno;
			close(fd);
			return e ? e : -EINVAL;
		}
	}
	double t0 = lab_now_ms();
	int rc = 0;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
		} else {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int pr = poll(&p, 1, (int)timeout_ms);
			if (pr == 0) {
				rc = -ETIMEDOUT;
			} else {
				int soerr = 0;
				socklen_t sl = sizeof(soerr);
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
				rc = -soerr;
			}
		}
	}
	*ms = lab_now_ms() - t0;
	if (rc == 0 && fdp) {
		/* Blocking from here on, with timeouts, for simple reads. */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		struct timeval tv = {.tv_sec = 3};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		*fdp = fd;
	} else {
		/* A probe: abort with a reset, so neither side keeps the
		 * connection around (no TIME_WAIT here, no server process
		 * waiting for a request there; thousands of probes in a tight
		 * loop would otherwise fill the server's accept queue and
		 * the next SYN would wait for its 1 s retransmit). */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	return rc;
}

int netlab_http_get(struct netlab *l, enum lab_where where, const char *addr)
{
	double ms;
	int fd;
	int rc = netlab_connect(l, where, addr, 80, NULL, 2000, &ms, &fd);
	if (rc < 0)
		return rc;
	const char req[] = "GET / HTTP/1.0\r\nHost: web.test\r\n\r\n";
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1)) {
		rc = -errno;
		close(fd);
		return rc ? rc : -EIO;
	}
	char buf[4096];
	size_t used = 0;
	for (;;) {
		ssize_t r = recv(fd, buf + used, sizeof(buf) - 1 - used, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			break;
		}
		if (r == 0 || (used += (size_t)r) == sizeof(buf) - 1)
			break;
	}
	close(fd);
	buf[used] = '\0';
	if (rc < 0)
		return rc;
	return strncmp(buf, "HTTP/1.", 7) == 0 && strstr(buf, " 200 ") && strstr(buf, LAB_BODY) ?
		       0 :
		       -EPROTO;
}

int netlab_dns(struct netlab *l, enum lab_where where, const char *server, const char *name,
	       int qtype, unsigned timeout_ms, struct fw_dns_answer *a)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int family = sockaddr_of(server, 53, &ss, &len);
	if (family < 0)
		return family;
	struct __res_state rs;
	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) != 0)
		return -EIO;
	unsigned char q[NS_PACKETSZ];
	int qlen = res_nmkquery(&rs, ns_o_query, name, ns_c_in, qtype, NULL, 0, NULL, q, sizeof(q));
	res_nclose(&rs);
	if (qlen < NS_HFIXEDSZ)
		return -EINVAL;
	int fd = lab_socket(l, where, family, SOCK_DGRAM);
	if (fd < 0)
		return fd;
	int rc = 0;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 || send(fd, q, (size_t)qlen, 0) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	double end = lab_now_ms() + timeout_ms;
	rc = -ETIMEDOUT;
	while (lab_now_ms() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)(end - lab_now_ms()) + 1) <= 0)
			continue;
		unsigned char buf[NS_MAXMSG];
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r < 0) {
			rc = -errno; /* the ICMP error a reject sends */
			break;
		}
		if (fw_dns_parse(buf, (size_t)r, ns_get16(q), name, qtype, a) == 0) {
			rc = 0;
			break;
		}
	}
	close(fd);
	return rc;
}

void lab_done_cb(void *data, int rc, const char *msg)
{
	struct lab_wait *w = data;
	w->done = true;
	w->rc = rc;
	snprintf(w->msg, sizeof(w->msg), "%s", msg ? msg : "");
}

void lab_list_cb(void *data, int rc, const char *const *hosts, size_t n, const char *msg)
{
	struct lab_wait *w = data;
	w->done = true;
	w->rc = rc;
	w->n = n;
	snprintf(w->msg, sizeof(w->msg), "%s", msg ? msg : "");
	w->hosts[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t used = strlen(w->hosts);
		snprintf(w->hosts + used, sizeof(w->hosts) - used, "%s%s", i ? " " : "", hosts[i]);
	}
}

void lab_pump(struct fw *f, unsigned max_ms)
{
	struct pollfd fds[FW_POLL_FDS];
	uint64_t deadline = UINT64_MAX;
	size_t n = fw_poll(f, fds, FW_POLL_FDS, &deadline);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	uint64_t wait = deadline <= now ? 0 : deadline - now;
	if (wait > max_ms)
		wait = max_ms;
	poll(fds, (nfds_t)n, (int)wait);
	fw_step(f);
}

bool lab_wait_done(struct fw *f, struct lab_wait *w, unsigned timeout_ms)
{
	double end = lab_now_ms() + timeout_ms;
	while (!w->done && lab_now_ms() < end)
		lab_pump(f, 50);
	return w->done;
}

bool lab_settle(struct fw *f, unsigned timeout_ms)
{
	double end = lab_now_ms() + timeout_ms;
	while (lab_now_ms() < end) {
		struct pollfd fds[FW_POLL_FDS];
		uint64_t deadline = UINT64_MAX;
		if (fw_poll(f, fds, FW_POLL_FDS, &deadline) == 0 && deadline == UINT64_MAX)
			return true;
		lab_pump(f, 50);
	}
	return false;
}
