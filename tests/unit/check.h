/* SPDX-License-Identifier: MIT */
/*
 * Minimal test assertions: a failed CHECK prints where and what, counts the
 * failure and goes on; main returns check_exit_code() so ctest sees it.
 */
#ifndef UK_TEST_CHECK_H
#define UK_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(cond)) {                                                                             \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", __FILE__, __LINE__, __func__, #cond); \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long check_a_ = (long long)(a);                                                       \
        long long check_b_ = (long long)(b);                                                       \
        check_count++;                                                                             \
        if (check_a_ != check_b_) {                                                                \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: %s: CHECK_EQ failed: %s == %lld, %s == %lld\n", __FILE__,      \
                    __LINE__, __func__, #a, check_a_, #b, check_b_);                               \
        }                                                                                          \
    } while (0)

#define CHECK_FAIL(what)                                                                           \
    do {                                                                                           \
        check_count++;                                                                             \
        check_failures++;                                                                          \
        fprintf(stderr, "%s:%d: %s: failed: %s\n", __FILE__, __LINE__, __func__, (what));          \
    } while (0)

#define CHECK_MEM(p, q, n) CHECK(memcmp((p), (q), (n)) == 0)

/* UTC seconds of a civil date-time, counted by hand so that tests of the
 * date code do not check it against itself. */
static inline long long check_utc(int y, int mo, int d, int h, int mi, int s)
{
    static const int cum[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    long long days = 0;

    for (int yy = 1970; yy < y; yy++) {
        days += ((yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0) ? 366 : 365;
    }
    days += cum[mo - 1] + d - 1;
    if (mo > 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        days++;
    }
    return days * 86400 + h * 3600 + mi * 60 + s;
}

static inline int check_exit_code(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures == 0 ? 0 : 1;
}

#endif
