// echo_stdclnt — the echo client over standard I/O: fputs()+fflush() to send a line, a line
// read from the socket's FILE* to receive it (book ch. 15, echo_stdclnt.c).
//
// usage: echo_stdclnt HOST PORT
//
// Each line typed (or piped) in comes back whole, as the book prints it,
//     Message from server: hello
// however long it is.  "q", "Q" or end of input quits with status 0; the prompt
// "Input message(Q to quit): " appears only when stdin is a terminal.  A server that closes
// before the echo is complete: one line on stderr, status 1.
#include <sys/types.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 3) common::die_usage("HOST PORT");
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");  // EPIPE, reported
    common::Fd sock = common::connect_tcp(argv[1], argv[2]);

    // One FILE* per direction, each with its own descriptor (see echo_stdserv.cpp).
    int write_fd = dup(sock.get());
    FILE* readfp = fdopen(sock.release(), "r");
    FILE* writefp = write_fd == -1 ? nullptr : fdopen(write_fd, "w");
    if (readfp == nullptr || writefp == nullptr) common::die("fdopen");

    const bool interactive = isatty(STDIN_FILENO);
    // getline() grows its buffer to hold the whole line: the book's fgets() with a fixed
    // BUF_SIZE cuts a long line in pieces and prints "Message from server: " before each.
    char* message = nullptr;
    size_t cap = 0;
    char* reply = nullptr;
    size_t reply_cap = 0;
    for (;;) {
        if (interactive) {
            std::fputs("Input message(Q to quit): ", stdout);
            std::fflush(stdout);
        }
        ssize_t len = getline(&message, &cap, stdin);
        if (len == -1) break;  // end of input
        if (!std::strcmp(message, "q\n") || !std::strcmp(message, "Q\n") ||
            !std::strcmp(message, "q") || !std::strcmp(message, "Q"))
            break;
        std::fputs(message, writefp);
        if (message[len - 1] != '\n') std::fputc('\n', writefp);  // a last line without '\n'
        // Without this fflush() the line stays in writefp's buffer, and both sides wait.
        if (std::fflush(writefp) == EOF) common::die("write");
        ssize_t got = getline(&reply, &reply_cap, readfp);
        if (got == -1 || reply[got - 1] != '\n') {
            if (std::ferror(readfp)) common::die("read");
            common::fatal("server closed the connection before the whole echo came back");
        }
        std::printf("Message from server: %s", reply);
        std::fflush(stdout);
    }
    std::free(message);
    std::free(reply);
    std::fclose(writefp);  // the server sees end of stream only when BOTH descriptors are
    std::fclose(readfp);   // closed: the connection goes with the last one
    return 0;
}
