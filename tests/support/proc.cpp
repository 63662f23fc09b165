#include "proc.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <csignal>
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

namespace {

// Where a pids cgroup can be made: the v1 hierarchy mounted with "pids", else a cgroup2
// mount whose root offers the pids controller (it is then enabled for the children).
std::string pids_hierarchy(std::string* why) {
    std::ifstream mounts("/proc/mounts");
    std::string dev, dir, type, opts, v2;
    while (mounts >> dev >> dir >> type >> opts) {
        mounts.ignore(4096, '\n');
        if (type == "cgroup" && ("," + opts + ",").find(",pids,") != std::string::npos) return dir;
        if (type == "cgroup2" && v2.empty()) v2 = dir;
    }
    if (!v2.empty() && read_file(v2 + "/cgroup.controllers").find("pids") != std::string::npos) {
        std::ofstream(v2 + "/cgroup.subtree_control") << "+pids";
        return v2;
    }
    *why = "no cgroup hierarchy with the pids controller";
    return {};
}

long number_in(const std::string& text) {
    char* end = nullptr;
    long v = strtol(text.c_str(), &end, 10);
    return end == text.c_str() ? -1 : v;
}

}  // namespace

PidsCgroup::PidsCgroup(int max) {
    if (geteuid() != 0) {
        why_ = "not root: creating a cgroup needs root";
        return;
    }
    std::string root = pids_hierarchy(&why_);
    if (root.empty()) return;
    static int counter = 0;
    std::string dir =
        root + "/socklab-test-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
    std::error_code ec;
    if (!std::filesystem::create_directory(dir, ec)) {
        why_ = "cannot create " + dir + ": " + ec.message();
        return;
    }
    std::ofstream(dir + "/pids.max") << max;
    if (number_in(read_file(dir + "/pids.max")) != max) {
        why_ = "cannot set pids.max in " + dir;
        rmdir(dir.c_str());
        return;
    }
    path_ = dir;
}

PidsCgroup::~PidsCgroup() {
    if (path_.empty()) return;
    // Whatever is left (a server's children outlive their parent's Process object when the
    // test dies early): kill it and remove the cgroup.  A zombie has already left the
    // cgroup's list, so rmdir() succeeds once the last task has exited; the test binary,
    // a child subreaper, reaps orphans at its end.
    for (Deadline deadline(5s);;) {
        std::istringstream procs(read_file(path_ + "/cgroup.procs"));
        for (pid_t pid; procs >> pid;)
            kill(pid, SIGKILL);
        if (rmdir(path_.c_str()) == 0 || errno != EBUSY || deadline.expired()) return;
        std::this_thread::sleep_for(2ms);
    }
}

long PidsCgroup::current() const {
    return path_.empty() ? -1 : number_in(read_file(path_ + "/pids.current"));
}

long PidsCgroup::denied() const {
    if (path_.empty()) return -1;
    std::string events = read_file(path_ + "/pids.events");  // "max 3"
    auto at = events.find("max ");
    return at == std::string::npos ? -1 : number_in(events.substr(at + 4));
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
