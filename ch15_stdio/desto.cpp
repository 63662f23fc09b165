// desto — fdopen(): a FILE* made from a file descriptor (book ch. 15, desto.c).
//
// usage: desto FILE
//
// Writes "Network C programming" to FILE through fprintf() on fdopen(fd, "w"), then shows
// that fclose() closed the descriptor too:
//   open FILE: descriptor 3
//   fdopen(3, "w") + fprintf: 22 bytes in the stdio buffer
//   fclose: buffer written, FILE* freed, descriptor 3 closed
//   write(3) after fclose: Bad file descriptor
// (ch16 builds on this: fclose() of one of two FILE*s on a socket closes the socket.)
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/help.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("FILE");

    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd == -1) common::die("open %s", argv[1]);
    std::printf("open FILE: descriptor %d\n", fd);

    // fdopen(): from now on the FILE* owns fd.  Its mode must agree with open()'s ("w").
    FILE* fp = fdopen(fd, "w");
    if (fp == nullptr) common::die("fdopen");
    int n = std::fprintf(fp, "Network C programming\n");
    std::printf("fdopen(%d, \"w\") + fprintf: %d bytes in the stdio buffer\n", fd, n);

    // fclose() flushes the buffer (the one write()), frees the FILE and closes fd.
    if (std::fclose(fp) == EOF) common::die("fclose");
    std::printf("fclose: buffer written, FILE* freed, descriptor %d closed\n", fd);

    // So the descriptor is gone: using it now fails with EBADF.  (In a program with other
    // threads, fd might already be someone else's file: never touch it after fclose().)
    if (write(fd, "x", 1) == -1)
        std::printf("write(%d) after fclose: %s\n", fd, std::strerror(errno));
    else
        common::fatal("write(%d) after fclose succeeded: the descriptor was still open", fd);
    return 0;
}
