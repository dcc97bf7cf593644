/* A chain as a user writes it: a line of functions (`citadel chain create NAME f1 f2 f3`)
 * or a JSON manifest of named steps (a DAG), read into a chain spec (chain.h); and a spec
 * as JSON again (`chain ls --json`, GET /v1/chains). Shared by the CLI and the gateway; not
 * in the monitor, which checks what it receives with cit_chain_check(). No I/O.
 *
 * A manifest:
 *
 *     {"steps": [
 *        {"name": "fetch", "function": "fetch"},
 *        {"name": "small", "function": "resize", "after": ["fetch"]},
 *        {"name": "gray",  "function": "grayscale", "after": ["fetch"]},
 *        {"name": "join",  "function": "merge", "after": ["small", "gray"]}]}
 *
 * "function" defaults to the step's name; "after" (a name or an array of them) lists the
 * steps whose outputs the step takes, in order; a step without it takes the chain's input.
 * Steps may come in any order; exactly one step is followed by none (the final one). An
 * optional "name" beside "steps" must match the chain's name when given. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "common/error.h"
#include "spec/chain.h"

#define CIT_CHAIN_MANIFEST_MAX (256u << 10)

/* Fills out with chain name: the functions fns[0..n) in a line, each step named after its
 * function ("f", then "f-2", "f-3" when one comes again). Returns 0 or -EINVAL with err. */
int cit_chain_line(struct cit_chain_spec *out, const char *name, const char *const *fns, size_t n,
		   struct cit_error *err);

/* Reads a manifest (len bytes of JSON text, at most CIT_CHAIN_MANIFEST_MAX) into out as
 * chain name, its steps put in an order where each follows those it takes from (the
 * manifest's order where that allows). Returns 0, or -EINVAL with err saying what is wrong
 * (not JSON, an unknown key, a step named twice, an "after" naming no step, a cycle, no or
 * several final steps, a limit), -EFBIG. */
int cit_chain_manifest(struct cit_chain_spec *out, const char *name, const char *text, size_t len,
		       struct cit_error *err);

/* The chain as JSON: {"name", "steps": [{"name", "function", "after": [...]}], "final"}.
 * New reference, or NULL when out of memory. */
json_t *cit_chain_json(const struct cit_chain_spec *c);

/* A chain as the HTTP API takes it (POST /v1/chains) and gives it (cit_chain_json(): its
 * "final" is checked against the steps): {"name": NAME, "steps": [...]} (a manifest's
 * steps, read as cit_chain_manifest() reads them) or {"name": NAME, "functions": [...]} (a
 * line, as cit_chain_line()). o is borrowed. Returns 0, or -EINVAL with err saying what is
 * wrong, -ENOMEM. */
int cit_chain_of_json(struct cit_chain_spec *out, json_t *o, struct cit_error *err);

/* The chain on one line, as `citadel chain ls` shows it: its name (padded to 20), then each
 * step's name, "=FUNCTION" when it calls another, and "<A,B" for the steps it follows when
 * that is not just the step before. Into out (cap bytes, NUL-terminated, cut short when it
 * does not fit: CIT_CHAIN_LS_LINE_MAX always does). */
#define CIT_CHAIN_LS_LINE_MAX (20 + CIT_CHAIN_STEPS_MAX * (1 + 2 * CIT_NAME_MAX + CIT_FANIN_MAX * CIT_NAME_MAX) + 1)
void cit_chain_ls_line(const struct cit_chain_spec *c, char *out, size_t cap);
