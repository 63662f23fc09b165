// tests/ch13_test.cpp — ch13_io_functions: send/recv flags and readv/writev (book ch. 13).
//
// Urgent data (MSG_OOB): oob_send --wait / oob_recv --ack step by step (strace: SIGURG, the
// urgent byte read apart); the book's unpaced run (only what always holds); SO_OOBINLINE;
// no SIGURG without F_SETOWN; the kernel's one urgent slot, checked on the test's own sockets.
// MSG_PEEK|MSG_DONTWAIT: EAGAIN at once and no spinning (strace), the same bytes peeked and
// read; socat as the sender.  readv/writev: byte-exact demos (strace), and on the wire one
// writev() is one segment where three write()s are three (tcp_watch in a private namespace).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/sockios.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kit.hpp"
#include "netns.hpp"
#include "proc.hpp"
#include "wire.hpp"

namespace {

using harness::Deadline;
using harness::Process;
using harness::Result;
using namespace std::chrono_literals;

// What oob_recv printed after its readiness line, once it has exited.
std::vector<std::string> finish_lines(Process& p) {
    auto status = p.finish();
    EXPECT_TRUE(status && harness::exited_with(*status, 0))
        << (status ? harness::describe_status(*status) : "still running") << "\n"
        << p.err();
    EXPECT_EQ(harness::sanitizer_report(p.err()), "");
    std::vector<std::string> all = harness::lines(p.out());
    if (!all.empty() && all.front().rfind("listening on ", 0) == 0) all.erase(all.begin());
    return all;
}

// The bytes of every "Received message: " line, in order: the normal stream as it arrived.
std::string normal_stream(const std::vector<std::string>& lines) {
    std::string s;
    for (const std::string& l : lines)
        if (l.rfind("Received message: ", 0) == 0) s += l.substr(18);
    return s;
}

std::string trace_text(const std::string& file) {
    std::string calls;
    for (const harness::SysCall& c : harness::strace_calls(harness::read_file(file)))
        calls += c.text + "\n";
    return calls;
}

// ---- urgent data ------------------------------------------------------------------------

TEST(Ch13Oob, StepByStepEachUrgentByteComesBySigurgAndOnlyTheLastByteOfASendIsUrgent) {
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::TempDir dir;
    std::string trace = dir.file("trace");
    Process recv(
        "strace",
        {"-o", trace, "-e", "trace=fcntl,sendto,recvfrom", "--", PROG_oob_recv, "0", "--ack"},
        harness::traced());
    int port = recv.wait_ready();
    ASSERT_NE(port, 0);
    Result send = harness::run(PROG_oob_send, {"127.0.0.1", std::to_string(port), "--wait"});
    EXPECT_EQ(send.exit_code(), 0) << send.err;
    EXPECT_EQ(send.out + send.err, "");
    std::vector<std::string> lines = finish_lines(recv);
    const std::vector<std::string> want{"Received message: 123", "Urgent message: 4",
                                        "Received message: 567", "Urgent message: 0",
                                        "Received message: 89",  "end of stream"};
    EXPECT_EQ(lines, want) << recv.out();
    std::string raw = harness::read_file(trace);
    std::string calls = trace_text(trace);
    // The owner is set, SIGURG comes once per urgent send, and each urgent byte is read alone
    // with MSG_OOB; a plain recv() gets "89" without the '0' that was sent after it.
    EXPECT_TRUE(std::regex_search(calls, std::regex(R"(fcntl\(\d+, F_SETOWN, \d+\) = 0)")))
        << calls;
    size_t sigurgs = 0;
    for (size_t at = raw.find("--- SIGURG"); at != std::string::npos;
         at = raw.find("--- SIGURG", at + 1))
        ++sigurgs;
    EXPECT_EQ(sigurgs, 2u) << raw;
    EXPECT_TRUE(std::regex_search(
        calls, std::regex(R"(recvfrom\(\d+, "4", 30, MSG_OOB, NULL, NULL\) = 1\n(?:.*\n)*?)"
                          R"(recvfrom\(\d+, "567", 30, 0, NULL, NULL\) = 3\n(?:.*\n)*?)"
                          R"(recvfrom\(\d+, "0", 30, MSG_OOB, NULL, NULL\) = 1\n)")))
        << calls;
    EXPECT_TRUE(
        std::regex_search(calls, std::regex(R"(recvfrom\(\d+, "89", 30, 0, NULL, NULL\) = 2)")))
        << calls;
}

TEST(Ch13Oob, UnpacedLikeTheBookOnlyTheInvariantsHold) {
    // The book's run: oob_send sends all four at once.  What oob_recv prints depends on when
    // each segment arrives (README: three outcomes seen).  What always holds: exit 0, the
    // normal stream is 123, maybe 4, 56789 in order, each once; '0' is never in it; the only
    // urgent bytes are 4 and 0.
    for (int round = 0; round < 5; ++round) {
        Process recv(PROG_oob_recv, {"0"});
        int port = recv.wait_ready();
        ASSERT_NE(port, 0);
        Result send = harness::run(PROG_oob_send, {"127.0.0.1", std::to_string(port)});
        EXPECT_EQ(send.exit_code(), 0) << send.err;
        std::vector<std::string> lines = finish_lines(recv);
        ASSERT_FALSE(lines.empty());
        EXPECT_EQ(lines.back(), "end of stream");
        EXPECT_TRUE(std::regex_match(normal_stream(lines), std::regex("1234?56789"))) << recv.out();
        for (const std::string& l : lines)
            if (l.rfind("Urgent message: ", 0) == 0) {
                EXPECT_TRUE(l == "Urgent message: 4" || l == "Urgent message: 0") << recv.out();
            }
    }
}

TEST(Ch13Oob, SocatAsTheReceiverNeverSeesTheLastUrgentByte) {
    // A receiver we did not write, which never asks for urgent data (no owner, no MSG_OOB):
    // it gets the ordinary bytes in order; '0', urgent until the end, is in none of them.
    SOCKLAB_REQUIRE_TOOL("socat");
    Process socat("socat", {"-d", "-d", "-u", "TCP-LISTEN:0,bind=127.0.0.1", "-"});
    std::optional<std::string> line;
    std::smatch m;
    while ((line = socat.read_err_line()) &&
           !std::regex_search(*line, m, std::regex(R"(listening on .*:(\d+)$)"))) {
    }
    ASSERT_TRUE(line) << socat.err();
    Result send = harness::run(PROG_oob_send, {"127.0.0.1", m[1].str()});
    EXPECT_EQ(send.exit_code(), 0) << send.err;
    auto status = socat.finish();
    ASSERT_TRUE(status && harness::exited_with(*status, 0)) << socat.err();
    EXPECT_TRUE(std::regex_match(socat.out(), std::regex("1234?56789"))) << socat.out();
}

TEST(Ch13Oob, WithOobInlineTheUrgentByteStaysInTheStreamAndMsgOobFailsEinval) {
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::TempDir dir;
    std::string trace = dir.file("trace");
    Process recv("strace",
                 {"-o", trace, "-e", "trace=setsockopt,recvfrom", "--", PROG_oob_recv, "0", "--ack",
                  "--inline"},
                 harness::traced());
    int port = recv.wait_ready();
    ASSERT_NE(port, 0);
    Result send = harness::run(PROG_oob_send, {"127.0.0.1", std::to_string(port), "--wait"});
    EXPECT_EQ(send.exit_code(), 0) << send.err;
    std::vector<std::string> lines = finish_lines(recv);
    // Every byte in the normal stream, in order; SIGURG still comes, and recv(MSG_OOB) says
    // EINVAL each time: with SO_OOBINLINE there is nothing to read apart.
    EXPECT_EQ(normal_stream(lines), "1234567890") << recv.out();
    EXPECT_EQ(std::count(lines.begin(), lines.end(), "recv(MSG_OOB): Invalid argument"), 2)
        << recv.out();
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                            [](const std::string& l) { return l.rfind("Urgent", 0) == 0; }),
              0)
        << recv.out();
    std::string calls = trace_text(trace);
    EXPECT_NE(calls.find("SO_OOBINLINE, [1], 4) = 0"), std::string::npos) << calls;
    EXPECT_TRUE(std::regex_search(
        calls, std::regex(R"(recvfrom\(\d+, 0x[0-9a-f]+, 30, MSG_OOB, NULL, NULL\) = -1 EINVAL)")))
        << calls;
}

TEST(Ch13Oob, NoSigurgWithoutAnOwnerAndTheUnreadUrgentByteIsLost) {
    SOCKLAB_REQUIRE_TOOL("strace");
    for (bool owner : {true, false}) {
        SCOPED_TRACE(owner ? "with F_SETOWN" : "--no-owner");
        harness::TempDir dir;
        std::string trace = dir.file("trace");
        std::vector<std::string> args{"-o", trace, "-e", "trace=fcntl", "--", PROG_oob_recv, "0"};
        if (!owner) args.push_back("--no-owner");
        Process recv("strace", args, harness::traced());
        int port = recv.wait_ready();
        ASSERT_NE(port, 0);
        // The test is the sender: each step waits for the line it causes, never for time.
        common::Fd s = harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(s);
        ASSERT_TRUE(harness::send_all(s.get(), "123"));
        ASSERT_TRUE(recv.wait_for_line("Received message: 123"));
        ASSERT_EQ(send(s.get(), "4", 1, MSG_OOB), 1);
        if (owner) {
            ASSERT_TRUE(recv.wait_for_line("Urgent message: 4")) << recv.out();
        }
        ASSERT_TRUE(harness::send_all(s.get(), "567"));
        ASSERT_TRUE(recv.wait_for_line("Received message: 567")) << recv.out();
        s.reset();
        std::vector<std::string> lines = finish_lines(recv);
        EXPECT_EQ(lines.back(), "end of stream");
        std::string raw = harness::read_file(trace);
        EXPECT_EQ(raw.find("F_SETOWN") != std::string::npos, owner) << raw;
        EXPECT_EQ(raw.find("--- SIGURG") != std::string::npos, owner) << raw;
        // Without a handler to read it, '4' is in neither stream: the plain recv() skips it.
        EXPECT_EQ(normal_stream(lines), "123567") << recv.out();
        EXPECT_EQ(std::count(lines.begin(), lines.end(), "Urgent message: 4"), owner ? 1 : 0)
            << recv.out();
    }
}

// The kernel itself, on the test's own sockets: one urgent byte per send, one slot.
struct Pair {
    common::Fd sender, receiver;
};
Pair connected_pair() {
    harness::Listener l = harness::listen_loopback();
    Pair p{harness::connect_tcp("127.0.0.1", l.port), {}};
    p.receiver = harness::accept_within(l.fd.get());
    return p;
}
// Waits until the receiver's kernel has acknowledged everything sent.
void delivered(const Pair& p) {
    EXPECT_TRUE(harness::wait_until([&] {
        int queued = -1;
        return ioctl(p.sender.get(), SIOCOUTQ, &queued) == 0 && queued == 0;
    }));
}
void oob(const Pair& p, const char* text) {
    ASSERT_EQ(send(p.sender.get(), text, strlen(text), MSG_OOB),
              static_cast<ssize_t>(strlen(text)));
}
void plain(const Pair& p, const char* text) {
    ASSERT_TRUE(harness::send_all(p.sender.get(), text));
}
std::string read_oob(const Pair& p) {
    char c;
    ssize_t n = recv(p.receiver.get(), &c, 1, MSG_OOB | MSG_DONTWAIT);
    return n == 1 ? std::string(1, c) : n == -1 ? std::string(strerrorname_np(errno)) : "?";
}
std::string read_all(const Pair& p) {  // the normal stream, until nothing more is queued
    std::string s;
    char buf[64];
    ssize_t n;
    while ((n = recv(p.receiver.get(), buf, sizeof buf, MSG_DONTWAIT)) > 0)
        s.append(buf, n);
    return s;
}

TEST(Ch13Oob, LinuxKeepsOneUrgentByteASecondUrgentSendTakesTheSlot) {
    {  // Only the last byte of a send is urgent; a plain recv() stops at it and skips it.
        Pair p = connected_pair();
        plain(p, "123");
        oob(p, "45!");
        plain(p, "xyz");
        delivered(p);
        char buf[64];
        ASSERT_EQ(recv(p.receiver.get(), buf, sizeof buf, 0), 5);  // "12345": up to the mark
        EXPECT_EQ(std::string(buf, 5), "12345");
        EXPECT_EQ(read_oob(p), "!");
        EXPECT_EQ(read_oob(p), "EINVAL");  // read once; and EINVAL with no urgent data at all
        EXPECT_EQ(read_all(p), "xyz");
    }
    {  // Two urgent sends before the reader comes: '4' goes back into the normal stream.
        Pair p = connected_pair();
        plain(p, "123"), oob(p, "4"), plain(p, "567"), oob(p, "890");
        delivered(p);
        EXPECT_EQ(read_oob(p), "0");
        EXPECT_EQ(read_all(p), "123456789");
    }
    {  // The reader stands right at '4' when the second arrives: '4' is in neither stream.
        Pair p = connected_pair();
        plain(p, "123"), oob(p, "4");
        delivered(p);
        char buf[64];
        ASSERT_EQ(recv(p.receiver.get(), buf, sizeof buf, 0), 3);
        plain(p, "567"), oob(p, "890");
        delivered(p);
        EXPECT_EQ(read_oob(p), "0");
        EXPECT_EQ(read_all(p), "56789");
    }
    {  // '4' already read with MSG_OOB, the reader not past it yet: '4' comes a second time.
        Pair p = connected_pair();
        plain(p, "123"), oob(p, "4");
        delivered(p);
        EXPECT_EQ(read_oob(p), "4");
        plain(p, "567"), oob(p, "890");
        delivered(p);
        EXPECT_EQ(read_oob(p), "0");
        EXPECT_EQ(read_all(p), "123456789");
    }
    {  // The normal reader passed the mark before anyone read the urgent byte: it is gone.
        Pair p = connected_pair();
        plain(p, "12"), oob(p, "3!"), plain(p, "ab");
        delivered(p);
        EXPECT_EQ(read_all(p), "123ab");
        EXPECT_EQ(read_oob(p), "EINVAL");
    }
}

// ---- MSG_PEEK | MSG_DONTWAIT ------------------------------------------------------------

TEST(Ch13Peek, NothingYetIsEagainAtOnceThenPollNotASpinAndThePeekedBytesAreReadAgain) {
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::TempDir dir;
    std::string trace = dir.file("trace");
    Process peek("strace",
                 {"-T", "-o", trace, "-e", "trace=recvfrom,poll,ppoll", "--", PROG_peek_recv, "0"},
                 harness::traced());
    int port = peek.wait_ready();
    ASSERT_NE(port, 0);
    common::Fd s = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(s);
    // The program answers "nothing yet" at once, then sleeps: send only after that line.
    ASSERT_TRUE(
        peek.wait_for_line("recv(MSG_PEEK|MSG_DONTWAIT): Resource temporarily "
                           "unavailable (at once: nothing yet)"))
        << peek.err();
    ASSERT_TRUE(harness::send_all(s.get(), "123"));
    std::vector<std::string> lines = finish_lines(peek);
    EXPECT_EQ(lines, (std::vector<std::string>{
                         "recv(MSG_PEEK|MSG_DONTWAIT): Resource temporarily unavailable (at "
                         "once: nothing yet)",
                         "Buffering 3 bytes: 123", "Read again: 123"}));
    std::string calls = trace_text(trace);
    // Exactly one EAGAIN (the book's loop makes thousands), fast; then one wait in poll.
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        calls, m,
        std::regex(
            R"(recvfrom\(\d+, 0x[0-9a-f]+, 29, MSG_PEEK\|MSG_DONTWAIT, NULL, NULL\) = -1 EAGAIN .*<(\d+\.\d+)>\n)"
            R"(p?poll\(.*\n)"
            R"(recvfrom\(\d+, "123", 29, MSG_PEEK\|MSG_DONTWAIT, NULL, NULL\) = 3 <.*>\n)"
            R"(recvfrom\(\d+, "123", 3, MSG_WAITALL, NULL, NULL\) = 3 <.*>\n)")))
        << calls;
    EXPECT_LT(std::stod(m[1]), 0.1) << "the EAGAIN took " << m[1] << " s";
    size_t eagains = 0;
    for (size_t at = calls.find("EAGAIN"); at != std::string::npos;
         at = calls.find("EAGAIN", at + 1))
        ++eagains;
    EXPECT_EQ(eagains, 1u) << calls;
}

TEST(Ch13Peek, WithNothingToPeekItSleepsInPollAndTakesNoCpu) {
    Process peek(PROG_peek_recv, {"0"});
    int port = peek.wait_ready();
    ASSERT_NE(port, 0);
    common::Fd s = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(s);
    ASSERT_TRUE(peek.wait_for_line("(at once: nothing yet)")) << peek.err();
    // The book's loop would be running recv() (state R, no blocking call); this one blocks.
    EXPECT_TRUE(harness::wait_until([&] {
        long nr = harness::current_syscall(peek.pid());
        return nr == SYS_poll || nr == SYS_ppoll;
    })) << "not asleep in poll()";
    long before = harness::cpu_ticks(peek.pid());
    EXPECT_FALSE(harness::wait_until([&] { return harness::cpu_ticks(peek.pid()) > before + 5; },
                                     Deadline(300ms)))
        << "it burns CPU while it waits";
    ASSERT_TRUE(harness::send_all(s.get(), "123"));
    std::vector<std::string> lines = finish_lines(peek);
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines.back(), "Read again: 123");
}

TEST(Ch13Peek, PeekingTwiceGivesTheSameBytesAndLeavesThemForRecv) {
    Pair p = connected_pair();
    char buf[64];
    errno = 0;
    EXPECT_EQ(recv(p.receiver.get(), buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT), -1);
    EXPECT_EQ(errno, EAGAIN);
    plain(p, "hello");
    delivered(p);
    for (int i = 0; i < 2; ++i) {
        ASSERT_EQ(recv(p.receiver.get(), buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT), 5);
        EXPECT_EQ(std::string(buf, 5), "hello");
    }
    ASSERT_EQ(recv(p.receiver.get(), buf, sizeof buf, 0), 5);
    EXPECT_EQ(std::string(buf, 5), "hello");
    EXPECT_EQ(recv(p.receiver.get(), buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT), -1);
}

TEST(Ch13Peek, SocatAsTheSenderAndPeekSendWithAPause) {
    SOCKLAB_REQUIRE_TOOL("socat");
    {
        Process peek(PROG_peek_recv, {"0"});
        int port = peek.wait_ready();
        ASSERT_NE(port, 0);
        Result r =
            harness::run("socat", {"-u", "-", "TCP:127.0.0.1:" + std::to_string(port)}, "socat");
        EXPECT_EQ(r.exit_code(), 0) << r.err;
        std::vector<std::string> lines = finish_lines(peek);
        ASSERT_GE(lines.size(), 2u) << peek.out();
        EXPECT_EQ(lines[lines.size() - 2], "Buffering 5 bytes: socat");
        EXPECT_EQ(lines.back(), "Read again: socat");
    }
    {
        Process peek(PROG_peek_recv, {"0"});
        int port = peek.wait_ready();
        ASSERT_NE(port, 0);
        Result r =
            harness::run(PROG_peek_send, {"127.0.0.1", std::to_string(port), "--pause-ms", "300"});
        EXPECT_EQ(r.exit_code(), 0) << r.err;
        std::vector<std::string> lines = finish_lines(peek);
        ASSERT_FALSE(lines.empty());
        EXPECT_EQ(lines.back(), "Read again: 123") << peek.out();
    }
}

// ---- readv / writev ---------------------------------------------------------------------

TEST(Ch13Vec, WritevAndReadvDemosAreByteExactInOneCallEach) {
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::TempDir dir;
    Result w =
        harness::run("strace", {"-o", dir.file("w"), "-e", "trace=writev", "--", PROG_writev_demo},
                     {}, {}, harness::traced());
    EXPECT_EQ(w.exit_code(), 0) << w.err;
    EXPECT_EQ(w.out, "ABC1234567\nWrite bytes: 10\n");
    EXPECT_NE(
        trace_text(dir.file("w"))
            .find(
                R"(writev(1, [{iov_base="ABC1234", iov_len=7}, {iov_base="567", iov_len=3}], 2) = 10)"),
        std::string::npos)
        << harness::read_file(dir.file("w"));

    Result r =
        harness::run("strace", {"-o", dir.file("r"), "-e", "trace=readv", "--", PROG_readv_demo},
                     "I like TCP/IP socket programming~\n", {}, harness::traced());
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out,
              "Read bytes: 34\nFirst message: I lik\nSecond message: e TCP/IP socket "
              "programming~\n");
    std::string calls = trace_text(dir.file("r"));
    EXPECT_TRUE(std::regex_search(
        calls,
        std::regex(
            R"(^readv\(0, \[\{iov_base="I lik", iov_len=5\}, \{iov_base="e TCP/IP socket programming~\\n", iov_len=99\}\], 2\) = 34\n$)")))
        << calls;
    Result short_input = harness::run(PROG_readv_demo, {}, "abc");
    EXPECT_EQ(short_input.out, "Read bytes: 3\nFirst message: abc\nSecond message: \n");
}

// Data segments the client sent, one length each, for writev_client in MODE.
void client_data_segments(std::vector<size_t>& lengths, std::string& wire, const harness::NetNs& ns,
                          const std::string& mode) {
    Process recv = ns.process(PROG_oob_recv, {"0"});
    int port = recv.wait_ready();
    Process watch = harness::start_watch(ns, PROG_tcp_watch, port, {"--connections", "1"});
    std::vector<std::string> args{"127.0.0.1", std::to_string(port)};
    if (!mode.empty()) args.push_back(mode);
    Result client = ns.run(PROG_writev_client, args);
    EXPECT_EQ(client.exit_code(), 0) << client.err;
    EXPECT_EQ(client.out, mode.empty() ? "writev: 3 buffers, 16 bytes, 1 call\n"
                                       : "write: 3 buffers, 16 bytes, 3 calls\n");
    std::vector<harness::Segment> segs = harness::watched(watch);
    std::vector<std::string> got = finish_lines(recv);
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.back(), "end of stream");
    // The 16 bytes arrived in order (each message printed + '\n': compare without newlines).
    std::string stream = std::regex_replace(recv.out(), std::regex("Received message: |\n"), "");
    EXPECT_NE(stream.find("HEAD5helloENDend of stream"), std::string::npos) << recv.out();
    for (const harness::Segment& s : segs)
        if (s.from_client() && s.length > 0) lengths.push_back(s.length);
    wire = harness::describe_segments(segs);
}

TEST(Ch13Wire, OneWritevIsOneSegmentThreeWritesWithNodelayAreThree) {
    SOCKLAB_REQUIRE_NETNS();
    harness::NetNs ns("ch13");
    ASSERT_TRUE(ns.ok());
    std::vector<size_t> writev_lengths, write_lengths;
    std::string writev_wire, write_wire;
    client_data_segments(writev_lengths, writev_wire, ns, "");
    client_data_segments(write_lengths, write_wire, ns, "--three-writes");
    EXPECT_EQ(writev_lengths, (std::vector<size_t>{16})) << writev_wire;
    EXPECT_EQ(write_lengths, (std::vector<size_t>{6, 5, 5})) << write_wire;
}

// ---- usage ------------------------------------------------------------------------------

TEST(Ch13Usage, BadUsageAndBadValuesExitTwoWithOneLine) {
    const std::string bad_port = ": invalid port '70000': out of range (expected 0 to 65535)\n";
    harness::expect_usage_errors({
        {PROG_oob_recv, {}, 2, "usage: oob_recv PORT [--ack] [--inline] [--no-owner]\n"},
        {PROG_oob_recv,
         {"0", "--urgent"},
         2,
         "usage: oob_recv PORT [--ack] [--inline] [--no-owner]\n"},
        {PROG_oob_recv, {"70000"}, 2, "oob_recv" + bad_port},
        {PROG_oob_send, {"127.0.0.1"}, 2, "usage: oob_send HOST PORT [--wait]\n"},
        {PROG_oob_send, {"127.0.0.1", "1", "--slow"}, 2, "usage: oob_send HOST PORT [--wait]\n"},
        {PROG_oob_send, {"127.0.0.1", "70000"}, 2, "oob_send" + bad_port},
        {PROG_peek_recv, {}, 2, "usage: peek_recv PORT\n"},
        {PROG_peek_recv,
         {"abc"},
         2,
         "peek_recv: invalid port 'abc': not a decimal number (expected 0 to 65535)\n"},
        {PROG_peek_send, {"127.0.0.1"}, 2, "usage: peek_send HOST PORT [--pause-ms N]\n"},
        {PROG_peek_send,
         {"127.0.0.1", "1", "--pause-ms", "-1"},
         2,
         "peek_send: invalid --pause-ms '-1' (expected 0 to 10000)\n"},
        {PROG_writev_demo, {"x"}, 2, "usage: writev_demo (no arguments)\n"},
        {PROG_readv_demo, {"x"}, 2, "usage: readv_demo (no arguments)\n"},
        {PROG_writev_client, {"127.0.0.1"}, 2, "usage: writev_client HOST PORT [--three-writes]\n"},
        {PROG_writev_client,
         {"127.0.0.1", "1", "--3"},
         2,
         "usage: writev_client HOST PORT [--three-writes]\n"},
    });
    // A refused connection: one line, exit 1.
    harness::Listener closed = harness::refused_port();
    Result r = harness::run(PROG_oob_send, {"127.0.0.1", std::to_string(closed.port)});
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_EQ(r.err, "oob_send: connect to 127.0.0.1 port " + std::to_string(closed.port) +
                         ": Connection refused\n");
}

}  // namespace
