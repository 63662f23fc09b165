// news_sender — multicast sender (book ch. 14, news_sender.c): each line of FILE is one
// UDP datagram to a multicast group (多播组); the network copies it to every member.
//
// usage: news_sender GROUP PORT FILE [--ttl N] [--interface ADDR] [--interval-ms N] [--no-loop]
//   --ttl N           IP_MULTICAST_TTL (0..255, default 64): 0 stays on this host, 1 on this net
//   --interface ADDR  IP_MULTICAST_IF: send through the interface with IPv4 address ADDR
//                     (default: the kernel's route)
//   --interval-ms N   pause between two lines (0..60000, default 200; the book sleeps 2 s)
//   --no-loop         IP_MULTICAST_LOOP off: members on this host get no copy
//
// What you will see: receivers (news_receiver GROUP PORT) print the lines; this prints
//     sent 5 datagrams to 239.1.2.3:5000
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {

constexpr const char* kUsage =
    "GROUP PORT FILE [--ttl N] [--interface ADDR] [--interval-ms N] [--no-loop]";

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc < 4) common::die_usage(kUsage);
    int ttl = 64;  // the book's TIME_TO_LIVE
    const char* interface = nullptr;
    long interval_ms = 200;
    bool loop = true;
    for (int i = 4; i < argc; ++i) {
        if (strcmp(argv[i], "--no-loop") == 0) {
            loop = false;
            continue;
        }
        if (i + 1 >= argc) common::die_usage(kUsage);
        if (strcmp(argv[i], "--ttl") == 0)
            ttl = static_cast<int>(common::number_arg("--ttl", argv[i + 1], 0, 255));
        else if (strcmp(argv[i], "--interface") == 0)
            interface = argv[i + 1];
        else if (strcmp(argv[i], "--interval-ms") == 0)
            interval_ms = common::number_arg("--interval-ms", argv[i + 1], 0, 60000);
        else
            common::die_usage(kUsage);
        ++i;
    }

    sockaddr_in mul_adr{};  // the book's name: the destination is the group, not a host
    mul_adr.sin_family = AF_INET;
    if (inet_pton(AF_INET, argv[1], &mul_adr.sin_addr) != 1 ||
        !IN_MULTICAST(ntohl(mul_adr.sin_addr.s_addr))) {
        common::note("'%s' is not a multicast group (224.0.0.0 to 239.255.255.255)", argv[1]);
        exit(2);
    }
    mul_adr.sin_port = htons(common::port_arg(argv[2]));
    if (mul_adr.sin_port == 0) {
        common::note("invalid port '0': datagrams need a destination port (1 to 65535)");
        exit(2);
    }
    in_addr if_addr{};
    if (interface && inet_pton(AF_INET, interface, &if_addr) != 1) {
        common::note("invalid --interface '%s' (expected an IPv4 address)", interface);
        exit(2);
    }
    FILE* fp = fopen(argv[3], "r");
    if (!fp) common::die("open %s", argv[3]);

    common::Fd sock(socket(AF_INET, SOCK_DGRAM, 0));
    if (!sock) common::die("socket");
    // Every datagram carries the TTL; each router decrements it and drops it at 0.
    if (setsockopt(sock.get(), IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) == -1)
        common::die("setsockopt IP_MULTICAST_TTL");
    if (interface &&
        setsockopt(sock.get(), IPPROTO_IP, IP_MULTICAST_IF, &if_addr, sizeof if_addr) == -1)
        common::die("setsockopt IP_MULTICAST_IF %s", interface);
    // On by default: members on the sending host get a copy too.  (Over `lo` itself every
    // datagram comes back anyway: loopback is the wire.)
    int loop_flag = loop ? 1 : 0;
    if (!loop &&
        setsockopt(sock.get(), IPPROTO_IP, IP_MULTICAST_LOOP, &loop_flag, sizeof loop_flag) == -1)
        common::die("setsockopt IP_MULTICAST_LOOP");

    std::string to = common::to_string(reinterpret_cast<sockaddr*>(&mul_adr));
    char* line = nullptr;
    size_t cap = 0;
    long sent = 0;
    ssize_t len;
    // One sendto() per line, whoever and however many the receivers are (news_sender_brd.cpp
    // repeats this loop).  With no route to the group (no default route, no --interface):
    //     news_sender: sendto 239.1.2.3:5000: Network is unreachable (no route to the group: ...)
    while ((len = getline(&line, &cap, fp)) != -1) {  // the line with its '\n', as fgets()
        if (sent > 0 && interval_ms > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
        // No connection, no bind(): the kernel picks the source address and port.
        if (sendto(sock.get(), line, static_cast<size_t>(len), 0,
                   reinterpret_cast<sockaddr*>(&mul_adr), sizeof mul_adr) == -1) {
            if (errno == ENETUNREACH)
                common::fatal("sendto %s: %s (no route to the group: give --interface ADDR)",
                              to.c_str(), strerror(errno));
            common::die("sendto %s (line %ld, %zd bytes)", to.c_str(), sent + 1, len);
        }
        ++sent;
    }
    if (ferror(fp)) common::die("read %s", argv[3]);
    free(line);
    fclose(fp);
    printf("sent %ld datagram%s to %s\n", sent, sent == 1 ? "" : "s", to.c_str());
    fflush(stdout);
    return 0;
}
