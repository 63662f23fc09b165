// echo_epollserv — the epoll echo server made to hold 10,000 clients (book ch. 17), in both
// triggering modes: level-triggered (条件触发, the default) and edge-triggered (边缘触发, --edge).
//
// usage: echo_epollserv PORT [--edge] [--verbose]
//   --edge     edge-triggered: read each report until the socket is empty (echo_EPETserv's
//              lesson), at most 64 KiB per report so that no client starves the others
//   --verbose  print the book's lines "connected client: FD" and "closed client: FD"
//
// What you will see: `listening on [::]:9190`, then nothing (unless --verbose) while it echoes.
// Out of descriptors it says so once on stderr and waits, without a busy loop:
//     echo_epollserv: accept: Too many open files with 59 clients: new connections wait in
//     the listen backlog until a client leaves (said once)
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

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {

constexpr int kMaxEvents = 1024;      // ready descriptors taken per epoll_wait()
constexpr size_t kBufSize = 16384;    // one read
constexpr size_t kFairShare = 65536;  // --edge: bytes echoed per report before others' turn
constexpr const char* kUsage = "PORT [--edge] [--verbose]";

// Memory per client is tiny: every client is read into ONE shared buffer and the bytes are
// written straight back.  A client's whole state is its (usually empty) slot in `pending`.
char buf[kBufSize];
std::vector<std::string> pending;  // pending[fd]: echo bytes fd's socket would not take yet
int epfd = -1, listen_fd = -1;
bool edge = false, verbose = false;
uint32_t reading = EPOLLIN;  // what a client is watched for while nothing is pending
size_t clients = 0;
bool accepting = true, limit_said = false;  // accepting: false while at the descriptor limit
time_t paused_at = 0;

time_t now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

void say(const char* what, int fd) {
    if (!verbose) return;
    printf("%s: %d\n", what, fd);
    fflush(stdout);
}

// Change what epoll reports for fd: `reading` (echo) or EPOLLOUT (a rest waits to be written).
// Under --edge, EPOLL_CTL_MOD also looks at the socket at once: if it is ready now, a report is
// queued although no new edge came.  That is how bytes left unread are never forgotten.
void watch(int fd, uint32_t events) {
    epoll_event ev{.events = events | (edge ? EPOLLET : 0u), .data = {.fd = fd}};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == -1) common::die("epoll_ctl MOD");
}

void resume_accepting() {
    epoll_event ev{.events = EPOLLIN, .data = {.fd = listen_fd}};  // level-triggered always
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) == -1) common::die("epoll_ctl ADD");
    accepting = true;
}

// At the descriptor limit (EMFILE, ...) the connection stays in the backlog and the listening
// socket stays readable: retrying now would spin.  Stop watching it until a descriptor is free
// (close_client() calls resume_accepting()).
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

// Accept every connection that is waiting (the listening socket is non-blocking: EAGAIN ends
// the loop).
void accept_clients() {
    for (;;) {
        int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
        epoll_event ev{.events = reading | (edge ? EPOLLET : 0u), .data = {.fd = fd}};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
            common::warn("epoll_ctl ADD");  // ENOMEM, ENOSPC (max_user_watches): drop it
            close(fd);
            continue;
        }
        if (static_cast<size_t>(fd) >= pending.size()) pending.resize(fd + 1);
        ++clients;
        say("connected client", fd);
    }
}

// Write what was just read straight back.  Only when the client's socket will not take it all
// (the client does not read) is the rest kept, at most one read, and the server watches
// EPOLLOUT instead and reads nothing more from this client until the rest is gone: the unread
// bytes wait in the kernel and TCP slows the sender (backpressure).  False if the client is
// gone or a rest now waits.
bool echo(int fd, const char* data, size_t len) {
    ssize_t n = send(fd, data, len, 0);
    if (n == -1 && errno != EAGAIN && errno != EINTR) {
        close_client(fd);  // EPIPE, ECONNRESET
        return false;
    }
    size_t written = n > 0 ? static_cast<size_t>(n) : 0;
    if (written == len) return true;
    pending[fd].assign(data + written, len - written);
    watch(fd, EPOLLOUT);
    return false;
}

void on_readable(int fd, uint32_t events) {
    // Edge-triggered: the peer's FIN may have come in the same segment as the last bytes
    // (EPOLLRDHUP; HUP/ERR: a reset).  Then only the next recv() returns the 0 that says so.
    const bool fin_seen = events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    for (size_t echoed = 0;;) {
        // recv()/send(), not read()/write(): the same bytes, but straight to the socket layer,
        // not through the VFS first; bench/ measured 2-4 % less CPU per message for that alone.
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            // Level-triggered: one recv() per report; what is left is reported again.
            if (!echo(fd, buf, static_cast<size_t>(n)) || !edge) return;
            // Edge-triggered: read until empty (echo_EPETserv), with two refinements.
            // (1) A short read: recv() returned fewer bytes than asked for, so the socket is
            // empty now (epoll(7), stream sockets).  It saves the recv() that would fail with
            // EAGAIN, a system call per message — unless the FIN came too (see fin_seen).
            if (static_cast<size_t>(n) < sizeof buf && !fin_seen) return;
            // (2) Fairness: a client that sends as fast as we read would keep us here for ever
            // and every other client would wait.  After kFairShare bytes, re-arm it: MOD
            // queues it behind the others that are ready (see watch()).
            echoed += static_cast<size_t>(n);
            if (echoed >= kFairShare) return watch(fd, reading);
            continue;
        }
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // empty: wait
        return close_client(fd);  // 0: the client closed; -1: ECONNRESET, ...
    }
}

// The socket has room again: write the rest until it is gone or the socket is full (EAGAIN:
// the next report comes when there is room, in either mode).
void on_writable(int fd) {
    std::string& rest = pending[fd];
    while (!rest.empty()) {
        ssize_t n = send(fd, rest.data(), rest.size(), 0);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n == -1) return close_client(fd);
        rest.erase(0, static_cast<size_t>(n));
    }
    std::string().swap(rest);  // give the memory back
    watch(fd, reading);        // read again; under --edge bytes that came meanwhile are reported
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc < 2) common::die_usage(kUsage);
    for (int i = 2; i < argc; ++i) {
        if (strcmp(argv[i], "--edge") == 0)
            edge = true;
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = true;
        else
            common::die_usage(kUsage);
    }
    // Under --edge, EPOLLRDHUP reports the peer's FIN as a flag of its own (see on_readable).
    if (edge) reading |= EPOLLRDHUP;
    // A client that vanishes while we write must not kill the server: send() gets EPIPE.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    // Non-blocking, so that "accept until EAGAIN" ends instead of blocking.
    common::Fd listener = common::listen_tcp(argv[1], SOCK_NONBLOCK);
    listen_fd = listener.get();
    common::Fd epoll(epoll_create1(EPOLL_CLOEXEC));  // the size argument of epoll_create is
    if (!epoll) common::die("epoll_create1");        // ignored since Linux 2.6.8
    epfd = epoll.get();
    resume_accepting();  // watch the listening socket (EPOLLIN: a connection is waiting)
    common::print_ready("listening on", listen_fd);

    epoll_event events[kMaxEvents];
    for (;;) {
        // While paused at the descriptor limit, look again after a second in case the limit
        // was not ours (ENFILE: the whole system) and no client of ours will leave.
        int n = epoll_wait(epfd, events, kMaxEvents, accepting ? -1 : 1000);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("epoll_wait");
        if (!accepting && now() - paused_at >= 1) resume_accepting();
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == listen_fd)
                accept_clients();
            else if (pending[fd].empty())
                on_readable(fd, events[i].events);  // EPOLLIN, or HUP/ERR: recv() tells which
            else
                on_writable(fd);
        }
    }
}
