// echo_EPETserv.cpp — edge-triggered epoll echo server (边缘触发, book ch. 17).
//
// usage: echo_EPETserv PORT [--buf N] [--quiet] [--one-read | --blocking]
//   --buf N       recv() at most N bytes at a time (1..65536; default 4, the book's BUF_SIZE)
//   --quiet       print nothing but the readiness line (for load: --buf 16384 --quiet)
//   --one-read    the mistake: one recv() per notification, as a level-triggered server does
//   --blocking    the other mistake: blocking sockets, so the recv that should say EAGAIN waits
//
// Edge-triggered: epoll reports a socket once when new bytes arrive, not again while unread
// bytes remain.  So each notification must read until the socket is empty: until recv() fails
// with EAGAIN, which needs non-blocking sockets (or returns less than asked for: see
// on_readable).  What to observe, for one 40-byte message:
//     return epoll_wait          <- the listening socket: a connection waits
//     connected client: 5
//     return epoll_wait          <- the 40 bytes: one wake-up, ten reads of 4 bytes
//     return epoll_wait          <- end of stream (the client closed)
//     closed client: 5
// echo_EPLTserv prints `return epoll_wait` ten times for the same message.  With --one-read
// only the first 4 bytes come back and 36 stay in the kernel until the client sends again;
// with --blocking all 40 come back, then the server sleeps in recv() and serves nobody else.
// recv()/send() rather than read()/write(): the socket calls, cheaper per message (see
// echo_epollserv); for a socket, recv(fd, buf, n, 0) is read(fd, buf, n).
// As a real server (--buf 16384 --quiet) it is built like echo_epollserv: one shared read
// buffer, a rest kept only when the client's socket is full (EPOLLOUT watched only then,
// nothing read meanwhile: backpressure), accept until EAGAIN, and at the descriptor limit
// (EMFILE) the listening socket is left alone until a client leaves (said once on stderr).
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/net.hpp"

namespace {

constexpr int kMaxEvents = 1024;
constexpr size_t kMaxBuf = 65536;
constexpr size_t kFairShare = 65536;  // bytes echoed per notification before others' turn
constexpr uint32_t kReading = EPOLLIN | EPOLLRDHUP;  // RDHUP: the peer's FIN has arrived
constexpr const char* kUsage = "PORT [--buf N] [--quiet] [--one-read | --blocking]";

char buf[kMaxBuf];  // shared by every client
size_t buf_size = 4;
bool quiet = false, one_read = false, blocking = false;
std::vector<std::string> pending;  // pending[fd]: echo bytes fd's socket would not take yet
int epfd = -1, listen_fd = -1;
size_t clients = 0;
bool accepting = true, limit_said = false;  // accepting: false while at the descriptor limit
time_t paused_at = 0;

void say(const char* what, int fd = -1) {
    if (quiet) return;
    if (fd < 0)
        printf("%s\n", what);
    else
        printf("%s: %d\n", what, fd);
    fflush(stdout);
}

time_t now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

// EPOLL_CTL_MOD also looks at the socket at once: if it is ready now, a notification is queued
// even though no new edge came.  That is how a rest of unread bytes is never forgotten.
void watch(int fd, uint32_t events) {
    epoll_event ev{.events = events | EPOLLET, .data = {.fd = fd}};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == -1) common::die("epoll_ctl MOD");
}

void resume_accepting() {
    epoll_event ev{.events = EPOLLIN, .data = {.fd = listen_fd}};  // level-triggered
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) == -1) common::die("epoll_ctl ADD");
    accepting = true;
}

// At the descriptor limit retrying now would spin: stop watching until a descriptor is free.
void pause_accepting() {
    if (!limit_said)
        common::note(
            "accept: %s with %zu clients: new connections wait in the listen backlog until "
            "a client leaves (said once)",
            strerror(errno), clients);
    limit_said = true;
    if (epoll_ctl(epfd, EPOLL_CTL_DEL, listen_fd, nullptr) == -1) common::die("epoll_ctl DEL");
    accepting = false;
    paused_at = now();
}

void close_client(int fd) {
    close(fd);  // also removes fd from the epoll instance
    std::string().swap(pending[fd]);
    --clients;
    say("closed client", fd);
    if (!accepting) resume_accepting();  // a descriptor is free: take the next one waiting
}

void accept_clients() {
    for (;;) {
        int fd =
            accept4(listen_fd, nullptr, nullptr, (blocking ? 0 : SOCK_NONBLOCK) | SOCK_CLOEXEC);
        if (fd == -1) {
            switch (common::accept_failure(errno)) {  // the one policy (DESIGN.md)
                case common::AcceptFailure::kRetry:   // EINTR, or that connection died: next
                    continue;
                case common::AcceptFailure::kWouldBlock:  // the backlog is empty
                    return;
                case common::AcceptFailure::kExhausted:
                    return pause_accepting();
                case common::AcceptFailure::kFatal:  // EBADF, EINVAL, ...: a bug
                    common::die("accept");
            }
        }
        epoll_event ev{.events = kReading | EPOLLET, .data = {.fd = fd}};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
            common::warn("epoll_ctl ADD");
            close(fd);
            continue;
        }
        if (static_cast<size_t>(fd) >= pending.size()) pending.resize(fd + 1);
        ++clients;
        say("connected client", fd);
    }
}

// Write the bytes straight back.  False if the client is gone or a rest now waits for it.
bool echo(int fd, const char* data, size_t len) {
    ssize_t n = send(fd, data, len, 0);
    if (n == -1 && errno != EAGAIN && errno != EINTR) {
        close_client(fd);  // EPIPE, ECONNRESET
        return false;
    }
    size_t written = n > 0 ? static_cast<size_t>(n) : 0;
    if (written == len) return true;
    pending[fd].assign(data + written, len - written);
    watch(fd, EPOLLOUT);  // read nothing more from this client until the rest is written
    return false;
}

// The edge came once: read until the socket is empty.  EAGAIN says so.  A recv() that returns
// fewer bytes than asked for says so too (epoll(7)), and saves a system call per message,
// unless the peer's FIN came in as well (EPOLLRDHUP): then only the next recv() returns the
// 0 that tells us, and no new edge would come for it.
void on_readable(int fd, uint32_t events) {
    bool fin_seen = events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    for (size_t echoed = 0;;) {
        ssize_t n = recv(fd, buf, buf_size, 0);
        if (n > 0) {
            if (!echo(fd, buf, static_cast<size_t>(n)) || one_read) return;
            if (static_cast<size_t>(n) < buf_size && !fin_seen) return;  // empty now
            echoed += static_cast<size_t>(n);
            if (echoed >= kFairShare) return watch(fd, kReading);  // requeued: others' turn
            continue;
        }
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // empty: wait again
        return close_client(fd);  // 0: the client closed; -1: ECONNRESET, ...
    }
}

// The socket has room again: write the rest until it is gone or EAGAIN.
void on_writable(int fd) {
    std::string& rest = pending[fd];
    while (!rest.empty()) {
        ssize_t n = send(fd, rest.data(), rest.size(), 0);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // next edge
        if (n == -1) return close_client(fd);
        rest.erase(0, static_cast<size_t>(n));
    }
    std::string().swap(rest);
    watch(fd, kReading);  // and bytes that arrived meanwhile are reported at once
}

}  // namespace

int main(int argc, char* argv[]) {
    if (argc < 2) common::die_usage(kUsage);
    for (int i = 2; i < argc; ++i) {
        if (strcmp(argv[i], "--buf") == 0 && i + 1 < argc)
            buf_size = static_cast<size_t>(common::number_arg("--buf", argv[++i], 1, kMaxBuf));
        else if (strcmp(argv[i], "--quiet") == 0)
            quiet = true;
        else if (strcmp(argv[i], "--one-read") == 0)
            one_read = true;
        else if (strcmp(argv[i], "--blocking") == 0)
            blocking = true;
        else
            common::die_usage(kUsage);
    }
    if (one_read && blocking) common::die_usage(kUsage);
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    common::Fd listener;
    for (const addrinfo& ai : common::listen_addresses(argv[1], SOCK_STREAM)) {
        listener.reset(socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK, ai.ai_protocol));
        if (!listener) continue;
        int on = 1, off = 0;
        setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (ai.ai_family == AF_INET6)
            setsockopt(listener.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        if (bind(listener.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        listener.reset();
    }
    if (!listener) common::die("bind to port %s", argv[1]);
    if (listen(listener.get(), SOMAXCONN) == -1) common::die("listen");
    listen_fd = listener.get();

    common::Fd epoll(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) common::die("epoll_create1");
    epfd = epoll.get();
    resume_accepting();
    common::print_ready("listening on", listen_fd);

    epoll_event events[kMaxEvents];
    for (;;) {
        int n = epoll_wait(epfd, events, kMaxEvents, accepting ? -1 : 1000);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("epoll_wait");
        say("return epoll_wait");
        if (!accepting && now() - paused_at >= 1) resume_accepting();
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == listen_fd)
                accept_clients();
            else if (pending[fd].empty())
                on_readable(fd, events[i].events);  // EPOLLIN, or HUP/ERR: recv() tells
            else
                on_writable(fd);
        }
    }
}
