/* browser.h: the contract between the browser-test driver (browser.c: the
   page, its web server, the femtomsg sockets, Chromium, the checks) and the
   scheme it runs over, one per program: browser_ws.c (ws_browser: the page
   over http, the sockets on ws://) and browser_wss.c (wss_browser: https
   and wss://, with the test CA trusted through Chromium's NSS database). */
#ifndef FM_BROWSER_H
#define FM_BROWSER_H

#include <stdbool.h>
#include <sys/types.h>

/* One accepted connection of the page's web server. */
struct browser_conn {
    int fd;
    void *session; /* the scheme's, e.g. a TLS session; NULL for plain */
};

struct browser_scheme {
    const char *ws;   /* the sockets' scheme: "ws" or "wss" */
    const char *http; /* the page's: "http" or "https" */
    /* Whether the browser is also run once with untrusting_home, where the
       page must fail to load: proof that the trust set up in home, and
       nothing else, lets the browser in. */
    bool check_untrusted;
    /* Make in dir (a private temporary directory) what the scheme needs,
       and in the existing directories home and untrusting_home what the
       browser run with that HOME needs. 0 when ready; 77 when something
       the test needs is not installed (the reason printed: skip); -1 on
       failure (the reason printed). */
    int (*prepare)(const char *dir, const char *home, const char *untrusting_home);
    /* Set what a socket needs before nn_bind; 0, or -1 with errno set. */
    int (*configure)(int s);
    /* A connection accepted: set up c->session (a TLS handshake). False
       when the peer is refused; c->fd is the caller's to close. */
    bool (*open)(struct browser_conn *c);
    /* Like read(2); and write all of buf, true when it was written. */
    ssize_t (*read)(struct browser_conn *c, void *buf, size_t n);
    bool (*write)(struct browser_conn *c, const void *buf, size_t n);
    /* End the session (not the descriptor) after a successful open. */
    void (*close)(struct browser_conn *c);
    /* Release what prepare made that lives in memory. */
    void (*finish)(void);
};

extern const struct browser_scheme browser_scheme;

#endif
