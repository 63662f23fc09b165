// tests/support/netns.hpp — private network namespaces ("hosts") for tests.
//
// Multicast, broadcast and packet capture must never touch a real network (DESIGN.md,
// "Tests").  A NetNs is a private network stack: its own interfaces (only `lo`, brought up),
// routes, ports and sysctls.  Programs run inside it as ordinary harness::Process objects,
// with the same deadlines, kill and reap guarantees.  Typical use:
//
//     SOCKLAB_REQUIRE_NETNS();                    // skip with a reason, or fail on CI
//     harness::NetNs a("a"), b("b");
//     auto veth = harness::link(a, "198.18.0.1/24", b, "198.18.0.2/24");
//     harness::Process rx = b.process(PROG_news_receiver_brd, {"0"});
//     harness::Result r = a.run("ip", {"-o", "addr"});
//
// How it works: a holder process (`unshare --net`, then `sh` that waits on its stdin)
// creates the namespace and keeps it alive; programs enter it with
// `nsenter --net=/proc/HOLDER/ns/net PROGRAM ...`, which exec()s PROGRAM in place, so the
// Process's pid is the program's own.  Nothing is named globally (no `ip netns add`): a
// namespace exists only while a process is in it, so it disappears when the NetNs and the
// Processes started in it go out of scope — also when an ASSERT fails, and also if the test
// binary is killed (PR_SET_PDEATHSIG, and the holder sees end of file on its stdin).
// Veth pairs and their addresses live inside the namespaces and vanish with them.
//
// Privileges: as root, `unshare --net`.  Without root, every NetNs of the test binary is
// created inside one shared user namespace (`unshare --user --map-root-user`, held while any
// NetNs exists), where the test is root: that is what lets two namespaces be joined by a
// veth pair (both must belong to the same user namespace).  SOCKLAB_NETNS=user forces this
// unprivileged way even for root.
//
// Addresses for veth "hosts" come from 198.18.0.0/15 only (RFC 2544, benchmark testing):
// e.g. 198.18.0.1/24 and 198.18.0.2/24, broadcast 198.18.0.255.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"

namespace harness {

// "" if this process can create network namespaces; otherwise why not, e.g.
// "unshare --net: unshare failed: Operation not permitted".  Probed once (creates and
// discards one namespace), then cached.
const std::string& netns_unavailable_reason();

// True where namespaces must work (running as root, or SOCKLAB_REQUIRE_PEERS=1 as on CI):
// then a missing capability fails the test instead of skipping it.
bool netns_required();

class NetNs {
  public:
    // Creates the namespace with `lo` up.  NAME only labels error messages.  On failure
    // records a test failure; ok() is false and every method fails harmlessly.
    explicit NetNs(std::string name = "netns");
    ~NetNs();
    NetNs(const NetNs&) = delete;
    NetNs& operator=(const NetNs&) = delete;

    bool ok() const { return holder_.has_value(); }
    const std::string& name() const { return name_; }
    pid_t holder_pid() const;      // the process that keeps the namespace alive
    std::string net_path() const;  // "/proc/PID/ns/net"

    // The argument list that enters this namespace: {"nsenter", "--net=...", "--"} (plus
    // --user when unprivileged).  Append a program and its arguments.
    std::vector<std::string> enter_command() const;

    // Starts PROGRAM with ARGS inside the namespace (through nsenter, which exec()s it).
    Process process(const std::string& program, std::vector<std::string> args,
                    Options options = {}) const;

    // Runs PROGRAM to completion inside the namespace (like harness::run).
    Result run(const std::string& program, std::vector<std::string> args,
               std::string_view stdin_data = {}, Deadline deadline = {},
               Options options = {}) const;

    // `ip ARGS...` inside the namespace; on failure records a test failure quoting ip's
    // stderr and returns false.  E.g. ns.ip({"route", "add", "198.18.1.0/24", "via",
    // "198.18.0.2"}).
    bool ip(std::vector<std::string> args) const;

    // Writes VALUE to /proc/sys/KEY of this namespace (KEY with dots or slashes:
    // "net.ipv4.ip_forward").  On failure records a test failure and returns false.
    bool sysctl(std::string_view key, std::string_view value) const;

    // A fresh interface name in this namespace: "veth0", "veth1", ...
    std::string new_device_name();

  private:
    struct UserNs;  // the shared user namespace (unprivileged mode only)
    std::shared_ptr<UserNs> user_;
    std::string name_;
    std::optional<Process> holder_;
    int next_device_ = 0;
};

// A veth pair: DEV_A inside A, DEV_B inside B.
struct Veth {
    std::string dev_a, dev_b;
};

// Joins A and B with a veth pair (a virtual cable), gives each end its address (CIDR form,
// "198.18.0.1/24"; the subnet's broadcast address is set too) and brings both ends up.  On
// failure records a test failure and returns empty names.
Veth link(NetNs& a, const std::string& a_cidr, NetNs& b, const std::string& b_cidr);

// ---- Real packet loss ---------------------------------------------------------------

// Makes NS's `lo` lose packets for real: MTU 1500 (so a bulk transfer is many packets), and
// a token bucket of 20 Mbit/s with 3000 bytes of burst and a queue of at most 6000 bytes
// (`tc qdisc add dev lo root tbf rate 20mbit burst 3000 limit 6000`): whatever a sender puts
// out faster than that is dropped before the wire.  Returns "" or why not (no `tc`, or tc
// failed), for GTEST_SKIP.
std::string lose_packets_on_lo(const NetNs& ns);

// How many packets lo's qdisc has dropped (tc -s qdisc's "dropped N"); -1 if unreadable.
long lo_dropped(const NetNs& ns);

// A counter of NS's /proc/net/snmp, e.g. snmp_counter(ns, "Tcp", "RetransSegs") (what
// `nstat TcpRetransSegs` shows); -1 if not found.
long snmp_counter(const NetNs& ns, const std::string& group, const std::string& name);

}  // namespace harness

// Skips the test when network namespaces are unavailable, with the reason; where they are
// required (root, CI) fails it instead.  Use at the top of a test body.
#define SOCKLAB_REQUIRE_NETNS()                                                                 \
    do {                                                                                        \
        const std::string& why_ = ::harness::netns_unavailable_reason();                        \
        if (!why_.empty()) {                                                                    \
            if (::harness::netns_required()) FAIL() << "network namespaces required: " << why_; \
            GTEST_SKIP() << "network namespaces unavailable: " << why_;                         \
        }                                                                                       \
    } while (0)
