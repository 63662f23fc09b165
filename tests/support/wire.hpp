// tests/support/wire.hpp — what tcp_watch (ch04_tcp_echo) saw on the wire, as data a test can
// check: one Segment per line it printed.
//
// tcp_watch captures every frame on `lo`, so it runs inside a private network namespace
// (netns.hpp), where only the test's own programs send anything.  Typical use:
//
//     harness::NetNs ns("wire");
//     Process server = ns.process(PROG_hello_server, {"0"});
//     int port = server.wait_ready();
//     Process watch = harness::start_watch(ns, PROG_tcp_watch, port, {"--connections", "1"});
//     harness::Result client = ns.run(PROG_hello_client, {"127.0.0.1", std::to_string(port)});
//     std::vector<harness::Segment> segs = harness::watched(watch);
//     EXPECT_EQ(segs[0].dir(), "client > server");  EXPECT_EQ(segs[0].flags, "S");
//
// The watcher must be watching before the first packet of interest: start_watch returns once
// tcp_watch has printed its "watching lo ..." line, i.e. once its socket is bound to lo.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"
#include "netns.hpp"

namespace harness {

// One line of tcp_watch, e.g.
//   0.000010 server > client [S.] seq 0 ack 1 win 65483 length 0 mss 65495 wscale 10
//   0.000000 client > server UDP length 3
//   0.000000 127.0.0.1:40158 > 127.0.0.1:9190 [P.] seq 1 ack 1 win 512 length 12   (no --port)
struct Segment {
    double time = 0;              // seconds since the first line
    std::string src, dst;         // "client" / "server" with --port, else "ADDR:PORT"
    bool udp = false;             // a UDP datagram: only src, dst and length are set
    std::string flags;            // tcpdump's letters without brackets: "S", "S.", "P.", "R.", "F."
    uint32_t seq = 0;             // relative to the sender's first seq, or raw with --absolute
    std::optional<uint32_t> ack;  // only when the ACK flag is set
    uint32_t win = 0;             // the raw window field
    size_t length = 0;            // payload bytes
    std::optional<int> mss, wscale;  // SYN options
    std::string line;                // the whole line, for failure messages

    std::string dir() const { return src + " > " + dst; }  // "client > server"
    bool has(char flag) const { return flags.find(flag) != std::string::npos; }
    bool from_client() const { return src == "client"; }
    bool from_server() const { return src == "server"; }
};

// Parses one line of tcp_watch; nullopt for anything else (the "watching" line, garbage).
std::optional<Segment> parse_segment(std::string_view line);

// Starts PROGRAM (tcp_watch's path) inside NS as   tcp_watch --port PORT ARGS...   and waits
// for its "watching lo port PORT" line.  On failure records a test failure quoting stderr.
Process start_watch(const NetNs& ns, const std::string& program, int port,
                    std::vector<std::string> args = {});

// Waits for the watcher to exit by itself (--count or --connections) and returns every
// segment it printed.  Records a test failure if it does not exit 0 before the deadline, if
// it wrote to stderr, or if a line does not parse.
std::vector<Segment> watched(Process& watcher, Deadline deadline = {});

// The index of the first segment at or after FROM for which PRED holds; -1 if none.
template <class Pred>
int find_segment(const std::vector<Segment>& segs, Pred pred, int from = 0) {
    for (size_t i = static_cast<size_t>(from < 0 ? 0 : from); i < segs.size(); ++i)
        if (pred(segs[i])) return static_cast<int>(i);
    return -1;
}

// All the lines, one per line, for failure messages ("(none)" when empty).
std::string describe_segments(const std::vector<Segment>& segs);

}  // namespace harness
