// endian_conv — host byte order vs network byte order, book ch. 3 (endian_conv.c).
// htons/htonl put a port / an IPv4 address into network order (big-endian), ntohs/ntohl take
// it back; on a little-endian host (x86, most ARM) they swap the bytes, elsewhere nothing.
//
// usage: endian_conv (no arguments)
//
// What to observe (on x86-64):
//   this host is little-endian
//   Host ordered port: 0x1234, bytes in memory: 34 12
//   Network ordered port: 0x3412, bytes in memory: 12 34
//   ...
// The "network ordered" bytes read 12 34 (56 78) on EVERY host: that is the point.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/help.hpp"

// The bytes of VALUE in the order they lie in memory, e.g. "78 56 34 12".
template <typename T>
static void print_bytes(const char* label, T value) {
    unsigned char bytes[sizeof value];
    memcpy(bytes, &value, sizeof value);
    printf("%s: 0x%0*x, bytes in memory:", label, static_cast<int>(2 * sizeof value),
           static_cast<unsigned>(value));
    for (unsigned char b : bytes)
        printf(" %02x", b);
    printf("\n");
}

int main(int argc, char* argv[]) {
    common::answer_help(argc, argv);
    if (argc != 1) common::die_usage("(no arguments)");

    const uint32_t probe = 1;  // little-endian hosts store the 1 in the first byte
    unsigned char first;
    memcpy(&first, &probe, 1);
    printf("this host is %s-endian\n", first == 1 ? "little" : "big");

    // The book keeps the address in an unsigned long, which is 8 bytes on 64-bit Linux.  The
    // _t types say their size: in_port_t (uint16_t) for ports, in_addr_t (uint32_t) for IPv4.
    in_port_t host_port = 0x1234;
    // Every port put into a sockaddr goes through htons(): forget it on x86 and bind(9190)
    // listens on port 58915 (0x23e6 read as 0xe623).
    in_port_t net_port = htons(host_port);
    in_addr_t host_addr = 0x12345678;
    in_addr_t net_addr = htonl(host_addr);

    print_bytes("Host ordered port", host_port);
    print_bytes("Network ordered port", net_port);
    print_bytes("Host ordered address", host_addr);
    print_bytes("Network ordered address", net_addr);
    return 0;
}
