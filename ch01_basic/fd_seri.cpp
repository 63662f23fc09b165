// fd_seri — on Linux a socket is a file: sockets and files share one series of descriptors,
// book ch. 1 (fd_seri.c).  socket() and open() both return the lowest free number.
//
// usage: fd_seri (no arguments)
//
// What to observe:
//   $ fd_seri
//   file descriptor 1: 3 -> socket:[123456]
//   file descriptor 2: 4 -> /dev/null
//   file descriptor 3: 5 -> socket:[123457]
// The numbers in [] are the sockets' inode numbers: a socket is an inode like a file's.
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"

// What descriptor FD refers to, as the kernel names it in /proc/self/fd.
static std::string what_is(int fd) {
    std::string link = "/proc/self/fd/" + std::to_string(fd);
    char target[PATH_MAX];
    ssize_t n = readlink(link.c_str(), target, sizeof target);
    if (n == -1) common::die("readlink %s", link.c_str());
    return std::string(target, static_cast<size_t>(n));
}

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");

    // 0, 1 and 2 are stdin, stdout and stderr: socket, file, socket get 3, 4, 5, each the
    // lowest free number of the one table.  (PF_INET in the book is the same value as AF_INET.)
    common::Fd fd1(socket(AF_INET, SOCK_STREAM, 0));
    if (!fd1) common::die("socket SOCK_STREAM");
    // The book creates test.dat in the current directory (with open() missing its mode
    // argument, see low_open); any file will do, and /dev/null leaves nothing behind.
    common::Fd fd2(open("/dev/null", O_WRONLY));
    if (!fd2) common::die("open /dev/null");
    common::Fd fd3(socket(AF_INET, SOCK_DGRAM, 0));
    if (!fd3) common::die("socket SOCK_DGRAM");

    // /proc/self/fd/N names what each number refers to.  Because a socket is a descriptor
    // like a file's, read(), write() and close() work on it.  (Windows differs: a SOCKET is a
    // handle apart from files, used with send()/recv() and closesocket().)
    printf("file descriptor 1: %d -> %s\n", fd1.get(), what_is(fd1.get()).c_str());
    printf("file descriptor 2: %d -> %s\n", fd2.get(), what_is(fd2.get()).c_str());
    printf("file descriptor 3: %d -> %s\n", fd3.get(), what_is(fd3.get()).c_str());
    return 0;
}
