// zombie.cpp — a zombie process (僵尸进程) (book ch. 10, zombie.c).  The child ends at once;
// the parent never asks for its exit status (no wait/waitpid).  The kernel must keep that
// status until someone asks, so the dead child stays in the process table in state Z.
//
// usage: zombie [--seconds N]      N: how long the parent lives on (1..3600, default 30)
//
// What to observe (the order of the first lines may vary):
//     Hi, I am a child process
//     End child process
//     Child Process ID: 4102
//     look now, from another terminal:  ps -o pid,ppid,stat,cmd -p 4102
//     End parent process                       (after N seconds)
// While the parent sleeps, ps shows the child as a zombie: STAT Z, command <defunct>.
//     PID    PPID STAT CMD
//     4102   4101 Z+   [zombie] <defunct>
// It uses no memory or CPU, but it holds a PID and a process-table slot; a server that
// forks a child per client and never reaps makes one per client.  When the parent ends, the
// zombie is handed to init (PID 1, or the nearest "subreaper"), which reaps it, and it is
// gone.  wait_demo.cpp, waitpid_demo.cpp and remove_zombie.cpp show the cures.
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "common/args.hpp"
#include "common/error.hpp"

int main(int argc, char* argv[]) {
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
        return 0;  // the child is dead from here on, but not gone: nobody collects its status
    }

    printf("Child Process ID: %d\n", pid);
    printf("look now, from another terminal:  ps -o pid,ppid,stat,cmd -p %d\n", pid);
    fflush(stdout);
    // sleep() returns early only if a signal handler ran; none is installed, but loop anyway.
    for (unsigned left = static_cast<unsigned>(seconds); left > 0;)
        left = sleep(left);
    puts("End parent process");
    return 0;  // the zombie goes to init, which reaps it
}
