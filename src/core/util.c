/* util.c: the monotonic clock, a random source, big-endian helpers, the
   receive-stall interval, the integer-option helper pair and the thread
   tag that checked builds use to name a mutex's holder. */
#include "core.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

uint64_t fm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

#define RX_STALL_DEFAULT_MS 30000 /* a live WAN peer under retransmission
                                     backoff can be silent for seconds */

static pthread_once_t rx_stall_once = PTHREAD_ONCE_INIT;
static uint64_t rx_stall_ms;

static void rx_stall_init(void)
{
    rx_stall_ms = RX_STALL_DEFAULT_MS;
    const char *env = getenv("FM_RX_STALL_MS");
    if (env && *env) {
        char *end;
        unsigned long long v = strtoull(env, &end, 10);
        if (*end == '\0')
            rx_stall_ms = v;
    }
}

uint64_t fm_rx_stall_ms(void)
{
    pthread_once(&rx_stall_once, rx_stall_init);
    return rx_stall_ms;
}

uint32_t fm_random_u32(void)
{
    uint32_t v;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t) sizeof(v))
        return v;
    /* No entropy yet (early boot): a clock-seeded value is good enough for
       request ids, which only need to differ between runs. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint32_t) ts.tv_nsec ^ (uint32_t) ts.tv_sec * 2654435761u;
}

uint32_t fm_get_u32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

void fm_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

uint64_t fm_get_u64(const uint8_t *p)
{
    return (uint64_t) fm_get_u32(p) << 32 | fm_get_u32(p + 4);
}

void fm_put_u64(uint8_t *p, uint64_t v)
{
    fm_put_u32(p, (uint32_t) (v >> 32));
    fm_put_u32(p + 4, (uint32_t) v);
}

#if FM_CHECKS
_Thread_local char fm_thread_tag;
#endif

int fm_opt_int_in(const void *val, size_t len, int min, int max, int *out)
{
    if (len != sizeof(int))
        return -EINVAL;
    if (!val)
        return -EFAULT;
    int v;
    memcpy(&v, val, sizeof(v));
    if (v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

int fm_opt_int_out(void *val, size_t *len, int v)
{
    memcpy(val, &v, *len < sizeof(v) ? *len : sizeof(v));
    *len = sizeof(v);
    return 0;
}
