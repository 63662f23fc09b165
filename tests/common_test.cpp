// Unit tests of common/: ports, addresses, Fd, the full-I/O loops, error reporting.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/io.hpp"
#include "common/net.hpp"
#include "harness.hpp"

namespace {

using ::testing::ExitedWithCode;

// ---- ports ------------------------------------------------------------------------------

TEST(ParsePort, AcceptsTheWholeRange) {
    EXPECT_EQ(common::parse_port("0"), 0);
    EXPECT_EQ(common::parse_port("1"), 1);
    EXPECT_EQ(common::parse_port("9190"), 9190);
    EXPECT_EQ(common::parse_port("65535"), 65535);
    EXPECT_EQ(common::parse_port("00080"), 80);
}

TEST(ParsePort, RejectsBadTextWithAClearReason) {
    struct Case {
        const char* text;
        const char* reason;
    };
    for (auto [text, reason] : std::vector<Case>{{"", "empty"},
                                                 {"abc", "not a decimal number"},
                                                 {"-1", "not a decimal number"},
                                                 {"80x", "not a decimal number"},
                                                 {" 80", "not a decimal number"},
                                                 {"+80", "not a decimal number"},
                                                 {"65536", "out of range"},
                                                 {"70000", "out of range"},
                                                 {"99999999999999999999", "out of range"}}) {
        std::string error;
        EXPECT_FALSE(common::parse_port(text, &error).has_value()) << "'" << text << "'";
        EXPECT_NE(error.find(std::string("invalid port '") + text + "'"), std::string::npos)
            << error;
        EXPECT_NE(error.find(reason), std::string::npos) << error;
        EXPECT_NE(error.find("0 to 65535"), std::string::npos) << error;
    }
}

TEST(PortArgDeathTest, BadPortIsOneLineAndExitStatus2) {
    EXPECT_EXIT(common::port_arg("abc"), ExitedWithCode(2),
                "^common_test: invalid port 'abc': not a decimal number \\(expected 0 to "
                "65535\\)\n$");
    EXPECT_EXIT(common::port_arg("65536"), ExitedWithCode(2), "out of range");
}

TEST(NumberArgDeathTest, AcceptsTheRangeAndRejectsTheRestWithExit2) {
    EXPECT_EQ(common::number_arg("--n", "1", 1, 64), 1);
    EXPECT_EQ(common::number_arg("--n", "64", 1, 64), 64);
    EXPECT_EQ(common::number_arg("--n", "-5", -10, 10), -5);
    EXPECT_EXIT(common::number_arg("--threads", "abc", 1, 64), ExitedWithCode(2),
                "^common_test: invalid --threads 'abc' \\(expected 1 to 64\\)\n$");
    for (const char* bad : {"", "0", "65", " 5", "+5", "5x", "99999999999999999999999"})
        EXPECT_EXIT(common::number_arg("--n", bad, 1, 64), ExitedWithCode(2), "invalid --n") << bad;
}

// ---- addresses --------------------------------------------------------------------------

TEST(ToString, FormatsIPv4AsAddrColonPort) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(9190);
    ASSERT_EQ(inet_pton(AF_INET, "127.0.0.1", &in.sin_addr), 1);
    EXPECT_EQ(common::to_string(reinterpret_cast<sockaddr*>(&in)), "127.0.0.1:9190");
}

TEST(ToString, FormatsIPv6InBrackets) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(9190);
    ASSERT_EQ(inet_pton(AF_INET6, "::1", &in6.sin6_addr), 1);
    EXPECT_EQ(common::to_string(reinterpret_cast<sockaddr*>(&in6)), "[::1]:9190");
    ASSERT_EQ(inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr), 1);
    in6.sin6_port = htons(65535);
    EXPECT_EQ(common::to_string(reinterpret_cast<sockaddr*>(&in6)), "[::ffff:127.0.0.1]:65535");
}

std::vector<std::string> addresses_of(const common::AddrList& list) {
    std::vector<std::string> out;
    for (const addrinfo& ai : list)
        out.push_back(common::to_string(ai.ai_addr));
    return out;
}

TEST(Resolve, LiteralsOfBothFamilies) {
    EXPECT_EQ(addresses_of(common::resolve("127.0.0.1", "80", SOCK_STREAM)),
              std::vector<std::string>{"127.0.0.1:80"});
    EXPECT_EQ(addresses_of(common::resolve("::1", "9190", SOCK_DGRAM)),
              std::vector<std::string>{"[::1]:9190"});
    for (const addrinfo& ai : common::resolve("::1", "9190", SOCK_DGRAM))
        EXPECT_EQ(ai.ai_socktype, SOCK_DGRAM);
}

TEST(ResolveDeathTest, UnknownHostIsOneLineAndExitStatus1) {
    EXPECT_EXIT(common::resolve("nosuch.invalid", "80", SOCK_STREAM), ExitedWithCode(1),
                "^common_test: cannot resolve 'nosuch.invalid': .+\n$");
}

TEST(ResolveDeathTest, ServiceNamesAreNotPorts) {
    // getaddrinfo() would take "http" for port 80; the command-line contract says PORT is a
    // number, so "http" is bad usage.
    EXPECT_EXIT(common::resolve("127.0.0.1", "http", SOCK_STREAM), ExitedWithCode(2),
                "invalid port 'http'");
}

class ListenAddresses : public ::testing::Test {
  protected:
    void SetUp() override {
        const char* old = getenv("SOCKLAB_BIND");
        if (old) saved_ = old;
        had_ = old != nullptr;
    }
    void TearDown() override {
        if (had_)
            setenv("SOCKLAB_BIND", saved_.c_str(), 1);
        else
            unsetenv("SOCKLAB_BIND");
    }
    std::string saved_;
    bool had_ = false;
};

TEST_F(ListenAddresses, WildcardIPv6FirstThenIPv4) {
    unsetenv("SOCKLAB_BIND");
    EXPECT_EQ(addresses_of(common::listen_addresses("9190", SOCK_STREAM)),
              (std::vector<std::string>{"[::]:9190", "0.0.0.0:9190"}));
}

TEST_F(ListenAddresses, SocklabBindRestrictsToOneHost) {
    setenv("SOCKLAB_BIND", "127.0.0.1", 1);
    EXPECT_EQ(addresses_of(common::listen_addresses("0", SOCK_STREAM)),
              std::vector<std::string>{"127.0.0.1:0"});
    setenv("SOCKLAB_BIND", "::1", 1);
    EXPECT_EQ(addresses_of(common::listen_addresses("7", SOCK_DGRAM)),
              std::vector<std::string>{"[::1]:7"});
}

// listen_tcp() is ch04's loop: on [::] with IPV6_V6ONLY off (so an IPv4 client is served as
// ::ffff:127.0.0.1), SO_REUSEADDR on, listening, with the caller's socket() flags.
TEST_F(ListenAddresses, ListenTcpIsDualStackReusableAndListening) {
    unsetenv("SOCKLAB_BIND");
    common::Fd fd = common::listen_tcp("0", SOCK_NONBLOCK);
    int on = 0, v6only = 1, listening = 0;
    socklen_t len = sizeof on;
    ASSERT_EQ(getsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, &len), 0);
    ASSERT_EQ(getsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len), 0);
    ASSERT_EQ(getsockopt(fd.get(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len), 0);
    EXPECT_EQ(on, 1);
    EXPECT_EQ(v6only, 0);
    EXPECT_EQ(listening, 1);
    EXPECT_NE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0);
    sockaddr_in6 addr{};
    len = sizeof addr;
    ASSERT_EQ(getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
    EXPECT_EQ(addr.sin6_family, AF_INET6);
    EXPECT_TRUE(IN6_IS_ADDR_UNSPECIFIED(&addr.sin6_addr));

    // connect_tcp() over IPv4 reaches it: the dual-stack socket takes IPv4 clients.
    std::string port = std::to_string(ntohs(addr.sin6_port));
    common::Fd client = common::connect_tcp("127.0.0.1", port.c_str());
    pollfd pfd{fd.get(), POLLIN, 0};
    ASSERT_EQ(
        poll(&pfd, 1, static_cast<int>(harness::scaled(std::chrono::milliseconds(5000)).count())),
        1);
    common::Fd served(accept(fd.get(), nullptr, nullptr));
    ASSERT_TRUE(served);
    ASSERT_TRUE(common::write_all(client.get(), "hi"));
    char buf[2];
    EXPECT_EQ(common::read_exact(served.get(), buf, 2), 2);
    EXPECT_EQ(std::string(buf, 2), "hi");
}

TEST_F(ListenAddresses, ListenTcpOnABusyPortDiesWithOneLine) {
    setenv("SOCKLAB_BIND", "127.0.0.1", 1);
    common::Fd fd = common::listen_tcp("0");
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    ASSERT_EQ(getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
    std::string port = std::to_string(ntohs(addr.sin_port));
    // SO_REUSEADDR does not let a second socket bind a port that is LISTENing.
    EXPECT_EXIT(common::listen_tcp(port.c_str()), ExitedWithCode(1),
                "^common_test: bind to port " + port + ": Address already in use\n$");
}

TEST(ConnectTcpDeathTest, RefusedIsOneLineAndExitStatus1) {
    // A port bound but not listening: nobody accepts, the kernel answers SYN with RST.
    common::Fd held(socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(held.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(getsockname(held.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
    std::string port = std::to_string(ntohs(addr.sin_port));
    EXPECT_EXIT(common::connect_tcp("127.0.0.1", port.c_str()), ExitedWithCode(1),
                "^common_test: connect to 127.0.0.1 port " + port + ": Connection refused\n$");
}

TEST(PrintReady, PrintsTheRealPortAndFlushes) {
    common::Fd fd(socket(AF_INET, SOCK_STREAM, 0));
    ASSERT_TRUE(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;  // the kernel chooses
    ASSERT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
    ASSERT_NE(ntohs(addr.sin_port), 0);

    testing::internal::CaptureStdout();
    common::print_ready("listening on", fd.get());
    EXPECT_EQ(testing::internal::GetCapturedStdout(),
              "listening on 127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "\n");
}

// ---- Fd ---------------------------------------------------------------------------------

bool is_open(int fd) {
    return fcntl(fd, F_GETFD) != -1;
}

TEST(Fd, ClosesExactlyOnceAndMoves) {
    int raw;
    {
        common::Fd a(open("/dev/null", O_RDONLY));
        raw = a.get();
        ASSERT_GE(raw, 0);
        common::Fd b(std::move(a));
        EXPECT_FALSE(a);
        EXPECT_EQ(b.get(), raw);
        common::Fd c;
        c = std::move(b);
        EXPECT_EQ(c.get(), raw);
        EXPECT_TRUE(is_open(raw));
    }
    EXPECT_FALSE(is_open(raw));
}

TEST(Fd, ReleaseGivesUpOwnership) {
    int raw;
    {
        common::Fd a(open("/dev/null", O_RDONLY));
        raw = a.release();
        EXPECT_FALSE(a);
    }
    EXPECT_TRUE(is_open(raw));
    close(raw);
}

TEST(Fd, ResetKeepsErrnoForTheErrorMessage) {
    common::Fd a(open("/dev/null", O_RDONLY));
    errno = ECONNREFUSED;
    a.reset();
    EXPECT_EQ(errno, ECONNREFUSED);
}

// ---- write_all / read_exact ---------------------------------------------------------------

std::atomic<int> g_interrupts{0};
void count_interrupt(int) {
    g_interrupts.fetch_add(1);
}

TEST(WriteAll, DeliversEverythingThroughASmallBufferToASlowReader) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    common::Fd writer(sv[0]), reader(sv[1]);
    int small = 4096;
    ASSERT_EQ(setsockopt(writer.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);

    // A signal handler installed without SA_RESTART: a write() interrupted after it moved
    // some bytes returns a short count, one interrupted before returns EINTR.  write_all
    // must cope with both.
    struct sigaction sa {};
    sa.sa_handler = count_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    struct sigaction old {};
    ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);

    const std::string data = harness::random_bytes(2 << 20, 7);
    pthread_t writer_thread = pthread_self();
    std::string received;
    std::thread slow_reader([&] {
        char buf[1000];  // small reads, and a signal to the writer after each
        while (received.size() < data.size()) {
            ssize_t n = read(reader.get(), buf, sizeof buf);
            if (n <= 0) break;
            received.append(buf, static_cast<size_t>(n));
            pthread_kill(writer_thread, SIGUSR1);
        }
    });
    g_interrupts = 0;
    bool ok = common::write_all(writer.get(), data);
    int saved_errno = errno;
    slow_reader.join();
    sigaction(SIGUSR1, &old, nullptr);

    ASSERT_TRUE(ok) << strerror(saved_errno);
    EXPECT_GT(g_interrupts.load(), 0);
    EXPECT_EQ(received.size(), data.size());
    EXPECT_TRUE(received == data) << "bytes differ";
}

TEST(WriteAll, ReportsEPIPEWhenThePeerIsGone) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    common::Fd writer(sv[0]);
    close(sv[1]);
    auto old = signal(SIGPIPE, SIG_IGN);  // as a server must (ch04)
    errno = 0;
    EXPECT_FALSE(common::write_all(writer.get(), "hello"));
    EXPECT_EQ(errno, EPIPE);
    signal(SIGPIPE, old);
}

TEST(ReadExact, GathersPiecesIntoOneBuffer) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    common::Fd a(sv[0]), b(sv[1]);
    const std::string data = "TCP keeps no message boundaries";
    std::thread bytewise([&] {
        for (char c : data)
            ASSERT_EQ(write(a.get(), &c, 1), 1);  // one byte per write
    });
    std::string got(data.size(), '\0');
    EXPECT_EQ(common::read_exact(b.get(), got.data(), got.size()),
              static_cast<ssize_t>(data.size()));
    bytewise.join();
    EXPECT_EQ(got, data);
}

TEST(ReadExact, StopsShortAtEndOfStream) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    common::Fd a(sv[0]), b(sv[1]);
    ASSERT_EQ(write(a.get(), "12345", 5), 5);
    ASSERT_EQ(shutdown(a.get(), SHUT_WR), 0);
    char buf[10];
    EXPECT_EQ(common::read_exact(b.get(), buf, sizeof buf), 5);
    EXPECT_EQ(std::string(buf, 5), "12345");
    EXPECT_EQ(common::read_exact(b.get(), buf, sizeof buf), 0);  // and 0 after that
}

TEST(ReadExact, ReportsErrors) {
    errno = 0;
    char buf[4];
    EXPECT_EQ(common::read_exact(-1, buf, sizeof buf), -1);
    EXPECT_EQ(errno, EBADF);
}

// ---- error reporting ---------------------------------------------------------------------

TEST(ErrorsDeathTest, DieAddsStrerrorAndExits1) {
    EXPECT_EXIT(
        {
            errno = ECONNREFUSED;
            common::die("connect to %s port %d", "127.0.0.1", 9);
        },
        ExitedWithCode(1), "^common_test: connect to 127.0.0.1 port 9: Connection refused\n$");
}

TEST(ErrorsDeathTest, FatalHasNoErrnoText) {
    EXPECT_EXIT(
        {
            errno = EINVAL;
            common::fatal("bad reply of %d bytes", 3);
        },
        ExitedWithCode(1), "^common_test: bad reply of 3 bytes\n$");
}

TEST(ErrorsDeathTest, DieUsageExits2) {
    EXPECT_EXIT(common::die_usage("%s", "PORT"), ExitedWithCode(2), "^usage: common_test PORT\n$");
}

// die() may be called while other threads still use static objects (ch18's servers): it must
// not destroy them, as exit() would.  A static object whose destructor would change the exit
// status shows whether destructors ran.
TEST(ErrorsDeathTest, DieRunsNoStaticDestructors) {
    EXPECT_EXIT(
        {
            struct Tripwire {
                ~Tripwire() { _exit(99); }
            };
            static Tripwire tripwire;
            (void)tripwire;
            std::thread([] { pause(); }).detach();  // a thread still running
            errno = EMFILE;
            common::die("accept");
        },
        ExitedWithCode(1), "^common_test: accept: Too many open files\n$");
}

TEST(AcceptFailure, SortsLinuxErrorsByWhatAServerDoes) {
    using common::AcceptFailure;
    // A connection that died in the backlog, or a signal: accept again.
    for (int e : {EINTR, ECONNABORTED, EPROTO, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET,
                  EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH, EPERM, ETIMEDOUT})
        EXPECT_EQ(common::accept_failure(e), AcceptFailure::kRetry) << strerror(e);
    EXPECT_EQ(common::accept_failure(EAGAIN), AcceptFailure::kWouldBlock);
    EXPECT_EQ(common::accept_failure(EWOULDBLOCK), AcceptFailure::kWouldBlock);
    for (int e : {EMFILE, ENFILE, ENOBUFS, ENOMEM})
        EXPECT_EQ(common::accept_failure(e), AcceptFailure::kExhausted) << strerror(e);
    for (int e : {EBADF, EINVAL, ENOTSOCK, EFAULT})
        EXPECT_EQ(common::accept_failure(e), AcceptFailure::kFatal) << strerror(e);
}

// What Linux does with a connection reset while it waits in the backlog: accept() returns
// it (BSD would fail with ECONNABORTED), and the first read reports the reset.
TEST(AcceptFailure, LinuxReturnsAConnectionResetInTheBacklog) {
    harness::Listener listener = harness::listen_loopback();
    common::Fd client = harness::connect_tcp("127.0.0.1", listener.port);
    ASSERT_TRUE(client);
    linger lg{.l_onoff = 1, .l_linger = 0};  // close() now sends RST
    ASSERT_EQ(setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    client.reset();  // on loopback the RST is processed before close() returns
    common::Fd accepted(accept(listener.fd.get(), nullptr, nullptr));
    ASSERT_TRUE(accepted) << "accept: " << strerror(errno);
    char buf[16];
    errno = 0;
    EXPECT_EQ(read(accepted.get(), buf, sizeof buf), -1);
    EXPECT_EQ(errno, ECONNRESET);
}

TEST(Errors, WarnReportsAndKeepsErrno) {
    testing::internal::CaptureStderr();
    errno = EPIPE;
    common::warn("write to %s", "client");
    EXPECT_EQ(errno, EPIPE);
    common::note("client %d gone", 4);
    EXPECT_EQ(testing::internal::GetCapturedStderr(),
              "common_test: write to client: Broken pipe\ncommon_test: client 4 gone\n");
}

}  // namespace
