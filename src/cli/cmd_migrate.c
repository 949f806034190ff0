/*
 * atlas migrate --from sqlite:PATH --to postgres:URL: move a store from its
 * SQLite file into an empty PostgreSQL database, verified table by table by
 * row counts and digests (store/migrate.h, docs/postgres.md).  Runs in the
 * CLI process on the files and the database; atlasd must be stopped.
 */
#include "cli/cli.h"

#include "base/err.h"
#include "store/migrate.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: atlas migrate --from sqlite:PATH --to postgres:URL [--json]\n"
    "\n"
    "Copy a store from its SQLite file into an empty PostgreSQL database: agents,\n"
    "chains, settings, jobs, usage, logs, spans, evals and their results, in one\n"
    "PostgreSQL transaction, then compare every table's row count and SHA-256 digest\n"
    "on both sides (nothing stays in the database when they differ).  The security\n"
    "tables, the audit log, approvals, A2A push configs and the skills' tables stay in\n"
    "the SQLite file, which atlasd on PostgreSQL keeps as its local file: start atlasd\n"
    "on the same data directory with store.backend: postgres (docs/postgres.md).\n"
    "Stop atlasd first; the SQLite file's schema is brought to this version.\n"
    "\n"
    "  --from sqlite:PATH   the store file (DATA/atlas.db)\n"
    "  --to postgres:URL    a libpq connection string or URI of an empty database\n"
    "  --json               print the report (tables, rows, digests) as JSON\n";

static void progress(void *arg, const char *table, long long done, long long total)
{
    (void)arg;
    fprintf(stderr, "atlas migrate: %-12s %lld/%lld rows\n", table, done, total);
}

int cmd_migrate(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *from = NULL, *to = NULL;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":f:t:h", opts, NULL)) != -1) {
        switch (o) {
        case 'f':
            from = optarg;
            break;
        case 't':
            to = optarg;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            return cli_opt_error("migrate", usage, argv, o);
        }
    }
    if (optind < argc)
        return cli_usage_error("migrate", usage, "unexpected argument \"%s\"", argv[optind]);
    if (!from || strncmp(from, "sqlite:", 7) != 0 || !from[7])
        return cli_usage_error("migrate", usage, "--from sqlite:PATH is required");
    if (!to || strncmp(to, "postgres:", 9) != 0 || !to[9])
        return cli_usage_error("migrate", usage,
                               "--to postgres:URL is required (the only target so far)");
    struct at_diag d;
    at_diag_clear(&d);
    json_t *report = NULL;
    int rc = at_store_migrate(from + 7, to + 9, progress, NULL, &report, &d);
    if (rc) {
        char msg[1400];
        fprintf(stderr, "atlas migrate: %s\n", at_diag_format(&d, msg, sizeof(msg)));
        return CLI_FAILED;
    }
    if (c->json) {
        cli_print_json(stdout, report);
    } else {
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(report, "tables"), i, t)
            printf("%-12s %8lld rows  %s\n", json_string_value(json_object_get(t, "table")),
                   (long long)json_integer_value(json_object_get(t, "rows")),
                   json_string_value(json_object_get(t, "digest")));
        printf("migrated %lld rows from %s, verified by counts and digests\n",
               (long long)json_integer_value(json_object_get(report, "rows")), from + 7);
        long long rb = (long long)json_integer_value(json_object_get(report, "replaced_bytes"));
        if (rb > 0)
            printf("note: %lld bytes of text that were not UTF-8 became U+FFFD\n", rb);
    }
    json_decref(report);
    return CLI_OK;
}
