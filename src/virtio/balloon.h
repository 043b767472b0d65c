/* virtio-balloon, the traditional memory balloon (virtio 1.2 §5.5).
 *
 * The host sets a target (num_pages, in 4 KiB pages); the driver gives
 * pages to the balloon on the inflate queue and takes them back on the
 * deflate queue, as arrays of 32-bit page frame numbers (PFN = guest
 * physical address >> 12, whatever the guest's page size, §5.5.6), and
 * reports how many pages it holds in `actual`. kvmrun gives every inflated
 * page's memory back to the host: guest RAM is a memfd (memory.h), so the
 * pages are punched out of it (fallocate PUNCH_HOLE, which also unmaps
 * them from every mapping, KVM's included); the guest reads zeros there
 * afterwards. Deflating needs no work: a page comes back, zero-filled, when
 * the guest touches it.
 *
 * With VIRTIO_BALLOON_F_STATS_VQ the driver keeps one buffer of memory
 * statistics in the stats queue; the device holds it and, when it wants
 * fresh values, gives it back (every `stats_interval` seconds, or on
 * virtio_balloon_request_stats()); the driver refills and re-adds it
 * (§5.5.6.3). The latest values are kept for virtio_balloon_get_stats().
 *
 * Everything is on the event-loop thread except the configuration space
 * (vCPU threads) and the control calls (any thread); all under the
 * transport's device lock. What a hostile driver can and cannot do is in
 * docs/virtio-balloon.md. */
#ifndef KVMRUN_VIRTIO_BALLOON_H
#define KVMRUN_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "virtio/mmio.h"

#define VIRTIO_ID_BALLOON 5

/* Feature bits (§5.5.3). MUST_TELL_HOST is not offered: deflating needs
 * nothing from us, so the driver may reuse pages before telling. */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ       1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2

/* Queues (§5.5.2); the stats queue exists only with STATS_VQ. */
#define VIRTIO_BALLOON_INFLATEQ 0
#define VIRTIO_BALLOON_DEFLATEQ 1
#define VIRTIO_BALLOON_STATSQ   2

#define VIRTIO_BALLOON_PFN_SHIFT  12
#define VIRTIO_BALLOON_PAGE_SIZE  (1u << VIRTIO_BALLOON_PFN_SHIFT)
#define VIRTIO_BALLOON_QUEUE_SIZE 256

/* Work bounds for the event loop (a guest may offer huge PFN arrays and
 * pathological ones: alternating PFNs defeat coalescing, and each range
 * costs a fallocate, ~1 us). A buffer contributes at most
 * MAX_PFNS_PER_BUFFER PFNs (256 MiB of guest memory; Linux sends 256 per
 * buffer); the rest are ignored and counted. A notification handles
 * buffers until PFN_BUDGET PFNs are done, then comes back on its own
 * later, after the loop's other work. */
#define VIRTIO_BALLOON_MAX_PFNS_PER_BUFFER 65536u
#define VIRTIO_BALLOON_PFN_BUDGET          65536u

/* Statistics tags (§5.5.6.3): 0-9 are the spec's; Linux also sends
 * 10-15 (OOM kills, allocation stalls, scans, reclaims). Tags at or above
 * VIRTIO_BALLOON_S_NR are ignored, as the spec requires of unknown ones. */
#define VIRTIO_BALLOON_S_SWAP_IN  0
#define VIRTIO_BALLOON_S_SWAP_OUT 1
#define VIRTIO_BALLOON_S_MAJFLT   2
#define VIRTIO_BALLOON_S_MINFLT   3
#define VIRTIO_BALLOON_S_MEMFREE  4
#define VIRTIO_BALLOON_S_MEMTOT   5
#define VIRTIO_BALLOON_S_AVAIL    6
#define VIRTIO_BALLOON_S_CACHES   7
#define VIRTIO_BALLOON_S_HTLB_PGALLOC 8
#define VIRTIO_BALLOON_S_HTLB_PGFAIL  9
#define VIRTIO_BALLOON_S_NR       16
/* Entries parsed per stats buffer: a driver sends each tag once. */
#define VIRTIO_BALLOON_MAX_STAT_ENTRIES 64
#define VIRTIO_BALLOON_STAT_ENTRY_SIZE  10   /* le16 tag, le64 val, packed */

/* Device configuration space (§5.5.4): the two fields that exist without
 * FREE_PAGE_HINT and PAGE_POISON. */
#define VIRTIO_BALLOON_CONFIG_NUM_PAGES 0
#define VIRTIO_BALLOON_CONFIG_ACTUAL    4
#define VIRTIO_BALLOON_CONFIG_SIZE      8

struct virtio_balloon_options {
	uint32_t target_pages;       /* initial num_pages */
	unsigned stats_interval;     /* seconds between stats requests; 0: never */
	bool deflate_on_oom;         /* offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM */
};

/* What the device saw, for tests, --exit-stats and a future control API. */
struct virtio_balloon_stats {
	uint32_t num_pages;          /* the target */
	uint32_t actual;             /* what the driver last wrote */
	uint64_t balloon_pages;      /* pages in the balloon by our own count
				      * (inflated and not deflated, each once) */
	uint64_t inflated_pages;     /* valid PFNs received on the inflate queue */
	uint64_t deflated_pages;     /* valid PFNs received on the deflate queue */
	uint64_t released_bytes;     /* punched out of guest RAM */
	uint64_t invalid_pfns;       /* outside RAM (device hole, beyond the end): ignored */
	uint64_t ignored_pfns;       /* beyond MAX_PFNS_PER_BUFFER: ignored */
	uint64_t discard_errors;     /* fallocate/madvise failures */
	uint64_t stats_updates;      /* stats buffers received */
	uint64_t stats_requests;     /* stats buffers given back for a refresh */
	bool stat_valid[VIRTIO_BALLOON_S_NR];
	uint64_t stat[VIRTIO_BALLOON_S_NR];   /* the latest value per tag */
};

struct event_loop;

struct virtio_balloon {
	struct virtio_mmio mmio;
	const struct guest_memory *mem;
	unsigned stats_interval;
	int timer_fd;                      /* stats requests; -1 without */
	struct event_loop *loop;

	/* Under mmio.lock: */
	struct virtio_balloon_stats st;
	uint8_t *in_balloon;               /* a bit per RAM page (by host offset) */
	uint64_t nr_pages;                 /* RAM pages: bits in in_balloon */
	bool stats_held;                   /* the driver's stats buffer is ours */
	uint16_t stats_head;
	uint32_t stats_epoch;
	bool discard_error_logged;
};

/* A balloon on the virtio-mmio window at `base` with line `gsi`, over
 * guest RAM `mem`. Returns 0 or -errno. */
int virtio_balloon_init(struct virtio_balloon *b, const struct guest_memory *mem, uint64_t base,
			unsigned gsi, const struct virtio_balloon_options *opts);

/* Make it live (virtio_mmio_attach) and start the stats timer. Returns 0
 * or -errno (logged); undone by virtio_balloon_destroy. */
int virtio_balloon_attach(struct virtio_balloon *b, struct vm *vm, struct event_loop *loop);
void virtio_balloon_destroy(struct virtio_balloon *b);

/* Set the target (num_pages) and tell the driver by a configuration-change
 * interrupt (§2.5.1), if it is running. Any thread but the device's
 * callbacks (takes the lock). kvmrun's only caller so far is the initial
 * --balloon target=; runtime changes will come from the control API. */
void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t pages);

/* Give the driver its stats buffer back so that it refills it (what the
 * stats timer does). Returns 0, or -EAGAIN when the device holds no
 * buffer (not negotiated, not yet given, or already returned). Any thread
 * but the device's callbacks. */
int virtio_balloon_request_stats(struct virtio_balloon *b);

/* A consistent copy of the device's counters and the latest statistics. */
void virtio_balloon_get_stats(struct virtio_balloon *b, struct virtio_balloon_stats *out);

/* The counters and statistics, a few lines for --exit-stats. */
void virtio_balloon_print_stats(struct virtio_balloon *b, FILE *out);

#endif
