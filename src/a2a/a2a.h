/*
 * a2a.h - the Agent2Agent protocol (A2A 1.0, and the 0.3 method names and
 * shapes SDKs still send) as data: JSON-RPC requests parsed, Atlas job
 * states mapped onto task states, messages turned into an agent's input,
 * tasks and stream events built, agent cards canonicalised and signed
 * (docs/a2a.md, docs/internals/a2a.md).
 *
 * This layer knows nothing of jobs, the engine or HTTP: the routes
 * (src/http/a2a_routes.c) hand it plain values.  Everything here is pure
 * and thread-safe; parsers are hostile-input code (tests/fuzz/fuzz_a2a.c).
 */
#ifndef AT_A2A_H
#define AT_A2A_H

#include "base/buf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Protocol versions (the A2A-Version header, A2A 1.0 §3.6.2). */
enum at_a2a_ver { AT_A2A_V03 = 3, AT_A2A_V10 = 10 };

/* Methods, one per operation whatever the version's name for it. */
enum at_a2a_op {
    AT_A2A_SEND,      /* SendMessage | message/send */
    AT_A2A_STREAM,    /* SendStreamingMessage | message/stream */
    AT_A2A_GET,       /* GetTask | tasks/get */
    AT_A2A_LIST,      /* ListTasks | tasks/list */
    AT_A2A_CANCEL,    /* CancelTask | tasks/cancel */
    AT_A2A_SUBSCRIBE, /* SubscribeToTask | tasks/resubscribe */
    AT_A2A_PUSH_SET,  /* CreateTaskPushNotificationConfig | tasks/pushNotificationConfig/set */
    AT_A2A_PUSH_GET,  /* GetTaskPushNotificationConfig | .../get */
    AT_A2A_PUSH_LIST, /* ListTaskPushNotificationConfigs | .../list */
    AT_A2A_PUSH_DEL,  /* DeleteTaskPushNotificationConfig | .../delete */
    AT_A2A_EXT_CARD,  /* GetExtendedAgentCard | agent/getAuthenticatedExtendedCard */
    AT_A2A_NOPS
};

/* JSON-RPC 2.0 and A2A error codes (A2A 1.0 §5.4). */
enum {
    AT_A2A_EPARSE = -32700,
    AT_A2A_EREQUEST = -32600,
    AT_A2A_EMETHOD = -32601,
    AT_A2A_EPARAMS = -32602,
    AT_A2A_EINTERNAL = -32603,
    AT_A2A_ETASK_NOT_FOUND = -32001,
    AT_A2A_ENOT_CANCELABLE = -32002,
    AT_A2A_EPUSH_UNSUPPORTED = -32003,
    AT_A2A_EUNSUPPORTED = -32004,
    AT_A2A_ECONTENT_TYPE = -32005,
    AT_A2A_EEXT_CARD = -32007,
    AT_A2A_EVERSION = -32009,
};

/* Limits on what a request may carry. */
#define AT_A2A_MAX_BODY (4u << 20)
#define AT_A2A_MAX_PARTS 256
#define AT_A2A_MAX_TEXT (1u << 20)

/* A parsed JSON-RPC request. */
struct at_a2a_req {
    json_t *id;     /* the request id (string, number or null); owned */
    json_t *params; /* an object (empty when absent); owned */
    enum at_a2a_op op;
    enum at_a2a_ver ver; /* the version its answer is shaped for */
    int rest;            /* the HTTP+JSON binding's (set by its routes, not the parser) */
};

/* An error found while parsing: a JSON-RPC code and a message. */
struct at_a2a_err {
    int code;
    char msg[256];
};

/* Parse body[0..len) as one JSON-RPC 2.0 request.  version is the
 * A2A-Version header (NULL: absent, then the method name's version).
 * Returns 0 and fills out (release with at_a2a_req_release), or -1 with
 * err set; out->id is still the request's id when one could be read (the
 * error answer must carry it), else NULL.  Batches are refused. */
int at_a2a_req_parse(const char *body, size_t len, const char *version, struct at_a2a_req *out,
                     struct at_a2a_err *err);
void at_a2a_req_release(struct at_a2a_req *r);

/* The method's name in version ver ("" when that version has none). */
const char *at_a2a_op_name(enum at_a2a_op op, enum at_a2a_ver ver);

/* An Atlas job state ("queued", "running", "completed", "failed",
 * "cancelled", and "input_required": a running job whose agent waits for
 * its caller's answer) as a task state of version ver:
 * "TASK_STATE_SUBMITTED"... for 1.0, "submitted"... for 0.3; NULL for an
 * unknown state. */
const char *at_a2a_state(const char *job_state, enum at_a2a_ver ver);
/* A task state of either version ("TASK_STATE_WORKING", "working") as the
 * Atlas job state it maps from, or NULL when none maps to it. */
const char *at_a2a_job_state(const char *task_state);
/* 1 when the task state (either version) is terminal or interrupted. */
int at_a2a_state_final(const char *task_state);

/* The agent's input from an A2A message (params.message): the first data
 * part's object; else the text parts joined, parsed when they are a JSON
 * object, {"text": TEXT} when not.  Returns 0 and a new object, or -1
 * with err (AT_A2A_EPARAMS) naming what is wrong. */
int at_a2a_message_input(const json_t *message, json_t **input, struct at_a2a_err *err);

/* What a task is made of (borrowed values). */
struct at_a2a_task {
    const char *id;         /* the job id */
    const char *context_id; /* NULL: the job id */
    const char *job_state;  /* Atlas's name */
    const json_t *output;   /* completed: the artifact's data part; else NULL */
    const char *detail;     /* the status message's text (failed, cancelled: the error;
                               input_required: the question), or NULL */
    const json_t *history;  /* the user's message, or NULL */
    int64_t updated_ms;     /* status timestamp (0: none) */
    const char *agent;      /* metadata "atlas.agent" (NULL: none) */
};

/* A Task object of version ver.  A new reference. */
json_t *at_a2a_task_json(const struct at_a2a_task *t, enum at_a2a_ver ver);
/* Stream events (StreamResponse members for 1.0, kind-tagged for 0.3):
 * {"task": Task} / Task; a status update of the task's state; an artifact
 * update carrying its output.  final marks the last status update. */
json_t *at_a2a_event_task(const struct at_a2a_task *t, enum at_a2a_ver ver);
json_t *at_a2a_event_status(const struct at_a2a_task *t, int final, enum at_a2a_ver ver);
json_t *at_a2a_event_artifact(const struct at_a2a_task *t, enum at_a2a_ver ver);
/* The answer of SendMessage: {"task": Task} (1.0) or the Task (0.3). */
json_t *at_a2a_send_result(const struct at_a2a_task *t, enum at_a2a_ver ver);

/* JSON-RPC responses (id borrowed, NULL as null; result and data stolen). */
json_t *at_a2a_result(const json_t *id, json_t *result);
json_t *at_a2a_error(const json_t *id, int code, const char *message, json_t *data);

/* The HTTP+JSON binding's error body for a JSON-RPC code (A2A 1.0 §11.6:
 * google.rpc.Status with an ErrorInfo naming the A2A reason):
 * {"error": {"code": HTTP, "status", "message", "details": [{"@type",
 * "reason", "domain": "a2a-protocol.org"}]}}, and its HTTP status in
 * *http.  A new reference. */
json_t *at_a2a_rest_error(int code, const char *message, int *http);

/* ---- agent cards (card.c) ---- */

/* The canonical form of a card that A2A 1.0 §8.4 signs: the card without
 * "signatures", every null, empty string, empty array and empty object
 * removed (recursively, until none is left), then RFC 8785 JSON
 * Canonicalization (sorted keys, shortest round-trip numbers, minimal
 * escapes).  Appends to out.  0, or AT_E2BIG when out's limit is hit. */
int at_a2a_canonical(const json_t *card, struct at_buf *out);

/* Sign card in place: "signatures": [{"protected", "signature"}], a JWS
 * (RFC 7515) with a detached payload (the canonical form) made with
 * Ed25519 ("alg": "EdDSA", RFC 8037), "kid": kid, "jku": jku (NULL: none).
 * 0 or AT_E2BIG. */
int at_a2a_card_sign(json_t *card, const unsigned char sk[64], const char *kid, const char *jku);
/* The public key as a JWK Set {"keys": [{"kty": "OKP", "crv": "Ed25519",
 * "x", "kid", "use": "sig", "alg": "EdDSA"}]}.  A new reference. */
json_t *at_a2a_jwks(const unsigned char pk[32], const char *kid);
/* The key id Atlas uses for pk: "atlas-" + the first 16 base64url
 * characters of its SHA-256 (out: at least 32 bytes). */
void at_a2a_kid(const unsigned char pk[32], char *out, size_t n);
/* base64url without padding of data[0..len) into out (NUL-terminated);
 * 0, or AT_E2BIG when n is too small. */
int at_a2a_b64url(const unsigned char *data, size_t len, char *out, size_t n);

#endif
