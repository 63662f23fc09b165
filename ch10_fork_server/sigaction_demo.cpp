// sigaction_demo — signal handlers installed with sigaction() (book ch. 10, sigaction.c):
// the same lesson as signal_demo.cpp, with every detail of the handling spelled out.
//
// usage: sigaction_demo [--alarm N] [--oneshot]
//   --alarm N   seconds between alarms (1..60, default 2)
//   --oneshot   SA_RESETHAND on SIGINT: the handler is reset after its first run
//
// What to observe: press Ctrl-C once while it waits; it prints the same lines as
// signal_demo ("CTRL+C pressed", "Time out!", "sleep(100) returned early, 99 s left").
// With --oneshot the first Ctrl-C prints "CTRL+C pressed", the second ends the program.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/help.hpp"

namespace {

unsigned g_alarm_seconds = 2;  // set before the handlers are installed, only read after

void timeout(int sig) {
    if (sig == SIGALRM) {
        const char msg[] = "Time out!\n";
        (void)!write(STDOUT_FILENO, msg, sizeof msg - 1);  // write(): async-signal-safe
    }
    alarm(g_alarm_seconds);
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
    bool oneshot = false;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--alarm") == 0 && i + 1 < argc)
            g_alarm_seconds =
                static_cast<unsigned>(common::number_arg("--alarm", argv[++i], 1, 60));
        else if (strcmp(argv[i], "--oneshot") == 0)
            oneshot = true;
        else
            common::die_usage("[--alarm N] [--oneshot]");
    }

    // struct sigaction says exactly what happens, where signal() leaves it to the system.
    struct sigaction act {};
    act.sa_handler = timeout;  // the function to call
    sigemptyset(&act.sa_mask);
    // sa_mask: signals blocked while the handler runs.  A SIGINT waits until the SIGALRM
    // handler has returned, then its own handler runs.
    sigaddset(&act.sa_mask, SIGINT);
    // sa_flags 0: the handler stays installed (SA_RESETHAND would make it one-shot, the old
    // System V signal()), and an interrupted read/accept/... fails with EINTR instead of
    // being restarted (SA_RESTART, glibc's signal() default).
    act.sa_flags = 0;
    if (sigaction(SIGALRM, &act, nullptr) == -1) common::die("sigaction SIGALRM");

    act.sa_handler = keycontrol;
    sigemptyset(&act.sa_mask);  // only SIGINT itself is blocked while keycontrol runs
    // --oneshot: the default action is back after the first SIGINT, so the second one ends it.
    act.sa_flags = oneshot ? SA_RESETHAND : 0;
    if (sigaction(SIGINT, &act, nullptr) == -1) common::die("sigaction SIGINT");
    alarm(g_alarm_seconds);

    for (int i = 0; i < 3; i++) {
        puts("wait...");
        fflush(stdout);
        unsigned left = sleep(100);  // never restarted, whatever the flags: the seconds left
        if (left > 0)
            printf("sleep(100) returned early, %u s left\n", left);
        else
            puts("sleep(100) slept all 100 s");
        fflush(stdout);
    }
    return 0;
}
