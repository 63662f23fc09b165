// name_lookup — what replaced gethostbyname/gethostbyaddr: getaddrinfo() with AI_CANONNAME
// (every address of both families, and the name at the end of the CNAME chain) and
// getnameinfo() with NI_NAMEREQD for the reverse.  (For the addrinfo list itself, one entry
// per socket type, see ch01's getaddrinfo_demo.)
//
// usage: name_lookup HOST  or  --reverse ADDR
//   --reverse ADDR  the name of an IPv4 or IPv6 address (PTR record) (default: forward)
//
// What to observe (./dns_lab ./name_lookup old.socklab.test): "Canonical name:
// www.socklab.test", then one "IPv4 ..." or "IPv6 ..." line per address.  v6only.socklab.test,
// which gethostbyname() cannot find, is found.  Errors are one line with gai_strerror(), exit 1.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

// getnameinfo(): address -> name.  NI_NAMEREQD makes "no PTR record" an error (EAI_NONAME);
// without it getnameinfo() quietly returns the address itself as text.
static int reverse(const char* text) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        len = sizeof *in;
    } else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        len = sizeof *in6;
    } else {
        common::note("invalid ADDR '%s' (expected an IPv4 or IPv6 address)", text);
        common::leave(2);
    }
    char host[NI_MAXHOST];  // the result goes into our buffer: nothing static, thread-safe
    int rc = getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, nullptr, 0,
                         NI_NAMEREQD);
    if (rc == EAI_SYSTEM) common::die("getnameinfo %s", text);
    if (rc != 0) common::fatal("getnameinfo %s: %s", text, gai_strerror(rc));
    printf("Host name: %s\n", host);
    return 0;
}

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    bool rev = argc == 3 && strcmp(argv[1], "--reverse") == 0;
    if (!(argc == 2 && argv[1][0] != '-') && !rev) common::die_usage("HOST  or  --reverse ADDR");
    if (rev) return reverse(argv[2]);

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;      // A and AAAA: both questions go to the server at once
    hints.ai_socktype = SOCK_STREAM;  // one entry per address (0 would give one per type)
    hints.ai_flags = AI_CANONNAME;    // fill ai_canonname of the first entry
    addrinfo* head = nullptr;
    int rc = getaddrinfo(argv[1], nullptr, &hints, &head);
    // One error code, its own text: EAI_NONAME is the answer "no such name" (NXDOMAIN),
    // EAI_AGAIN "no answer, try later" (a dead server); only EAI_SYSTEM means "see errno".
    if (rc == EAI_SYSTEM) common::die("getaddrinfo %s", argv[1]);
    if (rc != 0) common::fatal("getaddrinfo %s: %s", argv[1], gai_strerror(rc));
    common::AddrList list(head);  // calls freeaddrinfo(head) when main returns

    // The aliases of a hostent have no place here: only the canonical name is kept.
    printf("Canonical name: %s\n", head->ai_canonname ? head->ai_canonname : "(none)");
    for (const addrinfo& ai : list) {
        char text[INET6_ADDRSTRLEN];
        const void* addr =
            ai.ai_family == AF_INET
                ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(ai.ai_addr)->sin_addr)
                : &reinterpret_cast<sockaddr_in6*>(ai.ai_addr)->sin6_addr;
        inet_ntop(ai.ai_family, addr, text, sizeof text);
        printf("%s %s\n", ai.ai_family == AF_INET ? "IPv4" : "IPv6", text);
    }
    return 0;
}
