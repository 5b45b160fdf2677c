/* peer_nng.c: the NNG side of the tls+tcp and wss interop tests, on NNG's
   native API and its own TLS (mbedTLS). Separate process, linked against
   NNG only. URL is tls+tcp:// or wss://; exit 77 where this NNG has no TLS
   (or no transport for URL).

     peer_nng req URL CA [CERTKEY]   dial (the server's certificate checked
                                      against CA, name "localhost"), send
                                      the test messages, check each echo;
                                      exit 0 when all came back intact
     peer_nng refused URL CA          the dial must fail; exit 0 if it did
     peer_nng rep URL CERTKEY [CA]    listen (with CA: client certificates
                                      required), print "ready", echo until
                                      stdin closes */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, int rv)
{
    fprintf(stderr, "peer_nng: %s: %s\n", what, nng_strerror(rv));
    if (rv == NNG_ENOTSUP) {
        fprintf(stderr, "peer_nng: this NNG has no TLS: skipped\n");
        exit(77);
    }
    return 1;
}

static const size_t sizes[] = {0, 1, 100, 16385, 65536, 5 * 1024 * 1024};

static int run_req(const char *url, const char *ca, const char *certkey, int expect_refusal)
{
    nng_socket s;
    nng_tls_config *cfg;
    nng_dialer d;
    int rv;
    if ((rv = nng_req0_open(&s)) || (rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)))
        return fail("open", rv);
    if ((rv = nng_tls_config_ca_file(cfg, ca)) ||
        (rv = nng_tls_config_server_name(cfg, "localhost")) ||
        (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)))
        return fail("config", rv);
    if (certkey && (rv = nng_tls_config_cert_key_file(cfg, certkey, NULL)))
        return fail("cert", rv);
    nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 10000);
    if ((rv = nng_dialer_create(&d, s, url)) || (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)))
        return fail("dialer", rv);
    rv = nng_dialer_start(d, 0); /* synchronous: the TLS handshake included */
    if (expect_refusal) {
        if (rv == 0) {
            fprintf(stderr, "peer_nng: the dial worked, it should not have\n");
            return 1;
        }
        printf("refused: %s\n", nng_strerror(rv));
        return 0;
    }
    if (rv)
        return fail("dial", rv);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        unsigned char *m = malloc(n + 1);
        for (size_t k = 0; k < n; k++)
            m[k] = (unsigned char) (k * 7 + i);
        if ((rv = nng_send(s, m, n, 0)))
            return fail("send", rv);
        void *r;
        size_t rn;
        if ((rv = nng_recv(s, &r, &rn, NNG_FLAG_ALLOC)))
            return fail("recv", rv);
        if (rn != n || (n && memcmp(r, m, n) != 0)) {
            fprintf(stderr, "peer_nng: echo of %zu bytes differs (%zu came)\n", n, rn);
            return 1;
        }
        nng_free(r, rn);
        free(m);
    }
    printf("req ok\n");
    nng_close(s);
    nng_tls_config_free(cfg);
    return 0;
}

static int run_rep(const char *url, const char *certkey, const char *ca)
{
    nng_socket s;
    nng_tls_config *cfg;
    nng_listener l;
    int rv;
    if ((rv = nng_rep0_open(&s)) || (rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)))
        return fail("open", rv);
    if ((rv = nng_tls_config_cert_key_file(cfg, certkey, NULL)))
        return fail("cert", rv);
    if (ca && ((rv = nng_tls_config_ca_file(cfg, ca)) ||
               (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED))))
        return fail("ca", rv);
    nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 100);
    if ((rv = nng_listener_create(&l, s, url)) || (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg)) ||
        (rv = nng_listener_start(l, 0)))
        return fail("listen", rv);
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        if (poll(&p, 1, 0) == 1)
            break; /* stdin closed or written: done */
        nng_msg *m;
        rv = nng_recvmsg(s, &m, 0);
        if (rv == NNG_ETIMEDOUT)
            continue;
        if (rv)
            return fail("recv", rv);
        if ((rv = nng_sendmsg(s, m, 0)))
            return fail("send", rv);
    }
    nng_close(s);
    nng_tls_config_free(cfg);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "req") == 0)
        return run_req(argv[2], argv[3], argc > 4 ? argv[4] : NULL, 0);
    if (argc == 4 && strcmp(argv[1], "refused") == 0)
        return run_req(argv[2], argv[3], NULL, 1);
    if (argc >= 4 && strcmp(argv[1], "rep") == 0)
        return run_rep(argv[2], argv[3], argc > 4 ? argv[4] : NULL);
    fprintf(stderr, "usage: peer_nng req|refused|rep URL FILE [FILE]\n");
    return 2;
}
