/* sr_ctl_client.c — one request over the control socket (see
 * sr_ctl_client.h), and the simple commands built on it:
 * start, list, screen, send, keys, resize, stop. */
#include "sr_ctl_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sr_cli.h"
#include "fw_audit.h"
#include "sr_ctl_proto.h"

char *sr_ctl_client_path(const char *explicit_path)
{
	if (explicit_path)
		return strdup(explicit_path);
	const char *env = getenv("SM_CONTROL_SOCKET");
	if (env && *env)
		return strdup(env);
	const char *dir = getenv("SM_STATE_DIR");
	char *p = NULL;
	sr_ctl_default_path(dir && *dir ? dir : "/var/lib/smrelay", &p);
	if (dir && *dir)
		return p;
	/* no daemon's socket at the default place: maybe `smrelay demo` runs */
	struct stat st;
	if (p && stat(p, &st) == 0)
		return p;
	char demo[512];
	sr_demo_state_dir(demo, sizeof(demo));
	char *q = NULL;
	if (sr_ctl_default_path(demo, &q) == 0 && stat(q, &st) == 0) {
		free(p);
		return q;
	}
	free(q);
	return p;
}

int sr_ctl_request(const char *path, cJSON *req, cJSON **reply, int *fd, char *err, size_t errlen)
{
	*reply = NULL;
	if (fd)
		*fd = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(s);
		if (e == ENOENT || e == ECONNREFUSED)
			snprintf(err, errlen, "the smrelay daemon is not running (nothing listens on %s)",
				 path);
		else if (e == EACCES)
			snprintf(err, errlen, "permission denied on %s (run as the daemon's user)", path);
		else
			snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(e));
		return -e;
	}
	cJSON_AddNumberToObject(req, "v", SR_CTL_VERSION);
	char *line = cJSON_PrintUnformatted(req);
	if (!line) {
		close(s);
		return -ENOMEM;
	}
	size_t n = strlen(line);
	line[n] = '\n'; /* replaces the NUL; length n + 1 below */
	size_t off = 0;
	while (off < n + 1) {
		/* MSG_NOSIGNAL: a daemon that refuses us and closes must give an
		 * error here, not kill the CLI with SIGPIPE before it can read
		 * the refusal */
		ssize_t w = send(s, line + off, n + 1 - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(line);
	/* One byte at a time up to the '\n': whatever follows (attach
	 * frames) stays in the socket for the caller. Replies are small. */
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	int rc = buf ? 0 : -ENOMEM;
	while (rc == 0) {
		if (len + 1 >= cap) {
			if (cap >= SR_CTL_MAX * 2) {
				rc = -EMSGSIZE;
				break;
			}
			char *b = realloc(buf, cap * 2);
			if (!b) {
				rc = -ENOMEM;
				break;
			}
			buf = b;
			cap *= 2;
		}
		ssize_t r = read(s, buf + len, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = -EIO;
			break;
		}
		if (buf[len] == '\n')
			break;
		len++;
	}
	if (rc == 0) {
		buf[len] = '\0';
		*reply = cJSON_Parse(buf);
		if (!cJSON_IsObject(*reply)) {
			cJSON_Delete(*reply);
			*reply = NULL;
			rc = -EIO;
		}
	}
	free(buf);
	if (rc < 0) {
		snprintf(err, errlen, "the daemon closed the connection without a valid answer");
		close(s);
		return rc;
	}
	if (fd)
		*fd = s;
	else
		close(s);
	return 0;
}

int sr_ctl_reply_status(const char *cmd, const cJSON *reply)
{
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")))
		return 0;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");
	fprintf(stderr, "smrelay %s: %s\n", cmd, cJSON_IsString(e) ? e->valuestring : "failed");
	return 1;
}

/* ---- the simple commands --------------------------------------------------- */

struct common {
	const char *socket;
	int json;
	const char *owner;
	const char *session;
	const char *since;
	int help;
};

/* Takes --socket, --json, --owner, --help out of argv (in place); returns
 * the remaining count, or -1 on a bad option. */
static int common_opts(int argc, char **argv, struct common *c)
{
	int k = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			c->socket = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			c->json = 1;
		else if (!strcmp(argv[i], "--owner") && i + 1 < argc)
			c->owner = argv[++i];
		else if (!strcmp(argv[i], "--session") && i + 1 < argc)
			c->session = argv[++i];
		else if (!strcmp(argv[i], "--since") && i + 1 < argc)
			c->since = argv[++i];
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			c->help = 1;
		else if (!strcmp(argv[i], "--"))
			while (++i < argc)
				argv[k++] = argv[i];
		else
			argv[k++] = argv[i];
	}
	return k;
}

static int run(const char *cmd, const char *sockopt, cJSON *req, cJSON **reply)
{
	char *path = sr_ctl_client_path(sockopt);
	char err[512];
	int rc = path ? sr_ctl_request(path, req, reply, NULL, err, sizeof(err)) : -ENOMEM;
	free(path);
	cJSON_Delete(req);
	if (rc < 0) {
		fprintf(stderr, "smrelay %s: %s\n", cmd, rc == -ENOMEM ? "out of memory" : err);
		return 3;
	}
	return sr_ctl_reply_status(cmd, *reply);
}

static const char *const USAGE[][2] = {
	{"start", "start <org/repo[@branch] [--worktree[=name]] | project> [--owner NAME]\n"
		  "  starts a session and prints its id"},
	{"list", "list [--json]\n  sessions: id, project, host, owner, age, state, attached clients"},
	{"screen", "screen <session>\n  prints the session's screen as text"},
	{"send", "send <session> <text...>\n  types the text followed by Enter"},
	{"keys", "keys <session> <spec>\n  named keys: up down left right enter esc tab ctrl-c pgup ... (e.g. 'down*3 enter')"},
	{"resize", "resize <session> <cols>x<rows>"},
	{"stop", "stop <session>\n  stops the session and removes its container (worktrees stay)"},
	{"allow", "allow <host> [--session S]\n  allows a host through the firewall (for session S only, or permanently)"},
	{"revoke", "revoke <host>\n  removes a host from the allowlist"},
	{"allowed", "allowed [--json]\n  the hosts the firewall allows"},
	{"approve", "approve <request-id>\n  approves a pending network request (ids: smrelay list --json)"},
	{"deny", "deny <request-id>\n  denies a pending network request"},
	{"audit", "audit [--since TIME] [--json]\n  the audit log (TIME: unix seconds or 2026-11-23T10:00:00Z)"},
};

static int usage(const char *cmd, int status)
{
	for (size_t i = 0; i < sizeof(USAGE) / sizeof(USAGE[0]); i++)
		if (!strcmp(USAGE[i][0], cmd))
			fprintf(status ? stderr : stdout,
				"usage: smrelay %s\n  --socket PATH  the daemon's control socket\n", USAGE[i][1]);
	return status;
}

static void print_list(const cJSON *reply)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(reply, "sessions");
	printf("%-9s %-32s %-22s %-12s %-6s %-9s %-8s %s\n", "ID", "PROJECT", "HOST", "OWNER", "AGE",
	       "STATE", "ATTACHED", "PENDING");
	time_t now = time(NULL);
	const cJSON *s;
	cJSON_ArrayForEach(s, arr)
	{
		const cJSON *created = cJSON_GetObjectItemCaseSensitive(s, "created");
		long long age = cJSON_IsNumber(created) ? (long long)(now - (time_t)created->valuedouble) : 0;
		char agebuf[32];
		if (age < 60)
			snprintf(agebuf, sizeof(agebuf), "%llds", age);
		else if (age < 3600)
			snprintf(agebuf, sizeof(agebuf), "%lldm", age / 60);
		else if (age < 172800)
			snprintf(agebuf, sizeof(agebuf), "%lldh", age / 3600);
		else
			snprintf(agebuf, sizeof(agebuf), "%lldd", age / 86400);
		printf("%-9s %-32s %-22s %-12s %-6s %-9s %-8d %d\n",
		       cJSON_GetObjectItemCaseSensitive(s, "id")->valuestring,
		       cJSON_GetObjectItemCaseSensitive(s, "project")->valuestring,
		       cJSON_GetObjectItemCaseSensitive(s, "host")->valuestring,
		       cJSON_GetObjectItemCaseSensitive(s, "owner")->valuestring, agebuf,
		       cJSON_GetObjectItemCaseSensitive(s, "state")->valuestring,
		       cJSON_GetObjectItemCaseSensitive(s, "attached")->valueint,
		       cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "pending")));
	}
}

int sr_cmd_client(int argc, char **argv)
{
	const char *cmd = argv[0];
	struct common c = {0};
	argc = common_opts(argc, argv, &c);
	if (c.help)
		return usage(cmd, 0);
	cJSON *req = cJSON_CreateObject();
	cJSON *reply = NULL;
	if (!req)
		return 1;
	cJSON_AddStringToObject(req, "cmd", cmd);
	int fwcmd = !strcmp(cmd, "allow") || !strcmp(cmd, "revoke") || !strcmp(cmd, "allowed") ||
		    !strcmp(cmd, "approve") || !strcmp(cmd, "deny") || !strcmp(cmd, "audit");
	int need_id = strcmp(cmd, "list") && strcmp(cmd, "start") && !fwcmd;
	if (fwcmd) {
		int want = !strcmp(cmd, "allowed") || !strcmp(cmd, "audit") ? 1 : 2;
		if (argc != want) {
			cJSON_Delete(req);
			return usage(cmd, 2);
		}
		if (!strcmp(cmd, "allow") || !strcmp(cmd, "revoke"))
			cJSON_AddStringToObject(req, "host", argv[1]);
		if (!strcmp(cmd, "approve") || !strcmp(cmd, "deny"))
			cJSON_AddStringToObject(req, "request", argv[1]);
		if (c.session)
			cJSON_AddStringToObject(req, "session", c.session);
		if (c.since) {
			char *end;
			long long t = strtoll(c.since, &end, 10);
			int64_t ms;
			if (*end) {
				if (fw_audit_parse_time(c.since, &ms) < 0) {
					fprintf(stderr, "smrelay audit: bad --since '%s'\n", c.since);
					cJSON_Delete(req);
					return 2;
				}
				t = ms / 1000;
			}
			cJSON_AddNumberToObject(req, "since", (double)t);
		}
	}
	if (need_id) {
		if (argc < 2) {
			cJSON_Delete(req);
			return usage(cmd, 2);
		}
		cJSON_AddStringToObject(req, "id", argv[1]);
	}
	if (!strcmp(cmd, "start")) {
		if (argc < 2) {
			cJSON_Delete(req);
			return usage(cmd, 2);
		}
		cJSON *args = cJSON_AddArrayToObject(req, "args");
		for (int i = 1; i < argc; i++)
			cJSON_AddItemToArray(args, cJSON_CreateString(argv[i]));
		if (c.owner)
			cJSON_AddStringToObject(req, "owner", c.owner);
	} else if (!strcmp(cmd, "send")) {
		if (argc < 3) {
			cJSON_Delete(req);
			return usage(cmd, 2);
		}
		/* the words after the id, joined with single spaces */
		size_t n = 1;
		for (int i = 2; i < argc; i++)
			n += strlen(argv[i]) + 1;
		char *t = calloc(1, n);
		for (int i = 2; t && i < argc; i++) {
			if (i > 2)
				strcat(t, " ");
			strcat(t, argv[i]);
		}
		cJSON_AddStringToObject(req, "text", t ? t : "");
		free(t);
	} else if (!strcmp(cmd, "keys")) {
		if (argc != 3) {
			cJSON_Delete(req);
			return usage(cmd, 2);
		}
		cJSON_AddStringToObject(req, "spec", argv[2]);
	} else if (!strcmp(cmd, "resize")) {
		unsigned cols = 0, rows = 0;
		char x = 0;
		if (argc != 3 || sscanf(argv[2], "%u%c%u", &cols, &x, &rows) != 3 || x != 'x') {
			cJSON_Delete(req);
			return usage(cmd, 2);
		}
		cJSON_AddNumberToObject(req, "cols", cols);
		cJSON_AddNumberToObject(req, "rows", rows);
	} else if (!fwcmd && argc != (need_id ? 2 : 1)) {
		cJSON_Delete(req);
		return usage(cmd, 2);
	}
	int st = run(cmd, c.socket, req, &reply);
	if (st == 0) {
		if (!strcmp(cmd, "list")) {
			if (c.json) {
				char *t = cJSON_Print(cJSON_GetObjectItemCaseSensitive(reply, "sessions"));
				printf("%s\n", t ? t : "[]");
				free(t);
			} else {
				print_list(reply);
			}
		} else if (!strcmp(cmd, "start")) {
			printf("%s\n", cJSON_GetObjectItemCaseSensitive(reply, "id")->valuestring);
		} else if (!strcmp(cmd, "screen")) {
			fputs(cJSON_GetObjectItemCaseSensitive(reply, "text")->valuestring, stdout);
		} else if (!strcmp(cmd, "allowed") || !strcmp(cmd, "audit")) {
			const cJSON *a = cJSON_GetObjectItemCaseSensitive(reply, !strcmp(cmd, "allowed") ? "hosts" : "records");
			const cJSON *x;
			if (c.json) {
				char *t = cJSON_Print(a);
				printf("%s\n", t ? t : "[]");
				free(t);
			} else {
				cJSON_ArrayForEach(x, a)
				{
					if (cJSON_IsString(x)) {
						printf("%s\n", x->valuestring);
						continue;
					}
					const char *k[] = {"time", "action", "host", "user", "session", "result", "message"};
					for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
						const cJSON *v = cJSON_GetObjectItemCaseSensitive(x, k[i]);
						printf("%s%s", i ? "  " : "", cJSON_IsString(v) ? v->valuestring : "-");
					}
					printf("\n");
				}
			}
		} else {
			const cJSON *m = cJSON_GetObjectItemCaseSensitive(reply, "message");
			if (cJSON_IsString(m))
				printf("%s\n", m->valuestring);
		}
	}
	cJSON_Delete(reply);
	return st;
}
