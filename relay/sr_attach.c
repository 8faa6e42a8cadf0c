/* sr_attach.c — `smrelay attach <session> [--read-only]`: the local
 * terminal joins a session like `tmux attach`. Raw mode; the daemon sends a
 * repaint of the current screen and then the live output; keystrokes go to
 * the program (not with --read-only); the detach key (default Ctrl-\)
 * leaves. The terminal is restored on detach, when the session ends, when
 * the daemon goes away, and on SIGTERM/SIGHUP/SIGINT. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "sr_cli.h"
#include "sr_ctl_client.h"
#include "sr_ctl_proto.h"

static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t got_winch, got_quit;

static void on_sig(int signo)
{
	int saved = errno;
	if (signo == SIGWINCH)
		got_winch = 1;
	else
		got_quit = signo;
	if (sig_pipe[1] >= 0 && write(sig_pipe[1], "s", 1) < 0) {
	}
	errno = saved;
}

/* "ctrl-\", "^\", "ctrl-]", "^A"... → the control byte. */
static int parse_key(const char *s)
{
	const char *k = NULL;
	if (!strncmp(s, "ctrl-", 5))
		k = s + 5;
	else if (s[0] == '^')
		k = s + 1;
	if (!k || strlen(k) != 1)
		return -1;
	int c = (unsigned char)k[0];
	if (c >= 'a' && c <= 'z')
		c -= 32;
	if (c < '@' || c > '_')
		return -1;
	return c - '@';
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_frame(int fd, int type, const void *p, size_t n)
{
	unsigned char hdr[SR_CTL_FRAME_HDR];
	sr_frame_header(hdr, type, n);
	if (write_all(fd, hdr, sizeof(hdr)) < 0)
		return -1;
	return n ? write_all(fd, p, n) : 0;
}

static void term_size(unsigned *cols, unsigned *rows)
{
	struct winsize ws;
	*cols = *rows = 0;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
	}
}

/* What the program may have switched on in our terminal: off again. */
static const char RESTORE[] = "\x1b[?1l\x1b>\x1b[?2004l\x1b[?1004l\x1b[?9l\x1b[?1000l"
			      "\x1b[?1002l\x1b[?1003l\x1b[?1005l\x1b[?1006l\x1b[?1015l\x1b[?1016l"
			      "\x1b[?5l\x1b[?6l\x1b[?7h\x1b[4l\x1b[r\x1b[0m\x1b[?25h\x1b[?1049l";

static void usage(FILE *out)
{
	fprintf(out, "usage: smrelay attach <session> [--read-only] [--detach-key KEY] [--socket PATH]\n"
		     "  joins the session in this terminal; KEY (default ctrl-\\, or SM_DETACH_KEY)\n"
		     "  detaches. An interactive attach resizes the session to this terminal and\n"
		     "  gives it back its size when the last interactive client leaves.\n");
}

int sr_cmd_attach(int argc, char **argv)
{
	const char *id = NULL, *sock = NULL, *keyspec = getenv("SM_DETACH_KEY");
	int read_only = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--read-only"))
			read_only = 1;
		else if (!strcmp(argv[i], "--detach-key") && i + 1 < argc)
			keyspec = argv[++i];
		else if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock = argv[++i];
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] != '-' && !id)
			id = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!id) {
		usage(stderr);
		return 2;
	}
	int dkey = parse_key(keyspec && *keyspec ? keyspec : "ctrl-\\");
	if (dkey < 0) {
		fprintf(stderr, "smrelay attach: bad detach key '%s' (use e.g. ctrl-\\ or ^])\n", keyspec);
		return 2;
	}
	struct termios saved;
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved) < 0) {
		fprintf(stderr, "smrelay attach: needs a terminal (use 'smrelay screen %s' in scripts)\n", id);
		return 2;
	}
	unsigned cols, rows;
	term_size(&cols, &rows);
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "attach");
	cJSON_AddStringToObject(req, "id", id);
	cJSON_AddBoolToObject(req, "read_only", read_only);
	if (cols && rows) {
		cJSON_AddNumberToObject(req, "cols", cols);
		cJSON_AddNumberToObject(req, "rows", rows);
	}
	char *path = sr_ctl_client_path(sock);
	cJSON *reply = NULL;
	int fd = -1;
	char err[512];
	int rc = path ? sr_ctl_request(path, req, &reply, &fd, err, sizeof(err)) : -ENOMEM;
	free(path);
	cJSON_Delete(req);
	if (rc < 0) {
		fprintf(stderr, "smrelay attach: %s\n", err);
		return 3;
	}
	if (sr_ctl_reply_status("attach", reply)) {
		cJSON_Delete(reply);
		close(fd);
		return 1;
	}
	cJSON_Delete(reply);

	if (pipe(sig_pipe) < 0) {
		close(fd);
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_sig};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGWINCH, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct termios raw = saved;
	raw.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	raw.c_oflag &= ~(tcflag_t)OPOST;
	raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	raw.c_cflag |= CS8;
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);

	const char *why = NULL;
	char whybuf[700] = "";
	size_t cap = 65536, len = 0;
	unsigned char *in = malloc(cap);
	while (in && !why) {
		struct pollfd p[3] = {
			{.fd = fd, .events = POLLIN},
			{.fd = STDIN_FILENO, .events = POLLIN},
			{.fd = sig_pipe[0], .events = POLLIN},
		};
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[2].revents) {
			char junk[16];
			if (read(sig_pipe[0], junk, sizeof(junk)) < 0) {
			}
			if (got_quit) {
				send_frame(fd, SR_FRAME_DETACH, NULL, 0);
				why = "detached (signal)";
				break;
			}
			if (got_winch && !read_only) {
				got_winch = 0;
				term_size(&cols, &rows);
				unsigned char sz[4] = {(unsigned char)(cols >> 8), (unsigned char)cols,
						       (unsigned char)(rows >> 8), (unsigned char)rows};
				send_frame(fd, SR_FRAME_RESIZE, sz, 4);
			}
		}
		if (p[1].revents & (POLLIN | POLLHUP)) {
			char kb[4096];
			ssize_t n = read(STDIN_FILENO, kb, sizeof(kb));
			if (n <= 0) {
				send_frame(fd, SR_FRAME_DETACH, NULL, 0);
				why = "detached (end of input)";
				break;
			}
			char *d = memchr(kb, dkey, (size_t)n);
			size_t take = d ? (size_t)(d - kb) : (size_t)n;
			if (take && !read_only)
				send_frame(fd, SR_FRAME_INPUT, kb, take);
			if (d) {
				send_frame(fd, SR_FRAME_DETACH, NULL, 0);
				why = "detached";
				break;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (len == cap) {
				unsigned char *b = realloc(in, cap * 2);
				if (!b)
					break;
				in = b;
				cap *= 2;
			}
			ssize_t n = read(fd, in + len, cap - len);
			if (n <= 0) {
				why = "the smrelay daemon went away";
				break;
			}
			len += (size_t)n;
			size_t off = 0;
			for (;;) {
				int type;
				const unsigned char *pl;
				size_t pn;
				long f = sr_frame_parse(in + off, len - off, &type, &pl, &pn);
				if (f <= 0) {
					if (f < 0)
						why = "protocol error from the daemon";
					break;
				}
				off += (size_t)f;
				if (type == SR_FRAME_OUTPUT) {
					write_all(STDOUT_FILENO, pl, pn);
				} else if (type == SR_FRAME_END) {
					snprintf(whybuf, sizeof(whybuf), "%.*s", (int)pn, (const char *)pl);
					why = whybuf;
					break;
				}
			}
			memmove(in, in + off, len - off);
			len -= off;
		}
	}
	free(in);
	write_all(STDOUT_FILENO, RESTORE, sizeof(RESTORE) - 1);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
	close(fd);
	fprintf(stderr, "\r\n[smrelay: %s]\n", why ? why : "connection lost");
	return why && (!strncmp(why, "detached", 8) || strstr(why, "ended")) ? 0 : 1;
}
