// tests/bench_echo_bench_test.cpp — what the CPU columns of bench/RESULTS.md rest on.
//
// What these tests prove: echo_bench's server CPU (--server-pid) is the whole server's, the
// fork server's children included.  Checked against the kernel's own account: once the
// children have ended and been reaped, the parent's cutime + cstime hold everything they ran.
// The figure for the measured second must lie between half of that and all of it.  (Read
// from the children's utime + stime while they lived, it was 0 here with 200 clients: those
// are sampled at the timer tick, and a child that runs a few microseconds at a time is rarely
// the one caught.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <regex>
#include <string>

#include "harness.hpp"
#include "kit.hpp"
#include "proc.hpp"

namespace {

using namespace std::chrono_literals;
using harness::Deadline;
using harness::Process;

struct Ticks {
    long own = -1;     // utime + stime of the process itself
    long reaped = -1;  // cutime + cstime: its children that ended and were reaped
};

Ticks ticks(pid_t pid) {
    Ticks t;
    FILE* f = fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
    if (!f) return t;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char* p = strrchr(buf, ')');
    long utime, stime, cutime, cstime;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld %ld %ld", &utime,
                    &stime, &cutime, &cstime) == 4) {
        t.own = utime + stime;
        t.reaped = cutime + cstime;
    }
    return t;
}

double result_value(const std::string& out, const std::string& key) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex(" " + key + "=([-0-9.]+)"))) return -1;
    return std::stod(m[1]);
}

TEST(BenchEchoBench, ServerCpuOfTheForkServerIsItsChildrensWork) {
    // A sanitizer's start-up and exit work in each child (LeakSanitizer scans every child's
    // memory as it exits) would outweigh the second measured; the bench runs the release build.
    if (!harness::sanitizer().empty()) GTEST_SKIP() << "measured on the plain build only";
    Process server(PROG_echo_mpserv, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    const Ticks before = ticks(server.pid());
    ASSERT_GE(before.own, 0);

    auto r = harness::run(PROG_echo_bench,
                          {"127.0.0.1", std::to_string(port), "--conns", "200", "--seconds", "1",
                           "--server-pid", std::to_string(server.pid())},
                          {}, Deadline(60s));
    ASSERT_EQ(r.exit_code(), 0) << r.out << r.err;
    const double server_cpu = result_value(r.out, "server_cpu");
    const double seconds = result_value(r.out, "seconds");
    ASSERT_GT(result_value(r.out, "msgs"), 0) << r.out;

    // echo_bench has closed its connections: every child ends and is reaped.
    ASSERT_TRUE(harness::wait_until([&] { return harness::children_of(server.pid()).empty(); },
                                    Deadline(30s)))
        << harness::describe(harness::children_of(server.pid()));
    const Ticks after = ticks(server.pid());
    const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double children_s = static_cast<double>(after.reaped - before.reaped) / tick;
    const double parent_s = static_cast<double>(after.own - before.own) / tick;
    const double measured_s = server_cpu * seconds;
    // Everything the children ran: set-up, the measured second, the drain, their exit.
    EXPECT_LE(measured_s, children_s + parent_s + 0.05) << r.out;
    EXPECT_GE(measured_s, 0.5 * children_s)
        << r.out << "children ran " << children_s << " s in all, echo_bench saw " << measured_s;
}

}  // namespace
