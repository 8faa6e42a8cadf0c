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
		"  serve   run the relay daemon (settings from SM_* variables)\n"
		"  replay [--cols N] [--rows N] [--timing FILE] [--offset BYTES] [--screen] FILE\n"
		"          replay a recorded terminal stream through the vt engine and print\n"
		"          what the chat would receive (JSON lines), or the screen (--screen)\n"
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
	if (!strcmp(cmd, "serve"))
		return sr_cmd_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "replay"))
		return sr_cmd_replay(argc - 1, argv + 1);
	fprintf(stderr, "smrelay: unknown command '%s' (see 'smrelay --help')\n", cmd);
	return 2;
}
