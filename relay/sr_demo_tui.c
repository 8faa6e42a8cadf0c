/* sr_demo_tui.c — `smrelay demo-tui`: the program `smrelay demo` runs in its
 * sessions instead of Claude Code, so a first run shows the whole flow
 * with nothing else installed. It works for a moment (a spinner), prints a
 * few lines, needs a package from pypi.org, prints
 * `[NETWORK_REQUEST: pypi.org]` on its own line and waits for the verdict
 * the relay types: `[NETWORK_APPROVED: pypi.org]` (it downloads and
 * finishes) or `[NETWORK_DENIED: pypi.org]` (it goes on without). Other
 * lines are answered "you said: ...". Afterwards `fetch <host>` asks for
 * another host.
 *
 * Input is read in the terminal's canonical mode, a line at a time: the
 * program never enables bracketed paste, so the relay types plain text and
 * Enter. Output is plain text with a few colours and a spinner redrawn
 * with CR, as small terminal programs do; it works under the tmux holder.
 * Exit status: 0 at end of input or on `exit`, 2 on a usage error. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sr_cli.h"

#define HOST_MAX 253

static unsigned speed_div = 1; /* --fast: every pause 10 times shorter */

static void sleep_ms(unsigned ms)
{
	ms /= speed_div;
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* A spinner for ms, then "ok": "/ Reading the project... 1s". ASCII only:
 * a holder's terminal without a UTF-8 locale shows other characters as
 * '_'. */
static void spin(const char *label, unsigned ms)
{
	static const char frames[] = "|/-\\";
	unsigned steps = ms / 100;
	for (unsigned i = 0; i < steps; i++) {
		printf("\r\033[36m%c\033[0m %s... %us\033[K", frames[i % 4], label, i / 10);
		fflush(stdout);
		sleep_ms(100);
	}
	printf("\r\033[32mok\033[0m %s\033[K\n", label);
	fflush(stdout);
}

/* A line without its end and with control characters shown as '?', so an
 * echo can never carry escape sequences. */
static void clean_line(char *s)
{
	s[strcspn(s, "\r\n")] = '\0';
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static bool plain_host(const char *h)
{
	size_t n = strlen(h);
	if (!n || n > HOST_MAX)
		return false;
	for (; *h; h++)
		if (!isalnum((unsigned char)*h) && *h != '.' && *h != '-')
			return false;
	return true;
}

static bool contains_nocase(const char *s, const char *what)
{
	size_t n = strlen(what);
	for (; *s; s++)
		if (!strncasecmp(s, what, n))
			return true;
	return false;
}

/* 1 approved, 0 denied, -1 not a verdict for host (the relay types host
 * names normalised: lower case). */
static int verdict(const char *line, const char *host)
{
	char want[HOST_MAX + 40];
	snprintf(want, sizeof(want), "[NETWORK_APPROVED: %s]", host);
	if (contains_nocase(line, want))
		return 1;
	snprintf(want, sizeof(want), "[NETWORK_DENIED: %s]", host);
	if (contains_nocase(line, want))
		return 0;
	return -1;
}

/* Reads lines until the verdict for host; other lines are answered.
 * Returns 1, 0, or -1 at end of input. */
static int wait_verdict(const char *host, char **buf, size_t *cap)
{
	say("\033[33mWaiting for your decision: Approve or Deny in the chat.\033[0m");
	while (getline(buf, cap, stdin) >= 0) {
		clean_line(*buf);
		int v = verdict(*buf, host);
		if (v >= 0)
			return v;
		if (**buf)
			say("you said: %s  (still waiting for a decision on %s)", *buf, host);
	}
	return -1;
}

static void request(const char *host, const char *what)
{
	say("%s", what);
	say("  \033[31mERROR\033[0m: could not connect to %s: connection refused", host);
	say("  (the sandbox's firewall allows nothing until someone approves it)");
	say("[NETWORK_REQUEST: %s]", host);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: smrelay demo-tui [--fast]\n"
		     "\n"
		     "The demo's stand-in for Claude Code (smrelay demo runs it in each session):\n"
		     "it works, prints, asks for pypi.org with [NETWORK_REQUEST: pypi.org] and\n"
		     "waits for [NETWORK_APPROVED: pypi.org] or [NETWORK_DENIED: pypi.org] on\n"
		     "stdin. --fast makes every pause ten times shorter.\n");
}

int sr_cmd_demo_tui(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--fast")) {
			speed_div = 10;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "smrelay demo-tui: unknown argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_DFL);
	say("\033[1msmrelay demo\033[0m: a stand-in for Claude Code in this session.");
	say("It works for a moment, then needs a package from the internet.");
	putchar('\n');
	spin("Reading the project", 2000);
	say("  found README.md, app.py, test_app.py, requirements.txt");
	spin("Running the tests", 2500);
	say("  4 passed, 1 failed: test_fetch (ModuleNotFoundError: No module named 'requests')");
	putchar('\n');
	say("I need the package 'requests' from pypi.org to fix test_fetch.");
	request("pypi.org", "$ pip install requests");
	char *line = NULL;
	size_t cap = 0;
	int v = wait_verdict("pypi.org", &line, &cap);
	if (v < 0) {
		free(line);
		return 0;
	}
	if (v == 1) {
		say("\033[32mApproved.\033[0m downloading... requests-2.32.3-py3-none-any.whl");
		for (int pct = 0; pct <= 100; pct += 20) {
			printf("\r  [%-20.*s] %3d%%\033[K", pct / 5, "####################", pct);
			fflush(stdout);
			sleep_ms(250);
		}
		printf("\n");
		say("  Successfully installed requests-2.32.3");
		spin("Running the tests again", 1500);
		say("  5 passed. done.");
	} else {
		say("\033[31mDenied.\033[0m OK: going on without requests; test_fetch stays skipped. done.");
	}
	putchar('\n');
	say("Type anything and I will echo it; 'fetch <host>' asks for another host; 'exit' quits.");
	while (getline(&line, &cap, stdin) >= 0) {
		clean_line(line);
		if (!strcmp(line, "exit"))
			break;
		if (!strncmp(line, "fetch ", 6)) {
			char host[HOST_MAX + 1];
			snprintf(host, sizeof(host), "%s", line + 6 + strspn(line + 6, " "));
			for (char *p = host; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			if (!plain_host(host)) {
				say("fetch: '%s' is not a host name", host);
				continue;
			}
			char what[HOST_MAX + 40];
			snprintf(what, sizeof(what), "$ curl -sI https://%s/", host);
			request(host, what);
			v = wait_verdict(host, &line, &cap);
			if (v < 0)
				break;
			if (v)
				say("\033[32mApproved:\033[0m HTTP/2 200 from %s. done.", host);
			else
				say("\033[31mDenied:\033[0m not fetching %s.", host);
			continue;
		}
		if (*line)
			say("you said: %s", line);
	}
	free(line);
	say("bye");
	return 0;
}
