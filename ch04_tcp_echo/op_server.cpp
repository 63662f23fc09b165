// op_server.cpp — the book's calculator server (ch. 5, op_server.c) with its protocol written
// down and every byte of a request checked before it is trusted.
//
// Demonstrates: an application protocol (应用层协议) on top of TCP's byte stream.  TCP keeps
// no message boundaries, so the request carries its own length: the first byte N says how
// many 4-byte operands follow, then comes one operator byte.  The server reads exactly that
// many bytes (common::read_exact: the loop taught in echo_client.cpp), computes, and answers
// with 5 bytes.  Integers travel in network byte order (网络字节序, big-endian):
//     request:  N (1 byte, 1..64) | N x int32 | operator ('+', '-' or '*')
//     reply:    status (1 byte) | int32 result (0 unless status is 0)
//     status:   0 ok, 1 bad operand count, 2 unknown operator, 3 result overflows 32 bits
//
// Usage: op_server PORT [--timeout-ms N]     (default 5000; 0 waits forever, like the book)
//
// Observe: it is iterative — one client at a time, one calculation per connection — and
// prints one line per reply:
//     listening on [::]:9190
//     client 1: 3 operands '+' -> 6
//     client 2: 2 operands '/' -> error 2 (unknown operator)
// A request cut short, or a client silent for --timeout-ms, gets no reply: one line on
// stderr, then the next client is served:
//     op_server: client 8: truncated request (4 of 1022 bytes), closing
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {

constexpr int kMaxOperands = 64;  // op_client.cpp checks the same limit
// N is one byte, so no request body is longer than 255 operands + 1 operator byte.  The
// buffer holds the most any count can announce: whatever N says, it cannot overflow.
constexpr size_t kMaxBody = 255 * 4 + 1;

enum Status : uint8_t { kOk = 0, kBadCount = 1, kBadOperator = 2, kOverflow = 3 };
constexpr const char* kStatusText[] = {"ok", "bad operand count", "unknown operator",
                                       "result overflows 32 bits"};

// '-' is the first operand minus all the others, as in the book.  Every step must fit in 32
// bits: signed overflow is undefined behaviour, and the book's calculate() just let it happen.
Status calculate(int count, const unsigned char* body, unsigned char op, int32_t* result) {
    if (count < 1 || count > kMaxOperands) return kBadCount;
    if (op != '+' && op != '-' && op != '*') return kBadOperator;
    auto operand = [body](int i) {
        uint32_t net;
        memcpy(&net, body + 4 * i, 4);  // not *(int*)p: the bytes need not be int-aligned
        return static_cast<int32_t>(ntohl(net));
    };
    int32_t acc = operand(0);
    for (int i = 1; i < count; ++i) {
        bool overflow = op == '+'   ? __builtin_add_overflow(acc, operand(i), &acc)
                        : op == '-' ? __builtin_sub_overflow(acc, operand(i), &acc)
                                    : __builtin_mul_overflow(acc, operand(i), &acc);
        if (overflow) return kOverflow;
    }
    *result = acc;
    return kOk;
}

// One calculation per connection, as in the book; the caller closes the socket.
void serve(int client_fd, unsigned long client_no, int timeout_ms) {
    unsigned char count = 0;
    std::array<unsigned char, kMaxBody> body;
    size_t want = 0;
    ssize_t n = common::read_exact(client_fd, &count, 1);
    if (n == 1) {
        want = count * 4u + 1;  // <= kMaxBody: read exactly what N announces, never "all that fits"
        n = common::read_exact(client_fd, body.data(), want);
    }
    if (n == -1) {  // SO_RCVTIMEO expired (EAGAIN), or a real error such as ECONNRESET
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            common::note("client %lu: silent for %d ms, closing", client_no, timeout_ms);
        else
            common::warn("client %lu: read", client_no);
        return;
    }
    if (want == 0) {
        common::note("client %lu: closed without a request", client_no);
        return;
    }
    if (static_cast<size_t>(n) < want) {  // the book looped forever here: read() kept returning 0
        common::note("client %lu: truncated request (%zd of %zu bytes), closing", client_no, n + 1,
                     want + 1);
        return;
    }

    unsigned char op = body[want - 1];
    int32_t result = 0;
    Status status = calculate(count, body.data(), op, &result);
    std::array<unsigned char, 5> reply{status};
    uint32_t net = htonl(static_cast<uint32_t>(result));
    memcpy(&reply[1], &net, 4);
    // A client gone by now makes write() fail with EPIPE (SIGPIPE is ignored): log, go on.
    if (!common::write_all(client_fd, reply.data(), reply.size())) {
        common::warn("client %lu: write", client_no);
        return;
    }

    char op_text[8];
    snprintf(op_text, sizeof op_text, op >= 0x21 && op <= 0x7e ? "'%c'" : "0x%02x", op);
    printf("client %lu: %d operand%s %s -> ", client_no, count, count == 1 ? "" : "s", op_text);
    if (status == kOk)
        printf("%d\n", result);
    else
        printf("error %d (%s)\n", status, kStatusText[status]);
    fflush(stdout);
}

}  // namespace

int main(int argc, char* argv[]) {
    int timeout_ms = 5000;
    if (argc == 4 && strcmp(argv[2], "--timeout-ms") == 0) {
        timeout_ms = static_cast<int>(common::number_arg("--timeout-ms", argv[3], 0, 3'600'000));
    } else if (argc != 2) {
        common::die_usage("PORT [--timeout-ms N]");
    }
    // A client that disconnects before its reply must not kill the server with SIGPIPE.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

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
    if (listen(listen_fd.get(), SOMAXCONN) == -1) common::die("listen");
    common::print_ready("listening on", listen_fd.get());

    for (unsigned long client_no = 1;;) {
        common::Fd client_fd(accept(listen_fd.get(), nullptr, nullptr));
        if (!client_fd) {  // e.g. ECONNABORTED: that client is gone, the server is not
            common::warn("accept");
            continue;
        }
        // An iterative server waits on one client at a time: without a receive timeout, a
        // client that sends half a request and stalls would block every client behind it.
        timeval tv{.tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000};
        if (setsockopt(client_fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1)
            common::die("setsockopt SO_RCVTIMEO");
        serve(client_fd.get(), client_no++, timeout_ms);
    }  // client_fd is closed at the end of each turn of the loop
}
