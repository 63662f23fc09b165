// echo_client — the echo client done right, book ch. 4 (echo_client.c, with the fix of ch. 5):
// after sending a line it reads until every byte it sent has come back.
//
// usage: echo_client HOST PORT
//
// What to observe: each line typed (or piped) in comes back whole, as the book prints it,
//     Message from server: hello
// even from `echo_server PORT --chunk 2 --delay-ms 20`.  "q", "Q" or end of input quits with
// status 0; the prompt "Input message(Q to quit): " appears only when stdin is a terminal.
// On stderr, after connect():
//     echo_client: connected to 127.0.0.1:9190 from 127.0.0.1:40158
// A server that closes mid-echo: one line, status 1.  Compare echo_client_naive.cpp.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {
constexpr size_t kBufSize = 1024;
}

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 3) common::die_usage("HOST PORT");
    // If the server has gone, write() must fail with EPIPE (reported below), not kill us.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    // socket() → connect(), for the first address of HOST that answers (IPv4 or IPv6).
    // (From ch06 on, clients get this exact loop from common::connect_tcp().)
    common::Fd sock;
    for (const addrinfo& ai : common::resolve(argv[1], argv[2], SOCK_STREAM)) {
        sock.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));
        if (sock && connect(sock.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        sock.reset();
    }
    if (!sock) common::die("connect to %s port %s", argv[1], argv[2]);

    // This program never calls bind(): the kernel gave the socket its address and port in
    // connect().  getsockname() shows which.
    sockaddr_storage local{}, peer{};
    socklen_t local_len = sizeof local, peer_len = sizeof peer;
    if (getsockname(sock.get(), reinterpret_cast<sockaddr*>(&local), &local_len) == -1)
        common::die("getsockname");
    if (getpeername(sock.get(), reinterpret_cast<sockaddr*>(&peer), &peer_len) == -1)
        common::die("getpeername");
    common::note("connected to %s from %s",
                 common::to_string(reinterpret_cast<sockaddr*>(&peer)).c_str(),
                 common::to_string(reinterpret_cast<sockaddr*>(&local)).c_str());

    const bool interactive = isatty(STDIN_FILENO);
    std::string line;
    char buf[kBufSize];
    for (;;) {
        if (interactive) {
            fputs("Input message(Q to quit): ", stdout);
            fflush(stdout);
        }
        if (!std::getline(std::cin, line)) break;  // end of input
        if (line == "q" || line == "Q") break;
        line += '\n';

        // Send the line and collect its echo, one piece of at most kBufSize bytes at a time.
        // (Writing a huge line whole before reading could deadlock: once our input buffer is
        // full the server blocks writing the echo, stops reading, and our write() blocks too.)
        std::string reply;
        for (size_t sent = 0; sent < line.size();) {
            size_t str_len = std::min(kBufSize, line.size() - sent);
            if (!common::write_all(sock.get(), line.data() + sent, str_len)) common::die("write");
            // The lesson: TCP keeps no message boundaries, and one read() may return fewer
            // bytes than were sent.  So read until recv_len reaches str_len, asking each time
            // only for the bytes still missing.
            size_t recv_len = 0;
            while (recv_len < str_len) {
                ssize_t recv_cnt = read(sock.get(), buf + recv_len, str_len - recv_len);
                if (recv_cnt == -1 && errno == EINTR) continue;
                if (recv_cnt == -1) common::die("read");
                if (recv_cnt == 0)  // "server closed the connection after 3 of 6 bytes ..."
                    common::fatal("server closed the connection after %zu of %zu bytes of the echo",
                                  reply.size() + recv_len, line.size());
                recv_len += static_cast<size_t>(recv_cnt);
            }
            reply.append(buf, recv_len);
            sent += str_len;
        }
        fputs("Message from server: ", stdout);
        fwrite(reply.data(), 1, reply.size(), stdout);  // the reply ends with its '\n'
        fflush(stdout);
    }
    return 0;  // sock's destructor closes the connection: the server sees end of stream
}
