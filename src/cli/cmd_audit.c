/* atlas audit ls | verify | export | checkpoint | accept (docs/audit.md) */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "cli/table.h"
#include "base/err.h"
#include "base/fs.h"
#include "json/json.h"
#include "tlog/bundle.h"

#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: atlas audit ls [--event EVENT] [--limit N] [--json]\n"
    "       atlas audit verify [--bundle FILE] [--from CHECKPOINT] [--key VKEY] [--json]\n"
    "       atlas audit export [--out FILE]\n"
    "       atlas audit checkpoint [--json]\n"
    "       atlas audit accept --reason TEXT [--json]\n";

static int read_text(const char *path, size_t max, char **out, size_t *len)
{
    int rc = at_fs_read_file(path, max, out, len);
    if (rc)
        fprintf(stderr, "atlas: %s: %s\n", path, at_err_msg(rc));
    return rc ? CLI_USAGE : 0;
}

/* Print the verifier's report; CLI_FAILED when it found problems. */
static int print_report(struct cli *c, json_t *rep)
{
    int ok = json_is_true(json_object_get(rep, "ok"));
    if (c->json) {
        cli_print_json(stdout, rep);
        return ok ? CLI_OK : CLI_FAILED;
    }
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(rep, "problems"), i, p)
    {
        json_t *ix = json_object_get(p, "index");
        if (json_is_integer(ix))
            printf("index %lld: %s: %s\n", (long long)json_integer_value(ix),
                   at_json_str(p, "problem", "?"), at_json_str(p, "detail", ""));
        else
            printf("%s: %s\n", at_json_str(p, "problem", "?"), at_json_str(p, "detail", ""));
    }
    json_array_foreach(json_object_get(rep, "acknowledged"), i, p)
    {
        json_t *ix = json_object_get(p, "index");
        if (json_is_integer(ix))
            printf("acknowledged: index %lld: %s: %s\n", (long long)json_integer_value(ix),
                   at_json_str(p, "problem", "?"), at_json_str(p, "detail", ""));
        else
            printf("acknowledged: %s: %s\n", at_json_str(p, "problem", "?"),
                   at_json_str(p, "detail", ""));
    }
    json_array_foreach(json_object_get(rep, "accepted_breaks"), i, p)
        printf("break accepted at index %lld by %s: %s\n", at_json_int(p, "index", -1),
               at_json_str(p, "by", "?"), at_json_str(p, "why", ""));
    printf("%s: %lld entries, %lld signatures, %lld checkpoints (tree size %lld), %lld inclusion "
           "and %lld consistency proofs verified; %lld receipts co-signed by the TPM\n",
           ok ? "ok" : "TAMPERED", at_json_int(rep, "entries", 0),
           at_json_int(rep, "signatures_verified", 0), at_json_int(rep, "checkpoints_verified", 0),
           at_json_int(rep, "tree_size", 0), at_json_int(rep, "inclusion_proofs_verified", 0),
           at_json_int(rep, "consistency_proofs_verified", 0),
           at_json_int(rep, "cosigned_receipts", 0));
    printf("log %s, key %s (%s)\n", at_json_str(rep, "origin", ""), at_json_str(rep, "vkey", ""),
           strcmp(at_json_str(rep, "key_source", ""), "trusted") == 0
               ? "trusted"
               : "from the bundle: compare it with the key you trust, or pass --key");
    return ok ? CLI_OK : CLI_FAILED;
}

static int audit_verify(struct cli *c, int argc, char **argv)
{
    const char *bundle_path = NULL, *from_path = NULL, *key = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            c->json = 1;
        else if (!strcmp(argv[i], "--bundle") && i + 1 < argc)
            bundle_path = argv[++i];
        else if (!strcmp(argv[i], "--from") && i + 1 < argc)
            from_path = argv[++i];
        else if (!strcmp(argv[i], "--key") && i + 1 < argc)
            key = argv[++i];
        else
            return cli_usage_error("audit", usage_text, "unexpected argument \"%s\"", argv[i]);
    }
    char *from = NULL;
    size_t fl = 0;
    if (from_path && read_text(from_path, 1u << 16, &from, &fl))
        return CLI_USAGE;
    json_t *bundle = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    int rc;
    if (bundle_path) {
        /* offline: the file alone, no daemon */
        char *text = NULL;
        size_t len = 0;
        if (read_text(bundle_path, AT_TLOG_BUNDLE_MAX, &text, &len)) {
            free(from);
            return CLI_USAGE;
        }
        rc = at_json_parse_flags(text, len, 0, AT_JSON_ALLOW_NUL, &bundle, &d);
        free(text);
        if (rc) {
            char msg[1200];
            snprintf(d.file, sizeof(d.file), "%s", bundle_path);
            fprintf(stderr, "atlas: %s\n", at_diag_format(&d, msg, sizeof(msg)));
            free(from);
            return CLI_FAILED;
        }
    } else {
        struct cli_resp r;
        if ((rc = cli_get(c, "/api/v1/audit/export", &r))) {
            free(from);
            return rc;
        }
        bundle = json_incref(r.body);
        cli_resp_release(&r);
    }
    json_t *rep = NULL;
    rc = at_tlog_verify(bundle, key, from, &rep, &d);
    json_decref(bundle);
    free(from);
    if (rc) {
        char msg[1200];
        fprintf(stderr, "atlas: audit verify: %s\n", at_diag_format(&d, msg, sizeof(msg)));
        return CLI_FAILED;
    }
    rc = print_report(c, rep);
    json_decref(rep);
    return rc;
}

static int audit_export(struct cli *c, int argc, char **argv)
{
    const char *out = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            c->json = 1;
        else
            return cli_usage_error("audit", usage_text, "unexpected argument \"%s\"", argv[i]);
    }
    struct cli_resp r;
    int rc = cli_get(c, "/api/v1/audit/export", &r);
    if (rc)
        return rc;
    if (out) {
        rc = at_fs_write_atomic(out, r.raw.p, r.raw.len, 0644);
        if (rc) {
            fprintf(stderr, "atlas: %s: %s\n", out, at_err_msg(rc));
            rc = CLI_FAILED;
        } else if (!c->quiet) {
            fprintf(stderr, "atlas: %zu entries, %zu checkpoints written to %s\n",
                    json_array_size(json_object_get(r.body, "entries")),
                    json_array_size(json_object_get(r.body, "checkpoints")), out);
        }
    } else {
        fwrite(r.raw.p, 1, r.raw.len, stdout);
        putchar('\n');
    }
    cli_resp_release(&r);
    return rc;
}

static int audit_checkpoint(struct cli *c, int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            c->json = 1;
        else
            return cli_usage_error("audit", usage_text, "unexpected argument \"%s\"", argv[i]);
    }
    struct cli_resp r;
    int rc = cli_http(c, "POST", "/api/v1/audit/checkpoint", "{}", NULL, &r);
    if (rc)
        return rc;
    if (r.status / 100 != 2) {
        rc = cli_print_problem(c, &r);
    } else if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        fputs(at_json_str(r.body, "note", ""), stdout);
    }
    cli_resp_release(&r);
    return rc;
}

static int audit_accept(struct cli *c, int argc, char **argv)
{
    const char *why = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            c->json = 1;
        else if (!strcmp(argv[i], "--reason") && i + 1 < argc)
            why = argv[++i];
        else
            return cli_usage_error("audit", usage_text, "unexpected argument \"%s\"", argv[i]);
    }
    if (!why || !*why)
        return cli_usage_error("audit", usage_text,
                               "accept needs --reason TEXT (it is signed into the log)");
    json_t *body = json_pack("{s:s}", "reason", why);
    char *b = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct cli_resp r;
    int rc = cli_http(c, "POST", "/api/v1/audit/accept", b, NULL, &r);
    free(b);
    if (rc)
        return rc;
    if (r.status / 100 != 2) {
        rc = cli_print_problem(c, &r);
    } else if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        json_t *a = json_object_get(r.body, "accepted");
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(a, "problems"), i, p)
            printf("accepted: %s\n", json_string_value(p));
        printf("the break is recorded in the log; checkpoints are signed again (size %lld):\n%s",
               at_json_int(r.body, "size", 0), at_json_str(r.body, "note", ""));
    }
    cli_resp_release(&r);
    return rc;
}

int cmd_audit(struct cli *c, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("%s\nls: the audit of security events, newest first (docs/security.md \"Audit\n"
               "records\"): token use, creation and revocation, denials, secrets set or\n"
               "deleted, sandbox refusals; who, what, when and from where.\n"
               "verify: check the signed audit trail (docs/audit.md): every signature, the\n"
               "Merkle tree against every signed checkpoint, the inclusion and consistency\n"
               "proofs; names each index deleted, reordered, inserted or rewritten.  With\n"
               "--bundle it reads an exported file and needs no daemon; --from: a checkpoint\n"
               "(a signed note) you kept, which the log must extend; --key: the log's\n"
               "verifier key you trust (NAME+ID+KEY).  Exit 1 when anything is wrong.\n"
               "export: the bundle (entries, checkpoints, public key, proofs) a third party\n"
               "can verify without Atlas.  checkpoint: sign a checkpoint now and print it.\n"
               "accept: after the daemon found the log damaged at start (GET\n"
               "/api/v1/audit/log shows tampered and the breaks), record that you accept the\n"
               "damage, and why, as a signed entry; checkpoints are then signed again, and\n"
               "verify reports the problems before that entry as acknowledged.\n",
               usage_text);
        return CLI_OK;
    }
    if (argc >= 2 && !strcmp(argv[1], "verify"))
        return audit_verify(c, argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "export"))
        return audit_export(c, argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "checkpoint"))
        return audit_checkpoint(c, argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "accept"))
        return audit_accept(c, argc, argv);
    if (argc < 2 || (strcmp(argv[1], "ls") != 0 && strcmp(argv[1], "list") != 0))
        return cli_usage_error("audit", usage_text,
                               "which: ls, verify, export, checkpoint or accept?");
    struct at_buf q;
    at_buf_init(&q, 4096);
    at_buf_append(&q, "/api/v1/audit?", 14);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            c->json = 1;
        } else if ((!strcmp(argv[i], "--event") || !strcmp(argv[i], "--limit")) && i + 1 < argc) {
            at_buf_append(&q, argv[i] + 2, strlen(argv[i] + 2));
            at_buf_putc(&q, '=');
            cli_path_escape(&q, argv[++i]);
            at_buf_putc(&q, '&');
        } else {
            at_buf_release(&q);
            return cli_usage_error("audit", usage_text, "unexpected argument \"%s\"", argv[i]);
        }
    }
    struct cli_resp r;
    int rc = cli_get(c, at_buf_str(&q), &r);
    at_buf_release(&q);
    if (rc)
        return rc;
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        static const struct cli_col cols[] = {
            {"TIME", CLI_LEFT, 0},   {"EVENT", CLI_LEFT, 0},  {"OUTCOME", CLI_LEFT, 0},
            {"ACTOR", CLI_LEFT, 0},  {"ROLE", CLI_LEFT, 0},   {"SOURCE", CLI_LEFT, 0},
            {"ACTION", CLI_LEFT, 0}, {"DETAIL", CLI_LEFT, 0},
        };
        struct cli_table t;
        cli_table_init(&t, cols, 8);
        size_t i;
        json_t *row;
        json_array_foreach(json_object_get(r.body, "records"), i, row)
        {
            char when[40];
            at_time_iso8601(at_json_int(row, "ts_ms", 0), when, sizeof(when));
            cli_table_row(&t);
            cli_table_cell(&t, "%s", when);
            cli_table_cell(&t, "%s", at_json_str(row, "event", ""));
            cli_table_cell(&t, "%s", at_json_str(row, "outcome", "-"));
            cli_table_cell(&t, "%s", at_json_str(row, "actor", "-"));
            cli_table_cell(&t, "%s", at_json_str(row, "role", "-"));
            cli_table_cell(&t, "%s", at_json_str(row, "source", "-"));
            cli_table_cell(&t, "%s", at_json_str(row, "action", "-"));
            cli_table_cell(&t, "%s", at_json_str(row, "detail", ""));
        }
        cli_table_print(&t, stdout);
        cli_table_release(&t);
    }
    cli_resp_release(&r);
    return CLI_OK;
}
