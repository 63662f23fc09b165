// -h/--help on every built program (DESIGN.md, "Command-line contract").  The list comes from
// CMake: every target registered with socklab_add_help() (socklab_program() does it), so a new
// program is covered without touching this file.  The help is the program's header comment
// (cmake/help_text.cmake); these checks keep the header a help a reader can use:
//   - `-h` and `--help` print the same text on stdout, nothing on stderr, exit status 0;
//   - its first line is "PROG — what it shows", and one line is "usage: PROG ..." (a long one
//     goes on in indented lines starting with '[');
//   - every --option of the usage line has a line of its own below it, and one that takes a
//     value (`--chunk N`) names its default;
//   - the usage line is exactly what the program prints on stderr for a wrong shape of
//     arguments (none, when it needs some), so the header and the code cannot drift apart.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace {

struct Program {
    const char* name;  // what the help calls it (the source file's name)
    const char* path;  // the built file (thread4_tsan is built from thread4.cpp)
};

void PrintTo(const Program& program, std::ostream* out) {
    *out << program.name;
}

const Program kPrograms[] = {
#include "help_programs.inc"
};

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

std::string trimmed(const std::string& line) {
    size_t start = line.find_first_not_of(' ');
    return start == std::string::npos ? "" : line.substr(start);
}

// "/build/ch18_threads/thread4_tsan" -> "thread4_tsan": what the program calls itself.
std::string basename(const std::string& path) {
    return path.substr(path.rfind('/') + 1);
}

class Help : public ::testing::TestWithParam<Program> {};

TEST_P(Help, AnswersDashHAndDashDashHelpWithUsageOptionsAndDefaults) {
    const Program& program = GetParam();
    const std::string name = program.name;
    const char* path = harness::program(program.path);
    auto help = harness::run(path, {"--help"});
    ASSERT_EQ(help.exit_code(), 0) << harness::describe_status(help.status) << "\n" << help.err;
    EXPECT_EQ(help.err, "");
    auto short_help = harness::run(path, {"-h"});
    EXPECT_EQ(short_help.exit_code(), 0) << harness::describe_status(short_help.status);
    EXPECT_EQ(short_help.err, "");
    EXPECT_EQ(short_help.out, help.out);

    EXPECT_EQ(help.out.rfind(name + " \u2014 ", 0), 0u)
        << "the help must start with \"" << name << " \u2014 what it shows\":\n"
        << help.out;
    auto lines = lines_of(help.out);
    size_t usage_at = 0;
    while (usage_at < lines.size() && lines[usage_at].rfind("usage: " + name, 0) != 0)
        ++usage_at;
    ASSERT_LT(usage_at, lines.size()) << "no line starts with \"usage: " << name << "\":\n"
                                      << help.out;
    // A usage too long for one line goes on in indented lines that start with '['.
    std::string usage = lines[usage_at];
    while (usage_at + 1 < lines.size() && lines[usage_at + 1].rfind(" ", 0) == 0 &&
           trimmed(lines[usage_at + 1]).rfind("[", 0) == 0)
        usage += " " + trimmed(lines[++usage_at]);
    const std::string shape = usage.substr(("usage: " + name).size());
    ASSERT_TRUE(shape.empty() || shape[0] == ' ') << usage;

    // Every --option of the usage line: a line of its own below the usage line, and when it
    // takes a value, "default" in its description (that line and the indented ones after it).
    std::regex option_re(R"((--[a-z0-9][a-z0-9-]*)( [^-\[\]|( ][^ \]]*)?)");
    for (std::sregex_iterator it(usage.begin(), usage.end(), option_re), end; it != end; ++it) {
        const std::string option = (*it)[1];
        const bool takes_value = (*it)[2].matched;
        size_t at = usage_at + 1;
        auto starts_option = [&](const std::string& line) {
            std::string t = trimmed(line);
            return t.rfind(option, 0) == 0 &&
                   (t.size() == option.size() || t[option.size()] == ' ');
        };
        while (at < lines.size() && !starts_option(lines[at]))
            ++at;
        if (at == lines.size()) {
            ADD_FAILURE() << option << " (in \"" << usage << "\") has no line of its own:\n"
                          << help.out;
            continue;
        }
        if (!takes_value) continue;
        std::string description = lines[at];
        for (size_t next = at + 1; next < lines.size(); ++next) {
            std::string t = trimmed(lines[next]);
            if (t.empty() || t.rfind("--", 0) == 0 || lines[next][0] != ' ') break;
            description += "\n" + lines[next];
        }
        EXPECT_TRUE(description.find("default") != std::string::npos)
            << option << " takes a value but does not say its default:\n"
            << description;
    }

    // The wrong shape: no arguments when the usage names a required one (HOST, PORT, FILE...),
    // else an unknown option and two surplus words.  stderr must be the usage line, exactly.
    const bool needs_arguments = shape.size() > 1 && shape[1] >= 'A' && shape[1] <= 'Z';
    std::vector<std::string> wrong;
    if (!needs_arguments) wrong = {"--no-such-option", "x", "y"};
    auto refused = harness::run(harness::program(program.path), wrong);
    EXPECT_EQ(refused.exit_code(), 2) << harness::describe_status(refused.status) << "\n"
                                      << refused.err;
    EXPECT_EQ(refused.out, "");
    EXPECT_EQ(refused.err, "usage: " + basename(program.path) + shape + "\n")
        << "the usage line of the help and the program's own differ";
}

INSTANTIATE_TEST_SUITE_P(, Help, ::testing::ValuesIn(kPrograms),
                         [](const ::testing::TestParamInfo<Program>& param) {
                             return basename(param.param.path);
                         });

}  // namespace
