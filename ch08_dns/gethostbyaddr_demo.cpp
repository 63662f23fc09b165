// gethostbyaddr_demo — the book's gethostbyaddr.c: an address in, its name out (a reverse
// lookup: the PTR record of 10.0.18.198.in-addr.arpa for 198.18.0.10), as a struct hostent.
//
// usage: gethostbyaddr_demo ADDR
//   ADDR  an IPv4 address like 198.18.0.10 (an IPv6 one works too)
//
// What to observe (./dns_lab ./gethostbyaddr_demo 198.18.0.10):
//   Official name: www.socklab.test
//   Address type: AF_INET
//   IP addr 1: 198.18.0.10
// An address without a PTR record: "Unknown host (h_errno HOST_NOT_FOUND)", exit 1.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>

#include "common/error.hpp"
#include "common/help.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("ADDR");

    // The book converts with inet_addr(), which returns INADDR_NONE for a typo, and then
    // asks for the name of 255.255.255.255.  inet_pton() says whether the text was valid.
    in6_addr addr{};  // big enough for either family
    int family = AF_INET;
    if (inet_pton(AF_INET, argv[1], &addr) != 1) {
        family = AF_INET6;
        if (inet_pton(AF_INET6, argv[1], &addr) != 1) {
            common::note("invalid ADDR '%s' (expected an IPv4 or IPv6 address)", argv[1]);
            common::leave(2);
        }
    }
    // The address goes in as raw bytes in network order, with its length and family: the
    // resolver turns 198.18.0.10 into the question "PTR 10.0.18.198.in-addr.arpa?".
    socklen_t len = family == AF_INET ? sizeof(in_addr) : sizeof(in6_addr);
    hostent* host = gethostbyaddr(&addr, len, family);
    if (host == nullptr) {
        // h_errno, not errno (see gethostbyname_demo).
        const char* names[] = {"0", "HOST_NOT_FOUND", "TRY_AGAIN", "NO_RECOVERY", "NO_DATA"};
        const char* name = h_errno >= 1 && h_errno <= 4 ? names[h_errno] : "?";
        common::fatal("gethostbyaddr %s: %s (h_errno %s)", argv[1], hstrerror(h_errno), name);
    }

    printf("Official name: %s\n", host->h_name);
    for (int i = 0; host->h_aliases[i] != nullptr; i++)
        printf("Aliases %d: %s\n", i + 1, host->h_aliases[i]);
    printf("Address type: %s\n", host->h_addrtype == AF_INET ? "AF_INET" : "AF_INET6");
    for (int i = 0; host->h_addr_list[i] != nullptr; i++) {
        char text[INET6_ADDRSTRLEN];
        inet_ntop(host->h_addrtype, host->h_addr_list[i], text, sizeof text);
        printf("IP addr %d: %s\n", i + 1, text);
    }
    return 0;
}
