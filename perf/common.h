/* common.h: what every benchmark program shares, whatever library it is
   built against: argument parsing, the clock, the report lines (the stock
   perf tools' output format, which perf/compare.py parses) and the
   library self-check the runner uses to prove which library a binary
   really loaded. Header-only, so each tool is one compile of one file. */
#ifndef PERF_COMMON_H
#define PERF_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t perf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void perf_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void perf_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* A positive count or size; the whole argument must be a number. */
static inline size_t perf_arg_size(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v > 0x7fffffffull)
        perf_die("bad %s: %s", what, s);
    return (size_t) v;
}

static inline void perf_usage(int argc, int want, const char *usage)
{
    if (argc != want) {
        printf("usage: %s\n", usage);
        exit(1);
    }
}

/* Which messaging library this process mapped, from /proc/self/maps, on
   stderr when PERF_PRINT_LIB is set ("lib: <path>" once per library). */
static inline void perf_print_lib(void)
{
    if (!getenv("PERF_PRINT_LIB"))
        return;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return;
    char line[4096], seen[8][1024];
    int nseen = 0;
    while (fgets(line, sizeof(line), f)) {
        char *path = strchr(line, '/');
        if (!path)
            continue;
        path[strcspn(path, "\n")] = '\0';
        if (!strstr(path, "libnanomsg") && !strstr(path, "libnng") && !strstr(path, "libzmq"))
            continue;
        int dup = 0;
        for (int i = 0; i < nseen; i++)
            dup |= strcmp(seen[i], path) == 0;
        if (dup || nseen == 8)
            continue;
        snprintf(seen[nseen++], sizeof(seen[0]), "%s", path);
        fprintf(stderr, "lib: %s\n", path);
    }
    fclose(f);
}

/* The stock tools' report lines. Latency is one way: half a round trip. */
static inline void perf_report_lat(size_t size, size_t rts, uint64_t ns)
{
    printf("message size: %d [B]\n", (int) size);
    printf("roundtrip count: %d\n", (int) rts);
    printf("average latency: %.3f [us]\n", (double) ns / 1000.0 / ((double) rts * 2));
    fflush(stdout);
}

static inline void perf_report_thr(size_t size, size_t count, uint64_t ns)
{
    if (ns == 0)
        ns = 1;
    double msgs = (double) count * 1e9 / (double) ns;
    printf("message size: %d [B]\n", (int) size);
    printf("message count: %d\n", (int) count);
    printf("throughput: %.0f [msg/s]\n", msgs);
    printf("throughput: %.3f [Mb/s]\n", msgs * (double) size * 8 / 1e6);
    fflush(stdout);
}

/* What a fan-out subscriber tells the publisher over an OS pipe. */
struct perf_sub_report {
    uint64_t count;   /* data messages received */
    uint64_t last_ns; /* perf_now_ns() of the last one (CLOCK_MONOTONIC is
                         shared by the processes of one machine) */
};

/* Fan-out report: msg/s counts deliveries (one message to ten subscribers
   is ten), measured from the publisher's first send to the last delivery. */
static inline void perf_report_fanout(size_t size, size_t count, int subs, uint64_t delivered,
                                      uint64_t ns, uint64_t pub_ns)
{
    if (ns == 0)
        ns = 1;
    if (pub_ns == 0)
        pub_ns = 1;
    double rate = (double) delivered * 1e9 / (double) ns;
    printf("message size: %d [B]\n", (int) size);
    printf("message count: %d\n", (int) count);
    printf("subscribers: %d\n", subs);
    printf("delivered: %.2f [%%]\n", 100.0 * (double) delivered / ((double) count * subs));
    printf("publish rate: %.0f [msg/s]\n", (double) count * 1e9 / (double) pub_ns);
    printf("throughput: %.0f [msg/s]\n", rate);
    printf("throughput: %.3f [Mb/s]\n", rate * (double) size * 8 / 1e6);
    fflush(stdout);
}

#endif
