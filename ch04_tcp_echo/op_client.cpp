// op_client — the book's calculator client (ch. 5, op_client.c): a binary request built by
// hand in network byte order (count byte, N x int32 through htonl(), operator byte), sent
// with one write_all(); the 5-byte reply read with read_exact().  Wire format: op_server.cpp.
//
// usage: op_client HOST PORT [+|-|'*' OPERAND...]
//   OPERATOR OPERAND...  the request (quote '*' in a shell); default: count, operands and
//                        operator read from stdin
//
// What to observe:
//     $ op_client 127.0.0.1 9190 + 1 2 3          $ printf '2 6 7 *' | op_client ::1 9190
//     Operation result: 6                          Operation result: 42
// On a terminal it prompts like the book.  An error reply, or none: one line, exit 1
// ("op_client: server: result overflows 32 bits"); a bad count, operand, operator: exit 2.
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/help.hpp"
#include "common/io.hpp"
#include "common/net.hpp"

namespace {

constexpr int kMaxOperands = 64;  // op_server.cpp rejects more (status 1)
constexpr const char* kStatusText[] = {"ok", "bad operand count", "unknown operator",
                                       "result overflows 32 bits"};

[[noreturn]] void bad_input(const char* what, const std::string& text, const char* expected) {
    common::note("invalid %s '%s' (expected %s)", what, text.c_str(), expected);
    exit(2);
}

[[noreturn]] void incomplete(const std::string& missing) {
    common::note("end of input before %s", missing.c_str());
    exit(2);
}

// The whole word must be a decimal number in range: "abc", "7x", "99999999999" are not.
int32_t operand_from(const std::string& text) {
    int32_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size())
        bad_input("operand", text, "a 32-bit integer");
    return value;
}

int count_from(const std::string& text) {
    int value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || value < 1 || value > kMaxOperands)
        bad_input("operand count", text, "1 to 64");
    return value;
}

char operator_from(const std::string& text) {
    if (text != "+" && text != "-" && text != "*") bad_input("operator", text, "+, - or *");
    return text[0];
}

// Next whitespace-separated word of stdin, after a prompt if a person is typing.
std::optional<std::string> next_word(bool prompt, const std::string& text) {
    if (prompt) {
        fputs(text.c_str(), stdout);
        fflush(stdout);
    }
    std::string word;
    if (!(std::cin >> word)) return std::nullopt;
    return word;
}

}  // namespace

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc < 3 || argc == 4) common::die_usage("HOST PORT [+|-|'*' OPERAND...]");
    common::port_arg(argv[2]);  // a bad port fails now, not after the user typed a request

    char op = 0;
    std::vector<int32_t> operands;
    if (argc > 4) {
        if (argc - 4 > kMaxOperands)
            bad_input("operand count", std::to_string(argc - 4), "1 to 64");
        op = operator_from(argv[3]);
        for (int i = 4; i < argc; ++i)
            operands.push_back(operand_from(argv[i]));
    } else {
        // The book's prompts: "Operand count: ", "Operand 1: ", ..., "Operator: ", shown only
        // on a terminal.  It reads the whole request BEFORE it connects, so a slow typist never
        // holds the iterative server, nor trips its deadline (the book connects first).
        bool prompt = isatty(STDIN_FILENO);
        auto count_word = next_word(prompt, "Operand count: ");
        // End of input, or q/Q as in echo_client, before a request: nothing to do.
        if (!count_word || *count_word == "q" || *count_word == "Q") return 0;
        int count = count_from(*count_word);
        for (int i = 1; i <= count; ++i) {
            auto word = next_word(prompt, "Operand " + std::to_string(i) + ": ");
            if (!word) incomplete("operand " + std::to_string(i) + " of " + std::to_string(count));
            operands.push_back(operand_from(*word));
        }
        auto word = next_word(prompt, "Operator: ");
        if (!word) incomplete("the operator");
        op = operator_from(*word);
    }
    // If the server has already closed (say, its timeout fired), write() fails with EPIPE and
    // we report it, instead of being killed silently by SIGPIPE.
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) common::die("signal");

    // The connect loop of echo_client.cpp (from ch06 on: common::connect_tcp()).
    common::Fd sock;
    for (const addrinfo& ai : common::resolve(argv[1], argv[2], SOCK_STREAM)) {
        sock.reset(socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol));
        if (sock && connect(sock.get(), ai.ai_addr, ai.ai_addrlen) == 0) break;
        sock.reset();
    }
    if (!sock) common::die("connect to %s port %s", argv[1], argv[2]);

    // Request: count | operands, big-endian | operator.  The book stored host-order ints
    // with scanf("%d", (int*)&opmsg[i*4+1]) into a 1024-byte array: a count of 300 overflowed it.
    std::vector<unsigned char> request{static_cast<unsigned char>(operands.size())};
    for (int32_t value : operands) {
        uint32_t net = htonl(static_cast<uint32_t>(value));  // 主机字节序 -> 网络字节序
        auto* bytes = reinterpret_cast<const unsigned char*>(&net);
        request.insert(request.end(), bytes, bytes + 4);
    }
    request.push_back(static_cast<unsigned char>(op));
    if (!common::write_all(sock.get(), request.data(), request.size())) common::die("write");

    std::array<unsigned char, 5> reply;
    ssize_t n = common::read_exact(sock.get(), reply.data(), reply.size());
    if (n == -1) common::die("read");
    if (n < 5) common::fatal("server closed the connection without a reply");
    uint32_t net;
    memcpy(&net, &reply[1], 4);
    if (reply[0] != 0) {
        if (reply[0] < std::size(kStatusText)) common::fatal("server: %s", kStatusText[reply[0]]);
        common::fatal("server: unknown status %d", reply[0]);
    }
    printf("Operation result: %d\n", static_cast<int32_t>(ntohl(net)));
}
