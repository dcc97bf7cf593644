/* YCSB workloads (ycsb.h) in process, against raw LMDB (the limit: our LMDB backend with
 * the records' names as keys and values in the clear) or the sealed engine over the same
 * backend (src/state/engine.c: keyed hashes, XChaCha20-Poly1305, the index, the heads).
 * Operations go in batches of BATCH: one transaction (one fsync) for a batch's writes, as
 * the monitor's group commit makes them; BATCH 1 is an fsync per write.
 *
 *   ycsb raw|engine FILE RECORDS OPS BATCH WORKLOADS
 *
 * Loads RECORDS records into a fresh FILE, then runs OPS operations of each workload (A, B,
 * C, F) and prints one JSON object per workload: {"mode", "workload", "batch", "ops",
 * "seconds", "ops_per_s"}. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "../bench/benchutil.h"
#include "../bench/ycsb.h"
#include "state/engine.h"

static const uint8_t master[CIT_SEAL_KEY_LEN] = "ycsb-bench-master-key-0123456789";
static struct cit_backend *b;
static struct cit_engine *e;
static struct cit_ns *ns;
static bool raw;
static uint8_t out[YCSB_VALUE * 2];
static uint64_t reads_ok;

static void raw_key(uint8_t key[CIT_BACKEND_KEY_LEN], uint64_t i)
{
	memset(key, 0, CIT_BACKEND_KEY_LEN);
	ycsb_key(i, (char *)key);
}

static void got(void *ctx, struct cit_engine_op *op, const uint8_t *value, size_t len)
{
	(void)ctx, (void)op, (void)value;
	reads_ok += len == YCSB_VALUE;
}

/* One batch of n operations: kind[i] (0 read, 1 write) on record rec[i]. */
static void run_batch(const int *kind, const uint64_t *rec, size_t n, uint64_t version)
{
	static uint8_t values[1024][YCSB_VALUE];
	static char names[1024][24];
	struct cit_error err = { 0 };
	if (raw) {
		struct cit_kv_op ops[1024];
		size_t w = 0;
		for (size_t i = 0; i < n; i++) {
			uint8_t key[CIT_BACKEND_KEY_LEN];
			raw_key(key, rec[i]);
			if (kind[i] == 0) {
				size_t len = 0;
				if (cit_backend_get(b, key, out, sizeof(out), &len, &err) == 0 && len == YCSB_VALUE)
					reads_ok++;
				continue;
			}
			ycsb_value(rec[i], version + i, values[w]);
			ops[w] = (struct cit_kv_op){ .kind = CIT_KV_PUT, .record = values[w], .len = YCSB_VALUE };
			memcpy(ops[w++].key, key, CIT_BACKEND_KEY_LEN);
		}
		if (w && cit_backend_apply(b, ops, w, &err) < 0) {
			fprintf(stderr, "ycsb: %s\n", err.msg);
			exit(1);
		}
		return;
	}
	struct cit_engine_op ops[1024];
	for (size_t i = 0; i < n; i++) {
		size_t klen = ycsb_key(rec[i], names[i]);
		ops[i] = (struct cit_engine_op){ .kind = kind[i] ? CIT_ENGINE_PUT : CIT_ENGINE_GET, .ns = ns,
						 .name = names[i], .nlen = klen };
		if (kind[i]) {
			ycsb_value(rec[i], version + i, values[i]);
			ops[i].value = values[i];
			ops[i].vlen = YCSB_VALUE;
		}
	}
	if (cit_engine_run(e, ops, n, got, NULL, &err) < 0) {
		fprintf(stderr, "ycsb: %s\n", err.msg);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: ycsb raw|engine FILE RECORDS OPS BATCH WORKLOADS\n");
		return 2;
	}
	raw = !strcmp(argv[1], "raw");
	uint64_t records = strtoull(argv[3], NULL, 10), nops = strtoull(argv[4], NULL, 10);
	size_t batch = strtoul(argv[5], NULL, 10);
	if (batch < 1 || batch > 512)
		return 2;
	unlink(argv[2]);
	struct cit_error err = { 0 };
	struct cit_backend_opts o = { .path = argv[2], .map_bytes = 256u << 20, .map_max = 4ull << 30 };
	if (cit_lmdb_open(&b, &o, &err) < 0 || (!raw && cit_engine_open(&e, b, master, &err) < 0) ||
	    (!raw && !(ns = cit_engine_ns(e, "ycsb", &err)))) {
		fprintf(stderr, "ycsb: %s\n", err.msg);
		return 1;
	}
	if (ns)
		cit_ns_limits(ns, 1ull << 32, 0);
	int kind[1024];
	uint64_t rec[1024];
	for (uint64_t i = 0; i < records; i += 512) { /* the load: 512 inserts a transaction */
		size_t n = records - i < 512 ? (size_t)(records - i) : 512;
		for (size_t k = 0; k < n; k++)
			kind[k] = 1, rec[k] = i + k;
		run_batch(kind, rec, n, 0);
	}
	struct zipf z;
	zipf_init(&z, records, 42);
	for (const char *w = argv[6]; *w; w++) {
		int read_pct = ycsb_read_pct(*w);
		if (read_pct < 0)
			return 2;
		uint64_t s = 7, t0 = now_ns(), done = 0;
		reads_ok = 0;
		uint64_t expected_reads = 0;
		while (done < nops) {
			size_t n = 0;
			while (n < batch && done < nops) {
				uint64_t r = zipf_next(&z);
				bool read = (int)(ycsb_rand(&s) % 100) < read_pct;
				if (read || *w == 'F') { /* F: a read before each write too */
					kind[n] = 0, rec[n++] = r;
					expected_reads++;
				}
				if (!read && n < 1024)
					kind[n] = 1, rec[n++] = r;
				done++;
			}
			run_batch(kind, rec, n, done);
		}
		double secs = (double)(now_ns() - t0) / 1e9;
		if (reads_ok != expected_reads) {
			fprintf(stderr, "ycsb: %llu of %llu reads found their record\n", (unsigned long long)reads_ok,
				(unsigned long long)expected_reads);
			return 1;
		}
		printf("{\"mode\": \"%s\", \"workload\": \"%c\", \"batch\": %zu, \"ops\": %llu, \"seconds\": %.4f, "
		       "\"ops_per_s\": %.0f}\n",
		       argv[1], *w, batch, (unsigned long long)nops, secs, (double)nops / secs);
		fflush(stdout);
	}
	cit_engine_close(e);
	cit_backend_close(b);
	unlink(argv[2]);
	return 0;
}
