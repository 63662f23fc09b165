// file_client.cpp — receives a file until end of stream, then answers, book ch. 7
// (file_client.c).  The server's shutdown(SHUT_WR) arrives as end of stream: read() returns
// 0, so the client knows the file is complete — and its own output stream is still open,
// so it can send "Thank you" afterwards.  Then it closes.
//
// usage: file_client HOST PORT OUTFILE
//
// What to observe (stdout):
//     Received file data: 1234 bytes -> OUTFILE
//     Sent: Thank you
// and file_server prints   Message from client: Thank you.   Against `file_server --close`
// the client prints the same two lines, yet the server never sees the message: it arrives
// at a closed socket and is answered with a reset (see the README).
// OUTFILE is created (or truncated) before connecting; if that fails, one line and exit 1.
// A connection that breaks before end of stream: one line, exit 1, e.g.
//     file_client: read (after 65536 bytes): Connection reset by peer
// and OUTFILE holds only the bytes that arrived.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <string_view>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

int main(int argc, char* argv[]) {
    if (argc != 4) common::die_usage("HOST PORT OUTFILE");
    const char* out_path = argv[3];
    // If the server has gone, write() must fail with EPIPE (reported below), not kill us.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    common::Fd out_fd(open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    if (!out_fd) common::die("cannot create %s", out_path);

    common::Fd sock;
    for (const addrinfo& ai : common::resolve(argv[1], argv[2], SOCK_STREAM)) {
        sock.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));
        if (sock && connect(sock.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        sock.reset();
    }
    if (!sock) common::die("connect to %s port %s", argv[1], argv[2]);

    // Read until end of stream: read() returns 0 once the server's FIN has arrived and every
    // byte before it has been read.  (No length is sent: the FIN marks the end of the file.)
    static char buf[16384];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(sock.get(), buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("read (after %zu bytes)", total);
        if (n == 0) break;
        if (!common::write_all(out_fd.get(), buf, static_cast<size_t>(n)))
            common::die("write %s", out_path);
        total += static_cast<size_t>(n);
    }
    if (close(out_fd.release()) == -1) common::die("close %s", out_path);
    printf("Received file data: %zu bytes -> %s\n", total, out_path);
    fflush(stdout);

    // Our output stream is still open: the server half-closed only its own.
    constexpr std::string_view kThanks = "Thank you";  // 9 bytes; the book also sent its '\0'
    if (!common::write_all(sock.get(), kThanks)) common::die("write");
    printf("Sent: %s\n", kThanks.data());
    return 0;  // sock's destructor closes: the server reads end of stream after the message
}
