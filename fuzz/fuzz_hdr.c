/* fuzz_hdr.c: the REQ/REP and SURVEYOR/RESPONDENT header stacks. Raw
   sockets hand arbitrary stacks (SP_HDR control data, or arbitrary control
   bytes) and bodies over inproc to cooked REP, REQ, RESPONDENT and
   SURVEYOR, and a device-like step moves messages between raw sockets
   with their headers untouched, as nn_device does. Inproc keeps the header
   apart from the body, so these stacks reach the protocols exactly as
   given, which no stream peer can arrange.

   The sockets (created once):
     rq  raw REQ        -> rep  cooked REP
     rp  raw REP        <- req  cooked REQ
     sv  raw SURVEYOR   -> rs   cooked RESPONDENT
     rd  raw RESPONDENT <- sy   cooked SURVEYOR
     dreq cooked REQ -> dfront raw REP | dback raw REQ -> drep cooked REP
          (fwd moves dfront <-> dback; xrq raw REQ also talks to dfront and
           xrp raw REP listens behind dback, so raw stacks enter the chain)
     dsy cooked SURVEYOR -> sfront raw RESPONDENT | sback raw SURVEYOR
          -> drs cooked RESPONDENT

   Input: a sequence of operations, each an op byte (low 3 bits the kind,
   the rest an argument) and its operands, until the input runs out. */
#include "fuzz_util.h"

#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>

enum {
    RQ, REP, RP, REQ, SV, RS, RD, SY,
    DREQ, DFRONT, DBACK, DREP, XRQ, XRP,
    DSY, SFRONT, SBACK, DRS,
    NSOCK
};

static const struct {
    int domain, type;
} spec[NSOCK] = {
    [RQ] = {AF_SP_RAW, NN_REQ},     [REP] = {AF_SP, NN_REP},
    [RP] = {AF_SP_RAW, NN_REP},     [REQ] = {AF_SP, NN_REQ},
    [SV] = {AF_SP_RAW, NN_SURVEYOR}, [RS] = {AF_SP, NN_RESPONDENT},
    [RD] = {AF_SP_RAW, NN_RESPONDENT}, [SY] = {AF_SP, NN_SURVEYOR},
    [DREQ] = {AF_SP, NN_REQ},       [DFRONT] = {AF_SP_RAW, NN_REP},
    [DBACK] = {AF_SP_RAW, NN_REQ},  [DREP] = {AF_SP, NN_REP},
    [XRQ] = {AF_SP_RAW, NN_REQ},    [XRP] = {AF_SP_RAW, NN_REP},
    [DSY] = {AF_SP, NN_SURVEYOR},   [SFRONT] = {AF_SP_RAW, NN_RESPONDENT},
    [SBACK] = {AF_SP_RAW, NN_SURVEYOR}, [DRS] = {AF_SP, NN_RESPONDENT},
};

static int sk[NSOCK];

/* The last header each socket received (raw ones expose it). */
static uint8_t last_hdr[NSOCK][1100];
static size_t last_len[NSOCK];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void link_pair(int binder, int connecter, const char *name)
{
    if (nn_bind(sk[binder], name) < 0 || nn_connect(sk[connecter], name) < 0)
        fz_die("linking %s: %s", name, nn_strerror(errno));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fz_isolate("fuzz_hdr");
    for (int i = 0; i < NSOCK; i++) {
        sk[i] = nn_socket(spec[i].domain, spec[i].type);
        if (sk[i] < 0)
            fz_die("nn_socket: %s", nn_strerror(errno));
        fz_set_int(sk[i], NN_SOL_SOCKET, NN_LINGER, 0);
        if (spec[i].domain == AF_SP && spec[i].type == NN_SURVEYOR)
            fz_set_int(sk[i], NN_SURVEYOR, NN_SURVEYOR_DEADLINE, 60000);
    }
    link_pair(REP, RQ, "inproc://a");
    link_pair(RP, REQ, "inproc://b");
    link_pair(RS, SV, "inproc://c");
    link_pair(RD, SY, "inproc://d");
    link_pair(DFRONT, DREQ, "inproc://e1");
    if (nn_connect(sk[XRQ], "inproc://e1") < 0)
        fz_die("connect: %s", nn_strerror(errno));
    link_pair(DREP, DBACK, "inproc://e2");
    link_pair(XRP, DBACK, "inproc://e3");
    link_pair(SFRONT, DSY, "inproc://f1");
    link_pair(DRS, SBACK, "inproc://f2");
    return 0;
}

struct reader {
    const uint8_t *p;
    size_t n;
};

static uint8_t get_u8(struct reader *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

/* Up to max bytes, as many as the next byte says (times scale). */
static const uint8_t *get_scaled(struct reader *r, size_t max, size_t scale, size_t *len)
{
    size_t n = get_u8(r) * scale;
    if (n > max)
        n = max;
    if (n > r->n)
        n = r->n;
    const uint8_t *p = r->p;
    r->p += n;
    r->n -= n;
    *len = n;
    return p;
}

static const uint8_t *get_bytes(struct reader *r, size_t max, size_t *len)
{
    return get_scaled(r, max, 1, len);
}

/* A control buffer holding one PROTO_SP/SP_HDR of the given header. */
static size_t make_ctl(uint8_t *ctl, size_t cap, const uint8_t *hdr, size_t hl)
{
    size_t need = NN_CMSG_SPACE(sizeof(size_t) + hl);
    if (need > cap)
        return 0;
    memset(ctl, 0, need);
    struct nn_cmsghdr ch = {.cmsg_len = NN_CMSG_LEN(sizeof(size_t) + hl),
                            .cmsg_level = PROTO_SP, .cmsg_type = SP_HDR};
    memcpy(ctl, &ch, sizeof(ch));
    memcpy(NN_CMSG_DATA((struct nn_cmsghdr *) ctl), &hl, sizeof(hl));
    if (hl)
        memcpy(NN_CMSG_DATA((struct nn_cmsghdr *) ctl) + sizeof(size_t), hdr, hl);
    return need;
}

static int send_with(int i, const void *ctl, size_t ctllen, const void *body, size_t bl,
                     bool zero_copy)
{
    struct nn_iovec iov;
    void *chunk = NULL;
    if (zero_copy) {
        chunk = nn_allocmsg(bl, 0);
        if (!chunk)
            return -1;
        if (bl)
            memcpy(chunk, body, bl);
        iov.iov_base = &chunk;
        iov.iov_len = NN_MSG;
    } else {
        iov.iov_base = (void *) body;
        iov.iov_len = bl;
    }
    struct nn_msghdr h = {&iov, 1, (void *) ctl, ctllen};
    int rc = nn_sendmsg(sk[i], &h, NN_DONTWAIT);
    if (rc < 0 && chunk)
        nn_freemsg(chunk);
    return rc;
}

/* Receive one message if there is one; remember its header. */
static void recv_one(int i)
{
    uint8_t body[256];
    union {
        struct nn_cmsghdr align;
        uint8_t b[NN_CMSG_SPACE(sizeof(size_t) + 1100)];
    } ctl;
    struct nn_iovec iov = {body, sizeof(body)};
    struct nn_msghdr h = {&iov, 1, &ctl, sizeof(ctl)};
    /* nn_recvmsg writes its SP_HDR property and leaves the rest of the
       buffer as it was (msg_controllen unchanged, as stock does), so the
       walk below would read what an earlier call left on the stack as a
       second property: start from zeros, where the walk stops. */
    memset(&ctl, 0, sizeof(ctl));
    int n = nn_recvmsg(sk[i], &h, NN_DONTWAIT);
    if (n < 0)
        return;
    last_len[i] = 0;
    for (struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&h); c; c = NN_CMSG_NXTHDR(&h, c)) {
        if (c->cmsg_level != PROTO_SP || c->cmsg_type != SP_HDR)
            continue;
        size_t hl;
        memcpy(&hl, NN_CMSG_DATA(c), sizeof(hl));
        if (hl > sizeof(last_hdr[i]) || c->cmsg_len < NN_CMSG_LEN(sizeof(size_t) + hl))
            fz_die("recvmsg on socket %d gave a header of %zu bytes in a cmsg of %zu", i, hl,
                   (size_t) c->cmsg_len);
        memcpy(last_hdr[i], NN_CMSG_DATA(c) + sizeof(size_t), hl);
        last_len[i] = hl;
    }
}

/* One step of a device: from -> to, header and body as they came. */
static void forward(int from, int to)
{
    void *body = NULL;
    void *ctl = NULL;
    struct nn_iovec iov = {&body, NN_MSG};
    struct nn_msghdr h = {&iov, 1, &ctl, NN_MSG};
    if (nn_recvmsg(sk[from], &h, NN_DONTWAIT) < 0)
        return;
    if (nn_sendmsg(sk[to], &h, NN_DONTWAIT) < 0) {
        nn_freemsg(body);
        nn_freemsg(ctl);
    }
}

static void drain_all(void)
{
    for (int i = 0; i < NSOCK; i++)
        for (int n = 0; n < 1000; n++) {
            void *m;
            if (nn_recv(sk[i], &m, NN_MSG, NN_DONTWAIT) < 0)
                break;
            nn_freemsg(m);
        }
}

static const int raw_senders[] = {RQ, RP, SV, RD, XRQ, XRP, DFRONT, DBACK, SFRONT, SBACK};
static const int cooked[] = {REP, REQ, RS, SY, DREQ, DREP, DSY, DRS};
static const int fwd_pairs[][2] = {{DFRONT, DBACK}, {DBACK, DFRONT}, {SFRONT, SBACK},
                                   {SBACK, SFRONT}, {XRP, DBACK}, {RQ, RP}};
#define COUNT(a) (sizeof(a) / sizeof(a[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader r = {data, size};
    uint8_t ctl[NN_CMSG_SPACE(sizeof(size_t) + 1100)];
    int ops = 0;
    while (r.n && ops++ < 64) {
        uint8_t op = get_u8(&r);
        uint8_t arg = op >> 3;
        size_t hl, bl, cl;
        const uint8_t *hdr, *body, *raw;
        switch (op & 7) {
        case 0: { /* a raw socket sends a stack of its choice; a flags byte
                     follows: bit 0 NN_MSG body, bit 1 the length counts
                     words (deep stacks) */
            int i = raw_senders[arg % COUNT(raw_senders)];
            uint8_t f = get_u8(&r);
            hdr = get_scaled(&r, 1100, (f & 2) ? 4 : 1, &hl);
            body = get_bytes(&r, 255, &bl);
            size_t n = make_ctl(ctl, sizeof(ctl), hdr, hl);
            send_with(i, ctl, n, body, bl, f & 1);
            break;
        }
        case 1: { /* arbitrary control bytes */
            int i = raw_senders[arg % COUNT(raw_senders)];
            raw = get_bytes(&r, 255, &cl);
            body = get_bytes(&r, 255, &bl);
            uint8_t copy[256];
            memcpy(copy, raw, cl);
            send_with(i, cl ? copy : NULL, cl, body, bl, false);
            break;
        }
        case 2: { /* a plain send on any socket */
            int i = (arg * 7) % NSOCK;
            body = get_bytes(&r, 255, &bl);
            nn_send(sk[i], body, bl, NN_DONTWAIT);
            break;
        }
        case 3: /* receive on any socket */
            recv_one(arg % NSOCK);
            break;
        case 4: { /* send back the last header received, one byte xor-ed */
            int i = raw_senders[arg % COUNT(raw_senders)];
            uint8_t h[1100];
            size_t n = last_len[i];
            memcpy(h, last_hdr[i], n);
            uint8_t at = get_u8(&r), x = get_u8(&r);
            if (n)
                h[at % n] ^= x;
            body = get_bytes(&r, 64, &bl);
            size_t c = make_ctl(ctl, sizeof(ctl), h, n);
            send_with(i, ctl, c, body, bl, false);
            break;
        }
        case 5: /* a device step */
            forward(fwd_pairs[arg % COUNT(fwd_pairs)][0], fwd_pairs[arg % COUNT(fwd_pairs)][1]);
            break;
        case 6: { /* NN_MAXTTL on any REQ/REP/SURVEY socket */
            int i = (arg * 5) % NSOCK;
            int ttl = (int) get_u8(&r);
            nn_setsockopt(sk[i], NN_SOL_SOCKET, NN_MAXTTL, &ttl, sizeof(ttl));
            break;
        }
        case 7: { /* a cooked socket sends (a request, a survey, a reply) */
            int i = cooked[arg % COUNT(cooked)];
            body = get_bytes(&r, 64, &bl);
            nn_send(sk[i], body, bl, NN_DONTWAIT);
            break;
        }
        }
    }
    drain_all();
    for (int i = 0; i < NSOCK; i++) {
        int ttl = 8;
        nn_setsockopt(sk[i], NN_SOL_SOCKET, NN_MAXTTL, &ttl, sizeof(ttl));
    }
    return 0;
}
