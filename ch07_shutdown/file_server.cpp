// file_server — half-close (半关闭) with shutdown(), book ch. 7 (file_server.c): send a
// file, shutdown(SHUT_WR), and still read the client's "Thank you".
//
// usage: file_server PORT FILE [--close]
//   --close  close() instead of shutdown(SHUT_WR): the client's answer is lost
//
// What you will see (stdout; N counts clients from 1):
//     listening on [::]:9190
//     client 1 connected from [::ffff:127.0.0.1]:40158
//     client 1: sent 1234 bytes, shutdown(SHUT_WR)
//     Message from client: Thank you
//     client 1: end of stream after 9 bytes, closed
// One client after another, with no time limit (the book's way; bounded_file_server has one).
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
#include <cstring>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {
constexpr size_t kMaxShown = 1024;  // of the client's message
char buf[16384];

// Sends FILE's size, then FILE from its start; false (and one stderr line) if the client has
// gone or FILE shrank.  *sent: bytes of the file sent.
bool send_file(int client_fd, int file_fd, const char* path, unsigned long client, uint64_t* sent) {
    struct stat st;
    if (fstat(file_fd, &st) == -1) common::die("fstat %s", path);
    // The book's client takes end of stream for "the file is complete".  But a crashed
    // server's kernel sends an ordinary FIN too, so the size goes first: 8 bytes, big-endian
    // (network order), in the same send() as the first bytes of the file.
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    const uint64_t size_be = htobe64(size);
    memcpy(buf, &size_be, sizeof size_be);
    size_t fill = sizeof size_be;  // bytes in buf ahead of the file's
    for (*sent = 0;;) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof buf - fill, size - *sent));
        ssize_t n = want == 0 ? 0 : pread(file_fd, buf + fill, want, static_cast<off_t>(*sent));
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) common::die("read %s", path);
        if (n == 0 && *sent < size) {  // FILE shrank since fstat(): no FIN, the client must know
            common::note("client %lu: %s ended at %llu of %llu bytes, closing", client, path,
                         static_cast<unsigned long long>(*sent),
                         static_cast<unsigned long long>(size));
            return false;
        }
        if (!common::write_all(client_fd, buf, fill + static_cast<size_t>(n))) {
            common::warn("client %lu: send after %llu bytes", client,  // EPIPE, ECONNRESET
                         static_cast<unsigned long long>(*sent));
            return false;
        }
        *sent += static_cast<uint64_t>(n);
        fill = 0;
        if (*sent == size) return true;
    }
}
}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    constexpr const char* kUsage = "PORT FILE [--close]";
    if (argc < 3 || argc > 4) common::die_usage(kUsage);
    const bool close_mode = argc == 4;
    if (close_mode && strcmp(argv[3], "--close") != 0) common::die_usage(kUsage);
    common::port_arg(argv[1]);  // a bad port is bad usage, whatever FILE is

    // Check FILE before listening: a server that cannot serve should not accept anyone.
    common::Fd file_fd(open(argv[2], O_RDONLY));
    if (!file_fd) common::die("cannot open %s", argv[2]);
    struct stat st;
    if (fstat(file_fd.get(), &st) == -1) common::die("fstat %s", argv[2]);
    if (!S_ISREG(st.st_mode)) common::fatal("%s: not a regular file", argv[2]);

    // A client that disconnects mid-file must not kill us: send() fails with EPIPE instead.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    // The setup of ch04's echo_server.cpp: socket(), SO_REUSEADDR, bind(), listen().
    common::Fd listen_fd = common::listen_tcp(argv[1]);
    common::print_ready("listening on", listen_fd.get());

    for (unsigned long client = 0;;) {
        sockaddr_storage addr{};
        socklen_t addr_len = sizeof addr;
        common::Fd client_fd(
            accept(listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len));
        if (!client_fd && common::accept_failure(errno) == common::AcceptFailure::kRetry)
            continue;                           // EINTR, or a client gone before accept()
        if (!client_fd) common::die("accept");  // EMFILE too: bounded_file_server waits
        printf("client %lu connected from %s\n", ++client,
               common::to_string(reinterpret_cast<sockaddr*>(&addr)).c_str());
        fflush(stdout);

        // 1. The size, then the file.
        uint64_t sent;
        if (!send_file(client_fd.get(), file_fd.get(), argv[2], client, &sent)) continue;

        if (close_mode) {
            // Both streams closed: what we wrote is still delivered, then FIN.  We can no
            // longer read, and whatever the client sends from now on is answered with RST.
            client_fd.reset();
            printf("client %lu: sent %llu bytes, close()\n", client,
                   static_cast<unsigned long long>(sent));
            fflush(stdout);
            continue;
        }

        // 2. Half-close: FIN after the last byte of the file, the input stream stays open.
        // The client reads to end of stream (read() == 0), and can still answer.
        if (shutdown(client_fd.get(), SHUT_WR) == -1) {
            common::warn("client %lu: shutdown", client);
            continue;
        }
        printf("client %lu: sent %llu bytes, shutdown(SHUT_WR)\n", client,
               static_cast<unsigned long long>(sent));
        fflush(stdout);

        // 3. The client's last message, until its end of stream.
        std::string message;
        size_t received = 0;
        for (;;) {
            ssize_t n = read(client_fd.get(), buf, sizeof buf);
            if (n == -1 && errno == EINTR) continue;
            if (n == -1) {
                common::warn("client %lu: read", client);
                break;
            }
            if (n == 0) {
                // %s: the book's client sends "Thank you" with its '\0'; print up to it.
                if (!message.empty()) printf("Message from client: %s\n", message.c_str());
                client_fd.reset();  // close(): the connection is finished both ways
                printf("client %lu: end of stream after %zu bytes, closed\n", client, received);
                fflush(stdout);
                break;
            }
            received += static_cast<size_t>(n);
            message.append(buf, std::min(static_cast<size_t>(n), kMaxShown - message.size()));
        }
    }
}
