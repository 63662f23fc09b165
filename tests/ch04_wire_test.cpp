// ch04 — see the packets (issue 9): tcp_watch shows the segments of real conversations between
// our programs, and the tests check on the wire what chapters 1, 4 and 7 claim in words.
//
// Everything runs inside a private network namespace (harness::NetNs): tcp_watch captures
// every frame on its `lo`, and there only the test's own programs send anything.  tcp_watch
// is watching before the client connects (start_watch waits for its "watching" line) and
// stops by itself once the connection has ended (--connections 1): no sleeps, no timeouts
// that decide a result.
//
// What these tests prove:
//   the three-way handshake is [S], [S.], [.] and each side acknowledges the other's ISN + 1;
//   hello_server's 12 bytes go out before its FIN, and both FINs are sent and acknowledged;
//   close() after write() still sends the data, then the FIN (close_server --read), while
//   close() with unread input sends a reset instead of a FIN — after the data, which the
//   client still receives (close_server);
//   a SYN to a port without a listener is answered by [R.], and hello_client says
//   "Connection refused";
//   tcpdump, a capture tool we did not write, sees the same segments as tcp_watch, both live
//   and when it reads back (-r) the pcap file it wrote (-w);
//   bad usage of tcp_watch and close_server, and tcp_watch without CAP_NET_RAW, give a clear
//   line and the right exit status.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kit.hpp"
#include "netns.hpp"
#include "wire.hpp"

namespace {

using namespace std::chrono_literals;
using harness::Deadline;
using harness::NetNs;
using harness::Process;
using harness::Result;
using harness::Segment;

const std::string kUsage =
    "usage: tcp_watch [--port PORT] [--count N] [--connections N] [--udp] [--absolute]";

// The sequence number right after segment S: its payload, plus one for a SYN or a FIN.
uint32_t next_seq(const Segment& s) {
    return s.seq + static_cast<uint32_t>(s.length) + (s.has('S') ? 1u : 0u) +
           (s.has('F') ? 1u : 0u);
}

// hello_server and hello_client inside NS, watched by tcp_watch with WATCH_ARGS plus
// --connections 1.  Returns the segments; the client's result in *client.
std::vector<Segment> hello_conversation(const NetNs& ns, std::vector<std::string> watch_args,
                                        Result* client) {
    Process server = ns.process(PROG_hello_server, {"0"});
    int port = server.wait_ready();
    if (port == 0) return {};
    watch_args.insert(watch_args.end(), {"--connections", "1"});
    Process watch = harness::start_watch(ns, PROG_tcp_watch, port, watch_args);
    *client = ns.run(PROG_hello_client, {"127.0.0.1", std::to_string(port)});
    EXPECT_EQ(client->exit_code(), 0) << client->err;
    EXPECT_EQ(client->out, "Message from server: Hello World!\n");
    auto status = server.finish();
    EXPECT_TRUE(status && harness::exited_with(*status, 0)) << server.err();
    return harness::watched(watch);
}

// The FIN at segs[FIN] is acknowledged by a later segment from the other side.
void expect_fin_acked(const std::vector<Segment>& segs, int fin) {
    ASSERT_GE(fin, 0);
    const Segment& f = segs[static_cast<size_t>(fin)];
    uint32_t want = next_seq(f);
    int acked = harness::find_segment(
        segs, [&](const Segment& s) { return s.src == f.dst && s.ack == want; }, fin + 1);
    EXPECT_GE(acked, 0) << "nobody acknowledged the FIN " << f.line << " with ack " << want << "\n"
                        << harness::describe_segments(segs);
}

// Bytes of payload that FROM sent in segs[0 .. END).
size_t payload_before(const std::vector<Segment>& segs, const std::string& from, int end) {
    size_t total = 0;
    for (int i = 0; i < end && i < static_cast<int>(segs.size()); ++i)
        if (segs[static_cast<size_t>(i)].src == from) total += segs[static_cast<size_t>(i)].length;
    return total;
}

int first_from(const std::vector<Segment>& segs, const std::string& from, char flag) {
    return harness::find_segment(segs,
                                 [&](const Segment& s) { return s.src == from && s.has(flag); });
}

// ---- the three-way handshake and the close ----------------------------------------------------

TEST(Ch04Wire, HandshakeIsSynThenSynAckThenAckEachAcknowledgingTheOthersIsn) {
    SOCKLAB_REQUIRE_NETNS();
    NetNs ns("handshake");
    ASSERT_TRUE(ns.ok());
    Result client;
    auto segs = hello_conversation(ns, {"--absolute"}, &client);
    ASSERT_GE(segs.size(), 3u) << harness::describe_segments(segs);
    const Segment &syn = segs[0], &syn_ack = segs[1], &ack = segs[2];
    std::string all = harness::describe_segments(segs);

    EXPECT_EQ(syn.dir(), "client > server") << all;
    EXPECT_EQ(syn.flags, "S") << all;
    EXPECT_EQ(syn.length, 0u) << all;
    EXPECT_TRUE(syn.mss) << "the SYN announces the maximum segment size\n" << all;

    EXPECT_EQ(syn_ack.dir(), "server > client") << all;
    EXPECT_EQ(syn_ack.flags, "S.") << all;
    EXPECT_EQ(syn_ack.ack, static_cast<uint32_t>(syn.seq + 1)) << "ack = client ISN + 1\n" << all;
    EXPECT_TRUE(syn_ack.mss) << all;

    EXPECT_EQ(ack.dir(), "client > server") << all;
    EXPECT_EQ(ack.flags, ".") << all;
    EXPECT_EQ(ack.seq, static_cast<uint32_t>(syn.seq + 1)) << all;
    EXPECT_EQ(ack.ack, static_cast<uint32_t>(syn_ack.seq + 1)) << "ack = server ISN + 1\n" << all;
    EXPECT_EQ(ack.length, 0u) << all;
}

TEST(Ch04Wire, HelloServerSendsItsTwelveBytesThenFinAndBothFinsAreAcknowledged) {
    SOCKLAB_REQUIRE_NETNS();
    NetNs ns("hello");
    ASSERT_TRUE(ns.ok());
    Result client;
    auto segs = hello_conversation(ns, {}, &client);
    std::string all = harness::describe_segments(segs);

    int server_fin = first_from(segs, "server", 'F');
    int client_fin = first_from(segs, "client", 'F');
    ASSERT_GE(server_fin, 0) << "no FIN from the server\n" << all;
    ASSERT_GE(client_fin, 0) << "no FIN from the client\n" << all;
    // All of "Hello World!" goes out before (or with) the server's FIN; relative numbers:
    // data starts at seq 1, so the FIN's own sequence number is 1 + 12.
    EXPECT_EQ(payload_before(segs, "server", server_fin + 1), 12u) << all;
    int first_data = harness::find_segment(
        segs, [](const Segment& s) { return s.from_server() && s.length > 0; });
    ASSERT_GE(first_data, 0) << all;
    EXPECT_EQ(segs[static_cast<size_t>(first_data)].seq, 1u) << all;
    EXPECT_EQ(next_seq(segs[static_cast<size_t>(server_fin)]), 14u) << all;
    // hello_server closes first; hello_client closes when it has read to end of stream.
    EXPECT_LT(server_fin, client_fin) << all;
    expect_fin_acked(segs, server_fin);
    expect_fin_acked(segs, client_fin);
    EXPECT_EQ(harness::find_segment(segs, [](const Segment& s) { return s.has('R'); }), -1)
        << "an orderly close has no reset\n"
        << all;
}

// ---- close() and the two buffers: close_server ------------------------------------------------

struct CloseRun {
    std::vector<Segment> segs;
    std::optional<std::string> client_got;  // socat's first line of output
    std::string server_out;
};

// close_server [--read] inside NS; socat as the client sends "hello\n", reads one line, then
// ends its input after the server has exited.
CloseRun close_conversation(const NetNs& ns, bool read_first) {
    CloseRun run;
    std::vector<std::string> args{"0"};
    if (read_first) args.push_back("--read");
    Process server = ns.process(PROG_close_server, args);
    int port = server.wait_ready();
    if (port == 0) return run;
    Process watch = harness::start_watch(ns, PROG_tcp_watch, port, {"--connections", "1"});
    Process client = ns.process("socat", {"-", "TCP:127.0.0.1:" + std::to_string(port)});
    EXPECT_TRUE(client.write_stdin("hello\n"));
    run.client_got = client.read_line();
    // The server closes first: once it has exited, its close() has sent the FIN (or the
    // reset).  Only then does socat get end of input and close its side.
    auto status = server.finish();
    EXPECT_TRUE(status && harness::exited_with(*status, 0)) << server.err();
    run.server_out = server.out();
    client.close_stdin();
    EXPECT_TRUE(client.finish()) << "socat did not finish: " << client.err();
    run.segs = harness::watched(watch);
    return run;
}

TEST(Ch04Wire, CloseAfterWriteStillSendsTheDataThenTheFin) {
    SOCKLAB_REQUIRE_NETNS();
    SOCKLAB_REQUIRE_TOOL("socat");
    NetNs ns("close-read");
    ASSERT_TRUE(ns.ok());
    CloseRun run = close_conversation(ns, true);
    const auto& segs = run.segs;
    std::string all = harness::describe_segments(segs);

    EXPECT_EQ(run.client_got, "Goodbye!");
    int data = harness::find_segment(
        segs, [](const Segment& s) { return s.from_server() && s.length > 0; });
    int fin = first_from(segs, "server", 'F');
    ASSERT_GE(data, 0) << all;
    ASSERT_GE(fin, 0) << "close() after reading everything sends a FIN\n" << all;
    const Segment& d = segs[static_cast<size_t>(data)];
    EXPECT_EQ(d.flags, "P.") << all;
    EXPECT_EQ(d.length, 9u) << "\"Goodbye!\\n\" in one segment\n" << all;
    EXPECT_LT(data, fin) << "the output buffer is sent before the FIN\n" << all;
    EXPECT_EQ(segs[static_cast<size_t>(fin)].seq, 10u) << "the FIN follows the 9 bytes\n" << all;
    expect_fin_acked(segs, fin);
    expect_fin_acked(segs, first_from(segs, "client", 'F'));
    EXPECT_EQ(harness::find_segment(segs, [](const Segment& s) { return s.has('R'); }), -1) << all;
}

TEST(Ch04Wire, CloseWithUnreadInputSendsAResetInsteadOfAFinAfterTheData) {
    SOCKLAB_REQUIRE_NETNS();
    SOCKLAB_REQUIRE_TOOL("socat");
    NetNs ns("close-unread");
    ASSERT_TRUE(ns.ok());
    CloseRun run = close_conversation(ns, false);
    const auto& segs = run.segs;
    std::string all = harness::describe_segments(segs);

    // The client still gets what was written before close(): it left before the reset.
    EXPECT_EQ(run.client_got, "Goodbye!");
    EXPECT_NE(run.server_out.find("6 bytes unread in the input buffer"), std::string::npos)
        << run.server_out;
    int data = harness::find_segment(
        segs, [](const Segment& s) { return s.from_server() && s.length > 0; });
    int rst = first_from(segs, "server", 'R');
    ASSERT_GE(data, 0) << all;
    ASSERT_GE(rst, 0) << "close() with unread input sends a reset\n" << all;
    EXPECT_EQ(segs[static_cast<size_t>(data)].length, 9u) << all;
    // The client's 6 bytes had reached the server's input buffer: acknowledged (ack 7) with
    // the data, yet thrown away by close().
    EXPECT_EQ(segs[static_cast<size_t>(data)].ack, 7u) << all;
    EXPECT_LT(data, rst) << all;
    EXPECT_EQ(segs[static_cast<size_t>(rst)].flags, "R.") << all;
    EXPECT_EQ(segs[static_cast<size_t>(rst)].seq, 10u) << "the reset follows the 9 bytes\n" << all;
    EXPECT_EQ(first_from(segs, "server", 'F'), -1) << "no FIN: the reset replaces it\n" << all;
}

// ---- a connection refused ---------------------------------------------------------------------

TEST(Ch04Wire, SynToAPortWithoutListenerIsAnsweredByAReset) {
    SOCKLAB_REQUIRE_NETNS();
    NetNs ns("refused");
    ASSERT_TRUE(ns.ok());
    // A fixed port is safe here: nothing else runs in this namespace, so nothing listens on it.
    const int port = 9190;
    Process watch = harness::start_watch(ns, PROG_tcp_watch, port, {"--connections", "1"});
    Result client = ns.run(PROG_hello_client, {"127.0.0.1", std::to_string(port)});
    EXPECT_EQ(client.exit_code(), 1) << client.err;
    EXPECT_EQ(client.out, "");
    EXPECT_NE(client.err.find("Connection refused"), std::string::npos) << client.err;
    EXPECT_EQ(harness::lines(client.err).size(), 1u) << client.err;

    auto segs = harness::watched(watch);
    std::string all = harness::describe_segments(segs);
    ASSERT_EQ(segs.size(), 2u) << all;
    EXPECT_EQ(segs[0].dir(), "client > server") << all;
    EXPECT_EQ(segs[0].flags, "S") << all;
    EXPECT_EQ(segs[1].dir(), "server > client") << all;
    EXPECT_EQ(segs[1].flags, "R.") << all;
    EXPECT_EQ(segs[1].ack, 1u) << "the reset acknowledges the SYN\n" << all;
    EXPECT_EQ(segs[1].win, 0u) << all;
    EXPECT_EQ(segs[1].length, 0u) << all;
}

// ---- tcpdump agrees ---------------------------------------------------------------------------

// One line of   tcpdump -nn -S   reduced to what tcp_watch prints, e.g.
//   server > client [P.] seq 1165991970 ack 1812554661 win 64 length 12
// (tcpdump shows no seq on a segment that carries neither data nor SYN/FIN/RST: then neither
// does this.)  PORT is the server's.  "" if the line is not a TCP segment.
std::string from_tcpdump(const std::string& line, int port) {
    static const std::regex kLine(
        R"(^\S+ IP6? (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([^\]]*)\](?:, seq (\d+)(?::\d+)?)?)"
        R"((?:, ack (\d+))?, win (\d+)(?:, options \[[^\]]*\])?, length (\d+)(?: |$))");
    std::smatch m;
    if (!std::regex_search(line, m, kLine)) return "";
    std::string text = std::stoi(m[2]) == port ? "server > client" : "client > server";
    text += " [" + m[5].str() + "]";
    if (m[6].matched) text += " seq " + m[6].str();
    if (m[7].matched) text += " ack " + m[7].str();
    return text + " win " + m[8].str() + " length " + m[9].str();
}

// Segment S in the same form; with seq only if WITH_SEQ.
std::string from_watch(const Segment& s, bool with_seq) {
    std::string text = s.dir() + " [" + s.flags + "]";
    if (with_seq) text += " seq " + std::to_string(s.seq);
    if (s.ack) text += " ack " + std::to_string(*s.ack);
    return text + " win " + std::to_string(s.win) + " length " + std::to_string(s.length);
}

TEST(Ch04Wire, TcpdumpSeesTheSameSegmentsAsTcpWatch) {
    SOCKLAB_REQUIRE_NETNS();
    SOCKLAB_REQUIRE_TOOL("tcpdump");
    NetNs ns("tcpdump");
    ASSERT_TRUE(ns.ok());
    auto enter = ns.enter_command();
    if (std::any_of(enter.begin(), enter.end(),
                    [](const std::string& a) { return a.starts_with("--user"); }))
        GTEST_SKIP() << "tcpdump cannot run in an unprivileged user namespace: it always changes "
                        "its user (-Z) when it runs as root, and setgroups() is denied there";
    Process server = ns.process(PROG_hello_server, {"0"});
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    // -w: write the capture to a pcap file, read back with -r below; --print: print each packet
    // as well (the test reads them to know when tcpdump has seen them all); -l: a line per
    // packet at once; --immediate-mode: no batching in the capture buffer; -Z root: no switch
    // to the "tcpdump" user (not mapped in an unprivileged namespace).
    harness::TempDir dir;
    std::string pcap = dir.file("hello.pcap");
    Process dump = ns.process(
        "tcpdump", {"-i", "lo", "-w", pcap, "--print", "-nn", "-S", "-l", "--immediate-mode", "-Z",
                    "root", "tcp", "port", std::to_string(port)});
    std::optional<std::string> ready;
    while ((ready = dump.read_err_line()) && ready->find("listening on lo") == std::string::npos) {
    }
    ASSERT_TRUE(ready) << "tcpdump is not listening: " << dump.err();
    Process watch =
        harness::start_watch(ns, PROG_tcp_watch, port, {"--absolute", "--connections", "1"});
    Result client = ns.run(PROG_hello_client, {"127.0.0.1", std::to_string(port)});
    EXPECT_EQ(client.exit_code(), 0) << client.err;
    auto segs = harness::watched(watch);
    // At least the handshake, the data (perhaps with the FIN), the client's FIN, the last ACK.
    ASSERT_GE(segs.size(), 6u) << harness::describe_segments(segs);

    std::vector<std::string> want, got;
    for (const Segment& s : segs) {
        auto line = dump.read_line();
        if (!line) break;
        std::string seen = from_tcpdump(*line, port);
        EXPECT_NE(seen, "") << "not a TCP segment line: " << *line;
        got.push_back(seen);
        want.push_back(from_watch(s, seen.find(" seq ") != std::string::npos));
    }
    EXPECT_EQ(got, want) << "tcpdump printed:\n" << dump.out();
    // And tcpdump saw nothing more: it counts what it captured when interrupted.
    dump.signal(SIGINT);
    auto status = dump.finish();
    EXPECT_TRUE(status && harness::exited_with(*status, 0)) << dump.err();
    auto err = harness::lines(dump.err());
    EXPECT_NE(std::find(err.begin(), err.end(), std::to_string(segs.size()) + " packets captured"),
              err.end())
        << dump.err();

    // The pcap file it wrote, read back by tcpdump -r: the same segments, in the same order.
    Result read = ns.run("tcpdump", {"-r", pcap, "-nn", "-S", "-Z", "root"});
    EXPECT_EQ(read.exit_code(), 0) << read.err;
    std::vector<std::string> from_file;
    for (const std::string& line : harness::lines(read.out))
        from_file.push_back(from_tcpdump(line, port));
    EXPECT_EQ(from_file, want) << "tcpdump -r " << pcap << ":\n" << read.out;
}

// ---- bad input --------------------------------------------------------------------------------

// The README: "TCP_NODELAY sends each piece at once".  echo_server --chunk 2 (no pause) writes
// a 20-byte line back in ten write()s of 2 bytes; with TCP_NODELAY each is its own segment on
// the wire.  (With Nagle's algorithm, the pieces written while the first is unacknowledged
// would wait for its ACK and leave together.  On loopback that ACK is fast, so without
// TCP_NODELAY this test failed only in 2 of 20 runs here: it guards the claim, it cannot
// prove Nagle on every run.  A hundred pieces back to back were merged even WITH TCP_NODELAY,
// by the kernel's autocorking, so the test sends ten.)
TEST(Ch04Wire, EchoServerWithChunkSendsEachPieceAsItsOwnSegment) {
    SOCKLAB_REQUIRE_NETNS();
    NetNs ns("nodelay");
    ASSERT_TRUE(ns.ok());
    Process server = ns.process(PROG_echo_server, {"0", "--chunk", "2"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0) << server.err();
    Process watch = harness::start_watch(ns, PROG_tcp_watch, port, {"--connections", "1"});
    const std::string line = "0123456789abcdefghi\n";  // 20 bytes: ten pieces
    Result client = ns.run(PROG_echo_client, {"127.0.0.1", std::to_string(port)}, line);
    ASSERT_EQ(client.exit_code(), 0) << client.err;
    EXPECT_EQ(client.out, "Message from server: " + line);
    std::vector<Segment> segs = harness::watched(watch);
    std::vector<size_t> pieces;
    for (const Segment& s : segs)
        if (s.from_server() && s.length > 0) pieces.push_back(s.length);
    EXPECT_EQ(pieces, std::vector<size_t>(10, 2)) << harness::describe_segments(segs);
}

TEST(Ch04Wire, TcpWatchBadUsageExitsWithStatus2) {
    // These fail before any socket exists: no namespace needed.  A bad port says why, then
    // the usage line follows.
    const std::string usage = kUsage + "\n";
    harness::expect_usage_errors({
        {PROG_tcp_watch,
         {"--port", "abc"},
         2,
         "tcp_watch: invalid port 'abc': not a decimal number (expected 1 to 65535)\n" + usage},
        {PROG_tcp_watch,
         {"--port", "0"},
         2,
         "tcp_watch: invalid port '0' (expected 1 to 65535)\n" + usage},
        {PROG_tcp_watch,
         {"--port", "70000"},
         2,
         "tcp_watch: invalid port '70000': out of range (expected 1 to 65535)\n" + usage},
        {PROG_tcp_watch, {"--bogus"}, 2, usage},
        {PROG_tcp_watch, {"--port"}, 2, usage},
        {PROG_tcp_watch, {"--udp", "extra"}, 2, usage},
        {PROG_tcp_watch,
         {"--count", "0"},
         2,
         "tcp_watch: invalid --count '0' (expected 1 to 1000000000)\n"},
        {PROG_tcp_watch,
         {"--connections", "0"},
         2,
         "tcp_watch: invalid --connections '0' (expected 1 to 1000000000)\n"},
    });
}

TEST(Ch04Wire, TcpWatchWithoutCapNetRawSaysWhatItNeedsAndExitsWithStatus1) {
    SOCKLAB_REQUIRE_NETNS();
    SOCKLAB_REQUIRE_TOOL("setpriv");
    NetNs ns("no-cap-net-raw");
    ASSERT_TRUE(ns.ok());
    // Root of the namespace, minus CAP_NET_RAW: it is taken out of the bounding and the
    // inheritable set, so the exec() of tcp_watch cannot have it.
    Result r = ns.run(
        "setpriv",
        {"--inh-caps=-net_raw", "--bounding-set=-net_raw", "--", PROG_tcp_watch, "--port", "9190"},
        {}, Deadline(5s));
    EXPECT_EQ(r.exit_code(), 1) << r.err;
    EXPECT_EQ(r.out, "");
    auto err = harness::lines(r.err);
    ASSERT_EQ(err.size(), 1u) << r.err;
    EXPECT_TRUE(err[0].starts_with("tcp_watch: socket(AF_PACKET): Operation not permitted"))
        << err[0];
    EXPECT_NE(err[0].find("CAP_NET_RAW"), std::string::npos) << err[0];
    EXPECT_NE(err[0].find("unshare -rn"), std::string::npos) << err[0];
}

TEST(Ch04Wire, CloseServerBadUsageExitsWithStatus2) {
    const std::string usage = "usage: close_server PORT [--read] [--no-reuseaddr]\n";
    harness::expect_usage_errors({
        {PROG_close_server, {}, 2, usage},
        {PROG_close_server, {"0", "--bogus"}, 2, usage},
        {PROG_close_server, {"0", "--read", "x"}, 2, usage},
        {PROG_close_server,
         {"abc"},
         2,
         "close_server: invalid port 'abc': not a decimal number (expected 0 to 65535)\n"},
        {PROG_close_server,
         {"70000"},
         2,
         "close_server: invalid port '70000': out of range (expected 0 to 65535)\n"},
        {PROG_close_server,
         {"-1"},
         2,
         "close_server: invalid port '-1': not a decimal number (expected 0 to 65535)\n"},
    });
}

}  // namespace
