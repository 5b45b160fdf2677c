/* ws_codec.h: the pure byte-level pieces of RFC 6455 used by ws.c: SHA-1
   and base64 for the Sec-WebSocket-Accept value, the check of a
   Sec-WebSocket-Key, UTF-8 validation for text messages, frame headers
   and masking. No state, no allocation, no I/O. */
#ifndef FM_WS_CODEC_H
#define FM_WS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opcodes (RFC 6455 section 5.2). */
#define WS_OP_CONT 0x0
#define WS_OP_TEXT 0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE 0x8
#define WS_OP_PING 0x9
#define WS_OP_PONG 0xA

/* Close status codes we send. */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_PROTOCOL 1002
#define WS_CLOSE_BAD_DATA 1007
#define WS_CLOSE_TOO_BIG 1009
#define WS_CLOSE_INTERNAL 1011

#define WS_FRAME_HDR_MAX 14  /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_CONTROL_MAX 125   /* payload limit of control frames */
#define WS_KEY_LEN 24        /* base64 of 16 bytes */
#define WS_ACCEPT_LEN 28     /* base64 of a 20-byte SHA-1 */

void ws_sha1(const void *data, size_t len, uint8_t out[20]);
/* Base64 of n bytes into out (4 * ceil(n / 3) characters and a NUL). */
void ws_base64(const uint8_t *in, size_t n, char *out);
/* Sec-WebSocket-Accept for a key (key_len bytes): 28 characters + NUL. */
void ws_accept_for(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1]);
/* A key as RFC 6455 requires: base64 of exactly 16 bytes. */
bool ws_key_ok(const char *key, size_t len);

/* Well-formed UTF-8 (no overlong forms, no surrogates, nothing above
   U+10FFFF). */
bool ws_utf8_ok(const uint8_t *s, size_t n);

/* The header of one frame: FIN, opcode, payload length and, for a client,
   the masking key. Returns its length (2 to 14 bytes). */
size_t ws_frame_hdr(uint8_t *out, bool fin, int opcode, uint64_t plen, const uint8_t *mask);
static inline size_t ws_frame_hdr_len(uint64_t plen, bool masked)
{
    return 2 + (plen > 65535 ? 8 : plen > 125 ? 2 : 0) + (masked ? 4 : 0);
}

/* XOR n bytes with the key, starting at key position phase (0..3);
   src and dst may be the same. Returns the phase after them. */
size_t ws_mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4], size_t phase);

#endif
