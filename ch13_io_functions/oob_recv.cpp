// oob_recv — urgent data (紧急数据, the book's "out-of-band data" 带外数据): a SIGURG handler,
// installed with sigaction() and aimed at this process with fcntl(F_SETOWN), reads it with
// recv(MSG_OOB) (book ch. 13, oob_recv.c).  Serves one sender and ends at its end of stream.
//
// usage: oob_recv PORT [--ack] [--inline] [--no-owner]
//   --ack       answer every message it prints with one byte (for oob_send --wait)
//   --inline    SO_OOBINLINE: the urgent byte stays in the normal stream
//   --no-owner  skip fcntl(F_SETOWN): the kernel has nobody to send SIGURG to
//
// With `oob_send 127.0.0.1 PORT --wait`: Received 123, Urgent 4, Received 567, Urgent 0,
// Received 89, end of stream.  Without --wait the order (and more) depends on timing: README.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {
constexpr const char* kUsage = "PORT [--ack] [--inline] [--no-owner]";
int client_fd = -1;  // set before the handler is installed; read-only afterwards
bool ack = false;

// One line on stdout with ONE write(): async-signal-safe (no stdio in a handler), and the
// handler's line can never land inside a line of main()'s.
void say(const char* label, const char* data, size_t n, bool answer = true) {
    char line[256];
    size_t len = strlen(label);
    memcpy(line, label, len);
    if (n > sizeof line - len - 1) n = sizeof line - len - 1;
    memcpy(line + len, data, n);
    line[len + n] = '\n';
    if (write(STDOUT_FILENO, line, len + n + 1) == -1) {
    }  // nothing better to do inside a handler
    if (answer && ack && send(client_fd, "k", 1, MSG_NOSIGNAL) == -1) {
    }  // the sender may be gone: its end of stream will tell main()
}

void urg_handler(int) {
    int saved_errno = errno;  // the handler interrupts main() anywhere: keep its errno
    char buf[30];
    // Only ONE byte is ever urgent, so this gets 1 byte (or fails: see the README).
    ssize_t n = recv(client_fd, buf, sizeof buf, MSG_OOB);
    if (n > 0)
        say("Urgent message: ", buf, static_cast<size_t>(n));
    else if (n == -1) {
        const char* why = strerrordesc_np(errno);  // unlike strerror(): safe in a handler
        say("recv(MSG_OOB): ", why, strlen(why), false);
    }
    errno = saved_errno;
}
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    bool inline_urgent = false, set_owner = true;
    if (argc < 2) common::die_usage("%s", kUsage);
    for (int i = 2; i < argc; ++i) {
        if (strcmp(argv[i], "--ack") == 0)
            ack = true;
        else if (strcmp(argv[i], "--inline") == 0)
            inline_urgent = true;
        else if (strcmp(argv[i], "--no-owner") == 0)
            set_owner = false;
        else
            common::die_usage("%s", kUsage);
    }
    common::port_arg(argv[1]);
    common::Fd listener = common::listen_tcp(argv[1]);
    common::print_ready("listening on", listener.get());
    common::Fd client(accept(listener.get(), nullptr, nullptr));
    if (!client) common::die("accept");
    client_fd = client.get();
    if (inline_urgent) {
        int on = 1;
        if (setsockopt(client_fd, SOL_SOCKET, SO_OOBINLINE, &on, sizeof on) == -1)
            common::die("setsockopt SO_OOBINLINE");
    }

    struct sigaction act {};
    act.sa_handler = urg_handler;
    sigemptyset(&act.sa_mask);
    act.sa_flags = 0;  // no SA_RESTART: a recv() the signal interrupts fails with EINTR (below)
    if (sigaction(SIGURG, &act, nullptr) == -1) common::die("sigaction");
    // SIGURG goes to the socket's owner; a new socket has none, and then no signal is sent.
    if (set_owner && fcntl(client_fd, F_SETOWN, getpid()) == -1) common::die("fcntl F_SETOWN");

    char buf[30];
    for (;;) {
        // A plain recv() stops just before the urgent byte and never returns it (unless
        // SO_OOBINLINE): it belongs to recv(MSG_OOB).
        ssize_t n = recv(client_fd, buf, sizeof buf, 0);
        if (n == -1 && errno == EINTR) continue;  // the handler ran; nothing was lost
        if (n == -1) common::die("recv");
        if (n == 0) break;
        say("Received message: ", buf, static_cast<size_t>(n));
    }
    say("end of stream", "", 0, false);
    return 0;
}
