// chat_hub — chat_server's idea (book ch. 18: a thread per client, a locked client list,
// every line to everyone, sender too) made to hold 10,000 clients and clients that never read.
//
// usage: chat_hub PORT [--max-line N] [--max-queue BYTES] [--max-clients N]
//   --max-line N       longest line accepted, without its '\n' (default 1024; < --max-queue)
//   --max-queue BYTES  most output that may wait for one client (default 1048576)
//   --max-clients N    clients at once (default and most: RLIMIT_NOFILE less 16)
//
// What to observe (stdout; "connected" is printed once the client is in the list):
//     listening on [::]:9190
//     client 1 connected from [::ffff:127.0.0.1]:40158
//     client 2 dropped: more than 1048576 bytes waiting (it does not read)
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {

long max_line = 1024;           // --max-line
long max_queue = 1 << 20;       // --max-queue
constexpr long kReserved = 16;  // descriptors kept for the server itself (stdio, listener, ...)

// Free client slots, taken before each accept() and given back when a client's reader thread
// ends: the same semaphore and accept() loop as echo_thrserv.cpp, explained there.
sem_t free_slots;

// chat_server.cpp's reader thread also writes to every client, under the list's lock: one
// client that does not read blocks them all.  Here each client has a reader thread (detached:
// the book's handle_clnt), which reads and broadcasts, and a writer thread (joined by the
// reader), the only one that writes to its socket.  A broadcast only appends to the clients'
// queues under the list mutex and never blocks on a socket.

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

// Appends LINE to C's queue without blocking (the caller may hold clients_mutex).  POLICY: a
// client whose queue would exceed --max-queue is dropped (shutdown() also wakes its threads);
// and a client cannot talk faster than it listens (handle_client).
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

// Broadcasts are serialised by the list mutex: every client sees the same order.
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
        errno = err;  // EAGAIN: no thread to spare: this client alone pays
        common::warn("client %lu closed, no thread for it: pthread_create", c->number);
        delete c;
        sem_post(&free_slots);
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
        // 0: end of stream; -1: e.g. ECONNRESET, also for a connection reset while it waited
        // in the listen backlog (Linux's accept() returns it; BSD's fails with ECONNABORTED,
        // UNP 16.6).
        n = read(c->fd.get(), buf, sizeof buf);
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
        // Lines are framed: bytes are collected up to '\n', however TCP cut them.  A longer line
        // than --max-line is not sent; its sender alone gets a line saying so.
        for (char *p = buf, *end = buf + n; p < end;) {
            char* nl = static_cast<char*>(memchr(p, '\n', static_cast<size_t>(end - p)));
            char* piece_end = nl ? nl : end;
            if (!too_long) line.append(p, piece_end);
            if (!too_long && line.size() > static_cast<size_t>(max_line)) {
                too_long = true;
                line.clear();
                queue(c, "chat_hub: line too long (more than " + std::to_string(max_line) +
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

    // Leave the list first: from now on no broadcast can reach this client.  Its socket is
    // closed only after its writer has been joined: no thread can write to a closed (or reused)
    // descriptor.
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
    delete c;               // closes the socket: nobody else can use the descriptor any more
    sem_post(&free_slots);  // (after the close: the descriptor is free for the next client)
    return nullptr;
}

// accept() failed for lack of a resource: wait until a client leaves (echo_thrserv.cpp).
void wait_for_a_client_to_leave() {
    long taken = 0;
    while (sem_trywait(&free_slots) == 0)
        ++taken;
    timespec until{};
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 1;
    int r;
    while ((r = sem_clockwait(&free_slots, CLOCK_MONOTONIC, &until)) == -1 && errno == EINTR) {
    }
    if (r == 0) ++taken;
    for (; taken > 0; --taken)
        sem_post(&free_slots);
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    const char* usage = "PORT [--max-line N] [--max-queue BYTES] [--max-clients N]";
    // Each client holds one descriptor: never more clients than RLIMIT_NOFILE allows, so
    // accept() does not meet EMFILE in normal operation.
    rlimit nofile{};
    if (getrlimit(RLIMIT_NOFILE, &nofile) == -1) common::die("getrlimit");
    long max_clients = 1;
    if (nofile.rlim_cur > kReserved + 1)
        max_clients =
            static_cast<long>(std::min<rlim_t>(nofile.rlim_cur - kReserved, SEM_VALUE_MAX));
    const char* max_line_arg = nullptr;
    if (argc < 2 || argc % 2 != 0) common::die_usage("%s", usage);
    for (int i = 2; i < argc; i += 2) {
        if (strcmp(argv[i], "--max-line") == 0)
            max_line_arg = argv[i + 1];
        else if (strcmp(argv[i], "--max-queue") == 0)
            max_queue = common::number_arg("--max-queue", argv[i + 1], 1024, 1 << 30);
        else if (strcmp(argv[i], "--max-clients") == 0)
            max_clients = common::number_arg("--max-clients", argv[i + 1], 1, max_clients);
        else
            common::die_usage("%s", usage);
    }
    // A line, with its '\n', must fit in a client's queue: a longer one could never be
    // queued, and every client would be dropped as "not reading" on the first such line.
    max_line = std::min(max_line, max_queue - 1);
    if (max_line_arg) {
        max_line = common::number_arg("--max-line", max_line_arg, 1, 1 << 20);
        if (max_line >= max_queue) {
            common::note(
                "invalid --max-line '%s' (expected 1 to %ld: a line and its '\\n' must "
                "fit in --max-queue %ld)",
                max_line_arg, max_queue - 1, max_queue);
            exit(2);  // (no thread runs yet)
        }
    }
    if (sem_init(&free_slots, 0, static_cast<unsigned>(max_clients)) == -1) common::die("sem_init");
    // A client that vanishes while its writer sends must not kill the whole server.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    common::Fd listen_fd = common::listen_tcp(argv[1]);
    common::print_ready("listening on", listen_fd.get());

    bool full_said = false, exhausted_said = false;
    for (unsigned long number = 0;;) {
        // A free slot first (echo_thrserv.cpp): a full server says so once on stderr, and
        // newcomers wait in the listen backlog.
        if (sem_trywait(&free_slots) == -1) {
            if (!full_said)
                common::note(
                    "--max-clients %ld reached: new connections wait in the listen backlog "
                    "until a client leaves (said once)",
                    max_clients);
            full_said = true;
            while (sem_wait(&free_slots) == -1) {  // only EINTR: a signal handler ran
            }
        }
        sockaddr_storage addr{};
        socklen_t addr_len;
        int fd;
        for (;;) {
            addr_len = sizeof addr;
            fd = accept(listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len);
            if (fd != -1) break;
            switch (common::accept_failure(errno)) {
                case common::AcceptFailure::kRetry:       // EINTR, or a connection that died in the
                case common::AcceptFailure::kWouldBlock:  // backlog; (EAGAIN: not blocking)
                    break;
                case common::AcceptFailure::kExhausted:
                    if (!exhausted_said) {
                        int free = 0;
                        sem_getvalue(&free_slots, &free);  // (main holds one slot itself)
                        common::note(
                            "accept: %s with %ld clients: new connections wait in the "
                            "listen backlog until a client leaves (said once)",
                            strerror(errno), max_clients - 1 - free);
                    }
                    exhausted_said = true;
                    wait_for_a_client_to_leave();
                    break;
                case common::AcceptFailure::kFatal:  // EBADF, EINVAL, ...: a bug.  (die() ends
                    common::die("accept");           // with _exit(): safe under live threads)
            }
        }
        Client* c = new Client(fd, ++number, common::to_string(reinterpret_cast<sockaddr*>(&addr)));
        pthread_t t_id;
        if (int err = pthread_create(&t_id, nullptr, handle_client, c); err != 0) {
            errno = err;  // EAGAIN: no thread to spare: this client alone pays
            common::warn("client %lu closed, no thread for it: pthread_create", number);
            delete c;
            sem_post(&free_slots);
            continue;
        }
        pthread_detach(t_id);  // nobody joins the reader: it cleans up after itself
    }
}
