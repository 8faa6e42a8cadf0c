/* sr_cli.h — subcommand entry points. Each takes argv starting at the
 * subcommand name and returns the process exit status (0 ok, 1 runtime
 * error, 2 usage error). Errors are printed to stderr. */
#ifndef SR_CLI_H
#define SR_CLI_H

int sr_cmd_replay(int argc, char **argv);
int sr_cmd_serve(int argc, char **argv);
/* start, list, screen, send, keys, resize, stop (argv[0] names which) */
int sr_cmd_client(int argc, char **argv);
int sr_cmd_attach(int argc, char **argv);
/* the embedded demo (web chat, local sessions) and its stand-in program */
int sr_cmd_demo(int argc, char **argv);
int sr_cmd_demo_tui(int argc, char **argv);

/* Where `smrelay demo` keeps its state by default (the CLI falls back to
 * its control socket when no daemon's socket is configured or present). */
#include <stddef.h>
void sr_demo_state_dir(char *buf, size_t len);

#endif
