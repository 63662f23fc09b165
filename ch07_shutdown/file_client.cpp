// file_client — receives a file until end of stream, then answers, book ch. 7
// (file_client.c): the server's shutdown(SHUT_WR) arrives as read() == 0, and our own output
// stream is still open, so "Thank you" can follow.
//
// usage: file_client HOST PORT OUTFILE
//
// What you will see (stdout), and file_server prints   Message from client: Thank you
//     Received file data: 1234 bytes -> OUTFILE
//     Sent: Thank you
// A transfer that is not complete: one line naming what arrived, exit 1, no answer, no OUTFILE
//     file_client: transfer incomplete: 161533516 of 209715200 bytes
#include <endian.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {
std::string partial_path;  // OUTFILE.part-XXXXXX while it exists

// Every failure after mkstemp() comes through here first: no partial file may outlive a
// transfer that failed.  errno is kept for the message that follows.
void remove_partial() {
    int saved = errno;
    if (!partial_path.empty()) unlink(partial_path.c_str());
    errno = saved;
}
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 4) common::die_usage("HOST PORT OUTFILE");
    const char* out_path = argv[3];
    // If the server has gone, write() must fail with EPIPE (reported below), not kill us.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    // A bad OUTFILE fails before the server sends anything: its directory must take a file.
    std::string dir = std::filesystem::path(out_path).parent_path();
    if (access(dir.empty() ? "." : dir.c_str(), W_OK | X_OK) == -1)
        common::die("cannot create %s", out_path);

    // The connect loop of ch04's echo_client.cpp.
    common::Fd sock = common::connect_tcp(argv[1], argv[2]);

    // End of stream alone does not prove the file complete (a crashed server's kernel sends
    // FIN too): the bytes go to OUTFILE.part-XXXXXX, which becomes OUTFILE only when the size
    // that came first matches.  Beside OUTFILE: the same file system, so rename() is atomic.
    partial_path = std::string(out_path) + ".part-XXXXXX";
    common::Fd out_fd(mkstemp(partial_path.data()));
    if (!out_fd) {
        partial_path.clear();
        common::die("cannot create %s", out_path);
    }

    // Read until end of stream: read() returns 0 once the server's FIN has arrived and every
    // byte before it has been read.  The first 8 bytes are the size; the rest is the file.
    static char buf[16384];
    unsigned char header[8];
    size_t header_got = 0;                 // of the 8 bytes of the size
    uint64_t size = 0, total = 0;          // announced, and received, bytes of the file
    auto arrived = [&]() -> std::string {  // what arrived so far, for the one failure line
        char text[80];
        if (header_got == 0)
            snprintf(text, sizeof text, "0 bytes");
        else if (header_got < sizeof header)
            snprintf(text, sizeof text, "%zu of 8 header bytes", header_got);
        else
            snprintf(text, sizeof text, "%llu of %llu bytes",
                     static_cast<unsigned long long>(total), static_cast<unsigned long long>(size));
        return text;
    };
    for (;;) {
        ssize_t n = read(sock.get(), buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) {
            remove_partial();
            common::die("read (after %s)", arrived().c_str());
        }
        if (n == 0) break;
        const char* data = buf;
        size_t len = static_cast<size_t>(n);
        if (header_got < sizeof header) {  // TCP has no boundaries: the size may come in parts
            size_t take = std::min(len, sizeof header - header_got);
            memcpy(header + header_got, data, take);
            header_got += take;
            data += take;
            len -= take;
            if (header_got < sizeof header) continue;
            uint64_t size_be;
            memcpy(&size_be, header, sizeof size_be);
            size = be64toh(size_be);
        }
        if (len > size - total) {
            remove_partial();
            common::fatal("transfer too long: more than the %llu bytes announced",
                          static_cast<unsigned long long>(size));
        }
        if (!common::write_all(out_fd.get(), data, len)) {
            remove_partial();
            common::die("write %s", partial_path.c_str());
        }
        total += len;
    }
    // End of stream.  From a server that finished, or from one that crashed: its kernel
    // closes the socket with the same FIN.  Only the count tells them apart.
    if (header_got < sizeof header || total < size) {
        remove_partial();
        common::fatal("transfer incomplete: %s", arrived().c_str());
    }

    // Complete.  On disk first (fsync), with OUTFILE's usual mode (mkstemp() makes 0600), then
    // under its name: rename() replaces any older OUTFILE at once, never with half a file.
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(out_fd.get(), 0644 & ~mask) == -1 || fsync(out_fd.get()) == -1 ||
        close(out_fd.release()) == -1) {
        remove_partial();
        common::die("write %s", partial_path.c_str());
    }
    if (rename(partial_path.c_str(), out_path) == -1) {
        remove_partial();
        common::die("rename %s to %s", partial_path.c_str(), out_path);
    }
    partial_path.clear();
    printf("Received file data: %llu bytes -> %s\n", static_cast<unsigned long long>(total),
           out_path);
    fflush(stdout);

    // Our output stream is still open: the server half-closed only its own.  The answer now
    // also means "I have all of it".
    constexpr std::string_view kThanks = "Thank you";  // 9 bytes; the book also sent its '\0'
    if (!common::write_all(sock.get(), kThanks)) common::die("write");
    printf("Sent: %s\n", kThanks.data());
    return 0;  // sock's destructor closes: the server reads end of stream after the message
}
