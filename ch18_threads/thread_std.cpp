// thread_std — thread4's race fixed the C++20 way: std::thread, std::mutex and
// std::counting_semaphore instead of pthread_create, pthread_mutex_* and sem_*.
//
// usage: thread_std [--threads N] [--iterations M]
//   --threads N     threads, half adding, half subtracting (even, 2..1000, default 100)
//   --iterations M  updates per thread (1..1000000000, default 20000)
//
// thread4's counter is run twice, first guarded by a std::mutex, then by a
// std::counting_semaphore<1> used as a lock.  What to observe (always):
//     std::mutex: result 0
//     std::counting_semaphore: result 0
// Remove the lock_guard line and the first result is wrong again, as in thread4.
// (std::thread is pthread_create() underneath, join() is pthread_join().)
//
// std::counting_semaphore is built on sem_t here (_GLIBCXX_USE_POSIX_SEMAPHORE): GCC 12's
// own futex version can lose a wake-up and hang (GCC bug 104928; README, "Synchronisation").
#define _GLIBCXX_USE_POSIX_SEMAPHORE 1
#include <cstdio>
#include <cstring>
#include <mutex>
#include <semaphore>
#include <thread>
#include <vector>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/help.hpp"

namespace {

// Runs `threads` threads, half calling update(+1) and half update(-1) `iterations` times.
template <typename Update>
void run_threads(long threads, long iterations, Update update) {
    std::vector<std::thread> workers;
    for (long t = 0; t < threads; ++t) {
        int step = t % 2 == 0 ? +1 : -1;
        // (If the system cannot create a thread, std::thread throws std::system_error, and
        // the uncaught exception ends the program with the reason on stderr.)
        workers.emplace_back([=] {
            for (long i = 0; i < iterations; ++i)
                update(step);
        });
    }
    for (std::thread& w : workers)
        w.join();
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    const char* usage = "[--threads N] [--iterations M]";
    long threads = 100, iterations = 20000;
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

    long long num = 0;
    std::mutex mutex;  // guards num
    run_threads(threads, iterations, [&](int step) {
        std::lock_guard<std::mutex> guard(mutex);  // lock() here, unlock() at the }
        num += step;
    });
    printf("std::mutex: result %lld\n", num);
    fflush(stdout);

    num = 0;
    // A binary semaphore used as a lock: it starts at 1, one thread at a time may hold it.
    std::counting_semaphore<1> slot(1);
    run_threads(threads, iterations, [&](int step) {
        slot.acquire();  // sem_wait(): 1 -> 0, or block while another thread holds it
        num += step;
        slot.release();  // sem_post(): 0 -> 1, wakes one waiting thread
    });
    printf("std::counting_semaphore: result %lld\n", num);
    return 0;
}
