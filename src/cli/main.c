/*
 * atlas - the Atlas command line.  Global options, then one command; each
 * command lives in its own cmd_*.c and talks to atlasd's HTTP API.
 */
#include "cli/cli.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
} commands[] = {
    {"register", cmd_register, "register an agent from a directory or a remote MCP server"},
    {"unregister", cmd_unregister, "remove an agent (all versions, or NAME:VERSION)"},
    {"ls", cmd_ls, "list registered agents"},
    {"describe", cmd_describe, "show an agent's contract"},
    {"search", cmd_search, "find agents by name, description or capability"},
    {"run", cmd_run, "run an agent once and print its output"},
    {"jobs", cmd_jobs, "list jobs"},
    {"job", cmd_job, "show one job"},
    {"cancel", cmd_cancel, "cancel a queued or running job"},
    {"health", cmd_health, "show the daemon's health"},
    {"chain", cmd_chain, "register, list and run chains of agents"},
    {"orchestrator", cmd_orchestrator, "set, reset or show the orchestrator"},
    {"route", cmd_route, "run an input that names no agent (the orchestrator routes it)"},
    {"trace", cmd_trace, "show a job tree's trace as a waterfall, or recent traces"},
    {"logs", cmd_logs, "show (or follow) what a job's agent logged"},
    {"costs", cmd_costs, "tokens and cost by agent, model, day, run or chain"},
    {"eval", cmd_eval, "register, list and run evals (evals/*.yaml)"},
    {"mcp", cmd_mcp, "serve MCP on stdin/stdout (for desktop MCP clients)"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: atlas [--url URL] [--json] COMMAND [ARGS]\n\n"
            "Talks to the Atlas daemon (atlasd) at --url, $ATLAS_URL or http://127.0.0.1:7070.\n\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nglobal options:\n"
               "  --url URL   the daemon's address\n"
               "  --json      machine-readable output (JSON on stdout)\n"
               "  -h, --help  this help; `atlas COMMAND --help` for a command\n"
               "  --version   show the version\n\n"
               "exit status: 0 success, 1 the operation or job failed, 2 bad arguments,\n"
               "3 the daemon could not be reached.\n");
}

int main(int argc, char **argv)
{
    struct cli c = {.prog = "atlas"};
    c.url = getenv("ATLAS_URL");
    if (!c.url || !*c.url)
        c.url = "http://127.0.0.1:7070";
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            c.json = 1;
        } else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
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
    for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
        if (strcmp(argv[i], commands[k].name) == 0) {
            curl_global_init(CURL_GLOBAL_DEFAULT);
            int rc = commands[k].fn(&c, argc - i, argv + i);
            curl_global_cleanup();
            return rc;
        }
    }
    fprintf(stderr, "atlas: unknown command \"%s\" (see atlas --help)\n", argv[i]);
    return CLI_USAGE;
}
