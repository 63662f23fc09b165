// The harness is what makes every other test honest, so it is tested too: deadlines fire,
// children and grandchildren die with their Process, output is never lost; what proc.hpp
// reads from /proc is checked against states the test creates itself.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>

#include "harness.hpp"
#include "kit.hpp"
#include "proc.hpp"
#include "wire.hpp"

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

// A child that has exited stays a zombie until its Process is destroyed: its pid (and its
// process group's id) cannot be recycled while the harness may still signal it, and the
// group of a server whose leader exited is still killed at scope exit.
TEST(Harness, NeverSignalsAPidItHasReaped) {
    int grandchild_pidfd = -1;
    pid_t pid = -1;
    {
        Process p("sh", {"-c", "sleep 30 & echo $!"});  // the leader exits at once
        auto line = p.read_line();
        ASSERT_TRUE(line);
        grandchild_pidfd = static_cast<int>(syscall(SYS_pidfd_open, std::stoi(*line), 0));
        ASSERT_GE(grandchild_pidfd, 0);
        auto status = p.wait_exit();
        ASSERT_TRUE(status);
        EXPECT_TRUE(harness::exited_with(*status, 0)) << harness::describe_status(*status);
        pid = p.pid();
        auto stat = harness::proc_stat(pid);
        ASSERT_TRUE(stat) << "reaped before the Process was destroyed: its pid may be recycled";
        EXPECT_EQ(stat->state, 'Z');
        p.signal(SIGTERM);  // after the exit: not sent at all
    }
    EXPECT_FALSE(harness::proc_stat(pid)) << "reaped at scope exit";
    pollfd pfd{grandchild_pidfd, POLLIN, 0};
    EXPECT_EQ(poll(&pfd, 1, 5000), 1) << "the group outlived its exited leader's Process";
    close(grandchild_pidfd);
}

TEST(HarnessProc, PidsCgroupLimitsForkAndIsRemoved) {
    std::string path;
    {
        harness::PidsCgroup cg(3);
        if (!cg.ok()) GTEST_SKIP() << cg.why();
        path = cg.path();
        // The shell is task 1 and two sleeps fit beside it; the shell cannot fork a third.
        Process p("sh", {"-c", "sleep 30 & sleep 30 & echo two; sleep 30 & echo three"},
                  {.cgroup = cg.path()});
        ASSERT_TRUE(p.wait_for_line("two"));
        auto status = p.wait_exit();  // (the sleeps still hold stdout open: no finish())
        ASSERT_TRUE(status);
        EXPECT_FALSE(harness::exited_with(*status, 0)) << "the third fork did not fail";
        EXPECT_EQ(p.out(), "two\n");
        EXPECT_NE(p.err().find("fork"), std::string::npos) << p.err();
        EXPECT_GE(cg.denied(), 1);
    }
    EXPECT_FALSE(std::filesystem::exists(path)) << path << " was not removed";
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

// ---- proc.hpp ------------------------------------------------------------------------------

TEST(HarnessProc, EveryTestBinaryIsAChildSubreaper) {
    int subreaper = 0;
    ASSERT_EQ(prctl(PR_GET_CHILD_SUBREAPER, &subreaper), 0);
    EXPECT_EQ(subreaper, 1);
}

TEST(HarnessProc, ChildStartsWithDefaultSignalsAndAnEmptyMask) {
    // As in a background job: SIGINT and SIGQUIT ignored, and a signal blocked.
    struct sigaction ign {};
    struct sigaction old[3]{};
    ign.sa_handler = SIG_IGN;
    const int ignored[] = {SIGINT, SIGQUIT, SIGTERM};
    for (int i = 0; i < 3; ++i)
        sigaction(ignored[i], &ign, &old[i]);
    sigset_t usr1, old_mask;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &old_mask);
    auto r = harness::run("cat", {"/proc/self/status"});
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    for (int i = 0; i < 3; ++i)
        sigaction(ignored[i], &old[i], nullptr);

    ASSERT_EQ(r.exit_code(), 0) << r.err;
    std::string ign_mask, blk_mask;
    for (const std::string& line : harness::lines(r.out)) {
        if (line.starts_with("SigIgn:")) ign_mask = line.substr(7);
        if (line.starts_with("SigBlk:")) blk_mask = line.substr(7);
    }
    const unsigned long ign_bits = std::stoul(ign_mask, nullptr, 16);
    for (int sig : {SIGINT, SIGQUIT, SIGTERM, SIGPIPE})
        EXPECT_EQ(ign_bits & (1UL << (sig - 1)), 0UL) << strsignal(sig) << " ignored: " << ign_mask;
    EXPECT_EQ(std::stoul(blk_mask, nullptr, 16), 0UL) << "blocked: " << blk_mask;
}

TEST(HarnessProc, WaitUntilReturnsAtOnceOrAtTheDeadline) {
    int calls = 0;
    EXPECT_TRUE(harness::wait_until([&] { return ++calls == 3; }));
    EXPECT_EQ(calls, 3);

    auto start = Clock::now();
    EXPECT_FALSE(harness::wait_until([] { return false; }, harness::Deadline(100ms)));
    EXPECT_GE(Clock::now() - start, 100ms);
    EXPECT_LT(Clock::now() - start, 10s);
}

TEST(HarnessProc, ChildrenOfSeesAChildAndItsZombieState) {
    // A child that ends at once, and that this test does not wait for yet: a zombie.
    const pid_t zombie = fork();
    ASSERT_NE(zombie, -1) << strerror(errno);
    if (zombie == 0) _exit(0);
    std::vector<harness::ProcStat> children;
    auto find_zombie = [&] {
        children = harness::children_of(getpid());
        return std::any_of(children.begin(), children.end(), [&](const harness::ProcStat& c) {
            return c.pid == zombie && c.state == 'Z' && c.ppid == getpid();
        });
    };
    EXPECT_TRUE(harness::wait_until(find_zombie)) << harness::describe(children);
    EXPECT_NE(harness::describe(children).find(std::to_string(zombie) + ":Z"), std::string::npos);
    ASSERT_EQ(waitpid(zombie, nullptr, 0), zombie);
    EXPECT_FALSE(harness::proc_stat(zombie)) << "reaped, so gone from /proc";

    std::optional<Process> p;
    p.emplace("sleep", std::vector<std::string>{"30"});
    auto mine = harness::children_of(getpid());
    EXPECT_TRUE(std::any_of(mine.begin(), mine.end(), [&](const harness::ProcStat& c) {
        return c.pid == p->pid();
    })) << harness::describe(mine);
    auto self = harness::proc_stat(getpid());
    ASSERT_TRUE(self);
    EXPECT_EQ(self->state, 'R');  // reading its own stat: running
    EXPECT_EQ(self->ppid, getppid());

    const pid_t gone = p->pid();
    p->signal(SIGKILL);
    ASSERT_TRUE(p->wait_exit());
    p.reset();  // the Process reaps its child when it is destroyed
    EXPECT_FALSE(harness::proc_stat(gone));
    EXPECT_EQ(harness::cpu_ticks(gone), -1);
    EXPECT_EQ(harness::status_value(gone, "VmHWM"), -1);
    EXPECT_EQ(harness::open_fds(gone), -1);
    EXPECT_EQ(harness::describe({}), "(none)");
}

TEST(HarnessProc, StatusValueReadsNumbersOnly) {
    EXPECT_GT(harness::status_value(getpid(), "VmHWM"), 0);
    EXPECT_GE(harness::status_value(getpid(), "VmHWM"), harness::status_value(getpid(), "VmRSS"));
    EXPECT_GE(harness::status_value(getpid(), "Threads"), 1);
    EXPECT_EQ(harness::status_value(getpid(), "State"), -1);  // "R (running)": not a number
    EXPECT_EQ(harness::status_value(getpid(), "NoSuchField"), -1);
    EXPECT_GE(harness::cpu_ticks(getpid()), 0);
}

TEST(HarnessProc, OpenFdsAndCurrentSyscall) {
    const int before = harness::open_fds(getpid());
    ASSERT_GT(before, 2);
    {
        common::Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        ASSERT_TRUE(fd);
        EXPECT_EQ(harness::open_fds(getpid()), before + 1);
    }
    EXPECT_EQ(harness::open_fds(getpid()), before);

    Process cat("cat", {});  // asleep in read(0, ...)
    long arg = -2;
    EXPECT_TRUE(harness::wait_until([&] {
        return harness::current_syscall(cat.pid(), &arg) == SYS_read && arg == 0;
    })) << harness::current_syscall(cat.pid(), &arg)
        << " on " << arg;
    EXPECT_EQ(harness::open_fds(cat.pid()), 3);  // stdin, stdout, stderr
}

TEST(HarnessProc, TcpRecvQueueSeesUnreadBytesOnALoopbackPair) {
    auto listener = harness::listen_loopback();
    ASSERT_GT(listener.port, 0);
    EXPECT_EQ(harness::local_port(listener.fd.get()), listener.port);
    EXPECT_EQ(harness::local_address(listener.fd.get()),
              "127.0.0.1:" + std::to_string(listener.port));
    EXPECT_EQ(harness::local_port(-1), -1);
    EXPECT_EQ(harness::local_address(-1), "?");

    common::Fd client = harness::connect_tcp("127.0.0.1", listener.port);
    ASSERT_TRUE(client);
    common::Fd server = harness::accept_within(listener.fd.get());
    ASSERT_TRUE(server);
    const int client_port = harness::local_port(client.get());
    ASSERT_GT(client_port, 0);

    EXPECT_EQ(harness::tcp_recv_queue(listener.port, client_port), 0);
    ASSERT_TRUE(harness::send_all(client.get(), "hello"));
    EXPECT_TRUE(harness::wait_until([&] {
        return harness::tcp_recv_queue(listener.port, client_port) == 5;
    })) << harness::tcp_recv_queue(listener.port, client_port);
    EXPECT_EQ(harness::tcp_recv_queue(client_port, listener.port), 0);  // the other end
    ASSERT_EQ(harness::recv_exact(server.get(), 5), "hello");
    EXPECT_EQ(harness::tcp_recv_queue(listener.port, client_port), 0);
    // No connection from a port to itself.
    EXPECT_EQ(harness::tcp_recv_queue(client_port, client_port), -1);
}

TEST(HarnessProc, RaiseNofileUpToTheHardLimit) {
    rlimit before{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
    if (before.rlim_max == RLIM_INFINITY || before.rlim_max < 64)
        GTEST_SKIP() << "no finite hard limit to test against";
    // Lower the soft limit (always allowed), then raise it again.
    rlimit lower{before.rlim_max - 32, before.rlim_max};
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lower), 0);
    EXPECT_TRUE(harness::raise_nofile(before.rlim_max - 32));  // already there
    EXPECT_TRUE(harness::raise_nofile(before.rlim_max - 16));
    rlimit after{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &after), 0);
    EXPECT_EQ(after.rlim_cur, before.rlim_max - 16);
    EXPECT_EQ(after.rlim_max, before.rlim_max);  // the hard limit is left alone
    std::ifstream nr_open("/proc/sys/fs/nr_open");
    rlim_t kernel_max = 0;
    if (nr_open >> kernel_max) {
        EXPECT_FALSE(harness::raise_nofile(kernel_max + 1));
    }
    EXPECT_EQ(setrlimit(RLIMIT_NOFILE, &before), 0);  // as it was
}

// ---- wire.hpp ------------------------------------------------------------------------------

TEST(HarnessWire, ParsesTcpWatchLines) {
    auto syn = harness::parse_segment(
        "0.000010 server > client [S.] seq 0 ack 1 win 65483 length 0 mss 65495 wscale 10");
    ASSERT_TRUE(syn);
    EXPECT_DOUBLE_EQ(syn->time, 0.00001);
    EXPECT_EQ(syn->dir(), "server > client");
    EXPECT_TRUE(syn->from_server());
    EXPECT_FALSE(syn->udp);
    EXPECT_EQ(syn->flags, "S.");
    EXPECT_TRUE(syn->has('S') && syn->has('.') && !syn->has('F'));
    EXPECT_EQ(syn->seq, 0u);
    EXPECT_EQ(syn->ack, 1u);
    EXPECT_EQ(syn->win, 65483u);
    EXPECT_EQ(syn->length, 0u);
    EXPECT_EQ(syn->mss, 65495);
    EXPECT_EQ(syn->wscale, 10);

    auto data =
        harness::parse_segment("1.5 client > server [P.] seq 4294967295 ack 7 win 64 length 9");
    ASSERT_TRUE(data);
    EXPECT_EQ(data->seq, 4294967295u);  // --absolute: the full 32 bits
    EXPECT_EQ(data->length, 9u);
    EXPECT_FALSE(data->mss);
    // A BIG TCP frame on lo carries more than 65535 bytes (tcp_watch shows its real length).
    auto big = harness::parse_segment("0.2 client > server [.] seq 1 ack 1 win 64 length 99960");
    ASSERT_TRUE(big);
    EXPECT_EQ(big->length, 99960u);

    auto rst =
        harness::parse_segment("0.1 127.0.0.1:9190 > 127.0.0.1:40158 [R] seq 10 win 0 length 0");
    ASSERT_TRUE(rst);  // without --port: addresses; [R] without ACK has no ack
    EXPECT_EQ(rst->src, "127.0.0.1:9190");
    EXPECT_FALSE(rst->ack);

    auto udp = harness::parse_segment("0.000000 client > server UDP length 21");
    ASSERT_TRUE(udp);
    EXPECT_TRUE(udp->udp);
    EXPECT_EQ(udp->length, 21u);
    EXPECT_EQ(udp->flags, "");
}

TEST(HarnessWire, RejectsWhatTcpWatchNeverPrints) {
    for (const char* line : {
             "watching lo port 9190",
             "",
             "0.0 client > server [S] win 1 length 0",                  // no seq
             "0.0 client > server [.] seq 1 win 1 length 0",            // ACK without ack
             "0.0 client > server [S] seq 0 ack 1 win 1 length 0",      // ack without ACK
             "0.0 client > server [SX] seq 0 win 1 length 0",           // unknown flag
             "0.0 client > server [S] seq 4294967296 win 1 length 0",   // more than 32 bits
             "0.0 client > server [S] seq 0 win 1 length 0 color red",  // unknown field
             "0.0 client > server [S] seq 0 win 1 length",              // value missing
             "0.0 client > server [S] seq -1 win 1 length 0",
             "x client > server [S] seq 0 win 1 length 0",
             "0.0 client < server [S] seq 0 win 1 length 0",
             "0.0 client > server UDP length 3 extra",
         })
        EXPECT_FALSE(harness::parse_segment(line)) << line;
}

TEST(HarnessWire, WatchedCollectsSegmentsAndReportsWhatIsWrong) {
    Process good("sh", {"-c",
                        "echo 'watching lo port 5'; echo '0.0 client > server [S] seq 0 win 1 "
                        "length 0'; echo '0.1 server > client [R.] seq 0 ack 1 win 0 length 0'"});
    auto segs = harness::watched(good);
    ASSERT_EQ(segs.size(), 2u);
    EXPECT_EQ(harness::find_segment(segs, [](const harness::Segment& s) { return s.has('R'); }), 1);
    EXPECT_EQ(harness::find_segment(
                  segs, [](const harness::Segment& s) { return s.has('R'); }, 2),
              -1);
    EXPECT_EQ(harness::describe_segments(segs),
              "0.0 client > server [S] seq 0 win 1 length 0\n"
              "0.1 server > client [R.] seq 0 ack 1 win 0 length 0\n");

    Process garbage("sh", {"-c", "echo 'watching lo port 5'; echo garbage"});
    EXPECT_NONFATAL_FAILURE(harness::watched(garbage), "does not parse: garbage");
    Process failed("sh", {"-c", "exit 1"});
    EXPECT_NONFATAL_FAILURE(harness::watched(failed), "exit 1");
}

}  // namespace

// ---- kit.hpp ----------------------------------------------------------------------------

namespace {

TEST(HarnessKit, StraceCallsJoinsInterruptedCallsAndKeepsPids) {
    const std::string trace =
        "4101  accept4(3, NULL, NULL, SOCK_CLOEXEC <unfinished ...>\n"
        "4102  write(5, \"hi\", 2)             = 2\n"
        "4101  <... accept4 resumed>)        = 6\n"
        "4102  --- SIGPIPE {si_signo=SIGPIPE} ---\n"
        "read(6, \"\", 4096) = 0\n"
        "4102  exit_group(0)                     = ?\n"
        "4102  +++ exited with 0 +++\n";
    std::vector<harness::SysCall> calls = harness::strace_calls(trace);
    ASSERT_EQ(calls.size(), 4u);
    EXPECT_EQ(calls[0].pid, 4102);
    EXPECT_EQ(calls[0].text, "write(5, \"hi\", 2) = 2");
    EXPECT_EQ(calls[1].pid, 4101);
    EXPECT_EQ(calls[1].name, "accept4");
    EXPECT_EQ(calls[1].fd, 3);
    EXPECT_EQ(calls[1].result, "6");
    EXPECT_EQ(calls[1].text, "accept4(3, NULL, NULL, SOCK_CLOEXEC) = 6");
    EXPECT_EQ(calls[2].pid, 0);
    EXPECT_EQ(calls[2].result, "0");
    EXPECT_EQ(calls[3].name, "exit_group");
    EXPECT_EQ(calls[3].fd, 0);
    EXPECT_EQ(calls[3].result, "?");
}

TEST(HarnessKit, SanitizerReportFindsEachKindAndNothingInCleanOutput) {
    EXPECT_EQ(harness::sanitizer_report("server: accept: Too many open files\n"), "");
    for (std::string mark : {"WARNING: ThreadSanitizer: data race", "ERROR: AddressSanitizer:",
                             "ERROR: LeakSanitizer: detected", "x.cpp:3:5: runtime error: "})
        EXPECT_NE(harness::sanitizer_report("line\n" + mark + "\n"), "") << mark;
}

TEST(HarnessKit, SmallReceiveBufferIsWhatTheKernelGrantsAndDoesNotGrow) {
    harness::Listener l = harness::listen_loopback();
    common::Fd fd = harness::connect_small_rcvbuf(l.port, 4096);
    ASSERT_TRUE(fd);
    int got = 0;
    socklen_t len = sizeof got;
    ASSERT_EQ(getsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &got, &len), 0);
    EXPECT_EQ(got, 2 * 4096);  // Linux doubles the request for its bookkeeping (socket(7))
}

}  // namespace
