/* atlas run NAME [--input JSON|@file|-] [--async] [--priority N] */
#include "cli/cli.h"

#include "base/alloc.h"
#include "json/json.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs("usage: atlas run NAME[:VERSION] [--input JSON | --input @FILE | --input -]\n"
          "                 [--async] [--priority N] [--json]\n\n"
          "Runs the agent once with the input (a JSON object; from a file with @FILE, from\n"
          "stdin with -, or from stdin when it is not a terminal; {} otherwise), waits,\n"
          "and prints the agent's output as JSON.  Exits 0 when the job completed, 1 when\n"
          "it failed (the reason goes to stderr).\n\n"
          "options:\n"
          "  -i, --input JSON   the input\n"
          "      --async        do not wait: print the job id (see `atlas job ID`)\n"
          "      --priority N   higher runs first (default 0)\n"
          "      --json         on failure, print the problem JSON on stdout\n",
          f);
}

int cmd_run(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'},    {"async", no_argument, NULL, 'a'},
        {"priority", required_argument, NULL, 'p'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *input_arg = NULL, *priority = NULL;
    int async = 0, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":i:h", opts, NULL)) != -1) {
        switch (o) {
        case 'i':
            input_arg = optarg;
            break;
        case 'a':
            async = 1;
            break;
        case 'p':
            priority = optarg;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            cli_opt_error("run", NULL, argv, o);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_usage_error("run", NULL, "%s", optind == argc ? "missing NAME" : "one NAME at most");
        usage(stderr);
        return CLI_USAGE;
    }
    const char *agent = argv[optind];
    /* `atlas run ""` would POST to /agents//run */
    if (cli_need("run", "NAME", agent))
        return CLI_USAGE;
    json_t *input = NULL;
    int implicit = 0;
    struct stat st;
    if (!input_arg && fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode))) {
        input_arg = "-"; /* `echo '{...}' | atlas run NAME` */
        implicit = 1;
    }
    if (implicit) {
        /* an empty pipe or file means no input: {} */
        int ch = getchar();
        if (ch == EOF) {
            input_arg = NULL;
        } else {
            ungetc(ch, stdin);
        }
    }
    if (input_arg) {
        int rc = cli_read_json_arg(input_arg, &input);
        if (rc)
            return rc;
    } else {
        input = json_object();
    }
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/agents/");
    cli_path_escape(&path, agent);
    at_buf_puts(&path, "/run");
    if (priority) {
        char *end;
        long p = strtol(priority, &end, 10);
        if (*end || !*priority) {
            fprintf(stderr, "atlas run: --priority must be an integer\n");
            json_decref(input);
            at_buf_release(&path);
            return CLI_USAGE;
        }
        at_buf_printf(&path, "?priority=%ld", p);
    }
    char *body = at_json_dumps(input);
    json_decref(input);
    const char *async_hdr[] = {"Prefer: respond-async", NULL};
    struct cli_resp r;
    int rc = cli_http(c, "POST", at_buf_str(&path), body, async ? async_hdr : NULL, &r);
    free(body);
    at_buf_release(&path);
    if (rc)
        return rc;
    if (r.status >= 300) {
        rc = cli_print_problem(c, &r);
    } else if (async) {
        if (c->json)
            cli_print_json(stdout, r.body);
        else
            printf("%s\n", at_json_str(r.body, "job", r.job_id));
    } else {
        cli_print_json(stdout, r.body);
    }
    cli_resp_release(&r);
    return rc;
}
