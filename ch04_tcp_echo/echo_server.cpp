// echo_server — iterative TCP echo server, book ch. 4 (echo_server.c): one client at a time;
// every byte it sends comes back until it closes, then the next client from the backlog.
//
// usage: echo_server PORT [--chunk N] [--delay-ms D]
//   --chunk N     echo in pieces of at most N bytes (1..65536; default: off, whole reads),
//                 with TCP_NODELAY on the client socket
//   --delay-ms D  with --chunk: pause D milliseconds (0..10000; default 0) between two pieces
//
// What to observe (stdout, one flushed line per event, N counts clients from 1):
//     listening on [::]:9190
//     client 1 connected from [::ffff:127.0.0.1]:40158
//     client 1 disconnected
// With --chunk 2 --delay-ms 20 a reply arrives in pieces: echo_client_naive prints only one.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {

constexpr size_t kBufSize = 4096;
constexpr const char* kUsage = "PORT [--chunk N] [--delay-ms D]";

// write() may take only part of the buffer (a full socket buffer, a signal): loop until all of
// it is gone.  Returns false with errno set: EPIPE / ECONNRESET when the client has vanished.
// This is the loop ch04 teaches; later chapters call the same loop as common::write_all.
bool write_fully(int fd, const char* data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return false;
        data += n;
        len -= static_cast<size_t>(n);
    }
    return true;
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc < 2) common::die_usage(kUsage);
    size_t chunk = 0;  // 0: echo whatever one read() returned, in one write()
    int delay_ms = 0;
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) common::die_usage(kUsage);
        if (strcmp(argv[i], "--chunk") == 0)
            chunk = static_cast<size_t>(common::number_arg("--chunk", argv[i + 1], 1, 65536));
        else if (strcmp(argv[i], "--delay-ms") == 0)
            delay_ms = static_cast<int>(common::number_arg("--delay-ms", argv[i + 1], 0, 10000));
        else
            common::die_usage(kUsage);
    }
    if (delay_ms > 0 && chunk == 0) common::die_usage(kUsage);  // pauses between what?

    // A client that disconnects while we write must not kill the server: by default the
    // kernel sends SIGPIPE, whose default action ends the process.  Ignored, write() returns
    // -1 with errno EPIPE, and we handle it like any other error (one line, next client).
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    // socket() → bind() → listen(), for the first wildcard address that binds ([::] first).
    // (From ch06 on, servers get this exact loop from common::listen_tcp().)
    common::Fd listen_fd;
    for (const addrinfo& ai : common::listen_addresses(argv[1], SOCK_STREAM)) {
        listen_fd.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));
        if (!listen_fd) continue;
        int on = 1, off = 0;
        // SO_REUSEADDR: restart at once, even while old connections sit in TIME_WAIT.
        setsockopt(listen_fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        // [::] with IPV6_V6ONLY off accepts IPv4 clients too (as ::ffff:a.b.c.d).
        if (ai.ai_family == AF_INET6)
            setsockopt(listen_fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        if (bind(listen_fd.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        listen_fd.reset();
    }
    if (!listen_fd) common::die("bind to port %s", argv[1]);
    // From here the kernel completes handshakes by itself: a second client's connect()
    // succeeds while we serve the first, and it waits in this backlog until accept() takes it.
    if (listen(listen_fd.get(), SOMAXCONN) == -1) common::die("listen");
    common::print_ready("listening on", listen_fd.get());

    // Iterative: the loop below serves one client to the end before it accepts the next.
    int pause_ms = 0;  // > 0 while accept() finds no descriptor or memory
    for (unsigned long client = 0;;) {
        sockaddr_storage addr{};
        socklen_t addr_len = sizeof addr;
        // listen_fd only ever accepts; each accepted connection gets its own descriptor.
        common::Fd client_fd(
            accept(listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len));
        if (!client_fd) {  // what to do is the one accept() policy of DESIGN.md
            int err = errno;
            switch (common::accept_failure(err)) {
                case common::AcceptFailure::kRetry:
                case common::AcceptFailure::kWouldBlock:  // (not on a blocking socket)
                    // An error already pending on the new connection (ECONNABORTED, EPROTO,
                    // ENETDOWN, ...): that client is gone, serve the next.  A connection reset
                    // while it waited in the backlog is not one of them on Linux: accept()
                    // returns it, and its first read() fails with ECONNRESET (not so on BSD,
                    // UNP §16.6).
                    if (err != EINTR) common::warn("accept");
                    continue;
                case common::AcceptFailure::kExhausted:
                    // No descriptor (EMFILE, ENFILE) or no memory (ENOBUFS, ENOMEM) for the new
                    // socket; the client stays in the backlog.  An iterative server holds no
                    // client here, so none can leave to free one: the shortage comes from
                    // outside.  Say so once ("echo_server: accept: Too many open files:
                    // pausing ..."), then try again after a pause that doubles up to 1 s.
                    // (Waiting on listen_fd would return at once: the connection is still
                    // there.  Retrying at once would spin; exiting would stop the service.)
                    if (pause_ms == 0)
                        common::note("accept: %s: pausing (up to 1 s) until it succeeds",
                                     strerror(err));
                    pause_ms = std::min(pause_ms == 0 ? 10 : 2 * pause_ms, 1000);
                    poll(nullptr, 0, pause_ms);
                    continue;
                case common::AcceptFailure::kFatal:  // EBADF, EINVAL, ...: a bug, not a client
                    errno = err;
                    common::die("accept");
            }
        }
        pause_ms = 0;
        ++client;
        printf("client %lu connected from %s\n", client,
               common::to_string(reinterpret_cast<sockaddr*>(&addr)).c_str());
        fflush(stdout);

        if (chunk > 0) {
            // Nagle's algorithm would hold a small piece back until the previous one is
            // acknowledged and then send several together; NODELAY sends each piece at once.
            int on = 1;
            if (setsockopt(client_fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == -1)
                common::warn("client %lu: setsockopt TCP_NODELAY", client);
        }

        // The echo: read() what has arrived (at most kBufSize bytes), write all of it back,
        // until read() returns 0 — end of stream, the client closed its side.
        char buf[kBufSize];
        for (;;) {
            ssize_t n = read(client_fd.get(), buf, sizeof buf);
            if (n == -1 && errno == EINTR) continue;
            if (n == -1) {  // ECONNRESET: the client reset the connection
                common::warn("client %lu: read", client);
                break;
            }
            if (n == 0) break;
            size_t piece = chunk > 0 ? chunk : static_cast<size_t>(n);
            bool ok = true;
            for (size_t off = 0; ok && off < static_cast<size_t>(n); off += piece) {
                if (off > 0 && delay_ms > 0) poll(nullptr, 0, delay_ms);  // sleep between pieces
                ok = write_fully(client_fd.get(), buf + off,
                                 std::min(piece, static_cast<size_t>(n) - off));
            }
            if (!ok) {  // EPIPE or ECONNRESET: e.g. "echo_server: client 3: write: Broken pipe"
                common::warn("client %lu: write", client);
                break;
            }
        }
        printf("client %lu disconnected\n", client);
        fflush(stdout);
    }  // client_fd is closed here, before the next accept()
}
