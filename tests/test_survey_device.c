/* test_survey_device.c: surveys through nn_device over inproc. Two cooked
   surveyors talk to a raw RESPONDENT; the device forwards to a raw
   SURVEYOR connected to three respondents (one of them raw, to see the
   backtrace grow by the device's hop). Every answer must reach the
   surveyor whose survey it answers, and only that one. */
#include "testutil.h"

#include <nanomsg/survey.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define TIMEO 10000
#define NRESP 3
#define ROUNDS 5

static int sock_open(int domain, int type)
{
    int s = nn_socket(domain, type);
    CHECK(s >= 0);
    int t = TIMEO;
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &t, sizeof(t)) == 0);
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &t, sizeof(t)) == 0);
    return s;
}

static void send_str(int s, const char *str)
{
    CHECK(nn_send(s, str, strlen(str), 0) == (int) strlen(str));
}

/* nn_recvmsg with control data: body NUL-terminated in body, header in
   hdr. Returns the body size. */
static int recv_hdr(int s, char *body, size_t bodylen, uint8_t *hdr, size_t *hdrlen)
{
    uint8_t ctl[512];
    struct nn_iovec iov = {body, bodylen - 1};
    struct nn_msghdr h = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                          .msg_controllen = sizeof(ctl)};
    int n = nn_recvmsg(s, &h, 0);
    *hdrlen = 0;
    if (n < 0)
        return n;
    body[n < (int) bodylen ? n : (int) bodylen - 1] = '\0';
    struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&h);
    CHECK(c && c->cmsg_level == PROTO_SP && c->cmsg_type == SP_HDR);
    if (c) {
        memcpy(hdrlen, NN_CMSG_DATA(c), sizeof(*hdrlen));
        CHECK(*hdrlen <= 256);
        memcpy(hdr, NN_CMSG_DATA(c) + sizeof(*hdrlen), *hdrlen);
    }
    return n;
}

static int send_hdr(int s, const char *body, const uint8_t *hdr, size_t hdrlen)
{
    uint8_t ctl[512] __attribute__((aligned(8)));
    memset(ctl, 0, sizeof(ctl));
    struct nn_cmsghdr *c = (struct nn_cmsghdr *) (void *) ctl;
    c->cmsg_len = NN_CMSG_LEN(sizeof(size_t) + hdrlen);
    c->cmsg_level = PROTO_SP;
    c->cmsg_type = SP_HDR;
    memcpy(NN_CMSG_DATA(c), &hdrlen, sizeof(hdrlen));
    memcpy(NN_CMSG_DATA(c) + sizeof(hdrlen), hdr, hdrlen);
    struct nn_iovec iov = {(void *) body, strlen(body)};
    struct nn_msghdr h = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                          .msg_controllen = NN_CMSG_SPACE(sizeof(size_t) + hdrlen)};
    return nn_sendmsg(s, &h, 0);
}

struct dev {
    int s1, s2;
    int rc, err;
    atomic_int done;
};

static void *dev_main(void *arg)
{
    struct dev *d = arg;
    errno = 0;
    d->rc = nn_device(d->s1, d->s2);
    d->err = errno;
    atomic_store(&d->done, 1);
    return NULL;
}

/* Answer one survey on respondent i: "<i>:<survey>". */
static void answer_one(int r, bool raw, int i)
{
    char body[128], ans[160];
    uint8_t hdr[256];
    size_t hl = 0;
    int n = raw ? recv_hdr(r, body, sizeof(body), hdr, &hl)
                : nn_recv(r, body, sizeof(body) - 1, 0);
    CHECK(n > 0);
    if (n <= 0)
        return;
    body[n] = '\0';
    snprintf(ans, sizeof(ans), "%d:%s", i, body);
    if (raw) {
        /* Its own pipe, the device's raw respondent's pipe, the id. */
        CHECK(hl == 12);
        CHECK(!(hdr[0] & 0x80) && !(hdr[4] & 0x80) && (hdr[8] & 0x80));
        CHECK(send_hdr(r, ans, hdr, hl) == (int) strlen(ans));
    } else {
        send_str(r, ans);
    }
}

/* Collect NRESP answers to the survey named want on s, one from each
   respondent. */
static void collect(int s, const char *want)
{
    int seen = 0;
    for (int k = 0; k < NRESP; k++) {
        char buf[160];
        int n = nn_recv(s, buf, sizeof(buf) - 1, 0);
        CHECK(n > 2);
        if (n <= 2)
            continue;
        buf[n] = '\0';
        int i = buf[0] - '0';
        CHECK(i >= 0 && i < NRESP && buf[1] == ':' && strcmp(buf + 2, want) == 0);
        if (i >= 0 && i < NRESP && strcmp(buf + 2, want) == 0)
            seen |= 1 << i;
        else
            fprintf(stderr, "surveyor for \"%s\" got \"%s\"\n", want, buf);
    }
    CHECK(seen == (1 << NRESP) - 1);
    char buf[16];
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
}

int main(void)
{
    int front = sock_open(AF_SP_RAW, NN_RESPONDENT);
    int back = sock_open(AF_SP_RAW, NN_SURVEYOR);
    CHECK(nn_bind(front, "inproc://svdev-front") >= 0);

    int resp[NRESP];
    bool raw[NRESP];
    for (int i = 0; i < NRESP; i++) {
        raw[i] = i == NRESP - 1;
        resp[i] = sock_open(raw[i] ? AF_SP_RAW : AF_SP, NN_RESPONDENT);
        char addr[64];
        snprintf(addr, sizeof(addr), "inproc://svdev-resp-%d", i);
        CHECK(nn_bind(resp[i], addr) >= 0);
        CHECK(nn_connect(back, addr) >= 0);
    }

    int sv[2];
    for (int j = 0; j < 2; j++) {
        sv[j] = sock_open(AF_SP, NN_SURVEYOR);
        int deadline = TIMEO;
        CHECK(nn_setsockopt(sv[j], NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &deadline,
                            sizeof(deadline)) == 0);
        CHECK(nn_connect(sv[j], "inproc://svdev-front") >= 0);
    }

    struct dev d = {.s1 = front, .s2 = back};
    atomic_init(&d.done, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, dev_main, &d) == 0);

    for (int round = 0; round < ROUNDS; round++) {
        char q[2][32];
        for (int j = 0; j < 2; j++) {
            snprintf(q[j], sizeof(q[j]), "survey %d of %d", round, j);
            send_str(sv[j], q[j]);
        }
        /* Each respondent gets both surveys, in whatever order the device
           forwarded them, and answers each as it comes. */
        for (int i = 0; i < NRESP; i++)
            for (int k = 0; k < 2; k++)
                answer_one(resp[i], raw[i], i);
        for (int j = 0; j < 2; j++)
            collect(sv[j], q[j]);
    }

    /* Closing one of its sockets ends the device. */
    CHECK(nn_close(back) == 0);
    CHECK(WAIT_FOR(atomic_load(&d.done), 10));
    if (atomic_load(&d.done)) {
        pthread_join(t, NULL);
        CHECK(d.rc == -1 && d.err == EBADF);
    } else {
        fprintf(stderr, "device did not return\n");
        tu_failures++;
        TEST_DONE(); /* the thread still uses the sockets: do not close them */
    }
    CHECK(nn_close(front) == 0);
    for (int j = 0; j < 2; j++)
        CHECK(nn_close(sv[j]) == 0);
    for (int i = 0; i < NRESP; i++)
        CHECK(nn_close(resp[i]) == 0);
    TEST_DONE();
}
