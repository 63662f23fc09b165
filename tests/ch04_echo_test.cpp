// ch04 — the TCP echo server and clients (book ch. 4–5), run as real processes over loopback.
//
// What these tests prove: every byte comes back (1 byte, 1,000 lines, a 3 MiB line, 1 MiB of
// every byte value), also with peers we did not write (socat as client and as server); the
// server is iterative (client 2 waits in the backlog until client 1 is done); it survives
// clients that vanish mid-transfer or reset while they wait in the backlog, and an accept()
// that fails for want of descriptors (with op_server: no busy loop, one line, resumes); it
// restarts at once on a port held by TIME_WAIT (SO_REUSEADDR); TCP keeps no message
// boundaries (--chunk cuts the naive client's message, echo_client prints it whole);
// descriptors are used as the chapter says; and bad usage, bad ports, unknown hosts and
// refused connections give one line and the right exit status.
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/net.hpp"
#include "harness.hpp"
#include "kit.hpp"
#include "proc.hpp"

namespace {

using namespace std::chrono_literals;
using harness::Deadline;
using harness::local_address;
using harness::Process;
using harness::SysCall;

const std::string kMsg = "Message from server: ";

// 127.0.0.1:PORT.  (Filled in field by field: GCC 12's -Wextra warns about designated
// initializers that leave out sin_zero.)
sockaddr_in loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

// Sends PAYLOAD from a second thread while this one receives, then half-closes and reads
// to end of stream.  (Sending all of it first could deadlock: once our input buffer and the
// server's output buffer are full, the server blocks in write() and stops reading.)
std::string echo_through(int fd, const std::string& payload, bool* closed) {
    bool sent = false;
    std::thread sender([&] {
        sent = harness::send_all(fd, payload);
        shutdown(fd, SHUT_WR);
    });
    std::string got = harness::recv_until_eof(fd, Deadline(30s), closed);
    sender.join();
    EXPECT_TRUE(sent) << "could not send the payload";
    return got;
}

// Does a TIME_WAIT (state 06) connection with local port PORT exist?  /proc/net/tcp lists
// "sl local_address rem_address st ...", the address as hex "0100007F:A11F".
bool time_wait_on_port(int port) {
    char suffix[8];
    snprintf(suffix, sizeof suffix, ":%04X", port);
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string sl, local, remote, state;
            fields >> sl >> local >> remote >> state;
            if (state == "06" && local.size() > 5 && local.ends_with(suffix)) return true;
        }
    }
    return false;
}

std::string numbered_lines(int n) {
    std::string text;
    for (int i = 1; i <= n; ++i)
        text += "line " + std::to_string(i) + " " + std::string(static_cast<size_t>(i % 97), 'x') +
                "\n";
    return text;
}

// ---- Echo, byte for byte ----------------------------------------------------------------

TEST(Ch04Echo, OneByteIsEchoedAndTheClientIsLogged) {
    Process server(PROG_echo_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    EXPECT_EQ(server.out(), "listening on 127.0.0.1:" + std::to_string(port) + "\n");

    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    ASSERT_TRUE(harness::send_all(fd.get(), "x"));
    EXPECT_EQ(harness::recv_exact(fd.get(), 1), "x");
    EXPECT_EQ(server.read_line(), "client 1 connected from " + local_address(fd.get()));
    fd.reset();
    EXPECT_EQ(server.read_line(), "client 1 disconnected");
    EXPECT_TRUE(server.running());
}

TEST(Ch04Echo, ThousandLinesThroughEchoClientComeBackInOrder) {
    Process server(PROG_echo_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    std::string input = numbered_lines(1000);
    std::string expected;
    for (const std::string& line : harness::lines(input))
        expected += kMsg + line + "\n";

    auto r = harness::run(PROG_echo_client, {"127.0.0.1", std::to_string(port)}, input);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(harness::lines(r.out).size(), 1000u);
    EXPECT_TRUE(r.out == expected) << harness::first_difference(r.out, expected);
}

TEST(Ch04Echo, ThreeMiBLineThroughEchoClientComesBackWhole) {
    Process server(PROG_echo_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    std::string line(3 << 20, 'a');  // far more than one read(), and than the socket buffers
    for (size_t i = 0; i < line.size(); ++i)
        line[i] = static_cast<char>('a' + i * 7 % 26);

    auto r = harness::run(PROG_echo_client, {"127.0.0.1", std::to_string(port)}, line + "\n",
                          Deadline(60s));
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    std::string expected = kMsg + line + "\n";
    EXPECT_TRUE(r.out == expected) << harness::first_difference(r.out, expected);
}

TEST(Ch04Echo, OneMiBRandomPayloadIsEchoedByteExact) {
    Process server(PROG_echo_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);

    std::string payload = harness::random_bytes(1 << 20, 4);  // every byte value, '\0' too
    bool closed = false;
    std::string got = echo_through(fd.get(), payload, &closed);
    EXPECT_TRUE(closed) << "the server did not close after our half-close";
    EXPECT_TRUE(got == payload) << harness::first_difference(got, payload);
    EXPECT_TRUE(server.wait_for_line("client 1 disconnected"));
}

// ---- Peers we did not write ---------------------------------------------------------------

TEST(Ch04Echo, SocatClientGetsOneMiBEchoedByteExact) {
    SOCKLAB_REQUIRE_TOOL("socat");
    Process server(PROG_echo_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);

    // socat copies its stdin to the connection and the connection to its stdout.  At end of
    // stdin it half-closes (shutdown(SHUT_WR), the default for sockets) and then waits at
    // most -t seconds (default 0.5) for the other direction to end: our server closes once
    // it has echoed everything, so -t 30 only bounds a hang.
    Process socat("socat", {"-t", "30", "-", "TCP:127.0.0.1:" + std::to_string(port)});
    std::string payload = harness::random_bytes(1 << 20, 5);
    ASSERT_TRUE(socat.write_stdin(payload, Deadline(30s)));  // reads socat's stdout meanwhile
    socat.close_stdin();
    auto status = socat.finish(Deadline(30s));
    ASSERT_TRUE(status) << "socat did not finish";
    EXPECT_TRUE(harness::exited_with(*status, 0)) << socat.err();
    EXPECT_TRUE(socat.out() == payload) << harness::first_difference(socat.out(), payload);
}

TEST(Ch04Echo, EchoClientWorksAgainstSocatAsTheServer) {
    SOCKLAB_REQUIRE_TOOL("socat");
    // socat 1.7.4 with -d -d logs the port the kernel chose for TCP-LISTEN:0 on stderr:
    //     2026/11/25 03:13:31 socat[5189] N listening on AF=2 127.0.0.1:37569
    // PIPE is an unnamed pipe: what socat writes into it comes back out, an echo.
    Process socat("socat", {"-d", "-d", "TCP-LISTEN:0,bind=127.0.0.1,reuseaddr", "PIPE"});
    int port = 0;
    while (auto line = socat.read_err_line()) {
        auto at = line->find("listening on AF=2 127.0.0.1:");
        if (at == std::string::npos) continue;
        port = std::stoi(line->substr(line->rfind(':') + 1));
        break;
    }
    ASSERT_GT(port, 0) << "socat did not log its port:\n" << socat.err();

    std::string input = numbered_lines(50) + std::string(5000, 'z') + "\n";
    std::string expected;
    for (const std::string& line : harness::lines(input))
        expected += kMsg + line + "\n";
    auto r = harness::run(PROG_echo_client, {"127.0.0.1", std::to_string(port)}, input);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_TRUE(r.out == expected) << harness::first_difference(r.out, expected);
}

// ---- An iterative server -------------------------------------------------------------------

TEST(Ch04Echo, IterativeServerMakesClientTwoWaitUntilClientOneIsDone) {
    Process server(PROG_echo_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);

    common::Fd one = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(one) << strerror(errno);
    ASSERT_TRUE(harness::send_all(one.get(), "one\n"));
    ASSERT_EQ(harness::recv_exact(one.get(), 4), "one\n");
    ASSERT_EQ(server.read_line(), "client 1 connected from " + local_address(one.get()));

    // Client 2's connect() succeeds at once: the kernel completes the three-way handshake and
    // queues the connection in the listen backlog; accept() has not been called for it.
    Process two(PROG_echo_client, {"127.0.0.1", std::to_string(port)});
    auto note = two.read_err_line();
    ASSERT_TRUE(note && note->starts_with("echo_client: connected to ")) << two.err();
    ASSERT_TRUE(two.write_stdin("two\n"));

    // While client 1 stays connected, nothing happens for client 2: no accept, no echo.
    // (A concurrent server would log and echo within milliseconds.)
    EXPECT_EQ(server.read_line(Deadline(300ms)), std::nullopt) << server.out();
    EXPECT_EQ(two.read_line(Deadline(300ms)), std::nullopt);
    // ...and client 1 is still served.
    ASSERT_TRUE(harness::send_all(one.get(), "still here\n"));
    EXPECT_EQ(harness::recv_exact(one.get(), 11), "still here\n");

    one.reset();  // client 1 leaves: now the server accepts client 2
    EXPECT_EQ(server.read_line(), "client 1 disconnected");
    auto connected = server.read_line();
    ASSERT_TRUE(connected);
    EXPECT_TRUE(connected->starts_with("client 2 connected from 127.0.0.1:")) << *connected;
    // Client 2's "two\n" waited in its socket's input buffer all along.
    EXPECT_EQ(two.read_line(), kMsg + "two");
    two.close_stdin();
    auto status = two.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << two.err();
    EXPECT_EQ(server.read_line(), "client 2 disconnected");
}

// ---- Faults: vanishing clients, restart ----------------------------------------------------

TEST(Ch04Echo, ServerSurvivesTwentyClientsKilledMidTransfer) {
    Process server(PROG_echo_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);

    std::vector<int> reset_clients;
    for (int client = 1; client <= 20; ++client) {
        if (client % 2 == 1) {
            // A raw client sends 64 KiB, waits until the echo has started, then resets the
            // connection: SO_LINGER {on, 0 s} makes close() send RST instead of FIN.
            common::Fd fd = harness::connect_tcp("127.0.0.1", port);
            ASSERT_TRUE(fd) << strerror(errno);
            ASSERT_TRUE(harness::send_all(fd.get(), harness::random_bytes(64 << 10, client)));
            pollfd p{fd.get(), POLLIN, 0};
            ASSERT_EQ(poll(&p, 1, Deadline().ms_left()), 1) << "no echo from the server";
            linger abort{.l_onoff = 1, .l_linger = 0};
            ASSERT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
            fd.reset();
            reset_clients.push_back(client);
        } else {
            // echo_client killed with SIGKILL halfway through 1,000 lines.
            Process c(PROG_echo_client, {"127.0.0.1", std::to_string(port)});
            ASSERT_TRUE(c.write_stdin(numbered_lines(1000)));
            auto first = c.read_line();
            ASSERT_TRUE(first && first->starts_with(kMsg)) << c.err();
            c.signal(SIGKILL);
            ASSERT_TRUE(c.wait_exit());
        }
        std::string done = "client " + std::to_string(client) + " disconnected";
        ASSERT_TRUE(server.wait_for_line(done)) << "server stdout:\n" << server.out();
    }

    // Still serving, byte-exact.
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    std::string payload = harness::random_bytes(256 << 10, 99);
    bool closed = false;
    std::string got = echo_through(fd.get(), payload, &closed);
    EXPECT_TRUE(closed);
    EXPECT_TRUE(got == payload) << harness::first_difference(got, payload);
    EXPECT_TRUE(server.wait_for_line("client 21 disconnected"));
    EXPECT_TRUE(server.running());

    // Each reset cost exactly one stderr line, e.g.
    //     echo_server: client 3: read: Connection reset by peer
    server.signal(SIGTERM);
    ASSERT_TRUE(server.finish());
    std::regex warning(R"(echo_server: client (\d+): (read|write): .+)");
    std::vector<int> warned;
    for (const std::string& line : harness::lines(server.err())) {
        std::smatch m;
        ASSERT_TRUE(std::regex_match(line, m, warning)) << line;
        warned.push_back(std::stoi(m[1]));
    }
    for (int client : reset_clients)
        EXPECT_EQ(std::count(warned.begin(), warned.end(), client), 1) << "client " << client;
}

// Linux hands a connection that was reset while it waited in the backlog to accept() like
// any other (BSD fails accept() with ECONNABORTED instead, UNP §16.6); it is the first read()
// or write() on it that fails, with ECONNRESET.  Either way: one stderr line, next client.
TEST(Ch04Echo, ServerSurvivesClientsResetWhileWaitingInTheBacklog) {
    Process server(PROG_echo_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    common::Fd one = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(one) << strerror(errno);
    ASSERT_TRUE(harness::send_all(one.get(), "1"));
    ASSERT_EQ(harness::recv_exact(one.get(), 1), "1");  // client 1 is being served

    // Clients 2..6 queue behind it, send a line and reset (SO_LINGER {on, 0}: RST, not FIN).
    for (int i = 2; i <= 6; ++i) {
        common::Fd fd = harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(fd) << strerror(errno);
        ASSERT_TRUE(harness::send_all(fd.get(), "lost\n"));
        linger abort{.l_onoff = 1, .l_linger = 0};
        ASSERT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
    }  // each fd is closed (reset) at the end of its turn
    one.reset();

    ASSERT_TRUE(server.wait_for_line("client 6 disconnected")) << server.err();
    common::Fd seven = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(seven) << strerror(errno);
    ASSERT_TRUE(harness::send_all(seven.get(), "still serving\n"));
    EXPECT_EQ(harness::recv_exact(seven.get(), 14), "still serving\n");
    seven.reset();
    ASSERT_TRUE(server.wait_for_line("client 7 disconnected"));
    server.signal(SIGTERM);
    ASSERT_TRUE(server.finish());
    // One line for each reset client, and none about accept(): Linux returned them all.
    std::regex warning(R"(echo_server: client ([2-6]): (read|write): Connection reset by peer)");
    std::vector<std::string> err = harness::lines(server.err());
    EXPECT_EQ(err.size(), 5u) << server.err();
    for (const std::string& line : err)
        EXPECT_TRUE(std::regex_match(line, warning)) << line;
}

TEST(Ch04Echo, ServerSurvivesWritingToAClientThatHasClosed) {
    // The SIGPIPE case.  While the server is busy with client 1, client 2 connects, sends
    // 64 KiB and close()s at once: its input buffer is empty, so close() sends FIN, and the
    // 64 KiB still queued in its output buffer are delivered first.  When the server gets to
    // client 2 it reads those bytes and echoes them; client 2's kernel answers the first echo
    // with RST (the socket is gone), and the server's next write() fails with EPIPE, which
    // raises SIGPIPE: without SIG_IGN the server would die here.
    Process server(PROG_echo_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    common::Fd one = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(one) << strerror(errno);
    ASSERT_TRUE(harness::send_all(one.get(), "1"));
    ASSERT_EQ(harness::recv_exact(one.get(), 1), "1");

    common::Fd two = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(two) << strerror(errno);
    ASSERT_TRUE(harness::send_all(two.get(), harness::random_bytes(64 << 10, 2)));
    two.reset();
    one.reset();

    ASSERT_TRUE(server.wait_for_line("client 2 connected"));
    ASSERT_TRUE(server.wait_for_line("client 2 disconnected")) << server.err();
    auto warning = server.read_err_line();
    ASSERT_TRUE(warning);
    EXPECT_EQ(*warning, "echo_server: client 2: write: Broken pipe");

    common::Fd three = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(three) << strerror(errno);
    ASSERT_TRUE(harness::send_all(three.get(), "still alive\n"));
    EXPECT_EQ(harness::recv_exact(three.get(), 12), "still alive\n");
    EXPECT_TRUE(server.running());
}

TEST(Ch04Echo, RestartsAtOnceOnThePortItsOldConnectionHoldsInTimeWait) {
    int port = 0;
    {
        Process server(PROG_echo_server, {"0"});
        port = server.wait_ready();
        ASSERT_GT(port, 0);
        common::Fd fd = harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(fd) << strerror(errno);
        ASSERT_TRUE(harness::send_all(fd.get(), "ping\n"));
        ASSERT_EQ(harness::recv_exact(fd.get(), 5), "ping\n");
        // The server's side closes first (its process dies: the kernel sends FIN) ...
        server.signal(SIGKILL);
        ASSERT_TRUE(server.wait_exit());
        bool closed = false;
        harness::recv_until_eof(fd.get(), Deadline(), &closed);
        ASSERT_TRUE(closed);
        // ... then ours: the server's side did the active close, so it ends in TIME_WAIT,
        // still holding local port PORT, for 60 s.
    }
    Deadline deadline;
    while (!time_wait_on_port(port) && !deadline.expired())
        poll(nullptr, 0, 10);
    ASSERT_TRUE(time_wait_on_port(port)) << "no TIME_WAIT connection on port " << port;

    // Without SO_REUSEADDR the port cannot be bound now ...
    common::Fd probe(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr = loopback(port);
    EXPECT_EQ(bind(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), -1);
    EXPECT_EQ(errno, EADDRINUSE) << strerror(errno);
    probe.reset();

    // ... but echo_server, which sets it, starts at once on the same port and serves.
    Process again(PROG_echo_server, {std::to_string(port)});
    EXPECT_EQ(again.wait_ready(), port) << again.err();
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    ASSERT_TRUE(harness::send_all(fd.get(), "pong\n"));
    EXPECT_EQ(harness::recv_exact(fd.get(), 5), "pong\n");
}

// ---- No message boundaries -------------------------------------------------------------------

// The README: "The clients ignore SIGPIPE too".  echo_client writes only when a line comes,
// so the one moment its write() meets EPIPE is this: the server shut down its sending side
// (FIN: the client's socket is in CLOSE_WAIT) and then reset the connection (RST: the socket
// records EPIPE and closes) while the client waited for input.  The next write() fails with
// EPIPE and raises SIGPIPE; ignored, the client says "write: Broken pipe" and exits 1.  With
// the default action it would die of the signal without a word.
TEST(Ch04Echo, ClientIgnoresSigpipeAndSaysBrokenPipe) {
    harness::Listener server = harness::listen_loopback();
    ASSERT_TRUE(server.fd);
    Process client(PROG_echo_client, {"127.0.0.1", std::to_string(server.port)});
    common::Fd conn = harness::accept_within(server.fd.get(), Deadline(10s));
    ASSERT_TRUE(conn);
    ASSERT_TRUE(client.read_err_line(Deadline(10s)));  // "connected to ... from ..."
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    ASSERT_EQ(getpeername(conn.get(), reinterpret_cast<sockaddr*>(&peer), &len), 0);
    const int client_port = ntohs(peer.sin_port);
    ASSERT_EQ(shutdown(conn.get(), SHUT_WR), 0);
    linger abort_on_close{1, 0};
    ASSERT_EQ(setsockopt(conn.get(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close),
              0);
    conn.reset();  // close() with linger 0: RST
    ASSERT_TRUE(harness::wait_until(
        [&] { return harness::tcp_recv_queue(client_port, server.port) == -1; }, Deadline(10s)))
        << "the client's socket did not close";

    ASSERT_TRUE(client.write_stdin("hello\n"));
    auto status = client.finish(Deadline(10s));
    ASSERT_TRUE(status);
    ASSERT_TRUE(WIFEXITED(*status)) << "killed by signal " << WTERMSIG(*status);
    EXPECT_EQ(WEXITSTATUS(*status), 1);
    EXPECT_EQ(client.out(), "");
    auto err = harness::lines(client.err());
    ASSERT_EQ(err.size(), 2u) << client.err();
    EXPECT_EQ(err[1], "echo_client: write: Broken pipe");
}

TEST(Ch04Echo, ChunkedEchoCutsTheNaiveClientsMessageButNotEchoClients) {
    Process server(PROG_echo_server, {"0", "--chunk", "2", "--delay-ms", "20"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    const std::string line = "TCP keeps no message boundaries";  // 32 bytes: 16 pieces, ~300 ms

    // One send() by us, several recv()s needed: the pieces arrive separately.
    {
        common::Fd fd = harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(fd) << strerror(errno);
        ASSERT_TRUE(harness::send_all(fd.get(), line + "\n"));
        std::string got;
        int reads = 0;
        while (got.size() < line.size() + 1) {
            auto piece = harness::recv_exact(fd.get(), 1);  // wait for data ...
            ASSERT_TRUE(piece) << "echo incomplete: " << got;
            got += *piece;
            char buf[64];  // ... then take all that is there
            ssize_t n = recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) got.append(buf, static_cast<size_t>(n));
            ++reads;
        }
        EXPECT_EQ(got, line + "\n");
        EXPECT_GT(reads, 1);
    }

    auto naive =
        harness::run(PROG_echo_client_naive, {"127.0.0.1", std::to_string(port)}, line + "\n");
    EXPECT_EQ(naive.exit_code(), 0) << naive.err;
    ASSERT_TRUE(naive.out.starts_with(kMsg)) << naive.out;
    std::string printed = naive.out.substr(kMsg.size());
    EXPECT_LT(printed.size(), line.size()) << "the naive client printed it whole: " << printed;
    EXPECT_TRUE(line.starts_with(printed)) << printed;

    auto good = harness::run(PROG_echo_client, {"127.0.0.1", std::to_string(port)}, line + "\n");
    EXPECT_EQ(good.exit_code(), 0) << good.err;
    EXPECT_EQ(good.out, kMsg + line + "\n");
}

// ---- Lesson checks: descriptors and addresses -----------------------------------------------

TEST(Ch04Echo, ServerTalksOnTheAcceptedDescriptorNeverOnTheListeningOne) {
    SOCKLAB_REQUIRE_TOOL("strace");
    // strace writes its trace to stderr, mixed with the server's own.
    Process server(
        "strace",
        {"-e", "trace=socket,bind,listen,accept,accept4,read,write", PROG_echo_server, "0"},
        harness::traced());
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(fd) << strerror(errno);
    ASSERT_TRUE(harness::send_all(fd.get(), "abc"));
    ASSERT_EQ(harness::recv_exact(fd.get(), 3), "abc");
    fd.reset();
    ASSERT_TRUE(server.wait_for_line("client 1 disconnected"));
    // strace prints a call when it returns, so wait for the trace of that very line.
    while (auto line = server.read_err_line())
        if (line->find("client 1 disconnected") != std::string::npos) break;

    // The listening socket is the one listen() was called on; getaddrinfo()'s own sockets
    // (netlink, ...) come and go before it.
    std::vector<SysCall> calls = harness::strace_calls(server.err());
    auto listen_call = std::find_if(calls.begin(), calls.end(),
                                    [](const SysCall& c) { return c.name == "listen"; });
    ASSERT_NE(listen_call, calls.end()) << server.err();
    const int listen_fd = listen_call->fd;
    EXPECT_EQ(listen_call->result, "0");
    auto bind_call = std::find_if(std::make_reverse_iterator(listen_call), calls.rend(),
                                  [](const SysCall& c) { return c.name == "bind"; });
    ASSERT_NE(bind_call, calls.rend());
    EXPECT_EQ(bind_call->fd, listen_fd) << "bind() and listen() on one socket";

    int client_fd = -1;
    bool read_client = false, wrote_client = false;
    for (auto c = listen_call + 1; c != calls.end(); ++c) {
        if (c->name == "accept" || c->name == "accept4") {
            EXPECT_EQ(c->fd, listen_fd) << "accept() on the listening socket";
            if (c->result != "?") client_fd = std::stoi(c->result);
        }
        if (c->name == "read" || c->name == "write") {
            EXPECT_NE(c->fd, listen_fd) << c->name << " on the listening socket";
            if (c->fd == client_fd && c->name == "read") read_client = true;
            if (c->fd == client_fd && c->name == "write") wrote_client = true;
        }
    }
    EXPECT_GE(client_fd, 3);
    EXPECT_NE(client_fd, listen_fd) << "accept() returns a new descriptor";
    EXPECT_TRUE(read_client && wrote_client) << server.err();
}

TEST(Ch04Echo, ClientGetsItsAddressAtConnectWithoutCallingBind) {
    SOCKLAB_REQUIRE_TOOL("strace");
    Process server(PROG_echo_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    harness::TempDir dir;
    auto r = harness::run("strace",
                          {"-o", dir.file("trace"), "-e", "trace=%network", PROG_echo_client,
                           "127.0.0.1", std::to_string(port)},
                          "hi\n", Deadline(), harness::traced());
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, kMsg + "hi\n");

    bool connected = false;
    for (const SysCall& c : harness::strace_calls(harness::read_file(dir.file("trace")))) {
        EXPECT_NE(c.name, "bind") << "the client must not bind";
        if (c.name == "connect" && c.result == "0") connected = true;
    }
    EXPECT_TRUE(connected);
    // Yet the socket had an address: the one the server saw.
    auto logged = server.read_line();
    ASSERT_TRUE(logged && logged->starts_with("client 1 connected from ")) << server.out();
    std::string from = logged->substr(std::string("client 1 connected from ").size());
    EXPECT_NE(r.err.find("echo_client: connected to 127.0.0.1:" + std::to_string(port) + " from " +
                         from + "\n"),
              std::string::npos)
        << r.err;
}

TEST(Ch04Echo, Ipv6ServerOnLoopbackAndEchoClient) {
    harness::Options v6;
    v6.bind = "::1";
    Process server(PROG_echo_server, {"0"}, v6);
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    EXPECT_EQ(server.out(), "listening on [::1]:" + std::to_string(port) + "\n");
    auto r = harness::run(PROG_echo_client, {"::1", std::to_string(port)}, "hello over IPv6\n");
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, kMsg + "hello over IPv6\n");
    auto logged = server.read_line();
    ASSERT_TRUE(logged);
    EXPECT_TRUE(logged->starts_with("client 1 connected from [::1]:")) << *logged;
}

// ---- The client's end of input, q/Q, a server that closes early --------------------------

TEST(Ch04Echo, EndOfInputWithoutQuitExitsZeroAfterAllReplies) {
    Process server(PROG_echo_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    // The last line has no '\n': it is still sent (with one) and echoed.
    auto r = harness::run(PROG_echo_client, {"127.0.0.1", std::to_string(port)},
                          "first\nsecond\nno newline at the end");
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, kMsg + "first\n" + kMsg + "second\n" + kMsg + "no newline at the end\n");
    EXPECT_TRUE(server.wait_for_line("client 1 disconnected"));
}

TEST(Ch04Echo, UpperOrLowerCaseQQuitsAndSendsNothingAfter) {
    Process server(PROG_echo_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    for (const char* quit : {"Q", "q"}) {
        auto r = harness::run(PROG_echo_client, {"127.0.0.1", std::to_string(port)},
                              std::string("before\n") + quit + "\nafter\n");
        EXPECT_EQ(r.exit_code(), 0) << r.err;
        EXPECT_EQ(r.out, kMsg + "before\n") << "quit line " << quit;
    }
    auto naive =
        harness::run(PROG_echo_client_naive, {"127.0.0.1", std::to_string(port)}, "Q\nafter\n");
    EXPECT_EQ(naive.exit_code(), 0) << naive.err;
    EXPECT_EQ(naive.out, "");
}

TEST(Ch04Echo, EchoClientReportsAServerThatClosesBeforeTheWholeEcho) {
    // The test is the server: it echoes 3 of 12 bytes and closes.
    harness::Listener listener = harness::listen_loopback();
    ASSERT_GT(listener.port, 0) << "no listening socket";

    Process client(PROG_echo_client, {"127.0.0.1", std::to_string(listener.port)});
    common::Fd conn = harness::accept_within(listener.fd.get());
    ASSERT_TRUE(conn) << "the client did not connect";
    ASSERT_TRUE(client.write_stdin("hello world\n"));
    ASSERT_EQ(harness::recv_exact(conn.get(), 12), "hello world\n");
    ASSERT_TRUE(harness::send_all(conn.get(), "hel"));
    conn.reset();

    auto status = client.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 1)) << harness::describe_status(*status);
    EXPECT_EQ(client.out(), "");
    auto err = harness::lines(client.err());
    ASSERT_FALSE(err.empty());
    EXPECT_EQ(err.back(),
              "echo_client: server closed the connection after 3 of 12 bytes of the echo");
}

// ---- Bad usage and faults: one line, the right exit status ---------------------------------

TEST(Ch04Echo, ServerRejectsBadUsageWithExitTwo) {
    const std::string usage = "usage: echo_server PORT [--chunk N] [--delay-ms D]\n";
    harness::expect_usage_errors({
        {PROG_echo_server, {}, 2, usage},
        {PROG_echo_server, {"0", "extra"}, 2, usage},
        {PROG_echo_server, {"0", "--chunk"}, 2, usage},
        {PROG_echo_server, {"0", "--delay-ms", "20"}, 2, usage},  // a pause needs --chunk
        {PROG_echo_server, {"0", "--bogus", "1"}, 2, usage},
        {PROG_echo_server,
         {"0", "--chunk", "0"},
         2,
         "echo_server: invalid --chunk '0' (expected 1 to 65536)\n"},
        {PROG_echo_server,
         {"0", "--chunk", "abc"},
         2,
         "echo_server: invalid --chunk 'abc' (expected 1 to 65536)\n"},
        {PROG_echo_server,
         {"0", "--chunk", "2x"},
         2,
         "echo_server: invalid --chunk '2x' (expected 1 to 65536)\n"},
        {PROG_echo_server,
         {"0", "--chunk", "99999999999999999999"},
         2,
         "echo_server: invalid --chunk '99999999999999999999' (expected 1 to 65536)\n"},
        {PROG_echo_server,
         {"0", "--chunk", "2", "--delay-ms", "-1"},
         2,
         "echo_server: invalid --delay-ms '-1' (expected 0 to 10000)\n"},
    });
}

TEST(Ch04Echo, ClientsRejectBadUsageWithExitTwo) {
    for (const std::string prog : {PROG_echo_client, PROG_echo_client_naive}) {
        std::string usage = "usage: " + prog.substr(prog.rfind('/') + 1) + " HOST PORT\n";
        harness::expect_usage_errors({{prog, {}, 2, usage},
                                      {prog, {"127.0.0.1"}, 2, usage},
                                      {prog, {"127.0.0.1", "9190", "extra"}, 2, usage}});
    }
}

TEST(Ch04Echo, BadPortGivesOneLineAndExitTwo) {
    const std::string abc = "invalid port 'abc': not a decimal number (expected 0 to 65535)\n";
    const std::string big = "invalid port '70000': out of range (expected 0 to 65535)\n";
    harness::expect_usage_errors({
        {PROG_echo_server, {"abc"}, 2, "echo_server: " + abc},
        {PROG_echo_server, {"70000"}, 2, "echo_server: " + big},
        {PROG_echo_client, {"127.0.0.1", "abc"}, 2, "echo_client: " + abc},
        {PROG_echo_client, {"127.0.0.1", "70000"}, 2, "echo_client: " + big},
        {PROG_echo_client_naive, {"127.0.0.1", "70000"}, 2, "echo_client_naive: " + big},
    });
}

TEST(Ch04Echo, UnknownHostGivesOneLineAndExitOne) {
    for (const char* prog : {PROG_echo_client, PROG_echo_client_naive}) {
        auto r = harness::run(prog, {"nosuch.invalid", "9190"});
        EXPECT_EQ(r.exit_code(), 1) << prog;
        EXPECT_EQ(harness::lines(r.err).size(), 1u) << r.err;
        EXPECT_NE(r.err.find(": cannot resolve 'nosuch.invalid': "), std::string::npos) << r.err;
    }
}

TEST(Ch04Echo, RefusedConnectionGivesOneLineAndExitOne) {
    harness::Listener reserved = harness::refused_port();
    ASSERT_GT(reserved.port, 0) << "could not reserve a port";
    const int port = reserved.port;
    for (const char* prog : {PROG_echo_client, PROG_echo_client_naive}) {
        std::string name = std::string(prog).substr(std::string(prog).rfind('/') + 1);
        // (No stdin data: the client exits at once, and writing to its closed stdin would
        // raise SIGPIPE in this test process.)
        auto r = harness::run(prog, {"127.0.0.1", std::to_string(port)});
        EXPECT_EQ(r.exit_code(), 1) << name;
        EXPECT_EQ(r.err, name + ": connect to 127.0.0.1 port " + std::to_string(port) +
                             ": Connection refused\n");
        EXPECT_EQ(r.out, "");
    }
}

// ---- accept() at the descriptor limit: echo_server and op_server --------------------------
//
// Both iterative servers share the one accept() policy (DESIGN.md): on EMFILE/ENFILE/ENOBUFS/
// ENOMEM say so once on stderr and try again after a pause that doubles up to 1 s — never a
// busy loop, never an exit.  An iterative server holds no client when it calls accept(), so
// the test makes the shortage itself: it lowers the running server's soft RLIMIT_NOFILE
// (prlimit(2)) to the lowest descriptor number it has free, so that accept() fails with
// EMFILE; later it restores the limit, and the waiting client must then be served.

struct Iterative {
    std::string name, program;
    std::string request, reply;  // one exchange; the server closes after it (op) or not (echo)
};

void PrintTo(const Iterative& s, std::ostream* os) {
    *os << s.name;
}

// The lowest descriptor number PID does not use (what its next accept() would get).
int lowest_free_fd(pid_t pid) {
    std::vector<bool> used(4096, false);
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = opendir(dir.c_str());
    if (!d) return -1;
    while (dirent* e = readdir(d)) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && fd < 4096) used[fd] = true;
    }
    closedir(d);
    int fd = 0;
    while (fd < 4096 && used[fd])
        ++fd;
    return fd;
}

class Ch04AcceptLimit : public ::testing::TestWithParam<Iterative> {};

std::string exchange(int port, const Iterative& s) {
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    if (!fd) return "connect: " + std::string(strerror(errno));
    if (!harness::send_all(fd.get(), s.request)) return "send failed";
    std::string partial;
    auto got = harness::recv_exact(fd.get(), s.reply.size(), {}, &partial);
    return got ? *got : "no reply, " + std::to_string(partial.size()) + " bytes";
}

TEST_P(Ch04AcceptLimit, AtTheDescriptorLimitPausesWithoutBusyLoopAndResumes) {
    const Iterative& s = GetParam();
    Process server(s.program, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    const pid_t pid = server.pid();

    // accept() reserves the new descriptor before it sleeps, so lower the limit only once the
    // server sleeps in accept(): client 1 is accepted with that reservation, and the limit
    // bites on the accept() after it.
    ASSERT_TRUE(harness::wait_until([&] {
        long nr = harness::current_syscall(pid);
        return nr == SYS_accept || nr == SYS_accept4;
    })) << "the server never blocked in accept()";
    rlimit old{};
    ASSERT_EQ(prlimit(pid, RLIMIT_NOFILE, nullptr, &old), 0) << strerror(errno);
    int free_fd = lowest_free_fd(pid);
    ASSERT_GT(free_fd, 2);
    rlimit low{static_cast<rlim_t>(free_fd), old.rlim_max};
    ASSERT_EQ(prlimit(pid, RLIMIT_NOFILE, &low, nullptr), 0) << strerror(errno);
    EXPECT_EQ(exchange(port, s), s.reply) << "client 1";

    // The next accept() fails: one line, e.g.
    //     echo_server: accept: Too many open files: pausing (up to 1 s) until it succeeds
    auto line = server.read_err_line();
    ASSERT_TRUE(line) << "nothing on stderr about the limit:\n" << server.err();
    EXPECT_EQ(*line,
              s.name + ": accept: Too many open files: pausing (up to 1 s) until it succeeds");

    // Client 2 waits in the backlog.  For 2 s (here the lesson itself is timing) the server
    // must neither serve it, nor exit, nor burn CPU, nor flood stderr.
    common::Fd two = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(two) << strerror(errno);
    ASSERT_TRUE(harness::send_all(two.get(), s.request));
    long ticks_before = harness::cpu_ticks(pid);
    pollfd p{two.get(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 2000), 0) << "client 2 was answered while no descriptor was free";
    long ticks = harness::cpu_ticks(pid) - ticks_before;
    EXPECT_LE(ticks, 10) << "the server used " << ticks * 1000 / sysconf(_SC_CLK_TCK)
                         << " ms of CPU in 2 s while it could not accept: a busy loop";
    ASSERT_TRUE(server.running()) << server.err();
    EXPECT_EQ(server.read_err_line(Deadline(10ms)), std::nullopt) << "said more than once";

    // The shortage ends: within the longest pause (1 s) client 2 is served, then client 3.
    ASSERT_EQ(prlimit(pid, RLIMIT_NOFILE, &old, nullptr), 0) << strerror(errno);
    std::string partial;
    auto got = harness::recv_exact(two.get(), s.reply.size(), {}, &partial);
    EXPECT_EQ(got, s.reply) << "client 2 got " << partial.size() << " bytes";
    two.reset();
    EXPECT_EQ(exchange(port, s), s.reply) << "client 3";
    EXPECT_TRUE(server.running());
    EXPECT_EQ(harness::lines(server.err()).size(), 1u) << server.err();
}

INSTANTIATE_TEST_SUITE_P(
    , Ch04AcceptLimit,
    ::testing::Values(Iterative{"echo_server", PROG_echo_server, "ping\n", "ping\n"},
                      // 2 + 3: count 2, operands 2 and 3 (big-endian), '+'; reply: ok, 5
                      Iterative{"op_server", PROG_op_server,
                                std::string("\x02\0\0\0\x02\0\0\0\x03+", 10),
                                std::string("\0\0\0\0\x05", 5)}),
    [](const auto& p) { return p.param.name; });

}  // namespace
