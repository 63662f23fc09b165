// ch04 — TIME_WAIT (issue 9): the side that closes first keeps the connection in TIME_WAIT, and
// while it does, a server that does not set SO_REUSEADDR cannot bind its port again.
//
// Everything runs inside a private network namespace (harness::NetNs): `ss` there lists only
// the test's own connections, and TIME_WAIT entries vanish with the namespace instead of
// lingering for 60 s on the host.  tcp_watch --connections 1 tells when the close is complete
// (both FINs acknowledged: the side that closed first is in TIME_WAIT from then on), so the
// test waits for an event, not for time.
//
// What these tests prove:
//   close_server --read closes first: afterwards `ss state time-wait` shows the server's port
//   as the local side and the client's port does not appear as a local side; restarting on
//   that port fails with "Address already in use" (exit 1) under --no-reuseaddr and works
//   without it;
//   if the old server ran without SO_REUSEADDR, even a new one that sets it cannot bind;
//   the contrast: when the client closes first (echo_client, end of input), the TIME_WAIT is
//   the client's, and the server's port can be bound again even without SO_REUSEADDR.
#include <gtest/gtest.h>

#include <csignal>
#include <string>
#include <vector>

#include "harness.hpp"
#include "netns.hpp"
#include "wire.hpp"

namespace {

using namespace std::chrono_literals;
using harness::Deadline;
using harness::NetNs;
using harness::Process;
using harness::Result;

// A TCP endpoint as ss prints it: local and peer "ADDR:PORT".
struct TimeWait {
    std::string local, peer;
};

int port_of(const std::string& address) {
    auto colon = address.rfind(':');
    return colon == std::string::npos ? -1 : std::stoi(address.substr(colon + 1));
}

// `ss -Htan state time-wait` inside NS: one entry per connection in TIME_WAIT.
std::vector<TimeWait> time_waits(const NetNs& ns, std::string* raw) {
    Result r = ns.run("ss", {"-Htan", "state", "time-wait"});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    *raw = r.out;
    std::vector<TimeWait> found;
    for (const std::string& line : harness::lines(r.out)) {
        // Recv-Q Send-Q Local-Address:Port Peer-Address:Port (the state filter drops "State")
        std::vector<std::string> f;
        std::string word;
        for (char c : line + " ") {
            if (c != ' ' && c != '\t') {
                word += c;
            } else if (!word.empty()) {
                f.push_back(word);
                word.clear();
            }
        }
        EXPECT_GE(f.size(), 4u) << line;
        if (f.size() >= 4) found.push_back({f[2], f[3]});
    }
    return found;
}

bool has_local_port(const std::vector<TimeWait>& tw, int port) {
    for (const auto& t : tw)
        if (port_of(t.local) == port) return true;
    return false;
}

// The client's port from a server line ending in "from ADDR:PORT".
int client_port(const std::optional<std::string>& line) {
    if (!line) return -1;
    auto from = line->rfind(" from ");
    return from == std::string::npos ? -1 : port_of(line->substr(from + 6));
}

// Both sides sent a FIN, and FIRST ("server" or "client") sent the first one.
void expect_first_fin(const std::vector<harness::Segment>& segs, const std::string& first) {
    auto fin_from = [&](const std::string& side) {
        return harness::find_segment(
            segs, [&](const harness::Segment& s) { return s.src == side && s.has('F'); });
    };
    int first_fin = fin_from(first), second_fin = fin_from(first == "server" ? "client" : "server");
    ASSERT_GE(first_fin, 0) << harness::describe_segments(segs);
    ASSERT_GE(second_fin, 0) << harness::describe_segments(segs);
    EXPECT_LT(first_fin, second_fin) << first << " closed first\n"
                                     << harness::describe_segments(segs);
}

// One conversation with `close_server 0 --read EXTRA...` in NS, socat as the client: the server
// reads the client's line, answers and closes first.  Returns once the close is complete (both
// FINs acknowledged), with the server's and the client's ports and the segments seen.
struct Closed {
    int port = 0, cport = 0;
    std::vector<harness::Segment> segs;
};
void serve_one_and_close(const NetNs& ns, std::vector<std::string> extra, Closed& out) {
    std::vector<std::string> args = {"0", "--read"};
    args.insert(args.end(), extra.begin(), extra.end());
    Process server = ns.process(PROG_close_server, args);
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    Process watch = harness::start_watch(ns, PROG_tcp_watch, port, {"--connections", "1"});

    Process client = ns.process("socat", {"-", "TCP:127.0.0.1:" + std::to_string(port)});
    ASSERT_TRUE(client.write_stdin("hello\n"));
    EXPECT_EQ(client.read_line(), "Goodbye!");
    int cport = client_port(server.read_line());
    ASSERT_GT(cport, 0) << server.out();
    // Once close_server has exited, its close() has sent the FIN; only then does socat close
    // its side (it would at end of input, which could otherwise come first).
    auto status = server.finish();
    EXPECT_TRUE(status && harness::exited_with(*status, 0)) << server.err();
    client.close_stdin();
    EXPECT_TRUE(client.finish()) << client.err();
    out = {port, cport, harness::watched(watch)};
}

TEST(Ch04TimeWait, ServerThatClosesFirstKeepsTimeWaitAndItsPortNeedsSoReuseaddr) {
    SOCKLAB_REQUIRE_NETNS();
    SOCKLAB_REQUIRE_TOOL("socat");
    SOCKLAB_REQUIRE_TOOL("ss");
    NetNs ns("time-wait");
    ASSERT_TRUE(ns.ok());
    Closed closed;
    ASSERT_NO_FATAL_FAILURE(serve_one_and_close(ns, {}, closed));
    int port = closed.port, cport = closed.cport;

    // Both FINs acknowledged: the close is complete.  The server sent the first FIN.
    ASSERT_NO_FATAL_FAILURE(expect_first_fin(closed.segs, "server"));

    std::string raw;
    auto tw = time_waits(ns, &raw);
    EXPECT_TRUE(has_local_port(tw, port))
        << "the server closed first: its port " << port << " should be in TIME_WAIT\n"
        << raw;
    EXPECT_FALSE(has_local_port(tw, cport))
        << "the client closed second: its port " << cport << " is not in TIME_WAIT\n"
        << raw;
    for (const auto& t : tw) {
        if (port_of(t.local) == port) {
            EXPECT_EQ(port_of(t.peer), cport) << raw;
        }
    }

    // A restart on the same port: without SO_REUSEADDR the TIME_WAIT connection blocks bind().
    Result again =
        ns.run(PROG_close_server, {std::to_string(port), "--no-reuseaddr"}, {}, Deadline(5s));
    EXPECT_EQ(again.exit_code(), 1) << again.err;
    EXPECT_EQ(again.out, "");
    EXPECT_EQ(again.err,
              "close_server: bind to port " + std::to_string(port) + ": Address already in use\n");
    // With SO_REUSEADDR (the default) it binds and listens at once.
    Process restarted = ns.process(PROG_close_server, {std::to_string(port)});
    EXPECT_EQ(restarted.wait_ready(), port) << restarted.err();
}

// Linux checks SO_REUSEADDR on both sockets: the connection in TIME_WAIT keeps the flag of the
// socket it came from.  If the old server did not set it, a new server that does is refused too.
TEST(Ch04TimeWait, OldServerWithoutSoReuseaddrBlocksTheNewOneEvenWithIt) {
    SOCKLAB_REQUIRE_NETNS();
    SOCKLAB_REQUIRE_TOOL("socat");
    SOCKLAB_REQUIRE_TOOL("ss");
    NetNs ns("old-no-reuse");
    ASSERT_TRUE(ns.ok());
    Closed closed;
    ASSERT_NO_FATAL_FAILURE(serve_one_and_close(ns, {"--no-reuseaddr"}, closed));
    std::string raw;
    ASSERT_TRUE(has_local_port(time_waits(ns, &raw), closed.port)) << raw;

    Result again = ns.run(PROG_close_server, {std::to_string(closed.port)}, {}, Deadline(5s));
    EXPECT_EQ(again.exit_code(), 1) << again.err;
    EXPECT_EQ(again.err, "close_server: bind to port " + std::to_string(closed.port) +
                             ": Address already in use\n");
}

TEST(Ch04TimeWait, ClientThatClosesFirstKeepsTimeWaitAndTheServerPortIsFree) {
    SOCKLAB_REQUIRE_NETNS();
    SOCKLAB_REQUIRE_TOOL("ss");
    NetNs ns("client-closes");
    ASSERT_TRUE(ns.ok());
    Process server = ns.process(PROG_echo_server, {"0"});
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    Process watch = harness::start_watch(ns, PROG_tcp_watch, port, {"--connections", "1"});
    // End of input: echo_client closes first; echo_server reads end of stream and closes too.
    Result client = ns.run(PROG_echo_client, {"127.0.0.1", std::to_string(port)}, "hello\n");
    EXPECT_EQ(client.exit_code(), 0) << client.err;
    EXPECT_EQ(client.out, "Message from server: hello\n");
    int cport = client_port(server.read_line());
    ASSERT_GT(cport, 0) << server.out();
    EXPECT_EQ(server.read_line(), "client 1 disconnected");

    ASSERT_NO_FATAL_FAILURE(expect_first_fin(harness::watched(watch), "client"));

    std::string raw;
    auto tw = time_waits(ns, &raw);
    EXPECT_TRUE(has_local_port(tw, cport))
        << "the client closed first: its port " << cport << " should be in TIME_WAIT\n"
        << raw;
    EXPECT_FALSE(has_local_port(tw, port)) << raw;

    // The server's port is held by no TIME_WAIT: once the server is gone, even a server
    // without SO_REUSEADDR binds it.
    server.signal(SIGTERM);
    EXPECT_TRUE(server.finish());
    Process restarted = ns.process(PROG_close_server, {std::to_string(port), "--no-reuseaddr"});
    EXPECT_EQ(restarted.wait_ready(), port) << restarted.err();
}

}  // namespace
