// dup_demo — dup() and dup2(), book ch. 16 (dup.c): copies of a descriptor name the same open
// file; closing one copy leaves the others working.  (For a socket: the connection ends when
// the LAST copy is closed; ch07's shutdown_modes shows it on a socket.)
//
// usage: dup_demo (no arguments)
//
// What you will see (stderr for the last line: stdout is closed by then):
//     fd1=3, fd2=7
//     Hi~ (through fd 3, a dup of 1)
//     It's nice day~ (through fd 7, dup2(3, 7))
//     close(3) and close(7); fd 1 still works:
//     Hi~ (through fd 1)
//     close(1): write(1) fails: Bad file descriptor
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/error.hpp"
#include "common/help.hpp"

namespace {
void say(int fd, const std::string& text) {
    if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        common::die("write to fd %d", fd);
}
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");
    int cfd1 = dup(1);         // the lowest free number, here 3
    int cfd2 = dup2(cfd1, 7);  // exactly 7 (closed first if it was open)
    if (cfd1 == -1 || cfd2 == -1) common::die("dup");
    say(1, "fd1=" + std::to_string(cfd1) + ", fd2=" + std::to_string(cfd2) + "\n");
    say(cfd1, "Hi~ (through fd " + std::to_string(cfd1) + ", a dup of 1)\n");
    say(cfd2, "It's nice day~ (through fd 7, dup2(" + std::to_string(cfd1) + ", 7))\n");

    // Each close() removes one name; the open file (the terminal, a pipe, a socket) stays
    // while any name is left.
    if (close(cfd1) == -1 || close(cfd2) == -1) common::die("close");
    say(1, "close(" + std::to_string(cfd1) + ") and close(7); fd 1 still works:\n");
    say(1, "Hi~ (through fd 1)\n");

    // The last name gone: the book's final write() fails silently; here it is checked.
    if (close(1) == -1) common::die("close");
    if (write(1, "It's nice day~\n", 15) == -1)
        std::fprintf(stderr, "close(1): write(1) fails: %s\n", std::strerror(errno));
    return 0;
}
