// ch04: tcp_watch reads frames it did not choose — it must never read past a frame's end.
//
// Inside a private network namespace, a child of the test enters the namespace (setns) and
// sends malformed frames onto its `lo` with a packet socket of its own: not IP, cut short,
// header lengths that point past the end, a later IP fragment.  tcp_watch, watching the same
// port, must print none of them and keep running, and then capture a real connection from
// its first segment.  A well-formed datagram sent first proves the frames reach it.  (Under the asan preset, a read past the frame would abort it.)
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
    Bytes f(14, 0);
    put16(f, 12, ethertype);
    f.insert(f.end(), body.begin(), body.end());
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
        {"IPv4 header cut at 10 bytes", frame(ETHERTYPE_IP, Bytes{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6})},
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
        sockaddr_ll to{.sll_family = AF_PACKET, .sll_ifindex = static_cast<int>(lo), .sll_halen = 6};
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
        << harness::describe_status(*status_watch) << "\n" << watch.err();
    auto lines = harness::lines(watch.out());
    ASSERT_GE(lines.size(), 5u) << watch.out();
    EXPECT_NE(lines[1].find("client > server UDP length 5"), std::string::npos)
        << "the well-formed datagram did not reach tcp_watch:\n" << watch.out();
    // The real handshake right after it: [S] then [S.] (a malformed "SYN" printed in between
    // would push the [S.] down a line).
    EXPECT_NE(lines[2].find("client > server [S] seq 0 "), std::string::npos)
        << "a malformed frame was printed, or the SYN was missed:\n" << watch.out();
    EXPECT_NE(lines[3].find("server > client [S.] seq 0 ack 1 "), std::string::npos)
        << "a malformed frame was printed, or the SYN-ACK was missed:\n" << watch.out();
    for (size_t i = 2; i < lines.size(); ++i)
        EXPECT_EQ(lines[i].find("UDP"), std::string::npos) << lines[i];
}

}  // namespace
