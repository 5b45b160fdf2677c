/* ws_http.c: parsing and checking the HTTP heads of the WebSocket opening
   handshake and writing ours. Strict where a mistake could be abused (no
   NUL or other control bytes, no folded lines, bounded size and field
   count), lenient where peers differ harmlessly (bare LF line ends, case of
   names and tokens, an empty request target as NNG's client sends it). */
#include "ws_http.h"

#include "ws_codec.h"

#include <stdio.h>
#include <string.h>

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char) (c + 32) : c; }

static bool ieq(const char *a, size_t n, const char *b)
{
    if (strlen(b) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

static bool is_tchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

size_t ws_http_head_len(const char *buf, size_t len, struct ws_http_scan *scan)
{
    for (; scan->pos < len; scan->pos++) {
        size_t i = scan->pos;
        if (buf[i] != '\n')
            continue;
        size_t n = i - scan->line;
        if (n == 0 || (n == 1 && buf[scan->line] == '\r'))
            return i + 1; /* (an empty first line is a head the parser refuses) */
        scan->line = i + 1;
    }
    return 0;
}

/* Next line of [*pos, end): its start and length without the line end. */
static bool next_line(const char *buf, size_t end, size_t *pos, const char **line, size_t *n)
{
    if (*pos >= end)
        return false;
    const char *nl = memchr(buf + *pos, '\n', end - *pos);
    if (!nl)
        return false;
    *line = buf + *pos;
    *n = (size_t) (nl - *line);
    if (*n && (*line)[*n - 1] == '\r')
        (*n)--;
    *pos = (size_t) (nl - buf) + 1;
    return true;
}

static bool line_clean(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* Header fields after the start line, up to the empty line. */
static int parse_fields(const char *buf, size_t len, size_t pos, struct ws_http_head *h)
{
    const char *line;
    size_t n;
    h->nfields = 0;
    while (next_line(buf, len, &pos, &line, &n)) {
        if (n == 0)
            return 0;
        if (!line_clean(line, n) || line[0] == ' ' || line[0] == '\t')
            return 400; /* control bytes, or obsolete line folding */
        const char *colon = memchr(line, ':', n);
        if (!colon || colon == line)
            return 400;
        size_t nl = (size_t) (colon - line);
        for (size_t i = 0; i < nl; i++)
            if (!is_tchar(line[i]))
                return 400; /* includes blanks before the colon */
        const char *v = colon + 1, *ve = line + n;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if (h->nfields == WS_HTTP_MAX_FIELDS)
            return 431;
        struct ws_http_field *f = &h->field[h->nfields++];
        f->name = line;
        f->name_len = nl;
        f->value = v;
        f->value_len = (size_t) (ve - v);
    }
    return 400; /* no empty line: the caller measured wrong */
}

int ws_http_parse_request(const char *buf, size_t len, struct ws_http_head *h)
{
    memset(h, 0, sizeof(*h));
    size_t pos = 0;
    const char *line;
    size_t n;
    if (!next_line(buf, len, &pos, &line, &n) || !line_clean(line, n))
        return 400;
    /* method SP target SP version; the target may be empty. */
    const char *sp1 = memchr(line, ' ', n);
    if (!sp1 || sp1 == line)
        return 400;
    const char *rest = sp1 + 1;
    size_t rn = n - (size_t) (rest - line);
    const char *sp2 = memchr(rest, ' ', rn);
    if (!sp2)
        return 400;
    const char *ver = sp2 + 1;
    size_t vn = n - (size_t) (ver - line);
    h->method = line;
    h->method_len = (size_t) (sp1 - line);
    for (size_t i = 0; i < h->method_len; i++)
        if (!is_tchar(line[i]))
            return 400;
    h->target = rest;
    h->target_len = (size_t) (sp2 - rest);
    for (size_t i = 0; i < h->target_len; i++)
        if (rest[i] == ' ' || rest[i] == '\t')
            return 400;
    if (vn != 8 || memcmp(ver, "HTTP/1.", 7) != 0 || ver[7] < '0' || ver[7] > '9')
        return vn >= 5 && memcmp(ver, "HTTP/", 5) == 0 ? 505 : 400;
    if (ver[7] == '0')
        return 505; /* an upgrade needs HTTP/1.1 */
    int rc = parse_fields(buf, len, pos, h);
    if (rc)
        return rc;
    if (!(h->method_len == 3 && memcmp(h->method, "GET", 3) == 0))
        return 405;
    return 0;
}

int ws_http_parse_response(const char *buf, size_t len, struct ws_http_head *h)
{
    memset(h, 0, sizeof(*h));
    size_t pos = 0;
    const char *line;
    size_t n;
    if (!next_line(buf, len, &pos, &line, &n) || !line_clean(line, n))
        return -1;
    if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
        return -1;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9')
            return -1;
        status = status * 10 + (line[i] - '0');
    }
    if (n > 12 && line[12] != ' ')
        return -1;
    h->status = status;
    return parse_fields(buf, len, pos, h) ? -1 : 0;
}

void ws_http_target_path(const struct ws_http_head *h, const char **path, size_t *len)
{
    const char *t = h->target;
    size_t n = h->target_len;
    /* Absolute form: skip "scheme://authority". */
    const char *sch = n ? memchr(t, ':', n) : NULL;
    if (n && t[0] != '/' && sch && (size_t) (sch - t) + 3 <= n && sch[1] == '/' && sch[2] == '/') {
        const char *a = sch + 3;
        const char *slash = memchr(a, '/', n - (size_t) (a - t));
        if (!slash) {
            *path = "/";
            *len = 1;
            return;
        }
        n -= (size_t) (slash - t);
        t = slash;
    }
    size_t i = 0;
    while (i < n && t[i] != '?' && t[i] != '#')
        i++;
    if (i == 0) {
        *path = "/";
        *len = 1;
        return;
    }
    *path = t;
    *len = i;
}

/* Does a comma-separated list hold token tok (case-insensitive)? */
static bool list_has(const char *v, size_t n, const char *tok)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e > s && ieq(v + s, e - s, tok))
            return true;
    }
    return false;
}

/* Every field of that name whose list holds tok (fields may repeat). */
static bool field_has(const struct ws_http_head *h, const char *name, const char *tok)
{
    for (int i = 0; i < h->nfields; i++)
        if (ieq(h->field[i].name, h->field[i].name_len, name) &&
            list_has(h->field[i].value, h->field[i].value_len, tok))
            return true;
    return false;
}

/* The one field of that name; NULL when absent or repeated. */
static const struct ws_http_field *field_one(const struct ws_http_head *h, const char *name)
{
    const struct ws_http_field *found = NULL;
    for (int i = 0; i < h->nfields; i++)
        if (ieq(h->field[i].name, h->field[i].name_len, name)) {
            if (found)
                return NULL;
            found = &h->field[i];
        }
    return found;
}

int ws_http_check_upgrade(const struct ws_http_head *h, const char *proto, const char **key,
                          size_t *key_len, const char **why)
{
    if (!field_has(h, "Upgrade", "websocket")) {
        *why = "not a WebSocket upgrade";
        return 400;
    }
    if (!field_has(h, "Connection", "upgrade")) {
        *why = "Connection: Upgrade missing";
        return 400;
    }
    const struct ws_http_field *v = field_one(h, "Sec-WebSocket-Version");
    if (!v || v->value_len != 2 || memcmp(v->value, "13", 2) != 0) {
        *why = "WebSocket version 13 only";
        return 426;
    }
    const struct ws_http_field *k = field_one(h, "Sec-WebSocket-Key");
    if (!k || !ws_key_ok(k->value, k->value_len)) {
        *why = "bad Sec-WebSocket-Key";
        return 400;
    }
    if (!field_has(h, "Sec-WebSocket-Protocol", proto)) {
        *why = "incompatible SP protocol";
        return 400;
    }
    *key = k->value;
    *key_len = k->value_len;
    return 0;
}

int ws_http_check_origin(const struct ws_http_head *h, const char *allowed, const char **why)
{
    if (!allowed)
        return 0;
    const struct ws_http_field *o = NULL;
    int count = 0;
    for (int i = 0; i < h->nfields; i++)
        if (ieq(h->field[i].name, h->field[i].name_len, "Origin")) {
            o = &h->field[i];
            count++;
        }
    if (count == 0)
        return 0; /* not a browser: browsers always send one */
    *why = "origin not allowed";
    if (count > 1 || o->value_len == 0)
        return 403;
    /* Origins compare as ASCII without regard to case (RFC 6454, 6455). */
    for (const char *a = allowed; *a;) {
        const char *end = strchr(a, ' ');
        size_t n = end ? (size_t) (end - a) : strlen(a);
        if (n == o->value_len) {
            size_t i = 0;
            while (i < n && lower(a[i]) == lower(o->value[i]))
                i++;
            if (i == n)
                return 0;
        }
        a += n;
        while (*a == ' ')
            a++;
    }
    return 403;
}

bool ws_http_check_accept(const struct ws_http_head *h, const char *accept, const char *proto)
{
    if (h->status != 101 || !field_has(h, "Upgrade", "websocket") ||
        !field_has(h, "Connection", "upgrade"))
        return false;
    const struct ws_http_field *a = field_one(h, "Sec-WebSocket-Accept");
    const struct ws_http_field *p = field_one(h, "Sec-WebSocket-Protocol");
    return a && a->value_len == strlen(accept) && memcmp(a->value, accept, a->value_len) == 0 &&
           p && ieq(p->value, p->value_len, proto);
}

static size_t fit(int n, size_t cap) { return n > 0 && (size_t) n < cap ? (size_t) n : 0; }

size_t ws_http_request(char *out, size_t cap, const char *path, const char *host,
                       const char *key, const char *proto)
{
    return fit(snprintf(out, cap,
                        "GET %s HTTP/1.1\r\n"
                        "Host: %s\r\n"
                        "Upgrade: websocket\r\n"
                        "Connection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Protocol: %s\r\n"
                        "\r\n",
                        path, host, key, proto),
               cap);
}

size_t ws_http_switching(char *out, size_t cap, const char *accept, const char *proto)
{
    return fit(snprintf(out, cap,
                        "HTTP/1.1 101 Switching Protocols\r\n"
                        "Upgrade: websocket\r\n"
                        "Connection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: %s\r\n"
                        "Sec-WebSocket-Protocol: %s\r\n"
                        "\r\n",
                        accept, proto),
               cap);
}

static const char *reason(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

size_t ws_http_refusal(char *out, size_t cap, int status, const char *why)
{
    if (!why)
        why = reason(status);
    return fit(snprintf(out, cap,
                        "HTTP/1.1 %d %s\r\n"
                        "%s"
                        "Content-Type: text/plain\r\n"
                        "Content-Length: %zu\r\n"
                        "Connection: close\r\n"
                        "\r\n"
                        "%s\n",
                        status, reason(status),
                        status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "", strlen(why) + 1,
                        why),
               cap);
}
