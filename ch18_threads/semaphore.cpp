// semaphore — two threads take turns through two semaphores (信号量) (book ch. 18).
//
// usage: semaphore (no arguments)
//   reads whole numbers from stdin until end of input
//
// One thread reads a number into the shared `num`, the other adds it to the sum; "read" and
// "add" lines strictly alternate, each thread printing its own:
//     $ printf '3 5 -2' | ./semaphore
//     read 3
//     add 3: sum 3
//     ...
//     Result: 6
// A token that is not an int ends the input: "semaphore: not a number: 'abc'", exit status 1.
#include <pthread.h>
#include <semaphore.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <initializer_list>
#include <iostream>
#include <string>

#include "common/error.hpp"
#include "common/help.hpp"

namespace {

// The reader may not overwrite `num` before it has been added, and the adder may not add the
// same number twice.  A mutex cannot say "your turn"; two semaphores can (book: sem_two/one):
//     sem_empty (starts at 1): `num` may be written.   The reader sem_wait()s on it.
//     sem_full  (starts at 0): `num` holds a new number. The adder sem_wait()s on it.
// sem_wait() takes 1 (blocking while it is 0), sem_post() gives 1 back.
sem_t sem_empty, sem_full;
int num;            // written by the reader, read by the adder: one at a time
bool done = false;  // set by the reader instead of a number at the end
bool bad_input = false;

// sem_wait() returns -1 with EINTR if a signal handler interrupts it: then wait again.
void wait_for(sem_t* sem) {
    while (sem_wait(sem) == -1)
        if (errno != EINTR) common::die("sem_wait");
}

void post(sem_t* sem) {
    if (sem_post(sem) == -1) common::die("sem_post");
}

void* read_numbers(void*) {
    const bool interactive = isatty(STDIN_FILENO);
    std::string token;
    for (;;) {
        wait_for(&sem_empty);  // wait until the previous number has been added
        if (interactive) {
            fputs("Input num: ", stdout);
            fflush(stdout);
        }
        int value = 0;
        bool got = static_cast<bool>(std::cin >> token);
        if (got) {
            auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
            if (ec != std::errc() || end != token.data() + token.size()) {
                common::note("not a number: '%s'", token.c_str());
                bad_input = true;
                got = false;
            }
        }
        if (!got) {
            done = true;
            post(&sem_full);  // wake the adder so that it can see `done`
            return nullptr;
        }
        num = value;
        printf("read %d\n", num);
        fflush(stdout);
        post(&sem_full);  // your turn, adder
    }
}

void* accumulate(void* arg) {
    long long& sum = *static_cast<long long*>(arg);
    for (;;) {
        wait_for(&sem_full);  // wait for a new number
        if (done) return nullptr;
        sum += num;  // int values into a long long: no overflow before 2^32 numbers
        printf("add %d: sum %lld\n", num, sum);
        fflush(stdout);
        post(&sem_empty);  // your turn, reader
    }
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");
    // pshared 0: shared by the threads of this process only; initial values 1 and 0.
    if (sem_init(&sem_empty, 0, 1) == -1 || sem_init(&sem_full, 0, 0) == -1)
        common::die("sem_init");

    long long sum = 0;
    pthread_t id_t1, id_t2;
    if (int err = pthread_create(&id_t1, nullptr, read_numbers, nullptr); err != 0) {
        errno = err;
        common::die("pthread_create");
    }
    if (int err = pthread_create(&id_t2, nullptr, accumulate, &sum); err != 0) {
        errno = err;
        common::die("pthread_create");
    }
    for (pthread_t t : {id_t1, id_t2}) {
        if (int err = pthread_join(t, nullptr); err != 0) {
            errno = err;
            common::die("pthread_join");
        }
    }
    sem_destroy(&sem_empty);
    sem_destroy(&sem_full);
    if (bad_input) return 1;
    printf("Result: %lld\n", sum);
    return 0;
}
