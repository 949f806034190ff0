/* atlas ls | describe | search | unregister */
#include "cli/cli.h"

#include "base/alloc.h"
#include "json/json.h"

#include <stdlib.h>
#include <string.h>

/* Shared option parsing for these simple commands: --json and --help. */
static int simple_opts(struct cli *c, int argc, char **argv, const char *usage_text, int min_pos,
                       int max_pos, char **pos)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            c->json = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return -1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "atlas %s: unknown option \"%s\"\n%s", argv[0], argv[i], usage_text);
            return CLI_USAGE;
        } else if (n < max_pos) {
            pos[n++] = argv[i];
        } else {
            fprintf(stderr, "atlas %s: unexpected argument \"%s\"\n%s", argv[0], argv[i],
                    usage_text);
            return CLI_USAGE;
        }
    }
    if (n < min_pos) {
        fputs(usage_text, stderr);
        return CLI_USAGE;
    }
    return 0;
}

static void print_agent_table(json_t *agents, int with_latest)
{
    size_t wn = 4, wv = 7;
    size_t i;
    json_t *a;
    json_array_foreach(agents, i, a)
    {
        size_t n = strlen(at_json_str(a, "name", "")), v = strlen(at_json_str(a, "version", ""));
        wn = n > wn ? n : wn;
        wv = v > wv ? v : wv;
    }
    printf("%-*s  %-*s  %-6s  %s\n", (int)wn, "NAME", (int)wv, "VERSION", "KIND", "DESCRIPTION");
    json_array_foreach(agents, i, a)
    {
        char ver[96];
        snprintf(ver, sizeof(ver), "%s%s", at_json_str(a, "version", ""),
                 with_latest && at_json_bool(a, "latest", 0) ? "*" : "");
        const char *desc = at_json_str(a, "description", "");
        printf("%-*s  %-*s  %-6s  %.60s%s\n", (int)wn, at_json_str(a, "name", ""), (int)wv, ver,
               at_json_str(a, "kind", ""), desc, strlen(desc) > 60 ? "..." : "");
    }
}

int cmd_ls(struct cli *c, int argc, char **argv)
{
    static const char *u = "usage: atlas ls [NAME] [--json]\n\n"
                           "Lists registered agents, every version (* marks the one NAME runs).\n";
    char *pos[1] = {NULL};
    int rc = simple_opts(c, argc, argv, u, 0, 1, pos);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/agents");
    if (pos[0]) {
        at_buf_puts(&path, "?name=");
        cli_path_escape(&path, pos[0]);
    }
    struct cli_resp r;
    rc = cli_get(c, at_buf_str(&path), &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    json_t *agents = json_object_get(r.body, "agents");
    if (c->json)
        cli_print_json(stdout, agents);
    else if (json_array_size(agents) == 0)
        printf("no agents registered (add one with `atlas register --path DIR`)\n");
    else
        print_agent_table(agents, 1);
    cli_resp_release(&r);
    return CLI_OK;
}

int cmd_search(struct cli *c, int argc, char **argv)
{
    static const char *u = "usage: atlas search TEXT [--json]\n\n"
                           "Finds agents whose name, description or capabilities contain every "
                           "word of TEXT.\n";
    char *pos[1] = {NULL};
    int rc = simple_opts(c, argc, argv, u, 1, 1, pos);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/search?q=");
    for (const char *p = pos[0]; *p; p++) {
        if (*p == ' ')
            at_buf_putc(&path, '+');
        else {
            char one[2] = {*p, 0};
            if (*p == '/' || *p == ':' || *p == '@')
                at_buf_printf(&path, "%%%02X", (unsigned char)*p);
            else
                cli_path_escape(&path, one);
        }
    }
    struct cli_resp r;
    rc = cli_get(c, at_buf_str(&path), &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    json_t *agents = json_object_get(r.body, "agents");
    if (c->json)
        cli_print_json(stdout, agents);
    else if (json_array_size(agents) == 0)
        printf("no agent matches \"%s\"\n", pos[0]);
    else
        print_agent_table(agents, 0);
    cli_resp_release(&r);
    return CLI_OK;
}

static void print_block(const char *title, json_t *v)
{
    if (!v || json_is_null(v))
        return;
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    printf("%s:\n", title);
    /* indent every line by two spaces */
    for (char *line = s, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        printf("  %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
        if (!nl)
            break;
    }
    free(s);
}

int cmd_describe(struct cli *c, int argc, char **argv)
{
    static const char *u = "usage: atlas describe NAME[:VERSION] [--json]\n\n"
                           "Shows an agent's contract: schemas, capabilities, requirements.\n";
    char *pos[1] = {NULL};
    int rc = simple_opts(c, argc, argv, u, 1, 1, pos);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/agents/");
    cli_path_escape(&path, pos[0]);
    struct cli_resp r;
    rc = cli_get(c, at_buf_str(&path), &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    json_t *a = r.body;
    if (c->json) {
        cli_print_json(stdout, a);
        cli_resp_release(&r);
        return CLI_OK;
    }
    printf("name:         %s\n", at_json_str(a, "name", ""));
    printf("version:      %s\n", at_json_str(a, "version", ""));
    json_t *versions = json_object_get(a, "versions");
    if (json_array_size(versions) > 1) {
        printf("versions:     ");
        size_t i;
        json_t *v;
        json_array_foreach(versions, i, v) printf("%s%s", i ? ", " : "", json_string_value(v));
        printf("\n");
    }
    printf("description:  %s\n", at_json_str(a, "description", ""));
    printf("type:         %s\n", at_json_str(a, "type", ""));
    printf("kind:         %s\n", at_json_str(a, "kind", ""));
    if (*at_json_str(a, "digest", ""))
        printf("digest:       %s\n", at_json_str(a, "digest", ""));
    printf("source:       %s\n", at_json_str(a, "source", ""));
    printf("registered:   %s\n", at_json_str(a, "registered_at", ""));
    json_t *caps = json_object_get(a, "capabilities");
    printf("capabilities: ");
    size_t i;
    json_t *v;
    json_array_foreach(caps, i, v) printf("%s%s", i ? ", " : "", json_string_value(v));
    printf("%s\n", json_array_size(caps) ? "" : "(none)");
    if (json_is_array(json_object_get(a, "entrypoint"))) {
        printf("entrypoint:   ");
        json_array_foreach(json_object_get(a, "entrypoint"), i, v)
            printf("%s%s", i ? " " : "", json_string_value(v));
        printf("\n");
    }
    if (json_is_string(json_object_get(a, "remote")))
        printf("remote:       %s\n", at_json_str(a, "remote", ""));
    print_block("input schema", json_object_get(a, "input_schema"));
    print_block("output schema", json_object_get(a, "output_schema"));
    print_block("requires", json_object_get(a, "requires"));
    print_block("model", json_object_get(a, "model"));
    print_block("hardware", json_object_get(a, "hardware"));
    print_block("dependencies", json_object_get(a, "dependencies"));
    print_block("lifecycle", json_object_get(a, "lifecycle"));
    cli_resp_release(&r);
    return CLI_OK;
}

int cmd_unregister(struct cli *c, int argc, char **argv)
{
    static const char *u = "usage: atlas unregister NAME[:VERSION] [--json]\n\n"
                           "Removes every version of NAME, or only NAME:VERSION.  Jobs already "
                           "queued still run.\n";
    char *pos[1] = {NULL};
    int rc = simple_opts(c, argc, argv, u, 1, 1, pos);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/agents/");
    cli_path_escape(&path, pos[0]);
    struct cli_resp r;
    rc = cli_http(c, "DELETE", at_buf_str(&path), NULL, NULL, &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    if (r.status >= 300) {
        rc = cli_print_problem(c, &r);
    } else if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        long long n = at_json_int(r.body, "versions", 0);
        printf("unregistered %s (%lld version%s)\n", pos[0], n, n == 1 ? "" : "s");
    }
    cli_resp_release(&r);
    return rc;
}
