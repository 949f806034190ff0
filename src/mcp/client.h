/*
 * client.h - the MCP client, once, for every transport Atlas speaks it on
 * (DESIGN.md §2): agent processes on stdio (exec/worker.c), remote agents
 * over Streamable HTTP (exec/remote.c: libcurl multi for runs, blocking
 * curl for registration) and `atlas mcp` (cli/cmd_mcp.c, a bridge that
 * relays another client's messages and shares the header and response
 * rules below).
 *
 * It is sans-IO: a client is a state object that produces messages (an
 * outbox the transport drains with at_mcp_client_pop) and consumes what
 * the peer sent (bytes on stdio, parsed messages from an HTTP response),
 * turning them into events.  It never reads, writes, sleeps or looks at a
 * clock, so it is unit-tested by feeding it bytes (tests/unit/test_mcp_client.c)
 * and fuzzed (tests/fuzz/fuzz_mcp_client.c).  The transports are thin
 * adapters around it; a protocol change is an edit here.
 *
 * What it owns:
 * - revision choice (DESIGN.md §1): server/discover with the 2026-07-28
 *   _meta envelope; a peer whose supportedVersions holds 2026-07-28 is
 *   stateless (every request carries the envelope); an error whose
 *   data.supported holds 2026-07-28 (UnsupportedProtocolVersion) is asked
 *   once more, never answered with a 2025 fallback; any other answer leads
 *   to the 2025-11-25 handshake (initialize, notifications/initialized;
 *   MCP 2025-11-25 basic/lifecycle), accepting the session revisions of
 *   at_mcp_version_supported;
 * - request ids and correlation of responses (JSON-RPC 2.0 §5): each
 *   request the caller makes carries a tag that comes back with its answer;
 * - ping answered ({}), MCP 2025-11-25 basic/utilities/ping;
 * - cancellation (notifications/cancelled, basic/utilities/cancellation);
 * - stdio framing (mcp/rpc.h) and, for HTTP, the standard headers
 *   (MCP-Protocol-Version, Mcp-Session-Id, Mcp-Method, Mcp-Name) and the
 *   reading of JSON or SSE answers (MCP 2025-11-25 basic/transports
 *   #streamable-http, "Resumability and Redelivery": Last-Event-ID, retry);
 * - what a CallToolResult means as an Atlas output (at_mcp_tool_output).
 *
 * Strings in messages read here may hold NUL ("\u0000" is valid JSON): they
 * are carried as JSON values; read them with json_string_length.
 *
 * A client is caller-embedded and not thread-safe (one owner: the engine
 * loop, the remote-agent thread, or a CLI process).  Layering: mcp-proto
 * (base/, json/, contract/ only).
 */
#ifndef AT_MCP_CLIENT_H
#define AT_MCP_CLIENT_H

#include "base/buf.h"
#include "base/sse.h"
#include "mcp/rpc.h"

#include <jansson.h>
#include <stddef.h>

/* Requests of one client awaiting an answer at once (AT_ELIMIT beyond). */
#define AT_MCP_CLIENT_MAX_PENDING 16
/* Messages queued and not yet taken by the transport (AT_ELIMIT beyond). */
#define AT_MCP_CLIENT_MAX_OUT 64
#define AT_MCP_PEER_SESSION_MAX 256
/* An Mcp-Name longer than this is not sent (the header is optional). */
#define AT_MCP_NAME_HEADER_MAX 512

enum at_mcp_transport {
    AT_MCP_STDIO, /* newline-delimited JSON-RPC on pipes */
    AT_MCP_HTTP,  /* Streamable HTTP: one POST per message */
};

struct at_mcp_client_cfg {
    enum at_mcp_transport transport;
    int sampling;       /* announce the sampling capability (agents may ask the
                           runtime for model completions) */
    int relay;          /* announce sampling, elicitation and roots: the
                           transport relays the peer's requests for them to
                           whoever started the job (remote agents) */
    size_t max_message; /* stdio: the longest line accepted (AT_E2BIG beyond);
                           0: AT_MCP_MAX_MESSAGE */
    long long *ids;     /* a request-id counter shared by every client of one
                           session (NULL: the client's own).  JSON-RPC ids must
                           be unique within a session: servers (the TS SDK 1.x)
                           route answers to streams by id, so two clients that
                           resume one Mcp-Session-Id must not both send id 1 */
};

/* What the handshake learnt about the peer.  Plain data: a transport may
 * keep it (the remote-agent client caches one per URL) and resume with it. */
struct at_mcp_peer {
    int stateless;                         /* speaks 2026-07-28 */
    char proto[16];                        /* the revision in use */
    char session[AT_MCP_PEER_SESSION_MAX]; /* Mcp-Session-Id (HTTP, 2025-11-25), "" none */
    char server_version[64];               /* serverInfo.version as given, "" none */
};

enum at_mcp_client_state {
    AT_MCP_CLIENT_NEW,      /* nothing sent yet */
    AT_MCP_CLIENT_DISCOVER, /* server/discover sent */
    AT_MCP_CLIENT_INIT,     /* initialize sent (2025-11-25) */
    AT_MCP_CLIENT_READY,    /* the revision is known: requests may go */
    AT_MCP_CLIENT_FAILED,   /* the handshake failed or the peer broke the protocol */
};

/* One message for the transport to send.  body is the compact JSON text
 * without a newline.  method, name and version are what the Streamable HTTP
 * headers carry (at_mcp_http_headers); a stdio transport only needs body. */
struct at_mcp_out {
    struct at_mcp_out *next;
    char *body; /* owned */
    size_t len;
    long long id;                      /* request id; 0 for notifications and answers */
    char method[128];                  /* "" for answers */
    char name[AT_MCP_NAME_HEADER_MAX]; /* Mcp-Name value, "" when none */
    char version[16];                  /* _meta protocolVersion (2026-07-28), "" when none */
};

struct at_mcp_pending {
    long long id;
    int tag;
};

struct at_mcp_client {
    struct at_mcp_client_cfg cfg;
    enum at_mcp_client_state state;
    struct at_mcp_peer peer;
    long long next_id;
    long long hs_id; /* the handshake request in flight, 0 when none */
    int discovers;   /* server/discover sent in this handshake */
    struct at_mcp_pending pending[AT_MCP_CLIENT_MAX_PENDING];
    size_t npending;
    struct at_mcp_out *out_head, *out_last;
    size_t nout;
    struct at_rpc_reader rd; /* stdio only */
};

enum at_mcp_ev_kind {
    AT_MCP_EV_NONE,         /* nothing for the caller (a handshake step, a ping
                               answered, an answer nobody waits for) */
    AT_MCP_EV_READY,        /* the handshake finished: see at_mcp_client_peer */
    AT_MCP_EV_RESPONSE,     /* the answer to a request: id, tag, result or error */
    AT_MCP_EV_REQUEST,      /* the peer asks (sampling/createMessage, ...): rid,
                               method, params; answer with at_mcp_client_reply* */
    AT_MCP_EV_NOTIFICATION, /* method, params */
    AT_MCP_EV_FAILED,       /* code and detail: the handshake failed (id is the
                               handshake request's), or the peer wrote something
                               that is not JSON-RPC (AT_EPROTO, excerpt says what)
                               or too long a message (AT_E2BIG); the client is
                               then unusable */
};

struct at_mcp_ev {
    enum at_mcp_ev_kind kind;
    long long id;         /* the id of the request a response answers (any kind) */
    int tag;              /* RESPONSE: the tag given with the request */
    const json_t *rid;    /* REQUEST: the peer's id */
    const char *method;   /* REQUEST, NOTIFICATION */
    json_t *params;       /* REQUEST, NOTIFICATION: an object or NULL */
    json_t *result;       /* RESPONSE: the result; NULL for an error */
    json_t *error;        /* RESPONSE: the error object; NULL for a result */
    long long error_code; /* RESPONSE error */
    const char *error_message;
    int code; /* FAILED: AT_E* */
    char detail[400];
    char excerpt[200];     /* FAILED (AT_EPROTO on stdio): the start of the bad line, valid UTF-8 */
    struct at_rpc_msg msg; /* owns the JSON the pointers above borrow */
};

/* Set up c (no I/O).  Release with at_mcp_client_release. */
void at_mcp_client_init(struct at_mcp_client *c, const struct at_mcp_client_cfg *cfg);
void at_mcp_client_release(struct at_mcp_client *c);

/* Begin the handshake: queue server/discover.  Returns 0. */
int at_mcp_client_start(struct at_mcp_client *c);
/* Skip the handshake: the peer is known (a cached remote session). */
void at_mcp_client_resume(struct at_mcp_client *c, const struct at_mcp_peer *peer);
/* Forget the peer, pending requests and queued messages (the peer lost its
 * session: MCP 2025-11-25, HTTP 404 for a session id).  Then start again. */
void at_mcp_client_reset(struct at_mcp_client *c);

static inline int at_mcp_client_ready(const struct at_mcp_client *c)
{
    return c->state == AT_MCP_CLIENT_READY;
}
static inline const struct at_mcp_peer *at_mcp_client_peer(const struct at_mcp_client *c)
{
    return &c->peer;
}

/* Queue a request (READY only).  params is stolen (NULL: {}); for a
 * stateless peer the 2026-07-28 _meta envelope is merged into params._meta.
 * tag (>= 0) comes back in the answer's event.  Returns the request id
 * (> 0), AT_ESTATE before READY, or AT_ELIMIT when too many requests await
 * answers or too many messages are queued. */
long long at_mcp_client_request(struct at_mcp_client *c, int tag, const char *method,
                                json_t *params);
/* tools/call of tool with arguments (borrowed) and _meta (stolen, may be
 * NULL).  As at_mcp_client_request. */
long long at_mcp_client_call_tool(struct at_mcp_client *c, int tag, const char *tool,
                                  json_t *arguments, json_t *meta);
/* A health check: ping (2025-11-25) or server/discover (2026-07-28, which
 * has no ping for stateless servers).  As at_mcp_client_request. */
long long at_mcp_client_ping(struct at_mcp_client *c, int tag);

/* Ask the peer to stop request id (notifications/cancelled with reason).
 * The request stays pending: its answer, if one comes, is still an event.
 * Returns 0, or 1 when nothing is queued because the transport cancels by
 * closing the request's stream (Streamable HTTP, 2026-07-28). */
int at_mcp_client_cancel(struct at_mcp_client *c, long long id, const char *reason);
/* Stop waiting for request id: its answer becomes EV_NONE. */
void at_mcp_client_forget(struct at_mcp_client *c, long long id);

/* Answer a request of the peer (rid borrowed): a result (borrowed; NULL:
 * {}), or an error with a JSON-RPC code.  Returns 0 or AT_ELIMIT. */
int at_mcp_client_reply(struct at_mcp_client *c, const json_t *rid, json_t *result);
int at_mcp_client_reply_error(struct at_mcp_client *c, const json_t *rid, int code,
                              const char *message);

/* Take the next queued message (caller frees with at_mcp_out_free), or
 * NULL when there is none. */
struct at_mcp_out *at_mcp_client_pop(struct at_mcp_client *c);
void at_mcp_out_free(struct at_mcp_out *o);

/* stdio: append bytes read from the peer's stdout (at most 64 KiB per
 * call, after taking every event with at_mcp_client_next).  Returns 0, or
 * AT_E2BIG when the bytes cannot be held (a message past max_message: the
 * next at_mcp_client_next reports it). */
int at_mcp_client_feed(struct at_mcp_client *c, const char *data, size_t len);
/* stdio: the next event from the bytes fed so far.  Returns 1 with *ev
 * filled (release it with at_mcp_ev_release), or 0 when no complete
 * message is left.  Events of kind NONE are never returned here. */
int at_mcp_client_next(struct at_mcp_client *c, struct at_mcp_ev *ev);

/* HTTP: one message of an answer (v borrowed; an object, or anything else,
 * which is ignored).  Fills *ev (release with at_mcp_ev_release); its kind
 * may be NONE. */
void at_mcp_client_recv(struct at_mcp_client *c, json_t *v, struct at_mcp_ev *ev);
/* HTTP: the exchange that carried request id ended without its answer.
 * Returns 1 when the client went on (a server/discover that the server did
 * not understand: initialize is queued), else 0 (the request is dropped;
 * the caller fails what waited for it). */
int at_mcp_client_unanswered(struct at_mcp_client *c, long long id);
/* HTTP: the Mcp-Session-Id header of an answer; adopted when the client
 * has no session yet, the peer is not stateless and initialize was sent
 * (call it before the answer's messages are handed to the client). */
void at_mcp_client_session(struct at_mcp_client *c, const char *session_id);

void at_mcp_ev_release(struct at_mcp_ev *ev);

/* "message (JSON-RPC error code)" for an error answer, into out. */
void at_mcp_ev_error_text(const struct at_mcp_ev *ev, char *out, size_t n);

/* What a CallToolResult means as the output of an Atlas job (docs/
 * agent-protocol.md §4): structuredContent when present; else the first
 * text content that is JSON; else {"content": [blocks]} (Atlas's own MCP
 * server turns that back into the same blocks).  isError: AT_EAGENT with
 * the first text content as the message.  A resultType other than
 * "complete" (an input_required result the transport did not handle) is
 * AT_EPROTO, never an output.  Returns 0 and *out (new reference),
 * AT_EAGENT or AT_EPROTO with why filled (valid UTF-8). */
int at_mcp_tool_output(const json_t *result, json_t **out, char *why, size_t whylen);

/* The _meta of a tools/call that runs an Atlas job (docs/agent-protocol.md
 * §4): progressToken and io.atlas/jobId (the job id), io.atlas/token (the
 * job's token; NULL: none, as for a remote server, which is a third party
 * that must get nothing that works against atlasd).  New reference. */
json_t *at_mcp_job_meta(const char *job_id, const char *token);

/* The 2026-07-28 _meta envelope the client sends (new reference). */
json_t *at_mcp_client_meta(int sampling);

/* MCP 2026-07-28 "input required" (multi-round-trip requests): a result
 * whose resultType is "input_required" asks the client for the answers to
 * the requests in inputRequests ({key: {method, params}}) and to send the
 * same request again with params.inputResponses ({key: result}) and
 * params.requestState (echoed as given).  1 for such a result, else 0. */
int at_mcp_result_input_required(const json_t *result);

/* ---- Streamable HTTP (client_http.c) ---- */

/* Fill o's header fields (id, method, name, version) from message msg by
 * the one rule every Atlas client uses: Mcp-Method is the method, Mcp-Name
 * the params.name of tools/call and prompts/get and the params.uri of
 * resources/read; they and MCP-Protocol-Version come from a message that
 * carries the 2026-07-28 envelope.  body is left alone. */
void at_mcp_out_describe(struct at_mcp_out *o, const json_t *msg);

enum at_mcp_http_verb {
    AT_MCP_HTTP_POST,   /* a message (o) */
    AT_MCP_HTTP_GET,    /* the session's stream, or the rest of one (last_event_id) */
    AT_MCP_HTTP_DELETE, /* end the session */
};
/* The headers of one request, each as "Name: value", through add (MCP
 * 2025-11-25 basic/transports#streamable-http; 2026-07-28 standard
 * headers; values that are not printable ASCII in MCP's =?base64?...?=
 * form; values with control characters are never sent).  peer gives the
 * revision and session (may be NULL); o is the message for a POST;
 * last_event_id may be NULL. */
void at_mcp_http_headers(enum at_mcp_http_verb verb, const struct at_mcp_peer *peer,
                         const struct at_mcp_out *o, const char *last_event_id,
                         void (*add)(void *arg, const char *line), void *arg);

/* MCP 2026-07-28 (SEP-2243) custom headers: a property of a tool's
 * inputSchema may carry "x-mcp-header": NAME, and a tools/call then
 * mirrors that argument into "Mcp-Param-NAME".  A valid annotation is a
 * non-empty header token (RFC 9110 tchar), unique case-insensitively
 * within the tool, on a property of type string, integer or boolean.
 * Returns 0, or AT_EINVAL with why filled (the client must not use such a
 * tool). */
int at_mcp_check_param_headers(const json_t *input_schema, char *why, size_t n);
/* The Mcp-Param-* lines of a tools/call of a tool with input_schema and
 * arguments, through add: strings as they are when printable ASCII
 * without surrounding whitespace (else =?base64?...?=), integers in
 * decimal, booleans as true/false; a null or absent argument sends
 * nothing.  Only for a schema at_mcp_check_param_headers accepts. */
void at_mcp_param_headers(const json_t *input_schema, const json_t *arguments,
                          void (*add)(void *arg, const char *line), void *arg);

/* Called with each JSON value of an answer (borrowed); return non-zero to
 * stop reading (what the caller waited for is in). */
typedef int (*at_mcp_msg_fn)(void *arg, json_t *v);

/* One HTTP answer: headers, then the body, JSON or an event stream, parsed
 * as it arrives (a response may come on a stream that never ends, and a
 * stream may end before the response).  Caller-embedded. */
struct at_mcp_http_resp {
    char content_type[128];
    char session[AT_MCP_PEER_SESSION_MAX]; /* Mcp-Session-Id, "" when none */
    int sse;                               /* text/event-stream */
    int stopped;                           /* on_msg asked to stop */
    int not_json;                          /* a JSON answer that does not parse */
    size_t max;                            /* the largest body or event */
    struct at_buf body;                    /* a JSON answer */
    struct at_sse_parser parser;
    char last_event_id[128]; /* kept across at_mcp_http_resp_reset (resumption) */
    long retry_ms;           /* the server's retry field, -1 when none; kept too */
    at_mcp_msg_fn on_msg;
    void *arg;
};

void at_mcp_http_resp_init(struct at_mcp_http_resp *r, size_t max, at_mcp_msg_fn on_msg, void *arg);
/* Ready for the next exchange (last_event_id and retry_ms stay). */
void at_mcp_http_resp_reset(struct at_mcp_http_resp *r);
void at_mcp_http_resp_release(struct at_mcp_http_resp *r);
/* One header line as libcurl hands it ("Name: value\r\n"). */
void at_mcp_http_resp_header(struct at_mcp_http_resp *r, const char *line, size_t len);
/* Body bytes.  Returns 0 to go on, 1 when on_msg asked to stop, AT_E2BIG
 * when the body or an event is larger than max. */
int at_mcp_http_resp_body(struct at_mcp_http_resp *r, const char *p, size_t len);
/* The body ended: deliver what is left (a JSON answer; an event without
 * its final blank line).  Returns 0, or AT_EPROTO when a JSON answer is
 * not JSON (not_json set). */
int at_mcp_http_resp_end(struct at_mcp_http_resp *r);

#endif
