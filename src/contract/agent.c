#include "contract/agent.h"

#include "contract/egress.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "contract/shape.h"
#include "contract/yaml.h"
#include "json/json.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the shape of agent.yaml (Atlas spec, "The Agent Contract") ---- */

static const char *const types[] = {"agent", "orchestrator", "conversational", NULL};
static const char *const tiers[] = {"fast", "balanced", "powerful", NULL};
static const char *const archs[] = {"any", "x86_64", "arm64", "aarch64", NULL};
static const char *const strategies[] = {"chain_execution", "parallel_fanout",
                                         "conditional_routing", "recursive_decomposition", NULL};
static const char *const routing[] = {"task_complexity", "cost_optimized", "latency_optimized",
                                      NULL};

static const struct at_shape schema_block[] = {
    {"schema", AT_SH_ANYOBJ, AT_SH_REQUIRED, NULL, NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};
static const char *const networks[] = {"none", "platform", "egress", NULL};
static const char *const scope_modes[] = {"read", "write", NULL};
static const struct at_shape scope_path[] = {
    {"path", AT_SH_STR, AT_SH_REQUIRED | AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"mode", AT_SH_STR, 0, NULL, scope_modes, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};
/* requires.scope: what the platform's skills may touch on the agent's
 * behalf (docs/skills.md "Scopes") */
static const struct at_shape scope_block[] = {
    {"paths", AT_SH_OBJLIST, 0, scope_path, NULL, 0, 0},
    {"hosts", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};
static const struct at_shape requires_block[] = {
    {"platform_tools", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    /* names of secrets (`atlas secret set`) handed to the process's
     * environment (docs/security.md "Secrets") */
    {"secrets", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    {"spawn_agents", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    {"skills", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    {"network", AT_SH_STR, 0, NULL, networks, 0, 0},
    /* with network: egress, the only HOST:PORTs it may reach (contract/egress.h) */
    {"egress", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    {"scope", AT_SH_OBJ, 0, scope_block, NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};
static const struct at_shape model_block[] = {
    {"preference", AT_SH_STR, 0, NULL, tiers, 0, 0},
    {"override_allowed", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};
static const struct at_shape hardware_block[] = {
    {"gpu", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    {"gpu_vram_gb", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0, 0},
    {"min_memory_gb", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0, 0},
    {"min_cpu_cores", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0, 0},
    {"architecture", AT_SH_STR, 0, NULL, archs, 0, 0},
    {"node_affinity", AT_SH_STR, 0, NULL, NULL, 0, 0},
    {"node_labels", AT_SH_STRMAP, 0, NULL, NULL, 0, 0},
    {"device_access", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};
static const struct at_shape deps_block[] = {
    {"python", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"node", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"packages", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    {"system", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};
static const struct at_shape lifecycle_block[] = {
    {"health", AT_SH_STR, 0, NULL, NULL, 0, 0},
    {"startup", AT_SH_STR, 0, NULL, NULL, 0, 0},
    {"shutdown", AT_SH_STR, 0, NULL, NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};
static const struct at_shape orchestration_block[] = {
    {"strategies", AT_SH_STRLIST, 0, NULL, strategies, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};
static const struct at_shape model_selection_block[] = {
    {"enabled", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    {"tiers", AT_SH_LISTMAP, 0, NULL, NULL, 0, 0},
    {"routing_strategy", AT_SH_STR, 0, NULL, routing, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};
static const struct at_shape pool_block[] = {
    {"min", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 0, 1024},
    {"max", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 1024},
    {"idle_timeout", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};
/* the sandbox's limits (docs/contract.md, docs/security.md) */
static const struct at_shape limits_block[] = {
    {"memory_mb", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 16, 1 << 24},
    {"pids", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 1 << 22},
    {"cpu", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0.01, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};
/* a remote agent's credentials: names of secrets (exec/remote_auth.h
 * checks which keys each type needs) */
static const char *const remote_auth_types[] = {"bearer", "oauth", NULL};
static const char *const remote_auth_methods[] = {"client_secret_basic", "client_secret_post",
                                                  NULL};
static const struct at_shape remote_auth_block[] = {
    {"type", AT_SH_STR, AT_SH_REQUIRED, NULL, remote_auth_types, 0, 0},
    {"secret", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"client_id", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"client_secret", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"scope", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"auth_method", AT_SH_STR, 0, NULL, remote_auth_methods, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};
static const struct at_shape agent_block[] = {
    {"name", AT_SH_STR, AT_SH_REQUIRED | AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"version", AT_SH_STR, AT_SH_REQUIRED | AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"description", AT_SH_STR, 0, NULL, NULL, 0, 0},
    {"type", AT_SH_STR, 0, NULL, types, 0, 0},
    {"input", AT_SH_OBJ, 0, schema_block, NULL, 0, 0},
    {"output", AT_SH_OBJ, 0, schema_block, NULL, 0, 0},
    {"capabilities", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    {"requires", AT_SH_OBJ, 0, requires_block, NULL, 0, 0},
    {"model", AT_SH_OBJ, 0, model_block, NULL, 0, 0},
    {"hardware", AT_SH_OBJ, 0, hardware_block, NULL, 0, 0},
    {"dependencies", AT_SH_OBJ, 0, deps_block, NULL, 0, 0},
    {"lifecycle", AT_SH_OBJ, 0, lifecycle_block, NULL, 0, 0},
    {"orchestration", AT_SH_OBJ, 0, orchestration_block, NULL, 0, 0},
    {"model_selection", AT_SH_OBJ, 0, model_selection_block, NULL, 0, 0},
    /* Atlas extensions (docs/contract.md) */
    {"entrypoint", AT_SH_STRLIST, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"remote", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"tool", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"remote_auth", AT_SH_OBJ, 0, remote_auth_block, NULL, 0, 0},
    {"idempotent", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    {"timeout", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0.001, 0},
    {"pool", AT_SH_OBJ, 0, pool_block, NULL, 0, 0},
    {"limits", AT_SH_OBJ, 0, limits_block, NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};
/* The spec prints an orchestrator's orchestration/model_selection blocks
 * beside `agent:`; they are accepted there too and moved into the block. */
static const struct at_shape file_shape[] = {
    {"agent", AT_SH_ANYOBJ, AT_SH_REQUIRED, NULL, NULL, 0, 0},
    {"orchestration", AT_SH_ANYOBJ, 0, NULL, NULL, 0, 0},
    {"model_selection", AT_SH_ANYOBJ, 0, NULL, NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};

/* ---- helpers ---- */

int at_agent_name_valid(const char *name)
{
    const char *slash = strchr(name, '/');
    if (slash && strchr(slash + 1, '/'))
        return 0;
    const char *parts[2] = {name, slash ? slash + 1 : NULL};
    for (int i = 0; i < 2 && parts[i]; i++) {
        const char *p = parts[i];
        size_t n = i == 0 && slash ? (size_t)(slash - name) : strlen(p);
        if (n == 0 || n > AT_AGENT_NAME_MAX)
            return 0;
        if (!islower((unsigned char)p[0]) && !isdigit((unsigned char)p[0]))
            return 0;
        for (size_t k = 0; k < n; k++) {
            unsigned char ch = (unsigned char)p[k];
            if (!islower(ch) && !isdigit(ch) && ch != '-' && ch != '_' && ch != '.')
                return 0;
        }
    }
    return 1;
}

struct at_contract *at_contract_ref(struct at_contract *c)
{
    if (c)
        atomic_fetch_add(&c->refs, 1);
    return c;
}

void at_contract_unref(struct at_contract *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    free(c->name);
    free(c->version);
    free(c->description);
    free(c->type);
    free(c->remote);
    free(c->tool);
    free(c->python);
    at_schema_free(c->input);
    at_schema_free(c->output);
    json_decref(c->entrypoint);
    json_decref(c->json);
    free(c);
}

static struct {
    _Atomic(at_contract_skill_fn) fn;
    _Atomic(void *) arg;
} skill_hook;

void at_contract_set_skill_check(at_contract_skill_fn fn, void *arg)
{
    atomic_store(&skill_hook.arg, arg);
    atomic_store(&skill_hook.fn, fn);
}

int at_contract_skill_available(const char *spec)
{
    at_contract_skill_fn fn = atomic_load(&skill_hook.fn);
    return fn ? fn(atomic_load(&skill_hook.arg), spec) : 0;
}

int at_contract_skill_spec(const char *spec, char *name, size_t n, const char **constraint)
{
    if (!spec)
        return AT_EINVAL;
    const char *at = strchr(spec, '@');
    size_t len = at ? (size_t)(at - spec) : strlen(spec);
    if (len == 0 || len >= n || len > AT_AGENT_NAME_MAX)
        return AT_EINVAL;
    memcpy(name, spec, len);
    name[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (!(islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) ||
              ((name[i] == '-' || name[i] == '_' || name[i] == '.') && i > 0)))
            return AT_EINVAL;
    *constraint = at ? at + 1 : NULL;
    if (at && (!at[1] || at_version_satisfies("0.0.0", at + 1) == AT_EINVAL))
        return AT_EINVAL;
    return 0;
}

int at_contract_is_python(const struct at_contract *c)
{
    if (!c->entrypoint || json_array_size(c->entrypoint) == 0)
        return 0;
    const char *prog = json_string_value(json_array_get(c->entrypoint, 0));
    if (!prog)
        return 0;
    const char *base = strrchr(prog, '/');
    base = base ? base + 1 : prog;
    return strncmp(base, "python", 6) == 0;
}

/* Error reporting works on a doc when we have one (file:line:col), else on
 * plain JSON Pointers. */
struct ctx {
    const struct at_yaml_doc *doc;
    const char *name;
    struct at_diag *d;
};

/* Errors are located in the file when there is one, else by JSON Pointer. */
#define cerr(x, code, ptr, ...)                                                                    \
    at_yaml_error_or_pointer((x)->doc, x->name, (x)->d, (code), (ptr), __VA_ARGS__)

static int compile_schema(struct ctx *x, json_t *agent, const char *which, struct at_schema **out)
{
    json_t *blk = json_object_get(agent, which);
    json_t *schema = blk ? json_object_get(blk, "schema") : NULL;
    json_t *deflt = NULL;
    if (!schema) {
        deflt = json_pack("{s:s}", "type", "object");
        schema = deflt;
    }
    struct at_diag sd;
    at_diag_clear(&sd);
    int rc = at_schema_new(schema, out, &sd);
    json_decref(deflt);
    if (rc) {
        char ptr[700];
        snprintf(ptr, sizeof(ptr), "/agent/%s/schema%s", which, sd.pointer);
        return cerr(x, AT_ESCHEMA, ptr, "invalid JSON Schema: %s", sd.msg);
    }
    return 0;
}

/* Validate the normalised agent block and build the contract. */
static int build(struct ctx *x, json_t *agent, struct at_contract **out)
{
    struct at_contract *c = at_calloc(1, sizeof(*c));
    atomic_init(&c->refs, 1);
    c->pool.min = c->pool.max = -1;
    c->pool.idle_timeout = -1;
    c->json = json_incref(agent);
    int rc;

    const char *name = json_string_value(json_object_get(agent, "name"));
    const char *version = json_string_value(json_object_get(agent, "version"));
    if (!name || !at_agent_name_valid(name)) {
        rc = cerr(x, AT_EINVAL, "/agent/name",
                  "\"%s\" is not a valid agent name (lowercase letters, digits, '-', '_', '.'; "
                  "at most %d characters; optionally \"org/\" first)",
                  name ? name : "", AT_AGENT_NAME_MAX);
        goto fail;
    }
    if (!version || at_semver_parse(version, &c->semver)) {
        rc = cerr(x, AT_EINVAL, "/agent/version",
                  "\"%s\" is not a semantic version (MAJOR.MINOR.PATCH, e.g. \"1.2.0\")",
                  version ? version : "");
        goto fail;
    }
    c->name = at_strdup(name);
    c->version = at_strdup(version);
    c->description = at_strdup(at_json_str(agent, "description", ""));
    c->type = at_strdup(at_json_str(agent, "type", "agent"));

    if ((rc = compile_schema(x, agent, "input", &c->input)) ||
        (rc = compile_schema(x, agent, "output", &c->output)))
        goto fail;

    json_t *req = json_object_get(agent, "requires");
    c->platform_tools = json_is_true(json_object_get(req, "platform_tools"));
    c->spawn_agents = json_is_true(json_object_get(req, "spawn_agents"));
    const char *net = json_string_value(json_object_get(req, "network"));
    /* not declared: atlasd only (its agent socket in the sandbox), no
     * other network; "none" takes that away too */
    c->network = !net || !strcmp(net, "platform") ? AT_NETWORK_PLATFORM
                 : !strcmp(net, "none")           ? AT_NETWORK_NONE
                                                  : AT_NETWORK_EGRESS;
    size_t si;
    json_t *sv;
    json_t *egress = json_object_get(req, "egress");
    if (egress && c->network != AT_NETWORK_EGRESS) {
        rc = cerr(x, AT_EINVAL, "/agent/requires/egress",
                  "an egress allowlist needs \"network: egress\" (it narrows the host network)");
        goto fail;
    }
    json_array_foreach(egress, si, sv)
    {
        char why[200], ptr[64];
        if (at_egress_rule_check(json_string_value(sv), why, sizeof(why)) != 0) {
            snprintf(ptr, sizeof(ptr), "/agent/requires/egress/%zu", si);
            rc = cerr(x, AT_EINVAL, ptr, "%s", why);
            goto fail;
        }
    }
    json_array_foreach(json_object_get(req, "skills"), si, sv)
    {
        char sname[AT_AGENT_NAME_MAX + 1], ptr[64];
        const char *cons;
        if (at_contract_skill_spec(json_string_value(sv), sname, sizeof(sname), &cons)) {
            snprintf(ptr, sizeof(ptr), "/agent/requires/skills/%zu", si);
            rc = cerr(x, AT_EINVAL, ptr,
                      "\"%s\" is not a skill (NAME or NAME@CONSTRAINT, e.g. \"file-ops\", "
                      "\"web-search@>=1.0\")",
                      json_string_value(sv));
            goto fail;
        }
    }
    json_array_foreach(json_object_get(json_object_get(req, "scope"), "paths"), si, sv)
    {
        const char *sp = json_string_value(json_object_get(sv, "path"));
        if (!sp || sp[0] != '/') {
            char ptr[64];
            snprintf(ptr, sizeof(ptr), "/agent/requires/scope/paths/%zu/path", si);
            rc = cerr(x, AT_EINVAL, ptr, "a scope path must be absolute (\"%s\")", sp ? sp : "");
            goto fail;
        }
    }
    json_t *lim = json_object_get(agent, "limits");
    c->limits.memory_mb = json_integer_value(json_object_get(lim, "memory_mb"));
    c->limits.pids = json_integer_value(json_object_get(lim, "pids"));
    c->limits.cpu = json_number_value(json_object_get(lim, "cpu"));
    c->idempotent = json_is_true(json_object_get(agent, "idempotent"));
    json_t *t = json_object_get(agent, "timeout");
    c->timeout_s = t ? json_number_value(t) : 0;
    json_t *pool = json_object_get(agent, "pool");
    if (pool) {
        json_t *v;
        if ((v = json_object_get(pool, "min")))
            c->pool.min = (int)json_integer_value(v);
        if ((v = json_object_get(pool, "max")))
            c->pool.max = (int)json_integer_value(v);
        if ((v = json_object_get(pool, "idle_timeout")))
            c->pool.idle_timeout = json_number_value(v);
        if (c->pool.min >= 0 && c->pool.max >= 0 && c->pool.min > c->pool.max) {
            rc = cerr(x, AT_EINVAL, "/agent/pool/min", "min (%d) is larger than max (%d)",
                      c->pool.min, c->pool.max);
            goto fail;
        }
    }
    json_t *deps = json_object_get(agent, "dependencies");
    const char *py = json_string_value(json_object_get(deps, "python"));
    if (py) {
        if (at_version_satisfies("3.11.0", py) < 0) {
            rc = cerr(x, AT_EINVAL, "/agent/dependencies/python",
                      "\"%s\" is not a version constraint (e.g. \">=3.11\", \">=3.10,<4\")", py);
            goto fail;
        }
        c->python = at_strdup(py);
    }
    const char *remote = json_string_value(json_object_get(agent, "remote"));
    json_t *ep = json_object_get(agent, "entrypoint");
    if (remote && ep) {
        rc = cerr(x, AT_EINVAL, "/agent/remote",
                  "an agent has either remote or entrypoint, not both");
        goto fail;
    }
    if (remote) {
        if (strncmp(remote, "http://", 7) != 0 && strncmp(remote, "https://", 8) != 0) {
            rc = cerr(x, AT_EINVAL, "/agent/remote", "\"%s\" is not an http(s) URL", remote);
            goto fail;
        }
        c->remote = at_strdup(remote);
    }
    if (json_object_get(agent, "remote_auth") && !remote) {
        rc = cerr(x, AT_EINVAL, "/agent/remote_auth", "remote_auth is for remote agents only");
        goto fail;
    }
    const char *tool = json_string_value(json_object_get(agent, "tool"));
    if (tool)
        c->tool = at_strdup(tool);
    if (ep)
        c->entrypoint = json_incref(ep);
    if (!ep && !remote) {
        rc = cerr(x, AT_EINVAL, "/agent",
                  "no way to start this agent: add `entrypoint:` (an argv list, e.g. "
                  "[\"./agent\"]) or an agent.py for the Python SDK");
        goto fail;
    }
    *out = c;
    return 0;
fail:
    at_contract_unref(c);
    return rc;
}

/* Parse and check agent.yaml text.  When py_dir is set and the contract has
 * neither entrypoint nor remote, an agent.py in py_dir makes the entrypoint
 * the Python SDK's runner. */
static int load_text(const char *name, const char *text, size_t len, const char *py_dir,
                     struct at_contract **out, struct at_diag *d)
{
    struct at_yaml_doc doc;
    int rc = at_yaml_load_string(&doc, name, text, len, d);
    if (rc)
        goto out;
    if (!json_is_object(doc.root)) {
        rc = at_diag_set(d, AT_EINVAL, name, 1, 1, "expected a mapping with an `agent:` block");
        goto out;
    }
    if ((rc = at_shape_check(&doc, doc.root, "", file_shape, d)))
        goto out;
    json_t *agent = json_object_get(doc.root, "agent");
    if ((rc = at_shape_check(&doc, agent, "/agent", agent_block, d)))
        goto out;
    const char *blocks[] = {"orchestration", "model_selection"};
    const struct at_shape *shapes[] = {orchestration_block, model_selection_block};
    for (int i = 0; i < 2; i++) {
        json_t *b = json_object_get(doc.root, blocks[i]);
        if (!b)
            continue;
        char ptr[64];
        snprintf(ptr, sizeof(ptr), "/%s", blocks[i]);
        if ((rc = at_shape_check(&doc, b, ptr, shapes[i], d)))
            goto out;
        if (json_object_get(agent, blocks[i])) {
            rc = at_yaml_error(&doc, d, AT_EINVAL, ptr, 1, "given twice (also inside agent:)");
            goto out;
        }
        json_object_set(agent, blocks[i], b);
    }
    if (py_dir && !json_object_get(agent, "entrypoint") && !json_object_get(agent, "remote")) {
        char *py = at_fs_join(py_dir, "agent.py");
        if (at_fs_is_file(py))
            json_object_set_new(agent, "entrypoint",
                                json_pack("[ssss]", "python3", "-m", "atlas.runner", "agent.py"));
        free(py);
    }
    struct ctx x = {.doc = &doc, .name = name, .d = d};
    rc = build(&x, agent, out);
out:
    at_yaml_doc_release(&doc);
    return rc;
}

int at_contract_load_string(const char *name, const char *text, size_t len,
                            struct at_contract **out, struct at_diag *d)
{
    return load_text(name, text, len, NULL, out, d);
}

int at_contract_load_dir(const char *dir, struct at_contract **out, struct at_diag *d)
{
    char *path = at_fs_join(dir, "agent.yaml");
    if (!at_fs_is_file(path)) {
        free(path);
        path = at_fs_join(dir, "agent.yml");
        if (!at_fs_is_file(path)) {
            free(path);
            if (!at_fs_is_dir(dir))
                return at_diag_set(d, AT_ENOENT, dir, 0, 0, "no such directory");
            return at_diag_set(d, AT_ENOENT, dir, 0, 0,
                               "no agent.yaml in this directory (is it an agent?)");
        }
    }
    char *text;
    size_t len;
    int rc = at_fs_read_file(path, AT_YAML_MAX_BYTES, &text, &len);
    if (rc) {
        at_diag_set(d, rc, path, 0, 0, "cannot read: %s", at_err_msg(rc));
        free(path);
        return rc;
    }
    rc = load_text(path, text, len, dir, out, d);
    free(text);
    free(path);
    return rc;
}

int at_contract_from_json(json_t *json, struct at_contract **out, struct at_diag *d)
{
    struct ctx x = {.doc = NULL, .name = "contract", .d = d};
    if (!json_is_object(json))
        return at_diag_set(d, AT_EINVAL, "contract", 0, 0, "stored contract is not an object");
    return build(&x, json, out);
}

int at_contract_new_remote_trust(const char *name, const char *version, const char *url,
                                 const char *tool, const char *description,
                                 const json_t *input_schema, const json_t *output_schema,
                                 int trust_platform, const json_t *remote_auth,
                                 struct at_contract **out, struct at_diag *d)
{
    json_t *agent = json_object();
    json_object_set_new(agent, "name", json_string(name));
    json_object_set_new(agent, "version", json_string(version ? version : "0.0.0"));
    json_object_set_new(agent, "description", json_string(description ? description : ""));
    if (input_schema)
        json_object_set_new(agent, "input", json_pack("{s:O}", "schema", input_schema));
    if (output_schema)
        json_object_set_new(agent, "output", json_pack("{s:O}", "schema", output_schema));
    json_object_set_new(agent, "remote", json_string(url));
    if (tool)
        json_object_set_new(agent, "tool", json_string(tool));
    if (trust_platform)
        json_object_set_new(agent, "requires", json_pack("{s:b}", "platform_tools", 1));
    if (remote_auth) /* names of secrets only, never their values */
        json_object_set_new(agent, "remote_auth", json_deep_copy(remote_auth));
    struct ctx x = {.doc = NULL, .name = url, .d = d};
    int rc = build(&x, agent, out);
    json_decref(agent);
    return rc;
}

int at_contract_new_remote(const char *name, const char *version, const char *url, const char *tool,
                           const char *description, const json_t *input_schema,
                           const json_t *output_schema, struct at_contract **out, struct at_diag *d)
{
    return at_contract_new_remote_trust(name, version, url, tool, description, input_schema,
                                        output_schema, 0, NULL, out, d);
}
