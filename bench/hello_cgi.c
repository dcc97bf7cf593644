/* hello_cgi: examples/hello.c as a CGI program, for bench/http_bench.py's nginx +
 * fcgiwrap column (a process per request, the way OpenFaaS's classic watchdog runs a
 * function): reads CONTENT_LENGTH bytes of body and answers "Hello, BODY!\n". */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	const char *cl = getenv("CONTENT_LENGTH");
	long n = cl ? strtol(cl, NULL, 10) : 0;
	static char body[65536];
	size_t len = n > 0 ? fread(body, 1, (size_t)n < sizeof(body) ? (size_t)n : sizeof(body), stdin) : 0;
	printf("Content-Type: text/plain\r\n\r\nHello, ");
	if (len)
		fwrite(body, 1, len, stdout);
	else
		fputs("world", stdout);
	fputs("!\n", stdout);
	return 0;
}
