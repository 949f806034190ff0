/*
 * client_curl.h - the MCP client's Streamable HTTP exchanges over libcurl
 * easy handles, shared by every HTTP user of the client (mcp/client.h):
 * remote agents (exec/remote.c) and remote MCP skills (skills/mount.c).
 *
 * One exchange is one easy handle prepared with at_mcp_xfer_prepare: the
 * client's headers for the message (MCP 2025-11-25
 * basic/transports#streamable-http) plus the caller's own (credentials),
 * the body, a deadline, no redirects; curl's callbacks feed the client's
 * answer reader (at_mcp_http_resp, JSON or SSE) until the answer to the
 * message comes.  Blocking (curl_easy_perform) or on a multi handle: the
 * transfer is the caller's.  The protocol stays the client's; this file
 * only moves bytes.
 *
 * Not thread-safe: an exchange and its client belong to one thread.
 */
#ifndef AT_MCP_CLIENT_CURL_H
#define AT_MCP_CLIENT_CURL_H

#include "mcp/client.h"

#include <curl/curl.h>

/* One exchange's answer reader.  Caller-embedded: init, then reset per
 * transfer (prepare does it), release. */
struct at_mcp_xfer {
    struct at_mcp_client *mc;
    struct at_mcp_http_resp resp;
    long long want;      /* the request whose answer ends the exchange (0: none) */
    int answered;        /* its answer came: ev holds its event */
    struct at_mcp_ev ev; /* the answer's event (RESPONSE, READY, FAILED or NONE) */
    /* the other messages of the answer (the server's notifications and
     * requests), NULL: dropped.  Called from a curl callback: no multi
     * calls in it. */
    void (*on_other)(void *arg, struct at_mcp_ev *ev);
    void *other_arg;
};

/* max bounds one answer (a body, an event). */
void at_mcp_xfer_init(struct at_mcp_xfer *x, struct at_mcp_client *mc, size_t max);
/* Ready for the answer to request want (0: a notification). */
void at_mcp_xfer_reset(struct at_mcp_xfer *x, long long want);
void at_mcp_xfer_release(struct at_mcp_xfer *x);

/* Reset h and set it up for one request to url: a POST of o, or (o NULL)
 * a GET of the rest of a stream after last_event_id; peer gives the
 * session's headers, extra (NULL-terminated "Name: value" lines, or NULL)
 * is added after them; timeout_ms bounds the transfer (connecting at most
 * 10 s of it).  Returns the header list, which the caller frees with
 * curl_slist_free_all once the transfer ended. */
struct curl_slist *at_mcp_xfer_prepare(CURL *h, const char *url, const struct at_mcp_peer *peer,
                                       const struct at_mcp_out *o, const char *last_event_id,
                                       const char *const *extra, struct at_mcp_xfer *x,
                                       long timeout_ms);
/* The transfer on h ended with cc: settle the answer reader (the session
 * id, what is left of the body).  *status: the HTTP status.  Returns the
 * result to act on (a write error after the answer came is success: we
 * stopped reading). */
CURLcode at_mcp_xfer_end(struct at_mcp_xfer *x, CURL *h, CURLcode cc, long *status);

/* Why an exchange for request id holds no answer, into out. */
void at_mcp_xfer_no_answer(const struct at_mcp_xfer *x, long status, long long id, char *out,
                           size_t n);
/* A header line through curl: "Name: " (an empty value) as "Name;". */
void at_mcp_curl_add_line(void *arg, const char *line);

#endif
