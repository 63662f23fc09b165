// peek_send — connect and send "123" (book ch. 13, peek_send.c), for peek_recv.
//
// usage: peek_send HOST PORT [--pause-ms N]
//   --pause-ms N      wait N ms after connect() before sending (0..10000, default 0): then
//                     peek_recv finds nothing at first and says so
//
// Prints nothing; see peek_recv.
#include <sys/socket.h>

#include <cstring>
#include <ctime>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    constexpr const char* kUsage = "HOST PORT [--pause-ms N]";
    long pause_ms = 0;
    if (argc < 3) common::die_usage("%s", kUsage);
    for (int i = 3; i < argc; ++i) {
        if (strcmp(argv[i], "--pause-ms") == 0 && i + 1 < argc)
            pause_ms = common::number_arg("--pause-ms", argv[++i], 0, 10000);
        else
            common::die_usage("%s", kUsage);
    }
    common::Fd sock = common::connect_tcp(argv[1], argv[2]);
    timespec pause{pause_ms / 1000, (pause_ms % 1000) * 1000000};
    while (nanosleep(&pause, &pause) == -1) {
    }  // EINTR: sleep the rest
    if (!common::write_all(sock.get(), "123", 3)) common::die("write");
    return 0;
}
