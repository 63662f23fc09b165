// sep_serv — two FILE*s on one socket, book ch. 16 (sep_serv.c): fclose(writefp) closes the
// DESCRIPTOR, so there is no half-close (半关闭): the connection is gone, the client's answer lost.
//
// usage: sep_serv PORT
//
// One client, then it exits (1: the read after fclose() fails, which is the lesson).
// What you will see (try ./sep_clnt 127.0.0.1 9190; sep_serv2 is the fix):
//     listening on [::]:9190
//     sent 3 lines, then fclose(writefp): the descriptor is closed, the connection too
//     sep_serv: fgets: Bad file descriptor
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("PORT");
    signal(SIGPIPE, SIG_IGN);  // a client already gone: fflush() fails with EPIPE, not death
    common::Fd listener = common::listen_tcp(argv[1]);
    common::print_ready("listening on", listener.get());
    int sock = accept(listener.get(), nullptr, nullptr);
    if (sock == -1) common::die("accept");

    // The book's separation: one stream to read, one to write, both on the SAME descriptor.
    FILE* readfp = fdopen(sock, "r");
    FILE* writefp = fdopen(sock, "w");
    if (readfp == nullptr || writefp == nullptr) common::die("fdopen");
    std::fputs("FROM SERVER: Hi~ client?\n", writefp);
    std::fputs("I love all of the world\n", writefp);
    std::fputs("You are awesome!\n", writefp);
    if (std::fflush(writefp) == EOF) common::die("fflush");  // the client gone: EPIPE (below)

    // Meant as "I am done writing".  But fclose() = fflush() + close(fileno(writefp)): the
    // descriptor goes, and with it the only descriptor of the socket, so the kernel closes the
    // socket in both directions (a FIN goes out; what the client sends now is answered by RST).
    if (std::fclose(writefp) == EOF) common::die("fclose");
    std::printf(
        "sent 3 lines, then fclose(writefp): the descriptor is closed, the connection too\n");
    std::fflush(stdout);

    // readfp still exists, but its descriptor does not: read() fails with EBADF.  (Had the
    // process opened anything in between, the number could even name ANOTHER file.)
    char buf[1024];
    if (std::fgets(buf, sizeof buf, readfp) == nullptr) {
        int err = errno;
        std::fclose(readfp);  // frees the FILE; its close() fails with EBADF too (strace shows it)
        errno = err;
        common::die("fgets");
    }
    std::fputs(buf, stdout);  // never reached
    std::fclose(readfp);
    return 0;
}
