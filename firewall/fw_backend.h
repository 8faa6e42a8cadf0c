/*
 * fw_backend.h — internal: the contract between the fw core (fw.c) and one
 * backend (log, command, nftables, OPNsense). Not for users of fw.h.
 *
 * The core owns the queue and is the ONE writer: it calls apply() only from
 * inside fw_step() and only when no earlier apply is outstanding, so a
 * backend never sees two operations at once and needs no locking.
 *
 *   init     runs in fw_new. It must not block (no network, no child
 *            waits); work it needs at start (e.g. OPNsense repairing an
 *            interrupted apply) is started here and driven by step. o is
 *            the core's deep copy of the options and lives as long as the
 *            fw: a backend may keep pointers into it. Right after init the
 *            core queues a FW_OP_LIST (to learn what is already allowed),
 *            then the preapproved names as FW_OP_ADDs.
 *   apply    starts one operation. host is normalised (it passed
 *            fw_host_normalize) and valid during the call only; NULL for
 *            FW_OP_LIST. Returns 0, after which done is called exactly once
 *            (from step, or even before apply returns: the core copes), or
 *            -EOPNOTSUPP when the backend cannot do op at all (done is not
 *            called; e.g. a command backend without a list template: the
 *            core then answers fw_list from its own table).
 *   done     rc 0 only once the change is applied (see fw.h); otherwise a
 *            negative errno-style code and msg a one-line human reason
 *            (never NULL, never a secret). For FW_OP_LIST, hosts/n are the
 *            backend's names (valid during the call; the core copies).
 *            msg on success is a short note ("added", "already present").
 *   poll     may be called at any time, also with nothing in flight (a
 *            backend may have its own timers, e.g. DNS re-resolution). It
 *            fills at most max entries of fds and returns the count; on
 *            entry *deadline_ms is the core's deadline (absolute
 *            CLOCK_MONOTONIC ms, UINT64_MAX for none) and the backend only
 *            ever lowers it. Having more fds than max, fill max and set the
 *            deadline to now so step runs again soon.
 *   step     called on every fw_step, whether or not one of its fds is
 *            ready (find out with poll(2) at timeout 0 if it matters). It
 *            never blocks; done and fw_be_note calls happen from here.
 *   destroy  frees priv and everything the backend owns (killing and
 *            reaping children it started). An outstanding done is NOT
 *            called. Called once, also after a failed init (priv may then
 *            be NULL).
 *
 * Errors: 0 or a negative errno-style code; setup detail through
 * err/errlen, operation detail through done's msg. Secrets (API key and
 * secret) never appear in msg, fw_be_note text, argv or the environment
 * of a child.
 */
#ifndef FW_BACKEND_H
#define FW_BACKEND_H

#include "fw.h"

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

enum fw_op {
	FW_OP_ADD,
	FW_OP_REMOVE,
	FW_OP_LIST,
};

struct fw_be;

typedef void (*fw_be_done_fn)(struct fw_be *be, int rc, const char *msg,
			      const char *const *hosts, size_t n);

struct fw_backend_ops {
	const char *name; /* "log", "command", "nftables", "opnsense" */
	int (*init)(struct fw_be *be, const struct fw_opts *o, char *err, size_t errlen);
	void (*destroy)(struct fw_be *be);
	int (*apply)(struct fw_be *be, enum fw_op op, const char *host, fw_be_done_fn done);
	size_t (*poll)(struct fw_be *be, struct pollfd *fds, size_t max, uint64_t *deadline_ms);
	void (*step)(struct fw_be *be);
};

struct fw_be {
	const struct fw_backend_ops *ops;
	void *priv;    /* the backend's own state: set by init, freed by destroy */
	struct fw *fw; /* the owner; only for fw_be_note */
};

/* Appends a backend event that belongs to no queued operation to the
 * audit log, e.g. action "notice" for "TLS verification disabled" or
 * "applied" for a repaired interrupted apply. host may be NULL. */
void fw_be_note(struct fw_be *be, const char *action, const char *host, const char *result,
		const char *msg);

/* CLOCK_MONOTONIC in milliseconds (the clock of every deadline here). */
uint64_t fw_now_ms(void);

extern const struct fw_backend_ops fw_backend_log;
extern const struct fw_backend_ops fw_backend_command;
extern const struct fw_backend_ops fw_backend_opnsense;
extern const struct fw_backend_ops fw_backend_nft; /* fw_nft.c */

#endif
