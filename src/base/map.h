/*
 * map.h - a string-keyed hash map (open addressing, linear probing).
 *
 * Keys are copied and owned by the map; values are borrowed pointers.  The
 * hash is seeded per process so hostile keys cannot force collisions.
 * Caller-embedded (at_map_init / at_map_release).  Not thread-safe.
 */
#ifndef AT_BASE_MAP_H
#define AT_BASE_MAP_H

#include <stddef.h>

struct at_map_slot {
    char *key; /* NULL: empty; AT_MAP_TOMB: deleted */
    void *val;
    size_t hash;
};

struct at_map {
    struct at_map_slot *slots;
    size_t cap; /* power of two */
    size_t len;
    size_t used; /* len + tombstones */
};

void at_map_init(struct at_map *m);
/* Free the map's keys and slots (values are the caller's). */
void at_map_release(struct at_map *m);
void *at_map_get(const struct at_map *m, const char *key);
/* Insert or replace; returns the previous value (or NULL). */
void *at_map_put(struct at_map *m, const char *key, void *val);
/* Remove; returns the removed value (or NULL). */
void *at_map_del(struct at_map *m, const char *key);

/* Iterate: for (size_t i = 0; at_map_next(m, &i, &k, &v);) ... */
int at_map_next(const struct at_map *m, size_t *iter, const char **key, void **val);

#endif
