// asio_echo_server — the peer bench/ measures our epoll servers against: what a C++
// programmer would write instead, Asio's async_tcp_echo_server example (Debian libasio-dev,
// standalone Asio, #include <asio.hpp>), single-threaded.
//
// usage: asio_echo_server PORT
//
// The pattern is the example's: one io_context run by one thread; each accepted socket gets
// a `session`, kept alive by the shared_ptr its own pending handler holds, with a 1024-byte
// buffer; async_read_some -> async_write of what was read -> async_read_some ...  Asio's
// reactor is epoll on Linux.  Only the set-up follows socklab's command-line contract: it
// listens on [::] with IPV6_V6ONLY off, or on the host in SOCKLAB_BIND (e.g. 127.0.0.1), and
// prints the readiness line.  Like the example, an accept error is ignored and accept is
// retried at once (bench/run raises RLIMIT_NOFILE so that EMFILE does not happen).
//
// What to observe (stdout, one flushed line):
//     listening on 127.0.0.1:40125
// then it echoes every client until killed.  Try: bench/echo_bench 127.0.0.1 40125 --conns 100
#include <sys/socket.h>

#include <asio.hpp>
#include <cstring>
#include <memory>
#include <utility>

#include "common/error.hpp"
#include "common/help.hpp"
#include "common/net.hpp"

using asio::ip::tcp;

namespace {

class Session : public std::enable_shared_from_this<Session> {
  public:
    explicit Session(tcp::socket socket) : socket_(std::move(socket)) {}
    void start() { do_read(); }

  private:
    void do_read() {
        auto self(shared_from_this());
        socket_.async_read_some(asio::buffer(data_, kMaxLength),
                                [this, self](std::error_code ec, std::size_t length) {
                                    if (!ec) do_write(length);
                                });
    }
    void do_write(std::size_t length) {
        auto self(shared_from_this());
        asio::async_write(socket_, asio::buffer(data_, length),
                          [this, self](std::error_code ec, std::size_t /*length*/) {
                              if (!ec) do_read();
                          });
    }

    tcp::socket socket_;
    static constexpr std::size_t kMaxLength = 1024;
    char data_[kMaxLength];
};

void do_accept(tcp::acceptor& acceptor) {
    acceptor.async_accept([&acceptor](std::error_code ec, tcp::socket socket) {
        if (!ec) std::make_shared<Session>(std::move(socket))->start();
        do_accept(acceptor);
    });
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 2) common::die_usage("PORT");
    asio::io_context io(1);  // concurrency hint 1: only one thread runs this io_context
    tcp::acceptor acceptor(io);
    // The same listening socket as every socklab server (common::listen_tcp: [::] dual-stack,
    // SO_REUSEADDR), handed to Asio.
    common::Fd fd = common::listen_tcp(argv[1]);
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == -1)
        common::die("getsockname");
    std::error_code ec;
    acceptor.assign(addr.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd.release(), ec);
    if (ec) common::fatal("assign: %s", ec.message().c_str());
    common::print_ready("listening on", acceptor.native_handle());

    do_accept(acceptor);
    io.run();
}
