// low_open — low-level file I/O: open() and write() return and take file descriptors
// (文件描述符), book ch. 1 (low_open.c).
//
// usage: low_open FILE
//   FILE  created, or emptied if it exists; then one line is written to it
//
// What to observe:
//   $ low_open data.txt
//   file descriptor: 3
//   $ cat data.txt
//   Let's go!
// Close standard input first and 0 is the lowest free number:
//   $ low_open data.txt <&-       prints   file descriptor: 0
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string_view>

#include "common/error.hpp"
#include "common/help.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("FILE");
    const char* path = argv[1];

    // A file descriptor is a small integer the kernel gives a process for each open file (and,
    // on Linux, each socket: see fd_seri).  0, 1 and 2 are stdin, stdout and stderr; open()
    // returns the LOWEST free number, so the first file a program opens gets 3.
    // Write only, create if missing, empty it if it exists.  O_CREAT needs the third argument,
    // the new file's permissions; the book leaves it out, so the file gets whatever value
    // happens to sit where that argument would be.  0644: rw-r--r-- (minus umask).
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd == -1) common::die("open %s", path);
    printf("file descriptor: %d\n", fd);

    // A regular file takes the whole buffer in one write() (a socket might not: ch04).  The
    // book writes sizeof(buf) = 11 bytes, the text and the C string's '\0'; we write the 10
    // bytes of text.
    constexpr std::string_view kText = "Let's go!\n";
    ssize_t n = write(fd, kText.data(), kText.size());
    if (n == -1) common::die("write %s", path);
    if (static_cast<size_t>(n) != kText.size())
        common::fatal("write %s: only %zd of %zu bytes written", path, n, kText.size());

    // close() can report a write error the kernel deferred (e.g. on NFS): check it too.
    if (close(fd) == -1) common::die("close %s", path);
    return 0;
}
