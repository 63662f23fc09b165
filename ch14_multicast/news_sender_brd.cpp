// news_sender_brd — broadcast sender (book ch. 14, news_sender_brd.c): each line of FILE
// is one UDP datagram to a broadcast address (广播), after setsockopt(SO_BROADCAST).
//
// usage: news_sender_brd ADDR PORT FILE [--interval-ms N] [--no-broadcast-option]
//   ADDR                   255.255.255.255, or an interface's broadcast (e.g. 198.18.0.255)
//   --interval-ms N        pause between two lines (0..60000, default 200; the book: 2 s)
//   --no-broadcast-option  leave SO_BROADCAST off, to see the kernel refuse
//
// What you will see: every news_receiver_brd PORT on the network prints the lines (this host
// too), and this prints   sent 5 datagrams to 198.18.0.255:5000   or without SO_BROADCAST:
//     news_sender_brd: sendto 198.18.0.255:5000: Permission denied (SO_BROADCAST is off: ...)
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
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

constexpr const char* kUsage = "ADDR PORT FILE [--interval-ms N] [--no-broadcast-option]";

// The kernel would send to a unicast address without complaint, so the check is ours: an ADDR
// that is not a broadcast address here is refused before anything is sent (status 2).
// Is ADDR 255.255.255.255 or the broadcast address of one of our interfaces?  *known lists
// the ones we have, for the error message.
bool is_broadcast(in_addr addr, std::string* known) {
    *known = "255.255.255.255";
    bool found = addr.s_addr == htonl(INADDR_BROADCAST);
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) == -1) common::die("getifaddrs");
    for (ifaddrs* ifa = list; ifa; ifa = ifa->ifa_next) {
        if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET) continue;
        if (!(ifa->ifa_flags & IFF_BROADCAST) || !ifa->ifa_broadaddr) continue;
        in_addr brd = reinterpret_cast<sockaddr_in*>(ifa->ifa_broadaddr)->sin_addr;
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &brd, text, sizeof text);
        *known += std::string(", ") + text + " (" + ifa->ifa_name + ")";
        if (brd.s_addr == addr.s_addr) found = true;
    }
    freeifaddrs(list);
    return found;
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc < 4) common::die_usage(kUsage);
    long interval_ms = 200;
    bool broadcast_option = true;
    for (int i = 4; i < argc; ++i) {
        if (strcmp(argv[i], "--no-broadcast-option") == 0) {
            broadcast_option = false;
        } else if (strcmp(argv[i], "--interval-ms") == 0 && i + 1 < argc) {
            interval_ms = common::number_arg("--interval-ms", argv[i + 1], 0, 60000);
            ++i;
        } else {
            common::die_usage(kUsage);
        }
    }

    sockaddr_in broad_adr{};
    broad_adr.sin_family = AF_INET;
    if (inet_pton(AF_INET, argv[1], &broad_adr.sin_addr) != 1) {
        common::note("invalid address '%s' (expected an IPv4 broadcast address)", argv[1]);
        exit(2);
    }
    std::string known;
    if (!is_broadcast(broad_adr.sin_addr, &known)) {
        common::note("'%s' is not a broadcast address here (have: %s)", argv[1], known.c_str());
        exit(2);
    }
    broad_adr.sin_port = htons(common::port_arg(argv[2]));
    if (broad_adr.sin_port == 0) {
        common::note("invalid port '0': datagrams need a destination port (1 to 65535)");
        exit(2);
    }
    FILE* fp = fopen(argv[3], "r");
    if (!fp) common::die("open %s", argv[3]);

    common::Fd sock(socket(AF_INET, SOCK_DGRAM, 0));
    if (!sock) common::die("socket");
    // Every host of this network gets a broadcast, member or not, and no router passes it on.
    // A socket may send one only after SO_BROADCAST: the kernel's guard against mistakes.
    int so_brd = 1;
    if (broadcast_option &&
        setsockopt(sock.get(), SOL_SOCKET, SO_BROADCAST, &so_brd, sizeof so_brd) == -1)
        common::die("setsockopt SO_BROADCAST");

    std::string to = common::to_string(reinterpret_cast<sockaddr*>(&broad_adr));
    char* line = nullptr;
    size_t cap = 0;
    long sent = 0;
    ssize_t len;
    // news_sender.cpp's loop: one sendto() per line.
    while ((len = getline(&line, &cap, fp)) != -1) {
        if (sent > 0 && interval_ms > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
        if (sendto(sock.get(), line, static_cast<size_t>(len), 0,
                   reinterpret_cast<sockaddr*>(&broad_adr), sizeof broad_adr) == -1) {
            if (errno == EACCES)
                common::fatal(
                    "sendto %s: %s (SO_BROADCAST is off: a socket must set it "
                    "before it may send to a broadcast address)",
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
