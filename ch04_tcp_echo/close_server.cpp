// close_server — what close() does with a socket's two buffers (I/O缓冲区), and who keeps
// TIME_WAIT: queued output is still sent; unread input is lost and answered with RST.
//
// usage: close_server PORT [--read] [--no-reuseaddr]
//   --read           read what the client sent before close(): a normal close with a FIN
//   --no-reuseaddr   do not set SO_REUSEADDR: bind() fails while the port is in TIME_WAIT
//
// What to observe (stdout; `tcp_watch --port 9190` beside it shows the segments, README):
//   client connected from [::ffff:127.0.0.1]:40158
//   6 bytes unread in the input buffer
//   wrote 9 bytes, close() with 6 bytes unread: the kernel sends RST, not FIN
// With --read the last lines are `read 6 bytes` and `wrote 9 bytes, close(): FIN`.
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {
constexpr const char* kUsage = "PORT [--read] [--no-reuseaddr]";
constexpr int kWaitMs = 10000;  // for the client's first bytes
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc < 2) common::die_usage(kUsage);
    bool read_first = false, reuseaddr = true;
    for (int i = 2; i < argc; ++i) {
        if (strcmp(argv[i], "--read") == 0)
            read_first = true;
        else if (strcmp(argv[i], "--no-reuseaddr") == 0)
            reuseaddr = false;
        else
            common::die_usage(kUsage);
    }
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    common::Fd listen_fd;
    for (const addrinfo& ai : common::listen_addresses(argv[1], SOCK_STREAM)) {
        listen_fd.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));
        if (!listen_fd) continue;
        int on = 1, off = 0;
        // The lesson: without SO_REUSEADDR, bind() refuses a port that a connection in
        // TIME_WAIT still holds.  The side that closes first with a FIN keeps TIME_WAIT for
        // 60 s; after a --read run that is this server, so a restart on the same port with
        // --no-reuseaddr fails: "close_server: bind to port 9190: Address already in use".
        // (The old server must have set it too: see the README.)
        if (reuseaddr) setsockopt(listen_fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (ai.ai_family == AF_INET6)
            setsockopt(listen_fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        if (bind(listen_fd.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        listen_fd.reset();
    }
    if (!listen_fd) common::die("bind to port %s", argv[1]);
    if (listen(listen_fd.get(), SOMAXCONN) == -1) common::die("listen");
    common::print_ready("listening on", listen_fd.get());

    sockaddr_storage addr{};
    socklen_t addr_len = sizeof addr;
    common::Fd client_fd(accept(listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len));
    if (!client_fd) common::die("accept");
    printf("client connected from %s\n",
           common::to_string(reinterpret_cast<sockaddr*>(&addr)).c_str());
    fflush(stdout);

    // Wait until the client's bytes are in our input buffer, then look without reading:
    // FIONREAD tells how many bytes the kernel holds for us.
    pollfd pfd{.fd = client_fd.get(), .events = POLLIN};
    int ready;
    while ((ready = poll(&pfd, 1, kWaitMs)) == -1 && errno == EINTR) {
    }
    if (ready == -1) common::die("poll");
    if (ready == 0) common::fatal("the client sent nothing within %d ms", kWaitMs);
    int unread = 0;
    if (ioctl(client_fd.get(), FIONREAD, &unread) == -1) common::die("ioctl FIONREAD");
    printf("%d bytes unread in the input buffer\n", unread);

    if (read_first) {  // take exactly the bytes that are there now
        char buf[4096];
        long total = 0;
        while (unread > 0) {
            ssize_t n = read(client_fd.get(), buf, std::min(sizeof buf, size_t(unread)));
            if (n == -1 && errno == EINTR) continue;
            if (n == -1) common::die("read");
            if (n == 0) break;
            total += n;
            unread -= static_cast<int>(n);
        }
        printf("read %ld bytes\n", total);
    }

    // The output buffer: close() right after write() still delivers these bytes, and then
    // the FIN (关闭套接字也会继续传递输出缓冲中余留的数据).  The input buffer: close() with
    // bytes still unread loses them, and the kernel tells the peer so with a reset (RST)
    // instead of a FIN (关闭套接字将会丢失输入缓冲中的数据) — after "Goodbye!", which the
    // client still gets.
    constexpr std::string_view kBye = "Goodbye!\n";
    if (!common::write_all(client_fd.get(), kBye)) common::die("write");
    if (unread > 0)
        printf("wrote %zu bytes, close() with %d bytes unread: the kernel sends RST, not FIN\n",
               kBye.size(), unread);
    else
        printf("wrote %zu bytes, close(): FIN\n", kBye.size());
    fflush(stdout);
    if (close(client_fd.release()) == -1) common::die("close");
    return 0;
}
