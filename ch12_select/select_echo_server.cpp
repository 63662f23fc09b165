// select_echo_server — echo_selectserv.cpp's select() loop, made to hold load: a read set
// AND a write set, non-blocking sockets, a bounded output buffer per client (backpressure),
// FD_SETSIZE refusal, no spinning when out of descriptors.  bench/ measures this one.
//
// usage: select_echo_server PORT
//
// What to observe (stdout, one flushed line per event, N counts clients from 1):
//     listening on [::]:9190
//     client 1 connected from [::ffff:127.0.0.1]:40158
//     client 1 disconnected
// A client that never reads waits alone; the others are served.  Refusals, limits and resets
// cost one line each on stderr, e.g. "select_echo_server: client 3: recv: Connection reset".
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {

// Per client: echo the kernel has not taken yet.  A client that sends but never reads fills
// its own 64 KiB and is then not read any more (backpressure, watch()): it waits, the others
// don't, and the server's memory stays bounded.
constexpr size_t kMaxPending = 64 * 1024;

struct Client {
    common::Fd fd;             // invalid: no client on this descriptor
    unsigned long id = 0;      // "client N" in the log
    std::string pending;       // read but not yet written back: at most kMaxPending bytes
    bool peer_closed = false;  // recv() returned 0: finish the echo, then close
};

// The server's state: the sets it keeps between calls, and the clients by descriptor.
fd_set read_set, write_set;
int listen_fd = -1, max_fd = -1;
bool accepting = true;  // false while out of descriptors: listen_fd left out of read_set
std::vector<Client> clients(FD_SETSIZE);
unsigned long open_clients = 0;

// Put fd in the sets that match its state: read while there is room for more echo (and the
// client may still send), write while echo is waiting.
void watch(int fd) {
    const Client& c = clients[fd];
    if (!c.peer_closed && c.pending.size() < kMaxPending)
        FD_SET(fd, &read_set);
    else
        FD_CLR(fd, &read_set);
    if (!c.pending.empty())
        FD_SET(fd, &write_set);
    else
        FD_CLR(fd, &write_set);
}

void drop(int fd) {
    FD_CLR(fd, &read_set);
    FD_CLR(fd, &write_set);
    printf("client %lu disconnected\n", clients[fd].id);
    fflush(stdout);
    clients[fd] = Client{};  // closes the descriptor
    --open_clients;
    while (max_fd > listen_fd && !clients[max_fd].fd)
        --max_fd;
    if (!accepting) {  // a descriptor is free again: the backlog can move
        FD_SET(listen_fd, &read_set);
        accepting = true;
    }
}

// Write as much of the pending echo as the socket takes now.  The socket is non-blocking:
// a client that does not read makes send() fail with EAGAIN instead of stopping the loop.
void flush(int fd) {
    Client& c = clients[fd];
    while (!c.pending.empty()) {
        ssize_t n = send(fd, c.pending.data(), c.pending.size(), 0);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n == -1) {  // EPIPE, ECONNRESET: the client is gone
            common::warn("client %lu: send", c.id);
            return drop(fd);
        }
        c.pending.erase(0, static_cast<size_t>(n));
    }
    if (c.peer_closed && c.pending.empty()) return drop(fd);
    watch(fd);
}

// recv()/send() are read()/write() for sockets, minus a detour through the file layer (the
// ch17 servers use them too, so bench/'s select-vs-epoll comparison is about those calls alone).
void echo(int fd) {
    Client& c = clients[fd];
    char buf[kMaxPending];
    size_t room = kMaxPending - c.pending.size();  // never read more than the buffer can hold
    if (room == 0) return;                         // (recv() of 0 bytes would look like EOF)
    ssize_t n = recv(fd, buf, room, 0);
    if (n == -1 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n == -1) {  // ECONNRESET
        common::warn("client %lu: recv", c.id);
        return drop(fd);
    }
    if (n == 0) c.peer_closed = true;
    c.pending.append(buf, static_cast<size_t>(n));
    flush(fd);
}

// Accept every connection that is waiting (the listening socket is non-blocking).
void accept_clients() {
    static unsigned long next_id = 1;
    for (;;) {
        sockaddr_storage addr{};
        socklen_t addr_len = sizeof addr;
        auto* sa = reinterpret_cast<sockaddr*>(&addr);
        // SOCK_NONBLOCK: the same as fcntl(fd, F_SETFL, O_NONBLOCK) right after accept().
        int fd = accept4(listen_fd, sa, &addr_len, SOCK_NONBLOCK);
        if (fd == -1) {
            switch (common::accept_failure(errno)) {  // the one policy (DESIGN.md)
                case common::AcceptFailure::kRetry:   // EINTR, or that connection died: next
                    continue;
                case common::AcceptFailure::kWouldBlock:  // the backlog is empty
                    return;
                case common::AcceptFailure::kExhausted:
                    // EMFILE: the connection stays in the backlog, listen_fd stays readable and
                    // select() would return at once, for ever: stop watching it until a client
                    // leaves (drop()).
                    common::warn("accept (new clients wait until one leaves)");
                    FD_CLR(listen_fd, &read_set);
                    accepting = false;
                    return;
                case common::AcceptFailure::kFatal:  // EBADF, EINVAL, ...: a bug
                    common::die("accept");
            }
        }
        if (fd >= FD_SETSIZE) {  // FD_SET(fd) would write past the end of the fd_set
            common::note("refused %s: descriptor %d >= FD_SETSIZE (%d)",
                         common::to_string(sa).c_str(), fd, FD_SETSIZE);
            close(fd);
            continue;
        }
        clients[fd] = Client{.fd = common::Fd(fd), .id = next_id++};
        ++open_clients;
        max_fd = std::max(max_fd, fd);
        watch(fd);
        printf("client %lu connected from %s\n", clients[fd].id, common::to_string(sa).c_str());
        fflush(stdout);
    }
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("PORT");
    // A client that disconnects while we write must not kill the server (ch04).
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    // Non-blocking listening socket: accept_clients() takes every waiting connection until
    // EAGAIN says the backlog is empty; a blocking accept() would then stop the whole loop
    // until the next client comes.  (A connection reset before accept() is no reason on
    // Linux: accept() returns it, and the first recv() fails with ECONNRESET, or the echo's
    // send() if the client had sent bytes.  BSD drops it, so there select() can report a
    // connection that accept() no longer finds: UNP §16.6.)
    common::Fd server = common::listen_tcp(argv[1], SOCK_NONBLOCK);
    listen_fd = max_fd = server.get();
    if (listen_fd >= FD_SETSIZE)
        common::fatal("listening descriptor %d >= FD_SETSIZE (%d)", listen_fd, FD_SETSIZE);
    common::print_ready("listening on", listen_fd);

    FD_ZERO(&read_set);
    FD_ZERO(&write_set);
    FD_SET(listen_fd, &read_set);
    for (;;) {
        // select() overwrites its sets with the ready descriptors: give it copies.
        fd_set reads = read_set, writes = write_set;
        // Out of descriptors with no client of ours to free one (ENFILE: the whole system is
        // short): try accept() again in a second.  Otherwise wait as long as it takes.
        timeval retry{.tv_sec = 1, .tv_usec = 0};
        bool stuck = !accepting && open_clients == 0;
        int ready = select(max_fd + 1, &reads, &writes, nullptr, stuck ? &retry : nullptr);
        if (ready == -1) {
            if (errno == EINTR) continue;
            common::die("select");
        }
        if (ready == 0) {
            FD_SET(listen_fd, &read_set);
            accepting = true;
            continue;
        }
        // The price of select(): look at every descriptor up to max_fd to find the ready ones.
        for (int fd = 0, last = max_fd; fd <= last; ++fd) {
            if (fd == listen_fd) {
                if (FD_ISSET(fd, &reads)) accept_clients();
                continue;
            }
            if (FD_ISSET(fd, &writes)) flush(fd);
            // flush() may have closed the client (write error, or its echo is done after EOF).
            if (FD_ISSET(fd, &reads) && clients[fd].fd) echo(fd);
        }
    }
}
