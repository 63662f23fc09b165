// signal_demo — signal handlers with signal(): SIGALRM from alarm(), SIGINT from Ctrl-C
// (book ch. 10, signal.c).  A handled signal also wakes the process from sleep().
//
// usage: signal_demo [--alarm N]
//   --alarm N  seconds between alarms (1..60, default 2, the book's)
//
// What to observe (press Ctrl-C once while it waits):
//     wait...
//     ^CCTRL+C pressed
//     sleep(100) returned early, 99 s left
//     wait...                                  (then, after 2 s)  Time out!
// Three sleep(100) calls, yet it ends after about 2 alarms (4 s), and Ctrl-C does not end it.
// sigaction_demo.cpp does the same with sigaction(), the interface to prefer.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/help.hpp"

namespace {

unsigned g_alarm_seconds = 2;  // set before the handlers are installed, only read after

// Handlers print with write(), not puts(): only async-signal-safe calls may run in a handler
// (README, "Pitfalls").
void timeout(int sig) {
    if (sig == SIGALRM) {
        const char msg[] = "Time out!\n";
        (void)!write(STDOUT_FILENO, msg, sizeof msg - 1);
    }
    alarm(g_alarm_seconds);  // the next alarm: SIGALRM comes every N seconds
}

void keycontrol(int sig) {
    if (sig == SIGINT) {
        const char msg[] = "CTRL+C pressed\n";
        (void)!write(STDOUT_FILENO, msg, sizeof msg - 1);
    }
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc == 3 && strcmp(argv[1], "--alarm") == 0)
        g_alarm_seconds = static_cast<unsigned>(common::number_arg("--alarm", argv[2], 1, 60));
    else if (argc != 1)
        common::die_usage("[--alarm N]");

    // The book's calls.  On Linux (glibc) signal() keeps the handler installed after each
    // delivery; other systems reset it to the default — one reason to prefer sigaction().
    if (signal(SIGALRM, timeout) == SIG_ERR) common::die("signal SIGALRM");
    // Ctrl-C no longer ends the program: its handler replaces the default action.
    if (signal(SIGINT, keycontrol) == SIG_ERR) common::die("signal SIGINT");
    alarm(g_alarm_seconds);  // SIGALRM in N seconds

    for (int i = 0; i < 3; i++) {
        puts("wait...");
        fflush(stdout);
        // A signal that runs a handler ends the sleep early; sleep() returns the seconds it
        // did not sleep.
        unsigned left = sleep(100);
        if (left > 0)
            printf("sleep(100) returned early, %u s left\n", left);
        else
            puts("sleep(100) slept all 100 s");
        fflush(stdout);
    }
    return 0;
}
