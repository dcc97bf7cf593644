/* YCSB's core workloads, as a driver of our own (there is no YCSB package): record keys
 * "user" + a number, 1 KiB values, keys chosen by YCSB's scrambled zipfian distribution
 * (constant 0.99, Gray et al.'s generator, the chosen rank hashed with FNV-1a over the
 * records so that the popular keys are spread), and the operation mixes of
 *   A  50% reads, 50% updates           (update heavy)
 *   B  95% reads, 5% updates            (read mostly)
 *   C  100% reads                        (read only)
 *   F  50% reads, 50% read-modify-writes (a read, then a write of the same key)
 * Header-only: built into bench/ycsb.c (raw LMDB and the sealed engine, in process) and
 * bench/ycsb_fn.c (a function, through the key-value API). */
#pragma once

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define YCSB_VALUE 1024

struct zipf {
	uint64_t n;
	double theta, alpha, zetan, eta, half_pow;
	uint64_t rng;
};

static inline uint64_t ycsb_rand(uint64_t *s) /* xorshift64* */
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static inline void zipf_init(struct zipf *z, uint64_t n, uint64_t seed)
{
	z->n = n;
	z->theta = 0.99;
	z->rng = seed | 1;
	double zeta2 = 0;
	z->zetan = 0;
	for (uint64_t i = 1; i <= n; i++)
		z->zetan += 1.0 / pow((double)i, z->theta);
	for (uint64_t i = 1; i <= 2; i++)
		zeta2 += 1.0 / pow((double)i, z->theta);
	z->alpha = 1.0 / (1.0 - z->theta);
	z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - z->theta)) / (1.0 - zeta2 / z->zetan);
	z->half_pow = 1.0 + pow(0.5, z->theta);
}

/* The next record's number, 0 to n-1. */
static inline uint64_t zipf_next(struct zipf *z)
{
	double u = (double)(ycsb_rand(&z->rng) >> 11) / (double)(1ull << 53);
	double uz = u * z->zetan;
	uint64_t rank;
	if (uz < 1.0)
		rank = 0;
	else if (uz < z->half_pow)
		rank = 1;
	else
		rank = (uint64_t)((double)z->n * pow(z->eta * u - z->eta + 1.0, z->alpha));
	if (rank >= z->n)
		rank = z->n - 1;
	uint64_t h = 14695981039346656037ull; /* FNV-1a of the rank: scrambled */
	for (int i = 0; i < 8; i++) {
		h ^= (rank >> (8 * i)) & 0xff;
		h *= 1099511628211ull;
	}
	return h % z->n;
}

/* Record i's key into out (at most 24 bytes); its length. */
static inline size_t ycsb_key(uint64_t i, char out[24])
{
	return (size_t)snprintf(out, 24, "user%llu", (unsigned long long)i);
}

/* A value for record i, version v (1 KiB). */
static inline void ycsb_value(uint64_t i, uint64_t v, uint8_t out[YCSB_VALUE])
{
	uint64_t s = (i * 0x9E3779B97F4A7C15ull) ^ v ^ 0x5bd1e995;
	for (size_t k = 0; k < YCSB_VALUE; k += 8) {
		uint64_t r = ycsb_rand(&s);
		memcpy(out + k, &r, 8);
	}
}

/* The share of reads (percent) in a workload; F's writes are read-modify-writes. */
static inline int ycsb_read_pct(char w)
{
	return w == 'A' ? 50 : w == 'B' ? 95 : w == 'C' ? 100 : w == 'F' ? 50 : -1;
}
