#include "config_options.h"

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
