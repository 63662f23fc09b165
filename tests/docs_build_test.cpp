// docs_build_test — the top README's "Build one program by hand": the commands it shows are
// taken from the README itself (so the two cannot drift), run in an empty directory that
// holds only what they say they need (ch04_tcp_echo/, common/, cmake/), and the program they
// build must serve op_client like the CMake-built op_server.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kit.hpp"

namespace {

using namespace std::chrono_literals;

// The `$ ` commands of the README's section HEADING, in order, without the "$ ".
std::vector<std::string> section_commands(const std::string& readme, const std::string& heading) {
    std::ifstream in(readme);
    std::vector<std::string> commands;
    bool inside = false;
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("## ", 0) == 0) inside = line == heading;
        if (inside && line.rfind("$ ", 0) == 0) commands.push_back(line.substr(2));
    }
    return commands;
}

TEST(DocsHandBuild, ReadmeCommandsBuildOpservAndItAnswersOpClient) {
    SOCKLAB_REQUIRE_TOOL("g++");
    SOCKLAB_REQUIRE_TOOL("cmake");
    std::vector<std::string> commands =
        section_commands(SOCKLAB_SOURCE_DIR "/README.md", "## Build one program by hand");
    // The generator, the compiler, then the built program's --help.
    ASSERT_EQ(commands.size(), 3u);
    EXPECT_EQ(commands[0].rfind("cmake ", 0), 0u) << commands[0];
    EXPECT_EQ(commands[1].rfind("g++ ", 0), 0u) << commands[1];
    EXPECT_NE(commands[1].find(" -o opserv"), std::string::npos) << commands[1];

    harness::TempDir dir;
    for (const char* needed : {"ch04_tcp_echo", "common", "cmake"})
        std::filesystem::create_directory_symlink(SOCKLAB_SOURCE_DIR "/" + std::string(needed),
                                                  dir.file(needed));
    harness::Options in_dir{.cwd = dir.path()};
    for (size_t i = 0; i < 2; ++i) {
        harness::Result r =
            harness::run("bash", {"-c", commands[i]}, {}, harness::Deadline(110s), in_dir);
        ASSERT_EQ(r.exit_code(), 0) << commands[i] << "\n" << r.out << r.err;
    }
    harness::Result help = harness::run(dir.file("opserv"), {"--help"}, {}, {}, in_dir);
    EXPECT_EQ(help.exit_code(), 0);
    EXPECT_EQ(help.out.substr(0, help.out.find('\n')),
              "op_server — the book's calculator server (ch. 5, op_server.c): an application "
              "protocol");

    harness::Process server(dir.file("opserv"), {"0"}, in_dir);
    int port = server.wait_ready();
    ASSERT_GT(port, 0);
    harness::Result client =
        harness::run(PROG_op_client, {"127.0.0.1", std::to_string(port), "+", "1", "2", "3"});
    EXPECT_EQ(client.exit_code(), 0) << client.err;
    EXPECT_EQ(client.out, "Operation result: 6\n");
    EXPECT_EQ(server.wait_for_line("client 1:"), "client 1: 3 operands '+' -> 6");
}

}  // namespace
