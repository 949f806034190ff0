/*
 * tls.c - a self-signed key pair and fingerprints (tls.h), with GnuTLS
 * (the library libmicrohttpd serves TLS with).
 */
#include "security/tls.h"

#include "base/err.h"
#include "base/fs.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void add_san(gnutls_x509_crt_t crt, const char *host)
{
    unsigned char ip[16];
    char h[128];
    snprintf(h, sizeof(h), "%s", host);
    size_t n = strlen(h);
    if (n > 2 && h[0] == '[' && h[n - 1] == ']') { /* "[::1]" */
        memmove(h, h + 1, n - 2);
        h[n - 2] = '\0';
    }
    if (inet_pton(AF_INET, h, ip) == 1)
        gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4, GNUTLS_FSAN_APPEND);
    else if (inet_pton(AF_INET6, h, ip) == 1)
        gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 16, GNUTLS_FSAN_APPEND);
    else if (h[0])
        gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, h, (unsigned)strlen(h),
                                             GNUTLS_FSAN_APPEND);
}

int at_tls_self_signed(const char *host, const char *cert_path, const char *key_path,
                       struct at_diag *d)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t kpem = {NULL, 0}, cpem = {NULL, 0};
    int rc = AT_EINTERNAL;
    const char *what = "generate a key";
    if (gnutls_x509_privkey_init(&key) < 0 ||
        gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
        goto out;
    what = "make the certificate";
    if (gnutls_x509_crt_init(&crt) < 0)
        goto out;
    unsigned char serial[16];
    randombytes_buf(serial, sizeof(serial));
    serial[0] &= 0x7f; /* a positive number */
    time_t now = time(NULL);
    const char *cn = host && *host && strcmp(host, "0.0.0.0") != 0 ? host : "atlasd";
    if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
        gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
        gnutls_x509_crt_set_activation_time(crt, now - 300) < 0 ||
        gnutls_x509_crt_set_expiration_time(crt, now + 825L * 86400) < 0 ||
        gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                      (unsigned)strlen(cn)) < 0 ||
        gnutls_x509_crt_set_key(crt, key) < 0 ||
        gnutls_x509_crt_set_basic_constraints(crt, 0, -1) < 0 ||
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
        gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0) < 0)
        goto out;
    add_san(crt, cn);
    add_san(crt, "localhost");
    add_san(crt, "127.0.0.1");
    add_san(crt, "::1");
    if (gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0)
        goto out;
    what = "export the key pair";
    if (gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &kpem) < 0 ||
        gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem) < 0)
        goto out;
    if ((rc = at_fs_write_atomic(key_path, kpem.data, kpem.size, 0600))) {
        at_diag_set(d, rc, key_path, 0, 0, "cannot write the TLS key: %s", at_err_msg(rc));
        goto done;
    }
    if ((rc = at_fs_write_atomic(cert_path, cpem.data, cpem.size, 0644))) {
        at_diag_set(d, rc, cert_path, 0, 0, "cannot write the TLS certificate: %s", at_err_msg(rc));
        goto done;
    }
    rc = 0;
    goto done;
out:
    at_diag_set(d, rc, NULL, 0, 0, "cannot %s for TLS (GnuTLS)", what);
done:
    if (kpem.data) {
        sodium_memzero(kpem.data, kpem.size);
        gnutls_free(kpem.data);
    }
    gnutls_free(cpem.data);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (key)
        gnutls_x509_privkey_deinit(key);
    return rc;
}

int at_tls_fingerprint(const char *pem, char *out, size_t n)
{
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return AT_EINTERNAL;
    gnutls_datum_t in = {(unsigned char *)pem, (unsigned)strlen(pem)};
    unsigned char fp[32];
    size_t fl = sizeof(fp);
    int rc = AT_EPARSE;
    if (gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM) >= 0 &&
        gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp, &fl) >= 0 && n >= fl * 3) {
        for (size_t i = 0; i < fl; i++)
            snprintf(out + i * 3, n - i * 3, "%02X%s", fp[i], i + 1 < fl ? ":" : "");
        rc = 0;
    }
    gnutls_x509_crt_deinit(crt);
    return rc;
}
