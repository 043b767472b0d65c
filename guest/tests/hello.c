/* The smallest guest: one line on the serial console, exit status 0. */
#include "libguest.h"

int main(int argc __unused, char **argv __unused)
{
	printf("hello from the guest\n");
	return 0;
}
