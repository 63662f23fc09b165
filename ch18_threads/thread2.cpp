// thread2 — pthread_join(): wait for a thread and take its return value (book ch. 18).
//
// usage: thread2 (no arguments)
//
// The thread prints "running thread" five times (100 ms apart) and returns a message it
// allocated on the heap; main() waits for it with pthread_join() and prints the message.
// What to observe (always these six lines, in this order):
//     running thread
//     ...                     (five times)
//     Thread return message: Hello, I'm thread~
#include <pthread.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "common/error.hpp"
#include "common/help.hpp"

namespace {

void* thread_main(void* arg) {
    int cnt = *static_cast<int*>(arg);
    // The return value must outlive this thread's stack: allocate it on the (shared) heap.
    char* msg = static_cast<char*>(malloc(50));
    if (msg == nullptr) return nullptr;
    strcpy(msg, "Hello, I'm thread~");
    for (int i = 0; i < cnt; ++i) {
        timespec t{.tv_sec = 0, .tv_nsec = 100'000'000};
        while (nanosleep(&t, &t) == -1 && errno == EINTR) {
        }
        puts("running thread");
        fflush(stdout);
    }
    return msg;  // what pthread_join() hands to main
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");

    pthread_t t_id;
    int thread_param = 5;
    if (int err = pthread_create(&t_id, nullptr, thread_main, &thread_param); err != 0) {
        errno = err;
        common::die("pthread_create");
    }
    // pthread_join() blocks until the thread has ended and stores its return value in thr_ret:
    // no guessed sleep (compare thread1).  It blocks its caller; pthread_detach() (echo_thrserv,
    // chat_server) does not, and lets the system reclaim a thread nobody waits for.
    void* thr_ret = nullptr;
    if (int err = pthread_join(t_id, &thr_ret); err != 0) {
        errno = err;
        common::die("pthread_join");
    }
    if (thr_ret == nullptr) common::fatal("the thread could not allocate its message");
    printf("Thread return message: %s\n", static_cast<char*>(thr_ret));
    free(thr_ret);  // allocated by one thread, freed by another: threads share the heap
    return 0;
}
