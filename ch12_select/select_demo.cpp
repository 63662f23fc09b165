// select_demo — select() on one descriptor, stdin, with a time-out (book ch. 12, select.c).
//
// usage: select_demo [--timeout-s N]
//   --timeout-s N  seconds of quiet before "Time-out!" (1..3600, default 5)
//
// Type lines: each is printed as soon as it arrives; after N quiet seconds select() returns 0.
// What to observe (stdout, flushed per line; --timeout-s 5, a line typed after about 1.3 s):
//     message from console: hello
//       select left: FD_ISSET(0) = 1, timeout = {3 s, 712094 us}
//     Time-out!
//       select left: FD_ISSET(0) = 0, timeout = {0 s, 0 us}
// The indented line shows what select() did to its arguments.  End of input ends it (0).
#include <sys/select.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/help.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    constexpr const char* kUsage = "[--timeout-s N]";
    long timeout_s = 5;
    if (argc == 3 && strcmp(argv[1], "--timeout-s") == 0)
        timeout_s = common::number_arg("--timeout-s", argv[2], 1, 3600);
    else if (argc != 1)
        common::die_usage(kUsage);

    fd_set reads;  // the set we keep: only stdin (descriptor 0)
    FD_ZERO(&reads);
    FD_SET(STDIN_FILENO, &reads);

    std::string line;  // a line that has started to arrive but has no '\n' yet
    for (;;) {
        // select() keeps in the set only the descriptors that are ready (after a time-out:
        // none), and Linux writes the time it did not wait back into the timeval.  Handed on
        // unchanged, both would make the next call watch nothing, for 0 seconds: so each turn
        // gives it a fresh copy of the set (the book's  temps = reads ) and a fresh time-out.
        fd_set temps = reads;
        timeval timeout{.tv_sec = timeout_s, .tv_usec = 0};
        int result = select(STDIN_FILENO + 1, &temps, nullptr, nullptr, &timeout);
        if (result == -1) {
            if (errno == EINTR) continue;
            common::die("select");
        }

        bool at_end = false;
        if (result == 0) {
            puts("Time-out!");
        } else if (FD_ISSET(STDIN_FILENO, &temps)) {
            // read(), never fgets(): select() watches the descriptor, not stdio's buffer, and
            // a line that stdio had already buffered would be invisible to it.
            char buf[1024];
            ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
            if (n == -1 && errno != EINTR) common::die("read");
            // End of input (Ctrl-D, the end of a pipe): stdin stays readable for ever and
            // read() returns 0 each time, so a loop that ignored it would spin.
            if (n == 0) at_end = true;
            if (n > 0) line.append(buf, static_cast<size_t>(n));
            // One read() may bring part of a line, or several lines: print the whole ones.
            for (size_t nl; (nl = line.find('\n')) != std::string::npos; line.erase(0, nl + 1))
                printf("message from console: %.*s\n", static_cast<int>(nl), line.c_str());
            if (at_end && !line.empty()) printf("message from console: %s\n", line.c_str());
        }
        printf("  select left: FD_ISSET(0) = %d, timeout = {%ld s, %ld us}\n",
               FD_ISSET(STDIN_FILENO, &temps) ? 1 : 0, static_cast<long>(timeout.tv_sec),
               static_cast<long>(timeout.tv_usec));
        fflush(stdout);
        if (at_end) return 0;
    }
}
