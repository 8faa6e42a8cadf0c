/*
 * sr_ssh_driver.h — the loop side of one sr_ssh connection (the contract is
 * in sr_ssh.h): an fd watcher whose interest follows sr_ssh_wants, a
 * deferred step while SR_SSH_WANT_STEP is set, a keepalive timer.
 *
 * Everything that uses channels of the connection (PTY sessions, exec
 * jobs) registers a listener: after every step its on_step runs, so it can
 * read its channel and look at results. Data only moves inside steps, so
 * this is the one place channel users need to look.
 *
 * Re-entrancy: on_step may unlisten itself or other listeners, listen new
 * ones (they are first told after the next step), and free the driver;
 * on_error may free the driver.
 *
 * Ownership: the caller owns the sr_ssh and the driver and frees the
 * driver first. Listeners are caller-owned structs (embed one); a driver
 * freed with listeners still registered calls their on_detach (may be
 * NULL) and forgets them.
 * Errors: 0 or a negative errno-style code.
 */
#ifndef SR_SSH_DRIVER_H
#define SR_SSH_DRIVER_H

#include <stdint.h>

#include "sr_loop.h"
#include "sr_ssh.h"

struct sr_ssh_driver;

/* Called once when the connection fails (code from sr_ssh.h, message from
 * sr_ssh_error), after the listeners' on_step saw the failure. */
typedef void (*sr_ssh_driver_error_cb)(void *data, int code, const char *msg);

struct sr_ssh_listener {
	void (*on_step)(struct sr_ssh_listener *l);
	void (*on_detach)(struct sr_ssh_listener *l);
	struct sr_ssh_driver *drv; /* set while registered */
};

/* Starts driving ssh (connected or still connecting) on loop; keepalive_ms
 * is the period sr_ssh_keepalive is called at (0 → 1000). Not owning ssh.
 * Errors: -EINVAL, -ENOMEM, or what sr_loop returned. */
int sr_ssh_driver_new(struct sr_loop *loop, struct sr_ssh *ssh, uint64_t keepalive_ms,
		      sr_ssh_driver_error_cb on_error, void *error_data,
		      struct sr_ssh_driver **out);

/* Removes the watcher, timer and deferred step from the loop and detaches
 * every listener. Safe from the driver's own callbacks (the memory is
 * released when the callback returns). NULL is a no-op. */
void sr_ssh_driver_free(struct sr_ssh_driver *d);

/* Asks for a step at the start of the next loop iteration (after queueing
 * channel work). NULL is a no-op. */
void sr_ssh_driver_kick(struct sr_ssh_driver *d);

struct sr_ssh *sr_ssh_driver_ssh(const struct sr_ssh_driver *d);
struct sr_loop *sr_ssh_driver_loop(const struct sr_ssh_driver *d);

/* True once the driver was freed from inside one of its callbacks. */
int sr_ssh_driver_dead(const struct sr_ssh_driver *d);

/* Registers l (l->on_step set; l not registered elsewhere). -EINVAL, -ENOMEM. */
int sr_ssh_driver_listen(struct sr_ssh_driver *d, struct sr_ssh_listener *l);

/* Unregisters l if registered (l->drv becomes NULL). Safe from callbacks. */
void sr_ssh_driver_unlisten(struct sr_ssh_listener *l);

#endif
