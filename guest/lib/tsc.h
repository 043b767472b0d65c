/* TSC frequency, for turning rdtsc() differences into time. */
#ifndef GUEST_TSC_H
#define GUEST_TSC_H

#include <stdint.h>

/* The TSC frequency in Hz and where it came from (`*source`), trying:
 *   "cpuid-0x15"        crystal clock * ratio (SDM vol. 3 §18.7.3)
 *   "cpuid-0x40000010"  hypervisor timing leaf (TSC kHz in EAX)
 *   "kvmclock"          KVM's pvclock scale factors (CPL 0 only: WRMSR)
 *   "pit"               measured against PIT channel 2 for ~50 ms
 * and returns 0 with "unknown" if none works. */
uint64_t tsc_hz(const char **source);

#endif
