// echo_thrserv.cpp — thread-per-connection echo server (book ch. 18): every accepted client
// gets its own thread, which echoes until the client closes; main() only accepts.
// Compare ch10's echo_mpserv (a process per client) and ch17's epoll servers (one thread).
//
// usage: echo_thrserv PORT
//
// What to observe (stdout, one flushed line per event):
//     listening on [::]:9190
//     client 1 connected from [::ffff:127.0.0.1]:40158
//     client 2 connected from [::ffff:127.0.0.1]:40170
//     client 1 disconnected
// Clients are served at the same time; `ps -L -p $(pidof echo_thrserv)` (or
// /proc/PID/task) shows one thread per connected client plus main.  Each client thread is
// pthread_detach()ed: nobody joins it, and the system reclaims it as soon as it returns.
// Threads share the process's descriptors: the client thread, not main, closes its socket.
// A client that resets costs one stderr line, e.g.
//     echo_thrserv: client 3: read: Connection reset by peer
// SIGPIPE is ignored: a write to a vanished client fails with EPIPE instead of killing the
// process (with threads, a signal would kill every client's connection, not just one).
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <utility>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {

constexpr size_t kBufSize = 4096;

struct Client {
    common::Fd fd;
    unsigned long number;
};

// The thread's main function: echo one client to the end, then close its socket.
void* handle_client(void* arg) {
    Client* client = static_cast<Client*>(arg);  // ours now: main() handed it over
    char buf[kBufSize];
    for (;;) {
        ssize_t n = read(client->fd.get(), buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) {
            common::warn("client %lu: read", client->number);
            break;
        }
        if (n == 0) break;  // end of stream: the client closed its side
        if (!common::write_all(client->fd.get(), buf, static_cast<size_t>(n))) {
            common::warn("client %lu: write", client->number);
            break;
        }
    }
    printf("client %lu disconnected\n", client->number);
    fflush(stdout);
    delete client;  // closes the socket
    return nullptr;
}

}  // namespace

int main(int argc, char* argv[]) {
    if (argc != 2) common::die_usage("PORT");
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

    for (unsigned long number = 0;;) {
        sockaddr_storage addr{};
        socklen_t addr_len = sizeof addr;
        common::Fd client_fd(
            accept(listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len));
        if (!client_fd) {
            if (errno == EINTR) continue;
            if (errno == ECONNABORTED || errno == EPROTO) {
                common::warn("accept");
                continue;
            }
            common::die("accept");
        }
        ++number;
        printf("client %lu connected from %s\n", number,
               common::to_string(reinterpret_cast<sockaddr*>(&addr)).c_str());
        fflush(stdout);

        // The thread gets a heap object of its own.  (The book passes &clnt_sock, the
        // address of main's variable, which the next accept() overwrites — maybe before the
        // new thread has read it.)
        Client* client = new Client{std::move(client_fd), number};
        pthread_t t_id;
        if (int err = pthread_create(&t_id, nullptr, handle_client, client); err != 0) {
            errno = err;
            common::warn("client %lu: pthread_create", number);  // EAGAIN: too many threads
            delete client;                                       // closes the connection
            continue;
        }
        // Detached: it ends on its own; main() never waits for it (pthread_join would block
        // the accept loop) and its resources are freed when it returns.
        pthread_detach(t_id);
    }
}
