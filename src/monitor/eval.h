/*
 * eval.h - eval hooks: evals/NAME.yaml definitions (the Atlas spec's
 * format) and running their checks against a finished job.
 *
 *   eval:
 *     name: "summary-quality"
 *     target_agent: "summarizer"
 *     trigger: "every_execution"      # or "sampled" (with sample_rate), "manual"
 *     sample_rate: 0.1
 *     checks:
 *       - name: "length_compliance"
 *         type: "assertion"
 *         condition: "output.token_count <= input.max_length"
 *       - name: "relevance_score"
 *         type: "llm_judge"
 *         model: "claude-haiku"
 *         prompt: "Rate 1-5 how well this summary captures the key points..."
 *         threshold: 3.5
 *
 * An assertion is an expression (json/expr.h) over input, output and job;
 * it passes when truthy.  An llm_judge asks a model (through the gateway,
 * non-blocking) for a number and passes when it is >= threshold.
 */
#ifndef AT_MONITOR_EVAL_H
#define AT_MONITOR_EVAL_H

#include "base/diag.h"
#include "json/expr.h"
#include "monitor/monitor.h"
#include "store/store.h"

#include <jansson.h>
#include <stdatomic.h>

struct at_llm_request;

enum at_eval_trigger { AT_EVAL_EVERY, AT_EVAL_SAMPLED, AT_EVAL_MANUAL };
enum at_check_type { AT_CHECK_ASSERTION, AT_CHECK_LLM_JUDGE };

struct at_eval_check {
    char *name;
    enum at_check_type type;
    struct at_expr *expr; /* assertion */
    char *model;          /* llm_judge (default "fast") */
    char *prompt;
    double threshold;
    int max_tokens;
};

/* Reference-counted: a run in flight keeps its eval alive after an
 * unregister. */
struct at_eval {
    atomic_int refs;
    char *name;
    char *target; /* agent name */
    enum at_eval_trigger trigger;
    double rate; /* sampled: 0..1 */
    struct at_eval_check *checks;
    int nchecks;
    json_t *def;  /* the eval block as JSON */
    char *source; /* the YAML text */
};

/* Parse and check YAML text (file names it in diagnostics).  Returns 0 and
 * a new eval (one reference), or AT_EPARSE / AT_EINVAL / AT_E2BIG with d
 * at file:line:col, conditions' errors at their column inside the YAML
 * line.  Thread-safe. */
int at_eval_parse(const char *file, const char *text, size_t len, struct at_eval **out,
                  struct at_diag *d);
struct at_eval *at_eval_ref(struct at_eval *ev);
void at_eval_unref(struct at_eval *ev);
/* {name, target_agent, trigger, sample_rate?, checks: [{name, type, ...}]} */
json_t *at_eval_to_json(const struct at_eval *ev);

/* Whether an automatic run happens for one execution: every_execution
 * always, manual never, sampled when the next draw of *rng (xorshift64*,
 * seeded non-zero) is below rate. */
int at_eval_should_run(const struct at_eval *ev, unsigned long long *rng);

/* What running checks needs from the monitor. */
struct at_eval_hooks {
    /* submit a model call (at_llm_submit on the gateway now); AT_EUNAVAIL
     * when there is none */
    int (*submit)(void *arg, const struct at_llm_request *req, struct at_diag *d);
    void (*result)(void *arg, const struct at_eval_result *r); /* record one verdict */
    void *arg;
    atomic_int *inflight; /* judges in flight (shared) */
    int max_inflight;
};

/* Run every check of ev on rec (a final job record, copied).  Assertions
 * run now; judges finish on the gateway's thread.  hooks->result runs for
 * each verdict; done (may be NULL) runs once after the last with
 * {"eval", "job", "passed", "results"}.  hooks must outlive the run. */
void at_eval_start(struct at_eval *ev, const struct at_job_rec *rec,
                   const struct at_eval_hooks *hooks, at_monitor_eval_done_fn done, void *arg);

/* The score in a judge's answer: the first number in text.  Returns 0 and
 * *score, or -1 when there is none. */
int at_eval_parse_score(const char *text, double *score);

#endif
