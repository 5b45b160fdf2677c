/* test_api_util.h: helpers shared by the tests of the public API
   (tests/test_api_*.c): sockets that never block forever, unique inproc
   addresses, integer options, and telling when another thread is really
   blocked inside a call. */
#ifndef FM_TEST_API_UTIL_H
#define FM_TEST_API_UTIL_H

#include "testutil.h"

#include <nanomsg/inproc.h>
#include <nanomsg/pair.h>

#include <fcntl.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Blocking calls in the tests wait at most this long (ms): long enough for
   a loaded machine, short enough that a lost wake-up fails instead of
   hanging the suite. */
#define TA_WAIT 5000

/* FM_TEST_AGAINST_STOCK=1 (with LD_LIBRARY_PATH pointing at the stock
   library) skips the cases that crash or hang stock, so that a test's
   expectations can be checked against the ground truth:
     FM_TEST_AGAINST_STOCK=1 LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu tests/test_api_x */
static inline int ta_stock(void)
{
    const char *e = getenv("FM_TEST_AGAINST_STOCK");
    return e && e[0] == '1';
}

static inline void ta_setint(int s, int level, int opt, int v)
{
    if (nn_setsockopt(s, level, opt, &v, sizeof(v)) != 0) {
        fprintf(stderr, "setsockopt(%d, %d, %d, %d): %s\n", s, level, opt, v,
                nn_strerror(errno));
        tu_failures++;
    }
}

static inline int ta_getint(int s, int level, int opt)
{
    int v = -777;
    size_t l = sizeof(v);
    if (nn_getsockopt(s, level, opt, &v, &l) != 0 || l != sizeof(v))
        return -777;
    return v;
}

/* A socket whose blocking calls give up after TA_WAIT. */
static inline int ta_socket(int domain, int type)
{
    int s = nn_socket(domain, type);
    if (s < 0) {
        fprintf(stderr, "nn_socket(%d, %d): %s\n", domain, type, nn_strerror(errno));
        tu_failures++;
        return -1;
    }
    ta_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, TA_WAIT);
    ta_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, TA_WAIT);
    return s;
}

/* A fresh inproc address, unique within the process. */
static inline const char *ta_addr(char *buf, size_t n)
{
    static atomic_int seq;
    snprintf(buf, n, "inproc://ta-%d-%d", (int) getpid(), atomic_fetch_add(&seq, 1));
    return buf;
}

/* Two PAIR sockets (domain given) connected over a fresh inproc address:
   *a binds, *b connects. */
static inline void ta_pair(int domain, int *a, int *b)
{
    char addr[64];
    ta_addr(addr, sizeof(addr));
    *a = ta_socket(domain, NN_PAIR);
    *b = ta_socket(domain, NN_PAIR);
    if (nn_bind(*a, addr) < 0 || nn_connect(*b, addr) < 0) {
        fprintf(stderr, "inproc pair on %s: %s\n", addr, nn_strerror(errno));
        tu_failures++;
    }
}

static inline double ta_ms(void) { return tu_now() * 1e3; }

static inline pid_t ta_gettid(void) { return (pid_t) syscall(SYS_gettid); }

/* True when thread tid sleeps (state S): it sits in a blocking system call
   rather than running towards one. */
static inline int ta_thread_sleeping(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int) tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'S';
}

/* Wait until the thread whose id *tid publishes is asleep in a call and
   stays asleep over a short pause (a lock taken on the way in can put it to
   sleep briefly). Returns true when it is; the caller's own flag tells
   whether the call already returned. This only makes the test exercise the
   "already blocked" path; correctness never depends on it. */
static inline int ta_wait_blocked(atomic_int *tid, atomic_int *done)
{
    double end = tu_now() + 10;
    while (tu_now() < end) {
        pid_t t = (pid_t) atomic_load(tid);
        if (atomic_load(done))
            return 0;
        if (t && ta_thread_sleeping(t)) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
            if (ta_thread_sleeping(t) && !atomic_load(done))
                return 1;
        }
        tu_pause();
    }
    return 0;
}

/* Number of open file descriptors of this process. */
static inline int ta_count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

#endif
