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
// Usage: op_server PORT [--deadline-ms N]     (the whole request within N ms: 1..3600000,
//                                               default 5000)
// Observe: it is iterative — one client at a time, one calculation per connection — and
// prints one line per reply:
//     listening on [::]:9190
//     client 1: 3 operands '+' -> 6
//     client 2: 2 operands '/' -> error 2 (unknown operator)
// A request cut short, or not complete within --deadline-ms of accept() (a stalled or a
// trickling client), gets no reply: one line on stderr, then the next client is served:
//     op_server: client 8: truncated request (4 of 1022 bytes), closing
//     op_server: client 9: request incomplete after 5000 ms (5 of 14 bytes), closing
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
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

using Clock = std::chrono::steady_clock;

// read_exact() against a deadline: poll() waits only for the time that is left, so all the
// reads of one request share one budget.  (SO_RCVTIMEO would bound each read() instead: a
// client sending one byte just before each timeout would hold the server for up to 1022 of
// them.)  Returns the bytes read — fewer than LEN at end of stream, or when the deadline
// passed (then *late is true) — or -1 with errno (ECONNRESET, ...).
ssize_t read_before(int fd, unsigned char* data, size_t len, Clock::time_point deadline,
                    bool* late) {
    size_t got = 0;
    while (got < len) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            *late = true;
            break;
        }
        pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
        int ready = poll(&pfd, 1, static_cast<int>(left.count()));
        if (ready == -1 && errno != EINTR) return -1;
        if (ready <= 0) continue;  // time is up (or a signal): the top of the loop decides
        ssize_t n = read(fd, data + got, len - got);  // ready: data, end of stream or an error
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return -1;
        if (n == 0) break;  // end of stream: the client closed (or shut down) its side
        got += static_cast<size_t>(n);
    }
    return static_cast<ssize_t>(got);
}

// One calculation per connection, as in the book; the caller closes the socket.
void serve(int client_fd, unsigned long client_no, int deadline_ms) {
    // An iterative server waits on one client at a time: without a deadline, a client that
    // sends half a request and stalls — or sends it one byte at a time — holds every client
    // behind it.  The whole request must arrive within deadline_ms of accept().
    const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(deadline_ms);
    bool late = false;
    unsigned char count = 0;
    std::array<unsigned char, kMaxBody> body;
    size_t want = 0;
    ssize_t n = read_before(client_fd, &count, 1, deadline, &late);
    if (n == 1) {
        want = count * 4u + 1;  // <= kMaxBody: read exactly what N announces, never "all that fits"
        n = read_before(client_fd, body.data(), want, deadline, &late);
    }
    if (n == -1) {  // ECONNRESET: the client reset the connection
        common::warn("client %lu: read", client_no);
        return;
    }
    if (late && want == 0) {
        common::note("client %lu: no request within %d ms, closing", client_no, deadline_ms);
        return;
    }
    if (late) {
        common::note("client %lu: request incomplete after %d ms (%zd of %zu bytes), closing",
                     client_no, deadline_ms, n + 1, want + 1);
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
    // 5 bytes always fit in the socket's send buffer: write() cannot block, even if the client
    // never reads.  A client gone by now makes it fail with EPIPE (SIGPIPE is ignored).
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
    int deadline_ms = 5000;
    if (argc == 4 && strcmp(argv[2], "--deadline-ms") == 0) {
        deadline_ms = static_cast<int>(common::number_arg("--deadline-ms", argv[3], 1, 3'600'000));
    } else if (argc != 2) {
        common::die_usage("PORT [--deadline-ms N]");
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

    int pause_ms = 0;  // > 0 while accept() finds no descriptor or memory
    for (unsigned long client_no = 1;;) {
        common::Fd client_fd(accept(listen_fd.get(), nullptr, nullptr));
        if (!client_fd) {  // the one accept() policy: echo_server.cpp explains each case
            int err = errno;
            switch (common::accept_failure(err)) {
                case common::AcceptFailure::kRetry:       // that client is gone, not the server
                case common::AcceptFailure::kWouldBlock:  // (not on a blocking socket)
                    if (err != EINTR) common::warn("accept");
                    continue;
                case common::AcceptFailure::kExhausted:  // pause, doubling up to 1 s; say once
                    if (pause_ms == 0)
                        common::note("accept: %s: pausing (up to 1 s) until it succeeds",
                                     strerror(err));
                    pause_ms = std::min(pause_ms == 0 ? 10 : 2 * pause_ms, 1000);
                    poll(nullptr, 0, pause_ms);
                    continue;
                case common::AcceptFailure::kFatal:  // EBADF, EINVAL, ...: a bug, not a client
                    errno = err;
                    common::die("accept");
            }
        }
        pause_ms = 0;
        serve(client_fd.get(), client_no++, deadline_ms);
    }  // client_fd is closed at the end of each turn of the loop
}
