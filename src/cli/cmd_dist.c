/*
 * cmd_dist.c - `atlas push`, `atlas pull` and `atlas login REGISTRY`: agents
 * to and from OCI distribution registries (docs/distribution.md).  The
 * daemon keeps the agents; these commands move their artifacts through an
 * image layout on this machine ($ATLAS_OCI_CACHE, else
 * $XDG_CACHE_HOME/atlas/oci or ~/.cache/atlas/oci) and register what they
 * pull with the daemon, which must read that directory (the same machine,
 * as for `atlas register --path`).
 */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "cli/dist.h"
#include "cli/local.h"
#include "contract/agent.h"
#include "dist/artifact.h"
#include "dist/client.h"
#include "dist/sign.h"
#include "json/json.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *home_path(const char *xdg_env, const char *fallback, const char *tail)
{
    const char *x = getenv(xdg_env);
    if (x && *x)
        return at_asprintf("%s/%s", x, tail);
    const char *h = getenv("HOME");
    return at_asprintf("%s/%s/%s", h && *h ? h : "/tmp", fallback, tail);
}

static char *cache_root(void)
{
    const char *e = getenv("ATLAS_OCI_CACHE");
    if (e && *e)
        return at_strdup(e);
    return home_path("XDG_CACHE_HOME", ".cache", "atlas/oci");
}

/* The registries' credentials: $ATLAS_REGISTRY_AUTH, else
 * $XDG_CONFIG_HOME/atlas/registries.json (docker config.json format). */
static char *auth_file(void)
{
    const char *e = getenv("ATLAS_REGISTRY_AUTH");
    if (e && *e)
        return at_strdup(e);
    return home_path("XDG_CONFIG_HOME", ".config", "atlas/registries.json");
}

/* --registry, $ATLAS_REGISTRY, the settings file's registry.default. */
static char *default_registry(const char *flag)
{
    if (flag && *flag)
        return at_strdup(flag);
    const char *e = getenv("ATLAS_REGISTRY");
    if (e && *e)
        return at_strdup(e);
    char *cfg = cli_local_config_path(NULL);
    char *out = NULL;
    if (cfg) {
        struct at_config conf;
        struct at_diag d;
        at_diag_clear(&d);
        at_config_init(&conf);
        if (at_config_load_file(&conf, cfg, &d) == 0) {
            const char *v = json_string_value(
                json_object_get(json_object_get(conf.json, "registry"), "default"));
            if (v && *v)
                out = at_strdup(v);
        }
        at_config_release(&conf);
        free(cfg);
    }
    return out;
}

char *cli_registry_auth(void)
{
    return auth_file();
}

char *cli_registry_default(const char *flag)
{
    return default_registry(flag);
}

static int fail(struct cli *c, const char *cmd, const struct at_diag *d)
{
    char msg[2048];
    at_diag_format(d, msg, sizeof(msg));
    if (c->json) {
        json_t *p = at_json_problem(d->code ? d->code : AT_EINTERNAL, msg, NULL);
        cli_print_json(stdout, p);
        json_decref(p);
    }
    fprintf(stderr, "%s %s: %s\n", c->prog, cmd, msg);
    return CLI_FAILED;
}

/* ---- push ---- */

static void push_usage(FILE *f)
{
    fputs("usage: atlas push [REGISTRY/]NAMESPACE/NAME[:TAG] [--agent NAME[:VERSION]]\n"
          "                  [--registry HOST] [--quiet] [--json]\n\n"
          "Publishes a registered agent version as an OCI artifact (docs/distribution.md).\n"
          "The agent is --agent, else NAME[:TAG] of the reference (its default version when\n"
          "there is no tag); the tag is TAG, else the agent's version.  Blobs the registry\n"
          "already has are not sent again.  A reference without a registry uses --registry,\n"
          "$ATLAS_REGISTRY or registry.default of atlas.config.yaml.  Credentials come from\n"
          "`atlas login REGISTRY`.\n\n"
          "options:\n"
          "  --agent REF      which registered agent (NAME or NAME:VERSION)\n"
          "  --registry HOST  the default registry (host[:port])\n"
          "  --quiet          no progress on stderr\n"
          "  --sign           sign the manifest (a DSSE envelope stored as an OCI referrer)\n"
          "  --key NAME       the signing key (default: the only one; `atlas key create`)\n"
          "  --json           print the result as JSON\n",
          f);
}

int cmd_push(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"agent", required_argument, NULL, 'a'}, {"registry", required_argument, NULL, 'r'},
        {"quiet", no_argument, NULL, 'q'},       {"sign", no_argument, NULL, 's'},
        {"key", required_argument, NULL, 'k'},   {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *agent = NULL, *reg_flag = NULL, *key = NULL;
    int quiet = c->quiet, sign = 0, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":a:r:k:qh", opts, NULL)) != -1) {
        switch (o) {
        case 'a':
            agent = optarg;
            break;
        case 'r':
            reg_flag = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 's':
            sign = 1;
            break;
        case 'k':
            key = optarg;
            sign = 1;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            push_usage(stdout);
            return CLI_OK;
        default:
            cli_opt_error("push", NULL, argv, o);
            push_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind + 1 != argc || cli_need("push", "REF", argv[optind])) {
        cli_usage_error("push", NULL, "%s", optind >= argc ? "REF is needed" : "one REF only");
        push_usage(stderr);
        return CLI_USAGE;
    }
    struct at_diag d;
    at_diag_clear(&d);
    char *defreg = default_registry(reg_flag);
    struct at_oci_ref ref;
    int prc = at_oci_ref_parse(argv[optind], defreg, &ref, &d);
    free(defreg);
    if (prc) {
        cli_usage_error("push", NULL, "%s", d.msg);
        return CLI_USAGE;
    }
    if (ref.digest[0]) {
        cli_usage_error("push", NULL, "push to a tag, not a digest");
        return CLI_USAGE;
    }
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    char publisher[128] = "";
    if (sign) {
        char why[300];
        if (sodium_init() < 0 || cli_key_load(key, sk, publisher, why, sizeof(why))) {
            fprintf(stderr, "%s push: %s\n", c->prog, why);
            return CLI_FAILED;
        }
    }
    /* which agent: --agent, else the repository's last component */
    char want[512];
    if (agent) {
        snprintf(want, sizeof(want), "%s", agent);
    } else {
        const char *last = strrchr(ref.repo, '/');
        last = last ? last + 1 : ref.repo;
        snprintf(want, sizeof(want), "%s%s%s", last, ref.tag[0] ? ":" : "", ref.tag);
    }
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/agents/");
    cli_path_escape(&path, want);
    struct cli_resp r;
    int rc = cli_get(c, path.p, &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    const char *snapshot = json_string_value(json_object_get(r.body, "snapshot"));
    const char *digest = json_string_value(json_object_get(r.body, "digest"));
    struct at_contract *contract = NULL;
    json_t *cj = json_object_get(r.body, "contract");
    if (!snapshot || !digest || !*digest || !cj) {
        at_diag_set(&d, AT_EUNSUPPORTED, "", 0, 0,
                    "%s is a remote agent (or the daemon does not say where its snapshot is): "
                    "nothing to push",
                    want);
        cli_resp_release(&r);
        return fail(c, "push", &d);
    }
    if (at_contract_from_json(cj, &contract, &d)) {
        cli_resp_release(&r);
        return fail(c, "push", &d);
    }
    char akey[300];
    snprintf(akey, sizeof(akey), "%s@%s", contract->name, contract->version);
    struct at_reg_agent a = {
        .contract = contract, .key = akey, .digest = (char *)digest, .dir = (char *)snapshot};
    char tag[129];
    snprintf(tag, sizeof(tag), "%s", ref.tag[0] ? ref.tag : contract->version);
    char *root = cache_root();
    char *auth = auth_file();
    struct at_packed packed;
    struct at_oci_client *cl = NULL;
    int uploaded = 0;
    rc = at_dist_pack(root, &a, &packed, &d);
    if (!rc)
        rc = at_oci_client_new(ref.registry, auth, !quiet && !c->json, &cl, &d);
    if (!rc && !quiet && !c->json)
        fprintf(stderr, "pushing %s:%s to %s/%s:%s\n", contract->name, contract->version,
                ref.registry, ref.repo, tag);
    char *env = NULL;
    size_t elen = 0;
    if (sign)
        env = at_sig_envelope(publisher, contract->name, contract->version, packed.manifest,
                              packed.manifest_size, sk, &elen);
    struct at_dist_sig sig = {.envelope = env, .len = elen, .publisher = publisher};
    if (!rc)
        rc = at_dist_push(cl, root, packed.manifest, ref.repo, tag, sign ? &sig : NULL, &uploaded,
                          &d);
    free(env);
    if (!rc && sign && !quiet && !c->json)
        fprintf(stderr, "  signed by %s\n", publisher);
    sodium_memzero(sk, sizeof(sk));
    at_oci_client_free(cl);
    free(root);
    free(auth);
    if (rc) {
        at_contract_unref(contract);
        cli_resp_release(&r);
        return fail(c, "push", &d);
    }
    if (c->json) {
        json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "name", contract->name,
                                "version", contract->version, "registry", ref.registry,
                                "repository", ref.repo, "tag", tag, "manifest", packed.manifest,
                                "digest", digest, "uploaded_blobs", uploaded);
        json_object_set_new(out, "signed_by", sign ? json_string(publisher) : json_null());
        cli_print_json(stdout, out);
        json_decref(out);
    } else {
        printf("pushed %s:%s to %s/%s:%s@%s (%d new blob%s)\n", contract->name, contract->version,
               ref.registry, ref.repo, tag, packed.manifest, uploaded, uploaded == 1 ? "" : "s");
    }
    at_contract_unref(contract);
    cli_resp_release(&r);
    return CLI_OK;
}

/* ---- pull ---- */

static void pull_usage(FILE *f)
{
    fputs("usage: atlas pull [REGISTRY/]NAMESPACE/NAME[:TAG|@DIGEST] [--registry HOST]\n"
          "                  [--force] [--quiet] [--json]\n\n"
          "Fetches an agent published as an OCI artifact, checks every blob against its\n"
          "digest and the unpacked directory against the content digest its manifest\n"
          "names, and registers it with the daemon.  Without a tag, or with `latest` when\n"
          "the repository has no such tag, the highest SemVer tag is pulled; @DIGEST pins\n"
          "one manifest.  The daemon must be on this machine (it reads the unpacked\n"
          "directory, as for `atlas register --path`).\n\n"
          "options:\n"
          "  --registry HOST  the default registry (host[:port])\n"
          "  --force          replace a registered version that has other content\n"
          "  --quiet          no progress on stderr\n"
          "  --json           print the result as JSON\n",
          f);
}

/* The daemon's agent when it registered exactly this artifact already
 * ({name, version, digest, trust}, a new object), else NULL. */
static json_t *already_registered(struct cli *c, const char *mtext, size_t mlen,
                                  const char *manifest, size_t nsigs)
{
    struct at_oci_manifest m;
    if (!mtext || at_oci_manifest_parse(mtext, mlen, &m, NULL))
        return NULL;
    const char *title =
        json_string_value(json_object_get(m.annotations, "org.opencontainers.image.title"));
    const char *version =
        json_string_value(json_object_get(m.annotations, "org.opencontainers.image.version"));
    const char *content =
        json_string_value(json_object_get(m.layers[0].annotations, AT_OCI_ANN_CONTENT));
    json_t *out = NULL;
    if (title && version && content) {
        struct at_buf path;
        at_buf_init(&path, 4096);
        at_buf_puts(&path, "/api/v1/agents/");
        char ref[400];
        snprintf(ref, sizeof(ref), "%s:%s", title, version);
        cli_path_escape(&path, ref);
        struct cli_resp r;
        if (cli_http(c, "GET", path.p, NULL, NULL, &r) == 0 && r.status == 200) {
            json_t *t = json_object_get(r.body, "trust");
            if (!strcmp(at_json_str(r.body, "digest", ""), content) &&
                !strcmp(at_json_str(t, "manifest", ""), manifest) &&
                (nsigs == 0 || json_is_true(json_object_get(t, "verified"))))
                out = json_pack("{s:s, s:s, s:s, s:O}", "name", title, "version", version, "digest",
                                content, "trust", t);
        }
        cli_resp_release(&r);
        at_buf_release(&path);
    }
    at_oci_manifest_release(&m);
    return out;
}

int cmd_pull(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"registry", required_argument, NULL, 'r'}, {"force", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},          {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *reg_flag = NULL;
    int quiet = c->quiet, force = 0, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":r:fqh", opts, NULL)) != -1) {
        switch (o) {
        case 'r':
            reg_flag = optarg;
            break;
        case 'f':
            force = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            pull_usage(stdout);
            return CLI_OK;
        default:
            cli_opt_error("pull", NULL, argv, o);
            pull_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind + 1 != argc || cli_need("pull", "REF", argv[optind])) {
        cli_usage_error("pull", NULL, "%s", optind >= argc ? "REF is needed" : "one REF only");
        pull_usage(stderr);
        return CLI_USAGE;
    }
    struct at_diag d;
    at_diag_clear(&d);
    char *defreg = default_registry(reg_flag);
    struct at_oci_ref ref;
    int prc = at_oci_ref_parse(argv[optind], defreg, &ref, &d);
    free(defreg);
    if (prc) {
        cli_usage_error("pull", NULL, "%s", d.msg);
        return CLI_USAGE;
    }
    char *root = cache_root();
    char *auth = auth_file();
    struct at_oci_client *cl = NULL;
    char tag[129] = "", manifest[AT_OCI_DIGEST_MAX] = "", content[AT_DIGEST_MAX] = "";
    char *dir = NULL;
    int downloaded = 0;
    int rc = at_oci_client_new(ref.registry, auth, !quiet && !c->json, &cl, &d);
    if (!rc && !ref.digest[0]) {
        int exists_as_tag = 0;
        if (ref.tag[0] && strcmp(ref.tag, "latest") != 0) {
            exists_as_tag = 1; /* a tag as written: the registry says whether it exists */
            snprintf(tag, sizeof(tag), "%s", ref.tag);
        }
        if (!exists_as_tag)
            rc = at_dist_resolve_tag(cl, ref.repo, ref.tag, tag, &d);
    }
    const char *what = ref.digest[0] ? ref.digest : tag;
    if (!rc && !quiet && !c->json)
        fprintf(stderr, "pulling %s/%s%s%s\n", ref.registry, ref.repo, ref.digest[0] ? "@" : ":",
                what);
    if (!rc)
        rc = at_dist_pull(cl, root, ref.repo, what, manifest, &downloaded, &d);
    /* signatures: the daemon checks them against its trusted keys */
    json_t *envs = NULL;
    if (!rc)
        rc = at_dist_fetch_signatures(cl, root, ref.repo, manifest, &envs, &d);
    char *mtext = NULL;
    size_t mlen = 0;
    json_t *served = NULL;
    if (!rc && *at_oci_client_served(cl))
        at_json_parse(at_oci_client_served(cl), strlen(at_oci_client_served(cl)), 4, &served, NULL);
    if (!rc) {
        char *mp = at_layout_blob_path(root, manifest);
        if (at_fs_read_file(mp, AT_OCI_MANIFEST_MAX, &mtext, &mlen))
            rc = at_diag_set(&d, AT_EIO, mp, 0, 0, "cannot read the pulled manifest");
        free(mp);
    }
    at_oci_client_free(cl);
    /* a no-op pull: the daemon has this very artifact registered (the same
     * manifest, recorded by an earlier pull) and there is no signature it
     * has not seen verified: nothing to unpack */
    if (!rc && !force && !json_is_object(served)) {
        json_t *same = already_registered(c, mtext, mlen, manifest, json_array_size(envs));
        if (same) {
            free(mtext);
            json_decref(envs);
            free(auth);
            free(root);
            if (c->json) {
                json_object_set_new(same, "status", json_string("unchanged"));
                json_object_set_new(same, "registry", json_string(ref.registry));
                json_object_set_new(same, "repository", json_string(ref.repo));
                json_object_set_new(same, "tag", json_string(tag));
                json_object_set_new(same, "manifest", json_string(manifest));
                json_object_set_new(same, "downloaded_blobs", json_integer(downloaded));
                cli_print_json(stdout, same);
            } else {
                printf("unchanged %s:%s (%s) from %s/%s@%s\n", at_json_str(same, "name", "?"),
                       at_json_str(same, "version", "?"), at_json_str(same, "digest", "?"),
                       ref.registry, ref.repo, manifest);
            }
            json_decref(same);
            return CLI_OK;
        }
    }
    char *work = at_fs_join(root, "work");
    if (!rc)
        rc = at_dist_extract(root, manifest, work, &dir, content, &d);
    free(work);
    free(auth);
    free(root);
    if (rc) {
        json_decref(envs);
        json_decref(served);
        free(mtext);
        return fail(c, "pull", &d);
    }
    char source[700];
    snprintf(source, sizeof(source), "%s/%s@%s", ref.registry, ref.repo, manifest);
    json_t *body = json_pack("{s:s, s:{s:s%, s:o, s:s}}", "path", dir, "artifact", "manifest",
                             mtext, mlen, "signatures", envs, "source", source);
    free(mtext);
    if (json_is_object(served))
        json_object_set(json_object_get(body, "artifact"), "served", served);
    json_decref(served);
    if (force)
        json_object_set_new(body, "force", json_true());
    char *text = at_json_dumps(body);
    json_decref(body);
    struct cli_resp r;
    struct cli_build_follow *follow = cli_build_follow_start(c);
    rc = cli_http(c, "POST", "/api/v1/agents", text, NULL, &r);
    cli_build_follow_stop(follow);
    free(text);
    at_fs_remove_tree(dir);
    free(dir);
    if (rc)
        return rc;
    if (r.status >= 300) {
        rc = cli_print_problem(c, &r);
        cli_resp_release(&r);
        return rc;
    }
    json_t *trust = json_object_get(r.body, "trust");
    if (!quiet && !c->json) {
        if (json_is_true(json_object_get(trust, "verified")))
            fprintf(stderr, "  signed by %s (verified, key %s)\n",
                    at_json_str(trust, "publisher", "?"), at_json_str(trust, "keyid", "?"));
        else if (json_is_true(json_object_get(trust, "signed")))
            fprintf(stderr,
                    "%s pull: warning: signed by %s with a key the daemon does not trust "
                    "(atlas trust add)\n",
                    c->prog, at_json_str(trust, "publisher", "?"));
        else
            fprintf(stderr, "  unsigned\n");
    }
    if (!quiet && !c->json)
        cli_print_build(r.body);
    const char *got = at_json_str(r.body, "digest", "");
    if (strcmp(got, content) != 0) {
        at_diag_set(&d, AT_EINTERNAL, "", 0, 0,
                    "the daemon registered content %s, the artifact holds %s", got, content);
        cli_resp_release(&r);
        return fail(c, "pull", &d);
    }
    if (c->json) {
        json_object_set_new(r.body, "registry", json_string(ref.registry));
        json_object_set_new(r.body, "repository", json_string(ref.repo));
        json_object_set_new(r.body, "tag", json_string(tag));
        json_object_set_new(r.body, "manifest", json_string(manifest));
        json_object_set_new(r.body, "downloaded_blobs", json_integer(downloaded));
        cli_print_json(stdout, r.body);
    } else {
        const char *status = at_json_str(r.body, "status", "");
        printf("%s %s:%s (%s) from %s/%s@%s\n",
               !strcmp(status, "unchanged")  ? "unchanged"
               : !strcmp(status, "replaced") ? "replaced"
                                             : "pulled",
               at_json_str(r.body, "name", "?"), at_json_str(r.body, "version", "?"), got,
               ref.registry, ref.repo, manifest);
    }
    cli_resp_release(&r);
    return CLI_OK;
}

/* ---- login ---- */

static void login_usage(FILE *f)
{
    fputs("usage: atlas login REGISTRY [--username USER] [--password-stdin] [--json]\n\n"
          "Stores credentials for an OCI registry (host[:port]) in\n"
          "$XDG_CONFIG_HOME/atlas/registries.json (or $ATLAS_REGISTRY_AUTH; mode 0600, the\n"
          "docker config.json format, readable by `skopeo --authfile`), after checking them\n"
          "against the registry (basic or bearer-token authentication).  The password is\n"
          "read from stdin (one line) and never printed.\n"
          "`atlas login http(s)://ATLAS-URL < token` instead checks an atlasd API token\n"
          "and saves it with the URL in $XDG_CONFIG_HOME/atlas/credentials (docs/security.md).\n\n"
          "options:\n"
          "  --username USER   the user name (default: $ATLAS_REGISTRY_USER)\n"
          "  --password-stdin  read the password from stdin (the default; kept for scripts)\n"
          "  --json            print the result as JSON\n",
          f);
}

static int save_credentials(const char *file, const char *registry, const char *userpwd,
                            struct at_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    json_t *j = NULL;
    if (at_fs_read_file(file, 1 << 20, &text, &len) == 0)
        at_json_parse(text, len, 16, &j, NULL);
    if (text) {
        sodium_memzero(text, len);
        free(text);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    json_t *auths = json_object_get(j, "auths");
    if (!json_is_object(auths)) {
        auths = json_object();
        json_object_set_new(j, "auths", auths);
    }
    size_t ul = strlen(userpwd);
    size_t bl = sodium_base64_encoded_len(ul, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = at_malloc(bl);
    sodium_bin2base64(b64, bl, (const unsigned char *)userpwd, ul, sodium_base64_VARIANT_ORIGINAL);
    json_object_set_new(auths, registry, json_pack("{s:s}", "auth", b64));
    sodium_memzero(b64, bl);
    free(b64);
    char *out = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    char *dir = at_strdup(file);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        at_fs_mkdir_p(dir, 0700);
    }
    free(dir);
    int rc = at_fs_write_atomic(file, out, strlen(out), 0600);
    sodium_memzero(out, strlen(out));
    free(out);
    if (!rc && chmod(file, 0600) < 0)
        rc = at_err_from_errno(errno);
    if (rc)
        at_diag_set(d, rc, file, 0, 0, "cannot write the credentials");
    return rc;
}

int cmd_login(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"username", required_argument, NULL, 'u'},
        {"password-stdin", no_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *user = getenv("ATLAS_REGISTRY_USER");
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":u:ph", opts, NULL)) != -1) {
        switch (o) {
        case 'u':
            user = optarg;
            break;
        case 'p':
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            login_usage(stdout);
            return CLI_OK;
        default:
            cli_opt_error("login", NULL, argv, o);
            login_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind + 1 != argc || cli_need("login", "REGISTRY", argv[optind])) {
        cli_usage_error("login", NULL, "%s",
                        optind >= argc ? "REGISTRY is needed" : "one REGISTRY only");
        login_usage(stderr);
        return CLI_USAGE;
    }
    const char *registry = argv[optind];
    if (!strncmp(registry, "http://", 7) || !strncmp(registry, "https://", 8))
        return cli_login_atlasd(c, argc - optind + 1, argv + optind - 1); /* cmd_login.c */
    if (strchr(registry, '/') || !*registry) {
        cli_usage_error("login", NULL, "REGISTRY is host[:port], without a path");
        return CLI_USAGE;
    }
    if (!user || !*user) {
        cli_usage_error("login", NULL, "--username is needed");
        return CLI_USAGE;
    }
    char pw[1024];
    if (!fgets(pw, sizeof(pw), stdin)) {
        fprintf(stderr, "%s login: no password on stdin\n", c->prog);
        return CLI_USAGE;
    }
    pw[strcspn(pw, "\r\n")] = '\0';
    char *userpwd = at_asprintf("%s:%s", user, pw);
    sodium_memzero(pw, sizeof(pw));
    /* check them first: a temporary auth file the client reads */
    struct at_diag d;
    at_diag_clear(&d);
    char *tmpl_prefix = at_fs_join(at_fs_tmpdir(), "atlas-login-");
    char *tmpl = NULL;
    int fd = at_fs_mkstemp(tmpl_prefix, &tmpl);
    free(tmpl_prefix);
    int rc = fd < 0 ? at_err_from_errno(errno) : 0;
    if (fd >= 0) {
        close(fd);
        rc = save_credentials(tmpl, registry, userpwd, &d);
    }
    struct at_oci_client *cl = NULL;
    if (!rc)
        rc = at_oci_client_new(registry, tmpl, 0, &cl, &d);
    if (!rc)
        rc = at_oci_ping(cl, &d);
    at_oci_client_free(cl);
    if (fd >= 0)
        unlink(tmpl);
    free(tmpl);
    char *file = auth_file();
    if (!rc)
        rc = save_credentials(file, registry, userpwd, &d);
    sodium_memzero(userpwd, strlen(userpwd));
    free(userpwd);
    if (rc) {
        free(file);
        return fail(c, "login", &d);
    }
    if (c->json) {
        json_t *out = json_pack("{s:s, s:s, s:s}", "registry", registry, "username", user,
                                "credentials", file);
        cli_print_json(stdout, out);
        json_decref(out);
    } else {
        printf("logged in to %s as %s (credentials in %s)\n", registry, user, file);
    }
    free(file);
    return CLI_OK;
}

/* ---- search --remote ---- */

static int all_words_in(const char *hay, const char *text)
{
    char word[256];
    for (const char *p = text; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (!n)
            break;
        snprintf(word, sizeof(word), "%.*s", (int)(n < 255 ? n : 255), p);
        if (!strcasestr(hay, word))
            return 0;
        p += n;
    }
    return 1;
}

int cli_search_remote(struct cli *c, const char *text, const char *reg_flag)
{
    struct at_diag d;
    at_diag_clear(&d);
    char *registry = default_registry(reg_flag);
    if (!registry) {
        fprintf(stderr,
                "%s search: --remote needs a registry (--registry HOST, $ATLAS_REGISTRY or "
                "registry.default)\n",
                c->prog);
        return CLI_USAGE;
    }
    char *auth = auth_file();
    struct at_oci_client *cl = NULL;
    json_t *cat = NULL, *found = json_array(), *agents = NULL;
    int rc = at_oci_client_new(registry, auth, 0, &cl, &d);
    free(auth);
    if (!rc)
        rc = at_oci_catalog(cl, &cat, &d);
    if (!rc) {
        size_t i;
        json_t *repo;
        json_array_foreach(cat, i, repo)
        {
            if (json_is_string(repo) && all_words_in(json_string_value(repo), text))
                json_array_append(found, repo);
        }
        /* an atlasd also answers its own search (descriptions, capabilities) */
        char *q = curl_easy_escape(NULL, text, 0);
        char *path = at_asprintf("/api/v1/search?q=%s", q ? q : "");
        curl_free(q);
        struct at_diag quiet;
        at_diag_clear(&quiet);
        json_t *s = NULL;
        if (at_oci_get_json(cl, path, &s, &quiet) == 0 &&
            json_is_array(json_object_get(s, "agents")))
            agents = json_incref(json_object_get(s, "agents"));
        json_decref(s);
        free(path);
    }
    at_oci_client_free(cl);
    json_decref(cat);
    if (rc) {
        free(registry);
        json_decref(found);
        json_decref(agents);
        return fail(c, "search", &d);
    }
    if (c->json) {
        json_t *o = json_pack("{s:s, s:s, s:o}", "registry", registry, "query", text,
                              "repositories", found);
        json_object_set_new(o, "agents", agents ? agents : json_null());
        cli_print_json(stdout, o);
        json_decref(o);
    } else {
        size_t i;
        json_t *a;
        if (agents) {
            json_array_foreach(agents, i, a)
                printf("%s/%s:%s  %s\n", registry, at_json_str(a, "name", "?"),
                       at_json_str(a, "version", "?"), at_json_str(a, "description", ""));
        }
        json_array_foreach(found, i, a)
        {
            int shown = 0;
            size_t k;
            json_t *g;
            json_array_foreach(agents, k, g) shown |=
                !strcmp(at_json_str(g, "name", ""), json_string_value(a));
            if (!shown)
                printf("%s/%s\n", registry, json_string_value(a));
        }
        if (!json_array_size(found) && !json_array_size(agents))
            printf("nothing on %s matches \"%s\"\n", registry, text);
        json_decref(found);
        json_decref(agents);
    }
    free(registry);
    return CLI_OK;
}
