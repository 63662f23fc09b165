// ch07 — half-close on the wire (issue 9): tcp_watch shows what file_server's
// shutdown(SHUT_WR) sends, and what close() would have cost.
//
// Everything runs inside a private network namespace (harness::NetNs), where tcp_watch sees
// only the test's own connection; it stops by itself once the connection has ended (both FINs
// acknowledged, or a reset: --connections 1).
//
// What these tests prove:
//   shutdown(SHUT_WR): the server's FIN comes right after the file, before the client's
//   "Thank you" (9 bytes), which the server still acknowledges after its FIN: the connection
//   was open in one direction; the file arrives intact and the server prints the message;
//   close() instead (--close): the file still arrives intact, with the same FIN, but the
//   client's "Thank you" is answered by a reset from the server — the cost of close().
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

const std::string kThankYou = "Thank you";

struct FileRun {
    std::vector<Segment> segs;
    int fin = -1;        // the server's FIN
    int thank_you = -1;  // the client's payload
    std::string all;     // every segment, for failure messages
};

// file_server FILE (with --close if CLOSE) and file_client inside NS, watched; checks that
// the file arrived intact, what the server printed, and that the server's FIN came before the
// client's "Thank you".
FileRun transfer(const NetNs& ns, bool close) {
    FileRun run;
    harness::TempDir dir;
    const std::string content = harness::random_bytes(20000, 7);
    harness::write_file(dir.file("in"), content);
    std::vector<std::string> args{"0", dir.file("in")};
    if (close) args.push_back("--close");
    Process server = ns.process(PROG_file_server, args);
    int port = server.wait_ready();
    if (port == 0) return run;
    Process watch = harness::start_watch(ns, PROG_tcp_watch, port, {"--connections", "1"});

    Result client = ns.run(PROG_file_client, {"127.0.0.1", std::to_string(port), dir.file("out")});
    EXPECT_EQ(client.exit_code(), 0) << client.err;
    EXPECT_EQ(client.out, "Received file data: " + std::to_string(content.size()) + " bytes -> " +
                              dir.file("out") + "\nSent: " + kThankYou + "\n");
    std::string received = harness::read_file(dir.file("out"));
    EXPECT_TRUE(received == content) << harness::first_difference(received, content);

    run.segs = harness::watched(watch);
    run.all = harness::describe_segments(run.segs);
    // The server's lines: with shutdown() it still reads the message; with close() its
    // report ends at the close (the message got a reset, checked on the wire).
    std::string sent_line = "client 1: sent " + std::to_string(content.size()) + " bytes, " +
                            (close ? "close()" : "shutdown(SHUT_WR)");
    EXPECT_TRUE(server.wait_for_line("client 1 connected from ")) << server.err();
    EXPECT_EQ(server.read_line(), sent_line) << server.err();
    if (!close) {
        EXPECT_EQ(server.read_line(), "Message from client: " + kThankYou);
    }
    run.fin = harness::find_segment(run.segs,
                                    [](const Segment& s) { return s.from_server() && s.has('F'); });
    run.thank_you = harness::find_segment(
        run.segs, [](const Segment& s) { return s.from_client() && s.length > 0; });
    EXPECT_GE(run.fin, 0) << "no FIN from the server\n" << run.all;
    EXPECT_GE(run.thank_you, 0) << "no data from the client\n" << run.all;
    if (run.fin < 0 || run.thank_you < 0) return run;

    // The whole file, behind its 8-byte size, went out before (or with) the FIN: relative
    // seq 1 + 8 + size.
    size_t sent = 0;
    for (int i = 0; i <= run.fin; ++i)
        if (run.segs[static_cast<size_t>(i)].from_server())
            sent += run.segs[static_cast<size_t>(i)].length;
    EXPECT_EQ(sent, 8 + content.size()) << run.all;
    EXPECT_EQ(
        run.segs[static_cast<size_t>(run.fin)].seq + run.segs[static_cast<size_t>(run.fin)].length,
        1 + 8 + content.size())
        << run.all;
    // The client speaks only after the server's FIN: it read to end of stream first.
    const Segment& t = run.segs[static_cast<size_t>(run.thank_you)];
    EXPECT_LT(run.fin, run.thank_you) << run.all;
    EXPECT_EQ(t.length, kThankYou.size()) << run.all;
    EXPECT_EQ(t.seq, 1u) << "the client sent nothing before\n" << run.all;
    return run;
}

TEST(Ch07Wire, ServerFinComesBeforeTheClientsThankYouWhichTheServerStillAcknowledges) {
    SOCKLAB_REQUIRE_NETNS();
    NetNs ns("half-close");
    ASSERT_TRUE(ns.ok());
    FileRun run = transfer(ns, false);
    ASSERT_GE(run.fin, 0);
    ASSERT_GE(run.thank_you, 0);
    const Segment& t = run.segs[static_cast<size_t>(run.thank_you)];
    uint32_t covered = t.seq + static_cast<uint32_t>(t.length);  // 10: the next byte expected
    int acked = harness::find_segment(
        run.segs, [&](const Segment& s) { return s.from_server() && s.ack && *s.ack >= covered; },
        run.thank_you + 1);
    EXPECT_GE(acked, 0) << "the server's half-closed socket acknowledges \"Thank you\"\n"
                        << run.all;
    EXPECT_EQ(harness::find_segment(run.segs, [](const Segment& s) { return s.has('R'); }), -1)
        << "shutdown(SHUT_WR) then close(): no reset\n"
        << run.all;
}

TEST(Ch07Wire, WithCloseTheClientsThankYouIsAnsweredByAReset) {
    SOCKLAB_REQUIRE_NETNS();
    NetNs ns("close");
    ASSERT_TRUE(ns.ok());
    FileRun run = transfer(ns, true);
    ASSERT_GE(run.fin, 0);
    ASSERT_GE(run.thank_you, 0);
    // The cost of close(): both directions are closed, so data arriving afterwards is
    // answered by a reset ([R] or [R.]), and nobody acknowledges it.
    int rst = harness::find_segment(
        run.segs, [](const Segment& s) { return s.from_server() && s.has('R'); },
        run.thank_you + 1);
    EXPECT_GE(rst, 0) << "no reset after the client's \"Thank you\"\n" << run.all;
    const Segment& t = run.segs[static_cast<size_t>(run.thank_you)];
    uint32_t covered = t.seq + static_cast<uint32_t>(t.length);
    EXPECT_EQ(harness::find_segment(
                  run.segs,
                  [&](const Segment& s) {
                      return s.from_server() && !s.has('R') && s.ack && *s.ack >= covered;
                  },
                  run.thank_you + 1),
              -1)
        << "the closed socket must not acknowledge \"Thank you\"\n"
        << run.all;
}

}  // namespace
