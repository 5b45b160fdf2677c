/* rpc.c: request/reply (REQ/REP). A server answers each request with the
   request's text in capitals; a client sends its requests one at a time
   and prints the answers.

     rpc server [ADDR]              serve until SIGINT/SIGTERM
     rpc client [ADDR] [TEXT...]    one request per TEXT ("hello" if none)
     rpc demo                       a server process and a client, over ipc

   ADDR defaults to tcp://127.0.0.1:5555. */
#include "example.h"

#include <ctype.h>
#include <nanomsg/reqrep.h>

#define DEFAULT_ADDR "tcp://127.0.0.1:5555"

static int server(const char *addr)
{
    ex_stop_on_signals();
    int s = nn_socket(AF_SP, NN_REP);
    if (s < 0)
        ex_fail("nn_socket");
    if (nn_bind(s, addr) < 0)
        ex_fail("nn_bind");
    for (;;) {
        /* NN_MSG: the library hands over its own buffer, which we change
           in place and hand back to nn_send; nothing is copied. */
        char *req = NULL;
        int n = nn_recv(s, &req, NN_MSG, 0);
        if (n < 0)
            break;
        for (int i = 0; i < n; i++)
            req[i] = (char) toupper((unsigned char) req[i]);
        /* A REP socket routes the reply to whoever sent the request
           received last; the client's identity never shows up here. */
        if (nn_send(s, &req, NN_MSG, 0) < 0) {
            nn_freemsg(req);
            break;
        }
    }
    /* nn_term() from the signal waiter is why the loop ended, unless an
       error was. The socket is gone then, so this close may fail. */
    int stopped = ex_stop_requested();
    if (!stopped)
        fprintf(stderr, "server: %s\n", nn_strerror(nn_errno()));
    nn_close(s);
    return stopped ? 0 : 1;
}

/* Sends each request and checks that its answer is the same text in
   capitals; returns the number of wrong or missing answers. */
static int client(const char *addr, int count, char **texts)
{
    int s = nn_socket(AF_SP, NN_REQ);
    if (s < 0)
        ex_fail("nn_socket");
    /* Connecting needs no server yet: the library keeps trying, and a
       request sent meanwhile waits for the connection. */
    if (nn_connect(s, addr) < 0)
        ex_fail("nn_connect");
    /* Give up on a server that never answers. (A REQ socket also resends
       a request that got no answer within NN_REQ_RESEND_IVL, 60 s by
       default, e.g. because the server it went to died.) */
    int timeout = 10000;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout, sizeof(timeout));

    int errors = 0;
    for (int i = 0; i < count; i++) {
        size_t len = strlen(texts[i]);
        if (nn_send(s, texts[i], len, 0) < 0)
            ex_fail("nn_send");
        char *rep = NULL;
        int n = nn_recv(s, &rep, NN_MSG, 0);
        if (n < 0) {
            fprintf(stderr, "client: no answer to \"%s\": %s\n", texts[i], nn_strerror(nn_errno()));
            errors++;
            continue;
        }
        printf("%s -> %.*s\n", texts[i], n, rep);
        int ok = (size_t) n == len;
        for (size_t j = 0; ok && j < len; j++)
            ok = rep[j] == toupper((unsigned char) texts[i][j]);
        if (!ok)
            errors++;
        nn_freemsg(rep);
    }
    nn_close(s);
    return errors;
}

static int server_role(void *addr)
{
    return server(addr);
}

static int demo(void)
{
    char addr[128];
    ex_demo_addr(addr, sizeof(addr), "rpc", 0);
    pid_t srv = ex_spawn(server_role, addr);
    char *texts[] = {"hello", "request/reply", "femtomsg"};
    int errors = client(addr, 3, texts);
    int status = ex_stop_child(srv);
    ex_demo_unlink(addr);
    if (errors || status != 0) {
        fprintf(stderr, "demo failed: %d bad answers, server status %d\n", errors, status);
        return 1;
    }
    printf("rpc demo ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    const char *role = argc > 1 ? argv[1] : "";
    const char *addr = argc > 2 ? argv[2] : DEFAULT_ADDR;
    if (strcmp(role, "server") == 0)
        return server(addr);
    if (strcmp(role, "client") == 0) {
        char *hello[] = {"hello"};
        return client(addr, argc > 3 ? argc - 3 : 1, argc > 3 ? argv + 3 : hello) ? 1 : 0;
    }
    if (strcmp(role, "demo") == 0)
        return demo();
    fprintf(stderr, "usage: %s server [ADDR] | client [ADDR] [TEXT...] | demo\n", argv[0]);
    return 2;
}
