// tests/support/proc.hpp — what a test reads about a running program from /proc and the
// socket API: process state, children, CPU time, memory, descriptors, and the queues of a
// TCP connection.  These are the "socket state" and "process state" a test waits on when
// the program prints nothing (DESIGN.md: wait for a line, a file, a socket state).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "harness.hpp"

namespace harness {

// Polls CONDITION every 2 ms until it holds (true) or the deadline passes (false).  For
// states that only /proc shows; never a substitute for waiting on a line or an exit.
bool wait_until(const std::function<bool()>& condition, Deadline deadline = {});

// ---- processes ------------------------------------------------------------------------

struct ProcStat {
    pid_t pid = 0;
    char state = '?';  // R, S, D, Z (zombie), T, ...
    pid_t ppid = 0;
};

// /proc/PID/stat; nullopt once the process is gone (reaped).
std::optional<ProcStat> proc_stat(pid_t pid);

// Every process whose parent is PARENT (a scan of /proc/*/stat), zombies included.
std::vector<ProcStat> children_of(pid_t parent);

// "4102:S 4103:Z" for failure messages; "(none)" when empty.
std::string describe(const std::vector<ProcStat>& procs);

// utime + stime in clock ticks (/proc/PID/stat fields 14 and 15); -1 if gone.
long cpu_ticks(pid_t pid);

// A "NAME: value" field of /proc/PID/status as a number: status_value(pid, "VmHWM") is the
// peak resident set in KiB, status_value(pid, "Threads") the number of threads.  -1: no
// such field, not a number, or the process is gone.
long status_value(pid_t pid, const std::string& field);

// How many descriptors the process has open (/proc/PID/fd); -1 if gone.
int open_fds(pid_t pid);

// The system call the process is blocked in (/proc/PID/syscall), and its first argument;
// -1 while it runs.
long current_syscall(pid_t pid, long* first_arg = nullptr);

// Raises this process's RLIMIT_NOFILE to at least WANT: the soft limit up to the hard one,
// and the hard one too where allowed (CAP_SYS_RESOURCE).  Programs started afterwards
// inherit it.  False if WANT is out of reach.
bool raise_nofile(rlim_t want);

// A pids cgroup of its own (cgroup v1 "pids" hierarchy, or v2 with the pids controller):
// at most MAX tasks — processes and threads — may live in it, so fork() and
// pthread_create() in a program started with Options{.cgroup = cg.path()} fail with EAGAIN
// once it holds MAX.  Needs root; ok() is false (with why()) where it cannot be made.
// The destructor kills whatever is still in it and removes it.
class PidsCgroup {
  public:
    explicit PidsCgroup(int max);
    ~PidsCgroup();
    PidsCgroup(const PidsCgroup&) = delete;
    PidsCgroup& operator=(const PidsCgroup&) = delete;
    bool ok() const { return !path_.empty(); }
    const std::string& why() const { return why_; }
    const std::string& path() const { return path_; }
    long current() const;  // pids.current: the tasks in it now; -1 on error
    long denied() const;   // how many fork()/clone() it refused (pids.events "max"); -1: unknown

  private:
    std::string path_, why_;
};

// ---- sockets --------------------------------------------------------------------------

// The local port of a socket (getsockname), either family; -1 on error.
int local_port(int fd);

// "127.0.0.1:40158": the local address of a socket, as servers log their peers.
std::string local_address(int fd);

// Bytes waiting in the receive queue of the TCP socket whose local port is LOCAL_PORT and
// whose peer's port is REMOTE_PORT (ss's Recv-Q; /proc/net/tcp and tcp6); -1 if none.
long tcp_recv_queue(int local_port, int remote_port);

}  // namespace harness
