// op_server — the book's calculator server (ch. 5, op_server.c): an application protocol
// (应用层协议) on TCP's byte stream, with its length in the request and every byte checked.
//     request:  N (1 byte, 1..64) | N x int32, big-endian | operator ('+', '-' or '*')
//     reply:    status (0 ok, 1 bad count, 2 unknown operator, 3 overflow) | int32 result
// The lesson is serve() and calculate(); fill()'s deadline and main()'s accept() switch are
// what an iterative server needs to survive (README: "Why an iterative server needs a deadline").
//
// usage: op_server PORT [--deadline-ms N]
//   --deadline-ms N  the whole request within N ms, else the client is dropped (default 5000)
//
// What to observe: one line per reply, one client (one calculation) at a time:
//     client 1: 3 operands '+' -> 6
//     op_server: client 8: truncated request (4 of 1022 bytes), closing
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {

constexpr int kMaxOperands = 64;  // op_client.cpp checks the same limit
enum Status : uint8_t { kOk = 0, kBadCount = 1, kBadOperator = 2, kOverflow = 3 };
constexpr const char* kStatusText[] = {"ok", "bad operand count", "unknown operator",
                                       "result overflows 32 bits"};
using Clock = std::chrono::steady_clock;
enum class Fill { kFull, kClosed, kLate, kError };
Fill fill(int fd, unsigned char* buf, size_t* got, size_t want, Clock::time_point deadline);

// '-' is the first operand minus all the others, as in the book.  Every step must fit in 32
// bits: signed overflow is undefined behaviour, and the book's calculate() just let it happen.
Status calculate(int count, const unsigned char* operands, unsigned char op, int32_t* result) {
    if (count < 1 || count > kMaxOperands) return kBadCount;
    if (op != '+' && op != '-' && op != '*') return kBadOperator;
    auto operand = [operands](int i) {
        uint32_t net;
        memcpy(&net, operands + 4 * i, 4);        // not *(int*)p: the bytes need not be int-aligned
        return static_cast<int32_t>(ntohl(net));  // network byte order (网络字节序) to host
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
void serve(int client_fd, unsigned long client_no, int deadline_ms) {
    // An iterative server waits on one client at a time: without a deadline, a client that
    // sends half a request and stalls — or sends it a byte at a time — holds every client
    // behind it.  So the whole request must arrive within deadline_ms of accept().
    const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(deadline_ms);
    // TCP keeps no message boundaries, so the request says its own length: first the count
    // byte N, then exactly 4·N + 1 bytes — never "whatever one read() returned".  N is one
    // byte, so the buffer holds the most any count can announce (1 + 255·4 + 1 bytes).
    unsigned char req[1 + 255 * 4 + 1];
    size_t got = 0, want = 1;
    Fill end = fill(client_fd, req, &got, want, deadline);
    if (end == Fill::kFull) {
        want = 1 + req[0] * 4u + 1;
        end = fill(client_fd, req, &got, want, deadline);
    }
    if (end == Fill::kError)  // ECONNRESET: the client reset the connection
        common::warn("client %lu: read", client_no);
    else if (end == Fill::kLate && got == 0)
        common::note("client %lu: no request within %d ms, closing", client_no, deadline_ms);
    else if (end == Fill::kLate)
        common::note("client %lu: request incomplete after %d ms (%zu of %zu bytes), closing",
                     client_no, deadline_ms, got, want);
    else if (end == Fill::kClosed && got == 0)
        common::note("client %lu: closed without a request", client_no);
    else if (end == Fill::kClosed)  // the book looped forever here: read() kept returning 0
        common::note("client %lu: truncated request (%zu of %zu bytes), closing", client_no, got,
                     want);
    if (end != Fill::kFull) return;  // no reply: just close

    unsigned char op = req[want - 1];
    int32_t result = 0;
    Status status = calculate(req[0], req + 1, op, &result);
    unsigned char reply[5] = {status};
    uint32_t net = htonl(static_cast<uint32_t>(result));
    memcpy(reply + 1, &net, 4);
    // 5 bytes always fit in the socket's send buffer: write() cannot block, even if the client
    // never reads.  A client gone by now makes it fail with EPIPE (SIGPIPE is ignored).
    if (!common::write_all(client_fd, reply, sizeof reply)) {
        common::warn("client %lu: write", client_no);
        return;
    }
    char op_text[8];
    snprintf(op_text, sizeof op_text, op >= 0x21 && op <= 0x7e ? "'%c'" : "0x%02x", op);
    printf("client %lu: %d operand%s %s -> ", client_no, req[0], req[0] == 1 ? "" : "s", op_text);
    if (status == kOk)
        printf("%d\n", result);
    else
        printf("error %d (%s)\n", status, kStatusText[status]);
    fflush(stdout);
}

// read() into buf[*got, want) until it is full, the client closes, or DEADLINE passes.  poll()
// waits only for the time that is left, so all the reads of one request share one budget.
// (SO_RCVTIMEO would bound each read() instead: a client sending one byte just before each
// timeout would hold the server for up to 1022 of them.)
Fill fill(int fd, unsigned char* buf, size_t* got, size_t want, Clock::time_point deadline) {
    while (*got < want) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
        pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
        int ready = left.count() > 0 ? poll(&pfd, 1, static_cast<int>(left.count())) : 0;
        if (ready == 0) return Fill::kLate;  // poll() returns 0 only once the time is up
        if (ready == -1 && errno == EINTR) continue;
        ssize_t n = ready == -1 ? -1 : read(fd, buf + *got, want - *got);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return Fill::kError;
        if (n == 0) return Fill::kClosed;  // end of stream: the client closed its side
        *got += static_cast<size_t>(n);
    }
    return Fill::kFull;
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    int deadline_ms = 5000;
    if (argc == 4 && strcmp(argv[2], "--deadline-ms") == 0)
        deadline_ms = static_cast<int>(common::number_arg("--deadline-ms", argv[3], 1, 3'600'000));
    else if (argc != 2)
        common::die_usage("PORT [--deadline-ms N]");
    // A client that disconnects before its reply must not kill the server with SIGPIPE.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    // The loop of echo_server.cpp (from ch06 on: common::listen_tcp()).
    common::Fd listen_fd;
    for (const addrinfo& ai : common::listen_addresses(argv[1], SOCK_STREAM)) {
        listen_fd.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));
        if (!listen_fd) continue;
        int on = 1, off = 0;
        setsockopt(listen_fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
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
                    pause_ms = pause_ms == 0 ? 10 : pause_ms < 500 ? 2 * pause_ms : 1000;
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
