// The harness is what makes every other test honest, so it is tested too: deadlines fire,
// children and grandchildren die with their Process, output is never lost.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include "harness.hpp"

namespace {

using namespace std::chrono_literals;
using harness::Clock;
using harness::Process;

TEST(Harness, ReadsLinesAndExitStatus) {
    Process p("sh", {"-c", "echo one; echo two >&2; printf three; exit 3"});
    EXPECT_EQ(p.read_line(), "one");
    EXPECT_EQ(p.read_err_line(), "two");
    EXPECT_EQ(p.read_line(), "three");  // last line without '\n'
    EXPECT_EQ(p.read_line(), std::nullopt);
    auto status = p.wait_exit();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 3)) << harness::describe_status(*status);
}

TEST(Harness, ReadLineGivesUpAtTheDeadline) {
    Process p("sleep", {"30"});
    auto start = Clock::now();
    EXPECT_EQ(p.read_line(harness::Deadline(200ms)), std::nullopt);
    EXPECT_LT(Clock::now() - start, 5s);
    EXPECT_TRUE(p.running());
}

TEST(Harness, WriteToAChildThatNeverReadsGivesUp) {
    Process p("sleep", {"30"});
    std::string big(1 << 20, 'x');  // far more than a pipe holds
    auto start = Clock::now();
    EXPECT_FALSE(p.write_stdin(big, harness::Deadline(200ms)));
    EXPECT_LT(Clock::now() - start, 5s);
}

TEST(Harness, WritingToAnExitedChildFailsInsteadOfKillingTheTest) {
    Process p("true", {});
    ASSERT_TRUE(p.wait_exit());
    EXPECT_FALSE(p.write_stdin("nobody reads this\n"));
}

TEST(Harness, StdinRoundTrip) {
    Process p("cat", {});
    ASSERT_TRUE(p.write_stdin("hello\nworld\n"));
    p.close_stdin();
    EXPECT_EQ(p.read_line(), "hello");
    EXPECT_EQ(p.read_line(), "world");
    auto status = p.wait_exit();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0));
}

TEST(Harness, WaitReadyParsesThePort) {
    Process p("sh", {"-c", "echo noise; echo 'listening on [::]:4242'; exec sleep 30"});
    EXPECT_EQ(p.wait_ready(), 4242);
    Process u("sh", {"-c", "echo 'bound to 127.0.0.1:53'; exec sleep 30"});
    EXPECT_EQ(u.wait_ready(), 53);
}

TEST(Harness, SetsSocklabBindToLoopback) {
    Process p("sh", {"-c", "echo \"$SOCKLAB_BIND\""});
    EXPECT_EQ(p.read_line(), "127.0.0.1");
    harness::Options v6;
    v6.bind = "::1";
    Process q("sh", {"-c", "echo \"$SOCKLAB_BIND\""}, v6);
    EXPECT_EQ(q.read_line(), "::1");
}

TEST(Harness, KillsTheWholeProcessGroupAtScopeExit) {
    int grandchild_pidfd = -1;
    {
        Process p("sh", {"-c", "sleep 30 & echo $!; wait"});
        auto line = p.read_line();
        ASSERT_TRUE(line);
        pid_t grandchild = std::stoi(*line);
        grandchild_pidfd = static_cast<int>(syscall(SYS_pidfd_open, grandchild, 0));
        ASSERT_GE(grandchild_pidfd, 0);
    }
    // A pidfd becomes readable when its process terminates.
    pollfd pfd{grandchild_pidfd, POLLIN, 0};
    EXPECT_EQ(poll(&pfd, 1, 5000), 1) << "the grandchild outlived its Process";
    close(grandchild_pidfd);
}

TEST(Harness, ChildStartsWithOnlyStdinStdoutStderr) {
    int leaked = dup(2);  // not close-on-exec: a careless runner could leak one like this
    ASSERT_GE(leaked, 3);
    auto r = harness::run("sh", {"-c", "ls /proc/self/fd"});
    close(leaked);
    // ls itself opens one descriptor (3) to read the directory.
    EXPECT_EQ(r.out, "0\n1\n2\n3\n");
}

TEST(Harness, RunCollectsEverything) {
    auto r = harness::run("sh", {"-c", "cat; echo err >&2; exit 4"}, "piped input\n");
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.exit_code(), 4);
    EXPECT_EQ(r.out, "piped input\n");
    EXPECT_EQ(r.err, "err\n");
}

TEST(Harness, LinesSplitsLikeGetline) {
    EXPECT_EQ(harness::lines("a\nb\n"), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(harness::lines("a\n\nlast"), (std::vector<std::string>{"a", "", "last"}));
    EXPECT_TRUE(harness::lines("").empty());
}

TEST(Harness, RefusedPortRefusesAndListenerAccepts) {
    auto refused = harness::refused_port();
    ASSERT_GT(refused.port, 0);
    EXPECT_FALSE(harness::connect_tcp("127.0.0.1", refused.port));
    EXPECT_EQ(errno, ECONNREFUSED);

    auto listener = harness::listen_loopback();
    ASSERT_GT(listener.port, 0);
    EXPECT_FALSE(harness::accept_within(listener.fd.get(), harness::Deadline(50ms)));
    common::Fd client = harness::connect_tcp("127.0.0.1", listener.port);
    ASSERT_TRUE(client);
    common::Fd server = harness::accept_within(listener.fd.get());
    ASSERT_TRUE(server);

    // FIN versus reset, as recv_to_end reports them.
    ASSERT_TRUE(harness::send_all(server.get(), "bye"));
    server.reset();  // close with nothing unread: FIN
    auto got = harness::recv_to_end(client.get());
    EXPECT_EQ(got.data, "bye");
    EXPECT_EQ(got.end, harness::End::kFin);

    common::Fd c2 = harness::connect_tcp("127.0.0.1", listener.port);
    common::Fd s2 = harness::accept_within(listener.fd.get());
    ASSERT_TRUE(c2 && s2);
    ASSERT_TRUE(harness::send_all(c2.get(), "unread"));
    ASSERT_TRUE(harness::recv_exact(s2.get(), 1));  // the bytes have arrived; one is read
    s2.reset();  // close with unread input: the kernel sends a reset
    EXPECT_EQ(harness::recv_to_end(c2.get()).end, harness::End::kReset);
}

TEST(Harness, DescribesSignals) {
    Process p("sleep", {"30"});
    p.signal(SIGTERM);
    auto status = p.wait_exit();
    ASSERT_TRUE(status);
    EXPECT_EQ(harness::describe_status(*status), "killed by SIGTERM");
}

TEST(Harness, BadProgramIsReported) {
    EXPECT_NONFATAL_FAILURE(Process("/nonexistent/program", {}), "cannot start");
}

}  // namespace
