/*
 * atlas - the Atlas command line.  Global options, then one command; each
 * command lives in its own cmd_*.c and talks to atlasd's HTTP API.
 */
#include "cli/cli.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct cli_command cli_commands[] = {
    {"register", cmd_register, "register an agent from a directory or a remote MCP server"},
    {"unregister", cmd_unregister, "remove an agent (all versions, or NAME:VERSION)"},
    {"ls", cmd_ls, "list registered agents"},
    {"describe", cmd_describe, "show an agent's contract"},
    {"agent", cmd_agent, "hand an agent to another owner (atlas agent transfer)"},
    {"search", cmd_search, "find agents by name, description or capability"},
    {"push", cmd_push, "publish an agent version to an OCI registry"},
    {"pull", cmd_pull, "fetch an agent from an OCI registry and register it"},
    {"login", cmd_login, "store credentials for an OCI registry, or an atlasd URL's token"},
    {"key", cmd_key, "create, list and export the publisher's signing keys"},
    {"trust", cmd_trust, "trust a publisher's key for verifying pulled agents"},
    {"review", cmd_review, "record this atlasd's review of an agent version"},
    {"rate", cmd_rate, "rate an agent version (1 to 5)"},
    {"run", cmd_run, "run an agent once and print its output"},
    {"jobs", cmd_jobs, "list jobs"},
    {"job", cmd_job, "show one job"},
    {"cancel", cmd_cancel, "cancel a queued or running job"},
    {"queue", cmd_queue, "inspect the queue, drain or resume dispatch, change a job's priority"},
    {"schedule", cmd_schedule, "explain a job's placement, or where an agent would run"},
    {"nodes", cmd_nodes, "list the cluster's nodes"},
    {"node", cmd_node, "describe, label, drain, undrain or remove a node"},
    {"health", cmd_health, "show the daemon's health"},
    {"reload", cmd_reload, "re-read the daemon's settings; say what needs a restart"},
    {"chain", cmd_chain, "register, list and run chains of agents"},
    {"trigger", cmd_trigger, "cron, webhook and conversational triggers of runs"},
    {"orchestrator", cmd_orchestrator, "set, reset or show the orchestrator"},
    {"route", cmd_route, "run an input that names no agent (the orchestrator routes it)"},
    {"trace", cmd_trace, "show a job tree's trace as a waterfall, or recent traces"},
    {"logs", cmd_logs, "show (or follow) what a job's agent logged"},
    {"costs", cmd_costs, "tokens and cost by agent, model, day, run or chain"},
    {"eval", cmd_eval, "register, list and run evals (evals/*.yaml)"},
    {"mcp", cmd_mcp, "serve MCP on stdin/stdout (for desktop MCP clients)"},
    {"mcp-client", cmd_mcp_client,
     "an MCP client: list and call the tools, resources and prompts of a server"},
    {"doctor", cmd_doctor, "check the installation and say how to fix what is wrong"},
    {"backup", cmd_backup, "copy the store and the agent snapshots into one file, online"},
    {"restore", cmd_restore, "restore a backup into an empty data directory"},
    {"migrate", cmd_migrate, "move a store from SQLite into PostgreSQL, verified"},
    {"completion", cmd_completion, "print the shell completion script (bash, zsh, fish)"},
    {"token", cmd_token, "create, list and revoke API tokens"},
    {"secret", cmd_secret, "set, list and delete secrets handed to agents"},
    {"audit", cmd_audit, "the audit: security events, the signed trail (verify, export)"},
    {"a2a", cmd_a2a, "print the signed A2A agent card of atlasd, an agent or a chain"},
    {"skill", cmd_skill, "list, describe, install, remove and invoke skills"},
    {"supervise", cmd_supervise, "plan a goal, dispatch bounded workers, judge, file proposals"},
    {"approvals", cmd_approvals, "list, show, approve, reject, modify and wait for proposals"},
    {NULL, NULL, NULL},
};

const size_t cli_ncommands = sizeof(cli_commands) / sizeof(cli_commands[0]) - 1;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: atlas [--url URL] [--json] COMMAND [ARGS]\n\n"
            "Talks to the Atlas daemon (atlasd) at --url, $ATLAS_URL or http://127.0.0.1:7070.\n\n"
            "commands:\n");
    for (size_t i = 0; i < cli_ncommands; i++)
        fprintf(f, "  %-11s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fprintf(f, "\nglobal options:\n"
               "  --url URL   the daemon's address\n"
               "  --json      machine-readable output (JSON on stdout)\n"
               "  -h, --help  this help; `atlas COMMAND --help` (or `atlas help COMMAND`)\n"
               "              for a command\n"
               "  --version   show the version\n\n"
               "exit status: 0 success, 1 the operation or job failed, 2 bad arguments,\n"
               "3 the daemon could not be reached.\n");
}

int main(int argc, char **argv)
{
    struct cli c = {.prog = "atlas"};
    c.url = getenv("ATLAS_URL");
    if (!c.url || !*c.url)
        c.url = cli_credentials_current(); /* `atlas login URL` */
    if (!c.url || !*c.url)
        c.url = "http://127.0.0.1:7070";
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            c.json = 1;
        } else if (strcmp(argv[i], "--url") == 0) {
            if (i + 1 >= argc || !argv[i + 1][0]) {
                fprintf(stderr, "atlas: --url needs a value (see atlas --help)\n");
                return CLI_USAGE;
            }
            c.url = argv[++i];
        } else if (strncmp(argv[i], "--url=", 6) == 0) {
            c.url = argv[i] + 6;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("atlas %s\n", ATLAS_VERSION);
            return CLI_OK;
        } else {
            fprintf(stderr, "atlas: unknown option \"%s\" (see atlas --help)\n", argv[i]);
            return CLI_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    /* strip a trailing slash so paths join cleanly */
    static char url[1024];
    snprintf(url, sizeof(url), "%s", c.url);
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    c.url = url;
    if (strcmp(argv[i], "__complete") == 0) /* the completion scripts' helper */
        return cli_complete(&c, argc - i, argv + i);
    if (strcmp(argv[i], "help") == 0 && i + 1 >= argc) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[i], "help") == 0) {
        /* `atlas help CMD` is `atlas CMD --help` */
        static char help_opt[] = "--help";
        argv[i] = argv[i + 1];
        argv[i + 1] = help_opt;
        argc = i + 2;
    }
    for (size_t k = 0; k < cli_ncommands; k++) {
        if (strcmp(argv[i], cli_commands[k].name) == 0) {
            curl_global_init(CURL_GLOBAL_DEFAULT);
            int rc = cli_commands[k].fn(&c, argc - i, argv + i);
            curl_global_cleanup();
            return rc;
        }
    }
    fprintf(stderr, "atlas: unknown command \"%s\" (see atlas --help)\n", argv[i]);
    return CLI_USAGE;
}
