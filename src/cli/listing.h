/* `citadel ls`'s output, one printer for the figures from the local socket and from the
 * HTTP gateway (citadel-remote): the same table, the same JSON. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* Prints fns (a JSON array of objects with cit_fn_info_json()'s fields, spec/info.h;
 * borrowed) to out: a table of name, runtime, state, measurement, live and idle instances,
 * invocations, errors, p50 and p99; or, with json, the array on one line, compact. A
 * missing or mistyped field prints as empty or 0. */
void cit_ls_print(FILE *out, const json_t *fns, bool json);
