/* atlas skill ls|describe|register|rm|invoke|review|push|pull (docs/skills.md) */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "cli/dist.h"
#include "cli/table.h"
#include "dist/client.h"
#include "dist/oci.h"
#include "dist/sign.h"
#include "dist/trust.h"
#include "contract/yaml.h"
#include "json/json.h"
#include "skills/skills.h"

#include <limits.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: atlas skill ls [--json]\n"
    "       atlas skill describe NAME[@VERSION] [--json]\n"
    "       atlas skill register FILE|DIR [--version V] [--force] [--json]\n"
    "       atlas skill rm NAME[@VERSION] [--json]\n"
    "       atlas skill invoke NAME --input JSON [--json]\n"
    "       atlas skill review NAME[@VERSION]|FILE|DIR --status community|verified|unreviewed\n"
    "                          [--note TEXT] [--json]\n"
    "       atlas skill push NAME[@VERSION] [REGISTRY/]REPO[:TAG] [--sign] [--key NAME] [--json]\n"
    "       atlas skill pull [REGISTRY/]REPO[:TAG|@DIGEST] [--force] [--json]\n";

/* A skill as an OCI artifact (docs/skills.md "Marketplace"): an image
 * manifest of artifactType AT_SKILL_ARTIFACT, the empty config, and one
 * layer: the skill's definition (SKILL.md folders carry their scripts in
 * it), the annotations naming it. */
#define AT_SKILL_ARTIFACT AT_DIST_SKILL_ARTIFACT
#define AT_SKILL_LAYER AT_DIST_SKILL_LAYER

/* The image layout the signatures pass through (atlas push's cache). */
static char *oci_cache_root(void)
{
    const char *e = getenv("ATLAS_OCI_CACHE");
    if (e && *e)
        return at_strdup(e);
    const char *x = getenv("XDG_CACHE_HOME");
    if (x && *x)
        return at_asprintf("%s/atlas/oci", x);
    const char *h = getenv("HOME");
    return at_asprintf("%s/.cache/atlas/oci", h && *h ? h : "/tmp");
}

static int print_result(struct cli *c, struct cli_resp *r, int ok_status, const char *done)
{
    int rc = CLI_OK;
    if (r->status != ok_status)
        rc = cli_print_problem(c, r);
    else if (c->json || !done)
        cli_print_json(stdout, r->body);
    else
        printf("%s\n", done);
    cli_resp_release(r);
    return rc;
}

static int skill_ls(struct cli *c)
{
    struct cli_resp r;
    int rc = cli_get(c, "/api/v1/skills", &r);
    if (rc)
        return rc;
    if (r.status != 200 || c->json)
        return print_result(c, &r, 200, NULL);
    static const struct cli_col cols[] = {{"NAME", CLI_LEFT, 0},   {"VERSION", CLI_LEFT, 0},
                                          {"KIND", CLI_LEFT, 0},   {"STATE", CLI_LEFT, 0},
                                          {"REVIEW", CLI_LEFT, 0}, {"DESCRIPTION", CLI_LEFT, 60}};
    struct cli_table t;
    cli_table_init(&t, cols, 6);
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(r.body, "skills"), i, row)
    {
        cli_table_row(&t);
        cli_table_cell(&t, "%s", at_json_str(row, "name", ""));
        cli_table_cell(&t, "%s", at_json_str(row, "version", ""));
        cli_table_cell(&t, "%s", at_json_str(row, "kind", ""));
        cli_table_cell(&t, "%s", at_json_bool(row, "enabled", 0) ? "on" : "off");
        cli_table_cell(&t, "%s", at_json_str(row, "review_status", "-"));
        cli_table_cell(&t, "%s", at_json_str(row, "description", ""));
    }
    cli_table_print(&t, stdout);
    cli_table_release(&t);
    cli_resp_release(&r);
    return CLI_OK;
}

static void skill_path(struct at_buf *b, const char *ref, const char *suffix)
{
    char name[256];
    snprintf(name, sizeof(name), "%s", ref);
    char *at = strchr(name, '@');
    if (at)
        *at = '\0';
    at_buf_init(b, 4096);
    at_buf_puts(b, "/api/v1/skills/");
    cli_path_escape(b, name);
    if (suffix)
        at_buf_puts(b, suffix);
    if (at) {
        at_buf_puts(b, "?version=");
        cli_path_escape(b, at + 1);
    }
}

static int skill_describe(struct cli *c, const char *ref)
{
    struct at_buf p;
    skill_path(&p, ref, NULL);
    struct cli_resp r;
    int rc = cli_get(c, at_buf_str(&p), &r);
    at_buf_release(&p);
    if (rc)
        return rc;
    return print_result(c, &r, 200, NULL);
}

/* A definition file (YAML or JSON) as JSON, or NULL with the reason printed. */
static json_t *def_file(const char *arg)
{
    struct at_yaml_doc doc = {0};
    struct at_diag d;
    at_diag_clear(&d);
    if (at_yaml_load_file(&doc, arg, &d)) {
        char msg[1200];
        fprintf(stderr, "atlas: %s\n", at_diag_format(&d, msg, sizeof(msg)));
        at_yaml_doc_release(&doc);
        return NULL;
    }
    json_t *body = json_incref(doc.root);
    at_yaml_doc_release(&doc);
    if (!json_is_object(body)) {
        fprintf(stderr, "atlas: %s: a skill definition is a mapping\n", arg);
        json_decref(body);
        return NULL;
    }
    return body;
}

static int skill_register(struct cli *c, const char *arg, const char *version, int force)
{
    json_t *body = NULL;
    if (at_fs_is_dir(arg)) {
        char abs[PATH_MAX];
        if (!realpath(arg, abs)) {
            fprintf(stderr, "atlas: %s: cannot resolve the path\n", arg);
            return CLI_USAGE;
        }
        body = json_pack("{s:s}", "path", abs);
        if (version)
            json_object_set_new(body, "version", json_string(version));
    } else {
        body = def_file(arg);
        if (!body)
            return CLI_USAGE;
        if (version)
            json_object_set_new(body, "version", json_string(version));
    }
    if (force)
        json_object_set_new(body, "force", json_true());
    char *text = at_json_dumps(body);
    json_decref(body);
    struct cli_resp r;
    int rc = cli_http(c, "POST", "/api/v1/skills", text, NULL, &r);
    free(text);
    if (rc)
        return rc;
    if (r.status == 202) /* approvals.require: a proposal is pending */
        return print_result(c, &r, 202, "pending approval (atlas approvals ls --state pending)");
    char done[300];
    snprintf(done, sizeof(done), "installed skill %s@%s (%s)", at_json_str(r.body, "name", "?"),
             at_json_str(r.body, "version", "?"), at_json_str(r.body, "kind", "?"));
    return print_result(c, &r, 201, done);
}

/* atlas skill review: of an installed skill, or of a file or a SKILL.md
 * folder before it is installed (the review is of the content digest). */
static int skill_review(struct cli *c, const char *arg, const char *status, const char *note)
{
    static const char *const ok[] = {"unreviewed", "community", "verified", NULL};
    int good = 0;
    for (size_t i = 0; status && ok[i]; i++)
        good |= !strcmp(status, ok[i]);
    if (!good)
        return cli_usage_error("skill", usage_text,
                               "review needs --status community, verified or unreviewed");
    json_t *body = json_pack("{s:s}", "status", status);
    if (note)
        json_object_set_new(body, "note", json_string(note));
    char name[256] = "";
    if (at_fs_is_dir(arg)) {
        char abs[PATH_MAX], *md = NULL;
        size_t len = 0;
        json_t *parsed = NULL;
        char *p = at_asprintf("%s/SKILL.md", arg);
        int bad = !realpath(arg, abs) || at_fs_read_file(p, 1u << 20, &md, &len) ||
                  at_skillmd_parse(md, len, &parsed, NULL);
        free(p);
        free(md);
        if (bad) {
            fprintf(stderr, "atlas: %s: not a SKILL.md folder\n", arg);
            json_decref(parsed);
            json_decref(body);
            return CLI_USAGE;
        }
        snprintf(name, sizeof(name), "%s", at_json_str(parsed, "name", ""));
        json_decref(parsed);
        json_object_set_new(body, "path", json_string(abs));
    } else if (access(arg, F_OK) == 0) {
        json_t *def = def_file(arg);
        if (!def) {
            json_decref(body);
            return CLI_USAGE;
        }
        snprintf(name, sizeof(name), "%s", at_json_str(def, "name", ""));
        json_object_set_new(body, "definition", def);
    } else {
        snprintf(name, sizeof(name), "%s", arg);
        char *at = strchr(name, '@');
        if (at) {
            json_object_set_new(body, "version", json_string(at + 1));
            *at = '\0';
        }
    }
    struct at_buf p;
    skill_path(&p, name, "/review");
    char *text = at_json_dumps(body);
    json_decref(body);
    struct cli_resp r;
    int rc = cli_http(c, "POST", at_buf_str(&p), text, NULL, &r);
    free(text);
    at_buf_release(&p);
    if (rc)
        return rc;
    char done[400];
    snprintf(done, sizeof(done), "skill %s@%s (%s): review_status %s",
             at_json_str(r.body, "name", "?"), at_json_str(r.body, "version", "?"),
             at_json_str(r.body, "digest", "?"), at_json_str(r.body, "review_status", "?"));
    return print_result(c, &r, 200, done);
}

static int skill_rm(struct cli *c, const char *ref)
{
    struct at_buf p;
    skill_path(&p, ref, NULL);
    struct cli_resp r;
    int rc = cli_http(c, "DELETE", at_buf_str(&p), NULL, NULL, &r);
    at_buf_release(&p);
    if (rc)
        return rc;
    char done[300];
    snprintf(done, sizeof(done), "removed %s", ref);
    return print_result(c, &r, 200, done);
}

static int skill_invoke(struct cli *c, const char *ref, const char *input)
{
    json_t *in = NULL;
    if (input && cli_read_json_arg(input, &in))
        return CLI_USAGE;
    json_t *body = json_pack("{s:o}", "input", in ? in : json_object());
    char *text = at_json_dumps(body);
    json_decref(body);
    struct at_buf p;
    skill_path(&p, ref, "/invoke");
    struct cli_resp r;
    int rc = cli_http(c, "POST", at_buf_str(&p), text, NULL, &r);
    at_buf_release(&p);
    free(text);
    if (rc)
        return rc;
    return print_result(c, &r, 200, NULL);
}

/* the portable part of a definition: what the daemon computed goes */
static json_t *portable(const json_t *def)
{
    json_t *p = json_deep_copy(def);
    const char *drop[] = {"enabled", "reason",        "versions", "server", "registered_ms",
                          "source",  "review_status", "review",   "digest"};
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        json_object_del(p, drop[i]);
    json_t *md = json_object_get(p, "skillmd");
    if (md) {
        json_object_del(md, "dir");
        json_object_del(md, "scripts");
    }
    return p;
}

static int fail_diag(const struct at_diag *d)
{
    char msg[1200];
    fprintf(stderr, "atlas: %s\n", at_diag_format(d, msg, sizeof(msg)));
    return CLI_FAILED;
}

static int skill_push(struct cli *c, const char *skill, const char *refstr, int sign,
                      const char *key)
{
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    char publisher[128] = "";
    if (sign) {
        char why[300];
        if (sodium_init() < 0 || cli_key_load(key, sk, publisher, why, sizeof(why))) {
            fprintf(stderr, "atlas skill push: %s\n", why);
            return CLI_FAILED;
        }
    }
    struct at_buf p;
    skill_path(&p, skill, NULL);
    struct cli_resp r;
    int rc = cli_get(c, at_buf_str(&p), &r);
    at_buf_release(&p);
    if (rc)
        return rc;
    if (r.status != 200)
        return print_result(c, &r, 200, NULL);
    if (!strcmp(at_json_str(r.body, "kind", ""), "builtin")) {
        fprintf(stderr, "atlas: %s is a built-in skill: every atlasd has it\n", skill);
        cli_resp_release(&r);
        return CLI_USAGE;
    }
    json_t *def = portable(r.body);
    cli_resp_release(&r);
    struct at_diag d;
    at_diag_clear(&d);
    char *reg = cli_registry_default(NULL);
    struct at_oci_ref ref;
    rc = at_oci_ref_parse(refstr, reg, &ref, &d);
    free(reg);
    if (rc) {
        json_decref(def);
        return fail_diag(&d);
    }
    const char *version = at_json_str(def, "version", "");
    const char *tag = ref.tag[0] ? ref.tag : version;
    char *body = at_json_dumps(def);
    size_t blen = strlen(body);
    char ldigest[AT_OCI_DIGEST_MAX], cdigest[AT_OCI_DIGEST_MAX];
    at_oci_digest_bytes(body, blen, ldigest);
    at_oci_digest_bytes("{}", 2, cdigest);
    const char *tmpd = getenv("TMPDIR");
    char *lpath =
        at_asprintf("%s/atlas-skill-%d.json", tmpd && *tmpd ? tmpd : "/tmp", (int)getpid());
    char *cpath = at_asprintf("%s.config", lpath);
    struct at_oci_client *cl = NULL;
    rc = at_fs_write_atomic(lpath, body, blen, 0600);
    if (!rc)
        rc = at_fs_write_atomic(cpath, "{}", 2, 0600);
    if (rc)
        at_diag_set(&d, rc, lpath, 0, 0, "cannot write a temporary file");
    if (!rc) {
        char *auth = cli_registry_auth();
        rc = at_oci_client_new(ref.registry, auth, 0, &cl, &d);
        free(auth);
    }
    if (!rc)
        rc = at_oci_blob_put(cl, ref.repo, cdigest, cpath, &d);
    if (!rc)
        rc = at_oci_blob_put(cl, ref.repo, ldigest, lpath, &d);
    char *manifest = NULL;
    char mdigest[AT_OCI_DIGEST_MAX] = "";
    if (!rc) {
        json_t *m =
            json_pack("{s:i,s:s,s:s,s:{s:s,s:s,s:i},s:[{s:s,s:s,s:I}],s:{s:s,s:s,s:s,s:s}}",
                      "schemaVersion", 2, "mediaType", AT_OCI_MANIFEST_TYPE, "artifactType",
                      AT_SKILL_ARTIFACT, "config", "mediaType", AT_OCI_EMPTY_TYPE, "digest",
                      cdigest, "size", 2, "layers", "mediaType", AT_SKILL_LAYER, "digest", ldigest,
                      "size", (json_int_t)blen, "annotations", "org.opencontainers.image.title",
                      at_json_str(def, "name", ""), "org.opencontainers.image.version", version,
                      "org.opencontainers.image.description", at_json_str(def, "description", ""),
                      "vnd.atlas.skill.kind", at_json_str(def, "kind", ""));
        manifest = at_json_dumps(m);
        json_decref(m);
        at_oci_digest_bytes(manifest, strlen(manifest), mdigest);
        rc = at_oci_manifest_put(cl, ref.repo, tag, manifest, strlen(manifest),
                                 AT_OCI_MANIFEST_TYPE, &d);
    }
    if (!rc && sign) {
        /* the same signature as an agent's: a DSSE envelope over the
         * manifest digest, an OCI referrer of it */
        size_t elen = 0;
        char *env = at_sig_envelope(publisher, at_json_str(def, "name", ""), version, mdigest,
                                    (int64_t)strlen(manifest), sk, &elen);
        char *root = oci_cache_root();
        rc = at_dist_push_signature(cl, root, ref.repo, mdigest, (int64_t)strlen(manifest), env,
                                    elen, publisher, &d);
        free(root);
        free(env);
    }
    sodium_memzero(sk, sizeof(sk));
    unlink(lpath);
    unlink(cpath);
    free(lpath);
    free(cpath);
    free(manifest);
    free(body);
    at_oci_client_free(cl);
    if (rc) {
        json_decref(def);
        return fail_diag(&d);
    }
    if (c->json) {
        json_t *o =
            json_pack("{s:s,s:s,s:s,s:s?}", "pushed", at_json_str(def, "name", ""), "reference",
                      refstr, "digest", mdigest, "signed_by", sign ? publisher : NULL);
        cli_print_json(stdout, o);
        json_decref(o);
    } else {
        printf("pushed skill %s@%s to %s/%s:%s (%s)%s%s\n", at_json_str(def, "name", ""), version,
               ref.registry, ref.repo, tag, mdigest, sign ? ", signed by " : "",
               sign ? publisher : "");
    }
    json_decref(def);
    return CLI_OK;
}

static int skill_pull(struct cli *c, const char *refstr, int force)
{
    struct at_diag d;
    at_diag_clear(&d);
    char *reg = cli_registry_default(NULL);
    struct at_oci_ref ref;
    int rc = at_oci_ref_parse(refstr, reg, &ref, &d);
    free(reg);
    if (rc)
        return fail_diag(&d);
    struct at_oci_client *cl = NULL;
    char *body = NULL, *def_text = NULL;
    size_t len = 0, dlen = 0;
    char mt[AT_OCI_TYPE_MAX], digest[AT_OCI_DIGEST_MAX];
    struct at_oci_manifest m = {0};
    const char *tmpd = getenv("TMPDIR");
    char *lpath =
        at_asprintf("%s/atlas-skill-pull-%d.json", tmpd && *tmpd ? tmpd : "/tmp", (int)getpid());
    char *auth = cli_registry_auth();
    rc = at_oci_client_new(ref.registry, auth, 0, &cl, &d);
    free(auth);
    if (!rc)
        rc = at_oci_manifest_get(cl, ref.repo,
                                 ref.digest[0] ? ref.digest
                                 : ref.tag[0]  ? ref.tag
                                               : "latest",
                                 &body, &len, mt, digest, &d);
    if (!rc)
        rc = at_oci_manifest_parse(body, len, &m, &d);
    if (!rc &&
        (strcmp(m.artifact_type, AT_SKILL_ARTIFACT) != 0 || m.nlayers != 1 ||
         strcmp(m.layers[0].media_type, AT_SKILL_LAYER) != 0 || m.layers[0].size > (256 << 10)))
        rc = at_diag_set(&d, AT_EINVAL, NULL, 0, 0,
                         "%s is not an Atlas skill (artifactType %s with one definition layer); "
                         "agents are pulled with atlas pull",
                         refstr, AT_SKILL_ARTIFACT);
    if (!rc)
        rc = at_oci_blob_get(cl, ref.repo, m.layers[0].digest, m.layers[0].size, lpath, &d);
    if (!rc && (rc = at_fs_read_file(lpath, 256u << 10, &def_text, &dlen)))
        at_diag_set(&d, rc, lpath, 0, 0, "cannot read the downloaded definition");
    unlink(lpath);
    free(lpath);
    /* its signatures: the daemon checks them against its trusted keys */
    json_t *envs = NULL;
    if (!rc) {
        char *root = oci_cache_root();
        rc = at_dist_fetch_signatures(cl, root, ref.repo, digest, &envs, &d);
        free(root);
    }
    at_oci_manifest_release(&m);
    at_oci_client_free(cl);
    if (rc) {
        free(body);
        free(def_text);
        json_decref(envs);
        return fail_diag(&d);
    }
    /* one recorded action: the daemon checks the artifact, applies
     * registry.policy, installs it and audits skill.installed */
    json_t *req = json_pack("{s:{s:s%,s:s%,s:o,s:s},s:s,s:b}", "artifact", "manifest", body, len,
                            "definition", def_text, dlen, "signatures", envs, "source", refstr,
                            "reference", refstr, "force", force);
    free(body);
    free(def_text);
    char *text = at_json_dumps(req);
    json_decref(req);
    struct cli_resp r;
    rc = cli_http(c, "POST", "/api/v1/skills", text, NULL, &r);
    free(text);
    if (rc)
        return rc;
    char done[400];
    snprintf(done, sizeof(done), "installed skill %s@%s (%s) from %s",
             at_json_str(r.body, "name", "?"), at_json_str(r.body, "version", "?"),
             at_json_str(r.body, "kind", "?"), digest);
    return print_result(c, &r, 201, done);
}

int cmd_skill(struct cli *c, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("%s\nSkills (docs/skills.md): platform capabilities an agent declares in\n"
               "requires.skills and calls inside its job (context.skill in the SDKs).\n"
               "Built-ins: file-ops, code-execution, memory, http, web-search.  register\n"
               "installs a skill definition (YAML or JSON: kind mcp, with mcp.command for a\n"
               "stdio server, mcp.sandbox to run it in the sandbox with the declared paths,\n"
               "or mcp.url for a Streamable HTTP one with mcp.headers, ${secret:NAME} from\n"
               "atlas secret; or kind agent) or a SKILL.md folder; each install and removal\n"
               "is an audit record, and registry.policy applies (minimum_review_status: see\n"
               "review).  invoke runs a skill as you (a user: your own workspace, no scope,\n"
               "no network).\n\n"
               "options:\n"
               "  --version V   (register) the version to install as\n"
               "  --force       (register, pull) replace the same version with another definition\n"
               "  --sign        (push) sign the artifact as atlas push --sign does (a DSSE\n"
               "                envelope as an OCI referrer); pulls check it against atlas\n"
               "                trust and registry.policy, as for agents\n"
               "  --key NAME    (push) the signing key (default: the only one)\n"
               "  --input JSON  (invoke) the skill's input: JSON, @FILE or - for stdin\n"
               "  --status S    (review, admin or reviewer) community, verified or unreviewed:\n"
               "                recorded of the skill's content digest, shown in ls and\n"
               "                describe, compared with registry.policy.minimum_review_status\n"
               "                at every install (a FILE or DIR is reviewed before its install)\n"
               "  --note TEXT   (review) why\n"
               "  --json        print JSON\n",
               usage_text);
        return CLI_OK;
    }
    if (argc < 2)
        return cli_usage_error("skill", usage_text,
                               "which: ls, describe, register, rm, invoke, review, push or pull?");
    const char *pos = NULL, *pos2 = NULL, *version = NULL, *input = NULL, *key = NULL;
    const char *status = NULL, *note = NULL;
    int force = 0, sign = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            c->json = 1;
        else if (!strcmp(argv[i], "--force"))
            force = 1;
        else if (!strcmp(argv[i], "--sign"))
            sign = 1;
        else if (!strcmp(argv[i], "--key") && i + 1 < argc) {
            sign = 1;
            key = argv[++i];
        } else if (!strcmp(argv[i], "--version") && i + 1 < argc)
            version = argv[++i];
        else if (!strcmp(argv[i], "--input") && i + 1 < argc)
            input = argv[++i];
        else if (!strcmp(argv[i], "--status") && i + 1 < argc)
            status = argv[++i];
        else if (!strcmp(argv[i], "--note") && i + 1 < argc)
            note = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error("skill", usage_text, "unknown option \"%s\"", argv[i]);
        else if (!pos)
            pos = argv[i];
        else if (!pos2 && !strcmp(argv[1], "push"))
            pos2 = argv[i];
        else
            return cli_usage_error("skill", usage_text, "one argument too many: \"%s\"", argv[i]);
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
        return skill_ls(c);
    if (!pos)
        return cli_usage_error("skill", usage_text, "%s needs an argument", sub);
    if (!strcmp(sub, "describe"))
        return skill_describe(c, pos);
    if (!strcmp(sub, "register"))
        return skill_register(c, pos, version, force);
    if (!strcmp(sub, "rm"))
        return skill_rm(c, pos);
    if (!strcmp(sub, "invoke"))
        return skill_invoke(c, pos, input);
    if (!strcmp(sub, "review"))
        return skill_review(c, pos, status, note);
    if (!strcmp(sub, "pull"))
        return skill_pull(c, pos, force);
    if (!strcmp(sub, "push")) {
        if (!pos2)
            return cli_usage_error("skill", usage_text, "push to which reference?");
        return skill_push(c, pos, pos2, sign, key);
    }
    return cli_usage_error("skill", usage_text, "unknown subcommand \"%s\"", sub);
}
