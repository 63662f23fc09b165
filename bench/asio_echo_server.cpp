// asio_echo_server.cpp — the peer bench/ measures our epoll servers against: what a C++
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
    if (argc != 2) common::die_usage("PORT");
    asio::io_context io(1);  // concurrency hint 1: only one thread runs this io_context
    tcp::acceptor acceptor(io);
    std::error_code ec;
    for (const addrinfo& ai : common::listen_addresses(argv[1], SOCK_STREAM)) {
        tcp::endpoint endpoint;
        std::memcpy(endpoint.data(), ai.ai_addr, ai.ai_addrlen);
        acceptor.close(ec);
        acceptor.open(endpoint.protocol(), ec);
        if (ec) continue;
        acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
        if (ai.ai_family == AF_INET6) acceptor.set_option(asio::ip::v6_only(false), ec);
        acceptor.bind(endpoint, ec);
        if (!ec) break;
    }
    if (ec || !acceptor.is_open())
        common::fatal("bind to port %s: %s", argv[1], ec.message().c_str());
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) common::fatal("listen: %s", ec.message().c_str());
    common::print_ready("listening on", acceptor.native_handle());

    do_accept(acceptor);
    io.run();
}
