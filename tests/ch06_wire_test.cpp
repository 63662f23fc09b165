// ch06 — UDP on the wire (issue 9): tcp_watch --udp shows one line per datagram, so the message
// boundaries that bound_host1 reports from the receiving end can be seen in transit too.
//
// Everything runs inside a private network namespace (harness::NetNs), where tcp_watch sees
// only the test's own datagrams; it stops by itself after the expected number (--count).
//
// What these tests prove:
//   bound_host2's three sendto() calls travel as three datagrams of exactly the three
//   messages' sizes, in order, and bound_host1 then reads the same three sizes;
//   an echo over UDP is one datagram each way per line, of the line's size without '\n' —
//   an empty line too, as a datagram of length 0.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness.hpp"
#include "netns.hpp"
#include "wire.hpp"

namespace {

using harness::NetNs;
using harness::Process;
using harness::Result;
using harness::Segment;

// The three messages bound_host2 sends (its specification, book ch. 6).
const std::vector<std::string> kMessages = {"Hi!", "I'm another UDP host!", "Nice to meet you"};

// "DIR length N" for each segment: what the datagrams looked like on the wire.
std::vector<std::string> datagrams(const std::vector<Segment>& segs) {
    std::vector<std::string> out;
    for (const Segment& s : segs)
        out.push_back(s.dir() + (s.udp ? " UDP" : " TCP") + " length " + std::to_string(s.length));
    return out;
}

TEST(Ch06Wire, ThreeSendtoCallsTravelAsThreeDatagramsOfTheirSizes) {
    SOCKLAB_REQUIRE_NETNS();
    NetNs ns("boundaries");
    ASSERT_TRUE(ns.ok());
    // bound_host1 reads nothing until it gets a line on stdin.
    Process host1 = ns.process(PROG_bound_host1, {"0"});
    int port = host1.wait_ready();
    ASSERT_NE(port, 0);
    Process watch = harness::start_watch(ns, PROG_tcp_watch, port, {"--udp", "--count", "3"});
    Result host2 = ns.run(PROG_bound_host2, {"127.0.0.1", std::to_string(port)});
    EXPECT_EQ(host2.exit_code(), 0) << host2.err;

    std::vector<std::string> want;
    for (const std::string& m : kMessages)
        want.push_back("client > server UDP length " + std::to_string(m.size()));
    auto segs = harness::watched(watch);
    EXPECT_EQ(datagrams(segs), want) << harness::describe_segments(segs);

    // The receiving end agrees: three recvfrom() calls, three datagrams, the same sizes.
    ASSERT_TRUE(host1.write_stdin("\n"));
    auto status = host1.finish();
    EXPECT_TRUE(status && harness::exited_with(*status, 0)) << host1.err();
    std::vector<std::string> got = harness::lines(host1.out());
    ASSERT_EQ(got.size(), 4u) << host1.out();
    for (size_t i = 0; i < kMessages.size(); ++i)
        EXPECT_EQ(got[i + 1], "Message " + std::to_string(i + 1) + " (" +
                                  std::to_string(kMessages[i].size()) + " bytes): " + kMessages[i]);
}

TEST(Ch06Wire, UdpEchoIsOneDatagramEachWayPerLineAnEmptyOneToo) {
    SOCKLAB_REQUIRE_NETNS();
    NetNs ns("udp-echo");
    ASSERT_TRUE(ns.ok());
    Process server = ns.process(PROG_uecho_server, {"0"});
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    const std::vector<std::string> lines = {"hello", "", std::string(1000, 'x')};
    Process watch = harness::start_watch(ns, PROG_tcp_watch, port,
                                         {"--udp", "--count", std::to_string(2 * lines.size())});
    std::string input;
    for (const auto& l : lines)
        input += l + "\n";
    Result client = ns.run(PROG_uecho_client, {"127.0.0.1", std::to_string(port)}, input);
    EXPECT_EQ(client.exit_code(), 0) << client.err;

    std::vector<std::string> want;
    for (const auto& l : lines) {
        want.push_back("client > server UDP length " + std::to_string(l.size()));
        want.push_back("server > client UDP length " + std::to_string(l.size()));
    }
    auto segs = harness::watched(watch);
    EXPECT_EQ(datagrams(segs), want) << harness::describe_segments(segs);
}

}  // namespace
