// get_buf — getsockopt(SO_RCVBUF/SO_SNDBUF): the sizes of a new TCP socket's input and output
// buffers (I/O 缓冲), and where Linux takes them from (book ch. 9, get_buf.c).
//
// usage: get_buf (no arguments)
//
// What you will see: the two sizes, each beside the default of the sysctl it comes from
// (net.ipv4.tcp_rmem and tcp_wmem hold "min default max"; the middle one is a new socket's):
//   Input buffer size: 131072 (net.ipv4.tcp_rmem = 4096 131072 33554432)
//   Output buffer size: 16384 (net.ipv4.tcp_wmem = 4096 16384 4194304)
#include <sys/socket.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"

namespace {
int get_option(int sock, int name, const char* what) {
    int size = 0;
    socklen_t len = sizeof size;
    if (getsockopt(sock, SOL_SOCKET, name, &size, &len) == -1) common::die("getsockopt %s", what);
    return size;
}

// "4096 131072 33554432" from /proc/sys/net/ipv4/NAME (tabs become spaces).
std::string sysctl(const char* name) {
    std::ifstream in(std::string("/proc/sys/net/ipv4/") + name);
    long lo = 0, def = 0, hi = 0;
    if (!(in >> lo >> def >> hi)) return "?";
    return std::to_string(lo) + " " + std::to_string(def) + " " + std::to_string(hi);
}
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");
    common::Fd sock(socket(PF_INET, SOCK_STREAM, 0));
    if (!sock) common::die("socket");

    // A new TCP socket starts with tcp_rmem's and tcp_wmem's middle values.  They are starting
    // points: unless the program sets SO_RCVBUF/SO_SNDBUF itself, the kernel grows them as a
    // connection needs (autotuning), up to the third values.
    int rcv_buf = get_option(sock.get(), SO_RCVBUF, "SO_RCVBUF");
    int snd_buf = get_option(sock.get(), SO_SNDBUF, "SO_SNDBUF");
    std::printf("Input buffer size: %d (net.ipv4.tcp_rmem = %s)\n", rcv_buf,
                sysctl("tcp_rmem").c_str());
    std::printf("Output buffer size: %d (net.ipv4.tcp_wmem = %s)\n", snd_buf,
                sysctl("tcp_wmem").c_str());
    return 0;
}
