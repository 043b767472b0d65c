/* The command line, parsed and validated into a machine configuration.
 * Pure: no files are opened here, so every rule is unit-tested. */
#ifndef KVMRUN_CONFIG_H
#define KVMRUN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

/* Used when --cmdline is not given: serial console, reset through the
 * i8042 (our reset path), no PCI probing (bus 0 holds only the host bridge
 * unless test devices are asked for, and scanning it costs boot time), and
 * no i8042 aux/mux/keyboard probing, which would only wait for timeouts. */
#define CONFIG_DEFAULT_CMDLINE \
	"console=ttyS0 reboot=k panic=1 pci=off nomodule i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"
#define CONFIG_DEFAULT_MEMORY  (128ULL << 20)
#define CONFIG_MAX_CPUS        254   /* APIC IDs 0..253; 254 is the IOAPIC's, 255 broadcast */

/* --disk PATH[,ro][,cache=writeback|unsafe][,io=auto|uring|sync][,serial=ID]:
 * a virtio-blk device per disk, in the order given (docs/virtio-blk.md). */
#define CONFIG_MAX_DISKS       8
#define CONFIG_DISK_SERIAL_MAX 20    /* virtio-blk's device ID (§5.2.6) */

enum disk_cache {
	DISK_CACHE_WRITEBACK,        /* host page cache, guest flushes reach the disk */
	DISK_CACHE_UNSAFE,           /* guest flushes ignored: a host crash loses data */
};

enum disk_io {
	DISK_IO_AUTO,                /* io_uring when the host allows it, else sync */
	DISK_IO_URING,
	DISK_IO_SYNC,
};

struct disk_config {
	char path[PATH_MAX];
	bool read_only;
	enum disk_cache cache;
	enum disk_io io;
	char serial[CONFIG_DISK_SERIAL_MAX + 1];  /* "" for one derived from the file */
};

/* --balloon [target=SIZE][,stats=SECONDS][,deflate-on-oom]: a virtio-balloon
 * (docs/virtio-balloon.md). */
#define CONFIG_BALLOON_STATS_MAX 3600   /* seconds between statistics requests */

struct balloon_config {
	bool enabled;
	uint64_t target_bytes;       /* initial num_pages * 4 KiB; at most --memory */
	unsigned stats_interval;     /* seconds; 0: statistics are read once, never refreshed */
	bool deflate_on_oom;         /* offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM */
};

/* --vsock cid=N,uds=PATH: a virtio-vsock device bridged to Unix sockets
 * (docs/virtio-vsock.md). The path must fit sun_path (108 bytes with the
 * NUL) with the "_<port>" suffix of a guest-initiated connection. */
#define CONFIG_VSOCK_PATH_MAX  (108 - 1 - 11)

struct vsock_config {
	bool enabled;
	uint32_t cid;                /* 3 .. 2^32 - 2 (virtio 1.2 §5.10.4) */
	char uds_path[CONFIG_VSOCK_PATH_MAX + 1];
};

/* --net tap=NAME[,mac=XX:XX:XX:XX:XX:XX]: a virtio-net device per TAP
 * interface, in the order given (docs/virtio-net.md). */
#define CONFIG_MAX_NETS        4
#define CONFIG_NET_NAME_MAX    15    /* IFNAMSIZ - 1 */

struct net_config {
	char tap[CONFIG_NET_NAME_MAX + 1];
	uint8_t mac[6];              /* given, or 02:4b:56:4d:00:<index> */
	bool mac_given;
};

enum console_kind {
	CONSOLE_STDIO,
	CONSOLE_FILE,
	CONSOLE_NONE,
};

/* --snapshot-on-signal STATE[,mem=PATH][,then=exit|continue][,diff]: on
 * SIGUSR1 the VM is paused and saved (docs/snapshots.md). */
enum snapshot_then {
	SNAPSHOT_THEN_EXIT,          /* the VM ends once saved (status 0) */
	SNAPSHOT_THEN_CONTINUE,      /* the VM runs on */
};

struct snapshot_config {
	char state_path[PATH_MAX];   /* "" when not asked for */
	char memory_path[PATH_MAX];  /* mem=, default STATE.mem */
	bool memory_path_given;      /* mem= was given (names STATE.n's memory file) */
	enum snapshot_then then;
	bool diff;                   /* diff snapshots: dirty pages tracked */
};

/* --memory-backend: how a restored guest's RAM gets its contents. */
enum memory_backend {
	MEMORY_BACKEND_PRIVATE,      /* MAP_PRIVATE of the memory file */
	MEMORY_BACKEND_UFFD,         /* userfaultfd: pages filled on demand */
};

struct config {
	const char *kernel_path;
	const char *initrd_path;     /* NULL if none */
	const char *cmdline;
	unsigned nr_cpus;
	uint64_t memory_bytes;
	enum console_kind console;
	const char *console_path;    /* CONSOLE_FILE */
	bool exit_stats;
	bool debug_exit;             /* map the isa-debug-exit port 0xf4 */
	bool pc_testdev;             /* QEMU's pc-testdev (ports 0xe0, 0x2000; MMIO 0xff000000) */
	bool pci_testdev;            /* QEMU's pci-testdev at 00:01.0 */
	bool acpi;                   /* ACPI tables and PM registers (default on; --no-acpi) */
	bool pit_reinject;           /* KVM re-injects missed PIT ticks (default on, as QEMU) */
	bool rng;                    /* a virtio-rng device (virtio-mmio) */
	unsigned nr_disks;
	struct disk_config disks[CONFIG_MAX_DISKS];
	struct balloon_config balloon;
	struct vsock_config vsock;
	unsigned nr_nets;
	struct net_config nets[CONFIG_MAX_NETS];
	bool show_help;
	bool show_version;

	/* Snapshots (docs/snapshots.md). */
	struct snapshot_config snapshot;
	bool snapshot_timing;        /* per-component save/restore times on stderr */
	const char *restore_path;    /* --restore STATE; NULL: boot a kernel */
	const char *restore_memory_path;  /* --memory-file; NULL: the state's */
	const char *restore_base_memory_path;  /* --base-memory-file: a diff's full memory file */
	enum memory_backend memory_backend;
	bool uffd_prefetch_off;      /* --memory-backend uffd,prefetch=off */
	unsigned uffd_fault_delay_us;  /* uffd,fault-delay-us=N: testing only */
	bool restore_resume;         /* --resume: run at once, not paused */
};

#define CONFIG_ERROR_MAX 256

/* Parse one --memory-backend value (private | uffd[,prefetch=on|off]
 * [,fault-delay-us=N]) into cfg. Returns 0, or -EINVAL with a one-line
 * reason in err. */
int config_parse_memory_backend(struct config *cfg, const char *text, char err[CONFIG_ERROR_MAX]);

/* Parse one --disk value into *disk. Returns 0, or -EINVAL with a one-line
 * reason in err. */
int config_parse_disk(struct disk_config *disk, const char *text, char err[CONFIG_ERROR_MAX]);

/* Parse one --balloon value (possibly empty) into *balloon. Returns 0, or
 * -EINVAL with a one-line reason in err. The target is checked against
 * --memory by config_parse, once every option is known. */
int config_parse_balloon(struct balloon_config *balloon, const char *text,
			 char err[CONFIG_ERROR_MAX]);

/* Parse one --vsock value into *vsock. Returns 0, or -EINVAL with a
 * one-line reason in err. */
int config_parse_vsock(struct vsock_config *vsock, const char *text, char err[CONFIG_ERROR_MAX]);

/* Parse one --net value into *net; `index` (its position among the --net
 * options) picks the default MAC. Returns 0, or -EINVAL with a one-line
 * reason in err. */
int config_parse_net(struct net_config *net, unsigned index, const char *text,
		     char err[CONFIG_ERROR_MAX]);

/* Parse one --snapshot-on-signal value. Returns 0, or -EINVAL with a
 * one-line reason in err. */
int config_parse_snapshot(struct snapshot_config *snap, const char *text,
			  char err[CONFIG_ERROR_MAX]);

/* Parse argv. Returns 0, or -EINVAL with a one-line reason in err. */
int config_parse(struct config *cfg, int argc, char **argv, char err[CONFIG_ERROR_MAX]);

/* Parse a size: a number with an optional K, M, G or T suffix (powers of
 * 1024; "MiB"/"MB" forms too); a bare number means MiB, as QEMU's -m.
 * Returns 0 or -EINVAL (garbage) / -ERANGE (overflow). */
int config_parse_size(const char *text, uint64_t *bytes);

void config_print_usage(FILE *out);

#endif
