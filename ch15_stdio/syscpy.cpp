// syscpy — copy a file with read()/write() of ONE byte each: one system call per byte
// (book ch. 15, syscpy.c).  Compare stdcpy.
//
// usage: syscpy SRC DST
//
// Prints   copied 10485760 bytes in 9.804s (read/write, 1 byte per call)
// `strace -c -e trace=read,write syscpy SRC DST` counts N+1 reads and N writes for N bytes.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 3) common::die_usage("SRC DST");

    common::Fd fd1(open(argv[1], O_RDONLY));
    if (!fd1) common::die("open %s", argv[1]);
    common::Fd fd2(open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644));
    if (!fd2) common::die("open %s", argv[2]);

    timespec start{}, end{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    char buf[1];  // the book's BUF_SIZE 3 is a typo for "tiny": one byte shows the cost best
    unsigned long long total = 0;
    for (;;) {
        ssize_t len = read(fd1.get(), buf, sizeof buf);  // one system call per byte...
        if (len == -1 && errno == EINTR) continue;
        if (len == -1) common::die("read %s", argv[1]);
        if (len == 0) break;  // end of file
        ssize_t w;
        do {
            w = write(fd2.get(), buf, 1);  // ...and another one per byte
        } while (w == -1 && errno == EINTR);
        if (w == -1) common::die("write %s", argv[2]);
        ++total;
    }
    // close() of a file can report a delayed write error (NFS, a full disk): check it.
    if (close(fd2.release()) == -1) common::die("close %s", argv[2]);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double secs = double(end.tv_sec - start.tv_sec) + double(end.tv_nsec - start.tv_nsec) / 1e9;
    std::printf("copied %llu bytes in %.3fs (read/write, 1 byte per call)\n", total, secs);
    return 0;
}
