// ch17 (book ch. 17): epoll, level-triggered (条件触发) and edge-triggered (边缘触发).
//
// What these tests prove, with the servers run as real processes over loopback:
//   - the lesson: for one 40-byte message echo_EPLTserv (4-byte reads) wakes up ten times and
//     echo_EPETserv once, and both echo all 40 bytes; echo_EPETserv wakes once for "hello\n"
//     too and serves a second client; strace shows its reads on that socket: ten of 4 bytes
//     and one that fails with EAGAIN (40 bytes), 4, 2 and EAGAIN ("hello\n"), then epoll_wait;
//     a FIN that comes in the same segment as the last bytes is not missed;
//   - the two mistakes, for 40 bytes and for "hello\n", observed in the kernel: with
//     --one-read the server sleeps in epoll_wait while the rest of the message sits unread in
//     its socket; with --blocking it sleeps in read() on one client while another waits in
//     the backlog;
//   - the real server in both modes (echo_epollserv, echo_epollserv --edge): 1,000 and 10,000
//     concurrent connections, every echo byte-exact, every descriptor released afterwards;
//     a client that sends 8 MiB and reads nothing does not slow the others, the server's
//     peak memory does not grow with it, and it gets all 8 MiB back once it reads; a client
//     that floods and reads everything starves nobody (at most 64 KiB per wake-up); at a
//     descriptor limit of 64 with 100 clients the connected ones are served, the server uses
//     no CPU while it waits (no busy loop), and the waiting ones are served when others leave;
//     clients that reset once their echo has begun cost nothing;
//   - every server, the lesson too: a connection reset in the backlog (Linux's accept()
//     returns it) costs only itself; accept() failing with EPROTO costs nothing, with ENFILE
//     pauses accepting for a second; 50 stalled half-messages and a trickling client hold up
//     nobody; echo_EPLTserv at the descriptor limit waits without a busy loop;
//   - peers we did not write (socat, ncat over IPv6) as clients of every server;
//   - bad usage, a bad port, a port in use: one line and the right exit status.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "kit.hpp"
#include "proc.hpp"

namespace {

using namespace std::chrono_literals;
using harness::cpu_ticks;
using harness::current_syscall;
using harness::Deadline;
using harness::local_port;
using harness::open_fds;
using harness::Process;
using harness::raise_nofile;
using harness::wait_until;

const std::string kForty = "0123456789abcdefghijklmnopqrstuvwxyzABCD";  // 40 bytes

// ---- Helpers (general enough for other chapters) ----------------------------------------

bool in_epoll_wait(pid_t pid) {
    long nr = current_syscall(pid);
    return nr == SYS_epoll_wait || nr == SYS_epoll_pwait || nr == 441 /* epoll_pwait2 */;
}

// The (first) child of a process, e.g. the program that strace runs; -1 if none.
pid_t child_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
    pid_t child = -1;
    in >> child;
    return child;
}

// The message client I sends in round R: SIZE bytes, different for every client and round.
char message_byte(int client, int round, size_t k) {
    uint32_t x = static_cast<uint32_t>(client) * 2654435761u ^
                 static_cast<uint32_t>(round) * 40503u ^ static_cast<uint32_t>(k) * 2246822519u;
    return static_cast<char>(x >> 13);
}

std::string message(int client, int round, size_t size) {
    std::string m(size, '\0');
    for (size_t k = 0; k < size; ++k)
        m[k] = message_byte(client, round, k);
    return m;
}

// N clients connect to 127.0.0.1:PORT and stay connected until the end.  Phase 1: each
// connects and does one echo (at most kInFlight connecting at a time, so the server's listen
// backlog never overflows).  When all N have done it, AT_PEAK runs (every connection is open)
// and phase 2 begins: all N at once do ROUNDS - 1 more echoes.  Every echo is checked byte
// for byte.  Returns a description of the first failure, or "" if all went well.
std::string echo_swarm(int port, int n, int rounds, size_t size, Deadline deadline,
                       const std::function<void()>& at_peak = {}) {
    constexpr int kInFlight = 500;
    struct Client {
        common::Fd fd;
        int round = 0;
        size_t got = 0;
        bool connected = false;
    };
    std::vector<Client> clients(static_cast<size_t>(n));
    common::Fd ep(epoll_create1(EPOLL_CLOEXEC));
    if (!ep) return std::string("epoll_create1: ") + strerror(errno);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    auto send_round = [&](int i) -> std::string {
        std::string m = message(i, clients[i].round, size);
        ssize_t sent = send(clients[i].fd.get(), m.data(), m.size(), MSG_NOSIGNAL);
        if (sent != static_cast<ssize_t>(m.size()))  // a small message on an idle socket
            return "client " + std::to_string(i) + ": send: " + strerror(errno);
        return "";
    };

    int opened = 0, warmed = 0, finished = 0;
    char buf[65536];
    epoll_event events[1024];
    while (finished < n) {
        while (opened < n && opened - warmed < kInFlight) {
            int i = opened++;
            clients[i].fd.reset(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
            if (!clients[i].fd) return std::string("socket: ") + strerror(errno);
            if (connect(clients[i].fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) ==
                    -1 &&
                errno != EINPROGRESS)
                return "client " + std::to_string(i) + ": connect: " + strerror(errno);
            epoll_event ev{.events = EPOLLOUT, .data = {.u32 = static_cast<uint32_t>(i)}};
            epoll_ctl(ep.get(), EPOLL_CTL_ADD, clients[i].fd.get(), &ev);
        }
        if (deadline.expired())
            return "deadline: " + std::to_string(opened) + " opened, " + std::to_string(warmed) +
                   " echoed once, " + std::to_string(finished) + " finished";
        int ready = epoll_wait(ep.get(), events, 1024, std::min(deadline.ms_left(), 200));
        if (ready == -1 && errno == EINTR) continue;
        if (ready == -1) return std::string("epoll_wait: ") + strerror(errno);
        for (int e = 0; e < ready; ++e) {
            int i = static_cast<int>(events[e].data.u32);
            Client& c = clients[i];
            if (!c.connected) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0) return "client " + std::to_string(i) + ": connect: " + strerror(err);
                c.connected = true;
                epoll_event ev{.events = EPOLLIN, .data = {.u32 = static_cast<uint32_t>(i)}};
                epoll_ctl(ep.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
                if (auto error = send_round(i); !error.empty()) return error;
                continue;
            }
            ssize_t r = recv(c.fd.get(), buf, size - c.got, MSG_DONTWAIT);
            if (r == -1 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0)
                return "client " + std::to_string(i) + " round " + std::to_string(c.round) + ": " +
                       (r == 0 ? "end of stream" : strerror(errno)) + " after " +
                       std::to_string(c.got) + " bytes";
            for (size_t k = 0; k < static_cast<size_t>(r); ++k)
                if (buf[k] != message_byte(i, c.round, c.got + k))
                    return "client " + std::to_string(i) + " round " + std::to_string(c.round) +
                           ": wrong byte at offset " + std::to_string(c.got + k);
            c.got += static_cast<size_t>(r);
            if (c.got < size) continue;
            c.got = 0;
            ++c.round;
            if (c.round == rounds) {
                ++finished;
            } else if (c.round > 1) {
                if (auto error = send_round(i); !error.empty()) return error;
            } else if (++warmed == n) {  // everyone is connected and has echoed once
                if (at_peak) at_peak();
                for (int j = 0; j < n; ++j)
                    if (clients[j].round < rounds)
                        if (auto error = send_round(j); !error.empty()) return error;
            }
        }
    }
    return "";
}

// ---- The servers --------------------------------------------------------------------------

// A server under test, with the options that make it a real server.
struct Server {
    std::string name;
    std::string program;
    std::vector<std::string> options;
};

const Server kEpoll{"echo_epollserv", PROG_echo_epollserv, {}};
const Server kEdgeReal{"echo_epollserv_edge", PROG_echo_epollserv, {"--edge"}};

void PrintTo(const Server& s, std::ostream* os) {
    *os << s.name;
}

std::vector<std::string> args_for(const Server& s) {
    std::vector<std::string> args{"0"};
    args.insert(args.end(), s.options.begin(), s.options.end());
    return args;
}

class Ch17RealServer : public ::testing::TestWithParam<Server> {};

INSTANTIATE_TEST_SUITE_P(, Ch17RealServer, ::testing::Values(kEpoll, kEdgeReal),
                         [](const auto& p) { return p.param.name; });

// The abuse that every server of the chapter survives, the level-triggered lesson included.
const Server kLevelLesson{"echo_EPLTserv", PROG_echo_EPLTserv, {}};

class Ch17EveryServer : public ::testing::TestWithParam<Server> {};

INSTANTIATE_TEST_SUITE_P(, Ch17EveryServer, ::testing::Values(kEpoll, kEdgeReal, kLevelLesson),
                         [](const auto& p) { return p.param.name; });

// Reads the lesson server's lines up to the next "connected client: FD"; returns how many
// "return epoll_wait" lines came before it and stores FD.
int wake_ups_until_connected(Process& server, int* fd) {
    int wakes = 0;
    while (auto line = server.read_line()) {
        if (*line == "return epoll_wait") {
            ++wakes;
        } else if (line->starts_with("connected client: ")) {
            *fd = std::stoi(line->substr(18));
            return wakes;
        } else {
            ADD_FAILURE() << "unexpected line: " << *line;
        }
    }
    ADD_FAILURE() << "no 'connected client' line; stderr: " << server.err();
    return -1;
}

// Sends MESSAGE to a lesson server on SOCK and checks the echo; returns the number of
// wake-ups it caused.  They are counted up to the "connected client" line of a new connection
// made after the whole echo came back (its own wake-up is subtracted); it is kept open in
// MARKERS, so that its close does not print lines later.
int wake_ups_for(Process& server, int port, int sock, const std::string& message,
                 std::vector<common::Fd>& markers) {
    EXPECT_TRUE(harness::send_all(sock, message));
    EXPECT_EQ(harness::recv_exact(sock, message.size()), message);
    markers.push_back(harness::connect_tcp("127.0.0.1", port));
    EXPECT_TRUE(markers.back()) << strerror(errno);
    int marker_fd = -1;
    return wake_ups_until_connected(server, &marker_fd) - 1;
}

// One 40-byte message from a new client.
int wake_ups_for_forty_bytes(Process& server, int port) {
    int fd = -1;
    common::Fd client = harness::connect_tcp("127.0.0.1", port);
    EXPECT_TRUE(client) << strerror(errno);
    EXPECT_EQ(wake_ups_until_connected(server, &fd), 1);  // the accept
    std::vector<common::Fd> markers;
    return wake_ups_for(server, port, client.get(), kForty, markers);
}

// ---- The lesson: level- vs edge-triggered -------------------------------------------------

TEST(Ch17Lesson, LevelTriggeredWakesTenTimesForFortyBytesReadFourAtATime) {
    Process server(PROG_echo_EPLTserv, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    // While unread bytes remain, every epoll_wait() reports the socket again: 40 / 4 = 10.
    EXPECT_EQ(wake_ups_for_forty_bytes(server, port), 10);
}

// The edge-triggered lesson, and its two mistakes, for a message of any length: 40 bytes
// (ten full 4-byte reads) and "hello\n" (a full read and a short one).
struct Message {
    std::string name;
    std::string bytes;
};

void PrintTo(const Message& m, std::ostream* os) {
    *os << m.name;
}

class Ch17EdgeLesson : public ::testing::TestWithParam<Message> {};

INSTANTIATE_TEST_SUITE_P(, Ch17EdgeLesson,
                         ::testing::Values(Message{"forty_bytes", kForty},
                                           Message{"hello", "hello\n"}),
                         [](const auto& p) { return p.param.name; });

// One message, one wake-up, the whole echo; and a second client is served just as well.
TEST_P(Ch17EdgeLesson, WakesOnceEchoesAllAndServesTheNextClient) {
    Process server(PROG_echo_EPETserv, {"0"});  // the book's defaults: 4-byte reads
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    const std::string& msg = GetParam().bytes;
    common::Fd a = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(a) << strerror(errno);
    int fd = -1;
    ASSERT_EQ(wake_ups_until_connected(server, &fd), 1);
    common::Fd b = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(b) << strerror(errno);
    ASSERT_GE(wake_ups_until_connected(server, &fd), 0);
    std::vector<common::Fd> markers;
    EXPECT_EQ(wake_ups_for(server, port, a.get(), msg, markers), 1);  // and all of it came back
    EXPECT_EQ(wake_ups_for(server, port, b.get(), msg, markers), 1);
    EXPECT_EQ(wake_ups_for(server, port, a.get(), msg, markers), 1);  // A is still served
}

// strace shows the reads of one wake-up: full reads, and a read that fails with EAGAIN, then
// epoll_wait again.  40 bytes: ten reads of 4, then EAGAIN (eleven reads); "hello\n": 4, 2,
// then EAGAIN.  No shortcut: the book's loop ends on EAGAIN only.
TEST(Ch17Lesson, EdgeTriggeredServerReadsUntilEagainBeforeWaitingAgain) {
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::TempDir dir;
    std::string trace = dir.file("trace");
    Process server("strace",
                   {"-f", "-e", "trace=accept4,read,epoll_wait,epoll_pwait", "-o", trace,
                    PROG_echo_EPETserv, "0"},
                   harness::traced());
    int port = server.wait_ready(Deadline(20s));
    ASSERT_GT(port, 0);
    common::Fd client = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(client) << strerror(errno);
    int fd = -1;
    ASSERT_EQ(wake_ups_until_connected(server, &fd), 1);
    std::vector<common::Fd> markers;
    EXPECT_EQ(wake_ups_for(server, port, client.get(), kForty, markers), 1);
    EXPECT_EQ(wake_ups_for(server, port, client.get(), "hello\n", markers), 1);
    // strace ignores SIGTERM while it runs a program (-I3): stop the server itself, and strace
    // writes out the trace and exits.
    pid_t traced_pid = child_of(server.pid());
    ASSERT_GT(traced_pid, 0);
    kill(traced_pid, SIGTERM);
    ASSERT_TRUE(server.wait_exit());

    // The reads on our socket, grouped by the epoll_wait calls between them.
    std::string text = harness::read_file(trace);
    std::vector<std::vector<std::string>> bursts{{}};  // {"4", ..., "-1 EAGAIN"}, ...
    bool accepted_non_blocking = false;
    for (const harness::SysCall& c : harness::strace_calls(text)) {
        if (c.name == "accept4" && c.result == std::to_string(fd) &&
            c.text.find("SOCK_NONBLOCK") != std::string::npos)
            accepted_non_blocking = true;
        if (c.name == "read" && c.fd == fd)
            bursts.back().push_back(
                c.result + (c.text.find(" EAGAIN ") != std::string::npos ? " EAGAIN" : ""));
        else if (c.name.starts_with("epoll_") && !bursts.back().empty())
            bursts.emplace_back();
    }
    EXPECT_TRUE(accepted_non_blocking) << text;
    std::vector<std::string> forty(10, "4");
    forty.push_back("-1 EAGAIN");
    std::vector<std::vector<std::string>> expected{forty, {"4", "2", "-1 EAGAIN"}, {}};
    EXPECT_EQ(bursts, expected) << text;
}

// Mistake 1: one read per edge.  4 bytes come back; the rest of the message sits unread in
// the server's socket while the server sleeps in epoll_wait, and only new bytes (a new edge)
// move it, 4 bytes at a time.
TEST_P(Ch17EdgeLesson, OneReadPerEdgeLeavesTheRestUnreadWhileTheServerSleeps) {
    Process server(PROG_echo_EPETserv, {"0", "--one-read"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    const std::string& msg = GetParam().bytes;
    int fd = -1;
    common::Fd client = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(client) << strerror(errno);
    ASSERT_EQ(wake_ups_until_connected(server, &fd), 1);
    ASSERT_TRUE(harness::send_all(client.get(), msg));
    EXPECT_EQ(harness::recv_exact(client.get(), 4), msg.substr(0, 4));
    // The failure, seen in the kernel: the server is asleep in epoll_wait, and the rest of the
    // message sits unread in its socket.  No new edge will come for it.
    const long rest = static_cast<long>(msg.size()) - 4;
    EXPECT_TRUE(wait_until([&] {
        return in_epoll_wait(server.pid()) &&
               harness::tcp_recv_queue(port, local_port(client.get())) == rest;
    })) << "Recv-Q "
        << harness::tcp_recv_queue(port, local_port(client.get())) << ", " << rest << " expected";
    pollfd p{client.get(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 0), 0) << "more of the echo came back";
    // Only new bytes make a new edge, and then it reads the next 4 bytes of the OLD message.
    ASSERT_TRUE(harness::send_all(client.get(), "!"));
    const std::string next = (msg.substr(4) + "!").substr(0, 4);
    EXPECT_EQ(harness::recv_exact(client.get(), next.size()), next);
}

// Mistake 2: blocking client sockets.  The whole message comes back, but the read that
// should have said EAGAIN waits instead: the server sleeps in read() on that client, and a
// second client is not even accepted.
TEST_P(Ch17EdgeLesson, BlockingSocketsLeaveTheServerStuckInReadAndTheNextClientUnserved) {
    Process server(PROG_echo_EPETserv, {"0", "--blocking"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    const std::string& msg = GetParam().bytes;
    int fd = -1;
    common::Fd a = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(a) << strerror(errno);
    ASSERT_EQ(wake_ups_until_connected(server, &fd), 1);
    ASSERT_TRUE(harness::send_all(a.get(), msg));
    EXPECT_EQ(harness::recv_exact(a.get(), msg.size()), msg);  // all of it comes back, but
    long arg = -1;
    EXPECT_TRUE(wait_until([&] {
        return current_syscall(server.pid(), &arg) == SYS_read && arg == fd;
    })) << "syscall "
        << current_syscall(server.pid(), &arg) << " on " << arg;
    // Another client connects and sends: its bytes wait, nobody accepts it.
    common::Fd b = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(b) << strerror(errno);
    ASSERT_TRUE(harness::send_all(b.get(), "hi"));
    EXPECT_TRUE(
        wait_until([&] { return harness::tcp_recv_queue(port, local_port(b.get())) == 2; }));
    EXPECT_EQ(current_syscall(server.pid(), &arg), SYS_read);
    EXPECT_EQ(arg, fd);
    pollfd p{b.get(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 0), 0) << "client B was served";
    // Only when client A leaves does read() return (0), and B is served.
    a.reset();
    EXPECT_EQ(harness::recv_exact(b.get(), 2), "hi");
}

// ---- The real servers: many clients --------------------------------------------------------

TEST_P(Ch17RealServer, ThousandConcurrentClientsEchoByteExact) {
    ASSERT_TRUE(raise_nofile(1100)) << "cannot raise RLIMIT_NOFILE to 1100";
    Process server(GetParam().program, args_for(GetParam()));
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    int base = open_fds(server.pid());
    int peak = 0;
    std::string error =
        echo_swarm(port, 1000, 5, 64, Deadline(30s), [&] { peak = open_fds(server.pid()); });
    EXPECT_EQ(error, "");
    EXPECT_EQ(peak, base + 1000) << "the server did not hold all 1000 connections at once";
    EXPECT_TRUE(wait_until([&] { return open_fds(server.pid()) == base; }))
        << open_fds(server.pid()) << " descriptors open, " << base << " at the start";
    EXPECT_TRUE(server.running()) << server.err();
}

TEST_P(Ch17RealServer, TenThousandConcurrentConnectionsEchoByteExact) {
    if (!raise_nofile(10100)) GTEST_SKIP() << "cannot raise RLIMIT_NOFILE to 10100 here";
    Process server(GetParam().program, args_for(GetParam()));
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    int base = open_fds(server.pid());
    int peak = 0;
    std::string error =
        echo_swarm(port, 10000, 3, 64, Deadline(60s), [&] { peak = open_fds(server.pid()); });
    EXPECT_EQ(error, "");
    EXPECT_EQ(peak, base + 10000) << "the server did not hold all 10000 connections at once";
    EXPECT_TRUE(wait_until([&] { return open_fds(server.pid()) == base; }, Deadline(30s)))
        << open_fds(server.pid()) << " descriptors open, " << base << " at the start";
    EXPECT_TRUE(server.running()) << server.err();
}

TEST_P(Ch17RealServer, ClientsThatResetMidEchoCostNothing) {
    Process server(GetParam().program, args_for(GetParam()));
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    int base = open_fds(server.pid());
    std::string payload = harness::random_bytes(64 << 10, 7);
    for (int i = 0; i < 50; ++i) {
        // Sends 64 KiB, waits until the echo has started (as ch12's test does), then resets
        // the connection: SO_LINGER {on, 0 s} makes close() send RST and drop unsent data.
        common::Fd fd = harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(fd) << strerror(errno);
        ASSERT_TRUE(harness::send_all(fd.get(), payload));
        pollfd p{fd.get(), POLLIN, 0};
        ASSERT_EQ(poll(&p, 1, Deadline().ms_left()), 1) << "no echo from the server";
        linger reset{.l_onoff = 1, .l_linger = 0};
        ASSERT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
    }
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    ASSERT_TRUE(harness::send_all(fd.get(), "still here"));
    EXPECT_EQ(harness::recv_exact(fd.get(), 10), "still here");
    fd.reset();
    EXPECT_TRUE(wait_until([&] { return open_fds(server.pid()) == base; }))
        << open_fds(server.pid()) << " descriptors open, " << base << " at the start";
    EXPECT_TRUE(server.running()) << server.err();
}

// ---- The end of stream ----------------------------------------------------------------------

// Bytes and FIN in one segment: TCP_CORK holds the bytes back until shutdown() adds the FIN
// to them, so the server gets a single edge for both.  It must echo the bytes AND see the end
// of stream (a server that stopped at the short read would never hear of the FIN again).
void expect_echo_and_close_when_fin_comes_with_the_data(int port, const std::string& message) {
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    int on = 1;
    ASSERT_EQ(setsockopt(fd.get(), IPPROTO_TCP, TCP_CORK, &on, sizeof on), 0);
    ASSERT_TRUE(harness::send_all(fd.get(), message));
    ASSERT_EQ(shutdown(fd.get(), SHUT_WR), 0);
    auto r = harness::recv_to_end(fd.get());
    EXPECT_EQ(r.data, message);
    EXPECT_EQ(r.end, harness::End::kFin) << "the server did not close: it missed the FIN";
}

TEST_P(Ch17RealServer, FinArrivingWithTheLastBytesIsNotMissed) {
    Process server(GetParam().program, args_for(GetParam()));
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    expect_echo_and_close_when_fin_comes_with_the_data(port, message(1, 1, 100));
}

TEST(Ch17Lesson, EdgeTriggeredServerSeesTheFinThatCameWithTheLastBytes) {
    Process server(PROG_echo_EPETserv, {"0"});  // 4-byte reads: 42 bytes end in a short read
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    expect_echo_and_close_when_fin_comes_with_the_data(port, kForty + "EF");
    EXPECT_TRUE(server.wait_for_line("closed client: "));
}

// ---- Backpressure: a client that never reads ------------------------------------------------

TEST_P(Ch17RealServer, ClientThatSendsEightMiBAndNeverReadsStallsNobody) {
    Process server(GetParam().program, args_for(GetParam()));
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    std::vector<common::Fd> others;
    for (int i = 0; i < 10; ++i) {
        others.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(others.back()) << strerror(errno);
    }
    long max_rtt_ms = 0;
    auto round_trips = [&](int rounds) {
        for (int r = 0; r < rounds; ++r)
            for (size_t i = 0; i < others.size(); ++i) {
                std::string m = message(static_cast<int>(i), r, 64);
                auto start = harness::Clock::now();
                ASSERT_TRUE(harness::send_all(others[i].get(), m));
                ASSERT_EQ(harness::recv_exact(others[i].get(), m.size(), Deadline(5s)), m);
                auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    harness::Clock::now() - start);
                max_rtt_ms = std::max<long>(max_rtt_ms, ms.count());
            }
    };
    round_trips(5);
    long hwm_before = harness::status_value(server.pid(), "VmHWM");

    // The flooder: a small receive buffer (so its window closes soon), non-blocking; it sends
    // until the kernel says no more (EAGAIN), and reads nothing.
    const std::string flood = harness::random_bytes(8 << 20, 8);
    common::Fd flooder = harness::connect_small_rcvbuf(port);
    ASSERT_TRUE(flooder);
    fcntl(flooder.get(), F_SETFL, fcntl(flooder.get(), F_GETFL) | O_NONBLOCK);
    size_t sent = 0;
    auto push = [&] {  // true if the kernel takes nothing more now
        while (sent < flood.size()) {
            ssize_t n = send(flooder.get(), flood.data() + sent, flood.size() - sent, MSG_NOSIGNAL);
            if (n == -1) return errno == EAGAIN;
            sent += static_cast<size_t>(n);
        }
        return false;
    };
    // How much of the flood the server has read: what the flooder's kernel put on the wire
    // (sent by the program, less what its kernel has not sent yet, SIOCOUTQNSD) less what
    // still waits in the server socket's receive queue (ss's Recv-Q).  The flooder's kernel
    // may go on delivering for a while after the program stops (the server's window opens
    // as its receive buffer autotunes): Recv-Q then grows, but what the server read does not.
    auto server_read = [&] {
        int unsent = 0;
        if (ioctl(flooder.get(), SIOCOUTQNSD, &unsent) == -1) return -1L;
        return static_cast<long>(sent) - unsent -
               harness::tcp_recv_queue(port, local_port(flooder.get()));
    };
    // Push until the flooder's bytes stop moving, and stay still while the others are served:
    // it sends nothing more (EAGAIN, or all 8 MiB are out: loopback buffers autotune to
    // several MiB, tcp_rmem, and may take it all) and the server reads no more of them, round
    // after round, while bytes wait in its socket's receive queue.
    Deadline deadline(30s);
    int still_rounds = 0;
    long read_by_server = -1;
    while (still_rounds < 20 && !deadline.expired()) {
        size_t before = sent;
        bool stuck = push() || sent == flood.size();
        long r = server_read();
        long q = harness::tcp_recv_queue(port, local_port(flooder.get()));
        still_rounds =
            stuck && sent == before && q > 0 && r == read_by_server ? still_rounds + 1 : 0;
        read_by_server = r;
        round_trips(1);
        if (HasFatalFailure()) return;
    }
    const long queued = harness::tcp_recv_queue(port, local_port(flooder.get()));
    EXPECT_EQ(still_rounds, 20) << "the flooder's bytes never stopped moving: " << sent << " sent, "
                                << read_by_server << " read by the server";
    round_trips(20);  // 200 more round trips while it is stuck
    if (HasFatalFailure()) return;
    // Backpressure, seen in the kernel: the server has stopped reading the flooder (bytes wait
    // in its receive queue) instead of moving them into its own memory.
    EXPECT_EQ(server_read(), read_by_server);
    EXPECT_GT(queued, 0);
    EXPECT_LT(max_rtt_ms, harness::scaled(1000ms).count()) << "others were slowed down";
    long grown = harness::status_value(server.pid(), "VmHWM") - hwm_before;
    EXPECT_LT(grown, 2048) << "the server's peak RSS grew by " << grown << " KiB after " << sent
                           << " bytes from a client that does not read";
    std::cout << "flooder sent " << sent << " bytes before it stuck; server peak RSS grew " << grown
              << " KiB; slowest other round trip " << max_rtt_ms << " ms\n";

    // Nothing was lost: now it reads, and gets all 8 MiB back, byte for byte.
    std::string back;
    char buf[65536];
    Deadline reading(30s);
    while (back.size() < flood.size() && !reading.expired()) {
        push();
        pollfd p{flooder.get(), POLLIN, 0};
        poll(&p, 1, 100);
        ssize_t n = recv(flooder.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) back.append(buf, static_cast<size_t>(n));
        if (n == 0) break;
    }
    EXPECT_EQ(back.size(), flood.size());
    EXPECT_TRUE(back == flood) << "the echo differs";
}

// ---- Fairness: a client that floods and reads cannot starve another ---------------------------

// "Read until empty" keeps the edge-triggered server on one client for as long as that client
// keeps its socket non-empty: a client that sends as fast as the server reads, and reads its
// echo as fast as it comes, could hold it for ever.  The server runs under strace, which holds
// each of its recv() calls for 5 ms: any client is then faster than the server (as a client on
// a fast link is in front of a busy server), and the flooder's socket stays full.  While the
// flood runs and is served, another client's round trips must complete, each within a bound;
// and the trace shows the limit itself: between two epoll_wait() calls the server reads at most
// kFairShare (64 KiB) from any one client.
TEST_P(Ch17RealServer, AClientThatFloodsAndReadsEverythingCannotStarveAnother) {
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::TempDir dir;
    const std::string trace = dir.file("trace");
    std::vector<std::string> args{"-qq",
                                  "-o",
                                  trace,
                                  "-e",
                                  "trace=recvfrom,epoll_wait,epoll_pwait",
                                  "-e",
                                  "inject=recvfrom:delay_exit=5000",
                                  GetParam().program};
    for (const auto& a : args_for(GetParam()))
        args.push_back(a);
    Process server("strace", args, harness::traced());
    int port = server.wait_ready(Deadline(20s));
    ASSERT_GT(port, 0);
    common::Fd other = harness::connect_tcp("127.0.0.1", port);
    common::Fd flooder = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(other && flooder) << strerror(errno);
    ASSERT_TRUE(harness::send_all(other.get(), "before"));
    ASSERT_EQ(harness::recv_exact(other.get(), 6), "before");

    // The flooder: one thread sends 64 KiB at a time, as fast as the kernel takes them, one
    // reads every byte of the echo.  Both stop when `stop` is set (poll: bounded waits).
    std::atomic<bool> stop{false};
    std::atomic<size_t> echoed{0};
    const int ffd = flooder.get();
    std::thread sender([&] {
        const std::string chunk = harness::random_bytes(64 << 10, 5);
        while (!stop) {
            pollfd p{ffd, POLLOUT, 0};
            if (poll(&p, 1, 50) != 1) continue;
            if (send(ffd, chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL) == -1 &&
                errno != EAGAIN && errno != EINTR)
                return;
        }
    });
    std::thread reader([&] {
        std::vector<char> buf(1 << 20);
        while (!stop) {
            pollfd p{ffd, POLLIN, 0};
            if (poll(&p, 1, 50) != 1) continue;
            ssize_t n = recv(ffd, buf.data(), buf.size(), MSG_DONTWAIT);
            if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) return;
            if (n > 0) echoed += static_cast<size_t>(n);
        }
    });
    auto finish = [&] {
        stop = true;
        sender.join();
        reader.join();
    };

    // The flood is on: its echo has begun (1 MiB back).
    bool flooding = wait_until([&] { return echoed >= (1u << 20); }, Deadline(20s));
    const size_t echoed_before = echoed;
    auto slowest = harness::Clock::duration::zero();
    int completed = 0;
    for (int trip = 0; flooding && trip < 20; ++trip) {
        std::string m = message(2, trip, 64);
        auto t0 = harness::Clock::now();
        if (!harness::send_all(other.get(), m)) break;
        if (harness::recv_exact(other.get(), m.size(), Deadline(5s)) != m) break;
        slowest = std::max(slowest, harness::Clock::now() - t0);
        ++completed;
    }
    const size_t echoed_during = echoed - echoed_before;
    finish();
    ASSERT_TRUE(flooding) << "the flood never got going: " << echoed << " bytes echoed";
    EXPECT_EQ(completed, 20) << "the other client was starved: " << completed
                             << " round trips of 20 completed";
    EXPECT_LT(slowest, harness::scaled(1000ms)) << "a round trip waited for the flood";
    EXPECT_GT(echoed_during, 0u) << "the flood was not served meanwhile";
    std::cout << completed << " round trips while the flooder got " << echoed_during
              << " bytes back; slowest "
              << std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count() << " ms\n";
    ASSERT_TRUE(server.running()) << server.err();

    // strace ignores SIGTERM while it runs a program: stop the server, and strace writes out
    // the trace and exits.  Then: bytes read per client between two epoll_wait() calls.
    pid_t traced_pid = child_of(server.pid());
    ASSERT_GT(traced_pid, 0);
    kill(traced_pid, SIGTERM);
    ASSERT_TRUE(server.wait_exit(Deadline(20s)));
    std::map<int, long> burst;  // fd -> bytes read since the last epoll_wait
    long most = 0;
    for (const harness::SysCall& c : harness::strace_calls(harness::read_file(trace))) {
        if (c.name.starts_with("epoll_")) burst.clear();
        if (c.name == "recvfrom" && c.result != "-1")
            most = std::max(most, burst[c.fd] += std::stol(c.result));
    }
    EXPECT_GT(most, 0);
    EXPECT_LE(most, 65536) << "one wake-up read " << most << " bytes from one client";
}

// ---- Descriptor exhaustion: EMFILE must not spin --------------------------------------------

TEST_P(Ch17RealServer, AtTheDescriptorLimitServesWhomItCanWithoutBusyLoop) {
    SOCKLAB_REQUIRE_TOOL("prlimit");
    std::vector<std::string> args{"--nofile=64:64", "--", GetParam().program};
    for (const auto& a : args_for(GetParam()))
        args.push_back(a);
    Process server("prlimit", args);  // prlimit sets the limit and exec()s the server
    int port = server.wait_ready();
    ASSERT_GT(port, 0);

    constexpr int kClients = 100;
    std::vector<common::Fd> clients;
    for (int i = 0; i < kClients; ++i) {  // connect() completes: the kernel queues them
        clients.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(clients.back()) << strerror(errno);
        ASSERT_TRUE(harness::send_all(clients.back().get(), message(i, 0, 16)));
    }
    // "accept: Too many open files with 59 clients: ..." (said once)
    auto line = server.read_err_line();
    ASSERT_TRUE(line) << "no line about the limit on stderr";
    std::smatch m;
    ASSERT_TRUE(
        std::regex_search(*line, m, std::regex("accept: Too many open files with (\\d+) clients")))
        << *line;
    const int served_first = std::stoi(m[1]);
    EXPECT_GT(served_first, 40);
    EXPECT_LT(served_first, 64);

    // Collects echoes until COUNT clients have theirs (or the deadline); returns how many.
    std::vector<std::string> got(kClients);
    std::vector<bool> done(kClients, false);
    auto collect = [&](int count, harness::Clock::time_point until) {
        int n_done = static_cast<int>(std::count(done.begin(), done.end(), true));
        while (n_done < count && harness::Clock::now() < until) {
            std::vector<pollfd> fds;
            for (int i = 0; i < kClients; ++i)
                fds.push_back({clients[i] ? clients[i].get() : -1, POLLIN, 0});
            if (poll(fds.data(), fds.size(), 10) <= 0) continue;
            for (int i = 0; i < kClients; ++i) {
                if (!(fds[i].revents & POLLIN) || done[i]) continue;
                char buf[64];
                ssize_t n = recv(clients[i].get(), buf, sizeof buf, MSG_DONTWAIT);
                if (n > 0) got[i].append(buf, static_cast<size_t>(n));
                if (got[i].size() >= 16) {
                    done[i] = true;
                    ++n_done;
                    EXPECT_EQ(got[i], message(i, 0, 16)) << "client " << i;
                }
            }
        }
        return n_done;
    };
    auto in_10s = [] { return harness::Clock::now() + harness::scaled(10s); };
    EXPECT_EQ(collect(served_first, in_10s()), served_first);

    // The idle window (here the lesson itself is timing): 2 s in which nothing changes, and
    // the server must not burn CPU retrying accept().
    long ticks_before = cpu_ticks(server.pid());
    EXPECT_EQ(collect(served_first + 1, harness::Clock::now() + 2s), served_first)
        << "a client beyond the limit was served";
    long ticks = cpu_ticks(server.pid()) - ticks_before;
    EXPECT_LE(ticks, 10) << "the server used " << ticks * 1000 / sysconf(_SC_CLK_TCK)
                         << " ms of CPU in 2 s while it could not accept: a busy loop";

    // Clients leave: the waiting ones are accepted and served.
    for (int served = served_first; served < kClients;) {
        int leaving = 0;
        for (int i = 0; i < kClients; ++i)
            if (done[i] && clients[i]) {
                clients[i].reset();
                ++leaving;
            }
        int now = collect(std::min(kClients, served + leaving), in_10s());
        ASSERT_EQ(now, std::min(kClients, served + leaving))
            << "the clients waiting were not all served after " << leaving << " left";
        served = now;
    }
    server.signal(SIGTERM);
    ASSERT_TRUE(server.finish());
    std::string err = server.err();
    size_t said = 0;
    for (size_t at = 0; (at = err.find("Too many open files", at)) != std::string::npos; ++at)
        ++said;
    EXPECT_EQ(said, 1u) << "the limit should be reported once:\n" << err;
}

// The lesson server at the limit: echo_EPLTserv takes its listening socket out of the
// interest list (level-triggered epoll would report it for ever) until a client leaves.
TEST(Ch17Lesson, LevelTriggeredServerAtTheDescriptorLimitWaitsWithoutBusyLoop) {
    SOCKLAB_REQUIRE_TOOL("prlimit");
    Process server("prlimit", {"--nofile=16:16", "--", PROG_echo_EPLTserv, "0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    // 0-2, the listening socket and the epoll instance leave 11 descriptors for clients.
    constexpr int kClients = 20;
    const int fit = 16 - open_fds(server.pid());
    ASSERT_GT(fit, 5);
    std::vector<common::Fd> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(clients.back()) << strerror(errno);
        ASSERT_TRUE(harness::send_all(clients.back().get(), message(i, 0, 8)));
    }
    EXPECT_EQ(server.read_err_line(),
              "echo_EPLTserv: accept (new clients wait until one leaves): Too many open files");
    for (int i = 0; i < fit; ++i)
        EXPECT_EQ(harness::recv_exact(clients[i].get(), 8), message(i, 0, 8)) << "client " << i;

    // Nothing to do but wait: no CPU burnt (the one-second look again costs nothing), and
    // the clients beyond the limit still wait in the backlog.
    long ticks_before = cpu_ticks(server.pid());
    pollfd waiting{clients[fit].get(), POLLIN, 0};
    EXPECT_EQ(poll(&waiting, 1, 2000), 0) << "a client beyond the limit was served";
    long ticks = cpu_ticks(server.pid()) - ticks_before;
    EXPECT_LE(ticks, 10) << "the server used " << ticks * 1000 / sysconf(_SC_CLK_TCK)
                         << " ms of CPU in 2 s while it could not accept: a busy loop";

    // Clients leave, a few at a time: every waiting one is served in turn.
    for (int next = fit; next < kClients; next += 3) {
        for (int i = next - fit; i < next - fit + 3 && i < kClients; ++i)
            clients[i].reset();
        for (int i = next; i < next + 3 && i < kClients; ++i)
            EXPECT_EQ(harness::recv_exact(clients[i].get(), 8), message(i, 0, 8))
                << "client " << i << " was not served after others left";
    }
    EXPECT_TRUE(server.running()) << server.err();
}

// ---- Every server, the lesson too: failed connections, stalled and trickling clients ------

// Linux returns a connection that was reset in the backlog from accept() (BSD: ECONNABORTED,
// UNP §16.6); its first recv() (or, if it sent bytes first, the echo's send()) fails with
// ECONNRESET.  The server is stopped (SIGSTOP) while two clients connect and reset.
TEST_P(Ch17EveryServer, ConnectionResetInTheBacklogCostsThatConnectionOnly) {
    Process server(GetParam().program, args_for(GetParam()));
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    const int base = open_fds(server.pid());
    server.signal(SIGSTOP);
    ASSERT_TRUE(wait_until([&] {
        auto st = harness::proc_stat(server.pid());
        return st && st->state == 'T';
    }));
    for (std::string data : {"", "echo me"}) {
        common::Fd doomed = harness::connect_tcp("127.0.0.1", port);  // the kernel completes it
        ASSERT_TRUE(doomed) << strerror(errno);
        ASSERT_TRUE(harness::send_all(doomed.get(), data));
        linger reset{.l_onoff = 1, .l_linger = 0};  // close() sends RST
        ASSERT_EQ(setsockopt(doomed.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
    }
    server.signal(SIGCONT);
    common::Fd next = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(next) << strerror(errno);
    ASSERT_TRUE(harness::send_all(next.get(), "next"));
    EXPECT_EQ(harness::recv_exact(next.get(), 4), "next");
    EXPECT_TRUE(wait_until([&] { return open_fds(server.pid()) == base + 1; }))
        << open_fds(server.pid()) << " descriptors open, " << base << " + 1 expected";
    EXPECT_TRUE(server.running()) << server.err();
}

// The server under strace, which makes one accept() fail: INJECT is strace's
// "error=E...:when=1" (the syscall does not run, so the connection stays in the backlog).
Process traced_server(const Server& s, const std::string& inject) {
    std::vector<std::string> args{
        "-qq", "-e", "trace=accept,accept4", "-e", "inject=accept,accept4:" + inject, s.program};
    for (const auto& a : args_for(s))
        args.push_back(a);
    return Process("strace", args, harness::traced());
}

// Waits for strace's line about the injected error.
bool injected(Process& server, const std::string& error) {
    while (auto line = server.read_err_line(Deadline(20s)))
        if (line->find("= -1 " + error) != std::string::npos && line->ends_with("(INJECTED)"))
            return true;
    return false;
}

// EPROTO (accept(2): a network error of that one connection, "retry"): accept again.
TEST_P(Ch17EveryServer, AcceptFailingForAConnectionThatDiedInTheBacklogCostsNothing) {
    SOCKLAB_REQUIRE_TOOL("strace");
    Process server = traced_server(GetParam(), "error=EPROTO:when=1");
    int port = server.wait_ready(Deadline(20s));
    ASSERT_GT(port, 0);
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    ASSERT_TRUE(harness::send_all(fd.get(), "after EPROTO"));
    EXPECT_EQ(harness::recv_exact(fd.get(), 12, Deadline(20s)), "after EPROTO") << server.err();
    EXPECT_TRUE(injected(server, "EPROTO")) << server.err();
    EXPECT_TRUE(server.running()) << server.err();
}

// ENFILE with no client of its own that could leave: the server stops accepting (no retry
// loop) and looks again a second later by itself.
TEST_P(Ch17EveryServer, OutOfFilesWithNoClientToWaitForTriesAgainASecondLater) {
    SOCKLAB_REQUIRE_TOOL("strace");
    Process server = traced_server(GetParam(), "error=ENFILE:when=1");
    int port = server.wait_ready(Deadline(20s));
    ASSERT_GT(port, 0);
    auto start = harness::Clock::now();
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    ASSERT_TRUE(harness::send_all(fd.get(), "after ENFILE"));
    EXPECT_EQ(harness::recv_exact(fd.get(), 12, Deadline(20s)), "after ENFILE") << server.err();
    EXPECT_GE(harness::Clock::now() - start, 900ms) << "it did not pause: a retry loop?";
    EXPECT_TRUE(injected(server, "ENFILE")) << server.err();
    EXPECT_TRUE(server.running()) << server.err();
}

// 50 clients send half a message and stall, connected.  An echo server returns the bytes as
// they come; what matters is that none of them holds the loop: a client that comes afterwards
// is served at once, and a stalled one can still finish its message.
TEST_P(Ch17EveryServer, FiftyClientsStalledMidMessageHoldUpNobody) {
    Process server(GetParam().program, args_for(GetParam()));
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    const int base = open_fds(server.pid());
    std::vector<common::Fd> stalled;
    for (int i = 0; i < 50; ++i) {
        stalled.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(stalled.back()) << strerror(errno);
        std::string half = "half a message from client " + std::to_string(i);
        ASSERT_TRUE(harness::send_all(stalled.back().get(), half));
        ASSERT_EQ(harness::recv_exact(stalled.back().get(), half.size()), half);
    }
    common::Fd fresh = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fresh) << strerror(errno);
    for (int trip = 0; trip < 20; ++trip) {
        std::string msg = "trip " + std::to_string(trip) + "\n";
        auto t0 = harness::Clock::now();
        ASSERT_TRUE(harness::send_all(fresh.get(), msg));
        ASSERT_EQ(harness::recv_exact(fresh.get(), msg.size(), Deadline(5s)), msg);
        EXPECT_LT(harness::Clock::now() - t0, harness::scaled(500ms)) << "trip " << trip;
    }
    ASSERT_TRUE(harness::send_all(stalled[7].get(), " ends\n"));
    EXPECT_EQ(harness::recv_exact(stalled[7].get(), 6), " ends\n");
    EXPECT_EQ(open_fds(server.pid()), base + 51) << "a stalled client was dropped";
    EXPECT_TRUE(server.running()) << server.err();
}

// A client that sends one byte every 200 ms (its pace is the point, so the test sleeps between
// bytes): each byte is echoed as it comes, and meanwhile another client's round trips stay
// fast.  A server that waited for the whole message would hold everyone for 1.6 s.
TEST_P(Ch17EveryServer, TricklingClientHoldsUpNobody) {
    Process server(GetParam().program, args_for(GetParam()));
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    common::Fd trickler = harness::connect_tcp("127.0.0.1", port);
    common::Fd other = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(trickler && other) << strerror(errno);
    const std::string slow = "trickle\n";
    auto slowest = harness::Clock::duration::zero();
    for (size_t k = 0; k < slow.size(); ++k) {
        ASSERT_TRUE(harness::send_all(trickler.get(), slow.substr(k, 1)));
        ASSERT_EQ(harness::recv_exact(trickler.get(), 1), slow.substr(k, 1)) << "byte " << k;
        auto t0 = harness::Clock::now();
        ASSERT_TRUE(harness::send_all(other.get(), "ping\n"));
        ASSERT_EQ(harness::recv_exact(other.get(), 5, Deadline(5s)), "ping\n");
        slowest = std::max(slowest, harness::Clock::now() - t0);
        std::this_thread::sleep_for(200ms);  // the trickle's pace
    }
    EXPECT_LT(slowest, harness::scaled(500ms)) << "a round trip waited for the trickler";
    EXPECT_TRUE(server.running()) << server.err();
}

// ---- Peers we did not write ------------------------------------------------------------------

struct PeerCase {
    std::string name;
    std::string program;
    std::vector<std::string> args;
    size_t payload;  // the lesson servers print a line per wake-up: keep it small
};

void PrintTo(const PeerCase& c, std::ostream* os) {
    *os << c.name;
}

class Ch17Socat : public ::testing::TestWithParam<PeerCase> {};

INSTANTIATE_TEST_SUITE_P(
    , Ch17Socat,
    ::testing::Values(PeerCase{"echo_epollserv", PROG_echo_epollserv, {"0"}, 1 << 20},
                      PeerCase{
                          "echo_epollserv_edge", PROG_echo_epollserv, {"0", "--edge"}, 1 << 20},
                      PeerCase{"echo_EPETserv", PROG_echo_EPETserv, {"0"}, 4000},
                      PeerCase{"echo_EPLTserv", PROG_echo_EPLTserv, {"0"}, 1000}),
    [](const auto& p) { return p.param.name; });

TEST_P(Ch17Socat, SocatClientGetsItsBytesBackAndTheServerCloses) {
    SOCKLAB_REQUIRE_TOOL("socat");
    Process server(GetParam().program, GetParam().args);
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    // At end of stdin socat half-closes; our server then reads end of stream and closes, which
    // ends socat (-t 30 only bounds a hang).
    Process socat("socat", {"-t", "30", "-", "TCP:127.0.0.1:" + std::to_string(port)});
    std::string payload = harness::random_bytes(GetParam().payload, 9);
    ASSERT_TRUE(socat.write_stdin(payload, Deadline(30s)));
    socat.close_stdin();
    auto status = socat.finish(Deadline(30s));
    ASSERT_TRUE(status) << "socat did not finish";
    EXPECT_TRUE(harness::exited_with(*status, 0)) << socat.err();
    EXPECT_EQ(socat.out().size(), payload.size());
    EXPECT_TRUE(socat.out() == payload);
}

TEST(Ch17Peers, NcatOverIPv6GetsItsLinesBack) {
    SOCKLAB_REQUIRE_TOOL("ncat");
    Process server(PROG_echo_epollserv, {"0", "--verbose"}, {.bind = "::1"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    EXPECT_EQ(server.out(), "listening on [::1]:" + std::to_string(port) + "\n");
    std::string lines;
    for (int i = 0; i < 200; ++i)
        lines += "line " + std::to_string(i) + "\n";
    auto r = harness::run("ncat", {"::1", std::to_string(port)}, lines, Deadline(20s));
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, lines);
    auto connected = server.read_line();
    ASSERT_TRUE(connected);
    EXPECT_TRUE(std::regex_match(*connected, std::regex("connected client: \\d+"))) << *connected;
    EXPECT_EQ(server.read_line(), "closed client: " + connected->substr(18));
}

// ---- Bad input ---------------------------------------------------------------------------------

TEST(Ch17Usage, BadArgumentsGiveOneLineAndStatusTwo) {
    const std::string epoll_usage = "usage: echo_epollserv PORT [--edge] [--verbose]\n";
    const std::string et_usage = "usage: echo_EPETserv PORT [--buf N] [--one-read | --blocking]\n";
    harness::expect_usage_errors({
        {PROG_echo_epollserv, {}, 2, epoll_usage},
        {PROG_echo_epollserv, {"0", "--loud"}, 2, epoll_usage},
        {PROG_echo_epollserv, {"0", "--edge", "--level"}, 2, epoll_usage},
        {PROG_echo_epollserv,
         {"abc", "--edge"},
         2,
         "echo_epollserv: invalid port 'abc': not a decimal number (expected 0 to 65535)\n"},
        {PROG_echo_EPLTserv, {}, 2, "usage: echo_EPLTserv PORT\n"},
        {PROG_echo_EPLTserv,
         {"70000"},
         2,
         "echo_EPLTserv: invalid port '70000': out of range (expected 0 to 65535)\n"},
        {PROG_echo_EPETserv,
         {"0", "--buf", "0"},
         2,
         "echo_EPETserv: invalid --buf '0' (expected 1 to 65536)\n"},
        {PROG_echo_EPETserv, {"0", "--buf"}, 2, et_usage},
        {PROG_echo_EPETserv, {"0", "--quiet"}, 2, et_usage},
        {PROG_echo_EPETserv, {"0", "--one-read", "--blocking"}, 2, et_usage},
    });
}

TEST(Ch17Usage, PortInUseIsOneLineAndStatusOne) {
    harness::Listener taken = harness::refused_port();  // bound by the test, not listening
    for (const std::string program :
         {PROG_echo_epollserv, PROG_echo_EPLTserv, PROG_echo_EPETserv}) {
        auto r = harness::run(program, {std::to_string(taken.port)});
        EXPECT_EQ(r.exit_code(), 1) << program;
        std::string name = program.substr(program.rfind('/') + 1);
        EXPECT_EQ(r.err, name + ": bind to port " + std::to_string(taken.port) +
                             ": Address already in use\n");
    }
}

}  // namespace
