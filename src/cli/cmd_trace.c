/* atlas trace [ID] - a job tree's trace as a waterfall, or recent traces */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "cli/table.h"
#include "json/json.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define BAR 40

static void trace_usage(FILE *f)
{
    fputs("usage: atlas trace ID [--json]\n"
          "       atlas trace [--agent NAME] [--status STATE] [--since T] [--limit N] [--json]\n\n"
          "With an ID (a job id, or a trace id tr_...): the job tree's trace as a waterfall:\n"
          "each span (chain, agent run, spawned job, model call, tool call) with its queue\n"
          "wait (light) and run time (dark) on one time axis.  Without: recent traces,\n"
          "newest first.  T is an RFC 3339 time or a duration (30m, 24h, 7d).\n",
          f);
}

static long long num(const json_t *o, const char *k, long long dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

/* One span per row of the waterfall table (tree and name | status | bar |
 * duration | notes): the table sizes the name column to the longest name,
 * so the bars of every span start in one column. */
static void draw(struct cli_table *t, const json_t *span, const char *prefix, int last, int root,
                 long long total)
{
    const char *kind = json_string_value(json_object_get(span, "kind"));
    const char *name = json_string_value(json_object_get(span, "name"));
    int show_kind = kind && strcmp(kind, "agent") != 0 && strcmp(kind, "model") != 0;
    cli_table_row(t);
    cli_table_cell(t, "%s%s%s%s%s", prefix, root ? "" : (last ? "└─ " : "├─ "),
                   show_kind ? kind : "", show_kind ? " " : "", name ? name : "?");
    const char *status = json_string_value(json_object_get(span, "status"));
    cli_table_cell(t, "%s", status ? status : "");
    long long off = num(span, "offset_ms", 0), dur = num(span, "duration_ms", -1);
    long long q = num(span, "queue_ms", 0);
    if (q < 0)
        q = 0;
    /* the bar: queue wait then run time, scaled to the trace */
    char bar[BAR * 3 + 1];
    size_t bl = 0;
    double scale = total > 0 ? (double)BAR / (double)total : 0;
    int a = (int)((double)off * scale), qa = (int)((double)(off + q) * scale);
    int b = dur >= 0 ? (int)((double)(off + dur) * scale + 0.5) : BAR;
    if (b <= a)
        b = a + 1;
    if (b > BAR)
        b = BAR;
    for (int i = 0; i < BAR; i++) {
        const char *c = i < a || i >= b ? "·" : (i < qa && q > 0 ? "░" : "█");
        memcpy(bar + bl, c, strlen(c));
        bl += strlen(c);
    }
    bar[bl] = '\0';
    char d[32], qs[32];
    cli_fmt_ms(dur, d, sizeof(d));
    cli_table_cell(t, "|%s|", bar);
    cli_table_cell(t, "%s", d);
    struct at_buf notes;
    at_buf_init(&notes, 4096);
    if (q > 0) {
        cli_fmt_ms(q, qs, sizeof(qs));
        at_buf_printf(&notes, "(queued %s)", qs);
    }
    const char *node = at_json_str(span, "node", "local");
    if (strcmp(node, "local") != 0)
        at_buf_printf(&notes, "%son %s", notes.len ? "  " : "", node);
    long long tin = num(span, "tokens_in", 0), tout = num(span, "tokens_out", 0);
    if (tin || tout)
        at_buf_printf(&notes, "%s%lld+%lld tok", notes.len ? "  " : "", tin, tout);
    json_t *evals = json_object_get(span, "evals");
    if (json_array_size(evals)) {
        size_t i, pass = 0;
        json_t *e;
        json_array_foreach(evals, i, e) pass += json_is_true(json_object_get(e, "passed"));
        at_buf_printf(&notes, "%sevals %zu/%zu", notes.len ? "  " : "", pass,
                      json_array_size(evals));
    }
    cli_table_cell(t, "%s", at_buf_str(&notes));
    at_buf_release(&notes);
    char *child_prefix = at_asprintf("%s%s", prefix, root ? "" : (last ? "   " : "│  "));
    json_t *ch = json_object_get(span, "children");
    size_t n = json_array_size(ch);
    for (size_t i = 0; i < n; i++)
        draw(t, json_array_get(ch, i), child_prefix, i + 1 == n, 0, total);
    free(child_prefix);
}

static void print_trace(const json_t *t)
{
    char d[32];
    cli_fmt_ms(num(t, "duration_ms", -1), d, sizeof(d));
    printf("trace %s  %s%s  %s  %s  %lld job(s)  %lld tokens  $%.6f\n",
           json_string_value(json_object_get(t, "trace_id")),
           json_is_string(json_object_get(t, "chain")) ? "chain " : "", at_json_str(t, "agent", ""),
           at_json_str(t, "status", ""), d, num(t, "jobs", 0), num(t, "total_tokens", 0),
           json_number_value(json_object_get(t, "total_cost_usd")));
    printf("started %s, node local\n", at_json_str(t, "started_at", "-"));
    const json_t *ev = json_object_get(t, "event");
    if (json_is_object(ev)) {
        const json_t *src = json_object_get(ev, "source");
        printf("event %s from %s%s%s, received %s\n", at_json_str(ev, "id", "?"),
               at_json_str(src, "type", "?"),
               json_is_string(json_object_get(src, "name")) ? " " : "",
               at_json_str(src, "name", ""), at_json_str(ev, "received_at", "-"));
    }
    putchar('\n');
    long long total = num(t, "duration_ms", 0);
    json_t *root = json_array_get(json_object_get(t, "spans"), 0);
    if (root) {
        static const struct cli_col cols[] = {
            {NULL, CLI_LEFT, 0},  {NULL, CLI_LEFT, 0}, {NULL, CLI_LEFT, 0},
            {NULL, CLI_RIGHT, 0}, {NULL, CLI_LEFT, 0},
        };
        struct cli_table tab;
        cli_table_init(&tab, cols, 5);
        tab.sep = " ";
        draw(&tab, root, "", 1, 1, total > 0 ? total : 1);
        cli_table_print(&tab, stdout);
        cli_table_release(&tab);
    }
    json_t *evals = json_object_get(t, "evals");
    if (json_array_size(evals)) {
        printf("\nevals:\n");
        static const struct cli_col cols[] = {
            {NULL, CLI_LEFT, 0}, {NULL, CLI_LEFT, 0}, {NULL, CLI_LEFT, 0}, {NULL, CLI_LEFT, 60}};
        struct cli_table tab;
        cli_table_init(&tab, cols, 4);
        tab.lead = "  ";
        size_t i;
        json_t *e;
        json_array_foreach(evals, i, e)
        {
            cli_table_row(&tab);
            cli_table_cell(&tab, "%s",
                           json_is_true(json_object_get(e, "passed")) ? "pass" : "FAIL");
            cli_table_cell(&tab, "%s/%s", at_json_str(e, "eval", ""), at_json_str(e, "check", ""));
            cli_table_cell(&tab, "on %s:", at_json_str(e, "job_id", ""));
            cli_table_cell(&tab, "%s", at_json_str(e, "detail", ""));
        }
        cli_table_print(&tab, stdout);
        cli_table_release(&tab);
    }
}

static int list_traces(struct cli *c, const char *query)
{
    char *path = at_asprintf("/api/v1/traces%s", query);
    struct cli_resp r;
    int rc = cli_get(c, path, &r);
    free(path);
    if (rc)
        return rc;
    json_t *list = json_object_get(r.body, "traces");
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else if (json_array_size(list) == 0) {
        printf("no traces\n");
    } else {
        static const struct cli_col cols[] = {
            {"TRACE", CLI_LEFT, 0},   {"AGENT", CLI_LEFT, 0}, {"STATUS", CLI_LEFT, 0},
            {"STARTED", CLI_LEFT, 0}, {"TOOK", CLI_RIGHT, 0}, {"JOBS", CLI_RIGHT, 0},
            {"TOKENS", CLI_RIGHT, 0}, {"COST", CLI_RIGHT, 0},
        };
        struct cli_table tab;
        cli_table_init(&tab, cols, 8);
        size_t i;
        json_t *t;
        json_array_foreach(list, i, t)
        {
            char d[32];
            cli_fmt_ms(num(t, "duration_ms", -1), d, sizeof(d));
            cli_table_row(&tab);
            cli_table_cell(&tab, "%s", at_json_str(t, "trace_id", ""));
            cli_table_cell(&tab, "%s", at_json_str(t, "agent", ""));
            cli_table_cell(&tab, "%s", at_json_str(t, "status", ""));
            cli_table_cell(&tab, "%s", at_json_str(t, "started_at", ""));
            cli_table_cell(&tab, "%s", d);
            cli_table_cell(&tab, "%lld", num(t, "jobs", 0));
            cli_table_cell(&tab, "%lld", num(t, "total_tokens", 0));
            cli_table_cell(&tab, "%.6f", json_number_value(json_object_get(t, "total_cost_usd")));
        }
        cli_table_print(&tab, stdout);
        cli_table_release(&tab);
    }
    cli_resp_release(&r);
    return CLI_OK;
}

int cmd_trace(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"agent", required_argument, NULL, 'a'},
        {"status", required_argument, NULL, 's'},
        {"since", required_argument, NULL, 't'},
        {"limit", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct at_buf q;
    at_buf_init(&q, 4096);
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":a:s:t:n:jh", opts, NULL)) != -1) {
        const char *key = o == 'a' ? "agent" : o == 's' ? "status" : o == 't' ? "since" : "limit";
        switch (o) {
        case 'a':
        case 's':
        case 't':
        case 'n':
            if (!*optarg) {
                at_buf_release(&q);
                fprintf(stderr, "atlas trace: --%s must not be empty\n", key);
                return CLI_USAGE;
            }
            at_buf_printf(&q, "%c%s=", q.len ? '&' : '?', key);
            cli_path_escape(&q, optarg);
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            trace_usage(stdout);
            at_buf_release(&q);
            return CLI_OK;
        default:
            cli_opt_error("trace", NULL, argv, o);
            trace_usage(stderr);
            at_buf_release(&q);
            return CLI_USAGE;
        }
    }
    if (optind == argc) {
        int rc = list_traces(c, at_buf_str(&q));
        at_buf_release(&q);
        return rc;
    }
    if (optind + 1 != argc || q.len) {
        cli_usage_error("trace", NULL, "%s", q.len ? "an ID takes no filters" : "one ID at most");
        at_buf_release(&q);
        trace_usage(stderr);
        return CLI_USAGE;
    }
    at_buf_release(&q);
    /* `atlas trace ""` would ask for /traces/ (the list): an error instead */
    if (cli_need("trace", "ID", argv[optind]))
        return CLI_USAGE;
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/traces/");
    cli_path_escape(&path, argv[optind]);
    struct cli_resp r;
    int rc = cli_get(c, at_buf_str(&path), &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    if (c->json)
        cli_print_json(stdout, r.body);
    else
        print_trace(r.body);
    cli_resp_release(&r);
    return CLI_OK;
}
