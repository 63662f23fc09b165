// hello_server — the server socket template (服务器套接字模板), book ch. 1 (hello_server.c):
// socket() → bind() → listen() → accept() → write() → close(); one client, then it exits.
//
// usage: hello_server PORT
//   PORT  0: the kernel picks a free port
//
// What to observe (terminal 1, then `hello_client 127.0.0.1 9190` in terminal 2):
//   $ hello_server 9190
//   listening on [::]:9190
//   connection from [::ffff:127.0.0.1]:51872
// The client's port (51872) was chosen by the kernel in the client's connect(); an IPv4
// client shows up as ::ffff:a.b.c.d because the server listens on [::] (see README).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string_view>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("PORT");

    // 1. socket() makes the descriptor, 2. bind() gives it an address and a port: try each
    //    wildcard address until one binds.  The book binds INADDR_ANY (IPv4 only); the list
    //    starts with [::], which with IPV6_V6ONLY off takes IPv4 and IPv6 clients alike.
    //    (From ch06 on, servers get this exact loop from common::listen_tcp().)
    common::Fd listen_fd;
    for (const addrinfo& ai : common::listen_addresses(argv[1], SOCK_STREAM)) {
        listen_fd.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));
        if (!listen_fd) continue;
        int on = 1, off = 0;
        // SO_REUSEADDR: restart at once, even while old connections sit in TIME_WAIT.
        setsockopt(listen_fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        // [::] with IPV6_V6ONLY off accepts IPv4 clients too (as ::ffff:a.b.c.d).
        if (ai.ai_family == AF_INET6)
            setsockopt(listen_fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        if (bind(listen_fd.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        listen_fd.reset();
    }
    if (!listen_fd) common::die("bind to port %s", argv[1]);

    // 3. listen() makes it a listening socket: from now on the kernel completes handshakes
    //    for us, even before accept().
    if (listen(listen_fd.get(), SOMAXCONN) == -1) common::die("listen");
    common::print_ready("listening on", listen_fd.get());

    // A client that has already gone must give us an error message, not kill us silently
    // with SIGPIPE when we write to it (see ch04).
    signal(SIGPIPE, SIG_IGN);

    // 4. accept(): blocks until a connection is complete, returns a NEW descriptor for it.
    //    The listening socket stays open until we close it; this server takes one client.
    sockaddr_storage client_addr{};
    socklen_t client_len = sizeof client_addr;
    common::Fd client_fd(
        accept(listen_fd.get(), reinterpret_cast<sockaddr*>(&client_addr), &client_len));
    if (!client_fd) common::die("accept");
    printf("connection from %s\n",
           common::to_string(reinterpret_cast<sockaddr*>(&client_addr)).c_str());
    fflush(stdout);

    // One write() of 12 bytes.  The book sends sizeof(message) = 13, the text AND the C string
    // terminator '\0', which belongs to C, not to the protocol.  A blocking socket with an
    // empty send buffer takes small data whole; long data can be taken in part (ch04 loops).
    constexpr std::string_view kMessage = "Hello World!";
    ssize_t n = write(client_fd.get(), kMessage.data(), kMessage.size());
    if (n == -1) common::die("write");
    if (static_cast<size_t>(n) != kMessage.size())
        common::fatal("write: only %zd of %zu bytes sent", n, kMessage.size());

    // 5. close(): client_fd and listen_fd are closed by their Fd destructors, in reverse
    //    order.  Closing sends FIN: the client's read() then returns 0 (end of stream).
    return 0;
}
