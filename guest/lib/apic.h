/* Local APIC in x2APIC mode: every register is an MSR at 0x800 + (offset
 * >> 4) (SDM vol. 3 §10.12). KVM's in-kernel LAPIC handles these writes
 * without a trip to the VMM; an ICR write is one MSR exit. */
#ifndef GUEST_APIC_H
#define GUEST_APIC_H

#include <stdbool.h>
#include <stdint.h>

#define MSR_IA32_APIC_BASE    0x1b
#define APIC_BASE_EXTD        (1ULL << 10)  /* x2APIC mode */
#define APIC_BASE_EN          (1ULL << 11)  /* APIC global enable */
#define MSR_X2APIC_ID         0x802
#define MSR_X2APIC_TPR        0x808
#define MSR_X2APIC_EOI        0x80b
#define MSR_X2APIC_SVR        0x80f
#define MSR_X2APIC_ICR        0x830
#define MSR_X2APIC_LVT_TIMER  0x832
#define MSR_X2APIC_LVT_LINT0  0x835
#define MSR_X2APIC_LVT_LINT1  0x836

#define APIC_SVR_ENABLE       (1 << 8)
#define APIC_LVT_MASKED       (1 << 16)

/* ICR low word (SDM vol. 3 §10.6.1). */
#define APIC_ICR_FIXED        (0 << 8)
#define APIC_ICR_NMI          (4 << 8)
#define APIC_ICR_INIT         (5 << 8)
#define APIC_ICR_STARTUP      (6 << 8)
#define APIC_ICR_ASSERT       (1 << 14)
#define APIC_ICR_LEVEL        (1 << 15)
#define APIC_ICR_DEST_SELF    (1 << 18)
#define APIC_ICR_DEST_ALL     (2 << 18)
#define APIC_ICR_DEST_OTHERS  (3 << 18)

/* CPUID.1:ECX[21]. */
bool apic_x2apic_supported(void);
/* Switch this CPU's APIC to x2APIC mode, software-enable it with the
 * spurious vector SPURIOUS_VECTOR, and mask LINT0 (the 8259 route).
 * Aborts the guest if x2APIC is not supported. */
void apic_enable(void);
uint32_t apic_id(void);
void apic_eoi(void);
void apic_icr_write(uint32_t dest, uint32_t low);
/* Fixed interrupt `vector` to the CPU with x2APIC ID `dest`. */
void apic_send_ipi(uint32_t dest, uint8_t vector);
void apic_send_init(uint32_t dest);
/* Startup IPI: the target starts in real mode at CS = page << 8, IP = 0. */
void apic_send_sipi(uint32_t dest, uint8_t page);

#endif
