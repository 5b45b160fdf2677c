/* codec_unit.c: the pure parts of the ws:// transport, linked from their
   sources: SHA-1 against FIPS 180 vectors and block-boundary lengths,
   base64 and the RFC 6455 accept example, the key check, UTF-8 validation
   (overlong forms, surrogates, out-of-range, truncation, also inside the
   ASCII fast path), frame headers at every length boundary, masking from
   any key phase, and the HTTP parser and checks on real and broken heads. */
#include "ws_codec.h"
#include "ws_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define EXPECT(cond)                                                                  \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond);        \
            failures++;                                                               \
        }                                                                             \
    } while (0)

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static int sha1_is(const void *data, size_t n, const char *want)
{
    uint8_t d[20];
    char h[41];
    ws_sha1(data, n, d);
    hex(d, 20, h);
    if (strcmp(h, want) != 0) {
        fprintf(stderr, "sha1 of %zu bytes: %s, want %s\n", n, h, want);
        return 0;
    }
    return 1;
}

static void test_sha1(void)
{
    EXPECT(sha1_is("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709"));
    EXPECT(sha1_is("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d"));
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    EXPECT(sha1_is(two, strlen(two), "84983e441c3bd26ebaae4aa1f95129e5e54670f1"));
    static const struct {
        size_t n;
        const char *h;
    } as[] = {{55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"},
              {56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
              {63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"},
              {64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
              {119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"},
              {120, "f34c1488385346a55709ba056ddd08280dd4c6d6"},
              {1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"}};
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    for (size_t i = 0; i < sizeof(as) / sizeof(as[0]); i++)
        EXPECT(sha1_is(a, as[i].n, as[i].h));
    free(a);
}

static void test_base64_accept_key(void)
{
    char out[64];
    static const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        ws_base64((const uint8_t *) in[i], strlen(in[i]), out);
        EXPECT(strcmp(out, want[i]) == 0);
    }
    char acc[WS_ACCEPT_LEN + 1];
    ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", 24, acc); /* RFC 6455 section 1.3 */
    EXPECT(strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);

    EXPECT(ws_key_ok("dGhlIHNhbXBsZSBub25jZQ==", 24));
    EXPECT(!ws_key_ok("dGhlIHNhbXBsZSBub25jZQ=", 23));
    EXPECT(!ws_key_ok("dGhlIHNhbXBsZSBub25jZQ===", 25));
    EXPECT(!ws_key_ok("dGhlIHNhbXBsZSBub25jZR==", 24)); /* stray low bits */
    EXPECT(!ws_key_ok("dGhlIHNhbXBsZSBub25j*Q==", 24));
    EXPECT(!ws_key_ok("dGhlIHNhbXBsZSBub25jZQAA", 24));
}

static int utf8(const char *s) { return ws_utf8_ok((const uint8_t *) s, strlen(s)); }

static void test_utf8(void)
{
    EXPECT(utf8(""));
    EXPECT(utf8("plain"));
    EXPECT(utf8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")); /* κόσμε */
    EXPECT(utf8("\xef\xbf\xbf"));                                 /* U+FFFF */
    EXPECT(utf8("\xf4\x8f\xbf\xbf"));                             /* U+10FFFF */
    EXPECT(utf8("\xed\x9f\xbf"));                                 /* U+D7FF */
    EXPECT(utf8("\xee\x80\x80"));                                 /* U+E000 */
    EXPECT(utf8("\xc2\x80"));
    EXPECT(utf8("\xe0\xa0\x80"));
    EXPECT(utf8("\xf0\x90\x80\x80"));
    EXPECT(!utf8("\xc0\x80"));         /* overlong NUL */
    EXPECT(!utf8("\xc1\xbf"));
    EXPECT(!utf8("\xe0\x80\x80"));     /* overlong */
    EXPECT(!utf8("\xe0\x9f\xbf"));
    EXPECT(!utf8("\xf0\x80\x80\x80"));
    EXPECT(!utf8("\xf0\x8f\xbf\xbf"));
    EXPECT(!utf8("\xed\xa0\x80"));     /* surrogate */
    EXPECT(!utf8("\xed\xbf\xbf"));
    EXPECT(!utf8("\xf4\x90\x80\x80")); /* above U+10FFFF */
    EXPECT(!utf8("\xf5\x80\x80\x80"));
    EXPECT(!utf8("\x80"));
    EXPECT(!utf8("a\xbf"));
    EXPECT(!utf8("\xe6\x97"));         /* cut short */
    EXPECT(!utf8("\xf0\x9d\x84"));
    EXPECT(!utf8("\xc3"));
    EXPECT(!utf8("\xc3\x28"));
    EXPECT(!utf8("\xfe"));
    EXPECT(!utf8("\xff"));
    EXPECT(!utf8("1234567\xff"));          /* the byte after the fast path */
    EXPECT(!utf8("1234567812345678\xe6")); /* a cut character after 16 ASCII */
    EXPECT(utf8("1234567812345678\xe6\x97\xa5"));
    EXPECT(!utf8("12345678\x80" "12345678"));
    uint8_t nul[3] = {'a', 0, 'b'};
    EXPECT(ws_utf8_ok(nul, 3)); /* U+0000 is a character */
}

static void test_frames(void)
{
    uint8_t h[WS_FRAME_HDR_MAX];
    uint8_t key[4] = {1, 2, 3, 4};
    EXPECT(ws_frame_hdr(h, true, WS_OP_BINARY, 0, NULL) == 2 && h[0] == 0x82 && h[1] == 0);
    EXPECT(ws_frame_hdr(h, true, WS_OP_TEXT, 125, NULL) == 2 && h[0] == 0x81 && h[1] == 125);
    EXPECT(ws_frame_hdr(h, false, WS_OP_BINARY, 126, NULL) == 4 && h[0] == 0x02 && h[1] == 126 &&
           h[2] == 0 && h[3] == 126);
    EXPECT(ws_frame_hdr(h, true, WS_OP_CONT, 65535, NULL) == 4 && h[0] == 0x80 && h[2] == 0xff &&
           h[3] == 0xff);
    EXPECT(ws_frame_hdr(h, true, WS_OP_BINARY, 65536, NULL) == 10 && h[1] == 127 && h[2] == 0 &&
           h[7] == 1 && h[8] == 0 && h[9] == 0);
    EXPECT(ws_frame_hdr(h, true, WS_OP_PING, 5, key) == 6 && h[1] == (0x80 | 5) &&
           memcmp(h + 2, key, 4) == 0);
    EXPECT(ws_frame_hdr(h, true, WS_OP_BINARY, 1u << 20, key) == 14 && h[1] == (0x80 | 127));
    EXPECT(ws_frame_hdr_len(0, false) == 2 && ws_frame_hdr_len(126, true) == 8 &&
           ws_frame_hdr_len(65536, true) == 14);

    /* Masking from any phase equals masking byte by byte. */
    uint8_t src[100], a[100], b[100];
    for (int i = 0; i < 100; i++)
        src[i] = (uint8_t) (i * 7 + 3);
    for (size_t phase = 0; phase < 4; phase++)
        for (size_t n = 0; n < 40; n++) {
            size_t p = ws_mask(a, src, n, key, phase);
            for (size_t i = 0; i < n; i++)
                b[i] = src[i] ^ key[(phase + i) & 3];
            EXPECT(memcmp(a, b, n) == 0);
            EXPECT(p == ((phase + n) & 3));
        }
    /* In place, in two pieces, and back again. */
    memcpy(a, src, 100);
    size_t p = ws_mask(a, a, 37, key, 0);
    ws_mask(a + 37, a + 37, 63, key, p);
    ws_mask(a, a, 100, key, 0);
    EXPECT(memcmp(a, src, 100) == 0);
}

static size_t head_len(const char *s, size_t n)
{
    struct ws_http_scan scan = {0, 0};
    return ws_http_head_len(s, n, &scan);
}

static int parse_req(const char *s, struct ws_http_head *h)
{
    size_t n = head_len(s, strlen(s));
    if (!n)
        return -1;
    return ws_http_parse_request(s, n, h);
}

/* Parse a request and run the server's upgrade checks for pair. */
static int upgrade_status(const char *req)
{
    static struct ws_http_head h;
    const char *key, *why;
    size_t klen;
    if (parse_req(req, &h) != 0)
        return -1;
    return ws_http_check_upgrade(&h, "pair.sp.nanomsg.org", &key, &klen, &why);
}

static void test_http(void)
{
    static struct ws_http_head h;
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
    EXPECT(head_len(chrome, strlen(chrome)) == strlen(chrome) - 5);
    EXPECT(head_len(chrome, 30) == 0);
    /* Fed a byte at a time, each byte looked at once, same answer. */
    struct ws_http_scan scan = {0, 0};
    size_t found = 0;
    for (size_t i = 1; i <= strlen(chrome) && !found; i++)
        found = ws_http_head_len(chrome, i, &scan);
    EXPECT(found == strlen(chrome) - 5 && scan.pos == found - 1);
    EXPECT(parse_req(chrome, &h) == 0);
    const char *path, *key, *why;
    size_t plen, klen;
    ws_http_target_path(&h, &path, &plen);
    EXPECT(plen == 5 && memcmp(path, "/chat", 5) == 0);
    EXPECT(ws_http_check_upgrade(&h, "rep.sp.nanomsg.org", &key, &klen, &why) == 0);
    EXPECT(klen == 24 && memcmp(key, "dGhlIHNhbXBsZSBub25jZQ==", 24) == 0);
    EXPECT(ws_http_check_upgrade(&h, "pair.sp.nanomsg.org", &key, &klen, &why) == 400);

    /* NNG's client sends an empty target for a URL without a path. */
    EXPECT(parse_req("GET  HTTP/1.1\r\nHost: x\r\n\r\n", &h) == 0);
    ws_http_target_path(&h, &path, &plen);
    EXPECT(plen == 1 && path[0] == '/');
    EXPECT(parse_req("GET http://h:1/a/b?q HTTP/1.1\n\n", &h) == 0); /* bare LF, absolute form */
    ws_http_target_path(&h, &path, &plen);
    EXPECT(plen == 4 && memcmp(path, "/a/b", 4) == 0);
    EXPECT(parse_req("GET http://h:1 HTTP/1.1\r\n\r\n", &h) == 0);
    ws_http_target_path(&h, &path, &plen);
    EXPECT(plen == 1 && path[0] == '/');

    EXPECT(parse_req("POST / HTTP/1.1\r\n\r\n", &h) == 405);
    EXPECT(parse_req("GET / HTTP/1.0\r\n\r\n", &h) == 505);
    EXPECT(parse_req("GET / HTTP/2.0\r\n\r\n", &h) == 505);
    EXPECT(parse_req("GET / FTP/1.1\r\n\r\n", &h) == 400);
    EXPECT(parse_req("GET /\r\n\r\n", &h) == 400);
    EXPECT(parse_req("HELLO\r\n\r\n", &h) == 400);
    EXPECT(parse_req("\r\n\r\n", &h) == 400);
    EXPECT(parse_req("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", &h) == 400);
    EXPECT(parse_req("GET / HTTP/1.1\r\nNoColon\r\n\r\n", &h) == 400);
    EXPECT(parse_req("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", &h) == 400);
    EXPECT(parse_req("GET / HTTP/1.1\r\n: x\r\n\r\n", &h) == 400);
    EXPECT(parse_req("GET / HTTP/1.1\r\nA: \x01\r\n\r\n", &h) == 400);
    char nul[] = "GET / HTTP/1.1\r\nA: x\0y\r\n\r\n";
    size_t nn = sizeof(nul) - 1;
    EXPECT(ws_http_parse_request(nul, head_len(nul, nn), &h) == 400);
    char many[8192];
    size_t m = (size_t) sprintf(many, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < WS_HTTP_MAX_FIELDS + 1; i++)
        m += (size_t) sprintf(many + m, "X-%d: y\r\n", i);
    sprintf(many + m, "\r\n");
    EXPECT(parse_req(many, &h) == 431);

    /* The upgrade checks, one header wrong at a time. */
    const char *fmt = "GET / HTTP/1.1\r\n%s%s%s%s%s\r\n";
    const char *up = "Upgrade: WebSocket\r\n", *conn = "connection: Upgrade\r\n",
               *ver = "Sec-WebSocket-Version: 13\r\n",
               *k = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
               *pr = "Sec-WebSocket-Protocol: x, pair.sp.nanomsg.org\r\n";
    char req[1024];
    sprintf(req, fmt, up, conn, ver, k, pr);
    EXPECT(upgrade_status(req) == 0);
    sprintf(req, fmt, "", conn, ver, k, pr);
    EXPECT(upgrade_status(req) == 400);
    sprintf(req, fmt, "Upgrade: h2c\r\n", conn, ver, k, pr);
    EXPECT(upgrade_status(req) == 400);
    sprintf(req, fmt, up, "Connection: close\r\n", ver, k, pr);
    EXPECT(upgrade_status(req) == 400);
    sprintf(req, fmt, up, conn, "Sec-WebSocket-Version: 8\r\n", k, pr);
    EXPECT(upgrade_status(req) == 426);
    sprintf(req, fmt, up, conn, "", k, pr);
    EXPECT(upgrade_status(req) == 426);
    sprintf(req, fmt, up, conn, ver, "Sec-WebSocket-Key: short\r\n", pr);
    EXPECT(upgrade_status(req) == 400);
    sprintf(req, fmt, up, conn, ver, "", pr);
    EXPECT(upgrade_status(req) == 400);
    sprintf(req, fmt, up, conn, ver, k, "");
    EXPECT(upgrade_status(req) == 400);
    sprintf(req, fmt, up, conn, ver, k, "Sec-WebSocket-Protocol: pair.sp.nanomsg.org.evil\r\n");
    EXPECT(upgrade_status(req) == 400);

    /* Responses. */
    char acc[WS_ACCEPT_LEN + 1];
    ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", 24, acc);
    char resp[512];
    size_t rn = ws_http_switching(resp, sizeof(resp), acc, "rep.sp.nanomsg.org");
    EXPECT(rn > 0 && head_len(resp, rn) == rn);
    EXPECT(ws_http_parse_response(resp, rn, &h) == 0 && h.status == 101);
    EXPECT(ws_http_check_accept(&h, acc, "rep.sp.nanomsg.org"));
    EXPECT(!ws_http_check_accept(&h, acc, "req.sp.nanomsg.org"));
    EXPECT(!ws_http_check_accept(&h, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "rep.sp.nanomsg.org"));
    rn = ws_http_refusal(resp, sizeof(resp), 426, NULL);
    EXPECT(rn > 0 && ws_http_parse_response(resp, rn, &h) == 0 && h.status == 426);
    EXPECT(strstr(resp, "Sec-WebSocket-Version: 13\r\n") != NULL);
    EXPECT(ws_http_parse_response("HTTP/1.1 10x OK\r\n\r\n", 19, &h) == -1);
    EXPECT(ws_http_parse_response("HTTP/1.1 101\r\n\r\n", 16, &h) == 0 && h.status == 101);
    char small[16];
    EXPECT(ws_http_request(small, sizeof(small), "/", "h", "k", "p") == 0);
}

int main(void)
{
    test_sha1();
    test_base64_accept_key();
    test_utf8();
    test_frames();
    test_http();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
