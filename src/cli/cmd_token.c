/* atlas token create|ls|revoke */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "cli/table.h"
#include "json/json.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: atlas token create --name NAME --role ROLE [--expires DURATION] [--scope S]...\n"
    "                          [--rate-limit N] [--tokens-per-day N] [--node NODE] [--json]\n"
    "       atlas token ls [--json]\n"
    "       atlas token revoke ID|NAME [--json]\n";

static void help(void)
{
    printf("%s\n"
           "API tokens (docs/security.md).  ROLE is admin, operator, developer, viewer,\n"
           "reviewer or node.  A new token is printed once, on stdout: the daemon keeps only a "
           "keyed hash\n"
           "of it.  --scope ACTION (repeatable: read, run, register, model, mcp, ...)\n"
           "narrows the token to those of its role's actions; --scope agent:NAME\n"
           "(repeatable) to the named agents (it runs and sees only those); --scope\n"
           "chain:NAME to the named chains (it runs them, their steps included, and sees\n"
           "the jobs of their runs).  DURATION is a\n"
           "number and s, m, h or d (30d); --rate-limit is requests per minute (default:\n"
           "security.rate_limit_per_min); --tokens-per-day is the daily quota of model\n"
           "tokens of its model calls and runs, from 00:00 UTC (default:\n"
           "security.tokens_per_day; past it: 429 with Retry-After).  --node NODE (role node\n"
           "only) binds the token to that node: it may join, report and fetch agents as NODE\n"
           "and no other; a node token made without it is bound to the first node that joins\n"
           "with it (docs/scheduling.md).  Revoking ends the token's open streams within a\n"
           "second.\n",
           usage_text);
}

static void fmt_time(json_t *v, char *out, size_t n)
{
    if (!json_is_integer(v)) {
        snprintf(out, n, "-");
        return;
    }
    at_time_iso8601(json_integer_value(v), out, n);
}

static int token_ls(struct cli *c)
{
    struct cli_resp r;
    int rc = cli_get(c, "/api/v1/tokens", &r);
    if (rc)
        return rc;
    if (c->json) {
        cli_print_json(stdout, r.body);
        cli_resp_release(&r);
        return CLI_OK;
    }
    static const struct cli_col cols[] = {
        {"ID", CLI_LEFT, 0},    {"NAME", CLI_LEFT, 0},    {"ROLE", CLI_LEFT, 0},
        {"STATE", CLI_LEFT, 0}, {"CREATED", CLI_LEFT, 0}, {"EXPIRES", CLI_LEFT, 0},
    };
    struct cli_table t;
    cli_table_init(&t, cols, 6);
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(r.body, "tokens"), i, row)
    {
        char created[40], expires[40];
        fmt_time(json_object_get(row, "created_ms"), created, sizeof(created));
        fmt_time(json_object_get(row, "expires_ms"), expires, sizeof(expires));
        cli_table_row(&t);
        cli_table_cell(&t, "%s", at_json_str(row, "id", ""));
        cli_table_cell(&t, "%s", at_json_str(row, "name", ""));
        const char *bound = at_json_str(row, "node", NULL);
        cli_table_cell(&t, "%s%s%s", at_json_str(row, "role", ""), bound ? ":" : "",
                       bound ? bound : "");
        cli_table_cell(&t, "%s", at_json_str(row, "state", ""));
        cli_table_cell(&t, "%s", created);
        cli_table_cell(&t, "%s", expires);
    }
    cli_table_print(&t, stdout);
    cli_table_release(&t);
    cli_resp_release(&r);
    return CLI_OK;
}

static int token_create(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"role", required_argument, NULL, 'r'},
        {"expires", required_argument, NULL, 'e'},
        {"scope", required_argument, NULL, 's'},
        {"rate-limit", required_argument, NULL, 'l'},
        {"tokens-per-day", required_argument, NULL, 'q'},
        {"node", required_argument, NULL, 'N'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    json_t *body = json_object();
    json_t *scopes = json_array();
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":n:r:e:s:l:q:N:j", opts, NULL)) != -1) {
        switch (o) {
        case 'n':
            json_object_set_new(body, "name", json_string(optarg));
            break;
        case 'r':
            json_object_set_new(body, "role", json_string(optarg));
            break;
        case 'e':
            json_object_set_new(body, "expires", json_string(optarg));
            break;
        case 'N':
            json_object_set_new(body, "node", json_string(optarg));
            break;
        case 's':
            json_array_append_new(scopes, json_string(optarg));
            break;
        case 'l': {
            char *end;
            long long v = strtoll(optarg, &end, 10);
            if (*end || v < 0) {
                json_decref(body);
                json_decref(scopes);
                return cli_usage_error("token create", usage_text,
                                       "--rate-limit is a number of requests per minute");
            }
            json_object_set_new(body, "rate_per_min", json_integer(v));
            break;
        }
        case 'q': {
            char *end;
            long long v = strtoll(optarg, &end, 10);
            if (*end || v < 0 || end == optarg) {
                json_decref(body);
                json_decref(scopes);
                return cli_usage_error("token create", usage_text,
                                       "--tokens-per-day is a number of model tokens");
            }
            json_object_set_new(body, "tokens_per_day", json_integer(v));
            break;
        }
        case 'j':
            c->json = 1;
            break;
        default:
            json_decref(body);
            json_decref(scopes);
            return cli_opt_error("token create", usage_text, argv, o);
        }
    }
    if (!json_object_get(body, "name") || !json_object_get(body, "role")) {
        json_decref(body);
        json_decref(scopes);
        return cli_usage_error("token create", usage_text, "--name and --role are required");
    }
    json_object_set_new(body, "scopes", scopes);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct cli_resp r;
    int rc = cli_http(c, "POST", "/api/v1/tokens", text, NULL, &r);
    free(text);
    if (rc)
        return rc;
    if (r.status != 201) {
        rc = cli_print_problem(c, &r);
        cli_resp_release(&r);
        return rc;
    }
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        printf("%s\n", at_json_str(r.body, "token", ""));
        fprintf(stderr,
                "atlas: token %s (%s, role %s) created; it is shown only now: store it "
                "(e.g. `atlas login URL` or ATLAS_TOKEN)\n",
                at_json_str(r.body, "name", ""), at_json_str(r.body, "id", ""),
                at_json_str(r.body, "role", ""));
    }
    cli_resp_release(&r);
    return CLI_OK;
}

static int token_revoke(struct cli *c, const char *id)
{
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_append(&path, "/api/v1/tokens/", 15);
    cli_path_escape(&path, id);
    struct cli_resp r;
    int rc = cli_http(c, "DELETE", at_buf_str(&path), NULL, NULL, &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    if (r.status != 200)
        rc = cli_print_problem(c, &r);
    else if (c->json)
        cli_print_json(stdout, r.body);
    else
        printf("revoked %s\n", id);
    cli_resp_release(&r);
    return rc;
}

int cmd_token(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        if (argc < 2)
            return cli_usage_error("token", usage_text, "which: create, ls or revoke?");
        help();
        return CLI_OK;
    }
    const char *sub = argv[1];
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--json"))
            c->json = 1;
    if (!strcmp(sub, "create"))
        return token_create(c, argc - 1, argv + 1);
    if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
        return token_ls(c);
    if (!strcmp(sub, "revoke")) {
        const char *id = NULL;
        for (int i = 2; i < argc; i++)
            if (strcmp(argv[i], "--json") != 0)
                id = argv[i];
        if (!id)
            return cli_usage_error("token revoke", usage_text, "which token (ID or NAME)?");
        return token_revoke(c, id);
    }
    return cli_usage_error("token", usage_text, "unknown subcommand \"%s\"", sub);
}
