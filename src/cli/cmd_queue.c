/* atlas queue inspect [AGENT] | drain [AGENT] | resume [AGENT] | priority JOB N */
#include "cli/cli.h"

#include "base/alloc.h"
#include "cli/table.h"
#include "json/json.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char queue_usage[] =
    "usage: atlas queue inspect [AGENT] [--json]\n"
    "       atlas queue drain [AGENT] [--json]\n"
    "       atlas queue resume [AGENT] [--json]\n"
    "       atlas queue priority JOB N [--json]\n\n"
    "inspect   the queued jobs per agent, in dispatch order: priority, position in the\n"
    "          agent's queue, order across all agents; whether dispatch is held\n"
    "drain     stop dispatching queued jobs of AGENT (every version), or of every agent:\n"
    "          running jobs finish, new runs are still accepted and wait\n"
    "resume    dispatch again (without AGENT: every agent, every hold goes)\n"
    "priority  give queued job JOB priority N (an integer, higher runs first): it moves\n"
    "          in the dispatch order at once\n";

static void print_inspect(json_t *o)
{
    json_t *agents = json_object_get(o, "agents");
    if (json_is_true(json_object_get(o, "held_all")))
        printf("dispatch held for every agent (atlas queue resume)\n");
    json_t *held = json_object_get(o, "held");
    if (json_array_size(held)) {
        printf("dispatch held for:");
        size_t i;
        json_t *h;
        json_array_foreach(held, i, h) printf(" %s", json_string_value(h));
        printf("\n");
    }
    if (json_integer_value(json_object_get(o, "queued")) == 0) {
        printf("no queued jobs (%lld running)\n", at_json_int(o, "running", 0));
        return;
    }
    static const struct cli_col cols[] = {
        {"AGENT", CLI_LEFT, 0},     {"JOB", CLI_LEFT, 0},    {"PRIORITY", CLI_RIGHT, 0},
        {"POSITION", CLI_RIGHT, 0}, {"ORDER", CLI_RIGHT, 0}, {"STATE", CLI_LEFT, 0},
        {"CREATED", CLI_LEFT, 0},
    };
    struct cli_table t;
    cli_table_init(&t, cols, 7);
    size_t i, k;
    json_t *a, *j;
    json_array_foreach(agents, i, a)
    {
        int is_held = json_is_true(json_object_get(a, "held"));
        json_array_foreach(json_object_get(a, "jobs"), k, j)
        {
            cli_table_row(&t);
            cli_table_cell(&t, "%s", at_json_str(a, "agent", ""));
            cli_table_cell(&t, "%s", at_json_str(j, "id", ""));
            cli_table_cell(&t, "%lld", at_json_int(j, "priority", 0));
            cli_table_cell(&t, "%lld", at_json_int(j, "position", 0));
            cli_table_cell(&t, "%lld", at_json_int(j, "order", 0));
            cli_table_cell(&t, "%s", is_held ? "held" : "queued");
            cli_table_cell(&t, "%s", at_json_str(j, "created_at", ""));
        }
    }
    cli_table_print(&t, stdout);
    cli_table_release(&t);
}

/* N as an int; 0 when it is one. */
static int parse_prio(const char *s, int *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < INT_MIN || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

int cmd_queue(struct cli *c, int argc, char **argv)
{
    const char *sub = NULL, *pos[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(queue_usage, stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--json")) {
            c->json = 1;
        } else if (a[0] == '-' && a[1] && !(sub && !strcmp(sub, "priority") && npos == 1)) {
            /* (a negative N is a value, not an option) */
            return cli_usage_error("queue", queue_usage, "unknown option \"%s\"", a);
        } else if (!sub) {
            sub = a;
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            return cli_usage_error("queue", queue_usage, "unexpected argument \"%s\"", a);
        }
    }
    if (!sub)
        return cli_usage_error("queue", queue_usage, "missing subcommand");
    char cmd[48];
    snprintf(cmd, sizeof(cmd), "queue %.32s", sub);
    int is_inspect = !strcmp(sub, "inspect"), is_drain = !strcmp(sub, "drain"),
        is_resume = !strcmp(sub, "resume"), is_prio = !strcmp(sub, "priority");
    if (!is_inspect && !is_drain && !is_resume && !is_prio)
        return cli_usage_error("queue", queue_usage, "unknown subcommand \"%s\"", sub);
    if (!is_prio && npos > 1)
        return cli_usage_error(cmd, queue_usage, "unexpected argument \"%s\"", pos[1]);
    if (is_prio && npos < 2)
        return cli_usage_error(cmd, queue_usage, "needs JOB and N");
    for (int i = 0; i < npos; i++)
        if (cli_need(cmd, is_prio && i == 0 ? "JOB" : is_prio ? "N" : "AGENT", pos[i]))
            return CLI_USAGE;
    struct at_buf path;
    at_buf_init(&path, 4096);
    struct cli_resp r;
    int rc;
    if (is_inspect) {
        at_buf_puts(&path, "/api/v1/queue");
        if (npos) {
            at_buf_puts(&path, "?agent=");
            cli_path_escape(&path, pos[0]);
        }
        rc = cli_http(c, "GET", at_buf_str(&path), NULL, NULL, &r);
    } else if (is_drain || is_resume) {
        json_t *body = json_pack("{s:o}", "agent", npos ? json_string(pos[0]) : json_null());
        char *s = at_json_dumps(body);
        json_decref(body);
        rc = cli_http(c, "POST", is_drain ? "/api/v1/queue/drain" : "/api/v1/queue/resume", s, NULL,
                      &r);
        free(s);
    } else {
        int prio;
        if (parse_prio(pos[1], &prio)) {
            at_buf_release(&path);
            return cli_usage_error(cmd, queue_usage, "N must be an integer, not \"%s\"", pos[1]);
        }
        at_buf_puts(&path, "/api/v1/queue/jobs/");
        cli_path_escape(&path, pos[0]);
        at_buf_puts(&path, "/priority");
        json_t *body = json_pack("{s:i}", "priority", prio);
        char *s = at_json_dumps(body);
        json_decref(body);
        rc = cli_http(c, "POST", at_buf_str(&path), s, NULL, &r);
        free(s);
    }
    at_buf_release(&path);
    if (rc)
        return rc;
    if (r.status >= 300) {
        rc = cli_print_problem(c, &r);
    } else if (c->json) {
        cli_print_json(stdout, r.body);
    } else if (is_inspect) {
        print_inspect(r.body);
    } else if (is_prio) {
        printf("job %s: priority %lld, position %lld in its agent's queue\n",
               at_json_str(r.body, "job", ""), at_json_int(r.body, "priority", 0),
               at_json_int(r.body, "position", 0));
    } else {
        const char *who = json_is_string(json_object_get(r.body, "agent"))
                              ? at_json_str(r.body, "agent", "")
                              : "every agent";
        printf("%s %s: %lld queued, %lld running\n",
               is_drain ? "dispatch held for" : "dispatch resumed for", who,
               at_json_int(r.body, "queued", 0), at_json_int(r.body, "running", 0));
    }
    cli_resp_release(&r);
    return rc;
}
