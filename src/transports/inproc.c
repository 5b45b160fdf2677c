/* inproc.c: the in-process transport. A connection is a pair of pipes whose
   send hands the message struct straight into the other pipe's inbound
   queue: no copy, no thread, no system call beyond the receiver's wake-up.
   Connecting before the address is bound is allowed; the connection forms
   when a binder appears, and forms again after a binder is replaced. */
#include "../core/core.h"

#include <errno.h>
#include <nanomsg/inproc.h>
#include <stdlib.h>
#include <string.h>

struct inproc_ep {
    struct fm_ep *ep;
    const char *name;
    struct fm_list node;  /* binders or connectors */
    struct fm_list conns; /* conn.ep_node[side] */
};

struct inproc_conn {
    /* Serialises conn_break: a second caller waits until the first is done,
       so neither socket can be freed while its pipe is still being
       detached. */
    pthread_mutex_t break_lock;
    /* A leaf lock guarding `broken` for inproc_inq_space's peer lookup. */
    pthread_mutex_t peer_lock;
    bool broken;
    atomic_int refs;            /* one per live pipe */
    struct fm_pipe *pipe[2];    /* [0] connecting side, [1] binding side */
    struct inproc_ep *ep[2];
    struct fm_list ep_node[2];
    bool counted; /* in the connection statistics (set once, before use) */
};

/* Registry of names; also guards every inproc_ep's conns list. Taken before
   any socket lock, never under one. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fm_list binders = {&binders, &binders};
static struct fm_list connectors = {&connectors, &connectors};

static int side_of(struct inproc_conn *c, struct fm_pipe *p) { return c->pipe[1] == p; }

static int inproc_send(struct fm_pipe *p, struct fm_msg *msg)
{
    /* The caller holds p's socket lock and p is attached, so the connection
       cannot have been broken past detaching p: the peer is alive. */
    struct inproc_conn *c = p->tdata;
    int rc = fm_pipe_deliver(c->pipe[!side_of(c, p)], msg);
    return rc == -EPIPE ? -ECONNRESET : rc;
}

/* Room unless the peer's queue told us to stop; that flag is cleared by
   the receiver itself under the queue lock, so it is never stale. */
static bool inproc_has_room(struct fm_pipe *p)
{
    struct inproc_conn *c = p->tdata;
    struct fm_pipe *peer = c->pipe[!side_of(c, p)];
    pthread_mutex_lock(&peer->inq_lock);
    bool room = !peer->inq_full && !peer->inq_closed;
    pthread_mutex_unlock(&peer->inq_lock);
    return room;
}

static void inproc_inq_space(struct fm_pipe *p)
{
    struct inproc_conn *c = p->tdata;
    pthread_mutex_lock(&c->peer_lock);
    struct fm_pipe *peer = c->broken ? NULL : c->pipe[!side_of(c, p)];
    if (peer)
        fm_pipe_ref(peer);
    pthread_mutex_unlock(&c->peer_lock);
    if (peer) {
        fm_pipe_writable(peer);
        fm_pipe_unref(peer);
    }
}

static void conn_unref(struct inproc_conn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1) {
        pthread_mutex_destroy(&c->break_lock);
        pthread_mutex_destroy(&c->peer_lock);
        free(c);
    }
}

static void inproc_free(struct fm_pipe *p) { conn_unref(p->tdata); }

/* Tear the connection down once; both sockets forget their pipe. Messages
   already queued stay receivable. Called with no lock held, by a caller that
   holds a reference on c (its own pipe's, or one it took). */
static void conn_break(struct inproc_conn *c)
{
    pthread_mutex_lock(&registry_lock);
    for (int i = 0; i < 2; i++)
        if (fm_list_linked(&c->ep_node[i]))
            fm_list_remove(&c->ep_node[i]);
    pthread_mutex_unlock(&registry_lock);

    pthread_mutex_lock(&c->break_lock);
    pthread_mutex_lock(&c->peer_lock);
    bool was = c->broken;
    c->broken = true;
    pthread_mutex_unlock(&c->peer_lock);
    if (!was) {
        for (int i = 0; i < 2; i++) {
            fm_pipe_detach(c->pipe[i]);
            pthread_mutex_lock(&c->pipe[i]->inq_lock);
            c->pipe[i]->inq_closed = true;
            pthread_mutex_unlock(&c->pipe[i]->inq_lock);
        }
        for (int i = 0; i < 2; i++) {
            if (c->counted)
                fm_stat_add(c->pipe[i]->sock, FM_STAT_CURRENT_CONNECTIONS, -1);
            fm_pipe_unref(c->pipe[i]);
        }
    }
    pthread_mutex_unlock(&c->break_lock);
}

static void inproc_close(struct fm_pipe *p) { conn_break(p->tdata); }

static const struct fm_pipe_ops inproc_pipe_ops = {
    .send = inproc_send,
    .close = inproc_close,
    .inq_space = inproc_inq_space,
    .free = inproc_free,
    .has_room = inproc_has_room,
};

/* Connect two endpoints. Called with registry_lock held, which it never
   drops (callers walk the registry's lists). A refused connection is
   returned, with a reference for the caller, to be broken with conn_break
   once the lock is released; NULL otherwise. */
static struct inproc_conn *connect_pair(struct inproc_ep *cep, struct inproc_ep *bep,
                                        int ctype, int btype)
{
    struct inproc_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pthread_mutex_init(&c->break_lock, NULL);
    pthread_mutex_init(&c->peer_lock, NULL);
    atomic_init(&c->refs, 2);
    c->ep[0] = cep;
    c->ep[1] = bep;
    c->pipe[0] = fm_pipe_create(cep->ep, &inproc_pipe_ops, c);
    c->pipe[1] = fm_pipe_create(bep->ep, &inproc_pipe_ops, c);
    if (!c->pipe[0] || !c->pipe[1]) {
        for (int i = 0; i < 2; i++)
            if (c->pipe[i])
                fm_pipe_unref(c->pipe[i]); /* runs inproc_free */
            else
                conn_unref(c);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        fm_list_init(&c->ep_node[i]);
        fm_list_insert_tail(&c->ep[i]->conns, &c->ep_node[i]);
    }
    /* Offer each pipe to its socket; a refusal (wrong peer type, a PAIR
       that already has its peer) undoes the whole connection. */
    if (fm_pipe_attach(c->pipe[1], ctype) != 0 || fm_pipe_attach(c->pipe[0], btype) != 0) {
        atomic_fetch_add(&c->refs, 1);
        return c;
    }
    /* As stock counts inproc: established on the connecting side, current
       on both. */
    c->counted = true;
    fm_stat_add(cep->ep->sock, FM_STAT_ESTABLISHED, 1);
    fm_stat_add(cep->ep->sock, FM_STAT_CURRENT_CONNECTIONS, 1);
    fm_stat_add(bep->ep->sock, FM_STAT_CURRENT_CONNECTIONS, 1);
    return NULL;
}

static void break_refused(struct inproc_conn *c)
{
    if (c) {
        conn_break(c);
        conn_unref(c);
    }
}

static int sock_type(struct fm_ep *ep) { return fm_sock_type(ep->sock); }

static const char *name_of(struct fm_ep *ep) { return ep->addr + strlen("inproc://"); }

static struct inproc_ep *ep_new(struct fm_ep *ep)
{
    struct inproc_ep *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->ep = ep;
    e->name = name_of(ep);
    fm_list_init(&e->node);
    fm_list_init(&e->conns);
    ep->tdata = e;
    return e;
}

static int inproc_bind(struct fm_ep *ep)
{
    struct inproc_ep *e = ep_new(ep);
    if (!e)
        return -ENOMEM;
    pthread_mutex_lock(&registry_lock);
    for (struct fm_list *n = binders.next; n != &binders; n = n->next)
        if (strcmp(FM_CONTAINER(n, struct inproc_ep, node)->name, e->name) == 0) {
            pthread_mutex_unlock(&registry_lock);
            free(e);
            ep->tdata = NULL;
            return -EADDRINUSE;
        }
    fm_list_insert_tail(&binders, &e->node);
    int btype = sock_type(ep);
    struct inproc_conn **refused = NULL;
    size_t nrefused = 0, cap = 0;
    for (struct fm_list *n = connectors.next; n != &connectors; n = n->next) {
        struct inproc_ep *c = FM_CONTAINER(n, struct inproc_ep, node);
        if (strcmp(c->name, e->name) != 0 || !fm_list_empty(&c->conns))
            continue;
        struct inproc_conn *r = connect_pair(c, e, sock_type(c->ep), btype);
        if (!r)
            continue;
        if (nrefused == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct inproc_conn **grown = realloc(refused, ncap * sizeof(*grown));
            if (!grown) {
                /* Out of memory: break this one now; the connectors not yet
                   visited stay pending until the next bind. */
                pthread_mutex_unlock(&registry_lock);
                break_refused(r);
                pthread_mutex_lock(&registry_lock);
                break;
            }
            refused = grown;
            cap = ncap;
        }
        refused[nrefused++] = r;
    }
    pthread_mutex_unlock(&registry_lock);
    for (size_t i = 0; i < nrefused; i++)
        break_refused(refused[i]);
    free(refused);
    return 0;
}

static int inproc_connect(struct fm_ep *ep)
{
    struct inproc_ep *e = ep_new(ep);
    if (!e)
        return -ENOMEM;
    pthread_mutex_lock(&registry_lock);
    fm_list_insert_tail(&connectors, &e->node);
    struct inproc_conn *refused = NULL;
    for (struct fm_list *n = binders.next; n != &binders; n = n->next) {
        struct inproc_ep *b = FM_CONTAINER(n, struct inproc_ep, node);
        if (strcmp(b->name, e->name) == 0) {
            refused = connect_pair(e, b, sock_type(ep), sock_type(b->ep));
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    break_refused(refused);
    return 0;
}

static void inproc_ep_close(struct fm_ep *ep)
{
    struct inproc_ep *e = ep->tdata;
    if (!e)
        return;
    pthread_mutex_lock(&registry_lock);
    fm_list_remove(&e->node);
    while (!fm_list_empty(&e->conns)) {
        struct fm_list *n = e->conns.next;
        struct inproc_conn *c = FM_CONTAINER(n, struct inproc_conn, ep_node[0]);
        if (c->ep[0] != e)
            c = FM_CONTAINER(n, struct inproc_conn, ep_node[1]);
        /* Unlink here so the loop advances even if the break is under way in
           another thread; the conn lives on through its pipes' references. */
        fm_list_remove(n);
        atomic_fetch_add(&c->refs, 1);
        pthread_mutex_unlock(&registry_lock);
        conn_break(c);
        conn_unref(c);
        pthread_mutex_lock(&registry_lock);
    }
    pthread_mutex_unlock(&registry_lock);
    free(e);
    ep->tdata = NULL;
}

const struct fm_transport fm_inproc = {
    .scheme = "inproc",
    .level = NN_INPROC,
    .bind = inproc_bind,
    .connect = inproc_connect,
    .close = inproc_ep_close,
};
