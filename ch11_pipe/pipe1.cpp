// pipe1 — a pipe (管道) between two processes (book ch. 11): the child writes, the parent
// reads.
//
// usage: pipe1 (no arguments)
//
// What you will see (the pid varies):
//     pipe: fds[0] = 3 is the read end, fds[1] = 4 is the write end
//     child: writes "Who are you?" into fds[1]
//     parent: read "Who are you?" from fds[0]
//     parent: read() returned 0: end of file, no write end is open any more
//     parent: child 12345 exited with status 0
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/help.hpp"
#include "common/io.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");
    constexpr std::string_view kMessage = "Who are you?";

    int fds[2];
    // After fork() two processes share no memory (ch10): they exchange data through the
    // kernel.  pipe(fds) creates a pipe and two descriptors for it: fds[0] is the read end
    // (出口), fds[1] the write end (入口).  fork() copies both into the child.
    if (pipe(fds) == -1) common::die("pipe");
    printf("pipe: fds[0] = %d is the read end, fds[1] = %d is the write end\n", fds[0], fds[1]);
    fflush(stdout);  // before fork(): else the child inherits the buffered line and prints it too

    pid_t pid = fork();
    if (pid == -1) common::die("fork");
    if (pid == 0) {  // the child: writes, then ends (exit closes its write end)
        close(fds[0]);
        printf("child: writes \"%.*s\" into fds[1]\n", static_cast<int>(kMessage.size()),
               kMessage.data());
        fflush(stdout);
        if (!common::write_all(fds[1], kMessage)) common::die("child: write");
        close(fds[1]);
        exit(0);
    }

    // read() returns 0 only when every write end is closed: the parent's own copy of fds[1]
    // would keep it waiting for itself forever.
    close(fds[1]);  // the parent only reads
    std::string received;
    char buf[64];
    for (;;) {  // a pipe is a byte stream, like TCP: read until end of file
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("read");
        if (n == 0) break;
        received.append(buf, static_cast<size_t>(n));
    }
    printf("parent: read \"%s\" from fds[0]\n", received.c_str());
    printf("parent: read() returned 0: end of file, no write end is open any more\n");
    close(fds[0]);

    int status;
    if (waitpid(pid, &status, 0) == -1) common::die("waitpid");
    if (WIFEXITED(status))
        printf("parent: child %d exited with status %d\n", static_cast<int>(pid),
               WEXITSTATUS(status));
    else
        printf("parent: child %d was killed by signal %d\n", static_cast<int>(pid),
               WTERMSIG(status));
    return 0;
}
