/* SPDX-License-Identifier: MIT */
/*
 * Reading a whole small file with a size limit, for configuration and
 * journal records. Blocking; any thread.
 */
#ifndef UK_FILE_H
#define UK_FILE_H

#include <stddef.h>

#include "uk/rc.h"

/* Reads path into a new NUL-terminated buffer (*out, caller frees) of
 * *len bytes. UK_E_NOT_FOUND when the file does not exist, UK_E_LIMIT when
 * it is larger than max, UK_E_IO when it cannot be read (errno is kept). */
uk_rc uk_file_read(const char *path, size_t max, char **out, size_t *len);

#endif
