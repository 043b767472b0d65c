/* Running code at CPL 3.
 *
 * On this machine CPL 0 is emulated (~1.4M instructions/s) while CPL 3 runs
 * natively, so anything that loops belongs in run_in_user(). The identity
 * map is user-accessible and every port is open to CPL 3 (RFLAGS.IOPL = 3
 * and an all-zero I/O bitmap in the TSS), so user code can use all
 * memory, port I/O, printf(), report() and exit(); it cannot execute
 * privileged instructions (HLT, RDMSR/WRMSR, MOV to CRn, LIDT...). */
#ifndef GUEST_USER_H
#define GUEST_USER_H

/* Call fn(arg) at CPL 3 on this CPU's user stack and return its result.
 * RFLAGS.IF in user mode is the caller's. Exceptions and interrupts taken
 * at CPL 3 run on the kernel stack just below this call's frame. */
long run_in_user(long (*fn)(void *), void *arg);

#endif
