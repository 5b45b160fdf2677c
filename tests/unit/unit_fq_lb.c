/* unit_fq_lb.c: the fair queue and the load balancer of src/core/pipe.c on
   their own, linked from the library's objects, over pipes made by hand
   on a socket struct made by hand (a protocol whose callbacks do nothing,
   a transport whose send records where each message went), on one
   thread, with no descriptor and no loop:
   - fair queue: round robin over N pipes, a pipe leaving the rotation
     when it runs dry and joining at the back when it has more, NN_RCVPRIO
     first, a pipe detached with messages queued still read (and reported
     as no pipe), and a full inbound queue told once that it has room;
   - load balancer: round robin over N pipes, NN_SNDPRIO first, a pipe
     whose send said full skipped until it is writable (or has room when
     nothing else is writable), -EAGAIN with the message untouched when
     none can take it, removal of writable, full and absent pipes, and
     fan-out to every pipe while pipes leave the list under it;
   - streaming (fm_pipe_burst): a message is part of a stream to its pipe
     only when the socket's sends follow each other closely and that pipe
     had one within FM_PIPE_BURST_US, so replies spread over many pipes
     each go out at once. */
#include "unit.h"
#include "sock.h"

#include <nanomsg/pipeline.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NPIPES 6

/* ----------------------------------------------------- a protocol */
static int proto_pipe_add(void *st, struct fm_pipe *p) { (void) st, (void) p; return 0; }
static void proto_pipe_rm(void *st, struct fm_pipe *p) { (void) st, (void) p; }
static unsigned proto_events(void *st) { (void) st; return 0; }

static const struct fm_proto proto = {
    .type = NN_PULL,
    .peer = NN_PUSH,
    .name = "pull",
    .pipe_add = proto_pipe_add,
    .pipe_rm = proto_pipe_rm,
    .events = proto_events,
};

/* ---------------------------------------------------- a transport */
struct fake {
    int send_rc;     /* what send answers */
    bool room;       /* what has_room answers */
    int got;         /* messages sent to it */
    int inq_space;   /* times told its inbound queue has room */
    uint32_t last;   /* the number in the last message sent to it */
    bool burst;      /* fm_pipe_burst during the last send to it */
};

static struct fake fakes[NPIPES];
static struct fm_pipe *pipes[NPIPES];
static int sent_to[256]; /* pipe index of each message sent, in order */
static int nsent;

static struct fake *fake_of(struct fm_pipe *p) { return p->tdata; }
static int index_of(struct fm_pipe *p) { return (int) (fake_of(p) - fakes); }

static int tp_send(struct fm_pipe *p, struct fm_msg *msg)
{
    struct fake *f = fake_of(p);
    f->got++;
    f->burst = fm_pipe_burst(p);
    if (fm_msg_size(msg) == 4)
        memcpy(&f->last, fm_msg_body(msg), 4);
    if (nsent < 256)
        sent_to[nsent++] = index_of(p);
    fm_msg_term(msg); /* the pipe owns it whatever it answers */
    return f->send_rc;
}
static void tp_close(struct fm_pipe *p) { (void) p; }
static void tp_inq_space(struct fm_pipe *p) { fake_of(p)->inq_space++; }
static bool tp_has_room(struct fm_pipe *p) { return fake_of(p)->room; }

static const struct fm_pipe_ops ops = {
    .send = tp_send,
    .close = tp_close,
    .inq_space = tp_inq_space,
    .has_room = tp_has_room,
};

/* ------------------------------------------------------ the socket */
static struct fm_sock sock;
static struct fm_ep ep;

static void sock_setup(void)
{
    memset(&sock, 0, sizeof(sock));
    fm_mutex_init(&sock.lock);
    fm_mutex_init(&sock.name_lock);
    sock.proto = &proto;
    sock.snd.fd = sock.rcv.fd = -1;
    atomic_init(&sock.refs, 1); /* ours: never freed by the pipes */
    fm_list_init(&sock.pipes);
    fm_list_init(&sock.eps);
    for (int i = 0; i < 16; i++)
        fm_list_init(&sock.fq[i]);
    memset(&ep, 0, sizeof(ep));
    ep.sock = &sock;
    atomic_init(&ep.rcvbuf, 1 << 20);
}

/* n attached pipes with these priorities (1..16). */
static void make_pipes(int n, const int *sndprio, const int *rcvprio)
{
    memset(fakes, 0, sizeof(fakes));
    nsent = 0;
    for (int i = 0; i < n; i++) {
        ep.sndprio = sndprio ? sndprio[i] : 8;
        ep.rcvprio = rcvprio ? rcvprio[i] : 8;
        fakes[i].room = true;
        pipes[i] = fm_pipe_create(&ep, &ops, &fakes[i]);
        if (!pipes[i] || fm_pipe_attach(pipes[i], NN_PUSH) != 0)
            abort();
    }
}

/* Detach and let go of what is left; the sanitizers see a lost pipe. */
static void drop_pipes(int n)
{
    for (int i = 0; i < n; i++) {
        if (!pipes[i])
            continue;
        fm_pipe_detach(pipes[i]);
        fm_pipe_unref(pipes[i]);
        pipes[i] = NULL;
    }
    EXPECT(fm_list_empty(&sock.pipes));
    EXPECT(atomic_load(&sock.refs) == 1);
}

static struct fm_msg numbered(uint32_t v)
{
    struct fm_msg m;
    if (fm_msg_init_copy(&m, &v, sizeof(v)) != 0)
        abort();
    return m;
}

/* A peer on pipe i sends message v; the readable notice runs as it would
   after the deliverer's socket lock is dropped. */
static int deliver(int i, uint32_t v)
{
    struct fm_msg m = numbered(v);
    int rc = fm_pipe_deliver(pipes[i], &m);
    fm_run_deferred();
    return rc;
}

/* The socket's readiness, read as the core does: under its lock. */
static bool readable(void)
{
    fm_sock_lock(&sock);
    bool r = fm_fq_readable(&sock);
    fm_sock_unlock(&sock);
    return r;
}

/* nn_recv's view: the next message's number and the pipe it came from (-1:
   none, -2: a detached pipe), or false when nothing is readable. */
static bool recv_one(uint32_t *v, int *from)
{
    struct fm_msg m;
    struct fm_pipe *p = NULL;
    fm_sock_lock(&sock);
    int rc = fm_fq_recv(&sock, &m, &p);
    fm_sock_unlock(&sock);
    if (rc != 0)
        return false;
    memcpy(v, fm_msg_body(&m), sizeof(*v));
    fm_msg_term(&m);
    *from = p ? index_of(p) : -2;
    return true;
}

/* -------------------------------------------------------- fair queue */
static void test_fq_round_robin(void)
{
    sock_setup();
    make_pipes(4, NULL, NULL);
    /* Pipe i has i + 2 messages, numbered 100 * i + k. */
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < i + 2; k++)
            EXPECT(deliver(i, (uint32_t) (100 * i + k)) == 0);
    EXPECT(readable());
    /* Round one takes one from each, in the order they became readable;
       the shortest queue drops out after round two, and so on. */
    static const int want[] = {0, 1, 2, 3, 0, 1, 2, 3, 1, 2, 3, 2, 3, 3};
    int seen[4] = {0};
    for (size_t n = 0; n < sizeof(want) / sizeof(want[0]); n++) {
        uint32_t v = 0;
        int from = -1;
        EXPECT(recv_one(&v, &from));
        EXPECT(from == want[n]);
        if (from >= 0 && from < 4) {
            EXPECT(v == (uint32_t) (100 * from + seen[from])); /* each pipe in order */
            seen[from]++;
        }
    }
    uint32_t v;
    int from;
    EXPECT(!recv_one(&v, &from));
    EXPECT(!readable());
    /* A pipe that ran dry joins at the back when it has more. */
    EXPECT(deliver(2, 7) == 0);
    EXPECT(deliver(0, 8) == 0);
    EXPECT(deliver(2, 9) == 0);
    EXPECT(recv_one(&v, &from) && from == 2 && v == 7);
    EXPECT(recv_one(&v, &from) && from == 0 && v == 8);
    EXPECT(recv_one(&v, &from) && from == 2 && v == 9);
    EXPECT(!recv_one(&v, &from));
    drop_pipes(4);
}

static void test_fq_priorities(void)
{
    sock_setup();
    static const int rcvprio[] = {8, 1, 8, 16, 1};
    make_pipes(5, NULL, rcvprio);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 5; i++)
            EXPECT(deliver(i, (uint32_t) (100 * i + k)) == 0);
    /* Priority 1 (pipes 1 and 4, fairly), then 8 (0 and 2), then 16. */
    static const int want[] = {1, 4, 1, 4, 1, 4, 0, 2, 0};
    uint32_t v;
    int from;
    for (size_t n = 0; n < sizeof(want) / sizeof(want[0]); n++)
        EXPECT(recv_one(&v, &from) && from == want[n]);
    /* A message on a better priority goes ahead of what is waiting. */
    EXPECT(deliver(1, 77) == 0);
    EXPECT(recv_one(&v, &from) && from == 1 && v == 77);
    static const int rest[] = {2, 0, 2, 3, 3, 3};
    for (size_t n = 0; n < sizeof(rest) / sizeof(rest[0]); n++)
        EXPECT(recv_one(&v, &from) && from == rest[n]);
    EXPECT(!recv_one(&v, &from));
    drop_pipes(5);
}

static void test_fq_detached(void)
{
    sock_setup();
    make_pipes(3, NULL, NULL);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 3; i++)
            EXPECT(deliver(i, (uint32_t) (100 * i + k)) == 0);
    uint32_t v;
    int from;
    EXPECT(recv_one(&v, &from) && from == 0 && v == 0);
    /* Pipe 1's connection goes while its three messages are queued, and
       the transport lets go of it: the queue keeps it alive, its messages
       stay receivable, reported as from no pipe, still in their turn. */
    fm_pipe_detach(pipes[1]);
    fm_pipe_unref(pipes[1]);
    pipes[1] = NULL;
    EXPECT(deliver(0, 50) == 0);
    static const int want[] = {-2, 2, 0, -2, 2, 0, -2, 2, 0};
    static const uint32_t vals[] = {100, 200, 1, 101, 201, 2, 102, 202, 50};
    for (size_t n = 0; n < sizeof(want) / sizeof(want[0]); n++)
        EXPECT(recv_one(&v, &from) && from == want[n] && v == vals[n]);
    EXPECT(!recv_one(&v, &from));
    drop_pipes(3);
}

/* A peer that filled the inbound queue stops; taking messages tells its
   pipe once that there is room again, when the queue is below the resume
   mark (or holds fewer than two). */
static void test_fq_inq_space(void)
{
    sock_setup();
    make_pipes(1, NULL, NULL);
    struct fm_pipe *p = pipes[0];
    p->inq_msg_cost = 100;        /* as from a stream peer */
    p->inq_limit = 4 * (100 + 4); /* four numbered messages */
    p->inq_resume = 2 * (100 + 4) + 1;
    EXPECT(deliver(0, 0) == 0);
    EXPECT(deliver(0, 1) == 0);
    EXPECT(deliver(0, 2) == 0);
    EXPECT(deliver(0, 3) == FM_PIPE_FULL);
    EXPECT(deliver(0, 4) == FM_PIPE_FULL); /* the deliverer should have stopped; kept anyway */
    uint32_t v;
    int from;
    EXPECT(recv_one(&v, &from) && v == 0 && fakes[0].inq_space == 0); /* 4 left */
    EXPECT(recv_one(&v, &from) && v == 1 && fakes[0].inq_space == 0); /* 3 left */
    EXPECT(recv_one(&v, &from) && v == 2 && fakes[0].inq_space == 1); /* 2 left: resume */
    EXPECT(recv_one(&v, &from) && v == 3 && fakes[0].inq_space == 1); /* once */
    EXPECT(recv_one(&v, &from) && v == 4 && fakes[0].inq_space == 1);
    /* One message larger than the whole limit never blocks the sender. */
    struct fm_msg big;
    EXPECT(fm_msg_init(&big, 10000) == 0);
    EXPECT(fm_pipe_deliver(p, &big) == 0);
    fm_run_deferred();
    struct fm_msg m;
    fm_sock_lock(&sock);
    EXPECT(fm_fq_recv(&sock, &m, NULL) == 0 && fm_msg_size(&m) == 10000);
    fm_sock_unlock(&sock);
    fm_msg_term(&m);
    drop_pipes(1);
}

/* ---------------------------------------------------- load balancer */
static int lb_send_one(struct fm_lb *lb, uint32_t v)
{
    struct fm_msg m = numbered(v);
    struct fm_pipe *to = NULL;
    int rc = fm_lb_send(lb, &m, &to);
    if (rc != 0) {
        /* Untouched: still ours to free. */
        uint32_t back;
        memcpy(&back, fm_msg_body(&m), 4);
        if (back != v)
            unit_failures++;
        fm_msg_term(&m);
    } else if (!to || fake_of(to)->last != v) {
        unit_failures++;
    }
    return rc;
}

static void test_lb_round_robin(void)
{
    sock_setup();
    make_pipes(NPIPES, NULL, NULL);
    struct fm_lb lb;
    fm_lb_init(&lb);
    fm_sock_lock(&sock);
    EXPECT(!fm_lb_can_send(&lb) && fm_lb_best_prio(&lb) == 0);
    for (int i = 0; i < NPIPES; i++)
        fm_lb_add(&lb, pipes[i]);
    EXPECT(fm_lb_can_send(&lb) && lb.count == NPIPES && fm_lb_best_prio(&lb) == 8);
    for (uint32_t v = 0; v < 5 * NPIPES; v++)
        EXPECT(lb_send_one(&lb, v) == 0);
    for (int n = 0; n < 5 * NPIPES; n++)
        EXPECT(sent_to[n] == n % NPIPES);
    /* Removal from the middle of the rotation: the others keep their turn. */
    fm_lb_rm(&lb, pipes[2]);
    fm_lb_rm(&lb, pipes[2]); /* twice: nothing */
    EXPECT(lb.count == NPIPES - 1);
    nsent = 0;
    for (uint32_t v = 0; v < 2 * (NPIPES - 1); v++)
        EXPECT(lb_send_one(&lb, v) == 0);
    static const int want[] = {0, 1, 3, 4, 5, 0, 1, 3, 4, 5};
    for (int n = 0; n < 2 * (NPIPES - 1); n++)
        EXPECT(sent_to[n] == want[n]);
    for (int i = 0; i < NPIPES; i++)
        fm_lb_rm(&lb, pipes[i]);
    EXPECT(lb.count == 0 && lb.full_count == 0 && !fm_lb_can_send(&lb));
    EXPECT(lb_send_one(&lb, 1) == -EAGAIN);
    fm_sock_unlock(&sock); /* the protocol's calls hold it */
    drop_pipes(NPIPES);
}

static void test_lb_priorities_and_full(void)
{
    sock_setup();
    static const int sndprio[] = {4, 1, 4, 1, 9};
    make_pipes(5, sndprio, NULL);
    struct fm_lb lb;
    fm_lb_init(&lb);
    fm_sock_lock(&sock);
    for (int i = 0; i < 5; i++)
        fm_lb_add(&lb, pipes[i]);
    EXPECT(fm_lb_best_prio(&lb) == 1);
    /* Priority 1 only, round robin between its two pipes. */
    for (uint32_t v = 0; v < 6; v++)
        EXPECT(lb_send_one(&lb, v) == 0);
    for (int n = 0; n < 6; n++)
        EXPECT(sent_to[n] == (n % 2 ? 3 : 1));
    /* Pipe 1 takes a message but says it is full now: skipped from then on. */
    nsent = 0;
    fakes[1].send_rc = FM_PIPE_FULL;
    fakes[1].room = false;
    EXPECT(lb_send_one(&lb, 10) == 0 && sent_to[0] == 1);
    EXPECT(lb.full_count == 1 && lb.count == 4);
    EXPECT(lb_send_one(&lb, 11) == 0 && sent_to[1] == 3);
    EXPECT(lb_send_one(&lb, 12) == 0 && sent_to[2] == 3);
    /* Pipe 3 fills too: priority 4 next, then 9. */
    fakes[3].send_rc = FM_PIPE_FULL;
    fakes[3].room = false;
    EXPECT(lb_send_one(&lb, 13) == 0 && sent_to[3] == 3);
    EXPECT(fm_lb_best_prio(&lb) == 4);
    EXPECT(lb_send_one(&lb, 14) == 0 && sent_to[4] == 0);
    EXPECT(lb_send_one(&lb, 15) == 0 && sent_to[5] == 2);
    fakes[0].send_rc = fakes[2].send_rc = FM_PIPE_FULL;
    fakes[0].room = fakes[2].room = false;
    EXPECT(lb_send_one(&lb, 16) == 0 && sent_to[6] == 0);
    EXPECT(lb_send_one(&lb, 17) == 0 && sent_to[7] == 2);
    EXPECT(fm_lb_best_prio(&lb) == 9);
    EXPECT(lb_send_one(&lb, 18) == 0 && sent_to[8] == 4);
    fakes[4].send_rc = FM_PIPE_FULL;
    fakes[4].room = false;
    EXPECT(lb_send_one(&lb, 19) == 0 && sent_to[9] == 4);
    /* None writable, none with room: -EAGAIN, message untouched. */
    EXPECT(!fm_lb_can_send(&lb) && lb.full_count == 5);
    EXPECT(lb_send_one(&lb, 20) == -EAGAIN && nsent == 10);
    /* The notice that pipe 2 is writable puts it back. */
    fakes[2].send_rc = 0;
    fakes[2].room = true;
    fm_lb_writable(&lb, pipes[2]);
    fm_lb_writable(&lb, pipes[2]); /* a second notice changes nothing */
    EXPECT(lb.count == 1 && lb.full_count == 4 && fm_lb_best_prio(&lb) == 4);
    EXPECT(lb_send_one(&lb, 21) == 0 && sent_to[10] == 2);
    /* With nothing writable left, a send asks the full pipes for room
       (the notice may not have come yet) and uses the best one that has. */
    fakes[2].send_rc = FM_PIPE_FULL;
    fakes[2].room = false;
    EXPECT(lb_send_one(&lb, 22) == 0 && sent_to[11] == 2);
    fakes[3].send_rc = 0;
    fakes[3].room = true;
    fakes[4].send_rc = 0;
    fakes[4].room = true;
    EXPECT(lb_send_one(&lb, 23) == 0 && sent_to[12] == 3); /* prio 1 beats 9 */
    EXPECT(lb.count == 2 && lb.full_count == 3);
    /* Removal of a full pipe and of a writable one. */
    fm_lb_rm(&lb, pipes[0]);
    fm_lb_rm(&lb, pipes[4]);
    EXPECT(lb.count == 1 && lb.full_count == 2);
    for (int i = 0; i < 5; i++)
        fm_lb_rm(&lb, pipes[i]);
    EXPECT(lb.count == 0 && lb.full_count == 0);
    fm_sock_unlock(&sock); /* the protocol's calls hold it */
    drop_pipes(5);
}

/* Fan-out: a copy to every pipe that can take one, the skipped id apart;
   a pipe that fills on its copy leaves the list while the walk goes on
   and still gets that copy; full pipes without room miss it. */
static void test_lb_send_all(void)
{
    sock_setup();
    static const int sndprio[] = {1, 2, 1, 2, 3, 1};
    make_pipes(NPIPES, sndprio, NULL);
    struct fm_lb lb;
    fm_lb_init(&lb);
    fm_sock_lock(&sock);
    for (int i = 0; i < NPIPES; i++)
        fm_lb_add(&lb, pipes[i]);
    /* Every other pipe fills on this copy. */
    for (int i = 0; i < NPIPES; i += 2)
        fakes[i].send_rc = FM_PIPE_FULL, fakes[i].room = false;
    struct fm_msg m = numbered(1);
    fm_lb_send_all(&lb, &m, pipes[3]->id);
    for (int i = 0; i < NPIPES; i++)
        EXPECT(fakes[i].got == (i == 3 ? 0 : 1) && (i == 3 || fakes[i].last == 1));
    EXPECT(lb.count == 3 && lb.full_count == 3);
    /* Next: the full ones miss it, the rest get it. */
    m = numbered(2);
    fm_lb_send_all(&lb, &m, 0);
    for (int i = 0; i < NPIPES; i++)
        EXPECT(fakes[i].got == (i % 2 ? (i == 3 ? 1 : 2) : 1));
    /* One regains room without a notice: it is asked, and served again. */
    fakes[4].send_rc = 0;
    fakes[4].room = true;
    m = numbered(3);
    fm_lb_send_all(&lb, &m, 0);
    EXPECT(fakes[4].got == 2 && fakes[4].last == 3);
    EXPECT(fakes[0].got == 1 && fakes[2].got == 1);
    EXPECT(lb.count == 4 && lb.full_count == 2);
    /* Everything full: the message is freed all the same (ASan checks). */
    for (int i = 0; i < NPIPES; i++)
        fakes[i].send_rc = FM_PIPE_FULL, fakes[i].room = false;
    m = numbered(4);
    fm_lb_send_all(&lb, &m, 0);
    m = numbered(5);
    fm_lb_send_all(&lb, &m, 0);
    EXPECT(lb.count == 0 && lb.full_count == NPIPES);
    for (int i = 0; i < NPIPES; i++)
        EXPECT(fakes[i].last == 4 || i == 0 || i == 2);
    for (int i = 0; i < NPIPES; i++)
        fm_lb_rm(&lb, pipes[i]);
    fm_sock_unlock(&sock); /* the protocol's calls hold it */
    drop_pipes(NPIPES);
}

/* One send as sock_send makes it, `at` ticks into the test, the socket's
   previous send having ended just before (streaming) or long before. */
static bool send_at(int i, uint64_t at, bool streaming)
{
    sock.send_ticks = at;
    sock.burst = streaming;
    struct fm_msg m = numbered((uint32_t) at);
    EXPECT(fm_pipe_send(pipes[i], &m) == 0);
    sock.burst = false;
    return fakes[i].burst;
}

static void test_pipe_burst(void)
{
    sock_setup();
    make_pipes(NPIPES, NULL, NULL);
    fm_sock_lock(&sock);
    const uint64_t us = FM_TICKS_PER_US, start = 1000000 * us;
    /* The first message to a pipe is never part of a stream; the next one,
       close behind it, is; one after a pause is not. */
    EXPECT(!send_at(0, start, true));
    EXPECT(send_at(0, start + 1 * us, true));
    EXPECT(send_at(0, start + 2 * us, true));
    EXPECT(!send_at(0, start + 2 * us + FM_PIPE_BURST_US * us, true));
    /* Close behind on its pipe, but the socket's previous send ended long
       ago (a lone message): not a stream. */
    EXPECT(!send_at(0, start + 2 * us + FM_PIPE_BURST_US * us + us, false));
    /* A REP server's replies: back to back for the socket, each to another
       pipe that had its last one a round earlier: none is a stream. */
    uint64_t t = 2 * start;
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < NPIPES; i++, t += 5 * us)
            EXPECT(!send_at(i, t, true));
    /* A PUSH streaming round robin over the pipes: each had one within the
       window: all but each pipe's first are. */
    t = 3 * start;
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < NPIPES; i++, t += us / 2)
            EXPECT(send_at(i, t, true) == (round > 0));
    fm_sock_unlock(&sock);
    drop_pipes(NPIPES);
}

int main(void)
{
    test_fq_round_robin();
    test_fq_priorities();
    test_fq_detached();
    test_fq_inq_space();
    test_lb_round_robin();
    test_lb_priorities_and_full();
    test_lb_send_all();
    test_pipe_burst();
    UNIT_DONE();
}
