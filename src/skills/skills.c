/*
 * skills.c - the table of installed skills, the grants of requires.skills,
 * invocation and the worker pool (skills.h).
 */
#include "skills/internal.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/id.h"
#include "base/log.h"
#include "contract/agent.h"
#include "contract/semver.h"
#include "json/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#define BUILTIN_VERSION "1.0.0"
#define MAX_DEF_BYTES (256u << 10)

static const struct at__builtin *const builtins[] = {
    &at__skill_file_ops, &at__skill_code_execution, &at__skill_memory,
    &at__skill_http,     &at__skill_web_search,
};
#define NBUILTINS (sizeof(builtins) / sizeof(builtins[0]))

static const char *kind_name(enum at__skill_kind k)
{
    switch (k) {
    case AT__SK_BUILTIN:
        return "builtin";
    case AT__SK_MCP:
        return "mcp";
    case AT__SK_AGENT:
        return "agent";
    case AT__SK_SKILLMD:
        return "skillmd";
    }
    return "?";
}

void at__skill_unref(struct at__skill *k)
{
    if (!k || atomic_fetch_sub(&k->refs, 1) != 1)
        return;
    json_decref(k->def);
    at_schema_free(k->input);
    free(k);
}

static struct at__skill *skill_ref(struct at__skill *k)
{
    atomic_fetch_add(&k->refs, 1);
    return k;
}

/* ---- the table ---- */

static int version_cmp(const char *a, const char *b)
{
    struct at_semver va, vb;
    if (at_semver_parse(a, &va) || at_semver_parse(b, &vb))
        return strcmp(a, b);
    return at_semver_cmp(&va, &vb);
}

struct at__skill *at__skill_find(struct at_skills *s, const char *name, const char *constraint)
{
    struct at__skill *best = NULL;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->n; i++) {
        struct at__skill *k = s->tab[i];
        if (strcmp(k->name, name) != 0)
            continue;
        if (constraint && at_version_satisfies(k->version, constraint) != 1)
            continue;
        if (!best || version_cmp(k->version, best->version) > 0)
            best = k;
    }
    if (best)
        skill_ref(best);
    pthread_rwlock_unlock(&s->lock);
    return best;
}

/* Put k in the table (replacing the same name@version).  Takes k. */
static void table_put(struct at_skills *s, struct at__skill *k)
{
    pthread_rwlock_wrlock(&s->lock);
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->tab[i]->name, k->name) && !strcmp(s->tab[i]->version, k->version)) {
            at__skill_unref(s->tab[i]);
            s->tab[i] = k;
            pthread_rwlock_unlock(&s->lock);
            return;
        }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->tab = at_realloc(s->tab, s->cap * sizeof(*s->tab));
    }
    s->tab[s->n++] = k;
    pthread_rwlock_unlock(&s->lock);
}

static int builtin_enabled(struct at_skills *s, const struct at__builtin *b, char *why, size_t n)
{
    if (why && n)
        why[0] = '\0';
    return !b->enabled || b->enabled(s, why ? why : (char[1]){0}, why ? n : 1);
}

/* ---- definitions ---- */

static int name_valid(const char *name)
{
    char tmp[AT_AGENT_NAME_MAX + 1];
    const char *cons;
    return name && !strchr(name, '@') && at_contract_skill_spec(name, tmp, sizeof(tmp), &cons) == 0;
}

/* Build a skill from a definition (checked: every field named in d). */
static int skill_from_def(struct at_skills *s, const json_t *def, int load, struct at__skill **out,
                          struct at_diag *d)
{
    (void)s;
    if (!json_is_object(def))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "a skill definition is a JSON object");
    static const char *const keys[] = {"name",         "version",       "kind",   "description",
                                       "input_schema", "output_schema", "mcp",    "agent",
                                       "skillmd",      "registered_ms", "source", NULL};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)def, key, v)
    {
        int known = 0;
        for (size_t i = 0; keys[i]; i++)
            known |= !strcmp(keys[i], key);
        if (!known) {
            at_diag_set(d, AT_EINVAL, NULL, 0, 0, "unknown key \"%s\" in the skill definition",
                        key);
            at_diag_set_pointer(d, "");
            return AT_EINVAL;
        }
    }
    const char *name = at_json_str(def, "name", NULL);
    const char *version = at_json_str(def, "version", NULL);
    const char *kind = at_json_str(def, "kind", NULL);
    struct at_semver sv;
    if (!name_valid(name)) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                    "name: \"%s\" is not a skill name ([a-z0-9][a-z0-9._-]*, at most %d)",
                    name ? name : "", AT_AGENT_NAME_MAX);
        at_diag_set_pointer(d, "/name");
        return AT_EINVAL;
    }
    if (!version || at_semver_parse(version, &sv)) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0, "version: \"%s\" is not a semantic version",
                    version ? version : "");
        at_diag_set_pointer(d, "/version");
        return AT_EINVAL;
    }
    enum at__skill_kind k;
    if (kind && !strcmp(kind, "mcp"))
        k = AT__SK_MCP;
    else if (kind && !strcmp(kind, "agent"))
        k = AT__SK_AGENT;
    else if (kind && !strcmp(kind, "skillmd"))
        k = AT__SK_SKILLMD;
    else {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                    "kind: \"%s\" is not one of mcp, agent, skillmd (built-ins come with atlasd)",
                    kind ? kind : "");
        at_diag_set_pointer(d, "/kind");
        return AT_EINVAL;
    }
    for (size_t i = 0; i < NBUILTINS; i++)
        if (!strcmp(builtins[i]->name, name)) {
            at_diag_set(d, AT_EEXIST, NULL, 0, 0, "\"%s\" is a built-in skill", name);
            at_diag_set_pointer(d, "/name");
            return AT_EEXIST;
        }
    const json_t *mcp = json_object_get(def, "mcp");
    if (k == AT__SK_MCP) {
        const json_t *cmd = json_object_get(mcp, "command");
        const char *url = at_json_str(mcp, "url", NULL);
        if (url || json_object_get(mcp, "url")) {
            if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
                strlen(url) > 2000) {
                at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                            "mcp.url: the server's Streamable HTTP endpoint, an http(s) URL");
                at_diag_set_pointer(d, "/mcp/url");
                return AT_EINVAL;
            }
            const char *mk;
            json_t *mv;
            json_object_foreach((json_t *)mcp, mk, mv)
            {
                if (!strcmp(mk, "url"))
                    continue;
                if (!strcmp(mk, "headers")) {
                    int rc = at__mount_headers_check(mv, d);
                    if (rc)
                        return rc;
                    continue;
                }
                if (!strcmp(mk, "concurrency")) {
                    if (!json_is_integer(mv) || json_integer_value(mv) < 1 ||
                        json_integer_value(mv) > AT__MOUNT_MAX_CONCURRENCY) {
                        at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                                    "mcp.concurrency: the calls in flight at once, 1 to %d",
                                    AT__MOUNT_MAX_CONCURRENCY);
                        at_diag_set_pointer(d, "/mcp/concurrency");
                        return AT_EINVAL;
                    }
                    continue;
                }
                at_diag_set(d, AT_EINVAL, NULL, 0, 0, "mcp.%s: %s", mk,
                            !strcmp(mk, "command")
                                ? "a skill is either a command or a URL"
                                : "a remote mount has url, headers and concurrency (OAuth is "
                                  "not supported yet)");
                char ptr[300];
                snprintf(ptr, sizeof(ptr), "/mcp/%s", mk);
                at_diag_set_pointer(d, ptr);
                return AT_EINVAL;
            }
        } else {
            int okcmd = json_is_array(cmd) && json_array_size(cmd) > 0 && json_array_size(cmd) < 64;
            size_t i;
            json_t *a;
            json_array_foreach(cmd, i, a) okcmd &= json_is_string(a);
            if (!okcmd) {
                at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                            "mcp.command: the server's command line, a non-empty array of strings");
                at_diag_set_pointer(d, "/mcp/command");
                return AT_EINVAL;
            }
            const json_t *env = json_object_get(mcp, "env");
            if (env && !json_is_object(env)) {
                at_diag_set(d, AT_EINVAL, NULL, 0, 0, "mcp.env: an object of strings");
                at_diag_set_pointer(d, "/mcp/env");
                return AT_EINVAL;
            }
            const char *mk;
            json_t *mv;
            json_object_foreach((json_t *)mcp, mk, mv)
            {
                if (!strcmp(mk, "command") || !strcmp(mk, "env") || !strcmp(mk, "cwd"))
                    continue;
                if (!strcmp(mk, "sandbox")) {
                    int rc = at__mount_sandbox_check(mv, load ? 0 : 1, d);
                    if (rc)
                        return rc;
                    continue;
                }
                char ptr[300];
                snprintf(ptr, sizeof(ptr), "/mcp/%s", mk);
                at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                            "mcp.%s: a stdio mount has command, env, cwd and sandbox", mk);
                at_diag_set_pointer(d, ptr);
                return AT_EINVAL;
            }
        }
    } else if (mcp) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0, "mcp: only for kind: mcp");
        at_diag_set_pointer(d, "/mcp");
        return AT_EINVAL;
    }
    if (k == AT__SK_AGENT && !json_is_string(json_object_get(def, "agent"))) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0, "agent: the registered agent (NAME or NAME:VERSION)");
        at_diag_set_pointer(d, "/agent");
        return AT_EINVAL;
    }
    if (k == AT__SK_SKILLMD && !json_is_object(json_object_get(def, "skillmd"))) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0, "skillmd: the folder's parsed SKILL.md");
        at_diag_set_pointer(d, "/skillmd");
        return AT_EINVAL;
    }
    struct at_schema *in = NULL;
    const json_t *is = json_object_get(def, "input_schema");
    if (is && at_schema_new(is, &in, d)) {
        char ptr[512];
        snprintf(ptr, sizeof(ptr), "/input_schema%s", d->pointer);
        at_diag_set_pointer(d, ptr);
        return AT_ESCHEMA;
    }
    const json_t *os = json_object_get(def, "output_schema");
    struct at_schema *outs = NULL;
    if (os && at_schema_new(os, &outs, d)) {
        at_schema_free(in);
        at_diag_set_pointer(d, "/output_schema");
        return AT_ESCHEMA;
    }
    at_schema_free(outs);
    struct at__skill *sk = at_calloc(1, sizeof(*sk));
    atomic_init(&sk->refs, 1);
    snprintf(sk->name, sizeof(sk->name), "%s", name);
    snprintf(sk->version, sizeof(sk->version), "%s", version);
    sk->kind = k;
    sk->def = json_deep_copy(def);
    sk->input = in;
    at_skills_digest(def, sk->digest, sizeof(sk->digest));
    *out = sk;
    return 0;
}

int at_skills_digest(const json_t *def, char *out, size_t n)
{
    json_t *c = json_deep_copy(def);
    if (!json_is_object(c)) {
        json_decref(c);
        return AT_EINVAL;
    }
    /* what the install adds, and where it came from, are not the content */
    json_object_del(c, "source");
    json_object_del(c, "registered_ms");
    json_t *md = json_object_get(c, "skillmd");
    if (json_is_object(md)) {
        json_object_del(md, "dir");
        json_object_del(md, "scripts");
    }
    char *text = json_dumps(c, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(c);
    if (!text)
        return AT_EINVAL;
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)text, strlen(text));
    free(text);
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    snprintf(out, n, "sha256:%s", hex);
    return 0;
}

static struct at__skill *builtin_skill(const struct at__builtin *b)
{
    struct at__skill *k = at_calloc(1, sizeof(*k));
    atomic_init(&k->refs, 1);
    snprintf(k->name, sizeof(k->name), "%s", b->name);
    snprintf(k->version, sizeof(k->version), "%s", BUILTIN_VERSION);
    k->kind = AT__SK_BUILTIN;
    k->builtin = b;
    json_t *in = NULL, *out = NULL;
    if (at_json_parse(b->input, strlen(b->input), 0, &in, NULL) ||
        at_json_parse(b->output, strlen(b->output), 0, &out, NULL) ||
        at_schema_new(in, &k->input, NULL))
        abort(); /* a typo in a built-in's schema */
    k->def = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "name", b->name, "version", BUILTIN_VERSION,
                       "kind", "builtin", "description", b->description, "input_schema", in,
                       "output_schema", out);
    return k;
}

/* ---- the database ---- */

static int db_exec(struct at_skills *s, const char *sql, struct at_diag *d)
{
    char *err = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        at_diag_set(d, AT_EIO, s->db_path, 0, 0, "skills: %s", err ? err : "sqlite error");
        sqlite3_free(err);
        return AT_EIO;
    }
    return 0;
}

static int db_open(struct at_skills *s, struct at_diag *d)
{
    if (sqlite3_open_v2(s->db_path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        return at_diag_set(d, AT_EIO, s->db_path, 0, 0, "skills: cannot open the store: %s",
                           s->db ? sqlite3_errmsg(s->db) : "out of memory");
    sqlite3_busy_timeout(s->db, 5000);
    int rc = db_exec(s,
                     "PRAGMA journal_mode=WAL;"
                     "CREATE TABLE IF NOT EXISTS skills (name TEXT NOT NULL, version TEXT NOT "
                     "NULL, def TEXT NOT NULL, registered_ms INTEGER NOT NULL, "
                     "PRIMARY KEY (name, version)) STRICT;",
                     d);
    return rc ? rc : at__memory_init(s, d);
}

static void db_load(struct at_skills *s)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->db_mu);
    if (sqlite3_prepare_v2(s->db, "SELECT def FROM skills ORDER BY name, version", -1, &st, NULL) ==
        SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *text = (const char *)sqlite3_column_text(st, 0);
            json_t *def = NULL;
            struct at__skill *k = NULL;
            struct at_diag d;
            at_diag_clear(&d);
            if (text && at_json_parse(text, strlen(text), 0, &def, &d) == 0 &&
                skill_from_def(s, def, 1, &k, &d) == 0)
                table_put(s, k);
            else
                at_log(AT_LOG_WARN, "skills", "a stored skill is skipped: %s", d.msg);
            json_decref(def);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->db_mu);
}

/* ---- the worker pool ---- */

struct at__job {
    struct at__job *next;
    char agent[80], job_id[64], root_id[64], conversation[128];
    int has_agent, has_job, has_conv;
    json_t *requires;
    char name[AT_AGENT_NAME_MAX + 80];
    json_t *input;
    at_skill_done_fn done;
    void *arg;
};

static void job_caller(const struct at__job *j, struct at_skill_caller *c)
{
    c->agent = j->has_agent ? j->agent : NULL;
    c->job_id = j->has_job ? j->job_id : NULL;
    c->root_id = j->has_job ? j->root_id : NULL;
    c->conversation = j->has_conv ? j->conversation : NULL;
    c->requires = j->requires;
}

static void job_free(struct at__job *j)
{
    json_decref(j->requires);
    json_decref(j->input);
    free(j);
}

static void *worker_main(void *arg)
{
    struct at_skills *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->q_mu);
        while (!s->q_head && !s->stopping)
            pthread_cond_wait(&s->q_cv, &s->q_mu);
        struct at__job *j = s->q_head;
        if (j) {
            s->q_head = j->next;
            if (!s->q_head)
                s->q_tail = NULL;
            s->q_len--;
        }
        int stop = s->stopping;
        pthread_mutex_unlock(&s->q_mu);
        if (!j)
            break;
        struct at_diag d;
        at_diag_clear(&d);
        json_t *out = NULL;
        int rc;
        if (stop) {
            rc = at_diag_set(&d, AT_ECANCELED, NULL, 0, 0, "the daemon is stopping");
        } else {
            struct at_skill_caller c;
            job_caller(j, &c);
            rc = at_skills_invoke(s, &c, j->name, j->input, &out, &d);
        }
        j->done(j->arg, rc, out, &d);
        job_free(j);
    }
    return NULL;
}

/* ---- open and close ---- */

static double cfg_num(const json_t *v, double dflt)
{
    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* ---- workspaces ---- */

/* A tree folder's name: the job id charset, never "." or ".." or a '/'. */
static int ws_name_ok(const char *id)
{
    if (!id || !*id || strlen(id) >= AT_ID_MAX)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return 0;
    return 1;
}

struct at__ws_due {
    char root[AT_ID_MAX];
    int64_t due_ms;
    struct at__ws_due *next;
};

/* Schedule root's removal at due_ms.  Every finished tree comes here (a
 * job end), so this is O(1) in the common case: a hash for a root already
 * scheduled, and an append, since due times of finished trees only grow
 * (the grace is one setting); an earlier one (start-up recovery, a
 * shortened grace) is inserted in order.  The thread is woken only when
 * the earliest due time changes. */
static void ws_schedule(struct at_skills *s, const char *root, int64_t due_ms)
{
    pthread_mutex_lock(&s->ws_mu);
    struct at__ws_due *e = at_map_get(&s->ws_byroot, root);
    if (e) { /* already waiting: it stays where it is, due at the later time */
        if (due_ms > e->due_ms)
            e->due_ms = due_ms;
        pthread_mutex_unlock(&s->ws_mu);
        return;
    }
    e = at_calloc(1, sizeof(*e));
    snprintf(e->root, sizeof(e->root), "%s", root);
    e->due_ms = due_ms;
    at_map_put(&s->ws_byroot, e->root, e);
    int wake = 0;
    if (!s->ws_tail || s->ws_tail->due_ms <= due_ms) {
        wake = !s->ws_due;
        if (s->ws_tail)
            s->ws_tail->next = e;
        else
            s->ws_due = e;
        s->ws_tail = e;
    } else {
        struct at__ws_due **pp = &s->ws_due;
        while (*pp && (*pp)->due_ms <= due_ms)
            pp = &(*pp)->next;
        wake = pp == &s->ws_due;
        e->next = *pp;
        *pp = e;
    }
    if (wake)
        pthread_cond_signal(&s->ws_cv);
    pthread_mutex_unlock(&s->ws_mu);
}

void at_skills_set_embedder(struct at_skills *s, at_skills_embed_fn fn, void *arg)
{
    s->embed_fn = fn;
    s->embed_arg = arg;
}

void at_skills_tree_done(struct at_skills *s, const char *root_id)
{
    if (!s || !ws_name_ok(root_id) || !strcmp(root_id, "user"))
        return;
    ws_schedule(s, root_id, at_wall_ms() + (int64_t)(s->ws_grace_s * 1000));
}

int at_skills_workspaces_recover(struct at_skills *s, at_skills_tree_finished_fn finished,
                                 void *arg)
{
    char *work = at_asprintf("%s/skills/work", s->data_dir);
    DIR *dir = opendir(work);
    free(work);
    if (!dir)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (!ws_name_ok(de->d_name) || !strcmp(de->d_name, "user"))
            continue;
        long long fin = 0;
        if (!finished(arg, de->d_name, &fin))
            continue;
        int64_t due = fin > 0 ? fin + (int64_t)(s->ws_grace_s * 1000) : at_wall_ms();
        ws_schedule(s, de->d_name, due);
        n++;
    }
    closedir(dir);
    return n;
}

/* Remove DATA/skills/work/ROOT (a checked name: nothing outside). */
static void ws_remove(struct at_skills *s, const char *root)
{
    if (!ws_name_ok(root))
        return;
    char *path = at_asprintf("%s/skills/work/%s", s->data_dir, root);
    int rc = at_fs_remove_tree(path);
    if (rc)
        at_warn("skills", "cannot remove the workspace %s: %s", path, at_err_msg(rc));
    free(path);
}

static void *ws_main(void *arg)
{
    struct at_skills *s = arg;
    pthread_mutex_lock(&s->ws_mu);
    while (!s->ws_stopping) {
        int64_t now = at_wall_ms(), next = 0;
        struct at__ws_due *due = NULL;
        if (s->ws_due && s->ws_due->due_ms <= now) { /* the list is in due order */
            due = s->ws_due;
            s->ws_due = due->next;
            if (!s->ws_due)
                s->ws_tail = NULL;
            at_map_del(&s->ws_byroot, due->root);
        } else if (s->ws_due) {
            next = s->ws_due->due_ms;
        }
        if (due) {
            pthread_mutex_unlock(&s->ws_mu);
            ws_remove(s, due->root);
            free(due);
            pthread_mutex_lock(&s->ws_mu);
            continue;
        }
        if (!next) {
            pthread_cond_wait(&s->ws_cv, &s->ws_mu);
            continue;
        }
        struct timespec ts = {.tv_sec = (time_t)(next / 1000),
                              .tv_nsec = (long)(next % 1000) * 1000000L};
        pthread_cond_timedwait(&s->ws_cv, &s->ws_mu, &ts);
    }
    pthread_mutex_unlock(&s->ws_mu);
    return NULL;
}

static const json_t *cfg_get(const struct at_config *c, const char *a, const char *b)
{
    const json_t *v = json_object_get(c ? c->json : NULL, "skills");
    if (a)
        v = json_object_get(v, a);
    if (b)
        v = json_object_get(v, b);
    return v;
}

int at_skills_new(const struct at_skills_cfg *cfg, struct at_skills **out, struct at_diag *d)
{
    struct at_skills *s = at_calloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->data_dir = at_strdup(cfg->data_dir);
    s->db_path = at_strdup(cfg->db_path);
    s->cfg.data_dir = s->data_dir;
    s->cfg.db_path = s->db_path;
    pthread_mutex_init(&s->db_mu, NULL);
    pthread_rwlock_init(&s->lock, NULL);
    pthread_mutex_init(&s->q_mu, NULL);
    pthread_cond_init(&s->q_cv, NULL);
    pthread_mutex_init(&s->mounts_mu, NULL);
    pthread_mutex_init(&s->ws_mu, NULL);
    pthread_cond_init(&s->ws_cv, NULL);
    at_map_init(&s->ws_byroot);
    const struct at_config *c = cfg->config;
    const char *url = json_string_value(cfg_get(c, "web_search", "url"));
    const char *env = getenv("ATLAS_SKILLS_WEB_SEARCH_URL");
    if (env && *env)
        url = env;
    s->search_url = url ? at_strdup(url) : NULL;
    s->search_timeout_s = cfg_num(cfg_get(c, "web_search", "timeout_s"), 10);
    const char *em = json_string_value(
        json_object_get(json_object_get(cfg_get(c, "memory", NULL), "embedding"), "model"));
    s->embed_model = em && *em ? at_strdup(em) : NULL;
    s->code_timeout_s = cfg_num(cfg_get(c, "code_execution", "timeout_s"), 30);
    s->code_memory_mb = (long long)cfg_num(cfg_get(c, "code_execution", "memory_mb"), 512);
    s->code_max_output =
        (long long)cfg_num(cfg_get(c, "code_execution", "max_output_bytes"), 1 << 20);
    s->http_timeout_s = cfg_num(cfg_get(c, "http", "timeout_s"), 10);
    s->http_max_bytes = (long long)cfg_num(cfg_get(c, "http", "max_bytes"), 4 << 20);
    s->nworkers = (int)cfg_num(cfg_get(c, "workers", NULL), 4);
    s->q_max = (size_t)cfg_num(cfg_get(c, "queue", NULL), 1024);
    s->ws_grace_s = cfg_num(cfg_get(c, "workspace", "grace_s"), 60);
    const char *genv = getenv("ATLAS_SKILLS_WORKSPACE_GRACE_S");
    if (genv && *genv) {
        char *end = NULL;
        double g = strtod(genv, &end);
        if (end && !*end && g >= 0)
            s->ws_grace_s = g;
    }
    char *work = at_asprintf("%s/skills/work", s->data_dir);
    int rc = at_fs_mkdir_p(work, 0700);
    free(work);
    if (rc) {
        at_diag_set(d, rc, s->data_dir, 0, 0, "skills: cannot create DATA/skills/work");
        goto fail;
    }
    if ((rc = db_open(s, d)))
        goto fail;
    for (size_t i = 0; i < NBUILTINS; i++)
        table_put(s, builtin_skill(builtins[i]));
    db_load(s);
    s->workers = at_calloc((size_t)s->nworkers, sizeof(*s->workers));
    for (int i = 0; i < s->nworkers; i++)
        if (pthread_create(&s->workers[i], NULL, worker_main, s)) {
            s->nworkers = i;
            rc = at_diag_set(d, AT_ENOMEM, NULL, 0, 0, "skills: cannot start a worker thread");
            goto fail;
        }
    if (pthread_create(&s->ws_thread, NULL, ws_main, s)) {
        rc = at_diag_set(d, AT_ENOMEM, NULL, 0, 0, "skills: cannot start the workspace thread");
        goto fail;
    }
    s->ws_started = 1;
    *out = s;
    return 0;
fail:
    at_skills_free(s);
    return rc;
}

void at_skills_free(struct at_skills *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->q_mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->q_cv);
    pthread_mutex_unlock(&s->q_mu);
    for (int i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i], NULL);
    free(s->workers);
    pthread_mutex_lock(&s->ws_mu);
    s->ws_stopping = 1;
    pthread_cond_broadcast(&s->ws_cv);
    pthread_mutex_unlock(&s->ws_mu);
    if (s->ws_started)
        pthread_join(s->ws_thread, NULL);
    while (s->ws_due) {
        struct at__ws_due *e = s->ws_due;
        s->ws_due = e->next;
        free(e);
    }
    at_map_release(&s->ws_byroot);
    pthread_mutex_destroy(&s->ws_mu);
    pthread_cond_destroy(&s->ws_cv);
    at__mounts_free(s);
    for (size_t i = 0; i < s->n; i++)
        at__skill_unref(s->tab[i]);
    free(s->tab);
    if (s->db)
        sqlite3_close(s->db);
    pthread_mutex_destroy(&s->db_mu);
    pthread_rwlock_destroy(&s->lock);
    pthread_mutex_destroy(&s->q_mu);
    pthread_cond_destroy(&s->q_cv);
    pthread_mutex_destroy(&s->mounts_mu);
    free(s->search_url);
    free(s->embed_model);
    free(s->data_dir);
    free(s->db_path);
    free(s);
}

/* ---- availability and grants ---- */

static int installed(struct at_skills *s, const char *name, const char *constraint)
{
    struct at__skill *k = at__skill_find(s, name, constraint);
    int ok = k && (k->kind != AT__SK_BUILTIN || builtin_enabled(s, k->builtin, NULL, 0));
    at__skill_unref(k);
    return ok;
}

int at_skills_available(void *skills, const char *spec)
{
    char name[AT_AGENT_NAME_MAX + 1];
    const char *cons;
    if (!skills || at_contract_skill_spec(spec, name, sizeof(name), &cons))
        return 0;
    return installed(skills, name, cons);
}

/* The requires.skills entry that grants name: 1 and *constraint, or 0. */
static int granted(const struct at_skill_caller *c, const char *name, char *cons, size_t n)
{
    cons[0] = '\0';
    if (!c->agent)
        return 1;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(c->requires, "skills"), i, v)
    {
        char nm[AT_AGENT_NAME_MAX + 1];
        const char *cn;
        if (at_contract_skill_spec(json_string_value(v), nm, sizeof(nm), &cn) == 0 &&
            !strcmp(nm, name)) {
            snprintf(cons, n, "%s", cn ? cn : "");
            return 1;
        }
    }
    return 0;
}

static json_t *skill_summary(struct at_skills *s, const struct at__skill *k)
{
    json_t *j =
        json_pack("{s:s,s:s,s:s,s:s}", "name", k->name, "version", k->version, "kind",
                  kind_name(k->kind), "description", at_json_str(k->def, "description", ""));
    if (k->kind == AT__SK_BUILTIN) {
        char why[300];
        int on = builtin_enabled(s, k->builtin, why, sizeof(why));
        json_object_set_new(j, "enabled", json_boolean(on));
        if (!on)
            json_object_set_new(j, "reason", json_string(why));
    } else {
        json_object_set_new(j, "enabled", json_true());
        json_object_set_new(j, "digest", json_string(k->digest));
    }
    return j;
}

json_t *at_skills_list_json(struct at_skills *s, const struct at_skill_caller *caller)
{
    json_t *arr = json_array();
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->n; i++) {
        char cons[128];
        if (caller && !granted(caller, s->tab[i]->name, cons, sizeof(cons)))
            continue;
        if (caller && cons[0] && at_version_satisfies(s->tab[i]->version, cons) != 1)
            continue;
        json_array_append_new(arr, skill_summary(s, s->tab[i]));
    }
    pthread_rwlock_unlock(&s->lock);
    return json_pack("{s:o}", "skills", arr);
}

int at_skills_describe(struct at_skills *s, const char *name, const char *version, json_t **out)
{
    char cons[80];
    if (version)
        snprintf(cons, sizeof(cons), "==%s", version);
    struct at__skill *k = at__skill_find(s, name, version ? cons : NULL);
    if (!k)
        return AT_ENOENT;
    json_t *j = json_deep_copy(k->def);
    json_t *sum = skill_summary(s, k);
    json_object_update(j, sum);
    json_decref(sum);
    json_t *versions = json_array();
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->tab[i]->name, name))
            json_array_append_new(versions, json_string(s->tab[i]->version));
    pthread_rwlock_unlock(&s->lock);
    json_object_set_new(j, "versions", versions);
    if (k->kind == AT__SK_MCP) {
        struct at__mount *m = at__mount_get(s, k->name, json_object_get(k->def, "mcp"));
        if (m)
            json_object_set_new(j, "server", at__mount_info(m));
    }
    at__skill_unref(k);
    *out = j;
    return 0;
}

/* ---- registration ---- */

int at_skills_register(struct at_skills *s, const json_t *def, int force, json_t **out,
                       struct at_diag *d)
{
    struct at__skill *k = NULL;
    int rc = skill_from_def(s, def, 0, &k, d);
    if (rc || !k)
        return rc ? rc : AT_EINTERNAL;
    char cons[80];
    snprintf(cons, sizeof(cons), "==%s", k->version);
    struct at__skill *old = at__skill_find(s, k->name, cons);
    if (old && !force && !json_equal(old->def, k->def)) {
        at__skill_unref(old);
        at__skill_unref(k);
        return at_diag_set(d, AT_EEXIST, NULL, 0, 0,
                           "skill %s@%s is registered with another definition (--force replaces "
                           "it)",
                           json_string_value(json_object_get(def, "name")),
                           json_string_value(json_object_get(def, "version")));
    }
    at__skill_unref(old);
    if (k->kind == AT__SK_SKILLMD && (rc = at__skillmd_materialize(s, k->def, d))) {
        at__skill_unref(k);
        return rc;
    }
    int64_t now = at_wall_ms();
    json_object_set_new(k->def, "registered_ms", json_integer(now));
    char *text = at_json_dumps(k->def);
    if (strlen(text) > MAX_DEF_BYTES) {
        free(text);
        at__skill_unref(k);
        return at_diag_set(d, AT_E2BIG, NULL, 0, 0, "a skill definition is at most %u bytes",
                           MAX_DEF_BYTES);
    }
    pthread_mutex_lock(&s->db_mu);
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO skills VALUES (?, ?, ?, ?)", -1, &st,
                                NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_text(st, 1, k->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, k->version, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, now);
        ok = sqlite3_step(st) == SQLITE_DONE;
    }
    if (!ok)
        at_diag_set(d, AT_EIO, NULL, 0, 0, "skills: cannot store the skill: %s",
                    sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->db_mu);
    free(text);
    if (!ok) {
        at__skill_unref(k);
        return AT_EIO;
    }
    *out = json_incref(k->def);
    table_put(s, k);
    return 0;
}

int at_skills_remove(struct at_skills *s, const char *name, const char *version, int *removed,
                     struct at_diag *d)
{
    *removed = 0;
    for (size_t i = 0; i < NBUILTINS; i++)
        if (!strcmp(builtins[i]->name, name))
            return at_diag_set(d, AT_EPERM, NULL, 0, 0, "\"%s\" is a built-in skill", name);
    pthread_mutex_lock(&s->db_mu);
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(s->db,
                                "DELETE FROM skills WHERE name = ?1 AND (?2 IS NULL OR version "
                                "= ?2)",
                                -1, &st, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (version)
            sqlite3_bind_text(st, 2, version, -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->db_mu);
    if (!ok)
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "skills: cannot delete: %s",
                           sqlite3_errmsg(s->db));
    pthread_rwlock_wrlock(&s->lock);
    size_t j = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct at__skill *k = s->tab[i];
        if (!strcmp(k->name, name) && (!version || !strcmp(k->version, version))) {
            at__skill_unref(k);
            (*removed)++;
        } else {
            s->tab[j++] = k;
        }
    }
    s->n = j;
    pthread_rwlock_unlock(&s->lock);
    if (!*removed)
        return at_diag_set(d, AT_ENOENT, NULL, 0, 0, "no skill \"%s%s%s\"", name,
                           version ? "@" : "", version ? version : "");
    return 0;
}

/* ---- invocation ---- */

/* The skill the caller may call as name: a reference, or NULL with d. */
static struct at__skill *resolve(struct at_skills *s, const struct at_skill_caller *c,
                                 const char *name, struct at_diag *d)
{
    char cons[128];
    if (!granted(c, name, cons, sizeof(cons))) {
        at_diag_set(d, AT_EPERM, NULL, 0, 0,
                    "skill \"%s\" is not declared in requires.skills of agent %s: a job may "
                    "call only the skills its contract declares",
                    name, c->agent);
        return NULL;
    }
    struct at__skill *k = at__skill_find(s, name, cons[0] ? cons : NULL);
    if (!k) {
        at_diag_set(d, AT_ESKILL, NULL, 0, 0, "skill \"%s%s%s\" is not installed (atlas skill ls)",
                    name, cons[0] ? "@" : "", cons);
        return NULL;
    }
    return k;
}

int at_skills_agent_target(struct at_skills *s, const struct at_skill_caller *caller,
                           const char *name, char *agent, size_t n, struct at_diag *d)
{
    struct at__skill *k = resolve(s, caller, name, d);
    if (!k)
        return d->code;
    int is = k->kind == AT__SK_AGENT;
    if (is)
        snprintf(agent, n, "%s", at_json_str(k->def, "agent", ""));
    at__skill_unref(k);
    return is;
}

/* The caller's workspace: DATA/skills/work/ROOT/JOB for a job (its own:
 * siblings of one tree never share one), DATA/skills/work/user for a user. */
static int workspace_of(struct at_skills *s, const struct at_skill_caller *c, char *out, size_t n,
                        struct at_diag *d)
{
    const char *job = c->job_id && *c->job_id ? c->job_id : NULL;
    const char *root = c->root_id && *c->root_id ? c->root_id : job;
    if (!root) {
        snprintf(out, n, "%s/skills/work/user", s->data_dir);
    } else {
        if (!ws_name_ok(root) || (job && !ws_name_ok(job)) || !strcmp(root, "user"))
            return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "skills: bad job id");
        snprintf(out, n, "%s/skills/work/%s", s->data_dir, root);
        if (mkdir(out, 0700) && errno != EEXIST)
            return at_diag_set(d, AT_EIO, NULL, 0, 0,
                               "skills: cannot create the tree's workspace folder: %s",
                               strerror(errno));
        size_t len = strlen(out);
        snprintf(out + len, n - len, "/%s", job ? job : root);
    }
    if (mkdir(out, 0700) && errno != EEXIST)
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "skills: cannot create the job's workspace: %s",
                           strerror(errno));
    return 0;
}

static int validate_input(const struct at__skill *k, const json_t *input, struct at_diag *d)
{
    if (!k->input)
        return 0;
    struct at_diag sd;
    at_diag_clear(&sd);
    if (at_schema_validate(k->input, input, &sd) == 0)
        return 0;
    at_diag_set(d, AT_ESCHEMA, NULL, 0, 0, "invalid input for skill %s: %s", k->name, sd.msg);
    at_diag_set_pointer(d, sd.pointer);
    return AT_ESCHEMA;
}

/* SKILL.md folders: {} answers the instructions and scripts; {script,
 * args, stdin} runs one of its scripts through code-execution. */
static int invoke_skillmd(struct at_skills *s, const struct at__call *c, const json_t *input,
                          json_t **out, struct at_diag *d)
{
    const json_t *md = json_object_get(c->skill->def, "skillmd");
    const char *script = at_json_str(input, "script", NULL);
    if (!script) {
        *out = json_pack("{s:s,s:s,s:O,s:O}", "name", c->skill->name, "description",
                         at_json_str(c->skill->def, "description", ""), "instructions",
                         json_object_get(md, "instructions"), "scripts",
                         json_object_get(md, "scripts") ? json_object_get(md, "scripts")
                                                        : json_array());
        return 0;
    }
    int listed = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(md, "scripts"), i, v) listed |=
        json_is_string(v) && !strcmp(json_string_value(v), script);
    if (!listed)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "skill %s has no script \"%s\"",
                           c->skill->name, script);
    size_t len = strlen(script);
    struct at__exec_req r = {
        .language = len > 3 && !strcmp(script + len - 3, ".py") ? "python" : "shell",
        .script = script,
        .skill_dir = at_json_str(md, "dir", NULL),
        .stdin_text = at_json_str(input, "stdin", NULL),
        .args = json_object_get(input, "args"),
        .timeout_s = s->code_timeout_s,
        .network = 0,
    };
    return at__exec_run(s, c, &r, out, d);
}

struct sync_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, rc;
    json_t *out;
    struct at_diag d;
};

static void sync_done(void *arg, int rc, json_t *output, const struct at_diag *d)
{
    struct sync_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->out = output;
    if (d)
        w->d = *d;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* An MCP skill's input: {tool, arguments} */
static int mcp_args(const struct at__skill *k, const json_t *input, const char **tool,
                    const json_t **args, struct at_diag *d)
{
    *tool = at_json_str(input, "tool", NULL);
    *args = json_object_get(input, "arguments");
    if (!*tool)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "skill %s is an MCP server: the input is {\"tool\": NAME, "
                           "\"arguments\": {...}} (atlas skill describe %s lists its tools)",
                           k->name, k->name);
    if (*args && !json_is_object(*args))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "arguments must be an object");
    return 0;
}

int at_skills_invoke(struct at_skills *s, const struct at_skill_caller *caller, const char *name,
                     const json_t *input, json_t **output, struct at_diag *d)
{
    *output = NULL;
    json_t *empty = NULL;
    if (!input)
        input = empty = json_object();
    struct at__skill *k = resolve(s, caller, name, d);
    int rc = k ? 0 : d->code;
    if (rc)
        goto out;
    if ((rc = validate_input(k, input, d)))
        goto out;
    struct at__call c = {.caller = caller, .skill = k};
    switch (k->kind) {
    case AT__SK_BUILTIN: {
        char why[400];
        if (!builtin_enabled(s, k->builtin, why, sizeof(why))) {
            rc = at_diag_set(d, AT_EUNAVAIL, NULL, 0, 0, "skill %s is off: %s", k->name, why);
            break;
        }
        if ((rc = workspace_of(s, caller, c.workspace, sizeof(c.workspace), d)))
            break;
        rc = k->builtin->fn(s, &c, input, output, d);
        break;
    }
    case AT__SK_SKILLMD:
        if ((rc = workspace_of(s, caller, c.workspace, sizeof(c.workspace), d)))
            break;
        rc = invoke_skillmd(s, &c, input, output, d);
        break;
    case AT__SK_MCP: {
        const char *tool;
        const json_t *args;
        if ((rc = mcp_args(k, input, &tool, &args, d)))
            break;
        struct at__mount *m = at__mount_get(s, k->name, json_object_get(k->def, "mcp"));
        struct sync_wait w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
        at_diag_clear(&w.d);
        at__mount_call(m, tool, args, s->code_timeout_s, sync_done, &w);
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        rc = w.rc;
        *output = w.out;
        if (rc)
            *d = w.d;
        break;
    }
    case AT__SK_AGENT:
        rc = at_diag_set(d, AT_EUNSUPPORTED, NULL, 0, 0,
                         "skill %s is an agent: it runs as a child job through "
                         "atlas.skills.invoke",
                         k->name);
        break;
    }
out:
    if (rc && !d->code)
        at_diag_set(d, rc, NULL, 0, 0, "skill %s failed: %s", name, at_err_msg(rc));
    at__skill_unref(k);
    json_decref(empty);
    return rc;
}

/* MCP calls do not take a worker: the mount's thread answers. */
struct mcp_async {
    at_skill_done_fn done;
    void *arg;
};

static void mcp_async_done(void *arg, int rc, json_t *output, const struct at_diag *d)
{
    struct mcp_async *a = arg;
    a->done(a->arg, rc, output, d);
    free(a);
}

int at_skills_invoke_async(struct at_skills *s, const struct at_skill_caller *caller,
                           const char *name, const json_t *input, at_skill_done_fn done, void *arg)
{
    struct at_diag d;
    at_diag_clear(&d);
    struct at__skill *k = resolve(s, caller, name, &d);
    if (k && k->kind == AT__SK_MCP) {
        const char *tool;
        const json_t *args;
        json_t *empty = input ? NULL : json_object();
        int rc = validate_input(k, input ? input : empty, &d);
        if (!rc)
            rc = mcp_args(k, input ? input : empty, &tool, &args, &d);
        if (!rc) {
            struct at__mount *m = at__mount_get(s, k->name, json_object_get(k->def, "mcp"));
            struct mcp_async *a = at_calloc(1, sizeof(*a));
            a->done = done;
            a->arg = arg;
            at__mount_call(m, tool, args, s->code_timeout_s, mcp_async_done, a);
        } else {
            done(arg, rc, NULL, &d);
        }
        json_decref(empty);
        at__skill_unref(k);
        return 0;
    }
    at__skill_unref(k);
    struct at__job *j = at_calloc(1, sizeof(*j));
    if (caller->agent) {
        snprintf(j->agent, sizeof(j->agent), "%s", caller->agent);
        j->has_agent = 1;
    }
    if (caller->job_id) {
        snprintf(j->job_id, sizeof(j->job_id), "%s", caller->job_id);
        snprintf(j->root_id, sizeof(j->root_id), "%s",
                 caller->root_id ? caller->root_id : caller->job_id);
        j->has_job = 1;
    }
    if (caller->conversation) {
        snprintf(j->conversation, sizeof(j->conversation), "%s", caller->conversation);
        j->has_conv = 1;
    }
    j->requires = caller->requires ? json_deep_copy(caller->requires) : NULL;
    snprintf(j->name, sizeof(j->name), "%s", name);
    j->input = input ? json_deep_copy(input) : NULL;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&s->q_mu);
    if (s->q_len >= s->q_max || s->stopping) {
        pthread_mutex_unlock(&s->q_mu);
        job_free(j);
        return AT_EBUSY;
    }
    if (s->q_tail)
        s->q_tail->next = j;
    else
        s->q_head = j;
    s->q_tail = j;
    s->q_len++;
    pthread_cond_signal(&s->q_cv);
    pthread_mutex_unlock(&s->q_mu);
    return 0;
}
