/*
 * sr_pollsync.h — drives a "pollable" object on the sr_loop: anything that
 * says which fds it waits for and until when (poll) and does its work in
 * step — the firewall (fw_poll/fw_step) and the Mattermost connection
 * (mm_conn_poll/mm_conn_step) follow that contract.
 *
 * After each step, and after sr_pollsync_update (call it when you queued
 * work into the object from outside), the object is asked again and the
 * loop's watchers and one timer are brought in line with its answer:
 * watchers for new fds are added, gone ones removed, interest changed;
 * the timer fires at the deadline (step is then called). Idle objects cost
 * nothing: no deadline, no timer.
 *
 * Ownership: the caller owns the object and frees the pollsync first.
 * Errors: 0 or a negative errno-style code.
 */
#ifndef SR_POLLSYNC_H
#define SR_POLLSYNC_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "sr_loop.h"

typedef size_t (*sr_poll_fn)(void *obj, struct pollfd *fds, size_t max, uint64_t *deadline_ms);
typedef void (*sr_step_fn)(void *obj);

struct sr_pollsync;

int sr_pollsync_new(struct sr_loop *loop, sr_poll_fn poll, sr_step_fn step, void *obj,
		    struct sr_pollsync **out);

/* Re-reads the object's fds and deadline at the start of the next loop
 * iteration (several calls coalesce). */
void sr_pollsync_update(struct sr_pollsync *p);

void sr_pollsync_free(struct sr_pollsync *p);

#endif
