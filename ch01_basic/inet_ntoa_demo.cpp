// inet_ntoa_demo — a struct in_addr back to "a.b.c.d" text with inet_ntoa(), and the trap in
// it: one buffer that every call overwrites (one per thread on glibc), book ch. 3 (inet_ntoa.c).
//
// usage: inet_ntoa_demo (no arguments)
//
// What to observe:
//   Dotted-Decimal notation1: 1.2.3.4   (str_ptr, the first inet_ntoa() result)
//   Dotted-Decimal notation2: 1.1.1.1   (str_ptr again, after a second inet_ntoa() call)
//   Dotted-Decimal notation3: 1.2.3.4   (str_arr, copied before the second call)
//   second call returned the same pointer: yes (one static buffer)
//   inet_ntop: 1.2.3.4 and 1.1.1.1 (each in its own buffer)
// Line 2 prints str_ptr, which was never assigned again: the library overwrote it.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/help.hpp"

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");

    sockaddr_in addr1{}, addr2{};
    addr1.sin_addr.s_addr = htonl(0x01020304);  // 1.2.3.4
    addr2.sin_addr.s_addr = htonl(0x01010101);  // 1.1.1.1

    // inet_ntoa() returns a pointer to ONE static buffer inside the C library; the next call
    // writes into the same buffer, and two threads calling it at once share it too.
    char* str_ptr = inet_ntoa(addr1.sin_addr);
    char str_arr[INET_ADDRSTRLEN];
    strcpy(str_arr, str_ptr);  // the only safe way to keep it: copy it now
    printf("Dotted-Decimal notation1: %s   (str_ptr, the first inet_ntoa() result)\n", str_ptr);

    char* second = inet_ntoa(addr2.sin_addr);  // overwrites the buffer str_ptr points to
    printf("Dotted-Decimal notation2: %s   (str_ptr again, after a second inet_ntoa() call)\n",
           str_ptr);
    printf("Dotted-Decimal notation3: %s   (str_arr, copied before the second call)\n", str_arr);
    printf("second call returned the same pointer: %s\n",
           second == str_ptr ? "yes (one static buffer)" : "no");

    // The replacement: inet_ntop() writes into the caller's buffer, so nothing is overwritten
    // behind your back, threads are safe, and AF_INET6 works too.
    char text1[INET_ADDRSTRLEN], text2[INET_ADDRSTRLEN];
    if (!inet_ntop(AF_INET, &addr1.sin_addr, text1, sizeof text1)) common::die("inet_ntop");
    if (!inet_ntop(AF_INET, &addr2.sin_addr, text2, sizeof text2)) common::die("inet_ntop");
    printf("inet_ntop: %s and %s (each in its own buffer)\n", text1, text2);
    return 0;
}
