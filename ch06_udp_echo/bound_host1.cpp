// bound_host1 — UDP keeps message boundaries (数据传输中存在边界), book ch. 6
// (bound_host1.c): three datagrams pile up unread, then three recvfrom() calls return exactly
// one datagram each (调用几次 sendto 就需要几次 recvfrom).
//
// usage: bound_host1 PORT [--wait-ms N]
//   --wait-ms N  read after N ms, like the book's sleep(5) (0..60000; default: after Enter)
//
// What you will see (after `bound_host2 127.0.0.1 PORT` has run), then exit 0:
//     bound to [::]:9190
//     Message 1 (3 bytes): Hi!
//     Message 2 (21 bytes): I'm another UDP host!
//     Message 3 (16 bytes): Nice to meet you
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    long wait_ms = -1;  // -1: wait for stdin
    if (argc == 4 && strcmp(argv[2], "--wait-ms") == 0)
        wait_ms = common::number_arg("--wait-ms", argv[3], 0, 60000);
    else if (argc != 2)
        common::die_usage("PORT [--wait-ms N]");

    // The UDP server's setup, taught in uecho_server.cpp: socket(SOCK_DGRAM), bind(), no listen().
    common::Fd sock;
    for (const addrinfo& ai : common::listen_addresses(argv[1], SOCK_DGRAM)) {
        sock.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));  // SOCK_DGRAM
        if (!sock) continue;
        int off = 0;  // [::] with IPV6_V6ONLY off receives IPv4 datagrams too
        if (ai.ai_family == AF_INET6)
            setsockopt(sock.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        if (bind(sock.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        sock.reset();
    }
    if (!sock) common::die("bind to port %s", argv[1]);
    common::print_ready("bound to", sock.get());

    // --wait-ms is the book's sleep(5): a guess at how long bound_host2 needs, fine for a demo,
    // not for a test; by default a line (Enter) or end of input on stdin says "now read".
    // Not reading yet: datagrams that arrive now queue up in the socket's receive buffer.
    if (wait_ms >= 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    } else {
        common::note("run bound_host2 now, then press Enter: nothing is read until then");
        char c;
        ssize_t n;
        do
            n = read(STDIN_FILENO, &c, 1);  // one line (or end of input)
        while ((n == 1 && c != '\n') || (n == -1 && errno == EINTR));
    }

    // The buffer has room for all three datagrams, yet each recvfrom() returns one.  Over TCP
    // the same three writes could come back as one read, or as many (ch01's
    // tcp_client_bytewise reads one write() byte by byte).
    char buf[65536];  // room for all three datagrams, and for the largest one UDP can carry
    for (int i = 1; i <= 3; ++i) {
        sockaddr_storage from{};
        socklen_t from_len = sizeof from;
        ssize_t n = recvfrom(sock.get(), buf, sizeof buf, MSG_TRUNC,
                             reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n == -1 && errno == EINTR) {
            --i;
            continue;
        }
        if (n == -1) common::die("recvfrom");
        if (static_cast<size_t>(n) > sizeof buf) common::fatal("datagram %d truncated", i);
        printf("Message %d (%zd bytes): %.*s\n", i, n, static_cast<int>(n), buf);
        fflush(stdout);
    }
    return 0;
}
