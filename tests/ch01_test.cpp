// ch01 (book ch. 1-3): the socket templates, descriptors, byte order, address conversion.
//
// Every expected value is worked out here, independently of the program under test: the
// message text, descriptor numbers, byte orders from the test's own memory, addresses from
// inet_pton/inet_ntop, file contents read back from disk.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kit.hpp"
#include "proc.hpp"

namespace {

using namespace std::chrono_literals;
using harness::Deadline;
using harness::Options;
using harness::Process;

const std::string kHello = "Hello World!";  // what the chapter says the server sends

// The port at the end of "... ADDR:PORT" or "... ADDR:PORT (...)"; 0 if none.
int port_after(const std::string& line, const std::string& addr) {
    std::smatch m;
    std::regex re(std::regex_replace(addr, std::regex(R"([.\[\]])"), R"(\$&)") + ":(\\d+)");
    return std::regex_search(line, m, re) ? std::stoi(m[1]) : 0;
}

// Bytes a process has received through read()-like calls so far (/proc/PID/io "rchar").
long rchar_of(pid_t pid) {
    std::ifstream io("/proc/" + std::to_string(pid) + "/io");
    std::string key;
    long value;
    while (io >> key >> value)
        if (key == "rchar:") return value;
    return -1;
}

// ---- hello_server / hello_client: the two socket templates ------------------------------

TEST(Ch01Hello, ClientPrintsTheMessageOverIPv4AndServerExitsAfterOneClient) {
    Process server(PROG_hello_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);

    auto client = harness::run(PROG_hello_client, {"127.0.0.1", std::to_string(port)});
    EXPECT_EQ(client.exit_code(), 0) << client.err;
    EXPECT_EQ(client.out, "Message from server: " + kHello + "\n");

    auto status = server.finish();
    ASSERT_TRUE(status) << "hello_server did not exit after its one client";
    EXPECT_TRUE(harness::exited_with(*status, 0)) << harness::describe_status(*status);
    EXPECT_EQ(server.err(), "");
}

TEST(Ch01Hello, ClientPrintsTheMessageOverIPv6) {
    Options v6;  // (Options{.bind = "::1"} trips -Wmissing-field-initializers)
    v6.bind = "::1";
    Process server(PROG_hello_server, {"0"}, v6);
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    EXPECT_NE(server.out().find("listening on [::1]:"), std::string::npos) << server.out();

    auto client = harness::run(PROG_hello_client, {"::1", std::to_string(port)});
    EXPECT_EQ(client.exit_code(), 0) << client.err;
    EXPECT_EQ(client.out, "Message from server: " + kHello + "\n");
    EXPECT_NE(client.err.find("connected from [::1]:"), std::string::npos) << client.err;

    auto status = server.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << harness::describe_status(*status);
    EXPECT_NE(server.out().find("connection from [::1]:"), std::string::npos) << server.out();
}

// The client never calls bind(); connect() gives it an address and an ephemeral port.  The
// client's getsockname() and the server's accept() must name the same port.
TEST(Ch01Hello, KernelAssignsTheClientAddressAndPortAtConnect) {
    Process server(PROG_hello_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    Process client(PROG_hello_client, {"127.0.0.1", std::to_string(port)});

    auto note = client.read_err_line();
    ASSERT_TRUE(note) << "no note on stderr";
    int client_port = port_after(*note, "127.0.0.1");
    auto accepted = server.wait_for_line("connection from ");
    ASSERT_TRUE(accepted) << server.out();
    EXPECT_GT(client_port, 0) << *note;
    EXPECT_NE(client_port, port) << "the client's port is its own, not the server's";
    EXPECT_EQ(port_after(*accepted, "127.0.0.1"), client_port) << *note << " / " << *accepted;

    auto status = client.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << client.err();
}

// A peer we did not write: socat reads the stream until the server closes it.  Exactly the
// 12 bytes of text arrive, no C string terminator after them.
TEST(Ch01Hello, SocatReceivesExactlyHelloWorld) {
    SOCKLAB_REQUIRE_TOOL("socat");
    Process server(PROG_hello_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);

    auto peer = harness::run("socat", {"-u", "TCP:127.0.0.1:" + std::to_string(port), "-"});
    EXPECT_EQ(peer.exit_code(), 0) << peer.err;
    EXPECT_EQ(peer.out, kHello);
    auto status = server.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << harness::describe_status(*status);
}

// The lesson of the client's read loop: the message arrives in two pieces, and the client
// must print both.  We wait until the client has really consumed the first piece
// (/proc/PID/io counts bytes read) before sending the second; a client that calls read()
// once would print "Hello " only.
TEST(Ch01Hello, ClientReadsUntilEndOfStreamNotJustOnce) {
    harness::Listener listener = harness::listen_loopback();
    Process client(PROG_hello_client, {"127.0.0.1", std::to_string(listener.port)});
    common::Fd conn = harness::accept_within(listener.fd.get());
    ASSERT_TRUE(conn) << "hello_client did not connect";
    ASSERT_TRUE(client.read_err_line()) << "no note: " << client.err();  // printed before read()
    long before = rchar_of(client.pid());
    ASSERT_GE(before, 0) << "cannot read /proc/" << client.pid() << "/io";

    const std::string first = kHello.substr(0, 6), second = kHello.substr(6);
    ASSERT_TRUE(harness::send_all(conn.get(), first));
    // A counter that has no event to wait on: poll it, under a deadline.
    harness::wait_until(
        [&] { return rchar_of(client.pid()) >= before + static_cast<long>(first.size()); });
    ASSERT_EQ(rchar_of(client.pid()), before + static_cast<long>(first.size()))
        << "the client did not read the first piece";

    ASSERT_TRUE(harness::send_all(conn.get(), second));
    conn.reset();  // FIN: end of stream
    auto status = client.finish();
    ASSERT_TRUE(status);
    EXPECT_TRUE(harness::exited_with(*status, 0)) << client.err();
    EXPECT_EQ(client.out(), "Message from server: " + kHello + "\n");
}

// ---- tcp_client_bytewise: no message boundaries -----------------------------------------

TEST(Ch01Bytewise, TwelveReadsForTheTwelveBytesOfOneWrite) {
    Process server(PROG_hello_server, {"0"});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    auto client = harness::run(PROG_tcp_client_bytewise, {"127.0.0.1", std::to_string(port)});
    EXPECT_EQ(client.exit_code(), 0) << client.err;
    auto lines = harness::lines(client.out);
    ASSERT_EQ(lines.size(), 2u) << client.out;
    EXPECT_EQ(lines[0], "Message from server: " + kHello);
    EXPECT_EQ(lines[1].rfind("Function read call count: " + std::to_string(kHello.size()) + " ", 0),
              0u)
        << lines[1];
}

// strace shows the calls themselves: the server's ONE write() of 12 bytes, the client's
// twelve read()s of 1 byte each and a last read() that returns 0 at end of stream.
TEST(Ch01Bytewise, StraceShowsOneWriteAndTwelveOneByteReads) {
    SOCKLAB_REQUIRE_TOOL("strace");
    Process server("strace", {"-f", "-e", "trace=write", "--", PROG_hello_server, "0"},
                   harness::traced());
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    Process client("strace",
                   {"-f", "-e", "trace=read", "--", PROG_tcp_client_bytewise, "127.0.0.1",
                    std::to_string(port)},
                   harness::traced());
    auto client_status = client.finish();
    ASSERT_TRUE(client_status);
    EXPECT_TRUE(harness::exited_with(*client_status, 0)) << client.err();
    auto server_status = server.finish();
    ASSERT_TRUE(server_status);
    EXPECT_TRUE(harness::exited_with(*server_status, 0)) << server.err();

    // harness::strace_calls: one entry per finished call, "write(1, \"...\", 12) = 12".
    std::regex write_re(R"re(^write\(\d+, "([^"]*)"(\.\.\.)?, (\d+)\) = (-?\d+))re");
    int hello_writes = 0;
    for (const harness::SysCall& c : harness::strace_calls(server.err())) {
        std::smatch m;
        if (c.name != "write" || !std::regex_search(c.text, m, write_re) ||
            m[1].str().find("Hello") == std::string::npos)
            continue;
        ++hello_writes;
        EXPECT_EQ(m[1].str(), kHello) << c.text;
        EXPECT_EQ(m[3].str(), std::to_string(kHello.size())) << c.text;
        EXPECT_EQ(m[4].str(), std::to_string(kHello.size())) << c.text;
    }
    EXPECT_EQ(hello_writes, 1) << server.err();

    std::regex read_re(R"re(^read\((\d+), "(.*)", 1\) = (\d+))re");
    std::string bytes;
    int one_byte_reads = 0, eof_reads = 0;
    for (const harness::SysCall& c : harness::strace_calls(client.err())) {
        std::smatch m;
        if (c.name != "read" || !std::regex_search(c.text, m, read_re)) continue;
        if (m[3] == "1") {
            ++one_byte_reads;
            bytes += m[2].str();
        } else if (m[3] == "0") {
            ++eof_reads;
        }
    }
    EXPECT_EQ(one_byte_reads, static_cast<int>(kHello.size())) << client.err();
    EXPECT_EQ(bytes, kHello);
    EXPECT_EQ(eof_reads, 1) << client.err();
}

// ---- low_open / low_read / fd_seri: descriptors -----------------------------------------

TEST(Ch01Files, LowOpenWritesExactlyTheTextWithDescriptor3AndMode0644) {
    harness::TempDir dir;
    std::string path = dir.file("data.txt");
    mode_t mask = umask(0);  // the child inherits our umask; read it without changing it
    umask(mask);

    auto r = harness::run(PROG_low_open, {path});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, "file descriptor: 3\n");
    EXPECT_EQ(harness::read_file(path), "Let's go!\n");  // 10 bytes, no '\0'
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644 & ~mask) << std::oct << (st.st_mode & 0777);
}

TEST(Ch01Files, LowOpenEmptiesAnExistingFile) {
    harness::TempDir dir;
    std::string path = dir.file("data.txt");
    harness::write_file(path, std::string(1000, 'x'));
    auto r = harness::run(PROG_low_open, {path});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(harness::read_file(path), "Let's go!\n");
}

TEST(Ch01Files, LowReadPrintsWhatLowOpenWrote) {
    harness::TempDir dir;
    std::string path = dir.file("data.txt");
    ASSERT_EQ(harness::run(PROG_low_open, {path}).exit_code(), 0);
    auto r = harness::run(PROG_low_read, {path});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, "file descriptor: 3\nfile data: Let's go!\n");
}

// More than one buffer's worth, with '\0' bytes in it: read() until 0, print every byte.
TEST(Ch01Files, LowReadPrintsEveryByteOfALargeBinaryFile) {
    harness::TempDir dir;
    std::string path = dir.file("random.bin");
    std::string data = harness::random_bytes(10000, 7);
    harness::write_file(path, data);
    auto r = harness::run(PROG_low_read, {path});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_TRUE(r.out == "file descriptor: 3\nfile data: " + data)
        << "output of " << r.out.size() << " bytes differs";
}

// open() returns the lowest free descriptor: with stdin closed, that is 0.
TEST(Ch01Files, LowestFreeDescriptorIsTakenFirst) {
    harness::TempDir dir;
    std::string path = dir.file("data.txt");
    auto r = harness::run("sh", {"-c", "exec \"$0\" \"$1\" <&-", PROG_low_open, path});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, "file descriptor: 0\n");
    EXPECT_EQ(harness::read_file(path), "Let's go!\n");
}

TEST(Ch01Files, LowReadOfAMissingFileNamesItAndExits1) {
    harness::TempDir dir;
    std::string path = dir.file("nosuch.txt");
    auto r = harness::run(PROG_low_read, {path});
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_EQ(r.out, "");
    auto lines = harness::lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_NE(lines[0].find(path), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("No such file or directory"), std::string::npos) << lines[0];
}

TEST(Ch01Files, LowOpenInAMissingDirectoryExits1) {
    harness::TempDir dir;
    std::string path = dir.file("nosuch-dir/data.txt");
    auto r = harness::run(PROG_low_open, {path});
    EXPECT_EQ(r.exit_code(), 1);
    auto lines = harness::lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_NE(lines[0].find(path + ": No such file or directory"), std::string::npos) << lines[0];
}

TEST(Ch01Files, SocketFileSocketGetDescriptors3To5) {
    auto r = harness::run(PROG_fd_seri, {});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    auto lines = harness::lines(r.out);
    ASSERT_EQ(lines.size(), 3u) << r.out;
    std::regex re(R"(^file descriptor (\d): (\d+) -> (.*)$)");
    const char* expected_kind[] = {"socket:[", "/dev/null", "socket:["};
    for (int i = 0; i < 3; ++i) {
        std::smatch m;
        ASSERT_TRUE(std::regex_match(lines[i], m, re)) << lines[i];
        EXPECT_EQ(std::stoi(m[1]), i + 1);
        EXPECT_EQ(std::stoi(m[2]), i + 3) << lines[i];
        EXPECT_EQ(m[3].str().rfind(expected_kind[i], 0), 0u) << lines[i];
    }
}

// ---- endian_conv: byte order ------------------------------------------------------------

// "0x1234, bytes in memory: 34 12" for a value as it lies in this process's memory.
template <typename T>
std::string as_in_memory(T value) {
    unsigned char bytes[sizeof value];
    memcpy(bytes, &value, sizeof value);
    char text[64];
    int n = snprintf(text, sizeof text, "0x%0*x, bytes in memory:", int(2 * sizeof value),
                     unsigned(value));
    for (unsigned char b : bytes)
        n += snprintf(text + n, sizeof text - n, " %02x", b);
    return text;
}

// Network order is big-endian by definition: most significant byte first.  Build those
// bytes by arithmetic and see what this host reads from them.
template <typename T>
T from_big_endian_bytes(T value) {
    unsigned char bytes[sizeof value];
    for (size_t i = 0; i < sizeof value; ++i)
        bytes[i] = static_cast<unsigned char>(value >> (8 * (sizeof value - 1 - i)));
    T result;
    memcpy(&result, bytes, sizeof result);
    return result;
}

TEST(Ch01Endian, HostAndNetworkOrderMatchTheBytesInMemory) {
    const uint32_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    std::string expected =
        std::string("this host is ") + (first == 1 ? "little" : "big") + "-endian\n" +
        "Host ordered port: " + as_in_memory<uint16_t>(0x1234) + "\n" +
        "Network ordered port: " + as_in_memory(from_big_endian_bytes<uint16_t>(0x1234)) + "\n" +
        "Host ordered address: " + as_in_memory<uint32_t>(0x12345678) + "\n" +
        "Network ordered address: " + as_in_memory(from_big_endian_bytes<uint32_t>(0x12345678)) +
        "\n";
    auto r = harness::run(PROG_endian_conv, {});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, expected);
    // Whatever the host: network order lies in memory most significant byte first.
    EXPECT_NE(r.out.find("Network ordered port: 0x"), std::string::npos);
    EXPECT_NE(r.out.find("bytes in memory: 12 34\n"), std::string::npos);
    EXPECT_NE(r.out.find("bytes in memory: 12 34 56 78\n"), std::string::npos);
}

// ---- inet_addr / inet_aton / inet_ntoa: the old IPv4 conversions ------------------------

// "0x04030201 (1.2.3.4)" from inet_pton, as the demos print s_addr.
std::string pton_s_addr(const char* text) {
    in_addr addr{};
    EXPECT_EQ(inet_pton(AF_INET, text, &addr), 1) << text;
    char hex[16];
    snprintf(hex, sizeof hex, "0x%08x", addr.s_addr);
    return std::string(hex) + " (" + text + ")";
}

TEST(Ch01Inet, InetAddrAgreesWithInetPtonAndCannotReport255AsValid) {
    auto r = harness::run(PROG_inet_addr_demo, {});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    auto lines = harness::lines(r.out);
    ASSERT_EQ(lines.size(), 6u) << r.out;
    EXPECT_EQ(lines[0], "inet_addr(\"1.2.3.4\") = " + pton_s_addr("1.2.3.4"));
    EXPECT_EQ(lines[1], "inet_pton(AF_INET, \"1.2.3.4\") = 1, s_addr = " + pton_s_addr("1.2.3.4"));
    // An invalid address and the valid broadcast address get the same answer...
    EXPECT_EQ(lines[2].rfind("inet_addr(\"1.2.3.256\") = 0xffffffff = INADDR_NONE", 0), 0u)
        << lines[2];
    EXPECT_EQ(lines[4].rfind("inet_addr(\"255.255.255.255\") = 0xffffffff = INADDR_NONE", 0), 0u)
        << lines[4];
    // ...which inet_pton tells apart.
    EXPECT_EQ(lines[3], "inet_pton(AF_INET, \"1.2.3.256\") = 0: not an IPv4 address");
    EXPECT_EQ(lines[5], "inet_pton(AF_INET, \"255.255.255.255\") = 1, s_addr = " +
                            pton_s_addr("255.255.255.255"));
}

TEST(Ch01Inet, InetAddrConvertsAnAddressGivenOnTheCommandLine) {
    auto r = harness::run(PROG_inet_addr_demo, {"192.168.10.20"});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, "inet_addr(\"192.168.10.20\") = " + pton_s_addr("192.168.10.20") +
                         "\ninet_pton(AF_INET, \"192.168.10.20\") = 1, s_addr = " +
                         pton_s_addr("192.168.10.20") + "\n");
}

TEST(Ch01Inet, InetAtonAgreesWithInetPtonAndRejects256) {
    auto r = harness::run(PROG_inet_aton_demo, {});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    auto lines = harness::lines(r.out);
    ASSERT_EQ(lines.size(), 8u) << r.out;
    EXPECT_EQ(lines[0],
              "inet_aton(\"127.232.124.79\") = 1, s_addr = " + pton_s_addr("127.232.124.79"));
    EXPECT_EQ(lines[2], "inet_aton(\"1.2.3.256\") = 0: not an IPv4 address");
    EXPECT_EQ(lines[3], "inet_pton(AF_INET, \"1.2.3.256\") = 0: not an IPv4 address");
    // No INADDR_NONE ambiguity: the result and the success flag are separate.
    EXPECT_EQ(lines[4],
              "inet_aton(\"255.255.255.255\") = 1, s_addr = " + pton_s_addr("255.255.255.255"));
    // inet_aton's old shorthand "127.1" means 127.0.0.1; inet_pton accepts only a.b.c.d.
    EXPECT_EQ(lines[6], "inet_aton(\"127.1\") = 1, s_addr = " + pton_s_addr("127.0.0.1"));
    EXPECT_EQ(lines[7], "inet_pton(AF_INET, \"127.1\") = 0: not an IPv4 address");
}

TEST(Ch01Inet, InetNtoaSecondCallOverwritesTheFirstResult) {
    auto text_of = [](uint32_t host_order) {
        in_addr addr{.s_addr = htonl(host_order)};
        char text[INET_ADDRSTRLEN];
        EXPECT_TRUE(inet_ntop(AF_INET, &addr, text, sizeof text));
        return std::string(text);
    };
    const std::string first = text_of(0x01020304), second = text_of(0x01010101);
    ASSERT_EQ(first, "1.2.3.4");
    auto r = harness::run(PROG_inet_ntoa_demo, {});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    auto lines = harness::lines(r.out);
    ASSERT_EQ(lines.size(), 5u) << r.out;
    EXPECT_EQ(lines[0].rfind("Dotted-Decimal notation1: " + first + " ", 0), 0u) << lines[0];
    // The pointer kept from the first call now shows the second call's result.
    EXPECT_EQ(lines[1].rfind("Dotted-Decimal notation2: " + second + " ", 0), 0u) << lines[1];
    EXPECT_EQ(lines[2].rfind("Dotted-Decimal notation3: " + first + " ", 0), 0u) << lines[2];
    EXPECT_EQ(lines[3], "second call returned the same pointer: yes (one static buffer)");
    EXPECT_EQ(lines[4], "inet_ntop: " + first + " and " + second + " (each in its own buffer)");
}

// ---- getaddrinfo_demo: what replaced them -----------------------------------------------

struct AddrLine {
    std::string family, socktype, address;
    int port;
};
std::vector<AddrLine> addr_lines(const std::string& out) {
    std::vector<AddrLine> result;
    std::regex re(R"(^(IPv4|IPv6) (SOCK_\w+) +(\S+) port (\d+)$)");
    for (const auto& line : harness::lines(out)) {
        std::smatch m;
        if (std::regex_match(line, m, re)) result.push_back({m[1], m[2], m[3], std::stoi(m[4])});
    }
    return result;
}

TEST(Ch01Getaddrinfo, IPv4LiteralGivesThatAddressAndPort) {
    auto r = harness::run(PROG_getaddrinfo_demo, {"127.0.0.1", "9190"});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    auto entries = addr_lines(r.out);
    ASSERT_FALSE(entries.empty()) << r.out;
    EXPECT_EQ(entries.size(), harness::lines(r.out).size()) << "unexpected lines:\n" << r.out;
    bool stream = false;
    for (const auto& e : entries) {
        EXPECT_EQ(e.family, "IPv4");
        EXPECT_EQ(e.address, "127.0.0.1");
        EXPECT_EQ(e.port, 9190);
        stream = stream || e.socktype == "SOCK_STREAM";
    }
    EXPECT_TRUE(stream) << r.out;
}

TEST(Ch01Getaddrinfo, IPv6LiteralGivesThatAddress) {
    auto r = harness::run(PROG_getaddrinfo_demo, {"::1", "80"});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    auto entries = addr_lines(r.out);
    ASSERT_FALSE(entries.empty()) << r.out;
    for (const auto& e : entries) {
        EXPECT_EQ(e.family, "IPv6");
        EXPECT_EQ(e.address, "::1");
        EXPECT_EQ(e.port, 80);
    }
}

TEST(Ch01Getaddrinfo, LocalhostIncludes127001) {
    auto r = harness::run(PROG_getaddrinfo_demo, {"localhost"});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    bool found = false;
    for (const auto& e : addr_lines(r.out))
        found = found || e.address == "127.0.0.1";
    EXPECT_TRUE(found) << r.out;
}

TEST(Ch01Getaddrinfo, PassiveGivesTheWildcardsIncludingInaddrAny) {
    auto r = harness::run(PROG_getaddrinfo_demo, {"--passive", "9190"});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    in_addr any{.s_addr = htonl(INADDR_ANY)};
    char any_text[INET_ADDRSTRLEN];
    ASSERT_TRUE(inet_ntop(AF_INET, &any, any_text, sizeof any_text));
    EXPECT_EQ(harness::lines(r.out).at(0), std::string("INADDR_ANY = 0x00000000 = ") + any_text);
    bool v4 = false, v6 = false;
    for (const auto& e : addr_lines(r.out)) {
        v4 = v4 || (e.family == "IPv4" && e.address == "0.0.0.0" && e.port == 9190);
        v6 = v6 || (e.family == "IPv6" && e.address == "::" && e.port == 9190);
    }
    EXPECT_TRUE(v4) << r.out;
    EXPECT_TRUE(v6) << r.out;
}

TEST(Ch01Getaddrinfo, UnknownHostIsOneLineAndExit1) {
    auto r = harness::run(PROG_getaddrinfo_demo, {"nosuch.invalid"});
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_EQ(r.out, "");
    auto lines = harness::lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_EQ(lines[0].rfind("getaddrinfo_demo: cannot resolve 'nosuch.invalid': ", 0), 0u)
        << lines[0];
}

TEST(Ch01Getaddrinfo, UnknownServiceIsOneLineAndExit1) {
    auto r = harness::run(PROG_getaddrinfo_demo, {"127.0.0.1", "nosuch-service"});
    EXPECT_EQ(r.exit_code(), 1);
    auto lines = harness::lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_NE(lines[0].find("'nosuch-service'"), std::string::npos) << lines[0];
}

// ---- bad input and faults ---------------------------------------------------------------

// Wrong number of arguments: the usage line, exit status 2.  A bad port: one line, exit 2.
TEST(Ch01BadInput, BadUsageAndBadPortsGiveOneLineAndExitStatus2) {
    const std::string bad_abc = "invalid port 'abc': not a decimal number (expected 0 to 65535)\n";
    const std::string bad_70000 = "invalid port '70000': out of range (expected 0 to 65535)\n";
    const std::string client_usage = "usage: hello_client HOST PORT\n";
    const std::string bytewise_usage = "usage: tcp_client_bytewise HOST PORT\n";
    const std::string gai_usage = "usage: getaddrinfo_demo HOST [SERVICE]  or  --passive SERVICE\n";
    harness::expect_usage_errors({
        {PROG_hello_server, {}, 2, "usage: hello_server PORT\n"},
        {PROG_hello_server, {"0", "1"}, 2, "usage: hello_server PORT\n"},
        {PROG_hello_client, {}, 2, client_usage},
        {PROG_hello_client, {"127.0.0.1"}, 2, client_usage},
        {PROG_hello_client, {"a", "1", "x"}, 2, client_usage},
        {PROG_tcp_client_bytewise, {}, 2, bytewise_usage},
        {PROG_tcp_client_bytewise, {"a", "1", "x"}, 2, bytewise_usage},
        {PROG_low_open, {}, 2, "usage: low_open FILE\n"},
        {PROG_low_open, {"a", "b"}, 2, "usage: low_open FILE\n"},
        {PROG_low_read, {}, 2, "usage: low_read FILE\n"},
        {PROG_low_read, {"a", "b"}, 2, "usage: low_read FILE\n"},
        {PROG_fd_seri, {"x"}, 2, "usage: fd_seri (no arguments)\n"},
        {PROG_endian_conv, {"x"}, 2, "usage: endian_conv (no arguments)\n"},
        {PROG_inet_addr_demo, {"1.2.3.4", "x"}, 2, "usage: inet_addr_demo [ADDRESS]\n"},
        {PROG_inet_aton_demo, {"1.2.3.4", "x"}, 2, "usage: inet_aton_demo [ADDRESS]\n"},
        {PROG_inet_ntoa_demo, {"x"}, 2, "usage: inet_ntoa_demo (no arguments)\n"},
        {PROG_getaddrinfo_demo, {}, 2, gai_usage},
        {PROG_getaddrinfo_demo, {"a", "b", "c"}, 2, gai_usage},
        {PROG_getaddrinfo_demo, {"--passive"}, 2, gai_usage},
        {PROG_hello_server, {"abc"}, 2, "hello_server: " + bad_abc},
        {PROG_hello_server, {"70000"}, 2, "hello_server: " + bad_70000},
        {PROG_hello_client, {"127.0.0.1", "abc"}, 2, "hello_client: " + bad_abc},
        {PROG_hello_client, {"127.0.0.1", "70000"}, 2, "hello_client: " + bad_70000},
        {PROG_tcp_client_bytewise, {"127.0.0.1", "abc"}, 2, "tcp_client_bytewise: " + bad_abc},
    });
}

// An unknown host: one line, exit status 1.  (The resolver's own words, after the name, may
// differ from one machine to the next: only the start of the line is fixed.)
TEST(Ch01BadInput, UnknownHostGivesOneLineAndExitStatus1) {
    for (const std::string name : {"hello_client", "tcp_client_bytewise"}) {
        auto r = harness::run(name == "hello_client" ? PROG_hello_client : PROG_tcp_client_bytewise,
                              {"nosuch.invalid", "9190"});
        EXPECT_EQ(r.exit_code(), 1) << name << ": " << harness::describe_status(r.status);
        EXPECT_EQ(r.out, "") << name;
        auto lines = harness::lines(r.err);
        ASSERT_EQ(lines.size(), 1u) << r.err;
        EXPECT_EQ(lines[0].rfind(name + ": cannot resolve 'nosuch.invalid'", 0), 0u) << lines[0];
    }
}

// A port with a socket bound but not listening: connecting to it is refused (RST).  We keep
// the socket open while the client runs, so no other test can take the port meanwhile.
void expect_refused(const char* program, const std::string& name) {
    harness::Listener closed_port = harness::refused_port();
    auto r = harness::run(program, {"127.0.0.1", std::to_string(closed_port.port)});
    EXPECT_EQ(r.exit_code(), 1) << harness::describe_status(r.status);
    EXPECT_EQ(r.out, "");
    auto lines = harness::lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_EQ(lines[0], name + ": connect to 127.0.0.1 port " + std::to_string(closed_port.port) +
                            ": Connection refused");
}

TEST(Ch01Faults, HelloClientReportsARefusedConnection) {
    expect_refused(PROG_hello_client, "hello_client");
}

TEST(Ch01Faults, BytewiseClientReportsARefusedConnection) {
    expect_refused(PROG_tcp_client_bytewise, "tcp_client_bytewise");
}

// The server's port is taken: bind() fails with one line, exit status 1.
TEST(Ch01Faults, HelloServerOnAPortInUseExits1) {
    harness::Listener taken = harness::listen_loopback();
    auto r = harness::run(PROG_hello_server, {std::to_string(taken.port)});
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "hello_server: bind to port " + std::to_string(taken.port) +
                         ": Address already in use\n");
}

}  // namespace
