/*
 * gc.c - the registry's garbage collection (registry.h at_registry_gc):
 * snapshots and dependency environments that no registered version uses.
 *
 * Mark: the snapshot directory and environment of every registered version,
 * and of every retired one (unregistered or replaced) that someone besides
 * the registry still holds.  Sweep: every other "sha256-*" under DATA/agents
 * and "py-*" / "npm-*" under DATA/envs, and DATA/agents/.tmp-* (a snapshot
 * copy that a crash interrupted).  The sweep runs with gc_gate held
 * exclusive, so no registration is between its snapshot and its commit.
 */
#include "registry/internal.h"

#include "base/alloc.h"
#include "base/fs.h"
#include "base/log.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

void at__registry_retire(struct at_registry *r, struct at_reg_agent *a)
{
    if (!a)
        return;
    if (atomic_load(&a->refs) == 1) { /* nobody else: its files go at the next collection */
        at_reg_agent_unref(a);
        return;
    }
    if (r->nretired == r->cap_retired) {
        r->cap_retired = r->cap_retired ? r->cap_retired * 2 : 8;
        r->retired = at_realloc(r->retired, r->cap_retired * sizeof(*r->retired));
    }
    r->retired[r->nretired++] = a;
}

static const char *base_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void mark(struct at_map *keep, const struct at_reg_agent *a)
{
    if (a->dir)
        at_map_put(keep, base_of(a->dir), (void *)1);
    if (a->env)
        at_map_put(keep, base_of(a->env), (void *)1);
}

/* Remove what keep does not name among dir's entries with one of the
 * prefixes; returns how many. */
static int sweep(const char *dir, const char *const *prefixes, const struct at_map *keep,
                 unsigned long long *bytes)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        int match = 0;
        for (const char *const *p = prefixes; *p && !match; p++)
            match = strncmp(e->d_name, *p, strlen(*p)) == 0;
        if (!match || at_map_get(keep, e->d_name))
            continue;
        char *path = at_fs_join(dir, e->d_name);
        unsigned long long b = at_fs_tree_bytes(path);
        if (at_fs_remove_tree(path) == 0) {
            *bytes += b;
            n++;
            at_debug("registry", "removed %s (no registered version uses it)", path);
        } else {
            at_warn("registry", "cannot remove %s, which no registered version uses", path);
        }
        free(path);
    }
    closedir(dp);
    return n;
}

static void collect(struct at_registry *r, struct at_reg_gc *out)
{
    struct at_map keep;
    at_map_init(&keep);
    pthread_rwlock_wrlock(&r->lock);
    size_t it = 0;
    void *v;
    while (at_map_next(&r->by_key, &it, NULL, &v))
        mark(&keep, v);
    size_t k = 0;
    for (size_t i = 0; i < r->nretired; i++) {
        struct at_reg_agent *a = r->retired[i];
        if (atomic_load(&a->refs) == 1) {
            at_reg_agent_unref(a);
            continue;
        }
        mark(&keep, a);
        r->retired[k++] = a;
    }
    r->nretired = k;
    out->kept_busy = (int)k;
    pthread_rwlock_unlock(&r->lock);
    static const char *const snaps[] = {"sha256-", ".tmp-", NULL};
    static const char *const envs[] = {"py-", "npm-", NULL};
    out->snapshots = sweep(r->agents_dir, snaps, &keep, &out->bytes);
    out->envs = sweep(r->envs_dir, envs, &keep, &out->bytes);
    at_map_release(&keep);
    if (out->snapshots || out->envs)
        at_info("registry",
                "removed %d snapshot(s) and %d environment(s) no registered version uses "
                "(%.1f MB)%s",
                out->snapshots, out->envs, (double)out->bytes / 1e6,
                out->kept_busy ? "; kept those of unregistered versions still running" : "");
}

void at_registry_gc(struct at_registry *r, int wait, struct at_reg_gc *out)
{
    struct at_reg_gc tmp;
    if (!out)
        out = &tmp;
    memset(out, 0, sizeof(*out));
    /* asked for before trying: a registration that ends meanwhile sees it */
    atomic_store(&r->gc_pending, 1);
    if (wait) {
        pthread_rwlock_wrlock(&r->gc_gate);
    } else if (pthread_rwlock_trywrlock(&r->gc_gate) != 0) {
        out->deferred = 1;
        return;
    }
    atomic_store(&r->gc_pending, 0);
    collect(r, out);
    pthread_rwlock_unlock(&r->gc_gate);
}

void at__registry_gc_pending(struct at_registry *r)
{
    if (atomic_load(&r->gc_pending))
        at_registry_gc(r, 0, NULL);
}
