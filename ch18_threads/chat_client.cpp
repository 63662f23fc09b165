// chat_client — chat client with two threads (book ch. 18): one sends what you type,
// the other prints what arrives, so incoming lines show up while you are still typing.
//
// usage: chat_client HOST PORT NAME
//
// Each stdin line goes out as "[NAME] line"; everything the server sends is printed, your own
// lines included:
//     $ ./chat_client 127.0.0.1 9190 alice
//     hello                       <- typed
//     [alice] hello               <- from the server, to everyone
// "q", "Q" or end of input quits (exit 0, after every line the server had sent); a server that
// goes away first: "chat_client: the server closed the connection", exit 1.
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {

struct Chat {
    int sock;
    std::string name;
    std::atomic<bool> quitting{false};  // set by the sender before it half-closes
};

// Sends one "[NAME] line\n"; false if the connection is gone.
bool send_line(Chat& chat, const std::string& line) {
    std::string msg = "[" + chat.name + "] " + line + "\n";
    return common::write_all(chat.sock, msg);
}

void* send_msg(void* arg) {
    Chat& chat = *static_cast<Chat*>(arg);
    std::string pending;  // stdin bytes not yet ending in '\n'
    char buf[4096];
    bool ok = true;
    for (bool eof = false; ok && !eof;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::warn("read stdin");
        eof = n <= 0;
        if (eof && !pending.empty()) pending += '\n';  // a last line without '\n'
        if (n > 0) pending.append(buf, static_cast<size_t>(n));
        size_t start = 0;
        for (size_t nl; ok && (nl = pending.find('\n', start)) != std::string::npos;
             start = nl + 1) {
            std::string line = pending.substr(start, nl - start);
            if (line == "q" || line == "Q") {
                eof = true;
                break;
            }
            ok = send_line(chat, line);
        }
        pending.erase(0, start);
    }
    if (!ok) return nullptr;  // the receiver reports a vanished server
    chat.quitting = true;
    // Half-close ("I will send no more"), not close(): the server reads end of stream and
    // closes its side after everything it had for us; our receiver reads on until then, so
    // nothing the server sent before it saw our end is lost — a script that pipes input in
    // sees every reply.  (The book close()s the socket here while the receiver may still be
    // reading it, and exit()s from a thread; here each thread ends on its own.)
    if (shutdown(chat.sock, SHUT_WR) == -1 && errno != ENOTCONN) common::warn("shutdown");
    return nullptr;
}

void* recv_msg(void* arg) {
    Chat& chat = *static_cast<Chat*>(arg);
    char buf[4096];
    for (;;) {
        ssize_t n = read(chat.sock, buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) {
            common::warn("read");
            return reinterpret_cast<void*>(1);
        }
        if (n == 0) break;
        // Whatever arrived, as it arrived: lines are whole once the stream is read to the end.
        if (fwrite(buf, 1, static_cast<size_t>(n), stdout) != static_cast<size_t>(n) ||
            fflush(stdout) == EOF) {
            common::warn("write stdout");
            return reinterpret_cast<void*>(1);
        }
    }
    if (chat.quitting) return nullptr;  // the end we asked for
    common::note("the server closed the connection");
    return reinterpret_cast<void*>(1);
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 4) common::die_usage("HOST PORT NAME");
    if (argv[3][0] == '\0' || strchr(argv[3], '\n') != nullptr)
        common::die_usage("HOST PORT NAME   (NAME: not empty, one line)");
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    common::Fd sock = common::connect_tcp(argv[1], argv[2]);  // ch04's connect loop

    Chat chat{sock.get(), argv[3]};
    pthread_t snd_thread, rcv_thread;
    if (int err = pthread_create(&snd_thread, nullptr, send_msg, &chat); err != 0) {
        errno = err;
        common::die("pthread_create");
    }
    if (int err = pthread_create(&rcv_thread, nullptr, recv_msg, &chat); err != 0) {
        errno = err;
        common::die("pthread_create");
    }
    void* failed = nullptr;
    pthread_join(rcv_thread, &failed);  // the receiver ends when the server closes
    if (failed != nullptr) {
        // The sender may be blocked in read() on stdin forever: leave it.  exit() ends the
        // process and every thread in it (thread1), and closes the socket.
        pthread_detach(snd_thread);
        exit(1);
    }
    pthread_join(snd_thread, nullptr);  // already done: it half-closed before we got here
    return 0;
}
