// ch14 (book ch. 14): multicast and broadcast — and the network-namespace helper they run in.
//
// Every program here runs inside private network namespaces the test creates (harness::NetNs):
// "hosts" with only `lo`, or joined by veth pairs on 198.18.0.0/15 (RFC 2544's test range).
// Nothing is ever sent to a group or a broadcast address from the host's own namespace, and
// no datagram can reach a real network.  Without the privilege to create namespaces the tests
// skip with the reason; as root (CI) they must run.
//
// What these tests prove:
//   NetNs: a new namespace has only `lo`, up; its loopback is its own (a port the host holds
//   is free inside, and the host cannot connect to the server there); a veth pair joins two
//   namespaces on one subnet; everything (processes, namespace, veth) is gone when the
//   objects go out of scope, also when an assertion fails.
//   Ch14: three members of a group each get every line of a 50-line file, in order, while a
//   socket on the same port that did not join gets none of it; a host whose last member
//   left accepts no more of the group's datagrams; --no-loop keeps copies off the sender's
//   host; TTL 0 stays on the host, TTL 1 reaches the next host on the link; a broadcast
//   reaches every host of the subnet (the sender's too), but only with SO_BROADCAST
//   (EACCES without); neither subnet broadcast nor multicast crosses a router that forwards
//   unicast; socat sends to and receives from our programs; the lesson's setsockopt calls
//   (IP_ADD/DROP_MEMBERSHIP, IP_MULTICAST_TTL/IF, SO_BROADCAST) are made, as strace shows;
//   bad input is one line and the right exit status.
// Every "gets nothing" is checked without a timeout: the window ends on a positive event on
// the same socket, sent after the datagram that must not arrive (a receiver prints in the
// order its datagrams came, so if the first one had arrived it would be printed first).
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "netns.hpp"

namespace {

using namespace std::chrono_literals;
using harness::Deadline;
using harness::NetNs;
using harness::Process;
using harness::Result;

const std::string kGroup = "239.1.2.3";  // administratively scoped (RFC 2365): never global
const std::string kOtherGroup = "239.1.2.4";
const std::string kAddrA = "198.18.0.1", kAddrB = "198.18.0.2", kSubnetBroadcast = "198.18.0.255";

// ---- helpers -------------------------------------------------------------------------------

// Two hosts on one subnet: A 198.18.0.1/24, B 198.18.0.2/24, joined by a veth pair.
struct TwoHosts {
    NetNs a{"a"}, b{"b"};
    harness::Veth veth = harness::link(a, kAddrA + "/24", b, kAddrB + "/24");
    bool ok() const { return a.ok() && b.ok() && !veth.dev_a.empty(); }
};

std::vector<std::string> numbered(const std::string& prefix, int n) {
    std::vector<std::string> lines;
    for (int i = 1; i <= n; ++i)
        lines.push_back(prefix + " " + std::to_string(i));
    return lines;
}

// Writes LINES to DIR/NAME, one per line; returns the path.
std::string news_file(const harness::TempDir& dir, const std::string& name,
                      const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& l : lines)
        text += l + "\n";
    harness::write_file(dir.file(name), text);
    return dir.file(name);
}

// The next N lines of P's stdout (fewer if it ends or the deadline passes first).
std::vector<std::string> next_lines(Process& p, size_t n, Deadline deadline = {}) {
    std::vector<std::string> got;
    while (got.size() < n) {
        auto line = p.read_line(deadline);
        if (!line) break;
        got.push_back(*line);
    }
    return got;
}

// news_receiver GROUP PORT --interface IF inside NS, ready: bound and joined.  PORT "0" lets
// the kernel choose; *port (if given) receives the port.
Process member(const NetNs& ns, const std::string& group, int port, const std::string& interface,
               std::vector<std::string> extra = {}, int* port_out = nullptr) {
    std::vector<std::string> args{group, std::to_string(port), "--interface", interface};
    args.insert(args.end(), extra.begin(), extra.end());
    Process p = ns.process(PROG_news_receiver, args);
    int bound = p.wait_ready();
    if (port_out) *port_out = bound;
    EXPECT_TRUE(p.wait_for_line("joined " + group + " on " + interface))
        << ns.name() << ": news_receiver did not join: " << p.err();
    return p;
}

// news_receiver_brd PORT inside NS, ready.
Process brd_receiver(const NetNs& ns, int port, int* port_out = nullptr) {
    Process p = ns.process(PROG_news_receiver_brd, {std::to_string(port)});
    int bound = p.wait_ready();
    if (port_out) *port_out = bound;
    return p;
}

// Runs a sender to completion inside NS and checks that it sent N datagrams.
void send_ok(const NetNs& ns, const std::string& program, std::vector<std::string> args, size_t n) {
    Result r = ns.run(program, std::move(args));
    EXPECT_EQ(r.exit_code(), 0) << ns.name() << ": " << r.err;
    std::string sent = "sent " + std::to_string(n) + (n == 1 ? " datagram to " : " datagrams to ");
    EXPECT_EQ(r.out.rfind(sent, 0), 0u) << r.out;
}

// Sends LINE as one UDP datagram to ADDR:PORT from inside NS, with socat (a peer we did not
// write).  Used for unicast "positive events" and as a third-party sender.
void socat_send(const NetNs& ns, const std::string& line, const std::string& address) {
    Result r = ns.run("socat", {"-u", "-", address}, line + "\n");
    EXPECT_EQ(r.exit_code(), 0) << ns.name() << ": socat " << address << ": " << r.err;
}

// The parent of process PID (from /proc/PID/stat), or -1.
pid_t parent_of(const std::string& pid) {
    std::string stat = harness::read_file("/proc/" + pid + "/stat");
    auto paren = stat.rfind(')');  // "PID (COMM) STATE PPID ...": COMM may contain anything
    if (paren == std::string::npos) return -1;
    char state;
    int ppid = -1;
    return sscanf(stat.c_str() + paren + 1, " %c %d", &state, &ppid) == 2 ? ppid : -1;
}

// How many children of this test process are in the network namespace with inode INO.  (Every
// program a NetNs starts, and its holder, is our child: nsenter and unshare exec() in place.
// Only our children count: once a namespace is freed, the kernel may give its inode number to
// a namespace of another test running in parallel.)
int processes_in_netns(ino_t ino) {
    std::string want = "net:[" + std::to_string(ino) + "]";
    int count = 0;
    DIR* proc = opendir("/proc");
    if (!proc) return -1;
    while (dirent* e = readdir(proc)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char target[64];
        std::string link = std::string("/proc/") + e->d_name + "/ns/net";
        ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
        if (n > 0 && std::string(target, static_cast<size_t>(n)) == want &&
            parent_of(e->d_name) == getpid())
            ++count;
    }
    closedir(proc);
    return count;
}

ino_t netns_inode(const NetNs& ns) {
    struct stat st {};
    return stat(ns.net_path().c_str(), &st) == 0 ? st.st_ino : 0;
}

// `ip -o link` inside NS: one line per interface.
std::vector<std::string> links(const NetNs& ns) {
    Result r = ns.run("ip", {"-o", "link"});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    return harness::lines(r.out);
}

// ---- the namespace helper --------------------------------------------------------------------

TEST(NetNs, NewNamespaceHasOnlyLoopbackAndItIsUp) {
    SOCKLAB_REQUIRE_NETNS();
    NetNs ns("fresh");
    ASSERT_TRUE(ns.ok());
    struct stat host {};
    ASSERT_EQ(stat("/proc/self/ns/net", &host), 0);
    EXPECT_NE(netns_inode(ns), host.st_ino) << "the holder is still in the host's namespace";

    auto ifs = links(ns);
    ASSERT_EQ(ifs.size(), 1u) << ns.run("ip", {"-o", "link"}).out;
    EXPECT_NE(ifs[0].find(": lo: <LOOPBACK,UP,LOWER_UP>"), std::string::npos) << ifs[0];
    Result addr = ns.run("ip", {"-o", "-4", "addr"});
    EXPECT_NE(addr.out.find("inet 127.0.0.1/8"), std::string::npos) << addr.out;
    EXPECT_EQ(harness::lines(addr.out).size(), 1u) << addr.out;
}

TEST(NetNs, LoopbackIsPrivateThePortsAndTheServersOnItToo) {
    SOCKLAB_REQUIRE_NETNS();
    SOCKLAB_REQUIRE_TOOL("socat");
    NetNs ns("private");
    ASSERT_TRUE(ns.ok());
    // The test holds 127.0.0.1:PORT in the host's namespace (bound, not listening): there,
    // nobody else can take it, and a connect() to it is refused.
    harness::Listener held = harness::refused_port();
    std::string port = std::to_string(held.port);

    // Inside the namespace the same port is free: a server binds it.
    Process server = ns.process(
        "socat", {"-d", "-d", "TCP4-LISTEN:" + port + ",bind=127.0.0.1", "SYSTEM:echo inside"});
    bool listening = false;
    for (Deadline d; !listening;) {
        auto line = server.read_err_line(d);
        if (!line) break;
        listening = line->find("listening on") != std::string::npos;
    }
    ASSERT_TRUE(listening) << server.err();

    // From the host, 127.0.0.1:PORT is the test's own socket: refused.
    common::Fd fd = harness::connect_tcp("127.0.0.1", held.port);
    int connect_errno = errno;
    EXPECT_FALSE(fd) << "the host reached a server inside the namespace";
    EXPECT_EQ(connect_errno, ECONNREFUSED) << strerror(connect_errno);
    // From inside, the server answers (it was listening all along).
    Result client = ns.run("socat", {"-u", "TCP4:127.0.0.1:" + port, "-"});
    EXPECT_EQ(client.exit_code(), 0) << client.err;
    EXPECT_EQ(client.out, "inside\n");
}

TEST(NetNs, VethJoinsTwoNamespacesOnOneSubnet) {
    SOCKLAB_REQUIRE_NETNS();
    SOCKLAB_REQUIRE_TOOL("socat");
    TwoHosts net;
    ASSERT_TRUE(net.ok());
    Result a = net.a.run("ip", {"-o", "-4", "addr", "show", "dev", net.veth.dev_a});
    EXPECT_NE(a.out.find("inet 198.18.0.1/24 brd 198.18.0.255"), std::string::npos) << a.out;
    Result b = net.b.run("ip", {"-o", "-4", "addr", "show", "dev", net.veth.dev_b});
    EXPECT_NE(b.out.find("inet 198.18.0.2/24 brd 198.18.0.255"), std::string::npos) << b.out;
    EXPECT_EQ(links(net.a).size(), 2u);  // lo and one end of the pair
    EXPECT_EQ(links(net.b).size(), 2u);

    // A TCP connection from A to B across the pair.  (A fixed port is safe here: the
    // namespace is private, nothing else can hold it.)
    Process server = net.b.process(
        "socat", {"-d", "-d", "TCP4-LISTEN:9190,bind=" + kAddrB, "SYSTEM:echo from b"});
    bool listening = false;
    for (Deadline d; !listening;) {
        auto line = server.read_err_line(d);
        if (!line) break;
        listening = line->find("listening on") != std::string::npos;
    }
    ASSERT_TRUE(listening) << server.err();
    Result client = net.a.run("socat", {"-u", "TCP4:" + kAddrB + ":9190", "-"});
    EXPECT_EQ(client.exit_code(), 0) << client.err;
    EXPECT_EQ(client.out, "from b\n");

    // The host's own namespace never got these addresses.
    Result host = harness::run("ip", {"-o", "-4", "addr"});
    EXPECT_EQ(host.out.find("198.18.0."), std::string::npos) << host.out;
}

// For the next test: EXPECT_FATAL_FAILURE's statement may only use static data.
struct Doomed {
    static inline ino_t inode = 0;
    static void fail_inside_a_namespace() {
        NetNs ns("doomed");
        ASSERT_TRUE(ns.ok());
        inode = netns_inode(ns);
        Process p = ns.process(PROG_news_receiver_brd, {"0"});
        ASSERT_GT(p.wait_ready(), 0);
        ASSERT_EQ(processes_in_netns(inode), 2);  // the holder and the receiver
        FAIL() << "deliberate failure inside the namespace";
    }
};

TEST(NetNs, EverythingIsGoneWhenTheObjectsGoOutOfScope) {
    SOCKLAB_REQUIRE_NETNS();
    NetNs b("b");
    ASSERT_TRUE(b.ok());
    ino_t inode = 0;
    {
        NetNs a("a");
        ASSERT_TRUE(a.ok());
        harness::Veth veth = harness::link(a, kAddrA + "/24", b, kAddrB + "/24");
        ASSERT_FALSE(veth.dev_b.empty());
        inode = netns_inode(a);
        Process p = a.process(PROG_news_receiver_brd, {"0"});
        ASSERT_GT(p.wait_ready(), 0);
        EXPECT_EQ(processes_in_netns(inode), 2);
        EXPECT_EQ(links(b).size(), 2u);
    }
    EXPECT_EQ(processes_in_netns(inode), 0) << "a process is still in the namespace";
    // With its last process the namespace is destroyed, and so is its end of the veth pair,
    // which takes B's end with it.  The kernel does that in a worker, so wait for the state.
    std::vector<std::string> left;
    for (Deadline d; !d.expired(); std::this_thread::sleep_for(5ms)) {
        left = links(b);
        if (left.size() == 1) break;
    }
    EXPECT_EQ(left.size(), 1u) << "B's end of the veth pair outlived A";

    // The same when an assertion fails inside the scope.
    EXPECT_FATAL_FAILURE(Doomed::fail_inside_a_namespace(), "deliberate failure");
    ASSERT_NE(Doomed::inode, 0u);
    EXPECT_EQ(processes_in_netns(Doomed::inode), 0) << "the holder or the receiver survived";
}

// ---- multicast -------------------------------------------------------------------------------

TEST(Ch14Multicast, ThreeMembersGetEveryLineInOrderANonMemberOnThePortGetsNone) {
    SOCKLAB_REQUIRE_NETNS();
    harness::TempDir dir;
    NetNs host("host");  // one host: sender and receivers meet on its lo
    ASSERT_TRUE(host.ok());
    int port = 0;
    Process r1 = member(host, kGroup, 0, "127.0.0.1", {"--count", "50"}, &port);
    ASSERT_GT(port, 0);
    Process r2 = member(host, kGroup, port, "127.0.0.1", {"--count", "50"});
    Process r3 = member(host, kGroup, port, "127.0.0.1", {"--count", "50"});
    // Bound to the same port, but a member of another group only.
    Process other = member(host, kOtherGroup, port, "127.0.0.1");

    auto lines = numbered("news line", 50);
    send_ok(host, PROG_news_sender,
            {kGroup, std::to_string(port), news_file(dir, "news.txt", lines), "--interface",
             "127.0.0.1", "--interval-ms", "0"},
            50);
    for (Process* r : {&r1, &r2, &r3}) {
        EXPECT_EQ(next_lines(*r, 50), lines);
        EXPECT_EQ(r->read_line(), "left " + kGroup);  // --count 50: leaves, then exits 0
        auto status = r->wait_exit();
        ASSERT_TRUE(status);
        EXPECT_TRUE(harness::exited_with(*status, 0)) << harness::describe_status(*status);
    }
    // The non-member's first datagram is the one sent to its own group afterwards.
    send_ok(host, PROG_news_sender,
            {kOtherGroup, std::to_string(port), news_file(dir, "other.txt", {"other group"}),
             "--interface", "127.0.0.1"},
            1);
    EXPECT_EQ(other.read_line(), "other group");
}

TEST(Ch14Multicast, HostWhoseLastMemberLeftAcceptsNoMoreOfTheGroup) {
    SOCKLAB_REQUIRE_NETNS();
    harness::TempDir dir;
    TwoHosts net;
    ASSERT_TRUE(net.ok());
    int port = 0;
    Process leaver = member(net.b, kGroup, 0, kAddrB, {"--count", "3"}, &port);
    ASSERT_GT(port, 0);
    // A plain socket on the same port of B that joins nothing (news_receiver_brd).
    Process plain = brd_receiver(net.b, port);
    std::string maddr = net.b.run("ip", {"maddr", "show", "dev", net.veth.dev_b}).out;
    EXPECT_NE(maddr.find("inet  " + kGroup), std::string::npos) << maddr;

    auto lines = numbered("before leaving", 3);
    send_ok(net.a, PROG_news_sender,
            {kGroup, std::to_string(port), news_file(dir, "three.txt", lines), "--interface",
             kAddrA, "--ttl", "1", "--interval-ms", "0"},
            3);
    EXPECT_EQ(next_lines(leaver, 4),
              (std::vector<std::string>{lines[0], lines[1], lines[2], "left " + kGroup}));
    auto status = leaver.wait_exit();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << leaver.err();
    // While B was a member, its plain socket got the group's datagrams too: Linux hands them
    // to every socket on the port (IP_MULTICAST_ALL defaults to on; news_receiver turns it
    // off for itself).  The membership belongs to the host.
    EXPECT_EQ(next_lines(plain, 3), lines);

    // The member has left: B no longer lists the group ...
    maddr = net.b.run("ip", {"maddr", "show", "dev", net.veth.dev_b}).out;
    EXPECT_EQ(maddr.find("inet  " + kGroup), std::string::npos) << maddr;
    // ... and drops its datagrams: the plain socket's next line is the broadcast sent after.
    send_ok(net.a, PROG_news_sender,
            {kGroup, std::to_string(port), news_file(dir, "late.txt", {"after leaving"}),
             "--interface", kAddrA, "--ttl", "1"},
            1);
    send_ok(net.a, PROG_news_sender_brd,
            {kSubnetBroadcast, std::to_string(port), news_file(dir, "brd.txt", {"broadcast"})}, 1);
    EXPECT_EQ(plain.read_line(), "broadcast");
}

TEST(Ch14Multicast, NoLoopKeepsCopiesOffTheSendersHost) {
    SOCKLAB_REQUIRE_NETNS();
    harness::TempDir dir;
    TwoHosts net;
    ASSERT_TRUE(net.ok());
    int port = 0;
    Process on_a = member(net.a, kGroup, 0, kAddrA, {}, &port);  // on the sender's host
    ASSERT_GT(port, 0);
    Process on_b = member(net.b, kGroup, port, kAddrB);

    auto lines = numbered("no loop", 5);
    send_ok(net.a, PROG_news_sender,
            {kGroup, std::to_string(port), news_file(dir, "news.txt", lines), "--interface", kAddrA,
             "--ttl", "1", "--interval-ms", "0", "--no-loop"},
            5);
    EXPECT_EQ(next_lines(on_b, 5), lines);  // the other host got every line
    // Loop on again (the default): the member on A gets this one, and got nothing before it.
    send_ok(net.a, PROG_news_sender,
            {kGroup, std::to_string(port), news_file(dir, "loop.txt", {"looped"}), "--interface",
             kAddrA, "--ttl", "1"},
            1);
    EXPECT_EQ(on_a.read_line(), "looped");
    EXPECT_EQ(on_b.read_line(), "looped");
}

TEST(Ch14Multicast, TtlZeroStaysOnTheHostTtlOneReachesTheNextHost) {
    SOCKLAB_REQUIRE_NETNS();
    harness::TempDir dir;
    TwoHosts net;
    ASSERT_TRUE(net.ok());
    int port = 0;
    Process on_a = member(net.a, kGroup, 0, kAddrA, {}, &port);
    ASSERT_GT(port, 0);
    Process on_b = member(net.b, kGroup, port, kAddrB);
    for (std::string ttl : {"0", "1"})
        send_ok(net.a, PROG_news_sender,
                {kGroup, std::to_string(port), news_file(dir, ttl, {"ttl " + ttl}), "--interface",
                 kAddrA, "--ttl", ttl},
                1);
    EXPECT_EQ(next_lines(on_a, 2), (std::vector<std::string>{"ttl 0", "ttl 1"}));
    EXPECT_EQ(on_b.read_line(), "ttl 1");  // "ttl 0" never left A
}

// ---- broadcast -------------------------------------------------------------------------------

TEST(Ch14Broadcast, SubnetBroadcastReachesEveryHostTheSendersToo) {
    SOCKLAB_REQUIRE_NETNS();
    harness::TempDir dir;
    TwoHosts net;
    ASSERT_TRUE(net.ok());
    int port = 0;
    Process on_a = brd_receiver(net.a, 0, &port);
    ASSERT_GT(port, 0);
    Process on_b = brd_receiver(net.b, port);
    Process on_b2 = brd_receiver(net.b, port);  // every socket on the port gets its copy

    auto lines = numbered("broadcast", 20);
    send_ok(net.a, PROG_news_sender_brd,
            {kSubnetBroadcast, std::to_string(port), news_file(dir, "news.txt", lines),
             "--interval-ms", "0"},
            20);
    EXPECT_EQ(next_lines(on_b, 20), lines);
    EXPECT_EQ(next_lines(on_b2, 20), lines);
    EXPECT_EQ(next_lines(on_a, 20), lines);
}

TEST(Ch14Broadcast, WithoutSoBroadcastSendtoFailsWithEaccesAndNothingIsSent) {
    SOCKLAB_REQUIRE_NETNS();
    harness::TempDir dir;
    TwoHosts net;
    ASSERT_TRUE(net.ok());
    int port = 0;
    Process on_b = brd_receiver(net.b, 0, &port);
    ASSERT_GT(port, 0);

    Result r = net.a.run(PROG_news_sender_brd,
                         {kSubnetBroadcast, std::to_string(port),
                          news_file(dir, "refused.txt", {"refused"}), "--no-broadcast-option"});
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(harness::lines(r.err).size(), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("news_sender_brd: sendto " + kSubnetBroadcast + ":" +
                              std::to_string(port) + ": Permission denied",
                          0),
              0u)
        << r.err;

    send_ok(net.a, PROG_news_sender_brd,
            {kSubnetBroadcast, std::to_string(port), news_file(dir, "ok.txt", {"allowed"})}, 1);
    EXPECT_EQ(on_b.read_line(), "allowed");  // and not "refused" before it
}

// 255.255.255.255 (limited broadcast) goes out of no interface by itself: with no route that
// matches it (here: no default route) sendto() fails with ENETUNREACH, as in the README's
// two-host setup.  A route for it (or SO_BINDTODEVICE) names the interface; then it reaches B.
TEST(Ch14Broadcast, LimitedBroadcastNeedsARouteThenReachesTheOtherHost) {
    SOCKLAB_REQUIRE_NETNS();
    harness::TempDir dir;
    TwoHosts net;
    ASSERT_TRUE(net.ok());
    int port = 0;
    Process on_b = brd_receiver(net.b, 0, &port);
    ASSERT_GT(port, 0);

    Result r = net.a.run(PROG_news_sender_brd, {"255.255.255.255", std::to_string(port),
                                                news_file(dir, "lost.txt", {"no route"})});
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(harness::lines(r.err).size(), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("news_sender_brd: sendto 255.255.255.255:" + std::to_string(port), 0), 0u)
        << r.err;
    EXPECT_NE(r.err.find(": Network is unreachable"), std::string::npos) << r.err;

    Result route = net.a.run("ip", {"route", "add", "255.255.255.255/32", "dev", net.veth.dev_a});
    ASSERT_EQ(route.exit_code(), 0) << route.err;
    send_ok(net.a, PROG_news_sender_brd,
            {"255.255.255.255", std::to_string(port), news_file(dir, "ok.txt", {"to everyone"}),
             "--interval-ms", "0"},
            1);
    EXPECT_EQ(on_b.read_line(), "to everyone");  // and not "no route" before it
}

// A — R — C: two subnets, R forwards between them (ip_forward on).  Unicast crosses R;
// a subnet broadcast and a multicast datagram stay on A's subnet (no multicast routing
// daemon runs on R, and a router never forwards a broadcast of one of its own subnets).
TEST(Ch14Broadcast, NeitherSubnetBroadcastNorMulticastCrossesARouter) {
    SOCKLAB_REQUIRE_NETNS();
    SOCKLAB_REQUIRE_TOOL("socat");
    harness::TempDir dir;
    NetNs a("a"), r("router"), c("c");
    ASSERT_TRUE(a.ok() && r.ok() && c.ok());
    ASSERT_FALSE(harness::link(a, "198.18.0.1/24", r, "198.18.0.2/24").dev_a.empty());
    ASSERT_FALSE(harness::link(r, "198.18.1.1/24", c, "198.18.1.2/24").dev_a.empty());
    ASSERT_TRUE(r.sysctl("net.ipv4.ip_forward", "1"));
    ASSERT_TRUE(a.ip({"route", "add", "198.18.1.0/24", "via", "198.18.0.2"}));
    ASSERT_TRUE(c.ip({"route", "add", "198.18.0.0/24", "via", "198.18.1.1"}));

    int brd_port = 0, mc_port = 0;
    Process brd_r = brd_receiver(r, 0, &brd_port);
    ASSERT_GT(brd_port, 0);
    Process brd_c = brd_receiver(c, brd_port);
    Process mc_r = member(r, kGroup, 0, "198.18.0.2", {}, &mc_port);
    ASSERT_GT(mc_port, 0);
    Process mc_c = member(c, kGroup, mc_port, "198.18.1.2");

    send_ok(a, PROG_news_sender_brd,
            {kSubnetBroadcast, std::to_string(brd_port), news_file(dir, "b", {"broadcast"})}, 1);
    send_ok(a, PROG_news_sender,
            {kGroup, std::to_string(mc_port), news_file(dir, "m", {"multicast"}), "--interface",
             "198.18.0.1", "--ttl", "64"},
            1);
    EXPECT_EQ(brd_r.read_line(), "broadcast");  // the router is on A's subnet: it gets both
    EXPECT_EQ(mc_r.read_line(), "multicast");
    // Unicast from A to C is routed through R; C's receivers print it as their first line.
    socat_send(a, "unicast", "UDP4-SENDTO:198.18.1.2:" + std::to_string(brd_port));
    socat_send(a, "unicast", "UDP4-SENDTO:198.18.1.2:" + std::to_string(mc_port));
    EXPECT_EQ(brd_c.read_line(), "unicast");
    EXPECT_EQ(mc_c.read_line(), "unicast");
}

// ---- peers we did not write, lesson checks, bad input ---------------------------------------

// Waits until NS has N UDP sockets bound to PORT (a program we cannot ask for a readiness line
// is ready once its socket exists).
bool udp_sockets_on(const NetNs& ns, int port, size_t n) {
    for (Deadline d; !d.expired(); std::this_thread::sleep_for(5ms)) {
        Result r = ns.run("ss", {"-uanH", "sport", "=", ":" + std::to_string(port)});
        if (harness::lines(r.out).size() >= n) return true;
    }
    return false;
}

TEST(Ch14Peers, SocatSendsToOurReceiversAndReceivesFromOurSenders) {
    SOCKLAB_REQUIRE_NETNS();
    SOCKLAB_REQUIRE_TOOL("socat");
    harness::TempDir dir;
    TwoHosts net;
    ASSERT_TRUE(net.ok());
    int port = 0, brd_port = 0;
    Process ours = member(net.b, kGroup, 0, kAddrB, {}, &port);
    ASSERT_GT(port, 0);
    Process ours_brd = brd_receiver(net.b, 0, &brd_port);
    ASSERT_GT(brd_port, 0);

    // socat sends, our receivers print.
    socat_send(net.a, "socat multicast",
               "UDP4-DATAGRAM:" + kGroup + ":" + std::to_string(port) +
                   ",ip-multicast-if=" + kAddrA + ",ip-multicast-ttl=1");
    EXPECT_EQ(ours.read_line(), "socat multicast");
    socat_send(net.a, "socat broadcast",
               "UDP4-DATAGRAM:" + kSubnetBroadcast + ":" + std::to_string(brd_port) + ",broadcast");
    EXPECT_EQ(ours_brd.read_line(), "socat broadcast");

    // socat receives what our senders send.  As the only member on the sender's host A
    // (the copy it gets is the looped-back one, which A makes only for a member host) ...
    Process theirs =
        net.a.process("socat", {"-u",
                                "UDP4-RECV:" + std::to_string(port) +
                                    ",reuseaddr,ip-add-membership=" + kGroup + ":" + kAddrA,
                                "-"});
    // ... and as a plain socket next to ours on B's broadcast port.
    Process theirs_brd =
        net.b.process("socat", {"-u", "UDP4-RECV:" + std::to_string(brd_port) + ",reuseaddr", "-"});
    // socat prints no readiness line: it is ready once its socket is bound and A lists the
    // membership.
    bool joined = false;
    for (Deadline d; !joined && !d.expired(); std::this_thread::sleep_for(5ms))
        joined =
            net.a.run("ip", {"maddr", "show", "dev", net.veth.dev_a}).out.find("inet  " + kGroup) !=
            std::string::npos;
    ASSERT_TRUE(joined) << theirs.err();
    ASSERT_TRUE(udp_sockets_on(net.a, port, 1)) << theirs.err();
    ASSERT_TRUE(udp_sockets_on(net.b, brd_port, 2)) << theirs_brd.err();
    send_ok(net.a, PROG_news_sender,
            {kGroup, std::to_string(port), news_file(dir, "m.txt", {"for socat"}), "--interface",
             kAddrA, "--ttl", "1"},
            1);
    EXPECT_EQ(theirs.read_line(), "for socat");
    EXPECT_EQ(ours.read_line(), "for socat");
    send_ok(net.a, PROG_news_sender_brd,
            {kSubnetBroadcast, std::to_string(brd_port),
             news_file(dir, "b.txt", {"broadcast for socat"})},
            1);
    EXPECT_EQ(ours_brd.read_line(), "broadcast for socat");
    EXPECT_EQ(theirs_brd.read_line(), "broadcast for socat");
}

// The index of the first line of TRACE (strace output) that contains every one of PARTS; -1.
int find_call(const std::vector<std::string>& trace, const std::vector<std::string>& parts,
              int from = 0) {
    for (size_t i = static_cast<size_t>(from); i < trace.size(); ++i) {
        bool all = true;
        for (const auto& part : parts)
            all = all && trace[i].find(part) != std::string::npos;
        if (all) return static_cast<int>(i);
    }
    return -1;
}

TEST(Ch14Lesson, StraceShowsMembershipTtlInterfaceAndBroadcastOptions) {
    SOCKLAB_REQUIRE_NETNS();
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::TempDir dir;
    TwoHosts net;
    ASSERT_TRUE(net.ok());
    std::string rx_trace = dir.file("rx.trace"), tx_trace = dir.file("tx.trace"),
                brd_trace = dir.file("brd.trace");
    Process rx =
        net.b.process("strace",
                      {"-f", "-o", rx_trace, "-e", "trace=setsockopt,bind,recvfrom",
                       PROG_news_receiver, kGroup, "0", "--interface", kAddrB, "--count", "1"},
                      harness::traced());
    int port = rx.wait_ready(Deadline(20s));
    ASSERT_GT(port, 0);
    ASSERT_TRUE(rx.wait_for_line("joined " + kGroup));
    Result tx = net.a.run("strace",
                          {"-f", "-o", tx_trace, "-e", "trace=setsockopt,sendto", PROG_news_sender,
                           kGroup, std::to_string(port), news_file(dir, "one", {"one"}),
                           "--interface", kAddrA, "--ttl", "1", "--no-loop"},
                          {}, Deadline(20s), harness::traced());
    EXPECT_EQ(tx.exit_code(), 0) << tx.err;
    EXPECT_EQ(rx.read_line(Deadline(20s)), "one");
    auto status = rx.wait_exit(Deadline(20s));
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << rx.err();
    Result brd =
        net.a.run("strace",
                  {"-f", "-o", brd_trace, "-e", "trace=setsockopt,sendto", PROG_news_sender_brd,
                   kSubnetBroadcast, std::to_string(port), news_file(dir, "one", {"one"})},
                  {}, Deadline(20s), harness::traced());
    EXPECT_EQ(brd.exit_code(), 0) << brd.err;

    // The receiver joins (group and interface address in the ip_mreq), receives, then leaves.
    auto r = harness::lines(harness::read_file(rx_trace));
    int join = find_call(r, {"IP_ADD_MEMBERSHIP", "inet_addr(\"" + kGroup + "\")",
                             "inet_addr(\"" + kAddrB + "\")", "= 0"});
    int bind_at = find_call(r, {"bind(", "htons(0)", "inet_addr(\"0.0.0.0\")", "= 0"});
    int recv = find_call(r, {"recvfrom(", "\"one\\n\""});
    int leave = find_call(r, {"IP_DROP_MEMBERSHIP", "inet_addr(\"" + kGroup + "\")", "= 0"});
    EXPECT_GE(bind_at, 0) << harness::read_file(rx_trace);
    EXPECT_GT(join, bind_at) << harness::read_file(rx_trace);
    EXPECT_GT(recv, join) << harness::read_file(rx_trace);
    EXPECT_GT(leave, recv) << harness::read_file(rx_trace);
    EXPECT_GE(find_call(r, {"IP_MULTICAST_ALL", "[0]", "= 0"}), 0);

    // The sender sets TTL, interface and loop, then sends to the group.
    auto t = harness::lines(harness::read_file(tx_trace));
    EXPECT_GE(find_call(t, {"IP_MULTICAST_TTL", "[1]", "= 0"}), 0) << harness::read_file(tx_trace);
    // strace shows IP_MULTICAST_IF's in_addr as the int it is in memory (network byte order).
    in_addr if_addr{};
    ASSERT_EQ(inet_pton(AF_INET, kAddrA.c_str(), &if_addr), 1);
    int32_t as_int;
    memcpy(&as_int, &if_addr, sizeof as_int);
    EXPECT_GE(find_call(t, {"IP_MULTICAST_IF", "[" + std::to_string(as_int) + "]", "= 0"}), 0)
        << harness::read_file(tx_trace);
    EXPECT_GE(find_call(t, {"IP_MULTICAST_LOOP", "[0]", "= 0"}), 0) << harness::read_file(tx_trace);
    EXPECT_GE(find_call(t, {"sendto(", "\"one\\n\"", "inet_addr(\"" + kGroup + "\")", "= 4"}), 0)
        << harness::read_file(tx_trace);

    auto b = harness::lines(harness::read_file(brd_trace));
    int opt = find_call(b, {"SO_BROADCAST", "[1]", "= 0"});
    int sent = find_call(b, {"sendto(", "inet_addr(\"" + kSubnetBroadcast + "\")", "= 4"});
    EXPECT_GE(opt, 0) << harness::read_file(brd_trace);
    EXPECT_GT(sent, opt) << harness::read_file(brd_trace);
}

TEST(Ch14BadInput, EachMistakeIsOneLineWithTheRightStatus) {
    SOCKLAB_REQUIRE_NETNS();
    harness::TempDir dir;
    TwoHosts net;  // A has a broadcast address (198.18.0.255) and no route to any group
    ASSERT_TRUE(net.ok());
    NetNs lonely("lo-only");  // only lo: no route to any group at all
    ASSERT_TRUE(lonely.ok());
    std::string file = news_file(dir, "news.txt", {"news"});
    std::string missing = dir.file("no-such-file.txt");
    struct Case {
        const NetNs* ns;
        std::string program;
        std::vector<std::string> args;
        int status;
        std::string err_starts;  // the whole stderr is this one line (prefix given)
    };
    const std::vector<Case> cases = {
        {&net.a, PROG_news_sender, {}, 2, "usage: news_sender GROUP PORT FILE"},
        {&net.a, PROG_news_receiver, {kGroup}, 2, "usage: news_receiver GROUP PORT"},
        {&net.a,
         PROG_news_sender_brd,
         {kSubnetBroadcast, "5000"},
         2,
         "usage: news_sender_brd ADDR PORT FILE"},
        {&net.a, PROG_news_receiver_brd, {}, 2, "usage: news_receiver_brd PORT"},
        {&net.a,
         PROG_news_sender,
         {"198.18.0.2", "5000", file},
         2,
         "news_sender: '198.18.0.2' is not a multicast group (224.0.0.0 to 239.255.255.255)"},
        {&net.a,
         PROG_news_sender,
         {"not-an-address", "5000", file},
         2,
         "news_sender: 'not-an-address' is not a multicast group"},
        {&net.a,
         PROG_news_receiver,
         {"10.0.0.1", "5000"},
         2,
         "news_receiver: '10.0.0.1' is not a multicast group"},
        {&net.a,
         PROG_news_sender_brd,
         {"198.18.0.2", "5000", file},
         2,
         "news_sender_brd: '198.18.0.2' is not a broadcast address here (have: "
         "255.255.255.255, 198.18.0.255 (" +
             net.veth.dev_a + "))"},
        {&net.a,
         PROG_news_sender_brd,
         {"198.18.1.255", "5000", file},
         2,
         "news_sender_brd: '198.18.1.255' is not a broadcast address here"},
        {&net.a,
         PROG_news_sender,
         {kGroup, "5000", missing},
         1,
         "news_sender: open " + missing + ": No such file or directory"},
        {&net.a,
         PROG_news_sender_brd,
         {kSubnetBroadcast, "5000", missing},
         1,
         "news_sender_brd: open " + missing + ": No such file or directory"},
        {&net.a, PROG_news_sender, {kGroup, "70000", file}, 2, "news_sender: invalid port '70000'"},
        {&net.a, PROG_news_sender, {kGroup, "0", file}, 2, "news_sender: invalid port '0'"},
        {&net.a, PROG_news_receiver_brd, {"abc"}, 2, "news_receiver_brd: invalid port 'abc'"},
        {&net.a,
         PROG_news_sender,
         {kGroup, "5000", file, "--ttl", "256"},
         2,
         "news_sender: invalid --ttl '256' (expected 0 to 255)"},
        {&net.a,
         PROG_news_sender,
         {kGroup, "5000", file, "--interface", "eth0"},
         2,
         "news_sender: invalid --interface 'eth0'"},
        {&net.a,
         PROG_news_receiver,
         {kGroup, "5000", "--count", "0"},
         2,
         "news_receiver: invalid --count '0'"},
        {&net.a, PROG_news_sender, {kGroup, "5000", file, "--loud"}, 2, "usage: news_sender"},
        // No route to the group and no --interface: the kernel cannot pick an interface.
        {&lonely,
         PROG_news_sender,
         {kGroup, "5000", file, "--interval-ms", "0"},
         1,
         "news_sender: sendto " + kGroup + ":5000: Network is unreachable"},
        {&lonely,
         PROG_news_receiver,
         {kGroup, "5000"},
         1,
         "news_receiver: join " + kGroup + " on 0.0.0.0: No such device"},
    };
    for (const Case& c : cases) {
        std::string shown = c.program.substr(c.program.rfind('/') + 1);
        for (const auto& a : c.args)
            shown += " " + a;
        Result r = c.ns->run(c.program, c.args);
        EXPECT_EQ(r.exit_code(), c.status) << shown << "\n" << r.err;
        EXPECT_EQ(harness::lines(r.err).size(), 1u) << shown << "\n" << r.err;
        EXPECT_EQ(r.err.rfind(c.err_starts, 0), 0u) << shown << "\n" << r.err;
        EXPECT_EQ(r.out.find("sent"), std::string::npos) << shown << "\n" << r.out;
    }
}

}  // namespace
