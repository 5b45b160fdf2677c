/* inproc_thr (baseline): a single-producer single-consumer ring of message
   slots between two threads, memcpy in and memcpy out, waiting (spin, then
   futex) only when the ring is full or empty: the floor for moving
   messages between threads by copy. */
#include "waitword.h"

#include <pthread.h>

static size_t size, count;
static unsigned nslots;
static uint8_t *ring;
static struct waitword head; /* messages written */
static struct waitword tail; /* messages read */

static int has_room(unsigned t, void *i) { return *(unsigned *) i - t < nslots; }
static int has_msg(unsigned h, void *i) { return h != *(unsigned *) i; }

static void *producer(void *arg)
{
    (void) arg;
    uint8_t *buf = malloc(size ? size : 1);
    memset(buf, 111, size);
    for (unsigned i = 0; i < count; i++) {
        if (i - atomic_load_explicit(&tail.value, memory_order_acquire) >= nslots)
            ww_wait(&tail, has_room, &i);
        memcpy(ring + (i % nslots) * size, buf, size);
        ww_set(&head, i + 1);
    }
    free(buf);
    return NULL;
}

int main(int argc, char *argv[])
{
    perf_usage(argc, 3, "inproc_thr <msg-size> <msg-count>");
    size = perf_arg_size(argv[1], "message size");
    count = perf_arg_size(argv[2], "message count");
    /* About 256 KiB of slots, at least 2 and at most 1024: a small ring
       stays in cache, as a library's reused buffers do. */
    size_t n = size ? (256u << 10) / size : 1024;
    nslots = n < 2 ? 2 : n > 1024 ? 1024 : (unsigned) n;
    ring = malloc(nslots * (size ? size : 1));
    uint8_t *buf = malloc(size ? size : 1);
    pthread_t th;
    uint64_t t0 = perf_now_ns();
    pthread_create(&th, NULL, producer, NULL);
    for (unsigned i = 0; i < count; i++) {
        if (atomic_load_explicit(&head.value, memory_order_acquire) == i)
            ww_wait(&head, has_msg, &i);
        memcpy(buf, ring + (i % nslots) * size, size);
        ww_set(&tail, i + 1);
    }
    uint64_t t1 = perf_now_ns();
    perf_report_thr(size, count, t1 - t0);
    pthread_join(th, NULL);
    free(buf);
    free(ring);
    return 0;
}
