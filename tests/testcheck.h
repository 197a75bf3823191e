/* testcheck.h - the tiny assertion kit of the plain-C tests: one check per
 * behaviour, named after it; a failing check prints its name and line, and
 * main ends with check_summary(), which prints "N passed, N failed" and
 * returns the exit status. */
#ifndef VAP_TESTS_TESTCHECK_H
#define VAP_TESTS_TESTCHECK_H

#include <stdio.h>

static int passes, failures;

#define check(ok, name)                                                                    \
    do {                                                                                   \
        if (ok) {                                                                          \
            passes++;                                                                      \
        } else {                                                                           \
            failures++;                                                                    \
            printf("FAIL %s (line %d)\n", name, __LINE__);                                 \
        }                                                                                  \
    } while (0)

static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", passes, failures);
    return failures ? 1 : 0;
}

#endif
