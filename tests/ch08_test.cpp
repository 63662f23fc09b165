// ch08 — names and addresses (book ch. 8): the programs ask a real DNS server, never the
// network.  ch08_dns/dns_lab runs each one inside private network + mount namespaces where
// dnsmasq serves the zone socklab.test on 198.18.0.53 and /etc/resolv.conf, /etc/hosts and
// /etc/nsswitch.conf are the lab's own (`dns_lab --zone` prints them).
//
// What these tests prove: gethostbyname() prints every alias of a CNAME chain and every A
// record; reverse lookups find PTR records (made by --host-record, and a lone --ptr-record) with
// gethostbyaddr() and getnameinfo(NI_NAMEREQD); a name that does not exist (NXDOMAIN) is one
// line, exit 1, HOST_NOT_FOUND / EAI_NONAME; a stopped server is TRY_AGAIN / EAI_AGAIN after the
// resolver's 1 s timeout, not before and not much later; /etc/hosts answers first and no DNS
// query is sent for it, nor for a literal address; an IPv6-only name fails gethostbyname()
// (NO_DATA) and is found by getaddrinfo(); getaddrinfo() gives both families and the canonical
// name; the hostent of one call is overwritten by the next; dns_lab leaves no process and no
// file behind; bad usage is one line, exit 2.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kit.hpp"
#include "netns.hpp"

using namespace std::chrono_literals;

namespace {

// Skip (or fail where namespaces are required, e.g. on CI) when the lab cannot run.
#define REQUIRE_DNS_LAB()                                                                      \
    do {                                                                                       \
        SOCKLAB_REQUIRE_NETNS();                                                               \
        if (!std::filesystem::exists("/usr/sbin/dnsmasq")) {                                   \
            if (::harness::netns_required()) FAIL() << "dnsmasq missing (tools/install-deps)"; \
            GTEST_SKIP() << "dnsmasq not installed (apt-get install dnsmasq-base)";            \
        }                                                                                      \
    } while (0)

// Runs `dns_lab [LAB_ARGS...] -- PROGRAM ARGS...`.
harness::Result lab(std::vector<std::string> lab_args, const std::string& program,
                    std::vector<std::string> args, harness::Deadline deadline = {},
                    harness::Options options = {}) {
    lab_args.push_back("--");
    lab_args.push_back(program);
    lab_args.insert(lab_args.end(), args.begin(), args.end());
    return harness::run(DNS_LAB, lab_args, {}, deadline, options);
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

// The values of the lines that start with PREFIX, as a set ("IP addr 1: " -> "198.18.0.10").
std::set<std::string> values(const std::string& text, const std::string& prefix) {
    std::set<std::string> out;
    for (const std::string& line : lines(text))
        if (line.rfind(prefix, 0) == 0) out.insert(line.substr(prefix.size()));
    return out;
}

// "IP addr 1: X", "IP addr 2: Y" ... -> {X, Y, ...}, checking the numbering is 1, 2, 3...
std::set<std::string> numbered(const std::string& text, const std::string& what) {
    std::set<std::string> out;
    int n = 0;
    for (const std::string& line : lines(text)) {
        if (line.rfind(what + " ", 0) != 0) continue;
        std::string want = what + " " + std::to_string(++n) + ": ";
        EXPECT_EQ(line.rfind(want, 0), 0u) << line;
        out.insert(line.substr(want.size()));
    }
    return out;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Expects a failure reported as exactly one line on stderr, nothing on stdout, exit 1.
void expect_one_line_failure(const harness::Result& r, const std::string& err) {
    EXPECT_EQ(r.exit_code(), 1) << harness::describe_status(r.status) << "\n" << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, err);
}

const std::set<std::string> kWww = {"198.18.0.10", "198.18.0.11", "198.18.0.12"};

TEST(Ch08Forward, GethostbynamePrintsEveryAliasAndEveryAddress) {
    REQUIRE_DNS_LAB();
    harness::Result r = lab({}, PROG_gethostbyname_demo, {"old.socklab.test"});
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.err, "");
    std::vector<std::string> got = lines(r.out);
    ASSERT_GE(got.size(), 4u) << r.out;
    // old -> web -> www: the official name is the end of the chain, both others are aliases.
    EXPECT_EQ(got[0], "Official name: www.socklab.test");
    EXPECT_EQ(numbered(r.out, "Aliases"),
              (std::set<std::string>{"old.socklab.test", "web.socklab.test"}));
    EXPECT_EQ(values(r.out, "Address type: "), std::set<std::string>{"AF_INET"});
    EXPECT_EQ(numbered(r.out, "IP addr"), kWww);
    EXPECT_EQ(got.size(), 1 + 2 + 1 + 3u) << r.out;  // nothing else: no IPv6 address
}

TEST(Ch08Forward, NameLookupGivesBothFamiliesAndTheCanonicalName) {
    REQUIRE_DNS_LAB();
    harness::Result r = lab({}, PROG_name_lookup, {"old.socklab.test"});
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(lines(r.out).at(0), "Canonical name: www.socklab.test");
    EXPECT_EQ(values(r.out, "IPv4 "), kWww);
    EXPECT_EQ(values(r.out, "IPv6 "), std::set<std::string>{"2001:db8::10"});
    EXPECT_EQ(lines(r.out).size(), 5u) << r.out;  // one line per address, each once
}

TEST(Ch08Forward, Ipv6OnlyNameFailsTheOldCallAndIsFoundByTheNew) {
    REQUIRE_DNS_LAB();
    // The name exists (no NXDOMAIN), but has no A record: NO_DATA, not HOST_NOT_FOUND.
    expect_one_line_failure(lab({}, PROG_gethostbyname_demo, {"v6only.socklab.test"}),
                            "gethostbyname_demo: gethostbyname v6only.socklab.test: No address "
                            "associated with name (h_errno NO_DATA)\n");
    harness::Result r = lab({}, PROG_name_lookup, {"v6only.socklab.test"});
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, "Canonical name: v6only.socklab.test\nIPv6 2001:db8::6\n");
}

TEST(Ch08Reverse, PtrRecordsFoundByGethostbyaddrAndGetnameinfo) {
    REQUIRE_DNS_LAB();
    harness::Result r = lab({}, PROG_gethostbyaddr_demo, {"198.18.0.11"});
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out,
              "Official name: www.socklab.test\nAddress type: AF_INET\nIP addr 1: "
              "198.18.0.11\n");
    r = lab({}, PROG_gethostbyaddr_demo, {"198.18.0.30"});  // a --ptr-record of its own
    EXPECT_EQ(values(r.out, "Official name: "), std::set<std::string>{"printer.socklab.test"});
    r = lab({}, PROG_gethostbyaddr_demo, {"2001:db8::6"});
    EXPECT_EQ(r.out,
              "Official name: v6only.socklab.test\nAddress type: AF_INET6\nIP addr 1: "
              "2001:db8::6\n");
    for (auto [addr, name] : {std::pair{"198.18.0.12", "www.socklab.test"},
                              {"198.18.0.30", "printer.socklab.test"},
                              {"2001:db8::6", "v6only.socklab.test"}}) {
        r = lab({}, PROG_name_lookup, {"--reverse", addr});
        EXPECT_EQ(r.exit_code(), 0) << addr << ": " << r.err;
        EXPECT_EQ(r.out, "Host name: " + std::string(name) + "\n") << addr;
    }
}

TEST(Ch08Errors, NxdomainIsOneClearLineAndExitOne) {
    REQUIRE_DNS_LAB();
    harness::TempDir tmp;
    harness::Result r =
        lab({"--log", tmp.file("q")}, PROG_gethostbyname_demo, {"nothing.socklab.test"});
    expect_one_line_failure(r,
                            "gethostbyname_demo: gethostbyname nothing.socklab.test: Unknown "
                            "host (h_errno HOST_NOT_FOUND)\n");
    // The server was asked and answered (no timeout): the failure is its answer.
    EXPECT_NE(slurp(tmp.file("q")).find("query[A] nothing.socklab.test"), std::string::npos)
        << slurp(tmp.file("q"));
    expect_one_line_failure(lab({}, PROG_name_lookup, {"nothing.socklab.test"}),
                            "name_lookup: getaddrinfo nothing.socklab.test: Name or service "
                            "not known\n");
    // No PTR record for this address: an answer too, not a failure to get one.
    expect_one_line_failure(lab({}, PROG_gethostbyaddr_demo, {"198.18.0.31"}),
                            "gethostbyaddr_demo: gethostbyaddr 198.18.0.31: Unknown host "
                            "(h_errno HOST_NOT_FOUND)\n");
    expect_one_line_failure(lab({}, PROG_name_lookup, {"--reverse", "198.18.0.31"}),
                            "name_lookup: getnameinfo 198.18.0.31: Name or service not known\n");
}

TEST(Ch08Errors, DeadServerIsTryAgainAfterTheResolverTimeout) {
    REQUIRE_DNS_LAB();
    // dnsmasq stopped (SIGSTOP): the queries sit unanswered in its socket.  The lab's
    // resolv.conf says timeout:1 attempts:1.  Both programs run at once (one lab each).
    auto start = harness::Clock::now();
    std::vector<std::string> old_args = {"--dead", "--", PROG_gethostbyname_demo,
                                         "www.socklab.test"};
    std::vector<std::string> new_args = {"--dead", "--", PROG_name_lookup, "www.socklab.test"};
    harness::Process old_call(DNS_LAB, old_args), new_call(DNS_LAB, new_args);
    for (harness::Process* p : {&old_call, &new_call}) {
        std::optional<int> status = p->finish(harness::Deadline(6s));
        auto took = harness::Clock::now() - start;
        ASSERT_TRUE(status) << p->name() << " still waiting after 6 s";
        EXPECT_TRUE(harness::exited_with(*status, 1)) << harness::describe_status(*status);
        EXPECT_GE(took, 1s) << "failed before the resolver's 1 s timeout";
        EXPECT_LT(took, harness::scaled(3s)) << "timeout:1 attempts:1 should give up in ~1-2 s";
        EXPECT_EQ(p->out(), "");
    }
    EXPECT_EQ(old_call.err(),
              "gethostbyname_demo: gethostbyname www.socklab.test: Host name "
              "lookup failure (h_errno TRY_AGAIN)\n");
    EXPECT_EQ(new_call.err(),
              "name_lookup: getaddrinfo www.socklab.test: Temporary failure in "
              "name resolution\n");
}

TEST(Ch08Files, EtcHostsAnswersFirstWithoutAQuery) {
    REQUIRE_DNS_LAB();
    harness::TempDir tmp;
    // db.socklab.test is 198.18.0.20 in DNS and 198.18.0.99 in the lab's /etc/hosts
    // ("hosts: files dns"); www is in DNS only: it proves the log records what was asked.
    harness::Result r = harness::run(
        DNS_LAB,
        {"--log", tmp.file("q"), "--", "sh", "-c",
         "\"$0\" db.socklab.test && \"$1\" db.socklab.test && \"$0\" www.socklab.test >/dev/null",
         PROG_gethostbyname_demo, PROG_name_lookup});
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out,
              "Official name: db.socklab.test\nAliases 1: db\nAddress type: AF_INET\n"
              "IP addr 1: 198.18.0.99\nCanonical name: db.socklab.test\nIPv4 198.18.0.99\n");
    std::string log = slurp(tmp.file("q"));
    EXPECT_NE(log.find("query[A] www.socklab.test from 198.18.0.53"), std::string::npos) << log;
    EXPECT_EQ(log.find("db.socklab.test"), std::string::npos) << log;
}

TEST(Ch08Files, LiteralAddressIsNotLookedUp) {
    REQUIRE_DNS_LAB();
    harness::TempDir tmp;
    harness::Result r = lab({"--log", tmp.file("q")}, PROG_gethostbyname_demo, {"198.18.0.10"});
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, "Official name: 198.18.0.10\nAddress type: AF_INET\nIP addr 1: 198.18.0.10\n");
    EXPECT_EQ(slurp(tmp.file("q")), "");  // not even a PTR question
}

TEST(Ch08Threads, HostentIsOneStaticBufferOverwrittenByTheNextCall) {
    REQUIRE_DNS_LAB();
    harness::Result r = lab({}, PROG_hostent_overwrite, {"www.socklab.test", "db.socklab.test"});
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    std::vector<std::string> got = lines(r.out);
    ASSERT_EQ(got.size(), 3u) << r.out;
    EXPECT_TRUE(
        got[0].rfind("first call:  h_name = www.socklab.test, first address 198.18.0.1", 0) == 0)
        << got[0];
    EXPECT_EQ(got[1], "second call returned the same pointer: yes");
    EXPECT_EQ(got[2],
              "the first result now reads: h_name = db.socklab.test, first address 198.18.0.99");
}

// A process whose parent is this test binary (the subreaper of every orphan) named COMM.
bool orphan_named(const std::string& comm) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        std::string stat = slurp(entry.path().string() + "/stat");
        auto open = stat.find('('), close = stat.rfind(')');
        if (open == std::string::npos || close == std::string::npos) continue;
        std::istringstream rest(stat.substr(close + 2));
        std::string state;
        pid_t ppid = 0;
        rest >> state >> ppid;
        if (ppid == getpid() && stat.substr(open + 1, close - open - 1) == comm) return true;
    }
    return false;
}

TEST(Ch08Lab, LeavesNoProcessAndNoFileBehind) {
    REQUIRE_DNS_LAB();
    harness::TempDir tmp;
    harness::Options options{.env = {"TMPDIR=" + tmp.path()}};
    // The normal path, the stopped-server path, a failing command, and one killed mid-query.
    EXPECT_EQ(lab({}, PROG_gethostbyname_demo, {"www.socklab.test"}, {}, options).exit_code(), 0);
    EXPECT_EQ(
        lab({"--dead"}, PROG_gethostbyname_demo, {"www.socklab.test"}, {}, options).exit_code(), 1);
    EXPECT_EQ(lab({}, "false", {}, {}, options).exit_code(), 1);
    {
        harness::Process p(DNS_LAB, {"--dead", "--", PROG_gethostbyname_demo, "www.socklab.test"},
                           options);
        p.signal(SIGTERM);  // may land before or during the setup: both must clean up
        ASSERT_TRUE(p.finish(harness::Deadline(5s)));
    }
    EXPECT_TRUE(std::filesystem::is_empty(tmp.path())) << "dns_lab left files in TMPDIR";
    EXPECT_FALSE(orphan_named("dnsmasq")) << "a dnsmasq outlived its dns_lab";
}

TEST(Ch08Errors, BadUsageIsOneLineAndExitTwo) {
    harness::expect_usage_errors({
        {PROG_gethostbyname_demo, {}, 2, "usage: gethostbyname_demo HOST\n"},
        {PROG_gethostbyname_demo, {"a", "b"}, 2, "usage: gethostbyname_demo HOST\n"},
        {PROG_gethostbyaddr_demo, {}, 2, "usage: gethostbyaddr_demo ADDR\n"},
        {PROG_gethostbyaddr_demo,
         {"www.socklab.test"},
         2,
         "gethostbyaddr_demo: invalid ADDR 'www.socklab.test' (expected an IPv4 or IPv6 "
         "address)\n"},
        {PROG_name_lookup, {}, 2, "usage: name_lookup HOST  or  --reverse ADDR\n"},
        {PROG_name_lookup, {"--reverse"}, 2, "usage: name_lookup HOST  or  --reverse ADDR\n"},
        {PROG_name_lookup, {"--bogus", "x"}, 2, "usage: name_lookup HOST  or  --reverse ADDR\n"},
        {PROG_name_lookup,
         {"--reverse", "300.1.2.3"},
         2,
         "name_lookup: invalid ADDR '300.1.2.3' (expected an IPv4 or IPv6 address)\n"},
        {PROG_hostent_overwrite, {"a"}, 2, "usage: hostent_overwrite HOST1 HOST2\n"},
        {DNS_LAB, {}, 2, "usage: dns_lab [--dead] [--log FILE] [--zone] [--] COMMAND [ARG...]\n"},
    });
}

}  // namespace
