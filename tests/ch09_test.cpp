// ch09 — socket options (套接字的多种可选项): SO_TYPE, the buffer sizes and the kernel's rules
// for them (doubling, clamping to net.core.*mem_max, a minimum), SO_LINGER {1, 0} (RST instead
// of FIN, queued bytes thrown away), and Nagle's algorithm vs TCP_NODELAY on the wire.
//
// Expectations come from /proc (this machine's sysctls), or from values a test writes into a
// private network namespace's own sysctls, never from numbers of the machine they were
// written on.  Wire tests run in a private namespace with ch04's tcp_watch capturing.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kit.hpp"
#include "netns.hpp"
#include "wire.hpp"

namespace {

using namespace std::chrono_literals;
using harness::NetNs;
using harness::Process;
using harness::Result;
using harness::Segment;

// The numbers in /proc/sys/KEY ("net/ipv4/tcp_rmem": min default max).
std::vector<long> proc_numbers(const std::string& key) {
    std::ifstream in("/proc/sys/" + key);
    std::vector<long> v;
    for (long x; in >> x;)
        v.push_back(x);
    return v;
}

std::string sysctl_line(const std::vector<long>& v) {
    std::ostringstream s;
    for (size_t i = 0; i < v.size(); ++i)
        s << (i ? " " : "") << v[i];
    return s.str();
}

TEST(Ch09SockType, TcpSocketIsSockStreamUdpSocketIsSockDgramAndSoTypeIsReadOnly) {
    Result r = harness::run(PROG_sock_type, {});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out,
              "SOCK_STREAM: 1\nSOCK_DGRAM: 2\nSocket type one: 1\nSocket type two: 2\n"
              "setsockopt(SO_TYPE): Protocol not available\n");
}

TEST(Ch09Buffers, NewTcpSocketStartsWithTheDefaultsOfTcpRmemAndTcpWmem) {
    std::vector<long> rmem = proc_numbers("net/ipv4/tcp_rmem"),
                      wmem = proc_numbers("net/ipv4/tcp_wmem");
    ASSERT_EQ(rmem.size(), 3u);
    ASSERT_EQ(wmem.size(), 3u);
    Result r = harness::run(PROG_get_buf, {});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, "Input buffer size: " + std::to_string(rmem[1]) +
                         " (net.ipv4.tcp_rmem = " + sysctl_line(rmem) + ")\n" +
                         "Output buffer size: " + std::to_string(wmem[1]) +
                         " (net.ipv4.tcp_wmem = " + sysctl_line(wmem) + ")\n");
}

TEST(Ch09Buffers, TheDefaultsFollowTcpRmemAndTcpWmemWhenTheyChange) {
    // A namespace has its own tcp_rmem/tcp_wmem: values this machine would never have.
    SOCKLAB_REQUIRE_NETNS();
    NetNs ns("bufs");
    ASSERT_TRUE(ns.ok());
    ASSERT_TRUE(ns.sysctl("net.ipv4.tcp_rmem", "4096 50000 6000000"));
    ASSERT_TRUE(ns.sysctl("net.ipv4.tcp_wmem", "4096 20000 4000000"));
    Result r = ns.run(PROG_get_buf, {});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out,
              "Input buffer size: 50000 (net.ipv4.tcp_rmem = 4096 50000 6000000)\n"
              "Output buffer size: 20000 (net.ipv4.tcp_wmem = 4096 20000 4000000)\n");
}

std::string maxima_line() {
    return "net.core.rmem_max = " + std::to_string(proc_numbers("net/core/rmem_max").at(0)) +
           ", net.core.wmem_max = " + std::to_string(proc_numbers("net/core/wmem_max").at(0)) +
           "\n";
}

TEST(Ch09Buffers, SetBufGetsTwiceWhatItAsks) {
    Result r = harness::run(PROG_set_buf, {});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, maxima_line() +
                         "Input buffer size: asked 3072, got 6144 (doubled)\n"
                         "Output buffer size: asked 3072, got 6144 (doubled)\n");
    r = harness::run(PROG_set_buf, {"50000", "70000"});
    EXPECT_EQ(r.out, maxima_line() +
                         "Input buffer size: asked 50000, got 100000 (doubled)\n"
                         "Output buffer size: asked 70000, got 140000 (doubled)\n");
}

TEST(Ch09Buffers, SetBufIsClampedToRmemMaxAndWmemMaxThenDoubled) {
    long rmem_max = proc_numbers("net/core/rmem_max").at(0);
    long wmem_max = proc_numbers("net/core/wmem_max").at(0);
    if (rmem_max >= (1L << 29) || wmem_max >= (1L << 29))
        GTEST_SKIP() << "maxima too large to ask for more than them";
    std::string rcv = std::to_string(2 * rmem_max + 1), snd = std::to_string(3 * wmem_max + 7);
    Result r = harness::run(PROG_set_buf, {rcv, snd});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, maxima_line() + "Input buffer size: asked " + rcv + ", got " +
                         std::to_string(2 * rmem_max) +
                         " (clamped to the maximum, then doubled)\n"
                         "Output buffer size: asked " +
                         snd + ", got " + std::to_string(2 * wmem_max) +
                         " (clamped to the maximum, then doubled)\n");
}

TEST(Ch09Buffers, SetBufRaisesTinyRequestsToAFixedMinimum) {
    // 0, 1 and 100 bytes all give the same sizes: the kernel's minimum, more than twice 100.
    std::vector<std::string> outs;
    for (const char* v : {"0", "1", "100"}) {
        Result r = harness::run(PROG_set_buf, {v, v});
        EXPECT_EQ(r.exit_code(), 0) << r.err;
        std::smatch m;
        ASSERT_TRUE(std::regex_search(
            r.out, m,
            std::regex("Input buffer size: asked \\d+, got (\\d+) \\(raised to the minimum\\)\n"
                       "Output buffer size: asked \\d+, got (\\d+) \\(raised to the minimum\\)\n")))
            << r.out;
        EXPECT_GT(std::stol(m[1]), 200);
        EXPECT_GT(std::stol(m[2]), 200);
        outs.push_back(m[1].str() + " " + m[2].str());
    }
    EXPECT_EQ(outs[0], outs[1]);
    EXPECT_EQ(outs[1], outs[2]);
}

// ---- SO_LINGER --------------------------------------------------------------------------

struct LingerRun {
    long written = -1, queued = -1;  // what linger_close said
    harness::Received peer;          // what the peer read, and how the stream ended
};

// linger_close --bytes 1000000 [--linger0] against a peer that reads nothing until
// linger_close has exited: its small receive buffer (4 KiB) leaves most bytes queued.
LingerRun linger_run(bool linger0) {
    LingerRun run;
    harness::Listener peer = harness::listen_loopback();
    int small = 4096;
    EXPECT_EQ(setsockopt(peer.fd.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    std::vector<std::string> args{"127.0.0.1", std::to_string(peer.port), "--bytes", "1000000"};
    if (linger0) args.push_back("--linger0");
    Result r = harness::run(PROG_linger_close, args);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    std::smatch m;
    EXPECT_TRUE(std::regex_search(r.out, m,
                                  std::regex("wrote (\\d+) bytes, (\\d+) of them still queued\n")))
        << r.out;
    if (m.size() == 3) run.written = std::stol(m[1]), run.queued = std::stol(m[2]);
    std::string last =
        linger0 ? "close() with SO_LINGER {1, 0}: RST instead of FIN, the " +
                      std::to_string(run.queued) + " bytes still queued are thrown away\n"
                : "close(): FIN, after the " + std::to_string(run.queued) + " bytes still queued\n";
    EXPECT_TRUE(r.out.ends_with(last)) << r.out;
    common::Fd conn = harness::accept_within(peer.fd.get());
    EXPECT_TRUE(conn);
    if (conn) run.peer = harness::recv_to_end(conn.get());
    return run;
}

TEST(Ch09Linger, NormalCloseStillSendsTheQueuedBytesThenFin) {
    LingerRun run = linger_run(false);
    ASSERT_GT(run.queued, 0) << "nothing was left queued: the test would prove nothing";
    EXPECT_EQ(run.peer.end, harness::End::kFin);
    EXPECT_EQ(static_cast<long>(run.peer.data.size()), run.written);
}

TEST(Ch09Linger, Linger0ResetsAndThrowsTheQueuedBytesAway) {
    LingerRun run = linger_run(true);
    ASSERT_GT(run.queued, 0) << "nothing was left queued: the test would prove nothing";
    EXPECT_EQ(run.peer.end, harness::End::kReset) << "the peer's read(): ECONNRESET";
    EXPECT_LT(static_cast<long>(run.peer.data.size()), run.written);
}

// socat (a peer we did not write) listens inside a namespace on a fixed port, tcp_watch
// captures; linger_close connects and closes.  Returns the segments; *socat_err gets its stderr.
std::vector<Segment> linger_on_the_wire(bool linger0, Result* socat) {
    NetNs ns("linger");
    if (!ns.ok()) return {};
    Process watch = harness::start_watch(ns, PROG_tcp_watch, 9190, {"--connections", "1"});
    Process listener = ns.process("socat", {"-d", "-d", "-u", "TCP-LISTEN:9190,reuseaddr", "-"});
    for (harness::Deadline d;;) {  // socat -d -d says "listening on ..." on stderr
        std::optional<std::string> line = listener.read_err_line(d);
        if (!line) {
            ADD_FAILURE() << "socat did not listen";
            return {};
        }
        if (line->find("listening on") != std::string::npos) break;
    }
    std::vector<std::string> args{"127.0.0.1", "9190", "--bytes", "12"};
    if (linger0) args.push_back("--linger0");
    Result client = ns.run(PROG_linger_close, args);
    EXPECT_EQ(client.exit_code(), 0) << client.err;
    socat->status = listener.finish().value_or(-1);
    socat->out = listener.out();
    socat->err = listener.err();
    return harness::watched(watch);
}

TEST(Ch09Wire, Linger0SendsRstAndTheThirdPartyPeerSeesConnectionReset) {
    SOCKLAB_REQUIRE_NETNS();
    SOCKLAB_REQUIRE_TOOL("socat");
    Result socat;
    std::vector<Segment> segs = linger_on_the_wire(true, &socat);
    std::string all = harness::describe_segments(segs);
    int rst = harness::find_segment(segs, [](const Segment& s) { return s.has('R'); });
    ASSERT_GE(rst, 0) << all;
    EXPECT_TRUE(segs[static_cast<size_t>(rst)].from_client()) << all;
    EXPECT_EQ(segs[static_cast<size_t>(rst)].flags, "R.") << all;
    EXPECT_EQ(harness::find_segment(segs, [](const Segment& s) { return s.has('F'); }), -1)
        << "no FIN from either side\n"
        << all;
    EXPECT_NE(socat.err.find("Connection reset by peer"), std::string::npos) << socat.err;
}

TEST(Ch09Wire, NormalCloseSendsFinAndTheThirdPartyPeerSeesEndOfStream) {
    SOCKLAB_REQUIRE_NETNS();
    SOCKLAB_REQUIRE_TOOL("socat");
    Result socat;
    std::vector<Segment> segs = linger_on_the_wire(false, &socat);
    std::string all = harness::describe_segments(segs);
    int fin =
        harness::find_segment(segs, [](const Segment& s) { return s.from_client() && s.has('F'); });
    EXPECT_GE(fin, 0) << all;
    EXPECT_EQ(harness::find_segment(segs, [](const Segment& s) { return s.has('R'); }), -1) << all;
    EXPECT_EQ(socat.exit_code(), 0) << socat.err;
    EXPECT_EQ(socat.out, "xxxxxxxxxxxx") << "the 12 bytes, then end of stream";
}

// ---- Nagle's algorithm and TCP_NODELAY ------------------------------------------------------

// delack_server (its ACKs delayed) and nagle_client --writes 10 [--nodelay] inside a
// namespace, tcp_watch capturing.  Returns every segment of the connection.
std::vector<Segment> small_writes(bool nodelay) {
    NetNs ns("nagle");
    if (!ns.ok()) return {};
    Process server = ns.process(PROG_delack_server, {"0"});
    int port = server.wait_ready();
    if (port == 0) return {};
    Process watch = harness::start_watch(ns, PROG_tcp_watch, port, {"--connections", "1"});
    std::vector<std::string> args{"127.0.0.1", std::to_string(port), "--writes", "10"};
    if (nodelay) args.push_back("--nodelay");
    Result client = ns.run(PROG_nagle_client, args);
    EXPECT_EQ(client.exit_code(), 0) << client.err;
    EXPECT_TRUE(std::regex_match(
        client.out,
        std::regex(std::string("10 writes of 1 byte, ") + (nodelay ? "TCP_NODELAY" : "Nagle on") +
                   ": answer \"got 10 bytes\" after [0-9.]+ ms\n")))
        << client.out;
    EXPECT_EQ(server.read_line(), "client 1: got 10 bytes");
    return harness::watched(watch);
}

// The indices of the client's segments that carry data.
std::vector<size_t> client_data(const std::vector<Segment>& segs) {
    std::vector<size_t> data;
    for (size_t i = 0; i < segs.size(); ++i)
        if (segs[i].from_client() && segs[i].length > 0) data.push_back(i);
    return data;
}

TEST(Ch09Wire, NagleSendsTheFirstSmallWriteAndHoldsTheRestUntilItsAck) {
    SOCKLAB_REQUIRE_NETNS();
    std::vector<Segment> segs = small_writes(false);
    std::string all = harness::describe_segments(segs);
    std::vector<size_t> data = client_data(segs);
    // The first byte alone; the other nine waited for its (delayed) ACK and left together.
    ASSERT_EQ(data.size(), 2u) << all;
    EXPECT_EQ(segs[data[0]].length, 1u) << all;
    EXPECT_EQ(segs[data[1]].length, 9u) << all;
    // ... and the second left only after the server had acknowledged the first byte.
    int acked = harness::find_segment(
        segs, [](const Segment& s) { return s.from_server() && s.ack && *s.ack >= 2; },
        static_cast<int>(data[0]) + 1);
    EXPECT_GE(acked, 0) << all;
    EXPECT_LT(acked, static_cast<int>(data[1])) << "the nine bytes did not wait for the ACK\n"
                                                << all;
}

TEST(Ch09Wire, NodelaySendsEachSmallWriteAtOnceAsItsOwnSegment) {
    SOCKLAB_REQUIRE_NETNS();
    std::vector<Segment> segs = small_writes(true);
    std::string all = harness::describe_segments(segs);
    std::vector<size_t> data = client_data(segs);
    EXPECT_EQ(data.size(), 10u) << all;
    for (size_t i : data)
        EXPECT_EQ(segs[i].length, 1u) << all;
}

// ---- Usage and values ---------------------------------------------------------------------

TEST(Ch09Usage, BadArgumentsGiveTheUsageLineAndBadValuesOneLine) {
    harness::expect_usage_errors({
        {PROG_sock_type, {"x"}, 2, "usage: sock_type (no arguments)\n"},
        {PROG_get_buf, {"x"}, 2, "usage: get_buf (no arguments)\n"},
        {PROG_set_buf, {"1"}, 2, "usage: set_buf [RCVBUF SNDBUF]\n"},
        {PROG_set_buf,
         {"abc", "1"},
         2,
         "set_buf: invalid RCVBUF 'abc' (expected 0 to 1073741824)\n"},
        {PROG_set_buf, {"1", "-5"}, 2, "set_buf: invalid SNDBUF '-5' (expected 0 to 1073741824)\n"},
        {PROG_linger_close,
         {"127.0.0.1"},
         2,
         "usage: linger_close HOST PORT [--linger0] [--bytes N]\n"},
        {PROG_linger_close,
         {"127.0.0.1", "1", "--bogus"},
         2,
         "usage: linger_close HOST PORT [--linger0] [--bytes N]\n"},
        {PROG_linger_close,
         {"127.0.0.1", "1", "--bytes", "x"},
         2,
         "linger_close: invalid --bytes 'x' (expected 0 to 1073741824)\n"},
        {PROG_nagle_client,
         {"127.0.0.1", "1", "--writes"},
         2,
         "usage: nagle_client HOST PORT [--nodelay] [--writes N] [--size B]\n"},
        {PROG_nagle_client,
         {"127.0.0.1", "1", "--writes", "0"},
         2,
         "nagle_client: invalid --writes '0' (expected 1 to 100000000)\n"},
        {PROG_nagle_client,
         {"127.0.0.1", "1", "--size", "2000000"},
         2,
         "nagle_client: invalid --size '2000000' (expected 1 to 1048576)\n"},
        {PROG_delack_server, {}, 2, "usage: delack_server PORT\n"},
        {PROG_delack_server,
         {"70000"},
         2,
         "delack_server: invalid port '70000': out of range (expected 0 to 65535)\n"},
    });
    harness::Listener refused = harness::refused_port();
    Result r = harness::run(PROG_linger_close, {"127.0.0.1", std::to_string(refused.port)});
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_EQ(r.err, "linger_close: connect to 127.0.0.1 port " + std::to_string(refused.port) +
                         ": Connection refused\n");
}

TEST(Ch09Peers, NcatSendsALineToDelackServer) {
    SOCKLAB_REQUIRE_TOOL("ncat");
    Process server(PROG_delack_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    Result r = harness::run("ncat", {"127.0.0.1", std::to_string(port)}, "hello, delack\n");
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, "ready\ngot 14 bytes\n");
    EXPECT_EQ(server.read_line(), "client 1: got 14 bytes");
}

}  // namespace
