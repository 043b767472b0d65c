/* A popped chain's bytes as an iovec array, for back-ends that hand guest
 * buffers straight to a system call (readv/writev, sendmsg/recvmsg,
 * io_uring) instead of copying them. See virtq_chain_iov() in queue.h. */
#include "virtio/queue.h"

#include <assert.h>

unsigned virtq_chain_iov(const struct virtq_chain *chain, bool writable, size_t offset,
			 size_t len, struct iovec iov[static VIRTQ_MAX_SIZE])
{
	/* §2.7.4.2: virtq_pop() put the readable segments first. */
	unsigned first = writable ? chain->nr_out : 0;
	unsigned end = first + (writable ? chain->nr_in : chain->nr_out);
	unsigned count = 0;

	/* virtq_pop()'s hop budget: never more segments than the queue
	 * size, so never more iovecs than `iov` holds. */
	assert(chain->nr_out + chain->nr_in <= VIRTQ_MAX_SIZE);
	for (unsigned i = first; i < end && len; i++) {
		const struct virtq_segment *s = &chain->seg[i];
		size_t take;

		/* Skip whole segments before `offset`; offset + len is never
		 * formed, so no value of either can wrap. */
		if (offset >= s->len) {
			offset -= s->len;
			continue;
		}
		take = s->len - offset < len ? s->len - offset : len;
		iov[count++] = (struct iovec){ (uint8_t *)s->host + offset, take };
		len -= take;
		offset = 0;
	}
	return count;
}
