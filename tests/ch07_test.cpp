// ch07 — half-close with shutdown() (book ch. 7): file_server and file_client as real
// processes over loopback, and the test itself as a client where it must watch the wire.
//
// What these tests prove: files of 0 bytes, 1 byte and 10 MiB of random data arrive
// byte-identical (sha256sum), behind their 8-byte size; after its shutdown(SHUT_WR) the server
// still reads the client's "Thank you", and the four-way close goes through FIN_WAIT2 (server) /
// CLOSE_WAIT (client) to TIME_WAIT on the server's side; with --close the same message is lost
// and answered with a reset, while the data written right before close() still arrives whole;
// input left unread at close() turns the close into a reset; SHUT_WR, SHUT_RD and SHUT_RDWR do
// what the README says on Linux; strace shows shutdown(fd, SHUT_WR), and with --close no
// shutdown at all; a client that disconnects mid-file stops neither server; one that never
// reads, never ends its stream, or trickles does not stop bounded_file_server (--timeout-ms,
// --deadline-ms), nor does the descriptor limit; the server SIGKILLed anywhere in a transfer never
// leaves a complete-looking OUTFILE (end of stream is not proof of completion: the size is);
// file_client keeps only what the size proves complete; socat as client and as server; IPv6; a
// missing or unreadable FILE fails before listening; bad usage, refused connections, unknown hosts
// and an uncreatable OUTFILE give one line and the right exit status.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kit.hpp"
#include "proc.hpp"

namespace {

using namespace std::chrono_literals;
using harness::Deadline;
using harness::local_port;
using harness::Process;
using harness::wait_until;

constexpr size_t kTenMiB = 10 << 20;

// ---- The protocol: an 8-byte size (network byte order), then the file, then FIN ----------

std::string size_header(uint64_t size) {
    std::string h(8, '\0');
    for (int i = 7; i >= 0; --i, size >>= 8)
        h[static_cast<size_t>(i)] = static_cast<char>(size & 0xff);
    return h;
}

// What file_server sends for a file with CONTENT: its size, then its bytes.
std::string framed(const std::string& content) {
    return size_header(content.size()) + content;
}

// The names in directory DIR (sorted), e.g. to check that file_client left nothing behind.
std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// The lowest descriptor number that process PID does not use: the one its next socket gets.
int lowest_free_fd(pid_t pid) {
    const std::string dir = "/proc/" + std::to_string(pid) + "/fd/";
    int fd = 0;
    struct stat st;
    while (fd < 65536 && lstat((dir + std::to_string(fd)).c_str(), &st) == 0)
        ++fd;
    return fd;
}

// The size of file_client's partial file (OUTFILE.part-XXXXXX) in DIR; -1 while there is none.
long partial_size(const std::string& dir) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        if (e.path().filename().string().find(".part-") == std::string::npos) continue;
        auto size = std::filesystem::file_size(e.path(), ec);
        return ec ? -1 : static_cast<long>(size);
    }
    return -1;
}

// SHA-256 of a file, computed by coreutils' sha256sum (a digest we did not write).
std::string sha256_of(const std::string& path) {
    auto r = harness::run("sha256sum", {path});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    return r.out.substr(0, 64);
}

// ---- TCP state, seen from the test (general helpers: the lead may move them) -----------

// Our own socket's TCP state (TCP_ESTABLISHED, TCP_CLOSE_WAIT, ...; see netinet/tcp.h).
int tcp_state(int fd) {
    tcp_info info{};
    socklen_t len = sizeof info;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == -1) return -1;
    return info.tcpi_state;
}

// The state of the IPv4 connection LOCAL_PORT -> REMOTE_PORT in /proc/net/tcp, as its hex
// code ("05" FIN_WAIT2, "06" TIME_WAIT, ...), or "" if there is none.  The table lists
// "sl local_address rem_address st ..." with addresses as hex "0100007F:A11F".
std::string proc_tcp_state(int local_port_, int remote_port) {
    char local_suffix[8], remote_suffix[8];
    snprintf(local_suffix, sizeof local_suffix, ":%04X", local_port_);
    snprintf(remote_suffix, sizeof remote_suffix, ":%04X", remote_port);
    std::ifstream in("/proc/net/tcp");
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string sl, local, remote, state;
        fields >> sl >> local >> remote >> state;
        if (local.ends_with(local_suffix) && remote.ends_with(remote_suffix)) return state;
    }
    return "";
}

// Bytes we sent that the peer has not acknowledged yet (SIOCOUTQ).  0: all of it is in the
// peer's input buffer.
int unacknowledged(int fd) {
    int n = -1;
    ioctl(fd, SIOCOUTQ, &n);
    return n;
}

// Starts PROGRAM (the lesson file_server, or bounded_file_server) on FILE with extra ARGS and
// returns it; *port gets its port.
Process start_server(const std::string& file, std::vector<std::string> args, int* port,
                     harness::Options options = {}, const char* program = PROG_file_server) {
    args.insert(args.begin(), {"0", file});
    Process server(program, args, options);
    *port = server.wait_ready();
    return server;
}

// Runs file_client against PORT into OUTFILE and checks its exit and output.
void run_file_client(int port, const std::string& outfile, size_t size,
                     const std::string& host = "127.0.0.1") {
    auto r =
        harness::run(PROG_file_client, {host, std::to_string(port), outfile}, {}, Deadline(60s));
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, "Received file data: " + std::to_string(size) + " bytes -> " + outfile +
                         "\nSent: Thank you\n");
    EXPECT_EQ(r.err, "");
}

// The server's four lines for client N that received SIZE bytes and said "Thank you".
void expect_half_close_log(Process& server, int n, size_t size) {
    std::string c = "client " + std::to_string(n);
    auto connected = server.read_line();
    ASSERT_TRUE(connected) << server.err();
    EXPECT_TRUE(connected->starts_with(c + " connected from ")) << *connected;
    EXPECT_EQ(server.read_line(),
              c + ": sent " + std::to_string(size) + " bytes, shutdown(SHUT_WR)");
    EXPECT_EQ(server.read_line(), "Message from client: Thank you");
    EXPECT_EQ(server.read_line(), c + ": end of stream after 9 bytes, closed");
}

// ---- Half-close: the file arrives whole, and the answer after it -------------------------

TEST(Ch07HalfClose, TenMiBOfRandomDataArrivesByteIdentical) {
    harness::TempDir dir;
    std::string file = dir.file("ten.bin"), out = dir.file("ten.out");
    harness::write_file(file, harness::random_bytes(kTenMiB, 7));
    int port;
    Process server = start_server(file, {}, &port);
    ASSERT_GT(port, 0);
    run_file_client(port, out, kTenMiB);
    EXPECT_EQ(sha256_of(out), sha256_of(file));
    expect_half_close_log(server, 1, kTenMiB);
}

TEST(Ch07HalfClose, EmptyAndOneByteFilesArriveToo) {
    for (const std::string& content : {std::string(), std::string("\xff", 1)}) {
        harness::TempDir dir;
        std::string file = dir.file("in"), out = dir.file("out");
        harness::write_file(file, content);
        int port;
        Process server = start_server(file, {}, &port);
        ASSERT_GT(port, 0);
        run_file_client(port, out, content.size());
        EXPECT_EQ(harness::read_file(out), content);
        EXPECT_EQ(sha256_of(out), sha256_of(file));
        expect_half_close_log(server, 1, content.size());
    }
}

TEST(Ch07HalfClose, ServerReadsTheAnswerSentAfterItsFinAndTheCloseTakesFourSteps) {
    harness::TempDir dir;
    const std::string content = "the whole file";
    harness::write_file(dir.file("f"), content);
    int port;
    Process server = start_server(dir.file("f"), {}, &port);
    ASSERT_GT(port, 0);
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    const int me = local_port(fd.get());

    // 1-2. The server's FIN (its shutdown) ends our stream: we have the whole file, behind
    // its size ...
    harness::Received got = harness::recv_to_end(fd.get());
    EXPECT_EQ(got.data, framed(content));
    ASSERT_EQ(got.end, harness::End::kFin);
    // ... and the connection is only half closed: we are in CLOSE_WAIT, the server waits in
    // FIN_WAIT2 for our FIN, still able to read.
    EXPECT_EQ(tcp_state(fd.get()), TCP_CLOSE_WAIT);
    EXPECT_TRUE(wait_until([&] { return proc_tcp_state(port, me) == "05"; }))
        << "server side: " << proc_tcp_state(port, me) << ", expected 05 (FIN_WAIT2)";
    auto connected = server.read_line();
    ASSERT_TRUE(connected);
    EXPECT_EQ(server.read_line(), "client 1: sent 14 bytes, shutdown(SHUT_WR)");

    // 3. We answer after the FIN, and close: the server reads it, then our end of stream.
    ASSERT_TRUE(harness::send_all(fd.get(), "Thank you"));
    fd.reset();
    EXPECT_EQ(server.read_line(), "Message from client: Thank you");
    EXPECT_EQ(server.read_line(), "client 1: end of stream after 9 bytes, closed");
    // 4. The server closed first (active close), so its side ends in TIME_WAIT.
    EXPECT_TRUE(wait_until([&] { return proc_tcp_state(port, me) == "06"; }))
        << "server side: " << proc_tcp_state(port, me) << ", expected 06 (TIME_WAIT)";
}

// ---- close() instead of shutdown(): what is lost, what is not ------------------------------

TEST(Ch07Close, TheAnswerIsLostAndAnsweredWithAReset) {
    harness::TempDir dir;
    std::string file = dir.file("f"), content = harness::random_bytes(1 << 20, 8);
    harness::write_file(file, content);
    int port;
    Process server = start_server(file, {"--close"}, &port);
    ASSERT_GT(port, 0);

    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    harness::Received got = harness::recv_to_end(fd.get());
    EXPECT_TRUE(got.data == framed(content)) << got.data.size() << " bytes";
    ASSERT_EQ(got.end, harness::End::kFin);  // the FIN looks the same as after shutdown()
    ASSERT_TRUE(server.read_line());         // "client 1 connected from ..."
    EXPECT_EQ(server.read_line(), "client 1: sent 1048576 bytes, close()");

    // Our send() succeeds (the bytes are only queued), but they reach a socket that nobody
    // can read any more, and its kernel answers with RST.  Having received the FIN already,
    // Linux reports that reset as EPIPE, and the connection is gone (TCP_CLOSE).
    ASSERT_EQ(send(fd.get(), "Thank you", 9, MSG_NOSIGNAL), 9);
    pollfd p{fd.get(), 0, 0};  // no events asked for: wait for POLLHUP / POLLERR only
    ASSERT_EQ(poll(&p, 1, Deadline().ms_left()), 1) << "no reset came";
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    EXPECT_EQ(err, EPIPE) << strerror(err);
    EXPECT_EQ(tcp_state(fd.get()), TCP_CLOSE);
    fd.reset();

    // file_client gets the same treatment: it cannot tell (its write() succeeded), but the
    // server never prints its message.  The next line is client 3's arrival.
    run_file_client(port, dir.file("out"), content.size());
    EXPECT_EQ(sha256_of(dir.file("out")), sha256_of(file));
    auto two = server.read_line();
    ASSERT_TRUE(two);
    EXPECT_TRUE(two->starts_with("client 2 connected from ")) << *two;
    EXPECT_EQ(server.read_line(), "client 2: sent 1048576 bytes, close()");
    common::Fd three = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(three);
    auto next = server.read_line();
    ASSERT_TRUE(next);
    EXPECT_TRUE(next->starts_with("client 3 connected from ")) << *next;
    EXPECT_EQ(server.out().find("Message from client"), std::string::npos) << server.out();
}

TEST(Ch07Close, DataWrittenRightBeforeCloseStillArrivesWhole) {
    // The server's last write() returns as soon as the bytes are in its output buffer, and
    // close() follows at once, with megabytes still queued.  They are sent all the same.
    harness::TempDir dir;
    std::string file = dir.file("ten.bin"), out = dir.file("ten.out");
    harness::write_file(file, harness::random_bytes(kTenMiB, 9));
    int port;
    Process server = start_server(file, {"--close"}, &port);
    ASSERT_GT(port, 0);
    run_file_client(port, out, kTenMiB);
    EXPECT_EQ(sha256_of(out), sha256_of(file));
    ASSERT_TRUE(server.read_line());
    EXPECT_EQ(server.read_line(), "client 1: sent 10485760 bytes, close()");
}

TEST(Ch07Close, InputLeftUnreadTurnsCloseIntoAReset) {
    harness::TempDir dir;
    std::string file = dir.file("ten.bin"), content = harness::random_bytes(kTenMiB, 10);
    harness::write_file(file, content);
    for (bool close_mode : {true, false}) {
        SCOPED_TRACE(close_mode ? "--close" : "shutdown");
        int port;
        Process server = start_server(
            file, close_mode ? std::vector<std::string>{"--close"} : std::vector<std::string>{},
            &port);
        ASSERT_GT(port, 0);
        // We speak first, and read nothing until the server's kernel has acknowledged our
        // bytes: they are in the server's input buffer.  With our receive buffer fixed at
        // 64 KiB the server cannot finish writing 10 MiB (let alone close) before we read.
        common::Fd fd = harness::connect_small_rcvbuf(port, 64 << 10);
        ASSERT_TRUE(fd);
        ASSERT_TRUE(harness::send_all(fd.get(), "too early"));
        ASSERT_TRUE(wait_until([&] { return unacknowledged(fd.get()) == 0; }));

        const std::string sent = framed(content);
        harness::Received got = harness::recv_to_end(fd.get(), Deadline(60s));
        ASSERT_LE(got.data.size(), sent.size());
        EXPECT_TRUE(got.data == sent.substr(0, got.data.size())) << "not a prefix";
        if (close_mode) {
            // close() with unread input: RST at once instead of FIN, and whatever was still
            // in the server's output buffer is thrown away (often part of the file).
            EXPECT_EQ(got.end, harness::End::kReset);
            std::printf("  --close with unread input: %zu of %zu bytes arrived, then RST\n",
                        got.data.size(), content.size());
        } else {
            // shutdown(SHUT_WR) closes only the output: the whole file, FIN, and then the
            // server reads our early message.
            EXPECT_EQ(got.end, harness::End::kFin);
            EXPECT_EQ(got.data.size(), sent.size());
            fd.reset();  // our end of stream: now the server prints what it read
            EXPECT_TRUE(server.wait_for_line("Message from client: too early"));
        }
    }
}

// ---- shutdown()'s three modes, as the README describes them (Linux, test sockets) -------

struct Pair {
    common::Fd a, b;  // two ends of one loopback connection
};

Pair connected_pair() {
    Pair p;
    harness::Listener listener = harness::listen_loopback();
    p.a = harness::connect_tcp("127.0.0.1", listener.port);
    p.b = harness::accept_within(listener.fd.get());
    EXPECT_TRUE(p.a && p.b) << strerror(errno);
    return p;
}

TEST(Ch07ShutdownModes, ShutWrSendsFinAndKeepsTheInputOpen) {
    Pair p = connected_pair();
    ASSERT_TRUE(harness::send_all(p.a.get(), "last words"));
    ASSERT_EQ(shutdown(p.a.get(), SHUT_WR), 0);
    harness::Received got = harness::recv_to_end(p.b.get());  // queued data first, then FIN
    EXPECT_EQ(got.data, "last words");
    EXPECT_EQ(got.end, harness::End::kFin);
    EXPECT_EQ(send(p.a.get(), "x", 1, MSG_NOSIGNAL), -1);  // our output is closed ...
    EXPECT_EQ(errno, EPIPE);
    ASSERT_TRUE(harness::send_all(p.b.get(), "reply"));  // ... our input is not
    EXPECT_EQ(harness::recv_exact(p.a.get(), 5), "reply");
}

TEST(Ch07ShutdownModes, ShutRdSendsNothingAndOnLinuxStillDeliversData) {
    Pair p = connected_pair();
    ASSERT_TRUE(harness::send_all(p.b.get(), "before"));
    ASSERT_EQ(harness::recv_exact(p.a.get(), 1), "b");  // it has arrived
    ASSERT_EQ(shutdown(p.a.get(), SHUT_RD), 0);
    // Nothing goes to the peer: a round trip still works and the peer's side stays
    // ESTABLISHED (a FIN would have put it in CLOSE_WAIT).
    ASSERT_TRUE(harness::send_all(p.a.get(), "ping"));
    EXPECT_EQ(harness::recv_exact(p.b.get(), 4), "ping");
    EXPECT_EQ(tcp_state(p.b.get()), TCP_ESTABLISHED);
    // Linux does not throw input away: what was queued, and what arrives later, is read.
    EXPECT_EQ(harness::recv_exact(p.a.get(), 5), "efore");
    ASSERT_TRUE(harness::send_all(p.b.get(), "after"));
    EXPECT_EQ(harness::recv_exact(p.a.get(), 5), "after");
    // With nothing queued, read() returns 0 at once instead of blocking.
    pollfd pfd{p.a.get(), POLLIN, 0};
    ASSERT_EQ(poll(&pfd, 1, Deadline().ms_left()), 1);
    char c;
    EXPECT_EQ(recv(p.a.get(), &c, 1, MSG_DONTWAIT), 0);
}

TEST(Ch07ShutdownModes, ShutRdwrActsOnTheConnectionCloseOnlyOnTheDescriptor) {
    // shutdown() acts on the connection, whichever descriptor names it: a dup() of it is
    // cut off too, and the descriptor itself stays open.
    {
        Pair p = connected_pair();
        common::Fd copy(dup(p.a.get()));
        ASSERT_EQ(shutdown(p.a.get(), SHUT_RDWR), 0);
        EXPECT_EQ(harness::recv_to_end(p.b.get()).end, harness::End::kFin);
        EXPECT_EQ(send(copy.get(), "x", 1, MSG_NOSIGNAL), -1);
        EXPECT_EQ(errno, EPIPE);
        char c;
        EXPECT_EQ(recv(copy.get(), &c, 1, MSG_DONTWAIT), 0);
        EXPECT_NE(fcntl(p.a.get(), F_GETFD), -1);  // still an open descriptor
    }
    // close() releases one descriptor; the connection ends only with the last one (ch10's
    // fork()ed servers depend on this).
    {
        Pair p = connected_pair();
        common::Fd copy(dup(p.a.get()));
        p.a.reset();  // close()
        ASSERT_TRUE(harness::send_all(copy.get(), "still here"));
        EXPECT_EQ(harness::recv_exact(p.b.get(), 10), "still here");
        EXPECT_EQ(tcp_state(p.b.get()), TCP_ESTABLISHED);
    }
}

// ---- bounded_file_server: the same idea, made to hold load: it survives its clients ------

// Both servers: the lesson ignores SIGPIPE too.
TEST(Ch07BoundedServer, ClientThatDisconnectsMidFileDoesNotStopTheServer) {
    for (const char* program : {PROG_bounded_file_server, PROG_file_server}) {
        SCOPED_TRACE(program);
        const std::string name = std::filesystem::path(program).filename();
        harness::TempDir dir;
        std::string file = dir.file("ten.bin");
        harness::write_file(file, harness::random_bytes(kTenMiB, 11));
        int port;
        Process server = start_server(file, {}, &port, {}, program);
        ASSERT_GT(port, 0);

        // Client 1 reads 64 KiB, then resets the connection (SO_LINGER {on, 0}: RST, not FIN).
        common::Fd fd = harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(fd) << strerror(errno);
        ASSERT_TRUE(harness::recv_exact(fd.get(), 64 << 10));
        linger abort{.l_onoff = 1, .l_linger = 0};
        ASSERT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
        fd.reset();
        // The server's next write() fails (ECONNRESET, or EPIPE if it comes later): one line.
        auto warning = server.read_err_line();
        ASSERT_TRUE(warning);
        EXPECT_TRUE(std::regex_match(
            *warning, std::regex(name + R"(: client 1: send after \d+ bytes: )"
                                        R"((Connection reset by peer|Broken pipe))")))
            << *warning;

        // Client 2 gets the whole file.
        run_file_client(port, dir.file("out"), kTenMiB);
        EXPECT_EQ(sha256_of(dir.file("out")), sha256_of(file));
        EXPECT_TRUE(server.wait_for_line("client 2: end of stream after 9 bytes, closed"));
        EXPECT_TRUE(server.running());
    }
}

TEST(Ch07BoundedServer, AClientResetInTheBacklogCostsOneLine) {
    harness::TempDir dir;
    std::string file = dir.file("f");
    harness::write_file(file, harness::random_bytes(1 << 20, 20));
    int port;
    Process server = start_server(file, {}, &port, {}, PROG_bounded_file_server);
    ASSERT_GT(port, 0);
    // The server stopped, client 1 connects (the kernel completes the handshake and queues
    // it) and resets the connection before it is accepted.  Linux still hands it to
    // accept(); the first send() on it fails.
    server.signal(SIGSTOP);
    ASSERT_TRUE(harness::wait_until([&] {
        auto st = harness::proc_stat(server.pid());
        return st && st->state == 'T';
    }));
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    linger abort{.l_onoff = 1, .l_linger = 0};
    ASSERT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
    fd.reset();
    server.signal(SIGCONT);
    auto warning = server.read_err_line();
    ASSERT_TRUE(warning);
    EXPECT_TRUE(
        std::regex_match(*warning, std::regex(R"(bounded_file_server: client 1: send after 0 )"
                                              R"(bytes: (Connection reset by peer|)"
                                              R"(Broken pipe))")))
        << *warning;
    run_file_client(port, dir.file("out"), 1 << 20);
    EXPECT_EQ(sha256_of(dir.file("out")), sha256_of(file));
    EXPECT_TRUE(server.wait_for_line("client 2: end of stream after 9 bytes, closed"));
}

TEST(Ch07BoundedServer, StalledClientsAreDroppedAfterTheTimeout) {
    harness::TempDir dir;
    std::string file = dir.file("ten.bin");
    harness::write_file(file, harness::random_bytes(kTenMiB, 12));
    // The timeout is per read()/write(): long enough that a reader which is merely slow
    // (a loaded machine) is not dropped while it reads 10 MiB.
    const std::string ms = std::to_string(harness::scaled(1000ms).count());
    int port;
    Process server = start_server(file, {"--timeout-ms", ms}, &port, {}, PROG_bounded_file_server);
    ASSERT_GT(port, 0);

    // Client 1 never reads: the server's write() blocks on a full buffer until SO_SNDTIMEO.
    common::Fd never_reads = harness::connect_small_rcvbuf(port, 64 << 10);
    ASSERT_TRUE(never_reads);
    EXPECT_EQ(server.read_err_line(Deadline(20s)),
              "bounded_file_server: client 1: not reading for " + ms + " ms, closing");

    // Client 2 reads the file but never ends its stream: SO_RCVTIMEO.
    common::Fd never_ends = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(never_ends) << strerror(errno);
    harness::Received got = harness::recv_to_end(never_ends.get(), Deadline(60s));
    EXPECT_EQ(got.data.size(), 8 + kTenMiB);
    EXPECT_EQ(got.end, harness::End::kFin);
    EXPECT_EQ(server.read_err_line(Deadline(20s)),
              "bounded_file_server: client 2: no end of stream for " + ms + " ms, closing");

    // Client 3 is served normally.
    run_file_client(port, dir.file("out"), kTenMiB);
    EXPECT_EQ(sha256_of(dir.file("out")), sha256_of(file));
    EXPECT_TRUE(server.wait_for_line("client 3: end of stream after 9 bytes, closed"));
}

TEST(Ch07BoundedServer, TricklingClientsAreDroppedAtTheDeadlineAndTheNextGetsTheWholeFile) {
    harness::TempDir dir;
    std::string file = dir.file("ten.bin");
    harness::write_file(file, harness::random_bytes(kTenMiB, 17));
    const std::chrono::milliseconds deadline = harness::scaled(2000ms);
    const std::string ms = std::to_string(deadline.count());
    // --timeout-ms 0: no limit on a single read() or write() (the book's way): each of these
    // clients makes some progress all the time, and only the deadline of the whole exchange
    // can stop it.
    int port;
    Process server = start_server(file, {"--timeout-ms", "0", "--deadline-ms", ms}, &port, {},
                                  PROG_bounded_file_server);
    ASSERT_GT(port, 0);

    struct Trickler {
        std::string name;
        std::string line;  // the server's line about it (a regex)
    };
    const std::vector<Trickler> tricklers = {
        // Reads 4 KiB every 100 ms through a 64 KiB receive buffer: the 10 MiB cannot hide
        // in buffers (at most 4 MiB on the server's side), the server is still sending.
        {"slow reader", "deadline of " + ms + R"( ms passed after \d+ of 10485760 bytes, closing)"},
        // Reads the file, then says "Thank you" one byte every 300 ms, never ending it.
        {"trickled answer",
         "deadline of " + ms + R"( ms passed with no end of stream after \d+ bytes, closing)"},
        // Reads the file, then floods its answer without end (a 64 MiB "line").
        {"endless answer",
         "deadline of " + ms + R"( ms passed with no end of stream after \d+ bytes, closing)"},
    };
    int n = 0;
    for (const Trickler& t : tricklers) {
        SCOPED_TRACE(t.name);
        ++n;
        const auto start = harness::Clock::now();
        common::Fd fd = n == 1 ? harness::connect_small_rcvbuf(port, 64 << 10)
                               : harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(fd) << strerror(errno);
        if (n > 1) {
            harness::Received got = harness::recv_to_end(fd.get(), Deadline(60s));
            ASSERT_EQ(got.data.size(), 8 + kTenMiB);
            ASSERT_EQ(got.end, harness::End::kFin);
        }
        // The client's pace is the lesson here: a step, then up to one pace waiting for the
        // server's verdict.
        const std::string flood(64 << 10, 'x');
        std::optional<std::string> verdict;
        for (size_t step = 0; !verdict && harness::Clock::now() - start < harness::scaled(30s);
             ++step) {
            char buf[4096];
            if (n == 1)
                (void)recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
            else if (n == 2)
                (void)send(fd.get(), &"Thank you "[step % 10], 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            else
                (void)send(fd.get(), flood.data(), flood.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            verdict = server.read_err_line(Deadline(n == 1 ? 100ms : n == 2 ? 300ms : 1ms));
        }
        const auto took = harness::Clock::now() - start;
        ASSERT_TRUE(verdict) << "still not dropped after 30 s";
        EXPECT_TRUE(std::regex_match(*verdict, std::regex("bounded_file_server: client " +
                                                          std::to_string(n) + ": " + t.line)))
            << *verdict;
        // The deadline runs from accept(), after our connect(): never earlier than that.
        EXPECT_GE(took, deadline);
        EXPECT_LE(took, deadline + harness::scaled(1500ms))
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
        fd.reset();
    }
    // The next client is served, byte-exact.
    run_file_client(port, dir.file("out"), kTenMiB);
    EXPECT_EQ(sha256_of(dir.file("out")), sha256_of(file));
    EXPECT_TRUE(server.wait_for_line("client 4: end of stream after 9 bytes, closed"));
    EXPECT_TRUE(server.running());
}

TEST(Ch07BoundedServer, AtTheDescriptorLimitItWaitsWithoutSpinningAndServesOnceItCan) {
    harness::TempDir dir;
    std::string file = dir.file("f");
    harness::write_file(file, harness::random_bytes(1 << 20, 18));
    int port;
    Process server = start_server(file, {}, &port, {}, PROG_bounded_file_server);
    ASSERT_GT(port, 0);
    // Once the server waits in accept(), its soft limit goes down to its lowest free descriptor
    // number.  accept() takes its descriptor when it is called, so the call under way still
    // succeeds (client 1); the next one fails at once with EMFILE, client or not.  (An
    // iterative server has no client whose leaving would free a descriptor; the limit coming
    // back up stands for ENFILE or ENOMEM passing.)
    ASSERT_TRUE(harness::wait_until([&] {
        long call = harness::current_syscall(server.pid());
        return call == SYS_accept || call == SYS_accept4;
    }));
    const int lowest_free = lowest_free_fd(server.pid());
    ASSERT_GT(lowest_free, 2);
    rlimit old{};
    ASSERT_EQ(prlimit(server.pid(), RLIMIT_NOFILE, nullptr, &old), 0) << strerror(errno);
    rlimit tight{static_cast<rlim_t>(lowest_free), old.rlim_max};
    ASSERT_EQ(prlimit(server.pid(), RLIMIT_NOFILE, &tight, nullptr), 0) << strerror(errno);
    run_file_client(port, dir.file("out1"), 1 << 20);
    expect_half_close_log(server, 1, 1 << 20);
    EXPECT_EQ(
        server.read_err_line(),
        "bounded_file_server: accept: Too many open files: retrying, with back-off up to 1000 ms");

    // Client 2 waits in the backlog.  The idle window (here the lesson itself is timing):
    // 2 s in which it is not accepted, and the server must not burn CPU retrying accept().
    Process client(PROG_file_client, {"127.0.0.1", std::to_string(port), dir.file("out2")});
    const long ticks_before = harness::cpu_ticks(server.pid());
    EXPECT_EQ(server.read_line(Deadline(2s)), std::nullopt) << "a client was accepted";
    const long ticks = harness::cpu_ticks(server.pid()) - ticks_before;
    EXPECT_LE(ticks, 10) << "the server used " << ticks * 1000 / sysconf(_SC_CLK_TCK)
                         << " ms of CPU in 2 s while it could not accept: a busy loop";
    EXPECT_TRUE(server.running());
    EXPECT_TRUE(client.running());
    EXPECT_EQ(server.err().find("Too many", server.err().find("Too many") + 1), std::string::npos)
        << "said more than once:\n"
        << server.err();

    // Descriptors again: within one back-off step the waiting client is accepted and served.
    ASSERT_EQ(prlimit(server.pid(), RLIMIT_NOFILE, &old, nullptr), 0) << strerror(errno);
    auto status = client.finish(Deadline(30s));
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << client.err();
    EXPECT_EQ(sha256_of(dir.file("out2")), sha256_of(file));
    auto resumed = server.read_err_line();
    ASSERT_TRUE(resumed);
    EXPECT_TRUE(std::regex_match(
        *resumed, std::regex(R"(bounded_file_server: accepting again after \d+ retries)")))
        << *resumed;
    EXPECT_TRUE(server.wait_for_line("client 2: end of stream after 9 bytes, closed"));
}

// ---- A crashed server: end of stream is not proof of completion ------------------------------

TEST(Ch07Crash, ServerKilledAnywhereInTheTransferLeavesNoOutfile) {
    // A sparse 1 GiB file: read as zeros, no disk used.  The client is far from its end
    // when the server dies: at most the socket buffers (32 MiB + 4 MiB here) arrive after K.
    harness::TempDir in;
    constexpr uint64_t kSize = 1ull << 30;
    const std::string file = in.file("big.bin");
    harness::write_file(file, "");
    ASSERT_EQ(truncate(file.c_str(), kSize), 0) << strerror(errno);

    struct Point {
        std::string name;
        long received;  // the server dies once the client has this many file bytes; -1: before
    };
    const std::vector<Point> points = {
        {"in the backlog, before accept()", -1},
        {"after the size and the first bytes", 1},
        {"after 1 MiB", 1 << 20},
        {"after 16 MiB", 16 << 20},
        {"after 128 MiB", 128 << 20},
    };
    for (int round = 1; round <= 3; ++round) {
        for (const Point& p : points) {
            SCOPED_TRACE("round " + std::to_string(round) + ", killed " + p.name);
            harness::TempDir out_dir;
            int port;
            Process server = start_server(file, {}, &port);
            ASSERT_GT(port, 0);
            // Before accept(): the server stopped, the client's connection completes in the
            // kernel's backlog, and the client waits in read().
            if (p.received < 0) {
                server.signal(SIGSTOP);
                ASSERT_TRUE(harness::wait_until([&] {
                    auto st = harness::proc_stat(server.pid());
                    return st && st->state == 'T';
                }));
            }
            Process client(PROG_file_client,
                           {"127.0.0.1", std::to_string(port), out_dir.file("out")});
            if (p.received < 0)
                ASSERT_TRUE(harness::wait_until([&] {
                    return harness::current_syscall(client.pid()) == SYS_read;
                })) << client.err();
            else
                ASSERT_TRUE(harness::wait_until(
                    [&] { return partial_size(out_dir.path()) >= p.received; }, Deadline(60s)))
                    << client.err();
            server.signal(SIGKILL);  // its kernel closes the socket: FIN (or RST, unaccepted)
            ASSERT_TRUE(server.wait_exit());

            auto status = client.finish(Deadline(60s));
            ASSERT_TRUE(status);
            EXPECT_TRUE(harness::exited_with(*status, 1)) << harness::describe_status(*status);
            EXPECT_EQ(client.out(), "");
            if (p.received < 0) {
                // An unaccepted connection is reset when the listening socket closes.
                EXPECT_EQ(client.err(),
                          "file_client: read (after 0 bytes): Connection reset by peer\n");
            } else {
                std::smatch m;
                ASSERT_TRUE(std::regex_match(
                    client.err(), m,
                    std::regex(R"(file_client: transfer incomplete: (\d+) of 1073741824 bytes\n)")))
                    << client.err();
                const uint64_t got = std::stoull(m[1]);
                std::printf("  killed %s: %llu bytes had arrived\n", p.name.c_str(),
                            static_cast<unsigned long long>(got));
                EXPECT_GE(got, static_cast<uint64_t>(p.received));
                EXPECT_LT(got, kSize);
            }
            EXPECT_EQ(entries(out_dir.path()), std::vector<std::string>{})
                << "no OUTFILE, no partial file";
        }
    }
}

TEST(Ch07Crash, ServerKilledAfterItsLastByteStillGivesTheWholeFile) {
    // The contrast: killed once the whole file is on its way (its shutdown() is done), the
    // server's FIN still comes after every byte, and the size proves the file complete.
    harness::TempDir dir, out_dir;
    const std::string file = dir.file("f");
    harness::write_file(file, harness::random_bytes(4 << 20, 19));
    for (int round = 1; round <= 3; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        const std::string out = out_dir.file("out" + std::to_string(round));
        int port;
        Process server = start_server(file, {}, &port);
        ASSERT_GT(port, 0);
        Process client(PROG_file_client, {"127.0.0.1", std::to_string(port), out});
        ASSERT_TRUE(server.wait_for_line("client 1: sent 4194304 bytes, shutdown(SHUT_WR)"));
        server.signal(SIGKILL);
        ASSERT_TRUE(server.wait_exit());
        auto status = client.finish(Deadline(60s));
        ASSERT_TRUE(status);
        EXPECT_TRUE(harness::exited_with(*status, 0)) << client.err();
        EXPECT_EQ(client.out(),
                  "Received file data: 4194304 bytes -> " + out + "\nSent: Thank you\n");
        EXPECT_EQ(sha256_of(out), sha256_of(file));
    }
    EXPECT_EQ(entries(out_dir.path()), (std::vector<std::string>{"out1", "out2", "out3"}));
}

// ---- Lesson check with strace -----------------------------------------------------------

TEST(Ch07Strace, ServerHalfClosesWithShutdownShutWrAndWithCloseOnlyCloses) {
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::TempDir dir;
    harness::write_file(dir.file("f"), "some file data\n");
    for (bool close_mode : {false, true}) {
        SCOPED_TRACE(close_mode ? "--close" : "default");
        std::string trace_file = dir.file(close_mode ? "trace-close" : "trace");
        // (No -f: only the server's own thread, as in ch06_test.cpp.)
        std::vector<std::string> args = {"-o", trace_file,       "-e", "trace=network,close",
                                         "--", PROG_file_server, "0",  dir.file("f")};
        if (close_mode) args.push_back("--close");
        Process server("strace", args, harness::traced());
        int port = server.wait_ready();
        ASSERT_GT(port, 0);
        run_file_client(port, dir.file("out"), 15);
        ASSERT_TRUE(server.wait_for_line(close_mode ? "close()" : "closed"));

        // accept(...) = N, then for N: shutdown(N, SHUT_WR), then close(N) — or only close(N).
        std::string fd;
        auto calls_on_client = [&] {
            std::vector<std::string> calls;
            for (const harness::SysCall& c :
                 harness::strace_calls(harness::read_file(trace_file))) {
                if (fd.empty() && (c.name == "accept" || c.name == "accept4")) fd = c.result;
                if (!fd.empty() && std::to_string(c.fd) == fd &&
                    (c.name == "shutdown" || c.name == "close"))
                    calls.push_back(c.text);
            }
            return calls;
        };
        std::vector<std::string> calls;
        // The close() of a half-closed connection follows the stdout line: wait for it.
        wait_until([&] { return (calls = calls_on_client()).size() == (close_mode ? 1u : 2u); });
        std::vector<std::string> expected;
        if (!close_mode) expected.push_back("shutdown(" + fd + ", SHUT_WR) = 0");
        expected.push_back("close(" + fd + ") = 0");
        EXPECT_EQ(calls, expected) << harness::read_file(trace_file);
    }
}

// ---- Peers we did not write: socat ----------------------------------------------------------

TEST(Ch07Socat, SocatClientGetsTheFileAndItsEarlyMessageIsRead) {
    SOCKLAB_REQUIRE_TOOL("socat");
    harness::TempDir dir;
    std::string file = dir.file("f"), content = harness::random_bytes(1 << 20, 13);
    harness::write_file(file, content);
    int port;
    Process server = start_server(file, {}, &port);
    ASSERT_GT(port, 0);
    // socat sends its stdin at once and, at its end, half-closes with shutdown(SHUT_WR) —
    // long before the file has arrived.  The message waits in the server's input buffer
    // until the server reads it, after its own half-close.  -t 30: socat waits at most
    // that long for the server's FIN after its own (only a bound for a hang).  socat knows
    // nothing of the protocol: its output is the stream, the 8-byte size and the file.
    Process socat("socat", {"-t", "30", "-", "TCP:127.0.0.1:" + std::to_string(port)});
    ASSERT_TRUE(socat.write_stdin("Thank you"));
    socat.close_stdin();
    auto status = socat.finish(Deadline(60s));
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << socat.err();
    EXPECT_TRUE(socat.out() == framed(content)) << socat.out().size() << " bytes";
    expect_half_close_log(server, 1, content.size());
}

// socat serving FILE_ON_DISK as the whole stream: -u, one direction only, the file to the
// connection; at the file's end socat closes.  With -d -d it logs its port:
//     ... N listening on AF=2 127.0.0.1:37569
Process socat_file_server(const std::string& file_on_disk, int* port) {
    Process socat("socat",
                  {"-d", "-d", "-u", "OPEN:" + file_on_disk, "TCP-LISTEN:0,bind=127.0.0.1"});
    *port = 0;
    while (auto line = socat.read_err_line()) {
        if (line->find("listening on AF=2 127.0.0.1:") == std::string::npos) continue;
        *port = std::stoi(line->substr(line->rfind(':') + 1));
        break;
    }
    EXPECT_GT(*port, 0) << "socat did not log its port:\n" << socat.err();
    return socat;
}

TEST(Ch07Socat, FileClientReceivesAFileFromSocat) {
    SOCKLAB_REQUIRE_TOOL("socat");
    harness::TempDir dir;
    const std::string content = harness::random_bytes(3 << 20, 14);
    harness::write_file(dir.file("f"), content);
    // socat speaks no protocol of ours: it sends a file as it is.  So the file it sends is
    // the stream file_server would send: the 8-byte size, then the data.
    harness::write_file(dir.file("stream"), framed(content));
    int port;
    Process socat = socat_file_server(dir.file("stream"), &port);
    ASSERT_GT(port, 0);
    run_file_client(port, dir.file("out"), 3 << 20);
    EXPECT_EQ(sha256_of(dir.file("out")), sha256_of(dir.file("f")));
    auto status = socat.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << socat.err();
}

TEST(Ch07Socat, APeerThatSendsNoSizeGivesNoOutfile) {
    SOCKLAB_REQUIRE_TOOL("socat");
    harness::TempDir dir, out_dir;
    // The old protocol (the book's): the bare file, then FIN.  Its first 8 bytes are read as
    // the size (here far more than follows): the transfer cannot be proven complete.
    const std::string content = harness::random_bytes(3 << 20, 14);
    harness::write_file(dir.file("f"), content);
    int port;
    Process socat = socat_file_server(dir.file("f"), &port);
    ASSERT_GT(port, 0);
    auto r =
        harness::run(PROG_file_client, {"127.0.0.1", std::to_string(port), out_dir.file("out")});
    EXPECT_EQ(r.exit_code(), 1) << r.err;
    EXPECT_TRUE(std::regex_match(r.err, std::regex(R"(file_client: transfer incomplete: )"
                                                   R"(3145720 of \d+ bytes\n)")))
        << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(entries(out_dir.path()), std::vector<std::string>{});
    ASSERT_TRUE(socat.finish());
}

// ---- IPv6 ------------------------------------------------------------------------------------

TEST(Ch07Ipv6, TheFileArrivesOverIpv6Loopback) {
    harness::TempDir dir;
    std::string file = dir.file("f");
    harness::write_file(file, harness::random_bytes(100000, 15));
    int port;
    Process server = start_server(file, {}, &port, {.bind = "::1"});
    ASSERT_GT(port, 0);
    EXPECT_EQ(server.out(), "listening on [::1]:" + std::to_string(port) + "\n");
    run_file_client(port, dir.file("out"), 100000, "::1");
    EXPECT_EQ(sha256_of(dir.file("out")), sha256_of(file));
    auto connected = server.read_line();
    ASSERT_TRUE(connected);
    EXPECT_TRUE(connected->starts_with("client 1 connected from [::1]:")) << *connected;
    EXPECT_EQ(server.read_line(), "client 1: sent 100000 bytes, shutdown(SHUT_WR)");
    EXPECT_EQ(server.read_line(), "Message from client: Thank you");
}

// ---- Bad input -------------------------------------------------------------------------------

TEST(Ch07Errors, MissingOrUnreadableFileFailsBeforeListening) {
    harness::TempDir dir;
    ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);  // let an unprivileged user look inside
    std::string locked = dir.file("locked");
    harness::write_file(locked, "secret");
    ASSERT_EQ(chmod(locked.c_str(), 0), 0);

    struct Case {
        std::string file, err;
    };
    for (const char* program : {PROG_file_server, PROG_bounded_file_server}) {
        const std::string name = std::filesystem::path(program).filename();
        std::vector<Case> cases = {
            {dir.file("missing"),
             name + ": cannot open " + dir.file("missing") + ": No such file or directory\n"},
            {dir.path(), name + ": " + dir.path() + ": not a regular file\n"},
            {locked, name + ": cannot open " + locked + ": Permission denied\n"},
        };
        for (const Case& c : cases) {
            harness::Result r;
            if (c.file == locked && geteuid() == 0) {
                // root reads any file: run the server as nobody instead.
                SOCKLAB_REQUIRE_TOOL("setpriv");
                r = harness::run("setpriv", {"--reuid=65534", "--regid=65534", "--clear-groups",
                                             program, "0", c.file});
            } else {
                r = harness::run(program, {"0", c.file});
            }
            EXPECT_EQ(r.exit_code(), 1) << c.file;
            EXPECT_EQ(r.err, c.err);
            EXPECT_EQ(r.out, "") << "it must not listen";
        }
    }
}

TEST(Ch07Errors, BadUsageAndBadPortsGiveOneLineAndExitTwo) {
    const std::string lesson_usage = "usage: file_server PORT FILE [--close]\n";
    const std::string bounded_usage =
        "usage: bounded_file_server PORT FILE [--close] [--timeout-ms N] [--deadline-ms N]\n";
    const std::string client_usage = "usage: file_client HOST PORT OUTFILE\n";
    harness::expect_usage_errors({
        {PROG_file_server, {}, 2, lesson_usage},
        {PROG_file_server, {"0"}, 2, lesson_usage},
        {PROG_file_server, {"0", "/etc/hostname", "--bogus"}, 2, lesson_usage},
        {PROG_file_server, {"0", "/etc/hostname", "--close", "--close"}, 2, lesson_usage},
        {PROG_file_server, {"0", "/etc/hostname", "--timeout-ms", "5"}, 2, lesson_usage},
        {PROG_file_server,
         {"abc", "/no/such/file"},  // the port is checked first
         2,
         "file_server: invalid port 'abc': not a decimal number (expected 0 to 65535)\n"},
        {PROG_bounded_file_server, {}, 2, bounded_usage},
        {PROG_bounded_file_server, {"0"}, 2, bounded_usage},
        {PROG_bounded_file_server, {"0", "/etc/hostname", "--bogus"}, 2, bounded_usage},
        {PROG_bounded_file_server, {"0", "/etc/hostname", "--timeout-ms"}, 2, bounded_usage},
        {PROG_bounded_file_server,
         {"0", "/etc/hostname", "--timeout-ms", "-1"},
         2,
         "bounded_file_server: invalid --timeout-ms '-1' (expected 0 to 600000)\n"},
        {PROG_bounded_file_server, {"0", "/etc/hostname", "--deadline-ms"}, 2, bounded_usage},
        {PROG_bounded_file_server,
         {"0", "/etc/hostname", "--deadline-ms", "3600001"},
         2,
         "bounded_file_server: invalid --deadline-ms '3600001' (expected 0 to 3600000)\n"},
        {PROG_bounded_file_server,
         {"0", "/etc/hostname", "--deadline-ms", "1e3"},
         2,
         "bounded_file_server: invalid --deadline-ms '1e3' (expected 0 to 3600000)\n"},
        {PROG_bounded_file_server,
         {"abc", "/no/such/file"},
         2,
         "bounded_file_server: invalid port 'abc': not a decimal number (expected 0 to 65535)\n"},
        {PROG_file_client, {}, 2, client_usage},
        {PROG_file_client, {"127.0.0.1", "9190"}, 2, client_usage},
        {PROG_file_client,
         {"127.0.0.1", "70000", "/dev/null"},
         2,
         "file_client: invalid port '70000': out of range (expected 0 to 65535)\n"},
    });
}

TEST(Ch07Errors, ClientFailuresGiveOneLineAndExitOne) {
    harness::TempDir dir;
    harness::Listener reserved = harness::refused_port();
    ASSERT_GT(reserved.port, 0);
    const std::string port = std::to_string(reserved.port);

    auto refused = harness::run(PROG_file_client, {"127.0.0.1", port, dir.file("a")});
    EXPECT_EQ(refused.exit_code(), 1);
    EXPECT_EQ(refused.err,
              "file_client: connect to 127.0.0.1 port " + port + ": Connection refused\n");

    auto unknown = harness::run(PROG_file_client, {"nosuch.invalid", port, dir.file("b")});
    EXPECT_EQ(unknown.exit_code(), 1);
    EXPECT_EQ(harness::lines(unknown.err).size(), 1u) << unknown.err;
    EXPECT_NE(unknown.err.find("file_client: cannot resolve 'nosuch.invalid': "), std::string::npos)
        << unknown.err;

    // OUTFILE's directory is checked before connecting: this fails before the (refused) connect.
    std::string bad_out = dir.file("no/such/dir");
    auto uncreatable = harness::run(PROG_file_client, {"127.0.0.1", port, bad_out});
    EXPECT_EQ(uncreatable.exit_code(), 1);
    EXPECT_EQ(uncreatable.err,
              "file_client: cannot create " + bad_out + ": No such file or directory\n");
}

TEST(Ch07Errors, ClientReportsAResetMidFileAndLeavesNoOutfile) {
    harness::TempDir dir;
    harness::Listener listener = harness::listen_loopback();
    ASSERT_GT(listener.port, 0);
    Process client(PROG_file_client, {"127.0.0.1", std::to_string(listener.port), dir.file("out")});
    common::Fd conn = harness::accept_within(listener.fd.get());
    ASSERT_TRUE(conn) << client.err();
    ASSERT_TRUE(harness::send_all(conn.get(), size_header(1 << 20)));
    ASSERT_TRUE(harness::send_all(conn.get(), harness::random_bytes(100000, 16)));
    linger abort{.l_onoff = 1, .l_linger = 0};  // then RST instead of FIN
    ASSERT_EQ(setsockopt(conn.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
    conn.reset();

    auto status = client.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 1)) << harness::describe_status(*status);
    // What arrived before the reset: all of it, some of it, or (a reset may discard what
    // was queued but not yet read) nothing.
    EXPECT_TRUE(std::regex_match(client.err(),
                                 std::regex(R"(file_client: read \(after (0 bytes|\d of 8 header )"
                                            R"(bytes|\d+ of 1048576 bytes)\): )"
                                            R"(Connection reset by peer\n)")))
        << client.err();
    EXPECT_EQ(client.out(), "");
    EXPECT_EQ(entries(dir.path()), std::vector<std::string>{}) << "no OUTFILE, no partial file";
}

// ---- The protocol: only what the size proves complete becomes OUTFILE ---------------------

TEST(Ch07Protocol, ClientKeepsOnlyWhatTheSizeProvesCompleteAndAnswersOnlyThen) {
    struct Case {
        std::string name, stream, err;  // err empty: a complete transfer
        std::string file = "";          // OUTFILE then
    };
    std::vector<Case> cases = {
        {"nothing", "", "file_client: transfer incomplete: 0 bytes\n"},
        {"part of the size", std::string(3, '\0'),
         "file_client: transfer incomplete: 3 of 8 header bytes\n"},
        {"less than announced", size_header(100) + std::string(50, 'x'),
         "file_client: transfer incomplete: 50 of 100 bytes\n"},
        {"more than announced", size_header(10) + std::string(20, 'x'),
         "file_client: transfer too long: more than the 10 bytes announced\n"},
        {"exactly as announced", size_header(5) + "hello", "", "hello"},
        {"an empty file", size_header(0), "", ""},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        harness::TempDir dir;
        // An older OUTFILE is replaced only by a complete one (rename() is atomic).
        harness::write_file(dir.file("out"), "the previous version");
        harness::Listener listener = harness::listen_loopback();
        ASSERT_GT(listener.port, 0);
        Process client(PROG_file_client,
                       {"127.0.0.1", std::to_string(listener.port), dir.file("out")});
        common::Fd conn = harness::accept_within(listener.fd.get());
        ASSERT_TRUE(conn) << client.err();
        ASSERT_TRUE(harness::send_all(conn.get(), c.stream));
        ASSERT_EQ(shutdown(conn.get(), SHUT_WR), 0);  // FIN: end of stream, as from a server
        // The answer comes only after a complete file: "Thank you" means "I have it all".
        harness::Received answer = harness::recv_to_end(conn.get());
        EXPECT_EQ(answer.end, harness::End::kFin);
        auto status = client.finish();
        ASSERT_TRUE(status);
        EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"out"});
        if (c.err.empty()) {
            EXPECT_TRUE(harness::exited_with(*status, 0)) << client.err();
            EXPECT_EQ(answer.data, "Thank you");
            EXPECT_EQ(harness::read_file(dir.file("out")), c.file);
            EXPECT_EQ(client.err(), "");
        } else {
            EXPECT_TRUE(harness::exited_with(*status, 1)) << harness::describe_status(*status);
            EXPECT_EQ(answer.data, "");
            EXPECT_EQ(harness::read_file(dir.file("out")), "the previous version");
            EXPECT_EQ(client.err(), c.err);
            EXPECT_EQ(client.out(), "");
        }
    }
}

}  // namespace

// ---- shutdown_modes: SHUT_RD, SHUT_RDWR, and shutdown() vs close() on a shared socket -----

// The calls strace saw, one "name(args) = result" line each, in order (one thread).
static std::string traced_calls(const std::string& program, const std::string& trace_set,
                                harness::Result* result) {
    harness::TempDir dir;
    std::string trace_file = dir.file("trace");
    *result = harness::run("strace", {"-o", trace_file, "-e", "trace=" + trace_set, "--", program},
                           {}, {}, harness::traced());
    std::string calls;
    for (const harness::SysCall& c : harness::strace_calls(harness::read_file(trace_file)))
        calls += c.text + "\n";
    return calls;
}

TEST(Ch07ShutdownModesProgram, ShutRdReadsEndAtOnceButLateDataStillArrivesShutRdwrClosesBoth) {
    SOCKLAB_REQUIRE_TOOL("strace");
    harness::Result r;
    std::string calls = traced_calls(PROG_shutdown_modes, "shutdown,read,write,poll,dup,close", &r);
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out,
              "SHUT_RD:   read(A) = 0 at once; poll(B, 100 ms) = 0 (B is not told)\n"
              "           write(B) = 4; queued at A = 4; read(A) = 4, then 0\n"
              "SHUT_RDWR: read(B) = 0; write(A) = -1 (Broken pipe); read(A) = 0\n"
              "close(A) with a dup open: poll(B, 100 ms) = 0 (nothing sent)\n"
              "shutdown(dup, SHUT_WR):   read(B) = 0 (end of stream)\n");
    EXPECT_EQ(harness::sanitizer_report(r.err), "");
    // The kernel's answers, not the program's words.  A = \1, B = \2 in each pattern.
    const char* any = R"((?:.*\n)*?)";
    std::string shut_rd = std::string(R"(shutdown\((\d+), SHUT_RD\) = 0\n)") + any +
                          R"(read\(\1, "", \d+\) = 0\n)" + any +  // end of stream at once
                          R"(poll\(\[\{fd=(\d+), events=POLLIN\|POLLRDHUP\}\], 1, 100\) = 0)" +
                          R"( \(Timeout\)\n)" + any +  // B sees nothing: no FIN, no RST
                          R"(write\(\2, "late", 4\) = 4\n)" + any +   // B can still write
                          R"(read\(\1, "late", \d+\) = 4\n)" + any +  // Linux queued it
                          R"(read\(\1, "", \d+\) = 0\n)";
    EXPECT_TRUE(std::regex_search(calls, std::regex(shut_rd))) << calls;
    std::string shut_rdwr = std::string(R"(shutdown\((\d+), SHUT_RDWR\) = 0\n)") + any +
                            R"(read\((\d+), "", \d+\) = 0\n)" + any +  // B: A's FIN
                            R"(write\(\1, "x", 1\) = -1 EPIPE)";
    EXPECT_TRUE(std::regex_search(calls, std::regex(shut_rdwr))) << calls;
    std::string shared = std::string(R"(dup\((\d+)\) = (\d+)\n)") + any + R"(close\(\1\) = 0\n)" +
                         any + R"(poll\(\[\{fd=(\d+), events=POLLIN\|POLLRDHUP\}\], 1, 100\) = 0)" +
                         R"( \(Timeout\)\n)" + any +  // close() with a dup open: nothing
                         R"(shutdown\(\2, SHUT_WR\) = 0\n)" + any +
                         R"(read\(\3, "", \d+\) = 0\n)";  // shutdown() on the dup: EOF
    EXPECT_TRUE(std::regex_search(calls, std::regex(shared))) << calls;
}
