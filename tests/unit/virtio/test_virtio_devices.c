/* The machine's virtio-mmio slots: which devices a configuration gets,
 * where, on which line, and the command line that tells Linux. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "virtio/devices.h"

static void parse(struct config *cfg, int argc, char **argv)
{
	char err[CONFIG_ERROR_MAX];

	assert_int_equal(config_parse(cfg, argc, argv, err), 0);
}

static void test_no_devices_by_default(void **state)
{
	char *argv[] = { "kvmrun", "--kernel", "k" };
	struct virtio_devices_plan plan;
	struct config cfg;
	char *cmdline;

	(void)state;
	parse(&cfg, 3, argv);
	assert_false(cfg.rng);
	virtio_devices_plan(&cfg, &plan);
	assert_int_equal(plan.nr, 0);
	cmdline = virtio_devices_cmdline(&plan, "console=ttyS0");
	assert_string_equal(cmdline, "console=ttyS0");
	free(cmdline);
}

static void test_rng_slot_and_cmdline(void **state)
{
	char *argv[] = { "kvmrun", "--kernel", "k", "--rng" };
	struct virtio_devices_plan plan;
	struct config cfg;
	char *cmdline;

	(void)state;
	parse(&cfg, 4, argv);
	assert_true(cfg.rng);
	virtio_devices_plan(&cfg, &plan);
	assert_int_equal(plan.nr, 1);
	assert_int_equal(plan.slots[0].kind, VIRTIO_DEVICE_RNG);
	assert_int_equal(plan.slots[0].base, 0xd0000000);
	assert_int_equal(plan.slots[0].gsi, 16);
	cmdline = virtio_devices_cmdline(&plan, "console=ttyS0 panic=1");
	assert_string_equal(cmdline, "console=ttyS0 panic=1 virtio_mmio.device=4K@0xd0000000:16");
	free(cmdline);
	/* An empty command line gets no leading space. */
	cmdline = virtio_devices_cmdline(&plan, "");
	assert_string_equal(cmdline, "virtio_mmio.device=4K@0xd0000000:16");
	free(cmdline);
}

static void test_rng_takes_no_value(void **state)
{
	char *argv[] = { "kvmrun", "--kernel", "k", "--rng=1" };
	char err[CONFIG_ERROR_MAX];
	struct config cfg;

	(void)state;
	assert_int_equal(config_parse(&cfg, 4, argv, err), -EINVAL);
	assert_non_null(strstr(err, "--rng=1"));
}

/* Disks follow --rng, in the order given (Linux names them vda, vdb...). */
static void test_disk_slots(void **state)
{
	char *argv[] = { "kvmrun", "--kernel", "k", "--disk", "a.img", "--rng", "--disk", "b.img,ro" };
	struct virtio_devices_plan plan;
	static struct config cfg;
	char *cmdline;

	(void)state;
	parse(&cfg, 8, argv);
	virtio_devices_plan(&cfg, &plan);
	assert_int_equal(plan.nr, 3);
	assert_int_equal(plan.slots[0].kind, VIRTIO_DEVICE_RNG);
	assert_int_equal(plan.slots[1].kind, VIRTIO_DEVICE_BLK);
	assert_int_equal(plan.slots[1].index, 0);
	assert_int_equal(plan.slots[1].base, 0xd0001000);
	assert_int_equal(plan.slots[1].gsi, 17);
	assert_int_equal(plan.slots[2].kind, VIRTIO_DEVICE_BLK);
	assert_int_equal(plan.slots[2].index, 1);
	assert_int_equal(plan.slots[2].base, 0xd0002000);
	cmdline = virtio_devices_cmdline(&plan, "root=/dev/vda");
	assert_string_equal(cmdline, "root=/dev/vda virtio_mmio.device=4K@0xd0000000:16 "
				     "virtio_mmio.device=4K@0xd0001000:17 "
				     "virtio_mmio.device=4K@0xd0002000:18");
	free(cmdline);
}

/* The balloon comes after every disk, so adding it moves no disk (nor
 * Linux's vda, vdb... order); with all eight disks and --rng it still
 * fits. */
static void test_balloon_slot(void **state)
{
	char *argv[] = { "kvmrun", "--balloon", "target=1M", "--kernel", "k", "--disk", "a.img",
			 "--rng" };
	char *full[] = { "kvmrun", "-k", "k", "--rng", "--balloon", "--disk", "1", "--disk", "2",
			 "--disk", "3", "--disk", "4", "--disk", "5", "--disk", "6", "--disk", "7",
			 "--disk", "8" };
	struct virtio_devices_plan plan;
	static struct config cfg;

	(void)state;
	parse(&cfg, 8, argv);
	virtio_devices_plan(&cfg, &plan);
	assert_int_equal(plan.nr, 3);
	assert_int_equal(plan.slots[0].kind, VIRTIO_DEVICE_RNG);
	assert_int_equal(plan.slots[1].kind, VIRTIO_DEVICE_BLK);
	assert_int_equal(plan.slots[2].kind, VIRTIO_DEVICE_BALLOON);
	assert_int_equal(plan.slots[2].base, 0xd0002000);
	assert_int_equal(plan.slots[2].gsi, 18);
	parse(&cfg, 21, full);
	virtio_devices_plan(&cfg, &plan);
	assert_false(plan.overflow);
	assert_int_equal(plan.nr, 10);
	assert_int_equal(plan.slots[9].kind, VIRTIO_DEVICE_BALLOON);
	assert_int_equal(plan.slots[9].gsi, 16 + 9 % 8);
}

static void test_vsock_slot(void **state)
{
	char *argv[] = { "kvmrun", "--kernel", "k", "--vsock", "cid=3,uds=v.sock", "--disk", "a.img",
			 "--rng" };
	struct virtio_devices_plan plan;
	static struct config cfg;

	(void)state;
	parse(&cfg, 8, argv);
	virtio_devices_plan(&cfg, &plan);
	/* After the disks, whatever the order on the command line: adding a
	 * vsock device moves no disk. */
	assert_int_equal(plan.nr, 3);
	assert_int_equal(plan.slots[1].kind, VIRTIO_DEVICE_BLK);
	assert_int_equal(plan.slots[2].kind, VIRTIO_DEVICE_VSOCK);
	assert_int_equal(plan.slots[2].base, 0xd0002000);
	assert_int_equal(plan.slots[2].gsi, 18);
	assert_false(plan.overflow);
}

/* Network devices follow the disks, in the order given. */
static void test_net_slots(void **state)
{
	char *argv[] = { "kvmrun", "--kernel", "k", "--net", "tap=t0", "--disk", "a.img",
			 "--net", "tap=t1,mac=02:00:00:00:00:07", "--rng" };
	struct virtio_devices_plan plan;
	static struct config cfg;

	(void)state;
	parse(&cfg, 10, argv);
	virtio_devices_plan(&cfg, &plan);
	assert_int_equal(plan.nr, 4);
	assert_int_equal(plan.slots[0].kind, VIRTIO_DEVICE_RNG);
	assert_int_equal(plan.slots[1].kind, VIRTIO_DEVICE_BLK);
	assert_int_equal(plan.slots[2].kind, VIRTIO_DEVICE_NET);
	assert_int_equal(plan.slots[2].index, 0);
	assert_int_equal(plan.slots[2].base, 0xd0002000);
	assert_int_equal(plan.slots[2].gsi, 18);
	assert_int_equal(plan.slots[3].kind, VIRTIO_DEVICE_NET);
	assert_int_equal(plan.slots[3].index, 1);
	assert_int_equal(plan.slots[3].base, 0xd0003000);
	assert_int_equal(cfg.nets[1].mac[5], 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_devices_by_default),
		cmocka_unit_test(test_rng_slot_and_cmdline),
		cmocka_unit_test(test_rng_takes_no_value),
		cmocka_unit_test(test_disk_slots),
		cmocka_unit_test(test_balloon_slot),
		cmocka_unit_test(test_vsock_slot),
		cmocka_unit_test(test_net_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
