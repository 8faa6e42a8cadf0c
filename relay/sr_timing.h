/*
 * sr_timing.h — reads scriptreplay "classic" timing files: one line per
 * chunk, `<delay-seconds-before-chunk> <bytes>`.
 *
 * Ownership: sr_timing_load fills a caller-owned struct whose arrays it
 * allocates; sr_timing_free releases them.
 * Errors: 0, -ENOENT / -ENOMEM, or -EINVAL with the line number in *bad_line.
 */
#ifndef SR_TIMING_H
#define SR_TIMING_H

#include <stddef.h>
#include <stdint.h>

struct sr_timing {
	uint64_t *at_ms;  /* absolute time of each chunk, ms since start */
	size_t *bytes;    /* size of each chunk */
	size_t n;
};

int sr_timing_load(const char *path, struct sr_timing *t, size_t *bad_line);
void sr_timing_free(struct sr_timing *t);

#endif
