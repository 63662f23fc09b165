// readv_demo — readv(): one system call fills two buffers in order (book ch. 13, readv.c).
//
// usage: readv_demo (no arguments)
//
// Reads stdin once with readv(): the first 5 bytes land in buf1, the rest (up to 99) in buf2.
//   $ echo 'I like TCP/IP socket programming~' | ./readv_demo
//   Read bytes: 34
//   First message: I lik
//   Second message: e TCP/IP socket programming~
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/error.hpp"
#include "common/help.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");
    char buf1[6] = {};    // 5 bytes, and room for the '\0' the book forgets
    char buf2[100] = {};  // 99 bytes, and room for the '\0'
    iovec vec[2] = {{buf1, 5}, {buf2, 99}};

    ssize_t n;
    do {
        n = readv(STDIN_FILENO, vec, 2);  // fills buf1 first, then buf2; returns the total
    } while (n == -1 && errno == EINTR);
    if (n == -1) common::die("readv");
    // One readv() is one read(): from a pipe or a terminal it returns what is there now,
    // which may be less than the whole input.
    std::printf("Read bytes: %zd\n", n);
    std::printf("First message: %s\n", buf1);
    std::printf("Second message: %s", buf2);  // its '\n' came from the input (if any)
    if (n <= 5 || buf2[n - 6] != '\n') std::printf("\n");
    return 0;
}
