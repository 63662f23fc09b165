// chat_server.cpp — multithreaded chat server (book ch. 18): a thread per client, a
// mutex-protected client list, and every line from anyone sent to everyone (sender too).
//
// usage: chat_server PORT [--max-line N] [--max-queue BYTES]
//   --max-line N       longest line accepted, without its '\n' (default 1024)
//   --max-queue BYTES  most output that may wait for one client (default 1048576)
//
// What to observe (stdout; "connected" is printed once the client is in the list):
//     listening on [::]:9190
//     client 1 connected from [::ffff:127.0.0.1]:40158
//     client 1 disconnected
//     client 2 dropped: more than 1048576 bytes waiting (it does not read)
// Lines are framed: bytes are collected up to '\n', however TCP cut them.  A longer line is
// not sent; its sender alone gets   chat_server: line too long (more than 1024 bytes), not sent
// Each client has a reader thread (detached: the book's handle_clnt), which reads and
// broadcasts, and a writer thread (joined by the reader), which sends the client's queue.
// A broadcast only appends to queues under the list mutex and never blocks on a socket, so a
// client that does not read cannot freeze the others.  POLICY: a client whose queue would
// exceed --max-queue is dropped (shutdown() also wakes its threads); and a client cannot
// talk faster than it listens (its reader pauses while half of that waits for it).
// A client that leaves first leaves the list; its socket is closed only after its writer has
// been joined, so no thread can write to a closed or reused descriptor.
// Broadcasts are serialised by the list mutex: every client sees the same order.
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {

long max_line = 1024;      // --max-line
long max_queue = 1 << 20;  // --max-queue

struct Client {
    enum State { kOpen, kClosing, kDropped, kFailed };  // kClosing: send the rest, then stop
    common::Fd fd;
    unsigned long number;
    std::string address;
    pthread_t writer{};
    pthread_mutex_t mutex;  // guards the two members below
    pthread_cond_t wake;    // broadcast when they change
    std::string out;        // whole lines waiting for the writer
    State state = kOpen;

    Client(int fd_, unsigned long number_, std::string address_)
        : fd(fd_), number(number_), address(std::move(address_)) {
        pthread_mutex_init(&mutex, nullptr);
        pthread_cond_init(&wake, nullptr);
    }
    ~Client() {
        pthread_cond_destroy(&wake);
        pthread_mutex_destroy(&mutex);
    }
};

// (pthread_mutex_lock/unlock cannot fail on a default mutex used correctly; mutex.cpp shows
// the checks, this file leaves them out to stay readable.)
pthread_mutex_t clients_mutex = PTHREAD_MUTEX_INITIALIZER;  // guards clients
std::vector<Client*> clients;  // a Client is listed only while its reader thread runs

// Appends LINE to C's queue without blocking (the caller may hold clients_mutex).
void queue(Client* c, const std::string& line) {
    pthread_mutex_lock(&c->mutex);
    if (c->state == Client::kOpen && c->out.size() + line.size() > static_cast<size_t>(max_queue)) {
        c->state = Client::kDropped;  // it does not read: drop it rather than grow forever
        c->out.clear();
        shutdown(c->fd.get(), SHUT_RDWR);  // never blocks; wakes a blocked read or write
    } else if (c->state == Client::kOpen) {
        c->out += line;
    }
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->mutex);
}

void broadcast(const std::string& line) {
    pthread_mutex_lock(&clients_mutex);
    for (Client* c : clients)
        queue(c, line);
    pthread_mutex_unlock(&clients_mutex);
}

// The only thread that writes to C's socket.
void* write_client(void* arg) {
    Client* c = static_cast<Client*>(arg);
    for (;;) {
        pthread_mutex_lock(&c->mutex);
        while (c->out.empty() && c->state == Client::kOpen)
            pthread_cond_wait(&c->wake, &c->mutex);            // unlocks the mutex while it waits
        if (c->state >= Client::kDropped || c->out.empty()) {  // (empty: closing, all sent)
            pthread_mutex_unlock(&c->mutex);
            return nullptr;
        }
        std::string batch;
        batch.swap(c->out);                // take everything queued
        pthread_cond_broadcast(&c->wake);  // the reader may be waiting for room
        pthread_mutex_unlock(&c->mutex);

        if (!common::write_all(c->fd.get(), batch)) {  // may block: no lock is held here
            pthread_mutex_lock(&c->mutex);
            bool dropped = c->state == Client::kDropped;  // (then the error is expected)
            if (!dropped) c->state = Client::kFailed;
            pthread_cond_broadcast(&c->wake);  // the reader may be waiting for room
            pthread_mutex_unlock(&c->mutex);
            if (!dropped) common::warn("client %lu: write", c->number);
            shutdown(c->fd.get(), SHUT_RDWR);  // the reader stops too
            return nullptr;
        }
    }
}

// The reader: registers the client, reads and broadcasts lines, then cleans up.
void* handle_client(void* arg) {
    Client* c = static_cast<Client*>(arg);  // this thread owns it
    if (int err = pthread_create(&c->writer, nullptr, write_client, c); err != 0) {
        errno = err;
        common::warn("client %lu: pthread_create", c->number);
        delete c;
        return nullptr;
    }
    pthread_mutex_lock(&clients_mutex);
    clients.push_back(c);
    pthread_mutex_unlock(&clients_mutex);
    printf("client %lu connected from %s\n", c->number, c->address.c_str());
    fflush(stdout);

    std::string line;       // the line being assembled
    bool too_long = false;  // discarding the rest of an over-long line
    char buf[4096];
    ssize_t n;
    bool stop = false;  // dropped, or the writer failed
    for (;;) {
        n = read(c->fd.get(), buf, sizeof buf);  // 0: end of stream, -1: e.g. a reset
        if (n == -1 && errno == EINTR) continue;
        // A client cannot talk faster than it listens: while more than half of --max-queue
        // waits for it (its own lines come back too), hold on to what it sent.
        pthread_mutex_lock(&c->mutex);
        while (n > 0 && c->out.size() > static_cast<size_t>(max_queue) / 2 &&
               c->state == Client::kOpen)
            pthread_cond_wait(&c->wake, &c->mutex);
        stop = c->state >= Client::kDropped;
        pthread_mutex_unlock(&c->mutex);
        if (n == -1 && !stop) common::warn("client %lu: read", c->number);
        if (n <= 0 || stop) break;
        for (char *p = buf, *end = buf + n; p < end;) {
            char* nl = static_cast<char*>(memchr(p, '\n', static_cast<size_t>(end - p)));
            char* piece_end = nl ? nl : end;
            if (!too_long) line.append(p, piece_end);
            if (!too_long && line.size() > static_cast<size_t>(max_line)) {
                too_long = true;
                line.clear();
                queue(c, "chat_server: line too long (more than " + std::to_string(max_line) +
                             " bytes), not sent\n");
            }
            if (nl) {
                if (!too_long) broadcast(line + '\n');
                line.clear();
                too_long = false;
            }
            p = nl ? nl + 1 : end;
        }
    }
    if (n == 0 && !stop && !line.empty() && !too_long)
        broadcast(line + '\n');  // a last line without '\n'

    // Leave the list first: from now on no broadcast can reach this client.
    pthread_mutex_lock(&clients_mutex);
    clients.erase(std::find(clients.begin(), clients.end(), c));
    pthread_mutex_unlock(&clients_mutex);
    pthread_mutex_lock(&c->mutex);
    if (c->state == Client::kOpen) c->state = Client::kClosing;  // the writer sends the rest
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->mutex);
    pthread_join(c->writer, nullptr);

    if (c->state == Client::kDropped)  // (no lock needed: the writer has ended, c is unlisted)
        printf("client %lu dropped: more than %ld bytes waiting (it does not read)\n", c->number,
               max_queue);
    else
        printf("client %lu disconnected\n", c->number);
    fflush(stdout);
    delete c;  // closes the socket: nobody else can use the descriptor any more
    return nullptr;
}

}  // namespace

int main(int argc, char* argv[]) {
    const char* usage = "PORT [--max-line N] [--max-queue BYTES]";
    if (argc < 2 || argc % 2 != 0) common::die_usage("%s", usage);
    for (int i = 2; i < argc; i += 2) {
        if (strcmp(argv[i], "--max-line") == 0)
            max_line = common::number_arg("--max-line", argv[i + 1], 1, 1 << 20);
        else if (strcmp(argv[i], "--max-queue") == 0)
            max_queue = common::number_arg("--max-queue", argv[i + 1], 1024, 1 << 30);
        else
            common::die_usage("%s", usage);
    }
    // A client that vanishes while its writer sends must not kill the whole server.
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
        int fd = accept(listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len);
        if (fd == -1) {
            // A connection reset while it waited in the backlog: go on with the next one.
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
            common::die("accept");  // EMFILE, ENOMEM, ...: retrying at once would only spin
        }
        Client* c = new Client(fd, ++number, common::to_string(reinterpret_cast<sockaddr*>(&addr)));
        pthread_t t_id;
        if (int err = pthread_create(&t_id, nullptr, handle_client, c); err != 0) {
            errno = err;
            common::warn("client %lu: pthread_create", number);
            delete c;
            continue;
        }
        pthread_detach(t_id);  // nobody joins the reader: it cleans up after itself
    }
}
