// echo_bench — the load generator of bench/ (issue 5): N connections to an echo server,
// each a request/response ping-pong of S bytes for T seconds, all on one thread and one epoll.
//
// usage: echo_bench HOST PORT [--conns N] [--size S] [--seconds T] [--pace K]
//                   [--setup-timeout-s C] [--server-pid PID] [--wait-start] [--idle M] [--hold]
//   --conns N            connections (1..100000, default 1)
//   --size S             bytes per message (1..65536, default 64)
//   --seconds T          length of the measurement (1..3600, default 5)
//   --pace K             at most K connections being set up at a time (1..10000, default 256)
//   --setup-timeout-s C  a connection not ready C s after its connect() has failed (1..600,
//                        default 10)
//   --server-pid PID     also report that server's CPU time during the measurement, summed
//                        over its processes (children, reaped or alive) and threads (default:
//                        none)
//   --wait-start         after setup print `READY conns=N` and start measuring only when a
//                        line (or end of file) arrives on stdin: bench/run starts two
//                        echo_bench at once this way, so that both measure the same seconds
//   --idle M             M more connections, set up like the others (one echo each), that
//                        then stay open and silent: a server that scans every descriptor
//                        (select) pays for them, one told only the ready ones (epoll) not
//                        (0..100000, default 0)
//   --hold               after the RESULT line keep every connection open until a line (or
//                        end of file) arrives on stdin: bench/run reads the server's memory
//                        then.  Before that, the replies still under way are awaited (no new
//                        message sent) and a line `HELD echoed=N` gives the messages the
//                        server echoed since the start, exactly
//
// Setup: non-blocking connect()s, at most K unfinished at a time, so the server's listen
// backlog never overflows.  A connection is *ready* once its first message has come back (the
// server really accepted it, it is not just queued by the kernel).  A failed connect() is
// retried twice.  Then every ready connection starts at once; each sends S bytes, reads until
// all S are back, checks every byte (each message has its own pattern), and sends the next.
// Latency: from the send to the last byte of the reply; only replies complete before the end.
//
// What to observe (stdout): a line for people and a RESULT line for scripts, e.g.
//     1000 conns x 64 B for 5.00 s: 128528 msgs/s, 8.23 MB/s, p50 7.7 ms, p99 13.9 ms,
//     failed 0 (connect 0, setup 0, run 0, stalled 0, corrupt 0); setup 0.03 s;
//     CPU: client 99%, server 96% (user 3%), others 2%
//     RESULT conns=1000 size=64 seconds=5.000 msgs=642656 msgs_per_s=128528 ...
// CPU is the use during the measurement; "others" is the rest of the busy time on the CPUs
// client and server may run on (other processes, interrupt work): more than ~20% means the
// figures are disturbed.  server_cpu: the time every thread of every process of the server
// ran (schedstat, exact).  server_user_cpu: the part of it spent in user space, in the ratio
// of the utime and stime clock ticks that fell in the window; -1 ("user ?") with fewer than
// 10 ticks.  Without --server-pid: server_cpu=-1, server_user_cpu=-1, and no server or others.
// Exit status 0 if every connection was set up and every byte came back right, else 1.
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {

constexpr const char* kUsage =
    "HOST PORT [--conns N] [--size S] [--seconds T] [--pace K] [--setup-timeout-s C] "
    "[--server-pid PID] [--wait-start] [--idle M] [--hold]";
constexpr int kMaxEvents = 1024;
constexpr int kConnectAttempts = 3;
// Below this many clock ticks (1/100 s each) in a window, the user/kernel split is not given.
constexpr long kMinTicks = 10;

int64_t now_ns(clockid_t clock = CLOCK_MONOTONIC) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

// One process's /proc/PID/stat: parent PID, utime and stime in clock ticks, and (with_reaped)
// the children it has reaped, cutime + cstime, folded into them.  False if it is gone.
bool read_stat(long pid, long* ppid, long* user_ticks, long* all_ticks, bool with_reaped) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE* f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char* p = strrchr(buf, ')');  // the command name may contain spaces and ')'
    long utime = 0, stime = 0, cutime = 0, cstime = 0;
    if (!p || sscanf(p + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld %ld %ld", ppid,
                     &utime, &stime, &cutime, &cstime) != 5)
        return false;
    if (!with_reaped) cutime = cstime = 0;
    *user_ticks = utime + cutime;
    *all_ticks = utime + stime + cutime + cstime;
    return true;
}

// The time every thread of process `pid` has run, in seconds: the first field of
// /proc/PID/task/TID/schedstat (nanoseconds, exact).  utime and stime are only sampled at
// the timer tick, and a process that runs a few microseconds at a time may never be caught:
// each of echo_mpserv's 1,000 children read 0 ticks while the server used a whole CPU.
double run_time_s(long pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    double total = 0;
    if (DIR* dir = opendir(path)) {
        while (dirent* e = readdir(dir)) {
            if (e->d_name[0] == '.') continue;
            char stat_path[320];
            snprintf(stat_path, sizeof stat_path, "/proc/%ld/task/%s/schedstat", pid, e->d_name);
            if (FILE* f = fopen(stat_path, "r")) {
                unsigned long long ns = 0;
                if (fscanf(f, "%llu", &ns) == 1) total += static_cast<double>(ns) / 1e9;
                fclose(f);
            }
        }
        closedir(dir);
    }
    return total;
}

// Read stdin up to a newline or end of file: a whole line, so that two lines are two signals.
void wait_line() {
    char c;
    for (;;) {
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n == -1 && errno == EINTR) continue;
        if (n != 1 || c == '\n') return;
    }
}

// The CPU a whole server has used: the process, its descendants still alive (found by their
// parent PID, field 4, in every /proc/N/stat), so a fork-per-client server's work in its
// children is counted too, and the children it has reaped (cutime + cstime).  run_s is exact
// (schedstat) but for the reaped ones; the ticks only give the user-space share of a window.
struct ServerCpu {
    double run_s = -1;
    long user_ticks = 0, all_ticks = 0;
};

ServerCpu server_cpu_now(long pid) {
    ServerCpu cpu;
    long ppid = 0, reaped_user = 0, reaped_all = 0;
    if (!read_stat(pid, &ppid, &reaped_user, &reaped_all, true)) return cpu;
    long own_user = 0, own_all = 0;
    read_stat(pid, &ppid, &own_user, &own_all, false);
    double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    cpu.run_s = run_time_s(pid) + static_cast<double>(reaped_all - own_all) / tick;
    cpu.user_ticks = reaped_user;
    cpu.all_ticks = reaped_all;
    struct Proc {
        long pid, ppid, user, all;
    };
    std::vector<Proc> procs;
    if (DIR* dir = opendir("/proc")) {
        while (dirent* e = readdir(dir)) {
            char* end;
            long n = strtol(e->d_name, &end, 10);
            Proc pr{n, 0, 0, 0};
            if (*end == '\0' && n != pid && read_stat(n, &pr.ppid, &pr.user, &pr.all, false))
                procs.push_back(pr);
        }
        closedir(dir);
    }
    std::vector<long> tree{pid};  // the server's processes, grown one generation at a time
    for (size_t i = 0; i < tree.size(); ++i)
        for (const Proc& pr : procs)
            if (pr.ppid == tree[i]) {
                tree.push_back(pr.pid);
                cpu.run_s += run_time_s(pr.pid);
                cpu.user_ticks += pr.user;
                cpu.all_ticks += pr.all;
            }
    return cpu;
}

// CPU time used on the CPUs in `cpus` since boot, in seconds: their time minus their idle and
// iowait time (/proc/stat; the kernel measures idle time exactly, the busy fields are only
// sampled at each tick).  Minus ours and the server's, it tells whether something else ran
// where client and server run.
double cpus_busy_s(const cpu_set_t& cpus, int64_t t_ns) {
    FILE* f = fopen("/proc/stat", "r");
    if (!f) return -1;
    char line[512];
    double busy = 0;
    unsigned cpu = 0;
    unsigned long long idle = 0, iowait = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "cpu%u %*u %*u %*u %llu %llu", &cpu, &idle, &iowait) == 3 &&
            cpu < CPU_SETSIZE && CPU_ISSET(cpu, &cpus))
            busy += static_cast<double>(t_ns) / 1e9 -
                    static_cast<double>(idle + iowait) / static_cast<double>(sysconf(_SC_CLK_TCK));
    fclose(f);
    return busy;
}

// Latency histogram, log-linear: 64 buckets per power of two (1.6 % resolution), in ns.
struct Histogram {
    std::vector<uint64_t> buckets = std::vector<uint64_t>(64 * 60);
    uint64_t count = 0;
    static size_t index(uint64_t v) {
        if (v < 64) return v;
        int e = std::bit_width(v) - 1;  // 6..63
        return static_cast<size_t>(e - 5) * 64 + ((v >> (e - 6)) & 63);
    }
    static uint64_t lower_bound(size_t i) {
        if (i < 64) return i;
        int e = static_cast<int>(i / 64) + 5;
        return (64 + i % 64) << (e - 6);
    }
    void add(uint64_t v) {
        ++buckets[index(v)];
        ++count;
    }
    double percentile_us(double p) const {
        uint64_t rank = static_cast<uint64_t>(p * static_cast<double>(count - 1)) + 1, seen = 0;
        for (size_t i = 0; i < buckets.size(); ++i)
            if ((seen += buckets[i]) >= rank) return static_cast<double>(lower_bound(i)) / 1e3;
        return 0;
    }
};

// The bytes of message `seq` on connection `conn`, from offset `off`: every message differs,
// so a reply that is stale, shifted, or meant for another connection does not compare equal.
void fill(unsigned char* out, size_t len, uint32_t conn, uint32_t seq, size_t off) {
    uint32_t x = conn * 0x9E3779B1u ^ (seq + 1) * 0x85EBCA77u;
    for (size_t i = 0; i < len; ++i, ++off)
        out[i] = static_cast<unsigned char>((x >> (off % 4 * 8)) + off);
}

void latency_text(char* out, size_t len, double us) {
    if (us >= 1000)
        snprintf(out, len, "%.1f ms", us / 1000);
    else
        snprintf(out, len, "%.0f us", us);
}

enum class State : uint8_t { Connecting, Setup, Ready, Busy, Failed };
enum Failure { kConnect, kSetup, kRun, kStalled, kCorrupt, kFailureKinds };
const char* const kFailureNames[] = {"connect", "setup", "run", "stalled", "corrupt"};
const char* const kFailureWhy[] = {"could not connect", "closed or silent before the first echo",
                                   "closed during the run", "no reply during the whole run",
                                   "wrong bytes came back"};

struct Conn {
    int fd = -1;
    State state = State::Connecting;
    uint8_t attempts = 0;
    bool want_out = false;       // EPOLLOUT is in the interest set
    uint32_t seq = 0;            // message number
    uint32_t sent = 0, got = 0;  // bytes of the current message
    int64_t t_ns = 0;            // setup: connect() start; run: when the message was sent
};

struct Bench {
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    size_t size = 64;
    int64_t setup_timeout_ns = 0;
    int epfd = -1;
    std::vector<Conn> conns;
    std::vector<unsigned char> buf, expect;
    int64_t deadline = 0;
    long in_setup = 0;
    uint64_t msgs = 0, late = 0, waits = 0,
             events_seen = 0;  // late: replies after the end  // epoll_wait calls and their events
    Histogram hist;
    long failed[kFailureKinds] = {};
    int first_errno[kFailureKinds] = {-1, -1, -1, -1, -1};  // 0: end of stream

    void watch(uint32_t i, int op, uint32_t events) {
        epoll_event ev{.events = events, .data = {.u64 = i}};
        if (epoll_ctl(epfd, op, conns[i].fd, &ev) == -1) common::die("epoll_ctl");
    }

    void fail(uint32_t i, Failure why, int err) {
        Conn& c = conns[i];
        if (c.state == State::Connecting || c.state == State::Setup) --in_setup;
        close(c.fd);  // also removes it from the epoll set
        c.fd = -1;
        c.state = State::Failed;
        ++failed[why];
        if (first_errno[why] == -1) first_errno[why] = err;
    }

    void open_conn(uint32_t i) {
        Conn& c = conns[i];
        c.fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c.fd == -1) common::die("socket");  // EMFILE: the limit we raised was not enough
        int on = 1;  // one small message at a time: never let Nagle hold a piece back
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        ++c.attempts;
        c.t_ns = now_ns();
        if (connect(c.fd, reinterpret_cast<const sockaddr*>(&addr), addr_len) == -1 &&
            errno != EINPROGRESS) {
            retry(i, errno);
            return;
        }
        watch(i, EPOLL_CTL_ADD, EPOLLOUT);  // writable (or an error) once connect() finishes
    }

    void retry(uint32_t i, int err) {
        if (conns[i].attempts >= kConnectAttempts) return fail(i, kConnect, err);
        close(conns[i].fd);
        open_conn(i);
    }

    // Send message `seq` (or what is left of it); wait for EPOLLOUT only while some is left.
    void send_rest(uint32_t i) {
        Conn& c = conns[i];
        size_t left = size - c.sent;
        fill(buf.data(), left, i, c.seq, c.sent);
        ssize_t n = send(c.fd, buf.data(), left, MSG_NOSIGNAL);
        if (n == -1 && errno != EAGAIN && errno != EINTR)
            return fail(i, c.state == State::Setup ? kSetup : kRun, errno);
        if (n > 0) c.sent += static_cast<uint32_t>(n);
        bool want_out = c.sent < size;
        if (want_out != c.want_out)
            watch(i, EPOLL_CTL_MOD, want_out ? EPOLLIN | EPOLLOUT : EPOLLIN);
        c.want_out = want_out;
    }

    void start_message(uint32_t i, State state, int64_t t) {
        Conn& c = conns[i];
        c.state = state;
        ++c.seq;
        c.sent = c.got = 0;
        if (state == State::Busy) c.t_ns = t;
        send_rest(i);
    }

    void on_event(uint32_t i, uint32_t events) {
        Conn& c = conns[i];
        if (c.state == State::Failed) return;
        if (c.state == State::Connecting) {
            int err = 0;
            socklen_t len = sizeof err;
            if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) err = errno;
            if (err != 0) return retry(i, err);
            watch(i, EPOLL_CTL_MOD, EPOLLIN);
            return start_message(i, State::Setup, 0);
        }
        if ((events & EPOLLOUT) && c.sent < size) send_rest(i);
        if (c.state == State::Failed || !(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
        Failure phase = c.state == State::Setup ? kSetup : kRun;
        size_t want = c.state == State::Ready ? size : size - c.got;  // Ready: expects nothing
        ssize_t n = recv(c.fd, buf.data(), want, 0);
        if (n == -1 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) return fail(i, phase, n == 0 ? 0 : errno);  // end of stream, or reset
        fill(expect.data(), static_cast<size_t>(n), i, c.seq, c.got);
        if (c.state == State::Ready || memcmp(buf.data(), expect.data(), n) != 0)
            return fail(i, kCorrupt, -1);
        c.got += static_cast<uint32_t>(n);
        if (c.got < size) return;
        if (c.state == State::Setup) {  // first echo back: the server has this connection
            c.state = State::Ready;
            --in_setup;
            return;
        }
        int64_t t = now_ns();
        if (t > deadline) {  // finished after the end: not counted, and no next message
            c.state = State::Ready;
            ++late;
            return;
        }
        ++msgs;
        hist.add(static_cast<uint64_t>(t - c.t_ns));
        start_message(i, State::Busy, t);
    }

    void poll(int timeout_ms) {
        epoll_event events[kMaxEvents];
        int n = epoll_wait(epfd, events, kMaxEvents, timeout_ms);
        if (n == -1 && errno != EINTR) common::die("epoll_wait");
        ++waits;
        if (n > 0) events_seen += static_cast<uint64_t>(n);
        for (int k = 0; k < n; ++k)
            on_event(static_cast<uint32_t>(events[k].data.u64), events[k].events);
    }

    // Connect every connection, at most `pace` unfinished at a time.
    void setup(long pace) {
        uint32_t next = 0;
        int64_t last_scan = now_ns();
        while (next < conns.size() || in_setup > 0) {
            while (next < conns.size() && in_setup < pace) {
                ++in_setup;
                open_conn(next++);
            }
            poll(100);
            int64_t t = now_ns();
            if (t - last_scan < 100'000'000) continue;
            last_scan = t;
            for (uint32_t i = 0; i < next; ++i) {
                State s = conns[i].state;
                if ((s == State::Connecting || s == State::Setup) &&
                    t - conns[i].t_ns > setup_timeout_ns)
                    fail(i, s == State::Connecting ? kConnect : kSetup, ETIMEDOUT);
            }
        }
    }
};

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc < 3) common::die_usage(kUsage);
    long n_conns = 1, seconds = 5, pace = 256, setup_timeout_s = 10, server_pid = 0, n_idle = 0;
    bool wait_start = false, hold = false;
    Bench b;
    for (int i = 3; i < argc; ++i) {
        const char* opt = argv[i];
        if (strcmp(opt, "--wait-start") == 0) {  // the options without a value
            wait_start = true;
            continue;
        }
        if (strcmp(opt, "--hold") == 0) {
            hold = true;
            continue;
        }
        if (i + 1 == argc) common::die_usage(kUsage);
        const char* val = argv[++i];
        if (strcmp(opt, "--conns") == 0)
            n_conns = common::number_arg(opt, val, 1, 100000);
        else if (strcmp(opt, "--idle") == 0)
            n_idle = common::number_arg(opt, val, 0, 100000);
        else if (strcmp(opt, "--size") == 0)
            b.size = static_cast<size_t>(common::number_arg(opt, val, 1, 65536));
        else if (strcmp(opt, "--seconds") == 0)
            seconds = common::number_arg(opt, val, 1, 3600);
        else if (strcmp(opt, "--pace") == 0)
            pace = common::number_arg(opt, val, 1, 10000);
        else if (strcmp(opt, "--setup-timeout-s") == 0)
            setup_timeout_s = common::number_arg(opt, val, 1, 600);
        else if (strcmp(opt, "--server-pid") == 0)
            server_pid = common::number_arg(opt, val, 1, 1L << 30);
        else
            common::die_usage(kUsage);
    }

    // One descriptor per connection, plus a few: raise the soft limit (and the hard one if we
    // may), or say clearly why we cannot.
    rlimit lim{};
    rlim_t need = static_cast<rlim_t>(n_conns + n_idle) + 32;
    if (getrlimit(RLIMIT_NOFILE, &lim) == -1) common::die("getrlimit");
    if (lim.rlim_cur < need) {
        lim.rlim_cur = need;
        lim.rlim_max = std::max(lim.rlim_max, need);
        if (setrlimit(RLIMIT_NOFILE, &lim) == -1)
            common::die("%ld connections need %lu descriptors: setrlimit RLIMIT_NOFILE",
                        n_conns + n_idle, static_cast<unsigned long>(need));
    }

    // The usual client loop (common::connect_tcp) finds the address that answers; every
    // connection then uses it.
    {
        common::Fd probe = common::connect_tcp(argv[1], argv[2]);
        socklen_t len = sizeof b.addr;
        if (getpeername(probe.get(), reinterpret_cast<sockaddr*>(&b.addr), &len) == -1)
            common::die("getpeername");
        b.addr_len = len;
    }

    common::Fd epfd(epoll_create1(EPOLL_CLOEXEC));
    if (!epfd) common::die("epoll_create1");
    b.epfd = epfd.get();
    b.conns.resize(static_cast<size_t>(n_conns + n_idle));  // the idle ones last
    b.buf.resize(b.size);
    b.expect.resize(b.size);
    b.setup_timeout_ns = setup_timeout_s * 1'000'000'000LL;

    int64_t setup_start = now_ns();
    b.setup(pace);
    double setup_s = static_cast<double>(now_ns() - setup_start) / 1e9;
    if (wait_start) {  // the connections stay idle until the go
        long ready = 0;
        for (const Conn& c : b.conns)
            ready += c.state == State::Ready;
        printf("READY conns=%ld\n", ready);
        fflush(stdout);
        wait_line();
    }
    int64_t t0 = now_ns();

    // Measure: every ready connection sends its first message now, but the idle ones.
    b.deadline = t0 + seconds * 1'000'000'000LL;
    int64_t cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    // The CPUs that matter: where this process and the server may run (taskset in bench/run).
    cpu_set_t cpus, server_cpus;
    CPU_ZERO(&cpus);
    sched_getaffinity(0, sizeof cpus, &cpus);
    if (server_pid &&
        sched_getaffinity(static_cast<pid_t>(server_pid), sizeof server_cpus, &server_cpus) == 0)
        CPU_OR(&cpus, &cpus, &server_cpus);
    ServerCpu server0 = server_pid ? server_cpu_now(server_pid) : ServerCpu{};
    double busy0 = cpus_busy_s(cpus, t0);
    for (uint32_t i = 0; i < static_cast<uint32_t>(n_conns); ++i)
        if (b.conns[i].state == State::Ready) b.start_message(i, State::Busy, t0);
    b.waits = b.events_seen = 0;
    for (int64_t t = t0; t < b.deadline; t = now_ns())
        b.poll(static_cast<int>((b.deadline - t + 999'999) / 1'000'000));
    int64_t t1 = now_ns();
    double elapsed = static_cast<double>(t1 - t0) / 1e9;
    double client_cpu =
        static_cast<double>(now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / 1e9 / elapsed;
    double server_cpu = -1, server_user = -1;
    if (server0.run_s >= 0) {
        ServerCpu server1 = server_cpu_now(server_pid);
        server_cpu = (server1.run_s - server0.run_s) / elapsed;
        // The user share of the ticks that fell in the window; unknown (-1) with too few.
        long all = server1.all_ticks - server0.all_ticks;
        if (all >= kMinTicks)
            server_user = server_cpu *
                          static_cast<double>(server1.user_ticks - server0.user_ticks) /
                          static_cast<double>(all);
    }
    double busy = (cpus_busy_s(cpus, t1) - busy0) / elapsed;
    // A connection still waiting for the reply to its first message was starved all along.
    for (uint32_t i = 0; i < b.conns.size(); ++i)
        if (b.conns[i].state == State::Busy && b.conns[i].seq == 2) b.fail(i, kStalled, -1);

    // --hold: the replies still under way come back (no new message is sent), so that
    // `echoed` counts exactly the messages the server echoed since the start (bench/run
    // divides the server's system calls by it).
    if (hold)
        for (int64_t end = now_ns() + 2'000'000'000LL; now_ns() < end;) {
            bool waiting = false;
            for (const Conn& c : b.conns)
                waiting = waiting || c.state == State::Busy;
            if (!waiting) break;
            b.poll(100);
        }

    long failed = 0;
    for (long f : b.failed)
        failed += f;
    double rate = static_cast<double>(b.msgs) / elapsed;
    double p50 = b.hist.count ? b.hist.percentile_us(0.50) : 0;
    double p99 = b.hist.count ? b.hist.percentile_us(0.99) : 0;
    char p50_text[32], p99_text[32];
    latency_text(p50_text, sizeof p50_text, p50);
    latency_text(p99_text, sizeof p99_text, p99);
    printf("%ld conns", n_conns);
    if (n_idle > 0) printf(" (+ %ld idle)", n_idle);
    printf(" x %zu B for %.2f s: %.0f msgs/s, %.2f MB/s, p50 %s, p99 %s, failed %ld", b.size,
           elapsed, rate, rate * static_cast<double>(b.size) / 1e6, p50_text, p99_text, failed);
    for (int k = 0; k < kFailureKinds; ++k)
        printf("%s%s %ld", k == 0 ? " (" : ", ", kFailureNames[k], b.failed[k]);
    printf("); setup %.2f s; CPU: client %.0f%%", setup_s, client_cpu * 100);
    if (server_cpu >= 0) {
        printf(", server %.0f%%", server_cpu * 100);
        if (server_user >= 0)
            printf(" (user %.0f%%)", server_user * 100);
        else
            printf(" (user ?)");
        printf(", others %.0f%%", (busy - client_cpu - server_cpu) * 100);
    }

    printf(
        "\nRESULT conns=%ld idle=%ld size=%zu seconds=%.3f msgs=%llu msgs_per_s=%.0f mb_per_s=%.3f "
        "p50_us=%.1f p99_us=%.1f failed=%ld",
        n_conns, n_idle, b.size, elapsed, static_cast<unsigned long long>(b.msgs), rate,
        rate * static_cast<double>(b.size) / 1e6, p50, p99, failed);
    for (int k = 0; k < kFailureKinds; ++k)
        printf(" failed_%s=%ld", kFailureNames[k], b.failed[k]);
    printf(
        " setup_s=%.3f client_cpu=%.3f server_cpu=%.3f server_user_cpu=%.3f cpus=%d "
        "cpus_busy=%.3f events_per_wait=%.1f\n",
        setup_s, client_cpu, server_cpu, server_user, CPU_COUNT(&cpus), busy,
        b.waits ? static_cast<double>(b.events_seen) / static_cast<double>(b.waits) : 0.0);
    if (hold) printf("HELD echoed=%llu\n", static_cast<unsigned long long>(b.msgs + b.late));
    fflush(stdout);
    if (hold) {  // bench/run reads the server's memory now, every connection still open
        wait_line();
    }
    for (Conn& c : b.conns)
        if (c.fd != -1) close(c.fd);
    for (int k = 0; k < kFailureKinds; ++k) {
        if (b.failed[k] == 0) continue;
        int err = b.first_errno[k];
        const char* first = err > 0 ? strerror(err) : err == 0 ? "end of stream" : "";
        common::note("%ld of %ld connections failed: %s%s%s", b.failed[k], n_conns + n_idle,
                     kFailureWhy[k], *first ? ": first " : "", first);
    }
    return failed == 0 ? 0 : 1;
}
