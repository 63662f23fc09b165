// zombie — a zombie process (僵尸进程) (book ch. 10, zombie.c): the child ends at once,
// the parent never asks for its exit status, so the dead child stays in state Z.
//
// usage: zombie [--seconds N]
//   --seconds N  how long the parent lives on (1..3600, default 30)
//
// What to observe (the order of the first lines may vary):
//     Hi, I am a child process
//     End child process
//     Child Process ID: 4102
//     look now, from another terminal:  ps -o pid,ppid,stat,cmd -p 4102
//     End parent process                       (after N seconds)
// Meanwhile ps shows the child as STAT Z, command [zombie] <defunct>; then it is gone.
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/help.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    long seconds = 30;
    if (argc == 3 && strcmp(argv[1], "--seconds") == 0)
        seconds = common::number_arg("--seconds", argv[2], 1, 3600);
    else if (argc != 1)
        common::die_usage("[--seconds N]");
    fflush(stdout);  // nothing buffered may be copied into the child (see fork_demo.cpp)

    pid_t pid = fork();
    if (pid == -1) common::die("fork");
    if (pid == 0) {
        puts("Hi, I am a child process");
        puts("End child process");
        // The child is dead from here on, but not gone.  The kernel must keep its exit status
        // until someone asks (wait/waitpid), so it stays in the process table in state Z: no
        // memory or CPU, but a PID and a slot.  A server that forks a child per client and
        // never reaps makes one per client.  wait_demo, waitpid_demo, remove_zombie: the cures.
        return 0;
    }

    printf("Child Process ID: %d\n", pid);
    printf("look now, from another terminal:  ps -o pid,ppid,stat,cmd -p %d\n", pid);
    fflush(stdout);
    // sleep() returns early only if a signal handler ran; none is installed, but loop anyway.
    for (unsigned left = static_cast<unsigned>(seconds); left > 0;)
        left = sleep(left);
    puts("End parent process");
    // When the parent ends, the zombie is handed to init (PID 1, or the nearest "subreaper"),
    // which reaps it, and it is gone.
    return 0;
}
