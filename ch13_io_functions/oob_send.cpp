// oob_send — send(MSG_OOB): the book's four sends, two of them "urgent" (book ch. 13,
// oob_send.c).  TCP has no second channel: of each MSG_OOB send only the LAST byte is urgent
// (紧急), the rest is ordinary data, and the receiver has room for one urgent byte only.
//
// usage: oob_send HOST PORT [--wait]
//   --wait  after each send, wait (at most 5 s) for oob_recv --ack to answer every message it
//           printed, and at the end for it to close: one step at a time, the same output every run
//
// Sends: write "123", send "4" with MSG_OOB, write "567", send "890" with MSG_OOB.  Of "890"
// only '0' is urgent; "89" is ordinary data.  See oob_recv for what arrives.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {
struct Step {
    const char* text;
    int flags;
    int lines;  // what oob_recv prints for it: the urgent byte, and the ordinary bytes before it
};
constexpr Step kSteps[] = {{"123", 0, 1}, {"4", MSG_OOB, 1}, {"567", 0, 1}, {"890", MSG_OOB, 2}};

// --wait: one byte of answer per line the receiver printed (count -1: until the receiver has
// closed too), or give up after 5 s.
void wait_for_answers(int fd, int count) {
    while (count != 0) {
        pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
        int ready = poll(&p, 1, 5000);
        if (ready == -1 && errno == EINTR) continue;
        if (ready == -1) common::die("poll");
        if (ready == 0) common::fatal("no answer from the receiver in 5 s (is it oob_recv --ack?)");
        char answer[8];
        ssize_t n = recv(fd, answer, sizeof answer, 0);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("recv");
        if (n == 0 && count < 0) return;
        if (n == 0) common::fatal("the receiver closed the connection");
        if (count > 0) count -= static_cast<int>(n);
    }
}
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    bool wait = false;
    if (argc == 4 && strcmp(argv[3], "--wait") == 0)
        wait = true;
    else if (argc != 3)
        common::die_usage("HOST PORT [--wait]");
    common::Fd sock = common::connect_tcp(argv[1], argv[2]);

    for (const Step& step : kSteps) {
        // send(MSG_OOB) of "890": one segment with the URG flag; its urgent pointer marks the
        // last byte, '0'.  A short send() is not an issue for 1 to 3 bytes on a new socket.
        ssize_t n = send(sock.get(), step.text, strlen(step.text), step.flags);
        if (n == -1) common::die(step.flags ? "send MSG_OOB" : "send");
        if (wait) wait_for_answers(sock.get(), step.lines);
    }
    if (wait) {  // FIN now, then wait for the receiver's: it has printed everything by then
        if (shutdown(sock.get(), SHUT_WR) == -1) common::die("shutdown");
        wait_for_answers(sock.get(), -1);
    }
    return 0;  // close(): FIN after the last byte
}
