/* page_claims.c: the statements of the man pages that the page-by-page
   audit found wrong and rewrote, each asserted here against the library,
   so that page and code cannot drift apart again unnoticed. Each check
   names its page. (The examples themselves are run by run_examples.sh.) */
#include "../testutil.h"

#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>

/* nn_socket(3): 0, 1, 2, ... first, then the most recently freed number;
   at most 512 sockets, then EMFILE. */
static void socket_numbers(void)
{
    int s[3];
    for (int i = 0; i < 3; i++)
        s[i] = nn_socket(AF_SP, NN_PAIR);
    CHECK(s[0] == 0 && s[1] == 1 && s[2] == 2);
    nn_close(s[0]);
    nn_close(s[2]);
    int again = nn_socket(AF_SP, NN_PAIR);
    CHECK(again == 2);
    int then = nn_socket(AF_SP, NN_PAIR);
    CHECK(then == 0);
    nn_close(again);
    nn_close(then);
    nn_close(s[1]);

    static int all[512];
    int n = 0;
    while (n < 512 && (all[n] = nn_socket(AF_SP, NN_PULL)) >= 0)
        n++;
    CHECK(n == 512);
    CHECK_ERR(nn_socket(AF_SP, NN_PULL), EMFILE);
    while (n > 0)
        nn_close(all[--n]);
}

/* nn_bind(3), nn_connect(3): a NULL address is EINVAL; an address must be
   shorter than NN_SOCKADDR_MAX; a failed attempt uses up no identifier. */
static void endpoint_addresses(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    CHECK_ERR(nn_bind(s, NULL), EINVAL);
    CHECK_ERR(nn_connect(s, NULL), EINVAL);

    char addr[NN_SOCKADDR_MAX + 1];
    memset(addr, 'a', sizeof addr);
    memcpy(addr, "inproc://", 9);
    addr[NN_SOCKADDR_MAX] = '\0';
    CHECK_ERR(nn_bind(s, addr), ENAMETOOLONG);
    CHECK_ERR(nn_connect(s, addr), ENAMETOOLONG);
    addr[NN_SOCKADDR_MAX - 1] = '\0';
    CHECK(nn_bind(s, addr) == 1);

    CHECK_ERR(nn_bind(s, "tcp://127.0.0.1"), EINVAL);
    CHECK_ERR(nn_connect(s, "nosuch://x"), EPROTONOSUPPORT);
    CHECK(nn_connect(s, "inproc://claims-2") == 2);
    nn_close(s);
}

/* nn_inproc(7): a connection stops taking messages once those waiting
   reach NN_RCVBUF bytes, but never before it holds two. */
static void inproc_queue_limit(void)
{
    int push = nn_socket(AF_SP, NN_PUSH), pull = nn_socket(AF_SP, NN_PULL);
    int rcvbuf = 1024;
    static char big[5000];
    CHECK(nn_setsockopt(pull, NN_SOL_SOCKET, NN_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
    CHECK(nn_bind(pull, "inproc://claims-queue") > 0);
    CHECK(nn_connect(push, "inproc://claims-queue") > 0);
    CHECK(nn_send(push, big, sizeof big, NN_DONTWAIT) == (int) sizeof big);
    CHECK(nn_send(push, "small", 5, NN_DONTWAIT) == 5);
    CHECK_ERR(nn_send(push, "small", 5, NN_DONTWAIT), EAGAIN);
    CHECK(nn_recv(pull, big, sizeof big, 0) == (int) sizeof big);
    CHECK(nn_send(push, "small", 5, NN_DONTWAIT) == 5);
    nn_close(push);
    nn_close(pull);
}

/* nn_inproc(7): of the connection statistics, established (connecting
   side) and current (both sides) only. */
static void inproc_statistics(void)
{
    int bound = nn_socket(AF_SP, NN_PAIR), connecting = nn_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(bound, "inproc://claims-stats") > 0);
    CHECK(nn_connect(connecting, "inproc://claims-stats") > 0);
    CHECK(nn_get_statistic(connecting, NN_STAT_ESTABLISHED_CONNECTIONS) == 1);
    CHECK(nn_get_statistic(connecting, NN_STAT_CURRENT_CONNECTIONS) == 1);
    CHECK(nn_get_statistic(bound, NN_STAT_CURRENT_CONNECTIONS) == 1);
    CHECK(nn_get_statistic(bound, NN_STAT_ACCEPTED_CONNECTIONS) == 0);
    CHECK(nn_get_statistic(bound, NN_STAT_ESTABLISHED_CONNECTIONS) == 0);
    nn_close(connecting);
    CHECK(WAIT_FOR(nn_get_statistic(bound, NN_STAT_CURRENT_CONNECTIONS) == 0, 30));
    CHECK(nn_get_statistic(bound, NN_STAT_DROPPED_CONNECTIONS) == 0);
    CHECK(nn_get_statistic(bound, NN_STAT_BROKEN_CONNECTIONS) == 0);
    nn_close(bound);
}

/* nn_shutdown(3): messages that arrived through the removed endpoint's
   connections and were not yet received are discarded by the time the
   call returns (inproc delivers at nn_send, so they are there when
   nn_shutdown runs); what came through another endpoint stays. */
static void shutdown_discards_arrived(void)
{
    int push = nn_socket(AF_SP, NN_PUSH), pull = nn_socket(AF_SP, NN_PULL);
    int other = nn_socket(AF_SP, NN_PUSH);
    CHECK(nn_bind(push, "inproc://claims-shutdown") > 0);
    CHECK(nn_bind(other, "inproc://claims-shutdown-other") > 0);
    int eid = nn_connect(pull, "inproc://claims-shutdown");
    CHECK(eid > 0);
    CHECK(nn_connect(pull, "inproc://claims-shutdown-other") > 0);
    for (int i = 0; i < 3; i++)
        CHECK(nn_send(push, "abc", 3, 0) == 3);
    CHECK(nn_send(other, "kept", 4, 0) == 4);
    CHECK(nn_shutdown(pull, eid) == 0);
    char buf[8];
    CHECK(nn_recv(pull, buf, sizeof buf, NN_DONTWAIT) == 4);
    CHECK_ERR(nn_recv(pull, buf, sizeof buf, NN_DONTWAIT), EAGAIN);
    nn_close(push);
    nn_close(other);
    nn_close(pull);
}

/* nn_tls(7): binding needs a certificate and key: EINVAL without. */
static void tls_bind_needs_certificate(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    errno = 0;
    int rc = nn_bind(s, "tls+tcp://127.0.0.1:5999");
    if (!(rc == -1 && errno == EPROTONOSUPPORT)) /* built with OpenSSL */
        CHECK(rc == -1 && errno == EINVAL);
    nn_close(s);
}

int main(void)
{
    socket_numbers();
    endpoint_addresses();
    inproc_queue_limit();
    inproc_statistics();
    tls_bind_needs_certificate();
    shutdown_discards_arrived();
    TEST_DONE();
}
