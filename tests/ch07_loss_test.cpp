// ch07 under REAL loss — "TCP is reliable" (SOCK_STREAM), shown rather than asserted.
//
// Inside a private network namespace, `lo` gets MTU 1500 and a token bucket
// (`tc ... tbf rate 20mbit burst 3000 limit 6000`) that drops whatever the sender puts out too
// fast.  file_server sends 2 MiB to file_client across it.  What this test proves: the qdisc
// really dropped packets, the kernel counted retransmissions (Tcp RetransSegs, what
// `nstat TcpRetransSegs` shows), tcp_watch saw retransmitted data (a segment that starts below
// what the server had already sent: the lost original never reached the tap, which sits after
// the qdisc), and still every byte arrived, in order, intact.  Skipped with the reason when
// namespaces or tc are unavailable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "harness.hpp"
#include "netns.hpp"
#include "wire.hpp"

namespace {

using harness::Deadline;
using namespace std::chrono_literals;
using harness::Process;
using harness::Result;
using harness::Segment;

TEST(Ch07Loss, FileArrivesByteExactWhileTheNetworkDropsAndTcpRetransmits) {
    SOCKLAB_REQUIRE_NETNS();
    harness::NetNs ns("loss");
    ASSERT_TRUE(ns.ok());
    const std::string why = harness::lose_packets_on_lo(ns);
    if (!why.empty()) GTEST_SKIP() << "no lossy loopback: " << why;

    harness::TempDir dir;
    const std::string content = harness::random_bytes(2 << 20, 19);
    harness::write_file(dir.file("in"), content);
    const long retrans_before = harness::snmp_counter(ns, "Tcp", "RetransSegs");
    ASSERT_GE(retrans_before, 0);

    Process server = ns.process(PROG_file_server, {"0", dir.file("in")});
    int port = server.wait_ready();
    ASSERT_GT(port, 0) << server.err();
    Process watch = harness::start_watch(ns, PROG_tcp_watch, port, {"--connections", "1"});
    Result client = ns.run(PROG_file_client, {"127.0.0.1", std::to_string(port), dir.file("out")},
                           {}, Deadline(20s));
    ASSERT_EQ(client.exit_code(), 0) << client.err;
    std::string received = harness::read_file(dir.file("out"));
    EXPECT_EQ(received.size(), content.size());
    EXPECT_TRUE(received == content) << harness::first_difference(received, content);

    // The loss was real ...
    const long dropped = harness::lo_dropped(ns);
    const long retrans = harness::snmp_counter(ns, "Tcp", "RetransSegs") - retrans_before;
    EXPECT_GT(dropped, 0) << "tc dropped nothing: the test showed no loss";
    EXPECT_GT(retrans, 0) << "the kernel retransmitted nothing";

    // ... and visible on the wire: data from the server that starts below the highest byte it
    // had already sent is a retransmission filling a hole.
    std::vector<Segment> segs = harness::watched(watch, Deadline(20s));
    uint64_t highest = 0;
    int retransmitted = 0;
    for (const Segment& s : segs) {
        if (!s.from_server() || s.length == 0) continue;
        if (s.seq + s.length <= highest) ++retransmitted;
        highest = std::max<uint64_t>(highest, s.seq + s.length);
    }
    EXPECT_GT(retransmitted, 0) << "no retransmitted segment among " << segs.size();
    EXPECT_EQ(highest, 1 + 8 + content.size());  // the 8-byte size, then the file
    RecordProperty("dropped", std::to_string(dropped));
    RecordProperty("retransmitted", std::to_string(retrans));
    std::printf(
        "lo dropped %ld packets, TCP retransmitted %ld segments, tcp_watch saw %d "
        "retransmitted data segments; %zu bytes arrived intact\n",
        dropped, retrans, retransmitted, received.size());
}

}  // namespace
