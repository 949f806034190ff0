#include "base/map.h"

#include "base/alloc.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static char tomb_marker;
#define AT_MAP_TOMB (&tomb_marker)

static unsigned char seed_key[crypto_shorthash_KEYBYTES];
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void)
{
    if (sodium_init() < 0)
        abort();
    randombytes_buf(seed_key, sizeof(seed_key));
}

static size_t hash_key(const char *key)
{
    pthread_once(&seed_once, seed_init);
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, (const unsigned char *)key, strlen(key), seed_key);
    size_t h;
    memcpy(&h, out, sizeof(h));
    return h;
}

void at_map_init(struct at_map *m)
{
    memset(m, 0, sizeof(*m));
}

void at_map_release(struct at_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != AT_MAP_TOMB)
            free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static struct at_map_slot *find(const struct at_map *m, const char *key, size_t h)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask, n = 0; n < m->cap; i = (i + 1) & mask, n++) {
        struct at_map_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != AT_MAP_TOMB && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
    return NULL;
}

static void rehash(struct at_map *m, size_t cap)
{
    struct at_map_slot *old = m->slots;
    size_t oldcap = m->cap;
    m->slots = at_calloc(cap, sizeof(*m->slots));
    m->cap = cap;
    m->used = m->len;
    for (size_t i = 0; i < oldcap; i++) {
        struct at_map_slot *s = &old[i];
        if (!s->key || s->key == AT_MAP_TOMB)
            continue;
        size_t j = s->hash & (cap - 1);
        while (m->slots[j].key)
            j = (j + 1) & (cap - 1);
        m->slots[j] = *s;
    }
    free(old);
}

void *at_map_get(const struct at_map *m, const char *key)
{
    struct at_map_slot *s = find(m, key, hash_key(key));
    return s ? s->val : NULL;
}

void *at_map_put(struct at_map *m, const char *key, void *val)
{
    size_t h = hash_key(key);
    struct at_map_slot *s = find(m, key, h);
    if (s) {
        void *prev = s->val;
        s->val = val;
        return prev;
    }
    if ((m->used + 1) * 4 >= m->cap * 3)
        rehash(m, m->cap ? (m->len * 2 >= m->cap / 2 ? m->cap * 2 : m->cap) : 16);
    size_t mask = m->cap - 1, i = h & mask;
    while (m->slots[i].key && m->slots[i].key != AT_MAP_TOMB)
        i = (i + 1) & mask;
    if (!m->slots[i].key)
        m->used++;
    m->slots[i].key = at_strdup(key);
    m->slots[i].val = val;
    m->slots[i].hash = h;
    m->len++;
    return NULL;
}

void *at_map_del(struct at_map *m, const char *key)
{
    struct at_map_slot *s = find(m, key, hash_key(key));
    if (!s)
        return NULL;
    void *v = s->val;
    free(s->key);
    s->key = AT_MAP_TOMB;
    s->val = NULL;
    m->len--;
    return v;
}

int at_map_next(const struct at_map *m, size_t *iter, const char **key, void **val)
{
    while (*iter < m->cap) {
        struct at_map_slot *s = &m->slots[(*iter)++];
        if (s->key && s->key != AT_MAP_TOMB) {
            if (key)
                *key = s->key;
            if (val)
                *val = s->val;
            return 1;
        }
    }
    return 0;
}
