/* What the virtio-net test guests share besides the driver (virtio_net.h):
 * frames (network byte order, the RFC 1071 checksum, Ethernet and IPv4
 * headers, the test pattern), MAC addresses from the command line, and the
 * handshake with their host script (tests/guest/net_tap.py, bench/net.py)
 * over the serial console. */
#ifndef GUEST_NET_TEST_H
#define GUEST_NET_TEST_H

#include <stdbool.h>
#include <stdint.h>

/* Test frames: EtherType 0x88b5 (IEEE local experimental), a big-endian
 * sequence number, then net_pattern(seq, i) for payload byte i >= 4.
 * bench/net.py ends a stream with ETH_TEST + 1. */
#define ETH_TEST 0x88b5

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Payload byte i of test frame `seq` (net_tap.py's pattern()). */
static inline uint8_t net_pattern(unsigned seq, unsigned i)
{
	return (uint8_t)(seq * 31 + i * 7 + 3);
}

/* The RFC 1071 sum of `len` bytes added to `sum`, not folded. */
uint32_t net_sum16(const uint8_t *p, unsigned len, uint32_t sum);
/* Fold a sum to 16 bits (not inverted). */
uint16_t net_fold(uint32_t sum);
/* The IPv4 pseudo-header sum (RFC 793, RFC 768) for `l4_len` bytes of
 * `proto` behind the IPv4 header `ip`. */
uint32_t net_pseudo(const uint8_t *ip, uint8_t proto, unsigned l4_len);

/* At `p`: a zeroed virtio_net_hdr, then an Ethernet header from `src` to
 * `dst` of `type`. Returns where the payload goes. */
uint8_t *net_eth(uint8_t *p, const uint8_t *dst, const uint8_t *src, uint16_t type);
/* At `ip`: an IPv4 header (no options, DF, TTL 64, checksummed) from
 * `src` to `dst` for `l4_len` bytes of `proto`. Returns where L4 goes. */
uint8_t *net_ipv4(uint8_t *ip, const uint8_t *src, const uint8_t *dst, uint8_t proto,
		  unsigned l4_len, uint16_t id);
/* A 20-byte IPv4 header whose checksum verifies. */
bool net_ipv4_ok(const uint8_t *ip);

/* At `p`: a zeroed virtio_net_hdr and test frame `seq` of `size` bytes
 * (Ethernet header included) from `src` to the broadcast address. Returns
 * the bytes to send, header included. */
uint32_t net_test_frame(uint8_t *p, const uint8_t *src, unsigned seq, unsigned size);

/* "xx:xx:xx:xx:xx:xx" into `mac`. Returns false if the text is short. */
bool net_parse_mac(const char *s, uint8_t mac[6]);

/* Print "sync: <what>" for the host script. */
void net_sync(const char *what);
/* Read one console line from the host script: true if it is `want`. */
bool net_sync_wait(const char *want);

#endif
