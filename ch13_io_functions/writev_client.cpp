// writev_client — one writev() of three buffers is one segment on the wire; three write()s
// are three (book ch. 13, writev: "fewer calls, fewer packets").  TCP_NODELAY is on in both
// modes, so Nagle's algorithm (ch. 9) cannot merge the writes.
//
// usage: writev_client HOST PORT [--three-writes]
//   --three-writes  three write() calls, one per buffer, instead of one writev()
//
// Sends a 6-byte header "HEAD5\n", the body "hello" and the trailer "\nEND\n" (16 bytes),
// prints what it did, and closes:
//   writev: 3 buffers, 16 bytes, 1 call
// Watch it with ch04's tcp_watch (README, "Look closer"): one [P.] segment of length 16, or
// three of 6, 5 and 5 with --three-writes.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {
// writev() until every byte is out: a socket may take only part, and then the vector must
// be advanced past what was taken (UNP's writen(), for iovecs).
bool writev_all(int fd, iovec* vec, int count) {
    while (count > 0) {
        ssize_t n = writev(fd, vec, count);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return false;
        size_t done = static_cast<size_t>(n);
        for (; count > 0 && done >= vec->iov_len; --count, ++vec)
            done -= vec->iov_len;
        if (count > 0) {  // part of this buffer went out: the rest of it starts the next call
            vec->iov_base = static_cast<char*>(vec->iov_base) + done;
            vec->iov_len -= done;
        }
    }
    return true;
}
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    bool three_writes = false;
    if (argc == 4 && strcmp(argv[3], "--three-writes") == 0)
        three_writes = true;
    else if (argc != 3)
        common::die_usage("HOST PORT [--three-writes]");
    common::Fd sock = common::connect_tcp(argv[1], argv[2]);
    int on = 1;  // send every write at once: no waiting for an ACK to merge small writes
    if (setsockopt(sock.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == -1)
        common::die("setsockopt TCP_NODELAY");

    char header[] = "HEAD5\n", body[] = "hello", trailer[] = "\nEND\n";
    iovec vec[3] = {{header, 6}, {body, 5}, {trailer, 5}};
    if (three_writes) {
        for (const iovec& v : vec)  // three calls: with TCP_NODELAY, three segments
            if (!common::write_all(sock.get(), v.iov_base, v.iov_len)) common::die("write");
        std::printf("write: 3 buffers, 16 bytes, 3 calls\n");
    } else {
        if (!writev_all(sock.get(), vec, 3)) common::die("writev");  // one call: one segment
        std::printf("writev: 3 buffers, 16 bytes, 1 call\n");
    }
    return 0;
}
