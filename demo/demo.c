/* demo.c: a short live demonstration of femtomsg: two threads talk over an
   inproc PAIR, one sending NN_MSG buffers that the other receives without a
   copy, then a round-trip timing. */
#define _POSIX_C_SOURCE 200809L
#include <nanomsg/nn.h>
#include <nanomsg/pair.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ROUNDS 100000

static void *echo(void *arg)
{
    int s = *(int *) arg;
    for (;;) {
        void *msg = NULL;
        int n = nn_recv(s, &msg, NN_MSG, 0);
        if (n < 0)
            break;
        if (nn_send(s, &msg, NN_MSG, 0) < 0) {
            nn_freemsg(msg);
            break;
        }
    }
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
    int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
    if (a < 0 || b < 0 || nn_bind(a, "inproc://demo") < 0 || nn_connect(b, "inproc://demo") < 0) {
        fprintf(stderr, "demo: %s\n", nn_strerror(nn_errno()));
        return 1;
    }
    pthread_t t;
    pthread_create(&t, NULL, echo, &b);

    const char *text = "hello from femtomsg";
    void *out = nn_allocmsg(strlen(text) + 1, 0);
    memcpy(out, text, strlen(text) + 1);
    void *sent = out;
    nn_send(a, &out, NN_MSG, 0);
    void *back = NULL;
    int n = nn_recv(a, &back, NN_MSG, 0);
    printf("echoed %d bytes: \"%s\" (same buffer both ways: %s)\n", n, (char *) back,
           back == sent ? "yes" : "no");
    nn_freemsg(back);

    char buf[64] = "ping";
    double t0 = now();
    for (int i = 0; i < ROUNDS; i++) {
        nn_send(a, buf, 64, 0);
        nn_recv(a, buf, sizeof(buf), 0);
    }
    double dt = now() - t0;
    printf("%d inproc round trips of 64 B: %.2f us one-way latency\n", ROUNDS,
           dt / ROUNDS / 2 * 1e6);
    nn_close(a); /* the echo thread's nn_recv returns and it exits */
    nn_close(b);
    pthread_join(t, NULL);
    return 0;
}
