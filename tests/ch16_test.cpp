// ch16 — separating input and output streams (关于 I/O 流分离的其他内容): two FILE*s on one
// descriptor (sep_serv: fclose(writefp) closes the socket, the client's answer is lost) vs a
// dup'ed descriptor and shutdown(SHUT_WR) (sep_serv2: the half-close works); dup/dup2.
//
// Each close is checked three ways: what the programs print, the system calls (strace), and
// the segments on the wire (ch04's tcp_watch in a private network namespace).
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kit.hpp"
#include "netns.hpp"
#include "wire.hpp"

namespace {

using harness::Process;
using harness::Result;
using harness::Segment;

const std::string kLines = "FROM SERVER: Hi~ client?\nI love all of the world\nYou are awesome!\n";
const std::string kAnswer = "FROM CLIENT: Thank you!\n";

// Runs sep_clnt against SERVER (a program, or strace running one); returns the client's
// result, the server finished.
Result serve_one(Process& server) {
    int port = server.wait_ready();
    EXPECT_NE(port, 0);
    Result client = harness::run(PROG_sep_clnt, {"127.0.0.1", std::to_string(port)});
    EXPECT_TRUE(server.finish()) << server.err();
    EXPECT_EQ(harness::sanitizer_report(server.err()), "");
    return client;
}

std::string trace_text(const std::string& file) {
    std::string calls;
    for (const harness::SysCall& c : harness::strace_calls(harness::read_file(file)))
        calls += c.text + "\n";
    return calls;
}

// ---- what the programs print ------------------------------------------------------------

TEST(Ch16SepServ, TheClientGetsEveryLineButTheServerCannotReadTheAnswer) {
    Process server(PROG_sep_serv, {"0"});
    Result client = serve_one(server);
    EXPECT_EQ(client.exit_code(), 0) << client.err;
    EXPECT_EQ(client.out, kLines);  // the client cannot tell: it sent its answer, all is "fine"
    EXPECT_EQ(client.err, "");
    auto status = server.wait_exit();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 1)) << harness::describe_status(*status);
    std::vector<std::string> lines = harness::lines(server.out());
    ASSERT_EQ(lines.size(), 2u) << server.out();  // the readiness line, then this one only
    EXPECT_EQ(lines[1],
              "sent 3 lines, then fclose(writefp): the descriptor is closed, the connection too");
    EXPECT_EQ(server.err(), "sep_serv: fgets: Bad file descriptor\n");
}

TEST(Ch16SepServ2, AfterTheHalfCloseTheClientsAnswerArrives) {
    Process server(PROG_sep_serv2, {"0"});
    Result client = serve_one(server);
    EXPECT_EQ(client.exit_code(), 0) << client.err;
    EXPECT_EQ(client.out, kLines);
    auto status = server.wait_exit();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << harness::describe_status(*status);
    std::vector<std::string> lines = harness::lines(server.out());
    const std::vector<std::string> want{
        "sent 3 lines, then shutdown(SHUT_WR) and fclose(writefp): half-closed",
        "FROM CLIENT: Thank you!", "end of stream: fclose(readfp)"};
    ASSERT_EQ(lines.size(), 4u) << server.out();
    EXPECT_EQ(std::vector<std::string>(lines.begin() + 1, lines.end()), want);
    EXPECT_EQ(server.err(), "");
}

TEST(Ch16Dup, CopiesNameOneFileClosingOneLeavesTheOthers) {
    Result r = harness::run(PROG_dup_demo, {});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(
        r.out, m,
        std::regex("fd1=(\\d+), fd2=7\nHi~ \\(through fd \\1, a dup of 1\\)\n"
                   "It's nice day~ \\(through fd 7, dup2\\(\\1, 7\\)\\)\n"
                   "close\\(\\1\\) and close\\(7\\); fd 1 still works:\nHi~ \\(through fd 1\\)\n")))
        << r.out;
    EXPECT_NE(m[1].str(), "1");
    // Once the last copy (1 itself) is closed, the write fails: the book's silent last line.
    EXPECT_EQ(r.err, "close(1): write(1) fails: Bad file descriptor\n");
}

// ---- the system calls -------------------------------------------------------------------

// The server's calls from accept() on, and the accepted descriptor's number.
std::string traced_server(const char* program, std::string& sock, int want_status) {
    harness::TempDir dir;
    std::string trace = dir.file("trace");
    Process server(
        "strace",
        {"-o", trace, "-e", "trace=accept,accept4,dup,shutdown,close,read", "--", program, "0"},
        harness::traced());
    Result client = serve_one(server);
    EXPECT_EQ(client.out, kLines);
    auto status = server.wait_exit();
    EXPECT_TRUE(status && harness::exited_with(*status, want_status)) << server.err();
    std::string calls = trace_text(trace);
    std::smatch m;
    if (!std::regex_search(calls, m, std::regex(R"(accept4?\(\d+, .*\) = (\d+)\n)"))) {
        ADD_FAILURE() << "no accept: " << calls;
        return calls;
    }
    sock = m[1].str();
    return m.suffix().str();
}

TEST(Ch16Strace, SepServsFcloseIsCloseOfTheOnlyDescriptorThenReadFailsEbadf) {
    SOCKLAB_REQUIRE_TOOL("strace");
    std::string s;
    std::string calls = traced_server(PROG_sep_serv, s, 1);
    EXPECT_TRUE(std::regex_search(calls, std::regex("^close\\(" + s +
                                                    "\\) = 0\n"  // fclose(writefp)
                                                    "read\\(" +
                                                    s +
                                                    ", 0x[0-9a-f]+, \\d+\\) = -1 EBADF .*\n"
                                                    "close\\(" +
                                                    s + "\\) = -1 EBADF")))
        << calls;
    EXPECT_EQ(calls.find("shutdown("), std::string::npos) << calls;
    EXPECT_EQ(calls.find("dup("), std::string::npos) << calls;
}

TEST(Ch16Strace, SepServ2DupsThenShutsDownTheCopyBeforeClosingItAndStillReads) {
    SOCKLAB_REQUIRE_TOOL("strace");
    std::string s;
    std::string calls = traced_server(PROG_sep_serv2, s, 0);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(calls, m, std::regex("^dup\\(" + s + "\\) = (\\d+)\n"))) << calls;
    const std::string c = m[1].str();
    EXPECT_TRUE(std::regex_search(
        calls, std::regex("shutdown\\(" + c + ", SHUT_WR\\) = 0\nclose\\(" + c +
                          "\\) = 0\n"
                          "read\\(" +
                          s + ", \"FROM CLIENT: Thank you!\\\\n\", \\d+\\) = 24\n(?:.*\n)*?" +
                          "read\\(" + s + ", \"\", \\d+\\) = 0\nclose\\(" + s + "\\) = 0\n")))
        << calls;
}

TEST(Ch16Strace, SepClntClosesEachOfItsTwoDescriptorsOnceTheBooksDoubleCloseIsGone) {
    // The book's client fdopen()s one descriptor twice and fclose()s both: close(fd) twice,
    // the second EBADF.  Here each FILE* has its own copy, each closed once, without error.
    SOCKLAB_REQUIRE_TOOL("strace");
    Process server(PROG_sep_serv2, {"0"});
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    harness::TempDir dir;
    Result client = harness::run("strace",
                                 {"-o", dir.file("trace"), "-e", "trace=connect,dup,close", "--",
                                  PROG_sep_clnt, "127.0.0.1", std::to_string(port)},
                                 {}, {}, harness::traced());
    EXPECT_EQ(client.exit_code(), 0) << client.err;
    EXPECT_EQ(client.out, kLines);
    ASSERT_TRUE(server.finish());
    std::string calls = trace_text(dir.file("trace"));
    std::smatch m;
    ASSERT_TRUE(std::regex_search(calls, m, std::regex(R"(connect\((\d+), .*\n)"))) << calls;
    const std::string s = m[1].str();
    const std::string after = m.suffix().str();
    EXPECT_TRUE(
        std::regex_match(after, std::regex("dup\\(" + s + "\\) = (\\d+)\nclose\\(\\1\\) = 0\n" +
                                           "close\\(" + s + "\\) = 0\n")))
        << after;
}

// ---- on the wire ------------------------------------------------------------------------

// SERVER (started in NS) serves sep_clnt while tcp_watch captures; returns the segments.
std::vector<Segment> on_the_wire(const harness::NetNs& ns, Process& server, Result& client) {
    int port = server.wait_ready();
    Process watch = harness::start_watch(ns, PROG_tcp_watch, port, {"--connections", "1"});
    client = ns.run(PROG_sep_clnt, {"127.0.0.1", std::to_string(port)});
    std::vector<Segment> segs = harness::watched(watch);
    server.finish();
    return segs;
}

TEST(Ch16Wire, SepServClosesBothWaysTheClientsAnswerIsAnsweredByRst) {
    SOCKLAB_REQUIRE_NETNS();
    harness::NetNs ns("ch16");
    ASSERT_TRUE(ns.ok());
    Process server = ns.process(PROG_sep_serv, {"0"});
    Result client;
    std::vector<Segment> segs = on_the_wire(ns, server, client);
    std::string wire = harness::describe_segments(segs);
    EXPECT_EQ(client.out, kLines);
    int fin =
        harness::find_segment(segs, [](const Segment& s) { return s.from_server() && s.has('F'); });
    ASSERT_GE(fin, 0) << wire;
    int data = harness::find_segment(
        segs, [](const Segment& s) { return s.from_client() && s.length == kAnswer.size(); }, fin);
    ASSERT_GE(data, 0) << wire;
    // The answer is not acknowledged: the closed socket answers it with RST, and that ends it.
    ASSERT_EQ(static_cast<size_t>(data + 2), segs.size()) << wire;
    EXPECT_TRUE(segs.back().from_server() && segs.back().has('R')) << wire;
    EXPECT_EQ(
        harness::find_segment(segs, [](const Segment& s) { return s.from_client() && s.has('F'); }),
        -1)
        << wire;
    EXPECT_EQ(server.err(), "sep_serv: fgets: Bad file descriptor\n");
}

TEST(Ch16Wire, SepServ2SendsFinThenTheAnswerIsAckedThenTheClientsFin) {
    SOCKLAB_REQUIRE_NETNS();
    harness::NetNs ns("ch16");
    ASSERT_TRUE(ns.ok());
    Process server = ns.process(PROG_sep_serv2, {"0"});
    Result client;
    std::vector<Segment> segs = on_the_wire(ns, server, client);
    std::string wire = harness::describe_segments(segs);
    EXPECT_EQ(client.out, kLines);
    int fin =
        harness::find_segment(segs, [](const Segment& s) { return s.from_server() && s.has('F'); });
    ASSERT_GE(fin, 0) << wire;
    int data = harness::find_segment(
        segs, [](const Segment& s) { return s.from_client() && s.length == kAnswer.size(); }, fin);
    ASSERT_GE(data, 0) << wire;
    const uint32_t answer_end = segs[data].seq + static_cast<uint32_t>(kAnswer.size());
    int acked = harness::find_segment(
        segs, [&](const Segment& s) { return s.from_server() && s.ack && *s.ack >= answer_end; },
        data);
    EXPECT_GE(acked, 0) << wire;
    int client_fin = harness::find_segment(
        segs, [](const Segment& s) { return s.from_client() && s.has('F'); }, data);
    EXPECT_GE(client_fin, 0) << wire;
    EXPECT_EQ(harness::find_segment(segs, [](const Segment& s) { return s.has('R'); }), -1) << wire;
    EXPECT_NE(server.out().find("FROM CLIENT: Thank you!\n"), std::string::npos) << server.out();
}

// ---- a peer we did not write ------------------------------------------------------------

TEST(Ch16Peer, SocatSeesTheServersEndOfStreamAndItsLaterAnswerStillArrives) {
    SOCKLAB_REQUIRE_TOOL("socat");
    Process server(PROG_sep_serv2, {"0"});
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    // -t 30: after one direction's end of stream, socat keeps the other open that long.
    Process socat("socat", {"-d", "-d", "-t", "30", "-", "TCP:127.0.0.1:" + std::to_string(port)});
    std::optional<std::string> line;
    while ((line = socat.read_err_line()) && line->find("socket 2") == std::string::npos) {
    }
    ASSERT_TRUE(line) << socat.err();
    EXPECT_NE(line->find("is at EOF"), std::string::npos) << *line;  // the server's FIN
    // Only now does socat's side send: into a connection the server has half-closed.
    ASSERT_TRUE(socat.write_stdin(kAnswer));
    socat.close_stdin();
    auto status = socat.finish();
    EXPECT_TRUE(status && harness::exited_with(*status, 0)) << socat.err();
    EXPECT_EQ(socat.out(), kLines);
    ASSERT_TRUE(server.finish());
    EXPECT_NE(server.out().find("half-closed\nFROM CLIENT: Thank you!\nend of stream"),
              std::string::npos)
        << server.out();
}

// ---- usage ------------------------------------------------------------------------------

TEST(Ch16Usage, BadUsageAndBadValuesExitTwoWithOneLine) {
    harness::expect_usage_errors({
        {PROG_sep_serv, {}, 2, "usage: sep_serv PORT\n"},
        {PROG_sep_serv, {"1", "2"}, 2, "usage: sep_serv PORT\n"},
        {PROG_sep_serv,
         {"70000"},
         2,
         "sep_serv: invalid port '70000': out of range (expected 0 to 65535)\n"},
        {PROG_sep_serv2, {}, 2, "usage: sep_serv2 PORT\n"},
        {PROG_sep_serv2,
         {"abc"},
         2,
         "sep_serv2: invalid port 'abc': not a decimal number (expected 0 to 65535)\n"},
        {PROG_sep_clnt, {"127.0.0.1"}, 2, "usage: sep_clnt HOST PORT\n"},
        {PROG_sep_clnt,
         {"127.0.0.1", "70000"},
         2,
         "sep_clnt: invalid port '70000': out of range (expected 0 to 65535)\n"},
        {PROG_dup_demo, {"x"}, 2, "usage: dup_demo (no arguments)\n"},
    });
    harness::Listener closed = harness::refused_port();
    Result r = harness::run(PROG_sep_clnt, {"127.0.0.1", std::to_string(closed.port)});
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_EQ(r.err, "sep_clnt: connect to 127.0.0.1 port " + std::to_string(closed.port) +
                         ": Connection refused\n");
}

}  // namespace
