// webserv — the book's multithreaded web server (ch. 24), made safe: a thread per connection
// answers one HTTP/1.0 or HTTP/1.1 GET or HEAD with a file under DOCROOT, then closes.
//
// usage: webserv PORT DOCROOT [--max-clients N] [--deadline-ms MS]
//   --max-clients N   connections served at once (default and most: (RLIMIT_NOFILE - 16) / 2)
//   --deadline-ms MS  whole request and response, per connection (default 10000)
//
// What to observe (stdout, one flushed line per response; `curl -i` shows the headers):
//     listening on [::]:8080
//     [::ffff:127.0.0.1]:50412 "GET /index.html HTTP/1.1" 200 421
//     [::ffff:127.0.0.1]:50414 "GET /../../etc/passwd HTTP/1.1" 403 14
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "common/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// The limits of a request head (request line + headers), like nginx's and Apache's defaults.
constexpr size_t kMaxRequestLine = 8192;  // longer: 414 URI Too Long
constexpr size_t kMaxHeaderLine = 8192;   // one header line longer: 431
constexpr size_t kMaxHead = 16384;        // the whole head longer: 431
constexpr size_t kMaxHeaders = 64;        // more header lines: 431
constexpr long kReserved = 16;            // descriptors kept for the server itself
constexpr size_t kMaxLinger = 4 << 20;    // unread request bytes discarded before close()

std::string docroot;  // realpath() of DOCROOT, set once before the first thread
long deadline_ms = 10000;
sem_t free_slots;  // free connection slots, as in ch18's echo_thrserv

struct Conn {
    common::Fd fd;
    std::string peer;  // "[::ffff:127.0.0.1]:50412"
    Clock::time_point deadline;
};

// Milliseconds left for poll(); 0 once the deadline has passed.
int ms_left(const Conn& c) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - Clock::now());
    return static_cast<int>(std::clamp<long>(left.count(), 0, INT_MAX));
}

// Waits until FD is ready for EVENTS or the deadline passes: the socket is non-blocking, so
// a client that stops sending (or stops reading) costs this thread at most --deadline-ms.
bool wait_for(const Conn& c, short events) {
    for (;;) {
        pollfd p{c.fd.get(), events, 0};
        int r = poll(&p, 1, ms_left(c));
        if (r == -1 && errno == EINTR) continue;
        return r == 1;
    }
}

// Sends all LEN bytes before the deadline; false on error (EPIPE, ECONNRESET) or deadline.
bool send_all(const Conn& c, const char* data, size_t len) {
    while (len > 0) {
        ssize_t n = send(c.fd.get(), data, len, MSG_NOSIGNAL);
        if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_for(c, POLLOUT)) return errno = ETIMEDOUT, false;
            continue;
        }
        if (n == -1) return false;
        data += n;
        len -= static_cast<size_t>(n);
    }
    return true;
}

// The request as the log shows it: printable ASCII kept, anything else as \xHH, cut at 200.
std::string printable(std::string_view s) {
    std::string out;
    for (unsigned char ch : s.substr(0, 200)) {
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
            out += static_cast<char>(ch);
        } else {
            char hex[5];
            snprintf(hex, sizeof hex, "\\x%02x", ch);
            out += hex;
        }
    }
    return s.size() > 200 ? out + "..." : out;
}

const char* reason(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 414:
            return "URI Too Long";
        case 431:
            return "Request Header Fields Too Large";
        default:
            return "Internal Server Error";
    }
}

const char* content_type(std::string_view path) {
    auto dot = path.rfind('.');
    std::string_view ext = dot == std::string_view::npos ? "" : path.substr(dot);
    if (ext == ".html") return "text/html; charset=utf-8";
    if (ext == ".css") return "text/css";
    if (ext == ".js") return "text/javascript";
    if (ext == ".png") return "image/png";
    if (ext == ".txt") return "text/plain; charset=utf-8";
    return "application/octet-stream";
}

// The status line and headers.  Content-Length is the body's true size (the book sends a
// fixed 2048); every answer ends the connection, so "Connection: close" says so.
std::string head(int status, const char* type, long long length, bool allow = false) {
    char date[64];
    time_t now = time(nullptr);
    tm utc{};
    gmtime_r(&now, &utc);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &utc);
    std::string h = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
    h += std::string("Date: ") + date + "\r\nServer: webserv\r\n";
    if (allow) h += "Allow: GET, HEAD\r\n";
    h += std::string("Content-Type: ") + type + "\r\n";
    h += "Content-Length: " + std::to_string(length) + "\r\nConnection: close\r\n\r\n";
    return h;
}

// An error answer: headers and a one-line body ("404 Not Found\n"); returns the body's size.
long long send_error(const Conn& c, int status, bool head_only) {
    std::string body = std::to_string(status) + " " + reason(status) + "\n";
    std::string msg = head(status, "text/plain; charset=utf-8", static_cast<long long>(body.size()),
                           status == 405);
    if (!head_only) msg += body;
    if (!send_all(c, msg.data(), msg.size())) return 0;
    return head_only ? 0 : static_cast<long long>(body.size());
}

int hex_value(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

// TARGET (origin form "/a/b.html?q") to a path relative to DOCROOT, or a status: 400 for a
// malformed target, 403 for anything that tries to leave DOCROOT.
int target_to_path(std::string_view target, std::string& rel) {
    if (target.empty() || target[0] != '/') return 400;  // "http://host/x", "*", "../x"
    target = target.substr(0, target.find('?'));
    std::string decoded;
    for (size_t i = 0; i < target.size(); ++i) {
        if (target[i] != '%') {
            decoded += target[i];
            continue;
        }
        int hi = i + 2 < target.size() ? hex_value(target[i + 1]) : -1;
        int lo = hi >= 0 ? hex_value(target[i + 2]) : -1;
        if (lo < 0) return 400;
        decoded += static_cast<char>(hi * 16 + lo);
        i += 2;
        // An encoded '/' or NUL is never part of a file name here: "%2e%2e%2f.." or a name
        // cut short at a NUL by open() would otherwise slip past the checks below.
        if (decoded.back() == '/' || decoded.back() == '\0') return 403;
    }
    // Every segment is a name: "." and ".." (plain or encoded) are refused, not resolved.
    rel.clear();
    size_t start = 1;
    while (start <= decoded.size()) {
        size_t end = std::min(decoded.find('/', start), decoded.size());
        std::string_view seg(decoded.data() + start, end - start);
        if (seg == "." || seg == "..") return 403;
        if (!seg.empty()) rel += (rel.empty() ? "" : "/") + std::string(seg);
        start = end + 1;
    }
    return 0;
}

// Opens DOCROOT/REL for reading: 0 and *fd on success, else 403 or 404.  realpath() resolves
// every symbolic link: a link that points out of DOCROOT resolves to a path outside it.
int open_file(std::string rel, common::Fd& fd, std::string& resolved) {
    for (int round = 0; round < 2; ++round) {
        std::string path = docroot + "/" + rel;
        char* real = realpath(path.c_str(), nullptr);
        if (real == nullptr) return errno == EACCES ? 403 : 404;
        resolved = real;
        free(real);
        if (resolved != docroot && resolved.compare(0, docroot.size() + 1, docroot + "/") != 0)
            return 403;
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway.
        fd.reset(open(resolved.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
        if (!fd) return errno == EACCES ? 403 : 404;
        struct stat st {};
        if (fstat(fd.get(), &st) == -1) return 404;
        if (S_ISREG(st.st_mode)) return 0;
        if (!S_ISDIR(st.st_mode)) return 404;
        rel += rel.empty() ? "index.html" : "/index.html";  // "/" serves DOCROOT/index.html
    }
    return 404;
}

// Sends the file's bytes with a read/write loop (pread() from our own offset); returns how
// many went out.  A file that shrank meanwhile ends the answer short: the client sees fewer
// bytes than Content-Length promised and knows it.
long long send_file(const Conn& c, int fd, long long size) {
    char buf[65536];
    long long sent = 0;
    while (sent < size) {
        ssize_t n =
            pread(fd, buf, static_cast<size_t>(std::min<long long>(size - sent, sizeof buf)), sent);
        if (n == -1 && errno == EINTR) continue;
        if (n <= 0) break;
        if (!send_all(c, buf, static_cast<size_t>(n))) break;
        sent += n;
    }
    return sent;
}

// Reads the request head into HEAD until the empty line; 0 when complete, else the status to
// answer (400, 408, 414, 431) or -1 for a client that closed before sending a byte.
int read_head(const Conn& c, std::string& head_text, size_t& end) {
    char buf[4096];
    for (;;) {
        size_t nl = head_text.find('\n');
        if ((nl == std::string::npos ? head_text.size() : nl) > kMaxRequestLine) return 414;
        if ((end = head_text.find("\r\n\r\n")) != std::string::npos) return end += 2, 0;
        if ((end = head_text.find("\n\n")) != std::string::npos) return end += 1, 0;
        if (head_text.size() >= kMaxHead) return 431;
        ssize_t n = read(c.fd.get(), buf, std::min(sizeof buf, kMaxHead + 1 - head_text.size()));
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && errno == EAGAIN) {
            if (!wait_for(c, POLLIN)) return 408;
            continue;
        }
        if (n <= 0) return head_text.empty() ? -1 : 400;  // closed (or reset) mid-request
        head_text.append(buf, static_cast<size_t>(n));
    }
}

bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (unsigned char ch : s)
        if (ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch)) return false;
    return true;
}

// Checks the header lines (after the request line) up to END: 0, 400 or 431.
int check_headers(std::string_view text, bool& has_host) {
    size_t count = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;
        if (line.size() > kMaxHeaderLine || ++count > kMaxHeaders) return 431;
        size_t colon = line.find(':');
        // "Name: value"; no space before the colon, no folded continuation lines.
        if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return 400;
        std::string_view name = line.substr(0, colon);
        if (name.size() == 4 && strncasecmp(name.data(), "host", 4) == 0) has_host = true;
    }
    return 0;
}

// One connection: read the request, answer it, log one line, close.
void serve(Conn& c) {
    std::string head_text, request = "-";
    size_t end = 0;
    int status = read_head(c, head_text, end);
    if (status == -1) return;  // nothing asked, nothing answered
    // Request bytes we will not read: a head cut short, a body (GET has none; POST...).
    bool unread = status != 0 || head_text.size() > end;
    std::string_view line(head_text);
    line = line.substr(0, line.find('\n'));
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!head_text.empty()) request = std::string(line);

    bool head_only = false;
    long long bytes = 0;
    common::Fd file;
    if (status == 0) {
        // "METHOD SP TARGET SP VERSION", exactly: one space each, nothing else.
        size_t sp1 = line.find(' '), sp2 = line.find(' ', sp1 + 1);
        std::string_view method = line.substr(0, sp1);
        std::string_view target, version;
        if (sp1 != std::string_view::npos && sp2 != std::string_view::npos) {
            target = line.substr(sp1 + 1, sp2 - sp1 - 1);
            version = line.substr(sp2 + 1);
        }
        bool has_host = false;
        if (!is_token(method) || target.empty() || (version != "HTTP/1.0" && version != "HTTP/1.1"))
            status = 400;
        else if ((status = check_headers(
                      std::string_view(head_text).substr(0, end).substr(head_text.find('\n') + 1),
                      has_host)) != 0) {
        } else if (version == "HTTP/1.1" && !has_host) {
            status = 400;  // RFC 9112 3.2: a 1.1 request without Host is malformed
        } else if (method != "GET" && method != "HEAD") {
            status = 405;
            unread = true;  // a POST's body may still be on its way
        } else {
            head_only = method == "HEAD";
            std::string rel, resolved;
            if ((status = target_to_path(target, rel)) == 0)
                status = open_file(rel, file, resolved);
            if (status == 0) {
                struct stat st {};
                fstat(file.get(), &st);
                std::string h = head(200, content_type(resolved), st.st_size);
                status = 200;
                if (send_all(c, h.data(), h.size()) && !head_only)
                    bytes = send_file(c, file.get(), st.st_size);
            }
        }
    }
    if (status != 200) bytes = send_error(c, status, head_only);
    printf("%s \"%s\" %d %lld\n", c.peer.c_str(), printable(request).c_str(), status, bytes);
    fflush(stdout);
    if (ms_left(c) == 0) {
        common::note("%s: dropped at the deadline (%ld ms)", c.peer.c_str(), deadline_ms);
        return;
    }
    if (!unread) return;  // the whole request was read: close() sends a plain FIN
    // Lingering close: close() with unread request bytes would send a reset, which can destroy
    // our answer before the client reads it (a 431 for a 1 MB header).  Say we are done, read
    // and discard until the client closes too (bounded in bytes, by the deadline and 1 s).
    shutdown(c.fd.get(), SHUT_WR);
    c.deadline = std::min(c.deadline, Clock::now() + std::chrono::seconds(1));
    char buf[4096];
    for (size_t discarded = 0; discarded < kMaxLinger;) {
        ssize_t n = read(c.fd.get(), buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && errno == EAGAIN && wait_for(c, POLLIN)) continue;
        if (n <= 0) break;
        discarded += static_cast<size_t>(n);
    }
}

void* handle_client(void* arg) {
    Conn* c = static_cast<Conn*>(arg);
    serve(*c);
    delete c;               // closes the socket ...
    sem_post(&free_slots);  // ... before main can take the slot
    return nullptr;
}

// As echo_thrserv: at EMFILE/ENFILE/ENOMEM take every free slot and wait (1 s at most) for a
// client's thread to post one, instead of retrying accept() at once (it would spin).
void wait_for_a_client_to_leave() {
    long taken = 0;
    while (sem_trywait(&free_slots) == 0)
        ++taken;
    timespec until{};
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 1;
    int r;
    while ((r = sem_clockwait(&free_slots, CLOCK_MONOTONIC, &until)) == -1 && errno == EINTR) {
    }
    if (r == 0) ++taken;
    for (; taken > 0; --taken)
        sem_post(&free_slots);
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    const char* usage = "PORT DOCROOT [--max-clients N] [--deadline-ms MS]";
    // Each connection holds two descriptors: its socket and the file it sends.
    rlimit nofile{};
    if (getrlimit(RLIMIT_NOFILE, &nofile) == -1) common::die("getrlimit");
    long max_clients = 1;
    if (nofile.rlim_cur > kReserved + 2)
        max_clients =
            static_cast<long>(std::min<rlim_t>((nofile.rlim_cur - kReserved) / 2, SEM_VALUE_MAX));
    if (argc < 3) common::die_usage("%s", usage);
    for (int i = 3; i < argc; i += 2) {
        if (i + 1 >= argc) common::die_usage("%s", usage);
        if (strcmp(argv[i], "--max-clients") == 0)
            max_clients = common::number_arg("--max-clients", argv[i + 1], 1, max_clients);
        else if (strcmp(argv[i], "--deadline-ms") == 0)
            deadline_ms = common::number_arg("--deadline-ms", argv[i + 1], 1, 3600000);
        else
            common::die_usage("%s", usage);
    }
    common::port_arg(argv[1]);
    char* real = realpath(argv[2], nullptr);
    struct stat st {};
    if (real == nullptr || stat(real, &st) == -1) common::die("%s", argv[2]);
    if (!S_ISDIR(st.st_mode)) common::fatal("%s: not a directory", argv[2]);
    docroot = real;
    free(real);
    if (docroot == "/") docroot.clear();  // then "/" + rel, and every resolved path is under it
    if (sem_init(&free_slots, 0, static_cast<unsigned>(max_clients)) == -1) common::die("sem_init");
    // A write to a client that left must fail with EPIPE, not kill the process (send() also
    // says MSG_NOSIGNAL; this covers every other write).
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    common::Fd listen_fd = common::listen_tcp(argv[1]);
    common::print_ready("listening on", listen_fd.get());

    bool full_said = false, exhausted_said = false;
    for (;;) {
        if (sem_trywait(&free_slots) == -1) {
            if (!full_said)
                common::note(
                    "--max-clients %ld reached: new connections wait in the listen backlog "
                    "until a client leaves (said once)",
                    max_clients);
            full_said = true;
            while (sem_wait(&free_slots) == -1) {  // only EINTR
            }
        }
        sockaddr_storage addr{};
        socklen_t addr_len;
        int fd;
        for (;;) {
            addr_len = sizeof addr;
            // SOCK_NONBLOCK: every wait on the client goes through poll() with its deadline.
            fd = accept4(listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd != -1) break;
            switch (common::accept_failure(errno)) {
                case common::AcceptFailure::kRetry:
                case common::AcceptFailure::kWouldBlock:
                    break;
                case common::AcceptFailure::kExhausted:
                    if (!exhausted_said)
                        common::note(
                            "accept: %s: new connections wait in the listen backlog until a "
                            "client leaves (said once)",
                            strerror(errno));
                    exhausted_said = true;
                    wait_for_a_client_to_leave();
                    break;
                case common::AcceptFailure::kFatal:
                    common::die("accept");
            }
        }
        // The deadline starts at accept(): the whole request and answer must fit in it.
        Conn* c = new Conn{common::Fd(fd), common::to_string(reinterpret_cast<sockaddr*>(&addr)),
                           Clock::now() + std::chrono::milliseconds(deadline_ms)};
        pthread_t t_id;
        if (int err = pthread_create(&t_id, nullptr, handle_client, c); err != 0) {
            errno = err;  // EAGAIN: no thread to spare; this connection alone pays
            common::warn("%s closed, no thread for it: pthread_create", c->peer.c_str());
            delete c;
            sem_post(&free_slots);
            continue;
        }
        pthread_detach(t_id);
    }
}
