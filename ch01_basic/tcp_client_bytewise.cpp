// tcp_client_bytewise — TCP keeps no message boundaries, book ch. 2 (tcp_client.c):
// hello_server sends "Hello World!" with ONE write(); this client reads it ONE BYTE per read().
//
// usage: tcp_client_bytewise HOST PORT
//
// What to observe (with `hello_server 9190` running):
//   $ tcp_client_bytewise 127.0.0.1 9190
//   Message from server: Hello World!
//   Function read call count: 12 (+1 that returned 0 at end of stream)
// and with   strace -e trace=read tcp_client_bytewise 127.0.0.1 9190
//   read(3, "H", 1) = 1   read(3, "e", 1) = 1   ...   read(3, "", 1) = 0
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 3) common::die_usage("HOST PORT");

    // The connect loop of hello_client (from ch06 on: common::connect_tcp()).
    common::Fd sock;
    for (const addrinfo& ai : common::resolve(argv[1], argv[2], SOCK_STREAM)) {
        sock.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));
        if (sock && connect(sock.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        sock.reset();
    }
    if (!sock) common::die("connect to %s port %s", argv[1], argv[2]);

    // A stream socket (SOCK_STREAM, 面向连接) delivers bytes in order and reliably, but does
    // not remember how they were written: 12 reads here for 1 write there (read 的次数可以与
    // write 不同).  A datagram socket (SOCK_DGRAM) keeps boundaries instead: ch06.
    // The book reads into a 30-byte array that overflows if the server sends more; a
    // std::string grows as needed.
    std::string message;
    int read_calls = 0;  // read() calls that returned a byte
    for (;;) {
        char byte;
        ssize_t n = read(sock.get(), &byte, 1);  // ask for one byte only
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("read");
        if (n == 0) break;  // end of stream: the server closed
        message += byte;
        ++read_calls;
    }
    printf("Message from server: ");
    fwrite(message.data(), 1, message.size(), stdout);
    printf("\nFunction read call count: %d (+1 that returned 0 at end of stream)\n", read_calls);
    return 0;
}
