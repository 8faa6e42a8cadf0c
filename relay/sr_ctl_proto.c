/* sr_ctl_proto.c — control socket framing (see sr_ctl_proto.h). */
#include "sr_ctl_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sr_frame_header(unsigned char hdr[SR_CTL_FRAME_HDR], int type, size_t len)
{
	hdr[0] = (unsigned char)type;
	hdr[1] = (unsigned char)(len >> 24);
	hdr[2] = (unsigned char)(len >> 16);
	hdr[3] = (unsigned char)(len >> 8);
	hdr[4] = (unsigned char)len;
}

long sr_frame_parse(const unsigned char *buf, size_t n, int *type, const unsigned char **payload,
		    size_t *len)
{
	if (n < SR_CTL_FRAME_HDR)
		return 0;
	size_t l = ((size_t)buf[1] << 24) | ((size_t)buf[2] << 16) | ((size_t)buf[3] << 8) | buf[4];
	if (l > SR_CTL_MAX)
		return -EMSGSIZE;
	if (n < SR_CTL_FRAME_HDR + l)
		return 0;
	*type = buf[0];
	*payload = buf + SR_CTL_FRAME_HDR;
	*len = l;
	return (long)(SR_CTL_FRAME_HDR + l);
}

int sr_ctl_default_path(const char *state_dir, char **out)
{
	size_t n = strlen(state_dir) + sizeof("/control.sock");
	*out = malloc(n);
	if (!*out)
		return -ENOMEM;
	snprintf(*out, n, "%s%scontrol.sock", state_dir,
		 state_dir[0] && state_dir[strlen(state_dir) - 1] == '/' ? "" : "/");
	return 0;
}
