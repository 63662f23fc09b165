// echo_EPETserv — edge-triggered epoll (边缘触发, book ch. 17): one report per arrival,
// so each report must be read until the socket is empty (EAGAIN), on non-blocking sockets.
//
// usage: echo_EPETserv PORT [--buf N] [--one-read | --blocking]
//   --buf N       read() at most N bytes at a time (1..65536; default 4, the book's BUF_SIZE)
//   --one-read    mistake 1: one read() per report; the rest waits until the client sends more
//   --blocking    mistake 2: blocking client sockets; the last read() waits, everyone else too
//
// What you will see, for one 40-byte message: `return epoll_wait` once for the connection,
// once for the message (eleven reads: ten of 4 bytes, then EAGAIN), once for the close.
// echo_EPLTserv wakes ten times for the same message.  echo_epollserv --edge is the same idea,
// made to hold 10,000 clients (backpressure, fairness, the descriptor limit).
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {

constexpr int kMaxEvents = 50;
constexpr const char* kUsage = "PORT [--buf N] [--one-read | --blocking]";
int epfd = -1, listen_fd = -1;
bool accepting = true;

// Out of descriptors (EMFILE) the connection stays in the backlog and the listening socket
// stays readable: it would be reported again at once, for ever.  So it leaves the interest
// list until a client leaves (or a second passes: ENFILE is the whole system's).
void watch_listener(bool on) {
    epoll_event ev{.events = EPOLLIN, .data = {.fd = listen_fd}};  // level-triggered, as the book
    if (epoll_ctl(epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listen_fd, &ev) == -1)
        common::die("epoll_ctl");
    accepting = on;
}

void close_client(int fd) {
    close(fd);  // also takes fd out of the epoll instance
    printf("closed client: %d\n", fd);
    fflush(stdout);
    if (!accepting) watch_listener(true);  // a descriptor is free
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc < 2) common::die_usage(kUsage);
    size_t buf_size = 4;
    bool one_read = false, blocking = false;
    for (int i = 2; i < argc; ++i) {
        if (strcmp(argv[i], "--buf") == 0 && i + 1 < argc)
            buf_size = static_cast<size_t>(common::number_arg("--buf", argv[++i], 1, 65536));
        else if (strcmp(argv[i], "--one-read") == 0)
            one_read = true;
        else if (strcmp(argv[i], "--blocking") == 0)
            blocking = true;
        else
            common::die_usage(kUsage);
    }
    if (one_read && blocking) common::die_usage(kUsage);
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    // Non-blocking, so that the accept loop below ends with EAGAIN instead of waiting.
    common::Fd listener = common::listen_tcp(argv[1], SOCK_NONBLOCK);
    listen_fd = listener.get();
    common::Fd epoll(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) common::die("epoll_create1");
    epfd = epoll.get();
    watch_listener(true);
    common::print_ready("listening on", listen_fd);

    std::vector<char> buf(buf_size);
    epoll_event events[kMaxEvents];
    for (;;) {
        int n = epoll_wait(epfd, events, kMaxEvents, accepting ? -1 : 1000);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("epoll_wait");
        if (n == 0) watch_listener(true);  // paused for a second: try again
        puts("return epoll_wait");
        fflush(stdout);
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == listen_fd) {
                for (;;) {  // one report may stand for several waiting connections
                    // SOCK_NONBLOCK: the client's socket fails with EAGAIN when it is empty.
                    // --blocking (mistake 2) leaves it out: then that read() waits instead.
                    int client = accept4(listen_fd, nullptr, nullptr, blocking ? 0 : SOCK_NONBLOCK);
                    if (client == -1) {
                        common::AcceptFailure f = common::accept_failure(errno);
                        if (f == common::AcceptFailure::kRetry) continue;    // EINTR, or it died
                        if (f == common::AcceptFailure::kWouldBlock) break;  // nobody waits
                        if (f == common::AcceptFailure::kFatal) common::die("accept");
                        common::warn("accept (new clients wait until one leaves)");
                        watch_listener(false);  // EMFILE, ...: see watch_listener
                        break;
                    }
                    // EPOLLET: report this socket when bytes arrive, not while unread ones remain.
                    epoll_event ev{.events = EPOLLIN | EPOLLET, .data = {.fd = client}};
                    if (epoll_ctl(epfd, EPOLL_CTL_ADD, client, &ev) == -1) {
                        common::warn("epoll_ctl");
                        close(client);
                        continue;
                    }
                    printf("connected client: %d\n", client);
                    fflush(stdout);
                }
                continue;
            }
            // The edge came once: read until the socket is empty.  Only a read() that fails with
            // EAGAIN says "empty", and only a non-blocking socket fails instead of waiting.
            for (;;) {
                ssize_t len = read(fd, buf.data(), buf.size());
                if (len > 0) {
                    // A client that does not read fills its socket: write_all() fails (EAGAIN)
                    // and the lesson drops it.  echo_epollserv --edge keeps the rest and waits.
                    if (!common::write_all(fd, buf.data(), static_cast<size_t>(len))) {
                        close_client(fd);
                        break;
                    }
                    if (one_read) break;  // mistake 1: the rest gets no new edge
                    continue;
                }
                if (len == -1 && errno == EINTR) continue;
                if (len == -1 && errno == EAGAIN) break;  // empty: wait for the next edge
                close_client(fd);  // 0: the client closed; -1: ECONNRESET, ...
                break;
            }
        }
    }
}
