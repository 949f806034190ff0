/* atlas schedule explain JOB | --dry-run AGENT [--priority N] [--json];
 * atlas schedule migrate JOB --to NODE [--json] */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "json/json.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: atlas schedule explain JOB [--json]\n"
          "       atlas schedule explain --dry-run AGENT [--priority N] [--json]\n"
          "       atlas schedule migrate JOB --to NODE [--json]\n\n"
          "Explains a placement: every node considered, the rule that rejected it or the\n"
          "score that ranked it, and the winner (docs/scheduling.md).  For a job that\n"
          "ran or runs, the placement it got; for a queued job, the placement now.\n"
          "--dry-run explains where AGENT would run, running nothing.\n\n"
          "migrate restarts a running job of an idempotent agent on NODE (the run where\n"
          "it is now is stopped, its late result discarded).  A job of an agent that is\n"
          "not idempotent, or that NODE does not fit now, is refused with the reason.\n",
          f);
}

static void print_table(const json_t *ex)
{
    printf("%s: %s\n", at_json_str(ex, "agent", "?"), at_json_str(ex, "reason", ""));
    printf("%-24s %-10s %-9s %-16s %7s  %s\n", "NODE", "STATE", "VERDICT", "RULE", "SCORE",
           "REASON");
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(ex, "nodes"), i, n)
    {
        json_t *score = json_object_get(n, "score");
        char sc[32] = "-";
        if (json_is_number(score))
            snprintf(sc, sizeof(sc), "%.1f", json_number_value(score));
        printf("%-24s %-10s %-9s %-16s %7s  %s\n", at_json_str(n, "name", "?"),
               at_json_str(n, "state", "?"), at_json_str(n, "verdict", "?"),
               at_json_str(n, "rule", "-"), sc, at_json_str(n, "reason", ""));
    }
    json_array_foreach(json_object_get(ex, "victims"), i, n) printf(
        "evicts %s (%s, priority %lld): %s\n", at_json_str(n, "job_id", "?"),
        at_json_str(n, "agent", "?"), (long long)json_integer_value(json_object_get(n, "priority")),
        at_json_str(n, "action", "?"));
}

int cmd_schedule(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'd'}, {"priority", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},    {"to", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},    {NULL, 0, NULL, 0},
    };
    int dry = 0, o;
    const char *to = NULL;
    long prio = 0;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'd':
            dry = 1;
            break;
        case 'p': {
            char *end;
            prio = strtol(optarg, &end, 10);
            if (*end || end == optarg) {
                cli_usage_error("schedule", NULL, "%s", "--priority takes an integer");
                return CLI_USAGE;
            }
            break;
        }
        case 'j':
            c->json = 1;
            break;
        case 't':
            to = optarg;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            cli_opt_error("schedule", NULL, argv, o);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind + 2 == argc && strcmp(argv[optind], "migrate") == 0) {
        if (!to || dry) {
            cli_usage_error("schedule", NULL, "%s", "migrate takes JOB and --to NODE");
            usage(stderr);
            return CLI_USAGE;
        }
        struct at_buf path;
        at_buf_init(&path, 4096);
        at_buf_puts(&path, "/api/v1/jobs/");
        cli_path_escape(&path, argv[optind + 1]);
        at_buf_puts(&path, "/migrate");
        json_t *body = json_pack("{s:s}", "to", to);
        char *text = at_json_dumps(body);
        json_decref(body);
        struct cli_resp r;
        int rc = cli_http(c, "POST", at_buf_str(&path), text, NULL, &r);
        free(text);
        at_buf_release(&path);
        if (rc)
            return rc;
        if (r.status >= 300)
            rc = cli_print_problem(c, &r);
        else if (c->json)
            cli_print_json(stdout, r.body);
        else
            printf("job %s migrated from %s to %s\n", at_json_str(r.body, "job_id", "?"),
                   at_json_str(r.body, "from", "?"), at_json_str(r.body, "to", "?"));
        cli_resp_release(&r);
        return rc;
    }
    if (to) {
        cli_usage_error("schedule", NULL, "%s", "--to goes with migrate");
        return CLI_USAGE;
    }
    if (optind + 2 != argc || strcmp(argv[optind], "explain") != 0) {
        cli_usage_error("schedule", NULL, "%s",
                        optind < argc && strcmp(argv[optind], "explain") != 0
                            ? "unknown subcommand (explain, migrate)"
                            : "explain takes one JOB or, with --dry-run, one AGENT");
        usage(stderr);
        return CLI_USAGE;
    }
    const char *arg = argv[optind + 1];
    struct cli_resp r;
    int rc;
    if (dry) {
        json_t *body = json_pack("{s:s,s:I}", "agent", arg, "priority", (json_int_t)prio);
        char *s = at_json_dumps(body);
        json_decref(body);
        rc = cli_http(c, "POST", "/api/v1/schedule/explain", s, NULL, &r);
        free(s);
    } else {
        struct at_buf path;
        at_buf_init(&path, 4096);
        at_buf_puts(&path, "/api/v1/jobs/");
        cli_path_escape(&path, arg);
        at_buf_puts(&path, "/placement");
        rc = cli_http(c, "GET", at_buf_str(&path), NULL, NULL, &r);
        at_buf_release(&path);
    }
    if (rc)
        return rc;
    if (r.status >= 300)
        rc = cli_print_problem(c, &r);
    else if (c->json)
        cli_print_json(stdout, r.body);
    else
        print_table(r.body);
    cli_resp_release(&r);
    return rc;
}
