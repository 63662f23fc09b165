// echo_selectserv — I/O multiplexing (I/O 复用) with select() (book ch. 12, echo_selectserv.c):
// one process, one loop, one select() call, many clients served at the same time.
//
// usage: echo_selectserv PORT
//
// What to observe (stdout, one flushed line per event; the number is the client's descriptor):
//     listening on [::]:9190
//     connected client: 4 from [::ffff:127.0.0.1]:40158
//     connected client: 5 from [::ffff:127.0.0.1]:40162
//     closed client: 4
// Client 5 is echoed while client 4 stays connected.  A client that sends but never reads
// stops everyone: select_echo_server.cpp is the same idea, made to hold load.
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {

constexpr size_t kBufSize = 4096;

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("PORT");
    // A client that leaves while we write must not kill the server (ch04): write() fails
    // with EPIPE instead, and that client is closed.  The book's server dies of SIGPIPE.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    common::Fd server = common::listen_tcp(argv[1]);  // socket, bind, listen: ch04
    const int serv_sock = server.get();
    // An fd_set is a bit array of FD_SETSIZE (1024) bits, one per descriptor number:
    // select() cannot watch a descriptor at or above it, whatever `ulimit -n` says.
    if (serv_sock >= FD_SETSIZE)
        common::fatal("listening descriptor %d >= FD_SETSIZE (%d)", serv_sock, FD_SETSIZE);
    common::print_ready("listening on", serv_sock);

    fd_set reads;  // the descriptors we watch, kept from one select() to the next
    FD_ZERO(&reads);
    FD_SET(serv_sock, &reads);  // listening socket "readable": a connection waits for accept()
    int fd_max = serv_sock;

    for (;;) {
        // select() overwrites the set it is given with the ready descriptors: give it a copy
        // (the book's cpy_reads), or the next call watches only what was ready this time.
        fd_set cpy_reads = reads;
        if (select(fd_max + 1, &cpy_reads, nullptr, nullptr, nullptr) == -1) {
            if (errno == EINTR) continue;  // a signal is no reason to stop (the book breaks)
            common::die("select");
        }
        // The price of select(): look at every descriptor up to fd_max to find the ready ones.
        for (int fd = 0, last = fd_max; fd <= last; ++fd) {
            if (!FD_ISSET(fd, &cpy_reads)) continue;

            if (fd == serv_sock) {  // a connection request: accept() will not block
                sockaddr_storage addr{};
                socklen_t addr_len = sizeof addr;
                auto* sa = reinterpret_cast<sockaddr*>(&addr);
                int clnt_sock = accept(serv_sock, sa, &addr_len);
                if (clnt_sock == -1) {
                    common::AcceptFailure failure = common::accept_failure(errno);
                    if (failure == common::AcceptFailure::kFatal) common::die("accept");
                    if (failure == common::AcceptFailure::kExhausted) {
                        // EMFILE: the connection stays in the backlog and serv_sock stays
                        // readable, so select() would return at once, for ever.  Stop
                        // watching it until a client leaves.  (The book: FD_SET(-1, ...).)
                        common::warn("accept (new clients wait until one leaves)");
                        FD_CLR(serv_sock, &reads);
                    }
                    // EINTR, or ECONNABORTED, EPROTO...: next.  (Linux returns a connection reset
                    // in the backlog: its first read() fails with ECONNRESET; BSD: UNP §16.6.)
                    continue;
                }
                if (clnt_sock >= FD_SETSIZE) {  // FD_SET() would write past the fd_set's end
                    common::note("refused %s: descriptor %d >= FD_SETSIZE (%d)",
                                 common::to_string(sa).c_str(), clnt_sock, FD_SETSIZE);
                    close(clnt_sock);
                    continue;
                }
                FD_SET(clnt_sock, &reads);
                fd_max = std::max(fd_max, clnt_sock);
                printf("connected client: %d from %s\n", clnt_sock, common::to_string(sa).c_str());
                fflush(stdout);
                continue;
            }

            // A client is readable: data, end of stream (read() returns 0), or an error.
            char buf[kBufSize];
            ssize_t n = read(fd, buf, sizeof buf);
            if (n == -1 && errno == EINTR) continue;
            // write_all() loops over partial writes.  The socket is blocking: a client that
            // never reads fills its buffers and this write() waits, and so does every client.
            if (n > 0 && common::write_all(fd, buf, static_cast<size_t>(n))) continue;
            if (n == -1) common::warn("client %d: read", fd);  // ECONNRESET
            if (n > 0) common::warn("client %d: write", fd);   // EPIPE, ECONNRESET
            FD_CLR(fd, &reads);
            close(fd);
            printf("closed client: %d\n", fd);
            fflush(stdout);
            FD_SET(serv_sock, &reads);  // a descriptor is free again: accept the next client
        }
    }
}
