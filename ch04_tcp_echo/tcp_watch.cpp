// tcp_watch — watch the segments of TCP connections on the loopback interface: the three-way
// handshake (三次握手), the data, the close (四次挥手) and the reset, one line per segment.
// A raw AF_PACKET socket bound to `lo` gets a copy of every frame; the program takes the
// headers apart by hand: link (14 bytes on lo, EtherType 0x0800 IPv4 / 0x86DD IPv6) → IP
// (IPv4: IHL × 4 bytes; IPv6: 40) → TCP (data offset × 4 bytes, options included) → payload.
// Capturing needs CAP_NET_RAW: root, or root of your own user + network namespace
// (`unshare -rn`, where lo is yours and only your own programs' packets cross it).
//
// usage: tcp_watch [--port PORT] [--count N] [--connections N] [--udp] [--absolute]
//   --port PORT      only segments to or from PORT; the side that owns PORT is the "server"
//   --count N        exit after printing N lines
//   --connections N  exit once N TCP connections have ended: both FINs acknowledged, or a reset
//   --udp            UDP datagrams too (one line each)
//   --absolute       raw sequence numbers (tcpdump -S), not relative to each side's first one
//
// What to observe (`hello_server 9190` and `hello_client 127.0.0.1 9190` in the same namespace):
//   watching lo port 9190
//   0.000000 client > server [S] seq 0 win 65495 length 0 mss 65495 wscale 10
//   0.000010 server > client [S.] seq 0 ack 1 win 65483 length 0 mss 65495 wscale 10
//   0.000021 client > server [.] seq 1 ack 1 win 64 length 0
//   0.000162 server > client [P.] seq 1 ack 1 win 64 length 12
//   0.000177 client > server [.] seq 1 ack 13 win 64 length 0
//   0.000186 server > client [F.] seq 13 ack 1 win 64 length 0
//   0.000203 client > server [F.] seq 1 ack 14 win 64 length 0
//   0.000213 server > client [.] seq 14 ack 2 win 64 length 0
// Flags in tcpdump's notation: S SYN, F FIN, R RST, P PSH, "." ACK.  seq/ack count bytes from
// each side's initial sequence number (ISN): the SYN uses up one, so data starts at seq 1.
// win is the raw window field; after the handshake it is scaled by 2^wscale (64 × 1024 here).
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/net.hpp"

namespace {

constexpr const char* kUsage = "[--port PORT] [--count N] [--connections N] [--udp] [--absolute]";

uint16_t get16(const unsigned char* p) {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t get32(const unsigned char* p) {
    return uint32_t{get16(p)} << 16 | get16(p + 2);
}

// What the IP layer tells us about one packet.
struct Packet {
    std::string src, dst;               // "127.0.0.1" or "::1"
    int protocol = 0;                   // IPPROTO_TCP, IPPROTO_UDP, ...
    const unsigned char* l4 = nullptr;  // the transport header
    size_t l4_len = 0;                  // transport header + payload, from the IP length field
};

// One TCP connection, per side (0: the smaller address and port): its first sequence number
// and how far its close has got.
struct Flow {
    bool have_base[2] = {}, fin[2] = {}, fin_acked[2] = {}, ended = false;
    uint32_t base[2] = {};     // seq of the first segment we saw from each side
    uint32_t fin_end[2] = {};  // the peer acknowledges a side's FIN with ack = fin_end
};

// Parses the link and IP layers; false for anything that is not a whole IPv4/IPv6 packet.
bool parse_ip(const unsigned char* frame, size_t len, Packet& p) {
    if (len < sizeof(ether_header)) return false;
    uint16_t ethertype = get16(frame + 12);
    const unsigned char* ip = frame + sizeof(ether_header);
    size_t ip_len = len - sizeof(ether_header);
    char text[INET6_ADDRSTRLEN];
    if (ethertype == ETHERTYPE_IP) {
        if (ip_len < 20 || ip[0] >> 4 != 4) return false;
        size_t header = (ip[0] & 0x0f) * 4u;  // IHL: header length in 32-bit words
        size_t total = get16(ip + 2);         // header + payload
        if (header < 20 || total < header || total > ip_len) return false;
        if ((get16(ip + 6) & 0x1fff) != 0) return false;  // a later fragment: no TCP header
        p.protocol = ip[9];
        p.src = inet_ntop(AF_INET, ip + 12, text, sizeof text);
        p.dst = inet_ntop(AF_INET, ip + 16, text, sizeof text);
        p.l4 = ip + header;
        p.l4_len = total - header;
        return true;
    }
    if (ethertype == ETHERTYPE_IPV6) {
        if (ip_len < 40 || ip[0] >> 4 != 6) return false;
        size_t payload = get16(ip + 4);
        if (40 + payload > ip_len) return false;
        p.protocol = ip[6];  // next header (extension headers are not followed: skipped)
        p.src = inet_ntop(AF_INET6, ip + 8, text, sizeof text);
        p.dst = inet_ntop(AF_INET6, ip + 24, text, sizeof text);
        p.l4 = ip + 40;
        p.l4_len = payload;
        return true;
    }
    return false;  // ARP, or anything else that is not IP
}

// tcpdump's flag letters, in tcpdump's order: [S] [S.] [.] [P.] [F.] [R] [R.] ...
std::string flag_text(unsigned char flags) {
    static constexpr std::pair<unsigned char, char> kLetters[] = {
        {0x01, 'F'}, {0x02, 'S'}, {0x04, 'R'}, {0x08, 'P'},
        {0x10, '.'}, {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}};
    std::string s;
    for (auto [bit, letter] : kLetters)
        if (flags & bit) s += letter;
    return "[" + (s.empty() ? std::string("none") : s) + "]";
}

// The SYN's options that matter for the lesson: maximum segment size and window scale.
std::string syn_options(const unsigned char* opt, size_t len) {
    std::string s;
    // Each option: kind, length (of the whole option), data.  Kind 0 ends the list, kind 1 is
    // a one-byte no-op used as padding.
    for (size_t i = 0; i < len && opt[i] != 0; i += opt[i] == 1 ? 1 : opt[i + 1]) {
        if (opt[i] == 1) continue;
        if (i + 1 >= len || opt[i + 1] < 2 || i + opt[i + 1] > len) break;  // malformed
        if (opt[i] == 2 && opt[i + 1] == 4) s += " mss " + std::to_string(get16(opt + i + 2));
        if (opt[i] == 3 && opt[i + 1] == 3) s += " wscale " + std::to_string(opt[i + 2]);
    }
    return s;
}

}  // namespace

int main(int argc, char* argv[]) {
    int port = 0;  // 0: every port
    long count = 0, connections = 0;
    bool udp = false, absolute = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        bool has_value = i + 1 < argc;
        if (arg == "--port" && has_value) {
            std::string why;
            std::optional<uint16_t> p = common::parse_port(argv[++i], &why);
            if (!p || p == 0) {  // 0 means "any port" to bind(); a port to watch is 1..65535
                why = p ? "invalid port '0'" : why.substr(0, why.find(" ("));
                common::note("%s (expected 1 to 65535)", why.c_str());
                common::die_usage("%s", kUsage);
            }
            port = *p;
        } else if (arg == "--count" && has_value) {
            count = common::number_arg("--count", argv[++i], 1, 1000000000);
        } else if (arg == "--connections" && has_value) {
            connections = common::number_arg("--connections", argv[++i], 1, 1000000000);
        } else if (arg == "--udp") {
            udp = true;
        } else if (arg == "--absolute") {
            absolute = true;
        } else {
            common::die_usage("%s", kUsage);
        }
    }

    // Protocol 0: the socket receives nothing until bind() says which frames and where, so no
    // frame of another interface slips in between socket() and bind().
    common::Fd sock(socket(AF_PACKET, SOCK_RAW, 0));
    if (!sock && (errno == EPERM || errno == EACCES))
        common::fatal(
            "socket(AF_PACKET): %s: capturing packets needs CAP_NET_RAW.  Run it as "
            "root (sudo), or without root inside your own user and network namespace: "
            "unshare -rn sh -c 'ip link set lo up; tcp_watch --port 9190 & ...'",
            strerror(errno));
    if (!sock) common::die("socket(AF_PACKET)");
    unsigned lo_index = if_nametoindex("lo");
    if (lo_index == 0) common::die("if_nametoindex(lo)");
    sockaddr_ll where{.sll_family = AF_PACKET,
                      .sll_protocol = htons(ETH_P_ALL),  // every EtherType
                      .sll_ifindex = static_cast<int>(lo_index)};
    if (bind(sock.get(), reinterpret_cast<sockaddr*>(&where), sizeof where) == -1)
        common::die("bind to lo");

    setvbuf(stdout, nullptr, _IOLBF, 0);  // one line per segment, at once (tests read them)
    if (port != 0)
        printf("watching lo port %d\n", port);
    else
        printf("watching lo\n");

    // SIGINT/SIGTERM keep their default action, ending the program: every line printed so far
    // has already been written (line buffering), so there is nothing to clean up.
    std::map<std::tuple<std::string, int, std::string, int>, Flow> flows;
    static unsigned char frame[65536 + 256];
    double first_time = -1;
    long printed = 0, ended = 0;
    while ((count == 0 || printed < count) && (connections == 0 || ended < connections)) {
        sockaddr_ll from{};
        socklen_t from_len = sizeof from;
        // MSG_TRUNC: return the frame's real length, even if it did not fit in the buffer.
        ssize_t n = recvfrom(sock.get(), frame, sizeof frame, MSG_TRUNC,
                             reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("recvfrom");
        // On lo every packet crosses twice: once leaving (PACKET_OUTGOING) and once arriving.
        // Keep the arrival only, as tcpdump does.
        if (from.sll_pkttype == PACKET_OUTGOING) continue;
        size_t len = static_cast<size_t>(n) > sizeof frame ? 0 : static_cast<size_t>(n);

        Packet p;
        if (!parse_ip(frame, len, p)) continue;
        bool is_tcp = p.protocol == IPPROTO_TCP && p.l4_len >= 20;
        bool is_udp = udp && p.protocol == IPPROTO_UDP && p.l4_len >= 8;
        if (!is_tcp && !is_udp) continue;
        int sport = get16(p.l4), dport = get16(p.l4 + 2);
        if (port != 0 && sport != port && dport != port) continue;

        timespec ts{};
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double now = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
        if (first_time < 0) first_time = now;

        // Who sent it: with --port, the side that owns PORT is the server.
        std::string who = port == 0 ? p.src + ":" + std::to_string(sport) + " > " + p.dst + ":" +
                                          std::to_string(dport)
                          : dport == port ? "client > server"
                                          : "server > client";
        if (is_udp) {
            printf("%.6f %s UDP length %zu\n", now - first_time, who.c_str(), p.l4_len - 8);
            ++printed;
            continue;
        }

        const unsigned char* tcp = p.l4;
        size_t header = (tcp[12] >> 4) * 4u;  // data offset: TCP header length in 32-bit words
        if (header < 20 || header > p.l4_len) continue;  // malformed: skip it
        unsigned char flags = tcp[13];
        uint32_t seq = get32(tcp + 4), ack = get32(tcp + 8);
        size_t payload = p.l4_len - header;

        // The connection, whichever way the segment goes; a new SYN starts it afresh.
        auto me = std::tuple(p.src, sport), peer = std::tuple(p.dst, dport);
        int side = me < peer ? 0 : 1, other = 1 - side;
        auto key = side == 0 ? std::tuple_cat(me, peer) : std::tuple_cat(peer, me);
        bool syn_only = (flags & 0x12) == 0x02;
        auto it = flows.find(key);
        if (it == flows.end() || (syn_only && it->second.ended))
            it = flows.insert_or_assign(key, Flow{}).first;
        Flow& f = it->second;
        if (!f.have_base[side]) {
            f.have_base[side] = true;
            f.base[side] = seq;
        }

        std::string line = flag_text(flags);
        line += " seq " + std::to_string(absolute ? seq : seq - f.base[side]);
        if (flags & 0x10)  // ACK: the next byte this side expects from the other
            line += " ack " +
                    std::to_string(absolute || !f.have_base[other] ? ack : ack - f.base[other]);
        line += " win " + std::to_string(get16(tcp + 14));
        line += " length " + std::to_string(payload);
        if (flags & 0x02) line += syn_options(tcp + 20, header - 20);
        printf("%.6f %s %s\n", now - first_time, who.c_str(), line.c_str());
        ++printed;

        // Has the connection ended?  A FIN takes one sequence number, after the payload.
        if (flags & 0x01) {
            f.fin[side] = true;
            f.fin_end[side] = seq + static_cast<uint32_t>(payload) + 1;
        }
        if ((flags & 0x10) && f.fin[other] && ack == f.fin_end[other]) f.fin_acked[other] = true;
        bool done = (flags & 0x04) || (f.fin_acked[0] && f.fin_acked[1]);
        if (done && !f.ended) {
            f.ended = true;
            ++ended;
        }
    }

    tpacket_stats stats{};  // frames the kernel had to drop because we read too slowly
    socklen_t stats_len = sizeof stats;
    if (getsockopt(sock.get(), SOL_PACKET, PACKET_STATISTICS, &stats, &stats_len) == 0 &&
        stats.tp_drops > 0)
        common::note("%u frames dropped by the kernel (receive buffer full)", stats.tp_drops);
    return 0;
}
