/* kvmrun: a microVM monitor on KVM. main parses the command line, prepares
 * the process (signals) and hands over to the machine builder. */
#include <signal.h>
#include <stdio.h>

#include "config.h"
#include "event_loop.h"
#include "log.h"
#include "machine.h"
#include "vcpu.h"

#ifndef KVMRUN_VERSION
#define KVMRUN_VERSION "unknown"
#endif

int main(int argc, char **argv)
{
	struct config cfg;
	char err[CONFIG_ERROR_MAX];

	if (config_parse(&cfg, argc, argv, err) < 0) {
		log_error("%s", err);
		return EXIT_STATUS_BAD_INPUT;
	}
	if (cfg.show_help) {
		config_print_usage(stdout);
		return 0;
	}
	if (cfg.show_version) {
		printf("kvmrun %s\n", KVMRUN_VERSION);
		return 0;
	}
	/* Before any thread exists, so every thread inherits the masks:
	 * operator signals go to the event loop's signalfd only, kicks are
	 * blocked except inside KVM_RUN. */
	/* A console reader that goes away must not kill the VM: the UART
	 * counts the failed write (EPIPE) instead. */
	signal(SIGPIPE, SIG_IGN);
	if (event_loop_block_signals() < 0 || vcpu_setup_kick_signal() < 0) {
		log_error("cannot set up signal handling");
		return EXIT_STATUS_VMM_ERROR;
	}
	return machine_run(&cfg);
}
