/*
 * sr_quote.h — the one place that turns an argv array into a remote command
 * line. Every remote command runs over an SSH exec channel, i.e. through the
 * remote user's shell (`$SHELL -c LINE`), so user data must never be pasted
 * into a shell string by hand: build an argv array and quote it here.
 *
 * Quoting: an argument is left bare only when it is non-empty, made only of
 * [A-Za-z0-9_./:=@%+,-], does not start with '=' (zsh expands `=cmd`) and is
 * not argv[0]. Everything else is put in single quotes, with each ' written
 * as '\''. argv[0] is always quoted so it can never be taken for a reserved
 * word (`if`, `time`), an alias or a variable assignment (`A=b`). Inside
 * single quotes a POSIX shell takes every byte literally, so newlines,
 * control bytes and non-UTF-8 pass through unchanged; NUL cannot occur in a
 * C string, so no argument is ever rejected for its content.
 *
 * Assumes the remote login shell is POSIX-like (sh, dash, bash, ksh, zsh).
 * fish and csh-family shells treat quotes differently: do not use them as the
 * VM user's login shell.
 *
 * argv[0] must be a program name chosen by the relay, never user data: bash
 * takes a command word starting with '%' as a job spec even when quoted, and
 * a user-chosen program is code execution whatever the quoting.
 *
 * Option injection is NOT prevented here: a quoted "-rf" is still an option
 * to the program that receives it. Callers validate names (sr_project) and
 * put "--" before operands where the remote program supports it.
 *
 * Ownership: *out is malloc'ed and NUL-terminated; the caller frees it.
 * Errors: 0, -EINVAL (NULL argv or argument, argc == 0; described in err),
 * -ENOMEM. On error *out is NULL.
 */
#ifndef SR_QUOTE_H
#define SR_QUOTE_H

#include <stddef.h>

int sr_quote_argv(const char *const *argv, size_t argc, char **out, char *err, size_t errlen);

/* One argument in a non-command position (same rule as argv[1..]).
 * Errors: 0, -EINVAL (arg or out NULL), -ENOMEM. */
int sr_quote_arg(const char *arg, char **out);

#endif
