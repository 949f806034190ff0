/* atlas health */
#include "cli/cli.h"

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
            fprintf(stderr, "usage: atlas health [--json]\n");
            return CLI_USAGE;
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
        json_t *pools = json_object_get(e, "pools");
        size_t i;
        json_t *p;
        if (json_array_size(pools))
            printf("pools:\n");
        json_array_foreach(pools, i, p) printf(
            "  %-30s %lld process(es): %lld idle, %lld busy, %lld starting\n",
            at_json_str(p, "agent", ""), at_json_int(p, "workers", 0), at_json_int(p, "idle", 0),
            at_json_int(p, "busy", 0), at_json_int(p, "starting", 0));
    }
    rc = r.status == 200 ? CLI_OK : CLI_FAILED;
    cli_resp_release(&r);
    return rc;
}
