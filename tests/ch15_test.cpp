// tests/ch15_test.cpp — ch15_stdio: sockets and standard I/O (book ch. 15).
//
// syscpy/stdcpy: the system calls counted with strace (one read and one write per byte
// against one per stdio buffer) and byte-exact copies (binary, empty).  desto/todes: fdopen,
// fileno, and fclose() closing the descriptor.  echo_stdserv/echo_stdclnt: byte-exact echo
// (a line longer than the buffer), each line back at once with fflush, the --no-flush pitfall
// (the echo sits in the server's buffer until fclose), socat as the client, a client that
// leaves mid-line, usage errors.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <cerrno>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kit.hpp"
#include "proc.hpp"

namespace {

using harness::Deadline;
using harness::Process;
using harness::Result;
using namespace std::chrono_literals;

struct Counts {
    long reads = 0, writes = 0;
};

// Runs COPIER SRC DST under strace; counts read() calls on SRC's descriptor and write()
// calls on DST's (found from the openat() lines), and checks the copy and the report line.
Counts traced_copy(const std::string& copier, const std::string& src, const std::string& dst,
                   size_t size) {
    harness::TempDir dir;
    std::string trace = dir.file("trace");
    Result r = harness::run(
        "strace", {"-f", "-o", trace, "-e", "trace=openat,open,read,write", "--", copier, src, dst},
        {}, Deadline(30s), harness::traced());
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_NE(r.out.find("copied " + std::to_string(size) + " bytes in "), std::string::npos)
        << r.out;
    int src_fd = -1, dst_fd = -1;
    Counts c;
    for (const harness::SysCall& s : harness::strace_calls(harness::read_file(trace))) {
        if (s.name == "openat" || s.name == "open") {
            if (s.text.find("\"" + src + "\"") != std::string::npos) src_fd = std::stoi(s.result);
            if (s.text.find("\"" + dst + "\"") != std::string::npos) dst_fd = std::stoi(s.result);
        } else if (s.name == "read" && s.fd == src_fd && src_fd >= 0) {
            ++c.reads;
        } else if (s.name == "write" && s.fd == dst_fd && dst_fd >= 0) {
            ++c.writes;
        }
    }
    EXPECT_GE(src_fd, 0);
    EXPECT_GE(dst_fd, 0);
    std::string copy = harness::read_file(dst);
    std::string orig = harness::read_file(src);
    EXPECT_TRUE(copy == orig) << harness::first_difference(orig, copy);
    return c;
}

TEST(Ch15Copy, SyscpyMakesOneReadAndOneWritePerByte) {
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::TempDir dir;
    const size_t n = 2 * 1024;  // small: under strace every system call costs a stop
    harness::write_file(dir.file("src"), harness::random_bytes(n));
    Counts c = traced_copy(PROG_syscpy, dir.file("src"), dir.file("dst"), n);
    EXPECT_EQ(c.reads, long(n) + 1);  // the last read() returns 0: end of file
    EXPECT_EQ(c.writes, long(n));
}

TEST(Ch15Copy, StdcpyMakesOneReadAndOneWritePerStdioBuffer) {
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::TempDir dir;
    const size_t n = 64 * 1024;
    harness::write_file(dir.file("src"), harness::random_bytes(n, 7));
    struct stat st {};
    ASSERT_EQ(stat(dir.file("src").c_str(), &st), 0);
    const long blocks = long(n) / long(st.st_blksize);  // glibc's buffer: st_blksize bytes
    Counts c = traced_copy(PROG_stdcpy, dir.file("src"), dir.file("dst"), n);
    EXPECT_GE(c.reads, blocks);
    EXPECT_LE(c.reads, blocks + 2);  // + the read() that returns 0
    EXPECT_GE(c.writes, blocks);
    EXPECT_LE(c.writes, blocks + 1);
    EXPECT_LT(c.reads + c.writes, long(n) / 1000);  // against syscpy's 2n + 1
}

TEST(Ch15Copy, BothCopyBinaryAndEmptyFilesByteExact) {
    harness::TempDir dir;
    std::string binary = std::string("\0\xff\n\r\x1a", 5) + harness::random_bytes(10000, 3) +
                         std::string("\xff\0", 2);
    harness::write_file(dir.file("bin"), binary);
    harness::write_file(dir.file("empty"), "");
    for (const std::string& prog : {std::string(PROG_syscpy), std::string(PROG_stdcpy)}) {
        for (const auto& [name, data] : {std::pair{std::string("bin"), binary},
                                         std::pair{std::string("empty"), std::string()}}) {
            std::string out = dir.file(name + ".copy");
            Result r = harness::run(prog, {dir.file(name), out});
            EXPECT_EQ(r.exit_code(), 0) << prog << " " << name << ": " << r.err;
            EXPECT_EQ(r.out.rfind("copied " + std::to_string(data.size()) + " bytes in ", 0), 0u)
                << r.out;
            std::string got = harness::read_file(out);
            EXPECT_TRUE(got == data)
                << prog << " " << name << ": " << harness::first_difference(data, got);
        }
    }
    Result missing = harness::run(PROG_stdcpy, {dir.file("nope"), dir.file("x")});
    EXPECT_EQ(missing.exit_code(), 1);
    EXPECT_EQ(missing.err, "stdcpy: open " + dir.file("nope") + ": No such file or directory\n");
}

// ---- fdopen, fileno -----------------------------------------------------------------------

TEST(Ch15Fdopen, DestoWritesThroughFdopenAndFcloseClosesTheDescriptor) {
    harness::TempDir dir;
    Result r = harness::run(PROG_desto, {dir.file("data.dat")});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(harness::sanitizer_report(r.err), "");
    EXPECT_EQ(r.out,
              "open FILE: descriptor 3\n"
              "fdopen(3, \"w\") + fprintf: 22 bytes in the stdio buffer\n"
              "fclose: buffer written, FILE* freed, descriptor 3 closed\n"
              "write(3) after fclose: Bad file descriptor\n");
    EXPECT_EQ(harness::read_file(dir.file("data.dat")), "Network C programming\n");
}

TEST(Ch15Fdopen, TodesFilenoGivesBackTheSameDescriptor) {
    harness::TempDir dir;
    Result r = harness::run(PROG_todes, {dir.file("data.dat")});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, "First file descriptor: 3\nSecond file descriptor: 3\n");
    EXPECT_EQ(harness::read_file(dir.file("data.dat")), "TCP/IP SOCKET PROGRAMMING\n");
}

// ---- the echo over FILE* ------------------------------------------------------------------

TEST(Ch15Echo, ClientAndServerEchoByteExactIncludingALineLongerThanTheBuffer) {
    Process server(PROG_echo_stdserv, {"0"});
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    std::string long_line(5000, 'x');
    for (size_t i = 0; i < long_line.size(); i += 7)
        long_line[i] = char('a' + i % 26);
    std::vector<std::string> input = {"hello", "", "  spaces \t tab", long_line, "last"};
    std::string in, expected;
    for (const std::string& l : input)
        in += l + "\n", expected += "Message from server: " + l + "\n";
    Result r = harness::run(PROG_echo_stdclnt, {"127.0.0.1", std::to_string(port)}, in);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_TRUE(r.out == expected) << harness::first_difference(expected, r.out);
    EXPECT_TRUE(server.wait_for_line("client disconnected (5 lines)"));
    // q ends the session early; the server serves the next client.
    Result q = harness::run(PROG_echo_stdclnt, {"127.0.0.1", std::to_string(port)}, "a\nQ\nb\n");
    EXPECT_EQ(q.exit_code(), 0) << q.err;
    EXPECT_EQ(q.out, "Message from server: a\n");
    EXPECT_TRUE(server.wait_for_line("client disconnected (1 lines)"));
    EXPECT_TRUE(server.running());
}

TEST(Ch15Echo, WithFflushEachLineComesBackAtOnce) {
    Process server(PROG_echo_stdserv, {"0"});
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    common::Fd sock = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(sock);
    for (const char* line : {"one\n", "two two\n"}) {
        ASSERT_TRUE(harness::send_all(sock.get(), line));
        auto got = harness::recv_exact(sock.get(), std::string(line).size(), Deadline(5s));
        EXPECT_EQ(got.value_or("(nothing)"), line);  // while the connection stays open
    }
}

TEST(Ch15Echo, NoFlushLeavesTheEchoInTheServersBufferUntilFclose) {
    Process server(PROG_echo_stdserv, {"0", "--no-flush"});
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    common::Fd sock = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(sock);
    ASSERT_TRUE(harness::send_all(sock.get(), "hello\n"));
    EXPECT_EQ(server.read_err_line().value_or("(none)"),
              "echo_stdserv: fputs 6 bytes, not flushed");
    // The server is back in read() (fgets wants the next line): whatever it was going to
    // write, it has written.  Nothing has arrived.
    EXPECT_TRUE(harness::wait_until(
        [&] { return harness::current_syscall(server.pid()) == SYS_read; }, Deadline(5s)));
    char c;
    EXPECT_EQ(recv(sock.get(), &c, 1, MSG_DONTWAIT), -1);
    EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
    // End of stream: fgets() returns NULL, fclose() flushes — the echo comes, then the FIN.
    ASSERT_EQ(shutdown(sock.get(), SHUT_WR), 0);
    harness::Received rest = harness::recv_to_end(sock.get(), Deadline(5s));
    EXPECT_EQ(rest.data, "hello\n");
    EXPECT_EQ(rest.end, harness::End::kFin);
}

TEST(Ch15Echo, NoFlushTheClientWaitsAndTheEchoDiesWithTheServer) {
    Process server(PROG_echo_stdserv, {"0", "--no-flush"});
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    Process client(PROG_echo_stdclnt, {"127.0.0.1", std::to_string(port)});
    ASSERT_TRUE(client.write_stdin("hello\n"));
    EXPECT_EQ(server.read_err_line().value_or("(none)"),
              "echo_stdserv: fputs 6 bytes, not flushed");
    // Both are blocked in read(): the client waits for an echo that sits in the server's
    // stdio buffer, the server for the client's next line.
    EXPECT_TRUE(harness::wait_until(
        [&] { return harness::current_syscall(client.pid()) == SYS_read; }, Deadline(5s)));
    EXPECT_TRUE(harness::wait_until(
        [&] { return harness::current_syscall(server.pid()) == SYS_read; }, Deadline(5s)));
    // A server killed now never flushes: the echo is lost, the client sees end of stream.
    server.signal(SIGKILL);
    auto status = client.finish(Deadline(5s));
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 1)) << harness::describe_status(*status);
    EXPECT_EQ(client.out(), "");
    EXPECT_EQ(client.err(),
              "echo_stdclnt: server closed the connection before the whole echo came back\n");
}

TEST(Ch15Echo, SocatAsTheClient) {
    SOCKLAB_REQUIRE_TOOL("socat");
    Process server(PROG_echo_stdserv, {"0"});
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    std::string data = "from socat\n" + std::string(3000, 'y') + "\n\nend\n";
    Result r =
        harness::run("socat", {"-t", "5", "-", "TCP:127.0.0.1:" + std::to_string(port)}, data);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_TRUE(r.out == data) << harness::first_difference(data, r.out);
    EXPECT_TRUE(server.wait_for_line("client disconnected (4 lines)"));
}

TEST(Ch15Echo, ServerSurvivesClientsThatLeaveMidLineOrWithoutReading) {
    Process server(PROG_echo_stdserv, {"0"});
    int port = server.wait_ready();
    ASSERT_NE(port, 0);
    {  // half a line, then gone
        common::Fd s = harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(harness::send_all(s.get(), "half a li"));
    }
    EXPECT_TRUE(server.wait_for_line("client disconnected (0 lines)"));
    {  // many lines, never reads an echo, closes: the server's writes fail (EPIPE, no SIGPIPE)
        common::Fd s = harness::connect_tcp("127.0.0.1", port);
        std::string many;
        for (int i = 0; i < 20000; ++i)
            many += "line\n";
        ASSERT_TRUE(harness::send_all(s.get(), many));
    }
    EXPECT_TRUE(server.wait_for_line("client disconnected ("));
    Result r = harness::run(PROG_echo_stdclnt, {"127.0.0.1", std::to_string(port)}, "still here\n");
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, "Message from server: still here\n");
    EXPECT_TRUE(server.running());
    EXPECT_EQ(harness::sanitizer_report(server.err()), "");
}

TEST(Ch15Usage, BadUsageAndBadValuesExitTwoWithOneLine) {
    harness::expect_usage_errors({
        {PROG_syscpy, {"a"}, 2, "usage: syscpy SRC DST\n"},
        {PROG_stdcpy, {"a", "b", "c"}, 2, "usage: stdcpy SRC DST\n"},
        {PROG_desto, {}, 2, "usage: desto FILE\n"},
        {PROG_todes, {"a", "b"}, 2, "usage: todes FILE\n"},
        {PROG_echo_stdserv, {}, 2, "usage: echo_stdserv PORT [--no-flush]\n"},
        {PROG_echo_stdserv, {"0", "--flush"}, 2, "usage: echo_stdserv PORT [--no-flush]\n"},
        {PROG_echo_stdserv,
         {"70000"},
         2,
         "echo_stdserv: invalid port '70000': out of range (expected 0 to 65535)\n"},
        {PROG_echo_stdclnt, {"127.0.0.1"}, 2, "usage: echo_stdclnt HOST PORT\n"},
        {PROG_echo_stdclnt,
         {"127.0.0.1", "x"},
         2,
         "echo_stdclnt: invalid port 'x': not a decimal number (expected 0 to 65535)\n"},
    });
}

}  // namespace
