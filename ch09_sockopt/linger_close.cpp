// linger_close — SO_LINGER with l_onoff = 1, l_linger = 0: close() aborts the connection.  The
// kernel sends RST instead of FIN and throws away whatever is still in the output buffer;
// the peer's next read() fails with ECONNRESET instead of returning 0 (end of stream).
//
// usage: linger_close HOST PORT [--linger0] [--bytes N]
//   --linger0   set SO_LINGER {1, 0} before close() (default: a normal close, FIN)
//   --bytes N   first write up to N bytes, as many as the output buffer takes without waiting
//               (default: 0)
//
// What you will see (and the peer: `read: Connection reset by peer` instead of end of stream):
//   connected to 127.0.0.1:9190
//   close() with SO_LINGER {1, 0}: RST instead of FIN
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sockios.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {
constexpr const char* kUsage = "HOST PORT [--linger0] [--bytes N]";
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc < 3) common::die_usage(kUsage);
    bool linger0 = false;
    long bytes = 0;
    for (int i = 3; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--linger0")
            linger0 = true;
        else if (arg == "--bytes" && i + 1 < argc)
            bytes = common::number_arg("--bytes", argv[++i], 0, 1L << 30);
        else
            common::die_usage(kUsage);
    }
    common::Fd sock = common::connect_tcp(argv[1], argv[2]);
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (getpeername(sock.get(), reinterpret_cast<sockaddr*>(&peer), &len) == -1)
        common::die("getpeername");
    std::printf("connected to %s\n", common::to_string(reinterpret_cast<sockaddr*>(&peer)).c_str());

    // Queue what the output buffer takes now (MSG_DONTWAIT: no waiting for a slow reader).
    std::vector<char> data(static_cast<size_t>(bytes), 'x');
    size_t queued = 0;
    while (queued < data.size()) {
        ssize_t n = send(sock.get(), data.data() + queued, data.size() - queued,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && errno == EAGAIN) break;  // the buffer is full
        if (n == -1) common::die("send");
        queued += static_cast<size_t>(n);
    }
    int unacked = 0;  // SIOCOUTQ: bytes in the output buffer the peer has not acknowledged
    if (ioctl(sock.get(), SIOCOUTQ, &unacked) == -1) common::die("ioctl SIOCOUTQ");
    if (bytes > 0) std::printf("wrote %zu bytes, %d of them still queued\n", queued, unacked);

    if (linger0) {
        // l_onoff = 1 with l_linger = 0: close() does not wait and does not end gracefully.
        // (l_linger > 0 would make close() wait until the queued bytes are sent, at most that
        // many seconds, then send FIN as usual: socket(7).)
        linger lin{.l_onoff = 1, .l_linger = 0};
        if (setsockopt(sock.get(), SOL_SOCKET, SO_LINGER, &lin, sizeof lin) == -1)
            common::die("setsockopt SO_LINGER");
    }
    std::fflush(stdout);
    if (close(sock.release()) == -1) common::die("close");
    if (linger0)
        std::printf("close() with SO_LINGER {1, 0}: RST instead of FIN");
    else
        std::printf("close(): FIN");
    if (unacked > 0)
        std::printf(linger0 ? ", the %d bytes still queued are thrown away"
                            : ", after the %d bytes still queued",
                    unacked);
    std::printf("\n");
    return 0;
}
