/* atlas costs [--by agent|model|day|backend|job|chain|trigger|kind] - tokens and cost */
#include "cli/cli.h"

#include "base/alloc.h"
#include "cli/table.h"
#include "json/json.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void costs_usage(FILE *f)
{
    fputs("usage: atlas costs [--by agent|model|day|backend|job|chain|trigger|kind]\n"
          "                   [--since T] [--job ID] [--chain ID] [--json]\n\n"
          "Model calls, tokens and cost in US dollars, grouped (default: by agent),\n"
          "from the gateway's records and the usage agents report: chat and\n"
          "embeddings calls alike (--by kind: chat | embeddings).  --job: one run;\n"
          "--chain: one job tree (a chain run or a run with its spawns).  T is an RFC\n"
          "3339 time or a duration (30m, 24h, 7d).\n",
          f);
}

static void add_row(struct cli_table *t, const char *key, const json_t *row)
{
    cli_table_row(t);
    cli_table_cell(t, "%s", key);
    cli_table_cell(t, "%lld", at_json_int(row, "calls", 0));
    cli_table_cell(t, "%lld", at_json_int(row, "tokens_in", 0));
    cli_table_cell(t, "%lld", at_json_int(row, "tokens_out", 0));
    cli_table_cell(t, "%.6f", json_number_value(json_object_get(row, "cost_usd")));
}

int cmd_costs(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"by", required_argument, NULL, 'b'},
        {"since", required_argument, NULL, 's'},
        {"job", required_argument, NULL, 'J'},
        {"chain", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct at_buf q;
    at_buf_init(&q, 4096);
    at_buf_puts(&q, "/api/v1/costs");
    int o, first = 1;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":b:s:J:c:jh", opts, NULL)) != -1) {
        const char *key = o == 'b' ? "by" : o == 's' ? "since" : o == 'J' ? "job" : "chain";
        switch (o) {
        case 'b':
        case 's':
        case 'J':
        case 'c':
            if (!*optarg) {
                fprintf(stderr, "atlas costs: --%s must not be empty\n", key);
                at_buf_release(&q);
                return CLI_USAGE;
            }
            at_buf_printf(&q, "%c%s=", first ? '?' : '&', key);
            cli_path_escape(&q, optarg);
            first = 0;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            costs_usage(stdout);
            at_buf_release(&q);
            return CLI_OK;
        default:
            cli_opt_error("costs", NULL, argv, o);
            costs_usage(stderr);
            at_buf_release(&q);
            return CLI_USAGE;
        }
    }
    if (optind != argc) {
        cli_usage_error("costs", NULL, "unexpected argument \"%s\"", argv[optind]);
        costs_usage(stderr);
        at_buf_release(&q);
        return CLI_USAGE;
    }
    struct cli_resp r;
    int rc = cli_get(c, at_buf_str(&q), &r);
    at_buf_release(&q);
    if (rc)
        return rc;
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        const char *by = at_json_str(r.body, "by", "agent");
        char head[32];
        snprintf(head, sizeof(head), "%s", by);
        for (char *p = head; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        const struct cli_col cols[] = {
            {head, CLI_LEFT, 0},          {"CALLS", CLI_RIGHT, 0},    {"TOKENS IN", CLI_RIGHT, 0},
            {"TOKENS OUT", CLI_RIGHT, 0}, {"COST USD", CLI_RIGHT, 0},
        };
        struct cli_table t;
        cli_table_init(&t, cols, 5);
        size_t i;
        json_t *row, *tot = json_object_get(r.body, "total");
        json_array_foreach(json_object_get(r.body, "rows"), i, row)
        {
            const char *k = at_json_str(row, "key", "");
            add_row(&t, *k ? k : "-", row);
        }
        add_row(&t, "total", tot);
        cli_table_print(&t, stdout);
        cli_table_release(&t);
    }
    cli_resp_release(&r);
    return CLI_OK;
}
