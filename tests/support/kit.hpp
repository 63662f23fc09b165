// kit.hpp — pieces several chapters' tests need: a client with a small receive buffer,
// strace output as calls, a sanitizer's report in stderr, and the bad-usage table check.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "common/fd.hpp"

namespace harness {

class TempDir;

// A TCP connection to 127.0.0.1:PORT with SO_RCVBUF (and SO_SNDBUF, if sndbuf > 0) fixed
// before connect(), which also turns off the kernel's autotuning: a client whose window
// closes after a few kilobytes.  Invalid Fd (and a test failure) if connect() fails.
common::Fd connect_small_rcvbuf(int port, int rcvbuf = 4096, int sndbuf = 0);

// One system call from strace's output.  The lines may start with a PID (strace -f); a call
// another process interrupted ("<unfinished ...>" ... "<... name resumed>") is joined again,
// and the padding before " = " is squeezed to one space.  Lines that are not a finished call
// (signals, "+++ exited"): skipped.
struct SysCall {
    pid_t pid = 0;       // 0 when the line had no PID
    std::string name;    // "accept4"
    int fd = -1;         // the first argument when it is a number, else -1
    std::string result;  // "3", "-1", "?"
    std::string text;    // "accept4(3, NULL, NULL, SOCK_CLOEXEC|SOCK_NONBLOCK) = 5" (no PID)
};
std::vector<SysCall> strace_calls(const std::string& output);

// The files PREFIX.PID that `strace -ff -o DIR/PREFIX` wrote, parsed, by PID.
std::map<pid_t, std::vector<SysCall>> strace_ff(const TempDir& dir,
                                                const std::string& prefix = "trace");

// A sanitizer's report (ASan, LSan, TSan, UBSan) in a program's stderr, or "" if none.
std::string sanitizer_report(const std::string& err);

// Bad usage: PROGRAM ARGS must exit with STATUS, print exactly ERR on stderr (one line) and
// nothing on stdout.  Every case is checked; a failure names the program and its arguments.
struct UsageCase {
    std::string program;
    std::vector<std::string> args;
    int status;
    std::string err;
};
void expect_usage_errors(const std::vector<UsageCase>& cases);

}  // namespace harness
