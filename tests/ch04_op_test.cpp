// ch04 — the calculator protocol (book ch. 5, op_server / op_client).
//
// The wire format (README.md, "The calculator protocol"): request = count byte N | N x int32
// big-endian | operator byte; reply = status byte (0 ok, 1 bad count, 2 unknown operator, 3
// overflow) | int32 big-endian.  The tests build requests and expected replies byte by byte
// themselves and compute expected results with their own 64-bit reference, never with the code
// under test. The iterative server under abuse: a stalled, a trickling or a resetting client costs
// at most one --deadline-ms, and the client queued behind it is served.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kit.hpp"

namespace {

using namespace std::chrono_literals;
using harness::End;
using harness::Process;

constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
constexpr int32_t kMax = std::numeric_limits<int32_t>::max();

// ---- building requests and replies ------------------------------------------------------

std::string be32(int32_t value) {
    auto u = static_cast<uint32_t>(value);
    return {static_cast<char>(u >> 24), static_cast<char>(u >> 16), static_cast<char>(u >> 8),
            static_cast<char>(u)};
}

// COUNT is given separately so that a test can lie about it.
std::string raw_request(uint8_t count, const std::vector<int32_t>& operands, char op) {
    std::string bytes(1, static_cast<char>(count));
    for (int32_t v : operands)
        bytes += be32(v);
    return bytes + op;
}
std::string request(const std::vector<int32_t>& operands, char op) {
    return raw_request(static_cast<uint8_t>(operands.size()), operands, op);
}
std::string reply(uint8_t status, int32_t result = 0) {
    return std::string(1, static_cast<char>(status)) + be32(result);
}

// The test's own calculator: 64-bit arithmetic, every step checked against the int32 range.
std::optional<int32_t> reference(char op, const std::vector<int64_t>& operands) {
    int64_t acc = operands.at(0);
    for (size_t i = 1; i < operands.size(); ++i) {
        acc = op == '+' ? acc + operands[i] : op == '-' ? acc - operands[i] : acc * operands[i];
        if (acc < kMin || acc > kMax) return std::nullopt;
    }
    return static_cast<int32_t>(acc);
}

// What the protocol says the server must answer to BYTES sent followed by end of stream:
// nothing for a truncated request, else the 5-byte reply.
std::string expected_reply(const std::string& bytes) {
    if (bytes.empty()) return "";
    size_t count = static_cast<unsigned char>(bytes[0]);
    if (bytes.size() < 1 + count * 4 + 1) return "";
    char op = bytes[1 + count * 4];
    if (count < 1 || count > 64) return reply(1);
    if (op != '+' && op != '-' && op != '*') return reply(2);
    std::vector<int64_t> operands;
    for (size_t i = 0; i < count; ++i) {
        auto p = reinterpret_cast<const unsigned char*>(bytes.data() + 1 + 4 * i);
        uint32_t u = uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
        operands.push_back(static_cast<int32_t>(u));
    }
    auto result = reference(op, operands);
    return result ? reply(0, *result) : reply(3);
}

// ---- the test as a peer -------------------------------------------------------------------

// Connects, sends BYTES, half-closes (SHUT_WR: "no more requests"), returns all of the
// server's answer and how it ended.
harness::Received send_and_finish(int port, const std::string& bytes,
                                  const std::string& host = "127.0.0.1") {
    common::Fd fd = harness::connect_tcp(host, port);
    if (!fd) {
        ADD_FAILURE() << "connect to " << host << " port " << port << ": " << strerror(errno);
        return {"", End::kDeadline};
    }
    harness::send_all(fd.get(), bytes);  // may fail once the server has closed: not an error
    shutdown(fd.get(), SHUT_WR);
    return harness::recv_to_end(fd.get());
}

// A well-formed request must be answered without the client closing its side first: the
// server knows the length from the count byte.  Then the server closes.
std::string ask(int port, const std::string& bytes) {
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    if (!fd) {
        ADD_FAILURE() << "connect: " << strerror(errno);
        return "";
    }
    EXPECT_TRUE(harness::send_all(fd.get(), bytes));
    std::string partial;
    auto answer = harness::recv_exact(fd.get(), 5, {}, &partial);
    if (!answer) {
        ADD_FAILURE() << "no 5-byte reply, got " << partial.size() << " bytes";
        return partial;
    }
    auto [rest, end] = harness::recv_to_end(fd.get());
    EXPECT_EQ(rest, "");
    EXPECT_EQ(end, End::kFin) << "the server closes after one calculation";
    return *answer;
}

Process start_server(std::vector<std::string> extra = {}, harness::Options options = {}) {
    std::vector<std::string> args{"0"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Process(PROG_op_server, args, options);
}

std::string result_line(int32_t value) {
    return "Operation result: " + std::to_string(value) + "\n";
}

// ---- op_client against op_server ----------------------------------------------------------

struct Case {
    char op;
    std::vector<int32_t> operands;
};

void expect_client_computes(int port, const std::vector<Case>& cases) {
    for (const Case& c : cases) {
        std::vector<std::string> args{"127.0.0.1", std::to_string(port), std::string(1, c.op)};
        std::vector<int64_t> wide;
        for (int32_t v : c.operands) {
            args.push_back(std::to_string(v));
            wide.push_back(v);
        }
        auto expected = reference(c.op, wide);
        ASSERT_TRUE(expected) << "test case overflows";
        auto r = harness::run(PROG_op_client, args);
        EXPECT_EQ(r.exit_code(), 0) << harness::describe_status(r.status) << " " << r.err;
        EXPECT_EQ(r.out, result_line(*expected)) << "op " << c.op;
        EXPECT_EQ(r.err, "");
    }
}

TEST(Ch04Op, ClientAddsSubtractsMultipliesFromArguments) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    expect_client_computes(port, {{'+', {1, 2, 3}},
                                  {'-', {100, 7, 50, 3}},
                                  {'*', {6, 7, 11}},
                                  {'+', {2'000'000'000, 147'483'647}}});
    // The server prints one line per reply, in order.
    EXPECT_EQ(server.read_line(), "client 1: 3 operands '+' -> 6");
    EXPECT_EQ(server.read_line(), "client 2: 4 operands '-' -> 40");
    EXPECT_EQ(server.read_line(), "client 3: 3 operands '*' -> 462");
    EXPECT_EQ(server.read_line(), "client 4: 2 operands '+' -> 2147483647");
}

TEST(Ch04Op, ClientHandlesOneOperandAndNegativeOperands) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    expect_client_computes(port, {{'+', {42}},
                                  {'-', {-42}},
                                  {'*', {kMin}},
                                  {'-', {-5, 3, -10}},
                                  {'*', {-3, -4, -5}},
                                  {'+', {kMin, kMax}}});
}

TEST(Ch04Op, ClientSendsTheMaximumOf64OperandsAndRejects65) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    std::vector<int32_t> many(64);
    std::iota(many.begin(), many.end(), 1);  // 1..64
    expect_client_computes(port, {{'+', many}, {'-', many}});

    std::vector<std::string> args{"127.0.0.1", std::to_string(port), "+"};
    for (int i = 1; i <= 65; ++i)
        args.push_back(std::to_string(i));
    auto r = harness::run(PROG_op_client, args);
    EXPECT_EQ(r.exit_code(), 2);
    EXPECT_EQ(r.err, "op_client: invalid operand count '65' (expected 1 to 64)\n");
    // Only the two good requests reached the server.
    EXPECT_EQ(server.read_line(), "client 1: 64 operands '+' -> 2080");
    EXPECT_EQ(server.read_line(), "client 2: 64 operands '-' -> -2078");
}

TEST(Ch04Op, ClientReadsCountOperandsAndOperatorFromPipedStdin) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    std::vector<std::string> args{"127.0.0.1", std::to_string(port)};
    // One word per line, as a person answers the book's prompts; no prompts when piped.
    auto r = harness::run(PROG_op_client, args, "3\n10\n20\n-35\n-\n");
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, result_line(10 - 20 + 35));
    // Any whitespace separates words.
    r = harness::run(PROG_op_client, args, "2 6 7 *");
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, result_line(42));
    // End of input, or q / Q, before a request: nothing to do, nothing sent.
    for (const char* quit : {"", "q\n", "Q\n"}) {
        r = harness::run(PROG_op_client, args, quit);
        EXPECT_EQ(r.exit_code(), 0) << r.err;
        EXPECT_EQ(r.out, "");
        EXPECT_EQ(r.err, "");
    }
    // Only the two requests reached the server: the third client is a fresh connection.
    EXPECT_EQ(server.read_line(), "client 1: 3 operands '-' -> 25");
    EXPECT_EQ(server.read_line(), "client 2: 2 operands '*' -> 42");
    EXPECT_EQ(ask(port, request({1, 1}, '+')), reply(0, 2));
    EXPECT_EQ(server.read_line(), "client 3: 2 operands '+' -> 2");
}

TEST(Ch04Op, ClientAndServerOverIPv6) {
    harness::Options v6;
    v6.bind = "::1";
    Process server = start_server({}, v6);
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    auto r = harness::run(PROG_op_client, {"::1", std::to_string(port), "*", "-6", "7"});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, result_line(-42));
    auto [answer, end] = send_and_finish(port, request({5, 6}, '+'), "::1");
    EXPECT_EQ(answer, reply(0, 11));
}

TEST(Ch04Op, ClientReportsAnErrorReplyOnStderrAndExits1) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    auto r = harness::run(PROG_op_client,
                          {"127.0.0.1", std::to_string(port), "+", std::to_string(kMax), "1"});
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "op_client: server: result overflows 32 bits\n");
}

// The test plays the server: it checks the client's bytes on the wire, then hangs up
// without a reply.
TEST(Ch04Op, ClientSendsNetworkByteOrderAndReportsAMissingReply) {
    harness::Listener listener = harness::listen_loopback();
    ASSERT_GT(listener.port, 0) << "no listening socket";

    Process client(PROG_op_client,
                   {"127.0.0.1", std::to_string(listener.port), "-", "1", "-2", "258"});
    common::Fd conn = harness::accept_within(listener.fd.get());
    ASSERT_TRUE(conn) << "op_client never connected";
    auto bytes = harness::recv_exact(conn.get(), 14);
    ASSERT_TRUE(bytes);
    EXPECT_EQ(*bytes, std::string("\x03"
                                  "\x00\x00\x00\x01"
                                  "\xff\xff\xff\xfe"
                                  "\x00\x00\x01\x02"
                                  "-",
                                  14));
    conn.reset();
    auto status = client.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 1)) << harness::describe_status(*status);
    EXPECT_EQ(client.err(), "op_client: server closed the connection without a reply\n");
    EXPECT_EQ(client.out(), "");
}

// ---- op_server against raw requests -------------------------------------------------------

TEST(Ch04Op, ServerAnswersInNetworkByteOrder) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    // 1 + 256 + 65536 = 0x00010101; operands and result are big-endian on the wire.
    std::string req(
        "\x03"
        "\x00\x00\x00\x01"
        "\x00\x00\x01\x00"
        "\x00\x01\x00\x00"
        "+",
        14);
    EXPECT_EQ(ask(port, req), std::string("\x00\x00\x01\x01\x01", 5));
    EXPECT_EQ(server.read_line(), "client 1: 3 operands '+' -> 65793");
    // The book's client on x86 sends 1 and 2 in host (little-endian) order: this server
    // reads them as 0x01000000 and 0x02000000.  Host order only works between equals.
    std::string host_order(
        "\x02"
        "\x01\x00\x00\x00"
        "\x02\x00\x00\x00"
        "+",
        10);
    EXPECT_EQ(ask(port, host_order), reply(0, 0x03000000));
    EXPECT_EQ(ask(port, request({-7, 3}, '*')), reply(0, -21));
}

TEST(Ch04Op, ServerRejectsZeroAndTooLargeCountsWithStatus1) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    // Count 0: the request is just the operator byte; the reply is status 1.
    EXPECT_EQ(ask(port, raw_request(0, {}, '+')), reply(1));
    EXPECT_EQ(server.read_line(), "client 1: 0 operands '+' -> error 1 (bad operand count)");
    // Count 65, complete: read whole (the count byte is the length), then refused.
    std::vector<int32_t> many(65, 1);
    EXPECT_EQ(ask(port, request(many, '+')), reply(1));
    // Count 255, complete: 1 + 1020 + 1 bytes fit the server's buffer exactly.
    std::vector<int32_t> most(255, 7);
    EXPECT_EQ(ask(port, request(most, '*')), reply(1));
    EXPECT_EQ(ask(port, request({2, 3}, '+')), reply(0, 5));
}

TEST(Ch04Op, ServerDropsCount255WithAShortMessageAndServesTheNextClient) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    // 255 announces 1021 more bytes; only 3 come, then end of stream.
    harness::Received got = send_and_finish(port, std::string("\xff\x00\x00\x00", 4));
    EXPECT_EQ(got.data, "") << "no reply to a truncated request";
    EXPECT_EQ(got.end, End::kFin) << "a clean close (FIN), not a reset, not a hang";
    EXPECT_EQ(server.read_err_line(),
              "op_server: client 1: truncated request (4 of 1022 bytes), closing");
    // Count 0 with nothing after it is truncated too.
    got = send_and_finish(port, std::string(1, '\0'));
    EXPECT_EQ(got.data, "");
    EXPECT_EQ(got.end, End::kFin);
    // A client that connects and closes at once.
    got = send_and_finish(port, "");
    EXPECT_EQ(got.data, "");
    EXPECT_EQ(got.end, End::kFin);
    EXPECT_EQ(ask(port, request({40, 2}, '+')), reply(0, 42));
    EXPECT_TRUE(server.running());
}

// Bytes after the request are never read.  close() with unread data in the receive buffer
// throws it away and answers with RST instead of FIN (关闭套接字将会丢失输入缓冲中的数据);
// the reply sent before it still arrives.
TEST(Ch04Op, ServerClosingWithUnreadExtraBytesResetsTheConnection) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd);
    ASSERT_TRUE(harness::send_all(fd.get(), request({4, 5}, '*') + "extra bytes"));  // one segment
    auto [answer, end] = harness::recv_to_end(fd.get());
    EXPECT_EQ(answer, reply(0, 20));
    EXPECT_EQ(end, End::kReset);
    EXPECT_EQ(ask(port, request({4, 5}, '+')), reply(0, 9)) << "a clean request ends with FIN";
}

TEST(Ch04Op, ServerRejectsUnknownOperatorsWithStatus2) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    for (char op : {'/', 'x', '\0', '\xff'})
        EXPECT_EQ(ask(port, request({8, 2}, op)), reply(2));
    EXPECT_EQ(server.read_line(), "client 1: 2 operands '/' -> error 2 (unknown operator)");
    EXPECT_EQ(server.read_line(), "client 2: 2 operands 'x' -> error 2 (unknown operator)");
    EXPECT_EQ(server.read_line(), "client 3: 2 operands 0x00 -> error 2 (unknown operator)");
    EXPECT_EQ(server.read_line(), "client 4: 2 operands 0xff -> error 2 (unknown operator)");
}

TEST(Ch04Op, ServerReportsA32BitOverflowWithStatus3) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    EXPECT_EQ(ask(port, request({kMax, 1}, '+')), reply(3));
    EXPECT_EQ(ask(port, request({kMin, 1}, '-')), reply(3));
    EXPECT_EQ(ask(port, request({65536, 65536}, '*')), reply(3));
    EXPECT_EQ(ask(port, request({kMin, -1}, '*')), reply(3));
    EXPECT_EQ(ask(port, request({46341, 46341}, '*')), reply(3));  // 2147488281
    // Every step must fit, not only the final result.
    EXPECT_EQ(ask(port, request({kMax, 1, -1}, '+')), reply(3));
    // The edges themselves are fine.
    EXPECT_EQ(ask(port, request({kMax - 1, 1}, '+')), reply(0, kMax));
    EXPECT_EQ(ask(port, request({kMin + 1, 1}, '-')), reply(0, kMin));
    EXPECT_EQ(ask(port, request({46340, 46340}, '*')), reply(0, 2147395600));
    EXPECT_EQ(ask(port, request({kMin, 1}, '*')), reply(0, kMin));
}

TEST(Ch04Op, ServerSurvivesRandomBytesAndAnswersExactlyAsTheProtocolSays) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    for (unsigned seed = 1; seed <= 50; ++seed) {
        std::mt19937 rng(seed);
        size_t length = std::uniform_int_distribution<size_t>(1, 1100)(rng);
        std::string bytes = harness::random_bytes(length, seed);
        auto [answer, end] = send_and_finish(port, bytes);
        EXPECT_EQ(answer, expected_reply(bytes)) << "seed " << seed << ", " << length << " bytes";
        EXPECT_NE(end, End::kDeadline) << "seed " << seed << ": server did not close";
        ASSERT_TRUE(server.running()) << "seed " << seed;
    }
    // Well-formed requests with random operands: the server must agree with the reference,
    // overflow included.
    std::mt19937 rng(2024);
    for (int i = 0; i < 50; ++i) {
        size_t count = std::uniform_int_distribution<size_t>(1, 64)(rng);
        char op = "+-*"[std::uniform_int_distribution<int>(0, 2)(rng)];
        int32_t limit = op == '*' ? 50 : kMax;
        std::uniform_int_distribution<int32_t> value(-limit, limit);
        std::vector<int32_t> operands(count);
        for (auto& v : operands)
            v = value(rng);
        std::string bytes = request(operands, op);
        EXPECT_EQ(ask(port, bytes), expected_reply(bytes)) << "request " << i;
    }
    EXPECT_EQ(ask(port, request({1, 2, 3}, '*')), reply(0, 6));
    EXPECT_TRUE(server.running());
}

TEST(Ch04Op, StalledClientHoldsTheServerOnlyUntilTheDeadline) {
    Process server = start_server({"--deadline-ms", "300"});
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    // A sends 5 of the 14 bytes it announces and stalls, connection open.
    common::Fd stalled = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(stalled);
    ASSERT_TRUE(harness::send_all(stalled.get(), raw_request(3, {1}, '+').substr(0, 5)));
    // B, queued behind A, is answered once A's deadline passes: within it, not never.
    auto start = harness::Clock::now();
    EXPECT_EQ(ask(port, request({20, 22}, '+')), reply(0, 42));
    EXPECT_GE(harness::Clock::now() - start, 200ms) << "B cannot be served before A times out";
    auto [answer, end] = harness::recv_to_end(stalled.get());
    EXPECT_EQ(answer, "");
    EXPECT_EQ(end, End::kFin) << "the server closed A's connection";
    EXPECT_EQ(server.read_err_line(),
              "op_server: client 1: request incomplete after 300 ms (5 of 14 bytes), closing");
    EXPECT_EQ(server.read_line(), "client 2: 2 operands '+' -> 42");
}

// The deadline covers the whole request, not each read(): a client that sends one byte every
// 400 ms never leaves a read() waiting long, but it is still dropped when the deadline
// (1000 ms) has passed, and the client queued behind it is served.  (With a per-read timeout,
// SO_RCVTIMEO, this client would hold the server for its whole request, and a slower trickle
// for up to 1022 x the timeout.)  Timing is the lesson here: the bytes go at a fixed pace.
TEST(Ch04Op, TricklingClientIsDroppedAtTheDeadlineAndTheNextIsServed) {
    Process server = start_server({"--deadline-ms", "1000"});
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    const std::string slow = request({1, 2, 3}, '+');  // 14 bytes: 5.2 s at this pace
    auto connected = harness::Clock::now();
    common::Fd trickler = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(trickler) << strerror(errno);
    common::Fd next = harness::connect_tcp("127.0.0.1", port);  // queued behind it
    ASSERT_TRUE(next) << strerror(errno);
    ASSERT_TRUE(harness::send_all(next.get(), request({20, 22}, '+')));

    // One byte, then up to 400 ms of watching for the server's close; bounded by the request.
    size_t sent = 0;
    std::optional<harness::Clock::duration> dropped_after;
    std::string answer;
    while (sent < slow.size() && !dropped_after) {
        if (!harness::send_all(trickler.get(), slow.substr(sent, 1))) break;  // closed
        ++sent;
        pollfd p{trickler.get(), POLLIN, 0};
        if (poll(&p, 1, 400) == 1) {
            auto [data, end] = harness::recv_to_end(trickler.get());
            answer = data;
            if (end != End::kDeadline) dropped_after = harness::Clock::now() - connected;
        }
    }
    ASSERT_TRUE(dropped_after) << "the trickling client was never dropped; it sent " << sent
                               << " of 14 bytes and got " << answer.size() << " bytes back";
    EXPECT_EQ(answer, "") << "a request that missed its deadline gets no reply";
    EXPECT_LT(sent, slow.size());
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*dropped_after).count();
    EXPECT_GE(ms, 1000) << "dropped before its deadline";
    EXPECT_LE(ms, harness::scaled(2000ms).count()) << "dropped long after its deadline";

    std::string partial;
    EXPECT_EQ(harness::recv_exact(next.get(), 5, {}, &partial), reply(0, 42))
        << "the next client was not served (" << partial.size() << " bytes)";
    auto line = server.read_err_line();
    ASSERT_TRUE(line);
    EXPECT_TRUE(
        std::regex_match(*line, std::regex("op_server: client 1: request incomplete "
                                           R"(after 1000 ms \(\d+ of 14 bytes\), closing)")))
        << *line;
    EXPECT_EQ(server.read_line(), "client 2: 2 operands '+' -> 42");
}

// An iterative server's worst case is one deadline per client ahead of you: 50 clients that
// each send half a request and stall cost 50 x 50 ms, and then the next client is served.
TEST(Ch04Op, FiftyStalledHalfRequestsCostOneDeadlineEach) {
    Process server = start_server({"--deadline-ms", "50"});
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    std::vector<common::Fd> stalled;
    for (int i = 0; i < 50; ++i) {
        stalled.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(stalled.back()) << strerror(errno);
        ASSERT_TRUE(harness::send_all(stalled.back().get(), request({1, 2}, '+').substr(0, 5)));
    }
    auto start = harness::Clock::now();
    EXPECT_EQ(ask(port, request({6, 7}, '*')), reply(0, 42));
    EXPECT_GE(harness::Clock::now() - start, 50 * 40ms) << "fewer than 50 deadlines passed";
    for (int i = 1; i <= 50; ++i)
        EXPECT_EQ(server.read_err_line(), "op_server: client " + std::to_string(i) +
                                              ": request incomplete after 50 ms (5 of 10 bytes), "
                                              "closing");
    EXPECT_EQ(server.read_line(), "client 51: 2 operands '*' -> 42");
}

// Resets, in the middle of a request and while waiting in the backlog: one line each (Linux
// returns a connection reset in the backlog from accept(), and reading it fails), and the
// server goes on.
TEST(Ch04Op, ServerSurvivesClientsThatResetMidRequest) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    auto reset = [](common::Fd& fd) {
        linger abort{.l_onoff = 1, .l_linger = 0};
        ASSERT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
        fd.reset();
    };
    std::vector<common::Fd> clients;
    for (int i = 0; i < 4; ++i) {
        clients.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(clients.back()) << strerror(errno);
        ASSERT_TRUE(harness::send_all(clients.back().get(), request({1, 2}, '+').substr(0, 5)));
    }
    // Client 1 is being served (the server waits for its last 5 bytes); 2..4 are queued.
    for (int i = 3; i >= 0; --i)
        reset(clients[static_cast<size_t>(i)]);
    EXPECT_EQ(ask(port, request({40, 2}, '+')), reply(0, 42));
    EXPECT_EQ(server.read_line(), "client 5: 2 operands '+' -> 42");
    for (int i = 1; i <= 4; ++i)
        EXPECT_EQ(server.read_err_line(),
                  "op_server: client " + std::to_string(i) + ": read: Connection reset by peer");
    EXPECT_TRUE(server.running());
}

// The reply is 5 bytes: it fits in any socket buffer, so a client that never reads it cannot
// block the server's write().  Twenty such clients stay connected; the next is served.
TEST(Ch04Op, ClientsThatNeverReadTheirReplyDoNotHoldTheServer) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    std::vector<common::Fd> deaf;
    for (int i = 0; i < 20; ++i) {
        deaf.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(deaf.back()) << strerror(errno);
        ASSERT_TRUE(harness::send_all(deaf.back().get(), request({i, 1}, '+')));
    }
    EXPECT_EQ(ask(port, request({2, 2}, '*')), reply(0, 4));
    for (int i = 1; i <= 20; ++i)
        EXPECT_EQ(server.read_line(),
                  "client " + std::to_string(i) + ": 2 operands '+' -> " + std::to_string(i));
    EXPECT_EQ(server.read_line(), "client 21: 2 operands '*' -> 4");
    EXPECT_EQ(server.err(), "");
}

// ---- errors and usage ---------------------------------------------------------------------

TEST(Ch04Op, ClientBadUsageAndBadInputExit2) {
    // Nothing must ever be sent: a connect here would fail with exit 1.
    harness::Listener nobody = harness::refused_port();
    std::string port = std::to_string(nobody.port);
    const std::string usage = "usage: op_client HOST PORT [+|-|'*' OPERAND...]\n";
    const std::string operand = "' (expected a 32-bit integer)\n";
    const std::string op = "' (expected +, - or *)\n";
    harness::expect_usage_errors({
        {PROG_op_client, {}, 2, usage},
        {PROG_op_client, {"127.0.0.1"}, 2, usage},
        {PROG_op_client, {"127.0.0.1", port, "+"}, 2, usage},
        {PROG_op_client,
         {"127.0.0.1", "abc", "+", "1"},
         2,
         "op_client: invalid port 'abc': not a decimal number (expected 0 to 65535)\n"},
        {PROG_op_client,
         {"127.0.0.1", port, "+", "abc"},
         2,
         "op_client: invalid operand 'abc" + operand},
        {PROG_op_client,
         {"127.0.0.1", port, "+", "1", "99999999999"},
         2,
         "op_client: invalid operand '99999999999" + operand},
        {PROG_op_client,
         {"127.0.0.1", port, "+", "2147483648"},
         2,
         "op_client: invalid operand '2147483648" + operand},
        {PROG_op_client,
         {"127.0.0.1", port, "+", "1.5"},
         2,
         "op_client: invalid operand '1.5" + operand},
        {PROG_op_client,
         {"127.0.0.1", port, "/", "1", "2"},
         2,
         "op_client: invalid operator '/" + op},
        {PROG_op_client, {"127.0.0.1", port, "++", "1"}, 2, "op_client: invalid operator '++" + op},
    });
    // The same from stdin, as a person answers the prompts (the shared table has no stdin).
    struct Bad {
        std::string stdin_data;
        std::string err;
    };
    std::vector<Bad> cases{
        {"0 +", "op_client: invalid operand count '0' (expected 1 to 64)\n"},
        {"65", "op_client: invalid operand count '65' (expected 1 to 64)\n"},
        {"two", "op_client: invalid operand count 'two' (expected 1 to 64)\n"},
        {"2 1 x +", "op_client: invalid operand 'x" + operand},
        {"2 1 2 %", "op_client: invalid operator '%" + op},
        {"3 1 2", "op_client: end of input before operand 3 of 3\n"},
        {"2 1 2\n", "op_client: end of input before the operator\n"},
    };
    for (const Bad& c : cases) {
        auto r = harness::run(PROG_op_client, {"127.0.0.1", port}, c.stdin_data);
        std::string what = "stdin: " + c.stdin_data;
        EXPECT_EQ(r.exit_code(), 2) << what << " -> " << harness::describe_status(r.status);
        EXPECT_EQ(r.err, c.err) << what;
        EXPECT_EQ(r.out, "") << what;
    }
}

TEST(Ch04Op, ServerBadUsageExits2) {
    const std::string usage = "usage: op_server PORT [--deadline-ms N]\n";
    const std::string bad_deadline = "' (expected 1 to 3600000)\n";
    harness::expect_usage_errors({
        {PROG_op_server, {}, 2, usage},
        {PROG_op_server, {"0", "extra"}, 2, usage},
        {PROG_op_server, {"0", "--deadline-ms"}, 2, usage},
        {PROG_op_server, {"0", "--timeout-ms", "5000"}, 2, usage},  // the per-read timeout is gone
        {PROG_op_server, {"0", "--bogus", "5"}, 2, usage},
        {PROG_op_server,
         {"abc"},
         2,
         "op_server: invalid port 'abc': not a decimal number (expected 0 to 65535)\n"},
        {PROG_op_server,
         {"70000"},
         2,
         "op_server: invalid port '70000': out of range (expected 0 to 65535)\n"},
        {PROG_op_server,
         {"0", "--deadline-ms", "x"},
         2,
         "op_server: invalid --deadline-ms 'x" + bad_deadline},
        {PROG_op_server,
         {"0", "--deadline-ms", "0"},
         2,
         "op_server: invalid --deadline-ms '0" + bad_deadline},
        {PROG_op_server,
         {"0", "--deadline-ms", "-1"},
         2,
         "op_server: invalid --deadline-ms '-1" + bad_deadline},
        {PROG_op_server,
         {"0", "--deadline-ms", "3600001"},
         2,
         "op_server: invalid --deadline-ms '3600001" + bad_deadline},
    });
}

TEST(Ch04Op, ClientUnknownHostExits1) {
    auto r = harness::run(PROG_op_client, {"no-such-host.invalid", "9190", "+", "1"});
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_EQ(r.err.rfind("op_client: cannot resolve 'no-such-host.invalid': ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.out, "");
}

TEST(Ch04Op, ClientRefusedConnectionExits1) {
    harness::Listener nobody = harness::refused_port();
    std::string port = std::to_string(nobody.port);
    auto r = harness::run(PROG_op_client, {"127.0.0.1", port, "+", "1", "2"});
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_EQ(r.err, "op_client: connect to 127.0.0.1 port " + port + ": Connection refused\n");
    EXPECT_EQ(r.out, "");
}

// A third-party peer: socat sends a hand-made request and prints the raw reply.
TEST(Ch04Op, ServerAnswersSocat) {
    SOCKLAB_REQUIRE_TOOL("socat");
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    auto r = harness::run("socat", {"-t", "5", "-", "TCP:127.0.0.1:" + std::to_string(port)},
                          request({5, 7}, '*'));
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, std::string("\x00\x00\x00\x00\x23", 5));
}

}  // namespace
