/* pubsub.c: the PUB and SUB protocols and the SUB side's subscription
   trie. PUB hands every message to each peer that can take it now (a full
   peer misses it, PUB never blocks); SUB keeps the messages whose body
   starts with a subscribed prefix and drops the rest as they arrive, so
   that RCVFD is readable only when a wanted message is waiting. Raw sockets
   behave the same, as in the stock library (raw SUB still filters). */
#include "../core/core.h"

#include <errno.h>
#include <nanomsg/pubsub.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ PUB
   The peers are the members of an fm_lb, and fm_lb_send_all gives each
   one that can take the message now a copy sharing its body. */
struct pub {
    struct fm_sock *sock;
    struct fm_lb out;
};

static int pub_init(void *st, struct fm_sock *s, bool raw)
{
    struct pub *p = st;
    (void) raw;
    p->sock = s;
    fm_lb_init(&p->out);
    return 0;
}

static void pub_term(void *st) { (void) st; }

static int pub_pipe_add(void *st, struct fm_pipe *pipe)
{
    struct pub *p = st;
    fm_lb_add(&p->out, pipe);
    return 0;
}

static void pub_pipe_rm(void *st, struct fm_pipe *pipe)
{
    struct pub *p = st;
    fm_lb_rm(&p->out, pipe);
}

static void pub_pipe_writable(void *st, struct fm_pipe *pipe)
{
    struct pub *p = st;
    fm_lb_writable(&p->out, pipe);
}

static int pub_send(void *st, struct fm_msg *msg)
{
    struct pub *p = st;
    int rc = fm_msg_hdr_to_body(msg);
    if (rc)
        return rc;
    fm_lb_send_all(&p->out, msg, 0);
    return 0;
}

static unsigned pub_events(void *st)
{
    (void) st;
    return FM_CAN_SEND;
}

const struct fm_proto fm_pub = {
    .type = NN_PUB,
    .peer = NN_SUB,
    .name = "pub",
    .flags = FM_PROTO_NORECV,
    .state_size = sizeof(struct pub),
    .init = pub_init,
    .term = pub_term,
    .pipe_add = pub_pipe_add,
    .pipe_rm = pub_pipe_rm,
    .pipe_writable = pub_pipe_writable,
    .send = pub_send,
    .events = pub_events,
};

/* ----------------------------------------------------------------- trie
   A radix tree of subscribed prefixes. Each node carries a label (the bytes
   on the edge from its parent) and a count of the subscriptions that end
   exactly there; subscribing the same prefix twice needs two unsubscribes,
   as in the stock library. Children are kept sorted by their first byte
   and found by binary search, so matching a message costs at most one
   search of at most 256 entries per node on the path: it grows with the
   topic's length, never with the number of subscriptions.

   Shape kept by every change: a node other than the root either ends a
   subscription or has at least two children (a split creates the branching
   node, an unsubscribe merges what became a plain link), so the tree never
   holds more than about twice as many nodes as distinct subscriptions. */
struct trie_node;

struct trie_edge {
    uint8_t first; /* == node->label[0] */
    struct trie_node *node;
};

struct trie_node {
    uint32_t refs;            /* subscriptions ending here */
    uint32_t nkids, capkids;
    struct trie_edge *kids;   /* sorted by first */
    struct trie_node *link;   /* scratch, used only while freeing */
    size_t len;
    uint8_t label[];
};

static struct trie_node *node_new(const uint8_t *label, size_t len)
{
    if (len > SIZE_MAX - sizeof(struct trie_node))
        return NULL;
    struct trie_node *n = malloc(sizeof(*n) + len);
    if (!n)
        return NULL;
    n->refs = 0;
    n->nkids = n->capkids = 0;
    n->kids = NULL;
    n->link = NULL;
    n->len = len;
    if (len)
        memcpy(n->label, label, len);
    return n;
}

/* Index of the child whose label starts with b, or where it would go. */
static uint32_t kid_search(const struct trie_node *n, uint8_t b, bool *found)
{
    uint32_t lo = 0, hi = n->nkids;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (n->kids[mid].first < b)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < n->nkids && n->kids[lo].first == b;
    return lo;
}

static int kid_insert(struct trie_node *n, uint32_t at, struct trie_node *kid)
{
    if (n->nkids == n->capkids) {
        uint32_t cap = n->capkids ? n->capkids * 2 : 2;
        if (cap > 256)
            cap = 256;
        struct trie_edge *k = realloc(n->kids, cap * sizeof(*k));
        if (!k)
            return -ENOMEM;
        n->kids = k;
        n->capkids = cap;
    }
    memmove(&n->kids[at + 1], &n->kids[at], (n->nkids - at) * sizeof(*n->kids));
    n->kids[at] = (struct trie_edge){kid->label[0], kid};
    n->nkids++;
    return 0;
}

static void kid_remove(struct trie_node *n, uint32_t at)
{
    memmove(&n->kids[at], &n->kids[at + 1], (n->nkids - at - 1) * sizeof(*n->kids));
    n->nkids--;
    if (n->nkids == 0) {
        free(n->kids);
        n->kids = NULL;
        n->capkids = 0;
    }
}

static size_t common_prefix(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* 0, or -ENOMEM with the trie unchanged. */
static int trie_subscribe(struct trie_node *root, const uint8_t *key, size_t len)
{
    struct trie_node *n = root;
    size_t i = 0;
    for (;;) {
        if (i == len) {
            if (n->refs == UINT32_MAX)
                return -ENOMEM;
            n->refs++;
            return 0;
        }
        bool found;
        uint32_t at = kid_search(n, key[i], &found);
        if (!found) {
            struct trie_node *leaf = node_new(key + i, len - i);
            if (!leaf)
                return -ENOMEM;
            leaf->refs = 1;
            if (kid_insert(n, at, leaf) != 0) {
                free(leaf);
                return -ENOMEM;
            }
            return 0;
        }
        struct trie_node *c = n->kids[at].node;
        size_t m = common_prefix(c->label, c->len, key + i, len - i);
        if (m < c->len) {
            /* The key leaves c's label part way: split c at m. Both
               allocations come first so that a failure changes nothing. */
            struct trie_node *mid = node_new(c->label, m);
            struct trie_node *leaf = i + m < len ? node_new(key + i + m, len - i - m) : NULL;
            struct trie_edge *kids = malloc(2 * sizeof(*kids));
            if (!mid || !kids || (i + m < len && !leaf)) {
                free(mid);
                free(leaf);
                free(kids);
                return -ENOMEM;
            }
            memmove(c->label, c->label + m, c->len - m);
            c->len -= m;
            mid->kids = kids;
            mid->capkids = 2;
            mid->kids[0] = (struct trie_edge){c->label[0], c};
            mid->nkids = 1;
            if (leaf) {
                leaf->refs = 1;
                bool dup;
                uint32_t pos = kid_search(mid, leaf->label[0], &dup);
                kid_insert(mid, pos, leaf); /* room for two was reserved */
            } else {
                mid->refs = 1;
            }
            n->kids[at].node = mid;
            return 0;
        }
        n = c;
        i += m;
    }
}

/* Fold a subscription-less node with a single child into that child: the
   child's label grows by the parent's in front. Returns the node that now
   stands in the parent's place (the parent itself when out of memory, which
   only leaves the tree less compact). */
static struct trie_node *merge_chain(struct trie_node *p)
{
    struct trie_node *c = p->kids[0].node;
    if (c->len > SIZE_MAX - sizeof(*c) - p->len)
        return p;
    struct trie_node *m = realloc(c, sizeof(*c) + p->len + c->len);
    if (!m)
        return p;
    memmove(m->label + p->len, m->label, m->len);
    memcpy(m->label, p->label, p->len);
    m->len += p->len;
    free(p->kids);
    free(p);
    return m;
}

/* 0, or -EINVAL when that exact prefix is not subscribed. */
static int trie_unsubscribe(struct trie_node *root, const uint8_t *key, size_t len)
{
    /* Remember the last two steps down: removing a node may leave its
       parent a chain link to merge, which needs the grandparent's slot. */
    struct trie_node *n = root, *parent = NULL, *grand = NULL;
    uint32_t at_parent = 0, at_grand = 0;
    size_t i = 0;
    while (i < len) {
        bool found;
        uint32_t at = kid_search(n, key[i], &found);
        if (!found)
            return -EINVAL;
        struct trie_node *c = n->kids[at].node;
        if (c->len > len - i || memcmp(c->label, key + i, c->len) != 0)
            return -EINVAL;
        grand = parent;
        at_grand = at_parent;
        parent = n;
        at_parent = at;
        n = c;
        i += c->len;
    }
    if (n->refs == 0)
        return -EINVAL;
    if (--n->refs || n == root)
        return 0;
    if (n->nkids == 1) {
        parent->kids[at_parent].node = merge_chain(n);
    } else if (n->nkids == 0) {
        kid_remove(parent, at_parent);
        free(n);
        if (parent != root && parent->refs == 0 && parent->nkids == 1)
            grand->kids[at_grand].node = merge_chain(parent);
    }
    return 0;
}

static bool trie_match(const struct trie_node *root, const uint8_t *data, size_t size)
{
    const struct trie_node *n = root;
    size_t i = 0;
    for (;;) {
        if (n->refs)
            return true;
        if (i == size)
            return false;
        bool found;
        uint32_t at = kid_search(n, data[i], &found);
        if (!found)
            return false;
        n = n->kids[at].node;
        if (n->len > size - i || memcmp(n->label, data + i, n->len) != 0)
            return false;
        i += n->len;
    }
}

/* Iterative so that a deep tree cannot exhaust the stack: the scratch
   link chains the nodes still being emptied. */
static void trie_free(struct trie_node *root)
{
    struct trie_node *top = root;
    while (top) {
        if (top->nkids) {
            struct trie_node *c = top->kids[--top->nkids].node;
            c->link = top;
            top = c;
            continue;
        }
        struct trie_node *up = top->link;
        free(top->kids);
        free(top);
        top = up;
    }
}

/* ------------------------------------------------------------------ SUB
   One message of lookahead: events() pulls from the fair queue until it
   finds a message that matches (kept in `next`) or the queue is empty,
   dropping the others on the way. So CAN_RECV is never raised for a
   message that nn_recv would throw away. */
struct sub {
    struct fm_sock *sock;
    struct trie_node *root; /* empty label; refs counts "" subscriptions */
    bool has_next;
    struct fm_msg next;
    const struct fm_ep *next_ep; /* the endpoint it came through */
};

static int sub_init(void *st, struct fm_sock *s, bool raw)
{
    struct sub *p = st;
    (void) raw;
    p->sock = s;
    p->root = node_new(NULL, 0);
    if (!p->root)
        return -ENOMEM;
    p->has_next = false;
    fm_msg_init_empty(&p->next);
    return 0;
}

static void sub_term(void *st)
{
    struct sub *p = st;
    if (p->has_next)
        fm_msg_term(&p->next);
    p->has_next = false;
    trie_free(p->root);
    p->root = NULL;
}

static int sub_pipe_add(void *st, struct fm_pipe *pipe)
{
    (void) st;
    (void) pipe;
    return 0;
}

static void sub_pipe_rm(void *st, struct fm_pipe *pipe)
{
    (void) st;
    (void) pipe;
}

static bool sub_wanted(struct sub *p, const struct fm_msg *m)
{
    return trie_match(p->root, fm_msg_body(m), fm_msg_size(m));
}

static bool sub_fill(struct sub *p)
{
    if (p->has_next)
        return true;
    struct fm_msg m;
    while (fm_fq_recv(p->sock, &m, NULL) == 0) {
        if (sub_wanted(p, &m)) {
            fm_msg_move(&p->next, &m);
            p->next_ep = fm_fq_last_ep(p->sock);
            p->has_next = true;
            return true;
        }
        fm_msg_term(&m);
    }
    return false;
}

static int sub_recv(void *st, struct fm_msg *msg)
{
    struct sub *p = st;
    if (!sub_fill(p))
        return -EAGAIN;
    fm_msg_move(msg, &p->next);
    p->has_next = false;
    return 0;
}

static unsigned sub_events(void *st)
{
    struct sub *p = st;
    return sub_fill(p) ? FM_CAN_RECV : 0;
}

static int sub_setopt(void *st, int option, const void *val, size_t len)
{
    struct sub *p = st;
    if (option != NN_SUB_SUBSCRIBE && option != NN_SUB_UNSUBSCRIBE)
        return -ENOPROTOOPT;
    if (!val && len)
        return -EFAULT;
    if (option == NN_SUB_SUBSCRIBE)
        return trie_subscribe(p->root, val, len);
    int rc = trie_unsubscribe(p->root, val, len);
    /* The message held back may have matched only what just went away. */
    if (rc == 0 && p->has_next && !sub_wanted(p, &p->next)) {
        fm_msg_term(&p->next);
        p->has_next = false;
    }
    return rc;
}

static void sub_ep_discard(void *st, const struct fm_ep *ep)
{
    struct sub *p = st;
    if (p->has_next && p->next_ep == ep) {
        fm_msg_term(&p->next);
        p->has_next = false;
    }
}

const struct fm_proto fm_sub = {
    .type = NN_SUB,
    .peer = NN_PUB,
    .name = "sub",
    .flags = FM_PROTO_NOSEND,
    .state_size = sizeof(struct sub),
    .init = sub_init,
    .term = sub_term,
    .pipe_add = sub_pipe_add,
    .pipe_rm = sub_pipe_rm,
    .recv = sub_recv,
    .events = sub_events,
    .setopt = sub_setopt,
    .ep_discard = sub_ep_discard,
};
