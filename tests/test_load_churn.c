/* test_load_churn.c: 10,000 connect/disconnect cycles on inproc and ipc
   (2,000 on tcp, where every cycle leaves a TIME_WAIT behind; FM_SOAK=1
   raises all three), and no descriptor or memory leak afterwards. A cycle
   is either a new REQ socket that connects, gets one reply and is closed,
   or an nn_connect on a long-lived REQ that gets one reply and is removed
   with nn_shutdown; each must really have connected (the reply proves
   it). After the churn, once the server has let go of every connection:
   the descriptors in /proc/self/fd are exactly as many as before, the
   heap in use (mallinfo2; not under ASan, whose allocator it does not
   see) has not grown by more than a small allowance for caches, and the
   resident set from /proc/self/statm has not grown by more than a few
   MiB. ASan's leak check at exit covers the rest. */
#include "testutil.h"

#include <nanomsg/reqrep.h>

#include <dirent.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FM_SANITIZED 1
#endif
#endif

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static int64_t stat_of(int s, int which) { return (int64_t) nn_get_statistic(s, which); }

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static size_t heap_in_use(void)
{
#ifdef FM_SANITIZED
    return 0;
#else
    malloc_trim(0);
    return mallinfo2().uordblks;
#endif
}

/* The server: a REP thread answering until its socket is closed. */
struct server {
    int s;
    pthread_t th;
    long served;
};

static void *serve(void *arg)
{
    struct server *sv = arg;
    char buf[64];
    for (;;) {
        int n = nn_recv(sv->s, buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EBADF)
                break;
            continue;
        }
        if (nn_send(sv->s, buf, (size_t) n, 0) >= 0)
            sv->served++;
    }
    return NULL;
}

static bool ask(int s, long i)
{
    char q[32], a[32];
    int n = snprintf(q, sizeof(q), "cycle-%ld", i);
    if (nn_send(s, q, (size_t) n, 0) != n)
        return false;
    int m = nn_recv(s, a, sizeof(a), 0);
    return m == n && memcmp(a, q, (size_t) n) == 0;
}

static void addr_for(const char *kind, char *addr)
{
    if (strcmp(kind, "inproc") == 0) {
        snprintf(addr, NN_SOCKADDR_MAX, "inproc://churn-%d", (int) getpid());
    } else if (strcmp(kind, "ipc") == 0) {
        snprintf(addr, NN_SOCKADDR_MAX, "ipc:///tmp/fm-load-churn-%d.ipc", (int) getpid());
        unlink(addr + 6);
    } else {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(in);
        bind(fd, (struct sockaddr *) &in, sizeof(in));
        getsockname(fd, (struct sockaddr *) &in, &len);
        close(fd);
        snprintf(addr, NN_SOCKADDR_MAX, "tcp://127.0.0.1:%d", ntohs(in.sin_port));
    }
}

static int client(void)
{
    int c = nn_socket(AF_SP, NN_REQ);
    set_int(c, NN_RCVTIMEO, 10000);
    set_int(c, NN_SNDTIMEO, 10000);
    set_int(c, NN_RECONNECT_IVL, 10);
    return c;
}

/* cycles of connect / one exchange / disconnect, half each way. */
static void churn(int server, const char *addr, long from, long cycles, long *ok)
{
    int keep = client();
    for (long i = from; i < from + cycles; i++) {
        if (i % 2 == 0) {
            int c = client();
            CHECK(nn_connect(c, addr) >= 0);
            *ok += ask(c, i);
            CHECK(nn_close(c) == 0);
        } else {
            int eid = nn_connect(keep, addr);
            CHECK(eid >= 0);
            *ok += ask(keep, i);
            CHECK(nn_shutdown(keep, eid) == 0);
        }
    }
    CHECK(nn_close(keep) == 0);
    /* Wait until the server has let go of every connection. */
    CHECK(WAIT_FOR(stat_of(server, NN_STAT_CURRENT_CONNECTIONS) == 0, 20));
}

static void run(const char *kind, long cycles)
{
    char addr[NN_SOCKADDR_MAX];
    addr_for(kind, addr);
    struct server sv = {.s = nn_socket(AF_SP, NN_REP)};
    CHECK(nn_bind(sv.s, addr) >= 0);
    CHECK(pthread_create(&sv.th, NULL, serve, &sv) == 0);

    /* Warm up: whatever the library allocates once (the loop, per-thread
       lists, table growth) exists before the measurement starts. */
    long ok = 0, warm = 200;
    churn(sv.s, addr, 0, warm, &ok);
    int fds0 = count_fds();
    size_t heap0 = heap_in_use();
    long rss0 = rss_kib();
    double t0 = tu_now();

    churn(sv.s, addr, warm, cycles, &ok);

    double took = tu_now() - t0;
    CHECK(ok == warm + cycles);
    CHECK(WAIT_FOR(count_fds() == fds0, 10));
    int fds1 = count_fds();
    size_t heap1 = heap_in_use();
    long rss1 = rss_kib();
    long heap_growth = (long) heap1 - (long) heap0;
    printf("  %s: %ld cycles in %.1f s (%.0f/s), all connected; descriptors %d -> %d; heap in "
           "use %+ld bytes; RSS %+ld KiB\n",
           kind, cycles, took, (double) cycles / took, fds0, fds1, heap_growth, rss1 - rss0);
    CHECK(fds1 == fds0);
#ifndef FM_SANITIZED
    CHECK(heap_growth < 256 * 1024);
    CHECK(rss1 - rss0 < 8 * 1024);
#endif
    CHECK(nn_close(sv.s) == 0);
    pthread_join(sv.th, NULL);
    CHECK(sv.served >= ok);
    if (strcmp(kind, "ipc") == 0)
        unlink(addr + 6);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    long n = soak() ? 100000 : 10000;
    run("inproc", n);
    run("ipc", n);
    run("tcp", soak() ? 20000 : 2000);
    TEST_DONE();
}
