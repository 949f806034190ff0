/*
 * route.c - the default orchestrator's routing (orch.h; docs/chains.md,
 * "Routing"): which agents are candidates for an input that names none
 * (at_orch_route_candidate: the type, the input schema, a caller's fit
 * predicate such as the machine's hardware), how they are ranked, and the
 * prompt and answer of model-based routing.
 */
#include "orch/orch.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "json/json.h"
#include "registry/registry.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void decide(json_t *decisions, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void decide(json_t *decisions, const char *fmt, ...)
{
    if (!decisions)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(decisions, json_string(msg));
}

/* ---- candidates ---- */

int at_orch_chat_like(const json_t *input)
{
    if (json_is_string(input))
        return 1; /* plain text */
    if (!json_is_object(input))
        return 0;
    json_t *m = json_object_get(input, "message");
    if (json_is_string(m) || json_is_object(m))
        return 1;
    if (json_is_array(json_object_get(input, "messages")))
        return 1;
    /* plain text in an object of its own: {"text": "..."} */
    if (json_object_size(input) == 1) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)input, k, v) return json_is_string(v);
    }
    return 0;
}

int at_orch_route_candidate(const struct at_contract *c, const json_t *input, at_orch_fit_fn fit,
                            void *fit_arg, char *why, size_t n)
{
    if (n)
        why[0] = '\0';
    int conversational = strcmp(c->type, "conversational") == 0;
    if (conversational ? !at_orch_chat_like(input) : strcmp(c->type, "agent") != 0) {
        /* orchestrators are never routed to; front doors take conversation */
        snprintf(why, n, "%s",
                 conversational ? "a conversational agent, and the input is not a chat message"
                                : "an orchestrator");
        return 0;
    }
    json_t *trial = json_deep_copy(input);
    at_schema_apply_defaults(c->input, trial);
    struct at_diag vd;
    at_diag_clear(&vd);
    int ok = at_schema_validate(c->input, trial, &vd) == 0;
    json_decref(trial);
    if (!ok) {
        snprintf(why, n, "its input schema does not accept the input (%s%s%s)", vd.msg,
                 vd.pointer[0] ? " at " : "", vd.pointer);
        return 0;
    }
    if (fit && !fit(fit_arg, c, why, n)) {
        if (n && !why[0])
            snprintf(why, n, "it does not fit here");
        return 0;
    }
    return 1;
}

/* ---- ranking ---- */

static void words_of(const json_t *v, struct at_buf *b, int depth)
{
    if (depth > 8)
        return;
    if (json_is_string(v)) {
        at_buf_putc(b, ' ');
        at_buf_append(b, json_string_value(v), json_string_length(v));
    } else if (json_is_array(v) || json_is_object(v)) {
        size_t i;
        json_t *e;
        const char *k;
        if (json_is_array(v)) {
            json_array_foreach(v, i, e) words_of(e, b, depth + 1);
        } else {
            json_object_foreach((json_t *)v, k, e) words_of(e, b, depth + 1);
        }
    }
}

static int contains_word(const char *hay, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, word, n) == 0)
            return 1;
    return 0;
}

static int score_agent(const struct at_contract *c, const char *text)
{
    int score = 0;
    char *copy = at_strdup(text);
    char *save = NULL;
    for (char *w = strtok_r(copy, " \t\n.,;:!?\"'()[]{}", &save); w;
         w = strtok_r(NULL, " \t\n.,;:!?\"'()[]{}", &save)) {
        if (strlen(w) < 4)
            continue; /* short words say little about intent */
        json_t *caps = json_object_get(c->json, "capabilities");
        size_t i;
        json_t *cap;
        int hit = 0;
        json_array_foreach(caps, i, cap) if (contains_word(json_string_value(cap), w) ||
                                             contains_word(w, json_string_value(cap))) hit = 2;
        if (!hit && contains_word(c->description, w))
            hit = 1;
        if (!hit && contains_word(c->name, w))
            hit = 2;
        score += hit;
    }
    free(copy);
    return score;
}

static int cmp_candidate(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t sx = json_integer_value(json_object_get(x, "score"));
    json_int_t sy = json_integer_value(json_object_get(y, "score"));
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return strcmp(json_string_value(json_object_get(x, "agent")),
                  json_string_value(json_object_get(y, "agent")));
}

int at_orch_route_among(struct at_contract *const *cs, size_t n, const json_t *input,
                        const char *hint, at_orch_fit_fn fit, void *fit_arg, char **agent,
                        json_t *decisions, json_t **cands_out, struct at_diag *d)
{
    json_t *cands = json_array();
    struct at_buf text;
    at_buf_init(&text, 1u << 20);
    at_buf_puts(&text, "");
    words_of(input, &text, 0);
    if (hint) {
        at_buf_putc(&text, ' ');
        at_buf_puts(&text, hint);
    }
    int chat = at_orch_chat_like(input);
    int best = -1;
    size_t besti = 0, candidates = 0, unfit = 0;
    for (size_t i = 0; i < n; i++) {
        const struct at_contract *c = cs[i];
        char why[300];
        if (!at_orch_route_candidate(c, input, NULL, NULL, why, sizeof(why)))
            continue; /* the type or the schema: too common to be worth a line */
        if (fit && !at_orch_route_candidate(c, input, fit, fit_arg, why, sizeof(why))) {
            /* what the caller's predicate says (e.g. hardware this machine
             * lacks) is worth saying: the user may wonder */
            if (unfit++ < 8)
                decide(decisions, "routing: not %s:%s (%s)", c->name, c->version, why);
            continue;
        }
        candidates++;
        /* an agent that names the input's fields is a better fit than one
         * that takes any object */
        int s = score_agent(c, at_buf_str(&text));
        json_t *props = json_object_get(at_schema_json(c->input), "properties");
        const char *k;
        json_t *kv;
        if (json_is_object(input))
            json_object_foreach((json_t *)input, k, kv) if (json_object_get(props, k)) s += 3;
        /* a conversation turn goes to a front door before a catch-all */
        if (chat && strcmp(c->type, "conversational") == 0)
            s += 3;
        json_t *caps = json_object_get(c->json, "capabilities");
        json_array_append_new(cands,
                              json_pack("{s:s++,s:s,s:i,s:s,s:o,s:s}", "agent", c->name, ":",
                                        c->version, "name", c->name, "score", s, "description",
                                        c->description ? c->description : "", "capabilities",
                                        caps ? json_incref(caps) : json_array(), "type", c->type));
        if (s > best) {
            best = s;
            besti = i;
        }
    }
    int rc = 0;
    if (best < 0) {
        if (unfit)
            rc = at_diag_set(d, AT_ENOENT, NULL, 0, 0,
                             "no registered agent accepts this input here (of %zu agents, %zu "
                             "accept it but cannot run here; the decisions say why)",
                             n, unfit);
        else
            rc = at_diag_set(d, AT_ENOENT, NULL, 0, 0,
                             "no registered agent accepts this input (none of %zu agents' input "
                             "schemas match)",
                             n);
        decide(decisions, "routing: no agent accepts the input");
    } else {
        const struct at_contract *c = cs[besti];
        *agent = at_asprintf("%s:%s", c->name, c->version);
        decide(decisions,
               "routing: %s (its input schema accepts the input; %zu candidate%s; capability "
               "and description score %d%s)",
               *agent, candidates, candidates == 1 ? "" : "s", best,
               chat && strcmp(c->type, "conversational") == 0
                   ? "; a conversational agent for a chat message"
                   : "");
    }
    at_buf_release(&text);
    if (cands_out) {
        size_t nc = json_array_size(cands);
        json_t **v = at_malloc((nc ? nc : 1) * sizeof(*v));
        for (size_t i = 0; i < nc; i++)
            v[i] = json_incref(json_array_get(cands, i));
        qsort(v, nc, sizeof(*v), cmp_candidate);
        *cands_out = json_array();
        for (size_t i = 0; i < nc; i++)
            json_array_append_new(*cands_out, v[i]);
        free(v);
    }
    json_decref(cands);
    return rc;
}

int at_orch_route_fit(struct at_registry *reg, const json_t *input, const char *hint,
                      at_orch_fit_fn fit, void *fit_arg, char **agent, json_t *decisions,
                      json_t **cands_out, struct at_diag *d)
{
    struct at_reg_agent **all;
    size_t n = at_registry_latest(reg, &all);
    struct at_contract **cs = at_calloc(n ? n : 1, sizeof(*cs));
    for (size_t i = 0; i < n; i++)
        cs[i] = all[i]->contract;
    int rc = at_orch_route_among(cs, n, input, hint, fit, fit_arg, agent, decisions, cands_out, d);
    free(cs);
    for (size_t i = 0; i < n; i++)
        at_reg_agent_unref(all[i]);
    free(all);
    return rc;
}

int at_orch_route(struct at_registry *reg, const json_t *input, const char *hint, char **agent,
                  json_t *decisions, json_t **cands_out, struct at_diag *d)
{
    return at_orch_route_fit(reg, input, hint, NULL, NULL, agent, decisions, cands_out, d);
}

json_t *at_orch_route_prompt(const json_t *input, const char *hint, const json_t *candidates)
{
    struct at_buf b;
    at_buf_init(&b, 1u << 16);
    at_buf_puts(&b, "Agents:\n");
    size_t i;
    json_t *c;
    json_array_foreach(candidates, i, c)
    {
        char *caps = json_dumps(json_object_get(c, "capabilities"), JSON_COMPACT);
        at_buf_printf(&b, "- %s: %s (capabilities: %s)\n",
                      json_string_value(json_object_get(c, "name")),
                      json_string_value(json_object_get(c, "description")), caps ? caps : "[]");
        free(caps);
    }
    char *in = json_dumps(input, JSON_COMPACT | JSON_SORT_KEYS);
    at_buf_printf(&b, "\nInput: %s\n", in ? in : "{}");
    free(in);
    if (hint)
        at_buf_printf(&b, "Request: %s\n", hint);
    at_buf_puts(&b, "\nWhich agent should handle this input? Answer with its name only.");
    json_t *req = json_pack(
        "{s:s,s:[{s:s,s:s},{s:s,s:s}],s:i,s:f}", "model", "atlas:fast", "messages", "role",
        "system", "content",
        "You route requests to agents. Every listed agent accepts the input; pick the one whose "
        "description and capabilities fit the request best.",
        "role", "user", "content", at_buf_str(&b), "max_tokens", 32, "temperature", 0.0);
    at_buf_release(&b);
    return req;
}

const char *at_orch_route_answer(const char *answer, const json_t *candidates)
{
    if (!answer)
        return NULL;
    /* the longest name that appears in the answer as a word of its own
     * ("summarizer" in "Use the summarizer."; not "word-count" in "word-counter") */
    const char *best = NULL;
    size_t bestlen = 0, i;
    json_t *c;
    json_array_foreach(candidates, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        size_t n = name ? strlen(name) : 0;
        if (n <= bestlen)
            continue;
        for (const char *p = answer; (p = strcasestr(p, name)); p++) {
            int before =
                p == answer || !(isalnum((unsigned char)p[-1]) || p[-1] == '-' || p[-1] == '_');
            int after = !(isalnum((unsigned char)p[n]) || p[n] == '-' || p[n] == '_');
            if (before && after) {
                best = json_string_value(json_object_get(c, "agent"));
                bestlen = n;
                break;
            }
        }
    }
    return best;
}
