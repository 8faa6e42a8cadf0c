/* main.c — the smrelay command: dispatches subcommands. */
#include <stdio.h>
#include <string.h>

#include "sr_cli.h"
#include "sr_version.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: smrelay <command> [options]\n"
		"\n"
		"commands:\n"
		"  serve                         run the relay daemon (settings from SM_* variables)\n"
		"  demo                          try it: the daemon with a built-in web chat and\n"
		"                                sessions on this machine (no Mattermost, VM or firewall)\n"
		"  start <project> [--owner N]   start a session: org/repo[@branch] [--worktree[=name]]\n"
		"                                or a project name from SM_PROJECTS; prints its id\n"
		"  list [--json]                 sessions\n"
		"  screen <session>              print the session's screen as text\n"
		"  attach <session> [--read-only]  join the session in this terminal (ctrl-\\ detaches)\n"
		"  send <session> <text>         type text followed by Enter\n"
		"  keys <session> <spec>         named keys, e.g. 'down*3 enter', ctrl-c\n"
		"  resize <session> <C>x<R>      set the session's size\n"
		"  stop <session>                stop it (its container goes; worktrees stay)\n"
		"  allow <host> [--session S]    allow a host through the firewall\n"
		"  revoke <host>                 remove it from the allowlist\n"
		"  allowed                       the allowlist\n"
		"  approve|deny <request-id>     decide a pending network request\n"
		"  audit [--since T] [--json]    the audit log\n"
		"  replay [--cols N] [--rows N] [--timing FILE] [--offset BYTES] [--screen] FILE\n"
		"          replay a recorded terminal stream through the vt engine and print\n"
		"          what the chat would receive (JSON lines), or the screen (--screen)\n"
		"  demo-tui [--fast]             the demo's stand-in for Claude Code\n"
		"\n"
		"options:\n"
		"  -h, --help     show this help\n"
		"  -V, --version  show the version\n"
		"\n"
		"Run 'smrelay <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("smrelay %s\n", SR_VERSION);
		return 0;
	}
	static const char *const client_cmds[] = {"start", "list", "screen", "send", "keys",
						  "resize", "stop", "allow", "revoke", "allowed",
						  "approve", "deny", "audit", NULL};
	for (size_t i = 0; client_cmds[i]; i++)
		if (!strcmp(cmd, client_cmds[i]))
			return sr_cmd_client(argc - 1, argv + 1);
	if (!strcmp(cmd, "attach"))
		return sr_cmd_attach(argc - 1, argv + 1);
	if (!strcmp(cmd, "serve"))
		return sr_cmd_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "replay"))
		return sr_cmd_replay(argc - 1, argv + 1);
	if (!strcmp(cmd, "demo"))
		return sr_cmd_demo(argc - 1, argv + 1);
	if (!strcmp(cmd, "demo-tui"))
		return sr_cmd_demo_tui(argc - 1, argv + 1);
	fprintf(stderr, "smrelay: unknown command '%s' (see 'smrelay --help')\n", cmd);
	return 2;
}
