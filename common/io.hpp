// common/io.hpp — full-I/O loops.
//
// TCP is a byte stream with no message boundaries (ch04): one write() may arrive as several
// read()s, and write() on a socket may accept only part of the buffer.  These are the loops
// that ch04 teaches in the open (echo_client.cpp); later chapters reuse them from here.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string_view>

namespace common {

// Write all `len` bytes, again after partial writes and EINTR; false with errno (EPIPE, ...).
bool write_all(int fd, const void* data, size_t len);
inline bool write_all(int fd, std::string_view text) {
    return write_all(fd, text.data(), text.size());
}

// Read exactly `len` bytes unless end of stream comes first, retrying after EINTR.
// Returns the number of bytes read (less than `len` only at end of stream), or -1 with errno.
ssize_t read_exact(int fd, void* data, size_t len);

}  // namespace common
