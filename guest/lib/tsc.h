/* TSC frequency, for turning rdtsc() differences into time. */
#ifndef GUEST_TSC_H
#define GUEST_TSC_H

#include <stdint.h>

/* The TSC frequency in Hz and where it came from (`*source`):
 *   "cpuid-0x15"        crystal clock * ratio (SDM vol. 3 §18.7.3)
 *   "cpuid-0x40000010"  hypervisor timing leaf (TSC kHz in EAX)
 *   "pit"               measured against PIT channel 2 for ~50 ms
 * Works at CPL 0 and CPL 3 (the PIT measurement uses port I/O only, and
 * is better run at CPL 3 where its polling loop is not emulated). */
uint64_t tsc_hz(const char **source);

#endif
