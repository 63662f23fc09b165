// hello_server — the server socket template (服务器套接字模板), book ch. 1 (hello_server.c).
//
// The five calls every TCP server makes, in order:
//   socket() → bind() → listen() → accept() → (write) → close()
// socket() makes the descriptor, bind() gives it an address and port, listen() lets the
// kernel accept connections for it, accept() hands us the next completed connection as a
// NEW descriptor.  This server serves one client, sends "Hello World!" with ONE write()
// and exits, like the book's.
//
// usage: hello_server PORT          (PORT 0: the kernel picks a free port)
//
// What to observe (terminal 1, then `hello_client 127.0.0.1 9190` in terminal 2):
//   $ hello_server 9190
//   listening on [::]:9190
//   connection from [::ffff:127.0.0.1]:51872
// The client's port (51872) was chosen by the kernel when the client called connect();
// the client never called bind().  An IPv4 client shows up as ::ffff:a.b.c.d because
// this server listens on the IPv6 wildcard [::] with IPV6_V6ONLY off (see README).
//
// Differences from the book: the book sends sizeof(message) = 13 bytes, the text AND the
// C string terminator '\0'; the terminator belongs to C, not to the protocol, so we send
// the 12 bytes of text.  The book also binds INADDR_ANY (IPv4 only); getaddrinfo gives us
// [::] first, which accepts IPv4 and IPv6 clients alike.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string_view>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/net.hpp"

int main(int argc, char* argv[]) {
    if (argc != 2) common::die_usage("PORT");

    // 1. socket() and 2. bind(): try each wildcard address until one binds.
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

    // 3. listen(): from now on the kernel completes handshakes for us, even before accept().
    if (listen(listen_fd.get(), SOMAXCONN) == -1) common::die("listen");
    common::print_ready("listening on", listen_fd.get());

    // A client that has already gone must give us an error message, not kill us silently
    // with SIGPIPE when we write to it (see ch04).
    signal(SIGPIPE, SIG_IGN);

    // 4. accept(): blocks until a connection is complete, returns a new descriptor for it.
    //    The listening socket stays open until we close it; this server takes one client.
    sockaddr_storage client_addr{};
    socklen_t client_len = sizeof client_addr;
    common::Fd client_fd(
        accept(listen_fd.get(), reinterpret_cast<sockaddr*>(&client_addr), &client_len));
    if (!client_fd) common::die("accept");
    printf("connection from %s\n",
           common::to_string(reinterpret_cast<sockaddr*>(&client_addr)).c_str());
    fflush(stdout);

    // One write() of 12 bytes.  A blocking socket with an empty send buffer takes small data
    // whole; long data can be accepted in part (ch04 loops with write_all).
    constexpr std::string_view kMessage = "Hello World!";
    ssize_t n = write(client_fd.get(), kMessage.data(), kMessage.size());
    if (n == -1) common::die("write");
    if (static_cast<size_t>(n) != kMessage.size())
        common::fatal("write: only %zd of %zu bytes sent", n, kMessage.size());

    // 5. close(): client_fd and listen_fd are closed by their Fd destructors, in reverse
    //    order.  Closing sends FIN: the client's read() then returns 0 (end of stream).
    return 0;
}
