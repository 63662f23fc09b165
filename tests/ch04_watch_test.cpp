// ch04: tcp_watch reads frames it did not choose — it must never read past a frame's end.
//
// Inside a private network namespace, a child of the test enters the namespace (setns) and
// sends malformed frames onto its `lo` with a packet socket of its own: not IP, cut short,
// header lengths that point past the end, a later IP fragment.  tcp_watch, watching the same
// port, must print none of them and keep running, and then capture a real connection from
// its first segment, and at exit say how many it skipped.  A well-formed datagram sent first
// proves the frames reach it.  (Under the asan preset, a read past the frame would abort it.)
// Frames longer than its buffer (BIG TCP) are injected the same way: they must be shown from
// their headers and counted, not dropped.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "harness.hpp"
#include "netns.hpp"
#include "wire.hpp"

namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, size_t at, unsigned v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}

// An Ethernet header for lo (zero MACs) with ETHERTYPE, then BODY.
Bytes frame(unsigned ethertype, const Bytes& body) {
    // (Sized once and copied into: GCC 12 at -O2 takes vector::insert() of a range for an
    // overread of an empty region, -Wstringop-overread, a false positive.)
    Bytes f(14 + body.size(), 0);
    put16(f, 12, ethertype);
    std::copy(body.begin(), body.end(), f.begin() + 14);
    return f;
}

// An IPv4 header (20 bytes, 127.0.0.1 -> 127.0.0.1, protocol TCP) with IHL, TOTAL and
// FRAGMENT as given, followed by a 20-byte TCP header to PORT with data offset DOFF (words).
Bytes ipv4_tcp(int port, unsigned ihl, unsigned total, unsigned doff, unsigned fragment = 0,
               size_t tcp_bytes = 20) {
    Bytes b(20 + tcp_bytes, 0);
    b[0] = static_cast<uint8_t>(0x40 | ihl);
    put16(b, 2, total);
    put16(b, 6, fragment);
    b[8] = 64;  // TTL
    b[9] = IPPROTO_TCP;
    b[12] = b[16] = 127;
    b[15] = b[19] = 1;
    if (tcp_bytes >= 20) {
        put16(b, 20, 40000);  // source port
        put16(b, 22, static_cast<unsigned>(port));
        b[32] = static_cast<uint8_t>(doff << 4);
        b[33] = 0x02;  // SYN
    }
    return b;
}

// A whole IPv4 UDP datagram to PORT with N bytes of payload (checksum 0: none, allowed in IPv4).
Bytes udp_datagram(int port, size_t n) {
    Bytes b(28 + n, 'x');
    b[0] = 0x45;
    put16(b, 2, static_cast<unsigned>(b.size()));
    put16(b, 6, 0);
    b[8] = 64;
    b[9] = IPPROTO_UDP;
    b[10] = b[11] = 0;
    b[12] = b[16] = 127;
    b[13] = b[14] = b[17] = b[18] = 0;
    b[15] = b[19] = 1;
    put16(b, 20, 40000);
    put16(b, 22, static_cast<unsigned>(port));
    put16(b, 24, static_cast<unsigned>(8 + n));
    put16(b, 26, 0);
    return b;
}

// Frames that are not whole IP/TCP packets (after the first).  Each names what is wrong with it.
std::vector<std::pair<std::string, Bytes>> malformed_frames(int port) {
    Bytes ipv6(40 + 20, 0);
    ipv6[0] = 0x60;
    put16(ipv6, 4, 1000);  // payload length: 1000 bytes, but 20 follow
    ipv6[6] = IPPROTO_TCP;
    put16(ipv6, 42, static_cast<unsigned>(port));
    Bytes bad_version = ipv4_tcp(port, 5, 40, 5);
    bad_version[0] = 0x65;
    return {
        // First a well-formed UDP datagram of 5 bytes: it must be printed (the frames do reach
        // tcp_watch), and it marks where the malformed ones begin.
        {"UDP, well formed", frame(ETHERTYPE_IP, udp_datagram(port, 5))},
        {"ARP, not IP", frame(ETHERTYPE_ARP, Bytes(28, 0xab))},
        {"link header only", frame(ETHERTYPE_IP, {})},
        {"IPv4 header cut at 10 bytes",
         frame(ETHERTYPE_IP, Bytes{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6})},
        {"IPv4 EtherType, version 6", frame(ETHERTYPE_IP, bad_version)},
        {"IHL 15 (60 bytes) in a 40-byte packet", frame(ETHERTYPE_IP, ipv4_tcp(port, 15, 40, 5))},
        {"IHL 2 (shorter than the fixed header)", frame(ETHERTYPE_IP, ipv4_tcp(port, 2, 40, 5))},
        {"total length 1000 in a 40-byte packet", frame(ETHERTYPE_IP, ipv4_tcp(port, 5, 1000, 5))},
        {"TCP data offset 15 (60 bytes) in 20", frame(ETHERTYPE_IP, ipv4_tcp(port, 5, 40, 15))},
        {"TCP data offset 2", frame(ETHERTYPE_IP, ipv4_tcp(port, 5, 40, 2))},
        {"TCP header cut at 10 bytes", frame(ETHERTYPE_IP, ipv4_tcp(port, 5, 30, 5, 0, 10))},
        {"a later IPv4 fragment (offset 8)", frame(ETHERTYPE_IP, ipv4_tcp(port, 5, 40, 5, 1))},
        {"IPv6 payload length past the end", frame(ETHERTYPE_IPV6, ipv6)},
    };
}

TEST(Ch04TcpWatch, SkipsMalformedFramesAndKeepsWatching) {
    SOCKLAB_REQUIRE_NETNS();
    harness::NetNs ns("watch");
    ASSERT_TRUE(ns.ok());
    harness::Process server = ns.process(PROG_hello_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    harness::Process watch =
        harness::start_watch(ns, PROG_tcp_watch, port, {"--connections", "1", "--udp"});

    // A child enters the namespace and sends the frames; its exit status says how far it got.
    auto frames = malformed_frames(port);
    std::string net_path = ns.net_path();
    pid_t child = fork();
    ASSERT_NE(child, -1);
    if (child == 0) {
        int ns_fd = open(net_path.c_str(), O_RDONLY);
        if (ns_fd == -1 || setns(ns_fd, CLONE_NEWNET) == -1) _exit(3);
        int sock = socket(AF_PACKET, SOCK_RAW, 0);
        unsigned lo = if_nametoindex("lo");
        if (sock == -1 || lo == 0) _exit(4);
        sockaddr_ll to{
            .sll_family = AF_PACKET, .sll_ifindex = static_cast<int>(lo), .sll_halen = 6};
        for (const auto& [what, bytes] : frames)
            if (sendto(sock, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to),
                       sizeof to) != static_cast<ssize_t>(bytes.size()))
                _exit(5);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    if (harness::exited_with(status, 3) && geteuid() != 0)
        GTEST_SKIP() << "entering the namespace (setns) needs root; ran unprivileged";
    ASSERT_TRUE(harness::exited_with(status, 0))
        << "injecting frames failed: " << harness::describe_status(status)
        << " (3 setns, 4 socket/lo, 5 sendto)";

    // A real connection after them: its SYN must be the first line tcp_watch prints.
    harness::Result client = ns.run(PROG_hello_client, {"127.0.0.1", std::to_string(port)});
    ASSERT_EQ(client.exit_code(), 0) << client.err;
    auto status_watch = watch.finish();
    ASSERT_TRUE(status_watch) << "tcp_watch did not see the connection end";
    EXPECT_TRUE(harness::exited_with(*status_watch, 0))
        << harness::describe_status(*status_watch) << "\n"
        << watch.err();
    auto lines = harness::lines(watch.out());
    ASSERT_GE(lines.size(), 5u) << watch.out();
    EXPECT_NE(lines[1].find("client > server UDP length 5"), std::string::npos)
        << "the well-formed datagram did not reach tcp_watch:\n"
        << watch.out();
    // The real handshake right after it: [S] then [S.] (a malformed "SYN" printed in between
    // would push the [S.] down a line).
    EXPECT_NE(lines[2].find("client > server [S] seq 0 "), std::string::npos)
        << "a malformed frame was printed, or the SYN was missed:\n"
        << watch.out();
    EXPECT_NE(lines[3].find("server > client [S.] seq 0 ack 1 "), std::string::npos)
        << "a malformed frame was printed, or the SYN-ACK was missed:\n"
        << watch.out();
    for (size_t i = 2; i < lines.size(); ++i)
        EXPECT_EQ(lines[i].find("UDP"), std::string::npos) << lines[i];
    // Not silently: at exit it counts the IP frames it skipped — all but the ARP frame (not
    // IP), the later fragment (whole, but without a TCP header) and the TCP header cut at 10
    // bytes (its ports read 0: not the port watched).
    EXPECT_EQ(watch.err(),
              "tcp_watch: 9 IP frames skipped: cut short, or header lengths that do not add up\n");
}

// A TCP segment from port 65000 (outside the kernel's ephemeral range, so no real connection
// of the test shares its flow) to PORT: [P.] seq 1000 ack 2000 win 512 with PAYLOAD bytes.
// Checksums are left 0: the stack drops the packet, only the packet sockets see it.
Bytes tcp_header(int port) {
    Bytes t(20, 0);
    put16(t, 0, 65000);
    put16(t, 2, static_cast<unsigned>(port));
    put16(t, 6, 1000);   // seq
    put16(t, 10, 2000);  // ack
    t[12] = 5 << 4;
    t[13] = 0x18;  // PSH, ACK
    put16(t, 14, 512);
    return t;
}

// An IPv4 packet over 64 KiB, marked as Linux marks a BIG TCP packet: total length 0 (the
// 16-bit field cannot hold it), the real length is the frame's.
Bytes big_ipv4(int port, size_t payload) {
    Bytes b(20, 0);
    b[0] = 0x45;
    b[8] = 64;
    b[9] = IPPROTO_TCP;
    b[12] = b[16] = 127;
    b[15] = b[19] = 1;
    Bytes t = tcp_header(port);
    b.insert(b.end(), t.begin(), t.end());
    b.resize(b.size() + payload, 'x');
    return b;
}

// An IPv6 jumbogram (RFC 2675), as BIG TCP sends it: payload length 0, a hop-by-hop header
// whose Jumbo Payload option (type 0xC2) holds the length, then TCP.
Bytes jumbo_ipv6(int port, size_t payload) {
    Bytes b(40 + 8, 0);
    b[0] = 0x60;
    b[6] = 0;  // next header: hop-by-hop options
    b[7] = 64;
    b[23] = b[39] = 1;  // ::1 -> ::1
    b[40] = IPPROTO_TCP;
    b[41] = 0;  // hop-by-hop header length: 8 bytes
    b[42] = 0xC2;
    b[43] = 4;
    uint32_t jumbo = static_cast<uint32_t>(8 + 20 + payload);
    for (int i = 0; i < 4; ++i)
        b[44 + static_cast<size_t>(i)] = static_cast<uint8_t>(jumbo >> (24 - 8 * i));
    Bytes t = tcp_header(port);
    b.insert(b.end(), t.begin(), t.end());
    b.resize(b.size() + payload, 'x');
    return b;
}

// Frames longer than tcp_watch's 65,792-byte buffer (BIG TCP on lo makes them; here they are
// injected) must not vanish: their headers lie in the part that fits, so each is shown with
// its real length, counted, and reported on stderr at exit; the capture goes on.
TEST(Ch04TcpWatch, ShowsFramesLongerThanItsBufferAndReportsThem) {
    SOCKLAB_REQUIRE_NETNS();
    harness::NetNs ns("watchbig");
    ASSERT_TRUE(ns.ok());
    // A packet socket cannot send a frame longer than the device's MTU (64 KiB on lo).
    ASSERT_TRUE(ns.ip({"link", "set", "lo", "mtu", "200000"}));
    harness::Process server = ns.process(PROG_hello_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    harness::Process watch = harness::start_watch(ns, PROG_tcp_watch, port, {"--connections", "1"});

    std::vector<Bytes> frames{frame(ETHERTYPE_IP, big_ipv4(port, 99960)),
                              frame(ETHERTYPE_IPV6, jumbo_ipv6(port, 100000))};
    std::string net_path = ns.net_path();
    pid_t child = fork();
    ASSERT_NE(child, -1);
    if (child == 0) {
        int ns_fd = open(net_path.c_str(), O_RDONLY);
        if (ns_fd == -1 || setns(ns_fd, CLONE_NEWNET) == -1) _exit(3);
        int sock = socket(AF_PACKET, SOCK_RAW, 0);
        unsigned lo = if_nametoindex("lo");
        if (sock == -1 || lo == 0) _exit(4);
        int sndbuf = 1 << 20;
        setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        sockaddr_ll to{
            .sll_family = AF_PACKET, .sll_ifindex = static_cast<int>(lo), .sll_halen = 6};
        for (const Bytes& bytes : frames)
            if (sendto(sock, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to),
                       sizeof to) != static_cast<ssize_t>(bytes.size()))
                _exit(5);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    if (harness::exited_with(status, 3) && geteuid() != 0)
        GTEST_SKIP() << "entering the namespace (setns) needs root; ran unprivileged";
    ASSERT_TRUE(harness::exited_with(status, 0))
        << "injecting frames failed: " << harness::describe_status(status)
        << " (3 setns, 4 socket/lo, 5 sendto)";

    harness::Result client = ns.run(PROG_hello_client, {"127.0.0.1", std::to_string(port)});
    ASSERT_EQ(client.exit_code(), 0) << client.err;
    auto status_watch = watch.finish();
    ASSERT_TRUE(status_watch) << "tcp_watch did not see the connection end:\n" << watch.out();
    EXPECT_TRUE(harness::exited_with(*status_watch, 0))
        << harness::describe_status(*status_watch) << "\n"
        << watch.err();
    auto lines = harness::lines(watch.out());
    ASSERT_GE(lines.size(), 6u) << watch.out();
    // "0.000000 client > server [P.] seq 0 ack 2000 win 512 length 99960"
    EXPECT_NE(lines[1].find(" client > server [P.] seq 0 ack 2000 win 512 length 99960"),
              std::string::npos)
        << "the 100,014-byte IPv4 frame is missing:\n"
        << watch.out();
    EXPECT_NE(lines[2].find(" client > server [P.] seq 0 ack 2000 win 512 length 100000"),
              std::string::npos)
        << "the IPv6 jumbogram is missing:\n"
        << watch.out();
    // ...and the capture goes on: the real connection from its SYN.
    EXPECT_NE(lines[3].find(" client > server [S] seq 0 "), std::string::npos) << watch.out();
    EXPECT_NE(lines[4].find(" server > client [S.] seq 0 ack 1 "), std::string::npos)
        << watch.out();
    EXPECT_EQ(watch.err(),
              "tcp_watch: 2 frames longer than the 65792-byte buffer: shown from their headers, "
              "payload not captured\n");
}

}  // namespace
