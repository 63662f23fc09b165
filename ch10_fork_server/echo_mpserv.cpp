// echo_mpserv — the multiprocess echo server (并发服务器) (book ch. 10, echo_mpserv.c):
// accept() a client, fork() a child to serve it, and accept the next one at once.
//
// usage: echo_mpserv PORT
//
// What to observe (stdout, one line per event; PIDs vary):
//     listening on [::]:9190
//     new client connected from [::ffff:127.0.0.1]:40158, proc id 4102
//     client disconnected, proc id 4102
//     removed proc id: 4102, exit status 0
// `ps -o pid,ppid,stat,cmd --ppid $(pgrep -o echo_mpserv)`: one child per client, never a Z
// (zombie).  At a process or descriptor limit: one line on stderr, then it waits for a child.
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {

constexpr size_t kBufSize = 4096;

// Appends TEXT and then the decimal N (N >= 0) to line[at...]; returns the new length.  The
// SIGCHLD handler formats its line with this: snprintf() is not async-signal-safe.
size_t put(char* line, size_t at, const char* text, long n) {
    while (*text)
        line[at++] = *text++;
    if (n >= 10) at = put(line, at, "", n / 10);  // the digits before the last one
    line[at++] = static_cast<char>('0' + n % 10);
    return at;
}

volatile sig_atomic_t children_ended = 0;  // counted by the handler

// SIGCHLD: reap EVERY child that has ended.  Signals are not queued: if ten children end
// while one SIGCHLD is pending, the handler runs once, so one waitpid() per signal (the book)
// leaves zombies.  WNOHANG: stop when the rest are still running (0) or none is left (-1).
void read_childproc(int) {
    int saved_errno = errno;  // waitpid() sets errno (ECHILD): main must not see that
    int status;
    pid_t id;
    while ((id = waitpid(-1, &status, WNOHANG)) > 0) {
        children_ended = children_ended + 1;
        char line[80];
        size_t len = put(line, 0, "removed proc id: ", id);
        if (WIFEXITED(status))
            len = put(line, len, ", exit status ", WEXITSTATUS(status));
        else  // a child that crashed is reaped too ("killed by signal 11"); the rest go on
            len = put(line, len, ", killed by signal ", WTERMSIG(status));
        line[len++] = '\n';
        (void)!write(STDOUT_FILENO, line, len);  // one write: the line stays whole
    }
    errno = saved_errno;
}

// At a limit (fork() fails with EAGAIN: too many processes; accept() with EMFILE, ENOMEM, ...)
// an immediate retry would only spin.  Wait instead, using no CPU, until a child ends: that
// frees a process and what it held.  ENDED_BEFORE is children_ended read before the call that
// failed, so a child that has ended since is not waited for.  With no child at all, or for a
// limit a child's end may not lift (the parent's own descriptors): at most 1 s.
void wait_for_a_child(sig_atomic_t ended_before, bool at_most_1s) {
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    // SIGCHLD blocked from the check to the wait: one that comes in between stays pending,
    // and ppoll() -- which unblocks it and sleeps in one step -- returns at once (EINTR).
    sigprocmask(SIG_BLOCK, &chld, &old);
    siginfo_t info{};
    bool no_child = waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == -1;  // ECHILD
    timespec one_second{1, 0};
    if (children_ended == ended_before)
        ppoll(nullptr, 0, at_most_1s || no_child ? &one_second : nullptr, &old);
    sigprocmask(SIG_SETMASK, &old, nullptr);
}

// One whole line on stdout in one write(), retried after EINTR (common::write_all): lines of
// the parent, its children and the handler never mix, and a SIGCHLD that interrupts the
// write cannot lose the line (with stdio, fflush would fail with EINTR).
void say(const std::string& line) {
    (void)common::write_all(STDOUT_FILENO, line + "\n");
}

// The child's whole job: echo until the client closes its side (read() returns 0).
void serve(int client_fd) {
    char buf[kBufSize];
    for (ssize_t n; (n = read(client_fd, buf, sizeof buf)) != 0;) {
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return common::warn("proc id %d: read", getpid());  // ECONNRESET
        if (!common::write_all(client_fd, buf, static_cast<size_t>(n)))
            return common::warn("proc id %d: write", getpid());  // EPIPE: the client has gone
    }
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("PORT");
    // A client gone mid-write must make write() fail with EPIPE, not kill its child.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    struct sigaction act {};
    act.sa_handler = read_childproc;
    sigemptyset(&act.sa_mask);
    // No SA_RESTART, as in the book: a SIGCHLD that arrives while the parent waits in
    // accept() makes accept() fail with EINTR, and the loop below simply calls it again.
    act.sa_flags = 0;
    if (sigaction(SIGCHLD, &act, nullptr) == -1) common::die("sigaction");

    common::Fd listen_fd = common::listen_tcp(argv[1]);    // socket, bind, listen: ch04
    common::print_ready("listening on", listen_fd.get());  // flushes: nothing left to copy

    for (bool at_limit = false;;) {
        sockaddr_storage addr{};
        socklen_t addr_len = sizeof addr;
        auto* sa = reinterpret_cast<sockaddr*>(&addr);
        sig_atomic_t ended = children_ended;
        common::Fd client_fd(accept(listen_fd.get(), sa, &addr_len));
        if (!client_fd) {
            switch (common::accept_failure(errno)) {
                case common::AcceptFailure::kRetry:  // EINTR: the SIGCHLD handler ran
                case common::AcceptFailure::kWouldBlock:
                    // (A client that reset while in the backlog is no error on Linux: accept()
                    // returns it, and its child's first read() fails with ECONNRESET.)
                    if (errno != EINTR) common::warn("accept");
                    continue;
                case common::AcceptFailure::kExhausted:  // EMFILE, ENFILE, ENOBUFS, ENOMEM
                    if (!at_limit)  // the clients wait in the backlog meanwhile
                        common::note("accept: %s: retrying when a child ends, or in 1 s",
                                     strerror(errno));
                    at_limit = true;
                    wait_for_a_child(ended, true);
                    continue;
                case common::AcceptFailure::kFatal:  // EBADF, EINVAL, ...: a bug
                    common::die("accept");
            }
        }
        at_limit = false;

        // After fork() both processes hold both sockets.  A socket is closed (for TCP: FIN
        // is sent) only when its LAST descriptor is closed, so each process closes the one it
        // does not use: a parent that kept every client socket would never let a client see
        // end of stream, and would run out of descriptors.
        pid_t pid = fork();
        if (pid == -1) {  // EAGAIN (process limit), ENOMEM: this one client is refused
            int err = errno;
            common::note("fork: %s: client %s dropped; the next clients wait until a child ends",
                         strerror(err), common::to_string(sa).c_str());
            client_fd.reset();  // close(): the connection ends
            wait_for_a_child(ended, err != EAGAIN);
            continue;
        }
        if (pid == 0) {         // the child: serves this one client, then exits
            listen_fd.reset();  // close(serv_sock): the child never accepts
            serve(client_fd.get());
            client_fd.reset();  // close(clnt_sock): the last descriptor, so FIN goes out
            say("client disconnected, proc id " + std::to_string(getpid()));
            return 0;
        }
        client_fd.reset();  // close(clnt_sock): from now on the child's is the only one
        say("new client connected from " + common::to_string(sa) + ", proc id " +
            std::to_string(pid));
    }
}
