/* What a chain is, and its checks (chain.h). */
#include "spec/chain.h"

#include <errno.h>
#include <string.h>

uint32_t cit_chain_fanin(const struct cit_chain_spec *c, uint32_t i)
{
	return (uint32_t)__builtin_popcount(c->steps[i].after);
}

uint32_t cit_chain_final(const struct cit_chain_spec *c)
{
	uint32_t followed = 0;
	for (uint32_t i = 0; i < c->n_steps; i++)
		followed |= c->steps[i].after;
	for (uint32_t i = 0; i < c->n_steps; i++)
		if (!(followed & (1u << i)))
			return i;
	return 0;
}

int cit_chain_check(const struct cit_chain_spec *c, struct cit_error *err)
{
	if (!cit_field_padded(c->name, sizeof(c->name)) || !cit_fn_name_ok(c->name))
		return cit_error_say(err, -EINVAL, "a chain's name is 1 to 63 of a-z, 0-9, '-' and '_', from a letter "
				     "or digit");
	if (c->reserved)
		return cit_error_say(err, -EINVAL, "chain %s: a reserved field is set", c->name);
	if (c->n_steps < 1 || c->n_steps > CIT_CHAIN_STEPS_MAX)
		return cit_error_say(err, -EINVAL, "chain %s: it has %u steps; a chain has 1 to %u", c->name,
				     c->n_steps, CIT_CHAIN_STEPS_MAX);
	uint32_t followed = 0;
	for (uint32_t i = 0; i < CIT_CHAIN_STEPS_MAX; i++) {
		const struct cit_chain_step *s = &c->steps[i];
		if (i >= c->n_steps) {
			static const struct cit_chain_step zero;
			if (memcmp(s, &zero, sizeof(zero)))
				return cit_error_say(err, -EINVAL, "chain %s: step %u is past its last step but not empty",
						     c->name, i + 1);
			continue;
		}
		if (!cit_field_padded(s->name, sizeof(s->name)) || !cit_fn_name_ok(s->name))
			return cit_error_say(err, -EINVAL, "chain %s: step %u's name is not valid (1 to 63 of a-z, 0-9, "
					     "'-' and '_')", c->name, i + 1);
		if (!cit_field_padded(s->function, sizeof(s->function)) || !cit_fn_name_ok(s->function))
			return cit_error_say(err, -EINVAL, "chain %s: step %s names no valid function name", c->name,
					     s->name);
		if (s->reserved)
			return cit_error_say(err, -EINVAL, "chain %s: step %s: a reserved field is set", c->name, s->name);
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(c->steps[j].name, s->name))
				return cit_error_say(err, -EINVAL, "chain %s: two steps are named %s", c->name, s->name);
		if (s->after >> i)
			return cit_error_say(err, -EINVAL, "chain %s: step %s follows a step that does not come before "
					     "it (the steps form a cycle, or are out of order)", c->name, s->name);
		if (cit_chain_fanin(c, i) > CIT_FANIN_MAX)
			return cit_error_say(err, -EINVAL, "chain %s: step %s follows %u steps; at most %u", c->name,
					     s->name, cit_chain_fanin(c, i), CIT_FANIN_MAX);
		followed |= s->after;
	}
	uint32_t finals = 0;
	for (uint32_t i = 0; i < c->n_steps; i++)
		finals += !(followed & (1u << i));
	if (finals != 1)
		return cit_error_say(err, -EINVAL, "chain %s: %u steps are followed by none; exactly one final step (whose "
				     "output is the chain's) is needed", c->name, finals);
	return 0;
}
