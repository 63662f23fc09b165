// ch11 — pipes between processes (book ch. 11), run as real processes.
//
// What these tests prove:
// - pipe1: the child writes into fds[1], the parent reads from fds[0] (descriptors 3 and 4)
//   and then sees end of file.
// - pipe2 (one pipe, both directions): whenever the parent is late, the child reads its own
//   message back — whatever the child's sleep; run normally it ends in one of its two
//   documented outcomes and never hangs.  pipe3 (one pipe per direction) exchanges correctly,
//   also with a slow parent.
// - echo_storeserv (and pipe_store_server, where a test says so): 5 concurrent clients x 200 lines,
// sent in pieces that cut lines anywhere,
//   are echoed byte-exact and FILE holds exactly those 1,000 lines, each intact, in each
//   client's order; a line of PIPE_BUF - 1 bytes is kept whole, longer ones are stored in
//   pieces as documented; a client that resets its connection loses no line it sent (its
//   partial last line included), and the same with socat as the client; the writer outlives
//   the server while a client process holds a write end, and ends when the last one closes;
//   if the writer dies, the server stops and no unstored line is echoed; Ctrl-C (SIGINT to
//   the process group) loses nothing already in the pipe; one process per client and no
//   zombie after 20 clients leave at once (/proc); strace shows who closes which descriptor
//   and one write() per line into the pipe; bad usage, a bad port and an unwritable FILE
//   give one line and the right exit status.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "kit.hpp"
#include "proc.hpp"

namespace {

using namespace std::chrono_literals;
using harness::children_of;
using harness::Deadline;
using harness::Process;

// ---- Helpers (general: the lead may move them into the harness) ------------------------

// Waits until the file at PATH holds at least N complete lines (inotify tells us when it
// changes; every wait is bounded by DEADLINE).  Returns its complete lines, without '\n'.
std::vector<std::string> wait_for_file_lines(const std::string& path, size_t n,
                                             Deadline deadline = {}) {
    common::Fd watch(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (watch && inotify_add_watch(watch.get(), path.c_str(), IN_MODIFY) == -1) watch.reset();
    for (;;) {
        std::string text = harness::read_file(path);
        text.resize(text.rfind('\n') + 1);  // complete lines only (npos + 1 == 0)
        if (size_t(std::count(text.begin(), text.end(), '\n')) >= n || deadline.expired())
            return harness::lines(text);
        pollfd p{.fd = watch.get(), .events = POLLIN, .revents = 0};
        // Without inotify (or no file yet), look again every 10 ms, still within the deadline.
        poll(&p, 1, watch ? deadline.ms_left() : std::min(deadline.ms_left(), 10));
        char events[4096];
        while (watch && read(watch.get(), events, sizeof events) > 0) {
        }
    }
}

// Is a TCP socket listening on PORT (any address)?  /proc/net/tcp{,6} list
// "sl local_address rem_address st ...", the address as hex "0100007F:A11F", LISTEN is 0A.
bool listening_on(int port) {
    char suffix[8];
    snprintf(suffix, sizeof suffix, ":%04X", port);
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::istringstream in(harness::read_file(table));
        std::string line, sl, local, remote, state;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            if (fields >> sl >> local >> remote >> state && state == "0A" &&
                local.ends_with(suffix))
                return true;
        }
    }
    return false;
}

// Sends TEXT in pieces of varying size (cutting lines anywhere) from a second thread while
// this one reads the echo; returns the echo (or what had come at the deadline).
std::string echo_in_pieces(int fd, const std::string& text, unsigned seed) {
    int on = 1;  // send each piece at once, as its own segment
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    bool sent = true;
    std::thread sender([&] {
        unsigned i = seed;
        for (size_t off = 0; sent && off < text.size();) {
            size_t piece = std::min<size_t>(text.size() - off, 1 + (i++ * 7919u) % 2500);
            sent = harness::send_all(fd, std::string_view(text).substr(off, piece));
            off += piece;
        }
    });
    std::string partial;
    auto echo = harness::recv_exact(fd, text.size(), Deadline(60s), &partial);
    sender.join();
    EXPECT_TRUE(sent) << "could not send everything";
    return echo.value_or(partial);
}

// Line I of client K: "c3 l017 " and a filler of 0 to 2999 letters (below PIPE_BUF).
std::string client_line(int k, int i) {
    char head[32];
    snprintf(head, sizeof head, "c%d l%03d ", k, i);
    std::string line = head;
    size_t len = static_cast<size_t>(i * 131 + k * 977) % 3000;
    for (size_t j = 0; j < len; ++j)
        line += static_cast<char>('a' + (j + static_cast<size_t>(i + k)) % 26);
    return line;
}

std::string join_lines(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& l : lines)
        text += l + "\n";
    return text;
}

std::string writer_done(size_t lines, const std::string& file) {
    return "writer: end of pipe: " + std::to_string(lines) + " lines appended to " + file;
}

// Starts PROGRAM (the lesson echo_storeserv, or pipe_store_server) on FILE; *port is 0 if it
// did not get ready.
Process start_store(const std::string& file, int* port,
                    harness::Options options = harness::Options{},
                    const char* program = PROG_echo_storeserv) {
    Process server(program, {"0", file}, std::move(options));
    *port = server.wait_ready();
    return server;
}

// ---- pipe1, pipe2, pipe3 ------------------------------------------------------------------

TEST(Ch11Pipe, Pipe1ChildWritesParentReadsThenEndOfFile) {
    auto r = harness::run(PROG_pipe1, {});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    auto out = harness::lines(r.out);
    ASSERT_EQ(out.size(), 5u) << r.out;
    // The harness starts programs with descriptors 0-2 only: the pipe gets 3 and 4.
    EXPECT_EQ(out[0], "pipe: fds[0] = 3 is the read end, fds[1] = 4 is the write end");
    EXPECT_EQ(out[1], "child: writes \"Who are you?\" into fds[1]");
    EXPECT_EQ(out[2], "parent: read \"Who are you?\" from fds[0]");
    EXPECT_EQ(out[3], "parent: read() returned 0: end of file, no write end is open any more");
    EXPECT_TRUE(std::regex_match(out[4], std::regex("parent: child [0-9]+ exited with status 0")))
        << out[4];
}

const std::string kExchanged =  // the book's output: pipe3 always, pipe2 usually
    "Parent proc output: Who are you?\n"
    "Child proc output: Thank you for your message\n";
const std::string kRaceLost =  // pipe2 when the child reads first
    "Child proc output: Who are you?\n"
    "child: that is my own message: I read it back before the parent did\n"
    "parent: nothing to read: the child took its own message (without a time limit, read() "
    "would wait forever)\n";

TEST(Ch11Pipe, Pipe2LosesTheRaceWheneverTheParentIsLateWhateverTheSleep) {
    // --slow-parent: the parent reads only after the child has ended — deterministic.
    for (std::vector<std::string> args :
         {std::vector<std::string>{"--slow-parent"}, {"--slow-parent", "--sleep", "0"}}) {
        auto r = harness::run(PROG_pipe2, args);
        EXPECT_EQ(r.exit_code(), 0) << r.err;
        EXPECT_EQ(r.out, kRaceLost) << args.size();
    }
}

TEST(Ch11Pipe, Pipe2EndsInOneOfItsTwoDocumentedOutcomesAndNeverHangs) {
    // Which one depends on the scheduler: both are documented, and both end in bounded time.
    for (std::vector<std::string> args :
         {std::vector<std::string>{}, std::vector<std::string>{"--sleep", "0"}}) {
        auto r = harness::run(PROG_pipe2, args, {}, Deadline(20s));
        EXPECT_FALSE(r.timed_out);
        EXPECT_EQ(r.exit_code(), 0) << r.err;
        EXPECT_TRUE(r.out == kExchanged || r.out == kRaceLost) << r.out;
    }
}

TEST(Ch11Pipe, Pipe3ExchangesCorrectlyEvenWithASlowParent) {
    for (std::vector<std::string> args :
         {std::vector<std::string>{}, std::vector<std::string>{"--slow-parent"}}) {
        auto r = harness::run(PROG_pipe3, args);
        EXPECT_EQ(r.exit_code(), 0) << r.err;
        EXPECT_EQ(r.out, kExchanged);
    }
}

// The README: "The kernel buffer holds 64 KiB on Linux (fcntl(fd, F_GETPIPE_SZ))", and
// write() blocks while it is full.  A non-blocking write end takes exactly 65,536 bytes;
// the next byte would block (EAGAIN) until a reader makes room.
TEST(Ch11Pipe, PipeHolds64KiBThenAWriterWouldBlock) {
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0) << strerror(errno);
    common::Fd rd(fds[0]), wr(fds[1]);
    EXPECT_EQ(fcntl(wr.get(), F_GETPIPE_SZ), 65536);
    const std::string block(4096, 'p');
    size_t written = 0;
    for (int i = 0; i < 64; ++i) {  // bounded: 64 x 4 KiB
        ssize_t n = write(wr.get(), block.data(), block.size());
        if (n == -1) break;
        written += static_cast<size_t>(n);
    }
    EXPECT_EQ(written, 65536u);
    errno = 0;
    EXPECT_EQ(write(wr.get(), "x", 1), -1);
    EXPECT_EQ(errno, EAGAIN) << strerror(errno);
    char buf[4096];
    EXPECT_EQ(read(rd.get(), buf, sizeof buf), 4096);  // a reader makes room ...
    EXPECT_EQ(write(wr.get(), "x", 1), 1);             // ... and the writer goes on
}

TEST(Ch11Pipe, BadUsageIsOneLineAndStatus2) {
    harness::expect_usage_errors({
        {PROG_pipe1, {"x"}, 2, "usage: pipe1 (no arguments)\n"},
        {PROG_pipe2, {"--sleep"}, 2, "usage: pipe2 [--sleep N] [--slow-parent]\n"},
        {PROG_pipe2, {"--sleep", "11"}, 2, "pipe2: invalid --sleep '11' (expected 0 to 10)\n"},
        {PROG_pipe2, {"--fast"}, 2, "usage: pipe2 [--sleep N] [--slow-parent]\n"},
        {PROG_pipe3, {"--slow-parent", "x"}, 2, "usage: pipe3 [--slow-parent]\n"},
        {PROG_echo_storeserv, {}, 2, "usage: echo_storeserv PORT FILE\n"},
        {PROG_echo_storeserv, {"0"}, 2, "usage: echo_storeserv PORT FILE\n"},
        {PROG_pipe_store_server, {}, 2, "usage: pipe_store_server PORT FILE\n"},
        {PROG_pipe_store_server, {"0"}, 2, "usage: pipe_store_server PORT FILE\n"},
    });
}

// ---- echo_storeserv, the lesson (Ch11Store), and pipe_store_server, the same idea made to
// ---- hold load (Ch11StoreServer) --------------------------------------------------------

TEST(Ch11Store, BadPortAndUnwritableFileAreOneLineAndNoFileIsCreated) {
    for (const char* program : {PROG_echo_storeserv, PROG_pipe_store_server}) {
        const std::string name = std::filesystem::path(program).filename();
        harness::TempDir dir;
        auto r = harness::run(program, {"70000", dir.file("f.txt")});
        EXPECT_EQ(r.exit_code(), 2);
        EXPECT_EQ(r.err, name + ": invalid port '70000': out of range (expected 0 to 65535)\n");
        EXPECT_FALSE(std::filesystem::exists(dir.file("f.txt")));

        std::string bad = dir.file("no/such/dir/f.txt");
        r = harness::run(program, {"0", bad});
        EXPECT_EQ(r.exit_code(), 1);
        EXPECT_EQ(r.err, name + ": open " + bad + ": No such file or directory\n");
        EXPECT_EQ(r.out, "");  // it stopped before it listened
    }
}

// Both programs: the lesson stores as intactly as the real server.
TEST(Ch11Store, FiveConcurrentClientsTimes200LinesAreStoredExactlyAndIntact) {
    for (const char* program : {PROG_echo_storeserv, PROG_pipe_store_server}) {
        SCOPED_TRACE(program);
        harness::TempDir dir;
        std::string file = dir.file("store.txt");
        int port = 0;
        Process server = start_store(file, &port, {}, program);
        ASSERT_GT(port, 0);
        constexpr int kClients = 5, kLines = 200;

        std::vector<common::Fd> socks;
        std::vector<std::vector<std::string>> sent(kClients);
        for (int k = 0; k < kClients; ++k) {
            socks.push_back(harness::connect_tcp("127.0.0.1", port));
            ASSERT_TRUE(socks.back()) << strerror(errno);
            for (int i = 0; i < kLines; ++i)
                sent[size_t(k)].push_back(client_line(k, i));
        }
        // All five are connected, each to its own client process, before anyone sends.
        for (int k = 1; k <= kClients; ++k)
            ASSERT_TRUE(server.wait_for_line("client " + std::to_string(k) + " connected"));

        std::vector<std::string> echoes(kClients);
        std::vector<std::thread> clients;
        for (int k = 0; k < kClients; ++k)
            clients.emplace_back([&, k] {
                echoes[size_t(k)] = echo_in_pieces(socks[size_t(k)].get(),
                                                   join_lines(sent[size_t(k)]), unsigned(k) + 1);
            });
        for (auto& t : clients)
            t.join();
        for (int k = 0; k < kClients; ++k)
            EXPECT_TRUE(echoes[size_t(k)] == join_lines(sent[size_t(k)])) << "client " << k;
        socks.clear();  // all five leave

        auto stored = wait_for_file_lines(file, kClients * kLines, Deadline(30s));
        ASSERT_EQ(stored.size(), size_t(kClients * kLines));
        // Each client's lines, whole and in the order it sent them; no line that is anyone else's.
        size_t accounted = 0;
        for (int k = 0; k < kClients; ++k) {
            std::string prefix = "c" + std::to_string(k) + " ";
            std::vector<std::string> mine;
            std::copy_if(stored.begin(), stored.end(), std::back_inserter(mine),
                         [&](const std::string& l) { return l.starts_with(prefix); });
            EXPECT_TRUE(mine == sent[size_t(k)]) << "client " << k << ": lines mixed or lost";
            accounted += mine.size();
        }
        EXPECT_EQ(accounted, stored.size());

        // Exactly 1,000: every client process passed 200 lines, and once the server is stopped
        // the writer reports the final count.
        for (int k = 0; k < kClients; ++k) {
            auto line = server.wait_for_line(" disconnected: ");
            ASSERT_TRUE(line);
            EXPECT_TRUE(line->ends_with(": 200 lines passed to the writer")) << *line;
        }
        kill(-server.pid(), SIGTERM);  // the whole process group, as a service manager would
        auto status = server.finish(Deadline(20s));
        ASSERT_TRUE(status) << "the writer did not end";
        EXPECT_NE(server.out().find(writer_done(1000, file)), std::string::npos) << server.out();
        EXPECT_EQ(wait_for_file_lines(file, 0).size(), 1000u);
    }
}

TEST(Ch11Store, ALineOfPipeBufMinusOneIsKeptWholeLongerLinesAreStoredInPieces) {
    harness::TempDir dir;
    std::string file = dir.file("store.txt");
    int port = 0;
    Process server = start_store(file, &port);
    ASSERT_GT(port, 0);
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);

    // PIPE_BUF is 4096 on Linux: a line of 4095 bytes and its '\n' go in one atomic write.
    std::string text = std::string(4095, 'A') + "\n" + std::string(10000, 'B') + "\n" +
                       std::string(4096, 'C') + "\n";
    EXPECT_TRUE(echo_in_pieces(fd.get(), text, 3) == text) << "echo differs";
    fd.reset();

    auto stored = wait_for_file_lines(file, 6, Deadline(20s));
    std::vector<std::string> expected = {std::string(4095, 'A'), std::string(4095, 'B'),
                                         std::string(4095, 'B'), std::string(1810, 'B'),
                                         std::string(4095, 'C'), "C"};
    EXPECT_TRUE(stored == expected) << stored.size() << " lines";
    for (int i = 0; i < 2; ++i)  // one note for each long line
        EXPECT_EQ(server.read_err_line(),
                  "echo_storeserv: client 1: a line longer than 4095 bytes is stored in pieces");
    EXPECT_TRUE(server.wait_for_line("client 1 disconnected: 6 lines passed to the writer"));
}

TEST(Ch11StoreServer, AClientThatResetsItsConnectionLosesNoLineItSent) {
    harness::TempDir dir;
    std::string file = dir.file("store.txt");
    int port = 0;
    Process server = start_store(file, &port, {}, PROG_pipe_store_server);
    ASSERT_GT(port, 0);
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    ASSERT_TRUE(server.wait_for_line("client 1 connected"));

    std::vector<std::string> lines;
    for (int i = 0; i < 100; ++i)
        lines.push_back(client_line(7, i).substr(0, 90));
    std::string text = join_lines(lines) + "half a line, then the reset";
    ASSERT_TRUE(harness::send_all(fd.get(), text));
    // Close with RST at once (SO_LINGER 0), without reading a byte of the echo.
    linger reset{.l_onoff = 1, .l_linger = 0};
    ASSERT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
    fd.reset();

    lines.push_back("half a line, then the reset");  // stored as a line of its own
    auto stored = wait_for_file_lines(file, lines.size(), Deadline(20s));
    EXPECT_TRUE(stored == lines) << stored.size() << " of " << lines.size() << " lines";
    EXPECT_TRUE(server.wait_for_line("client 1 disconnected: 101 lines passed to the writer"));

    // The server goes on: the next client is echoed and stored.
    common::Fd next = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(next) << strerror(errno);
    ASSERT_TRUE(harness::send_all(next.get(), "next client\n"));
    EXPECT_EQ(harness::recv_exact(next.get(), 12), "next client\n");
    EXPECT_EQ(wait_for_file_lines(file, 102).back(), "next client");
}

TEST(Ch11Store, SocatClientIsEchoedAndItsPartialLastLineIsStored) {
    SOCKLAB_REQUIRE_TOOL("socat");
    harness::TempDir dir;
    std::string file = dir.file("store.txt");
    int port = 0;
    Process server = start_store(file, &port);
    ASSERT_GT(port, 0);

    // socat sends its stdin, half-closes at end of input, and prints what comes back.
    std::string input = "first line\nsecond line\nno newline at the end";
    auto r =
        harness::run("socat", {"-t", "30", "-", "TCP:127.0.0.1:" + std::to_string(port)}, input);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, input);
    EXPECT_EQ(wait_for_file_lines(file, 3),
              (std::vector<std::string>{"first line", "second line", "no newline at the end"}));
    EXPECT_EQ(harness::read_file(file), input + "\n");
}

TEST(Ch11Store, TheWriterOutlivesTheServerUntilTheLastWriteEndCloses) {
    harness::TempDir dir;
    std::string file = dir.file("store.txt");
    int port = 0;
    Process server = start_store(file, &port);
    ASSERT_GT(port, 0);
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    ASSERT_TRUE(harness::send_all(fd.get(), "before\n"));
    ASSERT_EQ(harness::recv_exact(fd.get(), 7), "before\n");

    server.signal(SIGTERM);  // the server process only: its client process and the writer stay
    auto status = server.wait_exit();
    ASSERT_TRUE(status);
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGTERM)
        << harness::describe_status(*status);
    // No new client: the listening socket is gone, so no other process kept a copy of it.
    // No new client: once the server's exit has closed its descriptors (the kernel may finish
    // that just after the exit is reported), nobody listens on the port — no other process
    // kept a copy of the listening socket.
    Deadline deadline(10s);
    while (listening_on(port) && !deadline.expired()) {
        std::this_thread::sleep_for(1ms);  // polling /proc: a wait on a state, bounded
    }
    EXPECT_FALSE(listening_on(port));
    errno = 0;
    EXPECT_FALSE(harness::connect_tcp("127.0.0.1", port));
    EXPECT_EQ(errno, ECONNREFUSED);

    // The client process still holds a write end: its lines are echoed and stored.
    ASSERT_TRUE(harness::send_all(fd.get(), "after the server\n"));
    EXPECT_EQ(harness::recv_exact(fd.get(), 17), "after the server\n");
    EXPECT_EQ(wait_for_file_lines(file, 2),
              (std::vector<std::string>{"before", "after the server"}));

    fd.reset();  // the client leaves: its process closes the last write end
    ASSERT_TRUE(server.finish(Deadline(20s))) << "the writer did not end";
    EXPECT_NE(server.out().find(writer_done(2, file)), std::string::npos) << server.out();
}

TEST(Ch11StoreServer, IfTheWriterDiesTheServerStopsAndEchoesNoLineItCannotStore) {
    harness::TempDir dir;
    std::string file = dir.file("store.txt");
    int port = 0;
    Process server = start_store(file, &port, {}, PROG_pipe_store_server);
    ASSERT_GT(port, 0);
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    ASSERT_TRUE(harness::send_all(fd.get(), "stored\n"));
    ASSERT_EQ(harness::recv_exact(fd.get(), 7), "stored\n");
    ASSERT_EQ(wait_for_file_lines(file, 1).size(), 1u);  // the writer has stored it

    // Two children now: the writer (forked first, lower pid) and client 1's process.
    auto children = children_of(server.pid());
    ASSERT_EQ(children.size(), 2u);
    pid_t writer = std::min(children[0].pid, children[1].pid);
    ASSERT_EQ(kill(writer, SIGKILL), 0);

    // The server notices (SIGCHLD) and stops with one line and status 1.
    auto status = server.wait_exit();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 1)) << harness::describe_status(*status);
    EXPECT_NE(server.err().find("pipe_store_server: the writer process has ended; stopping\n"),
              std::string::npos)
        << server.err();
    // Client 1's process finds no reader left (EPIPE): it stops before it echoes the line.
    ASSERT_TRUE(harness::send_all(fd.get(), "not stored\n"));
    auto end = harness::recv_to_end(fd.get());
    EXPECT_EQ(end.data, "");
    EXPECT_NE(end.end, harness::End::kDeadline);
    EXPECT_EQ(harness::read_file(file), "stored\n");
}

// Killing the writer must stop the server promptly whatever the timing: also when a client
// connects right after the kill, and however the SIGCHLD falls between the server's steps.
TEST(Ch11StoreServer, KillingTheWriterStopsTheServerPromptlyWhateverTheTiming) {
    for (int round = 0; round < 20; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        const bool late_client = round % 2 == 1;
        harness::TempDir dir;
        std::string file = dir.file("store.txt");
        int port = 0;
        Process server = start_store(file, &port, {}, PROG_pipe_store_server);
        ASSERT_GT(port, 0);
        auto children = children_of(server.pid());
        ASSERT_EQ(children.size(), 1u) << "the writer";
        ASSERT_EQ(kill(children[0].pid, SIGKILL), 0);
        common::Fd late;
        if (late_client) {  // may be refused already, or be accepted just before the notice
            late = harness::connect_tcp("127.0.0.1", port);
            if (late) harness::send_all(late.get(), "late\n");
        }
        auto status = server.wait_exit(Deadline(5s));
        ASSERT_TRUE(status) << "the server did not notice the writer's death\n" << server.err();
        EXPECT_TRUE(harness::exited_with(*status, 1)) << harness::describe_status(*status);
        EXPECT_NE(server.err().find("pipe_store_server: the writer process has ended; stopping\n"),
                  std::string::npos)
            << server.err();
        if (late) {
            // Its line may have gone into the pipe before the writer was quite dead: then it
            // was echoed, and is lost with whatever else a killed writer had not read yet.  Its
            // next line finds no reader (EPIPE): the client process stops, the connection ends.
            harness::send_all(late.get(), "after\n");
            auto end = harness::recv_to_end(late.get());
            EXPECT_TRUE(end.data == "" || end.data == "late\n") << end.data;
            EXPECT_NE(end.end, harness::End::kDeadline);
        }
        std::string stored = harness::read_file(file);
        EXPECT_TRUE(stored == "" || stored == "late\n") << stored;
    }
}

// Why no timing can hide the writer's death: SIGCHLD is blocked all the time except inside
// ppoll(), which unblocks it and waits in one step.  So the handler runs only there, and
// the check after ppoll() sees what it did; the handler is in place before the writer exists.
TEST(Ch11StoreServer, StraceShowsSigchldIsHandledOnlyWhileItWaitsInPpoll) {
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::TempDir dir;
    std::string file = dir.file("store.txt"), trace = dir.file("trace");
    Process strace("strace",
                   {"-f", "-o", trace, "-e",
                    "trace=rt_sigaction,rt_sigprocmask,ppoll,accept,accept4,clone,clone3,fork",
                    "-e", "signal=SIGCHLD", PROG_pipe_store_server, "0", file},
                   harness::traced());
    int port = strace.wait_ready();
    ASSERT_GT(port, 0) << strace.err();
    auto traced = children_of(strace.pid());
    ASSERT_EQ(traced.size(), 1u);
    const pid_t server = traced[0].pid;
    for (int k = 1; k <= 2; ++k) {  // two clients come and go: two SIGCHLDs
        common::Fd fd = harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(fd) << strerror(errno);
        ASSERT_TRUE(harness::send_all(fd.get(), "line\n"));
        ASSERT_EQ(harness::recv_exact(fd.get(), 5), "line\n");
        fd.reset();
        ASSERT_TRUE(strace.wait_for_line("client " + std::to_string(k) + " disconnected"));
        ASSERT_TRUE(harness::wait_until([&] { return children_of(server).size() == 1; }));
    }
    ASSERT_EQ(kill(children_of(server)[0].pid, SIGKILL), 0);  // the writer: the third SIGCHLD
    ASSERT_TRUE(strace.finish(Deadline(20s))) << "strace did not end";
    EXPECT_NE(strace.err().find("the writer process has ended; stopping"), std::string::npos)
        << strace.err();

    std::vector<std::string> calls;  // the server's, in order
    for (const harness::SysCall& c : harness::strace_calls(harness::read_file(trace)))
        if (c.pid == server) calls.push_back(c.text);
    auto first = [&](const std::string& pattern) {
        return std::find_if(calls.begin(), calls.end(), [&](const std::string& c) {
            return std::regex_search(c, std::regex(pattern));
        });
    };
    auto fork = first(R"(^(clone|clone3|fork)\(.*SIGCHLD.*= \d+$)");
    ASSERT_NE(fork, calls.end()) << "no fork of the writer";
    EXPECT_LT(first(R"(^rt_sigaction\(SIGCHLD, \{sa_handler=0x)"), fork)
        << "the handler must be in place before the writer is forked";
    EXPECT_LT(first(R"(^rt_sigprocmask\(SIG_BLOCK, \[CHLD\])"), fork)
        << "SIGCHLD must be blocked before the writer is forked";
    // Signals are no calls (strace_calls() skips them): find them in the server's own lines,
    // and check the call that came right before each.
    std::vector<std::string> server_lines;
    for (const std::string& line : harness::lines(harness::read_file(trace)))
        if (line.starts_with(std::to_string(server) + " ")) server_lines.push_back(line);
    int signals = 0;
    std::string before;  // the server's lines before this one
    for (const std::string& line : server_lines) {
        if (line.find("--- SIGCHLD") != std::string::npos) {
            ++signals;
            auto calls_before = harness::strace_calls(before);
            ASSERT_FALSE(calls_before.empty());
            const std::string& prev = calls_before.back().text;
            EXPECT_TRUE(prev.starts_with("ppoll(") &&
                        prev.find("= ? ERESTARTNOHAND") != std::string::npos)
                << "SIGCHLD handled outside ppoll(), after: " << prev;
        }
        before += line + "\n";
    }
    EXPECT_EQ(signals, 3);
    for (const std::string& c : calls)
        EXPECT_FALSE(c.starts_with("accept") && c.find("= ?") != std::string::npos)
            << "accept() blocked: " << c;
}

// ---- Hostile clients and exhaustion ----------------------------------------------------

// True once the server is paused at a limit: in ppoll() without the listening socket (the
// second argument in /proc/PID/syscall, nfds, is 0), waiting for a child's end.
bool paused_at_the_limit(pid_t server) {
    return harness::wait_until([&] {
        std::istringstream in(harness::read_file("/proc/" + std::to_string(server) + "/syscall"));
        long nr = -1;
        std::string fds, nfds;
        return in >> nr >> fds >> nfds && nr == SYS_ppoll && std::stoul(nfds, nullptr, 16) == 0;
    });
}

TEST(Ch11StoreServer, AClientThatNeverReadsBlocksOnlyItsOwnProcess) {
    harness::TempDir dir;
    std::string file = dir.file("store.txt");
    int port = 0;
    Process server = start_store(file, &port, {}, PROG_pipe_store_server);
    ASSERT_GT(port, 0);
    common::Fd stuck = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(stuck) << strerror(errno);
    ASSERT_TRUE(server.wait_for_line("client 1 connected"));
    // Lines, sent without reading the echo until nothing more fits: the client process is
    // blocked writing the echo, and stops reading.
    const std::string line = std::string(999, 's') + "\n";
    size_t sent = 0;
    for (Deadline d; !d.expired();) {
        ssize_t n = send(stuck.get(), line.data() + sent % line.size(),
                         line.size() - sent % line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<size_t>(n);
            continue;
        }
        ASSERT_TRUE(n == -1 && (errno == EAGAIN || errno == EINTR)) << strerror(errno);
        pollfd p{stuck.get(), POLLOUT, 0};
        if (poll(&p, 1, 200) == 0) break;  // stalled: no room will come
    }
    ASSERT_GT(sent, size_t(64 << 10));

    // Meanwhile another client is echoed and stored.
    common::Fd other = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(other) << strerror(errno);
    ASSERT_TRUE(harness::send_all(other.get(), "other client\n"));
    EXPECT_EQ(harness::recv_exact(other.get(), 13), "other client\n");
    auto stored = wait_for_file_lines(file, 1);
    EXPECT_NE(std::find(stored.begin(), stored.end(), "other client"), stored.end());

    // The stuck client goes away (RST, unread echo): its process learns it and ends.
    stuck.reset();
    auto gone = server.wait_for_line("client 1 disconnected: ");
    ASSERT_TRUE(gone) << server.err();
    EXPECT_TRUE(server.running());
}

TEST(Ch11StoreServer, FiftyClientsStalledMidLineHoldOnlyTheirOwnProcesses) {
    harness::TempDir dir;
    std::string file = dir.file("store.txt");
    int port = 0;
    Process server = start_store(file, &port, {}, PROG_pipe_store_server);
    ASSERT_GT(port, 0);
    constexpr int kStalled = 50;
    std::vector<common::Fd> stalled;
    for (int k = 0; k < kStalled; ++k) {
        stalled.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(stalled.back()) << strerror(errno);
        std::string half = "client " + std::to_string(k) + " half";
        ASSERT_TRUE(harness::send_all(stalled.back().get(), half));
        ASSERT_EQ(harness::recv_exact(stalled.back().get(), half.size()), half);
    }
    // Another client is echoed and stored; the half lines wait in their own processes.
    common::Fd other = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(other) << strerror(errno);
    ASSERT_TRUE(harness::send_all(other.get(), "a whole line\n"));
    EXPECT_EQ(harness::recv_exact(other.get(), 13), "a whole line\n");
    EXPECT_EQ(wait_for_file_lines(file, 1), std::vector<std::string>{"a whole line"});
    EXPECT_EQ(children_of(server.pid()).size(), size_t(kStalled + 2));  // and the writer

    // Half of them finish their line, the others leave mid-line: all 50 lines are stored.
    for (int k = 0; k < kStalled; ++k) {
        if (k % 2 == 0) {
            ASSERT_TRUE(harness::send_all(stalled[size_t(k)].get(), " done\n"));
            ASSERT_EQ(harness::recv_exact(stalled[size_t(k)].get(), 6), " done\n");
        }
        stalled[size_t(k)].reset();
    }
    auto stored = wait_for_file_lines(file, kStalled + 1);
    ASSERT_EQ(stored.size(), size_t(kStalled + 1));
    std::sort(stored.begin() + 1, stored.end());
    std::vector<std::string> expected;
    for (int k = 0; k < kStalled; ++k)
        expected.push_back("client " + std::to_string(k) + " half" + (k % 2 == 0 ? " done" : ""));
    std::sort(expected.begin(), expected.end());
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), stored.begin() + 1));
}

TEST(Ch11StoreServer, ATricklingClientHoldsOnlyItsOwnProcess) {
    harness::TempDir dir;
    std::string file = dir.file("store.txt");
    int port = 0;
    Process server = start_store(file, &port, {}, PROG_pipe_store_server);
    ASSERT_GT(port, 0);
    common::Fd slow = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(slow) << strerror(errno);
    int on = 1;  // each byte its own segment
    setsockopt(slow.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    const std::string line = "one byte at a time\n";
    std::vector<std::string> expected;
    for (size_t i = 0; i < line.size(); ++i) {
        ASSERT_TRUE(harness::send_all(slow.get(), line.substr(i, 1)));
        ASSERT_EQ(harness::recv_exact(slow.get(), 1), line.substr(i, 1));
        if (i % 6 != 0 || i + 1 == line.size()) continue;
        // Between two of its bytes, another client comes, is echoed, stored, and leaves.
        std::string quick = "quick " + std::to_string(i) + "\n";
        common::Fd fd = harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(fd) << strerror(errno);
        ASSERT_TRUE(harness::send_all(fd.get(), quick));
        ASSERT_EQ(harness::recv_exact(fd.get(), quick.size()), quick);
        expected.push_back(quick.substr(0, quick.size() - 1));
        EXPECT_EQ(wait_for_file_lines(file, expected.size()), expected);
    }
    expected.push_back("one byte at a time");  // whole, after the others: no bytes mixed in
    EXPECT_EQ(wait_for_file_lines(file, expected.size()), expected);
}

TEST(Ch11StoreServer, A64MiBLineWithoutNewlineIsStoredInPiecesInBoundedMemory) {
    harness::TempDir dir;
    std::string file = dir.file("store.txt");
    int port = 0;
    Process server = start_store(file, &port, {}, PROG_pipe_store_server);
    ASSERT_GT(port, 0);
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    ASSERT_TRUE(server.wait_for_line("client 1 connected"));
    pid_t child = 0;
    for (const auto& c : children_of(server.pid()))
        child = std::max(child, c.pid);  // forked after the writer
    ASSERT_TRUE(harness::send_all(fd.get(), std::string(1 << 20, 'x')));
    ASSERT_TRUE(harness::recv_exact(fd.get(), 1 << 20));
    long hwm_before = harness::status_value(child, "VmHWM");

    constexpr size_t kSize = 64 << 20;
    std::string text(kSize - (1 << 20), '\0');
    for (size_t i = 0; i < text.size(); ++i)
        text[i] = static_cast<char>('a' + i % 26);
    bool sent = true;
    std::thread sender([&] { sent = harness::send_all(fd.get(), text, Deadline(120s)); });
    std::string partial;
    auto echo = harness::recv_exact(fd.get(), text.size(), Deadline(120s), &partial);
    sender.join();
    ASSERT_TRUE(sent);
    ASSERT_TRUE(echo) << partial.size() << " bytes echoed";
    EXPECT_TRUE(*echo == text) << harness::first_difference(*echo, text);
    long grown = harness::status_value(child, "VmHWM") - hwm_before;
    EXPECT_LT(grown, 2048) << "the client process's peak RSS grew by " << grown << " KiB";
    std::cout << "64 MiB line: the client process's peak RSS grew " << grown << " KiB (VmHWM "
              << harness::status_value(child, "VmHWM") << " KiB)\n";
    fd.reset();  // the last piece has no '\n': it is stored with one

    ASSERT_TRUE(server.wait_for_line("client 1 disconnected: 16389 lines passed to the writer"));
    EXPECT_EQ(server.read_err_line(),
              "pipe_store_server: client 1: a line longer than 4095 bytes is stored in pieces");
    // 64 MiB and 16389 '\n's: the size says when the writer is done (no re-reading per event).
    const uintmax_t stored_size = kSize + 16389;
    harness::wait_until([&] { return std::filesystem::file_size(file) >= stored_size; },
                        Deadline(60s));
    auto stored = harness::lines(harness::read_file(file));
    ASSERT_EQ(stored.size(), 16389u);
    for (size_t i = 0; i + 1 < stored.size(); ++i)
        ASSERT_EQ(stored[i].size(), 4095u) << "line " << i;
    EXPECT_EQ(stored.back().size(), kSize - 16388 * 4095);
}

// A pids cgroup with room for the server, the writer and 3 client processes only: fork()
// fails with EAGAIN.  That costs the one client (closed, one line on stderr); the clients
// after it wait in the backlog, without a busy loop, until a client process ends.
TEST(Ch11StoreServer, AtTheProcessLimitOneClientIsDroppedTheNextWaitUntilAClientLeaves) {
    harness::PidsCgroup cg(1000);
    if (!cg.ok()) GTEST_SKIP() << cg.why();
    harness::TempDir dir;
    std::string file = dir.file("store.txt");
    int port = 0;
    Process server = start_store(file, &port, {.cgroup = cg.path()}, PROG_pipe_store_server);
    ASSERT_GT(port, 0);
    constexpr int kServed = 3;
    std::vector<common::Fd> served;
    for (int k = 1; k <= kServed; ++k) {
        served.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(served.back()) << strerror(errno);
        ASSERT_TRUE(harness::send_all(served.back().get(), "served\n"));
        ASSERT_EQ(harness::recv_exact(served.back().get(), 7), "served\n");
    }
    const long full = cg.current();
    harness::write_file(cg.path() + "/pids.max", std::to_string(full));
    ASSERT_EQ(harness::read_file(cg.path() + "/pids.max"), std::to_string(full) + "\n");

    common::Fd dropped = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(dropped) << strerror(errno);
    ASSERT_TRUE(harness::send_all(dropped.get(), "dropped\n"));
    auto end = harness::recv_to_end(dropped.get());
    EXPECT_EQ(end.data, "");
    EXPECT_NE(end.end, harness::End::kDeadline) << "the client beyond the limit was not closed";
    EXPECT_EQ(server.read_err_line(),
              "pipe_store_server: fork: Resource temporarily unavailable: client 4 dropped; the "
              "next clients wait until a client process ends");
    EXPECT_GE(cg.denied(), 1);

    common::Fd waiting = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(waiting) << strerror(errno);
    ASSERT_TRUE(harness::send_all(waiting.get(), "waiting\n"));
    ASSERT_TRUE(paused_at_the_limit(server.pid())) << server.err();
    long ticks_before = harness::cpu_ticks(server.pid());
    EXPECT_EQ(server.read_err_line(Deadline(1s)), std::nullopt);  // timing is the lesson
    long ticks = harness::cpu_ticks(server.pid()) - ticks_before;
    EXPECT_LE(ticks, 5) << "a busy loop while it waits";
    pollfd p{waiting.get(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 0), 0) << "the waiting client was answered (or dropped) already";

    served[0].reset();  // one client leaves: its process ends and frees its place
    std::string partial;
    EXPECT_EQ(harness::recv_exact(waiting.get(), 8, {}, &partial), "waiting\n") << partial;
    EXPECT_TRUE(server.wait_for_line("client 5 connected")) << server.out();
    auto stored = wait_for_file_lines(file, kServed + 1);
    EXPECT_EQ(std::count(stored.begin(), stored.end(), "dropped"), 0);
    EXPECT_EQ(stored.back(), "waiting");
}

// The server holds 0-2, the listening socket and the pipe's write end, whatever the number of
// clients: it closes each client's socket after fork(), and each client process has its own
// table.  So `prlimit --nofile=32` does not limit the clients.  accept() fails with EMFILE
// only if no slot is free at all: here the test lowers the running server's limit to 3.  It
// must wait without spinning, say so once, and resume when a descriptor is free again.
TEST(Ch11StoreServer, AtTheDescriptorLimitItWaitsWithoutSpinningAndResumes) {
    SOCKLAB_REQUIRE_TOOL("prlimit");
    harness::TempDir dir;
    std::string file = dir.file("store.txt");
    Process server("prlimit", {"--nofile=32:32", "--", PROG_pipe_store_server, "0", file});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    constexpr int kServed = 40;  // more than the limit
    std::vector<common::Fd> served;
    for (int k = 0; k < kServed; ++k) {
        served.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(served.back()) << strerror(errno);
        ASSERT_TRUE(harness::send_all(served.back().get(), "served\n"));
    }
    for (auto& fd : served)
        ASSERT_EQ(harness::recv_exact(fd.get(), 7), "served\n");

    // Soft limit 3: a new descriptor needs a free number below 3, and 0-2 are open.  (The
    // hard limit stays: raising it again would need CAP_SYS_RESOURCE.)
    rlimit none{3, 32};
    ASSERT_EQ(prlimit(server.pid(), RLIMIT_NOFILE, &none, nullptr), 0) << strerror(errno);
    constexpr int kWaiting = 4;
    std::vector<common::Fd> waiting;
    for (int k = 0; k < kWaiting; ++k) {
        waiting.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(waiting.back()) << strerror(errno);
        ASSERT_TRUE(harness::send_all(waiting.back().get(), "waiting\n"));
    }
    auto line = server.read_err_line();
    ASSERT_TRUE(line) << "no line about the limit";
    EXPECT_TRUE(line->starts_with("pipe_store_server: accept: Too many open files: ")) << *line;
    ASSERT_TRUE(paused_at_the_limit(server.pid())) << server.err();
    long ticks_before = harness::cpu_ticks(server.pid());
    EXPECT_EQ(server.read_err_line(Deadline(2s)), std::nullopt);  // said once
    long ticks = harness::cpu_ticks(server.pid()) - ticks_before;
    EXPECT_LE(ticks, 10) << "a busy loop while it cannot accept";
    for (auto& fd : waiting) {
        pollfd p{fd.get(), POLLIN, 0};
        EXPECT_EQ(poll(&p, 1, 0), 0) << "a waiting client was answered while at the limit";
    }
    ASSERT_TRUE(harness::send_all(served[7].get(), "still\n"));  // the client processes serve on
    EXPECT_EQ(harness::recv_exact(served[7].get(), 6), "still\n");

    rlimit back{32, 32};
    ASSERT_EQ(prlimit(server.pid(), RLIMIT_NOFILE, &back, nullptr), 0) << strerror(errno);
    for (auto& fd : waiting)
        EXPECT_EQ(harness::recv_exact(fd.get(), 8), "waiting\n");
    EXPECT_EQ(wait_for_file_lines(file, kServed + 1 + kWaiting).size(),
              size_t(kServed + 1 + kWaiting));
    server.signal(SIGTERM);
    ASSERT_TRUE(server.wait_exit());
    size_t said = 0;
    for (const std::string& l : harness::lines(server.err()))
        said += l.find("Too many open files") != std::string::npos;
    EXPECT_EQ(said, 1u) << server.err();
}

TEST(Ch11Store, CtrlCLosesNoLineAlreadyInThePipe) {
    // (The harness starts the server with SIGINT at its default action even if this test
    // was started with SIGINT ignored, as a background job is.)
    harness::TempDir dir;
    std::string file = dir.file("store.txt");
    int port = 0;
    Process server = start_store(file, &port);
    ASSERT_GT(port, 0);

    std::vector<common::Fd> socks;
    for (int k = 0; k < 3; ++k) {
        socks.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(socks.back()) << strerror(errno);
        std::vector<std::string> lines;
        for (int i = 0; i < 50; ++i)
            lines.push_back(client_line(k, i));
        // Echoed means stored first: each line is in the pipe (or FILE) once it comes back.
        std::string text = join_lines(lines);
        ASSERT_TRUE(echo_in_pieces(socks.back().get(), text, 9) == text);
    }
    // Ctrl-C in a terminal: SIGINT to the whole foreground process group.  The server and
    // its client processes end; the writer stores what is left in the pipe, then ends.
    kill(-server.pid(), SIGINT);
    auto status = server.finish(Deadline(20s));
    ASSERT_TRUE(status) << "the writer did not end";
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGINT)
        << harness::describe_status(*status);
    EXPECT_NE(server.out().find(writer_done(150, file)), std::string::npos) << server.out();
    EXPECT_EQ(wait_for_file_lines(file, 0).size(), 150u);
}

TEST(Ch11Store, OneProcessPerClientAndNoZombieAfterTwentyLeaveAtOnce) {
    harness::TempDir dir;
    std::string file = dir.file("store.txt");
    int port = 0;
    Process server = start_store(file, &port);
    ASSERT_GT(port, 0);

    constexpr int kClients = 20;
    std::vector<common::Fd> socks;
    for (int k = 0; k < kClients; ++k) {
        socks.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(socks.back()) << strerror(errno);
        std::string line = "client " + std::to_string(k) + "\n";
        ASSERT_TRUE(harness::send_all(socks.back().get(), line));
        ASSERT_EQ(harness::recv_exact(socks.back().get(), line.size()), line);
    }
    // 20 client processes and the writer, all alive (state S: asleep in read()).
    auto children = children_of(server.pid());
    EXPECT_EQ(children.size(), size_t(kClients + 1));
    for (const harness::ProcStat& c : children)
        EXPECT_NE(c.state, 'Z') << c.pid;

    socks.clear();  // all 20 leave at the same instant
    for (int k = 0; k < kClients; ++k)
        ASSERT_TRUE(server.wait_for_line(" disconnected: 1 lines passed to the writer"));
    // The SIGCHLD handler's waitpid loop reaps every one: only the writer remains.
    // (Polling /proc: a wait on a state, bounded; the assertion below says what was left.)
    harness::wait_until([&] { return children_of(server.pid()).size() == 1; }, Deadline(10s));
    children = children_of(server.pid());
    ASSERT_EQ(children.size(), 1u);
    EXPECT_NE(children[0].state, 'Z');
    EXPECT_EQ(wait_for_file_lines(file, kClients).size(), size_t(kClients));
    EXPECT_TRUE(server.running());
}

TEST(Ch11Store, StraceShowsWhoClosesWhatAndOneWritePerLineIntoThePipe) {
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::TempDir dir;
    std::string file = dir.file("store.txt"), trace = dir.file("trace");
    Process strace("strace",
                   {"-f", "-o", trace, "-s", "256", "-e",
                    "trace=listen,pipe,pipe2,accept,accept4,clone,clone3,fork,close,write",
                    PROG_echo_storeserv, "0", file},
                   harness::traced());
    int port = strace.wait_ready();
    ASSERT_GT(port, 0) << strace.err();

    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    // Three lines and a half arrive in one segment; the rest of the line comes later.
    ASSERT_TRUE(harness::send_all(fd.get(), "one\ntwo\nthree\nfo"));
    ASSERT_EQ(harness::recv_exact(fd.get(), 16), "one\ntwo\nthree\nfo");
    ASSERT_TRUE(harness::send_all(fd.get(), "ur\n"));
    ASSERT_EQ(harness::recv_exact(fd.get(), 3), "ur\n");
    fd.reset();
    ASSERT_EQ(wait_for_file_lines(file, 4).size(), 4u);

    // Stop the server (its pid is strace's child); the writer then ends, and so does strace.
    auto server = children_of(strace.pid());
    ASSERT_EQ(server.size(), 1u);
    kill(server[0].pid, SIGTERM);
    ASSERT_TRUE(strace.finish(Deadline(20s))) << "strace did not end";

    std::map<std::string, std::vector<std::string>> by_pid;  // each process's calls, in order
    std::string parent, listen_fd, pipe_r, pipe_w, client_fd;
    std::vector<std::string> forks;
    std::smatch m;
    for (const harness::SysCall& c : harness::strace_calls(harness::read_file(trace))) {
        const std::string pid = std::to_string(c.pid), &call = c.text;
        by_pid[pid].push_back(call);
        if (std::regex_search(call, m, std::regex(R"(^listen\((\d+),)"))) {
            parent = pid;
            listen_fd = m[1];
        } else if (pid != parent) {
            continue;
        } else if (std::regex_search(call, m, std::regex(R"(^pipe2?\(\[(\d+), (\d+)\])"))) {
            pipe_r = m[1];
            pipe_w = m[2];
        } else if (std::regex_search(call, m, std::regex(R"(^(clone|fork).* = (\d+)$)")) &&
                   call.find("CLONE_THREAD") == std::string::npos) {
            forks.push_back(m[2]);
        } else if (std::regex_search(call, m, std::regex(R"(^accept.* = (\d+)$)"))) {
            client_fd = m[1];
        }
    }
    ASSERT_FALSE(parent.empty()) << harness::read_file(trace);
    ASSERT_FALSE(pipe_w.empty()) << harness::read_file(trace);
    ASSERT_EQ(forks.size(), 2u) << "the writer and one client process";
    ASSERT_FALSE(client_fd.empty());
    auto has = [&](const std::string& pid, const std::string& call) {
        const auto& calls = by_pid[pid];
        return std::any_of(calls.begin(), calls.end(),
                           [&](const std::string& c) { return c.starts_with(call); });
    };
    const std::string& writer = forks[0];
    const std::string& child = forks[1];
    // The writer closes the listening socket and its write end (else it never sees EOF).
    EXPECT_TRUE(has(writer, "close(" + listen_fd + ")"));
    EXPECT_TRUE(has(writer, "close(" + pipe_w + ")"));
    // The server closes the read end, and the client socket after each fork.
    EXPECT_TRUE(has(parent, "close(" + pipe_r + ")"));
    EXPECT_TRUE(has(parent, "close(" + client_fd + ")"));
    // The client process closes the listening socket ...
    EXPECT_TRUE(has(child, "close(" + listen_fd + ")"));
    // ... and writes each whole line into the pipe with one write(), however it arrived.
    std::vector<std::string> pipe_writes;
    for (const std::string& c : by_pid[child])
        if (c.starts_with("write(" + pipe_w + ", ")) pipe_writes.push_back(c);
    ASSERT_EQ(pipe_writes.size(), 4u);
    EXPECT_EQ(pipe_writes[0], "write(" + pipe_w + ", \"one\\n\", 4) = 4");
    EXPECT_EQ(pipe_writes[1], "write(" + pipe_w + ", \"two\\n\", 4) = 4");
    EXPECT_EQ(pipe_writes[2], "write(" + pipe_w + ", \"three\\n\", 6) = 6");
    EXPECT_EQ(pipe_writes[3], "write(" + pipe_w + ", \"four\\n\", 5) = 5");
}

}  // namespace
