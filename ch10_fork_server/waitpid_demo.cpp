// waitpid_demo — collecting a child's status without blocking: waitpid(..., WNOHANG)
// (book ch. 10, waitpid.c).  The parent keeps working and asks again now and then.
//
// usage: waitpid_demo [--child-seconds N] [--poll-ms M]
//   --child-seconds N  how long the child lives (0..60, default 15, the book's)
//   --poll-ms M        pause between polls (10..10000, default 3000, the book's)
//
// What to observe (with the defaults: five polls, then the status):
//     Child PID: 4102
//     waitpid() returned 0: child still running, parent works 3000 ms
//     ...
//     waitpid() returned 4102: Child send 24
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/help.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    long child_seconds = 15, poll_ms = 3000;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) common::die_usage("[--child-seconds N] [--poll-ms M]");
        if (strcmp(argv[i], "--child-seconds") == 0)
            child_seconds = common::number_arg("--child-seconds", argv[i + 1], 0, 60);
        else if (strcmp(argv[i], "--poll-ms") == 0)
            poll_ms = common::number_arg("--poll-ms", argv[i + 1], 10, 10000);
        else
            common::die_usage("[--child-seconds N] [--poll-ms M]");
    }
    fflush(stdout);

    pid_t pid = fork();
    if (pid == -1) common::die("fork");
    if (pid == 0) {
        sleep(static_cast<unsigned>(child_seconds));
        return 24;
    }
    printf("Child PID: %d\n", pid);
    fflush(stdout);

    int status;
    pid_t done;
    // Any child (-1); WNOHANG: return 0 at once while none has ended, where wait() would
    // block.  Each "returned 0" line is the parent at work while its child is alive.
    while ((done = waitpid(-1, &status, WNOHANG)) == 0) {
        printf("waitpid() returned 0: child still running, parent works %ld ms\n", poll_ms);
        fflush(stdout);
        std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));  // the "work"
    }
    if (done == -1) common::die("waitpid");
    printf("waitpid() returned %d: ", done);  // the child's PID; decoded as in wait_demo.cpp
    if (WIFEXITED(status))
        printf("Child send %d\n", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        printf("killed by signal %d\n", WTERMSIG(status));
    return 0;
}
