/* browser.c: a real browser against femtomsg's WebSocket transport, over
   the scheme that browser.h's browser_scheme gives (browser_ws.c: ws://, the
   page over http; browser_wss.c: wss://, the page over https). The program
   binds a femtomsg REP (<scheme>://127.0.0.1:P/rep) and a text-mode PAIR
   (<scheme>://127.0.0.1:P/pair) on one port, serves a page from a small web
   server of its own on another 127.0.0.1 port, and runs headless Chromium
   on it with --dump-dom and a private HOME. The page's script opens
   WebSockets with the SP subprotocols and
     - sends a REQ message (request id with its top bit set, then a body)
       and checks the reply's id and body;
     - sends a 2 MiB request and checks a 3 MiB reply (fragmented by us);
     - has the PAIR echo a string with two-, three- and four-byte
       characters in text frames;
     - sees a wrong subprotocol and an unknown path refused;
   writes each result into the DOM and then asks for /done, which releases
   an image the page waits for, so that --dump-dom prints the DOM only
   after the exchanges. The program checks the DOM and what the sockets
   received. Where the scheme asks for it (wss), Chromium first runs with a
   HOME whose trust store lacks the test CA, and the page must not load
   there: the browser breaks off its TLS handshakes with the server and
   never asks for the page. Exit 77
   (skip) when Chromium, or what the scheme needs, is not installed;
   everything stays on 127.0.0.1 and finishes well within 60 s. */
#include "../testutil.h"
#include "browser.h"

#include <nanomsg/pair.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/ws.h>

#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define DEADLINE_S 50.0
#define UNTRUSTED_DEADLINE_S 20.0
#define BIG_REQ (2u << 20)
#define BIG_REP (3u << 20)

static const struct browser_scheme *const scheme = &browser_scheme;
static char page[8192];
static atomic_size_t page_len; /* published once page is written */
static atomic_bool stopping;
static atomic_int conns_live, conns_refused, pages_served;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool done;
static char report[4096];
static char got_small[256];
static atomic_bool got_big, got_text;

static const char *find_chromium(void)
{
    const char *env = getenv("FM_CHROMIUM");
    if (env && *env)
        return access(env, X_OK) == 0 ? env : NULL;
    static const char *paths[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

/* -------------------------------------------------------------- page */

static const char page_fmt[] =
    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>femtomsg %s</title>\n"
    "<link rel=\"icon\" href=\"data:,\"></head><body>\n"
    "<div id=\"small\">pending</div><div id=\"big\">pending</div><div id=\"text\">pending</div>\n"
    "<div id=\"wrongproto\">pending</div><div id=\"nopath\">pending</div>\n"
    "<script>\n"
    "const WS = '%s://127.0.0.1:%d';\n"
    "const results = {};\n"
    "function finish(k, v) {\n"
    "  if (k in results) return;\n"
    "  results[k] = v; document.getElementById(k).textContent = v;\n"
    "  if (Object.keys(results).length === 5)\n"
    "    fetch('/done?' + encodeURIComponent(JSON.stringify(results))).catch(() => {});\n"
    "}\n"
    "setTimeout(() => fetch('/done?timeout').catch(() => {}), 30000);\n"
    "function req(id, body) {\n"
    "  const m = new Uint8Array(4 + body.length);\n"
    "  new DataView(m.buffer).setUint32(0, id); m.set(body, 4); return m;\n"
    "}\n"
    "const rep = new WebSocket(WS + '/rep', 'rep.sp.nanomsg.org');\n"
    "rep.binaryType = 'arraybuffer';\n"
    "let stage = 0;\n"
    "rep.onopen = () => rep.send(req(0x80000001, new TextEncoder().encode('hello from chromium')));\n"
    "rep.onmessage = (ev) => {\n"
    "  const d = new Uint8Array(ev.data), id = new DataView(ev.data).getUint32(0);\n"
    "  if (stage === 0) {\n"
    "    stage = 1;\n"
    "    finish('small', (id === 0x80000001 ? 'ok ' : 'bad id ') + rep.protocol + ' ' +\n"
    "           new TextDecoder().decode(d.subarray(4)));\n"
    "    const big = new Uint8Array(%u);\n"
    "    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 255;\n"
    "    rep.send(req(0x80000002, big));\n"
    "  } else {\n"
    "    stage = 2;\n"
    "    let ok = id === 0x80000002 && d.length === 4 + %u;\n"
    "    for (let i = 0; ok && i < d.length - 4; i++) if (d[4 + i] !== ((i * 13) & 255)) ok = false;\n"
    "    finish('big', (ok ? 'ok ' : 'bad ') + (d.length - 4));\n"
    "    rep.close(1000, 'bye');\n"
    "  }\n"
    "};\n"
    "rep.onclose = (ev) => { if (stage < 2) { finish('small', 'closed ' + ev.code); finish('big', 'closed ' + ev.code); } };\n"
    "const TXT = 'h\\u00e9llo w\\u00f6rld \\u2713 \\ud834\\udd1e';\n"
    "const pair = new WebSocket(WS + '/pair', 'pair.sp.nanomsg.org');\n"
    "pair.onopen = () => pair.send(TXT);\n"
    "pair.onmessage = (ev) => {\n"
    "  finish('text', (typeof ev.data === 'string' && ev.data === 'echo: ' + TXT ? 'ok ' : 'bad ') + ev.data);\n"
    "  pair.close();\n"
    "};\n"
    "pair.onclose = (ev) => finish('text', 'closed ' + ev.code);\n"
    "function refused(k, url, proto) {\n"
    "  const w = new WebSocket(url, proto);\n"
    "  w.onopen = () => { finish(k, 'opened'); w.close(); };\n"
    "  w.onclose = (ev) => finish(k, 'refused ' + ev.code);\n"
    "}\n"
    "refused('wrongproto', WS + '/rep', 'req.sp.nanomsg.org');\n"
    "refused('nopath', WS + '/nothing', 'rep.sp.nanomsg.org');\n"
    "</script>\n"
    "<img src=\"/gate\" alt=\"\">\n"
    "</body></html>\n";

/* ------------------------------------------------------- web server */

static void respond(struct browser_conn *c, const char *status, const char *type, const void *body,
                    size_t n)
{
    char head[256];
    int hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                      status, type, n);
    if (!scheme->write(c, head, (size_t) hn) || (n && !scheme->write(c, body, n)))
        fprintf(stderr, "%s: the browser left before our \"%s\" was written\n", scheme->http, status);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void url_decode(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s && *s != ' ' && o + 1 < cap; s++) {
        if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            out[o++] = (char) (hexval(s[1]) * 16 + hexval(s[2]));
            s += 2;
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

static void serve(struct browser_conn *c)
{
    char req[8192];
    size_t n = 0;
    while (n + 1 < sizeof(req)) {
        ssize_t r = scheme->read(c, req + n, sizeof(req) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t) r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    req[n] = '\0';
    if (strncmp(req, "GET / ", 6) == 0) {
        atomic_fetch_add(&pages_served, 1);
        size_t len = atomic_load(&page_len);
        if (len)
            respond(c, "200 OK", "text/html; charset=utf-8", page, len);
        else
            respond(c, "503 Service Unavailable", "text/plain", "not yet\n", 8);
    } else if (strncmp(req, "GET /gate ", 10) == 0) {
        /* Held until the page reported, so that the load event (and with
           it --dump-dom) waits for the exchanges. */
        pthread_mutex_lock(&lock);
        double end = tu_now() + DEADLINE_S;
        while (!done && !atomic_load(&stopping) && tu_now() < end) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&cond, &lock, &ts);
        }
        pthread_mutex_unlock(&lock);
        static const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0, ',', 0, 0, 0,
                                      0,   1,   0,   1,   0,   0, 2, 1, 0, 0, ';'};
        respond(c, "200 OK", "image/gif", gif, sizeof(gif));
    } else if (strncmp(req, "GET /done?", 10) == 0) {
        pthread_mutex_lock(&lock);
        url_decode(req + 10, report, sizeof(report));
        done = true;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
        respond(c, "204 No Content", "text/plain", NULL, 0);
    } else {
        respond(c, "404 Not Found", "text/plain", "no\n", 3);
    }
}

static void *web_conn(void *arg)
{
    struct browser_conn c = {.fd = (int) (intptr_t) arg};
    /* A connection the browser opens and leaves idle (a preconnect) ends
       here at the latest, also inside a TLS handshake. */
    struct timeval tv = {.tv_sec = 10};
    setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (scheme->open(&c)) {
        serve(&c);
        scheme->close(&c);
    } else {
        atomic_fetch_add(&conns_refused, 1);
    }
    close(c.fd);
    atomic_fetch_sub(&conns_live, 1);
    return NULL;
}

static void *web_main(void *arg)
{
    int lfd = (int) (intptr_t) arg;
    while (!atomic_load(&stopping)) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        atomic_fetch_add(&conns_live, 1);
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &attr, web_conn, (void *) (intptr_t) fd) != 0) {
            close(fd);
            atomic_fetch_sub(&conns_live, 1);
        }
        pthread_attr_destroy(&attr);
    }
    close(lfd);
    return NULL;
}

/* A listening socket on 127.0.0.1, on a port the kernel picks. */
static int web_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *) &sin, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(sin.sin_port);
    return fd;
}

/* ------------------------------------------------------ the sockets */

/* A bound socket and how it answers each message it receives. */
struct server {
    int s;
    void (*answer)(int s, const uint8_t *msg, int n);
};

static void *server_main(void *arg)
{
    const struct server *srv = arg;
    while (!atomic_load(&stopping)) {
        void *b = NULL;
        int n = nn_recv(srv->s, &b, NN_MSG, 0);
        if (n < 0) {
            if (errno == ETIMEDOUT)
                continue;
            break;
        }
        srv->answer(srv->s, b, n);
        nn_freemsg(b);
    }
    return NULL;
}

/* REP: the big request gets the big reply, anything else "reply: " + it. */
static void answer_rep(int s, const uint8_t *msg, int n)
{
    if (n == (int) BIG_REQ) {
        bool ok = true;
        for (size_t i = 0; i < BIG_REQ && ok; i++)
            ok = msg[i] == (uint8_t) (i * 7);
        atomic_store(&got_big, ok);
        uint8_t *r = malloc(BIG_REP);
        for (size_t i = 0; i < BIG_REP; i++)
            r[i] = (uint8_t) (i * 13);
        CHECK(nn_send(s, r, BIG_REP, 0) == (int) BIG_REP);
        free(r);
    } else {
        char reply[300];
        pthread_mutex_lock(&lock);
        snprintf(got_small, sizeof(got_small), "%.*s", n, (const char *) msg);
        int rn = snprintf(reply, sizeof(reply), "reply: %s", got_small);
        pthread_mutex_unlock(&lock);
        CHECK(nn_send(s, reply, (size_t) rn, 0) == rn);
    }
}

/* PAIR: "echo: " + the message, which must be the page's text. */
static void answer_pair(int s, const uint8_t *msg, int n)
{
    static const char want[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9d\x84\x9e";
    atomic_store(&got_text, n == (int) sizeof(want) - 1 && memcmp(msg, want, sizeof(want) - 1) == 0);
    char reply[64];
    int rn = snprintf(reply, sizeof(reply), "echo: %.*s", n < 40 ? n : 40, (const char *) msg);
    CHECK(nn_send(s, reply, (size_t) rn, 0) == rn);
}

/* Binds rep and pair to /rep and /pair of one free port; the port, or -1
   with errno set. */
static int bind_both(int rep, int pair)
{
    for (int i = 0; i < 500; i++) {
        int port = 20000 + (int) (((unsigned) getpid() * 71u + (unsigned) i) % 12000u);
        char addr[NN_SOCKADDR_MAX];
        snprintf(addr, sizeof(addr), "%s://127.0.0.1:%d/rep", scheme->ws, port);
        int eid = nn_bind(rep, addr);
        if (eid < 0 && errno != EADDRINUSE)
            return -1;
        if (eid < 0)
            continue;
        snprintf(addr, sizeof(addr), "%s://127.0.0.1:%d/pair", scheme->ws, port);
        if (nn_bind(pair, addr) >= 0)
            return port;
        int err = errno;
        nn_shutdown(rep, eid);
        errno = err;
        if (err != EADDRINUSE)
            return -1;
    }
    errno = EADDRINUSE;
    return -1;
}

/* -------------------------------------------------------- the browser */

/* Runs Chromium with HOME=home and its profile in profile on url, until it
   has printed the DOM and exited or the deadline (tu_now()) passed; its
   standard error goes to errlog. Returns the DOM's length (NUL-terminated
   in dom). */
static size_t run_browser(const char *chromium, const char *home, const char *profile,
                          const char *errlog, const char *url, char *dom, size_t cap, double deadline)
{
    char udd[600], home_env[600];
    snprintf(udd, sizeof(udd), "--user-data-dir=%s", profile);
    snprintf(home_env, sizeof(home_env), "HOME=%s", home);
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **env = calloc(nenv + 2, sizeof(*env));
    size_t e = 0;
    for (size_t i = 0; i < nenv; i++)
        if (strncmp(environ[i], "HOME=", 5) != 0)
            env[e++] = environ[i];
    env[e++] = home_env;
    char *argv[] = {(char *) chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-extensions",
                    "--disable-dev-shm-usage",
                    "--no-proxy-server",
                    udd,
                    "--dump-dom",
                    (char *) url,
                    NULL};
    int out[2];
    size_t dn = 0;
    dom[0] = '\0';
    CHECK(pipe2(out, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawnattr_t sa;
    posix_spawnattr_init(&sa);
    posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&sa, 0); /* its helpers go with it at the end */
    pid_t pid;
    int rc = posix_spawn(&pid, chromium, &fa, &sa, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&sa);
    free(env);
    close(out[1]);
    CHECK(rc == 0);
    while (rc == 0 && tu_now() < deadline && dn + 1 < cap) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        ssize_t r = read(out[0], dom + dn, cap - 1 - dn);
        if (r <= 0)
            break;
        dn += (size_t) r;
    }
    dom[dn] = '\0';
    close(out[0]);
    if (rc == 0) {
        int st;
        double end = tu_now() + 5;
        while (waitpid(pid, &st, WNOHANG) == 0 && tu_now() < end)
            tu_pause();
        kill(-pid, SIGKILL); /* the browser's own process group */
        while (waitpid(pid, &st, WNOHANG) == 0)
            tu_pause();
    }
    return dn;
}

static void show_log(const char *errlog)
{
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "tail -n 20 '%s' >&2", errlog);
    if (system(cmd) != 0)
        fprintf(stderr, "(no browser log)\n");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static char dom[1 << 20];

/* The page must not load in a browser that lacks the trust: no request for
   it reaches the server, whose handshakes the browser breaks off. */
static void check_untrusted(const char *chromium, const char *dir, const char *home, const char *url)
{
    char profile[600], errlog[600];
    snprintf(profile, sizeof(profile), "%s/profile-untrusting", dir);
    snprintf(errlog, sizeof(errlog), "%s/untrusting.log", dir);
    size_t dn = run_browser(chromium, home, profile, errlog, url, dom, sizeof(dom),
                            tu_now() + UNTRUSTED_DEADLINE_S);
    /* The browser is gone: its connections' threads have the last word. */
    CHECK(WAIT_FOR(atomic_load(&conns_live) == 0, 20));
    int served = atomic_load(&pages_served), refused = atomic_load(&conns_refused);
    bool no_page = !strstr(dom, "<div id=\"small\">");
    CHECK(served == 0);
    CHECK(refused > 0);
    CHECK(no_page);
    if (served != 0 || refused == 0 || !no_page) {
        fprintf(stderr, "untrusting browser: page requests %d, connections refused %d; DOM (%zu bytes):\n%.3000s\n",
                served, refused, dn, dom);
        show_log(errlog);
    } else {
        printf("untrusting browser: page not served, %d connection(s) refused\n", refused);
    }
}

/* The exchanges, with the trusting browser. */
static void check_exchanges(const char *chromium, const char *dir, const char *home, const char *url,
                            double deadline)
{
    char profile[600], errlog[600];
    snprintf(profile, sizeof(profile), "%s/profile", dir);
    snprintf(errlog, sizeof(errlog), "%s/browser.log", dir);
    size_t dn = run_browser(chromium, home, profile, errlog, url, dom, sizeof(dom), deadline);

    /* The DOM as the script left it. */
    bool ok_small = strstr(dom, "<div id=\"small\">ok rep.sp.nanomsg.org reply: hello from chromium</div>");
    bool ok_big = strstr(dom, "<div id=\"big\">ok 3145728</div>");
    bool ok_text = strstr(dom, "<div id=\"text\">ok echo: h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9d\x84\x9e</div>");
    bool ok_proto = strstr(dom, "<div id=\"wrongproto\">refused 1006</div>");
    bool ok_path = strstr(dom, "<div id=\"nopath\">refused 1006</div>");
    CHECK(ok_small);
    CHECK(ok_big);
    CHECK(ok_text);
    CHECK(ok_proto);
    CHECK(ok_path);
    if (!(ok_small && ok_big && ok_text && ok_proto && ok_path)) {
        pthread_mutex_lock(&lock);
        fprintf(stderr, "report: %s\nDOM (%zu bytes):\n%.3000s\n", report, dn, dom);
        pthread_mutex_unlock(&lock);
        show_log(errlog);
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* in order with stderr in ctest's log */
    signal(SIGPIPE, SIG_IGN);
    const char *chromium = find_chromium();
    if (!chromium) {
        printf("chromium is not installed (apt-get install chromium): skipped\n");
        return 77;
    }
    double t0 = tu_now();
    char dir[] = "/tmp/fm-browser-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char home[64], untrusting_home[64];
    snprintf(home, sizeof(home), "%s/home", dir);
    snprintf(untrusting_home, sizeof(untrusting_home), "%s/untrusting-home", dir);
    CHECK(mkdir(home, 0700) == 0);
    CHECK(mkdir(untrusting_home, 0700) == 0);
    int rc = scheme->prepare(dir, home, untrusting_home);
    if (rc != 0) {
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        return rc == 77 ? 77 : 1;
    }

    int web_port = 0, ws_port = -1;
    int lfd = web_listen(&web_port);
    CHECK(lfd >= 0);
    pthread_t th_web, th_rep, th_pair;
    bool web_running = lfd >= 0 && pthread_create(&th_web, NULL, web_main, (void *) (intptr_t) lfd) == 0;
    CHECK(web_running);
    char url[64];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d/", scheme->http, web_port);
    if (web_running && scheme->check_untrusted)
        check_untrusted(chromium, dir, untrusting_home, url);

    int rep = nn_socket(AF_SP, NN_REP), pair = nn_socket(AF_SP, NN_PAIR);
    int one_s = 1000, big = -1, text = NN_WS_MSG_TYPE_TEXT;
    CHECK(nn_setsockopt(rep, NN_SOL_SOCKET, NN_RCVTIMEO, &one_s, sizeof(one_s)) == 0);
    CHECK(nn_setsockopt(pair, NN_SOL_SOCKET, NN_RCVTIMEO, &one_s, sizeof(one_s)) == 0);
    CHECK(nn_setsockopt(rep, NN_SOL_SOCKET, NN_RCVMAXSIZE, &big, sizeof(big)) == 0);
    CHECK(nn_setsockopt(pair, NN_WS, NN_WS_MSG_TYPE, &text, sizeof(text)) == 0);
    CHECK(scheme->configure(rep) == 0);
    CHECK(scheme->configure(pair) == 0);
    ws_port = bind_both(rep, pair);
    if (ws_port < 0)
        fprintf(stderr, "nn_bind(%s://127.0.0.1:P/rep and /pair): %s\n", scheme->ws, nn_strerror(errno));
    CHECK(ws_port > 0);

    if (web_running && ws_port > 0) {
        snprintf(page, sizeof(page), page_fmt, scheme->ws, scheme->ws, ws_port, BIG_REQ, BIG_REP);
        atomic_store(&page_len, strlen(page));
        struct server rep_srv = {rep, answer_rep}, pair_srv = {pair, answer_pair};
        bool rep_running = pthread_create(&th_rep, NULL, server_main, &rep_srv) == 0;
        bool pair_running = pthread_create(&th_pair, NULL, server_main, &pair_srv) == 0;
        CHECK(rep_running && pair_running);
        check_exchanges(chromium, dir, home, url, t0 + DEADLINE_S);
        atomic_store(&stopping, true);
        if (rep_running)
            pthread_join(th_rep, NULL);
        if (pair_running)
            pthread_join(th_pair, NULL);
        /* And what the sockets saw. */
        pthread_mutex_lock(&lock);
        CHECK(strcmp(got_small, "hello from chromium") == 0);
        pthread_mutex_unlock(&lock);
        CHECK(atomic_load(&got_big));
        CHECK(atomic_load(&got_text));
    }

    atomic_store(&stopping, true);
    pthread_mutex_lock(&lock);
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    if (web_running)
        pthread_join(th_web, NULL);
    CHECK(WAIT_FOR(atomic_load(&conns_live) == 0, 20));
    printf("browser test took %.1f s\n", tu_now() - t0);
    CHECK(tu_now() - t0 < 60);
    nn_close(rep);
    nn_close(pair);
    scheme->finish();
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    TEST_DONE();
}
