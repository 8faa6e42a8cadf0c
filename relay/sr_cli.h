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

#endif
