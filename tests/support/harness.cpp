#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/close_range.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string_view>

#include "proc.hpp"

extern char** environ;

namespace harness {
namespace {

// Every live child's pid (= its process group).  At exit of the test binary, whatever is
// still registered is killed, so no program outlives the tests.
std::mutex g_children_mutex;
std::set<pid_t> g_children;

void kill_all_children() {
    std::lock_guard lock(g_children_mutex);
    for (pid_t pid : g_children) {
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
    }
}

void register_child(pid_t pid) {
    static bool once = [] {
        std::atexit(kill_all_children);
        // Writing to the stdin of a child that has already exited must fail with EPIPE, not
        // kill the test binary.  (Each child gets the default SIGPIPE back before exec.)
        ::signal(SIGPIPE, SIG_IGN);
        return true;
    }();
    (void)once;
    std::lock_guard lock(g_children_mutex);
    g_children.insert(pid);
}

void unregister_child(pid_t pid) {
    std::lock_guard lock(g_children_mutex);
    g_children.erase(pid);
}

void set_nonblocking(int fd) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

std::string basename_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::chrono::milliseconds scaled(std::chrono::milliseconds ms) {
    static const double scale = [] {
        const char* s = getenv("SOCKLAB_TIMEOUT_SCALE");
        double v = s ? atof(s) : 1.0;
        return v > 0 ? v : 1.0;
    }();
    return std::chrono::milliseconds(static_cast<long long>(ms.count() * scale));
}

const char* program(const char* built_path) {
    static std::mutex mutex;
    static std::map<std::string, std::string> mapped;  // built path -> path to run
    const char* dir = getenv("SOCKLAB_PROGRAM_DIR");
    const std::string_view built_dir = SOCKLAB_BUILD_DIR;
    const std::string_view path = built_path;
    if (!dir || *dir == '\0' || !path.starts_with(built_dir) || path.size() == built_dir.size() ||
        path[built_dir.size()] != '/')
        return built_path;
    std::lock_guard lock(mutex);
    auto [it, added] = mapped.try_emplace(std::string(path));
    if (added) it->second = dir + std::string(path.substr(built_dir.size()));
    return it->second.c_str();
}

const std::string& sanitizer() {
    static const std::string value = [] {
        const char* s = getenv("SOCKLAB_SANITIZER");
        return std::string(s ? s : SOCKLAB_BUILT_SANITIZER);
    }();
    return value;
}

int Deadline::ms_left() const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at_ - Clock::now());
    return left.count() > 0 ? static_cast<int>(std::min<long long>(left.count(), 1 << 30)) : 0;
}

bool exited_with(int status, int code) {
    return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const char* name = sigabbrev_np(WTERMSIG(status));
        return std::string("killed by SIG") + (name ? name : std::to_string(WTERMSIG(status)));
    }
    return "status " + std::to_string(status);
}

Process::Process(const std::string& program, std::vector<std::string> args, Options options)
    : name_(basename_of(program)) {
    int in[2], out[2], err[2], exec_err[2];
    if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1 ||
        pipe2(exec_err, O_CLOEXEC) == -1) {
        ADD_FAILURE() << "pipe: " << strerror(errno);
        return;
    }

    // Build argv and envp before fork(): the child of a threaded process may only call
    // async-signal-safe functions.
    std::vector<std::string> argv_s{program};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s)
        argv.push_back(a.data());
    argv.push_back(nullptr);

    std::vector<std::string> env_s;
    auto overridden = [&](const std::string& entry) {
        auto key = entry.substr(0, entry.find('=') + 1);
        if (key == "SOCKLAB_BIND=") return true;
        return std::any_of(options.env.begin(), options.env.end(),
                           [&](const std::string& e) { return e.rfind(key, 0) == 0; });
    };
    for (char** e = environ; *e; ++e)
        if (!overridden(*e)) env_s.emplace_back(*e);
    if (!options.bind.empty()) env_s.push_back("SOCKLAB_BIND=" + options.bind);
    env_s.insert(env_s.end(), options.env.begin(), options.env.end());
    std::vector<char*> envp;
    for (auto& e : env_s)
        envp.push_back(e.data());
    envp.push_back(nullptr);

    const std::string cgroup_procs = options.cgroup.empty() ? "" : options.cgroup + "/cgroup.procs";

    pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == -1) {
        ADD_FAILURE() << "fork: " << strerror(errno);
        return;
    }
    if (pid_ == 0) {
        setpgid(0, 0);                     // own process group: kill(-pid) reaches grandchildren
        prctl(PR_SET_PDEATHSIG, SIGKILL);  // die with the test binary
        if (getppid() != parent) _exit(127);
        // Give the program default signal handling whatever the test binary had: SIGPIPE
        // (ignored here), and SIGINT/SIGQUIT, which a shell ignores in a background job.
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGQUIT})
            sigaction(sig, &dfl, nullptr);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        // The program starts with descriptors 0, 1 and 2 only, whatever the test runner
        // left open (ch01 shows that the first new descriptor is 3).
        close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        if (!cgroup_procs.empty()) {  // "0": the writing process itself
            int fd = open(cgroup_procs.c_str(), O_WRONLY | O_CLOEXEC);
            if (fd == -1 || write(fd, "0\n", 2) != 2) {
                int e = errno;
                (void)!write(exec_err[1], &e, sizeof e);
                _exit(127);
            }
            close(fd);
        }
        if (!options.cwd.empty() && chdir(options.cwd.c_str()) == -1) {
            int e = errno;
            (void)!write(exec_err[1], &e, sizeof e);
            _exit(127);
        }
        execvpe(argv[0], argv.data(), envp.data());
        int e = errno;
        (void)!write(exec_err[1], &e, sizeof e);
        _exit(127);
    }
    setpgid(pid_, pid_);  // also from the parent, so it holds before we ever signal the group
    register_child(pid_);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    close(exec_err[1]);
    int exec_errno = 0;
    if (read(exec_err[0], &exec_errno, sizeof exec_errno) == sizeof exec_errno)
        ADD_FAILURE() << "cannot start " << program << ": " << strerror(exec_errno);
    close(exec_err[0]);

    stdin_fd_ = in[1];
    out_.fd = out[0];
    err_.fd = err[0];
    set_nonblocking(stdin_fd_);
    set_nonblocking(out_.fd);
    set_nonblocking(err_.fd);
    pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
}

Process::Process(Process&& other) noexcept
    : name_(std::move(other.name_)),
      pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::exchange(other.pidfd_, -1)),
      stdin_fd_(std::exchange(other.stdin_fd_, -1)),
      out_all_(std::move(other.out_all_)),
      err_all_(std::move(other.err_all_)),
      status_(other.status_) {
    out_ = {std::exchange(other.out_.fd, -1), std::move(other.out_.pending), &out_all_,
            other.out_.eof};
    err_ = {std::exchange(other.err_.fd, -1), std::move(other.err_.pending), &err_all_,
            other.err_.eof};
}

Process::~Process() {
    if (pid_ > 0) {
        // Not reaped yet — reap_now() only looks (WNOWAIT) — so the pid, and the process
        // group named after it, still belong to this child, even if it has exited: neither
        // signal below can reach a process that merely got a recycled number.
        ::kill(-pid_, SIGKILL);  // the whole group: forked servers' children too
        if (!status_) syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
        int status;
        while (waitpid(pid_, &status, 0) == -1 && errno == EINTR) {
        }
        unregister_child(pid_);
    }
    for (int fd : {pidfd_, stdin_fd_, out_.fd, err_.fd})
        if (fd >= 0) close(fd);
}

bool Process::write_stdin(std::string_view data, Deadline deadline) {
    if (stdin_fd_ < 0) return false;
    while (!data.empty()) {
        ssize_t n = ::write(stdin_fd_, data.data(), data.size());
        if (n > 0) {
            data.remove_prefix(static_cast<size_t>(n));
            continue;
        }
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && errno != EAGAIN) return false;  // EPIPE: the child closed stdin
        // The pipe is full: drain the child's output (it may be blocked writing it) and
        // wait for room.
        pollfd fds[3] = {{stdin_fd_, POLLOUT, 0}, {out_.fd, POLLIN, 0}, {err_.fd, POLLIN, 0}};
        if (out_.eof) fds[1].fd = -1;
        if (err_.eof) fds[2].fd = -1;
        if (deadline.expired()) return false;
        if (poll(fds, 3, deadline.ms_left()) == -1 && errno != EINTR) return false;
        read_available(out_);
        read_available(err_);
    }
    return true;
}

void Process::close_stdin() {
    if (stdin_fd_ >= 0) close(stdin_fd_);
    stdin_fd_ = -1;
}

void Process::read_available(Stream& s) {
    if (s.fd < 0 || s.eof) return;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(s.fd, buf, sizeof buf);
        if (n > 0) {
            s.pending.append(buf, static_cast<size_t>(n));
            s.all->append(buf, static_cast<size_t>(n));
        } else if (n == 0) {
            s.eof = true;
            return;
        } else if (errno == EINTR) {
            continue;
        } else {
            return;  // EAGAIN: nothing more for now
        }
    }
}

bool Process::pump(Deadline deadline, const std::function<bool()>& until) {
    for (;;) {
        read_available(out_);
        read_available(err_);
        if (until()) return true;
        if (deadline.expired()) return false;
        pollfd fds[3] = {{out_.eof ? -1 : out_.fd, POLLIN, 0},
                         {err_.eof ? -1 : err_.fd, POLLIN, 0},
                         {status_ ? -1 : pidfd_, POLLIN, 0}};
        int n = poll(fds, 3, deadline.ms_left());
        if (n == -1 && errno != EINTR) return false;
        if (fds[2].revents & POLLIN) reap_now();
    }
}

// Records the exit status once the child has exited, but leaves it a zombie (WNOWAIT): the
// destructor reaps it, after its last signal to the process group.
void Process::reap_now() {
    if (status_ || pid_ <= 0) return;
    siginfo_t info{};
    int r;
    do {
        r = waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    } while (r == -1 && errno == EINTR);
    if (r != 0 || info.si_pid != pid_) return;  // still running
    switch (info.si_code) {
        case CLD_EXITED:
            status_ = W_EXITCODE(info.si_status, 0);
            break;
        case CLD_KILLED:
            status_ = info.si_status;
            break;
        case CLD_DUMPED:
            status_ = info.si_status | WCOREFLAG;
            break;
        default:
            break;
    }
}

std::optional<std::string> Process::take_line(Stream& s, Deadline deadline) {
    auto has_line = [&] { return s.pending.find('\n') != std::string::npos || s.eof; };
    if (!pump(deadline, has_line)) return std::nullopt;
    auto nl = s.pending.find('\n');
    if (nl == std::string::npos) {  // end of stream
        if (s.pending.empty()) return std::nullopt;
        return std::exchange(s.pending, {});
    }
    std::string line = s.pending.substr(0, nl);
    s.pending.erase(0, nl + 1);
    return line;
}

std::optional<std::string> Process::read_line(Deadline deadline) {
    return take_line(out_, deadline);
}

std::optional<std::string> Process::read_err_line(Deadline deadline) {
    return take_line(err_, deadline);
}

std::optional<std::string> Process::wait_for_line(std::string_view text, Deadline deadline) {
    while (auto line = read_line(deadline))
        if (line->find(text) != std::string::npos) return line;
    return std::nullopt;
}

int Process::wait_ready(Deadline deadline) {
    while (auto line = read_line(deadline)) {
        if (line->rfind("listening on ", 0) == 0 || line->rfind("bound to ", 0) == 0) {
            auto colon = line->rfind(':');
            int port = colon == std::string::npos ? 0 : atoi(line->c_str() + colon + 1);
            if (port > 0) return port;
            ADD_FAILURE() << name_ << ": readiness line without a port: " << *line;
            return 0;
        }
    }
    read_available(err_);
    ADD_FAILURE() << name_ << " never printed its readiness line"
                  << (deadline.expired() ? " (deadline passed)" : " (stdout closed)")
                  << "\nstdout: " << out_all_ << "\nstderr: " << err_all_;
    return 0;
}

void Process::signal(int sig) {
    if (pid_ > 0 && !status_) syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0);
}

std::optional<int> Process::wait_exit(Deadline deadline) {
    reap_now();
    if (!status_) pump(deadline, [&] { return status_.has_value(); });
    // Whatever the program wrote before exiting is already in the pipes.
    read_available(out_);
    read_available(err_);
    return status_;
}

std::optional<int> Process::finish(Deadline deadline) {
    auto status = wait_exit(deadline);
    if (!status) return std::nullopt;
    if (!pump(deadline, [&] { return out_.eof && err_.eof; })) return std::nullopt;
    return status;
}

bool Process::running() {
    reap_now();
    return pid_ > 0 && !status_;
}

int Result::exit_code() const {
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Result run(const std::string& program, std::vector<std::string> args, std::string_view stdin_data,
           Deadline deadline, Options options) {
    Process p(program, std::move(args), std::move(options));
    Result r;
    if (!stdin_data.empty()) p.write_stdin(stdin_data, deadline);
    p.close_stdin();
    auto status = p.finish(deadline);
    r.timed_out = !status;
    r.status = status.value_or(-1);
    r.out = p.out();
    r.err = p.err();
    return r;
}

common::Fd connect_tcp(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) {
        errno = EINVAL;
        return common::Fd();
    }
    common::Fd fd(socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd && connect(fd.get(), res->ai_addr, res->ai_addrlen) == -1) fd.reset();
    freeaddrinfo(res);
    return fd;
}

bool send_all(int fd, std::string_view data, Deadline deadline) {
    while (!data.empty()) {
        pollfd p{fd, POLLOUT, 0};
        int ready = poll(&p, 1, deadline.ms_left());
        if (ready == -1 && errno == EINTR) continue;
        if (ready <= 0) return false;
        ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == -1 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n == -1) return false;
        data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

std::optional<std::string> recv_exact(int fd, size_t n, Deadline deadline, std::string* partial) {
    std::string got;
    char buf[65536];
    while (got.size() < n) {
        pollfd p{fd, POLLIN, 0};
        int ready = poll(&p, 1, deadline.ms_left());
        if (ready == -1 && errno == EINTR) continue;
        if (ready <= 0) break;
        ssize_t r = recv(fd, buf, std::min(sizeof buf, n - got.size()), MSG_DONTWAIT);
        if (r == -1 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) break;
        got.append(buf, static_cast<size_t>(r));
    }
    if (got.size() == n) return got;
    if (partial) *partial = std::move(got);
    return std::nullopt;
}

Received recv_to_end(int fd, Deadline deadline) {
    Received r;
    char buf[65536];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        int ready = poll(&p, 1, deadline.ms_left());
        if (ready == -1 && errno == EINTR) continue;
        if (ready <= 0) return r;  // End::kDeadline
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == -1 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n == 0) {
            r.end = End::kFin;
            return r;
        }
        if (n == -1) {
            r.end = End::kReset;
            return r;
        }
        r.data.append(buf, static_cast<size_t>(n));
    }
}

std::string recv_until_eof(int fd, Deadline deadline, bool* closed) {
    Received r = recv_to_end(fd, deadline);
    if (closed) *closed = r.end != End::kDeadline;
    return std::move(r.data);
}

namespace {
Listener bound_loopback(bool do_listen) {
    Listener l;
    l.fd.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
    socklen_t len = sizeof addr;
    if (!l.fd || bind(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == -1 ||
        (do_listen && listen(l.fd.get(), SOMAXCONN) == -1) ||
        getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == -1) {
        ADD_FAILURE() << "test socket on 127.0.0.1: " << strerror(errno);
        return l;
    }
    l.port = ntohs(addr.sin_port);
    return l;
}
}  // namespace

Listener listen_loopback() {
    return bound_loopback(true);
}
Listener refused_port() {
    return bound_loopback(false);
}

common::Fd accept_within(int listen_fd, Deadline deadline) {
    pollfd p{listen_fd, POLLIN, 0};
    int ready;
    do {
        ready = poll(&p, 1, deadline.ms_left());
    } while (ready == -1 && errno == EINTR);
    if (ready != 1) return common::Fd();
    return common::Fd(accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
}

TempDir::TempDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/socklab-test-XXXXXX";
    if (!mkdtemp(tmpl.data())) ADD_FAILURE() << "mkdtemp: " << strerror(errno);
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const std::string& path, std::string_view data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::string s(n, '\0');
    for (auto& c : s)
        c = static_cast<char>(gen() & 0xff);
    return s;
}

std::string first_difference(std::string_view a, std::string_view b) {
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i])
        ++i;
    return "sizes " + std::to_string(a.size()) + " and " + std::to_string(b.size()) +
           ", first difference at offset " + std::to_string(i);
}

std::vector<std::string> lines(std::string_view text) {
    std::vector<std::string> out;
    while (!text.empty()) {
        auto nl = text.find('\n');
        out.emplace_back(text.substr(0, nl));
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    }
    return out;
}

Options traced(Options options) {
    options.env.push_back("ASAN_OPTIONS=detect_leaks=0");
    return options;
}

std::optional<std::string> which(const std::string& tool) {
    const char* path = getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        std::string candidate = (dir.empty() ? "." : dir) + "/" + tool;
        if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return std::nullopt;
}

bool peers_required() {
    const char* v = getenv("SOCKLAB_REQUIRE_PEERS");
    return v && *v && std::string_view(v) != "0";
}

// ---- every test binary: a child subreaper that reaps what it inherits ---------------------

namespace {

// The test binary is a child subreaper (PR_SET_CHILD_SUBREAPER): a process orphaned by a
// test (a demo's child, a server's children when the harness kills the server's process
// group) is handed to it instead of to PID 1, and it reaps them all before it exits.  So the
// suite leaves no zombie behind, and ch10's zombie test can watch one collected.
class ReapOrphans : public ::testing::Environment {
  public:
    void SetUp() override { ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0) << strerror(errno); }
    void TearDown() override {
        // Every Process has been destroyed: what is left was killed and will exit soon.
        for (Deadline deadline;;) {
            pid_t pid = waitpid(-1, nullptr, WNOHANG);
            if (pid > 0) continue;
            if (pid == -1 && errno != EINTR) return;  // ECHILD: none left
            if (deadline.expired()) {
                ADD_FAILURE() << "children still running: " << describe(children_of(getpid()));
                return;
            }
            poll(nullptr, 0, 10);
        }
    }
};

// Registered before main(); this file is in every test binary (Process lives here).
::testing::Environment* const kReapOrphans = ::testing::AddGlobalTestEnvironment(new ReapOrphans);

}  // namespace

}  // namespace harness
