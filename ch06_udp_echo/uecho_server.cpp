// uecho_server — UDP echo server (book ch. 6, uecho_server.c): no listen(), no accept(),
// no connections; recvfrom() says who sent each datagram (数据报), sendto() sends it back.
//
// usage: uecho_server PORT [--buf N]
//   --buf N   receive into a buffer of N bytes, to see truncation (1..65536, default 65536)
//
// What you will see (stdout, one flushed line per datagram):
//     bound to [::]:9190
//     echoed 6 bytes to [::ffff:127.0.0.1]:40158
//     echoed 0 bytes to [::ffff:127.0.0.1]:40158
// and for a datagram bigger than --buf, on stderr:
//     uecho_server: datagram from 127.0.0.1:40158 truncated: 100 bytes, buffer 16; echoed 16
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    constexpr const char* kUsage = "PORT [--buf N]";
    size_t buf_size = 65536;  // > 65,527: the largest UDP payload, even over IPv6
    if (argc == 4 && strcmp(argv[2], "--buf") == 0)
        buf_size = static_cast<size_t>(common::number_arg("--buf", argv[3], 1, 65536));
    else if (argc != 2)
        common::die_usage(kUsage);

    // The UDP server's setup (bound_host1 and ch14's receivers repeat it): socket(SOCK_DGRAM)
    // and bind(), nothing more.  One socket serves everyone: a client that vanishes costs
    // nothing (compare ch04's echo_server, which serves one client at a time).
    common::Fd sock;
    for (const addrinfo& ai : common::listen_addresses(argv[1], SOCK_DGRAM)) {
        sock.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));  // SOCK_DGRAM
        if (!sock) continue;
        // No SO_REUSEADDR here: for UDP on Linux it lets a second server bind the same port,
        // and the datagrams then go to one of them only.  (UDP has no TIME_WAIT to skip.)
        int off = 0;  // [::] with IPV6_V6ONLY off receives IPv4 datagrams too
        if (ai.ai_family == AF_INET6)
            setsockopt(sock.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        if (bind(sock.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        sock.reset();
    }
    if (!sock) common::die("bind to port %s", argv[1]);
    common::print_ready("bound to", sock.get());

    std::vector<char> buf(buf_size);
    for (;;) {
        sockaddr_storage from{};
        socklen_t from_len = sizeof from;
        // One recvfrom() returns one whole datagram, also an empty one (0 bytes is a datagram
        // here, not "end of stream" as in TCP).  A datagram bigger than buf is cut and the rest
        // is gone: the kernel does not keep it for the next call.  So the cut is reported:
        // MSG_TRUNC: return the datagram's real length, even when it was longer than buf.
        ssize_t n = recvfrom(sock.get(), buf.data(), buf.size(), MSG_TRUNC,
                             reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("recvfrom");
        const auto* peer = reinterpret_cast<const sockaddr*>(&from);
        size_t len = static_cast<size_t>(n);
        if (len > buf.size()) {
            common::note("datagram from %s truncated: %zu bytes, buffer %zu; echoed %zu",
                         common::to_string(peer).c_str(), len, buf.size(), buf.size());
            len = buf.size();
        }
        // One sendto() is one datagram, all or nothing: no partial-write loop as in TCP.
        if (sendto(sock.get(), buf.data(), len, 0, peer, from_len) == -1) {
            common::warn("sendto %s", common::to_string(peer).c_str());
            continue;
        }
        printf("echoed %zu bytes to %s\n", len, common::to_string(peer).c_str());
        fflush(stdout);
    }
}
