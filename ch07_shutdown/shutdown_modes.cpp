// shutdown_modes — shutdown(SHUT_RD) and shutdown(SHUT_RDWR) seen from both ends, and why
// shutdown() is not close() when a descriptor is shared (book ch. 7; SHUT_WR: file_client).
//
// usage: shutdown_modes (no arguments)
//
// Both ends, A and B, live in this process; each step uses a fresh loopback connection.
// What you will see:
//   SHUT_RD: read(A) returns 0 at once; B is not told (poll: nothing) and can still write, and
//            Linux still queues what arrives: read(A) returns those bytes, then 0 again
//   SHUT_RDWR: B reads 0 (end of stream); write(A) fails with EPIPE
//   close(A) while dup(A) is open: B sees nothing; shutdown(dup, SHUT_WR): B reads 0
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {
struct Pair {
    common::Fd a, b;  // A: the end we shut down; B: the peer (the accepted socket)
};

Pair connected(const common::Fd& listener) {
    sockaddr_in6 self{};  // sin6_port and sin_port sit at the same offset
    socklen_t len = sizeof self;
    if (getsockname(listener.get(), reinterpret_cast<sockaddr*>(&self), &len) == -1)
        common::die("getsockname");
    Pair p{common::connect_tcp("localhost", std::to_string(ntohs(self.sin6_port)).c_str()), {}};
    p.b = common::Fd(accept(listener.get(), nullptr, nullptr));
    if (!p.b) common::die("accept");
    return p;
}

long read_n(int fd) {
    char buf[64];
    return read(fd, buf, sizeof buf);
}  // bytes, 0 = EOF
int poll_now(int fd) {
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    return poll(&p, 1, 100);  // 100 ms: time enough for a FIN over loopback
}
void must(bool ok, const char* what) {
    if (!ok) common::die("%s", what);
}
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");
    signal(SIGPIPE, SIG_IGN);  // write(A) after SHUT_RDWR: EPIPE instead of death
    common::Fd listener = common::listen_tcp("0");

    Pair rd = connected(listener);
    must(shutdown(rd.a.get(), SHUT_RD) == 0, "shutdown SHUT_RD");
    long at_once = read_n(rd.a.get());  // no waiting: end of stream for A's reader
    std::printf("SHUT_RD:   read(A) = %ld at once; poll(B, 100 ms) = %d (B is not told)\n", at_once,
                poll_now(rd.b.get()));
    ssize_t sent = write(rd.b.get(), "late", 4);  // SHUT_RD sent nothing: B may still write
    // Over loopback the bytes are queued at A within microseconds; wait for them, bounded.
    int queued = 0;
    for (int i = 0; i < 1000 && queued < sent; ++i) {
        must(ioctl(rd.a.get(), FIONREAD, &queued) == 0, "ioctl FIONREAD");
        if (queued < sent) usleep(1000);
    }
    long first = read_n(rd.a.get());  // Linux: what arrived after SHUT_RD is still read
    long then = read_n(rd.a.get());
    std::printf("           write(B) = %zd; queued at A = %d; read(A) = %ld, then %ld\n", sent,
                queued, first, then);

    Pair rdwr = connected(listener);
    must(shutdown(rdwr.a.get(), SHUT_RDWR) == 0, "shutdown SHUT_RDWR");
    long peer = read_n(rdwr.b.get());  // A's FIN: end of stream (blocks until it arrives)
    ssize_t w = write(rdwr.a.get(), "x", 1);
    const char* why = w == -1 ? strerror(errno) : "?";
    std::printf("SHUT_RDWR: read(B) = %ld; write(A) = %zd (%s); read(A) = %ld\n", peer, w, why,
                read_n(rdwr.a.get()));

    Pair shared = connected(listener);
    int copy = dup(shared.a.get());  // as fork() would: two descriptors, one socket
    must(copy != -1, "dup");
    shared.a.reset();  // close(A): the socket lives on in `copy`, nothing is sent
    std::printf("close(A) with a dup open: poll(B, 100 ms) = %d (nothing sent)\n",
                poll_now(shared.b.get()));
    must(shutdown(copy, SHUT_WR) == 0, "shutdown SHUT_WR");  // acts on the socket itself
    std::printf("shutdown(dup, SHUT_WR):   read(B) = %ld (end of stream)\n",
                read_n(shared.b.get()));
    close(copy);
    return 0;
}
