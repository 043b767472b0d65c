/* The device options' values: --disk, --balloon, --vsock, --net. Each
 * parser fills its device's configuration or names the bad word. */
#include "config_options.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

int config_parse_disk(struct disk_config *disk, const char *text, char err[CONFIG_ERROR_MAX])
{
	const char *comma = strchr(text, ','), *p;
	size_t path_len = comma ? (size_t)(comma - text) : strlen(text);

	*disk = (struct disk_config){ .cache = DISK_CACHE_WRITEBACK, .io = DISK_IO_AUTO };
	if (path_len == 0)
		fail("--disk %s: no image path before the options", text);
	if (path_len >= sizeof(disk->path))
		fail("--disk: image path longer than %zu bytes", sizeof(disk->path) - 1);
	memcpy(disk->path, text, path_len);
	for (p = comma; p; p = strchr(p, ',')) {
		const char *word = ++p, *value;
		size_t len = strcspn(word, ","), vlen;

		value = memchr(word, '=', len);
		vlen = value ? len - (size_t)(++value - word) : 0;
		if (config_word_is(word, len, "ro")) {
			disk->read_only = true;
		} else if (value && config_word_is(word, len, "cache=writeback")) {
			disk->cache = DISK_CACHE_WRITEBACK;
		} else if (value && config_word_is(word, len, "cache=unsafe")) {
			disk->cache = DISK_CACHE_UNSAFE;
		} else if (value && config_word_is(word, len, "io=auto")) {
			disk->io = DISK_IO_AUTO;
		} else if (value && config_word_is(word, len, "io=uring")) {
			disk->io = DISK_IO_URING;
		} else if (value && config_word_is(word, len, "io=sync")) {
			disk->io = DISK_IO_SYNC;
		} else if (value && !strncmp(word, "serial=", 7)) {
			/* Printable ASCII (§5.2.6: an ASCII string), up to 20. */
			if (vlen == 0 || vlen > CONFIG_DISK_SERIAL_MAX)
				fail("--disk %s: serial must be 1 to %d characters", text,
				     CONFIG_DISK_SERIAL_MAX);
			for (size_t i = 0; i < vlen; i++)
				if (value[i] < 0x21 || value[i] > 0x7e)
					fail("--disk %s: serial must be printable ASCII without spaces",
					     text);
			memcpy(disk->serial, value, vlen);
			disk->serial[vlen] = '\0';
		} else if (value && !strncmp(word, "cache=", 6)) {
			fail("--disk %s: cache=%.*s: expected writeback or unsafe", text, (int)vlen,
			     value);
		} else if (value && !strncmp(word, "io=", 3)) {
			fail("--disk %s: io=%.*s: expected auto, uring or sync", text, (int)vlen, value);
		} else {
			fail("--disk %s: unknown option '%.*s' (expected ro, cache=, io=, serial=)",
			     text, (int)len, word);
		}
	}
	return 0;
}

int config_parse_balloon(struct balloon_config *balloon, const char *text,
			 char err[CONFIG_ERROR_MAX])
{
	size_t len;

	*balloon = (struct balloon_config){ .enabled = true };
	if (!*text)
		return 0;
	for (const char *word = text;; word += len + 1) {
		const char *value;
		size_t vlen;
		char digits[16];
		char *end;
		unsigned long secs;

		len = strcspn(word, ",");
		value = memchr(word, '=', len);
		vlen = value ? len - (size_t)(++value - word) : 0;
		if (len == 0) {
			fail("--balloon %s: empty option", text);
		} else if (config_word_is(word, len, "deflate-on-oom")) {
			balloon->deflate_on_oom = true;
		} else if (value && !strncmp(word, "target=", 7)) {
			char size[32];
			int ret;

			if (vlen == 0 || vlen >= sizeof(size))
				fail("--balloon %s: target=%.*s: not a size (examples: 256M, 1G)", text,
				     (int)vlen, value);
			memcpy(size, value, vlen);
			size[vlen] = '\0';
			ret = config_parse_size(size, &balloon->target_bytes);
			if (ret == -ERANGE)
				fail("--balloon %s: target=%s: too large", text, size);
			if (ret < 0)
				fail("--balloon %s: target=%s: not a size (examples: 256M, 1G)", text, size);
			if ((balloon->target_bytes >> 12) > UINT32_MAX)
				fail("--balloon %s: target=%s: more than num_pages can say (16 TiB)", text,
				     size);
			if (balloon->target_bytes & 0xfff)
				fail("--balloon %s: target=%s: must be a multiple of 4 KiB", text, size);
		} else if (value && !strncmp(word, "stats=", 6)) {
			if (vlen == 0 || vlen >= sizeof(digits) || !isdigit((unsigned char)*value))
				fail("--balloon %s: stats=%.*s: expected seconds, 0 to %d", text,
				     (int)vlen, value, CONFIG_BALLOON_STATS_MAX);
			memcpy(digits, value, vlen);
			digits[vlen] = '\0';
			errno = 0;
			secs = strtoul(digits, &end, 10);
			if (*end || errno || secs > CONFIG_BALLOON_STATS_MAX)
				fail("--balloon %s: stats=%s: expected seconds, 0 to %d", text, digits,
				     CONFIG_BALLOON_STATS_MAX);
			balloon->stats_interval = (unsigned)secs;
		} else {
			fail("--balloon %s: unknown option '%.*s' (expected target=, stats=, deflate-on-oom)",
			     text, (int)len, word);
		}
		if (!word[len])
			return 0;
	}
}

int config_parse_vsock(struct vsock_config *vsock, const char *text, char err[CONFIG_ERROR_MAX])
{
	bool have_cid = false, have_uds = false;
	const char *p = text;

	*vsock = (struct vsock_config){ .enabled = true };
	for (;;) {
		size_t len = strcspn(p, ",");

		if (len > 4 && !strncmp(p, "cid=", 4)) {
			uint64_t cid = 0;

			if (have_cid)
				fail("--vsock %s: cid given twice", text);
			for (size_t i = 4; i < len; i++) {
				if (!isdigit((unsigned char)p[i]))
					fail("--vsock %s: cid=%.*s: not a number", text, (int)len - 4, p + 4);
				if (cid <= UINT32_MAX)   /* larger stays larger, without overflow */
					cid = cid * 10 + (uint64_t)(p[i] - '0');
			}
			/* §5.10.4: 0 and 1 are reserved, 2 is the host, 2^32 - 1
			 * is reserved, and the upper 32 bits are zero. */
			if (cid < 3 || cid >= UINT32_MAX)
				fail("--vsock %s: cid=%.*s: must be 3 to %u (0, 1, 2 and 2^32-1 are reserved)",
				     text, (int)len - 4, p + 4, UINT32_MAX - 1);
			vsock->cid = (uint32_t)cid;
			have_cid = true;
		} else if (len > 4 && !strncmp(p, "uds=", 4)) {
			if (have_uds)
				fail("--vsock %s: uds given twice", text);
			if (len - 4 > CONFIG_VSOCK_PATH_MAX)
				fail("--vsock: uds path longer than %d bytes (it must fit a Unix socket address with a _<port> suffix)",
				     CONFIG_VSOCK_PATH_MAX);
			memcpy(vsock->uds_path, p + 4, len - 4);
			vsock->uds_path[len - 4] = '\0';
			have_uds = true;
		} else {
			fail("--vsock %s: unknown or empty option '%.*s' (expected cid=N and uds=PATH)",
			     text, (int)len, p);
		}
		if (!p[len])
			break;
		p += len + 1;
	}
	if (!have_cid)
		fail("--vsock %s: cid=N is required", text);
	if (!have_uds)
		fail("--vsock %s: uds=PATH is required", text);
	return 0;
}

static unsigned hex_value(char c)
{
	return isdigit((unsigned char)c) ? (unsigned)(c - '0') : (unsigned)(tolower((unsigned char)c) - 'a' + 10);
}

/* "XX:XX:XX:XX:XX:XX", hex digits in either case. */
static bool parse_mac(const char *text, size_t len, uint8_t mac[6])
{
	if (len != 17)
		return false;
	for (unsigned i = 0; i < 6; i++) {
		const char *p = text + 3 * i;

		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
		    (i < 5 && p[2] != ':'))
			return false;
		mac[i] = (uint8_t)(hex_value(p[0]) << 4 | hex_value(p[1]));
	}
	return true;
}

int config_parse_net(struct net_config *net, unsigned index, const char *text,
		     char err[CONFIG_ERROR_MAX])
{
	bool have_tap = false;

	/* Locally administered (bit 1), unicast (bit 0 clear): no clash
	 * with a vendor's address. Deterministic, so a test or a DHCP
	 * reservation sees the same address every run; give mac= when
	 * several VMs share a network. */
	*net = (struct net_config){ .mac = { 0x02, 0x4b, 0x56, 0x4d, 0x00, (uint8_t)index } };
	for (const char *p = text, *next; p; p = next) {
		size_t len = strcspn(p, ","), vlen;
		const char *value = memchr(p, '=', len);

		next = p[len] ? p + len + 1 : NULL;

		vlen = value ? len - (size_t)(++value - p) : 0;
		if (value && !strncmp(p, "tap=", 4)) {
			/* Linux interface names (dev_valid_name): 1 to 15 bytes,
			 * no '/', ':' or white space, not "." or "..". */
			if (vlen == 0 || vlen > CONFIG_NET_NAME_MAX)
				fail("--net %s: tap= needs an interface name of 1 to %d characters", text,
				     CONFIG_NET_NAME_MAX);
			for (size_t i = 0; i < vlen; i++)
				if (value[i] == '/' || value[i] == ':' || isspace((unsigned char)value[i]) ||
				    !isprint((unsigned char)value[i]))
					fail("--net %s: tap=%.*s: not a valid interface name", text, (int)vlen,
					     value);
			if ((vlen == 1 && value[0] == '.') || (vlen == 2 && !strncmp(value, "..", 2)))
				fail("--net %s: tap=%.*s: not a valid interface name", text, (int)vlen, value);
			memcpy(net->tap, value, vlen);
			net->tap[vlen] = '\0';
			have_tap = true;
		} else if (value && !strncmp(p, "mac=", 4)) {
			if (!parse_mac(value, vlen, net->mac))
				fail("--net %s: mac=%.*s: expected six hex bytes like 02:00:00:00:00:01",
				     text, (int)vlen, value);
			if (net->mac[0] & 1)
				fail("--net %s: mac=%.*s: a multicast address (lowest bit of the first byte set)",
				     text, (int)vlen, value);
			if (!(net->mac[0] | net->mac[1] | net->mac[2] | net->mac[3] | net->mac[4] |
			      net->mac[5]))
				fail("--net %s: mac=%.*s: the all-zero address", text, (int)vlen, value);
			net->mac_given = true;
		} else {
			fail("--net %s: unknown option '%.*s' (expected tap=NAME, mac=XX:XX:XX:XX:XX:XX)",
			     text, (int)len, p);
		}
	}
	if (!have_tap)
		fail("--net %s: tap=NAME is required", text);
	return 0;
}
