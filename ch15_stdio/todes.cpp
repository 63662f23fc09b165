// todes — fileno(): the file descriptor inside a FILE* (book ch. 15, todes.c).
//
// usage: todes FILE
//
// Opens FILE with open(), wraps it with fdopen(), writes "TCP/IP SOCKET PROGRAMMING", and
// shows that fileno() gives back the same descriptor:
//   First file descriptor: 3
//   Second file descriptor: 3
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "common/error.hpp"
#include "common/help.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("FILE");

    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd == -1) common::die("open %s", argv[1]);
    std::printf("First file descriptor: %d\n", fd);

    FILE* fp = fdopen(fd, "w");  // descriptor -> FILE*
    if (fp == nullptr) common::die("fdopen");
    std::fputs("TCP/IP SOCKET PROGRAMMING\n", fp);
    std::printf("Second file descriptor: %d\n", fileno(fp));  // FILE* -> descriptor

    if (std::fclose(fp) == EOF) common::die("fclose");  // closes fd as well
    return 0;
}
