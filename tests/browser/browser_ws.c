/* browser_ws.c: the plain scheme of the browser test (ws_browser, driven by
   browser.c): the page over http, the sockets on ws://. Nothing to prepare
   and no session: connections are the bare descriptors. */
#include "browser.h"

#include <errno.h>
#include <unistd.h>

static int prepare(const char *dir, const char *home, const char *untrusting_home)
{
    (void) dir;
    (void) home;
    (void) untrusting_home;
    return 0;
}

static int configure(int s)
{
    (void) s;
    return 0;
}

static bool open_plain(struct browser_conn *c)
{
    (void) c;
    return true;
}

static ssize_t read_plain(struct browser_conn *c, void *buf, size_t n)
{
    return read(c->fd, buf, n);
}

static bool write_plain(struct browser_conn *c, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(c->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t) w;
    }
    return true;
}

static void close_plain(struct browser_conn *c)
{
    (void) c;
}

static void finish(void)
{
}

const struct browser_scheme browser_scheme = {
    .ws = "ws",
    .http = "http",
    .check_untrusted = false,
    .prepare = prepare,
    .configure = configure,
    .open = open_plain,
    .read = read_plain,
    .write = write_plain,
    .close = close_plain,
    .finish = finish,
};
