/* unit_msgq.c: the by-value message queue of src/core/msg.c (struct
   fm_msgq, the inbound queue of every pipe) on its own, linked from the
   library's objects: first in, first out across wrap-around of the ring,
   growth from empty, growth while wrapped, the byte count of headers and
   bodies, peek, push moving the message out of the caller's hands, and
   term dropping what is left (the sanitizer builds see a leak). */
#include "unit.h"
#include "core.h"

#include <stdlib.h>
#include <string.h>

/* Message number i: a body holding i, and a header word i + 1 on every
   third, so the queue carries headers too. */
static void make(struct fm_msg *m, uint32_t i)
{
    if (fm_msg_init_copy(m, &i, sizeof(i)) != 0)
        abort();
    if (i % 3 == 0 && fm_msg_hdr_push_u32(m, i + 1) != 0)
        abort();
}

static size_t bytes_of(uint32_t i) { return sizeof(i) + (i % 3 == 0 ? 4 : 0); }

/* Pop one; true when it is message number i, whole. */
static bool pop_is(struct fm_msgq *q, uint32_t i)
{
    struct fm_msg m;
    if (!fm_msgq_pop(q, &m))
        return false;
    uint32_t got;
    bool ok = fm_msg_size(&m) == sizeof(got);
    if (ok) {
        memcpy(&got, fm_msg_body(&m), sizeof(got));
        ok = got == i && fm_msg_hdr_len(&m) == (i % 3 == 0 ? 4u : 0u);
    }
    if (ok && i % 3 == 0)
        ok = fm_get_u32(fm_msg_hdr(&m)) == i + 1;
    fm_msg_term(&m);
    if (!ok)
        fprintf(stderr, "popped message is not number %u\n", i);
    return ok;
}

static void test_empty(void)
{
    struct fm_msgq q;
    fm_msgq_init(&q);
    struct fm_msg m;
    EXPECT(!fm_msgq_pop(&q, &m));
    EXPECT(fm_msgq_peek(&q) == NULL);
    EXPECT(q.count == 0 && q.bytes == 0);
    fm_msgq_term(&q);
    fm_msgq_term(&q); /* a terminated queue is an empty one */
    EXPECT(q.count == 0 && q.ring == NULL);
}

static void test_order_and_moves(void)
{
    struct fm_msgq q;
    fm_msgq_init(&q);
    struct fm_msg m;
    make(&m, 7);
    EXPECT(fm_msgq_push(&q, &m) == 0);
    /* The queue owns it now; the caller's struct is an empty message. */
    EXPECT(m.body == NULL && fm_msg_size(&m) == 0 && fm_msg_hdr_len(&m) == 0);
    fm_msg_term(&m); /* harmless */
    EXPECT(q.count == 1 && q.bytes == bytes_of(7));
    struct fm_msg *head = fm_msgq_peek(&q);
    EXPECT(head && fm_msg_size(head) == 4);
    EXPECT(q.count == 1); /* peek takes nothing */
    EXPECT(pop_is(&q, 7));
    EXPECT(q.count == 0 && q.bytes == 0);
    fm_msgq_term(&q);
}

/* Push and pop so that the ring's head goes round it many times without
   growing: order holds across the wrap. */
static void test_wrap_around(void)
{
    struct fm_msgq q;
    fm_msgq_init(&q);
    uint32_t in = 0, out = 0;
    struct fm_msg m;
    for (int i = 0; i < 10; i++) {
        make(&m, in++);
        EXPECT(fm_msgq_push(&q, &m) == 0);
    }
    size_t cap = q.cap;
    EXPECT(cap >= 10 && (cap & (cap - 1)) == 0);
    for (int round = 0; round < 1000; round++) {
        make(&m, in++);
        EXPECT(fm_msgq_push(&q, &m) == 0);
        EXPECT(pop_is(&q, out++));
    }
    EXPECT(q.cap == cap); /* never more than 11 queued: no growth */
    EXPECT(q.count == 10);
    size_t bytes = 0;
    for (uint32_t i = out; i < in; i++)
        bytes += bytes_of(i);
    EXPECT(q.bytes == bytes);
    while (out < in)
        EXPECT(pop_is(&q, out++));
    EXPECT(q.count == 0 && q.bytes == 0);
    fm_msgq_term(&q);
}

/* Growth at every head position of a full ring: the messages are laid out
   again in order, wherever the ring was cut. */
static void test_growth_while_wrapped(void)
{
    for (size_t shift = 0; shift < 16; shift++) {
        struct fm_msgq q;
        fm_msgq_init(&q);
        uint32_t in = 0, out = 0;
        struct fm_msg m;
        /* Fill to 16, then move the head round by shift. */
        for (int i = 0; i < 16; i++) {
            make(&m, in++);
            EXPECT(fm_msgq_push(&q, &m) == 0);
        }
        size_t cap = q.cap;
        for (size_t i = 0; i < shift; i++) {
            EXPECT(pop_is(&q, out++));
            make(&m, in++);
            EXPECT(fm_msgq_push(&q, &m) == 0);
        }
        EXPECT(q.cap == cap && q.count == cap); /* full, head at shift */
        /* Grow twice over. */
        for (size_t i = 0; i < 3 * cap; i++) {
            make(&m, in++);
            EXPECT(fm_msgq_push(&q, &m) == 0);
        }
        EXPECT(q.cap >= 4 * cap && (q.cap & (q.cap - 1)) == 0);
        EXPECT(q.count == in - out);
        int bad = 0;
        while (out < in)
            bad += !pop_is(&q, out++);
        EXPECT(bad == 0);
        EXPECT(q.count == 0 && q.bytes == 0);
        fm_msgq_term(&q);
    }
}

/* Many messages in, then term: it drops every one (no leak under ASan),
   and a body shared with a message outside the queue survives it. */
static void test_term_drops(void)
{
    struct fm_msgq q;
    fm_msgq_init(&q);
    struct fm_msg m, keep;
    for (uint32_t i = 0; i < 1000; i++) {
        make(&m, i);
        EXPECT(fm_msgq_push(&q, &m) == 0);
    }
    make(&m, 5000);
    EXPECT(fm_msg_dup(&keep, &m) == 0);
    EXPECT(fm_msgq_push(&q, &m) == 0);
    EXPECT(q.count == 1001);
    fm_msgq_term(&q);
    EXPECT(q.count == 0 && q.ring == NULL && q.bytes == 0);
    uint32_t v;
    memcpy(&v, fm_msg_body(&keep), sizeof(v));
    EXPECT(fm_msg_size(&keep) == 4 && v == 5000);
    fm_msg_term(&keep);
}

/* Empty and large bodies count what they hold. */
static void test_bytes(void)
{
    struct fm_msgq q;
    fm_msgq_init(&q);
    struct fm_msg m;
    fm_msg_init_empty(&m);
    EXPECT(fm_msgq_push(&q, &m) == 0);
    EXPECT(q.count == 1 && q.bytes == 0);
    EXPECT(fm_msg_init(&m, 100000) == 0);
    EXPECT(fm_msg_hdr_set(&m, "0123456789abcdef0123456789abcdef0123", 36) == 0); /* off line */
    EXPECT(fm_msgq_push(&q, &m) == 0);
    EXPECT(q.count == 2 && q.bytes == 100036);
    struct fm_msg a, b;
    EXPECT(fm_msgq_pop(&q, &a) && fm_msg_size(&a) == 0);
    EXPECT(q.bytes == 100036);
    EXPECT(fm_msgq_pop(&q, &b) && fm_msg_size(&b) == 100000 && fm_msg_hdr_len(&b) == 36);
    EXPECT(memcmp(fm_msg_hdr(&b), "0123456789abcdef0123456789abcdef0123", 36) == 0);
    EXPECT(q.bytes == 0);
    fm_msg_term(&a);
    fm_msg_term(&b);
    fm_msgq_term(&q);
}

int main(void)
{
    test_empty();
    test_order_and_moves();
    test_wrap_around();
    test_growth_while_wrapped();
    test_term_drops();
    test_bytes();
    UNIT_DONE();
}
