#include "common/net.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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
    auto port = parse_port(text, &error);
    if (!port) {
        fprintf(stderr, "%s: %s\n", program_invocation_short_name, error.c_str());
        exit(2);
    }
    return *port;
}

AddrList resolve(const char* host, const char* port, int socktype) {
    port_arg(port);  // reject "abc" before getaddrinfo() takes it for a service name
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;  // IPv4 or IPv6, whatever HOST has
    hints.ai_socktype = socktype;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* head = nullptr;
    int rc = getaddrinfo(host, port, &hints, &head);
    if (rc != 0) {
        if (rc == EAI_SYSTEM) die("cannot resolve '%s'", host);
        fatal("cannot resolve '%s': %s", host, gai_strerror(rc));
    }
    return AddrList(head);
}

AddrList listen_addresses(const char* port, int socktype) {
    port_arg(port);
    const char* bind_host = getenv("SOCKLAB_BIND");
    if (bind_host && *bind_host == '\0') bind_host = nullptr;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* head = nullptr;
    int rc = getaddrinfo(bind_host, port, &hints, &head);
    if (rc != 0) {
        if (rc == EAI_SYSTEM) die("cannot resolve SOCKLAB_BIND '%s'", bind_host);
        fatal("cannot resolve SOCKLAB_BIND '%s': %s", bind_host, gai_strerror(rc));
    }
    // glibc lists 0.0.0.0 before [::]; move the IPv6 entries to the front so that the
    // dual-stack [::] is tried first.  Only the order of the nodes changes, so
    // freeaddrinfo() still frees every one of them.
    addrinfo* v6_head = nullptr;
    addrinfo** v6_end = &v6_head;
    addrinfo* other_head = nullptr;
    addrinfo** other_end = &other_head;
    for (addrinfo* p = head; p;) {
        addrinfo* next = p->ai_next;
        p->ai_next = nullptr;
        if (p->ai_family == AF_INET6) {
            *v6_end = p;
            v6_end = &p->ai_next;
        } else {
            *other_end = p;
            other_end = &p->ai_next;
        }
        p = next;
    }
    *v6_end = other_head;
    return AddrList(v6_head);
}

std::string to_string(const sockaddr* sa) {
    char host[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        std::string text = host;
        text += ':';
        text += std::to_string(ntohs(in->sin_port));
        return text;
    }
    if (sa->sa_family == AF_INET6) {
        auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        // Appended piece by piece: at -O3, GCC 12 warns (-Wrestrict, a false positive) about
        // "[" + std::string(host) + ...
        std::string text = "[";
        text += host;
        text += "]:";
        text += std::to_string(ntohs(in6->sin6_port));
        return text;
    }
    return "(address family " + std::to_string(sa->sa_family) + ")";
}

void print_ready(const char* what, int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == -1) die("getsockname");
    printf("%s %s\n", what, to_string(reinterpret_cast<sockaddr*>(&addr)).c_str());
    fflush(stdout);  // a test (or a script) is waiting for this line: don't leave it buffered
}

}  // namespace common

namespace common {

AcceptFailure accept_failure(int err) {
    switch (err) {
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
        case EPERM:
        case ETIMEDOUT:
            return AcceptFailure::kRetry;
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            return AcceptFailure::kWouldBlock;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            return AcceptFailure::kExhausted;
        default:
            return AcceptFailure::kFatal;
    }
}

}  // namespace common
