/* Legacy platform device state. See device_state.h. */
#include "snapshot/device_state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "platform.h"
#include "snapshot/buf.h"
#include "snapshot/format.h"

/* --- 16550A UART --- */

static void uart_write_state(struct uart *u, struct snap_buf *b)
{
	pthread_mutex_lock(&u->lock);
	snap_buf_put_u8(b, u->ier);
	snap_buf_put_u8(b, u->lcr);
	snap_buf_put_u8(b, u->mcr);
	snap_buf_put_u8(b, u->scr);
	snap_buf_put_u8(b, u->dll);
	snap_buf_put_u8(b, u->dlm);
	snap_buf_put_u8(b, u->fcr);
	snap_buf_put_u8(b, u->lsr_errors);
	snap_buf_put_u8(b, u->msr_delta);
	snap_buf_put_u8(b, u->thre_pending);
	snap_buf_put(b, u->rx, sizeof(u->rx));
	snap_buf_put_u8(b, (uint8_t)u->rx_head);
	snap_buf_put_u8(b, (uint8_t)u->rx_count);
	snap_buf_put_u8(b, u->rx_last);
	snap_buf_put_u8(b, u->irq_level);
	pthread_mutex_unlock(&u->lock);
}

/* The interrupt line is not driven again: KVM's restored PIC and IOAPIC
 * already hold what it did (pending, in service, the PIC's edge latch),
 * and a fresh edge would be an interrupt the guest never had. */
static int uart_restore_state(struct uart *u, struct snap_cursor *c)
{
	uint8_t rx_head, rx_count;

	pthread_mutex_lock(&u->lock);
	u->ier = snap_get_u8(c);
	u->lcr = snap_get_u8(c);
	u->mcr = snap_get_u8(c);
	u->scr = snap_get_u8(c);
	u->dll = snap_get_u8(c);
	u->dlm = snap_get_u8(c);
	u->fcr = snap_get_u8(c);
	u->lsr_errors = snap_get_u8(c);
	u->msr_delta = snap_get_u8(c);
	u->thre_pending = snap_get_u8(c) != 0;
	snap_get(c, u->rx, sizeof(u->rx));
	rx_head = snap_get_u8(c);
	rx_count = snap_get_u8(c);
	u->rx_last = snap_get_u8(c);
	u->irq_level = snap_get_u8(c) != 0;
	u->rx_head = rx_head;
	u->rx_count = rx_count;
	pthread_mutex_unlock(&u->lock);
	return rx_head < UART_FIFO_SIZE && rx_count <= UART_FIFO_SIZE ? 0 : -EINVAL;
}

/* --- MC146818 RTC --- */

static void rtc_write_state(struct rtc *rtc, struct snap_buf *b)
{
	pthread_mutex_lock(&rtc->lock);
	snap_buf_put_u8(b, rtc->index);
	snap_buf_put(b, rtc->cmos, sizeof(rtc->cmos));
	snap_buf_put_u64(b, (uint64_t)rtc->offset);
	snap_buf_put_u64(b, (uint64_t)rtc->last_c_read);
	pthread_mutex_unlock(&rtc->lock);
}

/* The offset from the host's clock is what is kept: the RTC is a wall
 * clock, so a restored guest reads the real date (docs/snapshots.md). */
static int rtc_restore_state(struct rtc *rtc, struct snap_cursor *c)
{
	pthread_mutex_lock(&rtc->lock);
	rtc->index = snap_get_u8(c) & 0x7f;
	snap_get(c, rtc->cmos, sizeof(rtc->cmos));
	rtc->offset = (int64_t)snap_get_u64(c);
	rtc->last_c_read = (int64_t)snap_get_u64(c);
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

/* --- i8042 --- */

static void i8042_write_state(struct i8042 *k, struct snap_buf *b)
{
	pthread_mutex_lock(&k->lock);
	snap_buf_put(b, k->ram, sizeof(k->ram));
	snap_buf_put_u8(b, k->output_port);
	snap_buf_put_u8(b, k->sys_flag);
	snap_buf_put_u8(b, k->last_write_command);
	snap_buf_put_u8(b, k->pending);
	snap_buf_put_u8(b, k->out);
	snap_buf_put_u8(b, k->out_full);
	snap_buf_put_u8(b, k->out_aux);
	pthread_mutex_unlock(&k->lock);
}

static int i8042_restore_state(struct i8042 *k, struct snap_cursor *c)
{
	pthread_mutex_lock(&k->lock);
	snap_get(c, k->ram, sizeof(k->ram));
	k->output_port = snap_get_u8(c);
	k->sys_flag = snap_get_u8(c) != 0;
	k->last_write_command = snap_get_u8(c) != 0;
	k->pending = snap_get_u8(c);
	k->out = snap_get_u8(c);
	k->out_full = snap_get_u8(c) != 0;
	k->out_aux = snap_get_u8(c) != 0;
	pthread_mutex_unlock(&k->lock);
	return 0;
}

/* --- ACPI PM registers and timer --- */

static uint64_t monotonic_pm_ticks(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return acpi_pm_ticks(&t);
}

/* The PM timer is stored as its 64-bit count, not the host's clock, so
 * it continues from where it stopped, as kvmclock does. */
static void acpi_pm_write_state(struct acpi_pm *pm, struct snap_buf *b)
{
	pthread_mutex_lock(&pm->lock);
	snap_buf_put_u64(b, monotonic_pm_ticks() - pm->start_ticks);
	snap_buf_put_u64(b, pm->tmr_sts_since);
	snap_buf_put_u16(b, pm->pm1_en);
	snap_buf_put_u16(b, pm->pm1_cnt);
	pthread_mutex_unlock(&pm->lock);
}

static int acpi_pm_restore_state(struct acpi_pm *pm, struct snap_cursor *c)
{
	uint64_t count = snap_get_u64(c);

	pthread_mutex_lock(&pm->lock);
	pm->start_ticks = monotonic_pm_ticks() - count;
	pm->tmr_sts_since = snap_get_u64(c);
	pm->pm1_en = snap_get_u16(c);
	pm->pm1_cnt = snap_get_u16(c);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

/* --- PCI: the 0xcf8 latch and each device's writable configuration --- */

static void pci_write_state(struct pci_bus *bus, struct snap_buf *b)
{
	pthread_mutex_lock(&bus->lock);
	snap_buf_put_u32(b, bus->conf1_address);
	for (unsigned devfn = 0; devfn < PCI_NR_DEVFNS; devfn++) {
		struct pci_device *d = bus->devices[devfn];

		if (!d)
			continue;
		snap_buf_put_u16(b, (uint16_t)devfn);
		snap_buf_put_u16(b, atomic_load(&d->command));
		snap_buf_put(b, d->config, sizeof(d->config));
	}
	pthread_mutex_unlock(&bus->lock);
}

static int pci_restore_state(struct pci_bus *bus, struct snap_cursor *c)
{
	int ret = 0;

	pthread_mutex_lock(&bus->lock);
	bus->conf1_address = snap_get_u32(c);
	while (!c->overrun && c->off < c->len) {
		uint16_t devfn = snap_get_u16(c), command = snap_get_u16(c);
		struct pci_device *d = devfn < PCI_NR_DEVFNS ? bus->devices[devfn] : NULL;
		uint8_t config[PCI_CONFIG_SIZE];

		snap_get(c, config, sizeof(config));
		/* The same configuration builds the same bus. */
		if (!d) {
			ret = -EINVAL;
			break;
		}
		atomic_store(&d->command, command);
		memcpy(d->config, config, sizeof(config));
	}
	pthread_mutex_unlock(&bus->lock);
	return ret;
}

/* --- fw_cfg: which item is selected and how far it was read --- */

static void fw_cfg_write_state(struct fw_cfg *fw, struct snap_buf *b)
{
	pthread_mutex_lock(&fw->lock);
	snap_buf_put_u16(b, fw->key);
	snap_buf_put_u32(b, fw->offset);
	snap_buf_put_u64(b, fw->dma_address);
	pthread_mutex_unlock(&fw->lock);
}

static int fw_cfg_restore_state(struct fw_cfg *fw, struct snap_cursor *c)
{
	uint16_t key = snap_get_u16(c);
	uint32_t offset = snap_get_u32(c);
	uint64_t dma = snap_get_u64(c);

	if (key >= FW_CFG_NR_KEYS)
		return -EINVAL;
	pthread_mutex_lock(&fw->lock);
	fw->key = key;
	/* The kernel and initrd items are empty after a restore: a cursor
	 * inside them ends up at their (new) end. */
	fw->offset = offset < fw->items[key].size ? offset : fw->items[key].size;
	fw->dma_address = dma;
	pthread_mutex_unlock(&fw->lock);
	return 0;
}

/* --- the table --- */

struct device_section {
	uint32_t type;
	void (*write)(struct platform *p, struct snap_buf *b);
	int (*restore)(struct platform *p, struct snap_cursor *c);
};

static void w_uart(struct platform *p, struct snap_buf *b) { uart_write_state(&p->com1, b); }
static void w_rtc(struct platform *p, struct snap_buf *b) { rtc_write_state(&p->rtc, b); }
static void w_i8042(struct platform *p, struct snap_buf *b) { i8042_write_state(&p->i8042, b); }
static void w_pm(struct platform *p, struct snap_buf *b) { acpi_pm_write_state(&p->acpi_pm, b); }
static void w_pci(struct platform *p, struct snap_buf *b) { pci_write_state(&p->pci, b); }
static void w_fw(struct platform *p, struct snap_buf *b) { fw_cfg_write_state(&p->fw_cfg, b); }
static int r_uart(struct platform *p, struct snap_cursor *c) { return uart_restore_state(&p->com1, c); }
static int r_rtc(struct platform *p, struct snap_cursor *c) { return rtc_restore_state(&p->rtc, c); }
static int r_i8042(struct platform *p, struct snap_cursor *c) { return i8042_restore_state(&p->i8042, c); }
static int r_pm(struct platform *p, struct snap_cursor *c) { return acpi_pm_restore_state(&p->acpi_pm, c); }
static int r_pci(struct platform *p, struct snap_cursor *c) { return pci_restore_state(&p->pci, c); }
static int r_fw(struct platform *p, struct snap_cursor *c) { return fw_cfg_restore_state(&p->fw_cfg, c); }

static const struct device_section device_sections[] = {
	{ SNAP_SEC_DEV_UART, w_uart, r_uart },
	{ SNAP_SEC_DEV_RTC, w_rtc, r_rtc },
	{ SNAP_SEC_DEV_I8042, w_i8042, r_i8042 },
	{ SNAP_SEC_DEV_ACPI_PM, w_pm, r_pm },
	{ SNAP_SEC_DEV_PCI, w_pci, r_pci },
	{ SNAP_SEC_DEV_FW_CFG, w_fw, r_fw },
};

#define NR_DEVICE_SECTIONS (sizeof(device_sections) / sizeof(device_sections[0]))

void device_state_write(struct platform *p, struct snap_writer *w)
{
	for (size_t i = 0; i < NR_DEVICE_SECTIONS; i++) {
		snap_writer_begin(w, device_sections[i].type, 0, 0);
		device_sections[i].write(p, &w->buf);
		snap_writer_end(w);
	}
}

int device_state_restore(struct platform *p, const struct snap_reader *r, char *err, size_t errlen)
{
	for (size_t i = 0; i < NR_DEVICE_SECTIONS; i++) {
		uint32_t type = device_sections[i].type;
		const struct snap_section *s = snap_reader_find(r, type, 0);
		struct snap_cursor c;

		if (!s) {
			snprintf(err, errlen, "section %s[0] is missing", snap_section_name(type));
			return -EINVAL;
		}
		snap_cursor_init(&c, s->data, s->len);
		if (device_sections[i].restore(p, &c) < 0 || !snap_cursor_done(&c)) {
			snprintf(err, errlen, "section %s[0]: %llu bytes that do not decode as this device's state",
				 snap_section_name(type), (unsigned long long)s->len);
			return -EINVAL;
		}
	}
	return 0;
}
