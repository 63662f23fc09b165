// news_receiver_brd — broadcast receiver (book ch. 14, news_receiver_brd.c): a plain UDP
// socket bound to the wildcard address and PORT.  Nothing to join: a broadcast (广播) reaches
// every host of the network, and every socket bound to the port on each of them.
//
// usage: news_receiver_brd PORT
//
// What you will see (stdout, one flushed line each), until killed:
//     bound to 0.0.0.0:5000
//     <the text of each datagram>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("PORT");
    uint16_t port = common::port_arg(argv[1]);

    common::Fd sock(socket(AF_INET, SOCK_DGRAM, 0));  // broadcast is IPv4 only (IPv6 has none)
    if (!sock) common::die("socket");
    int on = 1;
    // Several receivers on one host may bind the port; each gets its own copy of a broadcast.
    if (setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1)
        common::die("setsockopt SO_REUSEADDR");
    // The wildcard address: a socket bound to a unicast address (or to 127.0.0.1, as
    // SOCKLAB_BIND would ask) never sees datagrams addressed to a broadcast address.
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == -1)
        common::die("bind to port %s", argv[1]);
    common::print_ready("bound to", sock.get());

    // news_receiver.cpp's receive loop.  It prints every datagram that reaches the port:
    // broadcasts, but also unicast datagrams sent to this host, and (Linux,
    // IP_MULTICAST_ALL) datagrams of any group that another socket on this host has joined
    // (the README's "Pitfalls" shows that last one).
    static char buf[65536];  // more than the largest UDP payload (65,507 bytes over IPv4)
    for (;;) {
        ssize_t n = recvfrom(sock.get(), buf, sizeof buf, 0, nullptr, nullptr);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("recvfrom");
        fwrite(buf, 1, static_cast<size_t>(n), stdout);
        if (n == 0 || buf[n - 1] != '\n') putchar('\n');
        fflush(stdout);
    }
}
