/*
 * sr_ctl_client.h — the command-line side of the control socket: connect,
 * send one request, read the reply (sr_ctl_proto.h). Blocking, for the
 * short-lived `smrelay <command>` processes (never used by the daemon).
 *
 * The socket path: --socket PATH, else SM_CONTROL_SOCKET, else
 * <SM_STATE_DIR or /var/lib/smrelay>/control.sock.
 *
 * Ownership: *reply is a cJSON tree the caller deletes; *fd (attach) the
 * caller closes.
 * Errors: 0, -ECONNREFUSED / -ENOENT (daemon not running), -EACCES, -EIO
 * (broken reply), with a message in err.
 */
#ifndef SR_CTL_CLIENT_H
#define SR_CTL_CLIENT_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* The socket path to use (malloc'ed) given an explicit one or NULL. */
char *sr_ctl_client_path(const char *explicit_path);

/* Connects, sends req (a JSON object; "v" is added) and reads the reply
 * line. With keep_fd the connection stays open and *fd is returned (for
 * attach); otherwise it is closed. */
int sr_ctl_request(const char *path, cJSON *req, cJSON **reply, int *fd, char *err, size_t errlen);

/* Exit status for a reply: 0 when ok, else prints "smrelay CMD: error" to
 * stderr and returns 1 (3 when the daemon could not be reached). */
int sr_ctl_reply_status(const char *cmd, const cJSON *reply);

#endif
