/* driver.c: interoperability over TLS between femtomsg (this program) and
   NNG's native tls+tcp or wss transport (peer_nng, a separate process on
   NNG's own API and TLS stack), with certificates made at start by
   tests/tls_certs.sh. Both directions (femtomsg REP with NNG REQ, NNG REP
   with femtomsg REQ), with verified certificates, mutual authentication,
   and refusals of an untrusted certificate. tls+tcp dials localhost; wss
   dials 127.0.0.1 with the path /tls, since NNG's ws serves only requests
   naming the host it was bound to. Exit 77 (skipped) where NNG has no TLS.

   usage: driver <peer_nng> <tls_certs.sh> [tls+tcp|wss] */
#include "../testutil.h"

#include <nanomsg/reqrep.h>
#include <nanomsg/tls.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *peer;
static const char *scheme = "tls+tcp";
static char dir[256];

static const char *path(const char *name)
{
    static char buf[8][512];
    static int i;
    char *p = buf[i++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

struct child {
    pid_t pid;
    int in, out;
    int exited, st; /* reaped already, and its wait status */
};

static struct child spawn(const char *a1, const char *a2, const char *a3, const char *a4)
{
    int in[2], out[2];
    struct child c = {-1, -1, -1, 0, 0};
    if (pipe(in) || pipe(out))
        return c;
    c.pid = fork();
    if (c.pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl(peer, peer, a1, a2, a3, a4, (char *) NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c.in = in[1];
    c.out = out[0];
    return c;
}

/* The child's exit status; its 77 (no TLS in this NNG) skips the test. */
static int status(int st)
{
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (code == 77) {
        fprintf(stderr, "NNG has no %s: skipped\n", scheme);
        exit(77);
    }
    return code;
}

static int finish(struct child *c)
{
    close(c->in);
    if (!c->exited)
        waitpid(c->pid, &c->st, 0);
    close(c->out);
    return status(c->st);
}

/* The first line the child prints (its "ready"). */
static void wait_line(struct child *c, const char *want)
{
    char line[128];
    size_t n = 0;
    ssize_t r = 1;
    while (n < sizeof(line) - 1 && (r = read(c->out, line + n, 1)) == 1 && line[n] != '\n')
        n++;
    line[n] = '\0';
    if (r == 0) { /* it is gone: perhaps to say skip */
        c->exited = waitpid(c->pid, &c->st, 0) == c->pid;
        if (c->exited)
            status(c->st);
    }
    CHECK(strcmp(line, want) == 0);
}

static int port_next;
static int next_port(void)
{
    if (!port_next)
        port_next = 20000 + (int) ((unsigned) getpid() * 37u % 12000u);
    return port_next++;
}

static int fm_sock(int type)
{
    int s = nn_socket(AF_SP, type);
    int tmo = 10000, max = -1, ivl = 50;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo));
    nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &tmo, sizeof(tmo));
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max));
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, &ivl, sizeof(ivl));
    return s;
}

static int set_str(int s, int opt, const char *v) { return nn_setsockopt(s, NN_TLS, opt, v, strlen(v)); }

/* The address of port for a dialer that would name host (see the top). */
static const char *url(const char *host, int port)
{
    static char buf[4][128];
    static int i;
    char *p = buf[i++ % 4];
    int ws = !strcmp(scheme, "wss");
    snprintf(p, 128, "%s://%s:%d%s", scheme, ws ? "127.0.0.1" : host, port, ws ? "/tls" : "");
    return p;
}

/* A femtomsg endpoint that cannot be made leaves nothing to test (each
   step would wait out its timeouts): stop. */
static void made(int rc, const char *call, const char *addr)
{
    if (rc < 0) {
        fprintf(stderr, "%s %s: %s: stopped\n", call, addr, nn_strerror(errno));
        exit(1);
    }
}

static void fm_connect(int s, int port)
{
    const char *addr = url("localhost", port);
    made(nn_connect(s, addr), "nn_connect", addr);
}

/* Where a listening femtomsg endpoint counts a failed TLS handshake: a
   tls+tcp connection is made before it, and breaks (nn_tls(7)); a wss
   one is still in the listener's admission, whose failures are accept
   errors (nn_ws(7)). A connecting endpoint counts a broken connection
   for both. */
static int listener_failures(void)
{
    return strcmp(scheme, "wss") ? NN_STAT_BROKEN_CONNECTIONS : NN_STAT_ACCEPT_ERRORS;
}

/* femtomsg REP on the scheme with certkey (and, with ca, client
   certificates required); returns the port. */
static int fm_rep(int s, const char *certkey, const char *ca)
{
    CHECK(set_str(s, NN_TLS_CERT_KEY_FILE, path(certkey)) == 0);
    if (ca) {
        int mode = NN_TLS_AUTH_REQUIRED;
        CHECK(set_str(s, NN_TLS_CA_FILE, path(ca)) == 0);
        CHECK(nn_setsockopt(s, NN_TLS, NN_TLS_AUTH_MODE, &mode, sizeof(mode)) == 0);
    }
    for (;;) {
        int port = next_port();
        const char *addr = url("127.0.0.1", port);
        int rc = nn_bind(s, addr);
        if (rc >= 0)
            return port;
        if (errno != EADDRINUSE)
            made(rc, "nn_bind", addr);
    }
}

/* Echo on s until the child is gone; its exit status. */
static int echo_until_exit(int s, struct child *c)
{
    int tmo = 100;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo));
    for (;;) {
        void *m = NULL;
        int n = nn_recv(s, &m, NN_MSG, 0);
        if (n >= 0) {
            CHECK(nn_send(s, &m, NN_MSG, 0) == n);
            continue;
        }
        int st;
        if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
            close(c->in);
            close(c->out);
            return status(st);
        }
    }
}

/* NNG REQ -> femtomsg REP. */
static void nng_to_fm(const char *clientcert, const char *require_ca)
{
    int s = fm_sock(NN_REP);
    int port = fm_rep(s, "server.pem", require_ca);
    struct child c = spawn("req", url("localhost", port), path("ca.pem"),
                           clientcert ? path(clientcert) : NULL);
    CHECK(echo_until_exit(s, &c) == 0);
    nn_close(s);
}

/* femtomsg REQ -> NNG REP, with the sizes the NNG side uses too. */
static void fm_to_nng(const char *clientcert, const char *require_ca)
{
    int port = next_port();
    struct child c = spawn("rep", url("127.0.0.1", port), path("server.pem"),
                           require_ca ? path(require_ca) : NULL);
    wait_line(&c, "ready");
    int s = fm_sock(NN_REQ);
    CHECK(set_str(s, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    if (clientcert)
        CHECK(set_str(s, NN_TLS_CERT_KEY_FILE, path(clientcert)) == 0);
    fm_connect(s, port);
    const size_t sizes[] = {0, 1, 100, 16385, 65536, 5 * 1024 * 1024};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        unsigned char *m = malloc(n + 1);
        for (size_t k = 0; k < n; k++)
            m[k] = (unsigned char) (k * 13 + i);
        CHECK(nn_send(s, m, n, 0) == (int) n);
        void *r = NULL;
        int got = nn_recv(s, &r, NN_MSG, 0);
        CHECK(got == (int) n);
        if (got == (int) n)
            CHECK(memcmp(r, m, n) == 0);
        if (r)
            nn_freemsg(r);
        free(m);
    }
    nn_close(s);
    CHECK(finish(&c) == 0);
}

static void remove_dir(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    if (argc != 3 && !(argc == 4 && (!strcmp(argv[3], "tls+tcp") || !strcmp(argv[3], "wss")))) {
        fprintf(stderr, "usage: driver <peer_nng> <tls_certs.sh> [tls+tcp|wss]\n");
        return 2;
    }
    peer = argv[1];
    if (argc == 4)
        scheme = argv[3];
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof(dir), "/tmp/fm_tlsi_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    atexit(remove_dir);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", argv[2], dir);
    if (system(cmd) != 0)
        return 1;

    nng_to_fm(NULL, NULL);
    fm_to_nng(NULL, NULL);
    /* Mutual authentication, both ways. */
    nng_to_fm("client.pem", "ca.pem");
    fm_to_nng("client.pem", "ca.pem");

    /* NNG refuses femtomsg's untrusted certificate; femtomsg counts it. */
    int s = fm_sock(NN_REP);
    int port = fm_rep(s, "evil.pem", NULL);
    struct child c = spawn("refused", url("localhost", port), path("ca.pem"), NULL);
    CHECK(finish(&c) == 0);
    CHECK(WAIT_FOR(nn_get_statistic(s, listener_failures()) >= 1, 10));
    nn_close(s);
    /* femtomsg requires a client certificate NNG does not have. */
    s = fm_sock(NN_REP);
    port = fm_rep(s, "server.pem", "ca.pem");
    c = spawn("refused", url("localhost", port), path("ca.pem"), NULL);
    CHECK(finish(&c) == 0);
    CHECK(WAIT_FOR(nn_get_statistic(s, listener_failures()) >= 1, 10));
    nn_close(s);
    /* femtomsg refuses NNG's untrusted certificate. */
    port = next_port();
    c = spawn("rep", url("127.0.0.1", port), path("evil.pem"), NULL);
    wait_line(&c, "ready");
    s = fm_sock(NN_REQ);
    CHECK(set_str(s, NN_TLS_CA_FILE, path("ca.pem")) == 0);
    fm_connect(s, port);
    CHECK(WAIT_FOR(nn_get_statistic(s, NN_STAT_BROKEN_CONNECTIONS) >= 2, 10));
    int tmo = 300;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof(tmo));
    CHECK(nn_send(s, "x", 1, 0) == 1); /* REQ keeps it for a peer to come */
    char buf[8];
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), 0), ETIMEDOUT);
    nn_close(s);
    CHECK(finish(&c) == 0);
    TEST_DONE();
}
