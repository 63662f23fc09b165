// peek_recv — recv(MSG_PEEK | MSG_DONTWAIT): look at the input buffer without taking from it
// (book ch. 13, peek_recv.c).  Serves one sender.
//
// usage: peek_recv PORT
//
// With `peek_send 127.0.0.1 PORT --pause-ms 500`:
//   recv(MSG_PEEK|MSG_DONTWAIT): Resource temporarily unavailable (at once: nothing yet)
//   Buffering 3 bytes: 123       (peeked: the bytes are still in the buffer)
//   Read again: 123              (the same bytes, now taken by a plain recv())
// The book's loop calls recv() again and again while nothing is there (100 % CPU); this one
// says so once and then sleeps in poll() until data arrives.
#include <poll.h>
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
    common::port_arg(argv[1]);
    common::Fd listener = common::listen_tcp(argv[1]);
    common::print_ready("listening on", listener.get());
    common::Fd sock(accept(listener.get(), nullptr, nullptr));
    if (!sock) common::die("accept");

    char buf[30];
    ssize_t n;
    bool told = false;
    for (;;) {
        // MSG_PEEK: copy what is there, leave it in the buffer.  MSG_DONTWAIT: don't block,
        // for this call only (the socket itself stays blocking).
        n = recv(sock.get(), buf, sizeof buf - 1, MSG_PEEK | MSG_DONTWAIT);
        if (n >= 0) break;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) common::die("recv MSG_PEEK");
        if (!told) {  // nothing yet, and recv() said so at once
            std::printf(
                "recv(MSG_PEEK|MSG_DONTWAIT): Resource temporarily unavailable "
                "(at once: nothing yet)\n");
            std::fflush(stdout);
            told = true;
        }
        // The book tries again at once, for ever: a busy loop.  poll() sleeps until readable.
        pollfd p{.fd = sock.get(), .events = POLLIN, .revents = 0};
        if (poll(&p, 1, -1) == -1 && errno != EINTR) common::die("poll");
    }
    if (n == 0) {
        std::printf("end of stream before any data\n");
        return 0;
    }
    buf[n] = '\0';
    std::printf("Buffering %zd bytes: %s\n", n, buf);

    // The peeked bytes are still first in the buffer: a recv() of that many returns them
    // (more may have arrived since, after them).
    ssize_t got;
    do {
        got = recv(sock.get(), buf, static_cast<size_t>(n), MSG_WAITALL);
    } while (got == -1 && errno == EINTR);
    if (got == -1) common::die("recv");
    buf[got] = '\0';
    std::printf("Read again: %s\n", buf);
    return 0;
}
