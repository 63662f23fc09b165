#include "proc.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/net.hpp"
#include "harness.hpp"

namespace harness {

bool wait_until(const std::function<bool()>& condition, Deadline deadline) {
    while (!condition()) {
        if (deadline.expired()) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

namespace {

std::string proc_path(pid_t pid, const char* what) {
    return "/proc/" + std::to_string(pid) + "/" + what;
}

// The fields after "PID (COMM) ": COMM may hold spaces and parentheses, so they start after
// the LAST ')'.  Empty if the process is gone, also if it exits while its stat is read
// (read() fails with ESRCH): read_file() gives what it got, where an istreambuf_iterator
// would let libstdc++'s exception for the failed read escape.
std::string stat_fields(pid_t pid) {
    std::string text = read_file(proc_path(pid, "stat"));
    auto close = text.rfind(')');
    return close == std::string::npos ? std::string() : text.substr(close + 1);
}

}  // namespace

std::optional<ProcStat> proc_stat(pid_t pid) {
    std::istringstream rest(stat_fields(pid));
    ProcStat s{.pid = pid};
    if (!(rest >> s.state >> s.ppid)) return std::nullopt;
    return s;
}

std::vector<ProcStat> children_of(pid_t parent) {
    std::vector<ProcStat> found;
    std::error_code ec;
    // increment(ec), not a range-for: ++ throws if reading /proc fails halfway.
    for (std::filesystem::directory_iterator it("/proc", ec), end; it != end; it.increment(ec)) {
        const std::string name = it->path().filename();
        if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
        auto s = proc_stat(std::stoi(name));
        if (s && s->ppid == parent) found.push_back(*s);
    }
    return found;
}

std::string describe(const std::vector<ProcStat>& procs) {
    std::string text;
    for (const ProcStat& p : procs)
        text += (text.empty() ? "" : " ") + std::to_string(p.pid) + ":" + p.state;
    return text.empty() ? "(none)" : text;
}

long cpu_ticks(pid_t pid) {
    std::istringstream fields(stat_fields(pid));
    std::string field;
    long utime = -1, stime = -1;
    for (int i = 3; i <= 15 && fields >> field; ++i) {  // field 3 is the state
        if (i == 14) utime = std::stol(field);
        if (i == 15) stime = std::stol(field);
    }
    return utime < 0 || stime < 0 ? -1 : utime + stime;
}

long status_value(pid_t pid, const std::string& field) {
    std::ifstream in(proc_path(pid, "status"));
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(field + ":")) {
            // strtol, not stol: a field that is not a number ("State") gives -1, no throw.
            const char* value = line.c_str() + field.size() + 1;
            char* end = nullptr;
            long n = std::strtol(value, &end, 10);
            return end == value ? -1 : n;
        }
    return -1;
}

int open_fds(pid_t pid) {
    std::error_code ec;
    std::filesystem::directory_iterator it(proc_path(pid, "fd"), ec);
    if (ec) return -1;
    int n = 0;
    // increment(ec), not ++: the process may exit meanwhile, and ++ would throw.
    for (; it != std::filesystem::directory_iterator(); it.increment(ec))
        ++n;
    return ec ? -1 : n;
}

long current_syscall(pid_t pid, long* first_arg) {
    std::ifstream in(proc_path(pid, "syscall"));
    std::string nr, arg;
    if (!(in >> nr) || nr == "running") return -1;
    // stoul, not stol: a register with its top bit set (a 64-bit -1) is out of a long's range
    // and stol would throw; stoul takes any 64-bit value and the cast gives it back as long.
    if (first_arg && in >> arg) *first_arg = static_cast<long>(std::stoul(arg, nullptr, 16));
    return std::stol(nr);
}

bool raise_nofile(rlim_t want) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1) return false;
    if (rl.rlim_cur >= want) return true;
    if (rl.rlim_max < want) {
        rlimit higher{want, want};
        if (setrlimit(RLIMIT_NOFILE, &higher) == 0) return true;  // root (CAP_SYS_RESOURCE)
        return false;
    }
    rl.rlim_cur = want;
    return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

int local_port(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == -1) return -1;
    if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    return -1;
}

std::string local_address(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == -1) return "?";
    return common::to_string(reinterpret_cast<sockaddr*>(&addr));
}

long tcp_recv_queue(int local_port, int remote_port) {
    // /proc/net/tcp: "sl local_address rem_address st tx_queue:rx_queue ...", ports in hex.
    char local[8], remote[8];
    snprintf(local, sizeof local, ":%04X", local_port);
    snprintf(remote, sizeof remote, ":%04X", remote_port);
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // the header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string sl, loc, rem, state, queues;
            fields >> sl >> loc >> rem >> state >> queues;
            if (loc.ends_with(local) && rem.ends_with(remote))
                return std::stol(queues.substr(queues.find(':') + 1), nullptr, 16);
        }
    }
    return -1;
}

}  // namespace harness
