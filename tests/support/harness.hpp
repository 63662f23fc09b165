// tests/support/harness.hpp — run socklab's built programs as real processes, with deadlines.
//
// A test starts a server, waits for its readiness line ("listening on ADDR:PORT" or
// "bound to ADDR:PORT"), starts a client or connects itself, and checks what they print and
// do.  Rules the harness enforces (DESIGN.md, "Tests"):
//   - every wait has a deadline: a hung program fails the test within seconds;
//   - every child runs in its own process group and is killed (SIGKILL to the group) and
//     reaped when its Process object goes out of scope — also when an ASSERT fails; if the
//     test binary itself dies, PR_SET_PDEATHSIG kills the direct children;
//   - servers bind to loopback only: the harness sets SOCKLAB_BIND=127.0.0.1 unless a test
//     asks for another address (see common/net.hpp);
//   - every child starts with default signal handling: SIGPIPE, SIGINT, SIGTERM and SIGQUIT
//     at SIG_DFL and an empty signal mask, whatever the test binary had (a test run as a
//     background job has SIGINT and SIGQUIT ignored, which exec would pass on);
//   - every test binary is a child subreaper (PR_SET_CHILD_SUBREAPER): processes orphaned
//     by a test are re-parented to it, and it reaps them all when the tests end (and fails
//     if any is still running 10 s later).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"

namespace harness {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Multiplies every default timeout; the sanitizer presets run programs several times slower.
// Set SOCKLAB_TIMEOUT_SCALE=3 (say) in the environment to stretch them.
std::chrono::milliseconds scaled(std::chrono::milliseconds ms);

// The test executables are built once, in the default (debug) build, and run against every
// build's programs: the other presets register them with SOCKLAB_PROGRAM_DIR set to their own
// build directory (tests/CMakeLists.txt, SOCKLAB_TESTS_FROM).  PROG_<target> is
// program("<path in the build that compiled the test>"): that path, or the same program in
// SOCKLAB_PROGRAM_DIR.  The returned string lives as long as the test executable.
const char* program(const char* built_path);

// What the programs under test were built with: "", "address" or "thread"
// (SOCKLAB_SANITIZER, set with SOCKLAB_PROGRAM_DIR; else the build that compiled the test).
const std::string& sanitizer();

class Deadline {
  public:
    // The default: 10 s (scaled), generous for loopback, short enough that a hang is obvious.
    Deadline() : Deadline(10s) {}
    Deadline(std::chrono::milliseconds from_now) : at_(Clock::now() + scaled(from_now)) {}
    bool expired() const { return Clock::now() >= at_; }
    int ms_left() const;  // for poll(): 0 when expired

  private:
    Clock::time_point at_;
};

struct Options {
    // Every member has a default, so   Options{.bind = "::1"}   compiles without warnings.
    std::vector<std::string> env{};  // extra "NAME=value" entries (override inherited ones)
    // SOCKLAB_BIND for servers; empty string: leave unset (the program's own default).
    std::string bind = "127.0.0.1";
    std::string cwd{};  // working directory of the child; empty: inherit
    // A cgroup directory (e.g. PidsCgroup::path(), proc.hpp) the child joins before exec:
    // its limits then hold for the program and everything it forks.  Empty: stay put.
    std::string cgroup{};
};

// Raw wait status helpers.
bool exited_with(int status, int code);
std::string describe_status(int status);  // "exit 2", "killed by SIGSEGV", ...

class Process {
  public:
    // Starts PROGRAM (a path, or a name looked up in PATH) with ARGS.  stdin, stdout and
    // stderr are pipes to the test.  A failed exec is reported as a test failure.
    Process(const std::string& program, std::vector<std::string> args, Options options = {});
    ~Process();
    Process(Process&& other) noexcept;
    Process& operator=(Process&&) = delete;
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }
    const std::string& name() const { return name_; }

    // Writes DATA to the child's stdin, reading its output meanwhile so neither side blocks.
    // Returns false if the deadline passes or the child closed its stdin.
    bool write_stdin(std::string_view data, Deadline deadline = {});
    void close_stdin();

    // Next line of stdout / stderr, without the '\n'.  nullopt at end of stream or deadline.
    // A last line without '\n' is returned at end of stream.
    std::optional<std::string> read_line(Deadline deadline = {});
    std::optional<std::string> read_err_line(Deadline deadline = {});

    // Reads stdout lines until one contains TEXT; returns it (nullopt: EOF or deadline).
    std::optional<std::string> wait_for_line(std::string_view text, Deadline deadline = {});

    // Waits for the readiness line and returns its port.  On EOF or deadline records a test
    // failure that quotes the program's stderr, and returns 0.
    int wait_ready(Deadline deadline = {});

    // Sends a signal to the process (not its group).
    void signal(int sig);

    // Waits for the process to exit and returns its raw wait status (nullopt at the
    // deadline).  All output written before the exit is collected; read it with out()/err().
    std::optional<int> wait_exit(Deadline deadline = {});

    // Waits for the exit and for stdout/stderr to reach end of stream.
    std::optional<int> finish(Deadline deadline = {});

    // True while the process has not exited (does not reap).
    bool running();

    // Everything read so far (all of it, including lines already returned by read_line).
    const std::string& out() const { return out_all_; }
    const std::string& err() const { return err_all_; }

  private:
    struct Stream {
        int fd = -1;
        std::string pending;  // read but not yet returned as a line
        std::string* all;     // everything ever read
        bool eof = false;
    };
    // Reads whatever is available from stdout/stderr, waiting until the deadline or until
    // `until` says stop.  Returns false if the deadline passed.
    bool pump(Deadline deadline, const std::function<bool()>& until);
    void read_available(Stream& s);
    std::optional<std::string> take_line(Stream& s, Deadline deadline);
    void reap_now();

    std::string name_;
    pid_t pid_ = -1;
    int pidfd_ = -1;
    int stdin_fd_ = -1;
    std::string out_all_, err_all_;
    Stream out_{-1, {}, &out_all_, false};
    Stream err_{-1, {}, &err_all_, false};
    std::optional<int> status_;
};

// Runs a program to completion: writes STDIN_DATA, closes stdin, collects all output.
struct Result {
    int status = -1;  // raw wait status; -1 if it did not finish before the deadline
    std::string out, err;
    bool timed_out = false;
    int exit_code() const;  // -1 unless it exited normally
};
Result run(const std::string& program, std::vector<std::string> args,
           std::string_view stdin_data = {}, Deadline deadline = {}, Options options = {});

// ---- The test as a network peer -------------------------------------------------------

// Connects to HOST:PORT over TCP (blocking connect); an invalid Fd on failure, with errno.
common::Fd connect_tcp(const std::string& host, int port);

// send() with MSG_NOSIGNAL (the test must survive a peer that vanished); false on error or
// deadline.
bool send_all(int fd, std::string_view data, Deadline deadline = {});

// Receives exactly N bytes; nullopt if the stream ends first or the deadline passes (what
// did arrive is stored in *partial when given).
std::optional<std::string> recv_exact(int fd, size_t n, Deadline deadline = {},
                                      std::string* partial = nullptr);

// How a peer's stream ended.
enum class End { kFin, kReset, kDeadline };
struct Received {
    std::string data;
    End end = End::kDeadline;
};

// Receives until the peer closes, and says how: FIN (end of stream), reset (ECONNRESET,
// e.g. the peer closed with unread input), or the deadline passed first.
Received recv_to_end(int fd, Deadline deadline = {});

// Receives until the peer closes.  *closed says whether end of stream (or a reset) was
// seen before the deadline.
std::string recv_until_eof(int fd, Deadline deadline = {}, bool* closed = nullptr);

// ---- The test as a server ---------------------------------------------------------------

// A TCP socket bound to 127.0.0.1 on a port the kernel chose.
struct Listener {
    common::Fd fd;
    int port = 0;
};

// Listening: a program under test can connect to it (accept with accept_within).
Listener listen_loopback();

// Bound but NOT listening: a connect() to this port is refused ("Connection refused"), and
// as long as the test holds it, no other process can take the port.
Listener refused_port();

// Accepts one connection, waiting at most until the deadline (invalid Fd if none came).
common::Fd accept_within(int listen_fd, Deadline deadline = {});

// ---- Files, data, tools ----------------------------------------------------------------

// A fresh directory under $TMPDIR (or /tmp), removed with its contents at scope exit.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

  private:
    std::string path_;
};

std::string read_file(const std::string& path);
void write_file(const std::string& path, std::string_view data);

// N pseudo-random bytes (every byte value occurs), reproducible for a given seed.
std::string random_bytes(size_t n, unsigned seed = 1);

// TEXT split into lines (without their '\n'); a last line without '\n' counts too.
std::vector<std::string> lines(std::string_view text);

// For a failed comparison of two large byte strings: "sizes 10 and 12, first difference at
// offset 7" (printing both would flood the log).
std::string first_difference(std::string_view a, std::string_view b);

// OPTIONS for a program that a test runs under strace: LeakSanitizer (asan preset) cannot
// work under ptrace, so it is switched off for that program.
Options traced(Options options = {});

// Full path of TOOL found in PATH, or nullopt.
std::optional<std::string> which(const std::string& tool);

// True if third-party peers must be present (SOCKLAB_REQUIRE_PEERS=1, set by .ci/run):
// then a missing tool fails the test instead of skipping it.
bool peers_required();

}  // namespace harness

// Skips the test (or fails it, when peers are required) if TOOL is not installed.
// Use at the top of a test body:  SOCKLAB_REQUIRE_TOOL("socat");
#define SOCKLAB_REQUIRE_TOOL(tool)                                                         \
    do {                                                                                   \
        if (!::harness::which(tool)) {                                                     \
            if (::harness::peers_required()) FAIL() << tool << " is required but missing"; \
            GTEST_SKIP() << tool << " is not installed (apt-get install it to run this)";  \
        }                                                                                  \
    } while (0)
