// sep_serv2 — the fix, book ch. 16 (sep_serv2.c): writefp gets its own descriptor (dup), and
// shutdown(SHUT_WR) sends the FIN; fclose(writefp) then closes only that copy, and the read
// side still works: the client's answer arrives.
//
// usage: sep_serv2 PORT
//
// One client, then it exits.  What you will see (try ./sep_clnt 127.0.0.1 9190):
//     listening on [::]:9190
//     sent 3 lines, then shutdown(SHUT_WR) and fclose(writefp): half-closed
//     FROM CLIENT: Thank you!
//     end of stream: fclose(readfp)
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
    if (argc != 2) common::die_usage("PORT");
    signal(SIGPIPE, SIG_IGN);  // a client already gone: fflush() fails with EPIPE, not death
    common::Fd listener = common::listen_tcp(argv[1]);
    common::print_ready("listening on", listener.get());
    int sock = accept(listener.get(), nullptr, nullptr);
    if (sock == -1) common::die("accept");

    // Two descriptors, one socket: the socket is closed only when the LAST of them is.
    int copy = dup(sock);
    if (copy == -1) common::die("dup");
    FILE* readfp = fdopen(sock, "r");
    FILE* writefp = fdopen(copy, "w");
    if (readfp == nullptr || writefp == nullptr) common::die("fdopen");
    std::fputs("FROM SERVER: Hi~ client?\n", writefp);
    std::fputs("I love all of the world\n", writefp);
    std::fputs("You are awesome!\n", writefp);
    if (std::fflush(writefp) == EOF) common::die("fflush");

    // shutdown() acts on the socket, whichever copy names it: the FIN goes out now (the
    // half-close).  close() of one copy alone would send nothing (ch07's shutdown_modes).
    if (shutdown(fileno(writefp), SHUT_WR) == -1) common::die("shutdown");
    if (std::fclose(writefp) == EOF) common::die("fclose");  // closes `copy` only
    std::printf("sent 3 lines, then shutdown(SHUT_WR) and fclose(writefp): half-closed\n");
    std::fflush(stdout);

    char buf[1024];
    while (std::fgets(buf, sizeof buf, readfp) != nullptr) {  // the client's answer, then EOF
        std::fputs(buf, stdout);
        std::fflush(stdout);
    }
    if (std::ferror(readfp)) common::die("fgets");  // e.g. ECONNRESET
    std::printf("end of stream: fclose(readfp)\n");
    if (std::fclose(readfp) == EOF) common::die("fclose");  // the last copy: the socket closes
    return 0;
}
