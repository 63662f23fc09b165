// ch10 — processes, zombies, signals and the multiprocess echo server (book ch. 10), run as
// real processes; process states are read from /proc.
//
// What these tests prove:
//   - fork_demo: after fork() child and parent change separate copies of the same variables
//     (same virtual address), fork() returns 0 in the child and the child's PID in the parent;
//   - zombie: the child is in state Z while the parent runs; once the parent ends, the
//     orphaned zombie passes to the reaper (here: the test, a subreaper) and is collected;
//   - wait_demo / waitpid_demo: the statuses printed are the ones the children returned;
//     wait() blocked until the slow child ended, waitpid(WNOHANG) returned 0 while it ran;
//   - signal_demo / sigaction_demo: a SIGINT sent by the test runs the handler (the program
//     survives it), short alarms end every sleep(100) early, a SIGALRM sent by the test is
//     handled too; SA_RESETHAND (--oneshot) makes the second SIGINT fatal;
//   - remove_zombie: its SIGCHLD handler reaps both children with their statuses;
//   - echo_mpserv: 20 clients echoed byte-exact while all 20 are connected (one child each);
//     50 clients that disconnect at once (half with RST) leave no zombie and the server
//     goes on; a child killed by SIGSEGV takes down nobody else; a client that never reads
//     blocks only its own child; strace -f: the child closes the listening socket, the parent
//     closes the client socket, accept() interrupted by SIGCHLD is called again;
//   - echo_mpclient: 5,000 piped lines come back in order, the writer child half-closes with
//     shutdown(SHUT_WR) and the parent reaps it; a server that closes first is reported;
//   - socat as client of echo_mpserv and as server for echo_mpclient; IPv6;
//   - bad usage, bad ports, unknown hosts, refused connections: one line, exit 2 or 1.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/net.hpp"
#include "harness.hpp"
#include "kit.hpp"
#include "proc.hpp"

namespace {

using namespace std::chrono_literals;
using harness::children_of;
using harness::Deadline;
using harness::describe;
using harness::local_address;
using harness::proc_stat;
using harness::Process;
using harness::ProcStat;
using harness::wait_until;

const std::string kMsg = "Message from server: ";

// ---- Output ---------------------------------------------------------------------------------

size_t count_lines(const std::string& text, const std::string& line) {
    auto all = harness::lines(text);
    return static_cast<size_t>(std::count(all.begin(), all.end(), line));
}

// The server's log, read line by line: the children it forked and those it reaped.
struct ServerLog {
    std::map<pid_t, std::string> connected;  // proc id -> client address
    std::map<pid_t, std::string> removed;    // proc id -> "exit status 0", "killed by ..."

    void take(const std::string& line) {
        static const std::regex kNew(R"(new client connected from (\S+), proc id (\d+))");
        static const std::regex kRemoved(R"(removed proc id: (\d+), (.+))");
        std::smatch m;
        if (std::regex_match(line, m, kNew)) connected[std::stoi(m[2])] = m[1];
        if (std::regex_match(line, m, kRemoved)) removed[std::stoi(m[1])] = m[2];
    }
    // Reads the server's stdout until N children have connected and M have been removed.
    bool read_until(Process& server, size_t n_connected, size_t n_removed, Deadline deadline = {}) {
        while (connected.size() < n_connected || removed.size() < n_removed) {
            auto line = server.read_line(deadline);
            if (!line) return false;
            take(*line);
        }
        return true;
    }
};

// ---- strace -ff: one trace file per process (harness::strace_ff) ----------------------------

using Call = harness::SysCall;

std::string dump(const std::vector<Call>& calls) {
    std::string text;
    for (const Call& c : calls)
        text += c.text + "\n";
    return text;
}

// ---- fork, zombies, wait ---------------------------------------------------------------------

TEST(Ch10Fork, ChildAndParentEachChangeTheirOwnCopyOfTheVariables) {
    Process demo(PROG_fork_demo, {});
    auto status = demo.finish();
    ASSERT_TRUE(status);
    ASSERT_TRUE(harness::exited_with(*status, 0)) << demo.err();
    const std::string parent = std::to_string(demo.pid());

    auto lines = harness::lines(demo.out());
    ASSERT_EQ(lines.size(), 3u) << demo.out();  // "before fork" once: flushed before fork()
    EXPECT_EQ(lines[0], "before fork: gval 11, lval 25 (pid " + parent + ")");
    std::smatch child, par;
    ASSERT_TRUE(std::regex_match(
        lines[1], child,
        std::regex(R"(Child Proc: \[13, 27\] \(pid (\d+), fork\(\) returned 0, &gval (\S+)\))")))
        << lines[1];
    ASSERT_TRUE(std::regex_match(
        lines[2], par,
        std::regex(
            R"(Parent Proc: \[9, 23\] \(pid (\d+), fork\(\) returned (\d+), &gval (\S+)\))")))
        << lines[2];
    EXPECT_EQ(par[1], parent);
    EXPECT_NE(child[1], parent) << "the child is a new process";
    EXPECT_EQ(par[2], child[1]) << "fork() returns the child's PID in the parent";
    EXPECT_EQ(par[3], child[2]) << "same virtual address, different values";
}

TEST(Ch10Zombie, ChildIsAZombieUntilTheParentEndsThenTheReaperCollectsIt) {
    // This test binary is a subreaper (the harness's ReapOrphans): when the demo ends, its orphaned
    // zombie is handed to the test instead of PID 1, and the test can watch it being collected.
    int subreaper = 0;
    ASSERT_EQ(prctl(PR_GET_CHILD_SUBREAPER, &subreaper), 0);
    ASSERT_EQ(subreaper, 1);

    Process demo(PROG_zombie, {"--seconds", "600"});
    auto line = demo.wait_for_line("Child Process ID: ");
    ASSERT_TRUE(line) << demo.err();
    const pid_t child = std::stoi(line->substr(line->rfind(' ') + 1));
    EXPECT_EQ(demo.read_line(), "look now, from another terminal:  ps -o pid,ppid,stat,cmd -p " +
                                    std::to_string(child));

    // The child returns at once; the parent sleeps and never waits: state Z.
    std::optional<ProcStat> seen;
    EXPECT_TRUE(wait_until([&] {
        seen = proc_stat(child);
        return seen && seen->state == 'Z';
    })) << "child state: "
        << (seen ? std::string(1, seen->state) : "gone");
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->ppid, demo.pid());
    EXPECT_TRUE(demo.running());

    // The zombie outlives its parent's code only until the parent ends (here: SIGTERM).
    demo.signal(SIGTERM);
    ASSERT_TRUE(demo.wait_exit());
    EXPECT_NE(demo.out().find("Hi, I am a child process\n"), std::string::npos) << demo.out();
    int status = 0;
    pid_t reaped = 0;
    EXPECT_TRUE(wait_until([&] {
        reaped = waitpid(child, &status, WNOHANG);
        return reaped != 0;
    }));
    EXPECT_EQ(reaped, child) << "the orphaned zombie was not handed to the subreaper";
    EXPECT_TRUE(harness::exited_with(status, 0)) << harness::describe_status(status);
    EXPECT_FALSE(proc_stat(child)) << "reaped, so gone from /proc";
}

TEST(Ch10Zombie, RunsToTheEndWithSecondsOption) {
    auto r = harness::run(PROG_zombie, {"--seconds", "1"});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    for (const char* line : {"Hi, I am a child process", "End child process", "End parent process"})
        EXPECT_EQ(count_lines(r.out, line), 1u) << line << "\n" << r.out;
    EXPECT_EQ(harness::lines(r.out).back(), "End parent process");
}

TEST(Ch10Wait, WaitReturnsEachChildsStatusAndBlocksForTheSlowOne) {
    auto r = harness::run(PROG_wait_demo, {"--child-seconds", "1"}, {}, Deadline(30s));
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    auto lines = harness::lines(r.out);
    ASSERT_EQ(lines.size(), 5u) << r.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(lines[0], m, std::regex(R"(Child PID: (\d+))"))) << r.out;
    const int first = std::stoi(m[1]);
    ASSERT_TRUE(std::regex_match(lines[1], m, std::regex(R"(Child PID: (\d+))"))) << r.out;
    const int second = std::stoi(m[1]);
    EXPECT_EQ(lines[2], "wait() blocks until a child ends ...");

    std::map<int, std::pair<double, int>> waited;  // pid -> (seconds, status)
    std::regex done(R"(wait\(\) returned (\d+) after ([0-9.]+) s: Child send (\d+))");
    for (int i = 3; i < 5; ++i) {
        ASSERT_TRUE(std::regex_match(lines[i], m, done)) << lines[i];
        waited[std::stoi(m[1])] = {std::stod(m[2]), std::stoi(m[3])};
    }
    ASSERT_EQ(waited.count(first), 1u) << r.out;
    ASSERT_EQ(waited.count(second), 1u) << r.out;
    EXPECT_EQ(waited[first].second, 3) << "child 1 returns 3 from main";
    EXPECT_EQ(waited[second].second, 7) << "child 2 calls exit(7)";
    // Child 2 slept 1 s, so wait() cannot have returned it sooner: it blocked.
    EXPECT_GE(waited[second].first, 1.0) << r.out;
}

TEST(Ch10Wait, WaitpidWithWnohangReturnsZeroWhileTheChildRuns) {
    auto r = harness::run(PROG_waitpid_demo, {"--child-seconds", "2", "--poll-ms", "50"}, {},
                          Deadline(30s));
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    auto lines = harness::lines(r.out);
    ASSERT_GE(lines.size(), 4u) << r.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(lines[0], m, std::regex(R"(Child PID: (\d+))"))) << r.out;
    const std::string child = m[1];
    // The parent printed while its child was alive: waitpid() did not block.
    for (size_t i = 1; i + 1 < lines.size(); ++i)
        EXPECT_EQ(lines[i], "waitpid() returned 0: child still running, parent works 50 ms");
    EXPECT_EQ(lines.back(), "waitpid() returned " + child + ": Child send 24");
}

// ---- Signals -------------------------------------------------------------------------------

// True once the demo is blocked in sleep() (glibc: clock_nanosleep), the moment the lesson is
// about: a signal sent now interrupts that sleep.  Sent between "wait..." and the sleep, the
// handler would still run at once, except under ThreadSanitizer, which defers a signal that
// arrives outside a blocking call: in one CI run the SIGINT handler then never printed at all,
// while the alarms, which arrive during sleep(), were handled.
bool sleeping(const Process& demo) {
    return wait_until([&] {
        long nr = harness::current_syscall(demo.pid());
        return nr == SYS_clock_nanosleep || nr == SYS_nanosleep;
    });
}

// SIGINT from the test (as Ctrl-C would send it) after the first "wait...": the handler
// runs, the program survives; 1-second alarms end the other sleep(100)s early.
void sigint_and_short_alarms(const char* program) {
    Process demo(program, {"--alarm", "1"});
    ASSERT_EQ(demo.read_line(), "wait...") << demo.err();  // the handlers are installed
    ASSERT_TRUE(sleeping(demo));
    demo.signal(SIGINT);
    auto status = demo.finish(Deadline(30s));  // three sleep(100) calls: 300 s if uncut
    ASSERT_TRUE(status) << "still sleeping: " << demo.out();
    EXPECT_TRUE(harness::exited_with(*status, 0)) << harness::describe_status(*status);

    const std::string& out = demo.out();
    EXPECT_EQ(count_lines(out, "wait..."), 3u) << out;
    EXPECT_EQ(count_lines(out, "CTRL+C pressed"), 1u) << out;
    // Only one round can have ended by SIGINT: the alarms ended the others.
    EXPECT_GE(count_lines(out, "Time out!"), 2u) << out;
    size_t early = 0;
    for (const std::string& line : harness::lines(out))
        if (line.starts_with("sleep(100) returned early, ")) ++early;
    EXPECT_EQ(early, 3u) << out;
}

// SIGALRM from the test: its default action would end the process; the handler runs instead.
void sigalrm_from_outside(const char* program) {
    Process demo(program, {"--alarm", "60"});
    ASSERT_EQ(demo.read_line(), "wait...") << demo.err();
    ASSERT_TRUE(sleeping(demo));
    demo.signal(SIGALRM);
    EXPECT_TRUE(demo.wait_for_line("Time out!")) << demo.out();
    EXPECT_TRUE(demo.running()) << "SIGALRM's default action ended it";
}

TEST(Ch10Signal, SignalDemoHandlesSigintAndAlarmsCutEverySleepShort) {
    sigint_and_short_alarms(PROG_signal_demo);
}
TEST(Ch10Signal, SignalDemoHandlesASigalrmSentByAnotherProcess) {
    sigalrm_from_outside(PROG_signal_demo);
}
TEST(Ch10Signal, SigactionDemoHandlesSigintAndAlarmsCutEverySleepShort) {
    sigint_and_short_alarms(PROG_sigaction_demo);
}
TEST(Ch10Signal, SigactionDemoHandlesASigalrmSentByAnotherProcess) {
    sigalrm_from_outside(PROG_sigaction_demo);
}

TEST(Ch10Signal, SaResethandMakesTheSecondSigintFatal) {
    Process demo(PROG_sigaction_demo, {"--oneshot", "--alarm", "60"});
    ASSERT_EQ(demo.read_line(), "wait...") << demo.err();
    ASSERT_TRUE(sleeping(demo));
    demo.signal(SIGINT);
    ASSERT_TRUE(demo.wait_for_line("CTRL+C pressed")) << demo.out();
    // The handler was reset to SIG_DFL when it was entered: the default action now.
    demo.signal(SIGINT);
    auto status = demo.wait_exit();
    ASSERT_TRUE(status) << "the second SIGINT did not end it";
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGINT)
        << harness::describe_status(*status);
}

TEST(Ch10Signal, RemoveZombieReapsBothChildrenFromItsSigchldHandler) {
    auto r = harness::run(PROG_remove_zombie, {"--seconds", "1"}, {}, Deadline(30s));
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    std::vector<std::string> ids;
    std::regex child(R"(Child proc id: (\d+))");
    for (const std::string& line : harness::lines(r.out)) {
        std::smatch m;
        if (std::regex_match(line, m, child)) ids.push_back(m[1]);
    }
    ASSERT_EQ(ids.size(), 2u) << r.out;
    EXPECT_EQ(count_lines(r.out, "removed proc id: " + ids[0] + ", child send: 12"), 1u) << r.out;
    EXPECT_EQ(count_lines(r.out, "removed proc id: " + ids[1] + ", child send: 24"), 1u) << r.out;
    EXPECT_EQ(count_lines(r.out, "Hi! I'm child process"), 2u) << r.out;
    EXPECT_EQ(harness::lines(r.out).back(), "both children removed");
}

// ---- echo_mpserv -----------------------------------------------------------------------------

TEST(Ch10MpServ, TwentyClientsAreEchoedWhileAllTwentyAreConnected) {
    Process server(PROG_echo_mpserv, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    constexpr int kClients = 20;
    std::vector<common::Fd> clients;
    std::vector<std::string> payloads;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(clients.back()) << strerror(errno);
        payloads.push_back(harness::random_bytes(16 << 10, 100 + i));
    }
    // Every client sends before any reads: an iterative server would echo only the first.
    for (int i = 0; i < kClients; ++i)
        ASSERT_TRUE(harness::send_all(clients[i].get(), payloads[i]));
    for (int i = 0; i < kClients; ++i) {
        std::string partial;
        auto got = harness::recv_exact(clients[i].get(), payloads[i].size(), {}, &partial);
        ASSERT_TRUE(got) << "client " << i << " got " << partial.size() << " bytes";
        EXPECT_TRUE(*got == payloads[i]) << harness::first_difference(*got, payloads[i]);
    }
    // One process per client, all alive at once.
    ServerLog log;
    ASSERT_TRUE(log.read_until(server, kClients, 0)) << server.out();
    auto children = children_of(server.pid());
    EXPECT_EQ(children.size(), static_cast<size_t>(kClients)) << describe(children);
    std::set<std::string> addresses;
    for (const auto& [pid, address] : log.connected)
        addresses.insert(address);
    for (const common::Fd& fd : clients)
        EXPECT_EQ(addresses.count(local_address(fd.get())), 1u) << local_address(fd.get());

    clients.clear();  // all disconnect
    ASSERT_TRUE(log.read_until(server, kClients, kClients)) << server.out();
    for (const auto& [pid, how] : log.removed) {
        EXPECT_EQ(log.connected.count(pid), 1u) << pid;
        EXPECT_EQ(how, "exit status 0") << pid;
    }
    EXPECT_TRUE(server.running());
    EXPECT_EQ(server.err(), "");
}

TEST(Ch10MpServ, FiftySimultaneousDisconnectsLeaveNoZombie) {
    Process server(PROG_echo_mpserv, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    constexpr int kClients = 50;
    std::vector<common::Fd> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(clients.back()) << strerror(errno);
        ASSERT_TRUE(harness::send_all(clients.back().get(), "x"));
    }
    for (auto& fd : clients)
        ASSERT_EQ(harness::recv_exact(fd.get(), 1), "x");  // each has its child serving it
    ServerLog log;
    ASSERT_TRUE(log.read_until(server, kClients, 0)) << server.out();
    ASSERT_EQ(children_of(server.pid()).size(), static_cast<size_t>(kClients));

    // Half end with RST (SO_LINGER {on, 0 s}), half with FIN; all in one tight loop, so the
    // children exit together and their SIGCHLDs merge.
    for (int i = 0; i < kClients; i += 2) {
        linger abort{.l_onoff = 1, .l_linger = 0};
        ASSERT_EQ(setsockopt(clients[i].get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
    }
    clients.clear();

    // Every child must be reaped: none left at all, so certainly none in state Z.
    std::vector<ProcStat> left;
    EXPECT_TRUE(wait_until([&] {
        left = children_of(server.pid());
        return left.empty();
    })) << "children still there (pid:state): "
        << describe(left);
    ASSERT_TRUE(log.read_until(server, kClients, kClients)) << server.out();
    for (const auto& [pid, how] : log.removed)
        EXPECT_EQ(log.connected.count(pid), 1u) << pid;

    // SIGCHLD interrupted accept() many times: the server still accepts and echoes.
    common::Fd next = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(next) << strerror(errno);
    ASSERT_TRUE(harness::send_all(next.get(), "still here\n"));
    EXPECT_EQ(harness::recv_exact(next.get(), 11), "still here\n");
    EXPECT_TRUE(server.running());
}

TEST(Ch10MpServ, AChildThatCrashesDoesNotTakeTheServerDown) {
    // A sanitizer would catch SIGSEGV and turn it into a report and exit 1; let the default
    // action (the kernel kills the process) happen, as in a plain build.
    Process server(PROG_echo_mpserv, {"0"},
                   {.env = {"ASAN_OPTIONS=handle_segv=0", "TSAN_OPTIONS=handle_segv=0"}});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    common::Fd victim = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(victim) << strerror(errno);
    ASSERT_TRUE(harness::send_all(victim.get(), "before\n"));
    ASSERT_EQ(harness::recv_exact(victim.get(), 7), "before\n");
    ServerLog log;
    ASSERT_TRUE(log.read_until(server, 1, 0));
    const pid_t child = log.connected.begin()->first;
    auto children = children_of(server.pid());
    ASSERT_EQ(children.size(), 1u) << describe(children);
    ASSERT_EQ(children[0].pid, child);

    // The child crashes as with a bad pointer: SIGSEGV, default action.
    ASSERT_EQ(kill(child, SIGSEGV), 0) << strerror(errno);
    ASSERT_TRUE(log.read_until(server, 1, 1)) << server.out();
    EXPECT_EQ(log.removed[child], "killed by signal 11");
    // The kernel closed the dead child's descriptors: the client sees the end.
    auto end = harness::recv_to_end(victim.get());
    EXPECT_NE(end.end, harness::End::kDeadline);

    // The parent and the next client are unaffected.
    EXPECT_TRUE(server.running());
    common::Fd next = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(next) << strerror(errno);
    ASSERT_TRUE(harness::send_all(next.get(), "after\n"));
    EXPECT_EQ(harness::recv_exact(next.get(), 6), "after\n");
}

TEST(Ch10MpServ, AClientThatNeverReadsBlocksOnlyItsOwnChild) {
    Process server(PROG_echo_mpserv, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    common::Fd stuck = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(stuck) << strerror(errno);
    // Send without reading until nothing more fits: our input buffer is full, the child is
    // blocked in write(), its input buffer and our output buffer fill up.
    std::string block(64 << 10, 's');
    size_t sent = 0;
    for (Deadline d; !d.expired();) {
        ssize_t n = send(stuck.get(), block.data(), block.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<size_t>(n);
            continue;
        }
        ASSERT_TRUE(n == -1 && (errno == EAGAIN || errno == EINTR)) << strerror(errno);
        // Stalled: wait a little for space that will never come, then stop.
        pollfd p{stuck.get(), POLLOUT, 0};
        if (poll(&p, 1, 200) == 0) break;
    }
    ASSERT_GT(sent, 64u << 10);

    // Meanwhile another client is served at once.
    common::Fd other = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(other) << strerror(errno);
    ASSERT_TRUE(harness::send_all(other.get(), "hello\n"));
    EXPECT_EQ(harness::recv_exact(other.get(), 6), "hello\n");

    // The stuck client goes away with unread data (RST): its child's write() fails, the
    // child logs it and exits normally — SIGPIPE is ignored, so it is not killed.
    ServerLog log;
    ASSERT_TRUE(log.read_until(server, 2, 0));
    pid_t stuck_child = 0;
    for (const auto& [pid, address] : log.connected)
        if (address == local_address(stuck.get())) stuck_child = pid;
    ASSERT_NE(stuck_child, 0) << server.out();
    stuck.reset();
    while (log.removed.count(stuck_child) == 0)
        ASSERT_TRUE(log.read_until(server, 2, log.removed.size() + 1)) << server.out();
    EXPECT_EQ(log.removed[stuck_child], "exit status 0");
    // Blocked in write(), it learns of the reset there (read() if it had not blocked yet).
    auto warning = server.read_err_line();
    ASSERT_TRUE(warning) << server.err();
    std::regex expected("echo_mpserv: proc id " + std::to_string(stuck_child) +
                        ": (write|read): (Connection reset by peer|Broken pipe)");
    EXPECT_TRUE(std::regex_match(*warning, expected)) << *warning;
}

// ---- Hostile clients and exhaustion -------------------------------------------------------

// The arguments of the system call a process is blocked in (/proc/PID/syscall: number, then
// the arguments in hex); empty while it runs.
std::vector<unsigned long> syscall_args(pid_t pid) {
    std::istringstream in(harness::read_file("/proc/" + std::to_string(pid) + "/syscall"));
    std::vector<unsigned long> args;
    std::string nr, arg;
    if (!(in >> nr) || nr == "running") return args;
    while (args.size() < 3 && in >> arg)
        args.push_back(std::stoul(arg, nullptr, 16));
    return args;
}

// Blocked in ppoll() with no descriptor to watch: waiting for SIGCHLD (or its 1-s back-off).
bool waiting_for_a_child(pid_t server) {
    return wait_until([&] {
        auto args = syscall_args(server);
        return harness::current_syscall(server) == SYS_ppoll && args.size() >= 2 && args[1] == 0;
    });
}

TEST(Ch10MpServ, FiftyClientsStalledMidLineHoldOnlyTheirOwnChildren) {
    Process server(PROG_echo_mpserv, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    constexpr int kStalled = 50;
    std::vector<common::Fd> stalled;
    for (int i = 0; i < kStalled; ++i) {
        stalled.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(stalled.back()) << strerror(errno);
        ASSERT_TRUE(harness::send_all(stalled.back().get(), "half a li"));
    }
    // An echo server knows no lines: each child echoes what came, then waits in read().
    for (auto& fd : stalled)
        ASSERT_EQ(harness::recv_exact(fd.get(), 9), "half a li");
    common::Fd other = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(other) << strerror(errno);
    ASSERT_TRUE(harness::send_all(other.get(), "a whole line\n"));
    EXPECT_EQ(harness::recv_exact(other.get(), 13), "a whole line\n");
    ServerLog log;
    ASSERT_TRUE(log.read_until(server, kStalled + 1, 0)) << server.out();
    EXPECT_EQ(children_of(server.pid()).size(), size_t(kStalled + 1));
    for (auto& fd : stalled) {  // whenever they go on, each is served where it stopped
        ASSERT_TRUE(harness::send_all(fd.get(), "ne\n"));
        ASSERT_EQ(harness::recv_exact(fd.get(), 3), "ne\n");
    }
}

TEST(Ch10MpServ, ATricklingClientHoldsOnlyItsOwnChild) {
    Process server(PROG_echo_mpserv, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    common::Fd slow = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(slow) << strerror(errno);
    int on = 1;  // each byte its own segment
    setsockopt(slow.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    const std::string line = "one byte at a time\n";
    int quick_clients = 0;
    for (size_t i = 0; i < line.size(); ++i) {
        ASSERT_TRUE(harness::send_all(slow.get(), line.substr(i, 1)));
        ASSERT_EQ(harness::recv_exact(slow.get(), 1), line.substr(i, 1));
        if (i % 6 != 0) continue;
        // Between two of its bytes, another client comes, is served and leaves.
        common::Fd quick = harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(quick) << strerror(errno);
        ASSERT_TRUE(harness::send_all(quick.get(), "quick\n"));
        ASSERT_EQ(harness::recv_exact(quick.get(), 6), "quick\n");
        ++quick_clients;
    }
    ServerLog log;
    ASSERT_TRUE(log.read_until(server, 1 + quick_clients, quick_clients)) << server.out();
    EXPECT_EQ(children_of(server.pid()).size(), 1u) << "the trickling client's child";
}

// A pids cgroup that has room for the server and 3 children only: fork() fails with EAGAIN.
// That costs the one client being forked for (closed, one line on stderr); the clients after
// it wait in the backlog, without a busy loop, until a child ends; then they are served.
TEST(Ch10MpServ, AtTheProcessLimitOneClientIsDroppedTheNextWaitUntilAChildEnds) {
    harness::PidsCgroup cg(1000);
    if (!cg.ok()) GTEST_SKIP() << cg.why();
    Process server(PROG_echo_mpserv, {"0"}, {.cgroup = cg.path()});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    constexpr int kServed = 3;
    std::vector<common::Fd> served;
    for (int i = 0; i < kServed; ++i) {
        served.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(served.back()) << strerror(errno);
        ASSERT_TRUE(harness::send_all(served.back().get(), "served\n"));
        ASSERT_EQ(harness::recv_exact(served.back().get(), 7), "served\n");
    }
    ServerLog log;
    ASSERT_TRUE(log.read_until(server, kServed, 0)) << server.out();
    // Now full: the server and its children (under ThreadSanitizer, their helper threads too).
    const long full = cg.current();
    harness::write_file(cg.path() + "/pids.max", std::to_string(full));
    ASSERT_EQ(harness::read_file(cg.path() + "/pids.max"), std::to_string(full) + "\n");

    common::Fd dropped = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(dropped) << strerror(errno);
    ASSERT_TRUE(harness::send_all(dropped.get(), "dropped\n"));
    auto end = harness::recv_to_end(dropped.get());
    EXPECT_EQ(end.data, "");
    EXPECT_NE(end.end, harness::End::kDeadline) << "the client beyond the limit was not closed";
    EXPECT_EQ(server.read_err_line(),
              "echo_mpserv: fork: Resource temporarily unavailable: client " +
                  local_address(dropped.get()) +
                  " dropped; the next clients wait until a child ends");
    EXPECT_GE(cg.denied(), 1);

    common::Fd waiting = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(waiting) << strerror(errno);
    ASSERT_TRUE(harness::send_all(waiting.get(), "waiting\n"));
    ASSERT_TRUE(waiting_for_a_child(server.pid()))
        << "not waiting in ppoll(): "
        << harness::read_file("/proc/" + std::to_string(server.pid()) + "/syscall") << server.err();
    // The window in which nothing may happen (timing is the lesson here): no second client
    // dropped, no answer, no CPU burnt.
    long ticks_before = harness::cpu_ticks(server.pid());
    EXPECT_EQ(server.read_err_line(Deadline(1s)), std::nullopt);
    long ticks = harness::cpu_ticks(server.pid()) - ticks_before;
    EXPECT_LE(ticks, 5) << "a busy loop while it waits";
    pollfd p{waiting.get(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 0), 0) << "the waiting client was answered (or dropped) already";

    served[0].reset();  // one client leaves: its child ends and frees its place
    std::string partial;
    EXPECT_EQ(harness::recv_exact(waiting.get(), 8, {}, &partial), "waiting\n") << partial;
    ASSERT_TRUE(log.read_until(server, kServed + 1, 1)) << server.out();
    EXPECT_TRUE(server.running());
}

// The parent closes each client's socket right after fork(): it holds 4 descriptors (0-2 and
// the listening socket) however many clients it serves, and each child has a table of its
// own, so `prlimit --nofile=32` does not limit the clients.  accept() fails with EMFILE only
// if the parent has no free slot at all: here the test lowers the running server's limit to 3.
// The server must wait without spinning, say so once, and resume when a descriptor is free.
TEST(Ch10MpServ, AtTheDescriptorLimitItWaitsWithoutSpinningAndResumes) {
    SOCKLAB_REQUIRE_TOOL("prlimit");
    Process server("prlimit", {"--nofile=32:32", "--", PROG_echo_mpserv, "0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    constexpr int kServed = 40;  // more than the limit
    std::vector<common::Fd> served;
    for (int i = 0; i < kServed; ++i) {
        served.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(served.back()) << strerror(errno);
        ASSERT_TRUE(harness::send_all(served.back().get(), "served\n"));
    }
    for (auto& fd : served)
        ASSERT_EQ(harness::recv_exact(fd.get(), 7), "served\n");

    ASSERT_TRUE(wait_until([&] {
        long nr = harness::current_syscall(server.pid());
        return nr == SYS_accept || nr == SYS_accept4;
    }));
    // Soft limit 3: a new descriptor needs a free number below 3, and 0-2 are open.  (The
    // hard limit stays: raising it again would need CAP_SYS_RESOURCE.)
    rlimit none{3, 32};
    ASSERT_EQ(prlimit(server.pid(), RLIMIT_NOFILE, &none, nullptr), 0) << strerror(errno);
    // The accept() the server is blocked in took its descriptor number before it began to
    // wait: one more client still gets in.  The next accept() fails with EMFILE.
    common::Fd last = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(last) << strerror(errno);
    ASSERT_TRUE(harness::send_all(last.get(), "last\n"));
    ASSERT_EQ(harness::recv_exact(last.get(), 5), "last\n");
    constexpr int kWaiting = 5;
    std::vector<common::Fd> waiting;  // the kernel completes their handshakes: the backlog
    for (int i = 0; i < kWaiting; ++i) {
        waiting.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(waiting.back()) << strerror(errno);
        if (i > 0) {
            ASSERT_TRUE(harness::send_all(waiting.back().get(), "waiting\n"));
        }
    }
    auto line = server.read_err_line();
    ASSERT_TRUE(line) << "no line about the limit";
    EXPECT_TRUE(line->starts_with("echo_mpserv: accept: Too many open files: ")) << *line;
    // One of them gives up with a reset, before it sent anything, while it waits.  Linux keeps
    // it in the backlog (Berkeley-derived kernels drop it, UNP 5.11): accept() returns it later,
    // and its child's first read() fails with ECONNRESET.
    linger abort{.l_onoff = 1, .l_linger = 0};
    ASSERT_EQ(setsockopt(waiting[0].get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
    waiting[0].reset();

    ASSERT_TRUE(waiting_for_a_child(server.pid())) << server.err();
    long ticks_before = harness::cpu_ticks(server.pid());
    EXPECT_EQ(server.read_err_line(Deadline(2s)), std::nullopt);  // said once
    long ticks = harness::cpu_ticks(server.pid()) - ticks_before;
    EXPECT_LE(ticks, 10) << "a busy loop while it cannot accept";
    for (size_t i = 1; i < waiting.size(); ++i) {
        pollfd p{waiting[i].get(), POLLIN, 0};
        EXPECT_EQ(poll(&p, 1, 0), 0) << "waiting client " << i << " answered while at the limit";
    }
    ASSERT_TRUE(harness::send_all(served[7].get(), "still\n"));  // the children serve on
    EXPECT_EQ(harness::recv_exact(served[7].get(), 6), "still\n");

    rlimit back{32, 32};
    ASSERT_EQ(prlimit(server.pid(), RLIMIT_NOFILE, &back, nullptr), 0) << strerror(errno);
    for (size_t i = 1; i < waiting.size(); ++i)
        EXPECT_EQ(harness::recv_exact(waiting[i].get(), 8), "waiting\n") << "waiting client " << i;
    std::optional<std::string> reset_line;
    while ((reset_line = server.read_err_line()) &&
           reset_line->find("read:") == std::string::npos) {
    }
    ASSERT_TRUE(reset_line) << server.err();
    EXPECT_TRUE(std::regex_match(
        *reset_line, std::regex(R"(echo_mpserv: proc id \d+: read: Connection reset by peer)")))
        << *reset_line;
    server.signal(SIGTERM);
    ASSERT_TRUE(server.wait_exit());
    size_t said = 0;
    for (const std::string& l : harness::lines(server.err()))
        said += l.find("Too many open files") != std::string::npos;
    EXPECT_EQ(said, 1u) << server.err();
}

// Why the child must close the listening socket: the kernel closes a socket when its LAST
// descriptor is closed.  Kill the parent, and the children serving clients live on; had they
// kept the listening socket, new clients would still be queued on it and never accepted.
TEST(Ch10MpServ, ChildrenHoldNoListeningSocketSoAKilledServerFreesItsPort) {
    Process server(PROG_echo_mpserv, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    common::Fd client = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(client) << strerror(errno);
    ASSERT_TRUE(harness::send_all(client.get(), "a"));
    ASSERT_EQ(harness::recv_exact(client.get(), 1), "a");

    server.signal(SIGKILL);  // the parent only; its child stays
    ASSERT_TRUE(server.wait_exit());
    ASSERT_TRUE(harness::send_all(client.get(), "b"));
    EXPECT_EQ(harness::recv_exact(client.get(), 1), "b") << "the child serves on";

    common::Fd late = harness::connect_tcp("127.0.0.1", port);
    EXPECT_FALSE(late) << "a child still holds the listening socket";
    EXPECT_EQ(errno, ECONNREFUSED) << strerror(errno);
}  // ~Process kills the orphaned child with the rest of the process group

TEST(Ch10MpServ, StraceShowsWhoClosesWhichSocketAndAcceptRestartedAfterSigchld) {
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::TempDir dir;
    // -ff: one file per process, trace.PID.
    Process tracer("strace",
                   {"-ff", "-o", dir.file("trace"), "-e",
                    "trace=listen,accept,accept4,close,clone,clone3,fork,vfork,rt_sigreturn",
                    PROG_echo_mpserv, "0"},
                   harness::traced());
    int port = tracer.wait_ready();
    ASSERT_GT(port, 0);
    auto traced = children_of(tracer.pid());
    ASSERT_EQ(traced.size(), 1u) << describe(traced);
    const pid_t server = traced[0].pid;

    ServerLog log;
    {
        common::Fd one = harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(one) << strerror(errno);
        ASSERT_TRUE(harness::send_all(one.get(), "1"));
        ASSERT_EQ(harness::recv_exact(one.get(), 1), "1");
        ASSERT_TRUE(log.read_until(tracer, 1, 0));
        // Wait until the parent is blocked in accept() again, so the SIGCHLD of client 1's
        // child interrupts it.  /proc/PID/syscall starts with the number of the system call
        // a blocked process is in.
        const std::string path = "/proc/" + std::to_string(server) + "/syscall";
        ASSERT_TRUE(wait_until([&] {
            std::istringstream fields(harness::read_file(path));
            long nr = -1;
            fields >> nr;
            return nr == SYS_accept || nr == SYS_accept4;
        })) << harness::read_file(path);
    }  // client 1 closes: its child exits
    ASSERT_TRUE(log.read_until(tracer, 1, 1)) << tracer.out();
    {
        common::Fd two = harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(two) << strerror(errno);
        ASSERT_TRUE(harness::send_all(two.get(), "2"));
        ASSERT_EQ(harness::recv_exact(two.get(), 1), "2");
    }
    ASSERT_TRUE(log.read_until(tracer, 2, 2)) << tracer.out();
    ASSERT_EQ(kill(server, SIGTERM), 0);  // strace exits when its last tracee has
    ASSERT_TRUE(tracer.wait_exit());

    auto traces = harness::strace_ff(dir);
    ASSERT_EQ(traces.count(server), 1u);
    const std::vector<Call>& parent = traces[server];
    auto listen_call = std::find_if(parent.begin(), parent.end(),
                                    [](const Call& c) { return c.name == "listen"; });
    ASSERT_NE(listen_call, parent.end()) << dump(parent);
    const int listen_fd = listen_call->fd;

    // Parent: accept() = client socket, fork (clone) = child, close(client socket).
    std::vector<int> client_fds;
    std::vector<pid_t> forked;
    bool interrupted = false, accepted_after_interrupt = false;
    for (auto c = listen_call + 1; c != parent.end(); ++c) {
        if ((c->name == "accept" || c->name == "accept4") && c->fd == listen_fd) {
            if (c->result == "?" || c->result == "-1") interrupted = true;
            if (c->result != "?" && c->result != "-1") {
                client_fds.push_back(std::stoi(c->result));
                if (interrupted) accepted_after_interrupt = true;
            }
        }
        // fork() is clone() with exit signal SIGCHLD (a sanitizer's helper thread is not).
        bool is_fork = c->name.ends_with("fork") || (c->name.starts_with("clone") &&
                                                     c->text.find("SIGCHLD") != std::string::npos);
        if (is_fork) forked.push_back(std::stoi(c->result));
        EXPECT_FALSE(c->name == "close" && c->fd == listen_fd) << "the parent closed listen_fd";
    }
    ASSERT_EQ(client_fds.size(), 2u) << dump(parent);
    ASSERT_EQ(forked.size(), 2u) << dump(parent);
    for (int fd : client_fds) {
        EXPECT_TRUE(std::any_of(
            parent.begin(), parent.end(),
            [&](const Call& c) { return c.name == "close" && c.fd == fd && c.result == "0"; }))
            << "the parent never closed client socket " << fd << "\n"
            << dump(parent);
    }
    // accept() = ? ERESTARTSYS, the SIGCHLD handler, rt_sigreturn = -1 EINTR, accept() again.
    EXPECT_TRUE(interrupted) << dump(parent);
    EXPECT_TRUE(accepted_after_interrupt) << dump(parent);

    // Each child: close(listening socket) first, never accept(), close(its client socket).
    for (size_t i = 0; i < forked.size(); ++i) {
        ASSERT_EQ(traces.count(forked[i]), 1u) << "no trace of child " << forked[i];
        const std::vector<Call>& child = traces[forked[i]];
        auto first_close = std::find_if(child.begin(), child.end(),
                                        [](const Call& c) { return c.name == "close"; });
        ASSERT_NE(first_close, child.end()) << dump(child);
        EXPECT_EQ(first_close->fd, listen_fd) << dump(child);
        EXPECT_EQ(first_close->result, "0") << dump(child);
        EXPECT_TRUE(std::none_of(child.begin(), child.end(),
                                 [](const Call& c) { return c.name.starts_with("accept"); }));
        EXPECT_TRUE(std::any_of(child.begin(), child.end(), [&](const Call& c) {
            return c.name == "close" && c.fd == client_fds[i] && c.result == "0";
        })) << dump(child);
    }
}

TEST(Ch10MpServ, SocatClientsAreEchoedConcurrently) {
    SOCKLAB_REQUIRE_TOOL("socat");
    Process server(PROG_echo_mpserv, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    // Three socat clients connected at once; each half-closes at the end of its stdin and
    // waits (-t 30) for the echo to end.
    std::vector<Process> peers;
    for (int i = 0; i < 3; ++i)
        peers.emplace_back("socat", std::vector<std::string>{
                                        "-t", "30", "-", "TCP:127.0.0.1:" + std::to_string(port)});
    ServerLog log;
    ASSERT_TRUE(log.read_until(server, 3, 0)) << server.out();
    for (int i = 0; i < 3; ++i) {
        std::string payload = harness::random_bytes(256 << 10, 30 + i);
        ASSERT_TRUE(peers[i].write_stdin(payload, Deadline(30s)));
        peers[i].close_stdin();
        auto status = peers[i].finish(Deadline(30s));
        ASSERT_TRUE(status) << "socat did not finish";
        EXPECT_TRUE(harness::exited_with(*status, 0)) << peers[i].err();
        EXPECT_TRUE(peers[i].out() == payload)
            << harness::first_difference(peers[i].out(), payload);
    }
    ASSERT_TRUE(log.read_until(server, 3, 3)) << server.out();
}

TEST(Ch10MpServ, ServesIpv6Clients) {
    Process server(PROG_echo_mpserv, {"0"}, {.bind = "::1"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    EXPECT_EQ(server.out(), "listening on [::1]:" + std::to_string(port) + "\n");
    auto r = harness::run(PROG_echo_mpclient, {"::1", std::to_string(port)}, "over IPv6\n");
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, kMsg + "over IPv6\n");
    ServerLog log;
    ASSERT_TRUE(log.read_until(server, 1, 1)) << server.out();
    EXPECT_TRUE(log.connected.begin()->second.starts_with("[::1]:"));
}

// ---- echo_mpclient ---------------------------------------------------------------------------

std::string numbered_lines(int n) {
    std::string text;
    for (int i = 1; i <= n; ++i)
        text += "line " + std::to_string(i) + " " +
                std::string(static_cast<size_t>(i % 151), static_cast<char>('a' + i % 26)) + "\n";
    return text;
}

TEST(Ch10MpClient, FiveThousandPipedLinesComeBackInOrderThenItExits) {
    Process server(PROG_echo_mpserv, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    std::string input = numbered_lines(5000);
    std::string expected;
    for (const std::string& line : harness::lines(input))
        expected += kMsg + line + "\n";
    auto r =
        harness::run(PROG_echo_mpclient, {"127.0.0.1", std::to_string(port)}, input, Deadline(60s));
    ASSERT_FALSE(r.timed_out) << "echo_mpclient did not exit";
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(harness::lines(r.out).size(), 5000u);
    EXPECT_TRUE(r.out == expected) << harness::first_difference(r.out, expected);
    EXPECT_EQ(r.err, "");
    ServerLog log;
    EXPECT_TRUE(log.read_until(server, 1, 1)) << server.out();
}

TEST(Ch10MpClient, WriterChildHalfClosesAndTheReaderReapsIt) {
    SOCKLAB_REQUIRE_TOOL("strace");
    Process server(PROG_echo_mpserv, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    harness::TempDir dir;
    auto r = harness::run("strace",
                          {"-ff", "-o", dir.file("trace"), "-e", "trace=shutdown,close,kill,wait4",
                           PROG_echo_mpclient, "127.0.0.1", std::to_string(port)},
                          "one\ntwo\nq\nnot sent\n", Deadline(), harness::traced());
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, kMsg + "one\n" + kMsg + "two\n");

    // One file per process (and, under ThreadSanitizer, one for its helper thread).
    auto traces = harness::strace_ff(dir);
    pid_t reader = 0, writer = 0;
    for (const auto& [pid, calls] : traces) {
        for (const Call& c : calls) {
            if (c.name == "wait4") reader = pid;
            if (c.name == "shutdown") writer = pid;
        }
    }
    ASSERT_NE(reader, 0) << "nobody reaped the writer";
    ASSERT_NE(writer, 0) << "nobody called shutdown()";
    ASSERT_NE(reader, writer);
    const auto& w = traces[writer];
    const auto& p = traces[reader];
    EXPECT_TRUE(std::any_of(w.begin(), w.end(), [](const Call& c) {
        return c.name == "shutdown" && c.result == "0" &&
               c.text.find("SHUT_WR") != std::string::npos;
    })) << dump(w);
    EXPECT_TRUE(
        std::none_of(p.begin(), p.end(), [](const Call& c) { return c.name == "shutdown"; }))
        << "the reader must not shut down the connection\n"
        << dump(p);
    const std::string w_pid = std::to_string(writer);
    EXPECT_TRUE(std::any_of(p.begin(), p.end(),
                            [&](const Call& c) { return c.name == "wait4" && c.result == w_pid; }))
        << "the reader reaps the writer\n"
        << dump(p);
}

TEST(Ch10MpClient, WorksAgainstSocatAsTheServer) {
    SOCKLAB_REQUIRE_TOOL("socat");
    // PIPE echoes what socat writes into it.  -t 30: after our half-close, socat waits up to
    // 30 s for the pipe to drain before it closes.
    Process socat("socat",
                  {"-d", "-d", "-t", "30", "TCP-LISTEN:0,bind=127.0.0.1,reuseaddr", "PIPE"});
    int port = 0;
    while (auto line = socat.read_err_line()) {
        if (line->find("listening on AF=2 127.0.0.1:") == std::string::npos) continue;
        port = std::stoi(line->substr(line->rfind(':') + 1));
        break;
    }
    ASSERT_GT(port, 0) << "socat did not log its port:\n" << socat.err();
    std::string input = numbered_lines(200);
    std::string expected;
    for (const std::string& line : harness::lines(input))
        expected += kMsg + line + "\n";
    auto r = harness::run(PROG_echo_mpclient, {"127.0.0.1", std::to_string(port)}, input);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_TRUE(r.out == expected) << harness::first_difference(r.out, expected);
}

TEST(Ch10MpClient, ServerThatClosesFirstIsReportedAndNothingHangs) {
    harness::Listener listener = harness::listen_loopback();
    ASSERT_GT(listener.port, 0);
    Process client(PROG_echo_mpclient, {"127.0.0.1", std::to_string(listener.port)});
    common::Fd conn = harness::accept_within(listener.fd.get());
    ASSERT_TRUE(conn) << "the client did not connect";
    ASSERT_TRUE(client.write_stdin("hello\n"));
    ASSERT_EQ(harness::recv_exact(conn.get(), 6), "hello\n");
    ASSERT_TRUE(harness::send_all(conn.get(), "hello\n"));
    EXPECT_EQ(client.read_line(), kMsg + "hello");
    conn.reset();  // the server goes away; the writer still waits for input (stdin open)

    auto status = client.finish();
    ASSERT_TRUE(status) << "echo_mpclient hangs after the server closed";
    EXPECT_TRUE(harness::exited_with(*status, 1)) << harness::describe_status(*status);
    EXPECT_EQ(client.err(),
              "echo_mpclient: the server closed the connection before the end of input\n");
}

// ---- Bad usage and faults ----------------------------------------------------------------

TEST(Ch10Errors, BadUsageGivesOneLineAndExitTwo) {
    harness::expect_usage_errors({
        {PROG_fork_demo, {"x"}, 2, "usage: fork_demo (no arguments)\n"},
        {PROG_zombie, {"--seconds"}, 2, "usage: zombie [--seconds N]\n"},
        {PROG_zombie,
         {"--seconds", "0"},
         2,
         "zombie: invalid --seconds '0' (expected 1 to 3600)\n"},
        {PROG_wait_demo,
         {"--child-seconds", "61"},
         2,
         "wait_demo: invalid --child-seconds '61' (expected 0 to 60)\n"},
        {PROG_waitpid_demo,
         {"--poll-ms", "5"},
         2,
         "waitpid_demo: invalid --poll-ms '5' (expected 10 to 10000)\n"},
        {PROG_waitpid_demo,
         {"--bogus", "1"},
         2,
         "usage: waitpid_demo [--child-seconds N] [--poll-ms M]\n"},
        {PROG_signal_demo,
         {"--alarm", "abc"},
         2,
         "signal_demo: invalid --alarm 'abc' (expected 1 to 60)\n"},
        {PROG_sigaction_demo, {"--alarm"}, 2, "usage: sigaction_demo [--alarm N] [--oneshot]\n"},
        {PROG_remove_zombie, {"extra"}, 2, "usage: remove_zombie [--seconds N]\n"},
        {PROG_echo_mpserv, {}, 2, "usage: echo_mpserv PORT\n"},
        {PROG_echo_mpserv, {"0", "extra"}, 2, "usage: echo_mpserv PORT\n"},
        {PROG_echo_mpclient, {"127.0.0.1"}, 2, "usage: echo_mpclient HOST PORT\n"},
    });
}

TEST(Ch10Errors, BadPortGivesOneLineAndExitTwo) {
    harness::expect_usage_errors({
        {PROG_echo_mpserv,
         {"70000"},
         2,
         "echo_mpserv: invalid port '70000': out of range (expected 0 to 65535)\n"},
        {PROG_echo_mpclient,
         {"127.0.0.1", "abc"},
         2,
         "echo_mpclient: invalid port 'abc': not a decimal number (expected 0 to 65535)\n"},
    });
}

TEST(Ch10Errors, UnknownHostAndRefusedConnectionGiveOneLineAndExitOne) {
    auto unknown = harness::run(PROG_echo_mpclient, {"nosuch.invalid", "9190"});
    EXPECT_EQ(unknown.exit_code(), 1);
    EXPECT_EQ(harness::lines(unknown.err).size(), 1u) << unknown.err;
    EXPECT_TRUE(unknown.err.starts_with("echo_mpclient: cannot resolve 'nosuch.invalid': "))
        << unknown.err;

    harness::Listener reserved = harness::refused_port();
    ASSERT_GT(reserved.port, 0);
    const std::string port = std::to_string(reserved.port);
    auto refused = harness::run(PROG_echo_mpclient, {"127.0.0.1", port});
    EXPECT_EQ(refused.exit_code(), 1);
    EXPECT_EQ(refused.err,
              "echo_mpclient: connect to 127.0.0.1 port " + port + ": Connection refused\n");
    EXPECT_EQ(refused.out, "");
}

}  // namespace
