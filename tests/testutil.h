/* testutil.h: the few helpers every test program shares: checks that report
   file and line, a monotonic clock, and waiting for a condition with a
   generous deadline instead of sleeping. */
#ifndef FM_TESTUTIL_H
#define FM_TESTUTIL_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dlfcn.h>
#include <nanomsg/nn.h>

/* A test must exercise femtomsg, never the system's stock library that the
   loader would fall back to if ours were missing: refuse to run otherwise. */
__attribute__((constructor)) static void tu_check_library(void)
{
    Dl_info info;
    if (dladdr((void *) nn_socket, &info) && info.dli_fname &&
        strncmp(info.dli_fname, "/usr/lib", 8) == 0) {
        fprintf(stderr, "test runs the stock library %s, not femtomsg\n", info.dli_fname);
        exit(1);
    }
}

static int tu_failures;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s (errno %d: %s)\n", __FILE__,     \
                    __LINE__, #cond, errno, nn_strerror(errno));                      \
            tu_failures++;                                                            \
        }                                                                             \
    } while (0)

/* A call that must fail with a given errno. */
#define CHECK_ERR(call, err)                                                          \
    do {                                                                              \
        errno = 0;                                                                    \
        long tu_rc_ = (long) (call);                                                  \
        if (tu_rc_ != -1 || errno != (err)) {                                         \
            fprintf(stderr, "%s:%d: %s: expected -1/%s, got %ld/%s\n", __FILE__,      \
                    __LINE__, #call, #err, tu_rc_, nn_strerror(errno));               \
            tu_failures++;                                                            \
        }                                                                             \
    } while (0)

static inline double tu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Yield the CPU briefly while polling a condition; not a synchronisation. */
static inline void tu_pause(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

/* Evaluate cond until it holds or seconds pass; true when it held. */
#define WAIT_FOR(cond, seconds)                                                       \
    ({                                                                                \
        double tu_end_ = tu_now() + (seconds);                                        \
        int tu_ok_ = 0;                                                               \
        while (!(tu_ok_ = !!(cond)) && tu_now() < tu_end_)                            \
            tu_pause();                                                               \
        tu_ok_;                                                                       \
    })

/* FM_SOAK=1: the fault and load tests run longer and bigger (see README). */
static inline int soak(void)
{
    const char *v = getenv("FM_SOAK");
    return v && *v && strcmp(v, "0") != 0;
}

/* Sanitized builds run several times slower: tests scale their rounds. */
static inline int under_sanitizer(void)
{
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    return 1;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
    return 1;
#endif
#endif
    return 0;
}

#define TEST_DONE()                                                                   \
    do {                                                                              \
        if (tu_failures) {                                                            \
            fprintf(stderr, "%d check(s) failed\n", tu_failures);                     \
            return 1;                                                                 \
        }                                                                             \
        printf("ok\n");                                                               \
        return 0;                                                                     \
    } while (0)

#endif
