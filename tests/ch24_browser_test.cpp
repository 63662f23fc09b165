// ch24_http_server: webserv serving a real browser — headless Chromium (Debian's) loads
// ch24_http_server/site and its script writes into the page what the browser could verify
// (script ran, style.css applied, logo.png decoded); webserv's log shows every file it fetched.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <map>
#include <regex>
#include <string>
#include <vector>

#include "harness.hpp"

namespace {

using harness::Deadline;
using harness::Process;
using namespace std::chrono_literals;

// Chromium's command line: a fresh profile in DIR, nothing fetched but the page itself.
std::vector<std::string> chromium_args(const std::string& profile, std::vector<std::string> more) {
    std::vector<std::string> args = {"--headless",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--disable-quic",
                                     "--no-first-run",
                                     "--disable-background-networking",
                                     "--disable-component-update",
                                     "--disable-sync",
                                     "--disable-dev-shm-usage",
                                     "--user-data-dir=" + profile,
                                     "--virtual-time-budget=5000"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

// PIDs of live processes whose command line mentions TEXT (the run's unique profile path).
std::vector<int> processes_mentioning(const std::string& text) {
    std::vector<int> found;
    DIR* proc = opendir("/proc");
    if (proc == nullptr) return found;
    while (dirent* e = readdir(proc)) {
        int pid = atoi(e->d_name);
        if (pid <= 0) continue;
        std::string cmd;
        try {
            cmd = harness::read_file("/proc/" + std::string(e->d_name) + "/cmdline");
        } catch (...) {
            continue;
        }
        if (cmd.find(text) != std::string::npos) found.push_back(pid);
    }
    closedir(proc);
    return found;
}

bool exists(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0;
}

// webserv's log lines  ADDR:PORT "GET TARGET HTTP/1.1" STATUS BYTES  as TARGET -> STATUS.
std::multimap<std::string, int> log_entries(const std::string& out, std::string* odd) {
    static const std::regex line(R"(^\S+:\d+ "GET (\S+) HTTP/1\.1" (\d{3}) \d+$)");
    std::multimap<std::string, int> got;
    for (const std::string& l : harness::lines(out)) {
        std::smatch m;
        if (l.rfind("listening on ", 0) == 0) continue;
        if (std::regex_match(l, m, line))
            got.emplace(m[1].str(), std::stoi(m[2].str()));
        else
            *odd += l + "\n";
    }
    return got;
}

TEST(Ch24Browser, ChromiumLoadsThePageItsStylesheetScriptAndImage) {
    SOCKLAB_REQUIRE_TOOL("chromium");
    Process server(PROG_webserv, {"0", CH24_SITE});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";

    std::string profile_path;
    {
        harness::TempDir tmp;
        profile_path = tmp.file("profile");
        auto r = harness::run("chromium", chromium_args(profile_path, {"--dump-dom", url}), {},
                              Deadline(20s));
        ASSERT_FALSE(r.timed_out) << "chromium did not finish; stderr:\n" << r.err;
        ASSERT_EQ(r.exit_code(), 0) << harness::describe_status(r.status) << "\n" << r.err;
        // From the browser's side: app.js ran, saw style.css applied and logo.png decoded.
        EXPECT_NE(r.out.find("<p id=\"status\">script ran; css ok; image 16x16 ok</p>"),
                  std::string::npos)
            << r.out;
        EXPECT_TRUE(processes_mentioning(profile_path).empty()) << "chromium left processes";
    }
    EXPECT_FALSE(exists(profile_path)) << "the profile directory was not removed";

    // From the server's side: exactly the four files, each once, each 200 (the page declares
    // an empty data: icon, so no /favicon.ico request; anything else is an error).
    server.signal(SIGTERM);
    ASSERT_TRUE(server.finish());
    std::string odd;
    auto got = log_entries(server.out(), &odd);
    EXPECT_EQ(odd, "");
    std::multimap<std::string, int> want = {
        {"/", 200}, {"/style.css", 200}, {"/app.js", 200}, {"/logo.png", 200}};
    EXPECT_EQ(got, want) << server.out();
}

TEST(Ch24Browser, ChromiumScreenshotIsAPngOfTheWindowSize) {
    SOCKLAB_REQUIRE_TOOL("chromium");
    Process server(PROG_webserv, {"0", CH24_SITE});
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    harness::TempDir tmp;
    const std::string shot = tmp.file("page.png");
    auto r = harness::run(
        "chromium",
        chromium_args(tmp.file("profile"), {"--screenshot=" + shot, "--window-size=800,600",
                                            "http://127.0.0.1:" + std::to_string(port) + "/"}),
        {}, Deadline(20s));
    ASSERT_FALSE(r.timed_out) << "chromium did not finish; stderr:\n" << r.err;
    ASSERT_EQ(r.exit_code(), 0) << harness::describe_status(r.status) << "\n" << r.err;
    EXPECT_TRUE(processes_mentioning(tmp.file("profile")).empty()) << "chromium left processes";
    ASSERT_TRUE(exists(shot)) << r.err;
    std::string png = harness::read_file(shot);
    ASSERT_GE(png.size(), 24u);
    // The PNG signature, then the IHDR chunk: width and height, big-endian, at bytes 16..23.
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    EXPECT_EQ(png.substr(12, 4), "IHDR");
    auto be32 = [&](size_t at) {
        return (unsigned char)png[at] << 24 | (unsigned char)png[at + 1] << 16 |
               (unsigned char)png[at + 2] << 8 | (unsigned char)png[at + 3];
    };
    EXPECT_EQ(be32(16), 800);
    EXPECT_EQ(be32(20), 600);
}

}  // namespace
