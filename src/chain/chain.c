#include "chain/chain.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "contract/shape.h"
#include "contract/yaml.h"
#include "base/map.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#define END                                                                                        \
    {                                                                                              \
        NULL, 0, 0, NULL, NULL, 0, 0                                                               \
    }
#define AT_CHAIN_MAX_STEPS 256

static const char *const strategies[] = {"halt", "retry_then_skip", "fallback", NULL};

static const struct at_shape backoff_shape[] = {
    {"initial", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0, 0},
    {"max", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0, 0},
    END,
};
static const struct at_shape failure_shape[] = {
    {"strategy", AT_SH_STR, 0, NULL, strategies, 0, 0},
    {"max_retries", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 0, 100},
    {"backoff", AT_SH_OBJ, 0, backoff_shape, NULL, 0, 0},
    {"fallback", AT_SH_ANY, 0, NULL, NULL, 0, 0},
    END,
};
static const struct at_shape member_shape[] = {
    {"agent", AT_SH_STR, AT_SH_REQUIRED | AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"id", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"input_map", AT_SH_ANYOBJ, 0, NULL, NULL, 0, 0},
    {"on_failure", AT_SH_OBJ, 0, failure_shape, NULL, 0, 0},
    {"timeout", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0.001, 0},
    END,
};
static const struct at_shape step_shape[] = {
    {"agent", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"parallel", AT_SH_OBJLIST, AT_SH_NONEMPTY, member_shape, NULL, 0, 0},
    {"id", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"input_map", AT_SH_ANYOBJ, 0, NULL, NULL, 0, 0},
    {"on_failure", AT_SH_OBJ, 0, failure_shape, NULL, 0, 0},
    {"timeout", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0.001, 0},
    END,
};
static const struct at_shape chain_shape[] = {
    {"name", AT_SH_STR, AT_SH_REQUIRED | AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"description", AT_SH_STR, 0, NULL, NULL, 0, 0},
    {"steps", AT_SH_ANY, AT_SH_REQUIRED, NULL, NULL, 0, 0},
    {"on_failure", AT_SH_OBJ, 0, failure_shape, NULL, 0, 0},
    {"timeout", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0.001, 0},
    END,
};
static const struct at_shape file_shape[] = {
    {"chain", AT_SH_ANYOBJ, AT_SH_REQUIRED, NULL, NULL, 0, 0},
    END,
};

const char *at_chain_strategy_name(enum at_chain_strategy s)
{
    return s == AT_CHAIN_HALT ? "halt" : s == AT_CHAIN_FALLBACK ? "fallback" : "retry_then_skip";
}

/* ---- error reporting: with a YAML doc (file:line:col) or JSON pointers ---- */

struct ctx {
    const struct at_yaml_doc *doc;
    const char *file;
    struct at_diag *d;
    const struct at_chain_env *env;
};

/* Errors are located in the file when there is one, else by JSON Pointer. */
#define cerr(x, code, ptr, ...)                                                                    \
    at_yaml_error_or_pointer((x)->doc, x->file, (x)->d, (code), (ptr), __VA_ARGS__)

/* ---- lifecycle ---- */

static void failure_release(struct at_chain_failure *f)
{
    if (!f)
        return;
    free(f->fallback_agent);
    free(f->fallback_chain);
}

static void step_release(struct at_chain_step *st)
{
    free(st->id);
    free(st->agent);
    for (size_t i = 0; i < st->nmap; i++) {
        free(st->map[i].key);
        free(st->map[i].expr);
        at_jsonpath_free(st->map[i].path);
        json_decref(st->map[i].literal);
    }
    free(st->map);
    for (size_t i = 0; i < st->nmembers; i++)
        step_release(&st->members[i]);
    free(st->members);
    if (st->on_failure) {
        failure_release(st->on_failure);
        free(st->on_failure);
    }
}

struct at_chain *at_chain_ref(struct at_chain *c)
{
    if (c)
        atomic_fetch_add(&c->refs, 1);
    return c;
}

void at_chain_unref(struct at_chain *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    for (size_t i = 0; i < c->nsteps; i++)
        step_release(&c->steps[i]);
    free(c->steps);
    failure_release(&c->on_failure);
    free(c->name);
    free(c->description);
    json_decref(c->json);
    free(c);
}

const struct at_chain_failure *at_chain_step_failure(const struct at_chain *c,
                                                     const struct at_chain_step *st)
{
    return st->on_failure ? st->on_failure : &c->on_failure;
}

/* ---- parsing ---- */

static int parse_failure(struct ctx *x, const json_t *v, const char *ptr,
                         struct at_chain_failure *f)
{
    const char *s = json_string_value(json_object_get(v, "strategy"));
    f->strategy = !s || !strcmp(s, "retry_then_skip") ? AT_CHAIN_RETRY_THEN_SKIP
                  : !strcmp(s, "halt")                ? AT_CHAIN_HALT
                                                      : AT_CHAIN_FALLBACK;
    json_t *r = json_object_get(v, "max_retries");
    /* retry_then_skip retries twice unless told otherwise; halt and
     * fallback give up at once unless max_retries says to retry */
    f->max_retries = r                                         ? (int)json_integer_value(r)
                     : f->strategy == AT_CHAIN_RETRY_THEN_SKIP ? 2
                                                               : 0;
    json_t *b = json_object_get(v, "backoff");
    f->backoff_initial = 0.5;
    f->backoff_max = 30;
    if (json_object_get(b, "initial"))
        f->backoff_initial = json_number_value(json_object_get(b, "initial"));
    if (json_object_get(b, "max"))
        f->backoff_max = json_number_value(json_object_get(b, "max"));
    json_t *fb = json_object_get(v, "fallback");
    char fptr[160];
    snprintf(fptr, sizeof(fptr), "%s/fallback", ptr);
    if (fb) {
        if (json_is_string(fb)) {
            f->fallback_agent = at_strdup(json_string_value(fb));
        } else if (json_is_object(fb) && json_object_size(fb) == 1 &&
                   (json_is_string(json_object_get(fb, "agent")) ||
                    json_is_string(json_object_get(fb, "chain")))) {
            if (json_object_get(fb, "agent"))
                f->fallback_agent = at_strdup(json_string_value(json_object_get(fb, "agent")));
            else
                f->fallback_chain = at_strdup(json_string_value(json_object_get(fb, "chain")));
        } else {
            return cerr(x, AT_EINVAL, fptr,
                        "expected an agent name, {agent: NAME} or {chain: NAME}");
        }
    }
    if (f->strategy == AT_CHAIN_FALLBACK && !f->fallback_agent && !f->fallback_chain)
        return cerr(x, AT_EINVAL, ptr, "strategy fallback needs `fallback:` (an agent or a chain)");
    if (f->strategy != AT_CHAIN_FALLBACK && fb)
        return cerr(x, AT_EINVAL, fptr, "`fallback:` is only used with strategy: fallback");
    return 0;
}

/* Rewrite "$.steps.<id>" to "$.steps[<index>]" using the ids seen so far. */
static char *rewrite_ids(const char *expr, char *const *ids, size_t nids)
{
    const char *pfx = "$.steps.";
    size_t pl = strlen(pfx);
    if (strncmp(expr, pfx, pl) != 0)
        return at_strdup(expr);
    const char *rest = expr + pl;
    size_t n = strcspn(rest, ".[");
    for (size_t i = 0; i < nids; i++) {
        if (ids[i] && strlen(ids[i]) == n && strncmp(ids[i], rest, n) == 0)
            return at_asprintf("$.steps[%zu]%s", i, rest + n);
    }
    return at_strdup(expr);
}

static int parse_map(struct ctx *x, struct at_chain_step *st, const json_t *map, const char *ptr,
                     char *const *ids, size_t nids, size_t idx)
{
    st->has_map = 1;
    st->nmap = json_object_size(map);
    st->map = at_calloc(st->nmap ? st->nmap : 1, sizeof(*st->map));
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)map, key, v)
    {
        struct at_chain_map *m = &st->map[i++];
        m->key = at_strdup(key);
        char kptr[300];
        snprintf(kptr, sizeof(kptr), "%s/%s", ptr, key);
        const char *s = json_string_value(v);
        if (s && s[0] == '$' && s[1] == '$') {
            m->literal = json_string(s + 1); /* "$$x" is the literal "$x" */
            continue;
        }
        if (!s || s[0] != '$') {
            m->literal = json_incref(v);
            continue;
        }
        m->expr = rewrite_ids(s, ids, nids);
        struct at_diag pd;
        at_diag_clear(&pd);
        if (at_jsonpath_new(m->expr, &m->path, &pd))
            return cerr(x, AT_EPARSE, kptr, "JSONPath \"%s\" does not parse: %s (column %d)", s,
                        pd.msg, pd.col);
        const char *segs[8];
        size_t n = at_jsonpath_prefix(m->path, segs, 8);
        if (n == 0 || (strcmp(segs[0], "trigger") != 0 && strcmp(segs[0], "steps") != 0))
            return cerr(x, AT_EINVAL, kptr,
                        "\"%s\" must start with $.trigger or $.steps (the run context)", s);
        if (strcmp(segs[0], "steps") == 0) {
            char *end = NULL;
            long ref = n >= 2 ? strtol(segs[1], &end, 10) : -1;
            if (n < 2 || !end || *end || ref < 0) {
                return cerr(x, AT_EINVAL, kptr,
                            "\"%s\" must name a step: $.steps[N] or $.steps.<id> (an id of an "
                            "earlier step)",
                            s);
            }
            if ((size_t)ref >= idx)
                return cerr(x, AT_EINVAL, kptr,
                            "\"%s\" refers to step %ld, which has not run yet at step %zu", s, ref,
                            idx);
            if (n >= 3 && strcmp(segs[2], "output") != 0 && strcmp(segs[2], "input") != 0 &&
                strcmp(segs[2], "status") != 0 && strcmp(segs[2], "agent") != 0 &&
                strcmp(segs[2], "id") != 0)
                return cerr(x, AT_EINVAL, kptr,
                            "\"%s\": a step has input, output, status, agent and id", s);
        }
    }
    return 0;
}

static int parse_step(struct ctx *x, const json_t *v, const char *ptr, struct at_chain_step *st,
                      char *const *ids, size_t nids, size_t idx, int member)
{
    snprintf(st->pointer, sizeof(st->pointer), "%s", ptr);
    if (json_is_string(json_object_get(v, "id"))) {
        st->id = at_strdup(json_string_value(json_object_get(v, "id")));
        for (size_t i = 0; i < nids; i++)
            if (ids[i] && strcmp(ids[i], st->id) == 0)
                return cerr(x, AT_EINVAL, ptr, "step id \"%s\" is used twice", st->id);
    }
    json_t *par = member ? NULL : json_object_get(v, "parallel");
    json_t *agent = json_object_get(v, "agent");
    if (!par == !agent)
        return cerr(x, AT_EINVAL, ptr, "a step has either `agent:` or `parallel:`");
    if (agent)
        st->agent = at_strdup(json_string_value(agent));
    char sub[160];
    json_t *map = json_object_get(v, "input_map");
    if (map) {
        if (par)
            return cerr(x, AT_EINVAL, ptr, "a parallel group maps inputs in its members");
        snprintf(sub, sizeof(sub), "%s/input_map", ptr);
        int rc = parse_map(x, st, map, sub, ids, nids, idx);
        if (rc)
            return rc;
    }
    json_t *f = json_object_get(v, "on_failure");
    if (f) {
        st->on_failure = at_calloc(1, sizeof(*st->on_failure));
        st->on_failure->max_retries = 2;
        snprintf(sub, sizeof(sub), "%s/on_failure", ptr);
        int rc = parse_failure(x, f, sub, st->on_failure);
        if (rc)
            return rc;
    }
    json_t *t = json_object_get(v, "timeout");
    st->timeout_s = t ? json_number_value(t) : 0;
    if (par) {
        st->nmembers = json_array_size(par);
        st->members = at_calloc(st->nmembers, sizeof(*st->members));
        for (size_t i = 0; i < st->nmembers; i++) {
            snprintf(sub, sizeof(sub), "%s/parallel/%zu", ptr, i);
            int rc = parse_step(x, json_array_get(par, i), sub, &st->members[i], ids, nids, idx, 1);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int build(struct ctx *x, const json_t *chain, struct at_chain **out)
{
    struct at_chain *c = at_calloc(1, sizeof(*c));
    atomic_init(&c->refs, 1);
    c->json = json_deep_copy(chain);
    c->name = at_strdup(json_string_value(json_object_get(chain, "name")));
    c->description = at_strdup(at_json_str(chain, "description", ""));
    c->on_failure.strategy = AT_CHAIN_HALT;
    c->on_failure.max_retries = 0;
    c->on_failure.backoff_initial = 0.5;
    c->on_failure.backoff_max = 30;
    int rc = 0;
    if (!at_agent_name_valid(c->name)) {
        rc = cerr(x, AT_EINVAL, "/chain/name", "\"%s\" is not a valid chain name", c->name);
        goto fail;
    }
    json_t *f = json_object_get(chain, "on_failure");
    if (f && (rc = parse_failure(x, f, "/chain/on_failure", &c->on_failure)))
        goto fail;
    json_t *t = json_object_get(chain, "timeout");
    c->timeout_s = t ? json_number_value(t) : 0;
    json_t *steps = json_object_get(chain, "steps");
    if (!json_is_array(steps) || json_array_size(steps) == 0) {
        rc = cerr(x, AT_EINVAL, "/chain/steps", "expected a non-empty list of steps");
        goto fail;
    }
    if (json_array_size(steps) > AT_CHAIN_MAX_STEPS) {
        rc = cerr(x, AT_E2BIG, "/chain/steps", "more than %d steps", AT_CHAIN_MAX_STEPS);
        goto fail;
    }
    c->nsteps = json_array_size(steps);
    c->steps = at_calloc(c->nsteps, sizeof(*c->steps));
    char **ids = at_calloc(c->nsteps, sizeof(char *));
    for (size_t i = 0; i < c->nsteps && !rc; i++) {
        char ptr[64];
        snprintf(ptr, sizeof(ptr), "/chain/steps/%zu", i);
        json_t *sv = json_array_get(steps, i);
        if (x->doc && (rc = at_shape_check(x->doc, sv, ptr, step_shape, x->d)))
            break;
        rc = parse_step(x, sv, ptr, &c->steps[i], ids, i, i, 0);
        ids[i] = c->steps[i].id;
    }
    free(ids);
    if (rc)
        goto fail;
    *out = c;
    return 0;
fail:
    at_chain_unref(c);
    return rc ? rc : AT_EINVAL; /* never 0 without *out */
}

/* ---- checks against the registered agents ---- */

static const char *schema_type(const json_t *schema)
{
    json_t *t = json_object_get(schema, "type");
    return json_is_string(t) ? json_string_value(t) : NULL;
}

/* Can mediation turn a `from` value into a `to` one?  (orch/default.c) */
static int coercible(const char *from, const char *to)
{
    if (!from || !to || !strcmp(from, to) || !strcmp(from, "null"))
        return 1;
    if (!strcmp(to, "number") && !strcmp(from, "integer"))
        return 1;
    if (!strcmp(to, "string"))
        return 1; /* anything can be rendered as text */
    if (!strcmp(from, "string"))
        return !strcmp(to, "number") || !strcmp(to, "integer") || !strcmp(to, "boolean");
    if (!strcmp(to, "integer") && !strcmp(from, "number"))
        return 1;
    if (!strcmp(to, "array"))
        return 1; /* a single value becomes a one-element list */
    return 0;
}

/* The contract ref resolves to (a new reference), or NULL with why set. */
static struct at_contract *agent_of(struct ctx *x, const char *ref, char *why, size_t whylen)
{
    struct at_contract *c = NULL;
    why[0] = '\0';
    if (x->env->agent(x->env->arg, ref, &c, why, whylen) || !c) {
        if (!why[0])
            snprintf(why, whylen, "no agent \"%s\" is registered", ref);
        return NULL;
    }
    return c;
}

/* Find the property schema a path like $.steps[k].output.prop points at. */
static const char *source_type(struct ctx *x, const struct at_chain *c,
                               const struct at_chain_map *m, char *why, size_t whylen)
{
    why[0] = '\0';
    if (!m->path)
        return at_json_type_name(m->literal);
    const char *segs[8];
    size_t n = at_jsonpath_prefix(m->path, segs, 8);
    if (n < 3 || strcmp(segs[0], "steps") != 0 || strcmp(segs[2], "output") != 0)
        return NULL; /* the trigger, inputs: unknown until the run */
    size_t k = (size_t)strtol(segs[1], NULL, 10);
    const struct at_chain_step *src = &c->steps[k];
    if (!src->agent) /* a parallel group's output is the array of its members' */
        return n == 3 ? "array" : NULL;
    char ignored[200];
    struct at_contract *a = agent_of(x, src->agent, ignored, sizeof(ignored));
    const json_t *schema = a ? at_schema_json(a->output) : NULL;
    const char *type = NULL;
    if (schema && n == 3) {
        type = schema_type(schema);
    } else if (schema && n >= 4) {
        json_t *props = json_object_get(schema, "properties");
        json_t *p = json_object_get(props, segs[3]);
        if (p && n == 4) {
            type = schema_type(p);
        } else if (!p && json_is_false(json_object_get(schema, "additionalProperties"))) {
            snprintf(why, whylen, "step %zu (%s) never outputs \"%s\"", k, src->agent, segs[3]);
        }
    }
    at_contract_unref(a);
    return type;
}

static int check_step(struct ctx *x, const struct at_chain *c, const struct at_chain_step *st)
{
    char ptr[160];
    snprintf(ptr, sizeof(ptr), "%s/agent", st->pointer);
    char missing[300];
    struct at_contract *a = agent_of(x, st->agent, missing, sizeof(missing));
    if (!a)
        return cerr(x, AT_ENOENT, ptr, "%s", missing);
    const json_t *schema = at_schema_json(a->input);
    json_t *props = json_object_get(schema, "properties");
    int closed = json_is_false(json_object_get(schema, "additionalProperties"));
    int rc = 0;
    if (st->has_map) {
        /* every required property is mapped, or has a default */
        json_t *req = json_object_get(schema, "required");
        size_t i;
        json_t *r;
        json_array_foreach(req, i, r)
        {
            const char *name = json_string_value(r);
            int mapped = 0;
            for (size_t k = 0; k < st->nmap; k++)
                if (!strcasecmp(st->map[k].key, name))
                    mapped = 1;
            if (!mapped && !json_object_get(json_object_get(props, name), "default")) {
                snprintf(ptr, sizeof(ptr), "%s/input_map", st->pointer);
                rc = cerr(x, AT_EINVAL, ptr,
                          "agent %s requires \"%s\", which input_map never provides", st->agent,
                          name);
                goto out;
            }
        }
        for (size_t k = 0; k < st->nmap && !rc; k++) {
            const struct at_chain_map *m = &st->map[k];
            snprintf(ptr, sizeof(ptr), "%s/input_map/%s", st->pointer, m->key);
            json_t *target = json_object_get(props, m->key);
            if (!target) {
                /* mediation renames case-insensitively */
                const char *pk;
                json_t *pv;
                json_object_foreach(props, pk, pv) if (!strcasecmp(pk, m->key)) target = pv;
            }
            if (!target && closed) {
                rc = cerr(x, AT_EINVAL, ptr, "agent %s takes no input \"%s\"", st->agent, m->key);
                break;
            }
            char why[300];
            const char *from = source_type(x, c, m, why, sizeof(why));
            if (why[0]) {
                rc = cerr(x, AT_EINVAL, ptr, "%s", why);
                break;
            }
            const char *to = schema_type(target);
            if (!coercible(from, to))
                rc = cerr(x, AT_EINVAL, ptr,
                          "maps a %s onto \"%s\", which agent %s takes as %s: no conversion can "
                          "make it fit",
                          from, m->key, st->agent, to);
        }
    }
out:
    at_contract_unref(a);
    return rc;
}

static int check_agents(struct ctx *x, const struct at_chain *c)
{
    for (size_t i = 0; i < c->nsteps; i++) {
        const struct at_chain_step *st = &c->steps[i];
        int rc = 0;
        if (st->agent)
            rc = check_step(x, c, st);
        for (size_t k = 0; !rc && k < st->nmembers; k++)
            rc = check_step(x, c, &st->members[k]);
        const struct at_chain_failure *f = at_chain_step_failure(c, st);
        if (!rc && f->fallback_agent) {
            char ptr[160], why[300];
            snprintf(ptr, sizeof(ptr), "%s/on_failure/fallback",
                     st->on_failure ? st->pointer : "/chain");
            struct at_contract *a = agent_of(x, f->fallback_agent, why, sizeof(why));
            if (!a)
                rc = cerr(x, AT_ENOENT, ptr, "%s (fallback)", why);
            at_contract_unref(a);
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- cycles of chains (a chain that can run itself never ends: each
 * round is a new child job until the stack or the spawn depth gives out) ---- */

static void refs_add(const char ***v, size_t *n, size_t *cap, const char *name)
{
    if (!name)
        return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *v = at_realloc(*v, *cap * sizeof(**v));
    }
    (*v)[(*n)++] = name;
}

/* The chains c names (fallbacks of the chain, its steps and their members),
 * in file order; the names are borrowed from c. */
static size_t chain_refs(const struct at_chain *c, const char ***out)
{
    const char **v = NULL;
    size_t n = 0, cap = 0;
    refs_add(&v, &n, &cap, c->on_failure.fallback_chain);
    for (size_t i = 0; i < c->nsteps; i++) {
        const struct at_chain_step *st = &c->steps[i];
        if (st->on_failure)
            refs_add(&v, &n, &cap, st->on_failure->fallback_chain);
        for (size_t k = 0; k < st->nmembers; k++)
            if (st->members[k].on_failure)
                refs_add(&v, &n, &cap, st->members[k].on_failure->fallback_chain);
    }
    *out = v;
    return n;
}

struct cycle_frame {
    struct at_chain *c; /* a reference, except for the root (frame 0) */
    const char **refs;
    size_t nrefs, next;
};

int at_chain_check_cycles(const struct at_chain *c, const struct at_chain_env *env,
                          const char *file, struct at_diag *d)
{
    if (!env || !env->chain)
        return 0;
    /* Depth-first search from c for a path back to c.  A chain seen once
     * is not searched again: whatever it reaches was searched then, so
     * this ends on any graph, cycles among other chains included. */
    struct at_map seen;
    at_map_init(&seen);
    struct cycle_frame *st = at_calloc(8, sizeof(*st));
    size_t n = 1, cap = 8;
    int rc = 0;
    st[0].c = (struct at_chain *)c;
    st[0].nrefs = chain_refs(c, &st[0].refs);
    while (n > 0) {
        struct cycle_frame *f = &st[n - 1];
        if (f->next == f->nrefs || !f->refs) { /* no refs: refs is NULL */
            free(f->refs);
            if (n > 1)
                at_chain_unref(f->c);
            n--;
            continue;
        }
        const char *name = f->refs[f->next++];
        if (strcmp(name, c->name) == 0) {
            /* the path, shortened to fit a message: "a -> b -> ... " */
            struct at_buf path;
            at_buf_init(&path, 600);
            size_t i = 0;
            for (; i < n && path.len < 400; i++)
                at_buf_printf(&path, "%s -> ", st[i].c->name);
            at_buf_puts(&path, i < n ? "..." : c->name);
            rc = at_diag_set(d, AT_EINVAL, file, 0, 0,
                             "chain \"%s\" can run itself through fallbacks: %s (a cycle of "
                             "chains never ends; remove one of its fallbacks)",
                             c->name, at_buf_str(&path));
            at_buf_release(&path);
            break;
        }
        if (at_map_get(&seen, name))
            continue;
        at_map_put(&seen, name, (void *)1);
        struct at_chain *next = env->chain(env->arg, name);
        if (!next)
            continue;
        if (n == cap) {
            cap *= 2;
            st = at_realloc(st, cap * sizeof(*st));
        }
        st[n] = (struct cycle_frame){.c = next};
        st[n].nrefs = chain_refs(next, &st[n].refs);
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        free(st[i].refs);
        if (i > 0)
            at_chain_unref(st[i].c);
    }
    free(st);
    at_map_release(&seen);
    return rc;
}

int at_chain_load_string(const char *file, const char *text, size_t len,
                         const struct at_chain_env *env, struct at_chain **out, struct at_diag *d)
{
    struct at_yaml_doc doc;
    int rc = at_yaml_load_string(&doc, file, text, len, d);
    if (rc)
        goto done;
    if (!json_is_object(doc.root)) {
        rc = at_diag_set(d, AT_EINVAL, file, 1, 1, "expected a mapping with a `chain:` block");
        goto done;
    }
    if ((rc = at_shape_check(&doc, doc.root, "", file_shape, d)))
        goto done;
    json_t *chain = json_object_get(doc.root, "chain");
    if ((rc = at_shape_check(&doc, chain, "/chain", chain_shape, d)))
        goto done;
    struct ctx x = {.doc = &doc, .file = file, .d = d, .env = env};
    struct at_chain *c = NULL;
    if ((rc = build(&x, chain, &c)))
        goto done;
    if (env && env->agent && (rc = check_agents(&x, c))) {
        at_chain_unref(c);
        goto done;
    }
    *out = c;
done:
    at_yaml_doc_release(&doc);
    return rc;
}

int at_chain_from_json(const json_t *def, struct at_chain **out, struct at_diag *d)
{
    struct ctx x = {.doc = NULL, .file = "chain", .d = d, .env = NULL};
    if (!json_is_object(def) || !json_is_string(json_object_get(def, "name")))
        return at_diag_set(d, AT_EINVAL, "chain", 0, 0, "stored chain is not a chain");
    return build(&x, def, out);
}

/* ---- run context and mapping ---- */

json_t *at_chain_context_new(const json_t *trigger)
{
    return json_pack("{s:O,s:[]}", "trigger", trigger ? trigger : json_null(), "steps");
}

json_t *at_chain_map_input(const struct at_chain_step *st, size_t idx, const json_t *ctx)
{
    if (!st->has_map) {
        if (idx == 0)
            return json_deep_copy(json_object_get(ctx, "trigger"));
        json_t *prev =
            json_object_get(json_array_get(json_object_get(ctx, "steps"), idx - 1), "output");
        return json_is_object(prev) ? json_deep_copy(prev) : json_object();
    }
    json_t *in = json_object();
    for (size_t i = 0; i < st->nmap; i++) {
        const struct at_chain_map *m = &st->map[i];
        json_t *v = m->path ? at_jsonpath_value(m->path, ctx) : json_incref(m->literal);
        if (v && !json_is_null(v))
            json_object_set_new(in, m->key, json_deep_copy(v));
        json_decref(v);
    }
    return in;
}

void at_chain_context_set(json_t *ctx, size_t idx, const struct at_chain_step *st,
                          const json_t *input, const json_t *output, const char *status)
{
    json_t *steps = json_object_get(ctx, "steps");
    while (json_array_size(steps) <= idx)
        json_array_append_new(steps, json_object());
    json_t *e =
        json_pack("{s:s,s:s}", "status", status, "agent", st->agent ? st->agent : "parallel");
    json_object_set_new(e, "id", st->id ? json_string(st->id) : json_null());
    json_object_set_new(e, "input", input ? json_deep_copy(input) : json_null());
    json_object_set_new(e, "output", output ? json_deep_copy(output) : json_null());
    json_array_set_new(steps, idx, e);
}

json_t *at_chain_output(const json_t *ctx)
{
    json_t *steps = json_object_get(ctx, "steps");
    for (size_t i = json_array_size(steps); i > 0; i--) {
        json_t *e = json_array_get(steps, i - 1);
        json_t *out = json_object_get(e, "output");
        if (out && !json_is_null(out))
            return json_incref(out);
    }
    return json_object();
}
