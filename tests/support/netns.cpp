#include "netns.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

namespace harness {
namespace {

// The holder: enters its new namespace (unshare exec()s sh in place, so the namespace is
// the holder's own), brings lo up, says so, then waits for end of file on stdin.  The test
// keeps that pipe open; if the test binary dies, the pipe closes and the holder exits, which
// frees the namespace even without PR_SET_PDEATHSIG.
const char* kHoldScript = "ip link set lo up || exit 1; echo ready; exec cat >/dev/null";

bool user_mode() {
    const char* forced = getenv("SOCKLAB_NETNS");
    if (forced && std::string_view(forced) == "user") return true;
    return geteuid() != 0;
}

std::string join(const std::vector<std::string>& args) {
    std::string s;
    for (const auto& a : args)
        s += (s.empty() ? "" : " ") + a;
    return s;
}

std::string first_line(const std::string& text) {
    auto nl = text.find('\n');
    return nl == std::string::npos ? text : text.substr(0, nl);
}

// Options for the helper's own processes: no SOCKLAB_BIND, nothing else special.
Options plain() {
    return Options{.bind = ""};
}

}  // namespace

// ---- the shared user namespace (unprivileged mode) ------------------------------------

struct NetNs::UserNs {
    std::optional<Process> holder;

    UserNs() {
        holder.emplace("unshare",
                       std::vector<std::string>{"--user", "--map-root-user", "--", "sh", "-c",
                                                "echo ready; exec cat"},
                       plain());
        if (!holder->wait_for_line("ready")) {
            holder->finish(Deadline(1s));
            ADD_FAILURE() << "unshare --user --map-root-user failed: " << holder->err();
            holder.reset();
        }
    }
    std::string path() const {
        return holder ? "/proc/" + std::to_string(holder->pid()) + "/ns/user" : "";
    }

    // One user namespace for every NetNs alive at the same time (veth pairs can only join
    // namespaces of the same user namespace); it goes away with the last of them.
    static std::shared_ptr<UserNs> shared() {
        static std::mutex mutex;
        static std::weak_ptr<UserNs> current;
        std::lock_guard lock(mutex);
        auto user = current.lock();
        if (!user || !user->holder) {
            user = std::make_shared<UserNs>();
            current = user;
        }
        return user;
    }
};

// ---- availability ------------------------------------------------------------------------

const std::string& netns_unavailable_reason() {
    static const std::string reason = []() -> std::string {
        for (const char* tool : {"unshare", "nsenter", "ip"})
            if (!which(tool))
                return std::string(tool) + " is not installed (" +
                       (std::string_view(tool) == "ip" ? "iproute2" : "util-linux") + ")";
        std::vector<std::string> args{"--net", "--", "ip", "link", "set", "lo", "up"};
        if (user_mode()) args.insert(args.begin(), {"--user", "--map-root-user"});
        Result r = run("unshare", args, {}, Deadline(), plain());
        if (r.timed_out) return "unshare " + join(args) + " did not finish";
        if (r.exit_code() != 0) {
            std::string why = first_line(r.err);
            if (why.empty()) why = describe_status(r.status);
            return "unshare " + std::string(user_mode() ? "--user --map-root-user " : "") +
                   "--net: " + why +
                   (user_mode() ? " (unprivileged user namespaces disabled? run as root)" : "");
        }
        return "";
    }();
    return reason;
}

bool netns_required() {
    return geteuid() == 0 || peers_required();
}

// ---- NetNs ---------------------------------------------------------------------------------

NetNs::NetNs(std::string name) : name_(std::move(name)) {
    std::vector<std::string> command{"unshare", "--net", "--", "sh", "-c", kHoldScript};
    if (user_mode()) {
        user_ = UserNs::shared();
        if (!user_->holder) {
            ADD_FAILURE() << name_ << ": no user namespace";
            return;
        }
        command.insert(command.begin(),
                       {"nsenter", "--user=" + user_->path(), "--preserve-credentials", "--"});
    }
    std::string program = command.front();
    holder_.emplace(program, std::vector<std::string>(command.begin() + 1, command.end()), plain());
    if (!holder_->wait_for_line("ready")) {
        holder_->finish(Deadline(1s));
        ADD_FAILURE() << name_ << ": cannot create a network namespace (" << join(command)
                      << "): " << describe_status(holder_->wait_exit(Deadline(0ms)).value_or(-1))
                      << ", stderr: " << holder_->err();
        holder_.reset();
    }
}

// The holder's Process destructor kills it and reaps it; the namespace then dies as soon as
// the last program started in it has exited too.
NetNs::~NetNs() = default;

pid_t NetNs::holder_pid() const {
    return holder_ ? holder_->pid() : -1;
}

std::string NetNs::net_path() const {
    return "/proc/" + std::to_string(holder_pid()) + "/ns/net";
}

std::vector<std::string> NetNs::enter_command() const {
    std::vector<std::string> command{"nsenter"};
    if (user_) {
        // Enter the user namespace first (that gives the rights to enter the network one);
        // --preserve-credentials: we are already root in it, and setgroups() is denied there.
        command.push_back("--user=/proc/" + std::to_string(holder_pid()) + "/ns/user");
        command.push_back("--preserve-credentials");
    }
    command.push_back("--net=" + net_path());
    command.push_back("--");
    return command;
}

Process NetNs::process(const std::string& program, std::vector<std::string> args,
                       Options options) const {
    if (!ok()) {
        ADD_FAILURE() << name_ << ": no namespace to run " << program << " in";
        return Process("false", {}, plain());
    }
    std::vector<std::string> command = enter_command();
    command.push_back(program);
    command.insert(command.end(), args.begin(), args.end());
    std::string nsenter = command.front();
    command.erase(command.begin());
    return Process(nsenter, std::move(command), std::move(options));
}

Result NetNs::run(const std::string& program, std::vector<std::string> args,
                  std::string_view stdin_data, Deadline deadline, Options options) const {
    Process p = process(program, std::move(args), std::move(options));
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

bool NetNs::ip(std::vector<std::string> args) const {
    std::string shown = "ip " + join(args);
    Result r = run("ip", std::move(args), {}, Deadline(), plain());
    if (r.exit_code() == 0) return true;
    ADD_FAILURE() << name_ << ": " << shown << ": "
                  << (r.timed_out ? "did not finish" : describe_status(r.status)) << ": "
                  << first_line(r.err);
    return false;
}

bool NetNs::sysctl(std::string_view key, std::string_view value) const {
    std::string path(key);
    if (path.find('/') == std::string::npos) std::replace(path.begin(), path.end(), '.', '/');
    path = "/proc/sys/" + path;
    Result r = run("sh", {"-c", "echo \"$1\" > \"$2\"", "sh", std::string(value), path}, {},
                   Deadline(), plain());
    if (r.exit_code() == 0) return true;
    ADD_FAILURE() << name_ << ": cannot write " << value << " to " << path << ": "
                  << first_line(r.err);
    return false;
}

std::string NetNs::new_device_name() {
    return "veth" + std::to_string(next_device_++);
}

// ---- veth ----------------------------------------------------------------------------------

namespace {

// Waits until DEV in NS is operationally up with its real queueing discipline.  `ip link set
// up` returns before the kernel's link watcher has seen the carrier; until then the device
// has the "noop" qdisc, which drops every packet sent through it.
bool wait_link_up(const NetNs& ns, const std::string& dev) {
    Deadline deadline;
    std::string last;
    for (;;) {
        Result r = ns.run("ip", {"-o", "link", "show", "dev", dev}, {}, deadline, plain());
        last = r.out + r.err;
        if (r.exit_code() == 0 && last.find("state UP") != std::string::npos &&
            last.find("qdisc noop") == std::string::npos)
            return true;
        if (deadline.expired()) break;
        // Polling a kernel state, not sleeping for synchronisation: bounded by the deadline.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ADD_FAILURE() << ns.name() << ": " << dev << " did not come up: " << last;
    return false;
}

}  // namespace

Veth link(NetNs& a, const std::string& a_cidr, NetNs& b, const std::string& b_cidr) {
    if (!a.ok() || !b.ok()) {
        ADD_FAILURE() << "link: a namespace is missing";
        return {};
    }
    Veth v{a.new_device_name(), b.new_device_name()};
    // Created inside A with its peer placed straight into B: neither end ever exists in the
    // host's own namespace.
    bool ok = a.ip({"link", "add", v.dev_a, "type", "veth", "peer", "name", v.dev_b, "netns",
                    std::to_string(b.holder_pid())}) &&
              a.ip({"addr", "add", a_cidr, "brd", "+", "dev", v.dev_a}) &&
              b.ip({"addr", "add", b_cidr, "brd", "+", "dev", v.dev_b}) &&
              a.ip({"link", "set", v.dev_a, "up"}) && b.ip({"link", "set", v.dev_b, "up"}) &&
              wait_link_up(a, v.dev_a) && wait_link_up(b, v.dev_b);
    if (!ok) return {};
    return v;
}

std::string lose_packets_on_lo(const NetNs& ns) {
    if (!ns.ok()) return "no namespace";
    Result which = run("sh", {"-c", "command -v tc"});
    if (which.exit_code() != 0) return "tc (iproute2) is not installed";
    if (!ns.ip({"link", "set", "lo", "mtu", "1500"})) return "ip link set lo mtu 1500 failed";
    Result tc = ns.run("tc", {"qdisc", "add", "dev", "lo", "root", "tbf", "rate", "20mbit", "burst",
                              "3000", "limit", "6000"});
    if (tc.exit_code() != 0) return "tc qdisc add ... tbf failed: " + tc.err;
    return "";
}

long lo_dropped(const NetNs& ns) {
    Result tc = ns.run("tc", {"-s", "qdisc", "show", "dev", "lo"});
    std::smatch m;
    if (tc.exit_code() != 0 || !std::regex_search(tc.out, m, std::regex(R"(dropped (\d+))")))
        return -1;
    return std::stol(m[1]);
}

long snmp_counter(const NetNs& ns, const std::string& group, const std::string& name) {
    // Two lines per group: "Tcp: RtoAlgorithm ... RetransSegs ..." then "Tcp: 1 ... 775 ...".
    Result snmp = ns.run("cat", {"/proc/net/snmp"});
    std::istringstream in(snmp.out);
    std::string names, values;
    while (std::getline(in, names) && std::getline(in, values)) {
        if (names.rfind(group + ":", 0) != 0) continue;
        std::istringstream n(names), v(values);
        std::string key, value;
        while (n >> key && v >> value)
            if (key == name) return std::stol(value);
    }
    return -1;
}

}  // namespace harness
