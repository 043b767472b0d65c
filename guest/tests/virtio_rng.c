/* virtio-rng (virtio 1.2 §5.4) through kvmrun's virtio-mmio transport
 * (§4.2), with the guest library's polling driver: probe, feature
 * negotiation, one queue, entropy in direct, chained and indirect
 * buffers, ring wrap-around, and the interrupt: IOAPIC pin 16, level-
 * triggered, raised through an irqfd and kept up until InterruptStatus is
 * acknowledged. Run with --rng. Polling loops run at CPL 3. */
#include "apic.h"
#include "desc.h"
#include "io.h"
#include "libguest.h"
#include "user.h"
#include "virtio.h"

#define QSIZE          16
#define WAIT_SPINS     400000000ULL   /* seconds of PAUSE at CPL 3 */
#define IOAPIC_BASE    0xfec00000UL
#define IOAPIC_REDTBL  0x10
#define IOAPIC_LEVEL   (1u << 15)
#define RNG_GSI        16             /* kvmrun's first virtio slot */
#define IRQ_VECTOR     0x51

static uint8_t ring_mem[VRING_BYTES(QSIZE)] __aligned(4096);
static uint8_t entropy[2][4096] __aligned(64);
static uint8_t small[64][64];
static struct vring_desc table[2] __aligned(16);
static struct virtio_dev dev;
static struct vring vq;

struct request {
	const struct vring_buf *bufs;
	unsigned n;
	bool indirect;
	bool ok;
	uint16_t head;
	uint32_t id, len;
};

/* CPL 3: submit, notify, poll for the used element. */
static long submit_and_wait(void *arg)
{
	struct request *r = arg;

	r->head = r->indirect ? vring_add_indirect(&vq, table, r->bufs, r->n)
			      : vring_add(&vq, r->bufs, r->n);
	vring_kick(&vq);
	r->ok = vring_wait(&vq, &r->id, &r->len, WAIT_SPINS);
	return 0;
}

static bool request(struct request *r)
{
	run_in_user(submit_and_wait, r);
	return r->ok && r->id == r->head;
}

struct byte_stats {
	const uint8_t *p;
	unsigned len;
	unsigned zeros, distinct;
	bool constant;
};

static long byte_stats(void *arg)
{
	struct byte_stats *s = arg;
	bool seen[256] = { false };

	s->zeros = s->distinct = 0;
	s->constant = true;
	for (unsigned i = 0; i < s->len; i++) {
		s->zeros += s->p[i] == 0;
		s->constant &= s->p[i] == s->p[0];
		if (!seen[s->p[i]]) {
			seen[s->p[i]] = true;
			s->distinct++;
		}
	}
	return 0;
}

static void check_random(const uint8_t *p, unsigned len, const char *what)
{
	struct byte_stats s = { .p = p, .len = len };

	run_in_user(byte_stats, &s);
	/* 4096 random bytes: all 256 values are expected (missing any one
	 * has probability ~256 * e^-16), about 16 zeros. */
	report(!s.constant && s.zeros < len / 8 && s.distinct >= 200,
	       "%s: %u bytes, %u distinct values, %u zeros", what, len, s.distinct, s.zeros);
}

static void test_setup(void)
{
	uint64_t wanted = (1ULL << VIRTIO_F_EVENT_IDX) | (1ULL << VIRTIO_F_INDIRECT_DESC);

	report_prefix_push("setup");
	if (!virtio_probe(VIRTIO_ID_ENTROPY, 0, &dev)) {
		report(false, "virtio-rng found (is --rng given?)");
		exit(report_summary());
	}
	report(dev.base == VIRTIO_MMIO_BASE, "virtio-rng in slot %u at 0x%lx", dev.slot,
	       (unsigned long)dev.base);
	report(virtio_read(&dev, VIRTIO_MMIO_VENDOR_ID) == 0x554d4551, "vendor \"QEMU\"");
	report(virtio_negotiate(&dev, wanted) == 0, "FEATURES_OK accepted");
	report(dev.features == (wanted | (1ULL << VIRTIO_F_VERSION_1)),
	       "VERSION_1, EVENT_IDX and INDIRECT_DESC negotiated (device offers 0x%llx)",
	       (unsigned long long)dev.device_features);
	report(virtio_queue_setup(&dev, &vq, 0, QSIZE, ring_mem) == 0, "queue 0 of %u ready",
	       QSIZE);
	virtio_write(&dev, VIRTIO_MMIO_QUEUE_SEL, 1);
	report(virtio_read(&dev, VIRTIO_MMIO_QUEUE_NUM_MAX) == 0, "no queue 1");
	virtio_driver_ok(&dev);
	report(virtio_status(&dev) == 0xf, "status ACKNOWLEDGE|DRIVER|FEATURES_OK|DRIVER_OK");
	report_prefix_pop();
}

static void test_entropy(void)
{
	struct vring_buf one = { .addr = (uintptr_t)entropy[0], .len = 4096, .write = true };
	struct vring_buf two[2] = {
		{ .addr = (uintptr_t)entropy[1], .len = 1000, .write = true },
		{ .addr = (uintptr_t)entropy[1] + 1000, .len = 3096, .write = true },
	};
	struct request r = { .bufs = &one, .n = 1 };
	bool ok;

	report_prefix_push("entropy");
	ok = request(&r);
	report(ok && r.len == 4096, "4 KiB in one buffer (used len %u)", r.len);
	check_random(entropy[0], 4096, "one buffer");
	r = (struct request){ .bufs = two, .n = 2 };
	ok = request(&r);
	report(ok && r.len == 4096, "4 KiB in a chain of two (used len %u)", r.len);
	check_random(entropy[1], 4096, "chain");
	report(memcmp(entropy[0], entropy[1], 4096) != 0, "two requests differ");

	memset(entropy[1], 0, sizeof(entropy[1]));
	two[0].len = 2048;
	two[1] = (struct vring_buf){ .addr = (uintptr_t)entropy[1] + 2048, .len = 2048, .write = true };
	r = (struct request){ .bufs = two, .n = 2, .indirect = true };
	ok = request(&r);
	report(ok && r.len == 4096, "4 KiB through an indirect table (used len %u)", r.len);
	check_random(entropy[1], 4096, "indirect");
	report_prefix_pop();
}

static long many_small(void *arg)
{
	unsigned *good = arg;

	for (unsigned i = 0; i < 64; i++) {
		struct vring_buf b = { .addr = (uintptr_t)small[i], .len = 64, .write = true };
		uint32_t id, len;
		uint16_t head = vring_add(&vq, &b, 1);

		vring_kick(&vq);
		if (vring_wait(&vq, &id, &len, WAIT_SPINS) && id == head && len == 64)
			(*good)++;
	}
	return 0;
}

static void test_ring_wraps(void)
{
	unsigned good = 0;

	report_prefix_push("wrap");
	run_in_user(many_small, &good);
	report(good == 64, "64 requests through a %u-entry ring: %u answered", QSIZE, good);
	report(memcmp(small[0], small[63], 64) != 0, "different bytes each time");
	report_prefix_pop();
}

/* ---- the interrupt ---- */

static volatile unsigned irq_count, irq_vring;
static volatile bool eoi_before_ack;

static void ioapic_write(unsigned reg, uint32_t value)
{
	*(volatile uint32_t *)(IOAPIC_BASE) = reg;
	*(volatile uint32_t *)(IOAPIC_BASE + 0x10) = value;
}

static void irq_handler(struct ex_regs *regs __unused)
{
	uint32_t isr = virtio_read(&dev, VIRTIO_MMIO_INTERRUPT_STATUS);

	irq_count++;
	if (isr & VIRTIO_MMIO_INT_VRING)
		irq_vring++;
	if (eoi_before_ack) {
		/* Leave the status set: a level-triggered line must come
		 * back after the EOI (kvmrun re-raises it on the resample). */
		eoi_before_ack = false;
		apic_eoi();
		return;
	}
	virtio_write(&dev, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	apic_eoi();
}

struct irq_wait {
	unsigned count;
	uint64_t spins;
};

/* CPL 3, interrupts on: spin until `count` used-buffer interrupts have
 * been handled (the handler runs at CPL 0 and returns here). Spinning
 * rather than HLT keeps the wait independent of how the host emulates
 * STI;HLT at CPL 0. */
static long spin_for_irqs(void *arg)
{
	struct irq_wait *w = arg;

	while (READ_ONCE(irq_vring) < w->count && w->spins)
		w->spins--, cpu_relax();
	return 0;
}

static bool wait_irqs(unsigned count, uint64_t spins)
{
	struct irq_wait w = { .count = count, .spins = spins };

	irq_enable();
	run_in_user(spin_for_irqs, &w);
	irq_disable();
	return irq_vring >= count;
}

static void test_interrupt(void)
{
	struct vring_buf b = { .addr = (uintptr_t)entropy[0], .len = 16, .write = true };
	struct request r = { .bufs = &b, .n = 1 };
	uint32_t id, len;
	bool ok;

	report_prefix_push("interrupt");
	/* Everything so far was polled: acknowledge it all first. */
	virtio_write(&dev, VIRTIO_MMIO_INTERRUPT_ACK,
		     virtio_read(&dev, VIRTIO_MMIO_INTERRUPT_STATUS));
	apic_enable();
	idt_set_handler(IRQ_VECTOR, irq_handler);
	/* Fixed, physical, active high, level-triggered, unmasked: the MP
	 * table's routing of pins 16-23. The line may still be up from the
	 * polled requests (never EOI'd): that one arrives now, with no
	 * status bit set. */
	ioapic_write(IOAPIC_REDTBL + 2 * RNG_GSI + 1, apic_id() << 24);
	ioapic_write(IOAPIC_REDTBL + 2 * RNG_GSI, IRQ_VECTOR | IOAPIC_LEVEL);
	wait_irqs(1, 20000000);  /* let that one in */
	irq_count = irq_vring = 0;

	b.addr = (uintptr_t)entropy[0];
	r.head = vring_add(&vq, &b, 1);
	vring_kick(&vq);
	ok = wait_irqs(1, WAIT_SPINS);
	report(ok, "used-buffer interrupt on GSI %u (%u interrupts)", RNG_GSI, irq_count);
	report(vring_poll(&vq, &id, &len) && id == r.head && len == 16, "its buffer is used");
	report(virtio_read(&dev, VIRTIO_MMIO_INTERRUPT_STATUS) == 0, "acknowledged");

	/* EOI without acknowledging: the line comes back (level semantics). */
	irq_count = irq_vring = 0;
	eoi_before_ack = true;
	r.head = vring_add(&vq, &b, 1);
	vring_kick(&vq);
	ok = wait_irqs(2, WAIT_SPINS);
	report(ok, "an unacknowledged interrupt is raised again after EOI (%u interrupts)",
	       irq_count);
	report(vring_poll(&vq, &id, &len) && id == r.head, "its buffer is used");
	/* And the line goes quiet once acknowledged: give a storm a chance
	 * to show. One spurious interrupt (status 0) may come from the
	 * re-raise racing the EOI; a driver must tolerate those (§2.7.7). */
	wait_irqs(3, 20000000);
	report(irq_vring == 2 && irq_count <= 3 &&
	       virtio_read(&dev, VIRTIO_MMIO_INTERRUPT_STATUS) == 0,
	       "quiet once acknowledged (%u interrupts, %u with the used-buffer bit)", irq_count,
	       irq_vring);
	ioapic_write(IOAPIC_REDTBL + 2 * RNG_GSI, IRQ_VECTOR | IOAPIC_LEVEL | (1u << 16));
	report_prefix_pop();
}

int main(int argc __unused, char **argv __unused)
{
	report_prefix_push("virtio-rng");
	test_setup();
	test_entropy();
	test_ring_wraps();
	test_interrupt();
	report(!(virtio_status(&dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET), "device healthy at the end");
	return report_summary();
}
