/* ap_file.c — opening a regular file and reading it whole, with errors that name the path. */
#include "ap_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ap_status ap_file_open_regular(const char *path, size_t max, int *fd, size_t *size, ap_error *err)
{
    *fd = -1;
    *size = 0;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return ap_error_set(err, AP_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(f);
        return ap_error_set(err, AP_E_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > max) {
        close(f);
        return ap_error_set(err, AP_E_FORMAT, "%s: file is %lld bytes, larger than the limit of %zu", path,
                            (long long)sb.st_size, max);
    }
    *fd = f;
    *size = (size_t)sb.st_size;
    return AP_OK;
}

ap_status ap_file_read_all(int fd, size_t len, const char *path, char **out, ap_error *err)
{
    *out = NULL;
    char *p = malloc(len + 1);
    if (!p)
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory reading %zu bytes", path, len);
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, p + got, len - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = errno;
            free(p);
            return ap_error_set(err, AP_E_IO, "%s: read failed: %s", path, r < 0 ? strerror(e) : "file shrank");
        }
        got += (size_t)r;
    }
    p[len] = '\0';
    *out = p;
    return AP_OK;
}

ap_status ap_file_read(const char *path, size_t max, char **out, size_t *len, ap_error *err)
{
    *out = NULL;
    *len = 0;
    int fd;
    size_t n;
    ap_status s = ap_file_open_regular(path, max, &fd, &n, err);
    if (s)
        return s;
    s = ap_file_read_all(fd, n, path, out, err);
    close(fd);
    if (!s)
        *len = n;
    return s;
}
