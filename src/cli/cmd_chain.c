/* atlas chain register | ls | describe | run | unregister */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "cli/table.h"
#include "json/json.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char chain_usage[] =
    "usage: atlas chain register FILE [--json]\n"
    "       atlas chain ls [--json]\n"
    "       atlas chain describe NAME [--json]\n"
    "       atlas chain run NAME [--input JSON|@FILE|-] [--async] [--priority N] [--json]\n"
    "       atlas chain unregister NAME [--json]\n\n"
    "Chains (chains/*.yaml) run agents one after another, each step's input mapped\n"
    "with JSONPath from the chain's input ($.trigger) and earlier steps\n"
    "($.steps[N].output); see docs/chains.md.  A chain is checked when it is\n"
    "registered: unknown agents, JSONPath that does not parse and mappings that can\n"
    "never fit the next agent are errors with their file:line:col.\n";

static int chain_register(struct cli *c, const char *arg)
{
    char *text;
    size_t len;
    int rc = at_fs_read_file(arg, 1u << 20, &text, &len);
    if (rc) {
        fprintf(stderr, "atlas: cannot read %s: %s\n", arg, at_err_msg(rc));
        return CLI_USAGE;
    }
    char real[PATH_MAX];
    const char *file = realpath(arg, real) ? real : arg;
    json_t *body = json_pack("{s:s,s:s%}", "file", file, "yaml", text, len);
    free(text);
    if (!body) {
        fprintf(stderr, "atlas: %s is not UTF-8 text\n", arg);
        return CLI_USAGE;
    }
    char *s = at_json_dumps(body);
    json_decref(body);
    struct cli_resp r;
    rc = cli_http(c, "POST", "/api/v1/chains", s, NULL, &r);
    free(s);
    if (rc)
        return rc;
    if (r.status >= 300) {
        rc = cli_print_problem(c, &r);
    } else if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        const char *status = at_json_str(r.body, "status", "");
        printf("%s chain %s (%zu steps)\n",
               !strcmp(status, "unchanged")  ? "unchanged"
               : !strcmp(status, "replaced") ? "replaced"
                                             : "registered",
               at_json_str(r.body, "name", "?"),
               json_array_size(json_object_get(json_object_get(r.body, "chain"), "steps")));
    }
    cli_resp_release(&r);
    return rc;
}

static void print_steps(json_t *steps, const char *indent)
{
    size_t i;
    json_t *st;
    json_array_foreach(steps, i, st)
    {
        if (json_object_get(st, "parallel")) {
            printf("%s%zu. in parallel:\n", indent, i);
            size_t k;
            json_t *m;
            json_array_foreach(json_object_get(st, "parallel"), k, m)
                printf("%s     - %s\n", indent, at_json_str(m, "agent", "?"));
        } else {
            printf("%s%zu. %s%s%s%s\n", indent, i, at_json_str(st, "agent", "?"),
                   json_is_string(json_object_get(st, "id")) ? " (id " : "",
                   at_json_str(st, "id", ""), json_is_string(json_object_get(st, "id")) ? ")" : "");
        }
    }
}

static int chain_ls(struct cli *c)
{
    struct cli_resp r;
    int rc = cli_get(c, "/api/v1/chains", &r);
    if (rc)
        return rc;
    json_t *chains = json_object_get(r.body, "chains");
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else if (json_array_size(chains) == 0) {
        printf("no chains registered (add one with `atlas chain register FILE`)\n");
    } else {
        static const struct cli_col cols[] = {
            {"NAME", CLI_LEFT, 0},
            {"STEPS", CLI_RIGHT, 0},
            {"ON FAILURE", CLI_LEFT, 0},
            {"DESCRIPTION", CLI_LEFT, 60},
        };
        struct cli_table t;
        cli_table_init(&t, cols, 4);
        size_t i;
        json_t *ch;
        json_array_foreach(chains, i, ch)
        {
            cli_table_row(&t);
            cli_table_cell(&t, "%s", at_json_str(ch, "name", ""));
            cli_table_cell(&t, "%zu", json_array_size(json_object_get(ch, "steps")));
            cli_table_cell(&t, "%s", at_json_str(ch, "on_failure", ""));
            cli_table_cell(&t, "%s", at_json_str(ch, "description", ""));
        }
        cli_table_print(&t, stdout);
        cli_table_release(&t);
    }
    cli_resp_release(&r);
    return CLI_OK;
}

static int chain_describe(struct cli *c, const char *name)
{
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/chains/");
    cli_path_escape(&path, name);
    struct cli_resp r;
    int rc = cli_get(c, at_buf_str(&path), &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        printf("name:        %s\n", at_json_str(r.body, "name", ""));
        printf("description: %s\n", at_json_str(r.body, "description", ""));
        printf("on failure:  %s\n", at_json_str(r.body, "on_failure", ""));
        printf("source:      %s\n", at_json_str(r.body, "source", ""));
        printf("steps:\n");
        print_steps(json_object_get(r.body, "steps"), "  ");
    }
    cli_resp_release(&r);
    return CLI_OK;
}

static int chain_run(struct cli *c, int argc, char **argv)
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
            fputs(chain_usage, stdout);
            return CLI_OK;
        default:
            return cli_opt_error("chain run", chain_usage, argv, o);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("chain run", chain_usage, "%s",
                               optind == argc ? "missing NAME" : "one NAME at most");
    if (cli_need("chain run", "NAME", argv[optind]))
        return CLI_USAGE;
    long prio = 0;
    if (priority) {
        char *end;
        prio = strtol(priority, &end, 10);
        if (*end || !*priority) {
            fprintf(stderr, "atlas chain run: --priority must be an integer\n");
            return CLI_USAGE;
        }
    }
    struct stat st;
    if (!input_arg && fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode)))
        input_arg = "-";
    json_t *input = NULL;
    if (input_arg) {
        int rc = cli_read_json_arg(input_arg, &input);
        if (rc)
            return rc;
    } else {
        input = json_object();
    }
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/chains/");
    cli_path_escape(&path, argv[optind]);
    at_buf_puts(&path, "/run");
    if (priority)
        at_buf_printf(&path, "?priority=%ld", prio);
    char *body = at_json_dumps(input);
    json_decref(input);
    const char *hdr[] = {"Prefer: respond-async", NULL};
    struct cli_resp r;
    int rc = cli_http(c, "POST", at_buf_str(&path), body, async ? hdr : NULL, &r);
    free(body);
    at_buf_release(&path);
    if (rc)
        return rc;
    if (r.status >= 300)
        rc = cli_print_problem(c, &r);
    else if (async && !c->json)
        printf("%s\n", at_json_str(r.body, "job", r.job_id));
    else
        cli_print_json(stdout, r.body);
    cli_resp_release(&r);
    return rc;
}

int cmd_chain(struct cli *c, int argc, char **argv)
{
    while (argc > 1 && !strcmp(argv[1], "--json")) { /* `atlas chain --json ls` */
        c->json = 1;
        argv[1] = argv[0];
        argc--;
        argv++;
    }
    if (argc < 2) {
        fputs(chain_usage, stderr);
        return CLI_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
        fputs(chain_usage, stdout);
        return CLI_OK;
    }
    if (!strcmp(sub, "run"))
        return chain_run(c, argc - 1, argv + 1);
    static const char *const file_arg[] = {"FILE"}, *const name_arg[] = {"NAME"};
    const char *pos[1] = {NULL};
    char cmd[48];
    snprintf(cmd, sizeof(cmd), "chain %.32s", sub);
    int ls = !strcmp(sub, "ls"), reg = !strcmp(sub, "register");
    if (!ls && !reg && strcmp(sub, "describe") != 0 && strcmp(sub, "unregister") != 0)
        return cli_usage_error("chain", chain_usage, "unknown %s \"%s\"",
                               sub[0] == '-' ? "option" : "subcommand", sub);
    int rc = cli_simple_args(c, argc - 1, argv + 1, cmd, chain_usage, ls ? 0 : 1, ls ? 0 : 1, pos,
                             reg ? file_arg : name_arg);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (reg)
        return chain_register(c, pos[0]);
    if (ls)
        return chain_ls(c);
    if (!strcmp(sub, "describe"))
        return chain_describe(c, pos[0]);
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/chains/");
    cli_path_escape(&path, pos[0]);
    struct cli_resp r;
    rc = cli_http(c, "DELETE", at_buf_str(&path), NULL, NULL, &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    if (r.status >= 300)
        rc = cli_print_problem(c, &r);
    else if (c->json)
        cli_print_json(stdout, r.body);
    else
        printf("unregistered chain %s\n", pos[0]);
    cli_resp_release(&r);
    return rc;
}
