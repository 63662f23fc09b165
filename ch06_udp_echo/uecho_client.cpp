// uecho_client — UDP echo client with an unconnected socket (未连接的UDP套接字), book
// ch. 6 (uecho_client.c): every sendto() names the server, recvfrom() takes from anyone.
//
// usage: uecho_client HOST PORT [--timeout-ms N] [--count N]
//   --timeout-ms N  how long to wait for each echo (1..60000, default 3000)
//   --count N       send each line N times at once, numbered, and count the exact echoes
//                   (1..10000; default: off, each line once and its echo printed)
//
// What you will see: each line typed is ONE datagram (without its '\n'), and its echo
//     Message from server: hello        or, after N ms, no reply within N ms: lost, or ...
// --count prints  sent N, got back M  (status 0 whatever M is). On stderr, once:
//     uecho_client: the first sendto() bound this socket to 0.0.0.0:40158
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <set>
#include <string>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {

// Same family, address and port?  (A reply must come from where we sent the request.)
bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
    if (a.ss_family != b.ss_family) return false;
    if (a.ss_family == AF_INET) {
        const auto& x = reinterpret_cast<const sockaddr_in&>(a);
        const auto& y = reinterpret_cast<const sockaddr_in&>(b);
        return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
    }
    const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
    return x.sin6_port == y.sin6_port && memcmp(&x.sin6_addr, &y.sin6_addr, 16) == 0;
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    long timeout_ms = 3000, count = 0;  // count 0: each line once, its echo printed
    if (argc < 3 || argc % 2 == 0) common::die_usage("HOST PORT [--timeout-ms N] [--count N]");
    for (int i = 3; i < argc; i += 2) {
        if (strcmp(argv[i], "--timeout-ms") == 0)
            timeout_ms = common::number_arg("--timeout-ms", argv[i + 1], 1, 60000);
        else if (strcmp(argv[i], "--count") == 0)
            count = common::number_arg("--count", argv[i + 1], 1, 10000);
        else
            common::die_usage("HOST PORT [--timeout-ms N] [--count N]");
    }

    // Each sendto() registers the target address, sends the datagram, and forgets the target
    // again.  The program never calls bind(): the first sendto() gives the socket a port.
    // No connect(): keep the server's address and pass it to every sendto().
    common::Fd sock;
    sockaddr_storage serv_addr{};
    socklen_t serv_len = 0;
    for (const addrinfo& ai : common::resolve(argv[1], argv[2], SOCK_DGRAM)) {
        sock.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));
        if (!sock) continue;
        memcpy(&serv_addr, ai.ai_addr, ai.ai_addrlen);
        serv_len = ai.ai_addrlen;
        break;
    }
    if (!sock) common::die("socket");

    const bool interactive = isatty(STDIN_FILENO);
    std::string line;
    static char buf[65536];  // holds the largest UDP payload
    bool bound_reported = false;
    for (;;) {
        if (interactive) {
            fputs("Input message(Q to quit): ", stdout);
            fflush(stdout);
        }
        if (!std::getline(std::cin, line) || line == "q" || line == "Q") break;

        // One line, one datagram, all or nothing.  Too long (> 65,507 bytes over IPv4):
        // EMSGSIZE, and the line is skipped.  With --count: N numbered datagrams, sent at once.
        std::set<std::string> waiting;  // the datagrams whose echo has not come back yet
        for (long k = 1; k <= std::max(count, 1L); ++k)
            waiting.insert(count == 0 ? line : std::to_string(k) + " " + line);
        bool too_long = false;
        for (const std::string& dgram : waiting) {
            if (sendto(sock.get(), dgram.data(), dgram.size(), 0,
                       reinterpret_cast<const sockaddr*>(&serv_addr), serv_len) == -1) {
                if (errno != EMSGSIZE) common::die("sendto");
                common::warn("sendto (%zu bytes)", dgram.size());
                too_long = true;
                break;
            }
        }
        if (too_long) continue;
        if (!bound_reported) {  // the socket had no address; the kernel has assigned one
            bound_reported = true;
            sockaddr_storage local{};
            socklen_t local_len = sizeof local;
            if (getsockname(sock.get(), reinterpret_cast<sockaddr*>(&local), &local_len) == -1)
                common::die("getsockname");
            common::note("the first sendto() bound this socket to %s",
                         common::to_string(reinterpret_cast<sockaddr*>(&local)).c_str());
        }

        // UDP does not retransmit: a datagram (or its echo) that is lost is simply gone, and
        // recvfrom() would block forever.  So the client waits at most --timeout-ms, then
        // reads the next line.  A datagram refused by the server's host (ICMP "port
        // unreachable": nobody listening) looks the same here: only a connected socket is told.
        // Wait for the echo until the deadline.  poll() (see ch12) rather than SO_RCVTIMEO:
        // the limit is for the whole wait, however many stray datagrams arrive meanwhile.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        const size_t sent = waiting.size();
        while (!waiting.empty()) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            pollfd p{sock.get(), POLLIN, 0};
            int ready = poll(&p, 1, left.count() > 0 ? static_cast<int>(left.count()) : 0);
            if (ready == -1 && errno == EINTR) continue;
            if (ready == -1) common::die("poll");
            if (ready == 0 && count == 0)
                printf(
                    "no reply within %ld ms: lost, or nobody listening (an unconnected socket "
                    "is not told; uecho_con_client is)\n",
                    timeout_ms);
            if (ready == 0) break;
            sockaddr_storage from{};
            socklen_t from_len = sizeof from;
            ssize_t n = recvfrom(sock.get(), buf, sizeof buf, MSG_TRUNC,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
            if (n == -1 && errno == EINTR) continue;
            if (n == -1) common::die("recvfrom");
            std::string from_text = common::to_string(reinterpret_cast<sockaddr*>(&from));
            // recvfrom() takes a datagram from any address: a stranger's, or a late echo of an
            // earlier line, is skipped with a line on stderr.
            if (!same_address(from, serv_addr)) {
                common::note("ignored a datagram from %s (not the server)", from_text.c_str());
                continue;
            }
            // Only an intact echo of a datagram still waiting counts (MSG_TRUNC: n is its size).
            if (static_cast<size_t>(n) > sizeof buf ||
                waiting.erase(std::string(buf, static_cast<size_t>(n))) == 0) {
                common::note("ignored a datagram of %zd bytes from %s (not the echo of this line)",
                             n, from_text.c_str());
                continue;
            }
            if (count > 0) continue;
            fputs("Message from server: ", stdout);
            fwrite(buf, 1, static_cast<size_t>(n), stdout);
            fputc('\n', stdout);
        }
        if (count > 0) printf("sent %zu, got back %zu\n", sent, sent - waiting.size());
        fflush(stdout);
    }
    return 0;
}
