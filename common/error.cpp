#include "common/error.hpp"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <unistd.h>

namespace common {
namespace {

// One fprintf per message, so lines from several processes or threads do not interleave.
void report(const char* prefix, bool with_errno, int saved_errno, const char* fmt, va_list ap) {
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    if (with_errno)
        fprintf(stderr, "%s%s: %s\n", prefix, text, strerror(saved_errno));
    else
        fprintf(stderr, "%s%s\n", prefix, text);
}

// "prog: ", built once: C++ initialises a local static exactly once, even when several
// threads report at the same moment (ch18's servers do), so there is no data race.
const char* program_prefix() {
    static const std::string prefix = std::string(program_invocation_short_name) + ": ";
    return prefix.c_str();
}

// Ends the process without running exit()'s destructors of static objects.  A server's
// other threads may still be running and using those objects (ch18's client table, the
// prefix above): exit() would destroy them under their feet — undefined behaviour.  The
// stdio buffers are flushed first, so nothing a program printed is lost.
[[noreturn]] void leave(int status) {
    fflush(nullptr);
    _exit(status);
}

}  // namespace

void die(const char* fmt, ...) {
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    report(program_prefix(), true, saved, fmt, ap);
    va_end(ap);
    leave(EXIT_FAILURE);
}

void fatal(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report(program_prefix(), false, 0, fmt, ap);
    va_end(ap);
    leave(EXIT_FAILURE);
}

void die_usage(const char* fmt, ...) {
    char prefix[300];
    snprintf(prefix, sizeof prefix, "usage: %s ", program_invocation_short_name);
    va_list ap;
    va_start(ap, fmt);
    report(prefix, false, 0, fmt, ap);
    va_end(ap);
    leave(2);
}

void warn(const char* fmt, ...) {
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    report(program_prefix(), true, saved, fmt, ap);
    va_end(ap);
    errno = saved;
}

void note(const char* fmt, ...) {
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    report(program_prefix(), false, 0, fmt, ap);
    va_end(ap);
    errno = saved;
}

}  // namespace common
