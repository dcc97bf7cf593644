/* The smallest useful workload: a statically linked "hello, world" (no dynamic loader). */
#include <stdio.h>

int main(void)
{
	puts("hello, world");
	return 0;
}
