// set_buf — setsockopt(SO_RCVBUF/SO_SNDBUF), read back: Linux doubles what you ask, clamps it to
// net.core.rmem_max/wmem_max first, and keeps a minimum (book ch. 9, set_buf.c).
//
// usage: set_buf [RCVBUF SNDBUF]
//   RCVBUF, SNDBUF   the sizes to ask for, in bytes (default: 3072 3072, the book's 1024*3)
//
// What you will see (the maximums are this machine's: `sysctl net.core.rmem_max`):
//   net.core.rmem_max = 4194304, net.core.wmem_max = 4194304
//   Input buffer size: asked 3072, got 6144 (doubled)
//   Output buffer size: asked 3072, got 6144 (doubled)
// Ask for more than the maximum and you get twice the maximum; ask for 1 and you get the minimum.
#include <sys/socket.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"

namespace {
long proc_value(const char* path) {
    std::ifstream in(path);
    long value = -1;
    in >> value;
    return value;
}

// Sets option NAME to ASKED, reads it back, and says which of the kernel's rules made the answer.
void set_and_show(int sock, int name, const char* label, int asked, long max) {
    if (setsockopt(sock, SOL_SOCKET, name, &asked, sizeof asked) == -1)
        common::die("setsockopt %s", label);
    int got = 0;
    socklen_t len = sizeof got;
    if (getsockopt(sock, SOL_SOCKET, name, &got, &len) == -1) common::die("getsockopt %s", label);
    // socket(7): "The kernel doubles this value (to allow space for bookkeeping overhead)",
    // after it has cut the request to the maximum (an unprivileged program cannot ask for
    // more; SO_RCVBUFFORCE/SO_SNDBUFFORCE can, with CAP_NET_ADMIN).  Below a small minimum
    // (room for one packet and its sk_buff) it takes the minimum instead.
    const char* why = "";
    if (got == 2L * asked)
        why = "doubled";
    else if (asked > max && got == 2 * max)
        why = "clamped to the maximum, then doubled";
    else if (got > 2L * asked)
        why = "raised to the minimum";
    std::printf("%s buffer size: asked %d, got %d (%s)\n", name == SO_RCVBUF ? "Input" : "Output",
                asked, got, why);
}
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1 && argc != 3) common::die_usage("[RCVBUF SNDBUF]");
    int rcv_buf = 1024 * 3, snd_buf = 1024 * 3;
    if (argc == 3) {
        rcv_buf = static_cast<int>(common::number_arg("RCVBUF", argv[1], 0, 1L << 30));
        snd_buf = static_cast<int>(common::number_arg("SNDBUF", argv[2], 0, 1L << 30));
    }
    long rmem_max = proc_value("/proc/sys/net/core/rmem_max");
    long wmem_max = proc_value("/proc/sys/net/core/wmem_max");
    std::printf("net.core.rmem_max = %ld, net.core.wmem_max = %ld\n", rmem_max, wmem_max);

    common::Fd sock(socket(PF_INET, SOCK_STREAM, 0));
    if (!sock) common::die("socket");
    set_and_show(sock.get(), SO_RCVBUF, "SO_RCVBUF", rcv_buf, rmem_max);
    set_and_show(sock.get(), SO_SNDBUF, "SO_SNDBUF", snd_buf, wmem_max);
    return 0;
}
