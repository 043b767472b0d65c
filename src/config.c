#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

enum {
	OPT_KERNEL = 'k', OPT_INITRD = 'i', OPT_CMDLINE = 'c', OPT_CPUS = 'n',
	OPT_MEMORY = 'm', OPT_HELP = 'h', OPT_VERSION = 'V',
	OPT_CONSOLE = 0x100, OPT_EXIT_STATS, OPT_DEBUG_EXIT, OPT_PC_TESTDEV, OPT_PCI_TESTDEV,
	OPT_NO_ACPI, OPT_PIT_REINJECT, OPT_RNG, OPT_DISK, OPT_BALLOON, OPT_VSOCK, OPT_NET,
	OPT_SNAPSHOT_ON_SIGNAL, OPT_SNAPSHOT_TIMING, OPT_RESTORE, OPT_MEMORY_FILE,
	OPT_MEMORY_BACKEND, OPT_RESUME, OPT_BASE_MEMORY_FILE,
};

static const struct option long_options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "exit-stats", no_argument, NULL, OPT_EXIT_STATS },
	{ "debug-exit", no_argument, NULL, OPT_DEBUG_EXIT },
	{ "pc-testdev", no_argument, NULL, OPT_PC_TESTDEV },
	{ "pci-testdev", no_argument, NULL, OPT_PCI_TESTDEV },
	{ "no-acpi", no_argument, NULL, OPT_NO_ACPI },
	{ "pit-reinject", required_argument, NULL, OPT_PIT_REINJECT },
	{ "rng", no_argument, NULL, OPT_RNG },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "balloon", optional_argument, NULL, OPT_BALLOON },
	{ "vsock", required_argument, NULL, OPT_VSOCK },
	{ "net", required_argument, NULL, OPT_NET },
	{ "snapshot-on-signal", required_argument, NULL, OPT_SNAPSHOT_ON_SIGNAL },
	{ "snapshot-timing", no_argument, NULL, OPT_SNAPSHOT_TIMING },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "memory-file", required_argument, NULL, OPT_MEMORY_FILE },
	{ "memory-backend", required_argument, NULL, OPT_MEMORY_BACKEND },
	{ "resume", no_argument, NULL, OPT_RESUME },
	{ "base-memory-file", required_argument, NULL, OPT_BASE_MEMORY_FILE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

void config_print_usage(FILE *out)
{
	fputs("usage: kvmrun --kernel PATH [options]\n"
	      "\n"
	      "Boot a Linux kernel (bzImage, ELF vmlinux, PVH ELF) or a test guest on KVM.\n"
	      "\n"
	      "  -k, --kernel PATH      kernel image to boot (required)\n"
	      "  -i, --initrd PATH      initial ramdisk\n"
	      "  -c, --cmdline STR      kernel command line (default: \"" CONFIG_DEFAULT_CMDLINE "\")\n"
	      "  -n, --cpus N           number of vCPUs (default 1)\n"
	      "  -m, --memory SIZE      guest RAM, e.g. 512M, 2G; a bare number is MiB (default 128M)\n"
	      "      --console KIND     serial console: stdio (default), file:PATH, or none\n"
	      "      --exit-stats       print VM exit counts per reason when the VM ends\n"
	      "      --debug-exit       QEMU isa-debug-exit port 0xf4: a write of V exits\n"
	      "                         with status ((V << 1) | 1) & 0xff\n"
	      "      --pc-testdev       QEMU's pc-testdev (ports 0xe0-0xeb, 0x2000-0x2017 ISA\n"
	      "                         IRQ lines, MMIO 0xff000000), for kvm-unit-tests\n"
	      "      --pci-testdev      QEMU's pci-testdev (1b36:0005) at PCI 00:01.0\n"
	      "      --no-acpi          no ACPI tables or PM registers (the MP table stays)\n"
	      "      --pit-reinject on|off  re-inject PIT ticks the guest missed (default on)\n"
	      "      --rng              a virtio-rng device (virtio-mmio at 0xd0000000 + n * 4K,\n"
	      "                         announced on the kernel command line)\n"
	      "      --disk PATH[,ro][,cache=writeback|unsafe][,io=auto|uring|sync][,serial=ID]\n"
	      "                         a virtio-blk disk on a raw image (repeatable, up to 8;\n"
	      "                         Linux sees /dev/vda, vdb, ... in order). cache=unsafe\n"
	      "                         ignores guest flushes: a host crash loses data\n"
	      "      --balloon [target=SIZE][,stats=SECONDS][,deflate-on-oom]\n"
	      "                         a virtio-balloon: SIZE of guest RAM the host asks back\n"
	      "                         (default 0), statistics refreshed every SECONDS\n"
	      "                         (default never), DEFLATE_ON_OOM offered\n"
	      "      --vsock cid=N,uds=PATH  a virtio-vsock device with guest CID N (3 or more);\n"
	      "                         the guest's connections to host port P go to the\n"
	      "                         Unix socket PATH_P, host processes connect to PATH\n"
	      "                         and write \"CONNECT <port>\\n\"\n"
	      "      --net tap=NAME[,mac=XX:XX:XX:XX:XX:XX]\n"
	      "                         a virtio-net device on the TAP interface NAME\n"
	      "                         (repeatable, up to 4; default MAC 02:4b:56:4d:00:N\n"
	      "                         for the Nth --net, counting from 0)\n"
	      "      --snapshot-on-signal STATE[,mem=PATH][,then=exit|continue][,diff]\n"
	      "                         on SIGUSR1 pause the VM and save it: state to STATE,\n"
	      "                         RAM to PATH (default STATE.mem); then exit (default,\n"
	      "                         status 0) or continue. diff: track dirty pages; the\n"
	      "                         n-th later snapshot goes to STATE.n and PATH.n\n"
	      "                         (default STATE.n.mem) and holds only the pages\n"
	      "                         changed since the one before\n"
	      "      --snapshot-timing  print each part's save/restore time on stderr\n"
	      "      --restore STATE    restore a saved VM (its configuration comes from STATE;\n"
	      "                         only --console, --exit-stats, --snapshot-* and the\n"
	      "                         options below may be given with it)\n"
	      "      --memory-file PATH the RAM file (default: the one STATE names)\n"
	      "      --base-memory-file PATH  a diff snapshot's full memory file, if it\n"
	      "                         moved (default: the one STATE names)\n"
	      "      --memory-backend private|uffd[,prefetch=on|off][,fault-delay-us=N]\n"
	      "                         how RAM is restored: private (default) maps the file\n"
	      "                         copy-on-write; uffd fills pages from it on first touch\n"
	      "                         (userfaultfd) and prefetches the rest in the background\n"
	      "                         (prefetch=off: faults only). fault-delay-us=N is a\n"
	      "                         testing/benchmark knob: each fault waits N us, like a\n"
	      "                         slow store\n"
	      "      --resume           run at once; without it the restored VM waits,\n"
	      "                         paused, for SIGUSR2\n"
	      "  -h, --help             show this help\n"
	      "  -V, --version          show the version\n"
	      "\n"
	      "Exit status: the guest's code when it writes the exit port (0x600), or\n"
	      "((V << 1) | 1) & 0xff for V written to 0xf4 with --debug-exit;\n"
	      "0 when the guest resets or powers off; 2 bad input; 3 VMM or host error;\n"
	      "4 guest crash (triple fault, KVM internal error, failed VM entry).\n", out);
}

int config_parse_size(const char *text, uint64_t *bytes)
{
	const char *p = text;
	uint64_t value = 0, unit = 1ULL << 20;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	while (isdigit((unsigned char)*p)) {
		if (__builtin_mul_overflow(value, 10, &value) ||
		    __builtin_add_overflow(value, (uint64_t)(*p - '0'), &value))
			return -ERANGE;
		p++;
	}
	if (*p) {
		switch (toupper((unsigned char)*p)) {
		case 'K': unit = 1ULL << 10; break;
		case 'M': unit = 1ULL << 20; break;
		case 'G': unit = 1ULL << 30; break;
		case 'T': unit = 1ULL << 40; break;
		default: return -EINVAL;
		}
		p++;
		/* Accept K, KB, KiB (all binary: memory sizes are). */
		if (!strcasecmp(p, "ib") || !strcasecmp(p, "b"))
			p += strlen(p);
		if (*p)
			return -EINVAL;
	}
	if (__builtin_mul_overflow(value, unit, bytes))
		return -ERANGE;
	return 0;
}

static int parse_cpus(const char *text, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)*text))
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (*end || errno)
		return -EINVAL;
	if (v > CONFIG_MAX_CPUS)
		return -ERANGE;
	*out = (unsigned)v;
	return 0;
}

static int parse_console(struct config *cfg, const char *text)
{
	if (!strcmp(text, "stdio")) {
		cfg->console = CONSOLE_STDIO;
	} else if (!strcmp(text, "none")) {
		cfg->console = CONSOLE_NONE;
	} else if (!strncmp(text, "file:", 5) && text[5]) {
		cfg->console = CONSOLE_FILE;
		cfg->console_path = text + 5;
	} else {
		return -EINVAL;
	}
	return 0;
}

#define fail(...) do { snprintf(err, CONFIG_ERROR_MAX, __VA_ARGS__); return -EINVAL; } while (0)

/* Whether the option `word` (len bytes, not NUL-terminated) is `name`. */
static bool disk_option_is(const char *word, size_t len, const char *name)
{
	return strlen(name) == len && !strncmp(word, name, len);
}

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
		if (disk_option_is(word, len, "ro")) {
			disk->read_only = true;
		} else if (value && disk_option_is(word, len, "cache=writeback")) {
			disk->cache = DISK_CACHE_WRITEBACK;
		} else if (value && disk_option_is(word, len, "cache=unsafe")) {
			disk->cache = DISK_CACHE_UNSAFE;
		} else if (value && disk_option_is(word, len, "io=auto")) {
			disk->io = DISK_IO_AUTO;
		} else if (value && disk_option_is(word, len, "io=uring")) {
			disk->io = DISK_IO_URING;
		} else if (value && disk_option_is(word, len, "io=sync")) {
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
		} else if (disk_option_is(word, len, "deflate-on-oom")) {
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

/* Options that shape the guest machine: a restored VM takes all of these
 * from its state file. */
static bool describes_machine(int opt)
{
	switch (opt) {
	case OPT_KERNEL: case OPT_INITRD: case OPT_CMDLINE: case OPT_CPUS: case OPT_MEMORY:
	case OPT_DEBUG_EXIT: case OPT_PC_TESTDEV: case OPT_PCI_TESTDEV: case OPT_NO_ACPI:
	case OPT_PIT_REINJECT: case OPT_RNG: case OPT_DISK:
	case OPT_NET: case OPT_BALLOON: case OPT_VSOCK:
		return true;
	default:
		return false;
	}
}

static const char *option_name(int opt)
{
	for (const struct option *o = long_options; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

int config_parse_memory_backend(struct config *cfg, const char *text, char err[CONFIG_ERROR_MAX])
{
	size_t kind_len = strcspn(text, ",");
	const char *p;

	cfg->uffd_prefetch_off = false;
	cfg->uffd_fault_delay_us = 0;
	if (disk_option_is(text, kind_len, "private") && !text[kind_len]) {
		cfg->memory_backend = MEMORY_BACKEND_PRIVATE;
		return 0;
	}
	if (!disk_option_is(text, kind_len, "uffd"))
		fail("--memory-backend %s: expected private or uffd[,prefetch=on|off][,fault-delay-us=N]",
		     text);
	cfg->memory_backend = MEMORY_BACKEND_UFFD;
	for (p = text + kind_len; *p; p += strcspn(p, ",")) {
		const char *word = ++p;
		size_t len = strcspn(word, ",");
		char *end;

		if (disk_option_is(word, len, "prefetch=on")) {
			cfg->uffd_prefetch_off = false;
		} else if (disk_option_is(word, len, "prefetch=off")) {
			cfg->uffd_prefetch_off = true;
		} else if (len > 15 && !strncmp(word, "fault-delay-us=", 15)) {
			unsigned long v;

			errno = 0;
			v = strtoul(word + 15, &end, 10);
			/* At most 10 s a page: a knob for tests, not a store. */
			if (errno || end != word + len || word[15] < '0' || word[15] > '9' ||
			    v > 10000000)
				fail("--memory-backend %s: fault-delay-us=%.*s: expected 0-10000000",
				     text, (int)(len - 15), word + 15);
			cfg->uffd_fault_delay_us = (unsigned)v;
		} else {
			fail("--memory-backend %s: unknown uffd option '%.*s' (expected prefetch=on, "
			     "prefetch=off or fault-delay-us=N)", text, (int)len, word);
		}
	}
	return 0;
}

int config_parse_snapshot(struct snapshot_config *snap, const char *text,
			  char err[CONFIG_ERROR_MAX])
{
	const char *comma = strchr(text, ','), *p;
	size_t path_len = comma ? (size_t)(comma - text) : strlen(text);
	bool mem_given = false;

	memset(snap, 0, sizeof(*snap));
	snap->then = SNAPSHOT_THEN_EXIT;
	if (path_len == 0)
		fail("--snapshot-on-signal %s: no state file path before the options", text);
	if (path_len + sizeof(".mem") > sizeof(snap->state_path))
		fail("--snapshot-on-signal: state file path longer than %zu bytes",
		     sizeof(snap->state_path) - sizeof(".mem"));
	memcpy(snap->state_path, text, path_len);
	for (p = comma; p; p = strchr(p, ',')) {
		const char *word = ++p;
		size_t len = strcspn(word, ",");

		if (len > 4 && !strncmp(word, "mem=", 4)) {
			if (len - 4 >= sizeof(snap->memory_path))
				fail("--snapshot-on-signal: mem= path longer than %zu bytes",
				     sizeof(snap->memory_path) - 1);
			memcpy(snap->memory_path, word + 4, len - 4);
			mem_given = true;
		} else if (disk_option_is(word, len, "then=exit")) {
			snap->then = SNAPSHOT_THEN_EXIT;
		} else if (disk_option_is(word, len, "then=continue")) {
			snap->then = SNAPSHOT_THEN_CONTINUE;
		} else if (disk_option_is(word, len, "diff")) {
			snap->diff = true;
		} else {
			fail("--snapshot-on-signal %s: unknown option '%.*s' (expected mem=PATH, then=exit, then=continue or diff)",
			     text, (int)len, word);
		}
	}
	snap->memory_path_given = mem_given;
	if (!mem_given) {
		/* path_len + 5 fits: checked above. */
		memcpy(snap->memory_path, snap->state_path, path_len);
		memcpy(snap->memory_path + path_len, ".mem", sizeof(".mem"));
	}
	if (!strcmp(snap->memory_path, snap->state_path))
		fail("--snapshot-on-signal %s: the state and memory files must differ", text);
	return 0;
}

int config_parse(struct config *cfg, int argc, char **argv, char err[CONFIG_ERROR_MAX])
{
	/* The first option given that describes the guest machine: with
	 * --restore the machine comes from the state file instead. */
	const char *machine_option = NULL;
	bool restore_only = false;
	int opt, ret;

	*cfg = (struct config){
		.cmdline = CONFIG_DEFAULT_CMDLINE,
		.nr_cpus = 1,
		.memory_bytes = CONFIG_DEFAULT_MEMORY,
		.console = CONSOLE_STDIO,
		.acpi = true,
		.pit_reinject = true,
	};
	err[0] = '\0';
	optind = 0;  /* reset getopt: the tests parse several command lines */
	opterr = 0;  /* we print our own one-line errors */
	while ((opt = getopt_long(argc, argv, ":k:i:c:n:m:hV", long_options, NULL)) != -1) {
		if (!machine_option && describes_machine(opt))
			machine_option = option_name(opt);
		switch (opt) {
		case OPT_KERNEL: cfg->kernel_path = optarg; break;
		case OPT_INITRD: cfg->initrd_path = optarg; break;
		case OPT_CMDLINE: cfg->cmdline = optarg; break;
		case OPT_CPUS:
			ret = parse_cpus(optarg, &cfg->nr_cpus);
			if (ret == -ERANGE)
				fail("--cpus %s: at most %d vCPUs are supported", optarg, CONFIG_MAX_CPUS);
			if (ret < 0)
				fail("--cpus %s: not a number", optarg);
			if (cfg->nr_cpus == 0)
				fail("--cpus 0: a VM needs at least one vCPU");
			break;
		case OPT_MEMORY:
			ret = config_parse_size(optarg, &cfg->memory_bytes);
			if (ret == -ERANGE)
				fail("--memory %s: too large", optarg);
			if (ret < 0)
				fail("--memory %s: not a size (examples: 512M, 2G, 1024)", optarg);
			if (cfg->memory_bytes < LAYOUT_MIN_MEMORY)
				fail("--memory %s: at least %llu MiB is needed", optarg,
				     LAYOUT_MIN_MEMORY >> 20);
			if (cfg->memory_bytes & 0xfff)
				fail("--memory %s: must be a multiple of 4 KiB", optarg);
			break;
		case OPT_CONSOLE:
			if (parse_console(cfg, optarg) < 0)
				fail("--console %s: expected stdio, none or file:PATH", optarg);
			break;
		case OPT_EXIT_STATS: cfg->exit_stats = true; break;
		case OPT_DEBUG_EXIT: cfg->debug_exit = true; break;
		case OPT_PC_TESTDEV: cfg->pc_testdev = true; break;
		case OPT_PCI_TESTDEV: cfg->pci_testdev = true; break;
		case OPT_NO_ACPI: cfg->acpi = false; break;
		case OPT_RNG: cfg->rng = true; break;
		case OPT_DISK:
			if (cfg->nr_disks == CONFIG_MAX_DISKS)
				fail("--disk %s: at most %d disks", optarg, CONFIG_MAX_DISKS);
			ret = config_parse_disk(&cfg->disks[cfg->nr_disks], optarg, err);
			if (ret < 0)
				return ret;
			cfg->nr_disks++;
			break;
		case OPT_BALLOON:
			if (cfg->balloon.enabled)
				fail("--balloon given twice");
			/* "--balloon=opts", "--balloon opts" or a bare "--balloon":
			 * getopt only attaches an optional value written with '='. */
			if (!optarg && optind < argc && argv[optind][0] != '-')
				optarg = argv[optind++];
			ret = config_parse_balloon(&cfg->balloon, optarg ? optarg : "", err);
			if (ret < 0)
				return ret;
			break;
		case OPT_VSOCK:
			if (cfg->vsock.enabled)
				fail("--vsock %s: only one vsock device", optarg);
			ret = config_parse_vsock(&cfg->vsock, optarg, err);
			if (ret < 0)
				return ret;
			break;
		case OPT_NET:
			if (cfg->nr_nets == CONFIG_MAX_NETS)
				fail("--net %s: at most %d network devices", optarg, CONFIG_MAX_NETS);
			ret = config_parse_net(&cfg->nets[cfg->nr_nets], cfg->nr_nets, optarg, err);
			if (ret < 0)
				return ret;
			for (unsigned i = 0; i < cfg->nr_nets; i++)
				if (!strcmp(cfg->nets[i].tap, cfg->nets[cfg->nr_nets].tap))
					fail("--net %s: TAP interface %s given twice", optarg,
					     cfg->nets[i].tap);
			cfg->nr_nets++;
			break;
		case OPT_PIT_REINJECT:
			if (!strcmp(optarg, "on"))
				cfg->pit_reinject = true;
			else if (!strcmp(optarg, "off"))
				cfg->pit_reinject = false;
			else
				fail("--pit-reinject %s: expected on or off", optarg);
			break;
		case OPT_SNAPSHOT_ON_SIGNAL:
			ret = config_parse_snapshot(&cfg->snapshot, optarg, err);
			if (ret < 0)
				return ret;
			break;
		case OPT_SNAPSHOT_TIMING: cfg->snapshot_timing = true; break;
		case OPT_RESTORE: cfg->restore_path = optarg; break;
		case OPT_MEMORY_FILE:
			cfg->restore_memory_path = optarg;
			restore_only = true;
			break;
		case OPT_MEMORY_BACKEND:
			ret = config_parse_memory_backend(cfg, optarg, err);
			if (ret < 0)
				return ret;
			restore_only = true;
			break;
		case OPT_RESUME:
			cfg->restore_resume = true;
			restore_only = true;
			break;
		case OPT_BASE_MEMORY_FILE:
			cfg->restore_base_memory_path = optarg;
			restore_only = true;
			break;
		case OPT_HELP: cfg->show_help = true; break;
		case OPT_VERSION: cfg->show_version = true; break;
		case ':':
			fail("option %s needs a value", argv[optind - 1]);
		default:
			/* getopt reports "--flag=value", for a flag that takes
			 * no value, with optopt set to the flag's code. */
			if (optopt && !strncmp(argv[optind - 1], "--", 2))
				fail("option %s takes no value (see --help)", argv[optind - 1]);
			if (optopt)
				fail("unknown option -%c (see --help)", optopt);
			fail("unknown option %s (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		fail("unexpected argument '%s' (see --help)", argv[optind]);
	if (cfg->show_help || cfg->show_version)
		return 0;
	if (cfg->restore_path && machine_option)
		fail("--%s cannot be given with --restore: the machine's configuration comes from the state file",
		     machine_option);
	if (!cfg->restore_path && restore_only)
		fail("--memory-file, --base-memory-file, --memory-backend and --resume need --restore STATE");
	if (cfg->restore_path)
		return 0;
	if (!cfg->kernel_path)
		fail("no kernel given: use --kernel PATH (see --help)");
	if (cfg->balloon.target_bytes > cfg->memory_bytes)
		fail("--balloon: target of %llu bytes is more than the guest's RAM (%llu bytes)",
		     (unsigned long long)cfg->balloon.target_bytes,
		     (unsigned long long)cfg->memory_bytes);
	return 0;
}
