/* Command-line parsing: defaults, sizes, and every bad input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"

static int parse(struct config *cfg, char *err, const char *first, ...)
{
	char *argv[32] = { "kvmrun" };
	int argc = 1;
	va_list ap;

	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	return config_parse(cfg, argc, argv, err);
}

static void assert_one_line_error(const char *err, const char *needle)
{
	assert_true(strlen(err) > 0);
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, needle));
}

static void test_defaults(void **state)
{
	struct config cfg;
	char err[CONFIG_ERROR_MAX];

	(void)state;
	assert_int_equal(parse(&cfg, err, "--kernel", "k.elf", NULL), 0);
	assert_string_equal(cfg.kernel_path, "k.elf");
	assert_null(cfg.initrd_path);
	assert_int_equal(cfg.nr_cpus, 1);
	assert_int_equal(cfg.memory_bytes, 128 << 20);
	assert_int_equal(cfg.console, CONSOLE_STDIO);
	assert_string_equal(cfg.cmdline, CONFIG_DEFAULT_CMDLINE);
	assert_false(cfg.exit_stats);
	assert_false(cfg.debug_exit);
}

static void test_all_options(void **state)
{
	struct config cfg;
	char err[CONFIG_ERROR_MAX];

	(void)state;
	assert_int_equal(parse(&cfg, err, "--kernel", "bz", "--initrd", "rd", "--cmdline", "a=b",
			       "--cpus", "4", "--memory", "2G", "--console", "file:/tmp/x",
			       "--exit-stats", NULL), 0);
	assert_string_equal(cfg.initrd_path, "rd");
	assert_string_equal(cfg.cmdline, "a=b");
	assert_int_equal(cfg.nr_cpus, 4);
	assert_int_equal(cfg.memory_bytes, 2ULL << 30);
	assert_int_equal(cfg.console, CONSOLE_FILE);
	assert_string_equal(cfg.console_path, "/tmp/x");
	assert_true(cfg.exit_stats);
	assert_int_equal(parse(&cfg, err, "-k", "bz", "-n", "2", "-m", "64M", "--console", "none", NULL), 0);
	assert_int_equal(cfg.console, CONSOLE_NONE);
	assert_int_equal(cfg.memory_bytes, 64 << 20);
	assert_int_equal(parse(&cfg, err, "--help", NULL), 0);
	assert_true(cfg.show_help);
	assert_int_equal(parse(&cfg, err, "--version", NULL), 0);
	assert_true(cfg.show_version);
}

static void test_sizes(void **state)
{
	uint64_t b;

	(void)state;
	assert_int_equal(config_parse_size("512M", &b), 0);
	assert_int_equal(b, 512ULL << 20);
	assert_int_equal(config_parse_size("2g", &b), 0);
	assert_int_equal(b, 2ULL << 30);
	assert_int_equal(config_parse_size("1024", &b), 0);
	assert_int_equal(b, 1024ULL << 20);
	assert_int_equal(config_parse_size("65536K", &b), 0);
	assert_int_equal(b, 64ULL << 20);
	assert_int_equal(config_parse_size("1GiB", &b), 0);
	assert_int_equal(b, 1ULL << 30);
	assert_int_equal(config_parse_size("1T", &b), 0);
	assert_int_equal(b, 1ULL << 40);
	assert_int_equal(config_parse_size("", &b), -EINVAL);
	assert_int_equal(config_parse_size("M", &b), -EINVAL);
	assert_int_equal(config_parse_size("-1G", &b), -EINVAL);
	assert_int_equal(config_parse_size("1.5G", &b), -EINVAL);
	assert_int_equal(config_parse_size("12X", &b), -EINVAL);
	assert_int_equal(config_parse_size("1Gx", &b), -EINVAL);
	assert_int_equal(config_parse_size("99999999999999999999", &b), -ERANGE);
	assert_int_equal(config_parse_size("17179869184G", &b), -ERANGE);
}

static void test_bad_input(void **state)
{
	struct config cfg;
	char err[CONFIG_ERROR_MAX];

	(void)state;
	assert_int_equal(parse(&cfg, err, NULL), -EINVAL);
	assert_one_line_error(err, "--kernel");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--cpus", "0", NULL), -EINVAL);
	assert_one_line_error(err, "--cpus 0");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--cpus", "999", NULL), -EINVAL);
	assert_one_line_error(err, "at most");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--cpus", "two", NULL), -EINVAL);
	assert_one_line_error(err, "not a number");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--cpus", "-1", NULL), -EINVAL);
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--memory", "0", NULL), -EINVAL);
	assert_one_line_error(err, "at least");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--memory", "1M", NULL), -EINVAL);
	assert_one_line_error(err, "at least");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--memory", "lots", NULL), -EINVAL);
	assert_one_line_error(err, "not a size");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--memory", "99999999999T", NULL), -EINVAL);
	assert_one_line_error(err, "too large");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--memory", "100001K", NULL), -EINVAL);
	assert_one_line_error(err, "4 KiB");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--console", "tty", NULL), -EINVAL);
	assert_one_line_error(err, "--console tty");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--console", "file:", NULL), -EINVAL);
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--frobnicate", NULL), -EINVAL);
	assert_one_line_error(err, "--frobnicate");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "-z", NULL), -EINVAL);
	assert_one_line_error(err, "-z");
	assert_int_equal(parse(&cfg, err, "--kernel", NULL), -EINVAL);
	assert_one_line_error(err, "needs a value");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "stray", NULL), -EINVAL);
	assert_one_line_error(err, "stray");
}

/* --debug-exit maps QEMU's isa-debug-exit port; off by default because
 * 0xf4 is in the legacy FPU range an unrelated guest may write. */
static void test_debug_exit(void **state)
{
	struct config cfg;
	char err[CONFIG_ERROR_MAX];

	(void)state;
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--debug-exit", NULL), 0);
	assert_true(cfg.debug_exit);
	assert_int_equal(parse(&cfg, err, "--debug-exit", "--kernel", "k", "--exit-stats", NULL), 0);
	assert_true(cfg.debug_exit);
	assert_true(cfg.exit_stats);
	assert_int_equal(parse(&cfg, err, "--kernel", "k", NULL), 0);
	assert_false(cfg.debug_exit);
	/* A flag given a value is refused by name, not as a stray byte. */
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--debug-exit=1", NULL), -EINVAL);
	assert_one_line_error(err, "option --debug-exit=1 takes no value");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--exit-stats=yes", NULL), -EINVAL);
	assert_one_line_error(err, "option --exit-stats=yes takes no value");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--debug-exitt", NULL), -EINVAL);
	assert_one_line_error(err, "unknown option --debug-exitt");
}

/* The QEMU test devices are separate opt-in flags, off by default. */
static void test_testdevs(void **state)
{
	struct config cfg;
	char err[CONFIG_ERROR_MAX];

	(void)state;
	assert_int_equal(parse(&cfg, err, "--kernel", "k", NULL), 0);
	assert_false(cfg.pc_testdev);
	assert_false(cfg.pci_testdev);
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--pc-testdev", NULL), 0);
	assert_true(cfg.pc_testdev);
	assert_false(cfg.pci_testdev);
	assert_int_equal(parse(&cfg, err, "--pci-testdev", "--kernel", "k", NULL), 0);
	assert_false(cfg.pc_testdev);
	assert_true(cfg.pci_testdev);
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--pci-testdev=on", NULL), -EINVAL);
	assert_one_line_error(err, "--pci-testdev=on");
}

/* ACPI is on unless --no-acpi; the PIT re-injects missed ticks unless
 * --pit-reinject off (QEMU's default policy, lost_tick_policy=delay). */
static void test_acpi_and_pit_reinject(void **state)
{
	struct config cfg;
	char err[CONFIG_ERROR_MAX];

	(void)state;
	assert_int_equal(parse(&cfg, err, "--kernel", "k", NULL), 0);
	assert_true(cfg.acpi);
	assert_true(cfg.pit_reinject);
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--no-acpi", NULL), 0);
	assert_false(cfg.acpi);
	assert_true(cfg.pit_reinject);
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--pit-reinject", "off", NULL), 0);
	assert_true(cfg.acpi);
	assert_false(cfg.pit_reinject);
	assert_int_equal(parse(&cfg, err, "--pit-reinject=off", "--pit-reinject=on", "--kernel", "k",
			       NULL), 0);
	assert_true(cfg.pit_reinject);
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--pit-reinject", "yes", NULL), -EINVAL);
	assert_one_line_error(err, "--pit-reinject yes: expected on or off");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--pit-reinject", NULL), -EINVAL);
	assert_one_line_error(err, "--pit-reinject needs a value");
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--no-acpi=1", NULL), -EINVAL);
	assert_one_line_error(err, "option --no-acpi=1 takes no value");
}

static void test_disks(void **state)
{
	static struct config cfg;   /* 8 disk paths of PATH_MAX: not on the stack */
	char err[CONFIG_ERROR_MAX], long_path[PATH_MAX + 8];

	(void)state;
	assert_int_equal(parse(&cfg, err, "--kernel", "k", NULL), 0);
	assert_int_equal(cfg.nr_disks, 0);
	assert_int_equal(parse(&cfg, err, "--kernel", "k", "--disk", "root.img", "--disk",
			       "data.img,ro,cache=unsafe,io=sync,serial=DATA-1", "--disk",
			       "/x/y,io=uring,cache=writeback", NULL), 0);
	assert_int_equal(cfg.nr_disks, 3);
	assert_string_equal(cfg.disks[0].path, "root.img");
	assert_false(cfg.disks[0].read_only);
	assert_int_equal(cfg.disks[0].cache, DISK_CACHE_WRITEBACK);
	assert_int_equal(cfg.disks[0].io, DISK_IO_AUTO);
	assert_string_equal(cfg.disks[0].serial, "");
	assert_string_equal(cfg.disks[1].path, "data.img");
	assert_true(cfg.disks[1].read_only);
	assert_int_equal(cfg.disks[1].cache, DISK_CACHE_UNSAFE);
	assert_int_equal(cfg.disks[1].io, DISK_IO_SYNC);
	assert_string_equal(cfg.disks[1].serial, "DATA-1");
	assert_string_equal(cfg.disks[2].path, "/x/y");
	assert_int_equal(cfg.disks[2].io, DISK_IO_URING);

	/* Eight fit (with --rng too); a ninth does not. */
	assert_int_equal(parse(&cfg, err, "-k", "k", "--disk", "1", "--disk", "2", "--disk", "3",
			       "--disk", "4", "--disk", "5", "--disk", "6", "--disk", "7", "--disk",
			       "8", NULL), 0);
	assert_int_equal(cfg.nr_disks, 8);
	assert_string_equal(cfg.disks[7].path, "8");
	assert_int_equal(parse(&cfg, err, "-k", "k", "--disk", "1", "--disk", "2", "--disk", "3",
			       "--disk", "4", "--disk", "5", "--disk", "6", "--disk", "7", "--disk",
			       "8", "--disk", "9", NULL), -EINVAL);
	assert_one_line_error(err, "--disk 9: at most 8 disks");
	assert_int_equal(parse(&cfg, err, "-k", "k", "--rng", "--disk", "1", "--disk", "2", "--disk",
			       "3", "--disk", "4", "--disk", "5", "--disk", "6", "--disk", "7",
			       "--disk", "8", NULL), 0);

	/* Every malformed value names itself. */
	static const struct { const char *arg, *msg; } bad[] = {
		{ "", "--disk : no image path before the options" },
		{ ",ro", "--disk ,ro: no image path" },
		{ "a.img,rw", "unknown option 'rw'" },
		{ "a.img,", "unknown option ''" },
		{ "a.img,ro=1", "unknown option 'ro=1'" },
		{ "a.img,cache=none", "cache=none: expected writeback or unsafe" },
		{ "a.img,cache=", "cache=: expected writeback or unsafe" },
		{ "a.img,io=aio", "io=aio: expected auto, uring or sync" },
		{ "a.img,serial=", "serial must be 1 to 20 characters" },
		{ "a.img,serial=123456789012345678901", "serial must be 1 to 20 characters" },
		{ "a.img,serial=a b", "printable ASCII" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&cfg, err, "-k", "k", "--disk", bad[i].arg, NULL), -EINVAL);
		assert_one_line_error(err, bad[i].msg);
	}
	assert_int_equal(parse(&cfg, err, "-k", "k", "--disk", NULL), -EINVAL);
	assert_one_line_error(err, "--disk needs a value");
	assert_int_equal(parse(&cfg, err, "-k", "k", "--disk", "a,serial=12345678901234567890",
			       NULL), 0);
	assert_string_equal(cfg.disks[0].serial, "12345678901234567890");
	memset(long_path, 'p', sizeof(long_path) - 1);
	long_path[sizeof(long_path) - 1] = '\0';
	assert_int_equal(parse(&cfg, err, "-k", "k", "--disk", long_path, NULL), -EINVAL);
	assert_one_line_error(err, "image path longer than 4095 bytes");
}

static void test_balloon(void **state)
{
	static struct config cfg;
	struct balloon_config b;
	char err[CONFIG_ERROR_MAX];
	static const struct { const char *arg, *needle; } bad[] = {
		{ "target=", "target=: not a size" },
		{ "target=12Q", "target=12Q: not a size" },
		{ "target=4097K", "target=4097K: must be a multiple of 4 KiB" },
		{ "target=99999999999999999999", "too large" },
		{ "target=20T", "more than num_pages can say" },
		{ "stats=", "stats=: expected seconds, 0 to 3600" },
		{ "stats=-1", "stats=-1: expected seconds" },
		{ "stats=3601", "stats=3601: expected seconds" },
		{ "stats=1s", "stats=1s: expected seconds" },
		{ "size=1M", "unknown option 'size=1M'" },
		{ "target=1M,", "empty option" },
		{ ",target=1M", "empty option" },
		{ "deflate-on-oom=1", "unknown option 'deflate-on-oom=1'" },
	};

	(void)state;
	assert_int_equal(parse(&cfg, err, "-k", "k", NULL), 0);
	assert_false(cfg.balloon.enabled);
	/* A bare --balloon: a device with target 0, no polling. */
	assert_int_equal(parse(&cfg, err, "-k", "k", "--balloon", NULL), 0);
	assert_true(cfg.balloon.enabled);
	assert_int_equal(cfg.balloon.target_bytes, 0);
	assert_int_equal(cfg.balloon.stats_interval, 0);
	assert_false(cfg.balloon.deflate_on_oom);
	/* Options as the next word or after '='; options before and after. */
	assert_int_equal(parse(&cfg, err, "-k", "k", "--balloon", "target=32M,stats=2,deflate-on-oom",
			       "--rng", NULL), 0);
	assert_int_equal(cfg.balloon.target_bytes, 32 << 20);
	assert_int_equal(cfg.balloon.stats_interval, 2);
	assert_true(cfg.balloon.deflate_on_oom);
	assert_true(cfg.rng);
	assert_int_equal(parse(&cfg, err, "--balloon=stats=3600,target=0", "-k", "k", NULL), 0);
	assert_int_equal(cfg.balloon.stats_interval, 3600);
	assert_int_equal(cfg.balloon.target_bytes, 0);
	/* A bare --balloon followed by another option. */
	assert_int_equal(parse(&cfg, err, "--balloon", "--kernel", "k", NULL), 0);
	assert_true(cfg.balloon.enabled);
	assert_string_equal(cfg.kernel_path, "k");
	/* The target may be all of RAM, not more; checked whatever the order. */
	assert_int_equal(parse(&cfg, err, "-k", "k", "--balloon", "target=128M", NULL), 0);
	assert_int_equal(parse(&cfg, err, "-k", "k", "--balloon", "target=129M", NULL), -EINVAL);
	assert_one_line_error(err, "--balloon: target of 135266304 bytes is more than the guest's RAM");
	assert_int_equal(parse(&cfg, err, "-k", "k", "--balloon", "target=1G", "-m", "1G", NULL), 0);
	assert_int_equal(parse(&cfg, err, "-k", "k", "--balloon", "--balloon", NULL), -EINVAL);
	assert_one_line_error(err, "--balloon given twice");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(config_parse_balloon(&b, bad[i].arg, err), -EINVAL);
		assert_one_line_error(err, bad[i].needle);
		assert_int_equal(parse(&cfg, err, "-k", "k", "--balloon", bad[i].arg, NULL), -EINVAL);
		assert_one_line_error(err, bad[i].needle);
	}
	assert_int_equal(config_parse_balloon(&b, "deflate-on-oom", err), 0);
	assert_true(b.enabled && b.deflate_on_oom);
}

static void test_vsock(void **state)
{
	static struct config cfg;
	char err[CONFIG_ERROR_MAX], long_path[CONFIG_VSOCK_PATH_MAX + 2], arg[CONFIG_VSOCK_PATH_MAX + 32];

	(void)state;
	assert_int_equal(parse(&cfg, err, "-k", "k", NULL), 0);
	assert_false(cfg.vsock.enabled);
	assert_int_equal(parse(&cfg, err, "-k", "k", "--vsock", "cid=3,uds=/run/v.sock", NULL), 0);
	assert_true(cfg.vsock.enabled);
	assert_int_equal(cfg.vsock.cid, 3);
	assert_string_equal(cfg.vsock.uds_path, "/run/v.sock");
	/* Either order; the largest CID below the reserved 2^32 - 1. */
	assert_int_equal(parse(&cfg, err, "-k", "k", "--vsock", "uds=v,cid=4294967294", NULL), 0);
	assert_int_equal(cfg.vsock.cid, 4294967294u);
	assert_string_equal(cfg.vsock.uds_path, "v");

	static const struct { const char *arg, *msg; } bad[] = {
		{ "", "unknown or empty option ''" },
		{ "cid=3", "uds=PATH is required" },
		{ "uds=v", "cid=N is required" },
		{ "cid=0,uds=v", "cid=0: must be 3 to 4294967294" },
		{ "cid=1,uds=v", "cid=1: must be 3 to 4294967294" },
		{ "cid=2,uds=v", "cid=2: must be 3 to 4294967294" },
		{ "cid=4294967295,uds=v", "cid=4294967295: must be 3 to" },
		{ "cid=99999999999999999999999,uds=v", "must be 3 to" },
		{ "cid=-3,uds=v", "cid=-3: not a number" },
		{ "cid=0x10,uds=v", "cid=0x10: not a number" },
		{ "cid=,uds=v", "unknown or empty option 'cid='" },
		{ "cid=3,uds=", "unknown or empty option 'uds='" },
		{ "cid=3,uds=v,", "unknown or empty option ''" },
		{ "cid=3,cid=4,uds=v", "cid given twice" },
		{ "cid=3,uds=a,uds=b", "uds given twice" },
		{ "cid=3,uds=v,port=5", "unknown or empty option 'port=5'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&cfg, err, "-k", "k", "--vsock", bad[i].arg, NULL), -EINVAL);
		assert_one_line_error(err, bad[i].msg);
	}
	assert_int_equal(parse(&cfg, err, "-k", "k", "--vsock", NULL), -EINVAL);
	assert_one_line_error(err, "--vsock needs a value");
	assert_int_equal(parse(&cfg, err, "-k", "k", "--vsock", "cid=3,uds=a", "--vsock",
			       "cid=4,uds=b", NULL), -EINVAL);
	assert_one_line_error(err, "only one vsock device");

	/* The path must leave room for "_4294967295" in sun_path. */
	memset(long_path, 'p', sizeof(long_path) - 1);
	long_path[CONFIG_VSOCK_PATH_MAX] = '\0';
	snprintf(arg, sizeof(arg), "cid=3,uds=%s", long_path);
	assert_int_equal(parse(&cfg, err, "-k", "k", "--vsock", arg, NULL), 0);
	assert_int_equal(strlen(cfg.vsock.uds_path), CONFIG_VSOCK_PATH_MAX);
	long_path[CONFIG_VSOCK_PATH_MAX] = 'p';
	long_path[CONFIG_VSOCK_PATH_MAX + 1] = '\0';
	snprintf(arg, sizeof(arg), "cid=3,uds=%s", long_path);
	assert_int_equal(parse(&cfg, err, "-k", "k", "--vsock", arg, NULL), -EINVAL);
	assert_one_line_error(err, "uds path longer than 96 bytes");
}

/* --net tap=NAME[,mac=...]: repeatable up to 4, default MACs by index. */
static void test_nets(void **state)
{
	static struct config cfg;
	char err[CONFIG_ERROR_MAX];
	static const uint8_t given[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
	static const uint8_t default1[6] = { 0x02, 0x4b, 0x56, 0x4d, 0x00, 0x01 };

	(void)state;
	assert_int_equal(parse(&cfg, err, "--kernel", "k", NULL), 0);
	assert_int_equal(cfg.nr_nets, 0);
	assert_int_equal(parse(&cfg, err, "-k", "k", "--net", "mac=52:54:00:AB:cd:ef,tap=tap0",
			       "--net", "tap=kvm-tap.1", NULL), 0);
	assert_int_equal(cfg.nr_nets, 2);
	assert_string_equal(cfg.nets[0].tap, "tap0");
	assert_true(cfg.nets[0].mac_given);
	assert_memory_equal(cfg.nets[0].mac, given, 6);
	assert_string_equal(cfg.nets[1].tap, "kvm-tap.1");
	assert_false(cfg.nets[1].mac_given);
	/* Locally administered unicast, the index in the last byte. */
	assert_memory_equal(cfg.nets[1].mac, default1, 6);
	assert_int_equal(parse(&cfg, err, "-k", "k", "--net", "tap=123456789012345", NULL), 0);
	assert_string_equal(cfg.nets[0].tap, "123456789012345");

	assert_int_equal(parse(&cfg, err, "-k", "k", "--net", "tap=a", "--net", "tap=b", "--net",
			       "tap=c", "--net", "tap=d", NULL), 0);
	assert_int_equal(cfg.nr_nets, 4);
	assert_int_equal(cfg.nets[3].mac[5], 3);
	assert_int_equal(parse(&cfg, err, "-k", "k", "--net", "tap=a", "--net", "tap=b", "--net",
			       "tap=c", "--net", "tap=d", "--net", "tap=e", NULL), -EINVAL);
	assert_one_line_error(err, "--net tap=e: at most 4 network devices");
	assert_int_equal(parse(&cfg, err, "-k", "k", "--net", "tap=a", "--net", "tap=a,mac=02:00:00:00:00:09",
			       NULL), -EINVAL);
	assert_one_line_error(err, "TAP interface a given twice");

	static const struct { const char *arg, *msg; } bad[] = {
		{ "", "unknown option ''" },
		{ "tap0", "unknown option 'tap0'" },
		{ "mac=02:00:00:00:00:01", "tap=NAME is required" },
		{ "tap=", "interface name of 1 to 15 characters" },
		{ "tap=1234567890123456", "interface name of 1 to 15 characters" },
		{ "tap=a/b", "tap=a/b: not a valid interface name" },
		{ "tap=a b", "not a valid interface name" },
		{ "tap=a:1", "not a valid interface name" },
		{ "tap=..", "tap=..: not a valid interface name" },
		{ "tap=x,", "unknown option ''" },
		{ "tap=x,model=e1000", "unknown option 'model=e1000'" },
		{ "tap=x,mac=", "mac=: expected six hex bytes" },
		{ "tap=x,mac=02:00:00:00:00", "expected six hex bytes" },
		{ "tap=x,mac=02:00:00:00:00:0g", "expected six hex bytes" },
		{ "tap=x,mac=02-00-00-00-00-01", "expected six hex bytes" },
		{ "tap=x,mac=02:00:00:00:00:011", "expected six hex bytes" },
		{ "tap=x,mac=01:00:5e:00:00:01", "a multicast address" },
		{ "tap=x,mac=ff:ff:ff:ff:ff:ff", "a multicast address" },
		{ "tap=x,mac=00:00:00:00:00:00", "the all-zero address" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&cfg, err, "-k", "k", "--net", bad[i].arg, NULL), -EINVAL);
		assert_one_line_error(err, bad[i].msg);
	}
	assert_int_equal(parse(&cfg, err, "-k", "k", "--net", NULL), -EINVAL);
	assert_one_line_error(err, "--net needs a value");
}

/* --snapshot-on-signal: diff snapshots, and whether mem= named the
 * memory file (series.c derives the numbered names from it). */
static void test_snapshot_diff(void **state)
{
	struct snapshot_config snap;
	char err[CONFIG_ERROR_MAX];

	(void)state;
	assert_int_equal(config_parse_snapshot(&snap, "s", err), 0);
	assert_false(snap.diff);
	assert_false(snap.memory_path_given);
	assert_string_equal(snap.memory_path, "s.mem");
	assert_int_equal(config_parse_snapshot(&snap, "s,then=continue,diff", err), 0);
	assert_true(snap.diff);
	assert_int_equal(snap.then, SNAPSHOT_THEN_CONTINUE);
	assert_int_equal(config_parse_snapshot(&snap, "s,diff,mem=m", err), 0);
	assert_true(snap.diff);
	assert_true(snap.memory_path_given);
	assert_string_equal(snap.memory_path, "m");
	assert_int_equal(config_parse_snapshot(&snap, "s,diffs", err), -EINVAL);
	assert_non_null(strstr(err, "'diffs'"));
}

/* --memory-backend private | uffd[,prefetch=on|off][,fault-delay-us=N]. */
static void test_memory_backend(void **state)
{
	static struct config cfg;
	char err[CONFIG_ERROR_MAX];

	(void)state;
	assert_int_equal(parse(&cfg, err, "--restore", "s", NULL), 0);
	assert_int_equal(cfg.memory_backend, MEMORY_BACKEND_PRIVATE);
	assert_int_equal(parse(&cfg, err, "--restore", "s", "--memory-backend", "uffd", NULL), 0);
	assert_int_equal(cfg.memory_backend, MEMORY_BACKEND_UFFD);
	assert_false(cfg.uffd_prefetch_off);
	assert_int_equal(cfg.uffd_fault_delay_us, 0);
	assert_int_equal(parse(&cfg, err, "--restore", "s", "--memory-backend",
			       "uffd,prefetch=off,fault-delay-us=50000", NULL), 0);
	assert_true(cfg.uffd_prefetch_off);
	assert_int_equal(cfg.uffd_fault_delay_us, 50000);
	/* The last one given wins, options included. */
	assert_int_equal(parse(&cfg, err, "--restore", "s", "--memory-backend", "uffd,prefetch=off",
			       "--memory-backend", "uffd,prefetch=on", NULL), 0);
	assert_false(cfg.uffd_prefetch_off);
	assert_int_equal(parse(&cfg, err, "--restore", "s", "--memory-backend", "private", NULL), 0);
	assert_int_equal(cfg.memory_backend, MEMORY_BACKEND_PRIVATE);

	static const struct { const char *arg, *msg; } bad[] = {
		{ "disk", "expected private or uffd" },
		{ "private,prefetch=off", "expected private or uffd" },
		{ "uffdx", "expected private or uffd" },
		{ "uffd,", "unknown uffd option ''" },
		{ "uffd,prefetch=maybe", "unknown uffd option 'prefetch=maybe'" },
		{ "uffd,fault-delay-us=", "unknown uffd option 'fault-delay-us='" },
		{ "uffd,fault-delay-us=x", "fault-delay-us=x: expected 0-10000000" },
		{ "uffd,fault-delay-us=-1", "fault-delay-us=-1: expected 0-10000000" },
		{ "uffd,fault-delay-us=10000001", "expected 0-10000000" },
		{ "uffd,fault-delay-us=5ms", "fault-delay-us=5ms" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&cfg, err, "--restore", "s", "--memory-backend", bad[i].arg,
				       NULL), -EINVAL);
		assert_one_line_error(err, bad[i].msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_options),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_debug_exit),
		cmocka_unit_test(test_testdevs),
		cmocka_unit_test(test_acpi_and_pit_reinject),
		cmocka_unit_test(test_disks),
		cmocka_unit_test(test_balloon),
		cmocka_unit_test(test_vsock),
		cmocka_unit_test(test_nets),
		cmocka_unit_test(test_snapshot_diff),
		cmocka_unit_test(test_memory_backend),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
