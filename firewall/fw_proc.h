/*
 * fw_proc.h — internal: runs one child process without blocking (for the
 * command and nftables backends). The child gets an argv (no shell, so
 * nothing in a word is ever interpreted), optional stdin data, and its
 * stdout and stderr are collected through non-blocking pipes.
 *
 * Pollable like the rest of firewall/: fw_proc_poll gives the pipe fds and
 * a deadline, fw_proc_step moves data and reaps the child with
 * waitpid(WNOHANG). The child runs in its own process group; on timeout
 * the whole group gets SIGKILL (a shell's children die too).
 *
 * The child's environment is env (NULL: PATH=/usr/sbin:/usr/bin:/sbin:/bin
 * and LC_ALL=C only), never the relay's, so secrets held in the relay's
 * environment do not leak into it. argv[0] is looked up in the relay's PATH
 * when it has no '/'. Its signal mask is cleared and SIGPIPE reset to the
 * default. Descriptors of ours that are not close-on-exec would be
 * inherited: firewall/ opens all of its own with FD_CLOEXEC.
 *
 * Ownership: fw_proc_start copies argv and stdin data; the caller frees the
 * proc with fw_proc_free (which kills and reaps a child still running).
 * Errors: 0 or a negative errno-style code, detail in err.
 */
#ifndef FW_PROC_H
#define FW_PROC_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fw_proc;

struct fw_proc_opts {
	const char *const *argv;  /* NULL-terminated, argv[0] the program */
	const char *const *env;   /* NULL-terminated "K=V", or NULL (see above) */
	const void *stdin_data;   /* written to the child's stdin, then closed */
	size_t stdin_len;         /* 0: stdin is /dev/null-like (closed at once) */
	unsigned timeout_ms;      /* 0 → 60000 */
	size_t max_output;        /* per stream; 0 → 1 MiB; more is dropped and flagged */
};

struct fw_proc_result {
	int exit_status;   /* 0..255, or -1 when killed by a signal */
	int signal;        /* the signal that ended it, 0 if none */
	bool timed_out;    /* we killed it after timeout_ms */
	bool truncated;    /* output beyond max_output was dropped */
	const char *out;   /* stdout, NUL-terminated; owned by the proc */
	size_t out_len;
	const char *err;   /* stderr, same */
	size_t err_len;
};

/* Starts the child. -ENOENT/-EACCES when it cannot be executed (posix_spawn
 * reports that at once on glibc), -EINVAL, -ENOMEM, -EMFILE. */
int fw_proc_start(const struct fw_proc_opts *o, struct fw_proc **out, char *err, size_t errlen);

/* The pipe fds still open (at most 3) and, while the child runs, a
 * deadline (its timeout, or a short recheck once the pipes closed but the
 * exit status is not in yet). Lowers *deadline_ms only. */
size_t fw_proc_poll(struct fw_proc *p, struct pollfd *fds, size_t max, uint64_t *deadline_ms);

/* Writes stdin, reads output, reaps. Never blocks. Returns 1 once the
 * child ended and its output is complete, 0 while it runs. */
int fw_proc_step(struct fw_proc *p);

/* 0 with *r filled once finished (pointers valid until fw_proc_free),
 * -EAGAIN while running. */
int fw_proc_result(const struct fw_proc *p, struct fw_proc_result *r);

/* A one-line summary for messages: "exit status 2: <first stderr line>",
 * "killed by signal 9", "timed out after 5 s". Control bytes replaced. */
void fw_proc_describe(const struct fw_proc *p, char *buf, size_t len);

/* Kills (SIGKILL to the group) and reaps a child still running; frees.
 * NULL is a no-op. */
void fw_proc_free(struct fw_proc *p);

#endif
