/*
 * cmd_a2a.c - `atlas a2a card [NAME] [--chain]`: print the signed A2A
 * agent card of atlasd, of an agent or of a chain (docs/a2a.md).
 */
#include "cli/cli.h"

#include "base/buf.h"
#include "json/json.h"

#include <stdio.h>
#include <string.h>

static const char usage[] = "usage: atlas a2a card [NAME] [--chain] [--json]\n";

static int help(void)
{
    printf("%s\n"
           "Prints the A2A agent card (A2A 1.0), signed with the daemon's Ed25519 key (JWS,\n"
           "\"signatures\"): atlasd's own (every agent and chain a skill) without NAME, the\n"
           "agent NAME's, or with --chain the chain NAME's.  The card is JSON either way;\n"
           "--json prints it unchanged on one line per value (pretty).  See docs/a2a.md.\n",
           usage);
    return CLI_OK;
}

static int card(struct cli *c, int argc, char **argv)
{
    const char *name = NULL;
    int chain = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            c->json = 1;
        else if (strcmp(argv[i], "--chain") == 0)
            chain = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return help();
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            return cli_usage_error("a2a card", usage, "%s \"%s\"",
                                   argv[i][0] == '-' ? "unknown option" : "unexpected argument",
                                   argv[i]);
    }
    if (chain && !name)
        return cli_usage_error("a2a card", usage, "--chain needs the chain's NAME");
    struct at_buf path;
    at_buf_init(&path, AT_BUF_UNLIMITED);
    if (name) {
        at_buf_puts(&path, chain ? "/a2a/chains/" : "/a2a/agents/");
        cli_path_escape(&path, name);
    }
    at_buf_puts(&path, "/.well-known/agent-card.json");
    struct cli_resp r;
    int rc = cli_get(c, at_buf_str(&path), &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    cli_print_json(stdout, r.body);
    cli_resp_release(&r);
    return CLI_OK;
}

int cmd_a2a(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
        return help();
    if (strcmp(argv[1], "card") == 0)
        return card(c, argc, argv);
    return cli_usage_error("a2a", usage, "unknown subcommand \"%s\"", argv[1]);
}
