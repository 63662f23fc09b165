// writev_demo — writev(): two buffers, one system call (book ch. 13, writev.c).
//
// usage: writev_demo (no arguments)
//
// Writes "ABC1234" and "567" to stdout with one writev(), then prints how many bytes it wrote:
//   ABC1234567
//   Write bytes: 10
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/error.hpp"
#include "common/help.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");
    char buf1[] = "ABC1234";
    char buf2[] = "567";
    iovec vec[2] = {{buf1, 7}, {buf2, 3}};  // {address, length}: the buffers, in order

    ssize_t n;
    do {
        n = writev(STDOUT_FILENO, vec, 2);  // like write(): it may write less than asked
    } while (n == -1 && errno == EINTR);
    if (n == -1) common::die("writev");
    // A terminal or a pipe takes 10 bytes whole; a short writev() would need a loop that
    // advances through vec (a socket's writev_client shows one).
    std::printf("\nWrite bytes: %zd\n", n);
    return 0;
}
