// tests/support/wire.cpp — parsing tcp_watch's lines; starting it and collecting them.
#include "wire.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace harness {

namespace {

// A whole decimal number no larger than MAX.
std::optional<uint64_t> number(std::string_view text, uint64_t max) {
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty() || value > max)
        return std::nullopt;
    return value;
}

}  // namespace

std::optional<Segment> parse_segment(std::string_view line) {
    std::vector<std::string> t;
    std::istringstream in{std::string(line)};
    for (std::string word; in >> word;)
        t.push_back(word);
    if (t.size() < 7 || t[2] != ">") return std::nullopt;

    Segment s;
    s.line = std::string(line);
    char* end = nullptr;
    s.time = std::strtod(t[0].c_str(), &end);
    if (end == t[0].c_str() || *end != '\0' || s.time < 0) return std::nullopt;
    s.src = t[1];
    s.dst = t[3];

    if (t[4] == "UDP") {
        auto length = t.size() == 7 && t[5] == "length" ? number(t[6], 65535) : std::nullopt;
        if (!length) return std::nullopt;
        s.udp = true;
        s.length = *length;
        return s;
    }

    if (t[4].size() < 3 || t[4].front() != '[' || t[4].back() != ']') return std::nullopt;
    s.flags = t[4].substr(1, t[4].size() - 2);
    if (s.flags == "none") s.flags.clear();
    if (s.flags.find_first_not_of("FSRP.UEW") != std::string::npos) return std::nullopt;

    constexpr uint64_t k32 = std::numeric_limits<uint32_t>::max();
    bool have_seq = false, have_win = false, have_length = false;
    if ((t.size() - 5) % 2 != 0) return std::nullopt;  // "name value" pairs
    for (size_t i = 5; i + 1 < t.size(); i += 2) {
        const std::string& name = t[i];
        std::optional<uint64_t> v;
        if (name == "seq" && !have_seq && (v = number(t[i + 1], k32))) {
            s.seq = static_cast<uint32_t>(*v);
            have_seq = true;
        } else if (name == "ack" && !s.ack && (v = number(t[i + 1], k32))) {
            s.ack = static_cast<uint32_t>(*v);
        } else if (name == "win" && !have_win && (v = number(t[i + 1], 65535))) {
            s.win = static_cast<uint32_t>(*v);
            have_win = true;
        } else if (name == "length" && !have_length && (v = number(t[i + 1], k32))) {
            s.length = *v;
            have_length = true;
        } else if (name == "mss" && !s.mss && (v = number(t[i + 1], 65535))) {
            s.mss = static_cast<int>(*v);
        } else if (name == "wscale" && !s.wscale && (v = number(t[i + 1], 255))) {
            s.wscale = static_cast<int>(*v);
        } else {
            return std::nullopt;
        }
    }
    if (!have_seq || !have_win || !have_length) return std::nullopt;
    if (s.has('.') != s.ack.has_value()) return std::nullopt;  // ack is printed with ACK only
    return s;
}

Process start_watch(const NetNs& ns, const std::string& program, int port,
                    std::vector<std::string> args) {
    args.insert(args.begin(), {"--port", std::to_string(port)});
    Process watcher = ns.process(program, args);
    std::string want = "watching lo port " + std::to_string(port);
    auto line = watcher.read_line();
    EXPECT_EQ(line, want) << ns.name() << ": tcp_watch is not watching: " << watcher.err();
    return watcher;
}

std::vector<Segment> watched(Process& watcher, Deadline deadline) {
    std::vector<Segment> segs;
    auto status = watcher.finish(deadline);
    EXPECT_TRUE(status && exited_with(*status, 0))
        << "tcp_watch: " << (status ? describe_status(*status) : "still running at the deadline")
        << "\nstderr: " << watcher.err() << "\nstdout:\n"
        << watcher.out();
    EXPECT_EQ(watcher.err(), "");
    for (const std::string& l : lines(watcher.out())) {
        if (l.starts_with("watching lo")) continue;
        auto s = parse_segment(l);
        EXPECT_TRUE(s) << "tcp_watch printed a line that does not parse: " << l;
        if (s) segs.push_back(*s);
    }
    return segs;
}

std::string describe_segments(const std::vector<Segment>& segs) {
    if (segs.empty()) return "(none)";
    std::string text;
    for (const Segment& s : segs)
        text += s.line + "\n";
    return text;
}

}  // namespace harness
