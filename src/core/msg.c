/* msg.c: message chunks (the buffers nn_allocmsg hands out), messages with
   their separate protocol header, and the by-value message queue. */
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FM_CHUNK_MAGIC 0x6d66636bu /* "mfck" */

/* Layout: [struct fm_chunk][...][back pointer][data ...]. The user sees only
   data; the back pointer just before it leads home from any data address,
   also after fm_msg_body_trim moved data forward. */
struct fm_chunk {
    atomic_uint refs;
    uint32_t magic;
    size_t size;
    size_t capacity; /* bytes available from data to the end */
    uint8_t *data;
    size_t alloc;    /* bytes allocated after the head */
    struct fm_slab *slab; /* carved out of this slab, or NULL: malloc'd */
};

/* Small copied bodies (nn_send's copy, a stream reader's message) are
   carved out of the calling thread's current slab instead of one malloc
   each: they are freed on another thread (the receiver), which glibc's
   per-thread caches handle worst. Each chunk holds a reference on its slab;
   the slab goes when its last chunk and its thread let go. The carving
   thread counts its own chunks without a locked instruction (a sender's
   copy is usually freed on the sender, once staged): only chunks freed by
   other threads, or after the slab was retired, touch refs. */
struct fm_slab {
    atomic_uint refs; /* SLAB_BIAS while current, less the chunks other
                         threads freed; once retired, the chunks still out */
    unsigned local;   /* chunks out as the carving thread counts them */
    size_t used;
};
#define SLAB_BIAS (1u << 30) /* more than a slab has chunks */
#define SLAB_SIZE (32 * 1024)
#define SLAB_HEAD ((sizeof(struct fm_slab) + 15) & ~(size_t) 15)
#define SLAB_MSG_MAX 1024
static void slab_retire(struct fm_slab *s);
static int init_from_slab(struct fm_msg *m, const void *data, size_t size);
static _Thread_local struct fm_slab *thread_slab;
static pthread_key_t slab_key;
static pthread_once_t slab_key_once = PTHREAD_ONCE_INIT;
static void slab_key_done(void *s)
{
    thread_slab = NULL; /* later frees on this thread count in refs */
    slab_retire(s);
}
static void slab_key_create(void) { pthread_key_create(&slab_key, slab_key_done); }

/* Freed large chunks are kept for the next large message: a fresh malloc
   of that size is a fresh mmap (or a heap top trimmed and grown again), and
   touching its pages costs more than the copy into them. Bounded in count
   and bytes; off under AddressSanitizer, which should see every free. */
#define CACHE_MIN (32 * 1024)
#define CACHE_MAX (4 * 1024 * 1024)
#define CACHE_SLOTS 8
#define CACHE_BYTES (16 * 1024 * 1024)
#if defined(__SANITIZE_ADDRESS__)
#define CACHE_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CACHE_ON 0
#endif
#endif
#ifndef CACHE_ON
#define CACHE_ON 1
#endif
static struct {
    pthread_mutex_t lock;
    struct fm_chunk *slot[CACHE_SLOTS];
    int count;
    size_t bytes;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct fm_chunk *cache_take(size_t size)
{
    struct fm_chunk *c = NULL;
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < cache.count; i++)
        if (cache.slot[i]->alloc >= size && cache.slot[i]->alloc / 2 <= size) {
            c = cache.slot[i];
            cache.slot[i] = cache.slot[--cache.count];
            cache.bytes -= c->alloc;
            break;
        }
    pthread_mutex_unlock(&cache.lock);
    return c;
}

/* A kept chunk with room for lo to hi bytes (hi: what the message may
   still grow to), so a body read as it arrives reuses warm memory as one
   allocated whole does. */
static struct fm_chunk *cache_take_range(size_t lo, size_t hi)
{
    struct fm_chunk *c = NULL;
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < cache.count; i++)
        if (cache.slot[i]->alloc >= lo && cache.slot[i]->alloc <= hi) {
            c = cache.slot[i];
            cache.slot[i] = cache.slot[--cache.count];
            cache.bytes -= c->alloc;
            break;
        }
    pthread_mutex_unlock(&cache.lock);
    return c;
}

/* Kept if there is room, or room made by letting smaller chunks go: the
   latest large messages say best what the next ones will need, and a
   cache full of smaller sizes would send every bigger message to fresh
   pages. */
static bool cache_keep(struct fm_chunk *c)
{
    struct fm_chunk *gone[CACHE_SLOTS];
    int ngone = 0;
    bool kept = false;
    pthread_mutex_lock(&cache.lock);
    while (cache.count == CACHE_SLOTS || cache.bytes + c->alloc > CACHE_BYTES) {
        int least = -1;
        for (int i = 0; i < cache.count; i++)
            if (cache.slot[i]->alloc < c->alloc &&
                (least < 0 || cache.slot[i]->alloc < cache.slot[least]->alloc))
                least = i;
        if (least < 0)
            break;
        gone[ngone++] = cache.slot[least];
        cache.bytes -= cache.slot[least]->alloc;
        cache.slot[least] = cache.slot[--cache.count];
    }
    if (cache.count < CACHE_SLOTS && cache.bytes + c->alloc <= CACHE_BYTES) {
        cache.slot[cache.count++] = c;
        cache.bytes += c->alloc;
        kept = true;
    }
    pthread_mutex_unlock(&cache.lock);
    for (int i = 0; i < ngone; i++)
        free(gone[i]);
    return kept;
}

/* Rounded so that buffers keep malloc's 16-byte alignment, as stock's do. */
#define FM_CHUNK_HEAD ((sizeof(struct fm_chunk) + sizeof(void *) + 15) & ~(size_t) 15)
_Static_assert(FM_MSG_OVERHEAD >= sizeof(struct fm_msg) + FM_CHUNK_HEAD,
               "a queued message counts at least what it costs");

static void chunk_set_backptr(struct fm_chunk *c)
{
    memcpy(c->data - sizeof(void *), &c, sizeof(void *));
}

static struct fm_chunk *chunk_ready(struct fm_chunk *c, size_t size);

static struct fm_chunk *chunk_alloc(size_t size)
{
    if (size > SIZE_MAX - FM_CHUNK_HEAD - 16)
        return NULL;
    struct fm_chunk *c = NULL;
    if (CACHE_ON && size >= CACHE_MIN && size <= CACHE_MAX)
        c = cache_take(size);
    if (!c) {
        c = malloc(FM_CHUNK_HEAD + size);
        if (!c)
            return NULL;
        c->alloc = size;
    }
    return chunk_ready(c, size);
}

static struct fm_chunk *chunk_ready(struct fm_chunk *c, size_t size)
{
    c->slab = NULL;
    atomic_init(&c->refs, 1);
    c->magic = FM_CHUNK_MAGIC;
    c->size = size;
    c->capacity = c->alloc;
    c->data = (uint8_t *) c + FM_CHUNK_HEAD;
    chunk_set_backptr(c);
    return c;
}

void *fm_chunk_alloc_user(size_t size)
{
    struct fm_chunk *c = chunk_alloc(size);
    return c ? c->data : NULL;
}

struct fm_chunk *fm_chunk_from_user(void *ptr)
{
    if (!ptr)
        return NULL;
    struct fm_chunk *c;
    memcpy(&c, (uint8_t *) ptr - sizeof(void *), sizeof(void *));
    if (!c || c->magic != FM_CHUNK_MAGIC || c->data != ptr)
        return NULL;
    return c;
}

void fm_chunk_release(struct fm_chunk *c)
{
    /* The last reference needs no locked decrement (nobody else holds one
       to take another): the usual case, one receiver per message. */
    if (atomic_load_explicit(&c->refs, memory_order_acquire) == 1 ||
        atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
        c->magic = 0;
        if (c->slab) {
            struct fm_slab *sl = c->slab;
            if (sl == thread_slab)
                sl->local--; /* the carving thread, the slab current */
            else if (atomic_fetch_sub_explicit(&sl->refs, 1, memory_order_acq_rel) == 1)
                free(sl);
            return;
        }
        if (CACHE_ON && c->alloc >= CACHE_MIN && c->alloc <= CACHE_MAX && cache_keep(c))
            return;
        free(c);
    }
}

/* As stock: a buffer that grows always moves (code written against it
   relies on the new address), one that shrinks stays where it is unless
   another message shares it. */
void *fm_chunk_realloc_user(void *ptr, size_t size)
{
    struct fm_chunk *c = fm_chunk_from_user(ptr);
    if (!c)
        return NULL;
    if (size <= c->size && atomic_load(&c->refs) == 1) {
        c->size = size;
        return c->data;
    }
    struct fm_chunk *n = chunk_alloc(size);
    if (!n)
        return NULL;
    memcpy(n->data, c->data, c->size < size ? c->size : size);
    fm_chunk_release(c);
    return n->data;
}

/* Empty messages have no chunk; their body address is this byte. */
static uint8_t empty_body[1];

void fm_msg_init_empty(struct fm_msg *m)
{
    m->body = NULL;
    m->hdr_heap = NULL;
    m->hdr_len = 0;
    m->hdr_cap = FM_HDR_INLINE;
}

int fm_msg_init(struct fm_msg *m, size_t size)
{
    fm_msg_init_empty(m);
    if (size == 0)
        return 0;
    m->body = chunk_alloc(size);
    return m->body ? 0 : -ENOMEM;
}

int fm_msg_init_copy(struct fm_msg *m, const void *data, size_t size)
{
    if (size && size <= SLAB_MSG_MAX)
        return init_from_slab(m, data, size);
    int rc = fm_msg_init(m, size);
    if (rc == 0 && size)
        memcpy(m->body->data, data, size);
    return rc;
}

/* The carving thread is done with s (a new slab, or the thread ends): its
   own count moves into refs, which then counts the chunks still out. */
static void slab_retire(struct fm_slab *s)
{
    if (!s)
        return;
    unsigned drop = SLAB_BIAS - s->local;
    if (atomic_fetch_sub_explicit(&s->refs, drop, memory_order_acq_rel) == drop)
        free(s);
}

static int init_from_slab(struct fm_msg *m, const void *data, size_t size)
{
    size_t need = FM_CHUNK_HEAD + ((size + 15) & ~(size_t) 15);
    struct fm_slab *s = thread_slab;
    if (!s || s->used + need > SLAB_SIZE) {
        pthread_once(&slab_key_once, slab_key_create);
        thread_slab = NULL;
        slab_retire(s);
        thread_slab = s = malloc(SLAB_HEAD + SLAB_SIZE);
        pthread_setspecific(slab_key, s); /* released when the thread ends */
        if (!s)
            return -ENOMEM;
        atomic_init(&s->refs, SLAB_BIAS);
        s->local = 0;
        s->used = 0;
    }
    struct fm_chunk *c = (struct fm_chunk *) (void *) ((uint8_t *) s + SLAB_HEAD + s->used);
    s->used += need;
    s->local++;
    c->slab = s;
    atomic_init(&c->refs, 1);
    c->magic = FM_CHUNK_MAGIC;
    c->size = size;
    c->capacity = c->alloc = size;
    c->data = (uint8_t *) c + FM_CHUNK_HEAD;
    chunk_set_backptr(c);
    memcpy(c->data, data, size);
    fm_msg_init_empty(m);
    m->body = c;
    return 0;
}

void fm_msg_init_chunk(struct fm_msg *m, struct fm_chunk *c)
{
    fm_msg_init_empty(m);
    m->body = c;
}

void fm_msg_term(struct fm_msg *m)
{
    if (m->body)
        fm_chunk_release(m->body);
    free(m->hdr_heap);
    fm_msg_init_empty(m);
}

void fm_msg_move(struct fm_msg *dst, struct fm_msg *src)
{
    *dst = *src;
    fm_msg_init_empty(src);
}

int fm_msg_dup(struct fm_msg *dst, const struct fm_msg *src)
{
    fm_msg_init_empty(dst);
    if (src->hdr_len) {
        const uint8_t *h = src->hdr_heap ? src->hdr_heap : src->hdr_inline;
        int rc = fm_msg_hdr_set(dst, h, src->hdr_len);
        if (rc)
            return rc;
    }
    if (src->body) {
        atomic_fetch_add_explicit(&src->body->refs, 1, memory_order_relaxed);
        dst->body = src->body;
    }
    return 0;
}

uint8_t *fm_msg_body(const struct fm_msg *m)
{
    return m->body ? m->body->data : empty_body;
}

size_t fm_msg_size(const struct fm_msg *m) { return m->body ? m->body->size : 0; }

static int hdr_reserve(struct fm_msg *m, size_t len)
{
    if (len <= m->hdr_cap)
        return 0;
    if (len > UINT32_MAX / 2)
        return -ENOMEM;
    size_t cap = m->hdr_cap * 2;
    while (cap < len)
        cap *= 2;
    uint8_t *h = malloc(cap);
    if (!h)
        return -ENOMEM;
    memcpy(h, fm_msg_hdr(m), m->hdr_len);
    free(m->hdr_heap);
    m->hdr_heap = h;
    m->hdr_cap = (uint32_t) cap;
    return 0;
}

int fm_msg_hdr_set(struct fm_msg *m, const void *data, size_t len)
{
    m->hdr_len = 0;
    int rc = hdr_reserve(m, len);
    if (rc)
        return rc;
    if (len)
        memcpy(fm_msg_hdr(m), data, len);
    m->hdr_len = (uint32_t) len;
    return 0;
}

int fm_msg_hdr_push_u32(struct fm_msg *m, uint32_t word)
{
    int rc = hdr_reserve(m, m->hdr_len + 4u);
    if (rc)
        return rc;
    uint8_t *h = fm_msg_hdr(m);
    memmove(h + 4, h, m->hdr_len);
    fm_put_u32(h, word);
    m->hdr_len += 4;
    return 0;
}

void fm_msg_hdr_clear(struct fm_msg *m) { m->hdr_len = 0; }

void fm_msg_body_trim(struct fm_msg *m, size_t n)
{
    if (n == 0 || !m->body)
        return;
    struct fm_chunk *c = m->body;
    if (n >= c->size) {
        fm_chunk_release(c);
        m->body = NULL;
        return;
    }
    if (atomic_load_explicit(&c->refs, memory_order_acquire) > 1) {
        /* Others see this chunk: give this message its own copy. */
        struct fm_chunk *copy = chunk_alloc(c->size - n);
        if (copy) {
            memcpy(copy->data, c->data + n, c->size - n);
            fm_chunk_release(c);
            m->body = copy;
            return;
        }
    }
    c->data += n;
    c->size -= n;
    c->capacity -= n;
    chunk_set_backptr(c);
}

int fm_msg_body_to_hdr(struct fm_msg *m, size_t n)
{
    if (n > fm_msg_size(m))
        return -EINVAL;
    int rc = hdr_reserve(m, m->hdr_len + n);
    if (rc)
        return rc;
    memcpy(fm_msg_hdr(m) + m->hdr_len, fm_msg_body(m), n);
    m->hdr_len += (uint32_t) n;
    fm_msg_body_trim(m, n);
    return 0;
}

int fm_msg_hdr_to_body(struct fm_msg *m)
{
    size_t hl = m->hdr_len, size = fm_msg_size(m);
    if (hl == 0)
        return 0;
    struct fm_msg flat;
    int rc = fm_msg_init(&flat, hl + size);
    if (rc)
        return rc;
    memcpy(fm_msg_body(&flat), fm_msg_hdr(m), hl);
    if (size)
        memcpy(fm_msg_body(&flat) + hl, fm_msg_body(m), size);
    fm_msg_term(m);
    fm_msg_move(m, &flat);
    return 0;
}

int fm_msg_unshare(struct fm_msg *m)
{
    struct fm_chunk *c = m->body;
    if (!c || atomic_load(&c->refs) == 1)
        return 0;
    struct fm_chunk *copy = chunk_alloc(c->size);
    if (!copy)
        return -ENOMEM;
    memcpy(copy->data, c->data, c->size);
    fm_chunk_release(c);
    m->body = copy;
    return 0;
}

int fm_msg_init_upto(struct fm_msg *m, size_t size, size_t most)
{
    struct fm_chunk *c = NULL;
    if (CACHE_ON && size && most >= CACHE_MIN)
        c = cache_take_range(size, most < CACHE_MAX ? most : CACHE_MAX);
    if (!c)
        return fm_msg_init(m, size);
    fm_msg_init_empty(m);
    m->body = chunk_ready(c, size);
    return 0;
}

int fm_msg_body_resize(struct fm_msg *m, size_t size)
{
    if (!m->body)
        return fm_msg_init(m, size);
    if (size == 0) {
        fm_chunk_release(m->body);
        m->body = NULL;
        return 0;
    }
    struct fm_chunk *c = m->body;
    if (atomic_load(&c->refs) == 1 && !c->slab && c->data == (uint8_t *) c + FM_CHUNK_HEAD) {
        if (size <= c->alloc) {
            c->size = size; /* the room is there already */
            return 0;
        }
        /* Ours alone: grown by the allocator, which moves a large block by
           remapping its pages, not by copying them into fresh ones (a body
           read as it arrives grows a few times, and each fresh page costs
           a fault). */
        if (size > SIZE_MAX - FM_CHUNK_HEAD)
            return -ENOMEM;
        struct fm_chunk *n = realloc(c, FM_CHUNK_HEAD + size);
        if (!n)
            return -ENOMEM;
        n->alloc = n->capacity = size;
        n->size = size;
        n->data = (uint8_t *) n + FM_CHUNK_HEAD;
        chunk_set_backptr(n);
        m->body = n;
        return 0;
    }
    void *p = fm_chunk_realloc_user(m->body->data, size);
    if (!p)
        return -ENOMEM;
    m->body = fm_chunk_from_user(p);
    return 0;
}

void *fm_msg_take_user_buffer(struct fm_msg *m)
{
    if (!m->body) {
        void *p = fm_chunk_alloc_user(0);
        if (p)
            fm_msg_term(m);
        return p;
    }
    if (fm_msg_unshare(m) != 0)
        return NULL;
    void *p = m->body->data;
    m->body = NULL;
    fm_msg_term(m);
    return p;
}

/* ------------------------------------------------------------ the queue */
void fm_msgq_init(struct fm_msgq *q) { memset(q, 0, sizeof(*q)); }

void fm_msgq_term(struct fm_msgq *q)
{
    struct fm_msg m;
    while (fm_msgq_pop(q, &m))
        fm_msg_term(&m);
    free(q->ring);
    memset(q, 0, sizeof(*q));
}

int fm_msgq_push(struct fm_msgq *q, struct fm_msg *m)
{
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        struct fm_msg *ring = malloc(cap * sizeof(*ring));
        if (!ring)
            return -ENOMEM;
        for (size_t i = 0; i < q->count; i++)
            ring[i] = q->ring[(q->head + i) & (q->cap - 1)];
        free(q->ring);
        q->ring = ring;
        q->cap = cap;
        q->head = 0;
    }
    size_t tail = (q->head + q->count) & (q->cap - 1); /* cap: a power of two */
    q->ring[tail] = *m;
    /* A header living inline moved with the struct; nothing points into it. */
    fm_msg_init_empty(m);
    q->count++;
    q->bytes += fm_msg_size(&q->ring[tail]) + q->ring[tail].hdr_len;
    return 0;
}

bool fm_msgq_pop(struct fm_msgq *q, struct fm_msg *out)
{
    if (!q->count)
        return false;
    *out = q->ring[q->head];
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
    q->bytes -= fm_msg_size(out) + out->hdr_len;
    return true;
}
