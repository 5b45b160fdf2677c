/* fuzz_util.h: what the fuzz targets share: a private network namespace
   and working directory, so that whatever an input binds or dials stays
   inside this process's own world, and a loud abort for a broken
   invariant (libFuzzer records it as a crash with the input). */
#ifndef FM_FUZZ_UTIL_H
#define FM_FUZZ_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nanomsg/nn.h>

/* The one leak report that is not ours: glibc's per-thread resolver state,
   made by getaddrinfo on the short-lived resolver thread of a tcp connect
   and freed by glibc as that detached thread exits, which can be after
   libFuzzer's leak check for the input ran. Only glibc frames match. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:__res_context_send\n"; }

/* True when the process got its own network namespace (root only): every
   port is then free for the taking, only the loopback interface exists,
   and DNS names resolve to nothing, so no input reaches another host. */
static bool fz_isolated;

static void fz_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static inline void fz_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz invariant broken: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

static void fz_lo_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    close(fd);
}

/* Call first in LLVMFuzzerInitialize, before any nn_ call (the library's
   threads must be born inside the namespace). Makes the scratch directory
   fz_dir. */
static char fz_dir[32];

static int fz_home = -1; /* the directory libFuzzer works in */

/* Remove what the inputs left in the scratch directory (ipc socket files
   of endpoints still bound at exit, files that were never sockets). */
static void fz_cleanup(void)
{
    if (!fz_dir[0])
        return;
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fz_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fz_dir);
}

static void fz_isolate(const char *name)
{
    if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0) {
        fz_isolated = true;
        fz_lo_up();
    }
    strcpy(fz_dir, "/tmp/fm-fuzz-XXXXXX");
    if (!mkdtemp(fz_dir))
        fz_die("mkdtemp: %s", strerror(errno));
    atexit(fz_cleanup);
    fz_home = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    fprintf(stderr, "%s: scratch directory %s, %s network namespace\n", name, fz_dir,
            fz_isolated ? "private" : "SHARED (not root: addresses restricted)");
}

/* Relative ipc paths of an input land in the scratch directory: enter it
   for the input, leave it before libFuzzer touches its own files (crash
   artifacts go where -artifact_prefix says; run.sh gives an absolute one). */
static inline void fz_enter(void)
{
    if (chdir(fz_dir) != 0)
        fz_die("chdir %s: %s", fz_dir, strerror(errno));
}

static inline void fz_leave(void)
{
    if (fz_home >= 0 && fchdir(fz_home) != 0)
        fz_die("fchdir: %s", strerror(errno));
}

static inline double fz_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static inline void fz_set_int(int s, int level, int opt, int v)
{
    nn_setsockopt(s, level, opt, &v, sizeof(v));
}

#endif
