// remove_zombie — reaping children from a SIGCHLD handler (book ch. 10, remove_zombie.c):
// the handler collects each status at once, so no child stays a zombie while the parent works.
//
// usage: remove_zombie [--seconds N]
//   --seconds N  how long both children live (0..60, default 10)
//
// What to observe (PIDs vary; the two children end at about the same moment):
//     Child proc id: 4102 ... wait...
//     wait...                                  (the first sleep(5) ran out)
//     removed proc id: 4102, child send: 12    (at 10 s: SIGCHLD cut the second one short)
//     removed proc id: 4103, child send: 24
//     both children removed
// `ps -o pid,ppid,stat,cmd --ppid $(pgrep -o remove_zombie)` meanwhile: S, then gone, never Z.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/help.hpp"

namespace {

volatile sig_atomic_t g_removed = 0;  // written by the handler, read by main

// Appends text or a decimal number to line[at...] and returns the new length: a tiny
// async-signal-safe formatter (the line is at most 64 bytes).
size_t put(char* line, size_t at, const char* text) {
    while (*text)
        line[at++] = *text++;
    return at;
}
size_t put(char* line, size_t at, long n) {
    char digits[24];
    int k = 0;
    do {
        digits[k++] = static_cast<char>('0' + n % 10);
        n /= 10;
    } while (n > 0);
    while (k > 0)
        line[at++] = digits[--k];
    return at;
}

// The kernel sends SIGCHLD when a child ends.  The handler loops: waitpid(-1, &status,
// WNOHANG) until it returns 0 (children still running) or -1 (none left).  The book calls
// waitpid() once per signal; but while a SIGCHLD is pending a second one is not queued, so
// when both children end together one run must reap both, or one stays a zombie.
void read_childproc(int) {
    int saved_errno = errno;  // waitpid() overwrites it: main must not see that
    int status;
    pid_t id;
    while ((id = waitpid(-1, &status, WNOHANG)) > 0) {
        char line[64];
        size_t len = put(line, put(line, 0, "removed proc id: "), long{id});
        if (WIFEXITED(status))
            len = put(line, put(line, len, ", child send: "), long{WEXITSTATUS(status)});
        else
            len = put(line, put(line, len, ", killed by signal "), long{WTERMSIG(status)});
        line[len++] = '\n';
        (void)!write(STDOUT_FILENO, line, len);  // not printf(): not async-signal-safe
        g_removed = g_removed + 1;
    }
    errno = saved_errno;
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    long seconds = 10;
    if (argc == 3 && strcmp(argv[1], "--seconds") == 0)
        seconds = common::number_arg("--seconds", argv[2], 0, 60);
    else if (argc != 1)
        common::die_usage("[--seconds N]");

    struct sigaction act {};
    act.sa_handler = read_childproc;
    sigemptyset(&act.sa_mask);
    act.sa_flags = 0;
    if (sigaction(SIGCHLD, &act, nullptr) == -1) common::die("sigaction");
    fflush(stdout);

    for (int child = 0; child < 2; ++child) {
        pid_t pid = fork();
        if (pid == -1) common::die("fork");
        if (pid == 0) {
            puts("Hi! I'm child process");
            fflush(stdout);
            sleep(static_cast<unsigned>(seconds));
            if (child == 0) return 12;
            exit(24);
        }
        printf("Child proc id: %d\n", pid);
        fflush(stdout);
    }

    // The parent works on; sleep() stands for the work, and SIGCHLD cuts it short.
    while (g_removed < 2) {
        puts("wait...");
        fflush(stdout);
        sleep(5);
    }
    puts("both children removed");
    return 0;
}
