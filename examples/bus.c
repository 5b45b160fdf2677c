/* bus.c: a message bus (BUS). Every node sends to all the nodes it is
   directly connected to and hears all of them. The bus does not relay, so
   for everyone to hear everyone the nodes form a full mesh: node i binds
   its own address and connects to the addresses of nodes 0..i-1, which
   makes exactly one connection between any two nodes (two would deliver
   every message twice).

     bus node INDEX ADDR0 ADDR1 ...    be node INDEX of the listed nodes
     bus demo                          four nodes in four processes, over ipc

   A node says "node I knows M" every so often, M being the set (a bit
   mask) of nodes it has heard, itself included, and prints each node it
   hears for the first time. It runs until SIGINT/SIGTERM and exits 0 if it
   heard every other node. Start them in any order; for example:
     bus node 0 tcp://127.0.0.1:5560 tcp://127.0.0.1:5561 &
     bus node 1 tcp://127.0.0.1:5560 tcp://127.0.0.1:5561 */
#include "example.h"

#include <nanomsg/bus.h>

#define MAX_NODES 16

/* Runs node `me` of n. The demo's coordinator (node 0 there) does not wait
   for a signal: it stops once every node's own report says it has heard
   all the others, which is the demo's proof that the mesh works. */
static int node(int me, int n, char **addrs, int coordinator, int interval_ms)
{
    if (!coordinator)
        ex_stop_on_signals();
    int s = nn_socket(AF_SP, NN_BUS);
    if (s < 0)
        ex_fail("nn_socket");
    if (nn_bind(s, addrs[me]) < 0)
        ex_fail("nn_bind");
    for (int j = 0; j < me; j++)
        if (nn_connect(s, addrs[j]) < 0)
            ex_fail("nn_connect");

    unsigned all = (1u << n) - 1, known = 1u << me;
    unsigned reported[MAX_NODES] = {0}; /* what each node last said it knows */
    reported[me] = known;
    double deadline = ex_now() + 30.0;
    for (;;) {
        char msg[64];
        int len = snprintf(msg, sizeof(msg), "node %d knows %x", me, known);
        /* A bus node's message goes out to every peer connected right now;
           nodes that connect later never see it, so keep repeating. */
        if (nn_send(s, msg, (size_t) len, 0) < 0)
            break;

        /* Listen until the next report is due, with nn_poll so that the
           wait has a deadline. */
        double next = ex_now() + interval_ms / 1000.0;
        struct nn_pollfd pfd = {.fd = s, .events = NN_POLLIN};
        int wait_ms;
        while ((wait_ms = (int) ((next - ex_now()) * 1000)) > 0) {
            int rc = nn_poll(&pfd, 1, wait_ms);
            if (rc < 0)
                goto out;
            if (rc == 0 || !(pfd.revents & NN_POLLIN))
                continue;
            char in[64];
            int got = nn_recv(s, in, sizeof(in) - 1, NN_DONTWAIT);
            if (got < 0) {
                if (nn_errno() == EAGAIN)
                    continue;
                goto out;
            }
            in[got < (int) sizeof(in) - 1 ? got : (int) sizeof(in) - 1] = '\0';
            int from;
            unsigned mask;
            if (sscanf(in, "node %d knows %x", &from, &mask) != 2 || from < 0 || from >= n)
                continue;
            if (!(known & (1u << from)))
                printf("node %d hears node %d\n", me, from);
            fflush(stdout);
            known |= 1u << from;
            reported[from] = mask;
        }
        reported[me] = known;
        if (coordinator) {
            int everyone = 1;
            for (int j = 0; j < n; j++)
                everyone &= reported[j] == all;
            if (everyone)
                break;
            if (ex_now() > deadline) {
                fprintf(stderr, "node %d: the mesh did not complete in 30 s\n", me);
                break;
            }
        }
    }
out:
    if (!coordinator && !ex_stop_requested())
        fprintf(stderr, "node %d: %s\n", me, nn_strerror(nn_errno()));
    nn_close(s);
    return known == all ? 0 : 1;
}

struct node_args {
    int me, n;
    char **addrs;
};

static int node_role(void *arg)
{
    struct node_args *a = arg;
    return node(a->me, a->n, a->addrs, 0, 50);
}

static int demo(void)
{
    enum { N = 4 };
    char names[N][128], *addrs[N];
    for (int i = 0; i < N; i++) {
        ex_demo_addr(names[i], sizeof(names[i]), "bus", i);
        addrs[i] = names[i];
    }
    struct node_args args[N];
    pid_t kids[N];
    for (int i = 1; i < N; i++) {
        args[i] = (struct node_args){i, N, addrs};
        kids[i] = ex_spawn(node_role, &args[i]);
    }
    int failures = node(0, N, addrs, 1, 50);
    for (int i = 1; i < N; i++)
        failures += ex_stop_child(kids[i]) != 0;
    for (int i = 0; i < N; i++)
        ex_demo_unlink(addrs[i]);
    puts(failures ? "bus demo failed" : "bus demo ok");
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *role = argc > 1 ? argv[1] : "";
    if (strcmp(role, "node") == 0 && argc >= 4) {
        int me = atoi(argv[2]), n = argc - 3;
        if (me < 0 || me >= n || n > MAX_NODES) {
            fprintf(stderr, "INDEX must name one of the (at most %d) addresses\n", MAX_NODES);
            return 2;
        }
        return node(me, n, argv + 3, 0, 1000);
    }
    if (strcmp(role, "demo") == 0)
        return demo();
    fprintf(stderr, "usage: %s node INDEX ADDR0 ADDR1 ... | demo\n", argv[0]);
    return 2;
}
