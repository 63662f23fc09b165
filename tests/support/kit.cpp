#include "kit.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <regex>

#include "harness.hpp"

namespace harness {

common::Fd connect_small_rcvbuf(int port, int rcvbuf, int sndbuf) {
    common::Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!fd || setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == -1 ||
        (sndbuf > 0 && setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) == -1) ||
        connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == -1) {
        ADD_FAILURE() << "connect to port " << port << ": " << strerror(errno);
        fd.reset();
    }
    return fd;
}

std::vector<SysCall> strace_calls(const std::string& output) {
    static const std::regex with_pid(R"(^(\d+) +(.*)$)");
    static const std::regex resumed(R"(^<\.\.\. \w+ resumed>)");
    static const std::regex call(R"(^(\w+)\((-?\d+)?.*\) += (-?\d+|\?)(.*)$)");
    static const std::regex padding(R"(\) += )");
    std::vector<SysCall> calls;
    std::map<pid_t, std::string> unfinished;
    std::smatch m;
    for (const std::string& line : lines(output)) {
        pid_t pid = 0;
        std::string text = line;
        if (std::regex_match(line, m, with_pid)) {
            pid = std::stoi(m[1]);
            text = m[2];
        }
        if (text.ends_with(" <unfinished ...>")) {
            unfinished[pid] = text.substr(0, text.size() - 17);
            continue;
        }
        if (std::regex_search(text, m, resumed)) {
            text = unfinished[pid] + m.suffix().str();
            unfinished.erase(pid);
        }
        text = std::regex_replace(text, padding, ") = ");
        if (!std::regex_match(text, m, call)) continue;
        calls.push_back({pid, m[1], m[2].matched ? std::stoi(m[2]) : -1, m[3], text});
    }
    return calls;
}

std::map<pid_t, std::vector<SysCall>> strace_ff(const TempDir& dir, const std::string& prefix) {
    std::map<pid_t, std::vector<SysCall>> traces;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
        std::string name = entry.path().filename();
        if (!name.starts_with(prefix + ".")) continue;
        pid_t pid = std::stoi(name.substr(prefix.size() + 1));
        traces[pid] = strace_calls(read_file(entry.path()));
        for (SysCall& c : traces[pid])
            c.pid = pid;
    }
    return traces;
}

std::string sanitizer_report(const std::string& err) {
    for (const char* mark :
         {"ThreadSanitizer", "AddressSanitizer", "LeakSanitizer", "runtime error:"}) {
        auto at = err.find(mark);
        if (at != std::string::npos) return err.substr(at > 200 ? at - 200 : 0, 3000);
    }
    return "";
}

void expect_usage_errors(const std::vector<UsageCase>& cases) {
    for (const UsageCase& c : cases) {
        std::string shown = c.program.substr(c.program.rfind('/') + 1);
        for (const std::string& a : c.args)
            shown += " '" + a + "'";
        Result r = run(c.program, c.args);
        EXPECT_EQ(r.exit_code(), c.status) << shown << "\n" << r.err;
        EXPECT_EQ(r.err, c.err) << shown;
        EXPECT_EQ(r.out, "") << shown;
    }
}

}  // namespace harness
