// pipe2 — one pipe used in both directions (book ch. 11), and the race it contains: a pipe
// does not know who wrote which bytes, whoever calls read() first takes them.
//
// usage: pipe2 [--sleep N] [--slow-parent]
//   --sleep N      the child's sleep before it reads (0..10 s, default 2: the book's "fix")
//   --slow-parent  the parent reads only after the child has finished: the race is lost
//
// What you will see, usually:
//     Parent proc output: Who are you?
//     Child proc output: Thank you for your message
// and with --slow-parent, whatever the sleep:
//     child: that is my own message: I read it back before the parent did
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/help.hpp"

namespace {

using namespace std::chrono;
constexpr std::string_view kQuestion = "Who are you?";
constexpr std::string_view kAnswer = "Thank you for your message";
constexpr int kWaitMs = 5000;
constexpr const char* kUsage = "[--sleep N] [--slow-parent]";

// Reads what is in the pipe, waiting at most WAIT_MS for something to arrive.  Returns the
// byte count, or -1 if nothing came in time.  (poll() may report bytes that the other process
// takes before our read(): then read() fails with EAGAIN, and we wait again.)
ssize_t read_within(int fd, char* buf, size_t len, int wait_ms) {
    auto deadline = steady_clock::now() + milliseconds(wait_ms);
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0) return n;  // never 0 here: this process holds a write end itself
        if (errno != EAGAIN && errno != EINTR) common::die("read");
        auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
        if (left <= 0) return -1;
        pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
        if (poll(&p, 1, static_cast<int>(left)) == -1 && errno != EINTR) common::die("poll");
    }
}

void write_message(int fd, std::string_view text) {
    ssize_t n;
    do {
        n = write(fd, text.data(), text.size());  // a few bytes: one write() takes them all
    } while (n == -1 && errno == EINTR);
    if (n == -1) common::die("write");
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    long sleep_seconds = 2;
    bool slow_parent = false;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--sleep") == 0 && i + 1 < argc)
            sleep_seconds = common::number_arg("--sleep", argv[++i], 0, 10);
        else if (strcmp(argv[i], "--slow-parent") == 0)
            slow_parent = true;
        else
            common::die_usage(kUsage);
    }

    int fds[2];  // one pipe, both directions: fds[0] to read, fds[1] to write
    if (pipe(fds) == -1) common::die("pipe");
    // The book's parent blocks in read() forever when the child took the bytes: it holds a
    // write end itself, so end of file never comes.  Here each read waits at most 5 s (poll),
    // and the read end is non-blocking, so a process woken by poll() whose bytes the other
    // one took meanwhile waits again instead of hanging.
    // O_NONBLOCK belongs to the open pipe, which fork() shares: set once, it holds for both.
    if (fcntl(fds[0], F_SETFL, O_NONBLOCK) == -1) common::die("fcntl");

    pid_t pid = fork();
    if (pid == -1) common::die("fork");
    char buf[64];
    if (pid == 0) {  // the child: ask, wait, read the answer (or so it hopes)
        write_message(fds[1], kQuestion);
        // A sleep makes the race unlikely, never impossible (--sleep 0 is the book's own
        // experiment; --slow-parent the schedule a busy machine can produce); pipe3 removes it.
        sleep(static_cast<unsigned>(sleep_seconds));  // the book's "fix"
        ssize_t n = read_within(fds[0], buf, sizeof buf, kWaitMs);
        if (n < 0) {
            printf("child: no answer within %d s\n", kWaitMs / 1000);
            exit(0);
        }
        std::string_view got(buf, static_cast<size_t>(n));
        printf("Child proc output: %.*s\n", static_cast<int>(got.size()), got.data());
        if (got == kQuestion)
            printf("child: that is my own message: I read it back before the parent did\n");
        exit(0);
    }

    // The parent: read the question, write the answer.
    if (slow_parent && waitpid(pid, nullptr, 0) == -1) common::die("waitpid");
    // A slow parent's child has ended: whatever is not in the pipe now never comes.
    ssize_t n = read_within(fds[0], buf, sizeof buf, slow_parent ? 0 : kWaitMs);
    if (n < 0) {
        printf(
            "parent: nothing to read: the child took its own message "
            "(without a time limit, read() would wait forever)\n");
    } else {
        printf("Parent proc output: %.*s\n", static_cast<int>(n), buf);
        fflush(stdout);  // before the child can print its line
        write_message(fds[1], kAnswer);
    }
    fflush(stdout);
    if (!slow_parent && waitpid(pid, nullptr, 0) == -1) common::die("waitpid");
    return 0;
}
