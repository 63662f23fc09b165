// common/net.hpp — ports, addresses, the readiness line, the accept() policy, and the two
// setups that ch01/ch04 teach in the open (hello_server.cpp, echo_server.cpp, echo_client.cpp)
// and later chapters share: listen_tcp() and connect_tcp(), used from ch06 on unless the setup
// is the program's own lesson.  accept() and the I/O stay in every program's own file.
#pragma once

#include <netdb.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/fd.hpp"

namespace common {

// A port is a decimal number 0..65535 (0: let the kernel choose).  On failure: nothing, and
// `error` (if given) gets a reason such as "invalid port 'abc': not a decimal number".
std::optional<uint16_t> parse_port(std::string_view text, std::string* error = nullptr);

// parse_port() for an argument: on failure "prog: invalid port ...", exit status 2 (usage).
uint16_t port_arg(const char* text);

// The result of getaddrinfo(), freed with freeaddrinfo() when it goes out of scope.
// Iterate it with a range-for; each element is a `const addrinfo&`.
class AddrList {
  public:
    struct iterator {
        const addrinfo* p;
        const addrinfo& operator*() const { return *p; }
        iterator& operator++() { return p = p->ai_next, *this; }
        bool operator==(const iterator&) const = default;
    };
    explicit AddrList(addrinfo* head) : head_(head, freeaddrinfo) {}
    iterator begin() const { return {head_.get()}; }
    iterator end() const { return {nullptr}; }

  private:
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> head_;
};

// Client side: every address of HOST (a name, an IPv4 or IPv6 literal) and PORT, in the order
// getaddrinfo() recommends.  A bad PORT exits with status 2; a HOST that cannot be resolved
// prints "prog: cannot resolve 'HOST': <reason>" and exits with status 1.
AddrList resolve(const char* host, const char* port, int socktype);

// Server side: the addresses to try to bind, first that works wins.  By default the
// wildcard addresses, IPv6 first ([::], which with IPV6_V6ONLY off also accepts IPv4
// clients as ::ffff:a.b.c.d), then 0.0.0.0 for a machine without IPv6.
// If the environment variable SOCKLAB_BIND names a host (e.g. 127.0.0.1 or ::1), only that
// host's addresses are used: the tests use it so that no server listens beyond loopback.
AddrList listen_addresses(const char* port, int socktype);

// TLPI's inetListen(), UNP's Tcp_listen(): the loop of ch04's echo_server.cpp.  For each of
// listen_addresses(PORT): socket() (its type OR'ed with type_flags, e.g. SOCK_NONBLOCK),
// SO_REUSEADDR, IPV6_V6ONLY off on [::], bind(); the first that binds gets listen(backlog).
// Dies with "prog: bind to port PORT: <reason>" (or "listen: ...").
Fd listen_tcp(const char* port, int type_flags = 0, int backlog = SOMAXCONN);

// The client loop of ch04's echo_client.cpp (and getaddrinfo(3)): connect to the first
// address of HOST that accepts.  Dies with "prog: connect to HOST port PORT: <reason>".
Fd connect_tcp(const char* host, const char* port);

// "127.0.0.1:9190" for IPv4, "[::1]:9190" for IPv6.
std::string to_string(const sockaddr* sa);

// The readiness line of DESIGN.md's command-line contract, flushed: "WHAT ADDR:PORT" with the
// socket's real address (getsockname: port 0 shows the port the kernel chose).
void print_ready(const char* what, int fd);

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

// A connection reset before accept() is *returned* by Linux (Berkeley kernels drop it inside the
// kernel, POSIX says ECONNABORTED, SVR4 returns EPROTO: UNP §5.11, §16.6): its first read fails
// with ECONNRESET — or, if the client sent bytes before the reset, returns them, and the reset
// shows at the next call on that socket.  Errors already pending on the new socket are
// passed on by accept() itself: accept(2) lists ENETDOWN, EPROTO, ENOPROTOOPT, EHOSTDOWN,
// ENONET, EHOSTUNREACH, EOPNOTSUPP and ENETUNREACH, "treat them like EAGAIN by retrying";
// and ECONNABORTED, EPERM (a firewall rule) and ETIMEDOUT occur too.  All of those: kRetry.
AcceptFailure accept_failure(int err);

}  // namespace common
