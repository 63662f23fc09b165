// wait_demo — the parent collects its children's exit statuses with wait() (book ch. 10,
// wait.c).  Collecting the status is what lets the kernel remove a dead child: no zombie.
//
// usage: wait_demo [--child-seconds N]
//   --child-seconds N  how long child 2 lives (0..60, default 2)
//
// What to observe (PIDs vary; a child's status is what its main returned or exit() got):
//     Child PID: 4102
//     Child PID: 4103
//     wait() blocks until a child ends ...
//     wait() returned 4102 after 0.0 s: Child send 3
//     wait() returned 4103 after 2.0 s: Child send 7
// The parent does nothing else for those N seconds; waitpid_demo.cpp does not block.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/help.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    long child_seconds = 2;
    if (argc == 3 && strcmp(argv[1], "--child-seconds") == 0)
        child_seconds = common::number_arg("--child-seconds", argv[2], 0, 60);
    else if (argc != 1)
        common::die_usage("[--child-seconds N]");
    const auto start = std::chrono::steady_clock::now();

    pid_t pid = fork();
    if (pid == -1) common::die("fork");
    if (pid == 0) return 3;  // child 1: its status is main's return value
    printf("Child PID: %d\n", pid);
    fflush(stdout);  // before the next fork(), so the text is not copied into child 2

    pid = fork();
    if (pid == -1) common::die("fork");
    if (pid == 0) {  // child 2
        sleep(static_cast<unsigned>(child_seconds));
        exit(7);
    }
    printf("Child PID: %d\n", pid);
    puts("wait() blocks until a child ends ...");
    fflush(stdout);

    for (int i = 0; i < 2; ++i) {
        int status;
        // Any child that has ended, in any order; blocks while none has.
        pid_t done = wait(&status);
        if (done == -1) common::die("wait");
        std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
        printf("wait() returned %d after %.1f s: ", done, took.count());
        // WIFEXITED: the child ended normally, and WEXITSTATUS is the low 8 bits of its exit
        // value.  A child killed by a signal: WIFSIGNALED, WTERMSIG ("killed by signal 9").
        if (WIFEXITED(status))
            printf("Child send %d\n", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
            printf("killed by signal %d\n", WTERMSIG(status));
        fflush(stdout);
    }
    return 0;
}
