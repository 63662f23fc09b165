// common/net.hpp — ports, addresses and the readiness line.
//
// Only the *bookkeeping* of addresses lives here: checking a port argument, asking
// getaddrinfo() for a list of addresses, printing an address.  The lesson's own calls —
// socket(), bind(), listen(), accept(), connect() — stay in each program, where a reader
// sees them.  The usual client is the loop from getaddrinfo(3):
//
//     common::Fd sock;
//     for (const addrinfo& ai : common::resolve(host, port, SOCK_STREAM)) {
//         sock.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));
//         if (sock && connect(sock.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
//         sock.reset();
//     }
//     if (!sock) common::die("connect to %s port %s", host, port);
#pragma once

#include <netdb.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace common {

// A port is a decimal number 0..65535 (0: let the kernel choose).  On failure returns
// nothing and, if `error` is given, stores a one-line reason such as
// "invalid port 'abc': not a decimal number".
std::optional<uint16_t> parse_port(std::string_view text, std::string* error = nullptr);

// parse_port() for a command-line argument: on failure prints "prog: invalid port ..."
// and exits with status 2 (bad usage).
uint16_t port_arg(const char* text);

// The result of getaddrinfo(), freed with freeaddrinfo() when it goes out of scope.
// Iterate it with a range-for; each element is a `const addrinfo&`.
class AddrList {
  public:
    class iterator {
      public:
        explicit iterator(const addrinfo* p) : p_(p) {}
        const addrinfo& operator*() const { return *p_; }
        iterator& operator++() {
            p_ = p_->ai_next;
            return *this;
        }
        bool operator==(const iterator&) const = default;

      private:
        const addrinfo* p_;
    };

    explicit AddrList(addrinfo* head) : head_(head) {}
    iterator begin() const { return iterator(head_.get()); }
    iterator end() const { return iterator(nullptr); }

  private:
    struct Free {
        void operator()(addrinfo* p) const { freeaddrinfo(p); }
    };
    std::unique_ptr<addrinfo, Free> head_;
};

// Client side: every address of HOST (a name, an IPv4 or an IPv6 literal) and PORT, in the
// order getaddrinfo() recommends.  socktype is SOCK_STREAM or SOCK_DGRAM.
// A bad PORT exits with status 2; a HOST that cannot be resolved prints
// "prog: cannot resolve 'HOST': <reason>" and exits with status 1.
AddrList resolve(const char* host, const char* port, int socktype);

// Server side: the addresses to try to bind, first that works wins.  By default the
// wildcard addresses, IPv6 first ([::], which with IPV6_V6ONLY off also accepts IPv4
// clients as ::ffff:a.b.c.d), then 0.0.0.0 for a machine without IPv6.
// If the environment variable SOCKLAB_BIND names a host (e.g. 127.0.0.1 or ::1), only that
// host's addresses are used: the tests use it so that no server listens beyond loopback.
AddrList listen_addresses(const char* port, int socktype);

// "127.0.0.1:9190" for IPv4, "[::1]:9190" for IPv6.
std::string to_string(const sockaddr* sa);

// The readiness line of DESIGN.md's command-line contract: prints "WHAT ADDR:PORT" with the
// socket's real address (getsockname, so port 0 shows the port the kernel chose) and
// flushes stdout, e.g. print_ready("listening on", fd) -> "listening on [::]:40125".
void print_ready(const char* what, int fd);

}  // namespace common

namespace common {

// accept() failures — one policy for every real server (DESIGN.md, "accept() failures").
// The call stays in the server's own file; only the sorting of errno values is shared:
//     int fd = accept(listen_fd, ...);
//     if (fd == -1) switch (common::accept_failure(errno)) { ... }
enum class AcceptFailure {
    kRetry,       // EINTR, or a connection that died before it was accepted: accept again
    kWouldBlock,  // EAGAIN/EWOULDBLOCK on a non-blocking listener: nobody is waiting
    kExhausted,   // EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection stays in the backlog;
                  // stop accepting (no retry loop: it would spin) until a client leaves
    kFatal,       // EBADF, EINVAL, ENOTSOCK, EFAULT, ...: a programming error — die
};

// Linux reports a connection that failed in the backlog in two ways.  A connection reset
// before accept() is *returned* (Berkeley kernels drop it inside the kernel, POSIX says
// ECONNABORTED, SVR4 returns EPROTO: UNP §5.11, §16.6): its first read fails with
// ECONNRESET — or, if the client sent bytes before the reset, returns them, and the reset
// shows at the next call on that socket.  Errors already pending on the new socket are
// passed on by accept() itself: accept(2) lists ENETDOWN, EPROTO, ENOPROTOOPT, EHOSTDOWN,
// ENONET, EHOSTUNREACH, EOPNOTSUPP and ENETUNREACH, "treat them like EAGAIN by retrying";
// and ECONNABORTED, EPERM (a firewall rule) and ETIMEDOUT occur too.  All of those: kRetry.
AcceptFailure accept_failure(int err);

}  // namespace common
