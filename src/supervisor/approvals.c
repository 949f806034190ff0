/*
 * approvals.c - the approvals service (approvals.h): proposals held in
 * memory under one mutex, each change written through to the store
 * (at_apstore) before it is reported, audited and announced.
 */
#include "supervisor/approvals.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/id.h"
#include "base/log.h"
#include "json/json.h"
#include "security/secret.h"
#include "store/store.h"
#include "tlog/bundle.h"
#include "tlog/dsse.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#define MAX_LISTENERS 64
#define PACKAGE_TYPE "https://atlas.dev/certification/v1"

struct listener {
    int handle;
    at_approvals_listen_fn fn;
    void *arg;
};

struct at_approvals {
    pthread_mutex_t mu;
    struct at_apstore *store;
    struct at_audit *audit;
    json_t *items; /* array of proposal docs, oldest first */
    int64_t seq;
    int64_t ttl_ms;
    atomic_uint require; /* approvals.require: bit k for actions[k]; a reload sets it */
    json_t *rules;       /* the auto-approve rules: kind -> rule (kv AT_POLICY_AUTO_APPROVE) */
    at_approvals_exec_fn exec;
    void *exec_arg;
    int has_key;
    unsigned char pk[32];
    unsigned char sk[64];
    char keyid[64];
    /* listeners: their own lock, held while one is called */
    pthread_mutex_t lmu;
    struct listener ls[MAX_LISTENERS];
    int nls;
    int next_handle;
};

static int persist(struct at_approvals *a, json_t *doc);
static void history(json_t *doc, const char *state, const char *by, const char *why);
static void audit(struct at_approvals *a, const char *event, const struct at_ap_actor *by,
                  const char *outcome, const json_t *doc, const char *why);

static const char *const actions[] = {"register_untrusted", "agent_register", "skill_install"};

/* approvals.require -> a bit per action; AT_EUNSUPPORTED naming one that is not known */
static int require_mask(const json_t *config, unsigned *mask, struct at_diag *d)
{
    const json_t *req = json_object_get(config, "require");
    size_t i;
    json_t *v;
    *mask = 0;
    json_array_foreach(req, i, v)
    {
        const char *s = json_string_value(v);
        size_t k;
        for (k = 0; k < sizeof(actions) / sizeof(actions[0]); k++)
            if (s && !strcmp(s, actions[k]))
                break;
        if (k == sizeof(actions) / sizeof(actions[0])) {
            at_diag_set(d, AT_EUNSUPPORTED, NULL, 0, 0,
                        "approvals.require: putting \"%s\" behind approvals is not supported yet "
                        "(supported: " AT_APPROVAL_ACTIONS ")",
                        s ? s : "?");
            at_diag_set_pointer(d, "/approvals/require");
            return AT_EUNSUPPORTED;
        }
        *mask |= 1u << k;
    }
    return 0;
}

int at_approvals_set_config(struct at_approvals *a, const json_t *config, struct at_diag *d)
{
    unsigned mask;
    int rc = require_mask(config, &mask, d);
    if (rc)
        return rc;
    pthread_mutex_lock(&a->mu);
    a->ttl_ms = at_json_int(config, "ttl_s", AT_APPROVALS_TTL_S) * 1000;
    pthread_mutex_unlock(&a->mu);
    atomic_store(&a->require, mask);
    return 0;
}

int at_approvals_new(const struct at_approvals_cfg *cfg, struct at_approvals **out,
                     struct at_diag *d)
{
    *out = NULL;
    unsigned mask;
    int rc0 = require_mask(cfg->config, &mask, d);
    if (rc0)
        return rc0;
    struct at_approvals *a = at_calloc(1, sizeof(*a));
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->lmu, NULL);
    a->audit = cfg->audit;
    a->exec = cfg->exec;
    a->exec_arg = cfg->exec_arg;
    atomic_init(&a->require, mask);
    a->ttl_ms = at_json_int(cfg->config, "ttl_s", AT_APPROVALS_TTL_S) * 1000;
    a->next_handle = 1;
    int rc = at_apstore_open(cfg->db, &a->store, d);
    if (!rc)
        rc = at_apstore_load(a->store, &a->items);
    if (!rc) {
        char *text = NULL;
        int krc = at_apstore_kv_get(a->store, AT_POLICY_AUTO_APPROVE, &text);
        a->rules = krc == 0 ? json_loads(text, 0, NULL) : NULL;
        free(text);
        if (krc == 0 && !json_is_object(a->rules))
            at_warn("approvals", "the auto-approve rules are unreadable: none apply");
        if (!json_is_object(a->rules)) {
            json_decref(a->rules);
            a->rules = json_object();
        }
        if (krc && krc != AT_ENOENT)
            rc = at_diag_set(d, krc, NULL, 0, 0, "cannot read the auto-approve rules");
    }
    if (!rc && cfg->data_dir) {
        rc = at_seckey_signing(cfg->data_dir, a->pk, a->sk, d);
        if (!rc) {
            a->has_key = 1;
            at_tlog_keyid(a->pk, a->keyid);
        }
    }
    if (rc) {
        at_approvals_free(a);
        return rc;
    }
    size_t i;
    json_t *v;
    json_array_foreach(a->items, i, v)
    {
        int64_t s = at_json_int(v, "seq", 0);
        if (s > a->seq)
            a->seq = s;
        /* decided but not finished when the daemon stopped: not retried (it
         * may have half run), reported failed */
        const char *st = at_json_str(v, "state", "");
        if (!strcmp(st, "approved") || !strcmp(st, "modified") || !strcmp(st, "executing")) {
            const char *msg = "atlasd stopped while the proposal executed: not retried; check "
                              "what was applied and file it again";
            json_object_set_new(
                v, "error",
                json_pack("{s:s,s:s}", "code", at_err_slug(AT_ERESTART), "message", msg));
            history(v, "failed", "atlasd", msg);
            persist(a, v);
            audit(a, "proposal.executed", NULL, "failed", v, msg);
        }
    }
    *out = a;
    return 0;
}

void at_approvals_free(struct at_approvals *a)
{
    if (!a)
        return;
    at_apstore_close(a->store);
    json_decref(a->items);
    json_decref(a->rules);
    sodium_memzero(a->sk, sizeof(a->sk));
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->lmu);
    free(a);
}

void at_approvals_set_exec(struct at_approvals *a, at_approvals_exec_fn fn, void *arg)
{
    pthread_mutex_lock(&a->mu);
    a->exec = fn;
    a->exec_arg = arg;
    pthread_mutex_unlock(&a->mu);
}

int at_approvals_required(const struct at_approvals *a, const char *action)
{
    if (!a)
        return 0;
    unsigned mask = atomic_load(&((struct at_approvals *)a)->require);
    for (size_t k = 0; k < sizeof(actions) / sizeof(actions[0]); k++)
        if (!strcmp(actions[k], action))
            return (int)((mask >> k) & 1u);
    return 0;
}

/* ---- helpers (under a->mu) ---- */

static void now_iso(char *out, size_t n)
{
    at_time_iso8601(at_wall_ms(), out, n);
}

static json_t *find(struct at_approvals *a, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(a->items, i, v) if (!strcmp(at_json_str(v, "id", ""), id)) return v;
    return NULL;
}

static int persist(struct at_approvals *a, json_t *doc)
{
    int64_t now = at_wall_ms();
    json_object_set_new(doc, "updated_ms", json_integer(now));
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    struct at_approval_row r = {
        .id = at_json_str(doc, "id", ""),
        .seq = at_json_int(doc, "seq", 0),
        .kind = at_json_str(doc, "kind", ""),
        .state = at_json_str(doc, "state", ""),
        .hash = at_json_str(doc, "hash", ""),
        .proposer = at_json_str(doc, "proposer", ""),
        .created_ms = at_json_int(doc, "created_ms", 0),
        .updated_ms = now,
        .doc = text ? text : "{}",
    };
    int rc = at_apstore_put(a->store, &r);
    free(text);
    return rc;
}

static void history(json_t *doc, const char *state, const char *by, const char *why)
{
    char ts[40];
    now_iso(ts, sizeof(ts));
    json_t *h = json_object_get(doc, "history");
    if (!json_is_array(h)) {
        h = json_array();
        json_object_set_new(doc, "history", h);
    }
    json_array_append_new(
        h, json_pack("{s:s,s:s,s:s?,s:s?}", "state", state, "at", ts, "by", by, "why", why));
    json_object_set_new(doc, "state", json_string(state));
}

/* One audit record of each kind: the event (sec_audit, `atlas audit`) and
 * the semantic log (what was decided and why, with the content hash). */
static void audit(struct at_approvals *a, const char *event, const struct at_ap_actor *by,
                  const char *outcome, const json_t *doc, const char *why)
{
    if (!a->audit)
        return;
    char detail[400];
    snprintf(detail, sizeof(detail), "%s %s %s%s%s", at_json_str(doc, "id", "?"),
             at_json_str(doc, "kind", "?"), at_json_str(doc, "hash", "?"), why ? ": " : "",
             why ? why : "");
    struct at_audit_rec ev = {.event = event,
                              .actor = by ? by->name : "atlasd",
                              .role = by ? by->role : NULL,
                              .action = event,
                              .outcome = outcome,
                              .source = "approvals",
                              .detail = detail};
    at_audit_record(a->audit, &ev);
    json_t *data =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s?,s:s}", "type", event, "proposal",
                  at_json_str(doc, "id", ""), "kind", at_json_str(doc, "kind", ""), "hash",
                  at_json_str(doc, "hash", ""), "state", at_json_str(doc, "state", ""), "by",
                  by ? by->name : "atlasd", "why", why, "outcome", outcome);
    struct at_audit_rec sem = {.event = event,
                               .actor = ev.actor,
                               .role = ev.role,
                               .action = event,
                               .outcome = outcome,
                               .source = "approvals",
                               .kind = "semantic",
                               .data = data};
    at_audit_record(a->audit, &sem);
    json_decref(data);
}

static void notify(struct at_approvals *a, const char *event, const json_t *doc)
{
    pthread_mutex_lock(&a->lmu);
    for (int i = 0; i < a->nls; i++)
        a->ls[i].fn(a->ls[i].arg, event, doc);
    pthread_mutex_unlock(&a->lmu);
}

/* Expire a pending proposal past its time (1 when it was). */
static int maybe_expire(struct at_approvals *a, json_t *doc)
{
    if (strcmp(at_json_str(doc, "state", ""), "pending") != 0)
        return 0;
    /* the ttl in force now (approvals.ttl_s), from the filing time */
    int64_t exp = at_json_int(doc, "created_ms", 0) + a->ttl_ms;
    if (at_wall_ms() < exp)
        return 0;
    history(doc, "expired", NULL, "not decided in time (approvals.ttl_s)");
    persist(a, doc);
    audit(a, "proposal.expired", NULL, "ok", doc, NULL);
    return 1;
}

/* The certification package: a DSSE envelope around an in-toto Statement
 * whose subject is the proposal and its content hash, its predicate the
 * evidence. */
static void seal(struct at_approvals *a, json_t *doc)
{
    json_object_del(doc, "package");
    if (!a->has_key)
        return;
    const char *hash = at_json_str(doc, "hash", "");
    const char *hex = strncmp(hash, "sha256:", 7) ? hash : hash + 7;
    json_t *ev = json_object_get(doc, "evidence");
    json_t *st =
        json_pack("{s:s,s:[{s:s,s:{s:s}}],s:s,s:{s:s,s:s,s:s,s:s?,s:O}}", "_type",
                  "https://in-toto.io/Statement/v1", "subject", "name", at_json_str(doc, "id", ""),
                  "digest", "sha256", hex, "predicateType", PACKAGE_TYPE, "predicate", "kind",
                  at_json_str(doc, "kind", ""), "title", at_json_str(doc, "title", ""), "proposer",
                  at_json_str(doc, "proposer", ""), "reason", at_json_str(doc, "reason", NULL),
                  "evidence", ev ? ev : json_object());
    char *payload = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(st);
    if (!payload)
        return;
    struct at_buf pae;
    at_buf_init(&pae, AT_DSSE_MAX + 4096);
    at_dsse_pae(&pae, AT_DSSE_INTOTO, payload, strlen(payload));
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)pae.p, pae.len, a->sk);
    at_buf_release(&pae);
    struct at_dsse_sig s = {a->keyid, sig, sizeof(sig)};
    size_t len = 0;
    char *env = at_dsse_envelope(AT_DSSE_INTOTO, payload, strlen(payload), &s, 1, &len);
    free(payload);
    json_t *envj = env ? json_loadb(env, len, 0, NULL) : NULL;
    free(env);
    char pub[64];
    at_tlog_public_text(a->pk, pub);
    if (envj)
        json_object_set_new(doc, "package",
                            json_pack("{s:o,s:s,s:s,s:s}", "envelope", envj, "keyid", a->keyid,
                                      "public_key", pub, "hash", hash));
}

/* Check a doc's package: its signature, and that it covers the doc's
 * content hash and evidence.  Sets "package_verified" and, for a package
 * sealed before an edit, "package_covers". */
static void verify_package(const struct at_approvals *a, json_t *doc)
{
    json_t *pkg = json_object_get(doc, "package");
    if (!pkg || !a->has_key) {
        json_object_set_new(doc, "package_verified", json_false());
        return;
    }
    char *env = json_dumps(json_object_get(pkg, "envelope"), JSON_COMPACT);
    struct at_dsse e;
    struct at_diag d;
    at_diag_clear(&d);
    int ok = 0;
    if (env && at_dsse_parse(env, strlen(env), &e, &d) == 0) {
        if (at_dsse_verify_ed25519(&e, a->keyid, a->pk) == 0) {
            json_t *st = json_loadb((const char *)e.payload, e.payload_len, 0, NULL);
            const char *sub = json_string_value(json_object_get(
                json_object_get(json_array_get(json_object_get(st, "subject"), 0), "digest"),
                "sha256"));
            const char *ph = at_json_str(pkg, "hash", "");
            json_t *ev = json_object_get(json_object_get(st, "predicate"), "evidence");
            json_t *mine = json_object_get(doc, "evidence");
            ok = sub && !strncmp(ph, "sha256:", 7) && !strcmp(sub, ph + 7) &&
                 json_equal(ev, mine ? mine : json_object()) &&
                 !strcmp(at_json_str(json_object_get(st, "predicate"), "kind", ""),
                         at_json_str(doc, "kind", ""));
            json_decref(st);
        }
        at_dsse_release(&e);
    }
    free(env);
    json_object_set_new(doc, "package_verified", json_boolean(ok));
}

static json_t *copy_out(const struct at_approvals *a, const json_t *doc)
{
    json_t *c = json_deep_copy(doc);
    verify_package(a, c);
    return c;
}

/* ---- auto-approve (docs/supervisor.md "Auto-approve") ---- */

/* Apply an approved approvals.auto_approve policy: the rule for its kind
 * is set (enabled) or removed, and persisted.  Takes the lock. */
static int set_rule(struct at_approvals *a, const json_t *payload, const char *id,
                    const struct at_ap_actor *by, json_t **result, struct at_diag *d)
{
    const json_t *change = json_object_get(payload, "change");
    const char *kind = at_json_str(change, "kind", "");
    char ts[40];
    now_iso(ts, sizeof(ts));
    pthread_mutex_lock(&a->mu);
    json_t *before = json_deep_copy(a->rules);
    if (json_is_true(json_object_get(change, "enabled"))) {
        json_t *rule = json_deep_copy(change);
        json_object_del(rule, "enabled");
        json_object_set_new(rule, "proposal", json_string(id));
        json_object_set_new(rule, "approved_by", json_string(by->name));
        json_object_set_new(rule, "set_at", json_string(ts));
        json_object_set_new(a->rules, kind, rule);
    } else {
        json_object_del(a->rules, kind);
    }
    char *text = json_dumps(a->rules, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = text ? at_apstore_kv_put(a->store, AT_POLICY_AUTO_APPROVE, text) : AT_ENOMEM;
    free(text);
    if (rc) {
        json_decref(a->rules);
        a->rules = before;
        pthread_mutex_unlock(&a->mu);
        return at_diag_set(d, rc, NULL, 0, 0, "the auto-approve rules could not be stored");
    }
    json_decref(before);
    *result = json_pack("{s:O}", "rules", a->rules);
    pthread_mutex_unlock(&a->mu);
    return 0;
}

/* Whether doc's evidence meets rule: every check passed (a non-empty
 * evidence.checks whose items say "verdict": "pass" or "passed": true)
 * and the auditor's score at least the minimum, as the rule asks.  why
 * says which rule and what was met. */
static int rule_met(const json_t *rule, const json_t *doc, char *why, size_t n)
{
    const json_t *ev = json_object_get(doc, "evidence");
    int want_checks = json_is_true(json_object_get(rule, "checks_pass"));
    const json_t *min = json_object_get(rule, "auditor_score_min");
    if (want_checks) {
        const json_t *checks = json_object_get(ev, "checks");
        if (!json_array_size(checks))
            return 0;
        size_t i;
        json_t *c;
        json_array_foreach(checks, i, c)
        {
            const char *v = json_string_value(json_object_get(c, "verdict"));
            if (!(v && !strcmp(v, "pass")) && !json_is_true(json_object_get(c, "passed")))
                return 0;
        }
    }
    double score = 0;
    if (json_is_number(min)) {
        const json_t *sc = json_object_get(json_object_get(ev, "auditor"), "score");
        if (!json_is_number(sc) || (score = json_number_value(sc)) < json_number_value(min))
            return 0;
    }
    int k = snprintf(why, n, "auto-approved by the rule of proposal %s",
                     at_json_str(rule, "proposal", "?"));
    if (want_checks && k > 0 && (size_t)k < n)
        k += snprintf(why + k, n - (size_t)k, "; every check passed");
    if (json_is_number(min) && k > 0 && (size_t)k < n)
        snprintf(why + k, n - (size_t)k, "; auditor score %.2f >= %.2f", score,
                 json_number_value(min));
    return 1;
}

/* After filing: a rule for the proposal's kind whose conditions its
 * evidence meets decides it (approve, then execute) as "auto-approve".
 * *out is replaced by the proposal after that. */
static void maybe_auto_approve(struct at_approvals *a, json_t **out)
{
    char why[300];
    char id[AT_ID_MAX], hash[AT_AUDIT_DIGEST_MAX];
    pthread_mutex_lock(&a->mu);
    const json_t *rule = json_object_get(a->rules, at_json_str(*out, "kind", ""));
    int met = rule && strcmp(at_json_str(*out, "kind", ""), "policy") != 0 &&
              json_is_true(json_object_get(*out, "executable")) &&
              rule_met(rule, *out, why, sizeof(why));
    pthread_mutex_unlock(&a->mu);
    if (!met)
        return;
    snprintf(id, sizeof(id), "%s", at_json_str(*out, "id", ""));
    snprintf(hash, sizeof(hash), "%s", at_json_str(*out, "hash", ""));
    struct at_decision dec = {.id = id, .action = "approve", .hash = hash, .why = why};
    struct at_ap_actor by = {.name = "auto-approve", .role = "policy", .root = NULL};
    json_t *after = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_approvals_decide(a, &dec, &by, &after, &d) == 0) {
        json_decref(*out);
        *out = after;
    } else {
        at_warn("approvals", "%s: auto-approve refused: %s", id, d.msg);
    }
}

json_t *at_approvals_rules(struct at_approvals *a)
{
    json_t *list = json_array();
    pthread_mutex_lock(&a->mu);
    const char *k;
    json_t *v;
    json_object_foreach(a->rules, k, v)
    {
        json_t *r = json_deep_copy(v);
        json_object_set_new(r, "kind", json_string(k));
        json_array_append_new(list, r);
    }
    pthread_mutex_unlock(&a->mu);
    return list;
}

/* ---- the API ---- */

int at_approvals_propose(struct at_approvals *a, const json_t *filing, const struct at_ap_actor *by,
                         json_t **out, struct at_diag *d)
{
    *out = NULL;
    int rc = at_proposal_validate_filing(filing, d);
    if (rc)
        return rc;
    const char *kind = at_json_str(filing, "kind", "");
    const json_t *payload = json_object_get(filing, "payload");
    char hash[AT_AUDIT_DIGEST_MAX];
    if ((rc = at_proposal_hash(kind, payload, hash)))
        return at_diag_set(d, rc, NULL, 0, 0, "cannot hash the proposal");
    char id[AT_ID_MAX];
    at_id_new("prop", id);
    int64_t now = at_wall_ms();
    char ts[40];
    at_time_iso8601(now, ts, sizeof(ts));
    json_t *doc = json_pack("{s:s,s:s,s:s,s:s?,s:O,s:O?,s:s,s:s,s:s?,s:s,s:I}", "id", id, "kind",
                            kind, "title", at_json_str(filing, "title", ""), "reason",
                            at_json_str(filing, "reason", NULL), "payload", payload, "evidence",
                            json_is_object(json_object_get(filing, "evidence"))
                                ? json_object_get(filing, "evidence")
                                : NULL,
                            "hash", hash, "proposer", by->name, "proposer_root", by->root,
                            "created_at", ts, "created_ms", (json_int_t)now);
    json_object_set_new(
        doc, "executable",
        json_boolean(at_proposal_executable(at_proposal_kind_parse(kind), payload)));
    pthread_mutex_lock(&a->mu);
    json_object_set_new(doc, "seq", json_integer(++a->seq));
    history(doc, "pending", by->name, at_json_str(filing, "reason", NULL));
    seal(a, doc);
    rc = persist(a, doc);
    if (rc) {
        pthread_mutex_unlock(&a->mu);
        json_decref(doc);
        return at_diag_set(d, rc, NULL, 0, 0, "the proposal could not be stored");
    }
    json_array_append_new(a->items, doc); /* the array's now, under the lock only */
    audit(a, "proposal.filed", by, "ok", doc, at_json_str(filing, "title", NULL));
    *out = copy_out(a, doc);
    pthread_mutex_unlock(&a->mu);
    notify(a, "proposal.filed", *out);
    maybe_auto_approve(a, out);
    return 0;
}

int at_approvals_amend(struct at_approvals *a, const char *id, const json_t *payload,
                       const struct at_ap_actor *by, json_t **out, struct at_diag *d)
{
    *out = NULL;
    pthread_mutex_lock(&a->mu);
    json_t *doc = find(a, id);
    int rc = 0;
    if (!doc) {
        rc = at_diag_set(d, AT_ENOENT, NULL, 0, 0, "no proposal \"%s\"", id);
        goto out;
    }
    maybe_expire(a, doc);
    if (strcmp(at_json_str(doc, "state", ""), "pending") != 0) {
        rc = at_diag_set(d, AT_ESTATE, NULL, 0, 0,
                         "proposal %s is %s: only a pending one is amended", id,
                         at_json_str(doc, "state", "?"));
        goto out;
    }
    if (strcmp(at_json_str(doc, "proposer", ""), by->name) != 0) {
        rc = at_diag_set(d, AT_EPERM, NULL, 0, 0,
                         "only the proposer (%s) amends a proposal; a decider uses modify",
                         at_json_str(doc, "proposer", "?"));
        goto out;
    }
    const char *kind = at_json_str(doc, "kind", "");
    if ((rc = at_proposal_validate(at_proposal_kind_parse(kind), payload, d)))
        goto out;
    char hash[AT_AUDIT_DIGEST_MAX];
    at_proposal_hash(kind, payload, hash);
    json_object_set_new(doc, "payload", json_deep_copy(payload));
    json_object_set_new(doc, "hash", json_string(hash));
    history(doc, "pending", by->name, "amended by the proposer");
    seal(a, doc);
    if ((rc = persist(a, doc))) {
        at_diag_set(d, rc, NULL, 0, 0, "the proposal could not be stored");
        goto out;
    }
    audit(a, "proposal.amended", by, "ok", doc, NULL);
    *out = copy_out(a, doc);
out:
    pthread_mutex_unlock(&a->mu);
    if (*out)
        notify(a, "proposal.amended", *out);
    return rc;
}

int at_approvals_get(struct at_approvals *a, const char *id, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&a->mu);
    json_t *doc = find(a, id);
    int expired = doc && maybe_expire(a, doc);
    if (doc)
        *out = copy_out(a, doc);
    pthread_mutex_unlock(&a->mu);
    if (expired)
        notify(a, "proposal.expired", *out);
    return doc ? 0 : AT_ENOENT;
}

json_t *at_approvals_list(struct at_approvals *a, const char *state, const char *proposer)
{
    json_t *list = json_array();
    pthread_mutex_lock(&a->mu);
    for (size_t i = json_array_size(a->items); i-- > 0;) {
        json_t *doc = json_array_get(a->items, i);
        maybe_expire(a, doc);
        if (state && strcmp(at_json_str(doc, "state", ""), state) != 0)
            continue;
        if (proposer && strcmp(at_json_str(doc, "proposer", ""), proposer) != 0)
            continue;
        json_t *c = json_deep_copy(doc);
        json_object_del(c, "package");
        json_object_del(c, "history");
        json_array_append_new(list, c);
    }
    pthread_mutex_unlock(&a->mu);
    return list;
}

int at_approvals_decide(struct at_approvals *a, const struct at_decision *dec,
                        const struct at_ap_actor *by, json_t **out, struct at_diag *d)
{
    *out = NULL;
    const char *act = dec->action ? dec->action : "";
    int approve = !strcmp(act, "approve"), modify = !strcmp(act, "modify"),
        reject = !strcmp(act, "reject");
    if (!approve && !modify && !reject)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "a decision is approve, reject or modify (not \"%s\")", act);
    if (!dec->hash || !*dec->hash)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "%s",
                           "a decision names the content hash it was made on (\"hash\")");
    pthread_mutex_lock(&a->mu);
    json_t *doc = find(a, dec->id);
    int rc = 0;
    if (!doc) {
        rc = at_diag_set(d, AT_ENOENT, NULL, 0, 0, "no proposal \"%s\"", dec->id);
        goto refused;
    }
    maybe_expire(a, doc);
    const char *state = at_json_str(doc, "state", "");
    if (strcmp(state, "pending") != 0) {
        rc = at_diag_set(d, AT_ESTATE, NULL, 0, 0,
                         "proposal %s is already %s: a decision is made once", dec->id, state);
        goto refused;
    }
    if (!strcmp(at_json_str(doc, "proposer", ""), by->name)) {
        rc = at_diag_set(d, AT_EPERM, NULL, 0, 0,
                         "%s filed proposal %s and may not decide on it (no identity approves "
                         "what it proposed)",
                         by->name, dec->id);
        goto refused;
    }
    const char *hash = at_json_str(doc, "hash", "");
    if (strcmp(hash, dec->hash) != 0) {
        rc = at_diag_set(d, AT_EEXIST, NULL, 0, 0,
                         "proposal %s changed since it was shown: the decision was made on %s, "
                         "its content is now %s (show it again)",
                         dec->id, dec->hash, hash);
        goto refused;
    }
    int kind = at_proposal_kind_parse(at_json_str(doc, "kind", ""));
    if (!reject &&
        !at_proposal_executable(kind, modify && dec->payload ? dec->payload
                                                             : json_object_get(doc, "payload"))) {
        rc = at_diag_set(d, AT_EUNSUPPORTED, NULL, 0, 0,
                         "executing an approved %s proposal is not supported yet (Atlas cannot "
                         "apply it); reject it, or apply it by hand and reject it with the reason",
                         at_proposal_kind_name(kind));
        goto refused;
    }
    if (modify) {
        if (!dec->payload) {
            rc = at_diag_set(d, AT_EINVAL, NULL, 0, 0, "%s", "modify needs the edited payload");
            goto refused;
        }
        if ((rc = at_proposal_validate(kind, dec->payload, d)))
            goto refused;
        char nh[AT_AUDIT_DIGEST_MAX];
        at_proposal_hash(at_json_str(doc, "kind", ""), dec->payload, nh);
        json_object_set_new(doc, "original_payload",
                            json_deep_copy(json_object_get(doc, "payload")));
        json_object_set_new(doc, "payload", json_deep_copy(dec->payload));
        json_object_set_new(doc, "hash", json_string(nh));
    }
    char ts[40];
    now_iso(ts, sizeof(ts));
    json_object_set_new(doc, "decision",
                        json_pack("{s:s,s:s,s:s,s:s?,s:s,s:s}", "action", act, "by", by->name, "at",
                                  ts, "why", dec->why, "hash_seen", dec->hash, "hash_executed",
                                  at_json_str(doc, "hash", "")));
    history(doc, reject ? "rejected" : modify ? "modified" : "approved", by->name, dec->why);
    if ((rc = persist(a, doc))) {
        at_diag_set(d, rc, NULL, 0, 0, "the decision could not be stored");
        goto refused;
    }
    audit(a, "proposal.decided", by,
          reject   ? "rejected"
          : modify ? "modified"
                   : "approved",
          doc, dec->why);
    if (reject) {
        *out = copy_out(a, doc);
        pthread_mutex_unlock(&a->mu);
        notify(a, "proposal.decided", *out);
        return 0;
    }
    /* execute exactly the content decided on, without the lock */
    history(doc, "executing", "atlasd", NULL);
    persist(a, doc);
    json_t *payload = json_deep_copy(json_object_get(doc, "payload"));
    char kname[32];
    snprintf(kname, sizeof(kname), "%s", at_json_str(doc, "kind", ""));
    at_approvals_exec_fn exec = a->exec;
    void *exec_arg = a->exec_arg;
    json_t *snap = copy_out(a, doc);
    pthread_mutex_unlock(&a->mu);
    notify(a, "proposal.decided", snap);
    json_decref(snap);

    json_t *result = NULL;
    struct at_diag ed;
    at_diag_clear(&ed);
    int erc = !strcmp(kname, "policy") ? set_rule(a, payload, dec->id, by, &result, &ed)
              : exec                   ? exec(exec_arg, kname, payload, &result, &ed)
                     : at_diag_set(&ed, AT_EUNAVAIL, NULL, 0, 0, "no executor in this daemon");
    json_decref(payload);

    pthread_mutex_lock(&a->mu);
    if (erc) {
        char msg[600];
        at_diag_format(&ed, msg, sizeof(msg));
        json_object_set_new(doc, "error",
                            json_pack("{s:s,s:s}", "code", at_err_slug(erc), "message", msg));
        history(doc, "failed", "atlasd", msg);
    } else {
        json_object_set_new(doc, "result", result ? result : json_object());
        result = NULL;
        history(doc, "done", "atlasd", NULL);
    }
    persist(a, doc);
    audit(a, "proposal.executed", by, erc ? "failed" : "ok", doc, NULL);
    *out = copy_out(a, doc);
    pthread_mutex_unlock(&a->mu);
    json_decref(result);
    notify(a, "proposal.executed", *out);
    return 0;

refused:
    if (doc && (rc == AT_EPERM || rc == AT_EEXIST || rc == AT_ESTATE))
        audit(a, "proposal.decided", by, "denied", doc, d->msg);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int at_approvals_listen(struct at_approvals *a, at_approvals_listen_fn fn, void *arg)
{
    pthread_mutex_lock(&a->lmu);
    int h = 0;
    if (a->nls < MAX_LISTENERS) {
        h = a->next_handle++;
        a->ls[a->nls++] = (struct listener){h, fn, arg};
    }
    pthread_mutex_unlock(&a->lmu);
    return h;
}

void at_approvals_unlisten(struct at_approvals *a, int handle)
{
    pthread_mutex_lock(&a->lmu);
    for (int i = 0; i < a->nls; i++) {
        if (a->ls[i].handle == handle) {
            a->ls[i] = a->ls[--a->nls];
            break;
        }
    }
    pthread_mutex_unlock(&a->lmu);
}
