#include "common/net.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "common/error.hpp"

namespace common {

std::optional<uint16_t> parse_port(std::string_view text, std::string* error) {
    auto fail = [&](const char* why) -> std::optional<uint16_t> {
        if (error) *error = "invalid port '" + std::string(text) + "': " + why;
        return std::nullopt;
    };
    if (text.empty()) return fail("empty (expected a number from 0 to 65535)");
    unsigned value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return fail("not a decimal number (expected 0 to 65535)");
        value = value * 10 + static_cast<unsigned>(c - '0');
        if (value > 65535) return fail("out of range (expected 0 to 65535)");
    }
    return static_cast<uint16_t>(value);
}

uint16_t port_arg(const char* text) {
    std::string error;
    if (auto port = parse_port(text, &error)) return *port;
    note("%s", error.c_str());
    leave(2);  // bad usage: status 2
}

// getaddrinfo() for HOST (nullptr: the wildcard addresses) and a numeric PORT.
static addrinfo* lookup(const char* host, const char* port, int socktype, int flags,
                        const char* what) {
    port_arg(port);  // reject "abc" before getaddrinfo() takes it for a service name
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;  // IPv4 or IPv6, whatever HOST has
    hints.ai_socktype = socktype;
    hints.ai_flags = flags | AI_NUMERICSERV;
    addrinfo* head = nullptr;
    int rc = getaddrinfo(host, port, &hints, &head);
    if (rc == EAI_SYSTEM) die("cannot resolve %s'%s'", what, host);
    if (rc != 0) fatal("cannot resolve %s'%s': %s", what, host, gai_strerror(rc));
    return head;
}

AddrList resolve(const char* host, const char* port, int socktype) {
    return AddrList(lookup(host, port, socktype, 0, ""));
}

AddrList listen_addresses(const char* port, int socktype) {
    const char* bind_host = getenv("SOCKLAB_BIND");
    if (bind_host && *bind_host == '\0') bind_host = nullptr;
    addrinfo* head = lookup(bind_host, port, socktype, AI_PASSIVE, "SOCKLAB_BIND ");
    // glibc lists 0.0.0.0 before [::]; relink the IPv6 nodes in front so that the
    // dual-stack [::] is tried first.  Every node stays in the one list freeaddrinfo() frees.
    addrinfo *v6 = nullptr, *other = nullptr, **v6_end = &v6, **other_end = &other;
    for (addrinfo* p = head; p; p = p->ai_next) {
        addrinfo**& end = p->ai_family == AF_INET6 ? v6_end : other_end;
        *end = p;
        end = &p->ai_next;
    }
    *other_end = nullptr;
    *v6_end = other;
    return AddrList(v6);
}

Fd listen_tcp(const char* port, int type_flags, int backlog) {
    Fd fd;
    for (const addrinfo& ai : listen_addresses(port, SOCK_STREAM)) {
        fd.reset(socket(ai.ai_family, ai.ai_socktype | type_flags, ai.ai_protocol));
        if (!fd) continue;
        int on = 1, off = 0;
        setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (ai.ai_family == AF_INET6)
            setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        if (bind(fd.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        fd.reset();
    }
    if (!fd) die("bind to port %s", port);
    if (listen(fd.get(), backlog) == -1) die("listen");
    return fd;
}

Fd connect_tcp(const char* host, const char* port) {
    Fd fd;
    for (const addrinfo& ai : resolve(host, port, SOCK_STREAM)) {
        fd.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));
        if (fd && connect(fd.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        fd.reset();
    }
    if (!fd) die("connect to %s port %s", host, port);
    return fd;
}

std::string to_string(const sockaddr* sa) {
    char host[INET6_ADDRSTRLEN];
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::string text;  // appended piece by piece: GCC 12 -O3 warns (-Wrestrict) on "[" + ...
    if (sa->sa_family == AF_INET) {
        text += inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        return text + ':' + std::to_string(ntohs(in->sin_port));
    }
    if (sa->sa_family != AF_INET6) return "(address family " + std::to_string(sa->sa_family) + ")";
    text += '[';
    text += inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    text += "]:";
    return text + std::to_string(ntohs(in6->sin6_port));
}

void print_ready(const char* what, int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == -1) die("getsockname");
    printf("%s %s\n", what, to_string(reinterpret_cast<sockaddr*>(&addr)).c_str());
    fflush(stdout);  // a test (or a script) is waiting for this line: don't leave it buffered
}

AcceptFailure accept_failure(int err) {
    using enum AcceptFailure;
    auto in = [err](std::initializer_list<int> set) {
        return std::find(set.begin(), set.end(), err) != set.end();
    };
    if (in({EINTR, ECONNABORTED, EPROTO, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH,
            EOPNOTSUPP, ENETUNREACH, EPERM, ETIMEDOUT}))
        return kRetry;
    if (in({EAGAIN, EWOULDBLOCK})) return kWouldBlock;
    if (in({EMFILE, ENFILE, ENOBUFS, ENOMEM})) return kExhausted;
    return kFatal;
}

}  // namespace common
