#include "common/error.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace common {

// "prog: ", built once: C++ initialises a local static exactly once, even when several
// threads report at the same moment (ch18's servers do), so there is no data race.
static const char* program_prefix() {
    static const std::string prefix = std::string(program_invocation_short_name) + ": ";
    return prefix.c_str();
}

// One fprintf per message, so lines from several processes or threads do not interleave.
static void report(const char* prefix, bool with_errno, const char* fmt, va_list ap) {
    int saved = errno;
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    fprintf(stderr, "%s%s%s%s\n", prefix, text, with_errno ? ": " : "",
            with_errno ? strerror(saved) : "");
    errno = saved;
}

// The other threads may still use static objects (ch18's client table, the prefix above).
void leave(int status) {
    fflush(nullptr);
    _exit(status);
}

// Each one formats FMT with its arguments through report(), then leaves or returns.
#define SOCKLAB_REPORT(prefix, with_errno) \
    va_list ap;                            \
    va_start(ap, fmt);                     \
    report(prefix, with_errno, fmt, ap);   \
    va_end(ap)

void die(const char* fmt, ...) {
    SOCKLAB_REPORT(program_prefix(), true);
    leave(EXIT_FAILURE);
}

void fatal(const char* fmt, ...) {
    SOCKLAB_REPORT(program_prefix(), false);
    leave(EXIT_FAILURE);
}

void die_usage(const char* fmt, ...) {
    std::string prefix = std::string("usage: ") + program_invocation_short_name + " ";
    SOCKLAB_REPORT(prefix.c_str(), false);
    leave(2);
}

void warn(const char* fmt, ...) {
    SOCKLAB_REPORT(program_prefix(), true);
}

void note(const char* fmt, ...) {
    SOCKLAB_REPORT(program_prefix(), false);
}

}  // namespace common
