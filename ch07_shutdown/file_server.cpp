// file_server.cpp — half-close (半关闭) with shutdown(), book ch. 7 (file_server.c).
// For each client: send FILE, then shutdown(SHUT_WR).  That closes only our output stream:
// the client reads to end of stream (the FIN says "the file is complete"), yet the
// connection stays open in the other direction, so the server can still read the client's
// last words.  close() would have closed both streams at once.
//
// usage: file_server PORT FILE [--close] [--timeout-ms N]
//   --close          close() instead of shutdown(SHUT_WR): the client's message is lost
//   --timeout-ms N   give up on a client that stalls for N ms in one read() or write()
//                    (SO_RCVTIMEO/SO_SNDTIMEO; default 5000, 0 waits forever like the book)
//
// What to observe (stdout; N counts clients from 1):
//     listening on [::]:9190
//     client 1 connected from [::ffff:127.0.0.1]:40158
//     client 1: sent 1234 bytes, shutdown(SHUT_WR)
//     Message from client: Thank you
//     client 1: end of stream after 9 bytes, closed
// With --close, the second line is   client 1: sent 1234 bytes, close()   and nothing
// more: the file still arrives whole (output queued at close() is still sent), but the
// "Thank you" reaches a closed socket, whose kernel answers it with a reset (RST).
// FILE must be a readable regular file: otherwise one line and exit 1, before listening.
// Clients are served one after another (iterative, like ch04); one that disconnects
// mid-file costs a line on stderr (SIGPIPE is ignored) and the next one is served.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {
constexpr const char* kUsage = "PORT FILE [--close] [--timeout-ms N]";
constexpr size_t kMaxShown = 1024;  // of the client's message
}  // namespace

int main(int argc, char* argv[]) {
    if (argc < 3) common::die_usage(kUsage);
    bool close_mode = false;
    long timeout_ms = 5000;
    for (int i = 3; i < argc; ++i) {
        if (strcmp(argv[i], "--close") == 0)
            close_mode = true;
        else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
            timeout_ms = common::number_arg("--timeout-ms", argv[++i], 0, 600000);
        else
            common::die_usage(kUsage);
    }
    common::port_arg(argv[1]);  // a bad port is bad usage, whatever FILE is

    // Check FILE before listening: a server that cannot serve should not accept anyone.
    common::Fd file_fd(open(argv[2], O_RDONLY));
    if (!file_fd) common::die("cannot open %s", argv[2]);
    struct stat st;
    if (fstat(file_fd.get(), &st) == -1) common::die("fstat %s", argv[2]);
    if (!S_ISREG(st.st_mode)) common::fatal("%s: not a regular file", argv[2]);

    // A client that disconnects mid-file must not kill us: write() fails with EPIPE instead.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    common::Fd listen_fd;
    for (const addrinfo& ai : common::listen_addresses(argv[1], SOCK_STREAM)) {
        listen_fd.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));
        if (!listen_fd) continue;
        int on = 1, off = 0;
        setsockopt(listen_fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (ai.ai_family == AF_INET6)
            setsockopt(listen_fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        if (bind(listen_fd.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        listen_fd.reset();
    }
    if (!listen_fd) common::die("bind to port %s", argv[1]);
    if (listen(listen_fd.get(), SOMAXCONN) == -1) common::die("listen");
    common::print_ready("listening on", listen_fd.get());

    static char buf[16384];
    for (unsigned long client = 0;;) {
        sockaddr_storage addr{};
        socklen_t addr_len = sizeof addr;
        common::Fd client_fd(
            accept(listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len));
        if (!client_fd) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
            common::die("accept");
        }
        ++client;
        printf("client %lu connected from %s\n", client,
               common::to_string(reinterpret_cast<sockaddr*>(&addr)).c_str());
        fflush(stdout);
        // Iterative: a stalled client would block everyone behind it (see ch04's op_server).
        timeval tv{.tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000};
        setsockopt(client_fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(client_fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

        // 1. The file, from its start for every client.
        off_t sent = 0;
        bool ok = true;
        for (;;) {
            ssize_t n = pread(file_fd.get(), buf, sizeof buf, sent);
            if (n == -1 && errno == EINTR) continue;
            if (n == -1) common::die("read %s", argv[2]);
            if (n == 0) break;  // end of file
            if (!common::write_all(client_fd.get(), buf, static_cast<size_t>(n))) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    common::note("client %lu: not reading for %ld ms, closing", client, timeout_ms);
                else  // EPIPE, ECONNRESET: the client has gone
                    common::warn("client %lu: write after %lld bytes", client,
                                 static_cast<long long>(sent));
                ok = false;
                break;
            }
            sent += n;
        }
        if (!ok) continue;  // client_fd closes here

        if (close_mode) {
            // Both streams closed: what we wrote is still delivered, then FIN.  We can no
            // longer read, and whatever the client sends from now on is answered with RST.
            client_fd.reset();
            printf("client %lu: sent %lld bytes, close()\n", client, static_cast<long long>(sent));
            fflush(stdout);
            continue;
        }

        // 2. Half-close: FIN after the last byte of the file, the input stream stays open.
        if (shutdown(client_fd.get(), SHUT_WR) == -1) {
            common::warn("client %lu: shutdown", client);
            continue;
        }
        printf("client %lu: sent %lld bytes, shutdown(SHUT_WR)\n", client,
               static_cast<long long>(sent));
        fflush(stdout);

        // 3. The client's last message, until its end of stream.
        std::string message;
        size_t received = 0;
        for (;;) {
            ssize_t n = read(client_fd.get(), buf, sizeof buf);
            if (n == -1 && errno == EINTR) continue;
            if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                common::note("client %lu: no end of stream for %ld ms, closing", client,
                             timeout_ms);
                break;
            }
            if (n == -1) {
                common::warn("client %lu: read", client);
                break;
            }
            if (n == 0) {
                // %s: the book's client sends "Thank you" with its '\0'; print up to it.
                if (!message.empty()) printf("Message from client: %s\n", message.c_str());
                client_fd.reset();  // close(): the connection is finished both ways
                printf("client %lu: end of stream after %zu bytes, closed\n", client, received);
                fflush(stdout);
                break;
            }
            received += static_cast<size_t>(n);
            message.append(buf, std::min(static_cast<size_t>(n), kMaxShown - message.size()));
        }
    }
}
