/*
 * chainrun.c - chain runs on the engine's loop thread.
 *
 * A chain run is a job (kind "chain") without a process: its children are
 * the step jobs.  Each step's input is mapped from the run context
 * (chain/chain.h), mediated by the orchestrator when it does not fit the
 * agent (orch/orch.h), and run as a child job; its completion arrives in
 * at__chain_child_done, which moves the run on.  A failed step is retried
 * with exponential back-off, then skipped, replaced by a fallback or the
 * chain halts, as its on_failure says.  The whole run has a deadline
 * (execution.timeouts.chain); when it ends any other way than completed,
 * every job of its tree still in flight is cancelled (engine.c).
 *
 * With a custom orchestrator in the slot (atlas orchestrator set), the run
 * asks it for each step's model tier, for mediation and for recovery
 * (docs/orchestrator-protocol.md); when it fails or times out the default
 * decides and the event log says so.
 */
#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "chain/chain.h"
#include "exec/engine_int.h"
#include "json/json.h"
#include "orch/orch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ask { ASK_NONE, ASK_STEP, ASK_MEDIATE, ASK_RECOVER };

struct at_chainrun {
    struct at_engine *e;
    struct at_job *job; /* the chain run (owns this) */
    json_t *ctx;        /* {"trigger", "steps": [...]} */
    size_t step;        /* the current step */
    int attempt;        /* retries made for the current step */
    int pending;        /* children of the current step in flight */
    json_t *group_out;  /* a parallel group's outputs */
    int group_code;
    char *group_detail;
    json_t *step_input; /* the current (single) step's input, after mediation */
    char tier[16];      /* the current step's model tier */
    char tier_reason[160];
    struct at_timer t_retry;
    struct at_timer t_deadline;
    char *orchestrator;     /* custom orchestrator agent, or NULL */
    char *orchestrator_key; /* the version it resolved to ("name:version") */
    enum ask asking;
    struct at_job *ask_job;
    int failed_code; /* the failure being recovered from */
    char *failed_detail;
};

static void start_step(struct at_chainrun *cr, size_t idx);
static void run_step(struct at_chainrun *cr);
static void step_failed(struct at_chainrun *cr, int code, const char *detail, const char *ptr);

static void decision(struct at_chainrun *cr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void decision(struct at_chainrun *cr, const char *fmt, ...)
{
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    at__engine_decision(cr->e, cr->job, msg);
}

static const struct at_chain_step *cur(struct at_chainrun *cr)
{
    return &cr->job->chain->steps[cr->step];
}

static void finish(struct at_chainrun *cr, int code, const char *detail, const char *pointer)
{
    struct at_job *j = cr->job;
    if (j->final)
        return;
    /* the steps as they went, for the trace */
    json_t *meta = at__job_meta_mut(j);
    json_t *steps = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(cr->ctx, "steps"), i, s) json_array_append_new(
        steps, json_pack("{s:O,s:O,s:O}", "agent", json_object_get(s, "agent"), "status",
                         json_object_get(s, "status"), "id", json_object_get(s, "id")));
    json_object_set_new(meta, "steps", steps);
    json_t *out = code == 0 ? at_chain_output(cr->ctx) : NULL;
    at__engine_finalize(cr->e, j, code, out, detail, pointer);
    json_decref(out);
}

static void on_deadline(struct at_loop *loop, struct at_timer *t)
{
    (void)loop;
    struct at_chainrun *cr = t->arg;
    double secs =
        cr->job->chain->timeout_s > 0 ? cr->job->chain->timeout_s : cr->e->conf->exec.timeout_chain;
    char msg[200];
    snprintf(msg, sizeof(msg),
             "the chain did not finish within %g s (%s); its jobs in flight "
             "are cancelled",
             secs,
             cr->job->chain->timeout_s > 0 ? "timeout in the chain file"
                                           : "execution.timeouts.chain");
    decision(cr, "deadline: %s", msg);
    finish(cr, AT_ETIMEDOUT, msg, NULL);
}

void at__chain_start(struct at_engine *e, struct at_job *j)
{
    struct at_chainrun *cr = at_calloc(1, sizeof(*cr));
    cr->e = e;
    cr->job = j;
    j->cr = cr;
    at_timer_init(&cr->t_retry);
    at_timer_init(&cr->t_deadline);
    cr->ctx = at_chain_context_new(j->rec.input);
    at__job_set_state(j, AT_JOB_RUNNING);
    j->rec.started_ms = at_wall_ms();
    j->rec.attempts = 1;
    at__engine_persist(e, j);
    double secs = j->chain->timeout_s > 0 ? j->chain->timeout_s : e->conf->exec.timeout_chain;
    at_loop_timer_start(e->loop, &cr->t_deadline, (int64_t)(secs * 1000), on_deadline, cr);
    cr->orchestrator = at__engine_orchestrator_for(e, j->chain->name);
    struct at_reg_agent *oa = NULL;
    if (cr->orchestrator && at_registry_resolve(e->cfg.registry, cr->orchestrator, &oa) == 0) {
        cr->orchestrator_key = at_asprintf("%s:%s", oa->contract->name, oa->contract->version);
        at_reg_agent_unref(oa);
    }
    if (cr->orchestrator)
        decision(cr,
                 "orchestrator: %s decides for this run (the default takes over if it "
                 "fails)",
                 cr->orchestrator);
    start_step(cr, 0);
}

void at__chain_stop(struct at_engine *e, struct at_job *j)
{
    struct at_chainrun *cr = j->cr;
    at_loop_timer_stop(e->loop, &cr->t_retry);
    at_loop_timer_stop(e->loop, &cr->t_deadline);
}

void at__chain_free(struct at_chainrun *cr)
{
    if (!cr)
        return;
    json_decref(cr->ctx);
    json_decref(cr->group_out);
    json_decref(cr->step_input);
    free(cr->group_detail);
    free(cr->failed_detail);
    free(cr->orchestrator);
    free(cr->orchestrator_key);
    at_job_unref(cr->ask_job);
    free(cr);
}

/* A chain's children (steps, fallbacks, child chains, orchestrator
 * decisions) are one level below it in the tree (engine.c, child_links),
 * and execution.max_spawn_depth bounds them as it bounds spawns: chains
 * nested in chains (a fallback chain, a cycle of them) stop at the limit
 * instead of growing without end.  0, or AT_ELIMIT with d saying so. */
static int depth_check(struct at_chainrun *cr, const char *what, struct at_diag *d)
{
    int max = cr->e->conf->exec.max_spawn_depth;
    if (cr->job->rec.depth + 1 <= max)
        return 0;
    return at_diag_set(d, AT_ELIMIT, NULL, 0, 0,
                       "spawn depth limit reached: chain %s (job %s) is at depth %d and "
                       "execution.max_spawn_depth is %d, so %s cannot start",
                       cr->job->chain->name, cr->job->rec.id, cr->job->rec.depth, max, what);
}

/* ---- asking a custom orchestrator ---- */

/* Run the orchestrator with a decision request; 0 when it was started (the
 * answer comes to at__chain_child_done), else the default decides. */
static int ask(struct at_chainrun *cr, enum ask what, json_t *request)
{
    if (!cr->orchestrator) {
        json_decref(request);
        return -1;
    }
    struct at_diag d;
    at_diag_clear(&d);
    int rc = 0;
    json_object_set_new(request, "chain", json_string(cr->job->chain->name));
    json_object_set_new(request, "step", json_integer((json_int_t)cr->step));
    struct at_job *c = NULL;
    if (depth_check(cr, "its orchestrator's decision", &d) == 0)
        c = at__engine_child(cr->e, cr->job, cr->orchestrator, request, NULL, AT_ROLE_ORCH,
                             (int)cr->step, 0, &rc, &d);
    json_decref(request);
    if (!c) {
        decision(cr, "orchestrator %s could not run (%s): the default orchestrator decides",
                 cr->orchestrator, d.msg);
        return -1;
    }
    cr->asking = what;
    at_job_unref(cr->ask_job);
    cr->ask_job = c;
    return 0;
}

/* ---- steps ---- */

/* Map, mediate and start one agent run for step st (member m of a group). */
static struct at_job *start_agent_own(struct at_chainrun *cr, const struct at_chain_step *st, int m,
                                      json_t *input, int *code, char *detail, size_t dlen);

/* Mediation changes the input in place, and the caller's input may be
 * shared with the record of an earlier attempt that the writer thread is
 * serialising (a retry): the step runs on its own copy. */
static struct at_job *start_agent(struct at_chainrun *cr, const struct at_chain_step *st, int m,
                                  json_t *input, int *code, char *detail, size_t dlen)
{
    json_t *own = json_deep_copy(input);
    struct at_job *c = start_agent_own(cr, st, m, own, code, detail, dlen);
    json_decref(own);
    return c;
}

static struct at_job *start_agent_own(struct at_chainrun *cr, const struct at_chain_step *st, int m,
                                      json_t *input, int *code, char *detail, size_t dlen)
{
    struct at_engine *e = cr->e;
    struct at_diag dd;
    at_diag_clear(&dd);
    if ((*code = depth_check(cr, "the step", &dd))) {
        snprintf(detail, dlen, "step %zu (%s): %s", cr->step, st->agent, dd.msg);
        return NULL;
    }
    struct at_reg_agent *a = NULL;
    if (at_registry_resolve(e->cfg.registry, st->agent, &a)) {
        *code = AT_ENOENT;
        snprintf(detail, dlen, "step %zu: no agent \"%s\" is registered", cr->step, st->agent);
        return NULL;
    }
    json_t *decisions = json_array();
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_orch_mediate(a->contract->input, input, decisions, &d);
    size_t i;
    json_t *msg;
    json_array_foreach(decisions, i, msg)
        decision(cr, "step %zu (%s): %s", cr->step, st->agent, json_string_value(msg));
    json_decref(decisions);
    if (rc) {
        *code = AT_ESCHEMA;
        /* schema messages already start with the pointer */
        int named = !d.pointer[0] || strstr(d.msg, d.pointer);
        snprintf(detail, dlen, "step %zu (%s): %s%s%s", cr->step, st->agent, d.msg,
                 named ? "" : " at ", named ? "" : d.pointer);
        at_reg_agent_unref(a);
        return NULL;
    }
    if (!cr->tier[0]) {
        snprintf(cr->tier, sizeof(cr->tier), "%s",
                 at_orch_select_tier(a->contract, NULL, input, cr->tier_reason,
                                     sizeof(cr->tier_reason)));
    }
    at_reg_agent_unref(a);
    /* the model tier (and the orchestrator whose model_selection.tiers
     * apply) is the job's from the start: the gateway reads it through the
     * job's tokens, which a warm process gets the moment the job arrives */
    json_t *model = json_pack("{s:s,s:s}", "tier", cr->tier, "reason", cr->tier_reason);
    if (cr->orchestrator_key)
        json_object_set_new(model, "orchestrator", json_string(cr->orchestrator_key));
    struct at_job *c =
        at__engine_child(e, cr->job, st->agent, input, json_pack("{s:o}", "model", model),
                         AT_ROLE_STEP, (int)cr->step, m, &rc, &d);
    if (!c) {
        *code = rc;
        snprintf(detail, dlen, "step %zu (%s): %s", cr->step, st->agent, d.msg);
        return NULL;
    }
    return c;
}

static void launch(struct at_chainrun *cr)
{
    const struct at_chain_step *st = cur(cr);
    char detail[900];
    int code = 0;
    if (st->agent) {
        json_t *input = cr->step_input ? json_incref(cr->step_input)
                                       : at_chain_map_input(st, cr->step, cr->ctx);
        json_decref(cr->step_input);
        cr->step_input = input;
        struct at_job *c = start_agent(cr, st, 0, input, &code, detail, sizeof(detail));
        if (!c) {
            step_failed(cr, code, detail, NULL);
            return;
        }
        cr->pending = 1;
        decision(cr, "step %zu: %s runs as %s (model tier %s: %s)", cr->step, st->agent, c->rec.id,
                 cr->tier, cr->tier_reason);
        at_job_unref(c);
        return;
    }
    /* a parallel group: every member at once */
    json_decref(cr->group_out);
    cr->group_out = json_array();
    cr->group_code = 0;
    free(cr->group_detail);
    cr->group_detail = NULL;
    cr->pending = 0;
    for (size_t m = 0; m < st->nmembers; m++)
        json_array_append_new(cr->group_out, json_null());
    decision(cr, "step %zu: %zu agents in parallel", cr->step, st->nmembers);
    for (size_t m = 0; m < st->nmembers; m++) {
        json_t *input = at_chain_map_input(&st->members[m], cr->step, cr->ctx);
        struct at_job *c =
            start_agent(cr, &st->members[m], (int)m, input, &code, detail, sizeof(detail));
        json_decref(input);
        if (!c) {
            if (!cr->group_code) {
                cr->group_code = code;
                cr->group_detail = at_strdup(detail);
            }
            continue;
        }
        cr->pending++;
        at_job_unref(c);
    }
    if (cr->pending == 0)
        step_failed(cr, cr->group_code, cr->group_detail, NULL);
}

static void run_step(struct at_chainrun *cr)
{
    if (cr->job->final)
        return;
    const struct at_chain_step *st = cur(cr);
    cr->tier[0] = '\0';
    if (st->agent && cr->orchestrator) {
        /* the orchestrator chooses the model tier (and may reshape the input) */
        json_t *input = at_chain_map_input(st, cr->step, cr->ctx);
        json_decref(cr->step_input);
        cr->step_input = input;
        json_t *req = json_pack("{s:s,s:s,s:O,s:i}", "decision", "step", "agent", st->agent,
                                "input", input, "attempt", cr->attempt);
        if (ask(cr, ASK_STEP, req) == 0)
            return;
    }
    launch(cr);
}

static void start_step(struct at_chainrun *cr, size_t idx)
{
    struct at_engine *e = cr->e;
    struct at_job *j = cr->job;
    if (j->final)
        return;
    json_decref(cr->step_input);
    cr->step_input = NULL;
    if (idx >= j->chain->nsteps) {
        decision(cr, "done: %zu steps", j->chain->nsteps);
        finish(cr, 0, NULL, NULL);
        return;
    }
    cr->step = idx;
    cr->attempt = 0;
    const char *root = j->rec.root_id ? j->rec.root_id : j->rec.id;
    long long used = at__engine_tree_tokens(e, root);
    if (used >= e->conf->exec.max_tokens_per_chain) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "the chain's token budget is spent before step %zu: %lld tokens used, "
                 "execution.resource_budget.max_tokens_per_chain is %lld",
                 idx, used, e->conf->exec.max_tokens_per_chain);
        decision(cr, "budget: %s", msg);
        finish(cr, AT_ELIMIT, msg, NULL);
        return;
    }
    run_step(cr);
}

static void on_retry(struct at_loop *loop, struct at_timer *t)
{
    (void)loop;
    run_step(t->arg);
}

/* Apply a recovery action (default or the orchestrator's). */
static void recover(struct at_chainrun *cr, const char *action, double delay)
{
    const struct at_chain_step *st = cur(cr);
    const struct at_chain_failure *f = at_chain_step_failure(cr->job->chain, st);
    const char *who = st->agent ? st->agent : "parallel group";
    if (!strcmp(action, "retry")) {
        cr->attempt++;
        decision(cr, "step %zu (%s): retry %d of %d in %.2f s", cr->step, who, cr->attempt,
                 f->max_retries, delay);
        at_loop_timer_start(cr->e->loop, &cr->t_retry, (int64_t)(delay * 1000), on_retry, cr);
        return;
    }
    if (!strcmp(action, "skip")) {
        decision(cr, "step %zu (%s): skipped after %d attempt%s", cr->step, who, cr->attempt + 1,
                 cr->attempt ? "s" : "");
        at_chain_context_set(cr->ctx, cr->step, st, cr->step_input, NULL, "skipped");
        start_step(cr, cr->step + 1);
        return;
    }
    if (!strcmp(action, "fallback") && (f->fallback_agent || f->fallback_chain)) {
        struct at_diag d;
        at_diag_clear(&d);
        int rc = 0;
        /* a copy: mediation changes it, and the failed step's record that
         * the writer may be serialising holds cr->step_input */
        json_t *input = cr->step_input ? json_deep_copy(cr->step_input)
                                       : at_chain_map_input(st, cr->step, cr->ctx);
        struct at_job *c = NULL;
        if ((rc = depth_check(cr, "its fallback", &d))) {
            /* c stays NULL: the chain fails with the limit */
        } else if (f->fallback_agent) {
            struct at_reg_agent *a = NULL;
            if (at_registry_resolve(cr->e->cfg.registry, f->fallback_agent, &a) == 0) {
                json_t *decisions = json_array();
                at_orch_mediate(a->contract->input, input, decisions, NULL);
                json_decref(decisions);
                at_reg_agent_unref(a);
            }
            c = at__engine_child(cr->e, cr->job, f->fallback_agent, input, NULL, AT_ROLE_FALLBACK,
                                 (int)cr->step, 0, &rc, &d);
        } else {
            c = at__engine_child_chain(cr->e, cr->job, f->fallback_chain, input, AT_ROLE_FALLBACK,
                                       (int)cr->step, &rc, &d);
        }
        json_decref(input);
        if (!c) {
            char msg[900];
            snprintf(msg, sizeof(msg), "step %zu (%s) failed and its fallback could not start: %s",
                     cr->step, who, d.msg);
            finish(cr, rc ? rc : AT_EINTERNAL, msg, NULL);
            return;
        }
        decision(cr, "step %zu (%s): fallback to %s %s (%s)", cr->step, who,
                 f->fallback_agent ? "agent" : "chain",
                 f->fallback_agent ? f->fallback_agent : f->fallback_chain, c->rec.id);
        cr->pending = 1;
        at_job_unref(c);
        return;
    }
    /* halt */
    char msg[1000];
    snprintf(msg, sizeof(msg), "step %zu (%s) failed after %d attempt%s: %s", cr->step, who,
             cr->attempt + 1, cr->attempt ? "s" : "",
             cr->failed_detail ? cr->failed_detail : at_err_msg(cr->failed_code));
    decision(cr, "halt: %s", msg);
    finish(cr, cr->failed_code ? cr->failed_code : AT_EAGENT, msg, NULL);
}

/* The default orchestrator's recovery decision. */
static void recover_default(struct at_chainrun *cr)
{
    const struct at_chain_failure *f = at_chain_step_failure(cr->job->chain, cur(cr));
    if (at_orch_retryable(cr->failed_code) && cr->attempt < f->max_retries) {
        recover(cr, "retry", at_orch_backoff(f->backoff_initial, f->backoff_max, cr->attempt));
        return;
    }
    if (!at_orch_retryable(cr->failed_code) && cr->attempt < f->max_retries)
        decision(cr, "step %zu: %s is not retried (the same input would fail the same way)",
                 cr->step, at_err_slug(cr->failed_code));
    recover(cr,
            f->strategy == AT_CHAIN_HALT              ? "halt"
            : f->strategy == AT_CHAIN_RETRY_THEN_SKIP ? "skip"
                                                      : "fallback",
            0);
}

static void step_failed(struct at_chainrun *cr, int code, const char *detail, const char *ptr)
{
    (void)ptr;
    if (cr->job->final)
        return;
    cr->failed_code = code;
    free(cr->failed_detail);
    cr->failed_detail = detail ? at_strdup(detail) : NULL;
    const struct at_chain_step *st = cur(cr);
    decision(cr, "step %zu (%s) failed: %s: %s", cr->step, st->agent ? st->agent : "parallel group",
             at_err_slug(code), detail ? detail : "");
    if (cr->orchestrator) {
        const struct at_chain_failure *f = at_chain_step_failure(cr->job->chain, st);
        json_t *req =
            json_pack("{s:s,s:s,s:{s:s,s:s},s:i,s:{s:s,s:i}}", "decision", "recover", "agent",
                      st->agent ? st->agent : "parallel", "error", "type", at_err_slug(code),
                      "detail", detail ? detail : "", "attempt", cr->attempt, "policy", "strategy",
                      at_chain_strategy_name(f->strategy), "max_retries", f->max_retries);
        if (ask(cr, ASK_RECOVER, req) == 0)
            return;
    }
    recover_default(cr);
}

/* ---- children ending ---- */

static int child_code(const struct at_job *c)
{
    if (c->rec.state == AT_JOB_COMPLETED)
        return 0;
    const char *slug = at_json_str(c->rec.error, "code", NULL);
    return slug ? at_err_from_slug(slug) : AT_EAGENT;
}

static void orchestrator_answer(struct at_chainrun *cr, struct at_job *c)
{
    enum ask what = cr->asking;
    cr->asking = ASK_NONE;
    at_job_unref(cr->ask_job);
    cr->ask_job = NULL;
    json_t *out = c->rec.state == AT_JOB_COMPLETED ? c->rec.output : NULL;
    if (!out) {
        decision(cr, "orchestrator %s failed (%s): the default orchestrator decides",
                 cr->orchestrator, at_json_str(c->rec.error, "detail", "no answer"));
        if (what == ASK_RECOVER)
            recover_default(cr);
        else
            launch(cr);
        return;
    }
    if (what == ASK_STEP) {
        const char *tier = at_json_str(out, "tier", NULL);
        if (tier &&
            (!strcmp(tier, "fast") || !strcmp(tier, "balanced") || !strcmp(tier, "powerful"))) {
            snprintf(cr->tier, sizeof(cr->tier), "%s", tier);
            snprintf(cr->tier_reason, sizeof(cr->tier_reason), "orchestrator %s: %s",
                     cr->orchestrator, at_json_str(out, "reason", "chosen"));
        }
        json_t *input = json_object_get(out, "input");
        if (json_is_object(input)) {
            decision(cr, "step %zu: orchestrator %s reshaped the input", cr->step,
                     cr->orchestrator);
            json_decref(cr->step_input);
            cr->step_input = json_deep_copy(input);
        }
        launch(cr);
        return;
    }
    /* ASK_RECOVER */
    const char *action = at_json_str(out, "action", NULL);
    if (!action || (strcmp(action, "retry") != 0 && strcmp(action, "skip") != 0 &&
                    strcmp(action, "fallback") != 0 && strcmp(action, "halt") != 0)) {
        decision(cr, "orchestrator %s answered without a valid action: the default decides",
                 cr->orchestrator);
        recover_default(cr);
        return;
    }
    double delay = json_number_value(json_object_get(out, "delay_s"));
    if (delay < 0 || delay > 3600)
        delay = 0;
    decision(cr, "orchestrator %s: %s (%s)", cr->orchestrator, action,
             at_json_str(out, "reason", "no reason given"));
    recover(cr, action, delay);
}

void at__chain_child_done(struct at_engine *e, struct at_job *j, struct at_job *c)
{
    (void)e;
    struct at_chainrun *cr = j->cr;
    if (!cr || j->final || (size_t)c->step_idx != cr->step)
        return; /* a leftover of an earlier attempt */
    if (c->role == AT_ROLE_ORCH) {
        if (c == cr->ask_job)
            orchestrator_answer(cr, c);
        return;
    }
    const struct at_chain_step *st = cur(cr);
    int code = child_code(c);
    if (c->role == AT_ROLE_FALLBACK) {
        cr->pending = 0;
        if (code == 0) {
            at_chain_context_set(cr->ctx, cr->step, st, cr->step_input, c->rec.output, "fallback");
            start_step(cr, cr->step + 1);
        } else {
            char msg[900];
            snprintf(msg, sizeof(msg), "step %zu failed and so did its fallback %s: %s", cr->step,
                     c->rec.agent, at_json_str(c->rec.error, "detail", ""));
            decision(cr, "halt: %s", msg);
            finish(cr, code, msg, NULL);
        }
        return;
    }
    if (st->agent) {
        cr->pending = 0;
        if (code == 0) {
            at_chain_context_set(cr->ctx, cr->step, st, c->rec.input, c->rec.output, "completed");
            start_step(cr, cr->step + 1);
        } else {
            step_failed(cr, code, at_json_str(c->rec.error, "detail", at_err_msg(code)), NULL);
        }
        return;
    }
    /* a member of a parallel group */
    if (code == 0) {
        json_array_set(cr->group_out, (size_t)c->member_idx, c->rec.output);
    } else if (!cr->group_code) {
        cr->group_code = code;
        char msg[900];
        snprintf(msg, sizeof(msg), "member %d (%s): %s", c->member_idx, c->rec.agent,
                 at_json_str(c->rec.error, "detail", at_err_msg(code)));
        free(cr->group_detail);
        cr->group_detail = at_strdup(msg);
    }
    if (--cr->pending > 0)
        return;
    if (cr->group_code) {
        step_failed(cr, cr->group_code, cr->group_detail, NULL);
        return;
    }
    at_chain_context_set(cr->ctx, cr->step, st, NULL, cr->group_out, "completed");
    start_step(cr, cr->step + 1);
}
