/* rawsock.h: the plain-socket side of the tests that play a hostile or
   slow peer by hand (test_rx_stall, test_wire_hostile, test_ws_hostile):
   write, read with a deadline, wait for the far side to hang up. After
   testutil.h. */
#ifndef FM_TEST_RAWSOCK_H
#define FM_TEST_RAWSOCK_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Send all of b; the peer may already have dropped us (EPIPE, ECONNRESET),
   which is what many of these tests provoke. */
static inline void raw_send(int fd, const void *b, size_t n)
{
    ssize_t r = send(fd, b, n, MSG_NOSIGNAL);
    CHECK(r == (ssize_t) n || (r < 0 && (errno == EPIPE || errno == ECONNRESET)));
}

/* Read exactly n bytes within seconds. */
static inline bool raw_read(int fd, void *buf, size_t n, double seconds)
{
    double end = tu_now() + seconds;
    size_t got = 0;
    while (got < n) {
        int left = (int) ((end - tu_now()) * 1000);
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t r = recv(fd, (uint8_t *) buf + got, n - got, 0);
        if (r <= 0)
            return false;
        got += (size_t) r;
    }
    return true;
}

/* The far side ended the connection (EOF or reset) within seconds; bytes
   it sent before that are skipped. */
static inline bool closed_within(int fd, double seconds)
{
    double end = tu_now() + seconds;
    for (;;) {
        int left = (int) ((end - tu_now()) * 1000);
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            continue;
        char b[4096];
        ssize_t r = recv(fd, b, sizeof(b), 0);
        if (r <= 0)
            return true;
    }
}

#endif
