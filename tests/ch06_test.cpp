// ch06 — UDP: the echo server, the unconnected and the connected client, and message
// boundaries (book ch. 6), run as real processes over loopback.
//
// What these tests prove: the server echoes text, an empty datagram (as an empty datagram)
// and datagrams of 60,000 and 65,507 bytes (the IPv4 maximum) whole, and reports a datagram
// cut by a small buffer instead of hiding it; one socket serves several peers at once.
// uecho_client sends one datagram per line, never calls bind() or connect() (strace), gets
// its port from the kernel on the first sendto() and says which; when no reply comes it
// prints "no reply within N ms: lost, or nobody listening (...)" and goes on (it cannot tell
// which: ICMP is not reported to an unconnected socket); it ignores datagrams from a third
// address and late echoes.  uecho_con_client calls connect() on a SOCK_DGRAM socket and then
// write()/read(), never sendto() (strace); it reports ECONNREFUSED when nothing listens, where
// the unconnected client only times out; the kernel itself drops a stranger's datagrams to a
// connected socket.  Three sendto() calls need three recvfrom() calls (bound_host1/2, strace).
// IPv6 (::1) works; socat as client and as server talks to our programs; bad usage, bad ports
// and unknown hosts give one line and the right exit status.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "harness.hpp"
#include "kit.hpp"

namespace {

using namespace std::chrono_literals;
using harness::Deadline;
using harness::Process;

// What uecho_client prints when no echo came within --timeout-ms MS: it cannot tell a lost
// datagram from one refused by ICMP (nobody listening), and says so.
std::string no_reply(const std::string& ms) {
    return "no reply within " + ms +
           " ms: lost, or nobody listening (an unconnected socket is not told; "
           "uecho_con_client is)";
}
const std::string kMsg = "Message from server: ";

// ---- The test as a UDP peer (general helpers: the lead may move them to the harness) ----

// HOST (a numeric IPv4 or IPv6 literal) and PORT as a socket address.
sockaddr_storage address(const std::string& host, int port, socklen_t* len) {
    sockaddr_storage ss{};
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(static_cast<uint16_t>(port));
        *len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(static_cast<uint16_t>(port));
        *len = sizeof(sockaddr_in6);
    } else {
        ADD_FAILURE() << "not a numeric address: " << host;
        *len = 0;
    }
    return ss;
}

int port_of(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
    return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
}

// A UDP socket of the test, bound to HOST on a port the kernel chose.
struct Udp {
    common::Fd fd;
    int port = 0;
};

Udp udp_bound(const std::string& host = "127.0.0.1") {
    Udp u;
    socklen_t len;
    sockaddr_storage ss = address(host, 0, &len);
    u.fd.reset(socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!u.fd || bind(u.fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == -1 ||
        getsockname(u.fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) == -1) {
        ADD_FAILURE() << "UDP socket on " << host << ": " << strerror(errno);
        return u;
    }
    u.port = port_of(ss);
    return u;
}

// A UDP port on 127.0.0.1 that answers every datagram with ICMP "port unreachable": the
// test's socket holds the port (so no other process can take it) but is connected to its
// own address, and a connected UDP socket accepts datagrams only from its peer.
Udp unreachable_udp_port() {
    Udp u = udp_bound();
    socklen_t len;
    sockaddr_storage self = address("127.0.0.1", u.port, &len);
    if (u.fd && connect(u.fd.get(), reinterpret_cast<sockaddr*>(&self), len) == -1)
        ADD_FAILURE() << "connect: " << strerror(errno);
    return u;
}

// One sendto() of DATA to HOST:PORT; true if the whole datagram went out.
bool send_to(int fd, std::string_view data, int port, const std::string& host = "127.0.0.1") {
    socklen_t len;
    sockaddr_storage to = address(host, port, &len);
    ssize_t n = sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&to), len);
    if (n == -1) ADD_FAILURE() << "sendto: " << strerror(errno);
    return n == static_cast<ssize_t>(data.size());
}

struct Datagram {
    std::string data;
    std::string from;  // "127.0.0.1:40158"
    int port = 0;      // the sender's port
};

// The next datagram on FD, whole (a truncated one fails the test), or nullopt at the deadline.
std::optional<Datagram> recv_datagram(int fd, Deadline deadline = {}) {
    std::vector<char> buf(65536);
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        int ready = poll(&p, 1, deadline.ms_left());
        if (ready == -1 && errno == EINTR) continue;
        if (ready != 1) return std::nullopt;
        sockaddr_storage from{};
        socklen_t from_len = sizeof from;
        ssize_t n = recvfrom(fd, buf.data(), buf.size(), MSG_TRUNC | MSG_DONTWAIT,
                             reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n == -1 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n == -1) {
            ADD_FAILURE() << "recvfrom: " << strerror(errno);
            return std::nullopt;
        }
        if (static_cast<size_t>(n) > buf.size()) ADD_FAILURE() << "datagram of " << n << " bytes";
        return Datagram{std::string(buf.data(), std::min(buf.size(), static_cast<size_t>(n))),
                        common::to_string(reinterpret_cast<sockaddr*>(&from)), port_of(from)};
    }
}

// The pending error of a socket (SO_ERROR), once poll() reports it, or 0 at the deadline.
int wait_socket_error(int fd, Deadline deadline = {}) {
    for (;;) {
        pollfd p{fd, POLLIN, 0};  // POLLERR is always reported
        int ready = poll(&p, 1, deadline.ms_left());
        if (ready == -1 && errno == EINTR) continue;
        if (ready != 1) return 0;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return err;
        char c;
        recv(fd, &c, 1, MSG_DONTWAIT);  // a datagram, not an error: drop it, go on waiting
    }
}

// A --timeout-ms value, stretched like every deadline under the sanitizer presets.
std::string timeout_arg(std::chrono::milliseconds ms) {
    return std::to_string(harness::scaled(ms).count());
}

// The port in uecho_client's "the first sendto() bound this socket to 0.0.0.0:40158".
int bound_port_in(const std::string& err) {
    static const std::regex re(
        R"(uecho_client: the first sendto\(\) bound this socket to .*:(\d+))");
    std::smatch m;
    return std::regex_search(err, m, re) ? std::stoi(m[1]) : 0;
}

std::string name_of(const std::string& path) {
    return path.substr(path.rfind('/') + 1);
}

// ---- uecho_server ------------------------------------------------------------------------

TEST(Ch06Server, EchoesTextToTheSenderAndLogsIt) {
    Process server(PROG_uecho_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    EXPECT_EQ(server.out(), "bound to 127.0.0.1:" + std::to_string(port) + "\n");

    Udp peer = udp_bound();
    ASSERT_TRUE(send_to(peer.fd.get(), "hello, UDP", port));
    auto echo = recv_datagram(peer.fd.get());
    ASSERT_TRUE(echo) << "no echo";
    EXPECT_EQ(echo->data, "hello, UDP");
    EXPECT_EQ(echo->from, "127.0.0.1:" + std::to_string(port));  // from the server's socket
    EXPECT_EQ(server.read_line(), "echoed 10 bytes to 127.0.0.1:" + std::to_string(peer.port));
}

TEST(Ch06Server, EmptyDatagramComesBackAsAnEmptyDatagram) {
    Process server(PROG_uecho_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    Udp peer = udp_bound();
    // Zero bytes is a datagram of its own; recvfrom() returning 0 is not "end of stream".
    ASSERT_TRUE(send_to(peer.fd.get(), "", port));
    auto echo = recv_datagram(peer.fd.get());
    ASSERT_TRUE(echo) << "no echo of the empty datagram";
    EXPECT_EQ(echo->data, "");
    EXPECT_EQ(server.read_line(), "echoed 0 bytes to 127.0.0.1:" + std::to_string(peer.port));
    // And the server goes on: the next datagram is echoed too.
    ASSERT_TRUE(send_to(peer.fd.get(), "after", port));
    auto next = recv_datagram(peer.fd.get());
    ASSERT_TRUE(next);
    EXPECT_EQ(next->data, "after");
}

TEST(Ch06Server, LargestDatagramsComeBackWhole) {
    Process server(PROG_uecho_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    Udp peer = udp_bound();
    // 65,507 = 65,535 (IPv4 total length) - 20 (IPv4 header) - 8 (UDP header).
    for (size_t size : {60000u, 65507u}) {
        std::string payload = harness::random_bytes(size, static_cast<unsigned>(size));
        ASSERT_TRUE(send_to(peer.fd.get(), payload, port)) << size;
        auto echo = recv_datagram(peer.fd.get());
        ASSERT_TRUE(echo) << "no echo of " << size << " bytes";
        EXPECT_EQ(echo->data.size(), size);
        EXPECT_TRUE(echo->data == payload) << "echo of " << size << " bytes differs";
        EXPECT_EQ(server.read_line(), "echoed " + std::to_string(size) +
                                          " bytes to 127.0.0.1:" + std::to_string(peer.port));
    }
    // One byte more does not fit in an IPv4 UDP datagram at all.
    socklen_t len;
    sockaddr_storage to = address("127.0.0.1", port, &len);
    std::string too_big(65508, 'x');
    EXPECT_EQ(sendto(peer.fd.get(), too_big.data(), too_big.size(), 0,
                     reinterpret_cast<sockaddr*>(&to), len),
              -1);
    EXPECT_EQ(errno, EMSGSIZE);
}

TEST(Ch06Server, DatagramLargerThanTheBufferIsCutAndReportedNotSilently) {
    Process server(PROG_uecho_server, {"0", "--buf", "16"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    Udp peer = udp_bound();
    std::string payload(100, 'a');
    for (size_t i = 0; i < payload.size(); ++i)
        payload[i] = static_cast<char>('a' + i % 26);
    ASSERT_TRUE(send_to(peer.fd.get(), payload, port));
    auto echo = recv_datagram(peer.fd.get());
    ASSERT_TRUE(echo);
    EXPECT_EQ(echo->data, payload.substr(0, 16));
    EXPECT_EQ(server.read_err_line(),
              "uecho_server: datagram from 127.0.0.1:" + std::to_string(peer.port) +
                  " truncated: 100 bytes, buffer 16; echoed 16");
    // The other 84 bytes are gone: the next recvfrom() returns the next datagram, not them.
    ASSERT_TRUE(send_to(peer.fd.get(), "next", port));
    auto next = recv_datagram(peer.fd.get());
    ASSERT_TRUE(next);
    EXPECT_EQ(next->data, "next");
}

TEST(Ch06Server, OneSocketServesSeveralPeersInTurn) {
    Process server(PROG_uecho_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    std::vector<Udp> peers;
    for (int i = 0; i < 3; ++i)
        peers.push_back(udp_bound());
    for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < peers.size(); ++i) {
            std::string msg = "peer " + std::to_string(i) + " round " + std::to_string(round);
            ASSERT_TRUE(send_to(peers[i].fd.get(), msg, port));
        }
        // Each peer gets its own datagram back, nobody else's.
        for (size_t i = 0; i < peers.size(); ++i) {
            auto echo = recv_datagram(peers[i].fd.get());
            ASSERT_TRUE(echo) << "peer " << i << " round " << round;
            EXPECT_EQ(echo->data, "peer " + std::to_string(i) + " round " + std::to_string(round));
        }
    }
    EXPECT_TRUE(server.running());
}

// ---- uecho_client: the unconnected socket ------------------------------------------------

TEST(Ch06Client, EachLineIsOneDatagramAndComesBack) {
    Process server(PROG_uecho_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    auto r = harness::run(PROG_uecho_client,
                          {"127.0.0.1", std::to_string(port), "--timeout-ms", timeout_arg(5s)},
                          "hello\n\nworld, 123\nq\nnot sent\n");
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    // The empty line is an empty datagram, echoed as one; "q" quits.
    EXPECT_EQ(r.out, kMsg + "hello\n" + kMsg + "\n" + kMsg + "world, 123\n");
    int client_port = bound_port_in(r.err);
    ASSERT_GT(client_port, 0) << r.err;
    std::string to = " bytes to 127.0.0.1:" + std::to_string(client_port);
    EXPECT_EQ(server.read_line(), "echoed 5" + to);
    EXPECT_EQ(server.read_line(), "echoed 0" + to);
    EXPECT_EQ(server.read_line(), "echoed 10" + to);
}

TEST(Ch06Client, ALineTooLongForOneDatagramIsReportedAndSkipped) {
    Process server(PROG_uecho_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    std::string too_long(65508, 'x');  // one byte more than an IPv4 UDP datagram can carry
    for (const char* prog : {PROG_uecho_client, PROG_uecho_con_client}) {
        auto r =
            harness::run(prog, {"127.0.0.1", std::to_string(port), "--timeout-ms", timeout_arg(5s)},
                         "before\n" + too_long + "\nafter\n");
        EXPECT_EQ(r.exit_code(), 0) << r.err;
        EXPECT_EQ(r.out, kMsg + "before\n" + kMsg + "after\n") << name_of(prog);
        std::string call = prog == std::string(PROG_uecho_client) ? "sendto" : "write";
        EXPECT_NE(r.err.find(": " + call + " (65508 bytes): Message too long\n"), std::string::npos)
            << r.err;
    }
}

TEST(Ch06Client, TheKernelAssignsThePortOnTheFirstSendto) {
    Udp server = udp_bound();  // the test plays the server
    Process client(PROG_uecho_client, {"127.0.0.1", std::to_string(server.port)});
    ASSERT_TRUE(client.write_stdin("ping\n"));
    auto got = recv_datagram(server.fd.get());
    ASSERT_TRUE(got) << client.err();
    EXPECT_EQ(got->data, "ping");
    auto note = client.read_err_line();
    ASSERT_TRUE(note);
    // The address the client reports is the one its datagram came from (0.0.0.0: the socket
    // is bound to every local address; the kernel chose the source 127.0.0.1 per datagram).
    EXPECT_EQ(*note, "uecho_client: the first sendto() bound this socket to 0.0.0.0:" +
                         std::to_string(got->port));
    ASSERT_TRUE(send_to(server.fd.get(), "ping", got->port));
    EXPECT_EQ(client.read_line(), kMsg + "ping");
    client.close_stdin();
    auto status = client.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << client.err();
    EXPECT_EQ(harness::lines(client.err()).size(), 1u) << client.err();  // said once only
}

TEST(Ch06Client, NoReplyTimesOutSaysSoAndGoesOn) {
    Udp silent = udp_bound();  // receives, never answers: every datagram is "lost"
    auto start = harness::Clock::now();
    auto r = harness::run(PROG_uecho_client,
                          {"127.0.0.1", std::to_string(silent.port), "--timeout-ms", "200"},
                          "one\ntwo\n");
    auto elapsed = harness::Clock::now() - start;
    EXPECT_EQ(r.exit_code(), 0) << r.err;  // end of input: a clean exit
    EXPECT_EQ(r.out, no_reply("200") + "\n" + no_reply("200") + "\n");
    EXPECT_GE(elapsed, 400ms);  // it did wait, once per line
    // Both lines were sent: it went on after the first timeout.
    auto one = recv_datagram(silent.fd.get());
    auto two = recv_datagram(silent.fd.get());
    ASSERT_TRUE(one && two);
    EXPECT_EQ(one->data, "one");
    EXPECT_EQ(two->data, "two");
}

TEST(Ch06Client, IgnoresADatagramFromAThirdAddress) {
    Udp server = udp_bound();
    Udp stranger = udp_bound();
    Process client(PROG_uecho_client,
                   {"127.0.0.1", std::to_string(server.port), "--timeout-ms", timeout_arg(20s)});
    ASSERT_TRUE(client.write_stdin("ping\n"));
    auto got = recv_datagram(server.fd.get());
    ASSERT_TRUE(got) << client.err();
    ASSERT_TRUE(client.read_err_line());  // "the first sendto() bound ..."

    // The stranger answers first: recvfrom() returns it (an unconnected socket takes
    // datagrams from anyone), the client sees the wrong source and waits on.
    ASSERT_TRUE(send_to(stranger.fd.get(), "spoofed", got->port));
    EXPECT_EQ(client.read_err_line(), "uecho_client: ignored a datagram from 127.0.0.1:" +
                                          std::to_string(stranger.port) + " (not the server)");
    ASSERT_TRUE(send_to(server.fd.get(), "ping", got->port));
    EXPECT_EQ(client.read_line(), kMsg + "ping");
    client.close_stdin();
    auto status = client.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << client.err();
    EXPECT_EQ(client.out(), kMsg + "ping\n");  // "spoofed" was never printed
}

TEST(Ch06Client, IgnoresALateEchoOfAnEarlierLine) {
    Udp server = udp_bound();
    const std::string timeout = timeout_arg(1500ms);
    Process client(PROG_uecho_client,
                   {"127.0.0.1", std::to_string(server.port), "--timeout-ms", timeout});
    ASSERT_TRUE(client.write_stdin("one\n"));
    auto one = recv_datagram(server.fd.get());
    ASSERT_TRUE(one);
    EXPECT_EQ(client.read_line(Deadline(20s)), no_reply(timeout));  // the server was slow
    ASSERT_TRUE(client.read_err_line());  // "the first sendto() bound ..."

    ASSERT_TRUE(client.write_stdin("two\n"));
    auto two = recv_datagram(server.fd.get());
    ASSERT_TRUE(two);
    // Now the echo of "one" arrives, while the client waits for the echo of "two".
    ASSERT_TRUE(send_to(server.fd.get(), "one", one->port));
    EXPECT_EQ(client.read_err_line(),
              "uecho_client: ignored a datagram of 3 bytes from "
              "127.0.0.1:" +
                  std::to_string(server.port) + " (not the echo of this line)");
    ASSERT_TRUE(send_to(server.fd.get(), "two", two->port));
    EXPECT_EQ(client.read_line(), kMsg + "two");
    client.close_stdin();
    auto status = client.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << client.err();
}

// ---- uecho_con_client: the connected socket --------------------------------------------

TEST(Ch06ConClient, EchoesThroughAConnectedSocket) {
    Process server(PROG_uecho_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    auto r = harness::run(PROG_uecho_con_client,
                          {"127.0.0.1", std::to_string(port), "--timeout-ms", timeout_arg(5s)},
                          "hello\n\nconnected UDP\n");
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, kMsg + "hello\n" + kMsg + "\n" + kMsg + "connected UDP\n");
    // connect() sent nothing, yet the local port is fixed already when it returns.
    std::regex note(
        R"(uecho_con_client: connected to 127\.0\.0\.1:(\d+) from 127\.0\.0\.1:(\d+)\n)");
    std::smatch m;
    ASSERT_TRUE(std::regex_match(r.err, m, note)) << r.err;
    EXPECT_EQ(std::stoi(m[1]), port);
    EXPECT_EQ(server.read_line(), "echoed 5 bytes to 127.0.0.1:" + m[2].str());
}

TEST(Ch06ConClient, ReportsConnectionRefusedWhereTheUnconnectedClientOnlyTimesOut) {
    Udp closed = unreachable_udp_port();
    ASSERT_GT(closed.port, 0);
    const std::string port = std::to_string(closed.port);
    // The ICMP "port unreachable" comes back to the connected socket as ECONNREFUSED.
    auto con = harness::run(PROG_uecho_con_client,
                            {"127.0.0.1", port, "--timeout-ms", timeout_arg(10s)}, "anyone?\n");
    EXPECT_EQ(con.exit_code(), 1) << con.err;
    EXPECT_EQ(con.out, "");
    auto err = harness::lines(con.err);
    ASSERT_EQ(err.size(), 2u) << con.err;
    EXPECT_EQ(err[1], "uecho_con_client: read from 127.0.0.1:" + port + ": Connection refused");
    // The same ICMP message reaches the unconnected client's kernel, but is not reported to
    // an unconnected socket: it can only wait.
    auto uncon =
        harness::run(PROG_uecho_client, {"127.0.0.1", port, "--timeout-ms", "300"}, "anyone?\n");
    EXPECT_EQ(uncon.exit_code(), 0) << uncon.err;
    EXPECT_EQ(uncon.out, no_reply("300") + "\n");  // the same words as for a lost datagram
}

TEST(Ch06ConClient, TheKernelDropsAStrangersDatagramToAConnectedSocket) {
    Udp server = udp_bound();
    Process client(PROG_uecho_con_client,
                   {"127.0.0.1", std::to_string(server.port), "--timeout-ms", timeout_arg(20s)});
    ASSERT_TRUE(client.write_stdin("ping\n"));
    auto got = recv_datagram(server.fd.get());
    ASSERT_TRUE(got) << client.err();

    // A stranger sends to the client's port.  No socket takes it (the client's accepts only
    // the server), so the kernel answers the stranger "port unreachable": proof that the
    // datagram was dropped before the client's read() could see it.
    Udp stranger = udp_bound();
    socklen_t len;
    sockaddr_storage client_addr = address("127.0.0.1", got->port, &len);
    ASSERT_EQ(connect(stranger.fd.get(), reinterpret_cast<sockaddr*>(&client_addr), len), 0);
    ASSERT_EQ(send(stranger.fd.get(), "spoofed", 7, 0), 7);
    EXPECT_EQ(wait_socket_error(stranger.fd.get()), ECONNREFUSED);

    ASSERT_TRUE(send_to(server.fd.get(), "ping", got->port));
    EXPECT_EQ(client.read_line(), kMsg + "ping");
    client.close_stdin();
    auto status = client.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << client.err();
    EXPECT_EQ(client.out(), kMsg + "ping\n");
    EXPECT_EQ(harness::lines(client.err()).size(), 1u) << client.err();  // "connected to" only
}

// ---- Lesson checks with strace -------------------------------------------------------------

// strace runs without -f: it follows the program's own thread only, so the helper threads
// of the sanitizer runtimes (tsan) cannot interleave "<unfinished ...>" lines into the log.
//
// The calls on the first SOCK_DGRAM socket in an strace log, from its socket() on, each as
// strace shows it: "connect(3, {sa_family=AF_INET, ...}, 16) = 0".  (Only calls after the
// socket() call count: the sanitizers' runtimes read files on the same descriptor number
// before the program creates its socket.)
std::vector<std::string> dgram_socket_calls(const std::string& trace) {
    std::vector<std::string> calls;
    int fd = -1;  // the first SOCK_DGRAM socket's
    for (const harness::SysCall& c : harness::strace_calls(trace)) {
        if (fd == -1) {
            if (c.name == "socket" && c.text.find("SOCK_DGRAM") != std::string::npos &&
                c.text.starts_with("socket(AF_INET") && c.result != "-1")
                fd = std::stoi(c.result);
            continue;
        }
        if (c.fd == fd) calls.push_back(c.text);
    }
    if (fd == -1) ADD_FAILURE() << "no SOCK_DGRAM socket in the trace:\n" << trace;
    return calls;
}

TEST(Ch06Strace, ConnectedClientConnectsItsDatagramSocketAndWritesNotSendto) {
    SOCKLAB_REQUIRE_TOOL("strace");
    Process server(PROG_uecho_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    harness::TempDir dir;
    auto r = harness::run("strace",
                          {"-o", dir.file("trace"), "-e", "trace=network,read,write", "--",
                           PROG_uecho_con_client, "127.0.0.1", std::to_string(port)},
                          "hello\nagain\n", Deadline(), harness::traced());
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, kMsg + "hello\n" + kMsg + "again\n");
    std::string trace = harness::read_file(dir.file("trace"));
    std::vector<std::string> calls = dgram_socket_calls(trace);
    std::vector<std::string> names;
    for (const std::string& c : calls)
        names.push_back(c.substr(0, c.find('(')));
    // connect() once, then plain write()/read(): the destination is never named again.
    std::vector<std::string> expected = {"connect", "getsockname", "getpeername", "setsockopt",
                                         "write",   "read",        "write",       "read"};
    EXPECT_EQ(names, expected) << trace;
    ASSERT_EQ(calls.size(), expected.size());
    EXPECT_NE(calls[0].find("sin_port=htons(" + std::to_string(port) + ")"), std::string::npos)
        << calls[0];
    std::regex hello(R"(write\(\d+, "hello", 5\)\s*= 5)"),
        again(R"(write\(\d+, "again", 5\)\s*= 5)");
    EXPECT_TRUE(std::regex_match(calls[4], hello)) << calls[4];
    EXPECT_TRUE(std::regex_match(calls[6], again)) << calls[6];
    EXPECT_EQ(trace.find("sendto("), std::string::npos) << trace;
}

TEST(Ch06Strace, UnconnectedClientNamesTheServerInEverySendtoAndNeverBinds) {
    SOCKLAB_REQUIRE_TOOL("strace");
    Process server(PROG_uecho_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    harness::TempDir dir;
    auto r = harness::run("strace",
                          {"-o", dir.file("trace"), "-e", "trace=network", "--", PROG_uecho_client,
                           "127.0.0.1", std::to_string(port)},
                          "hello\nagain\n", Deadline(), harness::traced());
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    std::string trace = harness::read_file(dir.file("trace"));
    int sendtos = 0, recvfroms = 0;
    for (const std::string& c : dgram_socket_calls(trace)) {
        EXPECT_FALSE(c.starts_with("bind(")) << c;
        EXPECT_FALSE(c.starts_with("connect(")) << c;
        if (c.starts_with("sendto(")) {
            ++sendtos;
            EXPECT_NE(c.find("sin_port=htons(" + std::to_string(port) + ")"), std::string::npos)
                << c;
        }
        if (c.starts_with("recvfrom(")) ++recvfroms;
    }
    EXPECT_EQ(sendtos, 2) << trace;
    EXPECT_EQ(recvfroms, 2) << trace;
}

// ---- Message boundaries: bound_host1 / bound_host2 -----------------------------------------

TEST(Ch06Bound, ThreeDatagramsQueuedTogetherAreReadByThreeRecvfromCalls) {
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::TempDir dir;
    // bound_host1 does not read until it gets a line on stdin; strace records its recvfrom()s.
    Process host1("strace",
                  {"-o", dir.file("trace"), "-e", "trace=recvfrom", "--", PROG_bound_host1, "0"},
                  harness::traced());
    int port = host1.wait_ready();
    ASSERT_GT(port, 0);
    // bound_host2 sends its three datagrams and exits: all three sendto() calls have returned,
    // and over loopback that puts each datagram in bound_host1's receive buffer.  (Were one
    // still on its way, recvfrom() would wait for it: the sizes below would be the same.)
    auto host2 = harness::run(PROG_bound_host2, {"127.0.0.1", std::to_string(port)});
    ASSERT_EQ(host2.exit_code(), 0) << host2.err;
    EXPECT_EQ(host2.out,
              "sent 3 bytes: Hi!\nsent 21 bytes: I'm another UDP host!\n"
              "sent 16 bytes: Nice to meet you\n");

    ASSERT_TRUE(host1.write_stdin("\n"));  // now read
    auto status = host1.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << host1.err();
    EXPECT_EQ(host1.out(), "bound to 127.0.0.1:" + std::to_string(port) +
                               "\n"
                               "Message 1 (3 bytes): Hi!\n"
                               "Message 2 (21 bytes): I'm another UDP host!\n"
                               "Message 3 (16 bytes): Nice to meet you\n");
    // Three recvfrom() calls, each into a 65,536-byte buffer that had room for all 40 bytes,
    // each returning one datagram.
    std::regex re(R"(recvfrom\(\d+, .*, 65536, MSG_TRUNC, .*\) = \d+)");
    std::vector<std::string> sizes;
    for (const harness::SysCall& c : harness::strace_calls(harness::read_file(dir.file("trace"))))
        if (c.name == "recvfrom" && std::regex_match(c.text, re)) sizes.push_back(c.result);
    EXPECT_EQ(sizes, (std::vector<std::string>{"3", "21", "16"}));
}

TEST(Ch06Bound, BoundariesHoldForEmptyAndLargeDatagramsToo) {
    Process host1(PROG_bound_host1, {"0"});
    int port = host1.wait_ready();
    ASSERT_GT(port, 0);
    Udp peer = udp_bound();
    std::string big(30000, 'B');
    ASSERT_TRUE(send_to(peer.fd.get(), big, port));
    ASSERT_TRUE(send_to(peer.fd.get(), "", port));
    ASSERT_TRUE(send_to(peer.fd.get(), "x", port));
    host1.close_stdin();  // end of input also means "read now"
    auto status = host1.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << host1.err();
    auto out = harness::lines(host1.out());
    ASSERT_EQ(out.size(), 4u) << host1.out();
    EXPECT_EQ(out[1], "Message 1 (30000 bytes): " + big);
    EXPECT_EQ(out[2], "Message 2 (0 bytes): ");
    EXPECT_EQ(out[3], "Message 3 (1 bytes): x");
}

TEST(Ch06Bound, WaitMsReadsAfterAFixedPauseLikeTheBook) {
    // The book's sleep(5) (here 300 ms) is the lesson's own timing, not test synchronisation:
    // the datagrams are sent before the pause is over, or else host1 simply waits for them.
    Process host1(PROG_bound_host1, {"0", "--wait-ms", "300"});
    int port = host1.wait_ready();
    ASSERT_GT(port, 0);
    auto host2 = harness::run(PROG_bound_host2, {"127.0.0.1", std::to_string(port)});
    ASSERT_EQ(host2.exit_code(), 0) << host2.err;
    auto status = host1.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << host1.err();
    EXPECT_NE(host1.out().find("Message 3 (16 bytes): Nice to meet you\n"), std::string::npos)
        << host1.out();
}

// ---- IPv6 ------------------------------------------------------------------------------------

TEST(Ch06Ipv6, EverythingWorksOverIpv6Loopback) {
    Process server(PROG_uecho_server, {"0"}, {.bind = "::1"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    EXPECT_EQ(server.out(), "bound to [::1]:" + std::to_string(port) + "\n");
    const std::string p = std::to_string(port);

    auto uncon =
        harness::run(PROG_uecho_client, {"::1", p, "--timeout-ms", timeout_arg(5s)}, "over IPv6\n");
    EXPECT_EQ(uncon.exit_code(), 0) << uncon.err;
    EXPECT_EQ(uncon.out, kMsg + "over IPv6\n");
    EXPECT_NE(uncon.err.find("bound this socket to [::]:"), std::string::npos) << uncon.err;
    auto con = harness::run(PROG_uecho_con_client, {"::1", p, "--timeout-ms", timeout_arg(5s)},
                            "connected over IPv6\n");
    EXPECT_EQ(con.exit_code(), 0) << con.err;
    EXPECT_EQ(con.out, kMsg + "connected over IPv6\n");
    EXPECT_NE(con.err.find("connected to [::1]:" + p + " from [::1]:"), std::string::npos)
        << con.err;

    // 65,527 bytes: the IPv6 maximum (the 20-byte IPv4 header is not counted in IPv6's
    // 65,535-byte payload length, so 20 more bytes fit than over IPv4).
    Udp peer = udp_bound("::1");
    std::string big = harness::random_bytes(65527, 6);
    ASSERT_TRUE(send_to(peer.fd.get(), big, port, "::1"));
    auto echo = recv_datagram(peer.fd.get());
    ASSERT_TRUE(echo);
    EXPECT_TRUE(echo->data == big) << echo->data.size() << " bytes";

    Process host1(PROG_bound_host1, {"0"}, {.bind = "::1"});
    int host1_port = host1.wait_ready();
    ASSERT_GT(host1_port, 0);
    auto host2 = harness::run(PROG_bound_host2, {"::1", std::to_string(host1_port)});
    ASSERT_EQ(host2.exit_code(), 0) << host2.err;
    host1.close_stdin();
    ASSERT_TRUE(host1.finish());
    EXPECT_EQ(harness::lines(host1.out()).size(), 4u) << host1.out();
}

// ---- Peers we did not write: socat ------------------------------------------------------------

TEST(Ch06Socat, SocatClientGetsItsDatagramsEchoed) {
    SOCKLAB_REQUIRE_TOOL("socat");
    Process server(PROG_uecho_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    // socat copies each chunk of its stdin into one datagram and each datagram it receives to
    // stdout.  We wait for every echo before closing its stdin (then it waits -t seconds
    // for more datagrams, as UDP has no end of stream, and exits).
    Process socat("socat", {"-t", "0.2", "-", "UDP:127.0.0.1:" + std::to_string(port)});
    for (const std::string line : {"first datagram", "second datagram"}) {
        ASSERT_TRUE(socat.write_stdin(line + "\n"));
        EXPECT_EQ(socat.read_line(), line);
    }
    socat.close_stdin();
    auto status = socat.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << socat.err();
    auto logged = server.read_line();
    ASSERT_TRUE(logged);
    EXPECT_TRUE(logged->starts_with("echoed 15 bytes to 127.0.0.1:")) << *logged;
}

TEST(Ch06Socat, OurClientsWorkAgainstSocatAsTheServer) {
    SOCKLAB_REQUIRE_TOOL("socat");
    for (const char* prog : {PROG_uecho_client, PROG_uecho_con_client}) {
        // socat 1.7.4 with -d -d logs the port it bound on stderr:
        //     2026/11/25 04:11:44 socat[21421] N listening on UDP AF=2 127.0.0.1:51088
        // UDP-LISTEN takes the first datagram's sender as its peer; PIPE echoes.
        Process socat("socat", {"-d", "-d", "UDP-LISTEN:0,bind=127.0.0.1", "PIPE"});
        int port = 0;
        while (auto line = socat.read_err_line()) {
            auto at = line->find("listening on UDP AF=2 127.0.0.1:");
            if (at == std::string::npos) continue;
            port = std::stoi(line->substr(line->rfind(':') + 1));
            break;
        }
        ASSERT_GT(port, 0) << "socat did not log its port:\n" << socat.err();
        auto r =
            harness::run(prog, {"127.0.0.1", std::to_string(port), "--timeout-ms", timeout_arg(5s)},
                         "to socat\nand back\n");
        EXPECT_EQ(r.exit_code(), 0) << name_of(prog) << ": " << r.err;
        EXPECT_EQ(r.out, kMsg + "to socat\n" + kMsg + "and back\n") << name_of(prog);
    }
}

// ---- Bad usage and faults
// The README's reason to leave SO_REUSEADDR out of uecho_server: on Linux two UDP sockets
// that both set it may bind the same address and port, and then every unicast datagram goes
// to the socket bound last; the first one receives nothing more.  (The kernel's rule, so the
// test shows it with its own sockets.)
TEST(Ch06Pitfalls, ReuseAddrOnUdpSendsEveryUnicastDatagramToTheSocketBoundLast) {
    auto reuse_bound = [](int port) {
        common::Fd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        int on = 1;
        socklen_t len;
        sockaddr_storage ss = address("127.0.0.1", port, &len);
        EXPECT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
        EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len), 0) << strerror(errno);
        if (port == 0) getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
        return std::make_pair(std::move(fd), port_of(ss));
    };
    auto [first, port] = reuse_bound(0);
    auto [second, same_port] = reuse_bound(port);  // allowed: both set SO_REUSEADDR
    ASSERT_EQ(same_port, port);
    Udp sender = udp_bound();
    socklen_t len;
    sockaddr_storage to = address("127.0.0.1", port, &len);
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(sendto(sender.fd.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&to), len), 1);
    int got_second = 0;
    while (got_second < 10 && recv_datagram(second.get(), Deadline(5s)))
        ++got_second;
    EXPECT_EQ(got_second, 10);
    char c;
    EXPECT_EQ(recv(first.get(), &c, 1, MSG_DONTWAIT), -1) << "the first socket got a datagram";
}

// ------------------------------------------------------------------------

TEST(Ch06Errors, BadUsageGivesTheUsageLineAndExitTwo) {
    const std::string client_usage = " HOST PORT [--timeout-ms N]\n";
    const std::string uclient_usage = " HOST PORT [--timeout-ms N] [--count N]\n";
    harness::expect_usage_errors({
        {PROG_uecho_server, {}, 2, "usage: uecho_server PORT [--buf N]\n"},
        {PROG_uecho_server, {"0", "--buf"}, 2, "usage: uecho_server PORT [--buf N]\n"},
        {PROG_uecho_server,
         {"0", "--buf", "0"},
         2,
         "uecho_server: invalid --buf '0' (expected 1 to 65536)\n"},
        {PROG_uecho_server,
         {"0", "--buf", "65537"},
         2,
         "uecho_server: invalid --buf '65537' (expected 1 to 65536)\n"},
        {PROG_uecho_client, {"127.0.0.1"}, 2, "usage: uecho_client" + uclient_usage},
        {PROG_uecho_client,
         {"127.0.0.1", "9190", "--timeout-ms"},
         2,
         "usage: uecho_client" + uclient_usage},
        {PROG_uecho_client,
         {"127.0.0.1", "9190", "--count", "0"},
         2,
         "uecho_client: invalid --count '0' (expected 1 to 10000)\n"},
        {PROG_uecho_client,
         {"127.0.0.1", "9190", "--cuont", "5"},
         2,
         "usage: uecho_client" + uclient_usage},
        {PROG_uecho_client,
         {"127.0.0.1", "9190", "--timeout-ms", "0"},
         2,
         "uecho_client: invalid --timeout-ms '0' (expected 1 to 60000)\n"},
        {PROG_uecho_con_client, {}, 2, "usage: uecho_con_client" + client_usage},
        {PROG_uecho_con_client,
         {"127.0.0.1", "9190", "--timeout-ms", "x"},
         2,
         "uecho_con_client: invalid --timeout-ms 'x' (expected 1 to 60000)\n"},
        {PROG_bound_host1, {}, 2, "usage: bound_host1 PORT [--wait-ms N]\n"},
        {PROG_bound_host1,
         {"0", "--wait-ms", "-1"},
         2,
         "bound_host1: invalid --wait-ms '-1' (expected 0 to 60000)\n"},
        {PROG_bound_host2, {"127.0.0.1"}, 2, "usage: bound_host2 HOST PORT\n"},
    });
}

TEST(Ch06Errors, BadPortGivesOneLineAndExitTwo) {
    const std::string not_a_number = "': not a decimal number (expected 0 to 65535)\n";
    const std::string out_of_range = "': out of range (expected 0 to 65535)\n";
    harness::expect_usage_errors({
        {PROG_uecho_server, {"abc"}, 2, "uecho_server: invalid port 'abc" + not_a_number},
        {PROG_uecho_server, {"70000"}, 2, "uecho_server: invalid port '70000" + out_of_range},
        {PROG_uecho_client,
         {"127.0.0.1", "abc"},
         2,
         "uecho_client: invalid port 'abc" + not_a_number},
        {PROG_uecho_con_client,
         {"127.0.0.1", "70000"},
         2,
         "uecho_con_client: invalid port '70000" + out_of_range},
        {PROG_bound_host1, {"-1"}, 2, "bound_host1: invalid port '-1" + not_a_number},
        {PROG_bound_host2,
         {"127.0.0.1", "65536"},
         2,
         "bound_host2: invalid port '65536" + out_of_range},
    });
}

TEST(Ch06Errors, UnknownHostGivesOneLineAndExitOne) {
    for (const char* prog : {PROG_uecho_client, PROG_uecho_con_client, PROG_bound_host2}) {
        auto r = harness::run(prog, {"nosuch.invalid", "9190"});
        EXPECT_EQ(r.exit_code(), 1) << prog;
        EXPECT_EQ(harness::lines(r.err).size(), 1u) << r.err;
        EXPECT_NE(r.err.find(": cannot resolve 'nosuch.invalid': "), std::string::npos) << r.err;
        EXPECT_EQ(r.out, "");
    }
}

TEST(Ch06Errors, ServerOnAPortInUseGivesOneLineAndExitOne) {
    Udp taken = udp_bound();
    auto r = harness::run(PROG_uecho_server, {std::to_string(taken.port)});
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_EQ(r.err, "uecho_server: bind to port " + std::to_string(taken.port) +
                         ": Address already in use\n");
    EXPECT_EQ(r.out, "");
}

}  // namespace
