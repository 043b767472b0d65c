/* Triple fault on purpose: with an empty IDT (limit 0) the #UD from ud2
 * cannot be delivered (#GP), nor can that #GP (#DF), nor the #DF: the CPU
 * shuts down (SDM vol. 3 §6.15, interrupt 8). kvmrun must report a guest
 * crash (exit status 4), not hang or exit 0. (ud2 rather than int3: this
 * project's nested KVM cannot emulate `int n` at CPL 0 and stops with an
 * internal error instead.) */
#include "desc.h"
#include "libguest.h"

int main(int argc __unused, char **argv __unused)
{
	printf("triple_fault: loading an empty IDT and executing ud2\n");
	idt_load_empty();
	__asm__ volatile("ud2");
	printf("triple_fault: still running after ud2 with an empty IDT\n");
	return GUEST_EXIT_FAIL;
}
