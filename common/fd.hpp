// common/fd.hpp — Fd: the one owner of a file descriptor.
//
// A socket is a file descriptor (ch01), and every descriptor must be closed exactly once.
// Fd closes it in its destructor, cannot be copied (two owners would close twice), and can be
// moved.  close() keeps errno: after   sock.reset(); die("connect");   it still says why.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <utility>

namespace common {

class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& other) noexcept : fd_(other.release()) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    // Give up ownership: the caller must close the descriptor.
    int release() { return std::exchange(fd_, -1); }
    // Close the current descriptor (if any) and own `fd` instead.
    void reset(int fd = -1) {
        if (fd_ >= 0) {
            int saved = errno;
            ::close(fd_);
            errno = saved;
        }
        fd_ = fd;
    }

  private:
    int fd_ = -1;
};

}  // namespace common
