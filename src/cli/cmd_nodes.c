/* atlas nodes [--json]; atlas node describe|label|rm|drain|undrain NAME ...
 * (docs/scheduling.md "Nodes") */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "json/json.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage_nodes(FILE *f)
{
    fputs("usage: atlas nodes [--json]\n\n"
          "Lists the cluster's nodes: the control plane's own (local) and every node\n"
          "agent that joined (atlasd node --join ...), with state, resources and what\n"
          "runs there (docs/scheduling.md).\n",
          f);
}

static void usage_node(FILE *f)
{
    fputs("usage: atlas node describe NAME [--json]   the node's profile (YAML)\n"
          "       atlas node label NAME KEY=VALUE...   set labels (node_labels match them)\n"
          "       atlas node drain NAME [--migrate]     no new work; drained once nothing runs;\n"
          "                                             --migrate moves its running jobs of\n"
          "                                             idempotent agents to other nodes\n"
          "       atlas node undrain NAME               take work again\n"
          "       atlas node rm NAME                    forget a remote node (drain it first)\n"
          "       atlas node join --name NAME [--advertise ADDR:PORT] [--data DIR]\n"
          "                       [--config FILE] [--log-level LEVEL]\n"
          "                                             make this machine a node of the\n"
          "                                             control plane the CLI talks to\n\n"
          "join creates a node token bound to NAME with the CLI's credentials (an admin\n"
          "token) and becomes `atlasd node --join URL --name NAME` (the atlasd beside\n"
          "this atlas, else on PATH) with the token in its environment; --advertise is\n"
          "the address its own API serves (default 127.0.0.1:0), --data its data\n"
          "directory (default ~/.local/share/atlas/nodes/NAME).\n"
          "A node joins with `atlasd node --join URL --name NAME --token T` (a token of\n"
          "role node, bound to that node: atlas token create --name NAME --role node\n"
          "--node NAME); docs/scheduling.md.\n",
          f);
}

/* ---- YAML of a JSON value (the profile) ---- */

static int plain(const char *s)
{
    if (!*s || strchr(":#{}[],&*!|>'\"%@`", s[0]) || strchr(s, ':') || strchr(s, '#'))
        return 0;
    return strcmp(s, "true") != 0 && strcmp(s, "false") != 0 && strcmp(s, "null") != 0;
}

static void scalar(const json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (plain(s)) {
            fputs(s, stdout);
        } else {
            char *q = json_dumps(v, JSON_ENCODE_ANY);
            fputs(q, stdout);
            free(q);
        }
    } else if (json_is_real(v)) {
        printf("%g", json_real_value(v));
    } else {
        char *q = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        fputs(q ? q : "null", stdout);
        free(q);
    }
}

static int simple(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

static void yaml(const json_t *v, int ind);

static void yaml_obj(const json_t *o, int ind)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        printf("%*s%s:", ind, "", k);
        if (simple(v)) {
            putchar(' ');
            scalar(v);
            putchar('\n');
        } else if ((json_is_array(v) && json_array_size(v) == 0) ||
                   (json_is_object(v) && json_object_size(v) == 0)) {
            puts(json_is_array(v) ? " []" : " {}");
        } else if (json_is_array(v) && simple(json_array_get(v, 0))) {
            fputs(" [", stdout);
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x)
            {
                if (i)
                    fputs(", ", stdout);
                scalar(x);
            }
            puts("]");
        } else {
            putchar('\n');
            yaml(v, ind + 2);
        }
    }
}

static void yaml(const json_t *v, int ind)
{
    if (json_is_object(v)) {
        yaml_obj(v, ind);
        return;
    }
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
    {
        if (json_is_object(x)) {
            /* "- first: v" then the other keys under it */
            printf("%*s- ", ind, "");
            const char *k;
            json_t *y;
            int first = 1;
            json_object_foreach(x, k, y)
            {
                if (!first)
                    printf("%*s", ind + 2, "");
                first = 0;
                printf("%s:", k);
                if (simple(y)) {
                    putchar(' ');
                    scalar(y);
                    putchar('\n');
                } else {
                    putchar('\n');
                    yaml(y, ind + 4);
                }
            }
            if (first)
                puts("{}");
        } else {
            printf("%*s- ", ind, "");
            scalar(x);
            putchar('\n');
        }
    }
}

/* the spec's profile: node: {name, address, status, resources, architecture, devices, labels} */
static void print_profile(const json_t *n)
{
    json_t *p = json_object();
    static const char *const order[] = {"name",         "address",   "status",     "resources",
                                        "architecture", "devices",   "labels",     "overridden",
                                        "reservations", "allocated", "connection", NULL};
    for (int i = 0; order[i]; i++) {
        json_t *v = json_object_get(n, order[i]);
        if (v && !json_is_null(v))
            json_object_set(p, order[i], v);
    }
    if (!json_object_get(p, "address") && json_is_true(json_object_get(n, "local")))
        json_object_set_new(p, "address", json_string("local (the control plane)"));
    json_t *top = json_pack("{s:o}", "node", p);
    yaml(top, 0);
    json_decref(top);
}

static void print_table(const json_t *body)
{
    printf("%-20s %-10s %5s %8s %-22s %-8s %4s  %s\n", "NAME", "STATUS", "CPUS", "MEMORY", "GPUS",
           "ARCH", "JOBS", "ADDRESS");
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(body, "nodes"), i, n)
    {
        json_t *res = json_object_get(n, "resources");
        json_t *gpus = json_object_get(res, "gpus");
        char g[64] = "-";
        if (json_array_size(gpus)) {
            json_t *g0 = json_array_get(gpus, 0);
            snprintf(g, sizeof(g), "%zux %s", json_array_size(gpus),
                     at_json_str(g0, "device", "?"));
        }
        char mem[32];
        snprintf(mem, sizeof(mem), "%.1f GB", json_number_value(json_object_get(res, "memory_gb")));
        printf("%-20s %-10s %5lld %8s %-22.22s %-8s %4zu  %s\n", at_json_str(n, "name", "?"),
               at_json_str(n, "status", "?"),
               (long long)json_integer_value(json_object_get(res, "cpu_cores")), mem, g,
               at_json_str(n, "architecture", "?"),
               json_array_size(json_object_get(n, "reservations")),
               json_is_true(json_object_get(n, "local")) ? "(local)"
                                                         : at_json_str(n, "address", "?"));
    }
}

static int parse_common(struct cli *c, int argc, char **argv, const char *cmd,
                        void (*usage)(FILE *))
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (o) {
        case 'j':
            c->json = 1;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            cli_opt_error(cmd, NULL, argv, o);
            usage(stderr);
            return -2;
        }
    }
    return 0;
}

int cmd_nodes(struct cli *c, int argc, char **argv)
{
    int p = parse_common(c, argc, argv, "nodes", usage_nodes);
    if (p)
        return p == -1 ? CLI_OK : CLI_USAGE;
    if (optind != argc) {
        cli_usage_error("nodes", NULL, "%s", "takes no arguments");
        usage_nodes(stderr);
        return CLI_USAGE;
    }
    struct cli_resp r;
    int rc = cli_get(c, "/api/v1/nodes", &r);
    if (rc)
        return rc;
    if (c->json)
        cli_print_json(stdout, r.body);
    else
        print_table(r.body);
    cli_resp_release(&r);
    return CLI_OK;
}

/* mkdir -p */
static int mkdirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) && errno != EEXIST ? -1 : 0;
}

/* atlas node join --name NAME ...: a node token bound to NAME, then atlasd
 * node --join (docs/scheduling.md "Nodes"). */
static int node_join(struct cli *c, int n, char **rest)
{
    const char *name = NULL, *advertise = NULL, *data = NULL, *config = NULL, *level = NULL;
    for (int i = 1; i < n; i++) {
        const char **dst = !strcmp(rest[i], "--name")        ? &name
                           : !strcmp(rest[i], "--advertise") ? &advertise
                           : !strcmp(rest[i], "--data")      ? &data
                           : !strcmp(rest[i], "--config")    ? &config
                           : !strcmp(rest[i], "--log-level") ? &level
                                                             : NULL;
        if (!dst) {
            cli_usage_error("node join", NULL, "unexpected argument \"%s\"", rest[i]);
            usage_node(stderr);
            return CLI_USAGE;
        }
        if (i + 1 >= n || cli_need("node join", rest[i], rest[i + 1]))
            return CLI_USAGE;
        *dst = rest[++i];
    }
    if (!name || !*name) {
        cli_usage_error("node join", NULL, "%s", "--name NAME is required");
        return CLI_USAGE;
    }
    /* the token: bound to the node at creation, its name unique */
    char tname[160], tok[256] = "";
    for (int attempt = 0; attempt < 2 && !tok[0]; attempt++) {
        if (attempt == 0)
            snprintf(tname, sizeof(tname), "node-%s", name);
        else
            snprintf(tname, sizeof(tname), "node-%s-%lld", name, (long long)time(NULL));
        json_t *body = json_pack("{s:s,s:s,s:s}", "name", tname, "role", "node", "node", name);
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        struct cli_resp r;
        int rc = cli_http(c, "POST", "/api/v1/tokens", text, NULL, &r);
        free(text);
        if (rc)
            return rc;
        if (r.status == 409 && attempt == 0) { /* a token of that name exists: a rejoin */
            cli_resp_release(&r);
            continue;
        }
        if (r.status >= 300) {
            int prc = cli_print_problem(c, &r);
            cli_resp_release(&r);
            return prc;
        }
        snprintf(tok, sizeof(tok), "%s", at_json_str(r.body, "token", ""));
        cli_resp_release(&r);
    }
    if (!tok[0]) {
        fprintf(stderr, "atlas: the control plane gave no node token\n");
        return CLI_FAILED;
    }
    char dir[PATH_MAX];
    if (data) {
        snprintf(dir, sizeof(dir), "%s", data);
    } else {
        const char *home = getenv("HOME");
        snprintf(dir, sizeof(dir), "%s/.local/share/atlas/nodes/%s", home && *home ? home : ".",
                 name);
    }
    if (mkdirs(dir)) {
        fprintf(stderr, "atlas: cannot create the node's data directory %s: %s\n", dir,
                strerror(errno));
        return CLI_FAILED;
    }
    /* atlasd beside this atlas, else on PATH */
    char self[PATH_MAX], daemon[PATH_MAX + 16] = "atlasd";
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len > 0) {
        self[len] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(daemon, sizeof(daemon), "%s/atlasd", self);
            if (access(daemon, X_OK) != 0)
                snprintf(daemon, sizeof(daemon), "atlasd");
        }
    }
    const char *args[16];
    int k = 0;
    args[k++] = daemon;
    args[k++] = "node";
    args[k++] = "--join";
    args[k++] = c->url;
    args[k++] = "--name";
    args[k++] = name;
    args[k++] = "--data";
    args[k++] = dir;
    if (advertise) {
        args[k++] = "--listen";
        args[k++] = advertise;
    }
    if (config) {
        args[k++] = "--config";
        args[k++] = config;
    }
    if (level) {
        args[k++] = "--log-level";
        args[k++] = level;
    }
    args[k] = NULL;
    /* the token travels in the environment, never on a command line */
    setenv("ATLAS_NODE_TOKEN", tok, 1);
    unsetenv("ATLAS_TOKEN");
    fprintf(stderr, "atlas: joining %s as node %s (data %s, token %s)\n", c->url, name, dir, tname);
    fflush(stderr);
    execvp(daemon, (char *const *)args);
    fprintf(stderr, "atlas: cannot run %s: %s\n", daemon, strerror(errno));
    return CLI_FAILED;
}

int cmd_node(struct cli *c, int argc, char **argv)
{
    /* options may come anywhere: pull --json / --help / --migrate out first */
    int n = 0, migrate = 0;
    char **rest = at_calloc((size_t)argc + 1, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            c->json = 1;
        } else if (strcmp(argv[i], "--migrate") == 0) {
            migrate = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_node(stdout);
            free(rest);
            return CLI_OK;
        } else {
            rest[n++] = argv[i];
        }
    }
    const char *sub = n > 0 ? rest[0] : NULL;
    const char *name = n > 1 ? rest[1] : NULL;
    int rc = CLI_USAGE;
    if (sub && strcmp(sub, "join") == 0) {
        rc = node_join(c, n, rest);
        free(rest);
        return rc;
    }
    if (!sub || !name || !*name) {
        cli_usage_error("node", NULL, "%s",
                        sub ? "NAME is missing"
                            : "a subcommand is missing (describe, label, "
                              "drain, undrain, rm)");
        usage_node(stderr);
        free(rest);
        return CLI_USAGE;
    }
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/nodes/");
    cli_path_escape(&path, name);
    struct cli_resp r;
    const char *method = "POST";
    char *body = NULL;
    int want = n == 2;
    if (strcmp(sub, "describe") == 0) {
        method = "GET";
    } else if (strcmp(sub, "drain") == 0 || strcmp(sub, "undrain") == 0) {
        at_buf_printf(&path, "/%s", sub);
        body = at_strdup(migrate ? "{\"migrate\": true}" : "{}");
    } else if (strcmp(sub, "rm") == 0) {
        method = "DELETE";
    } else if (strcmp(sub, "label") == 0) {
        want = n >= 3;
        json_t *o = json_object();
        for (int i = 2; i < n; i++) {
            char *eq = strchr(rest[i], '=');
            if (!eq || eq == rest[i]) {
                int bad =
                    cli_usage_error("node", NULL, "label takes KEY=VALUE, not \"%s\"", rest[i]);
                json_decref(o);
                at_buf_release(&path);
                free(rest);
                return bad;
            }
            char *key = at_strndup(rest[i], (size_t)(eq - rest[i]));
            json_object_set_new(o, key, json_string(eq + 1));
            free(key);
        }
        body = at_json_dumps(o);
        json_decref(o);
        at_buf_puts(&path, "/labels");
    } else {
        at_buf_release(&path);
        free(rest);
        cli_usage_error("node", NULL, "unknown subcommand \"%s\"", sub);
        usage_node(stderr);
        return CLI_USAGE;
    }
    if (migrate && strcmp(sub, "drain") != 0) {
        free(body);
        at_buf_release(&path);
        free(rest);
        return cli_usage_error("node", NULL, "%s", "--migrate goes with drain");
    }
    if (!want) {
        free(body);
        at_buf_release(&path);
        free(rest);
        cli_usage_error("node", NULL, "%s",
                        strcmp(sub, "label") == 0 ? "label takes NAME KEY=VALUE..."
                                                  : "takes one NAME");
        return CLI_USAGE;
    }
    rc = cli_http(c, method, at_buf_str(&path), body, NULL, &r);
    free(body);
    at_buf_release(&path);
    if (rc) {
        free(rest);
        return rc;
    }
    if (r.status >= 300) {
        rc = cli_print_problem(c, &r);
    } else if (c->json) {
        cli_print_json(stdout, r.body);
    } else if (strcmp(sub, "describe") == 0 || strcmp(sub, "label") == 0) {
        print_profile(r.body);
    } else if (strcmp(sub, "rm") == 0) {
        printf("node %s removed\n", name);
    } else {
        printf("node %s: %s (%lld job(s) running)\n", name, at_json_str(r.body, "status", "?"),
               (long long)json_integer_value(json_object_get(r.body, "running")));
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(r.body, "migrated"), i, m) printf(
            "  job %s migrated to %s\n", at_json_str(m, "job_id", "?"), at_json_str(m, "to", "?"));
        json_array_foreach(json_object_get(r.body, "kept"), i, m) printf(
            "  job %s stays: %s\n", at_json_str(m, "job_id", "?"), at_json_str(m, "why", "?"));
    }
    cli_resp_release(&r);
    free(rest);
    return rc;
}
