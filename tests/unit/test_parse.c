/* Parsers of user input: sizes, durations, whole numbers, and the sandbox options that
 * are checked before anything runs. */
#include <errno.h>
#include <string.h>

#include "common/parse.h"
#include "sandbox/config.h"
#include "tap.h"

int main(void)
{
	static const struct { const char *in; int rc; uint64_t v; } sizes[] = {
		{ "0", 0, 0 }, { "4096", 0, 4096 }, { "64K", 0, 65536 }, { "64k", 0, 65536 },
		{ "256M", 0, 256ULL << 20 }, { "1G", 0, 1ULL << 30 }, { "1GiB", 0, 1ULL << 30 },
		{ "2T", 0, 2ULL << 40 }, { "10B", 0, 10 }, { "", -EINVAL, 0 }, { "-1", -EINVAL, 0 },
		{ "12Q", -EINVAL, 0 }, { "1.5M", -EINVAL, 0 }, { "99999999999999999999", -ERANGE, 0 },
		{ "99999999999T", -ERANGE, 0 }, { " 5", -EINVAL, 0 },
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t v = 0;
		int rc = cit_parse_size(sizes[i].in, &v);
		tap_ok(rc == sizes[i].rc && (rc || v == sizes[i].v), "size '%s' -> rc %d value %llu", sizes[i].in,
		       rc, (unsigned long long)v);
	}
	static const struct { const char *in; int rc; uint64_t ms; } durs[] = {
		{ "1", 0, 1000 }, { "0.5", 0, 500 }, { "250ms", 0, 250 }, { "2s", 0, 2000 },
		{ "1.5m", 0, 90000 }, { "1h", 0, 3600000 }, { "0", 0, 0 }, { "x", -EINVAL, 0 },
		{ "5d", -EINVAL, 0 }, { "-1", -EINVAL, 0 }, { "1e300", -ERANGE, 0 }, { "nan", -EINVAL, 0 },
	};
	for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
		uint64_t v = 0;
		int rc = cit_parse_duration_ms(durs[i].in, &v);
		tap_ok(rc == durs[i].rc && (rc || v == durs[i].ms), "duration '%s' -> rc %d value %llu ms",
		       durs[i].in, rc, (unsigned long long)v);
	}
	uint64_t n;
	tap_ok(cit_parse_u64("17", 1, 20, &n) == 0 && n == 17, "u64 in range");
	tap_ok(cit_parse_u64("21", 1, 20, &n) == -ERANGE, "u64 above range");
	tap_ok(cit_parse_u64("0x10", 0, 99, &n) == -EINVAL, "u64 rejects hex");
	static const struct { const char *in; int rc; uint32_t millis; } cpus[] = {
		{ "1", 0, 1000 }, { "0.5", 0, 500 }, { "0", 0, 0 }, { "0.01", 0, 10 }, { "1024", 0, 1024000 },
		{ "0.009", -ERANGE, 0 }, { "0.001", -ERANGE, 0 }, { "1025", -ERANGE, 0 }, { "-1", -EINVAL, 0 },
		{ "x", -EINVAL, 0 }, { "1e3", 0, 1000000 }, { "", -EINVAL, 0 },
	};
	for (size_t i = 0; i < sizeof(cpus) / sizeof(cpus[0]); i++) {
		uint32_t v = 0;
		int rc = cit_parse_cpus(cpus[i].in, &v);
		tap_ok(rc == cpus[i].rc && (rc || v == cpus[i].millis), "cpus '%s' -> rc %d value %u", cpus[i].in, rc, v);
	}

	struct cit_sandbox_config cfg;
	struct cit_error err = { 0 };
	cit_sandbox_config_init(&cfg);
	tap_ok(cit_sandbox_config_check(&cfg, &err) == 0, "defaults are valid");
	tap_ok(cit_sandbox_add_bind(&cfg, "/srv/data", "/data", CIT_BIND_RW, &err) == 0 &&
		       !strcmp(cfg.binds[0].dst, "/data") && cfg.binds[0].kind == CIT_BIND_RW,
	       "bind SRC at DST");
	tap_ok(cit_sandbox_add_bind(&cfg, "/opt/x", NULL, CIT_BIND_RO, &err) == 0 && !strcmp(cfg.binds[1].dst, "/opt/x"),
	       "bind SRC means SRC at SRC");
	tap_ok(cit_sandbox_add_bind(&cfg, "data", "/data", CIT_BIND_RO, &err) == -EINVAL,
	       "relative source refused (the CLI makes it absolute)");
	tap_ok(cit_sandbox_add_bind(&cfg, "/srv/../etc", "/x", CIT_BIND_RO, &err) == 0,
	       "a host source is the kernel's to resolve, '..' included");
	tap_ok(cit_sandbox_add_bind(&cfg, "/srv", "/x/../etc", CIT_BIND_RO, &err) == -EINVAL && strstr(err.msg, ".."),
	       "a destination with .. refused, message says why");
	tap_ok(cit_sandbox_add_bind(&cfg, "/srv", "/", CIT_BIND_RO, &err) == -EINVAL, "bind over / refused");
	tap_ok(cit_sandbox_set_env(&cfg, "A=1", &err) == 0 && cit_sandbox_set_env(&cfg, "A=2", &err) == 0 &&
		       !strcmp(cfg.env[cfg.n_env - 1], "A=2"),
	       "env replaces an earlier K");
	tap_ok(cit_sandbox_set_env(&cfg, "=x", &err) == -EINVAL, "env without a name refused");
	tap_ok(cit_sandbox_set_env(&cfg, "PATH=/x", &err) == 0 && !strcmp(cfg.env[0], "PATH=/x"),
	       "env overrides the default PATH");
	cfg.memory_bytes = 1024;
	tap_ok(cit_sandbox_config_check(&cfg, &err) == -EINVAL && strstr(err.msg, "--memory"),
	       "tiny memory limit refused with the option named");
	return tap_done();
}
