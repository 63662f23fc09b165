// mutex — thread4's race fixed with a mutex (互斥量) around the critical section (临界区)
// (book ch. 18).
//
// usage: mutex [--threads N] [--iterations M] [--lock-per iteration|thread]
//   --threads N       threads, half adding, half subtracting (even, 2..1000, default 100)
//   --iterations M    updates per thread (1..1000000000, default 1000000)
//   --lock-per iteration|thread  lock each update, or a thread's whole loop (default iteration)
//
// The same threads as thread4, each update now between pthread_mutex_lock() and
// pthread_mutex_unlock(): no update is lost, at any -O level, and mutex_tsan reports nothing:
//     $ ./mutex
//     sizeof(long long): 8
//     result: 0
// Time --lock-per iteration and --lock-per thread (README).
#include <pthread.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/help.hpp"

namespace {

// Plain, not volatile as in thread4: the lock and unlock calls are the synchronisation the
// compiler must respect, so every update really happens, inside the lock.  (With --lock-per
// thread it may fold a thread's loop into one `num += M` — correctly: nobody else can look.)
long long num = 0;
pthread_mutex_t mutex;  // guards num; created in main() before any thread starts
long iterations = 1000000;
bool lock_per_thread = false;

void lock() {
    if (int err = pthread_mutex_lock(&mutex); err != 0) {
        errno = err;
        common::die("pthread_mutex_lock");
    }
}

void unlock() {
    if (int err = pthread_mutex_unlock(&mutex); err != 0) {
        errno = err;
        common::die("pthread_mutex_unlock");
    }
}

// Lock granularity: --lock-per iteration locks around every single `num += 1` (the smallest
// critical section, M lock/unlock pairs per thread); --lock-per thread locks once around the
// whole loop, and the threads simply run one after another.  The book's mutex.c does one of
// each: thread_inc locks around its loop, thread_des inside it.
void* thread_inc(void*) {
    if (lock_per_thread) lock();
    for (long i = 0; i < iterations; ++i) {
        if (!lock_per_thread) lock();
        num += 1;  // critical section: one thread at a time
        if (!lock_per_thread) unlock();
    }
    if (lock_per_thread) unlock();
    return nullptr;
}

void* thread_des(void*) {
    if (lock_per_thread) lock();
    for (long i = 0; i < iterations; ++i) {
        if (!lock_per_thread) lock();
        num -= 1;
        if (!lock_per_thread) unlock();
    }
    if (lock_per_thread) unlock();
    return nullptr;
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    const char* usage = "[--threads N] [--iterations M] [--lock-per iteration|thread]";
    long threads = 100;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) common::die_usage("%s", usage);
        if (strcmp(argv[i], "--threads") == 0)
            threads = common::number_arg("--threads", argv[i + 1], 2, 1000);
        else if (strcmp(argv[i], "--iterations") == 0)
            iterations = common::number_arg("--iterations", argv[i + 1], 1, 1000000000);
        else if (strcmp(argv[i], "--lock-per") == 0 && strcmp(argv[i + 1], "iteration") == 0)
            lock_per_thread = false;
        else if (strcmp(argv[i], "--lock-per") == 0 && strcmp(argv[i + 1], "thread") == 0)
            lock_per_thread = true;
        else
            common::die_usage("%s", usage);
    }
    if (threads % 2 != 0) {
        common::note("--threads must be even (half add, half subtract), not %ld", threads);
        return 2;
    }

    // Create the lock (创建锁) before the threads that use it, destroy it (销毁锁) after.
    if (int err = pthread_mutex_init(&mutex, nullptr); err != 0) {
        errno = err;
        common::die("pthread_mutex_init");
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
    pthread_mutex_destroy(&mutex);
    return 0;
}
