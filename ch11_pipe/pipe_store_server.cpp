// pipe_store_server — echo_storeserv.cpp's pipe, made to hold load: the writer's death
// stops the server at once (SIGCHLD only inside ppoll()), and the descriptor and process
// limits make clients wait instead of ending the server.
//
// usage: pipe_store_server PORT FILE
//
// What you will see: echo_storeserv's lines, and on stderr what it does at a limit, e.g.
//     pipe_store_server: accept: Too many open files: retrying when a client process ends, or in 1
//     s pipe_store_server: the writer process has ended; stopping
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
// A bigger write may be split, and other writers' bytes may land in between.
constexpr size_t kMaxRecord = PIPE_BUF;

volatile sig_atomic_t writer_pid = 0;
volatile sig_atomic_t writer_gone = 0;
volatile sig_atomic_t clients_running = 0;  // client processes not yet reaped

// SIGCHLD: reap every child that has ended — several may end before the handler runs.
void reap_children(int) {
    int saved_errno = errno;
    pid_t pid;
    while ((pid = waitpid(-1, nullptr, WNOHANG)) > 0) {
        if (pid == writer_pid)
            writer_gone = 1;
        else
            clients_running = clients_running - 1;
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
        // write() on a file, no stdio buffer: a line is in FILE as soon as it is read here.
        if (!common::write_all(file_fd, buf, static_cast<size_t>(n)))
            common::die("writer: write to %s", path);
        lines += static_cast<unsigned long>(std::count(buf, buf + n, '\n'));
    }
    printf("writer: end of pipe: %lu lines appended to %s\n", lines, path);
    exit(0);
}

// One line into the pipe with ONE write() of at most PIPE_BUF bytes: all of it, or nothing.
bool send_record(int pipe_write, std::string_view record) {
    ssize_t n;
    do {
        n = write(pipe_write, record.data(), record.size());
    } while (n == -1 && errno == EINTR);
    if (n == -1) return false;                      // EPIPE: no reader left (the writer has died)
    if (static_cast<size_t>(n) != record.size()) {  // pipe(7): cannot happen at this size
        errno = EIO;
        return false;
    }
    return true;
}

// A client process: echo every byte back, and pass each complete line to the writer.
// Lines of concurrent clients never mix: one whole line per write() of at most PIPE_BUF bytes.
// A longer line is stored as several lines of at most 4095 bytes (one stderr line says so); a
// last line without '\n' (the client closed or reset mid-line) is stored with a '\n' added.
// TCP keeps no message boundaries (ch04): a read() may hold half a line or several lines,
// so the line is assembled here first, and only whole lines go into the pipe.
int serve_client(int client_fd, int pipe_write, unsigned long client) {
    std::string line;  // the current line, until its '\n' arrives
    unsigned long records = 0;
    bool echo = true, split = false;
    char buf[kBufSize];
    for (;;) {
        ssize_t n = read(client_fd, buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) {  // ECONNRESET: a reset; every byte that came before it has been read
            common::warn("client %lu: read", client);
            break;
        }
        if (n == 0) break;  // end of stream
        // Store first, then echo: once the client has its echo, the line is in the pipe.
        for (std::string_view data(buf, static_cast<size_t>(n)); !data.empty();) {
            size_t room = kMaxRecord - line.size();  // what still fits, the '\n' included
            size_t nl = data.substr(0, room).find('\n');
            if (nl == std::string_view::npos && room > 1) {  // the line goes on
                size_t take = std::min(data.size(), room - 1);
                line.append(data.substr(0, take));
                data.remove_prefix(take);
                continue;
            }
            if (nl != std::string_view::npos) {  // a whole line (or a long line's last piece)
                line.append(data.substr(0, nl + 1));
                data.remove_prefix(nl + 1);
                split = false;
            } else {  // 4095 bytes and no '\n' yet: this piece becomes a line of its own
                line += '\n';
                if (!split)
                    common::note("client %lu: a line longer than %zu bytes is stored in pieces",
                                 client, kMaxRecord - 1);
                split = true;
            }
            if (!send_record(pipe_write, line))
                common::die("client %lu: write to the pipe", client);
            ++records;
            line.clear();
        }
        // After a failed echo keep reading: what the client sent before it vanished is stored.
        if (echo && !common::write_all(client_fd, buf, static_cast<size_t>(n))) {
            common::warn("client %lu: write", client);
            echo = false;
        }
    }
    if (!line.empty()) {  // the client ended mid-line: keep it, as a line of its own
        line += '\n';
        if (!send_record(pipe_write, line)) common::die("client %lu: write to the pipe", client);
        ++records;
    }
    say("client " + std::to_string(client) + " disconnected: " + std::to_string(records) +
        " lines passed to the writer");
    return 0;
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

    // ch04's setup (socket, SO_REUSEADDR, bind, listen), non-blocking: accept() is called once
    // ppoll() says a client waits, and if that client is gone by then, accept() must return
    // (EAGAIN), not block (see the loop).
    common::Fd listen_fd = common::listen_tcp(argv[1], SOCK_NONBLOCK);

    // The handler is in place, and SIGCHLD blocked, before the writer exists: a writer that
    // dies at once is still reaped and noticed.  From here on the server lets SIGCHLD in only
    // inside ppoll() below; the children restore the mask they were born with.
    struct sigaction act {};
    act.sa_handler = reap_children;
    sigemptyset(&act.sa_mask);
    act.sa_flags = 0;
    if (sigaction(SIGCHLD, &act, nullptr) == -1) common::die("sigaction");
    sigset_t chld, unblocked;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &chld, &unblocked) == -1) common::die("sigprocmask");

    // fds[0] is the read end, fds[1] the write end.  fork() copies both descriptors.
    int fds[2];
    if (pipe(fds) == -1) common::die("pipe");
    common::Fd pipe_read(fds[0]), pipe_write(fds[1]);

    pid_t pid = fork();
    if (pid == -1) common::die("fork");
    if (pid == 0) {  // the writer keeps only the read end and FILE
        sigprocmask(SIG_SETMASK, &unblocked, nullptr);
        listen_fd.reset();
        pipe_write.reset();  // else its read() would never see end of file
        // Ctrl-C (SIGINT) reaches the whole foreground group, and a service manager sends
        // SIGTERM to all of it: the writer stays to store what is still in the pipe, and ends
        // by itself once the others are gone.  (SIGKILL still ends it at once.)
        if (signal(SIGINT, SIG_IGN) == SIG_ERR || signal(SIGTERM, SIG_IGN) == SIG_ERR)
            common::die("writer: signal");
        run_writer(pipe_read.get(), file_fd.get(), argv[2]);
    }
    writer_pid = pid;
    pipe_read.reset();  // no reader but the writer: if it dies, writes fail with EPIPE
    file_fd.reset();
    // The server keeps pipe_write, unused, for its next clients: each child inherits it.

    // Printed and flushed with SIGCHLD blocked: no signal can make the fflush() fail with
    // EINTR and leave the line in stdio's buffer for the next fork() to copy into a child.
    common::print_ready("listening on", listen_fd.get());
    pollfd listener{.fd = listen_fd.get(), .events = POLLIN, .revents = 0};
    bool at_limit = false;                  // said once, until a client is accepted again
    bool paused = false;                    // at a limit: wait for a child's end only ...
    const timespec* pause_limit = nullptr;  // ... at most this long (nullptr: no limit)
    const timespec one_second{1, 0};
    for (unsigned long client = 0;;) {
        // The only place SIGCHLD gets in: ppoll() unblocks it and waits, in one step.  A child
        // that ended before (its SIGCHLD pending) ends the wait at once (EINTR), and the check
        // below sees what the handler did.  The book's way -- check, then block in accept() --
        // has a window: a SIGCHLD between the two runs the handler without waking accept(),
        // and the writer's death goes unnoticed until the next client comes (and is lost).
        // While paused at a limit, the listening socket is left out: clients wait in the
        // backlog until a child ends (or the time is up).
        int ready = ppoll(&listener, paused ? 0 : 1, paused ? pause_limit : nullptr, &unblocked);
        if (ready == -1 && errno != EINTR) common::die("ppoll");
        if (writer_gone) common::fatal("the writer process has ended; stopping");
        if (paused || ready <= 0) {  // a child ended (EINTR), or the pause is over
            paused = false;
            continue;
        }

        sockaddr_storage addr{};
        socklen_t addr_len = sizeof addr;
        common::Fd client_fd(
            accept(listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len));
        if (!client_fd) {
            switch (common::accept_failure(errno)) {
                case common::AcceptFailure::kRetry:  // (a client reset in the backlog is no
                    common::warn("accept");          // error on Linux: accept() returns it)
                    continue;
                case common::AcceptFailure::kWouldBlock:  // the client has gone already
                    continue;
                case common::AcceptFailure::kExhausted:  // EMFILE, ENFILE, ENOBUFS, ENOMEM
                    if (!at_limit)
                        common::note("accept: %s: retrying when a client process ends, or in 1 s",
                                     strerror(errno));
                    at_limit = paused = true;
                    pause_limit = &one_second;
                    continue;
                case common::AcceptFailure::kFatal:  // EBADF, EINVAL, ...: a bug
                    common::die("accept");
            }
        }
        at_limit = false;
        ++client;
        say("client " + std::to_string(client) + " connected from " +
            common::to_string(reinterpret_cast<sockaddr*>(&addr)));

        pid = fork();
        if (pid == -1) {  // EAGAIN (process limit), ENOMEM: this one client is refused
            common::note(
                "fork: %s: client %lu dropped; the next clients wait until a client process ends",
                strerror(errno), client);
            // Wait for a client process to end; with none running, or for ENOMEM, 1 s at most.
            paused = true;
            pause_limit = errno == EAGAIN && clients_running > 0 ? nullptr : &one_second;
            continue;  // client_fd closes: the connection ends
        }
        if (pid == 0) {  // the client process
            sigprocmask(SIG_SETMASK, &unblocked, nullptr);
            listen_fd.reset();
            int status = serve_client(client_fd.get(), pipe_write.get(), client);
            exit(status);
        }
        clients_running = clients_running + 1;  // (SIGCHLD is blocked: no handler meanwhile)
    }  // the server closes client_fd here: the child has its own copy
}
