// thread1 — pthread_create(), and what happens to a thread when main() returns (book ch. 18).
//
// usage: thread1 [--main-ms MS]
//   --main-ms MS  how long main() sleeps before it returns (0..60000, default 2000)
//
// main() starts a thread that prints "running thread" five times, 100 ms apart, then sleeps
// MS milliseconds, prints "end of main" and returns.  With the default:
//     running thread          (5 times, 100 ms apart)
//     end of main
// With --main-ms 150 the thread never prints its last lines:
//     running thread
//     end of main
#include <pthread.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/help.hpp"

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
    common::answer_help(argc, argv);
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
    // Guessing a long enough sleep is no way to wait for a thread; thread2 uses pthread_join().
    sleep_ms(main_ms);
    puts("end of main");
    fflush(stdout);
    // Returning from main() is exit(): the process ends here, with every thread in it — with
    // --main-ms 150 while ours is still working, and the shell prompt is back.
    // (thread_param lives in main's frame: the thread must not outlive it, and does not.)
    return 0;
}
