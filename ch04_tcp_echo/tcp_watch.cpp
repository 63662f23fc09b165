// tcp_watch — a TOOL, not a lesson: it shows the segments of TCP connections on the loopback
// interface, one line per segment (the handshake 三次握手, the data, the close 四次挥手, the
// reset), as tcpdump would.  Needs CAP_NET_RAW: root, or `unshare -rn` (README, "On the wire").
//
// usage: tcp_watch [--port PORT] [--count N] [--connections N] [--udp] [--absolute]
//   --port PORT      only segments to or from PORT, whose owner is the "server" (default: all)
//   --count N        exit after printing N lines (default: never)
//   --connections N  exit once N TCP connections have ended: both FINs acknowledged, or a
//                    reset (default: never)
//   --udp            UDP datagrams too (one line each)
//   --absolute       raw sequence numbers (tcpdump -S), not relative to each side's first one
//
// What to observe (`hello_server 9190` and `hello_client 127.0.0.1 9190` in the same namespace):
//   watching lo port 9190
//   0.000000 client > server [S] seq 0 win 65495 length 0 mss 65495 wscale 10
//   0.000010 server > client [S.] seq 0 ack 1 win 65483 length 0 mss 65495 wscale 10
//   0.000021 client > server [.] seq 1 ack 1 win 64 length 0
//   ... [P.] length 12, then [F.] and [.] each way; at exit stderr counts what it could not show.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <csignal>
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
#include "common/help.hpp"
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

enum class Ip { kOk, kNotIp, kFragment, kBad };

// Parses the link and IP layers of a frame of LEN bytes on the wire (MSG_TRUNC's length: the
// buffer may hold less, but always every header, as they come first).  kBad: an IPv4/IPv6
// frame cut short, or whose header lengths do not add up.
Ip parse_ip(const unsigned char* frame, size_t len, Packet& p) {
    if (len < sizeof(ether_header)) return Ip::kNotIp;
    uint16_t ethertype = get16(frame + 12);
    const unsigned char* ip = frame + sizeof(ether_header);
    size_t ip_len = len - sizeof(ether_header);
    char text[INET6_ADDRSTRLEN];
    if (ethertype == ETHERTYPE_IP) {
        if (ip_len < 20 || ip[0] >> 4 != 4) return Ip::kBad;
        size_t header = (ip[0] & 0x0f) * 4u;  // IHL: header length in 32-bit words
        size_t total = get16(ip + 2);         // header + payload
        // Over 64 KiB the 16-bit field cannot hold the length: Linux's BIG TCP sends 0 there,
        // and the frame's own length is the packet's.
        if (total == 0 && ip_len > 65535) total = ip_len;
        if (header < 20 || total < header || total > ip_len) return Ip::kBad;
        if ((get16(ip + 6) & 0x1fff) != 0) return Ip::kFragment;  // a later one: no TCP header
        p.protocol = ip[9];
        p.src = inet_ntop(AF_INET, ip + 12, text, sizeof text);
        p.dst = inet_ntop(AF_INET, ip + 16, text, sizeof text);
        p.l4 = ip + header;
        p.l4_len = total - header;
        return Ip::kOk;
    }
    if (ethertype == ETHERTYPE_IPV6) {
        if (ip_len < 40 || ip[0] >> 4 != 6) return Ip::kBad;
        size_t payload = get16(ip + 4);
        p.protocol = ip[6];  // next header (extension headers are not followed: skipped)
        p.l4 = ip + 40;
        // A jumbogram (RFC 2675, BIG TCP): payload length 0, and a hop-by-hop header whose
        // Jumbo Payload option (type 0xC2) holds the length, the hop-by-hop header included.
        if (payload == 0 && p.protocol == 0 && ip_len >= 48 && ip[41] == 0 && ip[42] == 0xC2 &&
            ip[43] == 4) {
            payload = get32(ip + 44);
            if (payload < 8) return Ip::kBad;
            p.protocol = ip[40];
            p.l4 = ip + 48;
            payload -= 8;
            ip_len -= 8;
        }
        if (40 + payload > ip_len) return Ip::kBad;
        p.src = inet_ntop(AF_INET6, ip + 8, text, sizeof text);
        p.dst = inet_ntop(AF_INET6, ip + 24, text, sizeof text);
        p.l4_len = payload;
        return Ip::kOk;
    }
    return Ip::kNotIp;  // ARP, or anything else that is not IP
}

volatile sig_atomic_t stop_signal = 0;
void on_stop(int sig) {
    stop_signal = sig;
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
    common::answer_help(argc, argv);
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

    // A raw AF_PACKET socket bound to `lo` gets a copy of every frame; the headers are taken
    // apart by hand: link (14 bytes on lo, EtherType 0x0800 IPv4 / 0x86DD IPv6) → IP (IPv4:
    // IHL × 4 bytes; IPv6: 40) → TCP (data offset × 4 bytes, options included) → payload.
    // Capturing needs CAP_NET_RAW: root, or root of your own user + network namespace
    // (`unshare -rn`, where lo is yours and only your own programs' packets cross it).
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

    // Frames wait in the socket's receive buffer until we read them, and on lo each one
    // counts twice (below).  The default (208 KiB) holds one 64 KiB segment each way and little
    // more: ask for 8 MiB — SO_RCVBUFFORCE as root; otherwise SO_RCVBUF, capped by the
    // kernel at twice net.core.rmem_max.
    int rcvbuf = 8 << 20;
    if (setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) == -1)
        setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);

    // Ask for the kernel's receive time of each frame, delivered with it (SCM_TIMESTAMPNS).
    int on = 1;
    if (setsockopt(sock.get(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) == -1)
        common::die("setsockopt SO_TIMESTAMPNS");

    // SIGINT/SIGTERM end the loop, so that the counts below are printed.  They stay blocked
    // except inside ppoll(), which unblocks them while it waits: a signal cannot slip in
    // between the check of stop_signal and the wait (it would then wait for the next frame).
    struct sigaction sa {};
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigset_t stoppers, while_waiting;
    sigemptyset(&stoppers);
    for (int sig : {SIGINT, SIGTERM}) {
        sigaddset(&stoppers, sig);
        if (sigaction(sig, &sa, nullptr) == -1) common::die("sigaction");
    }
    if (sigprocmask(SIG_BLOCK, &stoppers, &while_waiting) == -1) common::die("sigprocmask");

    // Ready only now: a frame that arrives after this line finds the large buffer, gets its
    // timestamp, and a SIGTERM still prints the counts.  (Printed before the setsockopt()s, a
    // busy machine let two 100 KB frames meet the default buffer: one was dropped.)
    setvbuf(stdout, nullptr, _IOLBF, 0);  // one line per segment, at once (tests read them)
    if (port != 0)
        printf("watching lo port %d\n", port);
    else
        printf("watching lo\n");

    std::map<std::tuple<std::string, int, std::string, int>, Flow> flows;
    // Any frame up to 64 KiB (lo's MTU) fits.  A longer one (BIG TCP on lo makes IP packets of
    // up to 512 KiB) is cut to this size, but its headers come first and are all in it.
    static unsigned char frame[65536 + 256];
    double first_time = -1;
    long printed = 0, ended = 0, oversized = 0, skipped = 0;
    while ((count == 0 || printed < count) && (connections == 0 || ended < connections) &&
           stop_signal == 0) {
        pollfd pfd{.fd = sock.get(), .events = POLLIN, .revents = 0};
        int ready = ppoll(&pfd, 1, nullptr, &while_waiting);
        if (ready == -1 && errno == EINTR) continue;  // a signal: the loop condition decides
        if (ready == -1) common::die("ppoll");
        sockaddr_ll from{};
        iovec iov{.iov_base = frame, .iov_len = sizeof frame};
        alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(timespec))];
        msghdr msg{};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof from;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        // MSG_TRUNC: return the frame's real length, even if it did not fit in the buffer.
        ssize_t n = recvmsg(sock.get(), &msg, MSG_TRUNC | MSG_DONTWAIT);
        if (n == -1 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n == -1) common::die("recvmsg");
        // On lo every packet crosses twice: once leaving (PACKET_OUTGOING) and once arriving.
        // Keep the arrival only, as tcpdump does.
        if (from.sll_pkttype == PACKET_OUTGOING) continue;
        size_t len = static_cast<size_t>(n);  // on the wire; min(len, sizeof frame) arrived

        Packet p;
        Ip ip = parse_ip(frame, len, p);
        if (ip == Ip::kBad) ++skipped;
        if (ip != Ip::kOk) continue;
        if (p.protocol != IPPROTO_TCP && !(udp && p.protocol == IPPROTO_UDP)) continue;
        if (p.l4_len < 4) {  // not even the ports
            ++skipped;
            continue;
        }
        int sport = get16(p.l4), dport = get16(p.l4 + 2);
        if (port != 0 && sport != port && dport != port) continue;
        bool is_udp = p.protocol == IPPROTO_UDP;
        const unsigned char* tcp = p.l4;
        // The transport header must be whole: UDP's is 8 bytes; TCP's is given by its data
        // offset (in 32-bit words, options included), 20 bytes at least.
        size_t header = 8;
        if (!is_udp) header = p.l4_len >= 20 ? (tcp[12] >> 4) * 4u : 0;
        if (header < (is_udp ? 8u : 20u) || header > p.l4_len) {
            ++skipped;  // cut short, or a data offset past the end
            continue;
        }
        if (len > sizeof frame) ++oversized;

        // Times are the kernel's receive timestamps (SO_TIMESTAMPNS), in seconds since the
        // first segment shown, not the moments tcp_watch got round to reading the frames.
        double now = -1;  // the kernel's timestamp; read time only if it sent none
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                timespec ts;
                memcpy(&ts, CMSG_DATA(c), sizeof ts);
                now = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
            }
        if (now < 0) {
            timespec ts{};
            clock_gettime(CLOCK_REALTIME, &ts);
            now = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
        }
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

        // Flags in tcpdump's notation: S SYN, F FIN, R RST, P PSH, "." ACK.  seq/ack count
        // bytes from each side's initial sequence number (ISN): the SYN uses up one, so data
        // starts at seq 1.  win is the raw window field; after the handshake it is scaled by
        // 2^wscale (64 × 1024 on lo).
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

    // What could not be shown as it was, said once at the end, also after Ctrl-C (stdout has
    // one line per segment and nothing else): frames longer than the buffer (BIG TCP; shown
    // from their headers), IP frames cut short or malformed (skipped), frames the kernel
    // dropped because tcp_watch read too slowly.
    if (oversized > 0)
        common::note(
            "%ld frame%s longer than the %zu-byte buffer: shown from their headers, "
            "payload not captured",
            oversized, oversized == 1 ? "" : "s", sizeof frame);
    if (skipped > 0)
        common::note("%ld IP frame%s skipped: cut short, or header lengths that do not add up",
                     skipped, skipped == 1 ? "" : "s");
    tpacket_stats stats{};  // frames the kernel had to drop because we read too slowly
    socklen_t stats_len = sizeof stats;
    if (getsockopt(sock.get(), SOL_PACKET, PACKET_STATISTICS, &stats, &stats_len) == 0 &&
        stats.tp_drops > 0)
        common::note("%u frames dropped by the kernel (receive buffer full)", stats.tp_drops);
    return 0;
}
