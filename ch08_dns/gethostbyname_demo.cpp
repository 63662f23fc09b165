// gethostbyname_demo — the book's gethostbyname.c: a name in, a struct hostent out, with
// every field printed; a failure reported with h_errno, the resolver's own error variable.
//
// usage: gethostbyname_demo HOST
//
// What to observe (run it in the lab: ./dns_lab ./gethostbyname_demo old.socklab.test):
//   Official name: www.socklab.test       the name at the end of the CNAME chain
//   Aliases 1: old.socklab.test           ... and the names that led there
//   Address type: AF_INET                 always: gethostbyname() knows only IPv4
//   IP addr 1: 198.18.0.11                one line per A record
// A name that does not exist: "Unknown host (h_errno HOST_NOT_FOUND)"; no answer from the
// server: "Host name lookup failure (h_errno TRY_AGAIN)"; both exit 1.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cstdio>

#include "common/error.hpp"
#include "common/help.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("HOST");

    // The resolver asks "files" (/etc/hosts) and then "dns" (the servers in
    // /etc/resolv.conf), in the order /etc/nsswitch.conf gives.  A literal like
    // "198.18.0.10" is not looked up at all: it comes back as its own official name.
    hostent* host = gethostbyname(argv[1]);
    if (host == nullptr) {
        // Not errno: the resolver sets h_errno (errno may hold anything, e.g. an ENOENT
        // left by a missing file it tried).  HOST_NOT_FOUND is an answer ("no such name",
        // NXDOMAIN): retrying will not help.  TRY_AGAIN means no answer came (a dead or
        // unreachable server, a timeout): the same question may work later.  NO_DATA: the
        // name exists but has no IPv4 address (e.g. only an IPv6 one).
        const char* names[] = {"0", "HOST_NOT_FOUND", "TRY_AGAIN", "NO_RECOVERY", "NO_DATA"};
        const char* name = h_errno >= 1 && h_errno <= 4 ? names[h_errno] : "?";
        common::fatal("gethostbyname %s: %s (h_errno %s)", argv[1], hstrerror(h_errno), name);
    }

    printf("Official name: %s\n", host->h_name);
    for (int i = 0; host->h_aliases[i] != nullptr; i++)  // the lists end with a null pointer
        printf("Aliases %d: %s\n", i + 1, host->h_aliases[i]);
    printf("Address type: %s\n", host->h_addrtype == AF_INET ? "AF_INET" : "AF_INET6");
    // h_addr_list holds addresses in network byte order, h_length (4) bytes each; the book
    // casts each to in_addr* and calls inet_ntoa().  inet_ntop() does the same, for any
    // family, into a buffer we own.
    for (int i = 0; host->h_addr_list[i] != nullptr; i++) {
        char text[INET6_ADDRSTRLEN];
        inet_ntop(host->h_addrtype, host->h_addr_list[i], text, sizeof text);
        printf("IP addr %d: %s\n", i + 1, text);
    }
    return 0;
}
