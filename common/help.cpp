#include "common/help.hpp"

#include <cstdio>
#include <cstring>

#include "common/error.hpp"

extern const char socklab_help[];  // PROG_help.cpp, generated (see help.hpp)

void common::answer_help(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(socklab_help, stdout);
            leave(0);
        }
}
