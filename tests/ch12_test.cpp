// ch12 — I/O multiplexing with select() (book ch. 12), run as real processes over loopback.
//
// What these tests prove: select_demo prints a line that arrives before the time-out and
// prints Time-out! when none does; select() changes both the fd_set and the timeval it is
// given (the program shows what was left), and because the loop resets both, a line typed
// after a time-out is still seen and every time-out lasts the full time; lines split or
// joined by read() are printed whole; end of input ends it.
// The lesson, echo_selectserv: one process echoes several clients byte-exact while all stay
// connected, logs each by its descriptor and gives a freed descriptor to the next client; a
// descriptor >= FD_SETSIZE is refused with one line; out of descriptors it does not spin; and,
// as its README says, a client that sends but never reads stops everyone until it leaves
// (the server sits in write()).
// The real server, select_echo_server: the same concurrency; 1,000 clients connected at once
// all get their echoes byte-exact; a client that sends 8 MiB and reads nothing is stopped by
// backpressure (the server stops reading it), while other clients' round trips stay fast and
// the server's memory stays bounded; strace shows the stuck client in the write set and out
// of the read set; a descriptor >= FD_SETSIZE is refused and the server goes on; out of
// descriptors (EMFILE) it does not spin and accepts waiting clients when others leave; resets
// cost one log line, also a reset in the backlog, which Linux's accept() returns; accept()
// failing with EPROTO costs nothing and with ENFILE pauses accepting for a second; 50 stalled
// half-messages and a trickling client hold up nobody; socat (a peer we did not write) gets
// 1 MiB echoed byte-exact.  Bad usage and bad ports exit 2, a busy port 1.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <regex>
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
using harness::cpu_ticks;
using harness::current_syscall;
using harness::Deadline;
using harness::local_address;
using harness::local_port;
using harness::Process;
using harness::wait_until;

// The soft RLIMIT_NOFILE of a running process, from /proc/PID/limits.
long open_files_limit(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with("Max open files")) return std::stol(line.substr(26));
    return -1;
}

// How many of the process's descriptors are sockets.
int socket_count(pid_t pid) {
    int n = 0;
    std::error_code ec;
    for (const auto& e :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        std::error_code ec2;
        auto target = std::filesystem::read_symlink(e.path(), ec2);
        if (!ec2 && target.string().starts_with("socket:")) ++n;
    }
    return n;
}

void set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    ASSERT_NE(flags, -1);
    ASSERT_NE(fcntl(fd, F_SETFL, flags | O_NONBLOCK), -1);
}

// Sends from PAYLOAD[*sent] on, on a non-blocking socket, until all of it is sent, or no byte
// has gone out for `quiet` (nobody reads at the other end), or the deadline.  Returns true if
// it stopped because nothing went out for `quiet`.
bool send_until_stuck(int fd, const std::string& payload, size_t* sent,
                      std::chrono::milliseconds quiet, Deadline deadline) {
    while (*sent < payload.size() && !deadline.expired()) {
        ssize_t n = send(fd, payload.data() + *sent, payload.size() - *sent, MSG_NOSIGNAL);
        if (n > 0) {
            *sent += static_cast<size_t>(n);
            continue;
        }
        if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
        pollfd p{fd, POLLOUT, 0};
        int wait_ms = static_cast<int>(harness::scaled(quiet).count());
        if (poll(&p, 1, std::min(wait_ms, deadline.ms_left())) == 0) return true;
    }
    return false;
}

// Sends what the socket takes now, without waiting (non-blocking socket).
void send_more(int fd, const std::string& payload, size_t* sent) {
    while (*sent < payload.size()) {
        ssize_t n = send(fd, payload.data() + *sent, payload.size() - *sent, MSG_NOSIGNAL);
        if (n <= 0) return;
        *sent += static_cast<size_t>(n);
    }
}

// The real server (select_echo_server) and the lesson (echo_selectserv), on a port of the
// kernel's choosing.
Process start_server() {
    return Process(PROG_select_echo_server, {"0"});
}
Process start_lesson() {
    return Process(PROG_echo_selectserv, {"0"});
}

// Both servers: bash fills descriptors 3..1020 and then becomes the server PROGRAM: its
// listening socket gets 1021, its first clients 1022 and 1023, and the next one 1024 =
// FD_SETSIZE, which must be refused with one line while the server goes on.  CLOSED(k) is
// the line the server logs when the k-th served client (descriptor 1021 + k) leaves.
void descriptor_at_fd_setsize_is_refused(const std::string& program,
                                         const std::function<std::string(size_t)>& closed) {
    SOCKLAB_REQUIRE_TOOL("bash");
    ASSERT_EQ(FD_SETSIZE, 1024);
    if (!harness::raise_nofile(1100)) GTEST_SKIP() << "cannot raise RLIMIT_NOFILE to 1100";
    Process server("bash", {"-c",
                            "for ((fd = 3; fd <= 1020; fd++)); do eval \"exec $fd</dev/null\"; "
                            "done; exec \"$0\" 0",
                            program});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);

    // Connect one client at a time until one is refused (its connection is closed at once).
    std::vector<common::Fd> served;
    common::Fd refused;
    std::string address;
    for (int i = 1; i <= 5 && !refused; ++i) {
        common::Fd fd = harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(fd) << strerror(errno);
        address = local_address(fd.get());  // (a reset socket may forget it)
        ASSERT_TRUE(harness::send_all(fd.get(), "hi"));
        pollfd p{fd.get(), POLLIN, 0};
        ASSERT_EQ(poll(&p, 1, Deadline().ms_left()), 1) << "no echo and no close";
        char c[2];
        ssize_t n = recv(fd.get(), c, 2, MSG_PEEK);
        if (n > 0) {
            ASSERT_EQ(harness::recv_exact(fd.get(), 2), "hi");
            served.push_back(std::move(fd));
        } else {
            refused = std::move(fd);
        }
    }
    ASSERT_TRUE(refused) << "no client was refused; server stderr:\n" << server.err();
    ASSERT_GE(served.size(), 1u);
    auto line = server.read_err_line();
    ASSERT_TRUE(line) << "no refusal logged; the server is "
                      << (server.running() ? "running" : "gone");
    EXPECT_EQ(*line, program.substr(program.rfind('/') + 1) + ": refused " + address +
                         ": descriptor 1024 >= FD_SETSIZE (1024)");

    // The server goes on: the clients it has are still served...
    for (common::Fd& fd : served) {
        ASSERT_TRUE(harness::send_all(fd.get(), "still here"));
        EXPECT_EQ(harness::recv_exact(fd.get(), 10), "still here");
    }
    // ...and when one leaves, its descriptor (below 1024) goes to the next client.
    served.pop_back();
    ASSERT_TRUE(server.wait_for_line(closed(served.size() + 1)));
    common::Fd next = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(next) << strerror(errno);
    ASSERT_TRUE(harness::send_all(next.get(), "next"));
    EXPECT_EQ(harness::recv_exact(next.get(), 4), "next");
    auto connected = server.wait_for_line(" from " + local_address(next.get()));
    ASSERT_TRUE(connected) << server.out();
    EXPECT_NE(connected->find("connected"), std::string::npos) << *connected;
    EXPECT_TRUE(server.running());
}

// ---- select_demo --------------------------------------------------------------------------

// "  select left: FD_ISSET(0) = 1, timeout = {3 s, 712094 us}"
const std::regex kLeft(R"(  select left: FD_ISSET\(0\) = ([01]), timeout = \{(\d+) s, (\d+) us\})");

TEST(Ch12SelectDemo, LineBeforeTheTimeoutIsPrintedAndSelectShortensTheTimeval) {
    Process demo(PROG_select_demo, {"--timeout-s", "30"});
    ASSERT_TRUE(demo.write_stdin("hello\n"));
    EXPECT_EQ(demo.read_line(), "message from console: hello");
    auto left = demo.read_line();
    ASSERT_TRUE(left) << demo.err();
    std::smatch m;
    ASSERT_TRUE(std::regex_match(*left, m, kLeft)) << *left;
    EXPECT_EQ(m[1], "1") << "stdin was ready, so select() left it in the set";
    long us = std::stol(m[2]) * 1000000 + std::stol(m[3]);
    // Linux wrote back the time it did not wait: less than the 30 s we gave it, not zero.
    EXPECT_LT(us, 30'000'000) << *left;
    EXPECT_GT(us, 0) << *left;

    demo.close_stdin();  // end of input ends the program
    auto status = demo.finish();
    ASSERT_TRUE(status) << "select_demo did not stop at end of input";
    EXPECT_TRUE(harness::exited_with(*status, 0)) << harness::describe_status(*status);
    EXPECT_EQ(demo.out().find("Time-out!"), std::string::npos) << demo.out();
}

TEST(Ch12SelectDemo, NoLineMeansTimeOutAndTheResetSetStillSeesTheNextLine) {
    // stdin stays open (the harness holds the pipe) and we write nothing.
    Process demo(PROG_select_demo, {"--timeout-s", "1"});
    ASSERT_EQ(demo.read_line(), "Time-out!") << demo.err();
    auto first = harness::Clock::now();
    auto left = demo.read_line();
    ASSERT_TRUE(left);
    // After a time-out select() has emptied the set and used up the whole timeval.
    EXPECT_EQ(*left, "  select left: FD_ISSET(0) = 0, timeout = {0 s, 0 us}");

    // Handed on unchanged, that set and that timeval would make the next select() return 0
    // at once, and a typed line would never be seen.  The loop resets both: the next
    // time-out takes the full second again...
    ASSERT_EQ(demo.read_line(), "Time-out!");
    EXPECT_GE(harness::Clock::now() - first, 900ms) << "the timeval was not reset";
    ASSERT_EQ(demo.read_line(), "  select left: FD_ISSET(0) = 0, timeout = {0 s, 0 us}");
    // ...and stdin is watched again.
    ASSERT_TRUE(demo.write_stdin("after a time-out\n"));
    std::optional<std::string> line;
    Deadline seen(5s);  // one deadline for the whole wait: Time-out! lines keep coming
    while ((line = demo.read_line(seen)) && *line != "message from console: after a time-out")
        ASSERT_TRUE(*line == "Time-out!" || line->starts_with("  select left:")) << *line;
    ASSERT_TRUE(line) << demo.out();

    demo.close_stdin();
    auto status = demo.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0));
}

TEST(Ch12SelectDemo, LinesAreWholeHoweverReadSplitsThemAndEndOfInputEnds) {
    // Several lines in one read(), and a last line without '\n' printed at end of input.
    auto r = harness::run(PROG_select_demo, {"--timeout-s", "30"}, "one\ntwo\nthree\nlast");
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    std::vector<std::string> messages;
    for (const std::string& line : harness::lines(r.out))
        if (!line.starts_with("  select left:")) messages.push_back(line);
    EXPECT_EQ(messages, (std::vector<std::string>{
                            "message from console: one", "message from console: two",
                            "message from console: three", "message from console: last"}))
        << r.out;
}

// ---- echo_selectserv: the lesson ------------------------------------------------------------

// The lesson logs each client by its descriptor, as the book does.
std::string connected_line(int fd, const common::Fd& client) {
    return "connected client: " + std::to_string(fd) + " from " + local_address(client.get());
}

TEST(Ch12SelectServ, OneProcessEchoesSeveralClientsByteExactWhileAllStayConnected) {
    Process server = start_lesson();
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    EXPECT_EQ(server.out(), "listening on 127.0.0.1:" + std::to_string(port) + "\n");

    // Five clients connect and stay connected; the listening socket is 3, so the server's
    // descriptors for them are 4 to 8, and select() watches all six.
    constexpr int kClients = 5;
    std::vector<common::Fd> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(clients.back()) << strerror(errno);
        EXPECT_EQ(server.read_line(), connected_line(4 + i, clients.back()));
    }
    // Served in any order, each one while the others wait, connected and silent: the last
    // client first, then the others.  Every byte value, more than one read() (4 KiB) each.
    for (int round = 0; round < 2; ++round) {
        for (int i = kClients - 1; i >= 0; --i) {
            unsigned seed = static_cast<unsigned>(round * kClients + i);
            std::string data = harness::random_bytes(10000 + 1000 * i, seed);
            ASSERT_TRUE(harness::send_all(clients[i].get(), data));
            std::string partial;
            auto got = harness::recv_exact(clients[i].get(), data.size(), Deadline(), &partial);
            ASSERT_TRUE(got) << "client " << i << ": " << harness::first_difference(partial, data);
            ASSERT_TRUE(*got == data) << harness::first_difference(*got, data);
        }
    }

    // A half-close (FIN): read() returns 0 after the last bytes, which are echoed first; then
    // the server closes that descriptor and takes it out of the set.
    ASSERT_TRUE(harness::send_all(clients[1].get(), "bye"));
    ASSERT_EQ(shutdown(clients[1].get(), SHUT_WR), 0);
    auto rest = harness::recv_to_end(clients[1].get());
    EXPECT_EQ(rest.data, "bye");
    EXPECT_EQ(rest.end, harness::End::kFin);
    EXPECT_EQ(server.read_line(), "closed client: 5");
    // accept() returns the lowest free descriptor: the next client gets 5 again.
    common::Fd next = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(next) << strerror(errno);
    EXPECT_EQ(server.read_line(), connected_line(5, next));
    ASSERT_TRUE(harness::send_all(next.get(), "next"));
    EXPECT_EQ(harness::recv_exact(next.get(), 4), "next");
    clients.clear();
    next.reset();
    std::vector<std::string> closed;  // in the order select() reports them
    for (int i = 0; i < kClients; ++i) {
        auto line = server.read_line();
        ASSERT_TRUE(line) << server.out();
        closed.push_back(*line);
    }
    std::sort(closed.begin(), closed.end());
    EXPECT_EQ(closed,
              (std::vector<std::string>{"closed client: 4", "closed client: 5", "closed client: 6",
                                        "closed client: 7", "closed client: 8"}));
    EXPECT_TRUE(server.running());
    EXPECT_EQ(server.err(), "");
}

TEST(Ch12SelectServ, DescriptorAtOrAboveFdSetsizeIsRefusedAndTheServerGoesOn) {
    descriptor_at_fd_setsize_is_refused(PROG_echo_selectserv, [](size_t k) {
        return "closed client: " + std::to_string(1021 + k);
    });
}

// Out of descriptors (ulimit -n 8: 0-2, the listening socket 3, clients 4-7), the lesson takes
// the listening socket out of its set instead of spinning on it (the book: FD_SET(-1, ...)),
// and puts it back when a client leaves.
TEST(Ch12SelectServ, OutOfDescriptorsItWaitsWithoutSpinningUntilAClientLeaves) {
    SOCKLAB_REQUIRE_TOOL("bash");
    constexpr int kClients = 6;
    Process server("bash", {"-c", "ulimit -n 8 && exec \"$0\" 0", PROG_echo_selectserv});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    ASSERT_EQ(open_files_limit(server.pid()), 8);
    std::vector<common::Fd> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(clients.back()) << strerror(errno);
        ASSERT_TRUE(harness::send_all(clients.back().get(), "client " + std::to_string(i) + "\n"));
    }
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(server.read_line(), connected_line(4 + i, clients[i]));
        std::string line = "client " + std::to_string(i) + "\n";
        EXPECT_EQ(harness::recv_exact(clients[i].get(), line.size()), line);
    }
    EXPECT_EQ(server.read_err_line(),
              "echo_selectserv: accept (new clients wait until one leaves): Too many open files");
    // Over 2 seconds with nothing it can do, it uses (next to) no CPU: a select() that kept
    // returning for the listening socket would burn the whole window.
    long before = cpu_ticks(server.pid());
    std::this_thread::sleep_for(2s);  // a measurement window, not synchronisation
    long used = cpu_ticks(server.pid()) - before;
    EXPECT_LE(used * 1000 / sysconf(_SC_CLK_TCK), 200) << "ms of CPU while idle";
    // ...and it has not tried accept() again: one warning.  (A spinning server would write
    // one per turn of the loop, and block once the stderr pipe is full: then it uses no CPU.)
    auto again = server.read_err_line(Deadline(200ms));
    EXPECT_FALSE(again) << "accept() was tried again: " << *again;

    // Client 0 leaves: its descriptor goes to client 4, whose line waited in the kernel.
    clients[0].reset();
    EXPECT_EQ(server.read_line(), "closed client: 4");
    EXPECT_EQ(server.read_line(), connected_line(4, clients[4]));
    EXPECT_EQ(harness::recv_exact(clients[4].get(), 9), "client 4\n");
    EXPECT_TRUE(server.running());
}

// What the lesson does NOT survive (its README says so): its write() blocks.  A client that
// sends but never reads fills its socket buffers, the server's write() to it waits, and
// every other client waits behind it.  When that client leaves, the write() fails, and the
// others are served again.  (select_echo_server: ClientThatNeverReadsStallsNobody...)
TEST(Ch12SelectServ, AClientThatNeverReadsStopsEveryoneUntilItLeaves) {
    Process server = start_lesson();
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    common::Fd other = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(other) << strerror(errno);
    ASSERT_TRUE(server.wait_for_line("connected client: 4"));
    ASSERT_TRUE(harness::send_all(other.get(), "warm up"));
    ASSERT_EQ(harness::recv_exact(other.get(), 7), "warm up");

    // The flooding client: small socket buffers of its own, so that the server's echo backs
    // up (and the real server's 64 KiB for it fills) after a few kilobytes, not megabytes.
    common::Fd flood = harness::connect_small_rcvbuf(port, 4096, 4096);
    ASSERT_TRUE(flood);
    ASSERT_TRUE(server.wait_for_line("connected client: 5"));
    set_nonblocking(flood.get());
    const std::string payload = harness::random_bytes(8 << 20, 5);
    size_t sent = 0;
    send_until_stuck(flood.get(), payload, &sent, 500ms, Deadline(30s));
    EXPECT_LT(sent, payload.size());
    // The server sits in write() on the flooder's descriptor (5).
    long fd = -1;
    ASSERT_TRUE(wait_until([&] { return current_syscall(server.pid(), &fd) == SYS_write; }))
        << "server in syscall " << current_syscall(server.pid());
    EXPECT_EQ(fd, 5);

    // So the other client's line is not even read: no echo in a whole second.
    ASSERT_TRUE(harness::send_all(other.get(), "anyone there?"));
    pollfd p{other.get(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, static_cast<int>(harness::scaled(1000ms).count())), 0)
        << "the other client was served while the server was stuck";
    EXPECT_EQ(current_syscall(server.pid(), &fd), SYS_write);

    // The flooder resets its connection: the write() fails, and everybody is served again.
    linger abort{.l_onoff = 1, .l_linger = 0};
    ASSERT_EQ(setsockopt(flood.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
    flood.reset();
    EXPECT_EQ(harness::recv_exact(other.get(), 13, Deadline(10s)), "anyone there?");
    EXPECT_TRUE(server.wait_for_line("closed client: 5"));
    EXPECT_TRUE(
        std::regex_match(server.err(), std::regex(R"(echo_selectserv: client 5: write: .+\n)")))
        << server.err();
    EXPECT_TRUE(server.running());
}

// ---- select_echo_server: concurrency ---------------------------------------------------------

// What Linux does with a connection reset while it waits in the backlog (BSD fails accept()
// with ECONNABORTED or drops it, UNP §16.6): the lesson's blocking accept() returns a
// descriptor for it, and the first read() on it fails with ECONNRESET.  strace shows both.
TEST(Ch12SelectServ, ConnectionResetInTheBacklogIsAcceptedAndItsFirstReadSaysSo) {
    SOCKLAB_REQUIRE_TOOL("strace");
    Process server("strace", {"-qq", "-e", "trace=accept,accept4,read", PROG_echo_selectserv, "0"},
                   harness::traced());
    int port = server.wait_ready(Deadline(20s));
    ASSERT_GT(port, 0);
    server.signal(SIGSTOP);  // strace stops: the server makes no call until SIGCONT
    ASSERT_TRUE(wait_until([&] {
        auto st = harness::proc_stat(server.pid());
        return st && st->state == 'T';
    }));
    std::string address;
    {
        common::Fd doomed = harness::connect_tcp("127.0.0.1", port);  // the kernel completes it
        ASSERT_TRUE(doomed) << strerror(errno);
        address = local_address(doomed.get());
        linger abort{.l_onoff = 1, .l_linger = 0};  // close() sends RST
        ASSERT_EQ(setsockopt(doomed.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
    }  // reset while it waits in the backlog: nothing has called accept() yet
    server.signal(SIGCONT);

    auto line = server.read_line(Deadline(20s));
    ASSERT_TRUE(line) << server.err();
    EXPECT_EQ(line->rfind("connected client: ", 0), 0u) << *line;
    EXPECT_TRUE(line->ends_with(" from " + address)) << *line;
    std::string fd = line->substr(18, line->find(' ', 18) - 18);  // "connected client: N ..."
    EXPECT_EQ(server.read_line(Deadline(20s)), "closed client: " + fd);
    // The trace: accept() returned that descriptor, and its first read() failed.
    bool accepted = false, reset = false;
    while (auto err = server.read_err_line(Deadline(20s))) {
        if (err->starts_with("accept") && err->ends_with(") = " + fd)) accepted = true;
        if (accepted && err->starts_with("read(" + fd + ",") &&
            err->find("= -1 ECONNRESET") != std::string::npos)
            reset = true;
        if (*err == "echo_selectserv: client " + fd + ": read: Connection reset by peer") break;
    }
    EXPECT_TRUE(accepted) << server.err();
    EXPECT_TRUE(reset) << server.err();
    EXPECT_TRUE(server.running());
}

TEST(Ch12RealServer, ServesASecondClientWhileTheFirstStaysConnected) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    EXPECT_EQ(server.out(), "listening on 127.0.0.1:" + std::to_string(port) + "\n");

    common::Fd one = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(one) << strerror(errno);
    EXPECT_EQ(server.read_line(), "client 1 connected from " + local_address(one.get()));
    // Client 1 stays connected and silent.  ch04's iterative server would now make client 2
    // wait; one select() loop serves both.
    common::Fd two = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(two) << strerror(errno);
    EXPECT_EQ(server.read_line(), "client 2 connected from " + local_address(two.get()));
    ASSERT_TRUE(harness::send_all(two.get(), "second\n"));
    EXPECT_EQ(harness::recv_exact(two.get(), 7), "second\n");
    ASSERT_TRUE(harness::send_all(one.get(), "first\n"));
    EXPECT_EQ(harness::recv_exact(one.get(), 6), "first\n");

    // A half-close (FIN): the server finishes the echo, then closes its side too.
    ASSERT_TRUE(harness::send_all(two.get(), "bye"));
    ASSERT_EQ(shutdown(two.get(), SHUT_WR), 0);
    auto rest = harness::recv_to_end(two.get());
    EXPECT_EQ(rest.data, "bye");
    EXPECT_EQ(rest.end, harness::End::kFin);
    EXPECT_EQ(server.read_line(), "client 2 disconnected");
    one.reset();
    EXPECT_EQ(server.read_line(), "client 1 disconnected");
    EXPECT_TRUE(server.running());
    EXPECT_EQ(server.err(), "");
}

TEST(Ch12RealServer, ThousandClientsConnectedAtOnceAllGetTheirEchoes) {
    constexpr int kClients = 1000, kRounds = 3;
    // 1,000 sockets here and 1,000 in the server, on top of the usual few.
    if (!harness::raise_nofile(2 * kClients + 100))
        GTEST_SKIP() << "cannot raise RLIMIT_NOFILE to " << 2 * kClients + 100;
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    ASSERT_GE(open_files_limit(server.pid()), 2 * kClients + 100)
        << "the server did not inherit the raised limit";

    std::vector<common::Fd> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(clients.back()) << "client " << i + 1 << ": " << strerror(errno);
    }
    // All of them are connected at the same time: the server has accepted each one.
    ASSERT_TRUE(server.wait_for_line("client 1000 connected", Deadline(30s))) << server.err();

    // Each round: every client sends its message (1 to 1,500 bytes, every byte value), then
    // every client reads its echo back.
    for (int round = 0; round < kRounds; ++round) {
        std::vector<std::string> sent(kClients);
        for (int i = 0; i < kClients; ++i) {
            unsigned seed = static_cast<unsigned>(round * kClients + i);
            sent[i] = harness::random_bytes(1 + (seed * 7919) % 1500, seed);
            ASSERT_TRUE(harness::send_all(clients[i].get(), sent[i])) << "client " << i + 1;
        }
        for (int i = 0; i < kClients; ++i) {
            std::string partial;
            auto got =
                harness::recv_exact(clients[i].get(), sent[i].size(), Deadline(30s), &partial);
            ASSERT_TRUE(got) << "round " << round << " client " << i + 1 << ": "
                             << harness::first_difference(partial, sent[i]);
            ASSERT_TRUE(*got == sent[i]) << harness::first_difference(*got, sent[i]);
        }
    }
    EXPECT_EQ(server.out().find("disconnected"), std::string::npos);
    clients.clear();
    EXPECT_TRUE(server.wait_for_line("client 1000 disconnected", Deadline(30s)));
    EXPECT_TRUE(server.running());
    EXPECT_EQ(server.err(), "");
}

// ---- select_echo_server: a client that never reads --------------------------------------------

TEST(Ch12RealServer, ClientThatNeverReadsStallsNobodyAndMemoryStaysBounded) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    std::vector<common::Fd> others;
    for (int i = 0; i < 3; ++i) {
        others.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(others.back()) << strerror(errno);
        ASSERT_TRUE(harness::send_all(others.back().get(), "warm up"));
        ASSERT_EQ(harness::recv_exact(others.back().get(), 7), "warm up");
    }
    long rss_before = harness::status_value(server.pid(), "VmRSS");
    ASSERT_GT(rss_before, 0);

    // 8 MiB from a client that reads nothing.  The server reads until the flooder's 64 KiB
    // of pending echo is full, then stops reading it.  What the flooder sends after that
    // waits in the kernel: in the input buffer of the server's socket (which Linux may grow
    // to several MiB, enough to take all 8 MiB) and then in the flooder's output buffer.
    common::Fd flood = harness::connect_small_rcvbuf(port, 4096, 4096);  // (as above)
    ASSERT_TRUE(flood) << strerror(errno);
    set_nonblocking(flood.get());
    const std::string payload = harness::random_bytes(8 << 20, 8);
    size_t sent = 0;
    send_until_stuck(flood.get(), payload, &sent, 500ms, Deadline(30s));

    // Meanwhile everybody else is served, and fast.
    auto slowest = harness::Clock::duration::zero();
    for (int trip = 0; trip < 100; ++trip) {
        for (size_t i = 0; i < others.size(); ++i) {
            std::string msg = "trip " + std::to_string(trip) + " of client " + std::to_string(i);
            auto t0 = harness::Clock::now();
            ASSERT_TRUE(harness::send_all(others[i].get(), msg));
            ASSERT_EQ(harness::recv_exact(others[i].get(), msg.size(), Deadline(5s)), msg);
            slowest = std::max(slowest, harness::Clock::now() - t0);
        }
    }
    EXPECT_LT(slowest, harness::scaled(1000ms)) << "a round trip waited for the flooder";

    // All that time the server did not read the flooder: its bytes still wait in the server
    // socket's input buffer (Recv-Q in ss).  A server that kept reading would have emptied it.
    long unread = harness::tcp_recv_queue(port, local_port(flood.get()));
    EXPECT_GT(unread, 0) << "the server read all " << sent << " bytes: no backpressure";

    // The server holds at most 64 KiB for the flooder, not the megabytes it was sent.  (A
    // server that read everything would hold what it could not write: several MiB.)
    long hwm = harness::status_value(server.pid(), "VmHWM");
    EXPECT_LT(hwm - rss_before, 2048)
        << "VmRSS before " << rss_before << " KiB, VmHWM " << hwm << " KiB; the flooder sent "
        << sent << " bytes, " << unread << " of them unread by the server";
    EXPECT_TRUE(server.running());
}

// strace prints each select() with the sets it was given: [3 5] means descriptors 3 and 5.
struct SelectCall {
    std::vector<int> reads, writes;
};
std::optional<SelectCall> parse_select(const std::string& line) {
    static const std::regex call(R"(^p?select6?\(\d+, (\[[\d ]*\]|NULL), (\[[\d ]*\]|NULL), .*)");
    std::smatch m;
    if (!std::regex_match(line, m, call)) return std::nullopt;
    auto set = [](const std::string& text) {
        std::vector<int> fds;
        std::istringstream in(text == "NULL" ? "" : text.substr(1, text.size() - 2));
        for (int fd; in >> fd;)
            fds.push_back(fd);
        return fds;
    };
    return SelectCall{set(m[1]), set(m[2])};
}
bool contains(const std::vector<int>& v, int x) {
    return std::find(v.begin(), v.end(), x) != v.end();
}

TEST(Ch12RealServer, StraceShowsTheStuckClientInTheWriteSetAndOutOfTheReadSet) {
    SOCKLAB_REQUIRE_TOOL("strace");
    // glibc's select() is the pselect6 system call; strace prints it with the sets passed in.
    Process server("strace",
                   {"-e", "trace=select,pselect6,accept,accept4", PROG_select_echo_server, "0"},
                   harness::traced());
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    common::Fd flood = harness::connect_small_rcvbuf(port, 4096, 4096);  // (as above)
    ASSERT_TRUE(flood) << strerror(errno);
    common::Fd other = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(other) << strerror(errno);

    // The server's descriptors for the two clients, from accept4()'s results (in order).
    std::vector<int> accepted;
    Deadline accepts;
    while (accepted.size() < 2) {
        auto line = server.read_err_line(accepts);
        ASSERT_TRUE(line) << server.err();
        for (const harness::SysCall& call : harness::strace_calls(*line))
            if (call.name.starts_with("accept") && call.result != "-1")
                accepted.push_back(std::stoi(call.result));
    }
    const int flood_fd = accepted[0], other_fd = accepted[1];

    // Before any echo is pending the write set is empty.
    bool empty_write_set_seen = false;
    for (const std::string& line : harness::lines(server.err()))
        if (auto call = parse_select(line); call && call->writes.empty())
            empty_write_set_seen = true;
    EXPECT_TRUE(empty_write_set_seen) << server.err();

    set_nonblocking(flood.get());
    const std::string payload = harness::random_bytes(8 << 20, 9);
    size_t sent = 0;
    send_until_stuck(flood.get(), payload, &sent, 500ms, Deadline(30s));
    // strace prints a select() when it returns: each round trip of the other client makes
    // one return.  Wait (bounded) for a call that shows the server's state for the flooder.
    bool found = false;
    Deadline overall(30s);
    for (int trip = 0; trip < 200 && !found && !overall.expired(); ++trip) {
        send_more(flood.get(), payload, &sent);  // keep the flooder's side full
        ASSERT_TRUE(harness::send_all(other.get(), "ping"));
        ASSERT_EQ(harness::recv_exact(other.get(), 4), "ping");
        while (auto line =
                   server.read_err_line(overall.expired() ? Deadline(0ms) : Deadline(50ms))) {
            auto call = parse_select(*line);
            if (call && contains(call->writes, flood_fd) && !contains(call->reads, flood_fd) &&
                contains(call->reads, other_fd))
                found = true;
        }
    }
    EXPECT_TRUE(found) << "no select() with descriptor " << flood_fd
                       << " in the write set only; last of the trace:\n"
                       << server.err().substr(server.err().size() -
                                              std::min<size_t>(2000, server.err().size()));
    EXPECT_LT(sent, payload.size());
}

// ---- select_echo_server: limits ----------------------------------------------------------------

TEST(Ch12RealServer, DescriptorAtOrAboveFdSetsizeIsRefusedAndTheServerGoesOn) {
    descriptor_at_fd_setsize_is_refused(PROG_select_echo_server, [](size_t k) {
        return "client " + std::to_string(k) + " disconnected";
    });
}

TEST(Ch12RealServer, OutOfDescriptorsTheServerWaitsWithoutSpinningAndResumes) {
    SOCKLAB_REQUIRE_TOOL("bash");
    constexpr int kClients = 20;
    Process server("bash", {"-c", "ulimit -n 16 && exec \"$0\" 0", PROG_select_echo_server});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    ASSERT_EQ(open_files_limit(server.pid()), 16);

    // More clients than descriptors; each sends its line at once.
    std::vector<common::Fd> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(clients.back()) << strerror(errno);
        ASSERT_TRUE(harness::send_all(clients.back().get(), "client " + std::to_string(i) + "\n"));
    }
    auto warning = server.read_err_line();
    ASSERT_TRUE(warning);
    EXPECT_EQ(
        *warning,
        "select_echo_server: accept (new clients wait until one leaves): Too many open files");
    // Every descriptor is taken: the listening socket and K clients.
    const int k = socket_count(server.pid()) - 1;
    ASSERT_GT(k, 0);
    ASSERT_LT(k, kClients);
    ASSERT_TRUE(server.wait_for_line("client " + std::to_string(k) + " connected"));
    // The accepted ones (the first K, in the order they connected) get their echoes...
    for (int i = 0; i < k; ++i) {
        std::string line = "client " + std::to_string(i) + "\n";
        EXPECT_EQ(harness::recv_exact(clients[i].get(), line.size()), line);
    }
    // ...and the server does not spin on the listening socket, which stays readable: over
    // 2 seconds with nothing to do it uses (next to) no CPU.  A select() that kept returning
    // for the listening socket would burn the whole window.
    long before = cpu_ticks(server.pid());
    std::this_thread::sleep_for(2s);  // a measurement window, not synchronisation
    long used = cpu_ticks(server.pid()) - before;
    EXPECT_LE(used * 1000 / sysconf(_SC_CLK_TCK), 200) << "ms of CPU while idle";
    // ...and it has not tried accept() again: one warning.  (A spinning server would write
    // one per turn of the loop, and block once the stderr pipe is full: then it uses no CPU.)
    auto again = server.read_err_line(Deadline(200ms));
    EXPECT_FALSE(again) << "accept() was tried again: " << *again;

    // Two clients leave: two waiting ones are accepted, and their lines (queued in the
    // kernel all along) come back.
    clients[0].reset();
    clients[1].reset();
    for (int i = k; i < k + 2; ++i) {
        std::string line = "client " + std::to_string(i) + "\n";
        EXPECT_EQ(harness::recv_exact(clients[i].get(), line.size()), line) << "client " << i;
    }
    EXPECT_TRUE(server.wait_for_line("client " + std::to_string(k + 2) + " connected"));
    EXPECT_TRUE(server.running());
}

// ---- select_echo_server: faults, peers, usage ------------------------------------------------

TEST(Ch12RealServer, ResetClientsCostOneLineEachAndOthersAreUndisturbed) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    common::Fd steady = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(steady) << strerror(errno);
    ASSERT_TRUE(server.wait_for_line("client 1 connected"));

    for (int client = 2; client <= 11; ++client) {
        // Sends 64 KiB, waits until the echo has started, then resets the connection:
        // SO_LINGER {on, 0 s} makes close() send RST instead of FIN.
        common::Fd fd = harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(fd) << strerror(errno);
        ASSERT_TRUE(harness::send_all(fd.get(), harness::random_bytes(64 << 10, client)));
        pollfd p{fd.get(), POLLIN, 0};
        ASSERT_EQ(poll(&p, 1, Deadline().ms_left()), 1) << "no echo from the server";
        linger abort{.l_onoff = 1, .l_linger = 0};
        ASSERT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
        fd.reset();
        ASSERT_TRUE(server.wait_for_line("client " + std::to_string(client) + " disconnected"));
        ASSERT_TRUE(harness::send_all(steady.get(), "steady"));
        ASSERT_EQ(harness::recv_exact(steady.get(), 6), "steady");
    }
    server.signal(SIGTERM);
    ASSERT_TRUE(server.finish());
    std::regex warning(R"(select_echo_server: client (\d+): (recv|send): .+)");
    int warnings = 0;
    for (const std::string& line : harness::lines(server.err())) {
        EXPECT_TRUE(std::regex_match(line, warning)) << line;
        ++warnings;
    }
    EXPECT_EQ(warnings, 10) << server.err();
}

// Linux, not BSD (UNP §16.6): a connection reset while it waits in the backlog is still
// returned by accept().  With nothing received its first recv() fails with ECONNRESET; bytes
// that came before the RST are still read, and the echo's send() gets the ECONNRESET.  The
// server is stopped (SIGSTOP) so that both clients connect and reset before it accepts.
TEST(Ch12RealServer, ConnectionResetBeforeAcceptIsAcceptedAndTheResetReportedOnce) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    server.signal(SIGSTOP);
    ASSERT_TRUE(wait_until([&] {
        auto st = harness::proc_stat(server.pid());
        return st && st->state == 'T';
    }));
    std::vector<std::string> addresses;
    for (std::string data : {"", "echo me"}) {
        common::Fd doomed = harness::connect_tcp("127.0.0.1", port);  // the kernel completes it
        ASSERT_TRUE(doomed) << strerror(errno);
        addresses.push_back(local_address(doomed.get()));
        ASSERT_TRUE(harness::send_all(doomed.get(), data));
        linger abort{.l_onoff = 1, .l_linger = 0};  // close() sends RST
        ASSERT_EQ(setsockopt(doomed.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
        // On loopback the RST is processed before close() returns: reset in the backlog.
    }
    server.signal(SIGCONT);

    EXPECT_EQ(server.read_line(), "client 1 connected from " + addresses[0]);
    EXPECT_EQ(server.read_line(), "client 2 connected from " + addresses[1]);
    EXPECT_EQ(server.read_err_line(),
              "select_echo_server: client 1: recv: Connection reset by peer");
    EXPECT_EQ(server.read_err_line(),
              "select_echo_server: client 2: send: Connection reset by peer");
    EXPECT_EQ(server.read_line(), "client 1 disconnected");
    EXPECT_EQ(server.read_line(), "client 2 disconnected");
    common::Fd next = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(next) << strerror(errno);
    ASSERT_TRUE(harness::send_all(next.get(), "next"));
    EXPECT_EQ(harness::recv_exact(next.get(), 4), "next");
    EXPECT_TRUE(server.running());
}

// The server under strace, which makes its first accept4() fail with INJECT's error (the
// syscall does not run, so the connection stays in the backlog).
Process traced_server(const std::string& inject) {
    return Process("strace",
                   {"-qq", "-e", "trace=accept4", "-e", "inject=accept4:" + inject,
                    PROG_select_echo_server, "0"},
                   harness::traced());
}

// Waits for strace's line about the injected error.
bool injected(Process& server, const std::string& error) {
    while (auto line = server.read_err_line(Deadline(20s)))
        if (line->find("= -1 " + error) != std::string::npos && line->ends_with("(INJECTED)"))
            return true;
    return false;
}

// accept() failing for a connection that died in the backlog (EPROTO: accept(2) says retry)
// costs nothing: the server accepts again.
TEST(Ch12RealServer, AcceptFailingForAConnectionThatDiedInTheBacklogCostsNothing) {
    SOCKLAB_REQUIRE_TOOL("strace");
    Process server = traced_server("error=EPROTO:when=1");
    int port = server.wait_ready(Deadline(20s));
    ASSERT_GT(port, 0);
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    ASSERT_TRUE(harness::send_all(fd.get(), "after EPROTO"));
    EXPECT_EQ(harness::recv_exact(fd.get(), 12, Deadline(20s)), "after EPROTO") << server.err();
    EXPECT_TRUE(injected(server, "EPROTO")) << server.err();
    EXPECT_TRUE(server.running());
}

// ENFILE with no client of its own that could leave: the server stops accepting (no retry
// loop) and looks again a second later by itself.
TEST(Ch12RealServer, OutOfFilesWithNoClientToWaitForTriesAgainASecondLater) {
    SOCKLAB_REQUIRE_TOOL("strace");
    Process server = traced_server("error=ENFILE:when=1");
    int port = server.wait_ready(Deadline(20s));
    ASSERT_GT(port, 0);
    auto start = harness::Clock::now();
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    ASSERT_TRUE(harness::send_all(fd.get(), "after ENFILE"));
    EXPECT_EQ(harness::recv_exact(fd.get(), 12, Deadline(20s)), "after ENFILE") << server.err();
    EXPECT_GE(harness::Clock::now() - start, 900ms) << "it did not pause: a retry loop?";
    EXPECT_TRUE(injected(server, "ENFILE")) << server.err();
    EXPECT_NE(server.err().find("select_echo_server: accept (new clients wait until one leaves): "
                                "Too many open files in system"),
              std::string::npos)
        << server.err();
    EXPECT_TRUE(server.running());
}

// ---- select_echo_server: slow clients -------------------------------------------------------

// 50 clients send half a message and stall (they stay connected and send nothing more).  An
// echo server returns the bytes as they come; what matters is that none of them holds the
// loop: a client that comes afterwards is served at once, and a stalled one can finish.
TEST(Ch12RealServer, FiftyClientsStalledMidMessageHoldUpNobody) {
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
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
    EXPECT_TRUE(server.wait_for_line("client 51 connected"));
    EXPECT_EQ(server.out().find("disconnected"), std::string::npos) << "a stalled client dropped";
    EXPECT_TRUE(server.running());
}

// A client that sends one byte every 200 ms (the client's pace is the point here, so the test
// sleeps between bytes): each byte is echoed as it comes, and meanwhile another client's round
// trips stay fast.  A server that waited for the whole message would hold everyone for 1.6 s.
TEST(Ch12RealServer, TricklingClientHoldsUpNobody) {
    Process server = start_server();
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
    EXPECT_TRUE(server.running());
    EXPECT_EQ(server.err(), "");
}

TEST(Ch12RealServer, SocatClientGetsOneMiBEchoedByteExact) {
    SOCKLAB_REQUIRE_TOOL("socat");
    Process server = start_server();
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    // socat half-closes at the end of its stdin and waits (-t, at most 30 s) for our side to
    // close: the server does once the last byte of the echo is written.
    Process socat("socat", {"-t", "30", "-", "TCP:127.0.0.1:" + std::to_string(port)});
    std::string payload = harness::random_bytes(1 << 20, 12);
    ASSERT_TRUE(socat.write_stdin(payload, Deadline(30s)));
    socat.close_stdin();
    auto status = socat.finish(Deadline(30s));
    ASSERT_TRUE(status) << "socat did not finish";
    EXPECT_TRUE(harness::exited_with(*status, 0)) << socat.err();
    EXPECT_TRUE(socat.out() == payload) << harness::first_difference(socat.out(), payload);
    EXPECT_TRUE(server.wait_for_line("client 1 disconnected"));
}

// ---- bad usage ---------------------------------------------------------------------------

TEST(Ch12Usage, BadUsageAndBadValuesExitTwo) {
    const std::string demo = PROG_select_demo;
    std::vector<harness::UsageCase> cases = {
        {demo,
         {"--timeout-s", "0"},
         2,
         "select_demo: invalid --timeout-s '0' (expected 1 to 3600)\n"},
        {demo, {"--timeout", "5"}, 2, "usage: select_demo [--timeout-s N]\n"},
    };
    for (std::string program : {PROG_echo_selectserv, PROG_select_echo_server}) {
        std::string name = program.substr(program.rfind('/') + 1);
        cases.push_back({program, {}, 2, "usage: " + name + " PORT\n"});
        cases.push_back({program, {"0", "extra"}, 2, "usage: " + name + " PORT\n"});
        cases.push_back({program,
                         {"70000"},
                         2,
                         name + ": invalid port '70000': out of range (expected 0 to 65535)\n"});
    }
    harness::expect_usage_errors(cases);
}

TEST(Ch12Usage, BusyPortExitsOne) {
    harness::Listener busy = harness::listen_loopback();
    for (std::string program : {PROG_echo_selectserv, PROG_select_echo_server}) {
        std::string name = program.substr(program.rfind('/') + 1);
        auto r = harness::run(program, {std::to_string(busy.port)});
        EXPECT_EQ(r.exit_code(), 1) << name;
        EXPECT_EQ(r.err, name + ": bind to port " + std::to_string(busy.port) +
                             ": Address already in use\n");
    }
}

}  // namespace

// ---- select_except: urgent data is what lands in select()'s exception set ------------------

TEST(Ch12SelectExcept, UrgentByteSetsTheExceptionSetAndIsReadApartFromTheStream) {
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::TempDir dir;
    std::string trace_file = dir.file("trace");
    harness::Result r = harness::run(
        "strace",
        {"-o", trace_file, "-e", "trace=select,pselect6,sendto,recvfrom", "--", PROG_select_except},
        {}, {}, harness::traced());
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out,
              "round 1: read -> recv: \"ab\"\n"
              "round 2: read except -> recv(MSG_OOB): '!'; recv: \"cd\"\n"
              "round 3: read -> recv: end of stream\n");
    EXPECT_EQ(harness::sanitizer_report(r.err), "");
    std::string calls;
    for (const harness::SysCall& c : harness::strace_calls(harness::read_file(trace_file)))
        calls += c.text + "\n";
    // The kernel's answers: normal data sets only the read set; "cd!" sent with MSG_OOB sets
    // the exception set too; recv(MSG_OOB) gets '!' alone; a plain recv() then gets "cd",
    // never the '!'; after that the exception set is empty again (the FIN: read set only).
    const char* any = R"((?:.*\n)*?)";
    std::string sel = R"(p?select6?\(\d+, \[(\d+)\], NULL, \[\1\], NULL(?:, NULL)?\) = )";
    std::string pattern =
        std::string(R"(sendto\(\d+, "ab", 2, 0, NULL, 0\) = 2\n)") + any + sel +
        R"(1 \(in \[\d+\]\)\n)" + any + R"(sendto\(\d+, "cd!", 3, MSG_OOB, NULL, 0\) = 3\n)" + any +
        sel + R"(2 \(in \[\d+\], except \[\d+\]\)\n)" +
        R"(recvfrom\(\d+, "!", 1, MSG_OOB, NULL, NULL\) = 1\n)" +
        R"(recvfrom\(\d+, "cd", 64, 0, NULL, NULL\) = 2\n)" + any + sel + R"(1 \(in \[\d+\]\)\n)" +
        R"(recvfrom\(\d+, "", 64, 0, NULL, NULL\) = 0\n)";
    EXPECT_TRUE(std::regex_search(calls, std::regex(pattern))) << calls;
}
