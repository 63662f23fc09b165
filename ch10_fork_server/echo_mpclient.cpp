// echo_mpclient — an echo client that splits I/O between two processes (分割 I/O)
// (book ch. 10, echo_mpclient.c).  After fork() the child only writes (stdin lines to the
// server) and the parent only reads (replies to stdout): sending never waits for a reply.
//
// usage: echo_mpclient HOST PORT
//
// What to observe: every line comes back, in order, as the book prints it:
//     Message from server: hello
// Pipe in thousands of lines: they go out as fast as the connection takes them.  At end of
// input (or "q"/"Q") the writer half-closes with shutdown(SHUT_WR); the reader reads to end
// of stream, reaps the writer and exits 0.  If the server closes first: "echo_mpclient: the
// server closed the connection before the end of input", status 1.
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {

constexpr size_t kBufSize = 4096;

// The child: stdin lines to the server, then half-close.
int write_routine(int sock) {
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line == "q" || line == "Q") break;
        line += '\n';
        if (!common::write_all(sock, line)) common::die("write");
    }
    // Everything is sent.  From here the parent's SIGTERM (below) must not stop us.
    signal(SIGTERM, SIG_IGN);
    // FIN: "no more data".  Why shutdown() and not close()?  Both processes hold the socket:
    // close() here would drop only THIS descriptor, the parent's would keep the connection
    // open, no FIN would go out, the server would wait for more and the reader for the
    // server: both hang.  shutdown() acts on the connection itself, whoever else holds it
    // (half-close (半关闭), ch07).
    if (shutdown(sock, SHUT_WR) == -1) common::die("shutdown");
    return 0;
}

// The parent: replies to stdout, one "Message from server: " per line, until end of stream.
// TCP keeps no boundaries: one read() may hold many lines or part of one, so complete lines
// are printed and a partial one waits for the rest.
bool read_routine(int sock) {
    std::string pending;
    char buf[kBufSize];
    for (;;) {
        ssize_t n = read(sock, buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) {
            common::warn("read");
            return false;
        }
        if (n == 0) break;  // end of stream: the server has closed
        pending.append(buf, static_cast<size_t>(n));
        size_t start = 0;
        for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
            printf("Message from server: %.*s\n", static_cast<int>(nl - start),
                   pending.data() + start);
        pending.erase(0, start);
        fflush(stdout);
    }
    if (!pending.empty()) printf("Message from server: %s\n", pending.c_str());
    return true;
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 3) common::die_usage("HOST PORT");
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");  // EPIPE instead

    common::Fd sock = common::connect_tcp(argv[1], argv[2]);  // getaddrinfo, connect: ch04
    fflush(stdout);  // nothing buffered may be copied into the child and printed twice

    pid_t pid = fork();
    if (pid == -1) common::die("fork");
    if (pid == 0) return write_routine(sock.get());

    bool ok = read_routine(sock.get());
    // Normally the writer has finished (the server closes only after our FIN).  If the
    // server closed first, the writer may still wait for input that will never be sent:
    // stop it, then reap it either way — the parent must not leave a zombie either.
    kill(pid, SIGTERM);
    int status;
    while (waitpid(pid, &status, 0) == -1)
        if (errno != EINTR) common::die("waitpid");
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)
        common::fatal("the server closed the connection before the end of input");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;  // the writer said why
    return ok ? 0 : 1;
}
