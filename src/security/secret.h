/*
 * secret.h - the data directory's key and the secrets sealed with it.
 *
 * DATA/atlas.key holds 32 random bytes (0600, created on first start).
 * Subkeys are derived from it (crypto_kdf): one keys the token hashes
 * (token.h), one seals secrets (crypto_secretbox: XSalsa20-Poly1305, a
 * random nonce per secret).  Whoever reads the key file can read the
 * secrets: it is as sensitive as the data directory itself
 * (docs/security.md "Threat model").
 *
 * Secrets are handed to the processes of agents whose contract lists them
 * under requires.secrets, in their environment, and are redacted from
 * logs, job records and errors (at_secrets_redact).
 * Thread-safe.
 */
#ifndef AT_SECURITY_SECRET_H
#define AT_SECURITY_SECRET_H

#include "base/buf.h"
#include "base/diag.h"
#include "store/store.h"

#include <jansson.h>
#include <stddef.h>

#define AT_SECRET_NAME_MAX 128
#define AT_SECRET_VALUE_MAX (64u << 10)
#define AT_SECRET_REDACTED "[redacted]"

/* Read DATA/atlas.key, creating it (0600) when absent; refuse one that
 * others may read.  Fills the token-hash subkey and the secretbox subkey. */
int at_seckey_load(const char *data_dir, unsigned char token_key[32], unsigned char box_key[32],
                   struct at_diag *d);

/* The daemon's Ed25519 signing key pair (the audit trail's, docs/audit.md
 * "Keys"), derived from DATA/atlas.key (crypto_kdf subkey 3, "atlsignk"),
 * so it lives and dies with the data directory's key.  Caller wipes sk. */
int at_seckey_signing(const char *data_dir, unsigned char pk[32], unsigned char sk[64],
                      struct at_diag *d);

struct at_secrets;
/* Opens every stored secret; one that this key cannot open (a store
 * restored without its atlas.key) is left out with a warning. */
int at_secrets_new(struct at_secstore *ss, const unsigned char box_key[32], struct at_secrets **out,
                   struct at_diag *d);
void at_secrets_free(struct at_secrets *s);
/* Seal and store.  AT_EINVAL: a bad name (A-Z, 0-9, _; not starting with a
 * digit) or an empty value; AT_E2BIG: over AT_SECRET_VALUE_MAX. */
int at_secrets_set(struct at_secrets *s, const char *name, const char *value, size_t len,
                   struct at_diag *d);
/* The plain value (caller frees with at_secret_free), or AT_ENOENT. */
int at_secrets_get(struct at_secrets *s, const char *name, char **value);
/* 1 when a secret of that name is set (its value is not copied). Thread-safe. */
int at_secrets_has(struct at_secrets *s, const char *name);
void at_secret_free(char *value);
int at_secrets_delete(struct at_secrets *s, const char *name);
/* [{name, updated_ms}]; values never leave through the API. */
int at_secrets_list(struct at_secrets *s, json_t **out);
/* Replace every known secret value in text[0..len) by AT_SECRET_REDACTED,
 * into out (initialised by the caller).  Returns the number replaced. */
int at_secrets_redact(struct at_secrets *s, const char *text, size_t len, struct at_buf *out);
/* 1 when text holds a secret value (a cheaper test than redacting). */
int at_secrets_contains(struct at_secrets *s, const char *text, size_t len);
/* How many secrets there are (0: nothing to redact, skip the work). */
size_t at_secrets_count(struct at_secrets *s);
/* A copy of v with every secret value redacted, or NULL when v holds none
 * (new reference). */
json_t *at_secrets_redacted_copy(struct at_secrets *s, const json_t *v);
/* Redact every string in v (deep) in place; returns the number replaced. */
int at_secrets_redact_json(struct at_secrets *s, json_t *v);

#endif
