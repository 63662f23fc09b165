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
//   client's "Thank you" is answered by a reset from the server — the cost of close();
//   a server killed mid-transfer (SIGKILL): its kernel sends an ordinary FIN right after the
//   last byte it had queued, no reset — end of stream looks the same as after shutdown();
//   only the 8-byte size tells file_client that the file is short, and it keeps nothing
//   and answers nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "harness.hpp"
#include "netns.hpp"
#include "proc.hpp"
#include "wire.hpp"

namespace {

using harness::Deadline;
using namespace std::chrono_literals;
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

TEST(Ch07Wire, ACrashedServerSendsAnOrdinaryFinOnlyTheSizeShowsTheFileIsShort) {
    SOCKLAB_REQUIRE_NETNS();
    SOCKLAB_REQUIRE_TOOL("tc");
    NetNs ns("crash");
    ASSERT_TRUE(ns.ok());
    // A slow link, so that the watcher sees every frame and the server dies far from the end:
    // lo shaped to 1 MB/s (tbf, after an 80 KB burst), and small socket buffers (the tcp_*
    // sysctls are per namespace), so that little is in flight and the capture stays short.
    ASSERT_TRUE(ns.sysctl("net.ipv4.tcp_rmem", "4096 65536 65536"));
    ASSERT_TRUE(ns.sysctl("net.ipv4.tcp_wmem", "4096 65536 65536"));
    Result tc = ns.run("tc", {"qdisc", "add", "dev", "lo", "root", "tbf", "rate", "8mbit", "burst",
                              "80kb", "latency", "1s"});
    ASSERT_EQ(tc.exit_code(), 0) << tc.err;
    harness::TempDir dir, out_dir;
    constexpr size_t kSize = 10 << 20;  // 10 s at 1 MB/s
    harness::write_file(dir.file("in"), "");
    ASSERT_EQ(truncate(dir.file("in").c_str(), kSize), 0);  // sparse: zeros, no disk

    Process server = ns.process(PROG_file_server, {"0", dir.file("in")});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    Process watch = harness::start_watch(ns, PROG_tcp_watch, port, {"--connections", "1"});
    Process client =
        ns.process(PROG_file_client, {"127.0.0.1", std::to_string(port), out_dir.file("out")});
    // As soon as the first bytes are in the client's partial file, the server dies.
    auto partial = [&] {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(out_dir.path(), ec))
            if (std::filesystem::file_size(e.path(), ec) > 0 && !ec) return true;
        return false;
    };
    ASSERT_TRUE(harness::wait_until(partial)) << client.err();
    server.signal(SIGKILL);
    ASSERT_TRUE(server.wait_exit());

    auto status = client.finish(Deadline(30s));
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 1)) << harness::describe_status(*status);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(
        client.err(), m,
        std::regex(R"(file_client: transfer incomplete: (\d+) of 10485760 bytes\n)")))
        << client.err();
    const size_t got = std::stoul(m[1]);
    EXPECT_LT(got, kSize);
    EXPECT_TRUE(std::filesystem::is_empty(out_dir.path())) << "no OUTFILE, no partial file";

    std::vector<Segment> segs = harness::watched(watch);
    const std::string all = harness::describe_segments(segs);
    // The dead server's FIN: an ordinary one, right after the last byte the client got.
    int fin =
        harness::find_segment(segs, [](const Segment& s) { return s.from_server() && s.has('F'); });
    ASSERT_GE(fin, 0) << "no FIN from the server\n" << all;
    const Segment& f = segs[static_cast<size_t>(fin)];
    EXPECT_EQ(f.seq + f.length, 1 + 8 + got) << all;
    EXPECT_EQ(harness::find_segment(segs, [](const Segment& s) { return s.has('R'); }), -1)
        << "a crash closes with FIN, not reset\n"
        << all;
    // The client never answered: it sent no byte, only its own FIN.
    EXPECT_EQ(harness::find_segment(
                  segs, [](const Segment& s) { return s.from_client() && s.length > 0; }),
              -1)
        << all;
    EXPECT_GE(harness::find_segment(
                  segs, [](const Segment& s) { return s.from_client() && s.has('F'); }, fin + 1),
              0)
        << all;
}

}  // namespace
