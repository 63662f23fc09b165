// thread1.cpp — pthread_create(), and what happens to a thread when main() returns (book ch. 18).
//
// usage: thread1 [--main-ms MS]
//
// main() starts one thread with pthread_create(), passing it an argument (the count 5).
// The thread prints "running thread" five times, one line every 100 ms.  main() itself
// sleeps MS milliseconds (default 2000), prints "end of main" and returns.
//
// What to observe.  With the default, main sleeps long enough:
//     running thread          (5 times, 100 ms apart)
//     end of main
// With --main-ms 150, main returns while the thread is still working:
//     running thread
//     end of main
// and the shell prompt is back: returning from main() calls exit(), which ends the whole
// process, every thread in it included.  The thread never prints its last lines.
// Guessing a long enough sleep is no way to wait for a thread; thread2 uses pthread_join().
#include <pthread.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/args.hpp"
#include "common/error.hpp"

namespace {

void sleep_ms(long ms) {
    timespec t{.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000};
    while (nanosleep(&t, &t) == -1 && errno == EINTR) {
    }
}

// The thread's "main function": it gets the void* given to pthread_create().
void* thread_main(void* arg) {
    int cnt = *static_cast<int*>(arg);
    for (int i = 0; i < cnt; ++i) {
        sleep_ms(100);
        puts("running thread");
        fflush(stdout);
    }
    return nullptr;
}

}  // namespace

int main(int argc, char* argv[]) {
    long main_ms = 2000;
    if (argc == 3 && strcmp(argv[1], "--main-ms") == 0)
        main_ms = common::number_arg("--main-ms", argv[2], 0, 60000);
    else if (argc != 1)
        common::die_usage("[--main-ms MS]");

    pthread_t t_id;
    int thread_param = 5;
    // pthread functions return an error number instead of setting errno.
    if (int err = pthread_create(&t_id, nullptr, thread_main, &thread_param); err != 0) {
        errno = err;
        common::die("pthread_create");
    }
    sleep_ms(main_ms);
    puts("end of main");
    fflush(stdout);
    // Returning from main() is exit(): the process ends here, with the thread in it.
    // (thread_param lives in main's frame: the thread must not outlive it, and does not.)
    return 0;
}
