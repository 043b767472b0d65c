#include "devices/acpi_pm.h"

#include <stdbool.h>
#include <string.h>

#define NSEC_PER_SEC 1000000000ULL

/* What the guest can change in PM1_EN and PM1_CNT; the rest reads 0 (or,
 * for SCI_EN, always 1). */
#define PM1_EN_WRITABLE  (ACPI_PM1_TMR_EN | ACPI_PM1_GBL_EN | ACPI_PM1_PWRBTN_EN | \
			  ACPI_PM1_SLPBTN_EN | ACPI_PM1_RTC_EN)
#define PM1_CNT_STORED   (ACPI_PM1_BM_RLD | ACPI_PM1_SLP_TYP_MASK)

/* Bit 31 of the count: TMR_STS is set whenever it changes (TMR_VAL_EXT). */
#define TMR_STS_SHIFT    31

uint64_t acpi_pm_ticks(const struct timespec *t)
{
	/* Seconds and nanoseconds separately: tv_nsec * HZ stays below 2^52,
	 * and the sum only wraps modulo 2^64 (after 160,000 years), which
	 * neither the 32-bit register nor TMR_STS can tell from a carry. */
	return (uint64_t)t->tv_sec * ACPI_PM_TIMER_HZ +
	       (uint64_t)t->tv_nsec * ACPI_PM_TIMER_HZ / NSEC_PER_SEC;
}

static uint64_t acpi_pm_now(const struct acpi_pm *pm)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return acpi_pm_ticks(&t) - pm->start_ticks;
}

void acpi_pm_init(struct acpi_pm *pm, struct stop_request stop)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	/* A default mutex holds no resources: the static initializer cannot
	 * fail and needs no destroy. */
	*pm = (struct acpi_pm){
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.start_ticks = acpi_pm_ticks(&t),
		.stop = stop,
	};
	atomic_init(&pm->ignored_sleeps, 0);
}

uint32_t acpi_pm_timer_read(struct acpi_pm *pm)
{
	return (uint32_t)acpi_pm_now(pm);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* The whole block as the guest would read it now. Lock held. */
static void acpi_pm_image(struct acpi_pm *pm, uint8_t img[ACPI_PM_LEN])
{
	uint64_t now = acpi_pm_now(pm);
	bool tmr_sts = (now >> TMR_STS_SHIFT) != (pm->tmr_sts_since >> TMR_STS_SHIFT);

	put16(img + ACPI_PM1_STS, tmr_sts ? ACPI_PM1_TMR_STS : 0);
	put16(img + ACPI_PM1_EN, pm->pm1_en);
	put16(img + ACPI_PM1_CNT, (uint16_t)(pm->pm1_cnt | ACPI_PM1_SCI_EN));
	put16(img + ACPI_PM1_CNT + 2, 0);
	put16(img + ACPI_PM_TMR, (uint16_t)now);
	put16(img + ACPI_PM_TMR + 2, (uint16_t)(now >> 16));
}

static bool acpi_pm_in_block(uint64_t offset, unsigned size)
{
	return offset < ACPI_PM_LEN && size <= ACPI_PM_LEN - offset;
}

static void acpi_pm_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint8_t img[ACPI_PM_LEN];

	if (offset == ACPI_PM_TMR && size == ACPI_PM_TMR_LEN) {
		uint32_t v = acpi_pm_timer_read(pm);

		memcpy(data, &v, sizeof(v));  /* x86: little-endian, as the bus wants */
		return;
	}
	if (!acpi_pm_in_block(offset, size)) {
		memset(data, 0xff, size);
		return;
	}
	pthread_mutex_lock(&pm->lock);
	acpi_pm_image(pm, img);
	pthread_mutex_unlock(&pm->lock);
	memcpy(data, img + offset, size);
}

/* The bytes of the 16-bit register at `reg` that a write of `size` bytes
 * at `offset` covers: their new value and a mask of them. */
static uint16_t acpi_pm_reg16(uint64_t offset, const uint8_t *data, unsigned size, unsigned reg,
			      uint16_t *mask)
{
	uint16_t value = 0;

	*mask = 0;
	for (unsigned i = 0; i < 2; i++) {
		uint64_t at = reg + i;

		if (at >= offset && at - offset < size) {
			value |= (uint16_t)(data[at - offset] << (8 * i));
			*mask |= (uint16_t)(0xff << (8 * i));
		}
	}
	return value;
}

/* Returns true if the write asks for S5 (soft off). Lock held. */
static bool acpi_pm_write_locked(struct acpi_pm *pm, uint64_t offset, const uint8_t *data,
				 unsigned size)
{
	uint16_t mask, value;

	value = acpi_pm_reg16(offset, data, size, ACPI_PM1_STS, &mask);
	if (mask & value & ACPI_PM1_TMR_STS)
		pm->tmr_sts_since = acpi_pm_now(pm);   /* write 1 to clear */

	value = acpi_pm_reg16(offset, data, size, ACPI_PM1_EN, &mask);
	mask &= PM1_EN_WRITABLE;
	pm->pm1_en = (uint16_t)((pm->pm1_en & ~mask) | (value & mask));

	value = acpi_pm_reg16(offset, data, size, ACPI_PM1_CNT, &mask);
	pm->pm1_cnt = (uint16_t)((pm->pm1_cnt & ~(mask & PM1_CNT_STORED)) |
				 (value & mask & PM1_CNT_STORED));
	if (mask & value & ACPI_PM1_SLP_EN) {
		unsigned typ = (pm->pm1_cnt & ACPI_PM1_SLP_TYP_MASK) >> ACPI_PM1_SLP_TYP_SHIFT;

		if (typ == ACPI_PM_SLP_TYP_S5)
			return true;
		atomic_fetch_add_explicit(&pm->ignored_sleeps, 1, memory_order_relaxed);
	}
	/* PM_TMR is read-only; the reserved word ignores writes. */
	return false;
}

static void acpi_pm_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct acpi_pm *pm = opaque;
	bool poweroff;

	if (!acpi_pm_in_block(offset, size))
		return;
	pthread_mutex_lock(&pm->lock);
	poweroff = acpi_pm_write_locked(pm, offset, data, size);
	pthread_mutex_unlock(&pm->lock);
	if (poweroff)
		stop_request_send(&pm->stop, VM_STOP_POWEROFF, 0);
}

const struct bus_device_ops acpi_pm_ops = {
	.read = acpi_pm_read,
	.write = acpi_pm_write,
};
