/*
 * cmd_key.c - `atlas key create|ls|export` (the publisher's Ed25519 signing
 * keys) and `atlas trust add|ls` (the publishers' keys `atlas pull`
 * verifies against).  Keys live in $XDG_CONFIG_HOME/atlas/keys/NAME.json
 * (mode 0600; the directory 0700), the trust list in
 * $XDG_CONFIG_HOME/atlas/trust.json (docs/distribution.md "Signing").
 */
#include "cli/cli.h"
#include "cli/dist.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "dist/sign.h"
#include "json/json.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *cli_config_path(const char *tail)
{
    const char *x = getenv("XDG_CONFIG_HOME");
    if (x && *x)
        return at_asprintf("%s/atlas/%s", x, tail);
    const char *h = getenv("HOME");
    return at_asprintf("%s/.config/atlas/%s", h && *h ? h : "/tmp", tail);
}

static int name_ok(const char *n)
{
    if (!n || !*n || strlen(n) > 64)
        return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
              *p == '.'))
            return 0;
    return n[0] != '.';
}

int cli_key_load(const char *name, unsigned char sk[crypto_sign_SECRETKEYBYTES],
                 char publisher[128], char *why, size_t whylen)
{
    char *dir = cli_config_path("keys");
    char *chosen = NULL;
    if (!name) {
        /* the only key, when there is exactly one */
        DIR *dh = opendir(dir);
        struct dirent *e;
        int n = 0;
        while (dh && (e = readdir(dh))) {
            size_t l = strlen(e->d_name);
            if (l > 5 && !strcmp(e->d_name + l - 5, ".json")) {
                n++;
                free(chosen);
                chosen = at_strndup(e->d_name, l - 5);
            }
        }
        if (dh)
            closedir(dh);
        if (n != 1) {
            snprintf(why, whylen, "%s",
                     n ? "more than one key: name one with --key"
                       : "no signing key: create one with `atlas key create`");
            free(chosen);
            free(dir);
            return AT_ENOENT;
        }
        name = chosen;
    }
    char *p = at_asprintf("%s/%s.json", dir, name);
    char *text = NULL;
    size_t len = 0;
    json_t *j = NULL;
    int rc = at_fs_read_file(p, 1 << 16, &text, &len);
    if (!rc)
        rc = at_json_parse(text, len, 4, &j, NULL);
    const char *sec = json_string_value(json_object_get(j, "secret"));
    const char *pub = json_string_value(json_object_get(j, "publisher"));
    size_t n = 0;
    if (rc || !sec || !pub || strlen(pub) >= 128 ||
        sodium_base642bin(sk, crypto_sign_SECRETKEYBYTES, sec, strlen(sec), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) ||
        n != crypto_sign_SECRETKEYBYTES) {
        snprintf(why, whylen, "no usable key %s (%s)", name, p);
        rc = AT_ENOENT;
    } else {
        snprintf(publisher, 128, "%s", pub);
    }
    if (text) {
        sodium_memzero(text, len);
        free(text);
    }
    json_decref(j);
    free(p);
    free(chosen);
    free(dir);
    return rc;
}

static void key_usage(FILE *f)
{
    fputs("usage: atlas key create NAME [--publisher P] [--json]\n"
          "       atlas key ls [--json]\n"
          "       atlas key export NAME\n\n"
          "The publisher's Ed25519 keys for `atlas push --sign`.  create writes a new key\n"
          "(mode 0600) under $XDG_CONFIG_HOME/atlas/keys; its publisher (default: NAME) is\n"
          "what signatures name.  export prints the public key (ed25519:BASE64) for\n"
          "`atlas trust add PUBLISHER KEY` on the pulling side.  The secret key is never\n"
          "printed.\n",
          f);
}

int cmd_key(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        key_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *sub = argv[1];
    const char *name = NULL, *publisher = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            c->json = 1;
        else if (!strcmp(argv[i], "--publisher") && i + 1 < argc)
            publisher = argv[++i];
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            return cli_usage_error("key", NULL, "unexpected argument %s", argv[i]);
    }
    char *dir = cli_config_path("keys");
    int rc = CLI_OK;
    if (!strcmp(sub, "create")) {
        if (!name_ok(name) || (publisher && !*publisher)) {
            free(dir);
            return cli_usage_error("key", NULL,
                                   "NAME (lowercase letters, digits, '-', '_', '.') is needed");
        }
        if (!publisher)
            publisher = name;
        char *p = at_asprintf("%s/%s.json", dir, name);
        if (at_fs_is_file(p)) {
            fprintf(stderr, "%s key: a key %s exists already (%s)\n", c->prog, name, p);
            free(p);
            free(dir);
            return CLI_FAILED;
        }
        if (sodium_init() < 0) {
            free(p);
            free(dir);
            return CLI_FAILED;
        }
        at_fs_mkdir_p(dir, 0700);
        chmod(dir, 0700);
        unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
        crypto_sign_keypair(pk, sk);
        char pub[AT_SIG_PUBTEXT_MAX], id[AT_SIG_KEYID_LEN];
        at_sig_public_text(pk, pub);
        at_sig_keyid(pk, id);
        size_t bl = sodium_base64_encoded_len(sizeof(sk), sodium_base64_VARIANT_ORIGINAL);
        char *sb = at_malloc(bl);
        sodium_bin2base64(sb, bl, sk, sizeof(sk), sodium_base64_VARIANT_ORIGINAL);
        sodium_memzero(sk, sizeof(sk));
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "publisher", publisher,
                              "public", pub, "keyid", id, "secret", sb);
        sodium_memzero(sb, bl);
        free(sb);
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(j);
        int wr = at_fs_write_atomic(p, text, strlen(text), 0600);
        sodium_memzero(text, strlen(text));
        free(text);
        if (wr) {
            fprintf(stderr, "%s key: cannot write %s: %s\n", c->prog, p, at_err_msg(wr));
            rc = CLI_FAILED;
        } else if (c->json) {
            json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "publisher", publisher,
                                  "public", pub, "keyid", id, "file", p);
            cli_print_json(stdout, o);
            json_decref(o);
        } else {
            printf("created key %s (publisher %s, id %s) in %s\npublic key: %s\n", name, publisher,
                   id, p, pub);
        }
        free(p);
    } else if (!strcmp(sub, "ls") || !strcmp(sub, "export")) {
        int export = !strcmp(sub, "export");
        if (export && !name_ok(name)) {
            free(dir);
            return cli_usage_error("key", NULL, "export NAME");
        }
        json_t *keys = json_array();
        DIR *dh = opendir(dir);
        struct dirent *e;
        while (dh && (e = readdir(dh))) {
            size_t l = strlen(e->d_name);
            if (l <= 5 || strcmp(e->d_name + l - 5, ".json") != 0)
                continue;
            char *p = at_asprintf("%s/%s", dir, e->d_name);
            char *text = NULL;
            size_t len = 0;
            json_t *j = NULL;
            if (at_fs_read_file(p, 1 << 16, &text, &len) == 0 &&
                at_json_parse(text, len, 4, &j, NULL) == 0) {
                json_object_del(j, "secret");
                json_object_set_new(j, "file", json_string(p));
                json_array_append(keys, j);
            }
            json_decref(j);
            if (text) {
                sodium_memzero(text, len);
                free(text);
            }
            free(p);
        }
        if (dh)
            closedir(dh);
        size_t i;
        json_t *k;
        if (export) {
            rc = CLI_FAILED;
            json_array_foreach(keys, i, k) if (!strcmp(at_json_str(k, "name", ""), name))
            {
                printf("%s\n", at_json_str(k, "public", ""));
                rc = CLI_OK;
            }
            if (rc)
                fprintf(stderr, "%s key: no key %s\n", c->prog, name);
        } else if (c->json) {
            json_t *o = json_pack("{s:O}", "keys", keys);
            cli_print_json(stdout, o);
            json_decref(o);
        } else {
            json_array_foreach(keys, i, k)
                printf("%-20s %-20s %-16s %s\n", at_json_str(k, "name", ""),
                       at_json_str(k, "publisher", ""), at_json_str(k, "keyid", ""),
                       at_json_str(k, "public", ""));
        }
        json_decref(keys);
    } else {
        rc = cli_usage_error("key", NULL, "unknown subcommand %s (create, ls, export)", sub);
    }
    free(dir);
    return rc;
}

static void trust_usage(FILE *f)
{
    fputs("usage: atlas trust add PUBLISHER KEY [--json]\n"
          "       atlas trust ls [--json]\n\n"
          "The publishers' public keys (ed25519:BASE64, from `atlas key export`) the\n"
          "daemon verifies pulled agents' signatures against (kept in DATA/trust.json;\n"
          "adding one needs the admin role).  registry.policy (allow_unsigned,\n"
          "allowed_publishers) is decided against them.\n",
          f);
}

int cmd_trust(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        trust_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *pos[2] = {NULL, NULL};
    int np = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            c->json = 1;
        else if (np < 2 && argv[i][0] != '-')
            pos[np++] = argv[i];
        else
            return cli_usage_error("trust", NULL, "unexpected argument %s", argv[i]);
    }
    struct cli_resp r;
    int rc;
    if (!strcmp(argv[1], "add")) {
        unsigned char pk[crypto_sign_PUBLICKEYBYTES];
        if (np != 2 || !*pos[0] || at_sig_public_parse(pos[1], pk))
            return cli_usage_error("trust", NULL, "add PUBLISHER KEY (KEY: ed25519:BASE64)");
        json_t *body = json_pack("{s:s, s:s}", "publisher", pos[0], "key", pos[1]);
        char *text = at_json_dumps(body);
        json_decref(body);
        rc = cli_http(c, "POST", "/api/v1/trust", text, NULL, &r);
        free(text);
        if (rc)
            return rc;
        if (r.status >= 300) {
            rc = cli_print_problem(c, &r);
        } else if (c->json) {
            cli_print_json(stdout, r.body);
        } else {
            printf("%s %s's key %s\n",
                   json_is_true(json_object_get(r.body, "added")) ? "trusted" : "already trusted:",
                   pos[0], at_json_str(r.body, "keyid", "?"));
        }
        cli_resp_release(&r);
        return rc;
    }
    if (!strcmp(argv[1], "ls")) {
        if (np)
            return cli_usage_error("trust", NULL, "ls takes no argument");
        if ((rc = cli_get(c, "/api/v1/trust", &r)))
            return rc;
        if (c->json) {
            cli_print_json(stdout, r.body);
        } else {
            const char *pub;
            json_t *list;
            json_object_foreach(json_object_get(r.body, "publishers"), pub, list)
            {
                size_t i;
                json_t *k;
                json_array_foreach(list, i, k) printf("%-24s %s\n", pub, json_string_value(k));
            }
        }
        cli_resp_release(&r);
        return CLI_OK;
    }
    return cli_usage_error("trust", NULL, "unknown subcommand %s (add, ls)", argv[1]);
}
