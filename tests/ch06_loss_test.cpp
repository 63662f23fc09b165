// ch06 under REAL loss — "UDP is not reliable" (SOCK_DGRAM), shown rather than asserted.
//
// The same lossy loopback as ch07's loss test (netns.hpp, lose_packets_on_lo: MTU 1500, a
// 20 Mbit/s token bucket that drops what comes too fast).  uecho_client --count 1000 sends
// 1000 numbered datagrams of about 1000 bytes at once to uecho_server.  What this test
// proves: the qdisc dropped packets, uecho_client reports "sent 1000, got back M" with M < 1000
// (nothing was retransmitted: the lost ones are simply gone), the server echoed fewer than
// 1000 (some never reached it), every echo that came back was intact (the client counts only
// an exact copy of a datagram it sent, and notes anything else on stderr: there is nothing
// else), and the client still exits 0.  Skipped with the reason when namespaces or tc are
// unavailable.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <regex>
#include <string>

#include "harness.hpp"
#include "netns.hpp"

namespace {

using harness::Deadline;
using namespace std::chrono_literals;
using harness::Process;
using harness::Result;

TEST(Ch06Loss, UdpEchoLosesDatagramsForGoodAndTheClientCountsThem) {
    SOCKLAB_REQUIRE_NETNS();
    harness::NetNs ns("loss");
    ASSERT_TRUE(ns.ok());
    const std::string why = harness::lose_packets_on_lo(ns);
    if (!why.empty()) GTEST_SKIP() << "no lossy loopback: " << why;

    Process server = ns.process(PROG_uecho_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0) << server.err();
    const std::string line(1000, 'x');
    Result client =
        ns.run(PROG_uecho_client,
               {"127.0.0.1", std::to_string(port), "--count", "1000", "--timeout-ms", "2000"},
               line + "\n", Deadline(20s));
    ASSERT_EQ(client.exit_code(), 0) << client.err;  // losing datagrams is not an error

    std::smatch m;
    ASSERT_TRUE(std::regex_match(client.out, m, std::regex("sent 1000, got back (\\d+)\n")))
        << client.out;
    const long got = std::stol(m[1]);
    EXPECT_LT(got, 1000) << "nothing was lost";
    // stderr: only the "bound" note; no "ignored a datagram ... (not the echo of this line)",
    // so every datagram that came back was an exact copy of one sent.
    EXPECT_EQ(harness::lines(client.err).size(), 1u) << client.err;
    EXPECT_EQ(client.err.find("ignored"), std::string::npos) << client.err;

    const long dropped = harness::lo_dropped(ns);
    EXPECT_GT(dropped, 0) << "tc dropped nothing";
    // The server saw only the datagrams that reached it: fewer than were sent, at least as
    // many as came back.
    server.signal(SIGINT);
    ASSERT_TRUE(server.finish(Deadline(10s)));
    const std::string out = server.out();
    long echoed = 0;
    for (const std::string& l : harness::lines(out))
        if (l.rfind("echoed ", 0) == 0) ++echoed;
    EXPECT_GE(echoed, got) << out.substr(0, 2000);
    EXPECT_LT(echoed, 1000) << "every datagram reached the server";
    std::printf("sent 1000, got back %ld; the server echoed %ld; lo dropped %ld packets\n", got,
                echoed, dropped);
}

}  // namespace
