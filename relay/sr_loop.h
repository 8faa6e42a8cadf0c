/*
 * sr_loop.h — the daemon's one single-threaded event loop. Everything runs
 * on it: non-blocking sockets (libssh, curl multi, libwebsockets), unix
 * sockets, PTY fds, timers, deferred calls and signals. It is not
 * thread-safe: call it only from the thread that runs it.
 *
 * One iteration (sr_loop_run_once):
 *   1. deferred calls queued before the iteration starts run, in FIFO order;
 *   2. poll(2) blocks until an fd is ready, the next timer is due or the
 *      timeout passes; it does not block at all while deferred calls are
 *      pending or a stop was requested, and an idle loop costs no CPU;
 *   3. the cached clock is refreshed and ready fd watchers (and signal
 *      callbacks) run;
 *   4. due timers run, earliest deadline first, equal deadlines in arming
 *      order. A timer armed by a timer callback never runs in the same pass,
 *      so a 0 ms timer that re-arms itself runs once per iteration and fds
 *      are still polled in between.
 *
 * Callbacks may add, change or remove any watcher or timer (their own too,
 * or ones that are ready later in the same iteration: those are then not
 * called), queue deferred calls and stop the loop. Memory of removed objects
 * is released at the end of the iteration. Callbacks must not call
 * sr_loop_run, sr_loop_run_once (-EBUSY) or sr_loop_free.
 *
 * Ownership: the loop owns every watcher and timer; handles stay valid until
 * the removal call named below (or sr_loop_free, which releases everything
 * still registered, drops pending deferred calls unrun and restores signal
 * dispositions). The loop never closes an fd it watches: remove the watcher
 * *before* closing the fd (a closed fd is reported once as SR_EV_ERROR and
 * the watcher is then paused).
 *
 * Errors: 0 or a negative errno-style code: -EINVAL bad argument, -EBADF fd
 * not open, -EMFILE more watchers than RLIMIT_NOFILE, -ENOMEM allocation,
 * -EBUSY loop already running / signals owned by another loop, or what
 * poll(2), pipe(2) or sigaction(2) returned.
 */
#ifndef SR_LOOP_H
#define SR_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct sr_loop;
struct sr_watch;
struct sr_timer;

/* Interest (sr_loop_watch, sr_watch_set_events) and revents bits. ERROR and
 * HUP are reported whenever the watcher is not paused, without asking; a
 * peer that hung up keeps reporting HUP, so remove or pause the watcher. */
enum {
	SR_EV_READ = 1u << 0,
	SR_EV_WRITE = 1u << 1,
	SR_EV_ERROR = 1u << 2,
	SR_EV_HUP = 1u << 3,
};

typedef void (*sr_fd_cb)(struct sr_watch *w, int fd, unsigned revents, void *data);
typedef void (*sr_timer_cb)(struct sr_timer *t, void *data);
typedef void (*sr_defer_cb)(void *data);
typedef void (*sr_signal_cb)(int signo, void *data);

/* Creates a loop in *out; free it with sr_loop_free (not from a callback). */
int sr_loop_new(struct sr_loop **out);
void sr_loop_free(struct sr_loop *loop);

/* Runs iterations until sr_loop_stop, or until nothing is left that could
 * wake it (no unpaused watcher, armed timer, pending deferred call or
 * signal callback). Returns 0, or a negative code if poll(2) fails (EINTR
 * is not a failure). */
int sr_loop_run(struct sr_loop *loop);

/* Runs one iteration, blocking at most timeout_ms (< 0: until something
 * happens; never blocks when nothing could wake it). Returns the number of
 * callbacks run (>= 0) or a negative code. */
int sr_loop_run_once(struct sr_loop *loop, int timeout_ms);

/* Makes sr_loop_run (or the current run_once) return after the current
 * iteration without blocking again. Consumed when that run returns. */
void sr_loop_stop(struct sr_loop *loop);

/* Monotonic milliseconds, cached: refreshed when an iteration starts and
 * when poll returns, so all callbacks of one batch see the same time. */
uint64_t sr_loop_now(const struct sr_loop *loop);

/* --- fd watchers ---------------------------------------------------------
 * Watches fd (level-triggered) for events (SR_EV_READ|SR_EV_WRITE; 0 makes a
 * paused watcher that reports nothing, not even HUP). The same fd may have
 * several watchers. cb gets the subset of its current interest that is
 * ready, plus ERROR/HUP. *out (may be NULL) is valid until sr_watch_remove.
 * A watcher added during an iteration is first polled in the next one. */
int sr_loop_watch(struct sr_loop *loop, int fd, unsigned events, sr_fd_cb cb, void *data,
		  struct sr_watch **out);
/* Changes the interest; takes effect at once (a callback due later in this
 * iteration only gets events still asked for). -EINVAL on unknown bits. */
int sr_watch_set_events(struct sr_watch *w, unsigned events);
unsigned sr_watch_events(const struct sr_watch *w);
/* Removes the watcher; it is never called again and w becomes invalid. */
void sr_watch_remove(struct sr_watch *w);

/* --- timers (monotonic clock, milliseconds) ------------------------------
 * Arms a one-shot timer delay_ms from now (the clock read at this call, so
 * it never fires early). With out != NULL the caller keeps the handle: after
 * firing it is disarmed but valid, ready for sr_timer_rearm, until
 * sr_timer_cancel. With out == NULL it is fire-and-forget: the loop releases
 * it once its callback returns without re-arming it. */
int sr_loop_timer(struct sr_loop *loop, uint64_t delay_ms, sr_timer_cb cb, void *data,
		  struct sr_timer **out);
/* (Re-)arms the timer delay_ms from now, armed or not; it counts as newly
 * armed for the order of equal deadlines. Safe from its own callback. */
int sr_timer_rearm(struct sr_timer *t, uint64_t delay_ms);
/* Disarms and releases the timer (even from its own callback): it is never
 * called again and t becomes invalid. */
void sr_timer_cancel(struct sr_timer *t);
bool sr_timer_armed(const struct sr_timer *t);

/* --- deferred calls ------------------------------------------------------
 * Queues cb(data) for the start of the next iteration, before the loop
 * blocks. Calls queued by a deferred call wait for the following iteration
 * (the loop does not block in between). */
int sr_loop_defer(struct sr_loop *loop, sr_defer_cb cb, void *data);
/* Drops every pending call of cb with data (e.g. before freeing data);
 * returns how many were dropped. */
int sr_loop_defer_cancel(struct sr_loop *loop, sr_defer_cb cb, void *data);

/* --- signals -------------------------------------------------------------
 * Runs cb(signo, data) from the loop (never in the signal handler) after
 * signo arrives; several arrivals between two iterations make one call.
 * cb == NULL unregisters and restores the previous disposition. One loop per
 * process handles signals (-EBUSY for others) until it unregisters the last
 * one or is freed. Invalid, SIGKILL and SIGSTOP: -EINVAL. A self-pipe is used, not
 * signalfd, so the signal mask stays untouched and child processes start
 * with normal signals; a forked child inherits the handler until it execs. */
int sr_loop_signal(struct sr_loop *loop, int signo, sr_signal_cb cb, void *data);

#endif
