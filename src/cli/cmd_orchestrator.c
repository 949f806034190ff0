/* atlas orchestrator set NAME [--chain CHAIN] | reset [--chain CHAIN] | show */
#include "cli/cli.h"

#include "base/alloc.h"
#include "json/json.h"

#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: atlas orchestrator set NAME [--chain CHAIN]\n"
          "       atlas orchestrator reset [--chain CHAIN]\n"
          "       atlas orchestrator show [--json]\n\n"
          "Puts an agent of `type: orchestrator` in the orchestrator slot, for every chain or\n"
          "for one: chain runs then ask it for model tiers, mediation and recovery (it must\n"
          "speak docs/orchestrator-protocol.md); when it fails the default orchestrator\n"
          "decides and the run's event log says so.  `reset` goes back to the default.\n",
          f);
}

static void show(struct cli *c, json_t *o)
{
    if (c->json) {
        cli_print_json(stdout, o);
        return;
    }
    printf("default: %s\n", json_is_string(json_object_get(o, "default"))
                                ? at_json_str(o, "default", "")
                                : "the built-in orchestrator");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(o, "chains"), k, v)
        printf("chain %s: %s\n", k, json_string_value(v));
}

int cmd_orchestrator(struct cli *c, int argc, char **argv)
{
    const char *chain = NULL, *name = NULL, *sub = argc > 1 ? argv[1] : NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--chain") && i + 1 < argc)
            chain = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            c->json = 1;
        else if (!name && argv[i][0] != '-')
            name = argv[i];
        else {
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (!sub || !strcmp(sub, "-h") || !strcmp(sub, "--help")) {
        usage(sub ? stdout : stderr);
        return sub ? CLI_OK : CLI_USAGE;
    }
    struct cli_resp r;
    int rc;
    if (!strcmp(sub, "set") && name) {
        json_t *body = json_pack("{s:s}", "agent", name);
        if (chain)
            json_object_set_new(body, "chain", json_string(chain));
        char *s = at_json_dumps(body);
        json_decref(body);
        rc = cli_http(c, "PUT", "/api/v1/orchestrator", s, NULL, &r);
        free(s);
    } else if (!strcmp(sub, "reset") && !name) {
        struct at_buf path;
        at_buf_init(&path, 1024);
        at_buf_puts(&path, "/api/v1/orchestrator");
        if (chain) {
            at_buf_puts(&path, "?chain=");
            cli_path_escape(&path, chain);
        }
        rc = cli_http(c, "DELETE", at_buf_str(&path), NULL, NULL, &r);
        at_buf_release(&path);
    } else if (!strcmp(sub, "show") && !name && !chain) {
        rc = cli_http(c, "GET", "/api/v1/orchestrator", NULL, NULL, &r);
    } else {
        usage(stderr);
        return CLI_USAGE;
    }
    if (rc)
        return rc;
    if (r.status >= 300)
        rc = cli_print_problem(c, &r);
    else
        show(c, r.body);
    cli_resp_release(&r);
    return rc;
}
