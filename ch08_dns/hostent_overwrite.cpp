// hostent_overwrite — why gethostbyname() is not thread-safe: the struct hostent it returns
// lives in one static buffer, and the next call (from any thread) writes over it.
//
// usage: hostent_overwrite HOST1 HOST2
//
// What to observe (./dns_lab ./hostent_overwrite www.socklab.test db.socklab.test):
//   first call:  h_name = www.socklab.test, first address 198.18.0.1x
//   second call returned the same pointer: yes
//   the first result now reads: h_name = db.socklab.test, first address 198.18.0.99
// gethostbyname_r() (a buffer the caller owns) or getaddrinfo() avoid this.
#include <arpa/inet.h>
#include <netdb.h>

#include <cstdio>
#include <string>

#include "common/error.hpp"
#include "common/help.hpp"

static std::string describe(const hostent* h) {
    char text[INET6_ADDRSTRLEN] = "(none)";
    if (h->h_addr_list[0] != nullptr)
        inet_ntop(h->h_addrtype, h->h_addr_list[0], text, sizeof text);
    return std::string("h_name = ") + h->h_name + ", first address " + text;
}

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 3) common::die_usage("HOST1 HOST2");

    hostent* first = gethostbyname(argv[1]);
    if (first == nullptr) common::fatal("gethostbyname %s: %s", argv[1], hstrerror(h_errno));
    printf("first call:  %s\n", describe(first).c_str());

    // We keep `first` and ask again: no free(), no copy — the pointer is the library's.
    hostent* second = gethostbyname(argv[2]);
    if (second == nullptr) common::fatal("gethostbyname %s: %s", argv[2], hstrerror(h_errno));
    printf("second call returned the same pointer: %s\n", second == first ? "yes" : "no");
    printf("the first result now reads: %s\n", describe(first).c_str());
    // In a threaded server this happens between two threads, with no call of its own in
    // between: one client's name or address silently becomes another's.
    return 0;
}
