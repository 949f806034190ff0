#include "cli/cli.h"

#include "base/alloc.h"
#include "json/json.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: atlas register --path DIR [--name NAME] [--force]\n"
          "       atlas register --remote URL --name NAME [--tool TOOL] [--force]\n\n"
          "Registers an agent.  --path takes a directory with an agent.yaml: it is checked\n"
          "and a snapshot of the directory is stored under its content digest.  The same\n"
          "version with different content is refused unless --force.  --remote registers a\n"
          "tool of an MCP server reachable over Streamable HTTP as an agent.\n\n"
          "options:\n"
          "  --path DIR      agent directory (its agent.yaml names the agent)\n"
          "  --remote URL    MCP server endpoint (e.g. http://127.0.0.1:3000/mcp)\n"
          "  --name NAME     agent name (overrides agent.yaml; required with --remote)\n"
          "  --tool TOOL     which tool of the remote server (default: NAME, or the only one)\n"
          "  --force         replace an existing version with different content\n"
          "  --json          print the result as JSON\n",
          f);
}

int cmd_register(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"path", required_argument, NULL, 'p'}, {"remote", required_argument, NULL, 'r'},
        {"name", required_argument, NULL, 'n'}, {"tool", required_argument, NULL, 't'},
        {"force", no_argument, NULL, 'f'},      {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *remote = NULL, *name = NULL, *tool = NULL;
    int force = 0, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "p:r:n:t:fh", opts, NULL)) != -1) {
        switch (o) {
        case 'p':
            path = optarg;
            break;
        case 'r':
            remote = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 't':
            tool = optarg;
            break;
        case 'f':
            force = 1;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind < argc && !path && !remote)
        path = argv[optind++]; /* `atlas register DIR` */
    if (optind < argc || (!path == !remote)) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (remote && !name) {
        fprintf(stderr, "atlas: --remote needs --name (what to call the agent)\n");
        return CLI_USAGE;
    }
    json_t *body = json_object();
    if (path) {
        char real[PATH_MAX];
        if (!realpath(path, real)) {
            fprintf(stderr, "atlas: %s: no such directory\n", path);
            json_decref(body);
            return CLI_USAGE;
        }
        json_object_set_new(body, "path", json_string(real));
    } else {
        json_object_set_new(body, "remote", json_string(remote));
    }
    if (name)
        json_object_set_new(body, "name", json_string(name));
    if (tool)
        json_object_set_new(body, "tool", json_string(tool));
    if (force)
        json_object_set_new(body, "force", json_true());
    char *text = at_json_dumps(body);
    json_decref(body);
    struct cli_resp r;
    int rc = cli_http(c, "POST", "/api/v1/agents", text, NULL, &r);
    free(text);
    if (rc)
        return rc;
    if (r.status >= 300) {
        rc = cli_print_problem(c, &r);
        cli_resp_release(&r);
        return rc;
    }
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        const char *status = at_json_str(r.body, "status", "");
        printf("%s %s:%s (%s)\n",
               strcmp(status, "unchanged") == 0  ? "unchanged"
               : strcmp(status, "replaced") == 0 ? "replaced"
                                                 : "registered",
               at_json_str(r.body, "name", "?"), at_json_str(r.body, "version", "?"),
               *at_json_str(r.body, "digest", "") ? at_json_str(r.body, "digest", "") : "remote");
    }
    cli_resp_release(&r);
    return CLI_OK;
}
