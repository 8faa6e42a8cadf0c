/* sshd_harness.c — see sshd_harness.h. */
#include "sshd_harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEYGEN_BIN "/usr/bin/ssh-keygen"

static int fail(struct sshd *d, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	return code;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *sshd_path(const struct sshd *d, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", d->dir, name);
	return buf;
}

int sshd_available(void)
{
	return access(SSHD_BIN, X_OK) == 0 && access(KEYGEN_BIN, X_OK) == 0;
}

/* In a forked child: stdin and stderr to /dev/null, stdout to out_fd (or
 * /dev/null), and no other inherited descriptors (criterion's pipes must not be
 * held open by a daemon that outlives a test). */
static void child_fds(int out_fd)
{
	int nul = open("/dev/null", O_RDWR);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(out_fd >= 0 ? out_fd : nul, 1);
		dup2(nul, 2);
	}
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 4096)
		max = 4096;
	for (int fd = 3; fd < max; fd++)
		close(fd);
}

/* Runs argv (absolute path) and waits; stdout goes to out (may be NULL).
 * Returns the exit status, or -1 if it could not run. */
static int run(char *const argv[], char *out, size_t outlen)
{
	int pfd[2] = {-1, -1};
	if (out && pipe(pfd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		child_fds(out ? pfd[1] : -1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (out) {
		close(pfd[1]);
		size_t n = 0;
		ssize_t r;
		while (outlen > 0 && (r = read(pfd[0], out + n, outlen - 1 - n)) != 0) {
			if (r < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			n += (size_t)r;
			if (n + 1 >= outlen)
				break;
		}
		out[n] = '\0';
		close(pfd[0]);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int keygen(struct sshd *d, const char *name)
{
	char path[PATH_MAX];
	sshd_path(d, name, path, sizeof(path));
	char *argv[] = {KEYGEN_BIN, "-q", "-t", "ed25519", "-N", "", "-C", "smrelay-test", "-f", path, NULL};
	if (run(argv, NULL, 0) != 0)
		return fail(d, -EIO, "ssh-keygen failed for %s", path);
	return 0;
}

/* "SHA256:..." of a public key file, from ssh-keygen -l. */
static int fingerprint(struct sshd *d, const char *pubpath, char *fp, size_t len)
{
	char out[512];
	char *argv[] = {KEYGEN_BIN, "-l", "-E", "sha256", "-f", (char *)pubpath, NULL};
	if (run(argv, out, sizeof(out)) != 0)
		return fail(d, -EIO, "ssh-keygen -l failed for %s", pubpath);
	char *p = strstr(out, "SHA256:");
	if (!p)
		return fail(d, -EIO, "no fingerprint in ssh-keygen output: %s", out);
	size_t n = strcspn(p, " \n");
	if (n >= len)
		n = len - 1;
	memcpy(fp, p, n);
	fp[n] = '\0';
	return 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	size_t r;
	while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (n + 1 == cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	fclose(f);
	if (buf)
		buf[n] = '\0';
	return buf;
}

static int write_file(struct sshd *d, const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return fail(d, -errno, "cannot write %s: %s", path, strerror(errno));
	fputs(text, f);
	if (fclose(f) != 0)
		return fail(d, -EIO, "cannot write %s", path);
	return 0;
}

/* "[127.0.0.1]:PORT <type> <base64>" from a .pub file. */
static int known_hosts_line(struct sshd *d, const char *pubpath, const char *outpath)
{
	char *pub = slurp(pubpath);
	if (!pub)
		return fail(d, -EIO, "cannot read %s", pubpath);
	char line[2048];
	snprintf(line, sizeof(line), "[127.0.0.1]:%u %s", d->port, pub);
	free(pub);
	return write_file(d, outpath, line);
}

/* A port that was free a moment ago; sshd_start retries if it is taken by
 * the time sshd binds (tests run in parallel). */
static unsigned free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	unsigned port = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int port_accepts(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static int write_config(struct sshd *d, const char *cfg)
{
	char hostkey[PATH_MAX], authkeys[PATH_MAX], pidfile[PATH_MAX];
	sshd_path(d, "host_key", hostkey, sizeof(hostkey));
	sshd_path(d, "authorized_keys", authkeys, sizeof(authkeys));
	sshd_path(d, "sshd.pid", pidfile, sizeof(pidfile));
	char text[4 * PATH_MAX];
	snprintf(text, sizeof(text),
		 "ListenAddress 127.0.0.1\n"
		 "Port %u\n"
		 "HostKey %s\n"
		 "AuthorizedKeysFile %s\n"
		 "PasswordAuthentication no\n"
		 "KbdInteractiveAuthentication no\n"
		 "PubkeyAuthentication yes\n"
		 "StrictModes no\n"
		 "PermitRootLogin prohibit-password\n"
		 "UsePAM no\n"
		 "PidFile %s\n"
		 "LogLevel ERROR\n"
		 "ClientAliveInterval 0\n"
		 "MaxSessions 64\n"
		 "MaxStartups 100\n"
		 "AcceptEnv LANG LC_* SMRELAY_*\n"
		 "PrintMotd no\n"
		 "PrintLastLog no\n"
		 "UseDNS no\n"
		 /* bash run by sshd reads ~/.bashrc unless it is a nested
		  * shell: keep the tests independent of (and from disturbing)
		  * the user's dotfiles, e.g. a pyenv init that takes a lock
		  * a killed connection would leave behind. */
		 "SetEnv SHLVL=1\n",
		 d->port, hostkey, authkeys, pidfile);
	return write_file(d, cfg, text);
}

/* Starts sshd on d->port: 0 when it accepts connections, -EADDRINUSE when
 * the port was taken meanwhile, other negative codes on failure. */
static int spawn_sshd(struct sshd *d)
{
	char cfg[PATH_MAX];
	sshd_path(d, "sshd_config", cfg, sizeof(cfg));
	int rc = write_config(d, cfg);
	if (rc)
		return rc;
	unlink(d->log);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return fail(d, -errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* Dies with the test process, even if the test crashes. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		child_fds(-1);
		/* sshd re-executes itself for each connection: argv[0] must be
		 * an absolute path. */
		execl(SSHD_BIN, SSHD_BIN, "-D", "-f", cfg, "-E", d->log, (char *)NULL);
		_exit(127);
	}
	d->pid = pid;
	double deadline = now_s() + 10;
	while (now_s() < deadline) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			d->pid = 0;
			char *log = slurp(d->log);
			int inuse = log && strstr(log, "Address already in use");
			fail(d, inuse ? -EADDRINUSE : -EIO, "sshd exited at start (status %d): %s",
			     WIFEXITED(st) ? WEXITSTATUS(st) : -1, log ? log : "(no log)");
			free(log);
			return inuse ? -EADDRINUSE : -EIO;
		}
		if (port_accepts(d->port))
			return 0;
		sleep_ms(20);
	}
	return fail(d, -ETIMEDOUT, "sshd did not accept connections on port %u within 10 s", d->port);
}

int sshd_start(struct sshd *d)
{
	memset(d, 0, sizeof(*d));
	if (!sshd_available())
		return fail(d, -ENOENT, "%s or %s is not installed (apt-get install openssh-server openssh-client)",
			    SSHD_BIN, KEYGEN_BIN);
	struct passwd *pw = getpwuid(geteuid());
	if (!pw)
		return fail(d, -ENOENT, "no passwd entry for uid %u", (unsigned)geteuid());
	snprintf(d->user, sizeof(d->user), "%s", pw->pw_name);

	/* Commands a closed connection orphans (a non-PTY command keeps
	 * running) are re-parented to us instead of init, so sshd_stop still
	 * finds them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	/* Privilege separation directory, required when sshd runs as root. */
	if (geteuid() == 0 && mkdir("/run/sshd", 0755) < 0 && errno != EEXIST)
		return fail(d, -errno, "cannot create /run/sshd: %s", strerror(errno));

	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp || strlen(tmp) > 150)
		tmp = "/tmp";
	snprintf(d->dir, sizeof(d->dir), "%s/smrelay-sshd-XXXXXX", tmp);
	if (!mkdtemp(d->dir)) {
		int e = errno;
		d->dir[0] = '\0';
		return fail(d, -e, "mkdtemp: %s", strerror(e));
	}
	int rc;
	if ((rc = keygen(d, "host_key")) || (rc = keygen(d, "wrong_host_key")) ||
	    (rc = keygen(d, "user_key")) || (rc = keygen(d, "other_key")))
		goto out;

	char wrongpub[PATH_MAX], userpub[PATH_MAX];
	sshd_path(d, "host_key.pub", d->host_pubkey, sizeof(d->host_pubkey));
	sshd_path(d, "wrong_host_key.pub", wrongpub, sizeof(wrongpub));
	sshd_path(d, "user_key.pub", userpub, sizeof(userpub));
	sshd_path(d, "user_key", d->user_key, sizeof(d->user_key));
	sshd_path(d, "other_key", d->other_key, sizeof(d->other_key));
	sshd_path(d, "known_hosts", d->known_hosts, sizeof(d->known_hosts));
	sshd_path(d, "wrong_known_hosts", d->wrong_known_hosts, sizeof(d->wrong_known_hosts));
	sshd_path(d, "sshd.log", d->log, sizeof(d->log));
	if ((rc = fingerprint(d, d->host_pubkey, d->host_fp, sizeof(d->host_fp))) ||
	    (rc = fingerprint(d, wrongpub, d->wrong_fp, sizeof(d->wrong_fp))))
		goto out;

	char *authorized = slurp(userpub);
	d->user_key_data = slurp(d->user_key);
	if (!authorized || !d->user_key_data) {
		free(authorized);
		rc = fail(d, -EIO, "cannot read the generated user key");
		goto out;
	}
	char authpath[PATH_MAX];
	rc = write_file(d, sshd_path(d, "authorized_keys", authpath, sizeof(authpath)), authorized);
	free(authorized);
	if (rc)
		goto out;

	for (int attempt = 0; attempt < 8; attempt++) {
		d->port = free_port();
		if (!d->port) {
			rc = fail(d, -EADDRNOTAVAIL, "cannot find a free port on 127.0.0.1");
			goto out;
		}
		rc = spawn_sshd(d);
		if (rc != -EADDRINUSE)
			break;
	}
	if (rc)
		goto out;
	if ((rc = known_hosts_line(d, d->host_pubkey, d->known_hosts)) ||
	    (rc = known_hosts_line(d, wrongpub, d->wrong_known_hosts)))
		goto out;
	return 0;
out:;
	char keep[sizeof(d->err)];
	memcpy(keep, d->err, sizeof(keep));
	sshd_stop(d);
	memcpy(d->err, keep, sizeof(keep));
	return rc;
}

/* Every process whose parent chain leads to root (root excluded). */
static int descendants(pid_t root, pid_t *out, int max)
{
	int n = 0, grew = 1;
	while (grew) {
		grew = 0;
		DIR *dir = opendir("/proc");
		if (!dir)
			return -errno;
		struct dirent *e;
		while ((e = readdir(dir))) {
			char *end;
			long pid = strtol(e->d_name, &end, 10);
			if (*end || pid <= 0)
				continue;
			char path[64], buf[512];
			snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
			FILE *f = fopen(path, "r");
			if (!f)
				continue;
			size_t len = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			buf[len] = '\0';
			/* "pid (comm) state ppid ...": comm may hold spaces. */
			char *rp = strrchr(buf, ')');
			char state;
			long ppid;
			if (!rp || sscanf(rp + 1, " %c %ld", &state, &ppid) != 2)
				continue;
			int known = 0, parent_known = ppid == root;
			for (int i = 0; i < n; i++) {
				known |= out[i] == pid;
				parent_known |= out[i] == ppid;
			}
			if (!known && parent_known && n < max) {
				out[n++] = (pid_t)pid;
				grew = 1;
			}
		}
		closedir(dir);
	}
	return n;
}

int sshd_signal_connections(struct sshd *d, int sig)
{
	if (d->pid <= 0)
		return -ESRCH;
	pid_t pids[256];
	int n = descendants(d->pid, pids, 256);
	for (int i = 0; i < n; i++)
		kill(pids[i], sig);
	return n;
}

int sshd_kill_connections(struct sshd *d)
{
	return sshd_signal_connections(d, SIGKILL);
}

void sshd_stop(struct sshd *d)
{
	if (d->pid > 0) {
		/* Connections first: the listener does not take its children
		 * down with it (SIGKILL also ends any the test stopped). */
		sshd_signal_connections(d, SIGKILL);
		kill(d->pid, SIGKILL);
		while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR)
			;
		d->pid = 0;
		/* Orphans adopted through PR_SET_CHILD_SUBREAPER: everything
		 * below this test process came from sshd (the criterion worker
		 * starts nothing else). */
		pid_t pids[256];
		int n = descendants(getpid(), pids, 256);
		for (int i = 0; i < n; i++)
			kill(pids[i], SIGKILL);
		for (int i = 0; i < n; i++)
			waitpid(pids[i], NULL, WNOHANG);
	}
	if (d->dir[0]) {
		/* The dir is flat: remove its files, then the dir. */
		DIR *dir = opendir(d->dir);
		if (dir) {
			struct dirent *e;
			char path[PATH_MAX];
			while ((e = readdir(dir)))
				if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
					unlink(sshd_path(d, e->d_name, path, sizeof(path)));
			closedir(dir);
		}
		rmdir(d->dir);
		d->dir[0] = '\0';
	}
	free(d->user_key_data);
	d->user_key_data = NULL;
}

struct sr_ssh_opts sshd_client_opts(const struct sshd *d)
{
	return (struct sr_ssh_opts){
		.host = "127.0.0.1",
		.port = d->port,
		.user = d->user,
		.key_path = d->user_key,
		.known_hosts_path = d->known_hosts,
		.policy = SR_HOSTKEY_STRICT,
	};
}
