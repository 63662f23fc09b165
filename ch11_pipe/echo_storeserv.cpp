// echo_storeserv — the fork echo server that also keeps every line it echoes (book ch. 11):
// each client process passes its lines through one pipe (管道) to a writer process, which
// appends them to FILE.  The fork server is ch10's lesson; what is new here is the pipe.
//
// usage: echo_storeserv PORT FILE
//
// What you will see (stdout, written by several processes, one whole line per write):
//     listening on [::]:9190
//     client 1 connected from [::ffff:127.0.0.1]:40158
//     client 1 disconnected: 3 lines passed to the writer
// and `tail -f FILE` shows each line as soon as a client has sent it.  After Ctrl-C:
//     writer: end of pipe: 1000 lines appended to FILE
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {

constexpr size_t kBufSize = 4096;
// The most a client process writes into the pipe at once: one line with its '\n'.  POSIX
// promises that a write() of at most PIPE_BUF bytes (at least 512; 4096 on Linux) is atomic:
// its bytes land in the pipe side by side, never mixed with another process's write.
constexpr size_t kMaxRecord = PIPE_BUF;

// SIGCHLD: reap every child that has ended — several may end before the handler runs (ch10).
void reap_children(int) {
    int saved_errno = errno;
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    errno = saved_errno;
}

// One whole line on stdout with one write(), no stdio: the server process then holds no
// stdio buffer that fork() could copy into a child, which would print it a second time.
void say(const std::string& line) {
    (void)common::write_all(STDOUT_FILENO, line + "\n");
}

// The writer process: whatever comes out of the pipe goes to the end of FILE, in the order
// the records went in.  read() returns 0 (end of file) only once every write end of the pipe
// is closed — so the writer must not hold one itself.
[[noreturn]] void run_writer(int pipe_read, int file_fd, const char* path) {
    char buf[kBufSize];
    unsigned long lines = 0;
    for (;;) {
        ssize_t n = read(pipe_read, buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("writer: read from the pipe");
        if (n == 0) break;
        if (!common::write_all(file_fd, buf, static_cast<size_t>(n)))
            common::die("writer: write to %s", path);
        lines += static_cast<unsigned long>(std::count(buf, buf + n, '\n'));
    }
    printf("writer: end of pipe: %lu lines appended to %s\n", lines, path);
    exit(0);
}

// One record into the pipe with ONE write(): all of it, or nothing (EPIPE: the writer died).
void send_record(int pipe_write, std::string& line, unsigned long client, unsigned long* records) {
    ssize_t n;
    do {
        n = write(pipe_write, line.data(), line.size());
    } while (n == -1 && errno == EINTR);
    if (n == -1) common::die("client %lu: write to the pipe", client);
    ++*records;
    line.clear();
}

// A client process: echo every byte back, and pass each complete line to the writer.
// TCP keeps no message boundaries (ch04): a read() may hold half a line or several lines,
// so the line is assembled here first, and only whole lines go into the pipe.
void serve_client(int client_fd, int pipe_write, unsigned long client) {
    std::string line;  // the current line, until its '\n' arrives
    unsigned long records = 0;
    bool echo = true, split = false;  // split: the current line is too long, said once
    char buf[kBufSize];
    for (ssize_t n; (n = read(client_fd, buf, sizeof buf)) != 0;) {
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) break;  // ECONNRESET: every byte that came before the reset has been read
        // Store first, then echo: once the client has its echo, the line is in the pipe.
        for (char c : std::string_view(buf, static_cast<size_t>(n))) {
            if (c != '\n' && line.size() == kMaxRecord - 1) {  // no room left for the '\n':
                if (!split)                                    // store this piece as a line
                    common::note("client %lu: a line longer than %zu bytes is stored in pieces",
                                 client, kMaxRecord - 1);
                split = true;
                send_record(pipe_write, line += '\n', client, &records);
            }
            line += c;
            if (c == '\n') send_record(pipe_write, line, client, &records), split = false;
        }
        if (echo && !common::write_all(client_fd, buf, static_cast<size_t>(n))) echo = false;
    }
    if (!line.empty()) {  // the client ended mid-line: keep it, as a line of its own
        line += '\n';
        send_record(pipe_write, line, client, &records);
    }
    say("client " + std::to_string(client) + " disconnected: " + std::to_string(records) +
        " lines passed to the writer");
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 3) common::die_usage("PORT FILE");
    common::port_arg(argv[1]);  // a bad port exits (status 2) before FILE is created
    // A client that vanishes must not kill its process with SIGPIPE (write() gets EPIPE).
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");
    common::Fd file_fd(open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644));
    if (!file_fd) common::die("open %s", argv[2]);
    common::Fd listen_fd = common::listen_tcp(argv[1]);  // ch04's setup

    struct sigaction act {};
    act.sa_handler = reap_children;
    sigemptyset(&act.sa_mask);
    if (sigaction(SIGCHLD, &act, nullptr) == -1) common::die("sigaction");

    // fds[0] is the read end, fds[1] the write end.  fork() copies both descriptors.
    int fds[2];
    if (pipe(fds) == -1) common::die("pipe");
    common::Fd pipe_read(fds[0]), pipe_write(fds[1]);
    pid_t pid = fork();
    if (pid == -1) common::die("fork");
    if (pid == 0) {  // the writer keeps only the read end and FILE
        listen_fd.reset();
        pipe_write.reset();  // else its read() would never see end of file
        // Ctrl-C (SIGINT) reaches the whole foreground group, and a service manager sends
        // SIGTERM to all of it: the writer stays to store what is still in the pipe, and ends
        // by itself once the server and its client processes are gone.
        if (signal(SIGINT, SIG_IGN) == SIG_ERR || signal(SIGTERM, SIG_IGN) == SIG_ERR)
            common::die("writer: signal");
        run_writer(pipe_read.get(), file_fd.get(), argv[2]);
    }
    pipe_read.reset();  // no reader but the writer: if it dies, writes fail with EPIPE
    file_fd.reset();
    // The server keeps pipe_write, unused, for its next clients: each child inherits it.
    common::print_ready("listening on", listen_fd.get());

    for (unsigned long client = 0;;) {
        sockaddr_storage addr{};
        socklen_t addr_len = sizeof addr;
        common::Fd client_fd(
            accept(listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len));
        if (!client_fd && common::accept_failure(errno) == common::AcceptFailure::kRetry)
            continue;  // EINTR (a SIGCHLD), or ECONNABORTED, EPROTO...: a connection that died
                       // (one reset in the backlog is returned; its first read() says so)
        if (!client_fd) common::die("accept");  // pipe_store_server waits at the limits instead
        say("client " + std::to_string(++client) + " connected from " +
            common::to_string(reinterpret_cast<sockaddr*>(&addr)));

        pid = fork();
        if (pid == -1) common::die("fork");
        if (pid == 0) {  // the client process
            listen_fd.reset();
            serve_client(client_fd.get(), pipe_write.get(), client);
            exit(0);
        }
    }  // the server closes client_fd here: the child has its own copy
}
