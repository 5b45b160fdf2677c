/* unit.h: checks for the unit tests of the library's pure modules (one
   program each under tests/unit/). They link the module itself, not the
   shared library, so they share nothing with tests/testutil.h: no socket,
   no thread, no clock; a failed check prints its line and the program
   exits non-zero at the end. */
#ifndef FM_UNIT_H
#define FM_UNIT_H

#include <stdio.h>

static int unit_failures;

#define EXPECT(cond)                                                                  \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond);        \
            unit_failures++;                                                          \
        }                                                                             \
    } while (0)

#define UNIT_DONE()                                                                   \
    do {                                                                              \
        if (unit_failures) {                                                          \
            fprintf(stderr, "%d check(s) failed\n", unit_failures);                   \
            return 1;                                                                 \
        }                                                                             \
        printf("ok\n");                                                               \
        return 0;                                                                     \
    } while (0)

#endif
