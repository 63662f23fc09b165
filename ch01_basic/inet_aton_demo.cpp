// inet_aton_demo — "a.b.c.d" text into a struct in_addr with inet_aton(), book ch. 3
// (inet_aton.c), beside inet_pton(), which replaced it.
//
// usage: inet_aton_demo [ADDRESS]
//   ADDRESS  the text to convert (default: the book's example and a few more)
//
// What to observe:
//   inet_aton("127.232.124.79") = 1, s_addr = 0x4f7ce87f (127.232.124.79)
//   inet_pton(AF_INET, "127.232.124.79") = 1, s_addr = 0x4f7ce87f (127.232.124.79)
//   ...
//   inet_aton("127.1") = 1, s_addr = 0x0100007f (127.0.0.1)
//   inet_pton(AF_INET, "127.1") = 0: not an IPv4 address
// 1.2.3.256 is refused by both; 255.255.255.255 is no problem for either (see inet_addr_demo).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdio>

#include "common/error.hpp"
#include "common/help.hpp"

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
    // inet_aton() writes the address straight into the in_addr you give it and returns 1 for
    // success, 0 for failure: result and error are apart, so 255.255.255.255 is no problem.
    // It still reads IPv4 only, and it takes old shorthands that surprise people: "127.1"
    // (= 127.0.0.1), "010.0.0.1" (octal: 8.0.0.1).
    int rc = inet_aton(text, &addr.sin_addr);
    printf("inet_aton(\"%s\") = %d", text, rc);
    print_result(rc, addr.sin_addr);

    in_addr checked{};
    // The replacement: the same 1/0 contract, strict dotted-decimal a.b.c.d, and AF_INET6.
    rc = inet_pton(AF_INET, text, &checked);
    printf("inet_pton(AF_INET, \"%s\") = %d", text, rc);
    print_result(rc, checked);
}

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
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
