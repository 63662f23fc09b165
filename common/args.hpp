// common/args.hpp — numeric command-line options, checked the same way in every program.
//     long threads = common::number_arg("--threads", argv[i + 1], 1, 64);
// A value that is not a whole decimal number in [lo, hi] prints one line and exits with
// status 2 (bad usage), like a bad port:
//     thread4: invalid --threads 'abc' (expected 1 to 64)
#pragma once

namespace common {

long number_arg(const char* option, const char* text, long lo, long hi);

}  // namespace common
