/*
 * eval.c - eval definitions and their check runner (eval.h).
 */
#include "monitor/eval.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/id.h"
#include "base/log.h"
#include "contract/shape.h"
#include "contract/yaml.h"
#include "json/json.h"
#include "llm/gateway.h"
#include "monitor/costs.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define END                                                                                        \
    {                                                                                              \
        NULL, 0, 0, NULL, NULL, 0, 0                                                               \
    }

static const char *const triggers[] = {"every_execution", "sampled", "manual", NULL};
static const char *const check_types[] = {"assertion", "llm_judge", NULL};

static const struct at_shape check_fields[] = {
    {"name", AT_SH_STR, AT_SH_REQUIRED | AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"type", AT_SH_STR, AT_SH_REQUIRED, NULL, check_types, 0, 0},
    {"description", AT_SH_STR, 0, NULL, NULL, 0, 0},
    {"condition", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"model", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"prompt", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"threshold", AT_SH_NUM, 0, NULL, NULL, 0, 0},
    {"max_tokens", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 4096},
    END,
};
static const struct at_shape eval_fields[] = {
    {"name", AT_SH_STR, AT_SH_REQUIRED | AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"description", AT_SH_STR, 0, NULL, NULL, 0, 0},
    {"target_agent", AT_SH_STR, AT_SH_REQUIRED | AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"trigger", AT_SH_STR, 0, NULL, triggers, 0, 0},
    {"sample_rate", AT_SH_NUM, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 0, 1},
    {"checks", AT_SH_OBJLIST, AT_SH_REQUIRED | AT_SH_NONEMPTY, check_fields, NULL, 0, 0},
    END,
};
static const struct at_shape top_fields[] = {
    {"eval", AT_SH_OBJ, AT_SH_REQUIRED, eval_fields, NULL, 0, 0},
    END,
};

static const char *const expr_names[] = {"input", "output", "job", NULL};

static void eval_free(struct at_eval *ev)
{
    for (int i = 0; i < ev->nchecks; i++) {
        struct at_eval_check *c = &ev->checks[i];
        free(c->name);
        at_expr_free(c->expr);
        free(c->model);
        free(c->prompt);
    }
    free(ev->checks);
    free(ev->name);
    free(ev->target);
    json_decref(ev->def);
    free(ev->source);
    free(ev);
}

struct at_eval *at_eval_ref(struct at_eval *ev)
{
    atomic_fetch_add(&ev->refs, 1);
    return ev;
}

void at_eval_unref(struct at_eval *ev)
{
    if (ev && atomic_fetch_sub(&ev->refs, 1) == 1)
        eval_free(ev);
}

/* The column of a condition's first character: YAML gives the scalar's
 * start, which is its opening quote when it is quoted. */
static int condition_col(const struct at_yaml_doc *doc, const char *text, size_t len,
                         const char *ptr, int *line)
{
    int col;
    at_yaml_locate(doc, ptr, 0, line, &col);
    /* find the line in text */
    size_t off = 0;
    for (int l = 1; l < *line && off < len; off++)
        if (text[off] == '\n')
            l++;
    if (col > 0 && off + (size_t)col - 1 < len) {
        char q = text[off + (size_t)col - 1];
        if (q == '"' || q == '\'')
            col++;
    }
    return col;
}

int at_eval_parse(const char *file, const char *text, size_t len, struct at_eval **out,
                  struct at_diag *d)
{
    *out = NULL;
    struct at_yaml_doc doc;
    memset(&doc, 0, sizeof(doc));
    int rc = at_yaml_load_string(&doc, file, text, len, d);
    if (rc)
        goto done;
    if (!json_is_object(doc.root)) {
        rc = at_yaml_error(&doc, d, AT_EINVAL, "", 0,
                           "an eval file is a mapping with one key, eval");
        goto done;
    }
    if ((rc = at_shape_check(&doc, doc.root, "", top_fields, d)))
        goto done;
    json_t *e = json_object_get(doc.root, "eval");
    struct at_eval *ev = at_calloc(1, sizeof(*ev));
    atomic_init(&ev->refs, 1);
    ev->name = at_strdup(json_string_value(json_object_get(e, "name")));
    ev->target = at_strdup(json_string_value(json_object_get(e, "target_agent")));
    ev->def = json_incref(e);
    ev->source = at_strndup(text, len);
    const char *trig = at_json_str(e, "trigger", "every_execution");
    ev->trigger = strcmp(trig, "sampled") == 0  ? AT_EVAL_SAMPLED
                  : strcmp(trig, "manual") == 0 ? AT_EVAL_MANUAL
                                                : AT_EVAL_EVERY;
    json_t *rate = json_object_get(e, "sample_rate");
    if (ev->trigger == AT_EVAL_SAMPLED && !rate) {
        rc = at_yaml_error(&doc, d, AT_EINVAL, "/eval/trigger", 0,
                           "trigger \"sampled\" needs sample_rate (a number from 0 to 1)");
        goto fail;
    }
    if (rate && ev->trigger != AT_EVAL_SAMPLED) {
        rc = at_yaml_error(&doc, d, AT_EINVAL, "/eval/sample_rate", 1,
                           "sample_rate is only for trigger \"sampled\"");
        goto fail;
    }
    ev->rate = rate ? json_number_value(rate) : 1.0;
    json_t *checks = json_object_get(e, "checks");
    ev->nchecks = (int)json_array_size(checks);
    ev->checks = at_calloc((size_t)ev->nchecks, sizeof(*ev->checks));
    for (int i = 0; i < ev->nchecks; i++) {
        json_t *c = json_array_get(checks, (size_t)i);
        struct at_eval_check *ck = &ev->checks[i];
        char ptr[64];
        ck->name = at_strdup(json_string_value(json_object_get(c, "name")));
        for (int k = 0; k < i; k++)
            if (strcmp(ev->checks[k].name, ck->name) == 0) {
                snprintf(ptr, sizeof(ptr), "/eval/checks/%d/name", i);
                rc = at_yaml_error(&doc, d, AT_EINVAL, ptr, 0, "two checks are named \"%s\"",
                                   ck->name);
                goto fail;
            }
        const char *type = json_string_value(json_object_get(c, "type"));
        ck->type = strcmp(type, "llm_judge") == 0 ? AT_CHECK_LLM_JUDGE : AT_CHECK_ASSERTION;
        static const char *const only_judge[] = {"model", "prompt", "threshold", "max_tokens",
                                                 NULL};
        if (ck->type == AT_CHECK_ASSERTION) {
            for (int k = 0; only_judge[k]; k++)
                if (json_object_get(c, only_judge[k])) {
                    snprintf(ptr, sizeof(ptr), "/eval/checks/%d/%s", i, only_judge[k]);
                    rc = at_yaml_error(&doc, d, AT_EINVAL, ptr, 1,
                                       "%s is for llm_judge checks, not assertions", only_judge[k]);
                    goto fail;
                }
            const char *cond = json_string_value(json_object_get(c, "condition"));
            if (!cond) {
                snprintf(ptr, sizeof(ptr), "/eval/checks/%d", i);
                rc = at_yaml_error(&doc, d, AT_EINVAL, ptr, 0, "an assertion needs a condition");
                goto fail;
            }
            struct at_diag ed;
            at_diag_clear(&ed);
            if ((rc = at_expr_compile(cond, strlen(cond), expr_names, &ck->expr, &ed))) {
                snprintf(ptr, sizeof(ptr), "/eval/checks/%d/condition", i);
                int line = 0;
                int col = condition_col(&doc, text, len, ptr, &line);
                char path[128];
                at_yaml_pointer_to_path(ptr, path, sizeof(path));
                at_diag_set(d, rc, file, line, col > 0 ? col + ed.col - 1 : 0,
                            "%s: %s (column %d of the condition)", path, ed.msg, ed.col);
                at_diag_set_pointer(d, ptr);
                goto fail;
            }
        } else {
            if (json_object_get(c, "condition")) {
                snprintf(ptr, sizeof(ptr), "/eval/checks/%d/condition", i);
                rc = at_yaml_error(&doc, d, AT_EINVAL, ptr, 1,
                                   "condition is for assertions, not llm_judge checks");
                goto fail;
            }
            if (!json_object_get(c, "prompt") || !json_object_get(c, "threshold")) {
                snprintf(ptr, sizeof(ptr), "/eval/checks/%d", i);
                rc = at_yaml_error(&doc, d, AT_EINVAL, ptr, 0,
                                   "an llm_judge check needs a prompt and a threshold");
                goto fail;
            }
            ck->model = at_strdup(at_json_str(c, "model", "fast"));
            ck->prompt = at_strdup(json_string_value(json_object_get(c, "prompt")));
            ck->threshold = json_number_value(json_object_get(c, "threshold"));
            ck->max_tokens = (int)at_json_int(c, "max_tokens", 16);
        }
    }
    *out = ev;
    goto done;
fail:
    eval_free(ev);
done:
    at_yaml_doc_release(&doc);
    return rc;
}

json_t *at_eval_to_json(const struct at_eval *ev)
{
    static const char *const tn[] = {"every_execution", "sampled", "manual"};
    json_t *o = json_pack("{s:s,s:s,s:s}", "name", ev->name, "target_agent", ev->target, "trigger",
                          tn[ev->trigger]);
    if (ev->trigger == AT_EVAL_SAMPLED)
        json_object_set_new(o, "sample_rate", json_real(ev->rate));
    json_t *cs = json_array();
    for (int i = 0; i < ev->nchecks; i++) {
        const struct at_eval_check *c = &ev->checks[i];
        json_t *cj = json_deep_copy(json_array_get(json_object_get(ev->def, "checks"), (size_t)i));
        if (!cj)
            cj = json_pack("{s:s}", "name", c->name);
        json_array_append_new(cs, cj);
    }
    json_object_set_new(o, "checks", cs);
    return o;
}

int at_eval_should_run(const struct at_eval *ev, unsigned long long *rng)
{
    if (ev->trigger == AT_EVAL_EVERY)
        return 1;
    if (ev->trigger == AT_EVAL_MANUAL)
        return 0;
    /* xorshift64* */
    unsigned long long x = *rng ? *rng : 0x9E3779B97F4A7C15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *rng = x;
    double u = (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
    return u < ev->rate;
}

int at_eval_parse_score(const char *text, double *score)
{
    for (const char *p = text; p && *p; p++) {
        if (isdigit((unsigned char)*p) ||
            ((*p == '-' || *p == '.') && isdigit((unsigned char)p[1]))) {
            char *end;
            double v = strtod(p, &end);
            if (end != p && isfinite(v)) {
                *score = v;
                return 0;
            }
        }
    }
    return -1;
}

/* ---- running ---- */

struct run {
    atomic_int refs;
    pthread_mutex_t mu;
    struct at_eval *ev;
    struct at_job_rec rec;
    const struct at_eval_hooks *hooks;
    json_t *results;
    int pending;
    int passed;
    at_monitor_eval_done_fn done;
    void *done_arg;
};

struct judge {
    struct run *run;
    int check;
};

static void run_unref(struct run *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    at_eval_unref(r->ev);
    at_job_rec_release(&r->rec);
    json_decref(r->results);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* Record one verdict; the last one completes the run. */
static void verdict(struct run *r, const struct at_eval_check *c, int passed, int has_score,
                    double score, const char *detail, long long tokens, double cost)
{
    char id[AT_ID_MAX];
    at_id_new("evr", id);
    struct at_eval_result res = {
        .id = id,
        .eval = r->ev->name,
        .job_id = r->rec.id,
        .root_id = r->rec.root_id ? r->rec.root_id : r->rec.id,
        .agent = r->rec.agent,
        .check_name = c->name,
        .type = c->type == AT_CHECK_LLM_JUDGE ? "llm_judge" : "assertion",
        .passed = passed,
        .has_score = has_score,
        .score = score,
        .detail = detail,
        .tokens = tokens,
        .cost_usd = cost,
        .created_ms = at_wall_ms(),
    };
    if (r->hooks->result)
        r->hooks->result(r->hooks->arg, &res);
    json_t *j = json_pack("{s:s,s:s,s:b,s:s?}", "check", c->name, "type", res.type, "passed",
                          passed, "detail", detail);
    if (!j)
        j = json_pack("{s:s,s:s,s:b}", "check", c->name, "type", res.type, "passed", passed);
    if (has_score)
        json_object_set_new(j, "score", json_real(score));
    if (c->type == AT_CHECK_LLM_JUDGE)
        json_object_set_new(j, "threshold", json_real(c->threshold));
    pthread_mutex_lock(&r->mu);
    json_array_append_new(r->results, j);
    if (!passed)
        r->passed = 0;
    int last = --r->pending == 0;
    pthread_mutex_unlock(&r->mu);
    if (last && r->done) {
        json_t *all = json_pack("{s:s,s:s,s:b,s:O}", "eval", r->ev->name, "job", r->rec.id,
                                "passed", r->passed, "results", r->results);
        r->done(r->done_arg, all);
        json_decref(all);
    }
}

static json_t *expr_vars(const struct at_job_rec *rec)
{
    json_t *job = json_pack("{s:s,s:s?,s:s?,s:s}", "id", rec->id, "agent", rec->agent, "version",
                            rec->agent_version, "state", at_job_state_name(rec->state));
    if (rec->started_ms && rec->finished_ms)
        json_object_set_new(job, "latency_ms", json_integer(rec->finished_ms - rec->started_ms));
    if (rec->started_ms && rec->created_ms)
        json_object_set_new(job, "queue_ms", json_integer(rec->started_ms - rec->created_ms));
    json_t *u = json_object_get(rec->meta, "usage");
    if (json_is_object(u))
        json_object_set(job, "usage", u);
    return json_pack("{s:O,s:O,s:o}", "input", rec->input ? rec->input : json_null(), "output",
                     rec->output ? rec->output : json_null(), "job", job);
}

static void run_assertion(struct run *r, const struct at_eval_check *c, const json_t *vars)
{
    json_t *v = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_expr_eval(c->expr, vars, &v, &d)) {
        char detail[1200];
        snprintf(detail, sizeof(detail), "error at column %d: %s", d.col, d.msg);
        verdict(r, c, 0, 0, 0, detail, 0, 0);
        return;
    }
    int ok = at_expr_truthy(v);
    char *txt = at_json_dumps(v);
    char detail[300];
    snprintf(detail, sizeof(detail), "the condition is %.200s", txt);
    free(txt);
    json_decref(v);
    verdict(r, c, ok, 0, 0, detail, 0, 0);
}

static char *clip_json(const json_t *v, size_t max)
{
    char *s = v ? at_json_dumps(v) : at_strdup("null");
    if (strlen(s) > max) {
        s[max] = '\0';
        char *t = at_asprintf("%s... (cut at %zu bytes)", s, max);
        free(s);
        return t;
    }
    return s;
}

static void on_judge(void *arg, const struct at_llm_result *res, json_t *body)
{
    struct judge *jg = arg;
    struct run *r = jg->run;
    const struct at_eval_check *c = &r->ev->checks[jg->check];
    atomic_fetch_sub(r->hooks->inflight, 1);
    long long tokens = at_monitor_tokens_add(res->usage.tokens_in, res->usage.tokens_out);
    if (res->code) {
        char detail[600];
        snprintf(detail, sizeof(detail), "the model call failed: %s",
                 res->error ? res->error : "error");
        verdict(r, c, 0, 0, 0, detail, tokens, res->cost_usd);
    } else {
        json_t *msg =
            json_object_get(json_array_get(json_object_get(body, "choices"), 0), "message");
        const char *text = json_string_value(json_object_get(msg, "content"));
        double score;
        if (!text || at_eval_parse_score(text, &score)) {
            char detail[400];
            snprintf(detail, sizeof(detail), "the model's answer has no score: \"%.200s\"",
                     text ? text : "");
            verdict(r, c, 0, 0, 0, detail, tokens, res->cost_usd);
        } else {
            char detail[300];
            snprintf(detail, sizeof(detail), "%s scored %g (threshold %g)",
                     res->model ? res->model : c->model, score, c->threshold);
            verdict(r, c, score >= c->threshold, 1, score, detail, tokens, res->cost_usd);
        }
    }
    run_unref(r);
    free(jg);
}

static void run_judge(struct run *r, int i)
{
    const struct at_eval_check *c = &r->ev->checks[i];
    if (atomic_fetch_add(r->hooks->inflight, 1) >= r->hooks->max_inflight) {
        atomic_fetch_sub(r->hooks->inflight, 1);
        verdict(r, c, 0, 0, 0, "skipped: too many judges in flight (monitor.evals.max_concurrent)",
                0, 0);
        return;
    }
    char *in = clip_json(r->rec.input, 16384), *out = clip_json(r->rec.output, 16384);
    char *user = at_asprintf("%s\n\nInput:\n%s\n\nOutput:\n%s\n\nAnswer with the score only.",
                             c->prompt, in, out);
    free(in);
    free(out);
    json_t *body = json_pack(
        "{s:s,s:[{s:s,s:s},{s:s,s:s}],s:i,s:i}", "model", c->model, "messages", "role", "system",
        "content", "You are an evaluator. Reply with a single number and nothing else.", "role",
        "user", "content", user, "temperature", 0, "max_tokens", c->max_tokens);
    free(user);
    struct judge *jg = at_calloc(1, sizeof(*jg));
    jg->run = r;
    jg->check = i;
    atomic_fetch_add(&r->refs, 1);
    struct at_llm_request req = {.body = body, .override_tier = -1, .on_done = on_judge, .arg = jg};
    struct at_diag d;
    at_diag_clear(&d);
    int rc = body ? r->hooks->submit(r->hooks->arg, &req, &d) : AT_EINVAL;
    json_decref(body);
    if (rc) {
        atomic_fetch_sub(r->hooks->inflight, 1);
        char detail[1200];
        if (rc == AT_EUNAVAIL)
            snprintf(detail, sizeof(detail),
                     "no model gateway is configured (models: in atlas.config.yaml)");
        else
            snprintf(detail, sizeof(detail), "the model call was refused: %s", d.msg);
        free(jg);
        atomic_fetch_sub(&r->refs, 1);
        verdict(r, c, 0, 0, 0, detail, 0, 0);
    }
}

void at_eval_start(struct at_eval *ev, const struct at_job_rec *rec,
                   const struct at_eval_hooks *hooks, at_monitor_eval_done_fn done, void *arg)
{
    struct run *r = at_calloc(1, sizeof(*r));
    atomic_init(&r->refs, 1);
    pthread_mutex_init(&r->mu, NULL);
    r->ev = at_eval_ref(ev);
    at_job_rec_copy(&r->rec, rec);
    r->hooks = hooks;
    r->results = json_array();
    r->pending = ev->nchecks;
    r->passed = 1;
    r->done = done;
    r->done_arg = arg;
    json_t *vars = expr_vars(rec);
    for (int i = 0; i < ev->nchecks; i++) {
        if (ev->checks[i].type == AT_CHECK_ASSERTION)
            run_assertion(r, &ev->checks[i], vars);
        else
            run_judge(r, i);
    }
    json_decref(vars);
    run_unref(r);
}
