/* inproc_lat (baseline): two threads hand a message back and forth through
   shared memory: memcpy in, a release store, the peer waiting on the word
   (spin, then futex), memcpy out. The floor for an in-process transport on
   this machine. */
#include "waitword.h"

#include <pthread.h>

static size_t size, rts;
/* One word per direction, so that each has a single waiter. */
static struct waitword ping, pong;
static uint8_t *slot;

static int is(unsigned v, void *want) { return v == *(unsigned *) want; }

static void wait_for(struct waitword *w, unsigned want) { ww_wait(w, is, &want); }

static void *worker(void *arg)
{
    (void) arg;
    uint8_t *buf = malloc(size ? size : 1);
    for (unsigned i = 0; i < rts + 1; i++) {
        wait_for(&ping, i + 1);
        memcpy(buf, slot, size);
        memcpy(slot, buf, size);
        ww_set(&pong, i + 1);
    }
    free(buf);
    return NULL;
}

int main(int argc, char *argv[])
{
    perf_usage(argc, 3, "inproc_lat <msg-size> <roundtrips>");
    size = perf_arg_size(argv[1], "message size");
    rts = perf_arg_size(argv[2], "roundtrip count");
    slot = malloc(size ? size : 1);
    uint8_t *buf = malloc(size ? size : 1);
    memset(buf, 111, size);
    pthread_t th;
    pthread_create(&th, NULL, worker, NULL);
    uint64_t t0 = 0;
    for (unsigned i = 0; i < rts + 1; i++) {
        if (i == 1)
            t0 = perf_now_ns(); /* after the warm-up round */
        memcpy(slot, buf, size);
        ww_set(&ping, i + 1);
        wait_for(&pong, i + 1);
        memcpy(buf, slot, size);
    }
    uint64_t t1 = perf_now_ns();
    perf_report_lat(size, rts, t1 - t0);
    pthread_join(th, NULL);
    free(buf);
    free(slot);
    return 0;
}
