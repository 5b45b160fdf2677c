/* ws_http.h: the HTTP/1.1 side of the WebSocket opening handshake (RFC
   6455 section 4): parsing a request or response head, the checks each
   side makes, and the few messages we write. The parser works in place on
   the received bytes and keeps pointers into them; it allocates nothing. */
#ifndef FM_WS_HTTP_H
#define FM_WS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define WS_HTTP_MAX 8192       /* a head longer than this is refused */
#define WS_HTTP_MAX_FIELDS 64  /* header fields in one head */

struct ws_http_field {
    const char *name;
    size_t name_len;
    const char *value; /* without surrounding blanks */
    size_t value_len;
};

struct ws_http_head {
    /* request */
    const char *method;
    size_t method_len;
    const char *target; /* "" when the client sent none (NNG does) */
    size_t target_len;
    /* response */
    int status;
    int nfields;
    struct ws_http_field field[WS_HTTP_MAX_FIELDS];
};

/* Where a search for the end of a head got to, so that bytes arriving one
   at a time are each looked at once. Zero it before the first call. */
struct ws_http_scan {
    size_t pos;  /* bytes examined */
    size_t line; /* start of the line in progress */
};

/* Length of the head up to and including the empty line that ends it, or 0
   when it has not all arrived. Lines may end in CRLF or a bare LF. */
size_t ws_http_head_len(const char *buf, size_t len, struct ws_http_scan *scan);

/* Parse a request head of len bytes (as ws_http_head_len measured). 0, or
   the HTTP status to refuse it with (400, 405, 431, 505). */
int ws_http_parse_request(const char *buf, size_t len, struct ws_http_head *h);
/* Parse a response head. 0 or -1. */
int ws_http_parse_response(const char *buf, size_t len, struct ws_http_head *h);

/* The path of a request target: up to '?' or '#'; "/" for an empty one
   and for the absolute form's missing path. */
void ws_http_target_path(const struct ws_http_head *h, const char **path, size_t *len);

/* Server side: is this a WebSocket upgrade for subprotocol proto? 0 with
   the client's key, or the status to refuse it with: 400 (missing or bad
   Upgrade, Connection, Key or subprotocol), 426 (version other than 13).
   *why names the reason for the response body. */
int ws_http_check_upgrade(const struct ws_http_head *h, const char *proto, const char **key,
                          size_t *key_len, const char **why);
/* Server side: may a request carrying this Origin go on? allowed is NULL
   (anyone) or origins separated by single spaces. A request without an
   Origin field passes (browsers always send one, other clients do not); one
   with a single Origin equal to an allowed entry (ASCII case ignored)
   passes; anything else is 403 with *why set. */
int ws_http_check_origin(const struct ws_http_head *h, const char *allowed, const char **why);
/* Client side: is this the 101 answer to our key and subprotocol? */
bool ws_http_check_accept(const struct ws_http_head *h, const char *accept, const char *proto);

/* The messages we write; each returns its length, or 0 when it does not
   fit in cap. */
size_t ws_http_request(char *out, size_t cap, const char *path, const char *host,
                       const char *key, const char *proto);
size_t ws_http_switching(char *out, size_t cap, const char *accept, const char *proto);
size_t ws_http_refusal(char *out, size_t cap, int status, const char *why);

#endif
