#include "common/args.hpp"

#include <cerrno>
#include <cstdlib>

#include "common/error.hpp"

namespace common {

long number_arg(const char* option, const char* text, long lo, long hi) {
    char* end = nullptr;
    errno = 0;
    long v = strtol(text, &end, 10);
    // strtol skips leading blanks and accepts '+': a command-line number should have neither.
    bool digits =
        text[0] == '-' ? (text[1] >= '0' && text[1] <= '9') : (text[0] >= '0' && text[0] <= '9');
    if (!digits || errno != 0 || *end != '\0' || v < lo || v > hi) {
        note("invalid %s '%s' (expected %ld to %ld)", option, text, lo, hi);
        exit(2);
    }
    return v;
}

}  // namespace common
