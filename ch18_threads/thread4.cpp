// thread4 — a data race made visible: threads update one global counter without a lock
// (book ch. 18, 线程存在的问题).
//
// usage: thread4 [--threads N] [--iterations M]
//   --threads N     threads, half adding, half subtracting (even, 2..1000, default 100)
//   --iterations M  updates per thread (1..1000000000, default 1000000)
//
// Half of the N threads add 1 to the global `num` M times, the other half subtract 1 M
// times.  Every +1 has its -1, so the result should be 0.  It seldom is, at any -O level:
//     $ ./thread4
//     sizeof(long long): 8
//     result: -4298274
// The result differs from run to run.  ThreadSanitizer (thread4_tsan, built from this file
// with -fsanitize=thread) reports the race every time; mutex.cpp fixes it.
#include <pthread.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/help.hpp"

namespace {

// Shared by every thread (data area), protected by nothing.  `volatile` is here for the
// optimiser only: without it, at -O2 the compiler sees a loop of M plain updates that no other
// code may observe (a data race is undefined behaviour, so it may assume there is none) and
// folds it into ONE `num += M`: the threads then rarely overlap and the lost updates hide,
// while the race stays.  volatile makes every iteration really load and store `num` — and
// nothing more: it is no lock and no atomic, the race below is still undefined behaviour.
volatile long long num = 0;
long iterations = 1000000;

void* thread_inc(void*) {
    for (long i = 0; i < iterations; ++i)
        // The book's `num += 1` (C++20 deprecates += on a volatile; this is the same thing).  It
        // is not one step but three: load num into a register, add 1, store it back.  When two
        // threads interleave them (two cores, or one thread preempted between load and store),
        // one thread's store overwrites the other's: an update is lost.  The code that touches
        // `num` is a critical section (临界区), here unprotected.
        num = num + 1;
    return nullptr;
}

void* thread_des(void*) {
    for (long i = 0; i < iterations; ++i)
        num = num - 1;  // critical section, unprotected
    return nullptr;
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    const char* usage = "[--threads N] [--iterations M]";
    long threads = 100;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) common::die_usage("%s", usage);
        if (strcmp(argv[i], "--threads") == 0)
            threads = common::number_arg("--threads", argv[i + 1], 2, 1000);
        else if (strcmp(argv[i], "--iterations") == 0)
            iterations = common::number_arg("--iterations", argv[i + 1], 1, 1000000000);
        else
            common::die_usage("%s", usage);
    }
    if (threads % 2 != 0) {
        common::note("--threads must be even (half add, half subtract), not %ld", threads);
        return 2;
    }

    printf("sizeof(long long): %zu\n", sizeof(long long));
    fflush(stdout);
    std::vector<pthread_t> thread_id(static_cast<size_t>(threads));
    for (size_t i = 0; i < thread_id.size(); ++i) {
        int err =
            pthread_create(&thread_id[i], nullptr, i % 2 == 0 ? thread_inc : thread_des, nullptr);
        if (err != 0) {
            errno = err;
            common::die("pthread_create");
        }
    }
    for (pthread_t id : thread_id) {
        if (int err = pthread_join(id, nullptr); err != 0) {
            errno = err;
            common::die("pthread_join");
        }
    }
    printf("result: %lld\n", num);
    return 0;
}
