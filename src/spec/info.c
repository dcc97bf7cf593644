/* A function's figures as JSON (info.h). */
#include "spec/info.h"

#include <string.h>

json_t *cit_fn_info_json(const struct cit_fn_info *f)
{
	return json_pack("{s:s%, s:s%, s:s%, s:s%, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			 "s:I, s:s%, s:b, s:I}",
			 "name", f->name, strnlen(f->name, sizeof(f->name)), "runtime", f->runtime,
			 strnlen(f->runtime, sizeof(f->runtime)), "state", f->state, strnlen(f->state, sizeof(f->state)),
			 "measurement", f->measurement, strnlen(f->measurement, 64), "live", (json_int_t)f->live, "idle",
			 (json_int_t)f->idle, "busy", (json_int_t)f->busy, "queued", (json_int_t)f->queued,
			 "max_instances", (json_int_t)f->max_instances, "min_instances", (json_int_t)f->min_instances,
			 "invocations", (json_int_t)f->invocations, "errors", (json_int_t)f->errors, "p50_us",
			 (json_int_t)f->p50_us, "p99_us", (json_int_t)f->p99_us, "cold_us", (json_int_t)f->cold_us,
			 "template_us", (json_int_t)f->template_us, "lukewarm_us", (json_int_t)f->lukewarm_us,
			 "memory_bytes", (json_int_t)f->memory_bytes, "error", f->error, strnlen(f->error, sizeof(f->error)),
			 "invoke_key", f->keyed != 0, "memory_used_bytes", (json_int_t)f->memory_used);
}
