/* atlas orchestrator set NAME [--chain CHAIN] | reset [--chain CHAIN] | show */
#include "cli/cli.h"

#include "base/alloc.h"
#include "json/json.h"

#include <string.h>

static const char orch_usage[] =
    "usage: atlas orchestrator set NAME [--chain CHAIN] [--json]\n"
    "       atlas orchestrator reset [--chain CHAIN] [--json]\n"
    "       atlas orchestrator show [--json]\n\n"
    "Puts an agent of `type: orchestrator` in the orchestrator slot, for every chain or\n"
    "for one: chain runs then ask it for model tiers, mediation and recovery (it must\n"
    "speak docs/orchestrator-protocol.md); when it fails the default orchestrator\n"
    "decides and the run's event log says so.  `reset` goes back to the default.\n";

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
    while (argc > 1 && !strcmp(argv[1], "--json")) { /* `atlas orchestrator --json show` */
        c->json = 1;
        argv[1] = argv[0];
        argc--;
        argv++;
    }
    const char *chain = NULL, *name = NULL, *sub = argc > 1 ? argv[1] : NULL;
    if (!sub || !strcmp(sub, "-h") || !strcmp(sub, "--help")) {
        fputs(orch_usage, sub ? stdout : stderr);
        return sub ? CLI_OK : CLI_USAGE;
    }
    char cmd[48];
    snprintf(cmd, sizeof(cmd), "orchestrator %.32s", sub);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(orch_usage, stdout);
            return CLI_OK;
        } else if (!strcmp(argv[i], "--chain")) {
            if (i + 1 >= argc)
                return cli_usage_error(cmd, orch_usage, "--chain needs a value");
            chain = argv[++i];
            if (cli_need(cmd, "--chain", chain))
                return CLI_USAGE;
        } else if (!strcmp(argv[i], "--json")) {
            c->json = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error(cmd, orch_usage, "unknown option \"%s\"", argv[i]);
        } else if (!name) {
            name = argv[i];
        } else {
            return cli_usage_error(cmd, orch_usage, "unexpected argument \"%s\"", argv[i]);
        }
    }
    struct cli_resp r;
    int rc;
    if (!strcmp(sub, "set") && name) {
        if (cli_need(cmd, "NAME", name))
            return CLI_USAGE;
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
    } else if (strcmp(sub, "set") != 0 && strcmp(sub, "reset") != 0 && strcmp(sub, "show") != 0) {
        return cli_usage_error("orchestrator", orch_usage, "unknown %s \"%s\"",
                               sub[0] == '-' ? "option" : "subcommand", sub);
    } else {
        return cli_usage_error(cmd, orch_usage, "%s",
                               !strcmp(sub, "set") ? "missing NAME"
                               : name              ? "takes no NAME"
                                                   : "takes no --chain");
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
