/* An exec function as a static C binary: the request on stdin, its upper-case on stdout.
 * Built with -static (examples/meson.build): it needs no library from the view. */
#include <ctype.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	char buf[65536];
	ssize_t n;
	while ((n = read(0, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			buf[i] = (char)toupper((unsigned char)buf[i]);
		if (write(1, buf, (size_t)n) != n)
			return 1;
	}
	return n < 0 ? 1 : 0;
}
