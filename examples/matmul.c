/* matmul: a CPU- and memory-bound benchmark function.
 *
 * The request is a decimal integer N, 1 <= N <= 1024, with optional whitespace around it.
 * Builds the N x N matrices A[i][j] = (i + j) % 7 and B[i][j] = (i * j) % 5, computes
 * C = A * B and responds "n=N trace=T sum=S\n" (T the trace of C, S the sum of its
 * entries, both printed with %.0f; every value is an integer well inside a double's exact
 * range). N = 1024 needs 24 MiB and about 10^9 multiply-adds. */
#include <citadel/function.h>

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_N 1024

/* Parses the request as N; returns 0 when it is not a valid size. */
static size_t parse_size(const char *p, size_t len)
{
	size_t n = 0, digits = 0;

	while (len > 0 && isspace((unsigned char)*p))
		p++, len--;
	while (len > 0 && isspace((unsigned char)p[len - 1]))
		len--;
	for (; digits < len; digits++) {
		if (!isdigit((unsigned char)p[digits]))
			return 0;
		n = n * 10 + (size_t)(p[digits] - '0');
		if (n > MAX_N)
			return 0;
	}
	return n;
}

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	size_t n = req->len > 0 ? parse_size(req->data, req->len) : 0;
	if (n == 0)
		return cit_fail(resp, -EINVAL, "matrix size must be 1..%d", MAX_N);

	double *a = malloc(n * n * sizeof *a);
	double *b = malloc(n * n * sizeof *b);
	double *c = calloc(n * n, sizeof *c);
	if (!a || !b || !c) {
		free(a), free(b), free(c);
		return cit_fail(resp, -ENOMEM, "out of memory for %zux%zu matrices", n, n);
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			a[i * n + j] = (double)((i + j) % 7);
			b[i * n + j] = (double)((i * j) % 5);
		}
	/* i-k-j order walks B and C row by row, which keeps the inner loop in cache. */
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < n; k++) {
			double aik = a[i * n + k];
			for (size_t j = 0; j < n; j++)
				c[i * n + j] += aik * b[k * n + j];
		}

	double trace = 0, sum = 0;
	for (size_t i = 0; i < n; i++) {
		trace += c[i * n + i];
		for (size_t j = 0; j < n; j++)
			sum += c[i * n + j];
	}
	free(a), free(b), free(c);
	return cit_respondf(resp, "n=%zu trace=%.0f sum=%.0f\n", n, trace, sum);
}
