/*
 * sr_ssh_int.h — what sr_ssh.c (SSH transport, the public functions) and
 * sr_ssh_local.c (the `local` transport) share. Not a public interface:
 * everything else uses sr_ssh.h.
 *
 * The local transport mirrors the public API one function for one: each
 * public function of sr_ssh.c checks whether the connection (or channel)
 * is local and, if so, hands over to the srl_* function of the same name.
 * Semantics, ownership and error codes are those documented in sr_ssh.h;
 * the differences are listed at the top of sr_ssh_local.c.
 */
#ifndef SR_SSH_INT_H
#define SR_SSH_INT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "sr_ssh.h"

#define PTY_IN_CAP (1u << 20)     /* buffered PTY output before flow control */
#define EXEC_OUT_CAP (8u << 20)   /* collected exec output per stream */
#define WRITE_CAP (4u << 20)      /* queued input per channel */

/* ---- byte buffers (both transports) ----------------------------------- */

struct buf {
	char *p;
	size_t off, len, cap; /* live bytes are p[off, len) */
};

static inline size_t buf_used(const struct buf *b)
{
	return b->len - b->off;
}

static inline int buf_add(struct buf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap && b->off) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0'; /* exec results are handed out as C strings */
	return 0;
}

static inline void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

/* Moves up to n buffered bytes to dst; returns how many. *was_full says
 * whether the buffer had reached PTY_IN_CAP (the transport held its source
 * back and must read again). */
static inline size_t buf_take(struct buf *b, void *dst, size_t n, bool *was_full)
{
	size_t avail = buf_used(b);
	if (n > avail)
		n = avail;
	*was_full = avail >= PTY_IN_CAP;
	memcpy(dst, b->p + b->off, n);
	buf_consume(b, n);
	return n;
}

/* Queues n bytes of channel input: all or nothing, within WRITE_CAP.
 * 0, -ENOBUFS, -ENOMEM. */
static inline int buf_queue(struct buf *wq, const void *data, size_t n)
{
	if (buf_used(wq) + n > WRITE_CAP)
		return -ENOBUFS;
	return n ? buf_add(wq, data, n) : 0;
}

/* The buffer's bytes as a C string for exec results ("" when empty). */
static inline const char *buf_str(const struct buf *b, size_t *len)
{
	*len = buf_used(b);
	return b->p ? b->p + b->off : "";
}

/* A window size both transports accept. */
static inline bool size_valid(unsigned cols, unsigned rows)
{
	return cols && rows && cols <= 10000 && rows <= 10000;
}

/* Zeroes memory in a way the compiler may not drop (explicit_bzero is not
 * POSIX): queued input can hold whatever a user typed, env values are
 * secrets. */
static inline void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

static inline void buf_free(struct buf *b)
{
	if (b->p)
		wipe(b->p, b->cap);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---- the local transport (sr_ssh_local.c) ------------------------------ */

struct srl;      /* a local "connection": an epoll set over its children */
struct srl_chan; /* one child process */

/* Never connecting, never failing once made: errors only from setup
 * (-ENOMEM, or epoll_create1's -errno; message in err). */
int srl_new(struct srl **out, char *err, size_t errlen);
int srl_fd(const struct srl *l);
unsigned srl_wants(const struct srl *l);
int srl_step(struct srl *l);      /* always 1 (ready) */
int srl_keepalive(struct srl *l); /* 0; runs the timed parts (kill grace) */
void srl_free(struct srl *l);     /* kills and reaps every child (blocking) */

int srl_exec_start(struct srl *l, const char *cmdline, struct srl_chan **out);
/* Arguments already validated by sr_ssh_pty_start. */
int srl_pty_start(struct srl *l, const char *term, unsigned cols, unsigned rows, const char *cmdline,
		  const struct sr_env *env, struct srl_chan **out);

enum sr_chan_state srl_chan_state(const struct srl_chan *c);
ssize_t srl_chan_read(struct srl_chan *c, void *buf, size_t n);
int srl_chan_write(struct srl_chan *c, const void *buf, size_t n);
size_t srl_chan_pending(const struct srl_chan *c);
int srl_chan_send_eof(struct srl_chan *c);
int srl_chan_resize(struct srl_chan *c, unsigned cols, unsigned rows);
int srl_chan_exit(const struct srl_chan *c, struct sr_ssh_exit *out);
int srl_exec_result(const struct srl_chan *c, struct sr_ssh_exec_result *out);
const char *srl_chan_error(const struct srl_chan *c);
void srl_chan_close(struct srl_chan *c);

#endif
