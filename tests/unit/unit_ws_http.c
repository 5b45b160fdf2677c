/* unit_ws_http.c: src/transports/ws_http.c on its own: finding the end of a
   head fed in any pieces, request and response head parsing on real and
   broken heads, every status a request is refused with, the case rules of
   names and tokens, folded lines, repeated fields, the Origin check, the
   client's check of the 101 answer, and the heads we write read back by
   our own parser. */
#include "unit.h"
#include "ws_codec.h"
#include "ws_http.h"

#include <stdlib.h>
#include <string.h>

static struct ws_http_head h; /* 64 fields: too big for every stack frame */

static size_t head_len(const char *s, size_t n)
{
    struct ws_http_scan scan = {0, 0};
    return ws_http_head_len(s, n, &scan);
}

static int parse_req(const char *s)
{
    size_t n = head_len(s, strlen(s));
    if (!n)
        return -1;
    return ws_http_parse_request(s, n, &h);
}

static int parse_resp(const char *s)
{
    size_t n = head_len(s, strlen(s));
    if (!n)
        return -2;
    return ws_http_parse_response(s, n, &h);
}

/* Parse a request and run the server's upgrade checks for pair. */
static int upgrade_status(const char *req)
{
    const char *key, *why = NULL;
    size_t klen;
    if (parse_req(req) != 0)
        return -1;
    int rc = ws_http_check_upgrade(&h, "pair.sp.nanomsg.org", &key, &klen, &why);
    if (rc && !why) /* every refusal names its reason */
        return -2;
    return rc;
}

static void test_head_len(void)
{
    const char *chrome = "GET /chat?x=1 HTTP/1.1\r\n"
                         "Host: 127.0.0.1:5555\r\n"
                         "Connection: keep-alive, Upgrade\r\n"
                         "Pragma: no-cache\r\n"
                         "Upgrade: websocket\r\n"
                         "Origin: http://127.0.0.1:8000\r\n"
                         "Sec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                         "Sec-WebSocket-Protocol: rep.sp.nanomsg.org\r\n"
                         "\r\nEXTRA";
    size_t whole = strlen(chrome) - 5;
    EXPECT(head_len(chrome, strlen(chrome)) == whole);
    EXPECT(head_len(chrome, 30) == 0);
    EXPECT(head_len(chrome, whole - 1) == 0); /* the last LF not yet here */
    /* Fed a byte at a time, each byte looked at once, same answer. */
    struct ws_http_scan scan = {0, 0};
    size_t found = 0;
    for (size_t i = 1; i <= strlen(chrome) && !found; i++)
        found = ws_http_head_len(chrome, i, &scan);
    EXPECT(found == whole && scan.pos == found - 1);
    /* In pieces of every size, the same. */
    for (size_t step = 2; step < 64; step++) {
        struct ws_http_scan sc = {0, 0};
        size_t got = 0;
        for (size_t i = step; !got && i < strlen(chrome) + step; i += step)
            got = ws_http_head_len(chrome, i < strlen(chrome) ? i : strlen(chrome), &sc);
        EXPECT(got == whole);
    }
    /* Line ends: CRLF, bare LF, and a mix of both. */
    EXPECT(head_len("GET / HTTP/1.1\n\n", 16) == 16);
    EXPECT(head_len("GET / HTTP/1.1\r\nA: b\n\r\n", 23) == 23);
    EXPECT(head_len("GET / HTTP/1.1\r\nA: b\r\n", 22) == 0);
    /* A CR alone ends nothing. */
    EXPECT(head_len("GET / HTTP/1.1\r\r\r\r", 18) == 0);
    /* An empty first line is a (complete) head the parser then refuses. */
    EXPECT(head_len("\r\nGET", 5) == 2);
    EXPECT(parse_req("\r\n\r\n") == 400);
}

static void test_request(void)
{
    const char *chrome = "GET /chat?x=1 HTTP/1.1\r\n"
                         "Host: 127.0.0.1:5555\r\n"
                         "Connection: keep-alive, Upgrade\r\n"
                         "Upgrade: websocket\r\n"
                         "Origin: http://127.0.0.1:8000\r\n"
                         "Sec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Key:   dGhlIHNhbXBsZSBub25jZQ==  \t\r\n"
                         "Sec-WebSocket-Protocol: rep.sp.nanomsg.org\r\n"
                         "\r\n";
    EXPECT(parse_req(chrome) == 0);
    EXPECT(h.method_len == 3 && memcmp(h.method, "GET", 3) == 0);
    EXPECT(h.target_len == 9 && memcmp(h.target, "/chat?x=1", 9) == 0);
    EXPECT(h.nfields == 7);
    EXPECT(h.field[0].name_len == 4 && memcmp(h.field[0].name, "Host", 4) == 0);
    EXPECT(h.field[0].value_len == 14 && memcmp(h.field[0].value, "127.0.0.1:5555", 14) == 0);
    /* Blanks around a value are not part of it. */
    EXPECT(h.field[5].value_len == 24 && h.field[5].value[0] == 'd');
    const char *path, *key, *why;
    size_t plen, klen;
    ws_http_target_path(&h, &path, &plen);
    EXPECT(plen == 5 && memcmp(path, "/chat", 5) == 0);
    EXPECT(ws_http_check_upgrade(&h, "rep.sp.nanomsg.org", &key, &klen, &why) == 0);
    EXPECT(klen == 24 && memcmp(key, "dGhlIHNhbXBsZSBub25jZQ==", 24) == 0);
    EXPECT(ws_http_check_upgrade(&h, "pair.sp.nanomsg.org", &key, &klen, &why) == 400);

    /* Targets: NNG's client sends an empty one for a URL without a path;
       the absolute form; a fragment; a bare query. */
    EXPECT(parse_req("GET  HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
    ws_http_target_path(&h, &path, &plen);
    EXPECT(plen == 1 && path[0] == '/');
    EXPECT(parse_req("GET http://h:1/a/b?q HTTP/1.1\n\n") == 0); /* bare LF, absolute form */
    ws_http_target_path(&h, &path, &plen);
    EXPECT(plen == 4 && memcmp(path, "/a/b", 4) == 0);
    EXPECT(parse_req("GET http://h:1 HTTP/1.1\r\n\r\n") == 0);
    ws_http_target_path(&h, &path, &plen);
    EXPECT(plen == 1 && path[0] == '/');
    EXPECT(parse_req("GET /p#frag HTTP/1.1\r\n\r\n") == 0);
    ws_http_target_path(&h, &path, &plen);
    EXPECT(plen == 2 && memcmp(path, "/p", 2) == 0);
    EXPECT(parse_req("GET ?q=1 HTTP/1.1\r\n\r\n") == 0);
    ws_http_target_path(&h, &path, &plen);
    EXPECT(plen == 1 && path[0] == '/');
    /* A request without fields parses (the upgrade check then refuses it). */
    EXPECT(parse_req("GET / HTTP/1.1\r\n\r\n") == 0 && h.nfields == 0);
    EXPECT(upgrade_status("GET / HTTP/1.1\r\n\r\n") == 400);
}

/* Every status a request head itself is refused with. */
static void test_request_refusals(void)
{
    /* 405: a method other than GET, also in another case. */
    EXPECT(parse_req("POST / HTTP/1.1\r\n\r\n") == 405);
    EXPECT(parse_req("get / HTTP/1.1\r\n\r\n") == 405);
    EXPECT(parse_req("HEAD / HTTP/1.1\r\n\r\n") == 405);
    /* 505: HTTP, but not 1.1 or later 1.x. */
    EXPECT(parse_req("GET / HTTP/1.0\r\n\r\n") == 505);
    EXPECT(parse_req("GET / HTTP/2.0\r\n\r\n") == 505);
    EXPECT(parse_req("GET / HTTP/1.10\r\n\r\n") == 505);
    EXPECT(parse_req("GET / HTTP/1.9\r\n\r\n") == 0);
    /* 400: anything else that is not a request line or a field. */
    EXPECT(parse_req("GET / FTP/1.1\r\n\r\n") == 400);
    EXPECT(parse_req("GET / http/1.1\r\n\r\n") == 400);
    EXPECT(parse_req("GET /\r\n\r\n") == 400);
    EXPECT(parse_req("GET / a HTTP/1.1\r\n\r\n") == 400);
    EXPECT(parse_req(" GET / HTTP/1.1\r\n\r\n") == 400);
    EXPECT(parse_req("G(T / HTTP/1.1\r\n\r\n") == 400);
    EXPECT(parse_req("GET /\ta HTTP/1.1\r\n\r\n") == 400);
    EXPECT(parse_req("HELLO\r\n\r\n") == 400);
    EXPECT(parse_req("GET / HTTP/1.1\x01\r\n\r\n") == 400);
    EXPECT(parse_req("GET / HTTP/1.1\r\nNoColon\r\n\r\n") == 400);
    EXPECT(parse_req("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n") == 400);
    EXPECT(parse_req("GET / HTTP/1.1\r\nName : x\r\n\r\n") == 400);
    EXPECT(parse_req("GET / HTTP/1.1\r\n: x\r\n\r\n") == 400);
    EXPECT(parse_req("GET / HTTP/1.1\r\nA: \x01\r\n\r\n") == 400);
    EXPECT(parse_req("GET / HTTP/1.1\r\nA: \x7f\r\n\r\n") == 400);
    EXPECT(parse_req("GET / HTTP/1.1\r\nA: tab\tinside\r\n\r\n") == 0); /* a tab is a blank */
    char nul[] = "GET / HTTP/1.1\r\nA: x\0y\r\n\r\n";
    size_t nn = sizeof(nul) - 1;
    EXPECT(ws_http_parse_request(nul, head_len(nul, nn), &h) == 400);
    /* Obsolete line folding (RFC 7230 section 3.2.4), by space or tab. */
    EXPECT(parse_req("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n") == 400);
    EXPECT(parse_req("GET / HTTP/1.1\r\nA: b\r\n\tfolded\r\n\r\n") == 400);
    EXPECT(parse_req("GET / HTTP/1.1\r\n Leading: x\r\n\r\n") == 400);
    /* 431: one field more than the table holds; exactly as many pass. */
    static char many[8192];
    for (int extra = 0; extra < 2; extra++) {
        size_t m = (size_t) sprintf(many, "GET / HTTP/1.1\r\n");
        for (int i = 0; i < WS_HTTP_MAX_FIELDS + extra; i++)
            m += (size_t) sprintf(many + m, "X-%d: y\r\n", i);
        sprintf(many + m, "\r\n");
        EXPECT(parse_req(many) == (extra ? 431 : 0));
    }
}

static const char *up = "Upgrade: WebSocket\r\n", *conn = "connection: Upgrade\r\n",
                  *ver = "Sec-WebSocket-Version: 13\r\n",
                  *k = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
                  *pr = "Sec-WebSocket-Protocol: x, pair.sp.nanomsg.org\r\n";

static int upgrade5(const char *a, const char *b, const char *c, const char *d, const char *e)
{
    static char req[1024];
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\n%s%s%s%s%s\r\n", a, b, c, d, e);
    return upgrade_status(req);
}

/* The upgrade checks, one header wrong at a time; names and tokens in any
   case, lists in one field or spread over several. */
static void test_upgrade(void)
{
    EXPECT(upgrade5(up, conn, ver, k, pr) == 0);
    EXPECT(upgrade5("", conn, ver, k, pr) == 400);
    EXPECT(upgrade5("Upgrade: h2c\r\n", conn, ver, k, pr) == 400);
    EXPECT(upgrade5(up, "", ver, k, pr) == 400);
    EXPECT(upgrade5(up, "Connection: close\r\n", ver, k, pr) == 400);
    EXPECT(upgrade5(up, "Connection: upgraded\r\n", ver, k, pr) == 400);
    EXPECT(upgrade5(up, conn, "Sec-WebSocket-Version: 8\r\n", k, pr) == 426);
    EXPECT(upgrade5(up, conn, "Sec-WebSocket-Version: 13, 8\r\n", k, pr) == 426);
    EXPECT(upgrade5(up, conn, "", k, pr) == 426);
    EXPECT(upgrade5(up, conn, "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n", k,
                    pr) == 426); /* repeated */
    EXPECT(upgrade5(up, conn, ver, "Sec-WebSocket-Key: short\r\n", pr) == 400);
    EXPECT(upgrade5(up, conn, ver, "", pr) == 400);
    EXPECT(upgrade5(up, conn, ver,
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
                    pr) == 400); /* repeated */
    EXPECT(upgrade5(up, conn, ver, k, "") == 400);
    EXPECT(upgrade5(up, conn, ver, k, "Sec-WebSocket-Protocol: pair.sp.nanomsg.org.evil\r\n") ==
           400);
    EXPECT(upgrade5(up, conn, ver, k, "Sec-WebSocket-Protocol: xpair.sp.nanomsg.org\r\n") == 400);
    /* Case of names and of tokens does not matter. */
    EXPECT(upgrade5("UPGRADE: WEBSOCKET\r\n", "CONNECTION: UPGRADE\r\n",
                    "sec-websocket-version: 13\r\n",
                    "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
                    "SEC-WEBSOCKET-PROTOCOL: PAIR.SP.NANOMSG.ORG\r\n") == 0);
    /* A list may be spread over repeated fields, with blanks and empty
       elements. */
    EXPECT(upgrade5(up, "Connection: keep-alive\r\nConnection: ,  Upgrade ,\r\n", ver, k, pr) == 0);
    EXPECT(upgrade5(up, conn, ver, k,
                    "Sec-WebSocket-Protocol: x\r\nSec-WebSocket-Protocol: pair.sp.nanomsg.org\r\n") ==
           0);
}

static int origin(const char *fields, const char *allowed)
{
    static char req[1024];
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: h\r\n%s\r\n", fields);
    if (parse_req(req) != 0)
        return -1;
    const char *why = NULL;
    int rc = ws_http_check_origin(&h, allowed, &why);
    if (rc && (!why || !*why))
        return -2;
    return rc;
}

static void test_origin(void)
{
    /* Anyone, when nothing is configured: any Origin, several, none. */
    EXPECT(origin("Origin: http://evil.example\r\n", NULL) == 0);
    EXPECT(origin("Origin: a\r\nOrigin: b\r\n", NULL) == 0);
    EXPECT(origin("", NULL) == 0);
    /* No Origin field: not a browser, passes. */
    EXPECT(origin("", "http://a.example") == 0);
    /* One Origin equal to an allowed entry, ASCII case ignored. */
    EXPECT(origin("Origin: http://a.example\r\n", "http://a.example") == 0);
    EXPECT(origin("origin: HTTP://A.Example\r\n", "http://a.example") == 0);
    EXPECT(origin("Origin: https://b.example:8443\r\n",
                  "http://a.example https://b.example:8443 null") == 0);
    EXPECT(origin("Origin: null\r\n", "http://a.example null") == 0);
    EXPECT(origin("Origin: http://a.example\r\n", "http://x.example   http://a.example") == 0);
    /* Anything else: 403. */
    EXPECT(origin("Origin: http://evil.example\r\n", "http://a.example") == 403);
    EXPECT(origin("Origin: http://a.example.evil\r\n", "http://a.example") == 403); /* prefix */
    EXPECT(origin("Origin: http://a.exampl\r\n", "http://a.example") == 403);      /* shorter */
    EXPECT(origin("Origin: a.example\r\n", "http://a.example") == 403);            /* suffix */
    EXPECT(origin("Origin: \r\n", "http://a.example") == 403);                     /* empty */
    EXPECT(origin("Origin: null\r\n", "http://a.example") == 403);
    EXPECT(origin("Origin: http://a.example\r\nOrigin: http://a.example\r\n",
                  "http://a.example") == 403); /* repeated */
    EXPECT(origin("Origin: http://a.example http://b.example\r\n",
                  "http://a.example http://b.example") == 403); /* a list is not an origin */
    EXPECT(origin("Origin: http://a.example\r\n", "") == 403);  /* an empty allow list */
}

static void test_responses(void)
{
    char acc[WS_ACCEPT_LEN + 1];
    ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", 24, acc);
    static char resp[512];
    size_t rn = ws_http_switching(resp, sizeof(resp), acc, "rep.sp.nanomsg.org");
    EXPECT(rn > 0 && rn == strlen(resp) && head_len(resp, rn) == rn);
    EXPECT(ws_http_parse_response(resp, rn, &h) == 0 && h.status == 101);
    EXPECT(ws_http_check_accept(&h, acc, "rep.sp.nanomsg.org"));
    EXPECT(ws_http_check_accept(&h, acc, "REP.sp.nanomsg.org")); /* a token: any case */
    EXPECT(!ws_http_check_accept(&h, acc, "req.sp.nanomsg.org"));
    EXPECT(!ws_http_check_accept(&h, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "rep.sp.nanomsg.org"));
    /* The client's check, one field wrong at a time. */
    static char r[512];
    const char *fmt = "HTTP/1.1 %s\r\n%s%s%s%s\r\n";
    const char *u = "Upgrade: websocket\r\n", *c = "Connection: Upgrade\r\n",
               *p = "Sec-WebSocket-Protocol: rep.sp.nanomsg.org\r\n";
    char a[64];
    snprintf(a, sizeof(a), "Sec-WebSocket-Accept: %s\r\n", acc);
    snprintf(r, sizeof(r), fmt, "101 Switching Protocols", u, c, a, p);
    EXPECT(parse_resp(r) == 0 && ws_http_check_accept(&h, acc, "rep.sp.nanomsg.org"));
    snprintf(r, sizeof(r), fmt, "200 OK", u, c, a, p);
    EXPECT(parse_resp(r) == 0 && !ws_http_check_accept(&h, acc, "rep.sp.nanomsg.org"));
    snprintf(r, sizeof(r), fmt, "101 Switching Protocols", "", c, a, p);
    EXPECT(parse_resp(r) == 0 && !ws_http_check_accept(&h, acc, "rep.sp.nanomsg.org"));
    snprintf(r, sizeof(r), fmt, "101 Switching Protocols", u, "", a, p);
    EXPECT(parse_resp(r) == 0 && !ws_http_check_accept(&h, acc, "rep.sp.nanomsg.org"));
    snprintf(r, sizeof(r), fmt, "101 Switching Protocols", u, c, "", p);
    EXPECT(parse_resp(r) == 0 && !ws_http_check_accept(&h, acc, "rep.sp.nanomsg.org"));
    snprintf(r, sizeof(r), fmt, "101 Switching Protocols", u, c, a, "");
    EXPECT(parse_resp(r) == 0 && !ws_http_check_accept(&h, acc, "rep.sp.nanomsg.org"));
    char twice[128];
    snprintf(twice, sizeof(twice), "%s%s", a, a);
    snprintf(r, sizeof(r), fmt, "101 Switching Protocols", u, c, twice, p);
    EXPECT(parse_resp(r) == 0 && !ws_http_check_accept(&h, acc, "rep.sp.nanomsg.org"));
    /* Status lines. */
    EXPECT(parse_resp("HTTP/1.1 101\r\n\r\n") == 0 && h.status == 101);
    EXPECT(parse_resp("HTTP/1.0 403 Forbidden\r\n\r\n") == 0 && h.status == 403);
    EXPECT(parse_resp("HTTP/1.1 10x OK\r\n\r\n") == -1);
    EXPECT(parse_resp("HTTP/1.1 1011 OK\r\n\r\n") == -1);
    EXPECT(parse_resp("HTTP/1.1  101 OK\r\n\r\n") == -1);
    EXPECT(parse_resp("HTTP/2.0 101 OK\r\n\r\n") == -1);
    EXPECT(parse_resp("HTTP/1.1 10\r\n\r\n") == -1);
    EXPECT(parse_resp("ICY 200 OK\r\n\r\n") == -1);
    EXPECT(parse_resp("HTTP/1.1 101 OK\x01\r\n\r\n") == -1);
    EXPECT(parse_resp("HTTP/1.1 101 OK\r\nA: b\r\n folded\r\n\r\n") == -1);
    EXPECT(parse_resp("HTTP/1.1 101 OK\r\nNoColon\r\n\r\n") == -1);
}

/* Every status we refuse with, written and read back: the status line, the
   reason, a body whose length the head states, the connection closed, and
   426 telling the client the version we speak. */
static void test_refusal_messages(void)
{
    static const int statuses[] = {400, 403, 404, 405, 426, 431, 503, 505};
    static const char *reasons[] = {"Bad Request",        "Forbidden",
                                    "Not Found",          "Method Not Allowed",
                                    "Upgrade Required",   "Request Header Fields Too Large",
                                    "Service Unavailable", "HTTP Version Not Supported"};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
        for (int with_why = 0; with_why < 2; with_why++) {
            static char out[512];
            const char *why = with_why ? "origin not allowed" : NULL;
            size_t n = ws_http_refusal(out, sizeof(out), statuses[i], why);
            size_t hl = head_len(out, n);
            char line[128];
            snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", statuses[i], reasons[i]);
            const char *body = out + hl;
            const char *want_body = why ? why : reasons[i];
            char cl[64];
            snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", strlen(want_body) + 1);
            bool ok = n > 0 && n == strlen(out) && hl > 0 &&
                      ws_http_parse_response(out, hl, &h) == 0 && h.status == statuses[i] &&
                      strncmp(out, line, strlen(line)) == 0 && strstr(out, cl) != NULL &&
                      strstr(out, "Connection: close\r\n") != NULL &&
                      (strstr(out, "Sec-WebSocket-Version: 13\r\n") != NULL) ==
                          (statuses[i] == 426) &&
                      n - hl == strlen(want_body) + 1 &&
                      strncmp(body, want_body, strlen(want_body)) == 0 && body[n - hl - 1] == '\n';
            if (!ok) {
                fprintf(stderr, "refusal %d (why %d): %s\n", statuses[i], with_why, out);
                unit_failures++;
            }
        }
    /* A status without a reason of its own still makes a valid head. */
    static char out[256];
    size_t n = ws_http_refusal(out, sizeof(out), 418, NULL);
    EXPECT(n > 0 && ws_http_parse_response(out, head_len(out, n), &h) == 0 && h.status == 418);
    /* What does not fit is not written half. */
    char small[16];
    EXPECT(ws_http_refusal(small, sizeof(small), 400, NULL) == 0);
    EXPECT(ws_http_switching(small, sizeof(small), "a", "b") == 0);
    EXPECT(ws_http_request(small, sizeof(small), "/", "h", "k", "p") == 0);
}

/* Our request, read by our server side: the upgrade passes with our key,
   and our 101 answer to it passes our client's check. */
static void test_round_trip(void)
{
    static char req[512], resp[512];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    size_t n = ws_http_request(req, sizeof(req), "/a/b?c", "127.0.0.1:5555", key,
                               "pair.sp.nanomsg.org");
    EXPECT(n > 0 && n == strlen(req) && head_len(req, n) == n);
    EXPECT(ws_http_parse_request(req, n, &h) == 0);
    const char *path, *got, *why;
    size_t plen, glen;
    ws_http_target_path(&h, &path, &plen);
    EXPECT(plen == 4 && memcmp(path, "/a/b", 4) == 0);
    EXPECT(ws_http_check_upgrade(&h, "pair.sp.nanomsg.org", &got, &glen, &why) == 0);
    EXPECT(glen == strlen(key) && memcmp(got, key, glen) == 0);
    EXPECT(ws_http_check_origin(&h, "http://a.example", &why) == 0); /* no Origin sent */
    char acc[WS_ACCEPT_LEN + 1];
    ws_accept_for(got, glen, acc);
    n = ws_http_switching(resp, sizeof(resp), acc, "pair.sp.nanomsg.org");
    EXPECT(n > 0 && ws_http_parse_response(resp, head_len(resp, n), &h) == 0);
    EXPECT(ws_http_check_accept(&h, acc, "pair.sp.nanomsg.org"));
}

int main(void)
{
    test_head_len();
    test_request();
    test_request_refusals();
    test_upgrade();
    test_origin();
    test_responses();
    test_refusal_messages();
    test_round_trip();
    UNIT_DONE();
}
