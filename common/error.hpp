// common/error.hpp — how every socklab program reports a failure.
// The idea is TLPI's error_functions.c: the system call stays in the lesson's own file,
// only the *reporting* is shared.  Every message starts with the program's name, so
//     if (bind(fd, ...) == -1) common::die("bind");
// prints   echo_server: bind: Address already in use   and exits with status 1.
#pragma once

namespace common {

// Flushes stdio and ends the process with _exit(): static objects are not destroyed, so it is
// safe while other threads run and use them (exit() would destroy them under their feet).
// die(), fatal(), die_usage() and answer_help() (help.hpp) all leave this way.
[[noreturn]] void leave(int status);

#define SOCKLAB_PRINTF(fmt_index) __attribute__((format(printf, fmt_index, fmt_index + 1)))

// "prog: MESSAGE: strerror(errno)" on stderr, exit status 1.  For a failed system call.
[[noreturn]] void die(const char* fmt, ...) SOCKLAB_PRINTF(1);
// "prog: MESSAGE" on stderr, exit status 1.  For a failure with no errno (a protocol error).
[[noreturn]] void fatal(const char* fmt, ...) SOCKLAB_PRINTF(1);
// "usage: prog USAGE" on stderr, exit status 2.  For bad command-line arguments.
[[noreturn]] void die_usage(const char* fmt, ...) SOCKLAB_PRINTF(1);
// "prog: MESSAGE: strerror(errno)" on stderr, and carry on.  errno is left unchanged.
void warn(const char* fmt, ...) SOCKLAB_PRINTF(1);
// "prog: MESSAGE" on stderr, and carry on.
void note(const char* fmt, ...) SOCKLAB_PRINTF(1);

}  // namespace common
