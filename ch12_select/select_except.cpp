// select_except — what lands in select()'s exception set on Linux: TCP urgent data
// (book ch. 12; send(MSG_OOB) and SIGURG are ch. 13's lesson).
//
// usage: select_except (no arguments)
//
// Sender and receiver live in this process.  The sender sends "ab", then "cd!" with MSG_OOB (only
// the last byte, '!', is urgent), then closes.  The receiver select()s on read and exception sets
// and prints each round:
//   round 1: read -> recv: "ab"
//   round 2: read except -> recv(MSG_OOB): '!'; recv: "cd"
//   round 3: read -> recv: end of stream
// The urgent byte is never in the normal stream: recv() returns "cd" without it.
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {
// One round: wait until the receiver is readable or in the exception set, and read.
bool round(int number, int fd) {
    fd_set reads, excepts;
    FD_ZERO(&reads);
    FD_ZERO(&excepts);
    FD_SET(fd, &reads);
    FD_SET(fd, &excepts);
    if (select(fd + 1, &reads, nullptr, &excepts, nullptr) == -1) common::die("select");
    std::printf("round %d: %s%s->", number, FD_ISSET(fd, &reads) ? "read " : "",
                FD_ISSET(fd, &excepts) ? "except " : "");
    if (FD_ISSET(fd, &excepts)) {  // urgent data: one byte, read apart with MSG_OOB
        char urgent;
        if (recv(fd, &urgent, 1, MSG_OOB) != 1) common::die("recv MSG_OOB");
        std::printf(" recv(MSG_OOB): '%c';", urgent);
    }
    char buf[64];
    ssize_t n = recv(fd, buf, sizeof buf, 0);  // stops at the urgent mark, never includes it
    if (n == -1) common::die("recv");
    if (n == 0)
        std::printf(" recv: end of stream\n");
    else
        std::printf(" recv: \"%.*s\"\n", static_cast<int>(n), buf);
    return n > 0;
}
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");
    common::Fd listener = common::listen_tcp("0");
    sockaddr_in6 self{};  // sin6_port and sin_port sit at the same offset
    socklen_t len = sizeof self;
    if (getsockname(listener.get(), reinterpret_cast<sockaddr*>(&self), &len) == -1)
        common::die("getsockname");
    common::Fd sender =
        common::connect_tcp("localhost", std::to_string(ntohs(self.sin6_port)).c_str());
    common::Fd receiver(accept(listener.get(), nullptr, nullptr));
    if (!receiver) common::die("accept");

    // One send per round, and the receiver reads it all before the next: each select()
    // sees exactly what one send() did.
    if (send(sender.get(), "ab", 2, 0) != 2) common::die("send");
    round(1, receiver.get());
    if (send(sender.get(), "cd!", 3, MSG_OOB) != 3) common::die("send MSG_OOB");
    round(2, receiver.get());
    sender.reset();  // close: FIN
    round(3, receiver.get());
    return 0;
}
