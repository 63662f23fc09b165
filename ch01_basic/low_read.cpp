// low_read — reading a file through its descriptor, book ch. 1 (low_read.c).
//
// usage: low_read FILE
//
// What to observe (after `low_open data.txt`):
//   $ low_read data.txt
//   file descriptor: 3
//   file data: Let's go!
// A missing file is one clear line and exit status 1:
//   $ low_read nosuch.txt
//   low_read: open nosuch.txt: No such file or directory
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "common/error.hpp"
#include "common/help.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("FILE");
    const char* path = argv[1];

    int fd = open(path, O_RDONLY);
    if (fd == -1) common::die("open %s", path);
    printf("file descriptor: %d\n", fd);

    // read() fills a buffer from the descriptor and returns how many bytes it put there, 0 at
    // end of file, -1 on error; the same read() works on a socket (hello_client).  The book
    // calls it once into a 100-byte buffer and prints that with printf("%s"), which needs a
    // '\0' read() never writes, and stops at 100 bytes: we read until 0, print every byte.
    std::string data;
    char buf[100];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("read %s", path);
        if (n == 0) break;  // end of file
        data.append(buf, static_cast<size_t>(n));
    }
    close(fd);  // read-only: nothing can be lost, so no check needed

    printf("file data: ");
    fwrite(data.data(), 1, data.size(), stdout);
    return 0;
}
