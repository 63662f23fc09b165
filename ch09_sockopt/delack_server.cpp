// delack_server — a receiver that delays its ACKs (TCP_QUICKACK off), as a real peer across a
// network does: the partner for nagle_client, so that Nagle's algorithm has something to wait for.
//
// usage: delack_server PORT
//
// For each client: delayed ACKs on, a greeting line "ready", then it reads one line (up to
// '\n'), answers "got N bytes" and closes.  What you will see:
//   listening on [::]:9190
//   client 1: got 10 bytes
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("PORT");
    common::port_arg(argv[1]);
    signal(SIGPIPE, SIG_IGN);  // a client that leaves early costs a line, not the server
    common::Fd listener = common::listen_tcp(argv[1]);
    common::print_ready("listening on", listener.get());

    std::vector<char> buf(65536);
    for (unsigned long client = 1;; ++client) {
        common::Fd conn(accept(listener.get(), nullptr, nullptr));
        if (!conn) {
            if (common::accept_failure(errno) == common::AcceptFailure::kRetry) continue;
            common::die("accept");  // a lesson server: the descriptor limit ends it too
        }
        // TCP_QUICKACK 0: do not acknowledge each segment at once; wait (40 ms at first on
        // Linux) in the hope of sending the ACK along with an answer.  Over loopback a new
        // connection otherwise ACKs every segment within microseconds, and a sender's Nagle
        // algorithm never has an unacknowledged segment to wait for.  Set before the greeting,
        // so before the client can send anything.
        int off = 0;
        if (setsockopt(conn.get(), IPPROTO_TCP, TCP_QUICKACK, &off, sizeof off) == -1)
            common::die("setsockopt TCP_QUICKACK");
        if (!common::write_all(conn.get(), "ready\n")) {
            common::warn("client %lu: write", client);
            continue;
        }
        long total = 0;
        bool line_done = false;
        while (!line_done) {
            ssize_t n = read(conn.get(), buf.data(), buf.size());
            if (n == -1 && errno == EINTR) continue;
            if (n == -1) {
                common::warn("client %lu: read", client);  // e.g. a reset
                break;
            }
            if (n == 0) {
                common::note("client %lu: end of stream after %ld bytes, no full line", client,
                             total);
                break;
            }
            total += n;
            line_done = std::memchr(buf.data(), '\n', static_cast<size_t>(n)) != nullptr;
        }
        if (!line_done) continue;
        std::string answer = "got " + std::to_string(total) + " bytes\n";
        if (!common::write_all(conn.get(), answer)) common::warn("client %lu: write", client);
        std::printf("client %lu: got %ld bytes\n", client, total);
        std::fflush(stdout);
    }
}
