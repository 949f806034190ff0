/*
 * config.c - the `models:` section (see config.h and docs/gateway.md).
 */
#include "llm/config.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "contract/shape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define END                                                                                        \
    {                                                                                              \
        NULL, 0, 0, NULL, NULL, 0, 0                                                               \
    }
#define MIN0 AT_SH_HAS_MIN, NULL, NULL, 0, 0
#define MIN1 AT_SH_HAS_MIN, NULL, NULL, 1, 0

static const char *const tier_names[] = {"fast", "balanced", "powerful", "auditor", NULL};
static const char *const kinds[] = {"openai", "anthropic", NULL};
static const char *const strategies[] = {"task_complexity", "cost_optimized", "latency_optimized",
                                         NULL};

static const struct at_shape price[] = {
    {"input_per_mtok", AT_SH_NUM, MIN0},
    {"output_per_mtok", AT_SH_NUM, MIN0},
    END,
};
static const struct at_shape backend[] = {
    {"kind", AT_SH_STR, 0, NULL, kinds, 0, 0},
    {"base_url", AT_SH_STR, AT_SH_REQUIRED | AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"api_key_env", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"api_key", AT_SH_STR, 0, NULL, NULL, 0, 0},
    {"max_concurrency", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 100000},
    {"max_queue", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 0, 1000000},
    {"timeout", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0.001, 0},
    {"connect_timeout", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0.001, 0},
    {"models", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    {"prices", AT_SH_MAPOF, 0, price, NULL, 0, 0},
    END,
};
static const struct at_shape tiers[] = {
    {"fast", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    {"balanced", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    {"powerful", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    {"auditor", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    END,
};
static const struct at_shape retry[] = {
    {"max_retries", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 0, 10},
    {"max_retry_after", AT_SH_NUM, MIN0},
    {"backoff", AT_SH_NUM, MIN0},
    END,
};
static const struct at_shape health[] = {
    {"failure_threshold", AT_SH_INT, MIN1},
    {"probe_interval", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0.01, 0},
    END,
};
static const struct at_shape models_shape[] = {
    {"backends", AT_SH_MAPOF, 0, backend, NULL, 0, 0},
    {"tiers", AT_SH_OBJ, 0, tiers, NULL, 0, 0},
    {"default_tier", AT_SH_STR, 0, NULL, tier_names, 0, 0},
    {"routing_strategy", AT_SH_STR, 0, NULL, strategies, 0, 0},
    {"retry", AT_SH_OBJ, 0, retry, NULL, 0, 0},
    {"health", AT_SH_OBJ, 0, health, NULL, 0, 0},
    END,
};

const char *at_llm_tier_name(enum at_llm_tier t)
{
    return (unsigned)t < AT_LLM_NTIERS ? tier_names[t] : "balanced";
}

int at_llm_tier_parse(const char *s)
{
    for (int i = 0; s && tier_names[i]; i++)
        if (strcmp(s, tier_names[i]) == 0)
            return i;
    return -1;
}

int at_llm_strategy_parse(const char *s)
{
    for (int i = 0; s && strategies[i]; i++)
        if (strcmp(s, strategies[i]) == 0)
            return i + 1;
    return -1;
}

static int located(const struct at_yaml_doc *doc, struct at_diag *d, int code, const char *ptr,
                   int key, const char *msg)
{
    if (doc)
        return at_yaml_error(doc, d, code, ptr, key, "%s", msg);
    char path[256];
    at_yaml_pointer_to_path(ptr, path, sizeof(path));
    at_diag_set(d, code, NULL, 0, 0, "%s: %s", path, msg);
    at_diag_set_pointer(d, ptr);
    return code;
}

static int name_ok(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

int at_llm_config_check(const struct at_yaml_doc *doc, const json_t *models, const char *ptr,
                        struct at_diag *d)
{
    int rc = at_shape_check(doc, models, ptr, models_shape, d);
    if (rc)
        return rc;
    const char *name;
    json_t *b;
    char p[600];
    json_object_foreach((json_t *)json_object_get(models, "backends"), name, b)
    {
        if (!name_ok(name)) {
            snprintf(p, sizeof(p), "%s/backends/%s", ptr, name);
            return located(doc, d, AT_EINVAL, p, 1,
                           "a backend name is 1 to 64 letters, digits, '-', '_' or '.'");
        }
        if (json_object_get(b, "api_key") && json_object_get(b, "api_key_env")) {
            snprintf(p, sizeof(p), "%s/backends/%s/api_key", ptr, name);
            return located(doc, d, AT_EINVAL, p, 1, "give api_key or api_key_env, not both");
        }
        const char *url = json_string_value(json_object_get(b, "base_url"));
        if (url && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
            snprintf(p, sizeof(p), "%s/backends/%s/base_url", ptr, name);
            return located(doc, d, AT_EINVAL, p, 0, "must be an http:// or https:// URL");
        }
    }
    return 0;
}

static void backend_release(struct at_llm_backend_cfg *b)
{
    free(b->name);
    free(b->base_url);
    if (b->api_key) /* a secret: do not leave it in freed memory */
        memset(b->api_key, 0, strlen(b->api_key));
    free(b->api_key);
    free(b->api_key_env);
    for (size_t i = 0; i < b->nmodels; i++)
        free(b->models[i].name);
    free(b->models);
    json_decref(b->prices);
}

void at_llm_config_release(struct at_llm_config *c)
{
    for (size_t i = 0; i < c->nbackends; i++)
        backend_release(&c->backends[i]);
    free(c->backends);
    for (int t = 0; t < AT_LLM_NTIERS; t++) {
        for (size_t i = 0; i < c->ntiers[t]; i++)
            free(c->tiers[t][i]);
        free(c->tiers[t]);
    }
    free(c->source);
    memset(c, 0, sizeof(*c));
}

static double num(const json_t *obj, const char *key, double dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

void at_llm_config_add_model(struct at_llm_backend_cfg *b, const char *name)
{
    for (size_t i = 0; i < b->nmodels; i++)
        if (strcmp(b->models[i].name, name) == 0)
            return;
    b->models = at_realloc(b->models, (b->nmodels + 1) * sizeof(*b->models));
    struct at_llm_model_cfg *m = &b->models[b->nmodels++];
    memset(m, 0, sizeof(*m));
    m->name = at_strdup(name);
    json_t *p = json_object_get(b->prices, name);
    m->price.in_per_mtok = num(p, "input_per_mtok", 0);
    m->price.out_per_mtok = num(p, "output_per_mtok", 0);
}

static void backend_defaults(struct at_llm_backend_cfg *b, const char *name)
{
    memset(b, 0, sizeof(*b));
    b->name = at_strdup(name);
    b->kind = AT_LLM_OPENAI;
    b->max_concurrency = 4;
    b->max_queue = 1000;
    b->timeout_s = 120;
    b->connect_timeout_s = 5;
    b->discover = 1;
}

static char *trim_url(const char *u)
{
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/')
        n--;
    return at_strndup(u, n);
}

static void backend_from_json(struct at_llm_backend_cfg *b, const char *name, const json_t *j)
{
    backend_defaults(b, name);
    const char *kind = json_string_value(json_object_get(j, "kind"));
    if (kind && strcmp(kind, "anthropic") == 0)
        b->kind = AT_LLM_ANTHROPIC;
    b->base_url = trim_url(json_string_value(json_object_get(j, "base_url")));
    const char *key = json_string_value(json_object_get(j, "api_key"));
    const char *env = json_string_value(json_object_get(j, "api_key_env"));
    if (key && *key)
        b->api_key = at_strdup(key);
    if (env) {
        b->api_key_env = at_strdup(env);
        const char *v = getenv(env);
        if (v && *v)
            b->api_key = at_strdup(v);
        else
            at_warn("llm",
                    "backend %s: environment variable %s is not set; requests go without "
                    "an API key",
                    name, env);
    }
    b->max_concurrency = (int)num(j, "max_concurrency", b->max_concurrency);
    b->max_queue = (int)num(j, "max_queue", b->max_queue);
    b->timeout_s = num(j, "timeout", b->timeout_s);
    b->connect_timeout_s = num(j, "connect_timeout", b->connect_timeout_s);
    json_t *prices = json_object_get(j, "prices");
    b->prices = prices ? json_deep_copy(prices) : json_object();
    json_t *models = json_object_get(j, "models");
    if (models) {
        b->discover = 0;
        size_t i;
        json_t *m;
        json_array_foreach(models, i, m) at_llm_config_add_model(b, json_string_value(m));
    }
}

static void tier_set(struct at_llm_config *c, int t, const json_t *list)
{
    for (size_t i = 0; i < c->ntiers[t]; i++)
        free(c->tiers[t][i]);
    free(c->tiers[t]);
    c->ntiers[t] = json_array_size(list);
    c->tiers[t] = at_calloc(c->ntiers[t] + 1, sizeof(char *));
    for (size_t i = 0; i < c->ntiers[t]; i++)
        c->tiers[t][i] = at_strdup(json_string_value(json_array_get(list, i)));
}

static int apply_env(struct at_llm_config *c, struct at_diag *d)
{
    const char *url = getenv("ATLAS_LLM_BASE_URL");
    const char *model = getenv("ATLAS_LLM_MODEL");
    const char *key = getenv("ATLAS_LLM_API_KEY");
    const char *kind = getenv("ATLAS_LLM_KIND");
    url = url && *url ? url : NULL;
    model = model && *model ? model : NULL;
    key = key && *key ? key : NULL;
    kind = kind && *kind ? kind : NULL;
    if (!url && !model && !key && !kind)
        return 0;
    if (c->nbackends > 1)
        return at_diag_set(d, AT_EINVAL, "ATLAS_LLM_BASE_URL", 0, 0,
                           "ATLAS_LLM_* override the one-backend case, but models.backends has "
                           "%zu backends",
                           c->nbackends);
    if (kind && strcmp(kind, "openai") != 0 && strcmp(kind, "anthropic") != 0)
        return at_diag_set(d, AT_EINVAL, "ATLAS_LLM_KIND", 0, 0,
                           "\"%s\" is not openai or anthropic", kind);
    if (c->nbackends == 0) {
        if (!url)
            return at_diag_set(d, AT_EINVAL, "ATLAS_LLM_BASE_URL", 0, 0,
                               "ATLAS_LLM_MODEL/ATLAS_LLM_API_KEY need ATLAS_LLM_BASE_URL when "
                               "no backend is configured");
        c->backends = at_calloc(1, sizeof(*c->backends));
        backend_defaults(&c->backends[0], "default");
        c->backends[0].prices = json_object();
        c->nbackends = 1;
    }
    struct at_llm_backend_cfg *b = &c->backends[0];
    if (url) {
        if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
            return at_diag_set(d, AT_EINVAL, "ATLAS_LLM_BASE_URL", 0, 0,
                               "must be an http:// or https:// URL");
        free(b->base_url);
        b->base_url = trim_url(url);
    }
    if (kind)
        b->kind = strcmp(kind, "anthropic") == 0 ? AT_LLM_ANTHROPIC : AT_LLM_OPENAI;
    if (key) {
        free(b->api_key);
        b->api_key = at_strdup(key);
    }
    if (model) {
        for (size_t i = 0; i < b->nmodels; i++)
            free(b->models[i].name);
        b->nmodels = 0;
        b->discover = 0;
        at_llm_config_add_model(b, model);
        json_t *one = json_pack("[s]", model);
        for (int t = 0; t < AT_LLM_NTIERS; t++)
            if (c->ntiers[t] == 0)
                tier_set(c, t, one);
        json_decref(one);
    }
    return 0;
}

int at_llm_config_from_json(struct at_llm_config *c, const struct at_yaml_doc *doc,
                            const json_t *models, struct at_diag *d)
{
    c->default_tier = AT_LLM_BALANCED;
    c->max_retries = 2;
    c->max_retry_after = 10;
    c->backoff_base = 0.2;
    c->failure_threshold = 3;
    c->probe_interval = 5;
    int rc;
    if (models) {
        if ((rc = at_llm_config_check(doc, models, "/models", d)))
            return rc;
        json_t *bs = json_object_get(models, "backends");
        c->backends = at_calloc(json_object_size(bs) + 1, sizeof(*c->backends));
        const char *name;
        json_t *b;
        json_object_foreach(bs, name, b) backend_from_json(&c->backends[c->nbackends++], name, b);
        json_t *ts = json_object_get(models, "tiers");
        for (int t = 0; t < AT_LLM_NTIERS; t++) {
            json_t *l = json_object_get(ts, tier_names[t]);
            if (l)
                tier_set(c, t, l);
        }
        const char *dt = json_string_value(json_object_get(models, "default_tier"));
        if (dt)
            c->default_tier = at_llm_tier_parse(dt);
        const char *rs = json_string_value(json_object_get(models, "routing_strategy"));
        if (rs)
            c->routing_strategy = at_llm_strategy_parse(rs);
        json_t *r = json_object_get(models, "retry");
        c->max_retries = (int)num(r, "max_retries", c->max_retries);
        c->max_retry_after = num(r, "max_retry_after", c->max_retry_after);
        c->backoff_base = num(r, "backoff", c->backoff_base);
        json_t *h = json_object_get(models, "health");
        c->failure_threshold = (int)num(h, "failure_threshold", c->failure_threshold);
        c->probe_interval = num(h, "probe_interval", c->probe_interval);
    }
    if ((rc = apply_env(c, d)))
        return rc;
    /* a tier naming a model that no backend lists is an error when every
     * backend lists its models (else discovery may still bring it) */
    int all_listed = 1;
    for (size_t i = 0; i < c->nbackends; i++)
        all_listed &= !c->backends[i].discover;
    for (int t = 0; all_listed && c->nbackends && t < AT_LLM_NTIERS; t++) {
        for (size_t i = 0; i < c->ntiers[t]; i++) {
            if (at_llm_config_find(c, c->tiers[t][i], -1, NULL) >= 0)
                continue;
            char p[64], msg[400];
            snprintf(p, sizeof(p), "/models/tiers/%s/%zu", tier_names[t], i);
            snprintf(msg, sizeof(msg),
                     "model \"%s\" is not served by any backend (add it to a "
                     "backend's models list)",
                     c->tiers[t][i]);
            return located(doc, d, AT_EINVAL, p, 0, msg);
        }
    }
    return 0;
}

int at_llm_config_load(struct at_llm_config *c, const struct at_config *config, struct at_diag *d)
{
    json_t *models = json_object_get(config->json, "models");
    struct at_yaml_doc doc;
    memset(&doc, 0, sizeof(doc));
    int have_doc = 0;
    if (models && config->source) {
        /* the marks are gone once config.c is done: read the file again
         * so that errors carry file:line:col */
        struct at_diag ignore;
        at_diag_clear(&ignore);
        if (at_yaml_load_file(&doc, config->source, &ignore) == 0 &&
            json_object_get(doc.root, "models"))
            have_doc = 1;
    }
    c->max_tokens_per_chain = config->exec.max_tokens_per_chain;
    if (config->source)
        c->source = at_strdup(config->source);
    int rc = at_llm_config_from_json(c, have_doc ? &doc : NULL,
                                     have_doc ? json_object_get(doc.root, "models") : models, d);
    c->max_tokens_per_chain = config->exec.max_tokens_per_chain;
    at_yaml_doc_release(&doc);
    return rc;
}

int at_llm_config_find(const struct at_llm_config *c, const char *model, int after,
                       const struct at_llm_model_cfg **model_out)
{
    for (size_t i = after < 0 ? 0 : (size_t)after + 1; i < c->nbackends; i++) {
        const struct at_llm_backend_cfg *b = &c->backends[i];
        for (size_t k = 0; k < b->nmodels; k++) {
            if (strcmp(b->models[k].name, model) == 0) {
                if (model_out)
                    *model_out = &b->models[k];
                return (int)i;
            }
        }
    }
    return -1;
}
