// chat_server — the book's multithreaded chat server (ch. 18): a thread per client, a
// table of client sockets guarded by a mutex, and every message sent to everyone (sender too).
//
// usage: chat_server PORT
//
// What to observe (stdout; chat_client is the other side):
//     listening on [::]:9190
//     connected client [::ffff:127.0.0.1]:40158 (socket 4)
//     disconnected client (socket 4)
// A client beyond MAX_CLNT (256) gets "chat_server: full (256 clients)" and is closed.  One
// client that stops reading blocks the broadcast for everyone (README); chat_hub does not.
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {

constexpr int BUF_SIZE = 4096;
constexpr int MAX_CLNT = 256;

// Shared by every thread, so guarded by one mutex: main adds to the table, each client's
// thread removes itself, and send_msg() walks it.  (Lock and unlock cannot fail on a default
// mutex used correctly; mutex.cpp shows the checks.)
int clnt_cnt = 0;
int clnt_socks[MAX_CLNT];
pthread_mutex_t mutx = PTHREAD_MUTEX_INITIALIZER;

// To everyone, under the lock: no client can leave (and have its descriptor closed and reused)
// while we write to it, and two messages never mix.  But write_all() may BLOCK: a client that
// does not read fills its socket buffer, and then this thread waits for it with the lock held
// — every other thread waits for the lock.  That is this design's limit (chat_hub.cpp).
void send_msg(const char* msg, size_t len) {
    pthread_mutex_lock(&mutx);
    for (int i = 0; i < clnt_cnt; i++)
        common::write_all(clnt_socks[i], msg, len);  // a failure: that client's thread sees it too
    pthread_mutex_unlock(&mutx);
}

// Out of the table first, under the lock; then close(): nobody can write to it any more.
void remove_client(int clnt_sock) {
    pthread_mutex_lock(&mutx);
    for (int i = 0; i < clnt_cnt; i++)
        if (clnt_socks[i] == clnt_sock) {
            clnt_socks[i] = clnt_socks[--clnt_cnt];  // the last one fills the gap
            break;
        }
    pthread_mutex_unlock(&mutx);
    close(clnt_sock);
}

void* handle_clnt(void* arg) {
    // The socket comes as the pointer's value.  (The book passes &clnt_sock, the address of
    // main's variable, which the next accept() overwrites, maybe before this thread reads it.)
    int clnt_sock = static_cast<int>(reinterpret_cast<intptr_t>(arg));
    char msg[BUF_SIZE];
    ssize_t str_len;
    // Whatever read() returns is passed on as it came (the book's way; chat_hub frames lines).
    // The book loops while read() != 0, and so sends -1 bytes forever after an error.
    while ((str_len = read(clnt_sock, msg, sizeof msg)) > 0 || (str_len == -1 && errno == EINTR))
        if (str_len > 0) send_msg(msg, static_cast<size_t>(str_len));
    remove_client(clnt_sock);
    printf("disconnected client (socket %d)\n", clnt_sock);
    fflush(stdout);
    return nullptr;
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("PORT");
    // A write to a client that has gone must fail with EPIPE, not kill the whole server.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");
    common::Fd serv_sock = common::listen_tcp(argv[1]);  // ch04's socket/bind/listen
    common::print_ready("listening on", serv_sock.get());

    for (;;) {
        sockaddr_storage clnt_adr{};
        socklen_t clnt_adr_sz = sizeof clnt_adr;
        int clnt_sock =
            accept(serv_sock.get(), reinterpret_cast<sockaddr*>(&clnt_adr), &clnt_adr_sz);
        if (clnt_sock == -1) {  // one policy for accept() failures (common/net.hpp)
            common::AcceptFailure failure = common::accept_failure(errno);
            if (failure == common::AcceptFailure::kFatal) common::die("accept");
            if (failure == common::AcceptFailure::kExhausted) {
                common::warn("accept");  // EMFILE...: no retry at once, it would spin.  (The
                sleep(1);                // real servers wait for a client to leave instead.)
            }
            continue;
        }
        std::string address = common::to_string(reinterpret_cast<sockaddr*>(&clnt_adr));
        pthread_mutex_lock(&mutx);
        bool full = clnt_cnt == MAX_CLNT;  // the book writes past the end of its table here
        if (!full) clnt_socks[clnt_cnt++] = clnt_sock;
        pthread_mutex_unlock(&mutx);
        if (full) {  // a clear refusal, then close
            common::note("refused %s: MAX_CLNT (%d) clients already", address.c_str(), MAX_CLNT);
            common::write_all(clnt_sock,
                              "chat_server: full (" + std::to_string(MAX_CLNT) + " clients)\n");
            close(clnt_sock);
            continue;
        }
        printf("connected client %s (socket %d)\n", address.c_str(), clnt_sock);
        fflush(stdout);
        pthread_t t_id;
        void* arg = reinterpret_cast<void*>(static_cast<intptr_t>(clnt_sock));
        if (int err = pthread_create(&t_id, nullptr, handle_clnt, arg); err != 0) {
            errno = err;  // no thread to spare: this client alone pays
            common::warn("pthread_create");
            remove_client(clnt_sock);
            continue;
        }
        pthread_detach(t_id);  // nobody joins it: it ends on its own
    }
}
