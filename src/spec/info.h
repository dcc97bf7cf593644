/* A function's figures (struct cit_fn_info, as LIST returns them) as JSON: one encoding for
 * `citadel ls --json` and the HTTP gateway's GET /v1/functions. */
#pragma once

#include <jansson.h>

#include "proto/proto.h"

/* A new JSON object with f's fields (name, runtime, state, measurement, live, idle, busy,
 * queued, max_instances, min_instances, invocations, errors, p50_us, p99_us, cold_us,
 * template_us, lukewarm_us, memory_bytes, error, invoke_key: a boolean, memory_used_bytes); strings are read up to their fields'
 * ends even without a NUL. The caller owns it (json_decref); NULL when out of memory. */
json_t *cit_fn_info_json(const struct cit_fn_info *f);
