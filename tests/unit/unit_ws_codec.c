/* unit_ws_codec.c: src/transports/ws_codec.c on its own: SHA-1 against FIPS
   180 vectors and block-boundary lengths, base64 and the RFC 6455 accept
   example, the key check, UTF-8 validation (overlong forms, surrogates,
   out-of-range, truncation, inside the ASCII fast path, and characters
   split across fragments), frame headers of every length class read back
   by the RFC's rules, the RFC's own sample frames, masking from any key
   phase, and the close codes we send. */
#include "unit.h"
#include "ws_codec.h"

#include <stdlib.h>
#include <string.h>

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
    /* Lengths around the 64-byte block and its 8-byte length field. */
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
    if (!a)
        abort();
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
    uint8_t all[3] = {0xfb, 0xff, 0xbf}; /* the last two alphabet letters */
    ws_base64(all, 3, out);
    EXPECT(strcmp(out, "+/+/") == 0);

    char acc[WS_ACCEPT_LEN + 1];
    ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", 24, acc); /* RFC 6455 section 1.3 */
    EXPECT(strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
    EXPECT(strlen(acc) == WS_ACCEPT_LEN);

    EXPECT(ws_key_ok("dGhlIHNhbXBsZSBub25jZQ==", WS_KEY_LEN));
    EXPECT(!ws_key_ok("dGhlIHNhbXBsZSBub25jZQ=", 23));
    EXPECT(!ws_key_ok("dGhlIHNhbXBsZSBub25jZQ===", 25));
    EXPECT(!ws_key_ok("dGhlIHNhbXBsZSBub25jZR==", 24)); /* stray low bits */
    EXPECT(!ws_key_ok("dGhlIHNhbXBsZSBub25j*Q==", 24));
    EXPECT(!ws_key_ok("dGhlIHNhbXBsZSBub25jZQAA", 24));
    EXPECT(!ws_key_ok("", 0));
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

/* A text message may be cut into fragments anywhere, also inside a
   character: each fragment alone can be ill-formed while the message is
   fine, which is why the transport validates the reassembled message and
   never a fragment. Every cut of a mixed string, at every offset: the
   whole passes; a head ending inside a character fails, one ending on a
   character boundary passes, and so do the two halves then. */
static void test_utf8_split(void)
{
    /* 1-, 2-, 3- and 4-byte characters, past the 16-byte fast path too. */
    const char *s = "ab\xc3\xa9" "cd\xe2\x82\xac" "0123456789abcdef"
                    "\xf0\x9f\x98\x80" "z\xe6\x97\xa5";
    const uint8_t *u = (const uint8_t *) s;
    size_t n = strlen(s);
    EXPECT(ws_utf8_ok(u, n));
    for (size_t cut = 0; cut <= n; cut++) {
        bool boundary = cut == n || (u[cut] & 0xc0) != 0x80;
        if (ws_utf8_ok(u, cut) != boundary || ws_utf8_ok(u + cut, n - cut) != boundary) {
            fprintf(stderr, "cut at %zu: boundary %d\n", cut, boundary);
            unit_failures++;
        }
    }
}

/* Read a frame header back as RFC 6455 section 5.2 lays it out. */
struct hdr {
    bool fin, masked;
    int opcode;
    uint64_t plen;
    uint8_t key[4];
    size_t len;
};

static struct hdr decode(const uint8_t *h)
{
    struct hdr d = {0};
    d.fin = h[0] & 0x80;
    d.opcode = h[0] & 0x0f;
    d.masked = h[1] & 0x80;
    unsigned short7 = h[1] & 0x7f;
    size_t at = 2;
    if (short7 < 126) {
        d.plen = short7;
    } else if (short7 == 126) {
        d.plen = (uint64_t) h[2] << 8 | h[3];
        at = 4;
    } else {
        for (int i = 0; i < 8; i++)
            d.plen = d.plen << 8 | h[2 + i];
        at = 10;
    }
    if (d.masked) {
        memcpy(d.key, h + at, 4);
        at += 4;
    }
    d.len = at;
    return d;
}

static void test_frame_headers(void)
{
    /* Every length class and its edges: 7-bit, 16-bit, 64-bit, up to the
       largest the 63 usable bits carry. The shortest form is always used
       (the RFC requires it, and a peer may refuse anything longer). */
    static const struct {
        uint64_t plen;
        size_t extra;
    } lens[] = {{0, 0},          {1, 0},           {125, 0},
                {126, 2},        {127, 2},         {65535, 2},
                {65536, 8},      {1u << 20, 8},    {UINT64_C(0xffffffff), 8},
                {UINT64_C(1) << 32, 8}, {UINT64_MAX >> 1, 8}};
    static const int ops[] = {WS_OP_CONT, WS_OP_TEXT, WS_OP_BINARY, WS_OP_CLOSE, WS_OP_PING,
                              WS_OP_PONG};
    uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
            for (int fin = 0; fin < 2; fin++)
                for (int masked = 0; masked < 2; masked++) {
                    uint8_t h[WS_FRAME_HDR_MAX + 1];
                    memset(h, 0x5a, sizeof(h));
                    size_t n = ws_frame_hdr(h, fin, ops[o], lens[i].plen, masked ? key : NULL);
                    struct hdr d = decode(h);
                    bool ok = n == 2 + lens[i].extra + (masked ? 4 : 0) && n == d.len &&
                              n == ws_frame_hdr_len(lens[i].plen, masked) &&
                              n <= WS_FRAME_HDR_MAX && h[WS_FRAME_HDR_MAX] == 0x5a &&
                              (h[0] & 0x70) == 0 /* no RSV bits: no extension */ &&
                              d.fin == (bool) fin && d.opcode == ops[o] &&
                              d.masked == (bool) masked && d.plen == lens[i].plen &&
                              (!masked || memcmp(d.key, key, 4) == 0);
                    if (!ok) {
                        fprintf(stderr, "frame header: plen %llu op %d fin %d masked %d: %zu bytes\n",
                                (unsigned long long) lens[i].plen, ops[o], fin, masked, n);
                        unit_failures++;
                    }
                }
}

/* The sample frames of RFC 6455 section 5.7, byte for byte. */
static void test_rfc_samples(void)
{
    uint8_t h[WS_FRAME_HDR_MAX], body[5];
    /* A single-frame unmasked text message "Hello". */
    EXPECT(ws_frame_hdr(h, true, WS_OP_TEXT, 5, NULL) == 2 && h[0] == 0x81 && h[1] == 0x05);
    /* A single-frame masked text message "Hello". */
    const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    static const uint8_t hdr_masked[6] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d};
    static const uint8_t body_masked[5] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
    EXPECT(ws_frame_hdr(h, true, WS_OP_TEXT, 5, key) == 6 && memcmp(h, hdr_masked, 6) == 0);
    EXPECT(ws_mask(body, (const uint8_t *) "Hello", 5, key, 0) == 1);
    EXPECT(memcmp(body, body_masked, 5) == 0);
    /* The same message in two fragments: "Hel" then "lo". */
    EXPECT(ws_frame_hdr(h, false, WS_OP_TEXT, 3, NULL) == 2 && h[0] == 0x01 && h[1] == 0x03);
    EXPECT(ws_frame_hdr(h, true, WS_OP_CONT, 2, NULL) == 2 && h[0] == 0x80 && h[1] == 0x02);
    /* Unmasked ping and masked pong, each with the body "Hello". */
    EXPECT(ws_frame_hdr(h, true, WS_OP_PING, 5, NULL) == 2 && h[0] == 0x89 && h[1] == 0x05);
    EXPECT(ws_frame_hdr(h, true, WS_OP_PONG, 5, key) == 6 && h[0] == 0x8a && h[1] == 0x85);
    /* 256 bytes of binary data in a single unmasked frame. */
    static const uint8_t b256[4] = {0x82, 0x7e, 0x01, 0x00};
    EXPECT(ws_frame_hdr(h, true, WS_OP_BINARY, 256, NULL) == 4 && memcmp(h, b256, 4) == 0);
    /* 64 KiB of binary data in a single unmasked frame. */
    static const uint8_t b64k[10] = {0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00};
    EXPECT(ws_frame_hdr(h, true, WS_OP_BINARY, 65536, NULL) == 10 && memcmp(h, b64k, 10) == 0);
}

static void test_masking(void)
{
    uint8_t key[4] = {1, 2, 3, 4};
    /* From any phase equals byte by byte, and says the phase after. */
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
    /* In place, in pieces of every size, and back again: a body masked as
       its bytes are written in several sends is the body masked at once. */
    for (size_t cut = 0; cut <= 100; cut++) {
        memcpy(a, src, 100);
        size_t p = ws_mask(a, a, cut, key, 0);
        ws_mask(a + cut, a + cut, 100 - cut, key, p);
        ws_mask(b, src, 100, key, 0);
        EXPECT(memcmp(a, b, 100) == 0);
        ws_mask(a, a, 100, key, 0);
        EXPECT(memcmp(a, src, 100) == 0);
    }
    /* An all-zero key changes nothing. */
    const uint8_t zero[4] = {0, 0, 0, 0};
    ws_mask(a, src, 100, zero, 3);
    EXPECT(memcmp(a, src, 100) == 0);
}

/* The close codes we send are the ones RFC 6455 section 7.4.1 defines for
   those cases; a control frame's body fits a close code and its reason. */
static void test_close_codes(void)
{
    EXPECT(WS_CLOSE_NORMAL == 1000);
    EXPECT(WS_CLOSE_PROTOCOL == 1002);
    EXPECT(WS_CLOSE_BAD_DATA == 1007);
    EXPECT(WS_CLOSE_TOO_BIG == 1009);
    EXPECT(WS_CLOSE_INTERNAL == 1011);
    EXPECT(WS_CONTROL_MAX == 125);
    uint8_t h[WS_FRAME_HDR_MAX];
    /* The largest close frame keeps the 7-bit length form. */
    EXPECT(ws_frame_hdr(h, true, WS_OP_CLOSE, WS_CONTROL_MAX, NULL) == 2 && h[0] == 0x88 &&
           h[1] == WS_CONTROL_MAX);
}

int main(void)
{
    test_sha1();
    test_base64_accept_key();
    test_utf8();
    test_utf8_split();
    test_frame_headers();
    test_rfc_samples();
    test_masking();
    test_close_codes();
    UNIT_DONE();
}
