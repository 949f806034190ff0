/*
 * hub.c - the control plane's remote nodes (hub.h): liveness and the
 * message channel, behind one mutex.
 */
#include "sched/hub.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/diag.h"
#include "base/err.h"
#include "sched/sched.h"

#include <stdio.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define OUTBOX_MAX 4096 /* messages waiting for a node's stream */
#define DISCARDS_KEPT 16

struct hnode {
    char *name;
    char *address;
    json_t *profile;
    json_t *health;
    int64_t joined_ms; /* wall */
    int64_t seen_ns;   /* monotonic: last heartbeat or join */
    int joins;
    at_hub_sink_fn sink;
    void *sink_arg;
    char **outbox;
    size_t *outlen;
    int nout;
    long long ndiscarded;
    json_t *discarded; /* the last DISCARDS_KEPT */
};

struct at_hub {
    pthread_mutex_t mu;
    struct at_hub_policy policy;
    struct hnode *nodes;
    int n, cap;
};

int at_hub_policy_parse(const json_t *nf, struct at_hub_policy *p)
{
    struct at_hub_policy q = {30.0, AT_HUB_RETRY, 0, 0};
    json_t *v;
    if ((v = json_object_get(nf, "detection_timeout"))) {
        if (!json_is_number(v) || json_number_value(v) < 0)
            return AT_EINVAL;
        q.detection_timeout_s = json_number_value(v);
    }
    if ((v = json_object_get(nf, "reschedule_strategy"))) {
        const char *s = json_string_value(v);
        if (!s)
            return AT_EINVAL;
        if (strcmp(s, "retry") == 0)
            q.reschedule = AT_HUB_RETRY;
        else if (strcmp(s, "fail") == 0)
            q.reschedule = AT_HUB_FAIL;
        else if (strcmp(s, "queue") == 0)
            q.reschedule = AT_HUB_QUEUE;
        else
            return AT_EINVAL;
    }
    *p = q;
    return 0;
}

int at_hub_health_hot(const struct at_hub_policy *p, const json_t *health, char *why, size_t n)
{
    json_t *t = json_object_get(health, "temperature_c");
    json_t *m = json_object_get(health, "memory_used_pct");
    if (p->hot_temperature_c > 0 && json_is_number(t) &&
        json_number_value(t) > p->hot_temperature_c) {
        snprintf(why, n, "%.1f °C, over scheduling.health_thresholds.temperature_c %.1f",
                 json_number_value(t), p->hot_temperature_c);
        return 1;
    }
    if (p->hot_memory_used_pct > 0 && json_is_number(m) &&
        json_number_value(m) > p->hot_memory_used_pct) {
        snprintf(why, n,
                 "memory %.1f %% used, over scheduling.health_thresholds.memory_used_pct %.1f",
                 json_number_value(m), p->hot_memory_used_pct);
        return 1;
    }
    return 0;
}

const char *at_hub_reschedule_name(enum at_hub_reschedule r)
{
    switch (r) {
    case AT_HUB_RETRY:
        return "retry";
    case AT_HUB_FAIL:
        return "fail";
    case AT_HUB_QUEUE:
        return "queue";
    }
    return "?";
}

struct at_hub *at_hub_new(const struct at_hub_policy *p)
{
    struct at_hub *h = at_calloc(1, sizeof(*h));
    pthread_mutex_init(&h->mu, NULL);
    if (p)
        h->policy = *p;
    else
        at_hub_policy_parse(NULL, &h->policy);
    return h;
}

static void outbox_clear(struct hnode *n)
{
    for (int i = 0; i < n->nout; i++)
        free(n->outbox[i]);
    free(n->outbox);
    free(n->outlen);
    n->outbox = NULL;
    n->outlen = NULL;
    n->nout = 0;
}

static void hnode_release(struct hnode *n)
{
    free(n->name);
    free(n->address);
    json_decref(n->profile);
    json_decref(n->health);
    json_decref(n->discarded);
    outbox_clear(n);
}

void at_hub_free(struct at_hub *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->n; i++)
        hnode_release(&h->nodes[i]);
    free(h->nodes);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void at_hub_get_policy(struct at_hub *h, struct at_hub_policy *out)
{
    pthread_mutex_lock(&h->mu);
    *out = h->policy;
    pthread_mutex_unlock(&h->mu);
}

static _Atomic(struct at_hub *) current;

void at_hub_publish(struct at_hub *h)
{
    atomic_store(&current, h);
}

struct at_hub *at_hub_current(void)
{
    return atomic_load(&current);
}

static struct hnode *find(struct at_hub *h, const char *name)
{
    for (int i = 0; name && i < h->n; i++)
        if (strcmp(h->nodes[i].name, name) == 0)
            return &h->nodes[i];
    return NULL;
}

int at_hub_join(struct at_hub *h, const char *name, const char *address, const json_t *profile)
{
    pthread_mutex_lock(&h->mu);
    struct hnode *n = find(h, name);
    if (!n) {
        if (h->n == h->cap) {
            h->cap = h->cap ? h->cap * 2 : 4;
            h->nodes = at_realloc(h->nodes, (size_t)h->cap * sizeof(*h->nodes));
        }
        n = &h->nodes[h->n++];
        memset(n, 0, sizeof(*n));
        n->name = at_strdup(name);
        n->discarded = json_array();
    }
    free(n->address);
    n->address = at_strdup(address ? address : "");
    json_decref(n->profile);
    n->profile = profile ? json_deep_copy(profile) : NULL;
    n->joined_ms = at_wall_ms();
    n->seen_ns = at_now_ns();
    int joins = ++n->joins;
    pthread_mutex_unlock(&h->mu);
    return joins;
}

int at_hub_heartbeat(struct at_hub *h, const char *name, const json_t *health)
{
    pthread_mutex_lock(&h->mu);
    struct hnode *n = find(h, name);
    if (n) {
        n->seen_ns = at_now_ns();
        if (health) {
            json_decref(n->health);
            n->health = json_deep_copy(health);
        }
    }
    pthread_mutex_unlock(&h->mu);
    return n ? 0 : AT_ENOENT;
}

int at_hub_known(struct at_hub *h, const char *name)
{
    pthread_mutex_lock(&h->mu);
    int k = find(h, name) != NULL;
    pthread_mutex_unlock(&h->mu);
    return k;
}

int at_hub_remove(struct at_hub *h, const char *name)
{
    pthread_mutex_lock(&h->mu);
    struct hnode *n = find(h, name);
    if (n) {
        int i = (int)(n - h->nodes);
        hnode_release(n);
        memmove(n, n + 1, (size_t)(h->n - i - 1) * sizeof(*n));
        h->n--;
    }
    pthread_mutex_unlock(&h->mu);
    return n ? 0 : AT_ENOENT;
}

int at_hub_attach(struct at_hub *h, const char *name, at_hub_sink_fn fn, void *arg)
{
    pthread_mutex_lock(&h->mu);
    struct hnode *n = find(h, name);
    if (n) {
        n->sink = fn;
        n->sink_arg = arg;
        n->seen_ns = at_now_ns();
        int i = 0;
        for (; i < n->nout; i++)
            if (fn(arg, n->outbox[i], n->outlen[i]))
                break;
        if (i > 0) {
            for (int k = 0; k < i; k++)
                free(n->outbox[k]);
            memmove(n->outbox, n->outbox + i, (size_t)(n->nout - i) * sizeof(char *));
            memmove(n->outlen, n->outlen + i, (size_t)(n->nout - i) * sizeof(size_t));
            n->nout -= i;
        }
    }
    pthread_mutex_unlock(&h->mu);
    return n ? 0 : AT_ENOENT;
}

void at_hub_detach(struct at_hub *h, const char *name, void *arg)
{
    pthread_mutex_lock(&h->mu);
    struct hnode *n = find(h, name);
    if (n && n->sink_arg == arg) {
        n->sink = NULL;
        n->sink_arg = NULL;
    }
    pthread_mutex_unlock(&h->mu);
}

int at_hub_send(struct at_hub *h, const char *name, const json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    if (!text)
        return AT_EINVAL;
    size_t len = strlen(text);
    int rc = 0;
    pthread_mutex_lock(&h->mu);
    struct hnode *n = find(h, name);
    if (!n) {
        rc = AT_ENOENT;
    } else if (n->sink && n->nout == 0 && n->sink(n->sink_arg, text, len) == 0) {
        rc = 0;
    } else if (n->nout >= OUTBOX_MAX) {
        rc = AT_ELIMIT;
    } else {
        n->outbox = at_realloc(n->outbox, (size_t)(n->nout + 1) * sizeof(char *));
        n->outlen = at_realloc(n->outlen, (size_t)(n->nout + 1) * sizeof(size_t));
        n->outbox[n->nout] = text;
        n->outlen[n->nout++] = len;
        text = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    free(text);
    return rc;
}

int64_t at_hub_silence_ms(struct at_hub *h, const char *name)
{
    pthread_mutex_lock(&h->mu);
    struct hnode *n = find(h, name);
    int64_t ms = n ? (at_now_ns() - n->seen_ns) / 1000000 : -1;
    pthread_mutex_unlock(&h->mu);
    return ms;
}

json_t *at_hub_names(struct at_hub *h)
{
    json_t *a = json_array();
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->n; i++)
        json_array_append_new(a, json_string(h->nodes[i].name));
    pthread_mutex_unlock(&h->mu);
    return a;
}

json_t *at_hub_info(struct at_hub *h, const char *name)
{
    json_t *o = NULL;
    pthread_mutex_lock(&h->mu);
    struct hnode *n = find(h, name);
    if (n) {
        o = json_pack("{s:s,s:I,s:i,s:I,s:b,s:O?,s:I,s:o}", "address", n->address, "joined_at",
                      (json_int_t)n->joined_ms, "joins", n->joins, "last_heartbeat_ms_ago",
                      (json_int_t)((at_now_ns() - n->seen_ns) / 1000000), "connected",
                      n->sink != NULL, "health", n->health, "discarded_results",
                      (json_int_t)n->ndiscarded, "discarded", json_deep_copy(n->discarded));
    }
    pthread_mutex_unlock(&h->mu);
    return o;
}

void at_hub_record_discard(struct at_hub *h, const char *name, const char *job_id,
                           long long dispatch, const char *why)
{
    pthread_mutex_lock(&h->mu);
    struct hnode *n = find(h, name);
    if (n) {
        n->ndiscarded++;
        if (json_array_size(n->discarded) >= DISCARDS_KEPT)
            json_array_remove(n->discarded, 0);
        json_array_append_new(n->discarded,
                              json_pack("{s:s,s:I,s:I,s:s}", "job_id", job_id ? job_id : "",
                                        "dispatch", (json_int_t)dispatch, "at",
                                        (json_int_t)at_wall_ms(), "why", why ? why : ""));
    }
    pthread_mutex_unlock(&h->mu);
}

int at_hub_node_from_profile(struct at_sched_node *n, const char *name, const json_t *profile,
                             struct at_diag *d)
{
    at_sched_node_init(n);
    snprintf(n->name, sizeof(n->name), "%s", name);
    if (!json_is_object(profile)) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0, "the node's profile must be an object");
        at_diag_set_pointer(d, "/profile");
        return AT_EINVAL;
    }
    json_t *r = json_object_get(profile, "resources");
    json_t *v;
    if (!json_is_integer(json_object_get(r, "cpu_cores"))) {
        /* every node agent sends what it detected: a profile without it is not one */
        at_diag_set(d, AT_EINVAL, NULL, 0, 0, "the node's profile names its CPU cores");
        at_diag_set_pointer(d, "/profile/resources/cpu_cores");
        return AT_EINVAL;
    }
    json_t *res = json_object();
    if ((v = json_object_get(r, "cpu_cores")))
        json_object_set(res, "cpu_cores", v);
    if ((v = json_object_get(r, "memory_gb")))
        json_object_set(res, "memory_gb", v);
    if ((v = json_object_get(r, "gpus")))
        json_object_set(res, "gpus", v);
    if ((v = json_object_get(profile, "architecture")) && json_string_length(v))
        json_object_set(res, "architecture", v);
    if ((v = json_object_get(profile, "devices")) && json_array_size(v))
        json_object_set(res, "devices", v);
    int rc = at_sched_resources_apply(n, res, d);
    json_decref(res);
    if (rc) {
        at_sched_node_release(n);
        return rc;
    }
    n->devices_probe = 0;
    /* what the node itself says was overridden, not what this parse set */
    n->overridden = 0;
    static const char *const ovn[] = {"cpu_cores", "memory_gb", "gpus", "architecture", "devices"};
    size_t i;
    json_array_foreach(json_object_get(profile, "overridden"), i, v)
    {
        for (int b = 0; b < 5; b++)
            if (json_is_string(v) && strcmp(json_string_value(v), ovn[b]) == 0)
                n->overridden |= 1u << b;
    }
    const char *k;
    json_object_foreach(json_object_get(profile, "labels"), k, v)
    {
        if (!json_is_string(v) || at_sched_node_set_label(n, k, json_string_value(v))) {
            at_diag_set(d, AT_EINVAL, NULL, 0, 0, "a label must be a short string");
            at_diag_set_pointer(d, "/profile/labels");
            at_sched_node_release(n);
            return AT_EINVAL;
        }
    }
    return 0;
}

static double meminfo(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return -1;
    char line[256];
    double kb = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            kb = strtod(line + kl + 1, NULL);
            break;
        }
    fclose(f);
    return kb;
}

json_t *at_hub_local_health(void)
{
    double load = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    char line[128];
    if (f) {
        char *end = NULL;
        if (fgets(line, sizeof(line), f)) {
            load = strtod(line, &end);
            if (end == line)
                load = -1;
        }
        fclose(f);
    }
    double total = meminfo("MemTotal"), avail = meminfo("MemAvailable");
    double temp = -1;
    for (int z = 0; z < 64; z++) {
        char path[96];
        snprintf(path, sizeof(path), "/sys/class/thermal/thermal_zone%d/temp", z);
        FILE *t = fopen(path, "r");
        if (!t)
            break;
        char *end = NULL;
        if (fgets(line, sizeof(line), t)) {
            double mc = (double)strtol(line, &end, 10);
            if (end != line && mc / 1000.0 > temp)
                temp = mc / 1000.0;
        }
        fclose(t);
    }
    json_t *o = json_object();
    json_object_set_new(o, "load_1m", load >= 0 ? json_real(load) : json_null());
    json_object_set_new(o, "memory_total_gb",
                        total > 0 ? json_real(total * 1024 / 1e9) : json_null());
    json_object_set_new(o, "memory_available_gb",
                        avail >= 0 ? json_real(avail * 1024 / 1e9) : json_null());
    json_object_set_new(o, "memory_used_pct",
                        total > 0 && avail >= 0 ? json_real(100.0 * (total - avail) / total)
                                                : json_null());
    json_object_set_new(o, "temperature_c", temp >= 0 ? json_real(temp) : json_null());
    json_object_set_new(o, "at", json_integer(at_wall_ms()));
    return o;
}

json_t *at_hub_node_json(struct at_hub *h, const struct at_sched_node *n)
{
    json_t *o = at_sched_node_to_json(n);
    json_t *info = h ? at_hub_info(h, n->name) : NULL;
    if (info) {
        json_object_set(o, "address", json_object_get(info, "address"));
        json_object_set_new(o, "local", json_false());
        json_object_del(info, "health");
        json_object_set_new(o, "connection", info);
    } else {
        json_object_set_new(o, "local", json_true());
    }
    return o;
}

json_t *at_hub_nodes_json(struct at_sched *s, struct at_hub *h)
{
    struct at_sched_cluster c;
    at_sched_snapshot(s, &c);
    json_t *arr = json_array();
    for (int i = 0; i < c.nnodes; i++)
        json_array_append_new(arr, at_hub_node_json(h, &c.nodes[i]));
    at_sched_cluster_release(&c);
    return json_pack("{s:o}", "nodes", arr);
}

json_t *at_hub_health_json(struct at_sched *s, struct at_hub *h, const char *name)
{
    struct at_sched_node n;
    if (at_sched_get_node(s, name, &n)) {
        at_sched_node_release(&n);
        return NULL;
    }
    json_t *info = h ? at_hub_info(h, n.name) : NULL;
    json_t *o = json_pack("{s:s,s:s,s:i}", "name", n.name, "status", at_sched_state_name(n.state),
                          "running", n.nresv);
    double mem = 0;
    for (int i = 0; i < n.nresv; i++)
        mem += n.resv[i].memory_gb;
    json_object_set_new(o, "allocated_memory_gb", json_real(mem));
    if (info) {
        struct at_hub_policy hp;
        at_hub_get_policy(h, &hp);
        json_object_set(o, "health", json_object_get(info, "health"));
        json_object_set_new(o, "heartbeat",
                            json_pack("{s:O,s:f,s:O}", "last_ms_ago",
                                      json_object_get(info, "last_heartbeat_ms_ago"),
                                      "detection_timeout_s", hp.detection_timeout_s, "connected",
                                      json_object_get(info, "connected")));
        json_decref(info);
    } else {
        json_object_set_new(o, "health", at_hub_local_health());
        json_object_set_new(o, "local", json_true());
    }
    at_sched_node_release(&n);
    return o;
}

int at_hub_drain(struct at_sched *s, const char *name, int on, json_t **out)
{
    *out = NULL;
    struct at_sched_node n;
    if (at_sched_get_node(s, name, &n)) {
        at_sched_node_release(&n);
        return AT_ENOENT;
    }
    enum at_sched_state st = n.state;
    if (on && st != AT_SCHED_DRAINED)
        st = n.nresv ? AT_SCHED_DRAINING : AT_SCHED_DRAINED;
    else if (!on && (st == AT_SCHED_DRAINING || st == AT_SCHED_DRAINED))
        st = AT_SCHED_READY;
    at_sched_set_state(s, n.name, st);
    *out = json_pack("{s:s,s:s,s:i}", "name", n.name, "status", at_sched_state_name(st), "running",
                     n.nresv);
    at_sched_node_release(&n);
    return 0;
}
