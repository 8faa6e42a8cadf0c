/*
 * sr_ctl_proto.h — the control socket's wire format, shared by the daemon
 * (sr_ctl.c) and the command-line client (sr_ctl_client.c).
 *
 * Version 1. A client connects to the unix socket and sends ONE request:
 * a JSON object on one line, {"v":1,"cmd":"list", ...}. The daemon answers
 * with one JSON line: {"ok":true, ...} or {"ok":false,"error":"message",
 * "code":"ENOENT"}, then closes — except after a successful "attach", when
 * both sides switch to frames:
 *
 *   type (1 byte) | length (4 bytes, big endian) | payload
 *
 *   daemon → client   'o' program output        'x' the end (payload: why)
 *   client → daemon   'i' typed bytes           'r' resize (cols, rows: 2 x u16 BE)
 *                     'd' detach
 *
 * Requests: hello · list · start {args:[...], owner?} · stop {id} ·
 * screen {id} · send {id, text} · keys {id, spec} · resize {id, cols, rows}
 * · attach {id, read_only, cols, rows}.
 *
 * Limits: a request line or a frame payload is at most SR_CTL_MAX bytes.
 */
#ifndef SR_CTL_PROTO_H
#define SR_CTL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define SR_CTL_VERSION 1
#define SR_CTL_MAX (1u << 20)
#define SR_CTL_FRAME_HDR 5

enum {
	SR_FRAME_OUTPUT = 'o',
	SR_FRAME_END = 'x',
	SR_FRAME_INPUT = 'i',
	SR_FRAME_RESIZE = 'r',
	SR_FRAME_DETACH = 'd',
};

/* Writes a frame header for a payload of len bytes into hdr. */
void sr_frame_header(unsigned char hdr[SR_CTL_FRAME_HDR], int type, size_t len);

/* Parses a frame at the start of buf (n bytes). Returns the total frame
 * size when a whole frame is there (type, payload and its length filled),
 * 0 when more bytes are needed, -EMSGSIZE when it announces more than
 * SR_CTL_MAX. */
long sr_frame_parse(const unsigned char *buf, size_t n, int *type, const unsigned char **payload,
		    size_t *len);

/* The default socket path for a state dir: <state_dir>/control.sock.
 * *out malloc'ed. -ENOMEM. */
int sr_ctl_default_path(const char *state_dir, char **out);

#endif
