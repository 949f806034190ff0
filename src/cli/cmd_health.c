/* atlas health */
#include "cli/cli.h"

#include "cli/table.h"
#include "json/json.h"

#include <string.h>

int cmd_health(struct cli *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            c->json = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: atlas health [--json]\n\nShows whether the daemon is up, its queue "
                   "and its pools of agent processes.\n");
            return CLI_OK;
        } else {
            return cli_usage_error("health", "usage: atlas health [--json]\n", "%s \"%s\"",
                                   argv[i][0] == '-' ? "unknown option" : "unexpected argument",
                                   argv[i]);
        }
    }
    struct cli_resp r;
    int rc = cli_http(c, "GET", "/api/v1/health", NULL, NULL, &r);
    if (rc)
        return rc;
    if (!r.body) {
        fprintf(stderr, "atlas: unexpected answer (HTTP %ld)\n", r.status);
        cli_resp_release(&r);
        return CLI_FAILED;
    }
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        json_t *e = json_object_get(r.body, "engine");
        printf("status:   %s\n", at_json_str(r.body, "status", "?"));
        printf("version:  %s\n", at_json_str(r.body, "version", "?"));
        printf("uptime:   %.0fs\n", json_number_value(json_object_get(r.body, "uptime_s")));
        printf("data:     %s\n", at_json_str(r.body, "data_dir", "?"));
        printf("agents:   %lld\n", at_json_int(r.body, "agents", 0));
        printf("running:  %lld of %lld\n", at_json_int(e, "running", 0),
               at_json_int(e, "max_concurrent", 0));
        printf("queued:   %lld\n", at_json_int(e, "queued", 0));
        /* docs/security.md, "The agent sandbox" */
        json_t *iso = json_object_get(r.body, "isolation");
        if (iso) {
            const char *sb = at_json_str(iso, "sandbox", "?");
            if (!strcmp(sb, "bubblewrap")) {
                json_t *ll = json_object_get(iso, "landlock");
                printf("sandbox:  bubblewrap%s%s\n",
                       json_is_true(json_object_get(iso, "seccomp")) ? ", seccomp" : "",
                       json_is_object(ll) ? ", landlock" : "");
            } else {
                printf("sandbox:  %s (%s)\n", sb, at_json_str(iso, "reason", ""));
            }
        }
        json_t *pools = json_object_get(e, "pools");
        if (json_array_size(pools)) {
            printf("pools:\n");
            static const struct cli_col cols[] = {
                {"AGENT", CLI_LEFT, 0}, {"PROCESSES", CLI_RIGHT, 0}, {"IDLE", CLI_RIGHT, 0},
                {"BUSY", CLI_RIGHT, 0}, {"STARTING", CLI_RIGHT, 0},  {"QUEUED", CLI_RIGHT, 0},
            };
            struct cli_table t;
            cli_table_init(&t, cols, 6);
            t.lead = "  ";
            size_t i;
            json_t *p;
            json_array_foreach(pools, i, p)
            {
                cli_table_row(&t);
                cli_table_cell(&t, "%s", at_json_str(p, "agent", ""));
                cli_table_cell(&t, "%lld", at_json_int(p, "workers", 0));
                cli_table_cell(&t, "%lld", at_json_int(p, "idle", 0));
                cli_table_cell(&t, "%lld", at_json_int(p, "busy", 0));
                cli_table_cell(&t, "%lld", at_json_int(p, "starting", 0));
                cli_table_cell(&t, "%lld", at_json_int(p, "queued", 0));
            }
            cli_table_print(&t, stdout);
            cli_table_release(&t);
        }
    }
    rc = r.status == 200 ? CLI_OK : CLI_FAILED;
    cli_resp_release(&r);
    return rc;
}

/* "a, b, c" of a JSON array of strings, "none" when empty */
static void print_keys(const char *label, const json_t *keys)
{
    printf("%s", label);
    if (!json_array_size(keys)) {
        printf("none\n");
        return;
    }
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) printf("%s%s", i ? ", " : "", json_string_value(k));
    printf("\n");
}

/* atlas reload: POST /api/v1/reload (what SIGHUP and `systemctl reload` do) */
int cmd_reload(struct cli *c, int argc, char **argv)
{
    static const char usage[] = "usage: atlas reload [--json] [--last]\n";
    int last = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            c->json = 1;
        } else if (strcmp(argv[i], "--last") == 0) {
            last = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("%s\n"
                   "Makes the daemon read its settings file again, as SIGHUP (`systemctl reload\n"
                   "atlasd`) does, and prints which changed keys it applied at once and which\n"
                   "need a restart (docs/install.md \"Reload\").  A file with an error is not\n"
                   "applied: the daemon keeps its settings and this prints where the error is\n"
                   "(exit status 1).\n"
                   "\n"
                   "  --last  show the last reload's result (SIGHUP's included); reload nothing\n"
                   "  --json  the daemon's answer as JSON\n",
                   usage);
            return CLI_OK;
        } else {
            return cli_usage_error("reload", usage, "%s \"%s\"",
                                   argv[i][0] == '-' ? "unknown option" : "unexpected argument",
                                   argv[i]);
        }
    }
    struct cli_resp r;
    int rc = cli_http(c, last ? "GET" : "POST", "/api/v1/reload", last ? NULL : "{}", NULL, &r);
    if (rc)
        return rc;
    if (!r.body || (r.status != 200 && r.status != 422)) {
        rc = cli_print_problem(c, &r);
        cli_resp_release(&r);
        return rc ? rc : CLI_FAILED;
    }
    int ok = json_is_true(json_object_get(r.body, "ok"));
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else if (!ok) {
        fprintf(stderr, "atlas: reload failed, the daemon keeps its settings: %s\n",
                at_json_str(r.body, "error", "?"));
    } else {
        printf("settings:         %s\n", at_json_str(r.body, "source", "(defaults)"));
        print_keys("applied:          ", json_object_get(r.body, "applied"));
        print_keys("needs a restart:  ", json_object_get(r.body, "restart"));
    }
    cli_resp_release(&r);
    return ok ? CLI_OK : CLI_FAILED;
}
