// echo_stdserv — the echo server over standard I/O: fgets()/fputs() on FILE*s made from the
// socket with fdopen() (book ch. 15, echo_stdserv.c).  Serves clients one after another.
//
// usage: echo_stdserv PORT [--no-flush]
//   --no-flush   leave each echo in the stdio buffer (default: fflush() after each line)
//
// Prints "listening on ADDR:PORT", then "client connected" / "client disconnected (N lines)".
// With --no-flush, per line on stderr:  echo_stdserv: fputs 6 bytes, not flushed
// and the client waits: the echo leaves only when fclose() flushes it (the client has gone).
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {
constexpr int kBufSize = 1024;
}

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    bool flush = true;
    if (argc == 3 && std::strcmp(argv[2], "--no-flush") == 0)
        flush = false;
    else if (argc != 2)
        common::die_usage("PORT [--no-flush]");
    common::port_arg(argv[1]);
    // A client that leaves before its echo is written must cost an EPIPE, not the server.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");
    common::Fd listener = common::listen_tcp(argv[1]);
    common::print_ready("listening on", listener.get());

    char message[kBufSize];
    for (;;) {
        int clnt_sock = accept(listener.get(), nullptr, nullptr);
        if (clnt_sock == -1) {
            if (common::accept_failure(errno) == common::AcceptFailure::kFatal)
                common::die("accept");
            continue;  // iterative lesson server: try the next one
        }
        // Two FILE*s, one for each direction.  The book fdopen()s the SAME descriptor twice,
        // then fclose()s both: the second fclose() closes a descriptor that is already closed
        // (or, by then, someone else's).  A dup() gives each FILE* its own (ch16 says more).
        int write_fd = dup(clnt_sock);
        FILE* readfp = fdopen(clnt_sock, "r");
        FILE* writefp = write_fd == -1 ? nullptr : fdopen(write_fd, "w");
        if (readfp == nullptr || writefp == nullptr) common::die("fdopen");
        std::printf("client connected\n");
        std::fflush(stdout);  // stdout to a pipe or file is fully buffered: show it now

        // The book loops on !feof(readfp): after the last line fgets() fails, feof() only
        // then turns true, and the old message is echoed a second time.  Test fgets() itself.
        // A line longer than the buffer comes in pieces of kBufSize-1 bytes: each is echoed.
        unsigned long lines = 0;
        bool ok = true;
        while (ok && std::fgets(message, kBufSize, readfp) != nullptr) {
            size_t len = std::strlen(message);
            if (len > 0 && message[len - 1] == '\n') ++lines;
            ok = std::fputs(message, writefp) != EOF;  // into writefp's buffer, not the socket
            if (ok && flush)
                ok = std::fflush(writefp) == 0;  // now write(): the client gets its echo
            else if (ok)
                common::note("fputs %zu bytes, not flushed", len);
        }
        if (!ok) common::warn("write to client");
        std::fclose(writefp);  // flushes what is left (with --no-flush: everything), closes
        std::fclose(readfp);   // the other descriptor: the connection is closed now
        std::printf("client disconnected (%lu lines)\n", lines);
        std::fflush(stdout);
    }
}
