/* browser_wss.c: the secure scheme of the browser test (wss_browser,
   driven by browser.c): the page over https, the sockets on wss://, both
   with the server certificate of tests/tls_certs.sh (SAN IP:127.0.0.1),
   made afresh in the test's directory. Chromium trusts the test CA only
   through the NSS database in its HOME ($HOME/.pki/nssdb, made with
   certutil, the CA imported as trusted for TLS servers); no flag weakens
   its checks. The untrusting HOME gets an empty database. Owns the
   certificates, both databases, the https server's OpenSSL context and its
   sessions. */
#include "browser.h"

#include <nanomsg/nn.h>
#include <nanomsg/tls.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static SSL_CTX *ctx;
static char certkey[512]; /* server.pem: the certificate, then its key */

/* Whether prog is an executable in $PATH. */
static bool on_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        char full[1024];
        snprintf(full, sizeof(full), "%.*s/%s", (int) n, path, prog);
        if (n && access(full, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    return false;
}

static bool run(const char *cmd)
{
    int st = system(cmd);
    if (st != 0)
        fprintf(stderr, "failed (status %d): %s\n", st, cmd);
    return st == 0;
}

/* $home/.pki/nssdb, empty; with the test CA trusted when ca is given. */
static bool make_nssdb(const char *home, const char *ca)
{
    char pki[600], db[600], cmd[2048];
    snprintf(pki, sizeof(pki), "%s/.pki", home);
    snprintf(db, sizeof(db), "%s/nssdb", pki);
    if ((mkdir(pki, 0700) != 0 && errno != EEXIST) || (mkdir(db, 0700) != 0 && errno != EEXIST)) {
        perror(db);
        return false;
    }
    snprintf(cmd, sizeof(cmd), "certutil -N -d 'sql:%s' --empty-password", db);
    if (!run(cmd))
        return false;
    if (!ca)
        return true;
    /* "C,,": a CA trusted to issue TLS server certificates, nothing else. */
    snprintf(cmd, sizeof(cmd), "certutil -A -d 'sql:%s' -n femtomsg-test-ca -t 'C,,' -i '%s'", db, ca);
    return run(cmd);
}

static int prepare(const char *dir, const char *home, const char *untrusting_home)
{
    if (!on_path("certutil")) {
        printf("certutil is not installed (apt-get install libnss3-tools): skipped\n");
        return 77;
    }
    char certs[512], ca[600], cmd[1200];
    snprintf(certs, sizeof(certs), "%s/certs", dir);
    snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", FM_TLS_CERTS_SH, certs);
    if (!run(cmd))
        return -1;
    snprintf(ca, sizeof(ca), "%s/ca.pem", certs);
    snprintf(certkey, sizeof(certkey), "%s/server.pem", certs);
    if (!make_nssdb(home, ca) || !make_nssdb(untrusting_home, NULL))
        return -1;
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, certkey) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, certkey, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(stderr, "https server: cannot use %s\n", certkey);
        ERR_print_errors_fp(stderr);
        return -1;
    }
    return 0;
}

static int configure(int s)
{
    return nn_setsockopt(s, NN_TLS, NN_TLS_CERT_KEY_FILE, certkey, strlen(certkey));
}

static bool open_tls(struct browser_conn *c)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, c->fd) != 1 || SSL_accept(ssl) != 1) {
        /* The untrusting browser ends here: it alerts and hangs up. */
        ERR_clear_error();
        SSL_free(ssl);
        return false;
    }
    c->session = ssl;
    return true;
}

static ssize_t read_tls(struct browser_conn *c, void *buf, size_t n)
{
    size_t got = 0;
    if (SSL_read_ex(c->session, buf, n, &got) != 1) {
        ERR_clear_error();
        return -1;
    }
    return (ssize_t) got;
}

static bool write_tls(struct browser_conn *c, const void *buf, size_t n)
{
    size_t put = 0;
    /* Without SSL_MODE_ENABLE_PARTIAL_WRITE, success means all of buf. */
    if (SSL_write_ex(c->session, buf, n, &put) != 1) {
        ERR_clear_error();
        return false;
    }
    return true;
}

static void close_tls(struct browser_conn *c)
{
    SSL_shutdown(c->session); /* our close_notify; the browser's is not awaited */
    ERR_clear_error();
    SSL_free(c->session);
    c->session = NULL;
}

static void finish(void)
{
    SSL_CTX_free(ctx);
    ctx = NULL;
}

const struct browser_scheme browser_scheme = {
    .ws = "wss",
    .http = "https",
    .check_untrusted = true,
    .prepare = prepare,
    .configure = configure,
    .open = open_tls,
    .read = read_tls,
    .write = write_tls,
    .close = close_tls,
    .finish = finish,
};
