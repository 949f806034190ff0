/* atlas review | rate: reviews and ratings recorded on this atlasd
 * (docs/distribution.md "Reviews, downloads, ratings"). */
#include "cli/cli.h"

#include "base/buf.h"
#include "base/str.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char review_u[] =
    "usage: atlas review NAME:VERSION --status unreviewed|community|verified [--note TEXT] "
    "[--json]\n\n"
    "Records this atlasd's review of an agent version (admin or reviewer role).\n"
    "The review is the trust block's review_status in `atlas describe`, is served\n"
    "with the agent's manifest from /v2/ (so a pull from this atlasd carries it)\n"
    "and is what registry.policy.minimum_review_status compares.\n\n"
    "options:\n"
    "  --status S   unreviewed, community or verified\n"
    "  --note TEXT  why (1000 bytes at most)\n"
    "  --json       print the result as JSON\n";

static const char rate_u[] =
    "usage: atlas rate NAME:VERSION 1-5 [--json]\n\n"
    "Records your rating of an agent version on this atlasd (run role); a new rating\n"
    "replaces your earlier one.  The mean is the trust block's rating.\n";

static void print_trust(const json_t *t)
{
    const json_t *rating = json_object_get(t, "rating");
    printf("review_status: %s\n", json_string_value(json_object_get(t, "review_status")));
    if (json_is_number(rating))
        printf("rating:        %.2f (%lld rating%s)\n", json_number_value(rating),
               (long long)json_integer_value(json_object_get(t, "ratings")),
               json_integer_value(json_object_get(t, "ratings")) == 1 ? "" : "s");
    else
        printf("rating:        (none)\n");
    printf("downloads:     %lld\n", (long long)json_integer_value(json_object_get(t, "downloads")));
}

static int post(struct cli *c, const char *ref, const char *what, json_t *body)
{
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/agents/");
    cli_path_escape(&path, ref);
    at_buf_puts(&path, what);
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
        printf("%s:%s (%s)\n", at_json_str(r.body, "name", "?"),
               at_json_str(r.body, "version", "?"), at_json_str(r.body, "digest", "?"));
        print_trust(json_object_get(r.body, "trust"));
    }
    cli_resp_release(&r);
    return rc;
}

int cmd_review(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(review_u, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *ref = NULL, *status = NULL, *note = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            c->json = 1;
        else if (!strcmp(argv[i], "--status") && i + 1 < argc)
            status = argv[++i];
        else if (!strcmp(argv[i], "--note") && i + 1 < argc)
            note = argv[++i];
        else if (argv[i][0] == '-')
            return cli_usage_error("review", review_u, "unknown option \"%s\"", argv[i]);
        else if (!ref)
            ref = argv[i];
        else
            return cli_usage_error("review", review_u, "unexpected argument %s", argv[i]);
    }
    if (!ref || !*ref)
        return cli_usage_error("review", review_u, "NAME:VERSION is required");
    if (!status || (strcmp(status, "unreviewed") != 0 && strcmp(status, "community") != 0 &&
                    strcmp(status, "verified") != 0))
        return cli_usage_error("review", review_u,
                               "--status unreviewed|community|verified is required");
    json_t *body = json_pack("{s:s}", "status", status);
    if (note)
        json_object_set_new(body, "note", json_string(note));
    return post(c, ref, "/review", body);
}

int cmd_rate(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(rate_u, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *pos[2] = {NULL, NULL};
    int np = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            c->json = 1;
        else if (argv[i][0] == '-')
            return cli_usage_error("rate", rate_u, "unknown option \"%s\"", argv[i]);
        else if (np < 2)
            pos[np++] = argv[i];
        else
            return cli_usage_error("rate", rate_u, "unexpected argument %s", argv[i]);
    }
    long long n = 0;
    if (np != 2 || !*pos[0] || at_parse_i64(pos[1], 1, 5, &n))
        return cli_usage_error("rate", rate_u, "NAME:VERSION and a rating of 1 to 5");
    return post(c, pos[0], "/rating", json_pack("{s:i}", "rating", (int)n));
}
