#include "common/io.hpp"

#include <unistd.h>

#include <cerrno>

namespace common {

bool write_all(int fd, const void* data, size_t len) {
    const char* p = static_cast<const char*>(data);
    while (len > 0) {
        ssize_t n = ::write(fd, p, len);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return false;
        p += n;
        len -= static_cast<size_t>(n);
    }
    return true;
}

ssize_t read_exact(int fd, void* data, size_t len) {
    char* p = static_cast<char*>(data);
    size_t got = 0;
    while (got < len) {
        ssize_t n = ::read(fd, p + got, len - got);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return -1;
        if (n == 0) break;  // end of stream: the peer closed (or shut down) its side
        got += static_cast<size_t>(n);
    }
    return static_cast<ssize_t>(got);
}

}  // namespace common
