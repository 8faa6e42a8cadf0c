/* fw_log.c — the log backend: enforces nothing, every change "applies" at
 * once. The core writes the audit records; this backend only answers.
 * Listing is left to the core's table (-EOPNOTSUPP). */
#include "fw_backend.h"

#include <errno.h>

static int log_init(struct fw_be *be, const struct fw_opts *o, char *err, size_t errlen)
{
	(void)o;
	(void)err;
	(void)errlen;
	be->priv = NULL;
	return 0;
}

static void log_destroy(struct fw_be *be)
{
	(void)be;
}

static int log_apply(struct fw_be *be, enum fw_op op, const char *host, fw_be_done_fn done)
{
	(void)host;
	if (op == FW_OP_LIST)
		return -EOPNOTSUPP;
	/* The contract lets done run inside apply: the core defers it. */
	done(be, 0, "recorded (log backend: nothing enforced)", NULL, 0);
	return 0;
}

static size_t log_poll(struct fw_be *be, struct pollfd *fds, size_t max, uint64_t *deadline_ms)
{
	(void)be;
	(void)fds;
	(void)max;
	(void)deadline_ms;
	return 0;
}

static void log_step(struct fw_be *be)
{
	(void)be;
}

const struct fw_backend_ops fw_backend_log = {
	.name = "log",
	.init = log_init,
	.destroy = log_destroy,
	.apply = log_apply,
	.poll = log_poll,
	.step = log_step,
};
