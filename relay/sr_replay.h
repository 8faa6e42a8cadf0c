/*
 * sr_replay.h — drives a vt pipeline over a recorded stream on the clock of
 * its timing file, exactly as a live session would be driven: every frame
 * and flush deadline between two chunks is honoured, then the stream ends.
 * Used by `smrelay replay`, the tests and the benchmark.
 *
 * Without a timing file the stream arrives at t=0 in 4 KiB reads.
 * Errors: 0 or negative errno; setup errors are described in err.
 */
#ifndef SR_REPLAY_H
#define SR_REPLAY_H

#include <stddef.h>

#include "sr_timing.h"
#include "vt_pipe.h"

int sr_replay_run(const char *raw, size_t len, const struct sr_timing *timing,
		  unsigned cols, unsigned rows, vt_op_cb cb, void *data,
		  char *err, size_t errlen);

#endif
