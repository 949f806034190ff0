/* Unit tests: the registry (registry/registry.c, chains.c) over a real
 * SQLite store in a temporary directory: registration and its results,
 * resolution and default versions (pre-releases never are), registration
 * warnings, chains and their cycles, reloading from the store, the
 * dependency builds' refusals. */
#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"
#include "chain/chain.h"
#include "contract/sysinfo.h"
#include "registry/registry.h"
#include "store/store.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char tmp[256];
static struct at_store *store;
static struct at_registry *reg;

static void open_registry(void)
{
    char *db = at_asprintf("%s/atlas.db", tmp);
    struct at_store_cfg cfg = {.backend = "sqlite", .path = db};
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_store_open(&cfg, &store, &d), 0);
    free(db);
    char *data = at_asprintf("%s/data", tmp);
    assert_int_equal(at_registry_new(store, data, &reg, &d), 0);
    free(data);
}

static void close_registry(void)
{
    at_registry_free(reg);
    at_store_close(store);
    reg = NULL;
    store = NULL;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "%s/atlas-registry-test.XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp))
        return -1;
    open_registry();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close_registry();
    at_fs_remove_tree(tmp);
    return 0;
}

static void put(const char *rel, const char *text)
{
    char *p = at_asprintf("%s/%s", tmp, rel);
    char *dir = at_strdup(p);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(at_fs_mkdir_p(dir, 0755), 0);
    free(dir);
    assert_int_equal(at_fs_write_atomic(p, text, strlen(text), 0644), 0);
    free(p);
}

/* An agent directory tmp/<dir> for name:version; extra is appended to
 * the agent block (indented two spaces). */
static void agent_dir(const char *dir, const char *name, const char *version, const char *entry,
                      const char *extra)
{
    char *rel = at_asprintf("%s/agent.yaml", dir);
    char *y = at_asprintf("agent:\n  name: %s\n  version: \"%s\"\n  description: does %s\n"
                          "  capabilities: [testing]\n  entrypoint: %s\n%s",
                          name, version, name, entry, extra ? extra : "");
    put(rel, y);
    free(y);
    free(rel);
    rel = at_asprintf("%s/agent.sh", dir);
    put(rel, "#!/bin/sh\n");
    free(rel);
}

static int reg_dir(const char *dir, int force, struct at_reg_result *res, struct at_diag *d)
{
    char *p = at_asprintf("%s/%s", tmp, dir);
    at_diag_clear(d);
    int rc = at_registry_register_dir(reg, p, NULL, force, res, d);
    free(p);
    return rc;
}

static void reg_ok(const char *dir, const char *name, const char *version, const char *status)
{
    struct at_reg_result res;
    struct at_diag d;
    char *sub = at_asprintf("%s-%s", dir, version);
    agent_dir(sub, name, version, "[sh, agent.sh]", NULL);
    int rc = reg_dir(sub, 0, &res, &d);
    if (rc)
        fail_msg("registering %s:%s: %s", name, version, d.msg);
    assert_string_equal(res.status, status);
    assert_string_equal(res.version, version);
    free(sub);
}

/* The version "ref" resolves to, or "" when it does not. */
static const char *resolved(const char *ref)
{
    static char v[96];
    struct at_reg_agent *a;
    if (at_registry_resolve(reg, ref, &a))
        return "";
    snprintf(v, sizeof(v), "%s", a->contract->version);
    at_reg_agent_unref(a);
    return v;
}

static int events;
static void on_change(void *arg, enum at_reg_event ev, const char *name, const char *version)
{
    (void)arg;
    (void)name;
    (void)version;
    events += ev == AT_REG_ADDED ? 1 : 100;
}

static void test_register_resolve(void **state)
{
    (void)state;
    struct at_reg_result res;
    struct at_diag d;
    char msg[400];
    events = 0;
    assert_int_equal(at_registry_add_listener(reg, on_change, NULL), 0);
    agent_dir("echo", "echo", "1.0.0", "[sh, agent.sh]", NULL);
    assert_int_equal(reg_dir("echo", 0, &res, &d), 0);
    assert_string_equal(res.status, "created");
    assert_string_equal(res.name, "echo");
    assert_int_equal(strncmp(res.digest, "sha256:", 7), 0);
    assert_int_equal(res.nwarnings, 0);
    assert_int_equal(events, 1);
    assert_string_equal(resolved("echo"), "1.0.0");
    assert_string_equal(resolved("echo:1.0.0"), "1.0.0");
    assert_string_equal(resolved("echo:2.0.0"), "");
    at_registry_explain_missing(reg, "echo:2.0.0", msg, sizeof(msg));
    assert_string_equal(msg, "agent \"echo\" has no version 2.0.0");
    at_registry_explain_missing(reg, "nobody", msg, sizeof(msg));
    assert_string_equal(msg, "no agent \"nobody\" is registered");
    struct at_reg_agent *a;
    assert_int_equal(at_registry_resolve(reg, ":", &a), AT_EINVAL);
    at_registry_explain_missing(reg, ":", msg, sizeof(msg));
    assert_non_null(strstr(msg, "is not an agent reference"));
    /* the snapshot is what runs */
    assert_int_equal(at_registry_resolve(reg, "echo", &a), 0);
    char *sh = at_asprintf("%s/agent.sh", a->dir);
    assert_true(at_fs_is_file(sh));
    free(sh);
    at_reg_agent_unref(a);
    /* the same again: unchanged, nobody told */
    assert_int_equal(reg_dir("echo", 0, &res, &d), 0);
    assert_string_equal(res.status, "unchanged");
    assert_int_equal(events, 1);
    /* other content under the same version: refused unless forced */
    put("echo/agent.sh", "#!/bin/sh\necho changed\n");
    assert_int_equal(reg_dir("echo", 0, &res, &d), AT_EEXIST);
    assert_non_null(strstr(d.msg, "--force"));
    assert_int_equal(reg_dir("echo", 1, &res, &d), 0);
    assert_string_equal(res.status, "replaced");
    assert_int_equal(events, 2);
    /* --name */
    char *p = at_asprintf("%s/echo", tmp);
    assert_int_equal(at_registry_register_dir(reg, p, "echo-two", 0, &res, &d), 0);
    assert_string_equal(res.name, "echo-two");
    assert_int_equal(at_registry_register_dir(reg, p, "Not Valid", 0, &res, &d), AT_EINVAL);
    free(p);
    assert_int_equal(at_registry_count(reg), 2);
    /* relative paths are refused: the daemon's working directory is not the user's */
    assert_int_equal(at_registry_register_dir(reg, "echo", NULL, 0, &res, &d), AT_EINVAL);
    /* removal */
    int count = 0;
    assert_int_equal(at_registry_unregister(reg, "echo", &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(events, 103);
    assert_string_equal(resolved("echo"), "");
    assert_int_equal(at_registry_unregister(reg, "echo", &count), AT_ENOENT);
    /* what is stored comes back */
    close_registry();
    open_registry();
    assert_string_equal(resolved("echo-two"), "1.0.0");
    assert_int_equal(at_registry_count(reg), 1);
}

static int latest_has(const char *name)
{
    struct at_reg_agent **all;
    size_t n = at_registry_latest(reg, &all);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(all[i]->contract->name, name))
            found = 1;
        at_reg_agent_unref(all[i]);
    }
    free(all);
    return found;
}

static void test_prerelease_never_default(void **state)
{
    (void)state;
    char msg[400];
    reg_ok("p", "p", "1.3.0-beta.1", "created");
    /* the only version, and still not the default: NAME must be pinned */
    assert_string_equal(resolved("p"), "");
    at_registry_explain_missing(reg, "p", msg, sizeof(msg));
    assert_non_null(strstr(msg, "has only pre-release versions"));
    assert_non_null(strstr(msg, "p:1.3.0-beta.1"));
    assert_string_equal(resolved("p:1.3.0-beta.1"), "1.3.0-beta.1");
    assert_false(latest_has("p"));
    /* it can still be found and listed */
    json_t *hits = at_registry_search_json(reg, "p");
    assert_int_equal(json_array_size(hits), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(hits, 0), "version")),
                        "1.3.0-beta.1");
    json_decref(hits);
    json_t *list = at_registry_list_json(reg, "p");
    assert_int_equal(json_array_size(list), 1);
    assert_true(json_is_false(json_object_get(json_array_get(list, 0), "latest")));
    json_decref(list);
    /* a lower release is the default, above the higher pre-releases */
    reg_ok("p", "p", "1.2.0", "created");
    reg_ok("p", "p", "1.3.0-rc.1", "created");
    assert_string_equal(resolved("p"), "1.2.0");
    assert_true(latest_has("p"));
    hits = at_registry_search_json(reg, "does p");
    assert_string_equal(json_string_value(json_object_get(json_array_get(hits, 0), "version")),
                        "1.2.0");
    json_decref(hits);
    reg_ok("p", "p", "1.3.0", "created");
    assert_string_equal(resolved("p"), "1.3.0");
    reg_ok("p", "p", "1.4.0-alpha", "created");
    assert_string_equal(resolved("p"), "1.3.0");
    list = at_registry_list_json(reg, "p");
    assert_int_equal(json_array_size(list), 5);
    size_t i;
    json_t *e;
    int defaults = 0;
    json_array_foreach(list, i, e)
    {
        if (json_is_true(json_object_get(e, "latest"))) {
            defaults++;
            assert_string_equal(json_string_value(json_object_get(e, "version")), "1.3.0");
        }
    }
    assert_int_equal(defaults, 1);
    json_decref(list);
    /* the default survives a restart */
    close_registry();
    open_registry();
    assert_string_equal(resolved("p"), "1.3.0");
    /* removing the releases does not promote a pre-release */
    int count;
    assert_int_equal(at_registry_unregister(reg, "p:1.3.0", &count), 0);
    assert_string_equal(resolved("p"), "1.2.0");
    assert_int_equal(at_registry_unregister(reg, "p:1.2.0", &count), 0);
    assert_string_equal(resolved("p"), "");
    at_registry_explain_missing(reg, "p", msg, sizeof(msg));
    assert_non_null(strstr(msg, "p:1.4.0-alpha")); /* the newest pre-release */
}

static int has_warning(const struct at_reg_result *res, const char *code, const char *pointer,
                       const char *text)
{
    for (int i = 0; i < res->nwarnings; i++)
        if (!strcmp(res->warnings[i].code, code) &&
            (!pointer || !strcmp(res->warnings[i].pointer, pointer)) &&
            strstr(res->warnings[i].msg, text))
            return 1;
    return 0;
}

static void test_warnings(void **state)
{
    (void)state;
    struct at_reg_result res;
    struct at_diag d;
    /* requires.skills: none exists yet */
    agent_dir("sk", "sk", "1.0.0", "[sh, agent.sh]",
              "  requires:\n    skills: [web-search, code-execution]\n");
    assert_int_equal(reg_dir("sk", 0, &res, &d), 0);
    assert_int_equal(res.nwarnings, 2);
    assert_true(has_warning(&res, "skill-unavailable", "/requires/skills/0", "\"web-search\""));
    assert_true(has_warning(&res, "skill-unavailable", "/requires/skills/1", "code-execution"));
    json_t *w = at_reg_result_warnings_json(&res);
    assert_int_equal(json_array_size(w), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(w, 0), "code")),
                        "skill-unavailable");
    assert_string_equal(json_string_value(json_object_get(json_array_get(w, 1), "pointer")),
                        "/requires/skills/1");
    assert_non_null(json_object_get(json_array_get(w, 0), "message"));
    json_decref(w);
    /* bounded: the rest are counted */
    struct at_buf many;
    at_buf_init(&many, 4096);
    at_buf_puts(&many, "  requires:\n    skills: [");
    for (int i = 0; i < AT_REG_MAX_WARNINGS + 5; i++)
        at_buf_printf(&many, "%sskill-%d", i ? ", " : "", i);
    at_buf_puts(&many, "]\n");
    agent_dir("many", "many", "1.0.0", "[sh, agent.sh]", at_buf_str(&many));
    at_buf_release(&many);
    assert_int_equal(reg_dir("many", 0, &res, &d), 0);
    assert_int_equal(res.nwarnings, AT_REG_MAX_WARNINGS);
    assert_int_equal(res.dropped, 5);
    w = at_reg_result_warnings_json(&res);
    assert_int_equal(json_array_size(w), AT_REG_MAX_WARNINGS + 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(w, AT_REG_MAX_WARNINGS), "message")),
        "5 more warnings not shown");
    json_decref(w);

    /* hardware this machine lacks (the facts are this test's: no GPU) */
    struct at_sysinfo facts;
    at_sysinfo_init(&facts);
    facts.cpu_cores = 2;
    facts.memory_gb = 8;
    snprintf(facts.arch, sizeof(facts.arch), "x86_64");
    at_sysinfo_publish(&facts);
    agent_dir("hw", "hw", "1.0.0", "[sh, agent.sh]",
              "  hardware: {gpu: true, gpu_vram_gb: 24, min_cpu_cores: 2}\n");
    assert_int_equal(reg_dir("hw", 0, &res, &d), 0);
    assert_int_equal(res.nwarnings, 1);
    assert_true(has_warning(&res, "hardware-unavailable", "/hardware",
                            "hardware: this machine cannot run it: needs 1 GPU with 24 GB VRAM "
                            "(hardware.gpu_vram_gb); this machine has none; its runs wait for a "
                            "node that can (unschedulable)"));
    agent_dir("fits", "fits", "1.0.0", "[sh, agent.sh]", "  hardware: {min_cpu_cores: 2}\n");
    assert_int_equal(reg_dir("fits", 0, &res, &d), 0);
    assert_int_equal(res.nwarnings, 0);

    /* dependencies.packages, asked of the agent's interpreter: a vendored
     * distribution (fakepkg 1.4.0) in the agent's directory counts */
    if (access("/usr/bin/python3", X_OK) != 0)
        skip();
    agent_dir("py", "py", "1.0.0", "[python3, agent.py]",
              "  dependencies:\n    packages: [json, atlas-surely-not-installed, "
              "\"fakepkg>=2.0\", \"fakepkg>=1.0,<2\", \"fakepkg[extra] >= 1.0 ; "
              "python_version > '3'\", \"other-missing==1.0\"]\n");
    put("py/agent.py", "print('hi')\n");
    put("py/fakepkg-1.4.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.4.0\n");
    assert_int_equal(reg_dir("py", 0, &res, &d), 0);
    for (int i = 0; i < res.nwarnings; i++)
        print_message("warning %s %s: %s\n", res.warnings[i].code, res.warnings[i].pointer,
                      res.warnings[i].msg);
    assert_int_equal(res.nwarnings, 3);
    assert_true(has_warning(&res, "package-missing", "/dependencies/packages/1",
                            "\"atlas-surely-not-installed\" is not installed for python3"));
    assert_true(has_warning(&res, "package-version", "/dependencies/packages/2",
                            "wants >=2.0, but python3 has fakepkg 1.4.0"));
    assert_true(
        has_warning(&res, "package-missing", "/dependencies/packages/5", "\"other-missing\""));
    /* an interpreter that is not there: said, not fatal */
    agent_dir("nopy", "nopy", "1.0.0", "[python3.0-not-here, agent.py]",
              "  dependencies:\n    packages: [json]\n");
    put("nopy/agent.py", "print('hi')\n");
    assert_int_equal(reg_dir("nopy", 0, &res, &d), 0);
    assert_int_equal(res.nwarnings, 1);
    assert_true(has_warning(&res, "packages-unchecked", NULL, "python3.0-not-here"));
}

static int chain_reg(const char *file, const char *yaml, struct at_diag *d)
{
    struct at_reg_result res;
    at_diag_clear(d);
    return at_registry_chain_register(reg, file, yaml, strlen(yaml), &res, d);
}

static size_t nchains(void)
{
    json_t *all = at_registry_chains_json(reg, NULL, 0);
    size_t n = json_array_size(all);
    json_decref(all);
    return n;
}

static void test_chains_and_cycles(void **state)
{
    (void)state;
    struct at_diag d;
    reg_ok("w", "w", "1.0.0", "created");
    reg_ok("b", "beta", "2.0.0-beta.1", "created");
    const char *ok = "chain:\n  name: plain\n  steps: [{agent: w}, {agent: \"w:1.0.0\"}]\n";
    assert_int_equal(chain_reg("plain.yaml", ok, &d), 0);
    struct at_chain *c;
    assert_int_equal(at_registry_chain_get(reg, "plain", &c), 0);
    assert_int_equal(c->nsteps, 2);
    at_chain_unref(c);
    /* the registry's reason reaches the chain's message */
    assert_int_equal(chain_reg("pre.yaml", "chain:\n  name: pre\n  steps: [{agent: beta}]\n", &d),
                     AT_ENOENT);
    assert_non_null(strstr(d.msg, "pin one, e.g. beta:2.0.0-beta.1"));
    assert_int_equal(chain_reg("pin.yaml",
                               "chain:\n  name: pin\n  steps: [{agent: \"beta:2.0.0-beta.1\"}]\n",
                               &d),
                     0);
    /* a chain that is its own fallback: refused, with the path, nothing stored */
    const char *self = "chain:\n  name: a\n  steps: [{agent: w}]\n"
                       "  on_failure: {strategy: fallback, fallback: {chain: a}}\n";
    assert_int_equal(chain_reg("a.yaml", self, &d), AT_EINVAL);
    assert_string_equal(d.file, "a.yaml");
    assert_non_null(strstr(d.msg, "a -> a"));
    assert_int_equal(at_registry_chain_get(reg, "a", &c), AT_ENOENT);
    /* a -> b while b does not exist: fine; then b -> a closes the cycle */
    const char *a_to_b = "chain:\n  name: a\n  steps: [{agent: w}]\n"
                         "  on_failure: {strategy: fallback, fallback: {chain: b}}\n";
    const char *b_to_a = "chain:\n  name: b\n  steps:\n    - agent: w\n"
                         "      on_failure: {strategy: fallback, fallback: {chain: a}}\n";
    assert_int_equal(chain_reg("a.yaml", a_to_b, &d), 0);
    assert_int_equal(chain_reg("b.yaml", b_to_a, &d), AT_EINVAL);
    assert_non_null(strstr(d.msg, "b -> a -> b"));
    assert_int_equal(nchains(), 3);
    /* once a no longer falls back to b, b may fall back to a; then a may
     * not come back */
    assert_int_equal(chain_reg("a.yaml", "chain:\n  name: a\n  steps: [{agent: w}]\n", &d), 0);
    assert_int_equal(chain_reg("b.yaml", b_to_a, &d), 0);
    assert_int_equal(chain_reg("a.yaml", a_to_b, &d), AT_EINVAL);
    assert_non_null(strstr(d.msg, "a -> b -> a"));
    assert_int_equal(at_registry_chain_get(reg, "a", &c), 0);
    assert_null(c->on_failure.fallback_chain); /* the old a stays */
    at_chain_unref(c);
    /* reloading */
    close_registry();
    open_registry();
    assert_int_equal(nchains(), 4);
    assert_int_equal(at_registry_chain_delete(reg, "pin"), 0);
    assert_int_equal(at_registry_chain_delete(reg, "pin"), AT_ENOENT);

    /* a cycle stored before cycles were refused still loads (and is logged) */
    json_t *def =
        json_pack("{s:s,s:s,s:[{s:s}],s:{s:s,s:{s:s}}}", "name", "old", "description", "", "steps",
                  "agent", "w", "on_failure", "strategy", "fallback", "fallback", "chain", "old");
    struct at_chain_rec rec = {.name = "old",
                               .definition = def,
                               .source = "old.yaml",
                               .digest = "sha256:0",
                               .registered_ms = 1};
    assert_int_equal(at_store_call(store, chain_put, &rec), 0);
    json_decref(def);
    close_registry();
    open_registry();
    assert_int_equal(at_registry_chain_get(reg, "old", &c), 0);
    at_chain_unref(c);
}

/* Dependency builds (registry/build.c) that stop before any installer
 * runs: what is refused, what is not built.  The builds themselves are
 * e2e.deps_build, e2e.deps_node, e2e.deps_timeout. */
/* at_registry_gc: a snapshot goes with its last version; one a holder
 * (a running job) still uses stays until a later collection; a replaced
 * version's snapshot goes too */
static void test_gc(void **state)
{
    (void)state;
    reg_ok("gc", "gca", "1.0.0", "created");
    reg_ok("gc", "gcb", "1.0.0", "created");
    struct at_reg_agent *a = NULL, *b = NULL;
    assert_int_equal(at_registry_resolve(reg, "gca:1.0.0", &a), 0);
    assert_int_equal(at_registry_resolve(reg, "gcb:1.0.0", &b), 0);
    char *adir = at_strdup(a->dir), *bdir = at_strdup(b->dir);
    at_reg_agent_unref(a); /* gcb stays held: "running" */
    int n = 0;
    assert_int_equal(at_registry_unregister(reg, "gca", &n), 0);
    assert_false(at_fs_is_dir(adir)); /* nobody held it: removed at once */
    assert_int_equal(at_registry_unregister(reg, "gcb", &n), 0);
    assert_true(at_fs_is_dir(bdir)); /* held */
    struct at_reg_gc g;
    at_registry_gc(reg, 1, &g);
    assert_int_equal(g.kept_busy, 1);
    assert_true(at_fs_is_dir(bdir));
    at_reg_agent_unref(b);
    at_registry_gc(reg, 1, &g);
    assert_int_equal(g.snapshots, 1);
    assert_int_equal(g.kept_busy, 0);
    assert_false(at_fs_is_dir(bdir));
    /* replaced with other content: the old snapshot goes */
    agent_dir("gcr", "gcr", "1.0.0", "[sh, agent.sh]", NULL);
    struct at_reg_result res;
    struct at_diag d;
    assert_int_equal(reg_dir("gcr", 0, &res, &d), 0);
    assert_int_equal(at_registry_resolve(reg, "gcr:1.0.0", &a), 0);
    char *rdir = at_strdup(a->dir);
    at_reg_agent_unref(a);
    put("gcr/extra.txt", "more\n");
    assert_int_equal(reg_dir("gcr", 1, &res, &d), 0);
    assert_string_equal(res.status, "replaced");
    assert_false(at_fs_is_dir(rdir));
    assert_string_not_equal(resolved("gcr:1.0.0"), "");
    /* at start: a stray snapshot and a stray environment are removed */
    put("data/agents/sha256-0000/f", "x");
    put("data/envs/py-0000/f", "x");
    close_registry();
    open_registry();
    char *sp = at_asprintf("%s/data/agents/sha256-0000", tmp);
    char *ep = at_asprintf("%s/data/envs/py-0000", tmp);
    assert_false(at_fs_is_dir(sp));
    assert_false(at_fs_is_dir(ep));
    assert_string_equal(resolved("gcr:1.0.0"), "1.0.0");
    free(sp);
    free(ep);
    free(rdir);
    free(adir);
    free(bdir);
}

static void test_build_refusals(void **state)
{
    (void)state;
    struct at_reg_result res;
    struct at_diag d;
    struct at_reg_agent *a;
    const char *pj = "{\"name\": \"n\", \"dependencies\": {\"is-number\": \"7.0.0\"}}";
    /* a package.json with dependencies and no lock: npm ci cannot run */
    agent_dir("nolock", "nolock", "1.0.0", "[node, index.js]", NULL);
    put("nolock/package.json", pj);
    assert_int_equal(reg_dir("nolock", 0, &res, &d), AT_EDEPS);
    assert_non_null(strstr(d.msg, "no package-lock.json"));
    assert_int_equal(at_registry_resolve(reg, "nolock", &a), AT_ENOENT);
    /* the same, shipping its node_modules: nothing to build */
    agent_dir("vendored", "vendored", "1.0.0", "[node, index.js]", NULL);
    put("vendored/package.json", pj);
    put("vendored/node_modules/is-number/index.js", "module.exports = () => true;\n");
    assert_int_equal(reg_dir("vendored", 0, &res, &d), 0);
    assert_int_equal(at_registry_resolve(reg, "vendored", &a), 0);
    assert_null(a->build);
    assert_null(a->env);
    at_reg_agent_unref(a);
    /* ES modules do not read NODE_PATH: not supported yet */
    agent_dir("esm", "esm", "1.0.0", "[node, server.mjs]", NULL);
    put("esm/package.json", pj);
    put("esm/package-lock.json", "{\"lockfileVersion\": 3, \"packages\": {}}");
    assert_int_equal(reg_dir("esm", 0, &res, &d), AT_EUNSUPPORTED);
    assert_non_null(strstr(d.msg, "not supported yet"));
    /* a package.json that is not the agent's (a shell agent's tooling): not built */
    agent_dir("tooling", "tooling", "1.0.0", "[sh, agent.sh]", NULL);
    put("tooling/package.json", pj);
    assert_int_equal(reg_dir("tooling", 0, &res, &d), 0);
    /* with an index: direct references are refused before pip runs, naming the entry */
    struct at_build_cfg bc = {.pip_index_url = "http://u:p@127.0.0.1:9/simple"};
    at_registry_set_build(reg, &bc);
    agent_dir("direct", "direct", "1.0.0", "[python3, agent.py]",
              "  dependencies:\n    packages: [json, \"x @ https://example.org/x.whl\"]\n");
    put("direct/agent.py", "print('hi')\n");
    assert_int_equal(reg_dir("direct", 0, &res, &d), AT_EUNSUPPORTED);
    assert_string_equal(d.pointer, "/dependencies/packages/1");
    assert_non_null(strstr(d.msg, "not supported yet"));
    /* an interpreter that is not in the sandbox's PATH: nothing to build with */
    agent_dir("nopy", "nopy", "1.0.0", "[python3.0-not-here, agent.py]",
              "  dependencies:\n    packages: [json]\n");
    put("nopy/agent.py", "print('hi')\n");
    assert_int_equal(reg_dir("nopy", 0, &res, &d), AT_EDEPS);
    assert_non_null(strstr(d.msg, "python3.0-not-here"));
    assert_int_equal(at_registry_resolve(reg, "nopy", &a), AT_ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prerelease_never_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_warnings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chains_and_cycles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
