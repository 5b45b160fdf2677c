/* tls.c: the tls+tcp:// transport: the SP TCP mapping (8-byte header, then
   8-byte big-endian length-prefixed messages) inside a TLS 1.2 or 1.3
   session, as NNG's tls+tcp carries it. It owns the NN_TLS options (kept
   per socket in a reference-counted object, parsed and checked when set),
   one OpenSSL SSL_CTX per endpoint built from them, and the session layer
   that stream.c calls instead of read() and sendmsg(). Addresses, the
   listening socket and name resolution are tcp's (tcp_addr.h); the
   connections are stream.c's, which runs our handshake under its header
   deadline.

   Non-blocking OpenSSL: a call that must wait says on what (WANT_READ or
   WANT_WRITE) and is retried with the same arguments when the descriptor
   is ready; events() turns that into the connection's FM_EV_* interest.
   Writes go through a per-session buffer: the engine's gather list is
   copied into it and sealed with one SSL_write, which then owns those
   bytes until it succeeds (the engine counts them as sent). A peer that
   closes TCP without close_notify (NNG does) ends the stream normally. */
#include "tcp_addr.h"
#include "tls_ctx.h"

#include <nanomsg/tls.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SCHEME "tls+tcp://"
#define OBUF_MIN (16 * 1024)  /* plaintext sealed per SSL_write: grows with */
#define OBUF_MAX (1024 * 1024) /* the frames, so a whole one is one call */

/* ---------------------------------------------------------- options */

struct tls_opts {
    struct fm_tpobj base;
    char *certkey_path, *certkey_pem; /* pem always set when path is */
    char *ca_path, *ca_pem;
    char *server_name;
    int auth_mode;
};

static void opts_free(struct fm_tpobj *o)
{
    struct tls_opts *t = (struct tls_opts *) o;
    free(t->certkey_path);
    free(t->certkey_pem);
    free(t->ca_path);
    free(t->ca_pem);
    free(t->server_name);
    free(t);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static struct tls_opts *opts_new(const struct tls_opts *from)
{
    struct tls_opts *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    atomic_init(&t->base.refs, 1);
    t->base.free = opts_free;
    t->auth_mode = NN_TLS_AUTH_DEFAULT;
    if (from) {
        t->certkey_path = dup_or_null(from->certkey_path);
        t->certkey_pem = dup_or_null(from->certkey_pem);
        t->ca_path = dup_or_null(from->ca_path);
        t->ca_pem = dup_or_null(from->ca_pem);
        t->server_name = dup_or_null(from->server_name);
        t->auth_mode = from->auth_mode;
        if ((from->certkey_path && !t->certkey_path) || (from->certkey_pem && !t->certkey_pem) ||
            (from->ca_path && !t->ca_path) || (from->ca_pem && !t->ca_pem) ||
            (from->server_name && !t->server_name)) {
            opts_free(&t->base);
            return NULL;
        }
    }
    return t;
}

/* A string option as given: the length counts, a trailing NUL is allowed. */
static char *opt_string(const void *val, size_t len)
{
    if (len && ((const char *) val)[len - 1] == '\0')
        len--;
    if (memchr(val, '\0', len))
        return NULL;
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, val, len);
        s[len] = '\0';
    }
    return s;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (cap - len - 1 == 0) {
            char *nb = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (buf && bad) {
        free(buf);
        return NULL;
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* Load a certificate chain and its key from PEM into ctx (or, ctx NULL,
   just check them). 0 or -EINVAL. */
static int load_certkey(SSL_CTX *ctx, const char *pem)
{
    int rc = -EINVAL;
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *leaf = b ? PEM_read_bio_X509_AUX(b, NULL, NULL, NULL) : NULL;
    BIO *kb = leaf ? BIO_new_mem_buf(pem, -1) : NULL;
    EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    if (!key || X509_check_private_key(leaf, key) != 1)
        goto out;
    if (ctx && (SSL_CTX_use_certificate(ctx, leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1))
        goto out;
    /* The rest of the chain, up to the key or the end. */
    X509 *extra;
    while ((extra = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        if (ctx && SSL_CTX_add0_chain_cert(ctx, extra) == 1)
            continue;
        X509_free(extra);
        if (ctx)
            goto out;
    }
    rc = 0;
out:
    ERR_clear_error();
    EVP_PKEY_free(key);
    X509_free(leaf);
    BIO_free(kb);
    BIO_free(b);
    return rc;
}

/* Add every certificate of a PEM bundle to store (or, NULL, count them).
   0 or -EINVAL when there is none or a bad one. */
static int load_ca(X509_STORE *store, const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    STACK_OF(X509_INFO) *infos = b ? PEM_X509_INFO_read_bio(b, NULL, NULL, NULL) : NULL;
    int found = 0, rc = infos ? 0 : -EINVAL;
    for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *inf = sk_X509_INFO_value(infos, i);
        if (!inf->x509)
            continue;
        found++;
        if (store && X509_STORE_add_cert(store, inf->x509) != 1)
            rc = -EINVAL;
    }
    if (found == 0)
        rc = -EINVAL;
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    BIO_free(b);
    ERR_clear_error();
    return rc;
}

/* Replace *slot (and *path_slot) with the checked PEM of a file or of
   memory. */
static int set_pem(const void *val, size_t len, bool is_file, bool certkey, char **pem_slot,
                   char **path_slot)
{
    char *arg = opt_string(val, len);
    if (!arg)
        return len ? -EINVAL : -ENOMEM;
    if (!*arg) { /* cleared */
        free(arg);
        free(*pem_slot);
        free(*path_slot);
        *pem_slot = *path_slot = NULL;
        return 0;
    }
    char *pem = is_file ? read_file(arg) : arg;
    if (!pem || (certkey ? load_certkey(NULL, pem) : load_ca(NULL, pem)) != 0) {
        if (pem != arg)
            free(pem);
        free(arg);
        return -EINVAL;
    }
    free(*pem_slot);
    free(*path_slot);
    *pem_slot = pem;
    *path_slot = is_file ? arg : NULL;
    return 0;
}

static int tls_setopt(int option, const void *val, size_t len, struct fm_tpobj **obj)
{
    if (option < NN_TLS_CERT_KEY_FILE || option > NN_TLS_AUTH_MODE)
        return -ENOPROTOOPT;
    if (!val)
        return -EFAULT;
    /* Endpoints may hold the current object: change a copy of it. */
    struct tls_opts *cur = (struct tls_opts *) *obj;
    struct tls_opts *t = cur;
    if (!cur || atomic_load(&cur->base.refs) > 1) {
        t = opts_new(cur);
        if (!t)
            return -ENOMEM;
    }
    int rc = 0;
    switch (option) {
    case NN_TLS_CERT_KEY_FILE:
    case NN_TLS_CERT_KEY_PEM:
        rc = set_pem(val, len, option == NN_TLS_CERT_KEY_FILE, true, &t->certkey_pem,
                     &t->certkey_path);
        break;
    case NN_TLS_CA_FILE:
    case NN_TLS_CA_PEM:
        rc = set_pem(val, len, option == NN_TLS_CA_FILE, false, &t->ca_pem, &t->ca_path);
        break;
    case NN_TLS_SERVER_NAME: {
        char *s = opt_string(val, len);
        if (!s || strlen(s) > 255) {
            rc = s ? -EINVAL : len ? -EINVAL : -ENOMEM;
            free(s);
            break;
        }
        free(t->server_name);
        t->server_name = *s ? s : NULL;
        if (!*s)
            free(s);
        break;
    }
    case NN_TLS_AUTH_MODE: {
        int v;
        if (len != sizeof(v)) {
            rc = -EINVAL;
            break;
        }
        memcpy(&v, val, sizeof(v));
        if (v < NN_TLS_AUTH_DEFAULT || v > NN_TLS_AUTH_REQUIRED)
            rc = -EINVAL;
        else
            t->auth_mode = v;
        break;
    }
    }
    if (t != cur) {
        if (rc) {
            opts_free(&t->base);
        } else {
            fm_tpobj_unref(*obj);
            *obj = &t->base;
        }
    }
    return rc;
}

static int put_string(const char *s, void *val, size_t *len)
{
    size_t n = s ? strlen(s) + 1 : 1;
    if (s)
        memcpy(val, s, *len < n ? *len : n);
    else if (*len)
        *(char *) val = '\0';
    *len = n;
    return 0;
}

static int tls_getopt(int option, const struct fm_tpobj *obj, void *val, size_t *len)
{
    const struct tls_opts *t = (const struct tls_opts *) obj;
    switch (option) {
    case NN_TLS_CERT_KEY_FILE: return put_string(t ? t->certkey_path : NULL, val, len);
    case NN_TLS_CERT_KEY_PEM: return put_string(t ? t->certkey_pem : NULL, val, len);
    case NN_TLS_CA_FILE: return put_string(t ? t->ca_path : NULL, val, len);
    case NN_TLS_CA_PEM: return put_string(t ? t->ca_pem : NULL, val, len);
    case NN_TLS_SERVER_NAME: return put_string(t ? t->server_name : NULL, val, len);
    case NN_TLS_AUTH_MODE: {
        int v = t ? t->auth_mode : NN_TLS_AUTH_DEFAULT;
        memcpy(val, &v, *len < sizeof(v) ? *len : sizeof(v));
        *len = sizeof(v);
        return 0;
    }
    default: return -ENOPROTOOPT;
    }
}

/* ------------------------------------------------- endpoint context */

/* What an endpoint's sessions are made from; replaces the options object
   in ep->tpobj at bind/connect. */
struct tls_ep {
    struct fm_tpobj base;
    SSL_CTX *ctx;
    char peer_name[256]; /* the name or address the server must prove */
    bool peer_is_ip;
    bool sni;
};

static void tls_ep_free(struct fm_tpobj *o)
{
    struct tls_ep *t = (struct tls_ep *) o;
    SSL_CTX_free(t->ctx);
    free(t);
}

/* OPTIONAL: the peer's certificate is checked, the outcome never refuses. */
static int verify_anyway(int ok, X509_STORE_CTX *x)
{
    (void) ok;
    (void) x;
    return 1;
}

int fm_tls_ctx_make(const struct fm_tpobj *opts, bool server, const char *host,
                    struct fm_tpobj **out)
{
    const struct tls_opts *o = (const struct tls_opts *) opts;
    struct tls_ep *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    atomic_init(&t->base.refs, 1);
    t->base.free = tls_ep_free;
    int rc = -ENOMEM;
    t->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!t->ctx)
        goto fail;
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
                                    SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(t->ctx, 0);
    SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
    rc = -EINVAL;
    if (o && o->certkey_pem) {
        if (load_certkey(t->ctx, o->certkey_pem) != 0)
            goto fail;
    } else if (server) {
        goto fail; /* a server has to prove who it is */
    }
    if (o && o->ca_pem) {
        if (load_ca(SSL_CTX_get_cert_store(t->ctx), o->ca_pem) != 0)
            goto fail;
    } else {
        SSL_CTX_set_default_verify_paths(t->ctx);
    }
    int mode = o ? o->auth_mode : NN_TLS_AUTH_DEFAULT;
    if (mode == NN_TLS_AUTH_DEFAULT)
        mode = server ? NN_TLS_AUTH_NONE : NN_TLS_AUTH_REQUIRED;
    if (mode == NN_TLS_AUTH_NONE)
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    else if (mode == NN_TLS_AUTH_OPTIONAL)
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, verify_anyway);
    else
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    if (!server) {
        const char *name = o && o->server_name ? o->server_name : host;
        snprintf(t->peer_name, sizeof(t->peer_name), "%s", name);
        struct in6_addr a;
        t->peer_is_ip = !(o && o->server_name) &&
                        (inet_pton(AF_INET, name, &a) == 1 || inet_pton(AF_INET6, name, &a) == 1);
        t->sni = !t->peer_is_ip;
    }
    ERR_clear_error();
    *out = &t->base;
    return 0;
fail:
    ERR_clear_error();
    tls_ep_free(&t->base);
    return rc;
}

/* The endpoint's context replaces its options object. */
static int make_ctx(struct fm_ep *ep, const char *host)
{
    struct fm_tpobj *ctx;
    int rc = fm_tls_ctx_make(ep->tpobj, ep->bound, host, &ctx);
    if (rc)
        return rc;
    fm_tpobj_unref(ep->tpobj);
    ep->tpobj = ctx;
    return 0;
}

/* ------------------------------------------------------------ session */

/* OpenSSL's socket BIO writes with write(): a peer gone would raise
   SIGPIPE in the application. Ours sends with MSG_NOSIGNAL, as stream.c
   does. */
static BIO_METHOD *nosig_method;
static pthread_once_t nosig_once = PTHREAD_ONCE_INIT;

static int nosig_fd(BIO *b) { return (int) (intptr_t) BIO_get_data(b); }

static int nosig_write(BIO *b, const char *buf, int len)
{
    BIO_clear_retry_flags(b);
    ssize_t w;
    do
        w = send(nosig_fd(b), buf, (size_t) len, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (w < 0 && errno == EINTR);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_write(b);
    return (int) w;
}

static int nosig_read(BIO *b, char *buf, int len)
{
    BIO_clear_retry_flags(b);
    ssize_t r;
    do
        r = recv(nosig_fd(b), buf, (size_t) len, MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_read(b);
    return (int) r;
}

static long nosig_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void) b;
    (void) num;
    (void) ptr;
    return cmd == BIO_CTRL_FLUSH || cmd == BIO_CTRL_DUP ? 1 : 0;
}

static int nosig_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void nosig_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "femtomsg socket");
    if (m && (!BIO_meth_set_write(m, nosig_write) || !BIO_meth_set_read(m, nosig_read) ||
              !BIO_meth_set_ctrl(m, nosig_ctrl) || !BIO_meth_set_create(m, nosig_create))) {
        BIO_meth_free(m);
        m = NULL;
    }
    nosig_method = m;
}

static BIO *nosig_bio(int fd)
{
    pthread_once(&nosig_once, nosig_init);
    BIO *b = nosig_method ? BIO_new(nosig_method) : NULL;
    if (b)
        BIO_set_data(b, (void *) (intptr_t) fd);
    return b;
}

struct tls_sess {
    SSL *ssl;
    struct fm_ep *ep;
    uint32_t hs_wants;   /* while handshaking: FM_EV_IN or FM_EV_OUT */
    uint32_t write_wants; /* a write waits for this (0: not blocked) */
    uint32_t read_wants;  /* a read waits for this beyond FM_EV_IN */
    uint8_t *obuf;        /* sealed by SSL_write, still to go */
    size_t olen, ocap;
};

/* OpenSSL's reason, for the endpoint's error report. */
static void report(struct tls_sess *s, int err)
{
    char detail[320];
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    long vr = SSL_get_verify_result(s->ssl);
    if (vr != X509_V_OK)
        snprintf(detail, sizeof(detail), "%s (%s)", reason ? reason : "TLS failure",
                 X509_verify_cert_error_string(vr));
    else
        snprintf(detail, sizeof(detail), "%s", reason ? reason : "TLS failure");
    ERR_clear_error();
    if (s->ep)
        fm_ep_report_error_detail(s->ep, err, detail);
}

/* After a failed call: 0 and *wants set when it must wait, else -errno. */
static int ssl_failure(struct tls_sess *s, int r, uint32_t *wants)
{
    int e = SSL_get_error(s->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        *wants = FM_EV_IN;
        return 0;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        *wants = FM_EV_OUT;
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN)
        return -ECONNRESET;
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        int err = errno ? errno : ECONNRESET; /* EOF or a socket error */
        ERR_clear_error();
        return -err;
    }
    report(s, EPROTO);
    return -EPROTO;
}

static void *sess_start(const void *sarg, struct fm_ep *ep, int fd, bool accepted, int *err)
{
    const struct tls_ep *t = sarg;
    struct tls_sess *s = calloc(1, sizeof(*s));
    BIO *b = s ? nosig_bio(fd) : NULL;
    if (!b || !(s->ssl = SSL_new(t->ctx))) {
        BIO_free(b);
        free(s);
        ERR_clear_error();
        *err = ENOMEM;
        return NULL;
    }
    SSL_set_bio(s->ssl, b, b);
    s->ep = ep;
    s->hs_wants = FM_EV_IN;
    if (accepted) {
        SSL_set_accept_state(s->ssl);
    } else {
        SSL_set_connect_state(s->ssl);
        if (t->sni)
            SSL_set_tlsext_host_name(s->ssl, t->peer_name);
        X509_VERIFY_PARAM *vp = SSL_get0_param(s->ssl);
        if (t->peer_is_ip)
            X509_VERIFY_PARAM_set1_ip_asc(vp, t->peer_name);
        else
            SSL_set1_host(s->ssl, t->peer_name);
    }
    ERR_clear_error();
    return s;
}

static int sess_handshake(void *arg)
{
    struct tls_sess *s = arg;
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(s->ssl);
    if (r == 1)
        return 0;
    int rc = ssl_failure(s, r, &s->hs_wants);
    if (rc == 0)
        return -EAGAIN;
    if (rc != -EPROTO && s->ep) {
        /* A plain peer or one gone mid-handshake: say so too. */
        char detail[64];
        snprintf(detail, sizeof(detail), "TLS handshake: %s", strerror(-rc));
        fm_ep_report_error_detail(s->ep, -rc, detail);
    }
    return rc;
}

static ssize_t sess_read(void *arg, void *buf, size_t len)
{
    struct tls_sess *s = arg;
    size_t got = 0;
    /* Until the kernel is empty, so that a short read means that, as with
       read(): OpenSSL hands out one record per call. */
    while (got < len) {
        ERR_clear_error();
        errno = 0;
        int want = len - got > INT_MAX ? INT_MAX : (int) (len - got);
        int r = SSL_read(s->ssl, (uint8_t *) buf + got, want);
        if (r > 0) {
            got += (size_t) r;
            s->read_wants = 0;
            continue;
        }
        uint32_t wants = 0;
        int rc = ssl_failure(s, r, &wants);
        if (rc == 0) {
            s->read_wants = wants == FM_EV_IN ? 0 : wants;
            break;
        }
        if (got)
            break; /* what came before the end first; the end stays readable */
        if (rc == -ECONNRESET)
            return 0; /* close_notify or a bare EOF: the peer's end */
        errno = -rc;
        return -1;
    }
    if (got == 0) {
        errno = EAGAIN;
        return -1;
    }
    return (ssize_t) got;
}

/* Write out what SSL_write sealed before: 0 when done, -1 with errno. */
static int sess_drain(struct tls_sess *s)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_write(s->ssl, s->obuf, (int) s->olen);
    if (r > 0) {
        s->olen = 0;
        s->write_wants = 0;
        return 0;
    }
    int rc = ssl_failure(s, r, &s->write_wants);
    errno = rc == 0 ? EAGAIN : -rc;
    return -1;
}

static ssize_t sess_writev(void *arg, const struct iovec *iov, int n)
{
    struct tls_sess *s = arg;
    if (s->olen && sess_drain(s) != 0)
        return -1;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (total == 0)
        return 0;
    if (total > s->ocap && s->ocap < OBUF_MAX) {
        /* Only while nothing is pending: a retried SSL_write needs the
           same buffer. */
        size_t cap = s->ocap ? s->ocap : OBUF_MIN;
        while (cap < total && cap < OBUF_MAX)
            cap *= 2;
        uint8_t *nb = realloc(s->obuf, cap);
        if (nb) {
            s->obuf = nb;
            s->ocap = cap;
        }
    }
    if (!s->obuf) {
        errno = ENOMEM;
        return -1;
    }
    size_t took = 0, room = s->ocap;
    for (int i = 0; i < n && took < room; i++) {
        size_t k = iov[i].iov_len < room - took ? iov[i].iov_len : room - took;
        memcpy(s->obuf + took, iov[i].iov_base, k);
        took += k;
    }
    if (took == 0)
        return 0;
    s->olen = took;
    if (sess_drain(s) != 0 && errno != EAGAIN) {
        s->olen = 0;
        return -1;
    }
    return (ssize_t) took; /* ours now, written or sealed to go */
}

static bool sess_pending(void *arg) { return ((struct tls_sess *) arg)->olen > 0; }

static bool sess_buffered(void *arg) { return SSL_has_pending(((struct tls_sess *) arg)->ssl); }

static uint32_t sess_events(void *arg, uint32_t ev)
{
    struct tls_sess *s = arg;
    if (!SSL_is_init_finished(s->ssl))
        return s->hs_wants;
    if ((ev & FM_EV_OUT) && s->write_wants == FM_EV_IN)
        ev = (ev & ~FM_EV_OUT) | FM_EV_IN;
    return ev | s->read_wants;
}

static void sess_shutdown(void *arg)
{
    struct tls_sess *s = arg;
    if (SSL_is_init_finished(s->ssl))
        SSL_shutdown(s->ssl);
    ERR_clear_error();
}

static void sess_destroy(void *arg)
{
    struct tls_sess *s = arg;
    SSL_free(s->ssl);
    free(s->obuf);
    free(s);
}

const struct fm_stream_session_ops fm_tls_session = {
    .start = sess_start,
    .handshake = sess_handshake,
    .read = sess_read,
    .writev = sess_writev,
    .pending = sess_pending,
    .buffered = sess_buffered,
    .events = sess_events,
    .shutdown = sess_shutdown,
    .destroy = sess_destroy,
};

/* ---------------------------------------------------------- transport */

/* The handshake messages go out as soon as written: no Nagle wait. */
static void tls_tune(struct fm_ep *ep, int fd)
{
    (void) ep;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static const struct fm_stream_tp tls_stream = {
    .framer = &fm_sp_framer,
    .tune = tls_tune,
    .session = &fm_tls_session,
};

static const char *addr_of(struct fm_ep *ep) { return ep->addr + strlen(SCHEME); }

void fm_tls_host_of(const char *a, char *host, size_t cap)
{
    /* After "local;", before the port, without brackets or an IPv6
       scope. (a has passed fm_tcp_parse_connect: it has a colon.) */
    const char *colon = strrchr(a, ':');
    const char *semi = memchr(a, ';', (size_t) (colon - a));
    const char *h = semi ? semi + 1 : a;
    size_t hl = (size_t) (colon - h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    snprintf(host, cap, "%.*s", (int) hl, h);
    char *pct = strchr(host, '%');
    if (pct)
        *pct = '\0';
}

static int tls_bind(struct fm_ep *ep)
{
    struct sockaddr_storage ss;
    socklen_t len;
    bool any;
    int rc = fm_tcp_parse_bind(addr_of(ep), ep->ipv4only, &ss, &len, &any);
    if (rc)
        return rc;
    if ((rc = make_ctx(ep, NULL)) != 0)
        return rc;
    int fd = fm_tcp_listen(&ss, &len, any, ep->ipv4only);
    if (fd < 0)
        return fd;
    rc = fm_stream_listen(ep, &tls_stream, fd, NULL, (struct fm_stream_args){.session = ep->tpobj});
    if (rc)
        close(fd);
    return rc;
}

static int tls_connect(struct fm_ep *ep)
{
    struct fm_stream_target t;
    const char *a = addr_of(ep);
    int rc = fm_tcp_parse_connect(a, ep->ipv4only, &t);
    if (rc)
        return rc;
    char host[256];
    fm_tls_host_of(a, host, sizeof(host));
    if ((rc = make_ctx(ep, host)) != 0)
        return rc;
    return fm_stream_connect(ep, &tls_stream, &t, (struct fm_stream_args){.session = ep->tpobj});
}

const struct fm_transport fm_tls = {
    .scheme = "tls+tcp",
    .level = NN_TLS,
    .bind = tls_bind,
    .connect = tls_connect,
    .close = fm_stream_close,
    .setopt_obj = tls_setopt,
    .getopt_obj = tls_getopt,
};
