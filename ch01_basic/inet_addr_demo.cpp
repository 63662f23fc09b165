// inet_addr_demo — "a.b.c.d" text to a 32-bit address with inet_addr(), and why inet_pton()
// replaced it, book ch. 3 (inet_addr.c).
//
// usage: inet_addr_demo [ADDRESS]
//   ADDRESS  the text to convert (default: the book's examples and 255.255.255.255)
//
// What to observe (on a little-endian host):
//   inet_addr("1.2.3.4") = 0x04030201 (1.2.3.4)
//   inet_pton(AF_INET, "1.2.3.4") = 1, s_addr = 0x04030201 (1.2.3.4)
//   inet_addr("1.2.3.256") = 0xffffffff = INADDR_NONE: an error, or 255.255.255.255?
//   inet_pton(AF_INET, "1.2.3.256") = 0: not an IPv4 address
//   inet_addr("255.255.255.255") = 0xffffffff = INADDR_NONE: an error, or 255.255.255.255?
//   inet_pton(AF_INET, "255.255.255.255") = 1, s_addr = 0xffffffff (255.255.255.255)
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdio>

#include "common/error.hpp"
#include "common/help.hpp"

// "0x04030201 (1.2.3.4)": the raw s_addr as this host reads it, and the address it means.
static void print_s_addr(in_addr addr) {
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr, text, sizeof text);
    printf("0x%08x (%s)\n", addr.s_addr, text);
}

static void convert(const char* text) {
    sockaddr_in addr{};
    // inet_addr() returns the address already in network byte order, ready for s_addr.
    // Printed as an integer on a little-endian host it reads 0x04030201: the bytes lie in
    // memory as 01 02 03 04, network order (see endian_conv).
    addr.sin_addr.s_addr = inet_addr(text);  // the caller stores the result itself
    // On failure it returns INADDR_NONE, 0xffffffff: the same 32 bits as the valid address
    // 255.255.255.255.  So inet_addr() cannot tell an error from that address.
    printf("inet_addr(\"%s\") = ", text);
    if (addr.sin_addr.s_addr == INADDR_NONE)
        printf("0xffffffff = INADDR_NONE: an error, or 255.255.255.255?\n");
    else
        print_s_addr(addr.sin_addr);

    in_addr checked{};
    // The replacement: 1 = valid, 0 = not an address, and the address goes into a separate
    // output argument, so no value is lost to error reporting.  AF_INET6 reads IPv6 too.
    int rc = inet_pton(AF_INET, text, &checked);
    printf("inet_pton(AF_INET, \"%s\") = %d", text, rc);
    if (rc == 1) {
        printf(", s_addr = ");
        print_s_addr(checked);
    } else {
        printf(": not an IPv4 address\n");
    }
}

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc > 2) common::die_usage("[ADDRESS]");
    if (argc == 2) {
        convert(argv[1]);
    } else {
        const char* examples[] = {"1.2.3.4", "1.2.3.256", "255.255.255.255"};
        for (const char* text : examples)
            convert(text);
    }
    return 0;
}
