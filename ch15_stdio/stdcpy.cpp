// stdcpy — copy a file with fgetc()/fputc(): one byte per CALL, but the stdio buffer makes
// the system calls (book ch. 15, stdcpy.c).  Compare syscpy.
//
// usage: stdcpy SRC DST
//
// Prints   copied 10485760 bytes in 0.061s (fgetc/fputc, stdio buffer 4096 bytes)
// `strace -c -e trace=read,write stdcpy SRC DST` counts about N/4096 reads and writes:
// stdio reads and writes whole buffers of st_blksize bytes (4096 on most file systems).
#include <sys/stat.h>

#include <cstdio>
#include <ctime>

#include "common/error.hpp"
#include "common/help.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 3) common::die_usage("SRC DST");

    FILE* fp1 = std::fopen(argv[1], "r");
    if (fp1 == nullptr) common::die("open %s", argv[1]);
    FILE* fp2 = std::fopen(argv[2], "w");
    if (fp2 == nullptr) common::die("open %s", argv[2]);
    // glibc sizes each FILE's buffer by the file's st_blksize (BUFSIZ when unknown).
    struct stat st {};
    long bufsize = fstat(fileno(fp2), &st) == 0 ? long(st.st_blksize) : long(BUFSIZ);

    timespec start{}, end{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    unsigned long long total = 0;
    int c;
    // fgetc() takes the next byte from fp1's buffer; only when the buffer is empty does it
    // call read() for a whole buffer.  fputc() likewise calls write() only when fp2's is full.
    while ((c = std::fgetc(fp1)) != EOF) {
        if (std::fputc(c, fp2) == EOF) common::die("write %s", argv[2]);
        ++total;
    }
    // EOF means end of file OR an error: the book never asks which.  ferror() does.
    if (std::ferror(fp1)) common::die("read %s", argv[1]);
    std::fclose(fp1);
    // fclose() writes what is still in the buffer: its failure is a failed write.
    if (std::fclose(fp2) == EOF) common::die("write %s", argv[2]);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double secs = double(end.tv_sec - start.tv_sec) + double(end.tv_nsec - start.tv_nsec) / 1e9;
    std::printf("copied %llu bytes in %.3fs (fgetc/fputc, stdio buffer %ld bytes)\n", total, secs,
                bufsize);
    return 0;
}
