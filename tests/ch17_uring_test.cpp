// ch17, the step after epoll: echo_uringserv, the echo server on io_uring.
//
// What these tests prove, with the server run as a real process over loopback:
//   - every byte comes back, in order, for messages of every size around its 2 KiB buffers,
//     for a 4 MiB transfer, and for 100 clients whose messages interleave;
//   - 10,000 concurrent connections (echo_bench checks every byte), every descriptor released;
//   - clients reset mid-echo or in the backlog cost only their connection;
//   - a client that sends 8 MiB and never reads stalls nobody, its bytes wait in the kernel
//     (the server stops receiving from it), the server's peak memory stays put, and it gets all
//     8 MiB back once it reads;
//   - at a descriptor limit of 64 with 100 clients it serves whom it can, uses no CPU while it
//     waits (the multishot accept is not re-armed), and serves the others as clients leave;
//   - the evidence for io_uring: under the same load it enters the kernel less than half as
//     often per message as echo_epollserv, and only through io_uring_enter (no recv/send/epoll);
//   - socat as a peer; bad usage; a kernel without io_uring is one line and status 1.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <iterator>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "kit.hpp"
#include "proc.hpp"

namespace {

using namespace std::chrono_literals;
using harness::Deadline;
using harness::open_fds;
using harness::Process;

#ifdef PROG_echo_uringserv
const std::string kUring = PROG_echo_uringserv;
#else
const std::string kUring;  // liburing-dev was missing when the build was configured
#endif

#define REQUIRE_URING()                                                                   \
    do {                                                                                  \
        if (kUring.empty()) {                                                             \
            if (harness::peers_required()) FAIL() << "echo_uringserv was not built";      \
            GTEST_SKIP() << "echo_uringserv is not built (apt-get install liburing-dev)"; \
        }                                                                                 \
    } while (0)

// The server, started and ready on PORT.
struct Uring {
    Process server;
    int port;
    explicit Uring(std::vector<std::string> pre = {})
        : server(pre.empty() ? kUring : pre[0], with_server(pre)), port(server.wait_ready()) {}
    static std::vector<std::string> with_server(std::vector<std::string> pre) {
        if (!pre.empty()) pre.erase(pre.begin());
        pre.push_back(kUring);
        pre.push_back("0");
        if (pre.size() == 2) pre.erase(pre.begin());  // no wrapper: just "0"
        return pre;
    }
};

common::Fd client(int port) {
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    EXPECT_TRUE(fd) << strerror(errno);
    return fd;
}

// A different message for every client I and round R.
std::string message(int i, int r, size_t size) {
    return harness::random_bytes(size, static_cast<unsigned>(i * 1000 + r + 1));
}

TEST(Ch17Uring, EveryMessageSizeAndAFourMiBTransferComeBackByteExact) {
    REQUIRE_URING();
    Uring u;
    ASSERT_GT(u.port, 0);
    common::Fd fd = client(u.port);
    // Around the 2 KiB buffer: one buffer, two, a buffer and a byte; and beyond the 64 KiB
    // a client may have waiting (the server stops receiving and resumes as it sends).
    for (size_t size : {1, 63, 64, 2047, 2048, 2049, 4096, 65535, 65536, 65537, 300000}) {
        std::string m = message(1, static_cast<int>(size), size);
        ASSERT_TRUE(harness::send_all(fd.get(), m));
        std::string back = harness::recv_exact(fd.get(), size).value_or("");
        ASSERT_TRUE(back == m) << size << ": " << harness::first_difference(back, m);
    }
    // 4 MiB, sent by one thread while this one reads.
    const std::string big = harness::random_bytes(4 << 20, 3);
    std::thread sender([&] { harness::send_all(fd.get(), big); });
    std::string back = harness::recv_exact(fd.get(), big.size(), Deadline(30s)).value_or("");
    sender.join();
    EXPECT_TRUE(back == big) << harness::first_difference(back, big);
    EXPECT_TRUE(u.server.running()) << u.server.err();
}

TEST(Ch17Uring, HundredClientsWhoseMessagesInterleaveEachGetTheirOwnBytes) {
    REQUIRE_URING();
    Uring u;
    ASSERT_GT(u.port, 0);
    const int base = open_fds(u.server.pid());
    std::vector<common::Fd> fds;
    for (int i = 0; i < 100; ++i)
        fds.push_back(client(u.port));
    for (int r = 0; r < 10; ++r) {
        for (int i = 0; i < 100; ++i)  // everybody sends, then everybody reads
            ASSERT_TRUE(harness::send_all(fds[i].get(), message(i, r, 100 + 37 * r)));
        for (int i = 0; i < 100; ++i)
            ASSERT_EQ(harness::recv_exact(fds[i].get(), 100 + 37 * r), message(i, r, 100 + 37 * r))
                << "client " << i << " round " << r;
    }
    EXPECT_EQ(open_fds(u.server.pid()), base + 100);
    fds.clear();
    EXPECT_TRUE(harness::wait_until([&] { return open_fds(u.server.pid()) == base; }))
        << open_fds(u.server.pid()) << " descriptors open, " << base << " at the start";
}

// echo_bench sets up N connections (each one echo), then all echo for a second, every byte
// checked; it says READY when all are set up, and the server then holds all N.
TEST(Ch17Uring, TenThousandConcurrentConnectionsEchoByteExact) {
    REQUIRE_URING();
    // ThreadSanitizer's shadow memory makes each connection of the test's peer costlier.
    const int n = harness::sanitizer() == "thread" ? 2000 : 10000;
    if (!harness::raise_nofile(n + 100)) GTEST_SKIP() << "cannot raise RLIMIT_NOFILE here";
    Uring u;
    ASSERT_GT(u.port, 0);
    const int base = open_fds(u.server.pid());
    Process bench(PROG_echo_bench, {"127.0.0.1", std::to_string(u.port), "--conns",
                                    std::to_string(n), "--seconds", "1", "--wait-start"});
    auto ready = bench.wait_for_line("READY", Deadline(60s));
    ASSERT_TRUE(ready) << bench.err();
    EXPECT_EQ(open_fds(u.server.pid()), base + n) << "the server does not hold them all at once";
    bench.close_stdin();
    auto status = bench.finish(Deadline(60s));
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << bench.out() << bench.err();
    EXPECT_NE(bench.out().find(" failed=0 "), std::string::npos) << bench.out();
    EXPECT_TRUE(
        harness::wait_until([&] { return open_fds(u.server.pid()) == base; }, Deadline(30s)))
        << open_fds(u.server.pid()) << " descriptors open, " << base << " at the start";
    EXPECT_TRUE(u.server.running()) << u.server.err();
}

// RST mid-echo (SO_LINGER {on, 0}: close() sends RST, drops what is unsent), 50 times; and
// two connections reset while waiting in the backlog (the server stopped meanwhile).
TEST(Ch17Uring, ClientsResetMidEchoOrInTheBacklogCostOnlyTheirConnection) {
    REQUIRE_URING();
    Uring u;
    ASSERT_GT(u.port, 0);
    const int base = open_fds(u.server.pid());
    const linger reset{.l_onoff = 1, .l_linger = 0};
    const std::string payload = harness::random_bytes(256 << 10, 7);
    for (int i = 0; i < 50; ++i) {
        common::Fd fd = client(u.port);
        ASSERT_TRUE(harness::send_all(fd.get(), payload));
        pollfd p{fd.get(), POLLIN, 0};
        ASSERT_EQ(poll(&p, 1, Deadline().ms_left()), 1) << "no echo from the server";
        ASSERT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
    }
    u.server.signal(SIGSTOP);
    ASSERT_TRUE(harness::wait_until([&] {
        auto st = harness::proc_stat(u.server.pid());
        return st && st->state == 'T';
    }));
    for (std::string data : {"", "echo me"}) {
        common::Fd doomed = client(u.port);  // the kernel completes the handshake
        ASSERT_TRUE(harness::send_all(doomed.get(), data));
        ASSERT_EQ(setsockopt(doomed.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
    }
    u.server.signal(SIGCONT);
    common::Fd fd = client(u.port);
    ASSERT_TRUE(harness::send_all(fd.get(), "still here"));
    EXPECT_EQ(harness::recv_exact(fd.get(), 10), "still here");
    fd.reset();
    EXPECT_TRUE(harness::wait_until([&] { return open_fds(u.server.pid()) == base; }))
        << open_fds(u.server.pid()) << " descriptors open, " << base << " at the start";
    EXPECT_TRUE(u.server.running()) << u.server.err();
}

// The flooder sends 8 MiB as fast as its kernel takes them and reads nothing.  Without a cap
// on what a client may have waiting, the server would keep receiving into its buffers: its
// memory would grow with the flood, and the others would find no buffer left.
TEST(Ch17Uring, ClientThatNeverReadsStallsNobodyAndMemoryStaysBounded) {
    REQUIRE_URING();
    Uring u;
    ASSERT_GT(u.port, 0);
    std::vector<common::Fd> others;
    for (int i = 0; i < 10; ++i)
        others.push_back(client(u.port));
    long slowest_ms = 0;
    auto round_trips = [&](int rounds) {
        for (int r = 0; r < rounds; ++r)
            for (size_t i = 0; i < others.size(); ++i) {
                std::string m = message(static_cast<int>(i), r, 64);
                auto t0 = harness::Clock::now();
                ASSERT_TRUE(harness::send_all(others[i].get(), m));
                ASSERT_EQ(harness::recv_exact(others[i].get(), 64, Deadline(5s)), m);
                slowest_ms = std::max<long>(slowest_ms,
                                            std::chrono::duration_cast<std::chrono::milliseconds>(
                                                harness::Clock::now() - t0)
                                                .count());
            }
    };
    round_trips(5);
    if (HasFatalFailure()) return;
    const long hwm_before = harness::status_value(u.server.pid(), "VmHWM");

    const std::string flood = harness::random_bytes(8 << 20, 8);
    common::Fd flooder = harness::connect_small_rcvbuf(u.port);
    ASSERT_TRUE(flooder);
    fcntl(flooder.get(), F_SETFL, fcntl(flooder.get(), F_GETFL) | O_NONBLOCK);
    size_t sent = 0;
    auto push = [&] {
        while (sent < flood.size()) {
            ssize_t n = send(flooder.get(), flood.data() + sent, flood.size() - sent, MSG_NOSIGNAL);
            if (n == -1) return;
            sent += static_cast<size_t>(n);
        }
    };
    // Push until the flood stops moving: nothing more leaves the flooder, and bytes wait in
    // the server socket's receive queue (ss's Recv-Q), round after round of the others'.
    const int flooder_port = harness::local_port(flooder.get());
    int still = 0;
    long queued = 0;
    for (Deadline d(30s); still < 20 && !d.expired();) {
        size_t before = sent;
        push();
        int unsent = 0;
        ioctl(flooder.get(), SIOCOUTQNSD, &unsent);
        long q = harness::tcp_recv_queue(u.port, flooder_port);
        still = sent == before && unsent > 0 && q > 0 && q == queued ? still + 1 : 0;
        queued = q;
        round_trips(1);
        if (HasFatalFailure()) return;
    }
    EXPECT_EQ(still, 20) << "the flood never stopped moving: " << sent << " bytes sent";
    round_trips(20);
    if (HasFatalFailure()) return;
    EXPECT_GT(harness::tcp_recv_queue(u.port, flooder_port), 0)
        << "the server did not leave the flood in the kernel";
    EXPECT_LT(slowest_ms, harness::scaled(1000ms).count()) << "others were slowed down";
    long grown = harness::status_value(u.server.pid(), "VmHWM") - hwm_before;
    // Its buffers are the server's memory for data: 4,096 of 2 KiB, touched as the ring turns.
    // The flood may touch them all over time; it cannot make the server take more.
    EXPECT_LT(grown, 9 << 10) << "the server's peak RSS grew by " << grown << " KiB after " << sent
                              << " bytes from a client that does not read";
    std::cout << "flooder sent " << sent << " bytes before it stuck; server peak RSS grew " << grown
              << " KiB; slowest other round trip " << slowest_ms << " ms\n";

    // Nothing was lost: now it reads, and gets all 8 MiB back.
    std::string back;
    std::vector<char> buf(1 << 16);
    for (Deadline d(30s); back.size() < flood.size() && !d.expired();) {
        push();
        pollfd p{flooder.get(), POLLIN, 0};
        poll(&p, 1, 100);
        ssize_t n = recv(flooder.get(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (n > 0) back.append(buf.data(), static_cast<size_t>(n));
        if (n == 0) break;
    }
    EXPECT_TRUE(back == flood) << harness::first_difference(back, flood);
}

TEST(Ch17Uring, AtTheDescriptorLimitServesWhomItCanWithoutBusyLoopAndResumes) {
    REQUIRE_URING();
    SOCKLAB_REQUIRE_TOOL("prlimit");
    Uring u({"prlimit", "--nofile=64:64", "--"});  // prlimit exec()s the server
    ASSERT_GT(u.port, 0);
    constexpr int kClients = 100;
    std::vector<common::Fd> fds;
    for (int i = 0; i < kClients; ++i) {
        fds.push_back(client(u.port));
        ASSERT_TRUE(harness::send_all(fds.back().get(), message(i, 0, 16)));
    }
    auto line = u.server.read_err_line();
    ASSERT_TRUE(line) << "no line about the limit on stderr";
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        *line, m, std::regex("^echo_uringserv: accept: Too many open files with (\\d+) clients")))
        << *line;
    const int first = std::stoi(m[1]);
    EXPECT_GT(first, 40);
    EXPECT_LT(first, 64);
    for (int i = 0; i < first; ++i)
        ASSERT_EQ(harness::recv_exact(fds[i].get(), 16), message(i, 0, 16)) << "client " << i;

    // Two idle seconds (the lesson is the timing): nobody more is served, no CPU is burnt.
    long ticks_before = harness::cpu_ticks(u.server.pid());
    pollfd waiting{fds[first].get(), POLLIN, 0};
    EXPECT_EQ(poll(&waiting, 1, 2000), 0) << "a client beyond the limit was served";
    long ticks = harness::cpu_ticks(u.server.pid()) - ticks_before;
    EXPECT_LE(ticks, 10) << "the server used " << ticks * 1000 / sysconf(_SC_CLK_TCK)
                         << " ms of CPU in 2 s while it could not accept: a busy loop";

    // Clients leave, ten at a time: the waiting ones are served in turn.
    for (int next = first; next < kClients; next += 10) {
        for (int i = next - first; i < next - first + 10; ++i)
            fds[i].reset();
        for (int i = next; i < next + 10 && i < kClients; ++i)
            EXPECT_EQ(harness::recv_exact(fds[i].get(), 16, Deadline(10s)), message(i, 0, 16))
                << "client " << i << " was not served after others left";
    }
    EXPECT_TRUE(u.server.running()) << u.server.err();
    EXPECT_EQ(u.server.err(), *line + "\n") << "the limit should be reported once";
}

// The same load on both servers, traced by strace -f: 100 connections echo 64-byte messages
// for a second (echo_bench); every system call the server enters meanwhile is in the trace.
struct Counted {
    std::map<std::string, long> calls;  // name -> count
    long total = 0;
    long msgs = 0;
};

Counted count_calls(const std::string& program) {
    Process server(program, {"0"});
    int port = server.wait_ready();
    EXPECT_GT(port, 0);
    // strace attaches once the server is ready (its start-up, long under the sanitizers, is not
    // counted), to every thread (-f), and detaches on SIGINT, writing out its count (-c).
    harness::TempDir dir;
    const std::string trace = dir.file("trace");
    Process strace("strace", {"-f", "-c", "-o", trace, "-p", std::to_string(server.pid())});
    EXPECT_TRUE(strace.read_err_line(Deadline(20s)));  // "strace: Process N attached"
    auto r = harness::run(PROG_echo_bench,
                          {"127.0.0.1", std::to_string(port), "--conns", "100", "--seconds", "1"},
                          "", Deadline(60s));
    EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
    strace.signal(SIGINT);
    EXPECT_TRUE(strace.wait_exit(Deadline(20s)));
    Counted c;
    std::smatch m;
    if (std::regex_search(r.out, m, std::regex(" msgs=(\\d+) "))) c.msgs = std::stol(m[1]);
    // strace -c's table: "% time  seconds  usecs/call  calls  [errors]  syscall" per row.
    std::istringstream table(harness::read_file(trace));
    for (std::string line; std::getline(table, line);) {
        std::istringstream row(line);
        std::vector<std::string> f{std::istream_iterator<std::string>(row), {}};
        if (f.size() < 5 || !isdigit(static_cast<unsigned char>(f[0][0])) || f.back() == "total")
            continue;
        c.calls[f.back()] += std::stol(f[3]);
        c.total += std::stol(f[3]);
    }
    return c;
}

TEST(Ch17Uring, FewerThanHalfTheSystemCallsPerMessageOfEpollAndNoRecvOrSend) {
    REQUIRE_URING();
    SOCKLAB_REQUIRE_TOOL("strace");
    Counted uring = count_calls(kUring);
    Counted epoll = count_calls(PROG_echo_epollserv);
    ASSERT_GT(uring.msgs, 1000);
    ASSERT_GT(epoll.msgs, 1000);
    const double per_uring = double(uring.total) / double(uring.msgs);
    const double per_epoll = double(epoll.total) / double(epoll.msgs);
    std::string names;
    for (const auto& [name, n] : uring.calls)
        names += " " + name + "=" + std::to_string(n);
    std::cout << "system calls per message: echo_uringserv " << per_uring << " (" << uring.total
              << " for " << uring.msgs << " messages:" << names << "), echo_epollserv " << per_epoll
              << " (" << epoll.total << " for " << epoll.msgs << ")\n";
    EXPECT_LE(per_uring, 0.5 * per_epoll);
    // The I/O is not system calls: io_uring_enter (and the few accept-time calls) only.
    EXPECT_GT(uring.calls["io_uring_enter"], 0) << names;
    for (const char* name : {"read", "recvfrom", "recvmsg", "write", "sendto", "sendmsg",
                             "epoll_wait", "epoll_pwait", "accept4"})
        EXPECT_EQ(uring.calls[name], 0) << name << " in" << names;
    EXPECT_GT(epoll.calls["recvfrom"], epoll.msgs / 2);  // the epoll server: a recv per message
}

TEST(Ch17Uring, SocatClientGetsItsMegabyteBackAndTheServerCloses) {
    REQUIRE_URING();
    SOCKLAB_REQUIRE_TOOL("socat");
    Uring u;
    ASSERT_GT(u.port, 0);
    Process socat("socat", {"-t", "30", "-", "TCP:127.0.0.1:" + std::to_string(u.port)});
    std::string payload = harness::random_bytes(1 << 20, 9);
    ASSERT_TRUE(socat.write_stdin(payload, Deadline(30s)));
    socat.close_stdin();  // socat half-closes; the server sends the rest, then closes
    auto status = socat.finish(Deadline(30s));
    ASSERT_TRUE(status) << "socat did not finish";
    EXPECT_TRUE(harness::exited_with(*status, 0)) << socat.err();
    EXPECT_TRUE(socat.out() == payload) << harness::first_difference(socat.out(), payload);
}

TEST(Ch17Uring, BadUsageAPortInUseAndNoIoUringAreOneLineEach) {
    REQUIRE_URING();
    const std::string usage = "usage: echo_uringserv PORT\n";
    harness::expect_usage_errors({
        {kUring, {}, 2, usage},
        {kUring, {"0", "--edge"}, 2, usage},
        {kUring,
         {"abc"},
         2,
         "echo_uringserv: invalid port 'abc': not a decimal number (expected 0 to 65535)\n"},
    });
    harness::Listener taken = harness::refused_port();
    auto r = harness::run(kUring, {std::to_string(taken.port)});
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_EQ(r.err, "echo_uringserv: bind to port " + std::to_string(taken.port) +
                         ": Address already in use\n");
    // A kernel without io_uring, or one that refuses it (kernel.io_uring_disabled=2: EPERM;
    // Docker's seccomp profile: EPERM or ENOSYS), played by strace's error injection.
    SOCKLAB_REQUIRE_TOOL("strace");
    for (std::string err : {"ENOSYS", "EPERM"}) {
        auto s = harness::run(
            "strace",
            {"-qq", "-o", "/dev/null", "-e", "inject=io_uring_setup:error=" + err, kUring, "0"}, "",
            Deadline(20s), harness::traced());
        EXPECT_EQ(s.exit_code(), 1) << err;
        EXPECT_EQ(s.out, "") << err;
        EXPECT_EQ(s.err, std::string("echo_uringserv: io_uring_setup: ") +
                             strerror(err == "EPERM" ? EPERM : ENOSYS) +
                             ": io_uring is not available here (an old kernel, sysctl "
                             "kernel.io_uring_disabled, or a seccomp filter)\n");
    }
}

}  // namespace
