// echo_EPLTserv — level-triggered epoll, made visible (条件触发, book ch. 17): while a
// socket holds unread bytes, every epoll_wait() reports it again, so one read() per report
// loses nothing; it only costs wake-ups.
//
// usage: echo_EPLTserv PORT
//
// What you will see, for one 40-byte message (4-byte reads, the book's BUF_SIZE):
// `return epoll_wait` once for the connection, ten times for the message, once for the close.
// echo_EPETserv (edge-triggered) wakes once for it.  The lesson, kept small: client sockets
// block, so a client that never reads stalls everyone; echo_epollserv is the same idea, made
// to hold 10,000 clients.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {

constexpr size_t kBufSize = 4;  // tiny on purpose: a 40-byte message takes ten reads
constexpr int kMaxEvents = 50;
bool accepting = true;

// Out of descriptors (EMFILE) the connection stays in the backlog and the listening socket
// stays readable: level-triggered epoll would report it again at once, for ever, a busy loop.
// So it leaves the interest list until a client leaves (or a second passes: ENFILE is the
// whole system's, and no client of ours may ever leave).
void watch_listener(int epfd, int listen_fd, bool on) {
    epoll_event ev{.events = EPOLLIN, .data = {.fd = listen_fd}};  // EPOLLIN alone: level
    if (epoll_ctl(epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listen_fd, &ev) == -1)
        common::die("epoll_ctl");
    accepting = on;
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("PORT");
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    common::Fd listener = common::listen_tcp(argv[1]);  // ch04's socket/bind/listen
    int listen_fd = listener.get();

    common::Fd epoll(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) common::die("epoll_create1");
    int epfd = epoll.get();
    watch_listener(epfd, listen_fd, true);
    common::print_ready("listening on", listen_fd);

    epoll_event events[kMaxEvents];
    for (;;) {
        int n = epoll_wait(epfd, events, kMaxEvents, accepting ? -1 : 1000);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("epoll_wait");
        if (n == 0) watch_listener(epfd, listen_fd, true);  // paused for a second: try again
        puts("return epoll_wait");
        fflush(stdout);
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == listen_fd) {
                int client = accept(listen_fd, nullptr, nullptr);
                if (client == -1) {
                    switch (common::accept_failure(errno)) {  // the one policy (DESIGN.md)
                        case common::AcceptFailure::kRetry:   // EINTR, or that connection died
                        case common::AcceptFailure::kWouldBlock:
                            continue;
                        case common::AcceptFailure::kExhausted:  // EMFILE: see watch_listener
                            common::warn("accept (new clients wait until one leaves)");
                            watch_listener(epfd, listen_fd, false);
                            continue;
                        case common::AcceptFailure::kFatal:  // EBADF, EINVAL, ...: a bug
                            common::die("accept");
                    }
                }
                epoll_event cev{.events = EPOLLIN, .data = {.fd = client}};
                if (epoll_ctl(epfd, EPOLL_CTL_ADD, client, &cev) == -1) {
                    common::warn("epoll_ctl");
                    close(client);
                    continue;
                }
                printf("connected client: %d\n", client);
                fflush(stdout);
                continue;
            }
            char buf[kBufSize];
            ssize_t len = read(fd, buf, sizeof buf);  // at most 4 bytes; the rest waits
            if (len == -1 && errno == EINTR) continue;
            if (len > 0 && common::write_all(fd, buf, static_cast<size_t>(len))) continue;
            close(fd);  // end of stream, a reset, or a failed write: epoll forgets fd too
            printf("closed client: %d\n", fd);
            fflush(stdout);
            if (!accepting) watch_listener(epfd, listen_fd, true);  // a descriptor is free
        }
    }
}
