/* sr_file.h — reads a whole file (regular file or pipe) into memory.
 * Returns a malloc'ed, NUL-terminated buffer the caller frees, with its
 * length (excluding the NUL) in *len; NULL with errno set on failure. */
#ifndef SR_FILE_H
#define SR_FILE_H

#include <stddef.h>

char *sr_read_file(const char *path, size_t *len);

#endif
