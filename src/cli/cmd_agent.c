/* atlas agent transfer: hand an agent to another owner (docs/security.md
 * "Ownership of agents"). */
#include "cli/cli.h"

#include "base/buf.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char agent_u[] =
    "usage: atlas agent transfer NAME --to TOKEN_NAME [--json]\n\n"
    "Hands the agent NAME (all its versions) to the live token named TOKEN_NAME\n"
    "(an admin or developer token: one that may register agents).  From then on\n"
    "that token owns it: a developer token may change only the agents it owns.\n"
    "Only an administrator (an admin token, the Unix socket) or the agent's\n"
    "current owner may transfer it; each transfer is an agent.transfer audit\n"
    "record (atlas audit ls).\n\n"
    "options:\n"
    "  --to TOKEN_NAME  the new owner (atlas token ls)\n"
    "  --json           print the result as JSON\n";

int cmd_agent(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(agent_u, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "transfer") != 0)
        return cli_usage_error("agent", agent_u, "unknown subcommand \"%s\"", argv[1]);
    const char *name = NULL, *to = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            c->json = 1;
        else if (!strcmp(argv[i], "--to") && i + 1 < argc)
            to = argv[++i];
        else if (argv[i][0] == '-')
            return cli_usage_error("agent", agent_u, "unknown option \"%s\"", argv[i]);
        else if (!name)
            name = argv[i];
        else
            return cli_usage_error("agent", agent_u, "unexpected argument %s", argv[i]);
    }
    if (!name || !*name || !to || !*to)
        return cli_usage_error("agent", agent_u, "NAME and --to TOKEN_NAME are required");
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/agents/");
    cli_path_escape(&path, name);
    at_buf_puts(&path, "/transfer");
    json_t *body = json_pack("{s:s}", "to", to);
    char *text = at_json_dumps(body);
    json_decref(body);
    struct cli_resp r;
    int rc = cli_http(c, "POST", at_buf_str(&path), text, NULL, &r);
    free(text);
    at_buf_release(&path);
    if (rc)
        return rc;
    if (r.status >= 300) {
        rc = cli_print_problem(c, &r);
    } else if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        const json_t *prev = json_object_get(r.body, "previous");
        printf("%s: owned by %s (was %s)\n", at_json_str(r.body, "name", "?"),
               at_json_str(json_object_get(r.body, "owner"), "name", "?"),
               json_is_object(prev) ? at_json_str(prev, "name", "?") : "no one");
    }
    cli_resp_release(&r);
    return rc;
}
