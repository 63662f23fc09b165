// bounded_file_server — file_server.cpp's half-close, made to hold load: an iterative
// server that no client can hold for long, and that waits out the descriptor limit.
//
// usage: bounded_file_server PORT FILE [--close] [--timeout-ms N] [--deadline-ms N]
//   --close          close() instead of shutdown(SHUT_WR): the client's message is lost
//   --timeout-ms N   drop a client that takes or sends nothing for N ms (default 5000; 0: never)
//   --deadline-ms N  drop a client whose exchange is not over N ms after accept() (default
//                    60000; 0: no deadline)
//
// What you will see: file_server's lines, plus one stderr line per client it drops, e.g.
//     bounded_file_server: client 2: not reading for 5000 ms, closing
#include <endian.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {
constexpr const char* kUsage = "PORT FILE [--close] [--timeout-ms N] [--deadline-ms N]";
constexpr size_t kMaxShown = 1024;  // of the client's message
constexpr int kMaxPauseMs = 1000;   // the longest wait between two accept() attempts

using Clock = std::chrono::steady_clock;

// How long one client may take: STALL_MS without progress (0: no limit), and the whole
// exchange until DEADLINE (Clock::time_point::max(): none).
struct Limits {
    long stall_ms;
    Clock::time_point deadline;
};
// What became of a wait or a send: done, no progress for STALL_MS, DEADLINE passed, or the
// client has gone (EPIPE, ECONNRESET: errno tells).
enum class Outcome { kDone, kStalled, kLate, kGone };

// Waits until FD is ready for EVENTS (POLLIN, POLLOUT), within LIMITS.  The socket stays in
// blocking mode; this poll() is what bounds the time, and the call after it does not block.
Outcome wait_for(int fd, short events, const Limits& limits) {
    for (;;) {
        long ms = limits.stall_ms > 0 ? limits.stall_ms : -1;  // -1: poll() waits forever
        if (limits.deadline != Clock::time_point::max()) {
            auto left =
                std::chrono::ceil<std::chrono::milliseconds>(limits.deadline - Clock::now());
            if (left.count() <= 0) return Outcome::kLate;
            if (ms == -1 || left.count() < ms) ms = left.count();
        }
        pollfd p{fd, events, 0};
        int n = poll(&p, 1, static_cast<int>(ms));
        if (n == -1 && errno != EINTR) common::die("poll");
        if (n > 0) return Outcome::kDone;  // ready, or an error that the next call reports
        if (n == 0 && Clock::now() < limits.deadline && ms == limits.stall_ms)
            return Outcome::kStalled;
        // EINTR, or the deadline's poll(): check the time again.
    }
}

// Sends LEN bytes.  send() with MSG_DONTWAIT takes what fits and never blocks; when nothing
// fits, wait_for() waits, so that neither a stalled nor a trickling reader holds us past LIMITS.
Outcome send_all_within(int fd, const char* data, size_t len, const Limits& limits) {
    while (len > 0) {
        if (Clock::now() >= limits.deadline) return Outcome::kLate;  // a reader that never pauses
        ssize_t n = send(fd, data, len, MSG_DONTWAIT);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (Outcome w = wait_for(fd, POLLOUT, limits); w != Outcome::kDone) return w;
            continue;
        }
        if (n == -1) return Outcome::kGone;
        data += n;
        len -= static_cast<size_t>(n);
    }
    return Outcome::kDone;
}
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc < 3) common::die_usage(kUsage);
    bool close_mode = false;
    long timeout_ms = 5000, deadline_ms = 60000;
    for (int i = 3; i < argc; ++i) {
        if (strcmp(argv[i], "--close") == 0)
            close_mode = true;
        else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
            timeout_ms = common::number_arg("--timeout-ms", argv[++i], 0, 600000);
        else if (strcmp(argv[i], "--deadline-ms") == 0 && i + 1 < argc)
            deadline_ms = common::number_arg("--deadline-ms", argv[++i], 0, 3600000);
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

    // A client that disconnects mid-file must not kill us: send() fails with EPIPE instead.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    // The setup of ch04's echo_server.cpp: socket(), SO_REUSEADDR, bind(), listen().
    common::Fd listen_fd = common::listen_tcp(argv[1]);
    common::print_ready("listening on", listen_fd.get());

    static char buf[16384];
    int pause_ms = 0, retries = 0;  // while accept() lacks descriptors or memory
    for (unsigned long client = 0;;) {
        sockaddr_storage addr{};
        socklen_t addr_len = sizeof addr;
        common::Fd client_fd(
            accept(listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len));
        if (!client_fd) {
            switch (common::accept_failure(errno)) {
                case common::AcceptFailure::kRetry:       // EINTR, or a client gone before accept()
                case common::AcceptFailure::kWouldBlock:  // (not on a blocking socket)
                    continue;
                case common::AcceptFailure::kExhausted:
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM: the client stays in the backlog.  An
                    // iterative server has no other client whose leaving would free what is
                    // missing, so it waits and tries again: 10 ms, doubling up to 1 s.  Not
                    // poll() on listen_fd: the waiting client keeps it readable, and poll()
                    // would return at once, a busy loop.  Said once, not at every attempt.
                    if (pause_ms == 0)
                        common::note("accept: %s: retrying, with back-off up to %d ms",
                                     strerror(errno), kMaxPauseMs);
                    pause_ms = std::min(pause_ms == 0 ? 10 : 2 * pause_ms, kMaxPauseMs);
                    ++retries;
                    poll(nullptr, 0, pause_ms);
                    continue;
                case common::AcceptFailure::kFatal:  // EBADF, EINVAL, ...: a bug of ours
                    common::die("accept");
            }
        }
        if (pause_ms > 0) {
            common::note("accepting again after %d retries", retries);
            pause_ms = retries = 0;
        }
        ++client;
        printf("client %lu connected from %s\n", client,
               common::to_string(reinterpret_cast<sockaddr*>(&addr)).c_str());
        fflush(stdout);
        // Iterative: while one client is served, everyone else waits.  So each client gets
        // deadline_ms for the whole exchange, and timeout_ms for each wait within it.
        const Limits limits{timeout_ms, deadline_ms > 0
                                            ? Clock::now() + std::chrono::milliseconds(deadline_ms)
                                            : Clock::time_point::max()};

        // 1. The size of the file, then the file, from its start for every client.  The size
        // goes out with the first bytes, in one send(): 8 bytes, big-endian (network order).
        // End of stream alone proves nothing: a crashed server's kernel sends FIN too.
        if (fstat(file_fd.get(), &st) == -1) common::die("fstat %s", argv[2]);
        const uint64_t size = static_cast<uint64_t>(st.st_size);  // as it is now
        const uint64_t size_be = htobe64(size);
        memcpy(buf, &size_be, sizeof size_be);
        size_t fill = sizeof size_be;  // bytes in buf ahead of the file's
        uint64_t sent = 0;             // bytes of the file
        bool ok = true;
        for (;;) {
            size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof buf - fill, size - sent));
            ssize_t n = want == 0 ? 0 : pread(file_fd.get(), buf + fill, want, sent);
            if (n == -1 && errno == EINTR) continue;
            if (n == -1) common::die("read %s", argv[2]);
            if (n == 0 && sent < size) {  // FILE shrank since fstat(): the client must know
                common::note("client %lu: %s ended at %llu of %llu bytes, closing", client, argv[2],
                             static_cast<unsigned long long>(sent),
                             static_cast<unsigned long long>(size));
                ok = false;
                break;
            }
            Outcome w =
                send_all_within(client_fd.get(), buf, fill + static_cast<size_t>(n), limits);
            if (w == Outcome::kStalled)
                common::note("client %lu: not reading for %ld ms, closing", client, timeout_ms);
            else if (w == Outcome::kLate)
                common::note(
                    "client %lu: deadline of %ld ms passed after %llu of %llu bytes, "
                    "closing",
                    client, deadline_ms, static_cast<unsigned long long>(sent),
                    static_cast<unsigned long long>(size));
            else if (w == Outcome::kGone)  // EPIPE, ECONNRESET
                common::warn("client %lu: send after %llu bytes", client,
                             static_cast<unsigned long long>(sent));
            if (w != Outcome::kDone) {
                ok = false;
                break;
            }
            sent += static_cast<uint64_t>(n);
            fill = 0;
            if (sent == size) break;
        }
        if (!ok) continue;  // client_fd closes here

        if (close_mode) {
            // Both streams closed: what we wrote is still delivered, then FIN.  We can no
            // longer read, and whatever the client sends from now on is answered with RST.
            client_fd.reset();
            printf("client %lu: sent %llu bytes, close()\n", client,
                   static_cast<unsigned long long>(sent));
            fflush(stdout);
            continue;
        }

        // 2. Half-close: FIN after the last byte of the file, the input stream stays open.
        if (shutdown(client_fd.get(), SHUT_WR) == -1) {
            common::warn("client %lu: shutdown", client);
            continue;
        }
        printf("client %lu: sent %llu bytes, shutdown(SHUT_WR)\n", client,
               static_cast<unsigned long long>(sent));
        fflush(stdout);

        // 3. The client's last message, until its end of stream.
        std::string message;
        size_t received = 0;
        for (;;) {
            Outcome w = wait_for(client_fd.get(), POLLIN, limits);
            if (w == Outcome::kStalled) {
                common::note("client %lu: no end of stream for %ld ms, closing", client,
                             timeout_ms);
                break;
            }
            if (w == Outcome::kLate) {
                common::note(
                    "client %lu: deadline of %ld ms passed with no end of stream after "
                    "%zu bytes, closing",
                    client, deadline_ms, received);
                break;
            }
            ssize_t n = read(client_fd.get(), buf, sizeof buf);
            if (n == -1 && errno == EINTR) continue;
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
