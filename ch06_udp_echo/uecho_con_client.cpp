// uecho_con_client — the connected UDP socket (已连接UDP套接字), book ch. 6
// (uecho_con_client.c): connect() on SOCK_DGRAM sends nothing, it registers the server's
// address once; then write() and read() work, and only the server's datagrams arrive.
//
// usage: uecho_con_client HOST PORT [--timeout-ms N]
//   --timeout-ms N  how long to wait for each echo (1..60000, default 3000)
//
// What you will see: on stderr   uecho_con_client: connected to 127.0.0.1:9190 from 127.0.0.1:40158
// then one datagram per line and   Message from server: hello   (or   no reply ...), and with
// no server:
//     uecho_con_client: read from 127.0.0.1:9190: Connection refused       (exit 1)
// A line "q" or "Q", or end of input, quits with status 0.
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    long timeout_ms = 3000;
    if (argc == 5 && strcmp(argv[3], "--timeout-ms") == 0)
        timeout_ms = common::number_arg("--timeout-ms", argv[4], 1, 60000);
    else if (argc != 3)
        common::die_usage("HOST PORT [--timeout-ms N]");

    // connect() on a UDP socket: the kernel now does what uecho_client does by hand, for every
    // datagram (an unconnected sendto() registers the target, sends, and removes it again).
    // It also assigns the local port at once.
    common::Fd sock;
    for (const addrinfo& ai : common::resolve(argv[1], argv[2], SOCK_DGRAM)) {
        sock.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));  // SOCK_DGRAM
        if (sock && connect(sock.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        sock.reset();
    }
    if (!sock) common::die("connect to %s port %s", argv[1], argv[2]);

    sockaddr_storage local{}, peer{};
    socklen_t local_len = sizeof local, peer_len = sizeof peer;
    if (getsockname(sock.get(), reinterpret_cast<sockaddr*>(&local), &local_len) == -1)
        common::die("getsockname");
    if (getpeername(sock.get(), reinterpret_cast<sockaddr*>(&peer), &peer_len) == -1)
        common::die("getpeername");
    const std::string peer_text = common::to_string(reinterpret_cast<sockaddr*>(&peer));
    common::note("connected to %s from %s", peer_text.c_str(),
                 common::to_string(reinterpret_cast<sockaddr*>(&local)).c_str());

    // Only the server's datagrams reach this socket, so a timeout per read() is enough here
    // (no stranger can keep us waiting by sending datagrams; compare uecho_client's poll()).
    timeval tv{.tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000};
    if (setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1)
        common::die("setsockopt SO_RCVTIMEO");

    const bool interactive = isatty(STDIN_FILENO);
    std::string line;
    static char buf[65536];  // holds the largest UDP payload
    for (;;) {
        if (interactive) {
            fputs("Input message(Q to quit): ", stdout);
            fflush(stdout);
        }
        if (!std::getline(std::cin, line) || line == "q" || line == "Q") break;

        // Only a connected UDP socket learns that nothing listens on the port: the peer's kernel
        // answers with an ICMP "port unreachable", and the next call on the socket fails with
        // ECONNREFUSED.  Linux reports it to connected sockets only (uecho_client times out).
        // write() on a connected UDP socket: one call, one datagram (an empty line: empty).
        if (write(sock.get(), line.data(), line.size()) == -1) {
            if (errno != EMSGSIZE) common::die("write to %s", peer_text.c_str());
            common::warn("write (%zu bytes)", line.size());
            continue;
        }
        for (;;) {
            ssize_t n = read(sock.get(), buf, sizeof buf);
            if (n == -1 && errno == EINTR) continue;
            if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {  // SO_RCVTIMEO expired
                puts("no reply (UDP does not retransmit)");
                break;
            }
            if (n == -1) common::die("read from %s", peer_text.c_str());  // ECONNREFUSED
            // n == 0 is an empty datagram, not end of stream: UDP has no stream to end.
            if (static_cast<size_t>(n) != line.size() || memcmp(buf, line.data(), line.size())) {
                common::note("ignored a datagram of %zd bytes (not the echo of this line)", n);
                continue;
            }
            fputs("Message from server: ", stdout);
            fwrite(buf, 1, static_cast<size_t>(n), stdout);
            fputc('\n', stdout);
            break;
        }
        fflush(stdout);
    }
    return 0;
}
