// pipe3 — two pipes, one per direction (book ch. 11): the correct way for two processes
// to talk both ways, with no sleep() and no race.
//
// usage: pipe3 [--slow-parent]
//   --slow-parent  the parent sleeps 3 s before it reads, longer than pipe2's sleep(2)
//
// What you will see (also with --slow-parent: the child just waits):
//     Parent proc output: Who are you?
//     Child proc output: Thank you for your message
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/help.hpp"
#include "common/io.hpp"

namespace {

constexpr std::string_view kQuestion = "Who are you?";
constexpr std::string_view kAnswer = "Thank you for your message";

// A pipe is a byte stream: read until end of file, when every write end is closed.
std::string read_to_eof(int fd) {
    std::string text;
    char buf[64];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("read");
        if (n == 0) return text;
        text.append(buf, static_cast<size_t>(n));
    }
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    bool slow_parent = argc == 2 && strcmp(argv[1], "--slow-parent") == 0;
    if (argc > 2 || (argc == 2 && !slow_parent)) common::die_usage("[--slow-parent]");

    // The child writes only into fds1 and reads only from fds2, so it can never read its own
    // message back (pipe2's race).  Each process closes the ends it does not use; then each
    // message can end with close(), and the reader sees end of file (read() == 0) — also if
    // the other process dies before it answers, so no read here can wait forever.
    int fds1[2], fds2[2];  // fds1: child -> parent, fds2: parent -> child
    if (pipe(fds1) == -1 || pipe(fds2) == -1) common::die("pipe");

    pid_t pid = fork();
    if (pid == -1) common::die("fork");
    if (pid == 0) {  // the child: writes into fds1, reads from fds2
        close(fds1[0]);
        close(fds2[1]);
        if (!common::write_all(fds1[1], kQuestion)) common::die("child: write");
        close(fds1[1]);  // the question is complete: the parent sees end of file
        std::string answer = read_to_eof(fds2[0]);
        if (answer.empty())
            printf("child: the parent closed its pipe without an answer\n");
        else
            printf("Child proc output: %s\n", answer.c_str());
        exit(0);
    }

    close(fds1[1]);  // the parent: reads from fds1, writes into fds2
    close(fds2[0]);
    if (slow_parent) sleep(3);
    std::string question = read_to_eof(fds1[0]);
    printf("Parent proc output: %s\n", question.c_str());
    fflush(stdout);  // before the child can print its line
    if (!common::write_all(fds2[1], kAnswer)) common::die("write");
    close(fds2[1]);  // the answer is complete

    if (waitpid(pid, nullptr, 0) == -1) common::die("waitpid");
    return 0;
}
