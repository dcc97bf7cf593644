/* YCSB workloads (ycsb.h) through the function API: a function that runs them against its
 * own namespace with cit_kv_batch, BATCH operations a request (the monitor group-commits a
 * request's writes, and those of requests that wait together). Its request:
 *   load RECORDS             RECORDS inserts, 512 a batch
 *   run W OPS BATCH SEED     OPS operations of workload W
 * Its response: "ops=N ns=T reads=R found=F" (T: nanoseconds inside the function). Used by
 * bench/state_bench.py. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <citadel/function.h>

#include "../bench/benchutil.h"
#include "../bench/ycsb.h"

static uint8_t values[1024][YCSB_VALUE];
static char names[1024][24];
static struct zipf z;
static uint64_t z_records;

static int batch(struct cit_kv_op *ops, size_t n, uint64_t *found)
{
	int rc = cit_kv_batch(NULL, ops, n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (ops[i].kind == CIT_KV_GET && ops[i].rc == 0 && ops[i].vlen == YCSB_VALUE)
			(*found)++;
		else if (ops[i].kind == CIT_KV_PUT && ops[i].rc < 0)
			rc = ops[i].rc;
	}
	return rc;
}

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	char cmd[128] = { 0 };
	memcpy(cmd, req->data, req->len < sizeof(cmd) - 1 ? req->len : sizeof(cmd) - 1);
	static struct cit_kv_op ops[1024];
	uint64_t found = 0, reads = 0, t0 = now_ns(), nops = 0;
	unsigned long long records, count, bsize, seed;
	char w;
	int rc = 0;
	if (sscanf(cmd, "load %llu", &records) == 1) {
		for (uint64_t i = 0; i < records && rc == 0; i += 512) {
			size_t n = records - i < 512 ? (size_t)(records - i) : 512;
			for (size_t k = 0; k < n; k++) {
				ycsb_value(i + k, 0, values[k]);
				ops[k] = (struct cit_kv_op){ .kind = CIT_KV_PUT, .key = names[k], .klen = ycsb_key(i + k, names[k]),
							     .value = values[k], .vlen = YCSB_VALUE };
			}
			rc = batch(ops, n, &found);
		}
		nops = records;
	} else if (sscanf(cmd, "run %c %llu %llu %llu %llu", &w, &count, &bsize, &seed, &records) == 5 && bsize >= 1 &&
		   bsize <= 512 && ycsb_read_pct(w) >= 0) {
		if (z_records != records) {
			zipf_init(&z, records, 42);
			z_records = records;
		}
		z.rng = seed | 1;
		uint64_t s = seed * 7 + 1;
		int read_pct = ycsb_read_pct(w);
		while (nops < count && rc == 0) {
			size_t n = 0;
			while (n + 2 <= 1024 && n < bsize && nops < count) {
				uint64_t r = zipf_next(&z);
				bool read = (int)(ycsb_rand(&s) % 100) < read_pct;
				if (read || w == 'F') {
					ops[n] = (struct cit_kv_op){ .kind = CIT_KV_GET, .key = names[n],
								     .klen = ycsb_key(r, names[n]) };
					n++;
					reads++;
				}
				if (!read) {
					ycsb_value(r, nops, values[n]);
					ops[n] = (struct cit_kv_op){ .kind = CIT_KV_PUT, .key = names[n],
								     .klen = ycsb_key(r, names[n]), .value = values[n],
								     .vlen = YCSB_VALUE };
					n++;
				}
				nops++;
			}
			rc = batch(ops, n, &found);
		}
	} else {
		return cit_fail(resp, -EINVAL, "load RECORDS | run W OPS BATCH SEED RECORDS"), 0;
	}
	if (rc < 0)
		return cit_fail(resp, rc, "%s", cit_kv_error()), 0;
	cit_respondf(resp, "ops=%llu ns=%llu reads=%llu found=%llu", (unsigned long long)nops,
		     (unsigned long long)(now_ns() - t0), (unsigned long long)reads, (unsigned long long)found);
	return 0;
}
