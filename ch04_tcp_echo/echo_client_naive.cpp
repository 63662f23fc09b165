// echo_client_naive — THE BOOK'S FIRST ECHO CLIENT (ch. 4), KEPT BECAUSE IT IS WRONG.
// *** Do not copy this loop.  The correct client is echo_client.cpp. ***
// It calls write() once, then read() once, as if one write() by the server were one read().
//
// usage: echo_client_naive HOST PORT
//
// What to observe: run `echo_server 9190 --chunk 2 --delay-ms 20` and type "hello world":
//     Message from server: he
// The rest of the echo shows up as the "reply" to the next line; at exit it is lost.
// echo_client prints "Message from server: hello world".
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {
constexpr int kBufSize = 1024;
}

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 3) common::die_usage("HOST PORT");
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");  // EPIPE, not death

    // The connect loop of echo_client.cpp (from ch06 on: common::connect_tcp()).
    common::Fd sock;
    for (const addrinfo& ai : common::resolve(argv[1], argv[2], SOCK_STREAM)) {
        sock.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));
        if (sock && connect(sock.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        sock.reset();
    }
    if (!sock) common::die("connect to %s port %s", argv[1], argv[2]);

    const bool interactive = isatty(STDIN_FILENO);
    char message[kBufSize];
    for (;;) {
        if (interactive) {
            fputs("Input message(Q to quit): ", stdout);
            fflush(stdout);
        }
        // Like the book: lines go into a 1024-byte buffer (a longer line is split).  Quits on
        // "q"/"Q" or end of input; the prompt appears only when stdin is a terminal.
        if (!fgets(message, kBufSize, stdin)) break;  // end of input
        if (!strcmp(message, "q\n") || !strcmp(message, "Q\n")) break;

        ssize_t str_len = write(sock.get(), message, strlen(message));
        if (str_len == -1) common::die("write");
        // THE FLAW: one read() for one write().  TCP is a byte stream without message
        // boundaries (数据边界): the echo may arrive in several pieces, and read() returns
        // as soon as the first piece is there.  On loopback with short lines it usually
        // "works", which is exactly why the bug survives.
        str_len = read(sock.get(), message, kBufSize - 1);
        if (str_len == -1) common::die("read");
        if (str_len == 0) common::fatal("server closed the connection");
        message[str_len] = '\0';
        printf("Message from server: %s", message);
        fflush(stdout);
    }
    return 0;
}
