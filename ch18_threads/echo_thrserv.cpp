// echo_thrserv — the real thread-per-connection echo server (ch. 18): every accepted
// client gets its own thread, which echoes until the client closes; main() only accepts.
// Made to hold 10,000 clients, a full descriptor table and a machine out of threads.
//
// usage: echo_thrserv PORT [--max-clients N]
//   --max-clients N  clients served at once (default and most: RLIMIT_NOFILE less 16)
//
// What to observe (stdout, one flushed line per event; `ps -L` shows a thread per client):
//     listening on [::]:9190
//     client 1 connected from [::ffff:127.0.0.1]:40158
//     client 1 disconnected
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {

constexpr size_t kBufSize = 4096;
constexpr long kReserved = 16;  // descriptors kept for the server itself (stdio, listener, ...)

// A counting semaphore of free client slots (the chapter's sem_t, see semaphore.cpp): main
// takes one before each accept(), a client's thread gives it back when it ends.
sem_t free_slots;

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
        // -1: e.g. ECONNRESET, also for a connection reset while it waited in the listen backlog
        // (Linux's accept() returns it; BSD's fails with ECONNABORTED, UNP 16.6).
        if (n == -1) {
            common::warn("client %lu: read", client->number);
            break;
        }
        if (n == 0) break;  // end of stream: the client closed its side
        if (!common::write_all(client->fd.get(), buf, static_cast<size_t>(n))) {
            common::warn("client %lu: write", client->number);  // EPIPE: SIGPIPE is ignored
            break;
        }
    }
    printf("client %lu disconnected\n", client->number);
    fflush(stdout);
    delete client;          // closes the socket: its descriptor is free again ...
    sem_post(&free_slots);  // ... before main can take the slot
    return nullptr;
}

// accept() failed for lack of a resource (ENFILE, ENOMEM, or EMFILE if the limit shrank under
// us): the connection stays in the backlog, and retrying at once would spin.  Wait until one
// of our clients leaves: main takes every free slot, so that the next sem_post() can only
// come from a client thread that ends; 1 s at most, for a shortage that passes without us.
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
    const char* usage = "PORT [--max-clients N]";
    // Each client holds one descriptor: never more clients than RLIMIT_NOFILE allows, so
    // accept() does not meet EMFILE in normal operation.
    rlimit nofile{};
    if (getrlimit(RLIMIT_NOFILE, &nofile) == -1) common::die("getrlimit");
    long max_clients = 1;
    if (nofile.rlim_cur > kReserved + 1)
        max_clients =
            static_cast<long>(std::min<rlim_t>(nofile.rlim_cur - kReserved, SEM_VALUE_MAX));
    if (argc == 4 && strcmp(argv[2], "--max-clients") == 0)
        max_clients = common::number_arg("--max-clients", argv[3], 1, max_clients);
    else if (argc != 2)
        common::die_usage("%s", usage);
    if (sem_init(&free_slots, 0, static_cast<unsigned>(max_clients)) == -1) common::die("sem_init");
    // A write to a vanished client must fail with EPIPE, not kill the process (with threads,
    // a signal would end every client's connection, not just one).
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    common::Fd listen_fd = common::listen_tcp(argv[1]);
    common::print_ready("listening on", listen_fd.get());

    bool full_said = false, exhausted_said = false;
    for (unsigned long number = 0;;) {
        // A free slot first.  While there is none, main says so once on stderr and sleeps in
        // sem_wait() (no CPU); new connections wait in the listen backlog until a client's
        // thread posts, and are served as others leave.  (chat_hub.cpp uses this same block.)
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
        ++number;
        printf("client %lu connected from %s\n", number,
               common::to_string(reinterpret_cast<sockaddr*>(&addr)).c_str());
        fflush(stdout);

        // The thread gets a heap object of its own.  (The book passes &clnt_sock, the
        // address of main's variable, which the next accept() overwrites — maybe before the
        // new thread has read it.)
        Client* client = new Client{common::Fd(fd), number};
        pthread_t t_id;
        if (int err = pthread_create(&t_id, nullptr, handle_client, client); err != 0) {
            // EAGAIN: no thread to spare (RLIMIT_NPROC, a pids cgroup, memory): like a reset,
            // it costs that client alone, not the server.
            errno = err;
            common::warn("client %lu closed, no thread for it: pthread_create", number);
            delete client;  // closes the connection: this client alone pays
            sem_post(&free_slots);
            continue;
        }
        // Detached: it ends on its own; main() never waits for it (pthread_join would block
        // the accept loop) and its resources are freed when it returns.
        pthread_detach(t_id);
    }
}
