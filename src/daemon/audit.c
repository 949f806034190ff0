/*
 * audit.c - atlasd's audit trail brought up (audit.h).
 */
#include "daemon/audit.h"

#include "base/err.h"
#include "base/log.h"
#include "json/json.h"
#include "security/secret.h"
#include "tlog/tpm.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int agent_digest(void *arg, const char *name, const char *version, char out[80])
{
    struct at_daemon_audit *a = arg;
    if (!a->registry)
        return AT_ENOENT;
    char ref[512];
    snprintf(ref, sizeof(ref), "%s:%s", name, version);
    struct at_reg_agent *ag = NULL;
    if (at_registry_resolve(a->registry, ref, &ag))
        return AT_ENOENT;
    snprintf(out, 80, "%s", ag->digest ? ag->digest : "");
    at_reg_agent_unref(ag);
    return 0;
}

static void on_final(void *arg, const struct at_job_rec *rec)
{
    struct at_daemon_audit *a = arg;
    at_tlog_job_final(a->log, rec);
}

int at_daemon_audit_start(struct at_daemon_audit *a, const struct at_config *config,
                          const char *data_dir, const char *db, struct at_audit *funnel,
                          struct at_diag *d)
{
    memset(a, 0, sizeof(*a));
    unsigned char pk[32], sk[64];
    int rc = at_seckey_signing(data_dir, pk, sk, d);
    if (rc)
        return rc;
    json_t *cfg = json_object_get(config->json, "audit");
    struct at_tlog_cfg tc = {
        .origin = json_string_value(json_object_get(cfg, "origin")),
        .checkpoint_every_ms = at_json_int(cfg, "checkpoint_interval_ms", 0),
        .queue_max = (size_t)at_json_int(cfg, "queue_max", 0),
        .node = json_string_value(json_object_get(json_object_get(config->json, "node"), "name")),
        .agent_digest = agent_digest,
        .agent_arg = a,
        .spool_sync = json_is_true(json_object_get(cfg, "spool_sync")),
    };
    /* docs/audit.md "Crash safety": the spool and the high-water mark live
     * beside atlas.db, outside its tables */
    char spool[4096], hwm[4096];
    snprintf(spool, sizeof(spool), "%s/audit.spool", data_dir);
    snprintf(hwm, sizeof(hwm), "%s/audit.hwm", data_dir);
    /* e2e.tlog_crash: records stay queued long enough to kill the daemon under them */
    const char *stall = getenv("ATLAS_TEST_AUDIT_STALL_MS");
    if (stall && *stall) {
        char *end = NULL;
        long long v = strtoll(stall, &end, 10);
        if (end && !*end && v > 0 && v <= 600000)
            tc.test_stall_ms = v;
    }
    const char *rot = getenv("ATLAS_TEST_AUDIT_SPOOL_ROTATE");
    if (rot && *rot) {
        char *end = NULL;
        long long v = strtoll(rot, &end, 10);
        if (end && !*end && v >= 256 && v <= (1LL << 30))
            tc.spool_rotate_bytes = (size_t)v;
    }
    tc.spool_path = spool;
    tc.hwm_path = hwm;
    /* the TPM co-signer: audit.tpm: "swtpm:host=...,port=..." (a TCTI), or absent */
    const char *tcti = json_string_value(json_object_get(cfg, "tpm"));
    struct at_tlog_cosigner co;
    if (tcti && *tcti) {
        rc = at_tlog_tpm_open(tcti, data_dir, &a->tpm, d);
        if (rc)
            goto out;
        at_tlog_tpm_cosigner(a->tpm, &co);
        tc.cosigner = &co;
    }
    if ((rc = at_tlogstore_open(db, &a->ts, d)) ||
        (rc = at_tlog_new(a->ts, pk, sk, &tc, &a->log, d)))
        goto out;
    a->funnel = funnel;
    at_audit_set_sink(funnel, at_tlog_audit_sink, a->log);
out:
    sodium_memzero(sk, sizeof(sk));
    if (rc)
        at_daemon_audit_stop(a);
    return rc;
}

int at_daemon_audit_attach(struct at_daemon_audit *a, struct at_registry *registry,
                           struct at_engine *engine)
{
    a->registry = registry;
    struct at_engine_observer obs = {.on_final = on_final, .arg = a};
    return at_engine_add_observer(engine, &obs);
}

void at_daemon_audit_stop(struct at_daemon_audit *a)
{
    if (a->funnel)
        at_audit_set_sink(a->funnel, NULL, NULL);
    a->funnel = NULL;
    at_tlog_free(a->log);
    a->log = NULL;
    at_tlogstore_close(a->ts);
    a->ts = NULL;
    at_tlog_tpm_close(a->tpm);
    a->tpm = NULL;
}
