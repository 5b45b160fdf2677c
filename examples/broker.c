/* broker.c: a request/reply broker built with nn_device. Clients (REQ)
   connect to the broker's front, workers (REP) connect to its back, and
   neither side needs to know the other's address or how many there are.
   The broker holds two raw sockets, a REP in front and a REQ behind;
   nn_device moves every request from front to back and every reply from
   back to front. Raw sockets keep the protocol header (the route a request
   took) with each message instead of acting on it, so each reply finds its
   way back through the broker to the client that asked.

     broker broker [FRONT] [BACK]        forward until stopped
     broker worker [BACK] [NAME]         answer requests until stopped
     broker client [FRONT] [N]           send N requests (default 5)
     broker demo                         a broker, two workers, two clients, over ipc

   FRONT defaults to tcp://127.0.0.1:5561 and BACK to tcp://127.0.0.1:5562.
   A worker answers "NAME: " followed by the request. */
#include "example.h"

#include <nanomsg/reqrep.h>

#define FRONT_ADDR "tcp://127.0.0.1:5561"
#define BACK_ADDR "tcp://127.0.0.1:5562"

static int broker(const char *front_addr, const char *back_addr)
{
    ex_stop_on_signals();
    int front = nn_socket(AF_SP_RAW, NN_REP);
    int back = nn_socket(AF_SP_RAW, NN_REQ);
    if (front < 0 || back < 0)
        ex_fail("nn_socket");
    if (nn_bind(front, front_addr) < 0 || nn_bind(back, back_addr) < 0)
        ex_fail("nn_bind");
    /* Loops until it fails; nn_term() (from the signal waiter) is the
       normal way to end it. */
    nn_device(front, back);
    int stopped = ex_stop_requested();
    if (!stopped)
        fprintf(stderr, "broker: nn_device: %s\n", nn_strerror(nn_errno()));
    nn_close(front);
    nn_close(back);
    return stopped ? 0 : 1;
}

/* An ordinary REP server: it cannot tell that its requests come through a
   broker. */
static int worker(const char *back_addr, const char *name)
{
    ex_stop_on_signals();
    int s = nn_socket(AF_SP, NN_REP);
    if (s < 0)
        ex_fail("nn_socket");
    if (nn_connect(s, back_addr) < 0)
        ex_fail("nn_connect");
    for (;;) {
        char req[256], rep[320];
        int n = nn_recv(s, req, sizeof(req), 0);
        if (n < 0)
            break;
        if (n > (int) sizeof(req))
            n = sizeof(req);
        int len = snprintf(rep, sizeof(rep), "%s: %.*s", name, n, req);
        if (len >= (int) sizeof(rep))
            len = sizeof(rep) - 1;
        if (nn_send(s, rep, (size_t) len, 0) < 0)
            break;
    }
    int stopped = ex_stop_requested();
    if (!stopped)
        fprintf(stderr, "worker %s: %s\n", name, nn_strerror(nn_errno()));
    nn_close(s);
    return stopped ? 0 : 1;
}

/* An ordinary REQ client: it sends n numbered requests one after another
   and checks that every answer is to its own request. */
static int client(const char *front_addr, int n)
{
    int s = nn_socket(AF_SP, NN_REQ);
    if (s < 0)
        ex_fail("nn_socket");
    if (nn_connect(s, front_addr) < 0)
        ex_fail("nn_connect");
    int timeout = 10000;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout, sizeof(timeout));
    int errors = 0;
    for (int i = 0; i < n; i++) {
        char req[64];
        int len = snprintf(req, sizeof(req), "request %d from client %ld", i, (long) getpid());
        if (nn_send(s, req, (size_t) len, 0) < 0)
            ex_fail("nn_send");
        char *rep = NULL;
        int got = nn_recv(s, &rep, NN_MSG, 0);
        if (got < 0) {
            fprintf(stderr, "client: no answer to \"%s\": %s\n", req, nn_strerror(nn_errno()));
            errors++;
            continue;
        }
        printf("%.*s\n", got, rep);
        fflush(stdout);
        /* The answer is "NAME: " + our request. */
        const char *colon = memchr(rep, ':', (size_t) got);
        if (!colon || got - (colon + 2 - rep) != len || memcmp(colon + 2, req, (size_t) len) != 0)
            errors++;
        nn_freemsg(rep);
    }
    nn_close(s);
    return errors ? 1 : 0;
}

struct role_args {
    const char *front, *back, *name;
};

static int broker_role(void *arg)
{
    struct role_args *a = arg;
    return broker(a->front, a->back);
}

static int worker_role(void *arg)
{
    struct role_args *a = arg;
    return worker(a->back, a->name);
}

static int client_role(void *arg)
{
    struct role_args *a = arg;
    return client(a->front, 10);
}

static int demo(void)
{
    char front[128], back[128];
    ex_demo_addr(front, sizeof(front), "broker", 0);
    ex_demo_addr(back, sizeof(back), "broker", 1);
    struct role_args w1 = {front, back, "worker-1"}, w2 = {front, back, "worker-2"};
    pid_t brk = ex_spawn(broker_role, &w1);
    pid_t workers[2] = {ex_spawn(worker_role, &w1), ex_spawn(worker_role, &w2)};
    pid_t clients[2] = {ex_spawn(client_role, &w1), ex_spawn(client_role, &w1)};

    int failures = 0;
    for (int i = 0; i < 2; i++)
        failures += ex_reap(clients[i], 60.0) != 0;
    for (int i = 0; i < 2; i++)
        failures += ex_stop_child(workers[i]) != 0;
    failures += ex_stop_child(brk) != 0;
    ex_demo_unlink(front);
    ex_demo_unlink(back);
    puts(failures ? "broker demo failed" : "broker demo ok");
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *role = argc > 1 ? argv[1] : "";
    if (strcmp(role, "broker") == 0)
        return broker(argc > 2 ? argv[2] : FRONT_ADDR, argc > 3 ? argv[3] : BACK_ADDR);
    if (strcmp(role, "worker") == 0)
        return worker(argc > 2 ? argv[2] : BACK_ADDR, argc > 3 ? argv[3] : "worker");
    if (strcmp(role, "client") == 0)
        return client(argc > 2 ? argv[2] : FRONT_ADDR, argc > 3 ? atoi(argv[3]) : 5);
    if (strcmp(role, "demo") == 0)
        return demo();
    fprintf(stderr, "usage: %s broker [FRONT] [BACK] | worker [BACK] [NAME] | client [FRONT] [N] | demo\n",
            argv[0]);
    return 2;
}
