/* citadel-python's runtime (runtime.h): python alone, with CPython linked in. */
#include "common/util.h"
#include "zygote/runtime.h"

const struct cit_runtime_ops *const cit_runtime_table[] = { &cit_runtime_python };
const size_t cit_runtime_table_n = ARRAY_SIZE(cit_runtime_table);
