// nagle_client — Nagle's algorithm and TCP_NODELAY: one line sent as many small write()s.
// With Nagle (the default) a small segment goes out only when nothing sent is unacknowledged:
// the first piece goes at once, the rest wait in the output buffer for its ACK and leave
// together.  With --nodelay every write() is a segment of its own, sent at once.
//
// usage: nagle_client HOST PORT [--nodelay] [--writes N] [--size B]
//   --nodelay    set TCP_NODELAY (default: off, Nagle on)
//   --writes N   how many write()s (default: 10)
//   --size B     bytes per write(); the last byte of the last one is '\n' (default: 1)
//
// What you will see against delack_server (whose ACKs wait up to 40 ms):
//   10 writes of 1 byte, Nagle on: answer "got 10 bytes" after 41.250 ms
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {
constexpr const char* kUsage = "HOST PORT [--nodelay] [--writes N] [--size B]";

// One line from SOCK (up to '\n', without it), read a byte at a time: the server sends
// nothing after its line, so there is nothing to over-read.
std::string read_line(int sock) {
    std::string line;
    char c = 0;
    for (;;) {
        ssize_t n = read(sock, &c, 1);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("read");
        if (n == 0) common::fatal("the server closed the connection before a full line");
        if (c == '\n') return line;
        line += c;
    }
}
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc < 3) common::die_usage(kUsage);
    bool nodelay = false;
    long writes = 10, size = 1;
    for (int i = 3; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--nodelay")
            nodelay = true;
        else if (arg == "--writes" && i + 1 < argc)
            writes = common::number_arg("--writes", argv[++i], 1, 100000000);
        else if (arg == "--size" && i + 1 < argc)
            size = common::number_arg("--size", argv[++i], 1, 1048576);
        else
            common::die_usage(kUsage);
    }
    common::Fd sock = common::connect_tcp(argv[1], argv[2]);
    if (nodelay) {
        int on = 1;  // IPPROTO_TCP level: an option of TCP itself, not of every socket
        if (setsockopt(sock.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == -1)
            common::die("setsockopt TCP_NODELAY");
    }
    read_line(sock.get());  // the greeting: the server is ready (its ACKs now wait)

    std::vector<char> piece(static_cast<size_t>(size), 'x');
    auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < writes; ++i) {
        if (i == writes - 1) piece.back() = '\n';
        if (!common::write_all(sock.get(), piece.data(), piece.size())) common::die("write");
    }
    std::string answer = read_line(sock.get());
    std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    std::printf("%ld writes of %ld byte%s, %s: answer \"%s\" after %.3f ms\n", writes, size,
                size == 1 ? "" : "s", nodelay ? "TCP_NODELAY" : "Nagle on", answer.c_str(),
                took.count());
    return 0;
}
