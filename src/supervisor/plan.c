/*
 * plan.c - the supervisor's plan parser and verdicts (plan.h).
 */
#include "supervisor/plan.h"

#include "base/err.h"
#include "json/json.h"
#include "supervisor/approvals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail_at(struct at_diag *d, int code, const char *ptr, const char *msg)
{
    at_diag_set(d, code, NULL, 0, 0, "%s", msg);
    at_diag_set_pointer(d, ptr);
    return code;
}

/* The JSON object in the model's text: the whole text, a ```json fence,
 * or the span from the first '{' to the last '}'. */
static int extract(const char *text, size_t len, json_t **out, struct at_diag *d)
{
    if (len > AT_PLAN_MAX)
        return fail_at(d, AT_E2BIG, "", "the plan is larger than 1 MiB");
    if (at_json_parse(text, len, 64, out, NULL) == 0 && json_is_object(*out))
        return 0;
    json_decref(*out);
    *out = NULL;
    const char *a = memchr(text, '{', len);
    const char *b = NULL;
    for (size_t i = len; i > 0; i--)
        if (text[i - 1] == '}') {
            b = text + i - 1;
            break;
        }
    if (!a || !b || b < a)
        return fail_at(d, AT_EPARSE, "", "the plan is not a JSON object");
    struct at_diag pd;
    at_diag_clear(&pd);
    if (at_json_parse(a, (size_t)(b - a) + 1, 64, out, &pd) || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        char msg[1200];
        snprintf(msg, sizeof(msg), "the plan is not a JSON object: %s", pd.msg);
        return fail_at(d, AT_EPARSE, "", msg);
    }
    return 0;
}

int at_plan_path_inside(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (strncmp(path, dir, n) != 0)
        return 0;
    return path[n] == '\0' || path[n] == '/' || (n == 1 && dir[0] == '/');
}

/* Absolute, no empty, "." or ".." components. */
static int path_clean(const char *p)
{
    if (!p || p[0] != '/' || strlen(p) > 4096)
        return 0;
    const char *s = p;
    while (*s) {
        while (*s == '/')
            s++;
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return 0;
        if (e && e[1] == '/')
            return 0;
        s += n;
    }
    return 1;
}

static int id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static int only(const json_t *o, const char *const *keys, const char *where, struct at_diag *d)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        int found = 0;
        for (size_t i = 0; keys[i]; i++)
            if (!strcmp(k, keys[i]))
                found = 1;
        if (!found) {
            char ptr[200], msg[200];
            snprintf(ptr, sizeof(ptr), "%s/%.64s", where, k);
            snprintf(msg, sizeof(msg), "unknown member \"%.64s\"", k);
            return fail_at(d, AT_ESCHEMA, ptr, msg);
        }
    }
    return 0;
}

static int check_scope(const json_t *sc, const json_t *scope, const char *where, struct at_diag *d)
{
    static const char *const keys[] = {"paths", NULL};
    static const char *const pkeys[] = {"path", "mode", NULL};
    char ptr[200];
    if (!json_is_object(sc))
        return fail_at(d, AT_ESCHEMA, where, "a task's scope is an object");
    int rc = only(sc, keys, where, d);
    if (rc)
        return rc;
    const json_t *paths = json_object_get(sc, "paths");
    if (!paths)
        return 0;
    if (!json_is_array(paths) || json_array_size(paths) > 32) {
        snprintf(ptr, sizeof(ptr), "%s/paths", where);
        return fail_at(d, AT_ESCHEMA, ptr, "scope.paths is an array of at most 32 entries");
    }
    size_t i;
    json_t *p;
    json_array_foreach(paths, i, p)
    {
        snprintf(ptr, sizeof(ptr), "%s/paths/%zu", where, i);
        if (!json_is_object(p) || (rc = only(p, pkeys, ptr, d)))
            return rc ? rc : fail_at(d, AT_ESCHEMA, ptr, "a scope path is {path, mode}");
        const char *path = json_string_value(json_object_get(p, "path"));
        const char *mode = json_string_value(json_object_get(p, "mode"));
        if (!mode || (strcmp(mode, "read") != 0 && strcmp(mode, "write") != 0))
            return fail_at(d, AT_ESCHEMA, ptr, "a scope path's mode is read or write");
        if (!path_clean(path))
            return fail_at(d, AT_EPERM, ptr,
                           "a scope path must be absolute, without \".\", \"..\" or empty "
                           "components");
        int inside = 0;
        size_t k;
        json_t *root;
        json_array_foreach(scope, k, root)
        {
            const char *r = json_string_value(root);
            if (r && at_plan_path_inside(path, r))
                inside = 1;
        }
        if (!inside) {
            char msg[4400];
            snprintf(msg, sizeof(msg), "%s is outside the supervised scope", path);
            return fail_at(d, AT_EPERM, ptr, msg);
        }
    }
    return 0;
}

static int check_task(const json_t *t, size_t i, const json_t *scope, json_t *seen,
                      struct at_diag *d)
{
    static const char *const keys[] = {"id",    "worker", "description", "input",
                                       "scope", "checks", NULL};
    static const char *const ckeys[] = {"name", "code", NULL};
    char where[64], ptr[200];
    snprintf(where, sizeof(where), "/tasks/%zu", i);
    if (!json_is_object(t))
        return fail_at(d, AT_ESCHEMA, where, "a task is an object");
    int rc = only(t, keys, where, d);
    if (rc)
        return rc;
    const char *id = json_string_value(json_object_get(t, "id"));
    snprintf(ptr, sizeof(ptr), "%s/id", where);
    if (!id_ok(id))
        return fail_at(d, AT_ESCHEMA, ptr, "a task's id is 1 to 64 of [A-Za-z0-9._-]");
    if (json_object_get(seen, id))
        return fail_at(d, AT_ESCHEMA, ptr, "task ids are unique");
    json_object_set_new(seen, id, json_true());
    const char *w = json_string_value(json_object_get(t, "worker"));
    snprintf(ptr, sizeof(ptr), "%s/worker", where);
    if (!w || !*w || strlen(w) > 200)
        return fail_at(d, AT_ESCHEMA, ptr, "a task names its worker agent");
    const json_t *in = json_object_get(t, "input");
    snprintf(ptr, sizeof(ptr), "%s/input", where);
    if (in && !json_is_object(in))
        return fail_at(d, AT_ESCHEMA, ptr, "a task's input is an object");
    const json_t *desc = json_object_get(t, "description");
    snprintf(ptr, sizeof(ptr), "%s/description", where);
    if (desc && !json_is_string(desc))
        return fail_at(d, AT_ESCHEMA, ptr, "a task's description is a string");
    const json_t *sc = json_object_get(t, "scope");
    snprintf(ptr, sizeof(ptr), "%s/scope", where);
    if (sc && (rc = check_scope(sc, scope, ptr, d)))
        return rc;
    const json_t *checks = json_object_get(t, "checks");
    snprintf(ptr, sizeof(ptr), "%s/checks", where);
    if (checks && (!json_is_array(checks) || json_array_size(checks) > AT_PLAN_MAX_CHECKS))
        return fail_at(d, AT_ESCHEMA, ptr, "checks is an array of at most 16");
    size_t k;
    json_t *c;
    json_array_foreach(checks, k, c)
    {
        snprintf(ptr, sizeof(ptr), "%s/checks/%zu", where, k);
        if (!json_is_object(c) || (rc = only(c, ckeys, ptr, d)))
            return rc ? rc : fail_at(d, AT_ESCHEMA, ptr, "a check is {name, code}");
        if (!json_is_string(json_object_get(c, "name")) ||
            !json_is_string(json_object_get(c, "code")))
            return fail_at(d, AT_ESCHEMA, ptr, "a check has a name and code (strings)");
    }
    return 0;
}

int at_plan_parse(const char *text, size_t len, const json_t *scope, json_t **out,
                  struct at_diag *d)
{
    *out = NULL;
    json_t *p = NULL;
    int rc = extract(text, len, &p, d);
    if (rc)
        return rc;
    static const char *const keys[] = {"tasks", "gaps", "summary", NULL};
    if ((rc = only(p, keys, "", d)))
        goto fail;
    const json_t *tasks = json_object_get(p, "tasks");
    if (!json_is_array(tasks) || json_array_size(tasks) == 0 ||
        json_array_size(tasks) > AT_PLAN_MAX_TASKS) {
        rc = fail_at(d, AT_ESCHEMA, "/tasks", "a plan has 1 to 64 tasks");
        goto fail;
    }
    json_t *seen = json_object();
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        if ((rc = check_task(t, i, scope, seen, d)))
            break;
    }
    json_decref(seen);
    if (rc)
        goto fail;
    const json_t *gaps = json_object_get(p, "gaps");
    if (gaps && (!json_is_array(gaps) || json_array_size(gaps) > 16)) {
        rc = fail_at(d, AT_ESCHEMA, "/gaps", "gaps is an array of at most 16 proposals");
        goto fail;
    }
    json_t *g;
    json_array_foreach(gaps, i, g)
    {
        struct at_diag gd;
        at_diag_clear(&gd);
        if ((rc = at_proposal_validate_filing(g, &gd))) {
            char ptr[300];
            snprintf(ptr, sizeof(ptr), "/gaps/%zu%s", i, gd.pointer);
            rc = fail_at(d, rc, ptr, gd.msg);
            goto fail;
        }
    }
    if (json_object_get(p, "summary") && !json_is_string(json_object_get(p, "summary"))) {
        rc = fail_at(d, AT_ESCHEMA, "/summary", "the summary is a string");
        goto fail;
    }
    *out = p;
    return 0;
fail:
    json_decref(p);
    return rc;
}

static int rank(const char *v)
{
    return !v                             ? -1
           : !strcmp(v, "pass")           ? 0
           : !strcmp(v, "needs_revision") ? 1
           : !strcmp(v, "fail")           ? 2
                                          : -1;
}

int at_verdict_validate(const json_t *v, struct at_diag *d)
{
    static const char *const keys[] = {"verdict", "reasons", "score", "source", NULL};
    if (!json_is_object(v))
        return fail_at(d, AT_ESCHEMA, "", "a verdict is an object");
    int rc = only(v, keys, "", d);
    if (rc)
        return rc;
    if (rank(json_string_value(json_object_get(v, "verdict"))) < 0)
        return fail_at(d, AT_ESCHEMA, "/verdict", "the verdict is pass, fail or needs_revision");
    const json_t *r = json_object_get(v, "reasons");
    if (r && !json_is_array(r))
        return fail_at(d, AT_ESCHEMA, "/reasons", "reasons is an array of strings");
    size_t i;
    json_t *x;
    json_array_foreach(r, i, x) if (!json_is_string(x)) return fail_at(
        d, AT_ESCHEMA, "/reasons", "reasons is an array of strings");
    const json_t *s = json_object_get(v, "score");
    if (s && !json_is_number(s))
        return fail_at(d, AT_ESCHEMA, "/score", "the score is a number");
    return 0;
}

const char *at_verdict_worst(const char *a, const char *b)
{
    int m = rank(a) > rank(b) ? rank(a) : rank(b);
    return m == 2 ? "fail" : m == 1 ? "needs_revision" : "pass";
}
