/* Privileges: after this step the process holds no capability in any namespace and can
 * never gain one (empty bounding set, no ambient or inheritable set, securebits locked
 * so that running as uid 0 or a setuid file grants nothing, no_new_privs). */
#pragma once

#include "common/error.h"

int cit_caps_drop_all(struct cit_error *err);
