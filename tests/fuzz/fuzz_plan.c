/* libFuzzer target: the supervisor's plan parser (src/supervisor/plan.c),
 * the planning model's text against a fixed scope.  Properties: an accepted
 * plan has 1..AT_PLAN_MAX_TASKS tasks with unique ids and a worker each,
 * every scope path lies inside the scope and has no ".." component, and
 * parsing is a function of the bytes; a refused one has an error code and
 * no plan. */
#include "base/err.h"
#include "json/json.h"
#include "supervisor/plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *scope = json_pack("[s,s]", "/work/src", "/data");
    struct at_diag d;
    at_diag_clear(&d);
    json_t *plan = NULL;
    int rc = at_plan_parse((const char *)data, size, scope, &plan, &d);
    if (rc) {
        if (plan || d.code == 0)
            abort();
        json_decref(scope);
        return 0;
    }
    const json_t *tasks = json_object_get(plan, "tasks");
    size_t n = json_array_size(tasks);
    if (n < 1 || n > AT_PLAN_MAX_TASKS)
        abort();
    json_t *ids = json_object();
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        if (!id || json_object_get(ids, id) || !json_is_string(json_object_get(t, "worker")))
            abort();
        json_object_set_new(ids, id, json_true());
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(json_object_get(t, "scope"), "paths"), k, p)
        {
            const char *path = json_string_value(json_object_get(p, "path"));
            if (!path || strstr(path, "/../") || strstr(path, "/./") ||
                !(at_plan_path_inside(path, "/work/src") || at_plan_path_inside(path, "/data")))
                abort();
        }
    }
    json_decref(ids);
    json_t *again = NULL;
    struct at_diag d2;
    at_diag_clear(&d2);
    if (at_plan_parse((const char *)data, size, scope, &again, &d2) || !json_equal(plan, again))
        abort();
    json_decref(again);
    json_decref(plan);
    json_decref(scope);
    return 0;
}
