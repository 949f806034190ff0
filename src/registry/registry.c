#include "registry/registry.h"
#include "registry/internal.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/map.h"
#include "base/spawn.h"
#include "contract/hardware.h"
#include "json/json.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct at_reg_agent *at_reg_agent_ref(struct at_reg_agent *a)
{
    if (a)
        atomic_fetch_add(&a->refs, 1);
    return a;
}

void at_reg_agent_unref(struct at_reg_agent *a)
{
    if (!a || atomic_fetch_sub(&a->refs, 1) != 1)
        return;
    at_contract_unref(a->contract);
    free(a->key);
    free(a->digest);
    free(a->kind);
    free(a->source);
    free(a->dir);
    free(a->contract_file);
    free(a->env);
    free(a->env_kind);
    json_decref(a->build);
    free(a);
}

int at_registry_split_ref(const char *ref, char *name, size_t nlen, char *version, size_t vlen)
{
    const char *colon = strrchr(ref, ':');
    size_t n = colon ? (size_t)(colon - ref) : strlen(ref);
    if (n == 0 || n >= nlen)
        return AT_EINVAL;
    memcpy(name, ref, n);
    name[n] = '\0';
    if (colon) {
        size_t vl = strlen(colon + 1);
        if (vl == 0 || vl >= vlen)
            return AT_EINVAL;
        memcpy(version, colon + 1, vl + 1);
    } else {
        version[0] = '\0';
    }
    return 0;
}

static char *contract_path(struct at_registry *r, const char *name, const char *version)
{
    return at_asprintf("%s/%s@%s.json", r->contracts_dir, name, version);
}

static char *build_path(struct at_registry *r, const char *name, const char *version)
{
    return at_asprintf("%s/%s@%s.json", r->builds_dir, name, version);
}

/* The build record of name@version (DATA/builds), or NULL. */
static json_t *build_read(struct at_registry *r, const char *name, const char *version)
{
    char *p = build_path(r, name, version);
    json_t *j = at_fs_is_file(p) ? json_load_file(p, 0, NULL) : NULL;
    free(p);
    if (j && (!json_is_object(j) || !json_string_value(json_object_get(j, "env")))) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Keep (or, build NULL, drop) the build record of name@version. */
static int build_write(struct at_registry *r, const char *name, const char *version,
                       const json_t *build)
{
    char *p = build_path(r, name, version);
    int rc = 0;
    if (!build) {
        unlink(p);
    } else {
        char *dir = at_strdup(p);
        *strrchr(dir, '/') = '\0';
        rc = at_fs_mkdir_p(dir, 0755);
        free(dir);
        char *txt = at_json_dumps(build);
        if (!rc)
            rc = at_fs_write_atomic(p, txt, strlen(txt), 0644);
        free(txt);
    }
    free(p);
    return rc;
}

/* Build an index entry from a store record (takes nothing from rec). */
static int entry_from_rec(struct at_registry *r, const struct at_agent_rec *rec,
                          struct at_reg_agent **out, struct at_diag *d)
{
    struct at_contract *c;
    int rc = at_contract_from_json(rec->contract, &c, d);
    if (rc)
        return rc;
    struct at_reg_agent *a = at_calloc(1, sizeof(*a));
    atomic_init(&a->refs, 1);
    a->contract = c;
    a->key = at_asprintf("%s@%s", rec->name, rec->version);
    a->digest = at_strdup(rec->digest ? rec->digest : "");
    a->kind = at_strdup(rec->kind ? rec->kind : "local");
    a->source = at_strdup(rec->source ? rec->source : "");
    a->registered_ms = rec->registered_ms;
    if (strcmp(a->kind, "local") == 0) {
        a->dir = at_asprintf("%s/sha256-%s", r->agents_dir,
                             strncmp(a->digest, "sha256:", 7) == 0 ? a->digest + 7 : a->digest);
        a->contract_file = contract_path(r, rec->name, rec->version);
        a->build = build_read(r, rec->name, rec->version);
        if (a->build) {
            a->env = at_strdup(json_string_value(json_object_get(a->build, "env")));
            a->env_kind = at_strdup(at_json_str(a->build, "kind", "python"));
        }
        if (!at_fs_is_file(a->contract_file)) {
            /* re-create a missing contract file (it is derived data) */
            char *dir = at_strdup(a->contract_file);
            *strrchr(dir, '/') = '\0';
            at_fs_mkdir_p(dir, 0755);
            free(dir);
            char *txt = at_json_dumps(rec->contract);
            at_fs_write_atomic(a->contract_file, txt, strlen(txt), 0644);
            free(txt);
        }
    }
    *out = a;
    return 0;
}

/* Recompute latest[name] (the default version) from by_key: the highest
 * version that is not a pre-release.  A pre-release is never the default,
 * even when it is the only version: "NAME" must not start running a beta
 * because the last release was unregistered; it is run pinned
 * (NAME:1.3.0-beta.1).  Caller holds the write lock. */
static void refresh_latest(struct at_registry *r, const char *name)
{
    struct at_reg_agent *best = NULL;
    size_t it = 0;
    void *v;
    while (at_map_next(&r->by_key, &it, NULL, &v)) {
        struct at_reg_agent *a = v;
        if (strcmp(a->contract->name, name) != 0 || a->contract->semver.pre[0])
            continue;
        if (!best || at_semver_cmp(&a->contract->semver, &best->contract->semver) > 0)
            best = a;
    }
    if (best)
        at_map_put(&r->latest, name, best);
    else
        at_map_del(&r->latest, name);
}

/* Insert or replace an entry.  Caller holds the write lock. */
static void index_put(struct at_registry *r, struct at_reg_agent *a)
{
    struct at_reg_agent *old = at_map_put(&r->by_key, a->key, a);
    refresh_latest(r, a->contract->name);
    at__registry_retire(r, old);
}

int at_registry_new(struct at_store *store, const char *data_dir, struct at_registry **out,
                    struct at_diag *d)
{
    struct at_registry *r = at_calloc(1, sizeof(*r));
    r->store = store;
    r->agents_dir = at_fs_join(data_dir, "agents");
    r->contracts_dir = at_fs_join(data_dir, "contracts");
    r->envs_dir = at_fs_join(data_dir, "envs");
    r->builds_dir = at_fs_join(data_dir, "builds");
    r->build_timeout_s = 600;
    pthread_rwlock_init(&r->lock, NULL);
    pthread_mutex_init(&r->py_mu, NULL);
    pthread_mutex_init(&r->build_mu, NULL);
    pthread_rwlock_init(&r->gc_gate, NULL);
    pthread_mutex_init(&r->build_tok_mu, NULL);
    pthread_mutex_init(&r->log_mu, NULL);
    r->log_lines = json_array();
    at_map_init(&r->by_key);
    at_map_init(&r->latest);
    at_map_init(&r->py_versions);
    at_map_init(&r->chains);
    int rc = at_fs_mkdir_p(r->agents_dir, 0755);
    if (!rc)
        rc = at_fs_mkdir_p(r->contracts_dir, 0755);
    if (!rc)
        rc = at_fs_mkdir_p(r->envs_dir, 0755);
    if (!rc)
        rc = at_fs_mkdir_p(r->builds_dir, 0755);
    if (rc) {
        at_diag_set(d, rc, r->agents_dir, 0, 0, "cannot create directory");
        at_registry_free(r);
        return rc;
    }
    struct at_agent_rec *recs;
    size_t n;
    rc = at_store_call(store, agent_list, NULL, &recs, &n);
    if (rc) {
        at_diag_set(d, rc, NULL, 0, 0, "cannot read agents from the store");
        at_registry_free(r);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        struct at_reg_agent *a;
        struct at_diag ed;
        at_diag_clear(&ed);
        if (entry_from_rec(r, &recs[i], &a, &ed)) {
            at_warn("registry", "skipping stored agent %s:%s: %s", recs[i].name, recs[i].version,
                    ed.msg);
            continue;
        }
        index_put(r, a);
    }
    at_agent_recs_free(recs, n);
    if ((rc = at__registry_chains_load(r))) {
        at_diag_set(d, rc, NULL, 0, 0, "cannot read chains from the store");
        at_registry_free(r);
        return rc;
    }
    at_registry_gc(r, 1, NULL); /* what unregistrations of the last run left */
    *out = r;
    return 0;
}

void at_registry_set_writer(struct at_registry *r, struct at_writer *w)
{
    r->writer = w;
}

void at_registry_free(struct at_registry *r)
{
    if (!r)
        return;
    size_t it = 0;
    void *v;
    while (at_map_next(&r->by_key, &it, NULL, &v))
        at_reg_agent_unref(v);
    at_map_release(&r->by_key);
    at_map_release(&r->latest);
    for (size_t i = 0; i < r->nretired; i++)
        at_reg_agent_unref(r->retired[i]);
    free(r->retired);
    pthread_rwlock_destroy(&r->gc_gate);
    it = 0;
    while (at_map_next(&r->py_versions, &it, NULL, &v))
        free(v);
    at_map_release(&r->py_versions);
    at__registry_chains_free(r);
    at_map_release(&r->chains);
    pthread_rwlock_destroy(&r->lock);
    pthread_mutex_destroy(&r->py_mu);
    pthread_mutex_destroy(&r->build_mu);
    free(r->agents_dir);
    free(r->contracts_dir);
    free(r->envs_dir);
    free(r->builds_dir);
    free(r->build_pip_index);
    free(r->build_pip_shown);
    free(r->build_npm_registry);
    free(r->build_init);
    free(r->build_egress_socket);
    free(r->build_platform_socket);
    json_decref(r->build_egress);
    pthread_mutex_destroy(&r->build_tok_mu);
    json_decref(r->log_lines);
    pthread_mutex_destroy(&r->log_mu);
    free(r);
}

int at_registry_add_listener(struct at_registry *r, at_reg_listener_fn fn, void *arg)
{
    pthread_rwlock_wrlock(&r->lock);
    int rc = AT_ELIMIT;
    if (r->nlisteners < AT__REG_MAX_LISTENERS) {
        r->listeners[r->nlisteners] = fn;
        r->listener_args[r->nlisteners++] = arg;
        rc = 0;
    }
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

static void notify(struct at_registry *r, enum at_reg_event ev, const char *name,
                   const char *version)
{
    pthread_rwlock_rdlock(&r->lock);
    int n = r->nlisteners;
    at_reg_listener_fn fns[AT__REG_MAX_LISTENERS];
    void *args[AT__REG_MAX_LISTENERS];
    memcpy(fns, r->listeners, sizeof(fns));
    memcpy(args, r->listener_args, sizeof(args));
    pthread_rwlock_unlock(&r->lock);
    for (int i = 0; i < n; i++)
        fns[i](args[i], ev, name, version);
}

/* ---- dependencies ---- */

const char *at__registry_python_version(struct at_registry *r, const char *interp,
                                        struct at_diag *d)
{
    pthread_mutex_lock(&r->py_mu);
    const char *cached = at_map_get(&r->py_versions, interp);
    pthread_mutex_unlock(&r->py_mu);
    if (cached)
        return cached;
    struct at_buf out;
    at_buf_init(&out, 4096);
    char *argv[] = {(char *)interp, "-c", "import platform; print(platform.python_version())",
                    NULL};
    int status = 0;
    int rc = at_spawn_capture(argv, 10000, &out, &status);
    char *ver = NULL;
    if (rc == AT_ENOENT) {
        at_diag_set(d, AT_EDEPS, NULL, 0, 0, "Python interpreter \"%s\" was not found in PATH",
                    interp);
    } else if (rc || status != 0) {
        at_diag_set(d, AT_EDEPS, NULL, 0, 0, "cannot run \"%s\" to check its version: %s", interp,
                    rc ? at_err_msg(rc) : at_buf_str(&out));
    } else {
        ver = at_buf_detach(&out, NULL);
        ver[strcspn(ver, "\r\n")] = '\0';
    }
    at_buf_release(&out);
    if (!ver)
        return NULL;
    pthread_mutex_lock(&r->py_mu);
    char *prev = at_map_put(&r->py_versions, interp, ver);
    free(prev);
    pthread_mutex_unlock(&r->py_mu);
    return ver;
}

static int check_python(struct at_registry *r, const struct at_contract *c, struct at_diag *d)
{
    if (!c->python || !at_contract_is_python(c))
        return 0;
    const char *interp = json_string_value(json_array_get(c->entrypoint, 0));
    const char *ver = at__registry_python_version(r, interp, d);
    if (!ver)
        return AT_EDEPS;
    int ok = at_version_satisfies(ver, c->python);
    if (ok == 1)
        return 0;
    return at_diag_set(d, AT_EDEPS, NULL, 0, 0,
                       "dependencies.python requires \"%s\" but %s is Python %s", c->python, interp,
                       ver);
}

/* ---- warnings ---- */

void at_reg_result_init(struct at_reg_result *res)
{
    if (res)
        memset(res, 0, sizeof(*res));
}

static void warn(struct at_reg_result *res, const char *code, const char *pointer, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
static void warn(struct at_reg_result *res, const char *code, const char *pointer, const char *fmt,
                 ...)
{
    if (!res)
        return;
    if (res->nwarnings == AT_REG_MAX_WARNINGS) {
        res->dropped++;
        return;
    }
    struct at_reg_warning *w = &res->warnings[res->nwarnings++];
    snprintf(w->code, sizeof(w->code), "%s", code);
    snprintf(w->pointer, sizeof(w->pointer), "%s", pointer ? pointer : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
    va_end(ap);
}

json_t *at_reg_result_warnings_json(const struct at_reg_result *res)
{
    json_t *arr = json_array();
    for (int i = 0; res && i < res->nwarnings; i++) {
        const struct at_reg_warning *w = &res->warnings[i];
        json_t *j = json_pack("{s:s,s:s}", "code", w->code, "message", w->msg);
        if (w->pointer[0])
            json_object_set_new(j, "pointer", json_string(w->pointer));
        json_array_append_new(arr, j);
    }
    if (res && res->dropped) {
        char msg[80];
        snprintf(msg, sizeof(msg), "%d more warnings not shown", res->dropped);
        json_array_append_new(arr, json_pack("{s:s,s:s}", "code", "more-warnings", "message", msg));
    }
    return arr;
}

/* requires.skills: a declared skill that is not installed (the skills
 * layer answers through at_contract_skill_available) is a warning, and the
 * run fails with skill-unavailable until it is installed. */
static void check_skills(const struct at_contract *c, struct at_reg_result *res)
{
    json_t *skills = json_object_get(json_object_get(c->json, "requires"), "skills");
    size_t i;
    json_t *v;
    json_array_foreach(skills, i, v)
    {
        const char *name = json_string_value(v);
        if (!name || at_contract_skill_available(name))
            continue;
        char ptr[64];
        snprintf(ptr, sizeof(ptr), "/requires/skills/%zu", i);
        warn(res, "skill-unavailable", ptr,
             "requires.skills: skill \"%s\" is not installed on this node (atlas skill ls); "
             "runs that need it fail with skill-unavailable",
             name);
    }
}

/* hardware: what this machine lacks is a warning now (runs fail with
 * hardware-unavailable until the scheduler can place the agent elsewhere). */
static void check_hardware(const struct at_contract *c, struct at_reg_result *res)
{
    char why[300];
    if (!at_hardware_contract_fit(c, at_sysinfo_current(), why, sizeof(why)))
        return;
    warn(res, "hardware-unavailable", "/hardware",
         "hardware: this machine cannot run it: %s; its runs wait for a node that can "
         "(unschedulable)",
         why);
}

/* Run by the agent's interpreter with argv [dir, spec...]: one JSON line
 * per spec, [spec, name, version]; version "" when the name imports but has
 * no distribution metadata, null when it is not there at all. */
static const char packages_py[] =
    "import importlib.metadata as m, importlib.util as u, json, re, sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "for spec in sys.argv[2:]:\n"
    "    name = re.split(r'[<>=!~;\\[ @(]', spec, maxsplit=1)[0].strip()\n"
    "    try:\n"
    "        v = m.version(name)\n"
    "    except Exception:\n"
    "        try:\n"
    "            v = '' if u.find_spec(name.replace('-', '_')) else None\n"
    "        except Exception:\n"
    "            v = None\n"
    "    print(json.dumps([spec, name, v]))\n";

/* The version constraint of a requirement ("langchain>=0.2,<1" -> ">=0.2,<1"),
 * without extras and markers; "" when none. */
static void spec_constraint(const char *spec, char *out, size_t len)
{
    const char *p = spec + strcspn(spec, "<>=!~;[ @(");
    if (*p == '[')
        p = strchr(p, ']') ? strchr(p, ']') + 1 : p + strlen(p);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, ";");
    while (n > 0 && p[n - 1] == ' ')
        n--;
    if (*p == '@' || *p == '(') /* URLs, old-style parentheses: not checked */
        n = 0;
    snprintf(out, len, "%.*s", (int)n, p);
}

/* dependencies.packages: reported when the agent's Python cannot import
 * them (installing them is the distribution issue's). */
static void check_packages(const struct at_contract *c, const char *dir, struct at_reg_result *res)
{
    json_t *pkgs = json_object_get(json_object_get(c->json, "dependencies"), "packages");
    size_t n = json_array_size(pkgs);
    if (n == 0 || !at_contract_is_python(c))
        return;
    const char *interp = json_string_value(json_array_get(c->entrypoint, 0));
    /* the daemon's environment, which agents inherit (PYTHONPATH included) */
    char **argv = at_calloc(n + 5, sizeof(*argv));
    argv[0] = (char *)interp;
    argv[1] = "-c";
    argv[2] = (char *)packages_py;
    argv[3] = (char *)dir;
    for (size_t i = 0; i < n; i++)
        argv[4 + i] = (char *)json_string_value(json_array_get(pkgs, i));
    struct at_buf out;
    at_buf_init(&out, (size_t)256 * 1024);
    int status = 0;
    int rc = at_spawn_capture(argv, 10000, &out, &status);
    free(argv);
    if (rc || status != 0) {
        warn(res, "packages-unchecked", "/dependencies/packages",
             "dependencies.packages: cannot ask %s whether they are installed (%s)", interp,
             rc ? at_err_msg(rc) : "it exited with an error");
        at_buf_release(&out);
        return;
    }
    const char *line = at_buf_str(&out);
    for (size_t i = 0; i < n && *line; i++) {
        size_t ll = strcspn(line, "\n");
        json_t *row = json_loadb(line, ll, 0, NULL);
        line += ll + (line[ll] == '\n');
        const char *spec = json_string_value(json_array_get(row, 0));
        const char *name = json_string_value(json_array_get(row, 1));
        json_t *ver = json_array_get(row, 2);
        char ptr[64], want[200];
        snprintf(ptr, sizeof(ptr), "/dependencies/packages/%zu", i);
        if (!spec || !name) {
            json_decref(row);
            continue;
        }
        spec_constraint(spec, want, sizeof(want));
        if (json_is_null(ver)) {
            warn(res, "package-missing", ptr,
                 "dependencies.packages: \"%s\" is not installed for %s (set "
                 "registry.build.pip_index_url to have Atlas install them); the agent may "
                 "fail when it imports it",
                 name, interp);
        } else if (json_string_length(ver) > 0 && want[0] &&
                   at_version_satisfies(json_string_value(ver), want) == 0) {
            warn(res, "package-version", ptr,
                 "dependencies.packages: \"%s\" wants %s, but %s has %s %s", spec, want, interp,
                 name, json_string_value(ver));
        }
        json_decref(row);
    }
    at_buf_release(&out);
}

/* ---- registration ---- */

static void fill_result(struct at_reg_result *res, const struct at_contract *c, const char *digest,
                        const char *status)
{
    if (!res)
        return;
    snprintf(res->name, sizeof(res->name), "%s", c->name);
    snprintf(res->version, sizeof(res->version), "%s", c->version);
    snprintf(res->digest, sizeof(res->digest), "%s", digest ? digest : "");
    res->status = status;
}

static int commit_entry(struct at_registry *r, struct at_contract *c, const char *digest,
                        const char *kind, const char *source, int force, const json_t *build,
                        struct at_reg_result *res, struct at_diag *d)
{
    struct at_agent_rec rec = {
        .name = c->name,
        .version = c->version,
        .digest = (char *)digest,
        .kind = (char *)kind,
        .source = (char *)source,
        .contract = c->json,
        .registered_ms = at_wall_ms(),
    };
    pthread_rwlock_wrlock(&r->lock);
    char *key = at_asprintf("%s@%s", c->name, c->version);
    int existed = at_map_get(&r->by_key, key) != NULL;
    int rc = at_writer_agent_put(r->writer, r->store, &rec, force);
    if (rc != AT_AGAIN)
        free(key);
    if (rc == AT_AGAIN) {
        /* the same content: its build record may still be new (built now,
         * or an index configured since) */
        struct at_reg_agent *a = NULL, *was = at_map_get(&r->by_key, key);
        if (was)
            rec.registered_ms = was->registered_ms;
        if (build && build_write(r, c->name, c->version, build) == 0 &&
            entry_from_rec(r, &rec, &a, NULL) == 0)
            index_put(r, a);
        free(key);
        pthread_rwlock_unlock(&r->lock);
        fill_result(res, c, digest, "unchanged");
        return 0;
    }
    if (rc == AT_EEXIST) {
        pthread_rwlock_unlock(&r->lock);
        return at_diag_set(d, AT_EEXIST, NULL, 0, 0,
                           "%s:%s is already registered with different content; bump the "
                           "version or register with --force to replace it",
                           c->name, c->version);
    }
    if (rc) {
        pthread_rwlock_unlock(&r->lock);
        return at_diag_set(d, rc, NULL, 0, 0, "cannot store the agent: %s", at_err_msg(rc));
    }
    struct at_reg_agent *a;
    if (strcmp(kind, "local") == 0 && build_write(r, c->name, c->version, build) != 0)
        at_warn("registry", "cannot keep the build record of %s:%s", c->name, c->version);
    rc = entry_from_rec(r, &rec, &a, d);
    if (!rc)
        index_put(r, a);
    pthread_rwlock_unlock(&r->lock);
    if (rc)
        return rc;
    fill_result(res, c, digest, existed ? "replaced" : "created");
    notify(r, AT_REG_ADDED, c->name, c->version);
    return 0;
}

int at_registry_register_dir(struct at_registry *r, const char *path, const char *name, int force,
                             struct at_reg_result *res, struct at_diag *d)
{
    at_reg_result_init(res);
    if (path[0] != '/')
        return at_diag_set(d, AT_EINVAL, path, 0, 0, "the path must be absolute");
    struct at_contract *c = NULL;
    int rc = at_contract_load_dir(path, &c, d);
    if (rc)
        return rc;
    if (name && strcmp(name, c->name) != 0) {
        if (!at_agent_name_valid(name)) {
            at_contract_unref(c);
            return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "\"%s\" is not a valid agent name", name);
        }
        /* --name overrides the contract's name: rebuild from the JSON */
        json_t *j = json_deep_copy(c->json);
        json_object_set_new(j, "name", json_string(name));
        at_contract_unref(c);
        rc = at_contract_from_json(j, &c, d);
        json_decref(j);
        if (rc)
            return rc;
    }
    check_skills(c, res);
    check_hardware(c, res);
    if (c->remote) {
        /* an agent.yaml may describe a remote agent: nothing to snapshot */
        rc = commit_entry(r, c, "", "remote", c->remote, force, NULL, res, d);
        at_contract_unref(c);
        return rc;
    }
    if ((rc = check_python(r, c, d))) {
        at_contract_unref(c);
        return rc;
    }
    char digest[AT_DIGEST_MAX];
    char *snap = NULL;
    /* from the snapshot to the commit no collection runs (gc.c) */
    pthread_rwlock_rdlock(&r->gc_gate);
    rc = at_snapshot_store(path, r->agents_dir, digest, &snap, d);
    if (!rc) {
        char *cf = contract_path(r, c->name, c->version);
        char *dir = at_strdup(cf);
        *strrchr(dir, '/') = '\0';
        rc = at_fs_mkdir_p(dir, 0755);
        free(dir);
        char *txt = at_json_dumps(c->json);
        if (!rc)
            rc = at_fs_write_atomic(cf, txt, strlen(txt), 0644);
        if (rc)
            at_diag_set(d, rc, cf, 0, 0, "cannot write the contract file");
        free(txt);
        free(cf);
    }
    /* the dependency build: a failure registers nothing, so the versions
     * already registered keep serving */
    json_t *build = NULL;
    if (!rc)
        rc = at__registry_build(r, c, snap, NULL, &build, d);
    if (!rc && !build)
        check_packages(c, snap, res);
    if (!rc)
        rc = commit_entry(r, c, digest, "local", path, force, build, res, d);
    pthread_rwlock_unlock(&r->gc_gate);
    json_decref(build);
    free(snap);
    at_contract_unref(c);
    /* a replaced version's files, or a collection asked for meanwhile */
    if (rc == 0 && res->status && strcmp(res->status, "replaced") == 0)
        at_registry_gc(r, 0, NULL);
    else
        at__registry_gc_pending(r);
    return rc;
}

int at_registry_register_remote(struct at_registry *r, struct at_contract *c, int force,
                                struct at_reg_result *res, struct at_diag *d)
{
    at_reg_result_init(res);
    check_skills(c, res);
    return commit_entry(r, c, "", "remote", c->remote ? c->remote : "", force, NULL, res, d);
}

int at_registry_resolve(struct at_registry *r, const char *ref, struct at_reg_agent **out)
{
    char name[256], version[128];
    if (at_registry_split_ref(ref, name, sizeof(name), version, sizeof(version)))
        return AT_EINVAL;
    pthread_rwlock_rdlock(&r->lock);
    struct at_reg_agent *a;
    if (version[0]) {
        char *key = at_asprintf("%s@%s", name, version);
        a = at_map_get(&r->by_key, key);
        free(key);
    } else {
        a = at_map_get(&r->latest, name);
    }
    at_reg_agent_ref(a);
    pthread_rwlock_unlock(&r->lock);
    if (!a)
        return AT_ENOENT;
    *out = a;
    return 0;
}

void at_registry_explain_missing(struct at_registry *r, const char *ref, char *msg, size_t len)
{
    char name[256], version[128];
    if (at_registry_split_ref(ref, name, sizeof(name), version, sizeof(version))) {
        snprintf(msg, len, "\"%.200s\" is not an agent reference (NAME or NAME:VERSION)", ref);
        return;
    }
    /* the highest pre-release of a name without a default version */
    char pre[128] = "";
    struct at_semver best;
    int any = 0;
    pthread_rwlock_rdlock(&r->lock);
    size_t it = 0;
    void *v;
    while (at_map_next(&r->by_key, &it, NULL, &v)) {
        const struct at_contract *c = ((struct at_reg_agent *)v)->contract;
        if (strcmp(c->name, name) != 0)
            continue;
        any = 1;
        if (c->semver.pre[0] && (!pre[0] || at_semver_cmp(&c->semver, &best) > 0)) {
            best = c->semver;
            snprintf(pre, sizeof(pre), "%s", c->version);
        }
    }
    int has_default = at_map_get(&r->latest, name) != NULL;
    pthread_rwlock_unlock(&r->lock);
    if (version[0] && any)
        snprintf(msg, len, "agent \"%s\" has no version %s", name, version);
    else if (!version[0] && !has_default && pre[0])
        snprintf(msg, len,
                 "agent \"%s\" has only pre-release versions (the newest is %s), and a "
                 "pre-release is never the default: pin one, e.g. %s:%s",
                 name, pre, name, pre);
    else
        snprintf(msg, len, "no agent \"%s\" is registered", ref);
}

int at_registry_unregister(struct at_registry *r, const char *ref, int *count)
{
    char name[256], version[128];
    if (at_registry_split_ref(ref, name, sizeof(name), version, sizeof(version)))
        return AT_EINVAL;
    pthread_rwlock_wrlock(&r->lock);
    int deleted = 0;
    int rc =
        at_writer_agent_delete(r->writer, r->store, name, version[0] ? version : NULL, &deleted);
    if (rc) {
        pthread_rwlock_unlock(&r->lock);
        return rc;
    }
    /* drop matching entries from the index */
    size_t it = 0;
    const char *key;
    void *v;
    char **gone = NULL;
    size_t ngone = 0;
    while (at_map_next(&r->by_key, &it, &key, &v)) {
        struct at_reg_agent *a = v;
        if (strcmp(a->contract->name, name) == 0 &&
            (!version[0] || strcmp(a->contract->version, version) == 0)) {
            gone = at_realloc(gone, (ngone + 1) * sizeof(*gone));
            gone[ngone++] = at_strdup(key);
        }
    }
    char **versions = at_calloc(ngone ? ngone : 1, sizeof(*versions));
    for (size_t i = 0; i < ngone; i++) {
        struct at_reg_agent *a = at_map_del(&r->by_key, gone[i]);
        versions[i] = at_strdup(a->contract->version);
        char *cf = contract_path(r, a->contract->name, a->contract->version);
        unlink(cf);
        free(cf);
        build_write(r, a->contract->name, a->contract->version, NULL);
        at__registry_retire(r, a);
        free(gone[i]);
    }
    free(gone);
    refresh_latest(r, name);
    pthread_rwlock_unlock(&r->lock);
    for (size_t i = 0; i < ngone; i++) {
        notify(r, AT_REG_REMOVED, name, versions[i]);
        free(versions[i]);
    }
    free(versions);
    *count = deleted;
    if (ngone)
        at_registry_gc(r, 0, NULL);
    return deleted ? 0 : AT_ENOENT;
}

/* ---- environments a backup did not hold ---- */

int at_registry_rebuild_envs(struct at_registry *r, int *rebuilt, int *failed)
{
    *rebuilt = *failed = 0;
    struct at_reg_agent **todo = NULL;
    size_t n = 0;
    pthread_rwlock_rdlock(&r->lock);
    size_t it = 0;
    void *v;
    while (at_map_next(&r->by_key, &it, NULL, &v)) {
        struct at_reg_agent *a = v;
        if (!a->build || !a->dir)
            continue;
        /* an environment of another data directory (the one backed up)
         * is not this one's */
        size_t el = strlen(r->envs_dir);
        int here = a->env && strncmp(a->env, r->envs_dir, el) == 0 && a->env[el] == '/';
        char *lf = here ? at_asprintf("%s/atlas-lock.json", a->env) : NULL;
        int ok = lf && at_fs_is_file(lf);
        free(lf);
        if (ok)
            continue;
        todo = at_realloc(todo, (n + 1) * sizeof(*todo));
        todo[n++] = at_reg_agent_ref(a);
    }
    pthread_rwlock_unlock(&r->lock);
    for (size_t i = 0; i < n; i++) {
        struct at_reg_agent *a = todo[i];
        const struct at_contract *c = a->contract;
        const json_t *pins = strcmp(at_json_str(a->build, "kind", ""), "python") == 0
                                 ? json_object_get(a->build, "packages")
                                 : NULL;
        json_t *build = NULL;
        struct at_diag d;
        at_diag_clear(&d);
        at_info("registry",
                "%s:%s: its environment %s is missing (a restored backup?): rebuilding "
                "it from its lock",
                c->name, c->version, a->env ? a->env : "(none)");
        pthread_rwlock_rdlock(&r->gc_gate);
        int rc = at__registry_build(r, c, a->dir, pins, &build, &d);
        if (rc == 0 && build) {
            struct at_agent_rec rec = {
                .name = c->name,
                .version = c->version,
                .digest = a->digest,
                .kind = a->kind,
                .source = a->source,
                .contract = c->json,
                .registered_ms = a->registered_ms,
            };
            struct at_reg_agent *fresh = NULL;
            pthread_rwlock_wrlock(&r->lock);
            if (at_map_get(&r->by_key, a->key) == a &&
                build_write(r, c->name, c->version, build) == 0 &&
                entry_from_rec(r, &rec, &fresh, &d) == 0)
                index_put(r, fresh);
            else
                rc = AT_ESTATE;
            pthread_rwlock_unlock(&r->lock);
        } else if (rc == 0) {
            rc = at_diag_set(&d, AT_EDEPS, NULL, 0, 0, "nothing to build any more");
        }
        pthread_rwlock_unlock(&r->gc_gate);
        if (rc == 0) {
            (*rebuilt)++;
            at_info("registry", "%s:%s: environment rebuilt: %s (lock %s)", c->name, c->version,
                    at_json_str(build, "env", ""), at_json_str(build, "lock_digest", ""));
        } else {
            (*failed)++;
            at_error("registry",
                     "%s:%s: its environment cannot be rebuilt: %s. Its runs fail until it is "
                     "(register the version again once the package index answers)",
                     c->name, c->version, d.msg[0] ? d.msg : at_err_msg(rc));
        }
        json_decref(build);
        at_reg_agent_unref(a);
    }
    free(todo);
    return 0;
}

/* ---- JSON views ---- */

static json_t *get_or_null(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return v ? json_incref(v) : json_null();
}

json_t *at_reg_agent_to_json(const struct at_reg_agent *a, int full)
{
    const struct at_contract *c = a->contract;
    char ts[40];
    json_t *j = json_object();
    json_object_set_new(j, "name", json_string(c->name));
    json_object_set_new(j, "version", json_string(c->version));
    json_object_set_new(j, "description", json_string(c->description));
    json_object_set_new(j, "type", json_string(c->type));
    json_object_set_new(j, "kind", json_string(a->kind));
    json_object_set_new(j, "digest", json_string(a->digest));
    json_object_set_new(j, "capabilities",
                        json_object_get(c->json, "capabilities")
                            ? json_incref(json_object_get(c->json, "capabilities"))
                            : json_array());
    json_object_set_new(j, "registered_at",
                        json_string(at_time_iso8601(a->registered_ms, ts, sizeof(ts))));
    /* the dependency build (registry/build.h): the full record, or its summary */
    if (a->build && full)
        json_object_set_new(j, "build", json_incref(a->build));
    else if (a->build)
        json_object_set_new(
            j, "build",
            json_pack("{s:O?,s:O?,s:O?,s:I}", "kind", json_object_get(a->build, "kind"), "status",
                      json_object_get(a->build, "status"), "lock_digest",
                      json_object_get(a->build, "lock_digest"), "packages",
                      (json_int_t)json_array_size(json_object_get(a->build, "packages"))));
    if (full) {
        json_object_set_new(j, "source", json_string(a->source));
        /* where the daemon keeps the snapshot: `atlas push` packs it */
        json_object_set_new(j, "snapshot", a->dir ? json_string(a->dir) : json_null());
        json_object_set_new(j, "contract", json_incref(c->json));
        json_object_set_new(j, "input_schema", json_deep_copy(at_schema_json(c->input)));
        json_object_set_new(j, "output_schema", json_deep_copy(at_schema_json(c->output)));
        json_object_set_new(j, "requires", get_or_null(c->json, "requires"));
        json_object_set_new(j, "hardware", get_or_null(c->json, "hardware"));
        json_object_set_new(j, "dependencies", get_or_null(c->json, "dependencies"));
        json_object_set_new(j, "model", get_or_null(c->json, "model"));
        json_object_set_new(j, "lifecycle", get_or_null(c->json, "lifecycle"));
        json_object_set_new(j, "entrypoint",
                            c->entrypoint ? json_incref(c->entrypoint) : json_null());
        json_object_set_new(j, "remote", c->remote ? json_string(c->remote) : json_null());
        json_object_set_new(j, "idempotent", json_boolean(c->idempotent));
        json_object_set_new(j, "timeout", c->timeout_s > 0 ? json_real(c->timeout_s) : json_null());
    }
    return j;
}

static int cmp_entries(const void *x, const void *y)
{
    const struct at_reg_agent *a = *(struct at_reg_agent *const *)x;
    const struct at_reg_agent *b = *(struct at_reg_agent *const *)y;
    int c = strcmp(a->contract->name, b->contract->name);
    return c ? c : -at_semver_cmp(&a->contract->semver, &b->contract->semver);
}

static size_t collect(struct at_registry *r, struct at_map *m, const char *name,
                      struct at_reg_agent ***out)
{
    pthread_rwlock_rdlock(&r->lock);
    struct at_reg_agent **arr = at_calloc(m->len ? m->len : 1, sizeof(struct at_reg_agent *));
    size_t n = 0, it = 0;
    void *v;
    while (at_map_next(m, &it, NULL, &v)) {
        struct at_reg_agent *a = v;
        if (name && strcmp(a->contract->name, name) != 0)
            continue;
        arr[n++] = at_reg_agent_ref(a);
    }
    pthread_rwlock_unlock(&r->lock);
    if (n)
        qsort(arr, n, sizeof(struct at_reg_agent *), cmp_entries);
    *out = arr;
    return n;
}

size_t at_registry_latest(struct at_registry *r, struct at_reg_agent ***out)
{
    return collect(r, &r->latest, NULL, out);
}

size_t at_registry_count(struct at_registry *r)
{
    pthread_rwlock_rdlock(&r->lock);
    size_t n = r->by_key.len;
    pthread_rwlock_unlock(&r->lock);
    return n;
}

json_t *at_registry_list_json(struct at_registry *r, const char *name)
{
    struct at_reg_agent **arr;
    size_t n = collect(r, &r->by_key, name, &arr);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *j = at_reg_agent_to_json(arr[i], 0);
        struct at_reg_agent *latest = NULL;
        pthread_rwlock_rdlock(&r->lock);
        latest = at_map_get(&r->latest, arr[i]->contract->name);
        json_object_set_new(j, "latest", json_boolean(latest == arr[i]));
        pthread_rwlock_unlock(&r->lock);
        json_array_append_new(list, j);
        at_reg_agent_unref(arr[i]);
    }
    free(arr);
    return list;
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return 1;
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    return 0;
}

/* Each name's default version, or its highest pre-release when it has no
 * default (search finds what exists; resolving is another matter). */
static size_t collect_searchable(struct at_registry *r, struct at_reg_agent ***out)
{
    struct at_reg_agent **arr;
    size_t n = collect(r, &r->by_key, NULL, &arr), k = 0;
    /* arr is sorted by name, then version descending */
    for (size_t i = 0; i < n;) {
        size_t end = i;
        while (end < n && strcmp(arr[end]->contract->name, arr[i]->contract->name) == 0)
            end++;
        size_t pick = i;
        for (size_t j = i; j < end; j++) {
            if (!arr[j]->contract->semver.pre[0]) {
                pick = j;
                break;
            }
        }
        for (size_t j = i; j < end; j++) {
            if (j == pick)
                arr[k++] = arr[j];
            else
                at_reg_agent_unref(arr[j]);
        }
        i = end;
    }
    *out = arr;
    return k;
}

json_t *at_registry_search_json(struct at_registry *r, const char *text)
{
    struct at_reg_agent **arr;
    size_t n = collect_searchable(r, &arr);
    json_t *hits = json_array();
    /* rank: name match 3, capability 2, description 1; words all must match */
    struct scored {
        int score;
        json_t *j;
    } *sc = at_calloc(n ? n : 1, sizeof(*sc));
    size_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        const struct at_contract *c = arr[i]->contract;
        char *words = at_strdup(text);
        int total = 0, all = 1;
        char *save = NULL;
        for (char *w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
            int s = 0;
            if (contains_ci(c->name, w))
                s = 3;
            json_t *caps = json_object_get(c->json, "capabilities");
            size_t k;
            json_t *cap;
            json_array_foreach(caps, k, cap) if (s < 2 && contains_ci(json_string_value(cap), w))
                s = 2;
            if (!s && contains_ci(c->description, w))
                s = 1;
            if (!s)
                all = 0;
            total += s;
        }
        free(words);
        if (all && total > 0) {
            sc[ns].score = total;
            sc[ns].j = at_reg_agent_to_json(arr[i], 0);
            json_object_set_new(sc[ns].j, "score", json_integer(total));
            ns++;
        }
        at_reg_agent_unref(arr[i]);
    }
    free(arr);
    /* stable insertion sort by score, descending (n is small) */
    for (size_t i = 1; i < ns; i++) {
        struct scored t = sc[i];
        size_t k = i;
        while (k > 0 && sc[k - 1].score < t.score) {
            sc[k] = sc[k - 1];
            k--;
        }
        sc[k] = t;
    }
    for (size_t i = 0; i < ns; i++)
        json_array_append_new(hits, sc[i].j);
    free(sc);
    return hits;
}
