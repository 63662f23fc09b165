// sock_type — getsockopt(SO_TYPE): a socket can be asked what it is (book ch. 9, sock_type.c).
//
// usage: sock_type (no arguments)
//
// What you will see: the SOCK_STREAM and SOCK_DGRAM constants, then the type each socket
// reports; SO_TYPE can only be read (setsockopt(SO_TYPE) fails with ENOPROTOOPT):
//   SOCK_STREAM: 1
//   SOCK_DGRAM: 2
//   Socket type one: 1
//   Socket type two: 2
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"

namespace {
// getsockopt(level, name, &value, &len): the kernel writes the value and how long it is.
int socket_type(int sock) {
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len) == -1) common::die("getsockopt SO_TYPE");
    return type;
}
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");
    common::Fd tcp_sock(socket(PF_INET, SOCK_STREAM, IPPROTO_TCP));
    if (!tcp_sock) common::die("socket SOCK_STREAM");
    common::Fd udp_sock(socket(PF_INET, SOCK_DGRAM, IPPROTO_UDP));
    if (!udp_sock) common::die("socket SOCK_DGRAM");

    std::printf("SOCK_STREAM: %d\n", SOCK_STREAM);
    std::printf("SOCK_DGRAM: %d\n", SOCK_DGRAM);
    std::printf("Socket type one: %d\n", socket_type(tcp_sock.get()));
    std::printf("Socket type two: %d\n", socket_type(udp_sock.get()));

    // The type is fixed when the socket is made: SO_TYPE is a read-only option.
    int type = SOCK_DGRAM;
    if (setsockopt(tcp_sock.get(), SOL_SOCKET, SO_TYPE, &type, sizeof type) == 0)
        common::fatal("setsockopt SO_TYPE succeeded");
    std::printf("setsockopt(SO_TYPE): %s\n", std::strerror(errno));
    return 0;
}
