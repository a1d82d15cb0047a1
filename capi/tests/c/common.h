/* Helpers shared by the C tests of Glovebox's C ABI. */
#ifndef GB_TEST_COMMON_H
#define GB_TEST_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "glovebox.h"

/* Fails the test with the call, its status and Glovebox's message unless it returned GB_OK. */
#define CHECK(call)                                                                      \
  do {                                                                                   \
    GbStatus status_ = (call);                                                           \
    if (status_ != GB_OK) {                                                              \
      fprintf(stderr, "%s:%d: %s returned %d: %s\n", __FILE__, __LINE__, #call,         \
              (int)status_, gb_last_error());                                            \
      exit(1);                                                                           \
    }                                                                                    \
  } while (0)

/* Fails the test unless `call` returned `want` with a non-empty message. */
#define EXPECT_STATUS(want, call)                                                        \
  do {                                                                                   \
    GbStatus status_ = (call);                                                           \
    if (status_ != (want) || gb_last_error()[0] == '\0') {                               \
      fprintf(stderr, "%s:%d: %s returned %d (want %d), message \"%s\"\n", __FILE__,     \
              __LINE__, #call, (int)status_, (int)(want), gb_last_error());              \
      exit(1);                                                                           \
    }                                                                                    \
    printf("  %-60s -> %d: %s\n", #call, (int)status_, gb_last_error());                 \
  } while (0)

#define ASSERT(cond)                                                                     \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);      \
      exit(1);                                                                           \
    }                                                                                    \
  } while (0)

#endif
