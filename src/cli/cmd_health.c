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
