/* Triple fault on purpose: with an empty IDT (limit 0) the #BP from int3
 * cannot be delivered (#GP), nor can that #GP (#DF), nor the #DF: the CPU
 * shuts down (SDM vol. 3 §6.15, interrupt 8). kvmrun must report a guest
 * crash (exit status 4), not hang or exit 0. */
#include "desc.h"
#include "libguest.h"

int main(int argc __unused, char **argv __unused)
{
	printf("triple_fault: loading an empty IDT and executing int3\n");
	idt_load_empty();
	__asm__ volatile("int3");
	printf("triple_fault: still running after int3 with an empty IDT\n");
	return GUEST_EXIT_FAIL;
}
