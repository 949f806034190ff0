#include "cli/cli.h"

#include "base/alloc.h"
#include "json/json.h"

#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: atlas register --path DIR [--name NAME] [--force]\n"
          "       atlas register --remote URL --name NAME [--tool TOOL] [--trust-platform] "
          "[--force]\n"
          "                      [--auth none|bearer|oauth] [--secret NAME] [--client-id ID]\n"
          "                      [--client-secret NAME] [--scope SCOPES] [--auth-method M]\n"
          "       atlas register --a2a URL --name NAME [--skill ID] [--token-env VAR] [--force]\n\n"
          "Registers an agent.  --path takes a directory with an agent.yaml: it is checked\n"
          "and a snapshot of the directory is stored under its content digest.  The same\n"
          "version with different content is refused unless --force.  --remote registers a\n"
          "tool of an MCP server reachable over Streamable HTTP as an agent.  --a2a makes a\n"
          "remote A2A agent (its card at URL/.well-known/agent-card.json, or URL when it\n"
          "ends in .json) an agent that forwards each run to it (docs/a2a.md).\n\n"
          "Dependencies are built first: dependencies.packages are installed with pip into\n"
          "a virtual environment of the version's own when registry.build.pip_index_url\n"
          "(or ATLAS_PIP_INDEX_URL) names a package index, and a package-lock.json is\n"
          "installed with npm ci; an environment with the same inputs is reused.  The build\n"
          "runs in the sandbox when sandbox.enabled (its network: the index only); pip's and\n"
          "npm's lines are printed on stderr as they come (\"build: | ...\"), then its steps\n"
          "and what it installed (with --json: the reply's \"build\").  A failed build registers\n"
          "nothing: the versions already registered keep serving (docs/distribution.md).\n\n"
          "options:\n"
          "  --path DIR      agent directory (its agent.yaml names the agent)\n"
          "  --remote URL    MCP server endpoint (e.g. http://127.0.0.1:3000/mcp)\n"
          "  --name NAME     agent name (overrides agent.yaml; required with --remote)\n"
          "  --tool TOOL     which tool of the remote server (default: NAME, or the only one)\n"
          "  --trust-platform  (--remote) trust the server with each job's token, so it may\n"
          "                  call atlasd's platform tools (requires.platform_tools); by\n"
          "                  default a remote server gets no token\n"
          "  --auth TYPE     (--remote) the server's credentials (docs/mcp.md \"Authorization\n"
          "                  of remote servers\"): none (default); bearer: --secret NAME is\n"
          "                  the token (atlas secret set NAME); oauth: the client credentials\n"
          "                  grant, found through the server's OAuth metadata, with\n"
          "                  --client-id ID and --client-secret NAME (a secret's name),\n"
          "                  optional --scope \"a b\" and --auth-method client_secret_basic|\n"
          "                  client_secret_post.  Only secret names are stored; tokens are\n"
          "                  kept in memory and renewed before they expire\n"
          "  --a2a URL       a remote A2A agent (JSON-RPC binding, A2A 1.0 or 0.3)\n"
          "  --skill ID      (--a2a) which skill of the card (default: the only one)\n"
          "  --token-env VAR (--a2a) the bearer token for the remote is the secret VAR (atlas\n"
          "                  secret set VAR); the card is fetched with $VAR from this shell\n"
          "  --force         replace an existing version with different content\n"
          "  --json          print the result as JSON\n",
          f);
}

struct cli_build_follow {
    struct cli *c;
    long long next;
    atomic_int stop;
    pthread_t th;
};

/* one poll: print the lines after f->next */
static void follow_once(struct cli_build_follow *f)
{
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/builds/log?after=%lld", f->next);
    struct cli_resp r;
    if (cli_get(f->c, path, &r) != 0 || r.status != 200) {
        cli_resp_release(&r);
        return;
    }
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(r.body, "lines"), i, l)
    {
        long long seq = (long long)json_integer_value(json_object_get(l, "seq"));
        if (seq <= f->next)
            continue;
        f->next = seq;
        fprintf(stderr, "build: | %s\n", at_json_str(l, "text", ""));
    }
    cli_resp_release(&r);
}

static void *follow_main(void *arg)
{
    struct cli_build_follow *f = arg;
    while (!atomic_load(&f->stop)) {
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
        if (!atomic_load(&f->stop))
            follow_once(f);
    }
    return NULL;
}

struct cli_build_follow *cli_build_follow_start(struct cli *c)
{
    if (c->quiet)
        return NULL;
    struct cli_resp r;
    if (cli_get(c, "/api/v1/builds/log?after=-1", &r) != 0 || r.status != 200 ||
        !json_is_integer(json_object_get(r.body, "next"))) {
        cli_resp_release(&r);
        return NULL; /* an older daemon: the build shows when it is done */
    }
    struct cli_build_follow *f = at_calloc(1, sizeof(*f));
    f->c = c;
    f->next = (long long)json_integer_value(json_object_get(r.body, "next"));
    cli_resp_release(&r);
    if (pthread_create(&f->th, NULL, follow_main, f) != 0) {
        free(f);
        return NULL;
    }
    return f;
}

void cli_build_follow_stop(struct cli_build_follow *f)
{
    if (!f)
        return;
    atomic_store(&f->stop, 1);
    pthread_join(f->th, NULL);
    follow_once(f); /* what came after the last poll */
    free(f);
}

void cli_print_build(const json_t *reply)
{
    const json_t *b = json_object_get(reply, "build");
    if (!json_is_object(b))
        return;
    const char *kind = at_json_str(b, "kind", "?");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(b, "steps"), i, s)
    {
        char took[32];
        cli_fmt_ms(json_integer_value(json_object_get(s, "ms")), took, sizeof(took));
        fprintf(stderr, "build: %s ... done (%s)\n", at_json_str(s, "step", "?"), took);
    }
    const json_t *pk = json_object_get(b, "packages");
    json_array_foreach(pk, i, s)
    {
        const char *h = at_json_str(s, "sha256", NULL);
        const char *integ = at_json_str(s, "integrity", NULL);
        fprintf(stderr, "build:   %s %s%s%s\n", at_json_str(s, "name", "?"),
                at_json_str(s, "version", "?"),
                h       ? " sha256:"
                : integ ? " "
                        : "",
                h       ? h
                : integ ? integ
                        : "");
    }
    const char *st = at_json_str(b, "status", "");
    fprintf(stderr, "build: %s environment %s (%zu package%s, lock %s, sandbox %s): %s\n",
            !strcmp(kind, "node") ? "node" : "python",
            !strcmp(st, "cached") ? "reused, nothing installed" : "built", json_array_size(pk),
            json_array_size(pk) == 1 ? "" : "s", at_json_str(b, "lock_digest", "?"),
            at_json_str(b, "sandbox", "?"), at_json_str(b, "env", "?"));
}

int cmd_register(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"path", required_argument, NULL, 'p'},
        {"remote", required_argument, NULL, 'r'},
        {"name", required_argument, NULL, 'n'},
        {"tool", required_argument, NULL, 't'},
        {"force", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"trust-platform", no_argument, NULL, 'T'},
        {"a2a", required_argument, NULL, 'A'},
        {"skill", required_argument, NULL, 'S'},
        {"token-env", required_argument, NULL, 'E'},
        {"auth", required_argument, NULL, 'a'},
        {"secret", required_argument, NULL, 's'},
        {"client-id", required_argument, NULL, 'i'},
        {"client-secret", required_argument, NULL, 'c'},
        {"scope", required_argument, NULL, 'o'},
        {"auth-method", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *auth = NULL, *secret = NULL, *client_id = NULL, *client_secret = NULL,
               *scope = NULL, *auth_method = NULL;
    const char *path = NULL, *remote = NULL, *name = NULL, *tool = NULL, *a2a = NULL, *skill = NULL,
               *token_env = NULL;
    char a2a_dir[4096] = "";
    int force = 0, trust = 0, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":p:r:n:t:A:S:E:a:s:i:c:o:m:fh", opts, NULL)) != -1) {
        if ((o == 'p' || o == 'r' || o == 'n' || o == 't') && cli_need("register",
                                                                       o == 'p'   ? "--path"
                                                                       : o == 'r' ? "--remote"
                                                                       : o == 'n' ? "--name"
                                                                                  : "--tool",
                                                                       optarg))
            return CLI_USAGE;
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
        case 'T':
            trust = 1;
            break;
        case 'A':
            a2a = optarg;
            break;
        case 'S':
            skill = optarg;
            break;
        case 'E':
            token_env = optarg;
            break;
        case 'a':
            auth = optarg;
            break;
        case 's':
            secret = optarg;
            break;
        case 'i':
            client_id = optarg;
            break;
        case 'c':
            client_secret = optarg;
            break;
        case 'o':
            scope = optarg;
            break;
        case 'm':
            auth_method = optarg;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            cli_opt_error("register", NULL, argv, o);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (a2a && (path || remote)) {
        cli_usage_error("register", NULL, "--a2a excludes --path and --remote");
        usage(stderr);
        return CLI_USAGE;
    }
    if ((skill || token_env) && !a2a) {
        cli_usage_error("register", NULL, "--skill and --token-env go with --a2a");
        usage(stderr);
        return CLI_USAGE;
    }
    if (a2a) {
        if (!name) {
            fprintf(stderr, "atlas: --a2a needs --name (what to call the agent)\n");
            return CLI_USAGE;
        }
        int irc = cli_a2a_import(a2a, name, skill, token_env, a2a_dir, sizeof(a2a_dir));
        if (irc)
            return irc;
        path = a2a_dir;
    }
    if (optind < argc && !path && !remote) {
        path = argv[optind++]; /* `atlas register DIR` */
        if (cli_need("register", "DIR", path))
            return CLI_USAGE;
    }
    if (optind < argc || (!path == !remote)) {
        cli_usage_error("register", NULL, "%s",
                        optind < argc ? "too many arguments"
                        : path        ? "--path and --remote exclude each other"
                                      : "--path DIR or --remote URL is needed");
        usage(stderr);
        return CLI_USAGE;
    }
    if (remote && !name) {
        fprintf(stderr, "atlas: --remote needs --name (what to call the agent)\n");
        return CLI_USAGE;
    }
    int bearer = auth && strcmp(auth, "bearer") == 0, oauth = auth && strcmp(auth, "oauth") == 0;
    if (auth && !bearer && !oauth && strcmp(auth, "none") != 0) {
        cli_usage_error("register", NULL,
                        "--auth %s: none, bearer or oauth (the client credentials grant; the "
                        "authorization code flow is not supported yet)",
                        auth);
        return CLI_USAGE;
    }
    if ((auth || secret || client_id || client_secret || scope || auth_method) && !remote) {
        cli_usage_error("register", NULL, "--auth and its options go with --remote");
        return CLI_USAGE;
    }
    if ((secret && !bearer) || ((client_id || client_secret || scope || auth_method) && !oauth)) {
        cli_usage_error("register", NULL,
                        "--secret goes with --auth bearer; --client-id, --client-secret, "
                        "--scope and --auth-method with --auth oauth");
        return CLI_USAGE;
    }
    if ((bearer && !secret) || (oauth && (!client_id || !client_secret))) {
        cli_usage_error("register", NULL, "%s",
                        bearer ? "--auth bearer needs --secret NAME (the secret holding the token)"
                               : "--auth oauth needs --client-id ID and --client-secret NAME");
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
    if (trust)
        json_object_set_new(body, "trust_platform", json_true());
    if (bearer)
        json_object_set_new(body, "auth",
                            json_pack("{s:s,s:s}", "type", "bearer", "secret", secret));
    if (oauth)
        json_object_set_new(body, "auth",
                            json_pack("{s:s,s:s,s:s,s:s*,s:s*}", "type", "oauth", "client_id",
                                      client_id, "client_secret", client_secret, "scope", scope,
                                      "auth_method", auth_method));
    char *text = at_json_dumps(body);
    json_decref(body);
    struct cli_resp r;
    struct cli_build_follow *follow = cli_build_follow_start(c);
    int rc = cli_http(c, "POST", "/api/v1/agents", text, NULL, &r);
    cli_build_follow_stop(follow);
    free(text);
    if (a2a_dir[0])
        cli_a2a_import_clean(a2a_dir); /* the daemon has its snapshot */
    if (rc)
        return rc;
    if (r.status >= 300) {
        rc = cli_print_problem(c, &r);
        cli_resp_release(&r);
        return rc;
    }
    if (r.status == 202) { /* approvals.require: a proposal is pending */
        if (c->json)
            cli_print_json(stdout, r.body);
        else
            printf("pending approval: proposal %s (atlas approvals show %s)\n",
                   at_json_str(r.body, "proposal_id", "?"),
                   at_json_str(r.body, "proposal_id", "?"));
        cli_resp_release(&r);
        return CLI_OK;
    }
    /* registration accepted it, but something will not work as declared */
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(r.body, "warnings"), i, w)
        fprintf(stderr, "atlas: warning: %s\n", at_json_str(w, "message", "?"));
    if (!c->json)
        cli_print_build(r.body);
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
