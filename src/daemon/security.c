/*
 * security.c - atlasd's security layer brought up (security.h).
 */
#include "daemon/security.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "json/json.h"
#include "security/tls.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int at_daemon_listen_is_loopback(const char *listen)
{
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "[::1]:", 6) == 0 ||
           strncmp(listen, "localhost:", 10) == 0;
}

/* The admin token of DATA/admin.token, made on first start and again when
 * the file is gone or no longer holds a live admin token (deleting the
 * file and restarting is how a lost admin token is replaced). */
static int ensure_admin(struct at_daemon_security *s, const char *data_dir, struct at_diag *d)
{
    char *path = at_fs_join(data_dir, AT_ADMIN_TOKEN_FILE);
    char *text = NULL;
    size_t len = 0;
    int rc = 0;
    if (at_fs_read_file(path, 4096, &text, &len) == 0) {
        text[strcspn(text, "\r\n")] = '\0';
        int ok = at_tokens_is_admin(s->sec.tokens, text);
        sodium_memzero(text, len);
        free(text);
        if (ok) {
            chmod(path, 0600);
            at_info("atlasd", "admin token: %s", path);
            free(path);
            return 0;
        }
    }
    at_tokens_revoke(s->sec.tokens, "local-admin"); /* the previous one, if any */
    struct at_token_spec spec = {
        .name = "local-admin", .role = AT_ROLE_ADMIN, .created_by = "atlasd"};
    char tok[AT_TOKEN_TEXT_MAX];
    json_t *row = NULL;
    rc = at_tokens_create(s->sec.tokens, &spec, tok, &row, d);
    if (rc == 0) {
        char line[AT_TOKEN_TEXT_MAX + 2];
        int n = snprintf(line, sizeof(line), "%s\n", tok);
        rc = at_fs_write_atomic(path, line, (size_t)n, 0600);
        sodium_memzero(line, sizeof(line));
        if (rc)
            at_diag_set(d, rc, path, 0, 0, "cannot write the admin token: %s", at_err_msg(rc));
        else
            at_info("atlasd", "created an admin token in %s (mode 0600; the CLI reads it)", path);
        struct at_audit_rec rec = {.event = "token.create",
                                   .actor = "atlasd",
                                   .action = "create admin token",
                                   .outcome = rc ? "failed" : "ok",
                                   .source = "daemon",
                                   .detail = "local-admin, written to the data directory"};
        at_audit_record(s->sec.audit, &rec);
    }
    sodium_memzero(tok, sizeof(tok));
    json_decref(row);
    free(path);
    return rc;
}

static int load_tls(struct at_daemon_security *s, const struct at_config *config,
                    const char *data_dir, struct at_diag *d)
{
    json_t *tls = json_object_get(json_object_get(config->json, "security"), "tls");
    const char *cert = json_string_value(json_object_get(tls, "cert"));
    const char *key = json_string_value(json_object_get(tls, "key"));
    int self = json_is_true(json_object_get(tls, "self_signed"));
    int loop = at_daemon_listen_is_loopback(config->listen);
    if (!cert && !key && !self) {
        if (loop)
            return 0;
        return at_diag_set(d, AT_EPERM, NULL, 0, 0,
                           "refusing to listen on %s without TLS: set security.tls.cert and "
                           "security.tls.key, or security.tls.self_signed: true "
                           "(docs/security.md)",
                           config->listen);
    }
    if ((cert != NULL) != (key != NULL))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "security.tls needs both cert and key (or self_signed: true)");
    char *cpath = NULL, *kpath = NULL;
    if (cert) {
        cpath = at_strdup(cert);
        kpath = at_strdup(key);
    } else {
        char *dir = at_fs_join(data_dir, "tls");
        cpath = at_fs_join(dir, "cert.pem");
        kpath = at_fs_join(dir, "key.pem");
        if (!at_fs_is_file(cpath) || !at_fs_is_file(kpath)) {
            int rc = at_fs_mkdir_p(dir, 0700);
            char host[128];
            snprintf(host, sizeof(host), "%s", config->listen);
            char *colon = strrchr(host, ':');
            if (colon)
                *colon = '\0';
            if (rc == 0)
                rc = at_tls_self_signed(host, cpath, kpath, d);
            if (rc) {
                free(dir);
                free(cpath);
                free(kpath);
                return rc;
            }
        }
        free(dir);
    }
    size_t n;
    int rc = at_fs_read_file(cpath, 1u << 20, &s->cert_pem, &n);
    if (rc)
        at_diag_set(d, rc, cpath, 0, 0, "cannot read the TLS certificate: %s", at_err_msg(rc));
    else if ((rc = at_fs_read_file(kpath, 1u << 20, &s->key_pem, &n)))
        at_diag_set(d, rc, kpath, 0, 0, "cannot read the TLS key: %s", at_err_msg(rc));
    if (rc == 0) {
        char fp[128];
        if (at_tls_fingerprint(s->cert_pem, fp, sizeof(fp)) == 0)
            at_info("atlasd", "TLS certificate %s, SHA-256 fingerprint %s", cpath, fp);
        s->sec.tls = 1;
    }
    free(cpath);
    free(kpath);
    return rc;
}

int at_daemon_security_start(struct at_daemon_security *s, const struct at_config *config,
                             const char *data_dir, const char *db, struct at_diag *d)
{
    memset(s, 0, sizeof(*s));
    unsigned char tk[32], bk[32];
    int rc = at_seckey_load(data_dir, tk, bk, d);
    if (rc)
        return rc;
    if ((rc = at_secstore_open(db, &s->sec.ss, d)))
        goto out;
    s->sec.audit = at_audit_new(s->sec.ss);
    if ((rc = at_tokens_new(s->sec.ss, tk, &s->sec.tokens, d)) ||
        (rc = at_secrets_new(s->sec.ss, bk, &s->sec.secrets, d)))
        goto out;
    /* secret values never reach the log */
    at_log_set_filter(at_http_log_redact, s->sec.secrets);
    json_t *rate = json_object_get(json_object_get(config->json, "security"), "rate_limit_per_min");
    if (json_is_integer(rate))
        at_tokens_set_default_rate(s->sec.tokens, json_integer_value(rate));
    json_t *quota = json_object_get(json_object_get(config->json, "security"), "tokens_per_day");
    if (json_is_integer(quota))
        at_tokens_set_default_quota(s->sec.tokens, json_integer_value(quota));
    if ((rc = ensure_admin(s, data_dir, d)) || (rc = load_tls(s, config, data_dir, d)))
        goto out;
out:
    sodium_memzero(tk, sizeof(tk));
    sodium_memzero(bk, sizeof(bk));
    return rc;
}

void at_daemon_security_bound(struct at_daemon_security *s, const struct at_config *config,
                              const char *base_url)
{
    struct at_http_security *sec = &s->sec;
    at_http_security_allow_host(sec, "127.0.0.1");
    at_http_security_allow_host(sec, "localhost");
    at_http_security_allow_host(sec, "[::1]");
    /* "http://HOST:PORT" */
    const char *p = strstr(base_url, "://");
    p = p ? p + 3 : base_url;
    const char *colon = strrchr(p, ':');
    if (colon) {
        char host[128];
        snprintf(host, sizeof(host), "%.*s", (int)(colon - p), p);
        if (strcmp(host, "0.0.0.0") != 0 && strcmp(host, "[::]") != 0)
            at_http_security_allow_host(sec, host);
        sec->port = (int)strtol(colon + 1, NULL, 10);
    }
    json_t *hosts = json_object_get(json_object_get(config->json, "security"), "allowed_hosts");
    size_t i;
    json_t *h;
    json_array_foreach(hosts, i, h) at_http_security_allow_host(sec, json_string_value(h));
}

void at_daemon_security_stop(struct at_daemon_security *s)
{
    if (s->sec.secrets)
        at_log_set_filter(NULL, NULL);
    at_tokens_free(s->sec.tokens);
    at_secrets_free(s->sec.secrets);
    at_audit_free(s->sec.audit);
    at_secstore_close(s->sec.ss);
    free(s->cert_pem);
    if (s->key_pem) {
        sodium_memzero(s->key_pem, strlen(s->key_pem));
        free(s->key_pem);
    }
    memset(s, 0, sizeof(*s));
}
