/* What the virtio-net test guests share besides the driver. See net_test.h. */
#include "net_test.h"

#include "libguest.h"
#include "serial.h"

uint32_t net_sum16(const uint8_t *p, unsigned len, uint32_t sum)
{
	for (unsigned i = 0; i + 1 < len; i += 2)
		sum += be16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

uint16_t net_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint32_t net_pseudo(const uint8_t *ip, uint8_t proto, unsigned l4_len)
{
	/* Source and destination address, zero, protocol, L4 length. */
	return net_sum16(ip + 12, 8, 0) + proto + l4_len;
}

uint8_t *net_eth(uint8_t *p, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memset(p, 0, 12);   /* virtio_net_hdr */
	memcpy(p + 12, dst, 6);
	memcpy(p + 18, src, 6);
	put16(p + 24, type);
	return p + 26;
}

uint8_t *net_ipv4(uint8_t *ip, const uint8_t *src, const uint8_t *dst, uint8_t proto,
		  unsigned l4_len, uint16_t id)
{
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + l4_len));
	put16(ip + 4, id);
	put16(ip + 6, 0x4000);   /* DF */
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, dst, 4);
	put16(ip + 10, (uint16_t)~net_fold(net_sum16(ip, 20, 0)));
	return ip + 20;
}

bool net_ipv4_ok(const uint8_t *ip)
{
	return ip[0] == 0x45 && net_fold(net_sum16(ip, 20, 0)) == 0xffff;
}

uint32_t net_test_frame(uint8_t *p, const uint8_t *src, unsigned seq, unsigned size)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t *d = net_eth(p, bcast, src, ETH_TEST);

	put32(d, seq);
	for (unsigned i = 4; i < size - 14; i++)
		d[i] = net_pattern(seq, i);
	return 12 + size;
}

bool net_parse_mac(const char *s, uint8_t mac[6])
{
	for (unsigned i = 0; i < 6; i++) {
		uint8_t v = 0;

		for (unsigned k = 0; k < 2; k++) {
			char c = s[3 * i + k];

			v = (uint8_t)(v << 4 | (c >= '0' && c <= '9' ? c - '0' :
						c >= 'a' && c <= 'f' ? c - 'a' + 10 :
						c >= 'A' && c <= 'F' ? c - 'A' + 10 : 0));
			if (!c)
				return false;
		}
		mac[i] = v;
	}
	return true;
}

void net_sync(const char *what)
{
	printf("sync: %s\n", what);
}

bool net_sync_wait(const char *want)
{
	char line[64];

	serial_getline(line, sizeof(line));
	return strcmp(line, want) == 0;
}
