// ch24_http_server: webserv against real clients — curl (Debian's) for status codes, headers
// and bodies byte-exact; raw sockets where the test must be a client no browser would be (a
// request that never ends, a client that never reads, 500 at once, bytes curl would not send).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kit.hpp"
#include "proc.hpp"

namespace {

using harness::Deadline;
using harness::Process;
using namespace std::chrono_literals;

// A document root in a temporary directory: DIR/www, with a secret beside it (DIR/secret.txt)
// that no request may return.
struct Site {
    harness::TempDir dir;
    std::string root = dir.file("www");
    std::string png = harness::random_bytes(5000, 7);
    std::string big = harness::random_bytes((1 << 20) + 12345, 3);
    Site() {
        mkdir(root.c_str(), 0755);
        mkdir((root + "/sub").c_str(), 0755);
        harness::write_file(root + "/index.html", "<!doctype html><title>ch24</title>\n");
        harness::write_file(root + "/style.css", "body { color: teal }\n");
        harness::write_file(root + "/app.js", "document.title = 'js';\n");
        harness::write_file(root + "/pic.png", png);
        harness::write_file(root + "/empty.txt", "");
        harness::write_file(root + "/big.bin", big);
        harness::write_file(root + "/sub/note.txt", "a note\n");
        harness::write_file(dir.file("secret.txt"), "SECRET-OUTSIDE-THE-DOCROOT\n");
    }
};

// webserv on port 0 over SITE; returns the port (0 and a test failure if it did not start).
int start(Process& server) {
    return server.wait_ready();
}

struct Reply {
    int status = 0;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    std::string raw;
};

// Splits an HTTP/1.1 answer (as `curl -i` prints it, or as read from a socket).
Reply parse(const std::string& raw) {
    Reply r;
    r.raw = raw;
    size_t end = raw.find("\r\n\r\n");
    if (raw.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return r;
    r.status = std::stoi(raw.substr(9, 3));
    r.body = raw.substr(end + 4);
    size_t pos = raw.find("\r\n") + 2;
    while (pos < end) {
        size_t eol = raw.find("\r\n", pos);
        std::string line = raw.substr(pos, eol - pos);
        size_t colon = line.find(':');
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        r.headers[name] = line.substr(colon + 2);
        pos = eol + 2;
    }
    return r;
}

// curl -si URL (plus EXTRA options), with a deadline.
Reply curl(int port, const std::string& path, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"-si", "--max-time", "5", "--path-as-is"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("http://127.0.0.1:" + std::to_string(port) + path);
    auto res = harness::run("curl", args, {}, Deadline(8s));
    EXPECT_FALSE(res.timed_out) << path;
    return parse(res.out);
}

// Sends RAW on a new connection and reads the answer to the end.
Reply ask_raw(int port, const std::string& raw) {
    common::Fd fd = harness::connect_tcp("127.0.0.1", port);
    EXPECT_TRUE(fd) << strerror(errno);
    EXPECT_TRUE(harness::send_all(fd.get(), raw));
    return parse(harness::recv_to_end(fd.get(), Deadline(5s)).data);
}

TEST(Ch24Webserv, ServesEveryFileByteExactWithItsTypeAndLength) {
    SOCKLAB_REQUIRE_TOOL("curl");
    Site site;
    Process server(PROG_webserv, {"0", site.root});
    int port = start(server);
    ASSERT_GT(port, 0);
    struct Case {
        std::string path, type, body;
    } cases[] = {
        {"/", "text/html; charset=utf-8", "<!doctype html><title>ch24</title>\n"},
        {"/index.html", "text/html; charset=utf-8", "<!doctype html><title>ch24</title>\n"},
        {"/style.css", "text/css", "body { color: teal }\n"},
        {"/app.js", "text/javascript", "document.title = 'js';\n"},
        {"/pic.png", "image/png", site.png},
        {"/empty.txt", "text/plain; charset=utf-8", ""},
        {"/big.bin", "application/octet-stream", site.big},
        {"/sub/note.txt?x=1", "text/plain; charset=utf-8", "a note\n"},
    };
    for (const auto& c : cases) {
        Reply r = curl(port, c.path);
        EXPECT_EQ(r.status, 200) << c.path << "\n" << r.raw.substr(0, 300);
        EXPECT_EQ(r.headers["content-type"], c.type) << c.path;
        EXPECT_EQ(r.headers["content-length"], std::to_string(c.body.size())) << c.path;
        EXPECT_EQ(r.headers["connection"], "close") << c.path;
        EXPECT_TRUE(r.body == c.body)
            << c.path << ": " << harness::first_difference(r.body, c.body);
    }
    // HTTP/1.0 too (curl -0).
    Reply r = curl(port, "/style.css", {"-0"});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "body { color: teal }\n");
}

TEST(Ch24Webserv, HeadAnswersGetsHeadersAndNoBody) {
    SOCKLAB_REQUIRE_TOOL("curl");
    Site site;
    Process server(PROG_webserv, {"0", site.root});
    int port = start(server);
    ASSERT_GT(port, 0);
    Reply get = curl(port, "/big.bin");
    Reply head = curl(port, "/big.bin", {"-I"});
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.headers["content-length"], std::to_string(site.big.size()));
    EXPECT_EQ(head.headers["content-type"], get.headers["content-type"]);
    // From a raw socket: nothing at all after the empty line, then end of stream.
    Reply raw = ask_raw(port, "HEAD /big.bin HTTP/1.0\r\n\r\n");
    EXPECT_EQ(raw.status, 200);
    EXPECT_EQ(raw.headers["content-length"], std::to_string(site.big.size()));
    EXPECT_EQ(raw.body, "");
    // A HEAD for a missing file: the 404's headers, no body.
    Reply missing = ask_raw(port, "HEAD /nope HTTP/1.0\r\n\r\n");
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.body, "");
}

TEST(Ch24Webserv, MissingWrongMethodAndMalformedRequestsGet404And405And400) {
    SOCKLAB_REQUIRE_TOOL("curl");
    Site site;
    Process server(PROG_webserv, {"0", site.root});
    int port = start(server);
    ASSERT_GT(port, 0);
    Reply r = curl(port, "/no/such/file.html");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.body, "404 Not Found\n");
    for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
        r = curl(port, "/index.html", {"-X", method});
        EXPECT_EQ(r.status, 405) << method;
        EXPECT_EQ(r.headers["allow"], "GET, HEAD") << method;
    }
    for (const char* bad : {
             "GARBAGE\r\n\r\n",                           // no target, no version
             "GET /\r\n\r\n",                             // HTTP/0.9
             "GET / HTTP/1.1\r\n\r\n",                    // 1.1 without Host
             "GET / HTTP/2.0\r\nHost: x\r\n\r\n",         // not a version we speak
             "GET  / HTTP/1.0\r\n\r\n",                   // two spaces
             "GET /%zz HTTP/1.0\r\n\r\n",                 // a broken escape
             "GET / HTTP/1.0\r\nNo colon here\r\n\r\n",   // a header without ':'
             "GET / HTTP/1.0\r\nBad name: x\r\n\r\n",     // a space in the name
             "GET http://x/index.html HTTP/1.0\r\n\r\n",  // absolute form: not from a client of
                                                          // ours
             "GET / HTTP/1.0\r\nHost: x\r\n",             // ends before the empty line
         }) {
        common::Fd fd = harness::connect_tcp("127.0.0.1", port);
        ASSERT_TRUE(fd);
        ASSERT_TRUE(harness::send_all(fd.get(), bad));
        if (std::string(bad).find("\r\n\r\n") == std::string::npos) shutdown(fd.get(), SHUT_WR);
        r = parse(harness::recv_to_end(fd.get(), Deadline(5s)).data);
        EXPECT_EQ(r.status, 400) << bad;
    }
}

TEST(Ch24Webserv, OversizedTargetGets414AndAMegabyteHeaderGets431) {
    SOCKLAB_REQUIRE_TOOL("curl");
    Site site;
    Process server(PROG_webserv, {"0", site.root});
    int port = start(server);
    ASSERT_GT(port, 0);
    Reply r = curl(port, "/" + std::string(10000, 'a'));
    EXPECT_EQ(r.status, 414) << r.raw.substr(0, 200);
    // 1 MB (curl itself refuses a request above 1 MiB, silently).
    harness::write_file(site.dir.file("header"), "X-Big: " + std::string(1000000, 'b') + "\n");
    r = curl(port, "/index.html", {"-H", "@" + site.dir.file("header")});
    EXPECT_EQ(r.status, 431) << r.raw.substr(0, 200);
    std::string many = "GET / HTTP/1.0\r\n";
    for (int i = 0; i < 65; ++i)
        many += "X-" + std::to_string(i) + ": y\r\n";
    EXPECT_EQ(ask_raw(port, many + "\r\n").status, 431);  // 65 headers, 64 allowed
    // And the server is fine after them.
    EXPECT_EQ(curl(port, "/style.css").status, 200);
}

TEST(Ch24Webserv, TraversalAttemptsNeverReturnTheOutsideFile) {
    SOCKLAB_REQUIRE_TOOL("curl");
    Site site;
    // Symbolic links out of the document root: to a file, and to the directory above.
    ASSERT_EQ(symlink("../secret.txt", (site.root + "/out.txt").c_str()), 0);
    ASSERT_EQ(symlink("..", (site.root + "/up").c_str()), 0);
    ASSERT_EQ(symlink(site.dir.path().c_str(), (site.root + "/abs").c_str()), 0);
    Process server(PROG_webserv, {"0", site.root});
    int port = start(server);
    ASSERT_GT(port, 0);
    const std::string secret = "SECRET-OUTSIDE-THE-DOCROOT";
    for (const std::string& path : std::vector<std::string>{
             "/../secret.txt", "/sub/../../secret.txt", "/./../secret.txt", "/%2e%2e/secret.txt",
             "/%2E%2E/secret.txt", "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt",
             "/sub%2f..%2f..%2fsecret.txt", "/out.txt", "/up/secret.txt", "/abs/secret.txt",
             "/%00/../secret.txt", "/out.txt%00.html",
             "/" + site.dir.path() + "/secret.txt",  // "//tmp/...": an absolute path
         }) {
        Reply r = curl(port, path);
        EXPECT_TRUE(r.status == 403 || r.status == 404 || r.status == 400)
            << path << " -> " << r.status;
        EXPECT_EQ(r.raw.find(secret), std::string::npos) << path;
    }
    // Raw: a NUL byte in the request line, and a target without the leading '/'.
    for (std::string raw : {std::string("GET /out.txt\0 HTTP/1.0\r\n\r\n", 27),
                            std::string("GET ../secret.txt HTTP/1.0\r\n\r\n")}) {
        Reply r = ask_raw(port, raw);
        EXPECT_TRUE(r.status == 400 || r.status == 403) << r.status;
        EXPECT_EQ(r.raw.find(secret), std::string::npos);
    }
    // A link that stays inside is followed.
    ASSERT_EQ(symlink("sub/note.txt", (site.root + "/in.txt").c_str()), 0);
    EXPECT_EQ(curl(port, "/in.txt").body, "a note\n");
}

TEST(Ch24Webserv, ARequestThatNeverEndsIsDroppedAtTheDeadlineWhileOthersAreServed) {
    SOCKLAB_REQUIRE_TOOL("curl");
    Site site;
    Process server(PROG_webserv, {"0", site.root, "--deadline-ms", "700"});
    int port = start(server);
    ASSERT_GT(port, 0);
    auto began = harness::Clock::now();
    common::Fd slow = harness::connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(slow);
    ASSERT_TRUE(harness::send_all(slow.get(), "GET /index.html HTT"));
    // Meanwhile, others are served at once.
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(curl(port, "/style.css").status, 200);
    auto end = harness::recv_to_end(slow.get(), Deadline(5s));
    auto took = harness::Clock::now() - began;
    EXPECT_EQ(end.end, harness::End::kFin);
    EXPECT_EQ(parse(end.data).status, 408) << end.data;
    EXPECT_GE(took, 650ms);
    EXPECT_LT(took, harness::scaled(3s));
    EXPECT_TRUE(server.wait_for_line("\"GET /index.html HTT\" 408 "));
    EXPECT_TRUE(server.read_err_line(Deadline(2s)));  // "...: dropped at the deadline (700 ms)"
}

TEST(Ch24Webserv, AClientThatNeverReadsALargeFileIsDroppedAtTheDeadline) {
    SOCKLAB_REQUIRE_TOOL("curl");
    Site site;
    const size_t size = 32u << 20;  // far more than the socket buffers hold
    harness::write_file(site.root + "/huge.bin", std::string(size, 'h'));
    Process server(PROG_webserv, {"0", site.root, "--deadline-ms", "800"});
    int port = start(server);
    ASSERT_GT(port, 0);
    common::Fd lazy = harness::connect_small_rcvbuf(port);
    ASSERT_TRUE(lazy);
    ASSERT_TRUE(harness::send_all(lazy.get(), "GET /huge.bin HTTP/1.0\r\n\r\n"));
    EXPECT_EQ(curl(port, "/index.html").status, 200);  // served meanwhile
    // The log line of the cut answer: status 200, fewer bytes than the file.
    auto line = server.wait_for_line("\"GET /huge.bin HTTP/1.0\" 200 ", Deadline(5s));
    ASSERT_TRUE(line) << server.err();
    long long sent = std::stoll(line->substr(line->rfind(' ') + 1));
    EXPECT_LT(sent, static_cast<long long>(size));
    auto note = server.read_err_line(Deadline(2s));
    ASSERT_TRUE(note);
    EXPECT_NE(note->find("dropped at the deadline (800 ms)"), std::string::npos) << *note;
    // And the connection is closed: reading it all ends (reset or FIN) well before 32 MiB.
    auto rest = harness::recv_to_end(lazy.get(), Deadline(5s));
    EXPECT_NE(rest.end, harness::End::kDeadline);
    EXPECT_LT(rest.data.size(), size);
}

TEST(Ch24Webserv, FiveHundredParallelConnectionsAllGetTheirBytes) {
    constexpr int kClients = 500;
    ASSERT_TRUE(harness::raise_nofile(4 * kClients));
    Site site;
    std::string body = harness::random_bytes(20000, 11);
    harness::write_file(site.root + "/page.bin", body);
    Process server(PROG_webserv, {"0", site.root});
    int port = start(server);
    ASSERT_GT(port, 0);
    std::vector<common::Fd> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(clients.back()) << i << ": " << strerror(errno);
    }
    for (auto& c : clients)  // every request in flight at once
        ASSERT_TRUE(harness::send_all(c.get(), "GET /page.bin HTTP/1.1\r\nHost: t\r\n\r\n"));
    Deadline deadline(20s);
    int good = 0;
    for (int i = 0; i < kClients; ++i) {
        Reply r = parse(harness::recv_to_end(clients[i].get(), deadline).data);
        if (r.status == 200 && r.body == body)
            ++good;
        else
            ADD_FAILURE() << "client " << i << ": " << r.status << " " << r.body.size();
        if (HasFailure()) break;
    }
    EXPECT_EQ(good, kClients);
}

TEST(Ch24Webserv, AtTheDescriptorLimitWaitsWithoutSpinningAndResumes) {
    // prlimit --nofile=64:64: (64 - 16) / 2 = 24 connections at once (a socket and a file
    // each); the 25th waits in the listen backlog, main sleeps in sem_wait(), and all are
    // served as the first leave.
    SOCKLAB_REQUIRE_TOOL("prlimit");
    Site site;
    Process server("prlimit", {"--nofile=64:64", "--", PROG_webserv, "0", site.root});
    int port = start(server);
    ASSERT_GT(port, 0);
    constexpr int kClients = 40;
    std::vector<common::Fd> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(harness::connect_tcp("127.0.0.1", port));
        ASSERT_TRUE(clients.back());
    }
    auto note = server.read_err_line(Deadline(5s));
    ASSERT_TRUE(note);
    EXPECT_EQ(*note,
              "webserv: --max-clients 24 reached: new connections wait in the listen backlog "
              "until a client leaves (said once)");
    // 40 connected, 24 accepted and waiting for their request: the server idles.
    long before = harness::cpu_ticks(server.pid());
    EXPECT_FALSE(harness::wait_until([&] { return !server.running(); }, Deadline(1s)));
    long ticks = harness::cpu_ticks(server.pid()) - before;
    EXPECT_LE(ticks, 5) << "the server spun at the limit";
    for (auto& c : clients)
        ASSERT_TRUE(harness::send_all(c.get(), "GET /style.css HTTP/1.0\r\n\r\n"));
    Deadline deadline(10s);
    for (int i = 0; i < kClients; ++i) {
        Reply r = parse(harness::recv_to_end(clients[i].get(), deadline).data);
        EXPECT_EQ(r.status, 200) << "client " << i;
        EXPECT_EQ(r.body, "body { color: teal }\n") << "client " << i;
        clients[i].reset();
    }
    EXPECT_EQ(server.err().find("Too many open files"), std::string::npos) << server.err();
}

TEST(Ch24Webserv, LogsOneLinePerResponseAndStopsOnSigintAndSigterm) {
    SOCKLAB_REQUIRE_TOOL("curl");
    Site site;
    for (int sig : {SIGINT, SIGTERM}) {
        Process server(PROG_webserv, {"0", site.root});
        int port = start(server);
        ASSERT_GT(port, 0);
        curl(port, "/style.css");
        curl(port, "/missing");
        curl(port, "/big.bin", {"-I"});
        curl(port, "/", {"-X", "DELETE"});
        const std::string peer = "^127\\.0\\.0\\.1:\\d+ ";
        for (const std::string& want :
             {peer + "\"GET /style.css HTTP/1.1\" 200 21$",
              peer + "\"GET /missing HTTP/1.1\" 404 14$",
              peer + "\"HEAD /big.bin HTTP/1.1\" 200 0$", peer + "\"DELETE / HTTP/1.1\" 405 23$"}) {
            auto line = server.read_line(Deadline(5s));
            ASSERT_TRUE(line);
            EXPECT_TRUE(std::regex_search(*line, std::regex(want))) << *line << " !~ " << want;
        }
        server.signal(sig);
        auto status = server.finish(Deadline(5s));
        ASSERT_TRUE(status);
        EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == sig)
            << harness::describe_status(*status);
        EXPECT_EQ(server.out().find("listening on"), 0u);
    }
}

TEST(Ch24Webserv, BadUsageAndBadValues) {
    const std::string usage = "usage: webserv PORT DOCROOT [--max-clients N] [--deadline-ms MS]\n";
    harness::expect_usage_errors({
        {PROG_webserv, {}, 2, usage},
        {PROG_webserv, {"0"}, 2, usage},
        {PROG_webserv, {"0", "/tmp", "--deadline-ms"}, 2, usage},
        {PROG_webserv, {"0", "/tmp", "--fast", "1"}, 2, usage},
        {PROG_webserv,
         {"70000", "/tmp"},
         2,
         "webserv: invalid port '70000': out of range (expected 0 to 65535)\n"},
        {PROG_webserv,
         {"0", "/tmp", "--deadline-ms", "0"},
         2,
         "webserv: invalid --deadline-ms '0' (expected 1 to 3600000)\n"},
        {PROG_webserv, {"0", "/etc/passwd"}, 1, "webserv: /etc/passwd: not a directory\n"},
        {PROG_webserv,
         {"0", "/no/such/dir"},
         1,
         "webserv: /no/such/dir: No such file or directory\n"},
    });
}

}  // namespace
