// echo_uringserv — the echo server on io_uring, the step after epoll (Linux >= 6.0): the
// kernel accepts, receives into buffers the server lent it, and reports completions, not
// readiness; one io_uring_enter() per loop turn submits every request and collects every result.
//
// usage: echo_uringserv PORT
//
// What you will see: `listening on [::]:9190`, then nothing while it echoes.  Without io_uring
// (an old kernel, sysctl kernel.io_uring_disabled, a container's seccomp filter) it says so in
// one line and exits 1.  Out of descriptors it says so once on stderr and waits:
//     echo_uringserv: accept: Too many open files with 59 clients: new connections wait in
//     the listen backlog until a client leaves (said once)
#include <liburing.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include "common/error.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

namespace {

constexpr unsigned kEntries = 4096;      // submission queue; the completion queue is 4x
constexpr unsigned kBufs = 4096;         // provided buffers (a power of two), lent to the kernel
constexpr unsigned kBufSize = 2048;      // one buffer: 8 MiB in all, touched as the ring turns
constexpr uint32_t kMaxHeld = 64 << 10;  // bytes per client received but not yet echoed
constexpr int kGroup = 0;                // the id of our buffer group
constexpr const char* kUsage = "PORT";

// What a completion is about: user_data = kind << 56 | buffer id << 32 | fd.
enum Kind : uint64_t { kAccept = 1, kRecv = 2, kSend = 3, kCancel = 4 };
uint64_t tag(Kind k, int fd, unsigned bid = 0) {
    return uint64_t{k} << 56 | uint64_t{bid} << 32 | static_cast<uint32_t>(fd);
}

// A buffer the kernel filled: its bytes wait to be sent back, in order, behind the others of
// the same client (`next`).  Only one send per client is in flight, so they cannot overtake.
struct Buf {
    uint32_t len = 0, off = 0;
    int next = -1;
};
struct Client {
    int head = -1, tail = -1;  // the buffers to echo, oldest first
    uint32_t held = 0;         // their bytes not yet sent
    bool open = false, receiving = false, stopping = false, sending = false, closing = false;
    bool starved = false;  // in `starved`: its recv ended for want of buffers
};

io_uring ring;
io_uring_buf_ring* br = nullptr;
char* pool = nullptr;  // kBufs * kBufSize bytes
Buf bufs[kBufs];
std::vector<Client> clients;  // clients[fd]
std::vector<int> starved;     // clients whose recv waits for buffers to come back
unsigned lent = kBufs;        // buffers in the kernel's hands now
int returned = 0;             // buffers given back this turn, published in one step
int listen_fd = -1;
size_t n_clients = 0;
bool accepting = false, limit_said = false;
time_t paused_at = 0;

time_t now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

// The io_uring calls return -errno instead of setting errno.
[[noreturn]] void die_with(int neg_errno, const char* what) {
    errno = -neg_errno;
    common::die("%s", what);
}

// A free submission slot.  Requests pile up there and go to the kernel together, once per
// loop turn; only if the queue is full are they submitted early.
io_uring_sqe* sqe_for(uint64_t user_data) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    while (!sqe) {
        if (int r = io_uring_submit(&ring); r < 0 && r != -EINTR) die_with(r, "io_uring_submit");
        sqe = io_uring_get_sqe(&ring);
    }
    io_uring_sqe_set_data64(sqe, user_data);
    return sqe;
}

// Multishot accept: one request, one completion per connection, until it fails.
void arm_accept() {
    io_uring_prep_multishot_accept(sqe_for(tag(kAccept, listen_fd)), listen_fd, nullptr, nullptr,
                                   SOCK_CLOEXEC);
    accepting = true;
}

// Multishot recv with IOSQE_BUFFER_SELECT: no buffer is named.  When bytes come, the kernel
// takes the next free buffer of our group, fills it, and the completion says which one.  That
// buffer is then ours again until we give it back; till then the kernel cannot use it.
void arm_recv(int fd) {
    io_uring_sqe* sqe = sqe_for(tag(kRecv, fd));
    io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kGroup;
    clients[fd].receiving = true;
}

// Backpressure: a multishot recv cannot be paused, only cancelled.  Its last completion
// (-ECANCELED, without IORING_CQE_F_MORE) says it has stopped.
void stop_recv(int fd) {
    Client& c = clients[fd];
    if (!c.receiving || c.stopping) return;
    io_uring_prep_cancel64(sqe_for(tag(kCancel, fd)), tag(kRecv, fd), 0);
    c.stopping = true;
}

// Lend buffer BID to the kernel again (published at the end of the turn, for all at once).
void give_back(unsigned bid) {
    io_uring_buf_ring_add(br, pool + size_t{bid} * kBufSize, kBufSize, static_cast<uint16_t>(bid),
                          io_uring_buf_ring_mask(kBufs), returned++);
    ++lent;
}

// One send of what is left of the client's oldest buffer.  MSG_NOSIGNAL: a client that
// vanished gives EPIPE, not a SIGPIPE that would end the server.
void send_next(int fd) {
    Client& c = clients[fd];
    const Buf& b = bufs[c.head];
    io_uring_prep_send(sqe_for(tag(kSend, fd, static_cast<unsigned>(c.head))), fd,
                       pool + size_t(c.head) * kBufSize + b.off, b.len - b.off, MSG_NOSIGNAL);
    c.sending = true;
}

// Close a client once nothing of it is in flight: a request holds the socket open, and its
// completion must not come for a new client that got the same descriptor number.
void maybe_close(int fd) {
    Client& c = clients[fd];
    if (!c.closing || c.sending || c.receiving || c.starved) return;
    for (int bid = c.head; bid != -1; bid = bufs[bid].next)
        give_back(static_cast<unsigned>(bid));
    c = Client{};
    close(fd);
    --n_clients;
    if (!accepting) arm_accept();  // a descriptor is free: take the next one waiting
}

void on_accept(const io_uring_cqe* cqe) {
    if (cqe->res >= 0) {
        int fd = cqe->res;
        if (static_cast<size_t>(fd) >= clients.size()) clients.resize(fd + 1);
        clients[fd].open = true;
        ++n_clients;
        arm_recv(fd);
    }
    if (cqe->flags & IORING_CQE_F_MORE) return;  // still armed
    // The multishot accept has ended: an error ends it.  The one policy (DESIGN.md).
    if (cqe->res >= 0) return arm_accept();
    accepting = false;
    switch (common::accept_failure(-cqe->res)) {
        case common::AcceptFailure::kRetry:  // that connection died in the backlog: go on
        case common::AcceptFailure::kWouldBlock:
            return arm_accept();
        case common::AcceptFailure::kExhausted:
            // The connection stays in the backlog: re-arming now would fail again at once,
            // for ever.  Wait until a client leaves (maybe_close) or a second has passed.
            if (!limit_said)
                common::note(
                    "accept: %s with %zu clients: new connections wait in the listen backlog "
                    "until a client leaves (said once)",
                    strerror(-cqe->res), n_clients);
            limit_said = true;
            paused_at = now();
            return;
        case common::AcceptFailure::kFatal:
            die_with(cqe->res, "accept");
    }
}

void on_recv(int fd, const io_uring_cqe* cqe) {
    Client& c = clients[fd];
    if (!(cqe->flags & IORING_CQE_F_MORE)) c.receiving = c.stopping = false;
    if (cqe->res > 0) {
        // The bytes are in buffer `bid`: queue it for its send.  It stays out of the ring
        // until that send has completed (give_back in on_send).
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        --lent;
        bufs[bid] = Buf{.len = static_cast<uint32_t>(cqe->res)};
        if (c.tail == -1)
            c.head = static_cast<int>(bid);
        else
            bufs[c.tail].next = static_cast<int>(bid);
        c.tail = static_cast<int>(bid);
        c.held += static_cast<uint32_t>(cqe->res);
        if (c.closing) return maybe_close(fd);  // after a failed send: drop what comes
        if (!c.sending) send_next(fd);
        // A client that does not read its echo: its bytes pile up here.  Over the cap, stop
        // receiving from it; its unread bytes wait in the kernel and TCP slows the sender.
        if (c.held >= kMaxHeld) stop_recv(fd);
        if (!c.receiving && c.held < kMaxHeld) arm_recv(fd);  // ended for another reason
        return;
    }
    if (cqe->res == -ENOBUFS) {  // every buffer is out: wait until some come back
        c.starved = true;
        starved.push_back(fd);
    } else if (cqe->res == -ECANCELED) {  // stop_recv(): on_send re-arms it as sends drain
    } else {
        c.closing = true;  // 0: the client closed (its echo is still sent); < 0: ECONNRESET, ...
    }
    maybe_close(fd);
}

void on_send(int fd, unsigned bid, const io_uring_cqe* cqe) {
    Client& c = clients[fd];
    c.sending = false;
    if (cqe->res < 0) {  // EPIPE, ECONNRESET: the client is gone; stop and drop it
        c.closing = true;
        stop_recv(fd);
        return maybe_close(fd);
    }
    Buf& b = bufs[bid];
    b.off += static_cast<uint32_t>(cqe->res);
    c.held -= static_cast<uint32_t>(cqe->res);
    if (b.off == b.len) {  // all of it is sent: the buffer goes back to the kernel
        c.head = b.next;
        if (c.head == -1) c.tail = -1;
        give_back(bid);
    }
    if (c.head != -1) send_next(fd);  // the rest of a short send, or the next buffer
    if (!c.closing && !c.receiving && !c.starved && c.held < kMaxHeld / 2) arm_recv(fd);
    maybe_close(fd);
}

// Each turn's returned buffers go back into the ring at once; clients whose recv ended with
// ENOBUFS are re-armed once there are buffers again.
void end_turn() {
    if (returned > 0) io_uring_buf_ring_advance(br, returned);
    returned = 0;
    if (lent == 0) return;
    for (int fd : starved) {
        Client& c = clients[fd];
        c.starved = false;
        if (c.closing)
            maybe_close(fd);
        else if (!c.receiving && c.held < kMaxHeld)
            arm_recv(fd);
    }
    starved.clear();
}

void setup_ring() {
    // Fewer interruptions for a single-threaded server: completions are processed only when
    // we wait for them (DEFER_TASKRUN, Linux 6.1), or at least without an IPI (COOP_TASKRUN,
    // 5.19).  Older kernels refuse the flags (EINVAL): try with fewer.
    const unsigned tries[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                              IORING_SETUP_COOP_TASKRUN, 0};
    int r = -EINVAL;
    for (unsigned flags : tries) {
        io_uring_params p{};
        p.flags = flags | IORING_SETUP_CQSIZE;
        p.cq_entries = kEntries * 4;
        if ((r = io_uring_queue_init_params(kEntries, &ring, &p)) != -EINVAL) break;
    }
    if (r == -ENOSYS || r == -EPERM)
        common::fatal(
            "io_uring_setup: %s: io_uring is not available here (an old kernel, "
            "sysctl kernel.io_uring_disabled, or a seccomp filter)",
            strerror(-r));
    if (r < 0) die_with(r, "io_uring_setup");
    // Multishot recv came with Linux 6.0, as did IORING_OP_SEND_ZC, which a probe can see.
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    bool ok = probe && io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
    io_uring_free_probe(probe);
    if (!ok) common::fatal("io_uring: this kernel is too old (multishot recv needs Linux >= 6.0)");

    // The provided-buffer ring: memory shared with the kernel, registered as group kGroup.
    // (liburing 2.4's io_uring_setup_buf_ring() does these steps.)
    size_t ring_size = kBufs * sizeof(io_uring_buf);
    void* mem =
        mmap(nullptr, ring_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) common::die("mmap");
    br = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(br);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uintptr_t>(mem);
    reg.ring_entries = kBufs;
    reg.bgid = kGroup;
    if ((r = io_uring_register_buf_ring(&ring, &reg, 0)) < 0)
        die_with(r, "io_uring_register_buf_ring");
    mem = mmap(nullptr, size_t{kBufs} * kBufSize, PROT_READ | PROT_WRITE,
               MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) common::die("mmap");
    pool = static_cast<char*>(mem);
    for (unsigned bid = 0; bid < kBufs; ++bid)
        give_back(bid);
    lent = kBufs;
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage(kUsage);
    // Belt and braces: every send has MSG_NOSIGNAL; nothing else may raise SIGPIPE either.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    common::Fd listener = common::listen_tcp(argv[1]);
    listen_fd = listener.get();
    setup_ring();
    common::print_ready("listening on", listen_fd);
    arm_accept();

    for (;;) {
        end_turn();
        // Submit everything queued this turn and wait for at least one completion: one
        // system call.  While accepting is paused, wake after a second to look again (ENFILE:
        // the limit may be the system's, and no client of ours may ever leave).
        int r;
        if (accepting) {
            r = io_uring_submit_and_wait(&ring, 1);
        } else {
            __kernel_timespec ts{.tv_sec = 1, .tv_nsec = 0};
            io_uring_cqe* first = nullptr;
            r = io_uring_submit_and_wait_timeout(&ring, &first, 1, &ts, nullptr);
            if (now() - paused_at >= 1 && !accepting) arm_accept();
        }
        if (r < 0 && r != -EINTR && r != -ETIME && r != -EBUSY) die_with(r, "io_uring_enter");

        unsigned head, seen = 0;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++seen;
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            int fd = static_cast<int>(ud & 0xffffffff);
            switch (ud >> 56) {
                case kAccept:
                    on_accept(cqe);
                    break;
                case kRecv:
                    on_recv(fd, cqe);
                    break;
                case kSend:
                    on_send(fd, static_cast<unsigned>(ud >> 32) & 0xffffff, cqe);
                    break;
                default:
                    break;  // kCancel: its result says nothing we need
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}
