// sep_clnt — the client of sep_serv and sep_serv2, book ch. 16 (sep_clnt.c): print the
// server's lines until end of stream, then answer "FROM CLIENT: Thank you!" and close.
//
// usage: sep_clnt HOST PORT
//
// What you will see (the same with both servers: whether the answer arrived, only the server
// can tell):
//     FROM SERVER: Hi~ client?
//     I love all of the world
//     You are awesome!
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 3) common::die_usage("HOST PORT");
    signal(SIGPIPE, SIG_IGN);  // writing to a reset connection: an error line, not death
    int sock = common::connect_tcp(argv[1], argv[2]).release();

    // The book fdopen()s the same descriptor twice, then fclose()s both: the second fclose()
    // closes a descriptor that is already gone (EBADF, or worse, a reused number).  One
    // descriptor per FILE* (dup) makes each fclose() close its own.
    int copy = dup(sock);
    if (copy == -1) common::die("dup");
    FILE* readfp = fdopen(sock, "r");
    FILE* writefp = fdopen(copy, "w");
    if (readfp == nullptr || writefp == nullptr) common::die("fdopen");

    char buf[1024];
    while (std::fgets(buf, sizeof buf, readfp) != nullptr) {  // until the server's FIN
        std::fputs(buf, stdout);
        std::fflush(stdout);
    }
    if (std::ferror(readfp)) common::die("fgets");

    // The server has said it is done writing; it may still be reading (sep_serv2), or gone
    // (sep_serv): from here the two cannot be told apart.
    std::fputs("FROM CLIENT: Thank you!\n", writefp);
    if (std::fflush(writefp) == EOF) common::die("fflush");
    if (std::fclose(writefp) == EOF) common::die("fclose");  // one copy: nothing sent yet
    if (std::fclose(readfp) == EOF) common::die("fclose");   // the last: FIN
    return 0;
}
