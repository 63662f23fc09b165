// news_receiver — multicast receiver (book ch. 14, news_receiver.c): a UDP socket bound
// to PORT joins a group (加入多播组) with IP_ADD_MEMBERSHIP and receives every datagram sent to
// GROUP:PORT, from any sender.
//
// usage: news_receiver GROUP PORT [--interface ADDR] [--count N]
//   --interface ADDR  join on the interface with IPv4 address ADDR (default: the kernel's route)
//   --count N         after N datagrams leave the group (IP_DROP_MEMBERSHIP) and exit 0
//                     (1..1000000; default: never)
//
// What you will see (stdout, one flushed line each; a datagram's text as it came):
//     bound to 0.0.0.0:5000
//     joined 239.1.2.3 on 198.18.0.2
//     <the text of each datagram>          then   left 239.1.2.3   after --count N
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {

constexpr const char* kUsage = "GROUP PORT [--interface ADDR] [--count N]";

in_addr ipv4_arg(const char* what, const char* text) {
    in_addr addr{};
    if (inet_pton(AF_INET, text, &addr) != 1) {
        common::note("invalid %s '%s' (expected an IPv4 address such as 198.18.0.2)", what, text);
        exit(2);
    }
    return addr;
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc < 3) common::die_usage(kUsage);
    const char* interface = nullptr;
    long count = 0;  // 0: receive until killed
    for (int i = 3; i < argc; i += 2) {
        if (i + 1 >= argc) common::die_usage(kUsage);
        if (strcmp(argv[i], "--interface") == 0)
            interface = argv[i + 1];
        else if (strcmp(argv[i], "--count") == 0)
            count = common::number_arg("--count", argv[i + 1], 1, 1000000);
        else
            common::die_usage(kUsage);
    }
    in_addr group{};
    if (inet_pton(AF_INET, argv[1], &group) != 1 || !IN_MULTICAST(ntohl(group.s_addr))) {
        common::note("'%s' is not a multicast group (224.0.0.0 to 239.255.255.255)", argv[1]);
        exit(2);
    }
    uint16_t port = common::port_arg(argv[2]);
    in_addr if_addr{htonl(INADDR_ANY)};
    if (interface) if_addr = ipv4_arg("--interface", interface);

    common::Fd sock(socket(AF_INET, SOCK_DGRAM, 0));
    if (!sock) common::die("socket");
    int on = 1, off = 0;
    // Several receivers on one host bind the same port: each member socket gets a copy.
    if (setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1)
        common::die("setsockopt SO_REUSEADDR");
    // Linux delivers a group's datagrams to every socket bound to the port once *any* socket
    // on the host has joined the group (IP_MULTICAST_ALL, on by default).  Off: this socket
    // gets only the groups it joined itself.  (See the README, "Pitfalls".)
    if (setsockopt(sock.get(), IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof off) == -1)
        common::die("setsockopt IP_MULTICAST_ALL");
    // The wildcard address, as in the book: datagrams addressed to the group arrive here.
    // (SOCKLAB_BIND does not apply: a socket bound to 127.0.0.1 would never see them.)
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == -1)
        common::die("bind to port %s", argv[2]);
    common::print_ready("bound to", sock.get());

    // Joining makes the *host* a member of the group: its kernel announces it (an IGMP
    // report, what routers listen to) and from then on accepts the group's datagrams on that
    // interface (`ip maddr show` lists the memberships).  With no --interface and no route to
    // the group (no default route) this fails:   join 239.1.2.3 on 0.0.0.0: No such device
    // The book's join_adr: which group, and on which interface (by its address).
    ip_mreq join_adr{};
    join_adr.imr_multiaddr = group;
    join_adr.imr_interface = if_addr;
    if (setsockopt(sock.get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &join_adr, sizeof join_adr) == -1)
        common::die("join %s on %s", argv[1], interface ? interface : "0.0.0.0");
    printf("joined %s on %s\n", argv[1], interface ? interface : "the default interface");
    fflush(stdout);

    // The receive loop that news_receiver_brd.cpp repeats: one recvfrom(), one datagram.
    static char buf[65536];  // more than the largest UDP payload (65,507 bytes over IPv4)
    for (long received = 0; count == 0 || received < count;) {
        ssize_t n = recvfrom(sock.get(), buf, sizeof buf, 0, nullptr, nullptr);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("recvfrom");
        ++received;
        // One datagram, one line: the sender's lines end with '\n'; add it if one didn't.
        fwrite(buf, 1, static_cast<size_t>(n), stdout);
        if (n == 0 || buf[n - 1] != '\n') putchar('\n');
        fflush(stdout);
    }

    // Leaving tells the kernel this socket no longer wants the group; when the host's last
    // member leaves, the host stops accepting the group's datagrams (and sends an IGMP leave).
    // close() would drop the membership too; the book's program never leaves explicitly.
    if (setsockopt(sock.get(), IPPROTO_IP, IP_DROP_MEMBERSHIP, &join_adr, sizeof join_adr) == -1)
        common::die("leave %s", argv[1]);
    printf("left %s\n", argv[1]);
    fflush(stdout);
    return 0;
}
