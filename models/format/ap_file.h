/* ap_file.h — opening a regular file and reading it whole, with errors that name the path. */
#ifndef AP_FILE_H
#define AP_FILE_H

#include <stddef.h>

#include "ap_error.h"

/* Open path read-only (close-on-exec) and check it is a regular file of at most max bytes; on success *fd is
 * open and *size holds its length. Directories, FIFOs and devices are refused before anything is read. */
ap_status ap_file_open_regular(const char *path, size_t max, int *fd, size_t *size, ap_error *err);

/* Read exactly len bytes from offset 0 of fd into a new heap buffer (len + 1 bytes, the last set to '\0', so text
 * callers get a C string). A file that shrank while being read is an error, not a short buffer. */
ap_status ap_file_read_all(int fd, size_t len, const char *path, char **out, ap_error *err);

/* Both at once: path (a regular file of at most max bytes) read whole into a new heap buffer, NUL-terminated as
 * ap_file_read_all does; *len excludes the NUL. The one whole-file read of the models rooms and the CLI. */
ap_status ap_file_read(const char *path, size_t max, char **out, size_t *len, ap_error *err);

#endif
