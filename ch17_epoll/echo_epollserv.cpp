// echo_epollserv.cpp — level-triggered epoll echo server (条件触发, book ch. 17): one process,
// one epoll instance, thousands of clients at once.
//
// usage: echo_epollserv PORT [--verbose]
//   --verbose  print the book's lines "connected client: FD" and "closed client: FD"
//
// epoll_wait() returns only the descriptors that are ready, so one wake-up costs the same with
// 10 clients or 10,000 (select() scans every descriptor, every time: ch12).  Level-triggered:
// while a socket still holds unread bytes, every epoll_wait() reports it again, so one recv()
// per wake-up is enough and nothing is ever forgotten.
// recv()/send(), not read()/write(): the same bytes, but they go straight to the socket layer,
// where read()/write() first pass through the VFS, the file layer for every kind of descriptor.
// bench/ measured 2-4% less CPU per message for that alone (bench/README.md).
// Memory per client is tiny: all clients read into ONE shared buffer and the bytes are written
// straight back.  Only when a client's socket will not take the whole echo (it does not read)
// is the rest kept for it (at most one read, kBufSize bytes), the server watches EPOLLOUT for
// it instead of EPOLLIN, and reads nothing more from it until that rest is gone
// (backpressure).  The other clients go on as before.
// At the descriptor limit (accept: EMFILE) the server stops watching the listening socket,
// says so once on stderr, and takes the waiting connections from the backlog as soon as a
// client leaves — no busy loop:
//     echo_epollserv: accept: Too many open files with 59 clients: new connections wait in
//     the listen backlog until a client leaves (said once)
// What to observe: `listening on [::]:9190`, then nothing (unless --verbose) while it echoes.
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

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/net.hpp"

namespace {

constexpr int kMaxEvents = 1024;  // ready descriptors taken per epoll_wait()
constexpr size_t kBufSize = 16384;
constexpr const char* kUsage = "PORT [--verbose]";

char buf[kBufSize];                // shared by every client
std::vector<std::string> pending;  // pending[fd]: echo bytes fd's socket would not take yet
int epfd = -1, listen_fd = -1;
bool verbose = false;
size_t clients = 0;
bool accepting = true;  // false while at the descriptor limit
bool limit_said = false;
time_t paused_at = 0;

time_t now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

// Change what epoll reports for fd: EPOLLIN (echo) or EPOLLOUT (a rest waits to be written).
void watch(int fd, uint32_t events) {
    epoll_event ev{.events = events, .data = {.fd = fd}};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == -1) common::die("epoll_ctl MOD");
}

void resume_accepting() {
    epoll_event ev{.events = EPOLLIN, .data = {.fd = listen_fd}};
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
    if (verbose) {
        printf("closed client: %d\n", fd);
        fflush(stdout);
    }
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
        epoll_event ev{.events = EPOLLIN, .data = {.fd = fd}};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
            common::warn("epoll_ctl ADD");  // ENOMEM, ENOSPC (max_user_watches): drop it
            close(fd);
            continue;
        }
        if (static_cast<size_t>(fd) >= pending.size()) pending.resize(fd + 1);
        ++clients;
        if (verbose) {
            printf("connected client: %d\n", fd);
            fflush(stdout);
        }
    }
}

// Write what was just read straight back; keep only what the socket would not take.
void echo(int fd, const char* data, size_t len) {
    ssize_t n = send(fd, data, len, 0);
    if (n == -1 && errno != EAGAIN && errno != EINTR) return close_client(fd);  // EPIPE, reset
    size_t written = n > 0 ? static_cast<size_t>(n) : 0;
    if (written == len) return;
    pending[fd].assign(data + written, len - written);
    watch(fd, EPOLLOUT);  // stop reading this client until the rest is written
}

void on_readable(int fd) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);  // once: level-triggered reports the rest again
    if (n > 0) return echo(fd, buf, static_cast<size_t>(n));
    if (n == -1 && (errno == EAGAIN || errno == EINTR)) return;
    close_client(fd);  // 0: the client closed; -1: ECONNRESET, ...
}

void on_writable(int fd) {
    std::string& rest = pending[fd];
    ssize_t n = send(fd, rest.data(), rest.size(), 0);
    if (n == -1 && (errno == EAGAIN || errno == EINTR)) return;
    if (n == -1) return close_client(fd);
    rest.erase(0, static_cast<size_t>(n));
    if (!rest.empty()) return;
    std::string().swap(rest);  // give the memory back
    watch(fd, EPOLLIN);        // read from this client again
}

}  // namespace

int main(int argc, char* argv[]) {
    if (argc < 2 || argc > 3) common::die_usage(kUsage);
    if (argc == 3) {
        if (strcmp(argv[2], "--verbose") != 0) common::die_usage(kUsage);
        verbose = true;
    }
    // A client that vanishes while we write must not kill the server: write() gets EPIPE.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    common::Fd listener;
    for (const addrinfo& ai : common::listen_addresses(argv[1], SOCK_STREAM)) {
        // Non-blocking, so that "accept until EAGAIN" ends instead of blocking.
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
                on_readable(fd);  // EPOLLIN, or EPOLLHUP/EPOLLERR: recv() tells which
            else
                on_writable(fd);
        }
    }
}
