// inet_aton_demo — "a.b.c.d" text into a struct in_addr with inet_aton(), book ch. 3
// (inet_aton.c).
//
// inet_aton() does what inet_addr() does, but writes the address straight into the
// in_addr you give it (e.g. &addr.sin_addr) and returns 1 for success, 0 for failure.
// Because the result and the error are separate, 255.255.255.255 is no problem (compare
// inet_addr_demo).  It still reads IPv4 only, and it accepts old shorthand forms such as
// "127.1" (= 127.0.0.1) and "010.0.0.1" (octal: 8.0.0.1) that surprise people.
// Replaced by inet_pton(AF_INET or AF_INET6, text, &addr): the same 1/0 contract, strict
// dotted-decimal a.b.c.d for IPv4, and IPv6 as well.
//
// usage: inet_aton_demo [ADDRESS]   (without ADDRESS: the book's example and a few more)
//
// What to observe:
//   inet_aton("127.232.124.79") = 1, s_addr = 0x4f7ce87f (127.232.124.79)
//   inet_pton(AF_INET, "127.232.124.79") = 1, s_addr = 0x4f7ce87f (127.232.124.79)
//   inet_aton("1.2.3.256") = 0: not an IPv4 address
//   inet_pton(AF_INET, "1.2.3.256") = 0: not an IPv4 address
//   ...
//   inet_aton("127.1") = 1, s_addr = 0x0100007f (127.0.0.1)
//   inet_pton(AF_INET, "127.1") = 0: not an IPv4 address
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdio>

#include "common/error.hpp"

// ", s_addr = 0x4f7ce87f (127.232.124.79)" or ": not an IPv4 address".
static void print_result(int rc, in_addr addr) {
    if (rc == 0) {
        printf(": not an IPv4 address\n");
        return;
    }
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr, text, sizeof text);
    printf(", s_addr = 0x%08x (%s)\n", addr.s_addr, text);
}

static void convert(const char* text) {
    sockaddr_in addr{};
    int rc = inet_aton(text, &addr.sin_addr);  // written straight into the sockaddr_in
    printf("inet_aton(\"%s\") = %d", text, rc);
    print_result(rc, addr.sin_addr);

    in_addr checked{};
    rc = inet_pton(AF_INET, text, &checked);
    printf("inet_pton(AF_INET, \"%s\") = %d", text, rc);
    print_result(rc, checked);
}

int main(int argc, char* argv[]) {
    if (argc > 2) common::die_usage("[ADDRESS]");
    if (argc == 2) {
        convert(argv[1]);
    } else {
        const char* examples[] = {"127.232.124.79", "1.2.3.256", "255.255.255.255", "127.1"};
        for (const char* text : examples)
            convert(text);
    }
    return 0;
}
