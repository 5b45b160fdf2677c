/* test_survey.c: SURVEYOR / RESPONDENT over inproc: broadcast and the
   deadline (ETIMEDOUT, late answers dropped, RCVFD at the deadline), a new
   survey abandoning the old one, EFSM cases, the deadline option, raw
   sockets through nn_recvmsg / nn_sendmsg control data (backtraces,
   NN_MAXTTL, malformed stacks, ids carried in the body), and a respondent
   answering two surveyors on the right pipes. Inproc delivery is done by
   the time nn_send returns, so "sent before" is plain program order. */
#include "testutil.h"

#include <nanomsg/pair.h>
#include <nanomsg/survey.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#define TIMEO 10000 /* ms: generous, only a failing test waits for it */

static int sock_open(int domain, int type)
{
    int s = nn_socket(domain, type);
    CHECK(s >= 0);
    int t = TIMEO;
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &t, sizeof(t)) == 0);
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &t, sizeof(t)) == 0);
    return s;
}

static void set_deadline(int s, int ms)
{
    CHECK(nn_setsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &ms, sizeof(ms)) == 0);
}

static void send_str(int s, const char *str)
{
    CHECK(nn_send(s, str, strlen(str), 0) == (int) strlen(str));
}

/* Receive one message and check it equals str. */
static void expect_str(int s, const char *str)
{
    char buf[256];
    int n = nn_recv(s, buf, sizeof(buf) - 1, 0);
    CHECK(n == (int) strlen(str));
    if (n >= 0) {
        buf[n] = '\0';
        if (strcmp(buf, str) != 0) {
            fprintf(stderr, "expected \"%s\", got \"%s\"\n", str, buf);
            tu_failures++;
        }
    }
}

static int rcvfd_readable(int s, int timeout_ms)
{
    int fd;
    size_t sz = sizeof(fd);
    CHECK(nn_getsockopt(s, NN_SOL_SOCKET, NN_RCVFD, &fd, &sz) == 0);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

/* nn_recvmsg with control data; returns the body size and fills hdr with
   the SP header (*hdrlen bytes). */
static int recv_hdr(int s, char *body, size_t bodylen, uint8_t *hdr, size_t *hdrlen)
{
    uint8_t ctl[512];
    struct nn_iovec iov = {body, bodylen};
    struct nn_msghdr h = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                          .msg_controllen = sizeof(ctl)};
    int n = nn_recvmsg(s, &h, 0);
    *hdrlen = 0;
    if (n < 0)
        return n;
    bool found = false;
    for (struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&h); c; c = NN_CMSG_NXTHDR(&h, c))
        if (c->cmsg_level == PROTO_SP && c->cmsg_type == SP_HDR) {
            size_t len;
            memcpy(&len, NN_CMSG_DATA(c), sizeof(len));
            CHECK(len <= 256);
            memcpy(hdr, NN_CMSG_DATA(c) + sizeof(len), len);
            *hdrlen = len;
            found = true;
        }
    CHECK(found);
    return n;
}

/* nn_sendmsg with the SP header hdr (hdrlen bytes) as control data. */
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

/* Three respondents answer before the deadline; a fourth holds its survey
   and answers only after the surveyor reported ETIMEDOUT. */
static void test_deadline(void)
{
    const int deadline = 300;
    int s = sock_open(AF_SP, NN_SURVEYOR);
    int t = -1; /* the deadline alone must wake a blocked nn_recv */
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &t, sizeof(t)) == 0);
    /* Long enough that three in-process answers always arrive before it. */
    set_deadline(s, 5000);
    CHECK(nn_bind(s, "inproc://sv-deadline") >= 0);
    int r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = sock_open(AF_SP, NN_RESPONDENT);
        CHECK(nn_connect(r[i], "inproc://sv-deadline") >= 0);
    }

    send_str(s, "who?");
    for (int i = 0; i < 4; i++)
        expect_str(r[i], "who?");
    send_str(r[0], "a0");
    send_str(r[1], "a1");
    send_str(r[2], "a2");
    char buf[16];
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        int n = nn_recv(s, buf, sizeof(buf), 0);
        CHECK(n == 2 && buf[0] == 'a' && buf[1] >= '0' && buf[1] <= '2');
        if (n == 2)
            seen |= 1 << (buf[1] - '0');
    }
    CHECK(seen == 7);

    /* Now a short deadline, timed from the survey. */
    set_deadline(s, deadline);
    send_str(s, "again?");
    double t0 = tu_now();
    for (int i = 0; i < 4; i++)
        expect_str(r[i], "again?");
    send_str(r[0], "on time");
    expect_str(s, "on time");
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), 0), ETIMEDOUT);
    double elapsed = tu_now() - t0;
    CHECK(elapsed >= deadline / 1000.0 - 0.02);
    CHECK(elapsed < deadline / 1000.0 + 5.0);
    /* The deadline is reported once; then there is no survey. */
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), 0), EFSM);
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), NN_DONTWAIT), EFSM);

    /* Late: queued at the surveyor before the next survey goes out. */
    send_str(r[3], "late");
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), NN_DONTWAIT), EFSM);
    set_deadline(s, 5000);
    send_str(s, "third");
    expect_str(r[3], "third");
    send_str(r[3], "fresh");
    expect_str(s, "fresh");
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);

    for (int i = 0; i < 4; i++)
        CHECK(nn_close(r[i]) == 0);
    CHECK(nn_close(s) == 0);
}

/* RCVFD: readable while idle, not while a survey waits for answers,
   readable again at the deadline so a poller sees the ETIMEDOUT. */
static void test_rcvfd(void)
{
    const int deadline = 200;
    int s = sock_open(AF_SP, NN_SURVEYOR);
    int r = sock_open(AF_SP, NN_RESPONDENT);
    CHECK(nn_bind(s, "inproc://sv-rcvfd") >= 0);
    CHECK(nn_connect(r, "inproc://sv-rcvfd") >= 0);
    char buf[16];

    CHECK(rcvfd_readable(s, 0) == 1);
    set_deadline(s, deadline);
    send_str(s, "q");
    double t0 = tu_now();
    CHECK(rcvfd_readable(s, 0) == 0);
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
    CHECK(rcvfd_readable(s, TIMEO) == 1);
    double elapsed = tu_now() - t0;
    CHECK(elapsed >= deadline / 1000.0 - 0.02);
    CHECK(elapsed < deadline / 1000.0 + 5.0);
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), NN_DONTWAIT), ETIMEDOUT);
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), NN_DONTWAIT), EFSM);
    CHECK(rcvfd_readable(s, 0) == 1);

    /* An answer makes it readable; draining it clears it. */
    set_deadline(s, 5000);
    send_str(s, "q2");
    expect_str(r, "q");
    expect_str(r, "q2");
    send_str(r, "a2");
    CHECK(rcvfd_readable(s, 0) == 1);
    expect_str(s, "a2");
    CHECK(rcvfd_readable(s, 0) == 0);

    /* Deadline 0: over at once. */
    set_deadline(s, 0);
    send_str(s, "q3");
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), 0), ETIMEDOUT);
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), 0), EFSM);

    CHECK(nn_close(r) == 0);
    CHECK(nn_close(s) == 0);
}

/* A new survey abandons the previous one: answers to it are dropped. */
static void test_abandon(void)
{
    int s = sock_open(AF_SP, NN_SURVEYOR);
    int r1 = sock_open(AF_SP, NN_RESPONDENT);
    int r2 = sock_open(AF_SP, NN_RESPONDENT);
    set_deadline(s, 5000);
    CHECK(nn_bind(s, "inproc://sv-abandon") >= 0);
    CHECK(nn_connect(r1, "inproc://sv-abandon") >= 0);
    CHECK(nn_connect(r2, "inproc://sv-abandon") >= 0);
    char buf[16];

    send_str(s, "A");
    expect_str(r1, "A");
    expect_str(r2, "A");
    send_str(r1, "old1"); /* queued before survey B: dropped when B starts */
    send_str(s, "B");
    send_str(r2, "old2"); /* sent after B, but it answers A */
    expect_str(r1, "B");
    send_str(r1, "new1");
    expect_str(s, "new1");
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
    expect_str(r2, "B");
    send_str(r2, "new2");
    expect_str(s, "new2");

    /* A respondent that got two surveys answers the later one. */
    send_str(s, "C");
    send_str(s, "D");
    expect_str(r1, "C");
    expect_str(r1, "D");
    send_str(r1, "toD");
    expect_str(s, "toD");

    CHECK(nn_close(r1) == 0);
    CHECK(nn_close(r2) == 0);
    CHECK(nn_close(s) == 0);
}

static void test_efsm(void)
{
    char buf[16];
    int s = sock_open(AF_SP, NN_SURVEYOR);
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), 0), EFSM);
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), NN_DONTWAIT), EFSM);
    /* No peer: the survey goes nowhere, the send still succeeds. */
    send_str(s, "nobody");

    int r = sock_open(AF_SP, NN_RESPONDENT);
    CHECK_ERR(nn_send(r, "x", 1, 0), EFSM);
    CHECK_ERR(nn_send(r, "x", 1, NN_DONTWAIT), EFSM);
    CHECK_ERR(nn_recv(r, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);

    set_deadline(s, 5000);
    CHECK(nn_bind(s, "inproc://sv-efsm") >= 0);
    CHECK(nn_connect(r, "inproc://sv-efsm") >= 0);
    send_str(s, "q");
    expect_str(r, "q");
    send_str(r, "a");
    CHECK_ERR(nn_send(r, "again", 5, 0), EFSM); /* one answer per survey */
    expect_str(s, "a");

    /* Raw sockets have no such state. */
    int rs = sock_open(AF_SP_RAW, NN_SURVEYOR);
    int rr = sock_open(AF_SP_RAW, NN_RESPONDENT);
    CHECK_ERR(nn_recv(rs, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
    CHECK(nn_send(rr, "nohdr", 5, 0) == 5); /* no way back: dropped */
    CHECK_ERR(nn_recv(rr, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);

    /* Peer check: a PAIR is refused, so it never sees a survey. */
    int p = sock_open(AF_SP, NN_PAIR);
    CHECK(nn_connect(p, "inproc://sv-efsm") >= 0);
    send_str(s, "surveyors only");
    expect_str(r, "surveyors only");
    CHECK_ERR(nn_recv(p, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);

    CHECK(nn_close(p) == 0);
    CHECK(nn_close(rs) == 0);
    CHECK(nn_close(rr) == 0);
    CHECK(nn_close(r) == 0);
    CHECK(nn_close(s) == 0);
}

static void test_options(void)
{
    int s = sock_open(AF_SP, NN_SURVEYOR);
    int v = 0;
    size_t sz = sizeof(v);
    CHECK(nn_getsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, &sz) == 0);
    CHECK(v == 1000 && sz == sizeof(int));
    v = 250;
    CHECK(nn_setsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, sizeof(v)) == 0);
    v = 0;
    CHECK(nn_getsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, &sz) == 0);
    CHECK(v == 250);
    v = 0;
    CHECK(nn_setsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, sizeof(v)) == 0);
    CHECK_ERR(nn_setsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, 3), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, 8), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, NULL, 4), EFAULT);
    v = -1; /* the stock library takes it and then aborts on a survey */
    CHECK_ERR(nn_setsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, sizeof(v)), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_SURVEYOR, 2, &v, sizeof(v)), ENOPROTOOPT);
    CHECK_ERR(nn_setsockopt(s, NN_RESPONDENT, NN_SURVEYOR_DEADLINE, &v, sizeof(v)),
              ENOPROTOOPT);
    v = 0;
    CHECK(nn_getsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, &sz) == 0);
    CHECK(v == 0);
    /* Too small a buffer fails; a larger one gets sizeof(int). */
    sz = 2;
    CHECK_ERR(nn_getsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, &sz), EINVAL);
    int64_t big = -1;
    sz = sizeof(big);
    CHECK(nn_getsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &big, &sz) == 0);
    CHECK(sz == sizeof(int));
    sz = sizeof(v);
    CHECK_ERR(nn_getsockopt(s, NN_SURVEYOR, 2, &v, &sz), ENOPROTOOPT);

    /* Only a cooked surveyor has the option. */
    int r = sock_open(AF_SP, NN_RESPONDENT);
    int rs = sock_open(AF_SP_RAW, NN_SURVEYOR);
    v = 100;
    sz = sizeof(v);
    CHECK_ERR(nn_getsockopt(r, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, &sz), ENOPROTOOPT);
    CHECK_ERR(nn_setsockopt(r, NN_RESPONDENT, NN_SURVEYOR_DEADLINE, &v, sizeof(v)),
              ENOPROTOOPT);
    CHECK_ERR(nn_getsockopt(rs, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, &sz), ENOPROTOOPT);
    CHECK_ERR(nn_setsockopt(rs, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &v, sizeof(v)),
              ENOPROTOOPT);

    v = 0;
    sz = sizeof(v);
    CHECK(nn_getsockopt(s, NN_SOL_SOCKET, NN_PROTOCOL, &v, &sz) == 0 && v == NN_SURVEYOR);
    CHECK(nn_getsockopt(r, NN_SOL_SOCKET, NN_PROTOCOL, &v, &sz) == 0 && v == NN_RESPONDENT);
    CHECK(nn_close(rs) == 0);
    CHECK(nn_close(r) == 0);
    CHECK(nn_close(s) == 0);
}

/* Raw respondent: the backtrace in control data, taken back by sendmsg. */
static void test_raw_respondent(void)
{
    int s = sock_open(AF_SP, NN_SURVEYOR);
    int rr = sock_open(AF_SP_RAW, NN_RESPONDENT);
    set_deadline(s, 5000);
    CHECK(nn_bind(s, "inproc://sv-rawresp") >= 0);
    CHECK(nn_connect(rr, "inproc://sv-rawresp") >= 0);

    char body[64];
    uint8_t hdr[256];
    size_t hl;
    send_str(s, "raw?");
    int n = recv_hdr(rr, body, sizeof(body), hdr, &hl);
    CHECK(n == 4 && memcmp(body, "raw?", 4) == 0);
    CHECK(hl == 8);
    uint32_t pipe_word = get_u32(hdr), survey_id = get_u32(hdr + 4);
    CHECK(pipe_word != 0 && !(pipe_word & 0x80000000u));
    CHECK(survey_id & 0x80000000u);
    CHECK(send_hdr(rr, "raw!", hdr, hl) == 4);
    expect_str(s, "raw!");

    /* Consecutive surveys carry consecutive ids. */
    send_str(s, "next?");
    n = recv_hdr(rr, body, sizeof(body), hdr, &hl);
    CHECK(n == 5 && hl == 8);
    CHECK(get_u32(hdr) == pipe_word);
    CHECK(get_u32(hdr + 4) == (((survey_id + 1) & 0x7fffffffu) | 0x80000000u));

    /* A wrong id is an answer to nothing; an unknown pipe word, or a
       header too short to hold one, goes nowhere. The good answer sent
       last is the only one to arrive. */
    uint8_t bad[8];
    memcpy(bad, hdr, 8);
    put_u32(bad + 4, get_u32(hdr + 4) ^ 1);
    CHECK(send_hdr(rr, "wrong id", bad, 8) == 8);
    memcpy(bad, hdr, 8);
    put_u32(bad, pipe_word + 1000);
    CHECK(send_hdr(rr, "wrong pipe", bad, 8) == 10);
    CHECK(send_hdr(rr, "short", hdr, 2) == 5);
    /* The pipe word only, the id in front of the body: the surveyor finds
       it there, as it does on stream transports. */
    char idbody[16];
    memcpy(idbody, hdr + 4, 4);
    memcpy(idbody + 4, "inbody", 7);
    struct nn_iovec iov = {idbody, 10};
    uint8_t ctl[64] __attribute__((aligned(8)));
    memset(ctl, 0, sizeof(ctl));
    struct nn_cmsghdr *c = (struct nn_cmsghdr *) (void *) ctl;
    size_t four = 4;
    c->cmsg_len = NN_CMSG_LEN(sizeof(size_t) + 4);
    c->cmsg_level = PROTO_SP;
    c->cmsg_type = SP_HDR;
    memcpy(NN_CMSG_DATA(c), &four, sizeof(four));
    memcpy(NN_CMSG_DATA(c) + sizeof(four), hdr, 4);
    struct nn_msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                           .msg_controllen = NN_CMSG_SPACE(sizeof(size_t) + 4)};
    CHECK(nn_sendmsg(rr, &mh, 0) == 10);
    expect_str(s, "inbody");
    /* Words after the id are body, as on a stream transport. */
    uint8_t tail[12];
    memcpy(tail, hdr, 8);
    memcpy(tail + 8, "WXYZ", 4);
    CHECK(send_hdr(rr, "tail", tail, 12) == 4);
    expect_str(s, "WXYZtail");
    char buf[16];
    CHECK_ERR(nn_recv(s, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);

    /* Control data allocated by the library (NN_MSG) and handed back. */
    send_str(s, "alloc?");
    void *ctlp = NULL;
    struct nn_iovec iov2 = {body, sizeof(body)};
    struct nn_msghdr h2 = {.msg_iov = &iov2, .msg_iovlen = 1, .msg_control = &ctlp,
                           .msg_controllen = NN_MSG};
    CHECK(nn_recvmsg(rr, &h2, 0) == 6);
    CHECK(ctlp != NULL);
    struct nn_iovec iov3 = {"alloc!", 6};
    struct nn_msghdr h3 = {.msg_iov = &iov3, .msg_iovlen = 1, .msg_control = &ctlp,
                           .msg_controllen = NN_MSG};
    CHECK(nn_sendmsg(rr, &h3, 0) == 6); /* frees ctlp */
    expect_str(s, "alloc!");

    CHECK(nn_close(rr) == 0);
    CHECK(nn_close(s) == 0);
}

/* Raw surveyor: the header as given; respondents check the stack. */
static void test_raw_surveyor(void)
{
    int rs = sock_open(AF_SP_RAW, NN_SURVEYOR);
    int r = sock_open(AF_SP, NN_RESPONDENT);
    int rr = sock_open(AF_SP_RAW, NN_RESPONDENT);
    CHECK(nn_bind(rs, "inproc://sv-rawsurv") >= 0);
    CHECK(nn_connect(r, "inproc://sv-rawsurv") >= 0);
    CHECK(nn_connect(rr, "inproc://sv-rawsurv") >= 0);
    char body[64];
    uint8_t hdr[256], got[256];
    size_t hl;

    put_u32(hdr, 0x80000007u);
    CHECK(send_hdr(rs, "raw survey", hdr, 4) == 10);
    expect_str(r, "raw survey");
    send_str(r, "cooked answer");
    CHECK(recv_hdr(rs, body, sizeof(body), got, &hl) == 13);
    CHECK(hl == 4 && get_u32(got) == 0x80000007u);
    CHECK(recv_hdr(rr, body, sizeof(body), got, &hl) == 10);
    CHECK(hl == 8 && get_u32(got + 4) == 0x80000007u);

    /* Dropped by both respondents: no bottom of stack (a header of hop
       words and a body too short to finish it), a body-only stack without
       a bottom, and longer than NN_MAXTTL (default 8 words). Then the
       last, valid, survey is what arrives: 7 hops and the id (8 words). */
    put_u32(hdr, 0x00000005u);
    CHECK(send_hdr(rs, "abc", hdr, 4) == 3);
    CHECK(nn_send(rs, "nohdr", 5, 0) == 5);
    for (int i = 0; i < 8; i++)
        put_u32(hdr + 4 * i, 0x100u + (uint32_t) i);
    put_u32(hdr + 32, 0x80000009u);
    CHECK(send_hdr(rs, "nine words", hdr, 36) == 10);
    CHECK(send_hdr(rs, "eight words", hdr + 4, 32) == 11);
    expect_str(r, "eight words");
    CHECK(recv_hdr(rr, body, sizeof(body), got, &hl) == 11);
    CHECK(hl == 36 && memcmp(got + 4, hdr + 4, 32) == 0);
    /* The cooked respondent gives the whole backtrace back, and the raw
       surveyor shows all of it as header. (The stock library shows only
       the first word and leaves the other seven at the front of the body:
       the same bytes, split elsewhere.) */
    send_str(r, "eight back");
    CHECK(recv_hdr(rs, body, sizeof(body), got, &hl) == 10);
    CHECK(hl == 32 && memcmp(got, hdr + 4, 32) == 0 && memcmp(body, "eight back", 10) == 0);

    /* Header bytes after the id belong to the body, as they would on a
       stream transport: whole words, or a header not made of words. */
    uint8_t tail[8];
    put_u32(tail, 0x8000000bu);
    memcpy(tail + 4, "ABCD", 4);
    CHECK(send_hdr(rs, "tail", tail, 8) == 4);
    expect_str(r, "ABCDtail");
    CHECK(recv_hdr(rr, body, sizeof(body), got, &hl) == 8);
    CHECK(hl == 8 && get_u32(got + 4) == 0x8000000bu && memcmp(body, "ABCDtail", 8) == 0);
    CHECK(send_hdr(rs, "z", tail, 6) == 1);
    expect_str(r, "ABz");
    CHECK(recv_hdr(rr, body, sizeof(body), got, &hl) == 3);
    CHECK(hl == 8 && get_u32(got + 4) == 0x8000000bu && memcmp(body, "ABz", 3) == 0);

    /* A higher NN_MAXTTL lets the nine-word stack through. */
    int ttl = 9;
    CHECK(nn_setsockopt(r, NN_SOL_SOCKET, NN_MAXTTL, &ttl, sizeof(ttl)) == 0);
    CHECK(send_hdr(rs, "nine words", hdr, 36) == 10);
    expect_str(r, "nine words");

    /* The stack in the body (raw nn_send, no control data): lifted from
       there, as on stream transports. rr, still at the default TTL,
       dropped the nine-word survey, so this is the next it sees. */
    uint8_t payload[16];
    put_u32(payload, 0x8000000au);
    memcpy(payload + 4, "in body", 7);
    CHECK(nn_send(rs, payload, 11, 0) == 11);
    expect_str(r, "in body");
    CHECK(recv_hdr(rr, body, sizeof(body), got, &hl) == 7);
    CHECK(hl == 8 && get_u32(got + 4) == 0x8000000au && memcmp(body, "in body", 7) == 0);

    CHECK(nn_close(rr) == 0);
    CHECK(nn_close(r) == 0);
    CHECK(nn_close(rs) == 0);
}

/* One respondent connected to two surveyors answers each on its pipe. */
static void test_two_surveyors(void)
{
    int s1 = sock_open(AF_SP, NN_SURVEYOR);
    int s2 = sock_open(AF_SP, NN_SURVEYOR);
    int r = sock_open(AF_SP, NN_RESPONDENT);
    int rr = sock_open(AF_SP_RAW, NN_RESPONDENT);
    set_deadline(s1, 5000);
    set_deadline(s2, 5000);
    CHECK(nn_bind(s1, "inproc://sv-two-1") >= 0);
    CHECK(nn_bind(s2, "inproc://sv-two-2") >= 0);
    CHECK(nn_connect(r, "inproc://sv-two-1") >= 0);
    CHECK(nn_connect(r, "inproc://sv-two-2") >= 0);
    CHECK(nn_connect(rr, "inproc://sv-two-1") >= 0);
    CHECK(nn_connect(rr, "inproc://sv-two-2") >= 0);

    char buf[64];
    for (int round = 0; round < 3; round++) {
        send_str(s1, "from1");
        send_str(s2, "from2");
        for (int i = 0; i < 2; i++) {
            int n = nn_recv(r, buf, sizeof(buf) - 1, 0);
            CHECK(n == 5);
            if (n != 5)
                continue;
            char ans[16];
            snprintf(ans, sizeof(ans), "ans%c", buf[4]);
            send_str(r, ans);
        }
        /* The raw one takes both, then answers in reverse order. */
        uint8_t h[2][256];
        size_t hl[2];
        char b[2][64];
        for (int i = 0; i < 2; i++)
            CHECK(recv_hdr(rr, b[i], sizeof(b[i]), h[i], &hl[i]) == 5);
        for (int i = 1; i >= 0; i--) {
            char ans[16];
            snprintf(ans, sizeof(ans), "raw%c", b[i][4]);
            CHECK(send_hdr(rr, ans, h[i], hl[i]) == 4);
        }
        expect_str(s1, "ans1");
        expect_str(s1, "raw1");
        expect_str(s2, "ans2");
        expect_str(s2, "raw2");
        CHECK_ERR(nn_recv(s1, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
        CHECK_ERR(nn_recv(s2, buf, sizeof(buf), NN_DONTWAIT), EAGAIN);
    }

    /* The surveyor goes away before the answer: the answer is dropped. */
    send_str(s1, "bye");
    expect_str(r, "bye");
    CHECK(nn_close(s1) == 0);
    send_str(r, "too late");
    send_str(s2, "still here?");
    expect_str(r, "still here?");
    send_str(r, "yes");
    expect_str(s2, "yes");

    CHECK(nn_close(rr) == 0);
    CHECK(nn_close(r) == 0);
    CHECK(nn_close(s2) == 0);
}

int main(void)
{
    test_options();
    test_efsm();
    test_abandon();
    test_raw_respondent();
    test_raw_surveyor();
    test_two_surveyors();
    test_rcvfd();
    test_deadline();
    TEST_DONE();
}
