/*
 * trust_routes.c - the publishers' keys this daemon verifies signatures
 * against (docs/api.md "Trust", docs/distribution.md "Trust and policy").
 *
 *   GET  /api/v1/trust   {"publishers": {PUBLISHER: ["ed25519:...", ...]}}
 *   POST /api/v1/trust   {"publisher", "key"}: trust the key (admin)
 */
#include "http/api.h"

#include "base/err.h"
#include "dist/sign.h"
#include "dist/trust.h"
#include "json/json.h"

static void h_list(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    at_http_reply_json(r, 200, json_pack("{s:o}", "publishers", at_dist_trust_keys(api->data_dir)));
}

static void h_add(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    struct at_diag d;
    at_diag_clear(&d);
    int added = 0;
    const char *pub = at_json_str(body, "publisher", NULL);
    const char *key = at_json_str(body, "key", NULL);
    int rc = at_dist_trust_add(api->data_dir, pub, key, &added, &d);
    if (rc) {
        at_http_reply_diag(r, &d);
    } else {
        unsigned char pk[crypto_sign_PUBLICKEYBYTES];
        char id[AT_SIG_KEYID_LEN];
        at_sig_public_parse(key, pk);
        at_sig_keyid(pk, id);
        at_http_reply_json(r, added ? 201 : 200,
                           json_pack("{s:s, s:s, s:s, s:b}", "publisher", pub, "key", key, "keyid",
                                     id, "added", added));
    }
    json_decref(body);
}

static const struct at_http_route routes[] = {
    {"GET", AT_HTTP_API "/trust", h_list, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"POST", AT_HTTP_API "/trust", h_add, AT_HTTP_NEED_ADMIN, AT_HTTP_BLOCKING, 0, NULL},
};

int at_http_trust_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
