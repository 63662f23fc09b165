// thread3 — threads share the data area and the heap; each has only its own stack
// (线程只独享栈区域) (book ch. 18).
//
// usage: thread3 (no arguments)
//
// Two threads sum 1..5 and 6..10; every thread prints where its variables live (addresses vary,
// the pattern does not; the thread lines may come in either order):
//     main:         stack 0x7ffe776dac58  global sum 0x5579ed0710b0  heap 0x5579ef8c5eb0
//     thread 1..5:  stack 0x7fc8ec93ceb8  global sum 0x5579ed0710b0  heap 0x5579ef8c5eb0
//     thread 6..10: stack 0x7fc8ec13beb8  global sum 0x5579ed0710b0  heap 0x5579ef8c5eb0
//     result: 55
// Same global, same heap block in all three; three stacks, one per thread.
#include <pthread.h>

#include <cerrno>
#include <cstdio>
#include <initializer_list>

#include "common/error.hpp"
#include "common/help.hpp"

namespace {

struct Range {
    int index;  // which element of sum[] this thread owns
    int from, to;
};

long long sum[2];  // data area (数据区): global, one copy shared by all threads

void* thread_summation(void* arg) {
    const Range* range = static_cast<const Range*>(arg);
    long long local = 0;  // this thread's own stack
    for (int i = range->from; i <= range->to; ++i)
        local += i;
    // The book lets both threads add to one global `sum`: two threads writing one variable
    // without a lock is a data race (临界区问题) — thread4 makes it visible.  Here each thread
    // writes only its own element, and main reads them after pthread_join(): no race.
    sum[range->index] = local;
    // One printf per line: stdio locks stdout per call, so lines from two threads never mix.
    char who[32];
    snprintf(who, sizeof who, "thread %d..%d:", range->from, range->to);
    printf("%-13s stack %p  global sum %p  heap %p\n", who, static_cast<void*>(&local),
           static_cast<void*>(sum), static_cast<const void*>(range - range->index));
    fflush(stdout);
    return nullptr;
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");

    Range* ranges = new Range[2]{{0, 1, 5}, {1, 6, 10}};  // heap (堆): shared as well
    int main_local = 0;
    printf("%-13s stack %p  global sum %p  heap %p\n", "main:", static_cast<void*>(&main_local),
           static_cast<void*>(sum), static_cast<void*>(ranges));
    fflush(stdout);

    pthread_t id_t1, id_t2;
    if (int err = pthread_create(&id_t1, nullptr, thread_summation, &ranges[0]); err != 0) {
        errno = err;
        common::die("pthread_create");
    }
    if (int err = pthread_create(&id_t2, nullptr, thread_summation, &ranges[1]); err != 0) {
        errno = err;
        common::die("pthread_create");
    }
    for (pthread_t t : {id_t1, id_t2}) {
        if (int err = pthread_join(t, nullptr); err != 0) {
            errno = err;
            common::die("pthread_join");
        }
    }
    // After pthread_join() the threads' writes to sum[] are visible here.
    printf("result: %lld\n", sum[0] + sum[1]);
    delete[] ranges;
    return 0;
}
