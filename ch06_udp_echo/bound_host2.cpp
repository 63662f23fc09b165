// bound_host2 — sends three datagrams of different sizes to bound_host1, book ch. 6
// (bound_host2.c).  Three sendto() calls are three datagrams, and bound_host1 needs three
// recvfrom() calls to read them, however long it waits before reading.
//
// usage: bound_host2 HOST PORT
//
// What to observe:
//     sent 3 bytes: Hi!
//     sent 21 bytes: I'm another UDP host!
//     sent 16 bytes: Nice to meet you
// and bound_host1 prints the same three sizes.  bound_host2 exits at once: UDP has no
// connection, so there is nothing to wait for — not even a sign that anything arrived.
#include <sys/socket.h>

#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 3) common::die_usage("HOST PORT");

    common::Fd sock;
    sockaddr_storage to{};
    socklen_t to_len = 0;
    for (const addrinfo& ai : common::resolve(argv[1], argv[2], SOCK_DGRAM)) {
        sock.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));
        if (!sock) continue;
        memcpy(&to, ai.ai_addr, ai.ai_addrlen);
        to_len = ai.ai_addrlen;
        break;
    }
    if (!sock) common::die("socket");

    const char* messages[] = {"Hi!", "I'm another UDP host!", "Nice to meet you"};
    for (const char* msg : messages) {
        size_t len = strlen(msg);  // the book's strlen: no '\0' travels
        if (sendto(sock.get(), msg, len, 0, reinterpret_cast<sockaddr*>(&to), to_len) == -1)
            common::die("sendto");
        printf("sent %zu bytes: %s\n", len, msg);
    }
    return 0;
}
