/* atlas ls | describe | search | unregister */
#include "cli/cli.h"
#include "cli/dist.h"

#include "base/alloc.h"
#include "cli/table.h"
#include "json/json.h"

#include <stdlib.h>
#include <string.h>

static const char *const name_arg[] = {"NAME"};

/* One table for ls and search: names and versions at full length (a name
 * can be 129 characters, a version as long as semver allows), the
 * description wrapped at 60 columns. */
static void print_agent_table(json_t *agents, int with_latest)
{
    static const struct cli_col cols[] = {
        {"NAME", CLI_LEFT, 0},
        {"VERSION", CLI_LEFT, 0},
        {"KIND", CLI_LEFT, 0},
        {"DESCRIPTION", CLI_LEFT, 60},
    };
    struct cli_table t;
    cli_table_init(&t, cols, 4);
    size_t i;
    json_t *a;
    json_array_foreach(agents, i, a)
    {
        cli_table_row(&t);
        cli_table_cell(&t, "%s", at_json_str(a, "name", ""));
        cli_table_cell(&t, "%s%s", at_json_str(a, "version", ""),
                       with_latest && at_json_bool(a, "latest", 0) ? "*" : "");
        cli_table_cell(&t, "%s", at_json_str(a, "kind", ""));
        cli_table_cell(&t, "%s", at_json_str(a, "description", ""));
    }
    cli_table_print(&t, stdout);
    cli_table_release(&t);
}

int cmd_ls(struct cli *c, int argc, char **argv)
{
    static const char *u = "usage: atlas ls [NAME] [--json]\n\n"
                           "Lists registered agents, every version (* marks the one NAME runs).\n";
    const char *pos[1] = {NULL};
    int rc = cli_simple_args(c, argc, argv, "ls", u, 0, 1, pos, name_arg);
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
        cli_print_json(stdout, r.body);
    else if (json_array_size(agents) == 0 && pos[0])
        printf("no agent named %s\n", pos[0]);
    else if (json_array_size(agents) == 0)
        printf("no agents registered (add one with `atlas register --path DIR`)\n");
    else
        print_agent_table(agents, 1);
    cli_resp_release(&r);
    return CLI_OK;
}

int cmd_search(struct cli *c, int argc, char **argv)
{
    static const char *u = "usage: atlas search TEXT [--remote [--registry HOST]] [--json]\n\n"
                           "Finds agents whose name, description or capabilities contain every "
                           "word of TEXT.\n"
                           "--remote searches an OCI registry instead (the default registry, or\n"
                           "--registry HOST): its catalog's repository names, plus its own\n"
                           "search when the registry is an atlasd.\n";
    static const char *const what[] = {"TEXT"};
    const char *pos[1] = {NULL};
    /* --remote and --registry HOST are taken out before the plain parse */
    int remote = 0;
    const char *reg = NULL;
    int n = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--remote")) {
            remote = 1;
        } else if (!strcmp(argv[i], "--registry") && i + 1 < argc) {
            reg = argv[++i];
            remote = 1;
        } else {
            argv[n++] = argv[i];
        }
    }
    argc = n;
    int rc = cli_simple_args(c, argc, argv, "search", u, 1, 1, pos, what);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (remote)
        return cli_search_remote(c, pos[0], reg);
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
        cli_print_json(stdout, r.body);
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

/* the trust block (docs/distribution.md "Trust and policy") */
static void print_trust_block(const json_t *t)
{
    if (!json_is_object(t))
        return;
    printf("trust:\n");
    printf("  publisher:     %s\n", at_json_str(t, "publisher", "(none)"));
    printf("  signed:        %s\n", json_is_true(json_object_get(t, "signed")) ? "true" : "false");
    printf("  verified:      %s\n",
           json_is_true(json_object_get(t, "verified")) ? "true" : "false");
    if (json_is_string(json_object_get(t, "signature")))
        printf("  signature:     %s\n", at_json_str(t, "signature", ""));
    printf("  scan_status:   %s\n", at_json_str(t, "scan_status", "not scanned"));
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(t, "findings"), i, f)
        printf("    %-7s %s: %s\n", at_json_str(f, "severity", "?"), at_json_str(f, "rule", "?"),
               at_json_str(f, "detail", ""));
    printf("  review_status: %s\n", at_json_str(t, "review_status", "unreviewed"));
    const json_t *rating = json_object_get(t, "rating");
    if (json_is_number(rating))
        printf("  rating:        %.2f (%lld)\n", json_number_value(rating),
               (long long)json_integer_value(json_object_get(t, "ratings")));
    else
        printf("  rating:        (none)\n");
    printf("  downloads:     %lld\n",
           (long long)json_integer_value(json_object_get(t, "downloads")));
}

int cmd_describe(struct cli *c, int argc, char **argv)
{
    static const char *u = "usage: atlas describe NAME[:VERSION] [--json]\n\n"
                           "Shows an agent's contract: schemas, capabilities, requirements.\n";
    const char *pos[1] = {NULL};
    int rc = cli_simple_args(c, argc, argv, "describe", u, 1, 1, pos, name_arg);
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
    /* the dependency build (docs/distribution.md "Dependency builds") */
    const json_t *b = json_object_get(a, "build");
    if (json_is_object(b)) {
        printf("build:        %s environment %s (lock %s, sandbox %s)\n",
               at_json_str(b, "kind", "?"), at_json_str(b, "env", "?"),
               at_json_str(b, "lock_digest", "?"), at_json_str(b, "sandbox", "?"));
        json_array_foreach(json_object_get(b, "packages"), i, v)
            printf("  %s %s\n", at_json_str(v, "name", "?"), at_json_str(v, "version", "?"));
    }
    print_trust_block(json_object_get(a, "trust"));
    cli_resp_release(&r);
    return CLI_OK;
}

int cmd_unregister(struct cli *c, int argc, char **argv)
{
    static const char *u = "usage: atlas unregister NAME[:VERSION] [--json]\n\n"
                           "Removes every version of NAME, or only NAME:VERSION.  Jobs already "
                           "queued still run.\n";
    const char *pos[1] = {NULL};
    int rc = cli_simple_args(c, argc, argv, "unregister", u, 1, 1, pos, name_arg);
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
