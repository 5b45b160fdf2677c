/* harness.h: running the parts of a multi-party benchmark (fan-out
   subscribers, the device and its server) as threads for inproc:// or as
   processes for every other transport, and the report channel (one OS pipe
   of small fixed-size records) that works the same for both. Processes are
   forked before the parent touches the messaging library, so no library
   thread or lock is ever duplicated by fork(). */
#ifndef PERF_HARNESS_H
#define PERF_HARNESS_H

#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static inline bool perf_is_inproc(const char *url) { return strncmp(url, "inproc://", 9) == 0; }

struct perf_part {
    bool thread;
    pthread_t tid;
    pid_t pid;
};

/* Start fn(arg) as a thread, or in a child process that exits when fn
   returns. */
static inline void perf_spawn(struct perf_part *p, bool thread, void *(*fn)(void *), void *arg)
{
    p->thread = thread;
    if (thread) {
        if (pthread_create(&p->tid, NULL, fn, arg) != 0)
            perf_die("pthread_create failed");
        return;
    }
    fflush(NULL);
    p->pid = fork();
    if (p->pid < 0)
        perf_die("fork: %s", strerror(errno));
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the measurement */
        fn(arg);
        _exit(0);
    }
}

static inline void perf_join(struct perf_part *p)
{
    if (p->thread)
        pthread_join(p->tid, NULL);
    else
        waitpid(p->pid, NULL, 0);
}

/* Processes only: stop it now (a device or server loops until killed). */
static inline void perf_kill(struct perf_part *p)
{
    if (!p->thread) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
}

enum { PERF_REC_READY = 1, PERF_REC_DONE = 2 };

struct perf_rec {
    int32_t idx;
    int32_t kind;
    uint64_t count;
    uint64_t last_ns;
};

/* Records are far below PIPE_BUF, so concurrent writers never interleave. */
static inline void perf_rec_send(int fd, int idx, int kind, uint64_t count, uint64_t last_ns)
{
    struct perf_rec r = {idx, kind, count, last_ns};
    ssize_t n;
    do
        n = write(fd, &r, sizeof(r));
    while (n < 0 && errno == EINTR);
}

/* Wait up to timeout_ms for one record; false on timeout. */
static inline bool perf_rec_recv(int fd, struct perf_rec *r, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int rc = poll(&pfd, 1, timeout_ms);
    if (rc <= 0)
        return false;
    size_t got = 0;
    while (got < sizeof(*r)) {
        ssize_t n = read(fd, (char *) r + got, sizeof(*r) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            perf_die("report pipe closed early");
        got += (size_t) n;
    }
    return true;
}

/* The fan-out protocol, shared by every library's pubsub_fanout: the first
   byte of each message says what it is. The publisher probes until every
   subscriber saw a probe (so all are connected and subscribed), then sends
   the data, then repeats the end marker until every subscriber reported
   (markers can be dropped like any PUB message). */
#define PERF_TAG_PROBE 'P'
#define PERF_TAG_DATA 'D'
#define PERF_TAG_END 'E'
#define PERF_READY_TIMEOUT_MS 15000
#define PERF_END_TIMEOUT_MS 10000
#define PERF_SUB_IDLE_MS 10000

#endif
