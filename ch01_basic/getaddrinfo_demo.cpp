// getaddrinfo_demo — what replaced the book's IPv4-only address calls: getaddrinfo() turns a
// host (a name, or a literal of either family) and a service into ready-made socket addresses.
//
// usage: getaddrinfo_demo HOST [SERVICE]  or  --passive SERVICE
//   SERVICE            a port number or a name from /etc/services (default: none, port 0)
//   --passive SERVICE  AI_PASSIVE, no HOST: the addresses a server binds (default: off)
//
// What to observe:
//   $ getaddrinfo_demo localhost 9190
//   IPv4 SOCK_STREAM 127.0.0.1 port 9190
//   IPv4 SOCK_DGRAM  127.0.0.1 port 9190
//   IPv4 SOCK_RAW    127.0.0.1 port 9190
// --passive 9190 prints INADDR_ANY, then 0.0.0.0 and ::.  An unknown name: one line, status 1.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

static const char* socktype_name(int type) {
    switch (type) {
        case SOCK_STREAM:
            return "SOCK_STREAM";
        case SOCK_DGRAM:
            return "SOCK_DGRAM";
        case SOCK_RAW:
            return "SOCK_RAW";
        default:
            return "SOCK_?";
    }
}

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    bool passive = argc == 3 && strcmp(argv[1], "--passive") == 0;
    if (argc < 2 || argc > 3 || (argc == 2 && strcmp(argv[1], "--passive") == 0))
        common::die_usage("HOST [SERVICE]  or  --passive SERVICE");
    const char* host = passive ? nullptr : argv[1];
    const char* service = argc == 3 ? argv[2] : nullptr;

    if (passive) {
        in_addr any{.s_addr = htonl(INADDR_ANY)};
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &any, text, sizeof text);
        printf("INADDR_ANY = 0x%08x = %s\n", INADDR_ANY, text);
    }

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;  // IPv4 and IPv6
    hints.ai_socktype = 0;        // every socket type: one entry each (a TCP client asks
                                  // for SOCK_STREAM only)
    // With no HOST, AI_PASSIVE gives the wildcard addresses a server binds: 0.0.0.0 (the book's
    // INADDR_ANY, "every local IPv4 address") and :: (every IPv6 address).  socklab servers
    // bind :: with IPV6_V6ONLY off, which takes IPv4 clients as well.
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    // Why getaddrinfo() replaced inet_addr/inet_aton/gethostbyname (and inet_ntop inet_ntoa):
    //   IPv6     one code path for IPv4 and IPv6 (the old calls know only 32-bit addresses);
    //   errors   a return code with its own text (gai_strerror) instead of a magic value;
    //   threads  results go into memory the caller owns and frees (freeaddrinfo), no static
    //            buffer shared by every caller.
    addrinfo* head = nullptr;
    int rc = getaddrinfo(host, service, &hints, &head);
    if (rc == EAI_SYSTEM) common::die("getaddrinfo");
    if (rc != 0 && service)
        common::fatal("cannot resolve '%s' service '%s': %s", host ? host : "(passive)", service,
                      gai_strerror(rc));
    if (rc != 0) common::fatal("cannot resolve '%s': %s", host, gai_strerror(rc));
    common::AddrList list(head);  // calls freeaddrinfo(head) when main returns

    // Each entry is ready for socket() (family, type, protocol) and for bind() or connect()
    // (the sockaddr and its length).
    for (const addrinfo& ai : list) {
        char text[INET6_ADDRSTRLEN];
        unsigned port = 0;
        const char* family = "?";
        if (ai.ai_family == AF_INET) {
            auto* in = reinterpret_cast<const sockaddr_in*>(ai.ai_addr);
            inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
            port = ntohs(in->sin_port);
            family = "IPv4";
        } else if (ai.ai_family == AF_INET6) {
            auto* in6 = reinterpret_cast<const sockaddr_in6*>(ai.ai_addr);
            inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
            port = ntohs(in6->sin6_port);
            family = "IPv6";
        } else {
            continue;  // not an Internet address
        }
        printf("%s %-11s %s port %u\n", family, socktype_name(ai.ai_socktype), text, port);
    }
    return 0;
}
