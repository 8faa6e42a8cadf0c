/*
 * sr_exec.h — one remote command on an SSH exec channel, asynchronously:
 * start it, and a callback gets its exit status and output when it ends.
 *
 * The command is an argv array quoted by sr_argv_quote. An optional stdin
 * payload (e.g. sr_envwrap's NAME=value lines: how secrets reach a remote
 * program without appearing in its argv) is written and followed by EOF;
 * it is copied into the channel's write queue, which wipes what it sent
 * (sr_ssh.c), so the caller may wipe and free its own copy on return.
 *
 * A timeout (0: none) ends the wait: the channel is closed (the remote
 * command is sent SIGTERM where the server allows it) and the callback
 * gets -ETIMEDOUT.
 *
 * The callback runs once, from a driver step or the timeout timer, with
 * res valid during the call only: res->rc is 0 when the command ran to its
 * end (res->status then holds its exit status, -1 when killed by a signal)
 * or a negative code when it could not run or the connection failed
 * (res->msg says why). The job is freed right after the callback returns:
 * do not free it from inside.
 *
 * Ownership: the driver must outlive the job or free it first (a job
 * detached by a freed driver reports -ENOTCONN). sr_exec_cancel frees a job
 * that has not reported yet, without a callback.
 * Errors: 0 or a negative errno-style code, described in err.
 */
#ifndef SR_EXEC_H
#define SR_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "sr_argv.h"
#include "sr_ssh_driver.h"

struct sr_exec;

struct sr_exec_res {
	int rc;          /* 0: ran to its end; else a negative code */
	int status;      /* exit status 0..255, -1 when killed or unknown */
	const char *out; /* stdout, NUL-terminated ("" when none) */
	size_t out_len;
	const char *err; /* stderr, same */
	size_t err_len;
	const char *msg; /* why it failed (rc < 0), "" otherwise */
};

typedef void (*sr_exec_cb)(void *data, const struct sr_exec_res *res);

/* Starts argv on d's connection (queued until it is ready). stdin_data may
 * be NULL (stdin then gets EOF at once). *out (may be NULL when the caller
 * never cancels) stays valid until the callback returns.
 * Errors: -EINVAL, -ENOMEM, or the connection's error. */
int sr_exec_start(struct sr_ssh_driver *d, const struct sr_argv *argv, const void *stdin_data,
		  size_t stdin_len, uint64_t timeout_ms, sr_exec_cb cb, void *data,
		  struct sr_exec **out, char *err, size_t errlen);

/* Forgets the job: no callback; the channel is closed. NULL is a no-op. */
void sr_exec_cancel(struct sr_exec *e);

#endif
