// fork_demo — what fork() copies (book ch. 10, fork.c): a second process, a copy of the
// caller (code, variables, open descriptors); from then on each changes only its own copy.
//
// usage: fork_demo (no arguments)
//
// What to observe (the PIDs differ from run to run):
//     before fork: gval 11, lval 25 (pid 4101)
//     Child Proc: [13, 27] (pid 4102, fork() returned 0, &gval 0x55d6c61b8010)
//     Parent Proc: [9, 23] (pid 4101, fork() returned 4102, &gval 0x55d6c61b8010)
// fork() returns twice: 0 in the child, the child's PID in the parent.  The child's +2 and the
// parent's -2 never meet, though &gval is the same in both.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "common/error.hpp"
#include "common/help.hpp"

namespace {
int gval = 10;  // a global: in the data segment, copied like everything else
}

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");
    int lval = 20;  // a local: on the stack, copied too
    gval++, lval += 5;
    printf("before fork: gval %d, lval %d (pid %d)\n", gval, lval, getpid());
    // Flush before fork(): text still in stdout's buffer would be copied into the child and
    // printed twice (once by each process) when stdout is a pipe or a file.
    fflush(stdout);

    pid_t pid = fork();  // returns twice: 0 in the child, the child's PID in the parent
    if (pid == -1) common::die("fork");
    if (pid == 0) {  // the child
        // Its own copies.  The address printed below is virtual: the same address names a
        // different page in each process (copy-on-write).
        gval += 2, lval += 2;
        printf("Child Proc: [%d, %d] (pid %d, fork() returned %d, &gval %p)\n", gval, lval,
               getpid(), pid, static_cast<void*>(&gval));
        fflush(stdout);
        return 0;
    }

    gval -= 2, lval -= 2;  // the parent
    // Wait for the child, so that its line comes first and no zombie is left (zombie.cpp);
    // its exit status says it is done.
    int status;
    if (waitpid(pid, &status, 0) == -1) common::die("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) common::fatal("the child failed");
    printf("Parent Proc: [%d, %d] (pid %d, fork() returned %d, &gval %p)\n", gval, lval, getpid(),
           pid, static_cast<void*>(&gval));
    return 0;
}
