#include "image_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int image_file_open(struct image_file *img, const char *what, const char *path,
		    char *err, size_t errlen)
{
	struct stat st;
	void *data;
	int fd, ret = 0;

	img->data = NULL;
	img->size = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		goto close_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s %s: not a regular file", what, path);
		goto close_fd;
	}
	if (st.st_size == 0) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s %s: the file is empty", what, path);
		goto close_fd;
	}
	/* MAP_PRIVATE: a later change to the file cannot alter what we load. */
	data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (data == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		goto close_fd;
	}
	img->data = data;
	img->size = (size_t)st.st_size;

close_fd:
	close(fd);
	return ret;
}

void image_file_close(struct image_file *img)
{
	if (img->data)
		munmap((void *)img->data, img->size);
	img->data = NULL;
	img->size = 0;
}
