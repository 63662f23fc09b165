// hello_client — the client socket template (客户端套接字模板), book ch. 1 (hello_client.c):
// socket() → connect() → read() → close(), and no bind(): connect() gives the address.
//
// usage: hello_client HOST PORT
//   HOST  a name, an IPv4 or an IPv6 address
//
// What to observe (with `hello_server 9190` running):
//   $ hello_client 127.0.0.1 9190
//   hello_client: connected from 127.0.0.1:51872 (address and port chosen by the kernel)
//   Message from server: Hello World!
// The server prints the same address and port as "connection from".
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

    // 1. socket() and 2. connect(): try each address of HOST until one answers.  (From ch06
    //    on, programs get this exact loop from common::connect_tcp().)
    common::Fd sock;
    for (const addrinfo& ai : common::resolve(argv[1], argv[2], SOCK_STREAM)) {
        sock.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));
        if (sock && connect(sock.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        sock.reset();
    }
    if (!sock) common::die("connect to %s port %s", argv[1], argv[2]);

    // We never called bind(), yet the socket has an address and port now: connect() made the
    // kernel pick them (TCP客户端套接字在调用connect的时候会自动分配IP地址和端口号).
    sockaddr_storage local{};
    socklen_t local_len = sizeof local;
    if (getsockname(sock.get(), reinterpret_cast<sockaddr*>(&local), &local_len) == -1)
        common::die("getsockname");
    common::note("connected from %s (address and port chosen by the kernel)",
                 common::to_string(reinterpret_cast<sockaddr*>(&local)).c_str());

    // 3. read() until end of stream: a socket is read exactly like a file.  The book calls
    //    read() ONCE and hopes the whole message is there, but TCP is a byte stream without
    //    message boundaries: "Hello World!" may arrive in pieces, so one read() may return only
    //    "Hel".  End of stream (read() == 0) comes when the server closes.  ch04 shows it.
    std::string message;
    char buf[1024];
    for (;;) {
        ssize_t n = read(sock.get(), buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;  // interrupted by a signal: just retry
        if (n == -1) common::die("read");
        if (n == 0) break;  // the server closed its end: the whole message is here
        message.append(buf, static_cast<size_t>(n));
    }
    // fwrite, not printf("%s"): the bytes may contain '\0', and they are not a C string.
    printf("Message from server: ");
    fwrite(message.data(), 1, message.size(), stdout);
    printf("\n");

    // 4. close(): done by sock's destructor.
    return 0;
}
