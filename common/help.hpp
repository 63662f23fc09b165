// common/help.hpp — -h/--help, answered from one source: the program's header comment.
// cmake/help_text.cmake turns PROG.cpp's leading // lines into PROG_help.cpp (socklab_help);
// help.cpp is its own object file, so a program that never asks (common_test) needs none.
#pragma once

namespace common {
// main()'s first statement.  If any argument is exactly -h or --help: prints the help on
// stdout and exits with status 0.  Otherwise returns, and main() goes on.
void answer_help(int argc, char** argv);
}  // namespace common
