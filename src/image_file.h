/* Kernel and initrd files, mapped read-only. */
#ifndef KVMRUN_IMAGE_FILE_H
#define KVMRUN_IMAGE_FILE_H

#include <stddef.h>
#include <stdint.h>

struct image_file {
	const uint8_t *data;
	size_t size;
};

/* Map `path` read-only. Refuses missing, unreadable, non-regular and empty
 * files with a one-line reason in err naming `what` ("kernel", "initrd")
 * and the path. Returns 0 or -errno. */
int image_file_open(struct image_file *img, const char *what, const char *path,
		    char *err, size_t errlen);
void image_file_close(struct image_file *img);

#endif
