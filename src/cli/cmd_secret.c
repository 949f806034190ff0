/* atlas secret set|ls|rm */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "cli/table.h"
#include "json/json.h"

#include <stdlib.h>
#include <string.h>

static const char usage_text[] = "usage: atlas secret set NAME < value\n"
                                 "       atlas secret ls [--json]\n"
                                 "       atlas secret rm NAME\n";

static int secret_path(struct at_buf *b, const char *name)
{
    at_buf_init(b, 4096);
    at_buf_append(b, "/api/v1/secrets/", 16);
    cli_path_escape(b, name);
    return 0;
}

static int secret_set(struct cli *c, const char *name)
{
    struct at_buf v;
    at_buf_init(&v, (64u << 10) + 2);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
        if (at_buf_append(&v, chunk, n)) {
            fprintf(stderr, "atlas: a secret's value is at most 64 KiB\n");
            at_buf_release(&v);
            return CLI_USAGE;
        }
    struct at_buf path;
    secret_path(&path, name);
    /* the value is the body as is (the daemon drops one trailing newline) */
    char *body = at_buf_detach(&v, &n);
    struct cli_resp r;
    int rc = cli_http(c, "PUT", at_buf_str(&path), body ? body : "", NULL, &r);
    if (body) {
        memset(body, 0, n);
        free(body);
    }
    at_buf_release(&path);
    if (rc)
        return rc;
    if (r.status != 200)
        rc = cli_print_problem(c, &r);
    else if (c->json)
        cli_print_json(stdout, r.body);
    else
        fprintf(stderr,
                "atlas: secret %s set (agents that list it in requires.secrets get it "
                "in their environment)\n",
                name);
    cli_resp_release(&r);
    return rc;
}

static int secret_ls(struct cli *c)
{
    struct cli_resp r;
    int rc = cli_get(c, "/api/v1/secrets", &r);
    if (rc)
        return rc;
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        static const struct cli_col cols[] = {{"NAME", CLI_LEFT, 0}, {"UPDATED", CLI_LEFT, 0}};
        struct cli_table t;
        cli_table_init(&t, cols, 2);
        size_t i;
        json_t *row;
        json_array_foreach(json_object_get(r.body, "secrets"), i, row)
        {
            char when[40];
            at_time_iso8601(at_json_int(row, "updated_ms", 0), when, sizeof(when));
            cli_table_row(&t);
            cli_table_cell(&t, "%s", at_json_str(row, "name", ""));
            cli_table_cell(&t, "%s", when);
        }
        cli_table_print(&t, stdout);
        cli_table_release(&t);
    }
    cli_resp_release(&r);
    return CLI_OK;
}

static int secret_rm(struct cli *c, const char *name)
{
    struct at_buf path;
    secret_path(&path, name);
    struct cli_resp r;
    int rc = cli_http(c, "DELETE", at_buf_str(&path), NULL, NULL, &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    if (r.status != 200)
        rc = cli_print_problem(c, &r);
    else if (c->json)
        cli_print_json(stdout, r.body);
    cli_resp_release(&r);
    return rc;
}

int cmd_secret(struct cli *c, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("%s\nSecrets (docs/security.md): sealed with the data directory's key, handed\n"
               "only to the agents whose contract lists them (requires.secrets: [NAME]) as\n"
               "environment variables, and redacted from logs, job records and errors.\n"
               "NAME is A-Z, 0-9 and _.  The value is read from stdin; values never leave\n"
               "the daemon through the API.\n",
               usage_text);
        return CLI_OK;
    }
    if (argc < 2)
        return cli_usage_error("secret", usage_text, "which: set, ls or rm?");
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--json"))
            c->json = 1;
    const char *sub = argv[1];
    const char *name = argc > 2 && strcmp(argv[2], "--json") != 0 ? argv[2] : NULL;
    if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
        return secret_ls(c);
    if (!strcmp(sub, "set") || !strcmp(sub, "rm")) {
        if (!name)
            return cli_usage_error("secret", usage_text, "which secret (NAME)?");
        return sub[0] == 's' ? secret_set(c, name) : secret_rm(c, name);
    }
    return cli_usage_error("secret", usage_text, "unknown subcommand \"%s\"", sub);
}
