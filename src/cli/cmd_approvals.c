/* atlas approvals ls | show | approve | reject | modify | wait | propose | rules */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/err.h"
#include "cli/table.h"
#include "json/json.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char approvals_usage[] =
    "usage: atlas approvals ls [--state STATE] [--json]\n"
    "       atlas approvals show ID [--json]\n"
    "       atlas approvals approve ID [--hash HASH] [--why TEXT] [--json]\n"
    "       atlas approvals reject ID [--hash HASH] [--why TEXT] [--json]\n"
    "       atlas approvals modify ID --payload JSON|@FILE|- [--hash HASH] [--why TEXT] [--json]\n"
    "       atlas approvals wait ID [--timeout SECONDS] [--json]\n"
    "       atlas approvals propose --kind KIND --title TEXT --payload JSON|@FILE|-\n"
    "                               [--reason TEXT] [--evidence JSON|@FILE|-] [--json]\n"
    "       atlas approvals rules [--json]\n\n"
    "Proposals ask a person to widen what Atlas may do: a new agent or skill, a\n"
    "skill change, a dependency, a policy, orchestrator or config change, a tool fix\n"
    "(docs/supervisor.md).  A decision is bound to the content hash it was made on\n"
    "(--hash; by default the hash `show` prints now), is made once, and never by\n"
    "the identity that filed the proposal.  Approving executes exactly the approved\n"
    "content; modify replaces the payload and executes the edited one.  wait blocks\n"
    "until the proposal is decided (exit 0 when it was executed, 1 when it was\n"
    "rejected, expired or failed).  STATE: pending, approved, modified, rejected,\n"
    "expired, executing, done, failed.  rules lists the auto-approve rules in force:\n"
    "each is set by an approved policy proposal named approvals.auto_approve, and\n"
    "decides a new proposal of its kind whose evidence meets its conditions.\n";

static int finish(struct cli_resp *r, int rc)
{
    cli_resp_release(r);
    return rc;
}

static void path_for(struct at_buf *p, const char *id, const char *tail)
{
    at_buf_init(p, 4096);
    at_buf_puts(p, "/api/v1/approvals/");
    cli_path_escape(p, id);
    if (tail)
        at_buf_puts(p, tail);
}

static int ap_ls(struct cli *c, const char *state)
{
    struct at_buf p;
    at_buf_init(&p, 4096);
    at_buf_puts(&p, "/api/v1/approvals");
    if (state) {
        at_buf_puts(&p, "?state=");
        cli_path_escape(&p, state);
    }
    struct cli_resp r;
    int rc = cli_get(c, at_buf_str(&p), &r);
    at_buf_release(&p);
    if (rc)
        return rc;
    json_t *list = json_object_get(r.body, "approvals");
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else if (json_array_size(list) == 0) {
        printf("no proposals%s%s\n", state ? " in state " : "", state ? state : "");
    } else {
        static const struct cli_col cols[] = {
            {"ID", CLI_LEFT, 0},       {"KIND", CLI_LEFT, 0},   {"STATE", CLI_LEFT, 0},
            {"PROPOSER", CLI_LEFT, 0}, {"TITLE", CLI_LEFT, 60}, {"CREATED", CLI_LEFT, 0},
        };
        struct cli_table t;
        cli_table_init(&t, cols, 6);
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v)
        {
            cli_table_row(&t);
            cli_table_cell(&t, "%s", at_json_str(v, "id", ""));
            cli_table_cell(&t, "%s", at_json_str(v, "kind", ""));
            cli_table_cell(&t, "%s", at_json_str(v, "state", ""));
            cli_table_cell(&t, "%s", at_json_str(v, "proposer", ""));
            cli_table_cell(&t, "%s", at_json_str(v, "title", ""));
            cli_table_cell(&t, "%s", at_json_str(v, "created_at", ""));
        }
        cli_table_print(&t, stdout);
        cli_table_release(&t);
    }
    return finish(&r, CLI_OK);
}

static void print_block(const char *label, const json_t *v)
{
    if (!v)
        return;
    printf("%s\n", label);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        const char *line = s;
        while (*line) {
            const char *nl = strchr(line, '\n');
            size_t n = nl ? (size_t)(nl - line) : strlen(line);
            printf("    %.*s\n", (int)n, line);
            line += n + (nl ? 1 : 0);
        }
        return;
    }
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);
    const char *line = s ? s : "";
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        printf("    %.*s\n", (int)n, line);
        line += n + (nl ? 1 : 0);
    }
    free(s);
}

/* The certification package, for a person to review. */
static void render(const json_t *p)
{
    printf("proposal:   %s\n", at_json_str(p, "id", ""));
    printf("title:      %s\n", at_json_str(p, "title", ""));
    printf("kind:       %s%s\n", at_json_str(p, "kind", ""),
           json_is_false(json_object_get(p, "executable")) ? " (Atlas cannot execute it yet)" : "");
    printf("state:      %s\n", at_json_str(p, "state", ""));
    printf("proposer:   %s\n", at_json_str(p, "proposer", ""));
    printf("filed:      %s\n", at_json_str(p, "created_at", ""));
    printf("hash:       %s\n", at_json_str(p, "hash", ""));
    if (json_object_get(p, "reason"))
        printf("reason:     %s\n", at_json_str(p, "reason", ""));
    const json_t *pkg = json_object_get(p, "package");
    if (pkg) {
        int ok = json_is_true(json_object_get(p, "package_verified"));
        printf("package:    signed by %s: %s%s\n", at_json_str(pkg, "keyid", "?"),
               ok ? "signature verified" : "SIGNATURE DOES NOT VERIFY",
               strcmp(at_json_str(pkg, "hash", ""), at_json_str(p, "hash", "")) != 0
                   ? " (sealed before the payload was edited)"
                   : "");
    } else {
        printf("package:    none (unsigned)\n");
    }
    print_block("payload:", json_object_get(p, "payload"));
    const json_t *ev = json_object_get(p, "evidence");
    if (ev) {
        print_block("diff:", json_object_get(ev, "diff"));
        print_block("checks:", json_object_get(ev, "checks"));
        const json_t *au = json_object_get(ev, "auditor");
        if (au) {
            const json_t *score = json_object_get(au, "score");
            if (json_is_number(score))
                printf("auditor:    score %.2f\n", json_number_value(score));
            print_block("auditor findings:", json_object_get(au, "findings"));
        }
        print_block("impact:", json_object_get(ev, "impact"));
        print_block("spec:", json_object_get(ev, "spec"));
        print_block("notes:", json_object_get(ev, "notes"));
    }
    const json_t *dec = json_object_get(p, "decision");
    if (dec)
        printf("decision:   %s by %s at %s%s%s\n", at_json_str(dec, "action", ""),
               at_json_str(dec, "by", ""), at_json_str(dec, "at", ""),
               json_object_get(dec, "why") ? ": " : "", at_json_str(dec, "why", ""));
    print_block("original payload (before modify):", json_object_get(p, "original_payload"));
    print_block("result:", json_object_get(p, "result"));
    const json_t *err = json_object_get(p, "error");
    if (err)
        printf("error:      %s\n", at_json_str(err, "message", ""));
    const json_t *h = json_object_get(p, "history");
    if (json_array_size(h)) {
        printf("history:\n");
        size_t i;
        json_t *v;
        json_array_foreach(h, i, v)
            printf("    %s  %-10s %s%s%s\n", at_json_str(v, "at", ""), at_json_str(v, "state", ""),
                   at_json_str(v, "by", ""), json_object_get(v, "why") ? ": " : "",
                   at_json_str(v, "why", ""));
    }
}

static int ap_show(struct cli *c, const char *id)
{
    struct at_buf p;
    path_for(&p, id, NULL);
    struct cli_resp r;
    int rc = cli_get(c, at_buf_str(&p), &r);
    at_buf_release(&p);
    if (rc)
        return rc;
    if (c->json)
        cli_print_json(stdout, r.body);
    else
        render(r.body);
    return finish(&r, CLI_OK);
}

static int ap_decide(struct cli *c, const char *action, int argc, char **argv)
{
    static const struct option opts[] = {
        {"hash", required_argument, NULL, 'H'},    {"why", required_argument, NULL, 'w'},
        {"payload", required_argument, NULL, 'p'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    char cmd[48];
    snprintf(cmd, sizeof(cmd), "approvals %s", action);
    const char *hash = NULL, *why = NULL, *payload_arg = NULL;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":H:w:p:h", opts, NULL)) != -1) {
        switch (o) {
        case 'H':
            hash = optarg;
            break;
        case 'w':
            why = optarg;
            break;
        case 'p':
            payload_arg = optarg;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            fputs(approvals_usage, stdout);
            return CLI_OK;
        default:
            return cli_opt_error(cmd, approvals_usage, argv, o);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(cmd, approvals_usage, "one proposal ID is required");
    const char *id = argv[optind];
    if (cli_need(cmd, "ID", id))
        return CLI_USAGE;
    int modify = !strcmp(action, "modify");
    if (modify != !!payload_arg)
        return cli_usage_error(cmd, approvals_usage, "%s",
                               modify ? "modify needs --payload" : "--payload is for modify only");
    json_t *payload = NULL;
    if (payload_arg && cli_read_json_arg(payload_arg, &payload))
        return CLI_USAGE;
    struct at_buf p;
    struct cli_resp r;
    int rc;
    char seen[96] = "";
    if (!hash) {
        /* the content as it is now: the person deciding at this terminal */
        path_for(&p, id, NULL);
        rc = cli_get(c, at_buf_str(&p), &r);
        at_buf_release(&p);
        if (rc) {
            json_decref(payload);
            return rc;
        }
        snprintf(seen, sizeof(seen), "%s", at_json_str(r.body, "hash", ""));
        if (!c->json && !c->quiet)
            fprintf(stderr, "%s %s \"%s\" (%s, %s)\n", action, id, at_json_str(r.body, "title", ""),
                    at_json_str(r.body, "kind", ""), seen);
        cli_resp_release(&r);
        hash = seen;
    }
    json_t *body = json_pack("{s:s,s:s?,s:o?}", "hash", hash, "why", why, "payload", payload);
    char *s = at_json_dumps(body);
    json_decref(body);
    char tail[16];
    snprintf(tail, sizeof(tail), "/%s", action);
    path_for(&p, id, tail);
    rc = cli_http(c, "POST", at_buf_str(&p), s, NULL, &r);
    at_buf_release(&p);
    free(s);
    if (rc)
        return rc;
    if (r.status >= 300)
        return finish(&r, cli_print_problem(c, &r));
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        const char *st = at_json_str(r.body, "state", "?");
        printf("%s: %s\n", id, st);
        const json_t *err = json_object_get(r.body, "error");
        if (err)
            printf("error: %s\n", at_json_str(err, "message", ""));
    }
    rc = !strcmp(at_json_str(r.body, "state", ""), "failed") ? CLI_FAILED : CLI_OK;
    return finish(&r, rc);
}

static int ap_wait(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double timeout = 0;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":t:h", opts, NULL)) != -1) {
        switch (o) {
        case 't': {
            char *end;
            timeout = strtod(optarg, &end);
            if (*end || timeout < 0)
                return cli_usage_error("approvals wait", approvals_usage,
                                       "--timeout must be a number of seconds");
            break;
        }
        case 'j':
            c->json = 1;
            break;
        case 'h':
            fputs(approvals_usage, stdout);
            return CLI_OK;
        default:
            return cli_opt_error("approvals wait", approvals_usage, argv, o);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("approvals wait", approvals_usage, "one proposal ID is required");
    const char *id = argv[optind];
    if (cli_need("approvals wait", "ID", id))
        return CLI_USAGE;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct at_buf p;
        path_for(&p, id, NULL);
        struct cli_resp r;
        int rc = cli_get(c, at_buf_str(&p), &r);
        at_buf_release(&p);
        if (rc)
            return rc;
        const char *st = at_json_str(r.body, "state", "");
        if (strcmp(st, "pending") != 0 && strcmp(st, "approved") != 0 &&
            strcmp(st, "modified") != 0 && strcmp(st, "executing") != 0) {
            if (c->json)
                cli_print_json(stdout, r.body);
            else
                printf("%s: %s\n", id, st);
            return finish(&r, !strcmp(st, "done") ? CLI_OK : CLI_FAILED);
        }
        char state[32];
        snprintf(state, sizeof(state), "%s", st);
        cli_resp_release(&r);
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (timeout > 0 && el >= timeout) {
            fprintf(stderr, "atlas: proposal %s is still %s after %g s\n", id, state, timeout);
            return CLI_FAILED;
        }
        usleep(300 * 1000);
    }
}

static int ap_propose(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"kind", required_argument, NULL, 'k'},     {"title", required_argument, NULL, 't'},
        {"payload", required_argument, NULL, 'p'},  {"reason", required_argument, NULL, 'r'},
        {"evidence", required_argument, NULL, 'e'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *kind = NULL, *title = NULL, *pay = NULL, *reason = NULL, *ev = NULL;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":k:t:p:r:e:h", opts, NULL)) != -1) {
        switch (o) {
        case 'k':
            kind = optarg;
            break;
        case 't':
            title = optarg;
            break;
        case 'p':
            pay = optarg;
            break;
        case 'r':
            reason = optarg;
            break;
        case 'e':
            ev = optarg;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            fputs(approvals_usage, stdout);
            return CLI_OK;
        default:
            return cli_opt_error("approvals propose", approvals_usage, argv, o);
        }
    }
    if (optind != argc)
        return cli_usage_error("approvals propose", approvals_usage, "unexpected argument \"%s\"",
                               argv[optind]);
    if (!kind || !title || !pay)
        return cli_usage_error("approvals propose", approvals_usage,
                               "--kind, --title and --payload are required");
    json_t *payload = NULL, *evidence = NULL;
    if (cli_read_json_arg(pay, &payload))
        return CLI_USAGE;
    if (ev && cli_read_json_arg(ev, &evidence)) {
        json_decref(payload);
        return CLI_USAGE;
    }
    json_t *body = json_pack("{s:s,s:s,s:o,s:s?,s:o?}", "kind", kind, "title", title, "payload",
                             payload, "reason", reason, "evidence", evidence);
    char *s = at_json_dumps(body);
    json_decref(body);
    struct cli_resp r;
    int rc = cli_http(c, "POST", "/api/v1/approvals", s, NULL, &r);
    free(s);
    if (rc)
        return rc;
    if (r.status >= 300)
        return finish(&r, cli_print_problem(c, &r));
    if (c->json)
        cli_print_json(stdout, r.body);
    else
        printf("%s %s\n", at_json_str(r.body, "id", ""), at_json_str(r.body, "hash", ""));
    const char *state = at_json_str(r.body, "state", "pending");
    if (!c->json && strcmp(state, "pending") != 0)
        fprintf(stderr, "%s: approved automatically (%s), now %s\n", at_json_str(r.body, "id", ""),
                at_json_str(json_object_get(r.body, "decision"), "why", "an auto-approve rule"),
                state);
    return finish(&r, CLI_OK);
}

static int ap_rules(struct cli *c)
{
    struct cli_resp r;
    int rc = cli_get(c, "/api/v1/approvals/rules", &r);
    if (rc)
        return rc;
    json_t *list = json_object_get(r.body, "rules");
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else if (json_array_size(list) == 0) {
        printf("no auto-approve rules: every proposal waits for a person\n");
    } else {
        static const struct cli_col cols[] = {
            {"KIND", CLI_LEFT, 0},     {"CHECKS", CLI_LEFT, 0},      {"AUDITOR", CLI_LEFT, 0},
            {"PROPOSAL", CLI_LEFT, 0}, {"APPROVED BY", CLI_LEFT, 0}, {"SET", CLI_LEFT, 0},
        };
        struct cli_table t;
        cli_table_init(&t, cols, 6);
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v)
        {
            cli_table_row(&t);
            cli_table_cell(&t, "%s", at_json_str(v, "kind", ""));
            cli_table_cell(&t, "%s",
                           json_is_true(json_object_get(v, "checks_pass")) ? "all pass" : "-");
            const json_t *min = json_object_get(v, "auditor_score_min");
            if (json_is_number(min))
                cli_table_cell(&t, ">= %.2f", json_number_value(min));
            else
                cli_table_cell(&t, "-");
            cli_table_cell(&t, "%s", at_json_str(v, "proposal", ""));
            cli_table_cell(&t, "%s", at_json_str(v, "approved_by", ""));
            cli_table_cell(&t, "%s", at_json_str(v, "set_at", ""));
        }
        cli_table_print(&t, stdout);
        cli_table_release(&t);
    }
    return finish(&r, CLI_OK);
}

int cmd_approvals(struct cli *c, int argc, char **argv)
{
    while (argc > 1 && !strcmp(argv[1], "--json")) {
        c->json = 1;
        argv[1] = argv[0];
        argc--;
        argv++;
    }
    if (argc < 2) {
        fputs(approvals_usage, stderr);
        return CLI_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
        fputs(approvals_usage, stdout);
        return CLI_OK;
    }
    if (!strcmp(sub, "approve") || !strcmp(sub, "reject") || !strcmp(sub, "modify"))
        return ap_decide(c, sub, argc - 1, argv + 1);
    if (!strcmp(sub, "wait"))
        return ap_wait(c, argc - 1, argv + 1);
    if (!strcmp(sub, "propose"))
        return ap_propose(c, argc - 1, argv + 1);
    if (!strcmp(sub, "ls")) {
        static const struct option opts[] = {
            {"state", required_argument, NULL, 's'},
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        const char *state = NULL;
        int o;
        optind = 1;
        argc--;
        argv++;
        while ((o = getopt_long(argc, argv, ":s:h", opts, NULL)) != -1) {
            switch (o) {
            case 's':
                state = optarg;
                break;
            case 'j':
                c->json = 1;
                break;
            case 'h':
                fputs(approvals_usage, stdout);
                return CLI_OK;
            default:
                return cli_opt_error("approvals ls", approvals_usage, argv, o);
            }
        }
        if (optind != argc)
            return cli_usage_error("approvals ls", approvals_usage, "unexpected argument \"%s\"",
                                   argv[optind]);
        return ap_ls(c, state);
    }
    if (!strcmp(sub, "rules")) {
        int rc = cli_simple_args(c, argc - 1, argv + 1, "approvals rules", approvals_usage, 0, 0,
                                 NULL, NULL);
        if (rc)
            return rc < 0 ? CLI_OK : rc;
        return ap_rules(c);
    }
    if (!strcmp(sub, "show")) {
        static const char *const what[] = {"ID"};
        const char *pos[1] = {NULL};
        int rc = cli_simple_args(c, argc - 1, argv + 1, "approvals show", approvals_usage, 1, 1,
                                 pos, what);
        if (rc)
            return rc < 0 ? CLI_OK : rc;
        return ap_show(c, pos[0]);
    }
    return cli_usage_error("approvals", approvals_usage, "unknown %s \"%s\"",
                           sub[0] == '-' ? "option" : "subcommand", sub);
}
