// common/error.hpp — how every socklab program reports a failure.
//
// The idea is TLPI's error_functions.c: the system call stays in the lesson's own file,
// only the *reporting* is shared.  Every message starts with the program's name, so
//     if (bind(fd, ...) == -1) common::die("bind");
// prints   echo_server: bind: Address already in use   and exits with status 1.
#pragma once

namespace common {

// die(), fatal() and die_usage() flush stdio and end the process with _exit(): static objects
// are not destroyed, so calling them while other threads run is safe (exit() is not).
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
