/* atlas route --input JSON [--hint TEXT] */
#include "cli/cli.h"

#include "base/alloc.h"
#include "json/json.h"

#include <getopt.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: atlas route --input JSON|@FILE|- [--hint TEXT] [--async] [--json]\n\n"
          "Runs an input that names no agent: the orchestrator routes it to the agent whose\n"
          "input schema accepts it and whose capabilities and description match it best\n"
          "(and the hint); when several fit and the daemon has a model backend, a model\n"
          "of the fast tier picks among them.  Prints the output; the chosen agent goes\n"
          "to stderr, and every decision is in the job's meta.decisions.\n",
          f);
}

int cmd_route(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'}, {"hint", required_argument, NULL, 'H'},
        {"async", no_argument, NULL, 'a'},       {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *input_arg = NULL, *hint = NULL;
    int async = 0, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":i:h", opts, NULL)) != -1) {
        switch (o) {
        case 'i':
            input_arg = optarg;
            break;
        case 'H':
            hint = optarg;
            break;
        case 'a':
            async = 1;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            cli_opt_error("route", NULL, argv, o);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (!input_arg || optind != argc) {
        cli_usage_error("route", NULL, "%s",
                        input_arg ? "takes no arguments besides the options" : "missing --input");
        usage(stderr);
        return CLI_USAGE;
    }
    json_t *input;
    int rc = cli_read_json_arg(input_arg, &input);
    if (rc)
        return rc;
    json_t *body = json_pack("{s:o}", "input", input);
    if (hint)
        json_object_set_new(body, "hint", json_string(hint));
    char *s = at_json_dumps(body);
    json_decref(body);
    const char *hdr[] = {"Prefer: respond-async", NULL};
    struct cli_resp r;
    rc = cli_http(c, "POST", "/api/v1/run", s, async ? hdr : NULL, &r);
    free(s);
    if (rc)
        return rc;
    if (r.status >= 300) {
        rc = cli_print_problem(c, &r);
    } else {
        if (r.routed[0] && !c->json)
            fprintf(stderr, "atlas: routed to %s\n", r.routed);
        if (async && !c->json)
            printf("%s\n", at_json_str(r.body, "job", r.job_id));
        else
            cli_print_json(stdout, r.body);
    }
    cli_resp_release(&r);
    return rc;
}
