/* What a chain is: functions run as a line or a DAG, each step's output handed on to the
 * steps that follow it as a data object (docs/chains.md). Its spec travels in CHAIN_CREATE,
 * is stored in the state directory (chains/NAME) and is listed by CHAIN_LIST. The checks
 * here are what every side makes of one (the CLI and the gateway for a clear message, the
 * monitor on receipt and when it reads one back); no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec/spec.h"

#define CIT_CHAIN_STEPS_MAX 32   /* steps of one chain */
#define CIT_FANIN_MAX 8          /* steps one step may follow (its inputs) */

struct cit_chain_step {
	char name[CIT_NAME_MAX];     /* the step's name within its chain (a function name's syntax) */
	char function[CIT_NAME_MAX]; /* the function it calls */
	uint32_t after;              /* bit i: it follows step i (i below its own index); 0: it
				      * takes the chain's input */
	uint32_t reserved;           /* 0 */
};

struct cit_chain_spec {
	char name[CIT_NAME_MAX];     /* the chain's name (a function name's syntax; its own
				      * namespace, apart from functions') */
	uint32_t n_steps;            /* 1 to CIT_CHAIN_STEPS_MAX */
	uint32_t reserved;           /* 0 */
	struct cit_chain_step steps[CIT_CHAIN_STEPS_MAX]; /* in an order where every step comes
				      * after those it follows; unused ones all zero */
};

/* Checks a chain's spec: its name and each step's (unique), each function's name, every
 * step following only steps before it and at most CIT_FANIN_MAX of them, exactly one final
 * step (the one no other follows: its output is the chain's), unused steps and reserved
 * fields zero, strings NUL-padded. Returns 0 or -EINVAL with err saying what is wrong. */
int cit_chain_check(const struct cit_chain_spec *c, struct cit_error *err);

/* The index of c's final step (c checked). */
uint32_t cit_chain_final(const struct cit_chain_spec *c);

/* The number of steps step i follows. */
uint32_t cit_chain_fanin(const struct cit_chain_spec *c, uint32_t i);
