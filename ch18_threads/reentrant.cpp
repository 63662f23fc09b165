// reentrant — a function with hidden static state shared by threads gives wrong answers; its
// reentrant twin (caller-owned state) does not (book ch. 18: thread-safe functions, _r).
//
// usage: reentrant (no arguments)
//
// Two threads take turns, one step each, handing over with semaphores (no data race: the
// calls never overlap; what goes wrong is the state strtok() keeps between calls):
//   strtok:   thread 1 gets "a", thread 2 "x", then thread 1 continues in thread 2's string
//   strtok_r: each keeps its own position: a, x, b, y
//   inet_ntoa: thread 1's string survives thread 2's call (glibc: a buffer per thread)
#include <arpa/inet.h>
#include <pthread.h>
#include <semaphore.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/help.hpp"

namespace {
char text[2][16];  // thread 1 splits "a,b,c" at ',', thread 2 "x y z" at ' '
const char* delim[2] = {",", " "};
char* saved[2];       // strtok_r's position, one per thread
const char* ntoa[2];  // what inet_ntoa() returned to each thread

sem_t turn[2];           // turn[i] posted: thread i+1 may take its next step
void (*step)(int, int);  // what a step does: step(thread 1 or 2, its step number)

void* player(void* arg) {
    int me = *static_cast<int*>(arg);
    for (int n = 0; n < 2; ++n) {
        sem_wait(&turn[me - 1]);
        step(me, n);
        sem_post(&turn[2 - me]);  // the other thread's turn
    }
    return nullptr;
}

// Thread 1 steps, thread 2 steps, thread 1, thread 2: four calls that never overlap.
void in_turns(void (*what)(int, int)) {
    step = what;
    std::strcpy(text[0], "a,b,c");
    std::strcpy(text[1], "x y z");
    sem_init(&turn[0], 0, 1);
    sem_init(&turn[1], 0, 0);
    pthread_t t[2];
    int ids[2] = {1, 2};
    for (int i = 0; i < 2; ++i)
        if (int err = pthread_create(&t[i], nullptr, player, &ids[i])) {
            errno = err;
            common::die("pthread_create");
        }
    for (pthread_t id : t)
        pthread_join(id, nullptr);
    for (sem_t& s : turn)
        sem_destroy(&s);  // the next in_turns() starts afresh
}

const char* show(const char* token) {
    return token ? token : "(null)";
}
void with_strtok(int me, int n) {
    char* token = strtok(n == 0 ? text[me - 1] : nullptr, delim[me - 1]);
    std::printf("  thread %d: strtok(%s, \"%s\") = %s\n", me, n == 0 ? "text" : "NULL",
                delim[me - 1], show(token));
}
void with_strtok_r(int me, int n) {
    char* token = strtok_r(n == 0 ? text[me - 1] : nullptr, delim[me - 1], &saved[me - 1]);
    std::printf("  thread %d: strtok_r(%s, \"%s\", &mine) = %s\n", me, n == 0 ? "text" : "NULL",
                delim[me - 1], show(token));
}
void with_inet_ntoa(int me, int n) {
    if (n == 0) {  // thread 1 converts 10.0.0.1, then thread 2 converts 10.0.0.2
        in_addr addr{htonl(me == 1 ? 0x0a000001 : 0x0a000002)};
        ntoa[me - 1] = inet_ntoa(addr);
    } else {  // then each prints the string it was given
        std::printf("  thread %d: inet_ntoa() gave %s\n", me, ntoa[me - 1]);
    }
}
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");
    std::printf("strtok, one hidden position for the whole process:\n");
    in_turns(with_strtok);
    std::printf("strtok_r, each caller keeps its own position:\n");
    in_turns(with_strtok_r);
    std::printf("inet_ntoa, thread 1 converts 10.0.0.1, then thread 2 10.0.0.2:\n");
    in_turns(with_inet_ntoa);
    std::printf("  same buffer: %s\n",
                ntoa[0] == ntoa[1] ? "yes (one static buffer)" : "no (one buffer per thread)");
#ifdef _REENTRANT
    std::printf("built with -pthread: _REENTRANT is defined\n");
#else
    std::printf("built without -pthread: _REENTRANT is not defined\n");
#endif
    return 0;
}
