/* citadel-zygote's runtimes (runtime.h): native, the default, and exec. */
#include "common/util.h"
#include "zygote/runtime.h"

const struct cit_runtime_ops *const cit_runtime_table[] = { &cit_runtime_native, &cit_runtime_exec };
const size_t cit_runtime_table_n = ARRAY_SIZE(cit_runtime_table);
