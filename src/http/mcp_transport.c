/*
 * mcp_transport.c - the MCP Streamable HTTP transport at /mcp
 * (MCP 2025-11-25 basic/transports#streamable-http; MCP 2026-07-28 for
 * stateless requests), over the transport-independent server in src/mcp/.
 *
 * POST carries one JSON-RPC message.  Notifications and responses get 202.
 * A request answered at once gets application/json.  A request answered
 * later (an agent run) gets an SSE stream when the client accepts one
 * (progress and log notifications travel on it, then the response), else a
 * JSON answer when the job ends.  SSE events carry ids "<stream>-<seq>"; a
 * client that lost a session's stream resumes it with GET and Last-Event-ID
 * (events are replayed from the session's log, and the pending call goes on
 * on the new stream).  GET without Last-Event-ID opens the session's stream
 * for server-initiated notifications (list_changed).  DELETE ends a session.
 *
 * DNS rebinding (MCP 2025-11-25 "Security Warning"): Host and Origin are
 * matched exactly against the configured names by the security middleware
 * (auth.c), on every route.
 */
#include "http/mcp_transport.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/map.h"
#include "base/sse.h"
#include "http/api.h"
#include "http/auth.h"
#include "json/json.h"
#include "mcp/mcp.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SSE_RETRY_MS 1000
#define SSE_MAX_BUFFER (16u << 20)
/* How often stateless SSE streams are probed: MCP 2026-07-28 clients cancel
 * a request by closing its stream, and a suspended connection notices that
 * only when something is written. */
#define PROBE_MS 250
#define MAX_PROBED 4096

struct hchan;

struct at_http_mcp {
    struct at_mcp *m;
    pthread_mutex_t mu;
    struct at_map streams; /* "<session>:<stream>" -> struct hchan (live POST streams) */
    /* stateless pending streams, probed by the prober thread (mu) */
    struct hchan **probed;
    size_t nprobed;
    pthread_t prober;
    pthread_cond_t cv;
    int stop;
};

/* ------------------------------------------------------------------------
 * Channels
 * ------------------------------------------------------------------------ */

enum { CH_PENDING, CH_SSE, CH_JSON };

struct hchan {
    struct at_mcp_chan base;
    atomic_int refs;
    struct at_http_mcp *h;
    pthread_mutex_t mu;
    int mode;
    json_t *queue;                  /* [[msg, final], ...] before the transport decided */
    struct at_http_stream *stream;  /* SSE: current stream (reference), NULL when gone */
    struct at_http_req *req;        /* JSON: the suspended request, NULL when gone/answered */
    int finished;                   /* the final message was sent */
    struct at_mcp_session *session; /* reference, or NULL */
    unsigned stream_no;
    char key[AT_MCP_SESSION_ID_MAX + 16]; /* in h->streams, "" when not there */
    int stateless;
    int is_get;
};

static void ch_ref(struct at_mcp_chan *c)
{
    atomic_fetch_add(&((struct hchan *)c)->refs, 1);
}

static void ch_unref(struct at_mcp_chan *c)
{
    struct hchan *ch = (struct hchan *)c;
    if (!ch || atomic_fetch_sub(&ch->refs, 1) != 1)
        return;
    /* the analyzer does not follow the count: it takes a release of the
     * map's reference (streams_del) for the last one, then the caller's */
    json_decref(ch->queue); // NOLINT(clang-analyzer-unix.Malloc)
    if (ch->stream)
        at_http_stream_unref(ch->stream);
    at_mcp_session_unref(ch->session);
    pthread_mutex_destroy(&ch->mu);
    free(ch);
}

/* Take ch out of h->streams.  ch->key is read and written under h->mu only:
 * the call's end, the stream's close and the session's drop race for it. */
static void streams_del(struct hchan *ch)
{
    int unref = 0;
    pthread_mutex_lock(&ch->h->mu);
    if (ch->key[0]) {
        if (at_map_get(&ch->h->streams, ch->key) == ch) {
            at_map_del(&ch->h->streams, ch->key);
            unref = 1;
        }
        ch->key[0] = '\0';
    }
    pthread_mutex_unlock(&ch->h->mu);
    if (unref)
        ch_unref(&ch->base);
}

/* Write one SSE event (ch->mu held).  Session streams remember it. */
static void sse_emit(struct hchan *ch, const char *text)
{
    char id[48] = "";
    if (ch->session) {
        unsigned long seq = at_mcp_session_log(ch->session, ch->stream_no, text);
        at_mcp_event_id(ch->stream_no, seq, id, sizeof(id));
    }
    if (!ch->stream)
        return;
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    at_sse_write(&b, "message", id[0] ? id : NULL, text, strlen(text));
    if (at_http_stream_write(ch->stream, b.p, b.len)) {
        at_http_stream_unref(ch->stream);
        ch->stream = NULL;
    }
    at_buf_release(&b);
}

/* Deliver msg (stolen) according to the mode; ch->mu held. */
static void deliver(struct hchan *ch, json_t *msg, int final)
{
    if (ch->mode == CH_PENDING) {
        json_array_append_new(ch->queue, json_pack("[o,b]", msg, final));
        return;
    }
    if (ch->finished) {
        json_decref(msg);
        return;
    }
    if (ch->mode == CH_SSE) {
        char *text = at_json_dumps(msg);
        json_decref(msg);
        sse_emit(ch, text);
        free(text);
        if (final) {
            ch->finished = 1;
            if (ch->stream) {
                at_http_stream_close(ch->stream);
                at_http_stream_unref(ch->stream);
                ch->stream = NULL;
            }
        }
        return;
    }
    /* CH_JSON: only the response can be delivered */
    if (!final) {
        json_decref(msg);
        return;
    }
    ch->finished = 1;
    if (ch->req) {
        struct at_http_req *r = ch->req;
        ch->req = NULL;
        at_http_complete_json(r, 200, msg);
    } else {
        json_decref(msg);
    }
}

static int ch_send(struct at_mcp_chan *c, json_t *msg, int final)
{
    struct hchan *ch = (struct hchan *)c;
    pthread_mutex_lock(&ch->mu);
    int gone = ch->mode == CH_SSE ? !ch->stream && !ch->session : ch->mode == CH_JSON && !ch->req;
    if (ch->mode != CH_SSE) {
        /* queued, or answered by an HTTP thread: that thread gets a copy of
         * its own, made here on the sender's thread, so no JSON value is
         * shared between threads (docs/architecture.md; an SSE event is
         * serialised here at once) */
        json_t *own = json_deep_copy(msg);
        if (own) {
            json_decref(msg);
            msg = own;
        }
    }
    deliver(ch, msg, final);
    int drop_key = final && ch->finished;
    pthread_mutex_unlock(&ch->mu);
    if (drop_key)
        streams_del(ch);
    return gone ? AT_ECONN : 0;
}

static const struct at_mcp_chan_ops hchan_ops = {ch_ref, ch_unref, ch_send};

static struct hchan *hchan_new(struct at_http_mcp *h)
{
    struct hchan *ch = at_calloc(1, sizeof(*ch));
    ch->base.ops = &hchan_ops;
    atomic_init(&ch->refs, 1);
    ch->h = h;
    pthread_mutex_init(&ch->mu, NULL);
    ch->mode = CH_PENDING;
    ch->queue = json_array();
    return ch;
}

/* Flush what arrived before the mode was chosen (ch->mu held). */
static int flush_queue(struct hchan *ch)
{
    json_t *q = ch->queue;
    ch->queue = json_array();
    size_t i;
    json_t *e;
    int final = 0;
    json_array_foreach(q, i, e)
    {
        int f = json_is_true(json_array_get(e, 1));
        deliver(ch, json_incref(json_array_get(e, 0)), f);
        final |= f;
    }
    json_decref(q);
    return final;
}

/* ---- stream and request lifetimes ---- */

struct sclose {
    struct hchan *ch;
    struct at_http_stream *st;
};

static void on_stream_closed(void *arg)
{
    struct sclose *sc = arg;
    struct hchan *ch = sc->ch;
    pthread_mutex_lock(&ch->mu);
    if (ch->stream == sc->st) {
        at_http_stream_unref(ch->stream);
        ch->stream = NULL;
    }
    int pending = !ch->finished;
    pthread_mutex_unlock(&ch->mu);
    if (pending && ch->stateless)
        at_mcp_cancel_chan(ch->h->m, &ch->base);
    if (ch->is_get && ch->session)
        at_mcp_unlisten(ch->h->m, ch->session, &ch->base);
    if (!pending || !ch->session)
        streams_del(ch);
    ch_unref(&ch->base);
    free(sc);
}

static struct at_http_stream *open_sse(struct at_http_req *r, struct hchan *ch)
{
    struct sclose *sc = at_calloc(1, sizeof(*sc));
    ch_ref(&ch->base);
    sc->ch = ch;
    struct at_http_stream *st =
        at_http_stream_start(r, 200, "text/event-stream", SSE_MAX_BUFFER, on_stream_closed, sc);
    sc->st = st;
    at_http_stream_set_sse(st);
    return st;
}

static void probe_add(struct at_http_mcp *h, struct hchan *ch)
{
    pthread_mutex_lock(&h->mu);
    if (h->nprobed < MAX_PROBED) {
        ch_ref(&ch->base);
        h->probed[h->nprobed++] = ch;
        pthread_cond_signal(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
}

static void *prober_main(void *arg)
{
    struct at_http_mcp *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        if (h->nprobed == 0) {
            pthread_cond_wait(&h->cv, &h->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += PROBE_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
        for (size_t i = 0; i < h->nprobed;) {
            struct hchan *ch = h->probed[i];
            pthread_mutex_lock(&ch->mu);
            int live = ch->stream && !ch->finished;
            if (live)
                at_http_stream_write(ch->stream, ":\n\n", 2);
            pthread_mutex_unlock(&ch->mu);
            if (live) {
                i++;
                continue;
            }
            h->probed[i] = h->probed[--h->nprobed];
            ch_unref(&ch->base); /* takes no lock of ours */
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* SEP-1699 priming event: an id (so the client can resume from the very
 * start) and the reconnection delay. */
static void write_priming(struct at_http_stream *st, unsigned stream_no)
{
    char buf[96];
    int n = snprintf(buf, sizeof(buf), "id: %u-0\nretry: %d\ndata: \n\n", stream_no, SSE_RETRY_MS);
    at_http_stream_write(st, buf, (size_t)n);
}

static void on_req_gone(void *arg)
{
    struct hchan *ch = arg;
    pthread_mutex_lock(&ch->mu);
    ch->req = NULL;
    int pending = !ch->finished;
    pthread_mutex_unlock(&ch->mu);
    if (pending && ch->stateless)
        at_mcp_cancel_chan(ch->h->m, &ch->base);
    ch_unref(&ch->base);
}

/* ------------------------------------------------------------------------
 * Request helpers
 * ------------------------------------------------------------------------ */

static int accepts(struct at_http_req *r, const char *type)
{
    const char *a = at_http_header(r, "Accept");
    if (!a)
        return 0;
    return strcasestr(a, type) != NULL || strstr(a, "*/*") != NULL;
}

static void fill_ctx(struct at_http_req *r, struct at_mcp_ctx *ctx, char *quota_msg, size_t qn)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->agents = r->agents;
    ctx->owner = at_http_owner_token(r);
    const struct at_http_security *sec = at_http_api_of(r)->security;
    struct at_quota q;
    if (ctx->owner && sec && at_tokens_quota_check(sec->tokens, ctx->owner, &q) == AT_ELIMIT) {
        at_tokens_quota_describe(&q, quota_msg, qn);
        ctx->over_quota = quota_msg;
    }
    /* users admitted by the security middleware (auth.c) use the tools
     * their role grants; agents are judged by their job token */
    ctx->loopback = r->who_kind == AT_WHO_LOCAL || r->who_kind == AT_WHO_USER;
    ctx->granted = r->granted;
    ctx->who = r->who[0] ? r->who : NULL;
    ctx->token = r->who_kind == AT_WHO_JOB ? at_http_bearer(r) : NULL; /* users: not a job's */
    ctx->session_id = at_http_header(r, "Mcp-Session-Id");
    ctx->proto_header = at_http_header(r, "MCP-Protocol-Version");
    ctx->method_header = at_http_header(r, "Mcp-Method");
    ctx->name_header = at_http_header(r, "Mcp-Name");
    ctx->can_stream = accepts(r, "text/event-stream");
}

static void reply_rpc(struct at_http_req *r, int status, json_t *body)
{
    if (body)
        at_http_reply_json(r, status, body);
    else
        at_http_reply_text(r, status, "text/plain", "", 0);
}

static void add_headers(struct at_http_req *r, const struct at_mcp_answer *ans)
{
    if (ans->session_id[0])
        at_http_add_header(r, "Mcp-Session-Id", ans->session_id);
}

/* ------------------------------------------------------------------------
 * POST
 * ------------------------------------------------------------------------ */

static void do_post(struct at_http_mcp *h, struct at_http_req *r)
{
    const char *ct = at_http_header(r, "Content-Type");
    if (ct && strncasecmp(ct, "application/json", 16) != 0) {
        reply_rpc(r, 415,
                  at_mcp_error(NULL, AT_MCP_INVALID_REQUEST,
                               "Content-Type must be application/json", NULL));
        return;
    }
    struct at_mcp_msg msg;
    struct at_diag d;
    at_diag_clear(&d);
    json_t *eid = NULL;
    int rc = at_mcp_msg_parse(r->body.p, r->body.len, &msg, &eid, &d);
    if (rc) {
        reply_rpc(r, 400, at_mcp_error(eid, rc, d.msg, NULL));
        json_decref(eid);
        return;
    }
    json_decref(eid);
    struct at_mcp_ctx ctx;
    char quota_msg[400];
    fill_ctx(r, &ctx, quota_msg, sizeof(quota_msg));
    struct hchan *ch = hchan_new(h);
    struct at_mcp_answer ans;
    at_mcp_handle(h->m, &ctx, &msg, &ch->base, &ans);
    add_headers(r, &ans);
    if (!ans.pending) {
        if (ans.status == 401)
            at_http_add_header(r, "WWW-Authenticate", "Bearer");
        if (ans.body_text)
            at_http_reply_text(r, ans.status, "application/json", ans.body_text,
                               strlen(ans.body_text));
        else
            reply_rpc(r, ans.status ? ans.status : 500, json_incref(ans.body));
        goto done;
    }
    ch->session = ans.session ? at_mcp_session_ref(ans.session) : NULL;
    ch->stateless = !ans.session;
    pthread_mutex_lock(&ch->mu);
    if (ctx.can_stream) {
        ch->mode = CH_SSE;
        ch->stream_no = ch->session ? at_mcp_session_new_stream(ch->session) : 1;
        ch->stream = open_sse(r, ch);
        write_priming(ch->stream, ch->stream_no);
        if (ch->session) {
            ch_ref(&ch->base);
            pthread_mutex_lock(&h->mu);
            snprintf(ch->key, sizeof(ch->key), "%s:%u", ch->session->id, ch->stream_no);
            at_map_put(&h->streams, ch->key, ch);
            pthread_mutex_unlock(&h->mu);
        }
        int final = flush_queue(ch);
        pthread_mutex_unlock(&ch->mu);
        if (final)
            streams_del(ch);
        else if (ch->stateless)
            probe_add(h, ch);
    } else {
        ch->mode = CH_JSON;
        at_http_suspend(r);
        ch->req = r;
        ch_ref(&ch->base);
        r->user = ch;
        r->user_free = on_req_gone;
        flush_queue(ch);
        pthread_mutex_unlock(&ch->mu);
    }
done:
    at_mcp_answer_release(&ans);
    at_mcp_msg_release(&msg);
    ch_unref(&ch->base);
}

/* ------------------------------------------------------------------------
 * GET: resume a stream, or listen for server-initiated messages
 * ------------------------------------------------------------------------ */

struct replay_ctx {
    struct at_buf *b;
};

static void replay_one(const struct at_mcp_event *ev, void *arg)
{
    struct replay_ctx *rc = arg;
    char id[48];
    at_mcp_event_id(ev->stream, ev->seq, id, sizeof(id));
    at_sse_write(rc->b, "message", id, ev->text, strlen(ev->text));
}

static void do_get(struct at_http_mcp *h, struct at_http_req *r)
{
    if (!accepts(r, "text/event-stream")) {
        reply_rpc(r, 406,
                  at_mcp_error(NULL, AT_MCP_INVALID_REQUEST, "GET needs Accept: text/event-stream",
                               NULL));
        return;
    }
    struct at_mcp_ctx ctx;
    char quota_msg[400];
    fill_ctx(r, &ctx, quota_msg, sizeof(quota_msg));
    struct at_mcp_answer ans;
    at_mcp_check_session(h->m, &ctx, &ans);
    if (ans.status != 200) {
        if (!ctx.session_id) {
            /* no session, no stream: stateless servers offer none */
            at_http_add_header(r, "Allow", "POST, DELETE");
            reply_rpc(r, 405,
                      at_mcp_error(NULL, AT_MCP_INVALID_REQUEST,
                                   "GET needs an Mcp-Session-Id (initialize first)", NULL));
        } else {
            reply_rpc(r, ans.status, json_incref(ans.body));
        }
        at_mcp_answer_release(&ans);
        return;
    }
    struct at_mcp_session *s = ans.session;
    const char *last = at_http_header(r, "Last-Event-ID");
    unsigned stream_no;
    unsigned long seq;
    if (last && at_mcp_event_id_parse(last, &stream_no, &seq) == 0) {
        /* MCP 2025-11-25 "Resumability and Redelivery": replay what the
         * client missed on that stream, then go on there */
        char key[AT_MCP_SESSION_ID_MAX + 16];
        snprintf(key, sizeof(key), "%s:%u", s->id, stream_no);
        pthread_mutex_lock(&h->mu);
        struct hchan *ch = at_map_get(&h->streams, key);
        if (ch)
            ch_ref(&ch->base);
        pthread_mutex_unlock(&h->mu);
        struct hchan *tmp = NULL;
        if (!ch) {
            tmp = hchan_new(h); /* the call ended: replay, then close */
            tmp->mode = CH_SSE;
            tmp->finished = 1;
        }
        struct hchan *use = ch ? ch : tmp;
        struct at_http_stream *st = open_sse(r, use);
        pthread_mutex_lock(&use->mu);
        struct at_buf b;
        at_buf_init(&b, AT_BUF_UNLIMITED);
        struct replay_ctx rctx = {&b};
        at_mcp_session_replay(s, stream_no, seq, replay_one, &rctx);
        at_http_stream_write(st, b.p ? b.p : "", b.len);
        at_buf_release(&b);
        if (use->finished) {
            at_http_stream_close(st);
            at_http_stream_unref(st);
        } else {
            if (use->stream) {
                at_http_stream_close(use->stream);
                at_http_stream_unref(use->stream);
            }
            use->stream = st;
        }
        pthread_mutex_unlock(&use->mu);
        ch_unref(&use->base);
        at_mcp_answer_release(&ans);
        return;
    }
    /* the session's standalone stream */
    struct hchan *ch = hchan_new(h);
    ch->mode = CH_SSE;
    ch->is_get = 1;
    ch->session = at_mcp_session_ref(s);
    ch->stream_no = at_mcp_session_new_stream(s);
    struct at_http_stream *st = open_sse(r, ch);
    pthread_mutex_lock(&ch->mu);
    ch->stream = st;
    write_priming(st, ch->stream_no);
    pthread_mutex_unlock(&ch->mu);
    struct at_mcp_answer la;
    at_mcp_listen(h->m, &ctx, &ch->base, &la);
    at_mcp_answer_release(&la);
    ch_unref(&ch->base);
    at_mcp_answer_release(&ans);
}

/* ------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------ */

/* Host and Origin (MCP 2025-11-25 basic/transports "Security Warning")
 * are checked for every route by the security middleware (auth.c). */
static struct at_http_mcp *mcp_of(struct at_http_req *r)
{
    return at_http_api_of(r)->mcp;
}

static void h_post(struct at_http_req *r)
{
    struct at_http_mcp *h = mcp_of(r);
    if (h)
        do_post(h, r);
}

static void h_get(struct at_http_req *r)
{
    struct at_http_mcp *h = mcp_of(r);
    if (h)
        do_get(h, r);
}

static void h_delete(struct at_http_req *r)
{
    struct at_http_mcp *h = mcp_of(r);
    if (!h)
        return;
    struct at_mcp_ctx ctx;
    char quota_msg[400];
    fill_ctx(r, &ctx, quota_msg, sizeof(quota_msg));
    struct at_mcp_answer ans;
    at_mcp_delete(h->m, &ctx, &ans);
    if (ans.status == 200)
        at_http_reply_text(r, 200, "text/plain", "", 0);
    else
        reply_rpc(r, ans.status, json_incref(ans.body));
    at_mcp_answer_release(&ans);
}

static void h_other(struct at_http_req *r)
{
    at_http_reply_problem(r, AT_ENOENT, "no such endpoint (the MCP endpoint is /mcp)", NULL, NULL);
}

/* The MCP server checks its own tokens (job tokens, sessions): `needs`
 * says so for the security layer. */
static const struct at_http_route routes[] = {
    {"GET", "/mcp", h_get, AT_HTTP_NEED_MCP, 0, 0, NULL},
    {"POST", "/mcp", h_post, AT_HTTP_NEED_MCP, 0, 0, NULL},
    {"DELETE", "/mcp", h_delete, AT_HTTP_NEED_MCP, 0, 0, NULL},
    {"*", "/mcp/{rest*}", h_other, AT_HTTP_NEED_MCP, 0, 0, NULL},
};

int at_http_mcp_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}

static void on_session_drop(struct at_mcp_session *s, void *arg)
{
    /* forget the session's live streams */
    struct at_http_mcp *h = arg;
    char prefix[AT_MCP_SESSION_ID_MAX + 2];
    snprintf(prefix, sizeof(prefix), "%s:", s->id);
    size_t pl = strlen(prefix);
    for (;;) {
        struct hchan *victim = NULL;
        pthread_mutex_lock(&h->mu);
        size_t it = 0;
        const char *k;
        void *v;
        while (at_map_next(&h->streams, &it, &k, &v)) {
            if (strncmp(k, prefix, pl) == 0) {
                victim = v;
                at_map_del(&h->streams, k);
                victim->key[0] = '\0'; /* under h->mu, as streams_del reads it */
                break;
            }
        }
        pthread_mutex_unlock(&h->mu);
        if (!victim)
            break;
        ch_unref(&victim->base);
    }
}

int at_http_mcp_new(const struct at_mcp_cfg *cfg, const char *base_url, struct at_http_mcp **out,
                    struct at_diag *d)
{
    struct at_http_mcp *h = at_calloc(1, sizeof(*h));
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->probed = at_calloc(MAX_PROBED, sizeof(*h->probed));
    at_map_init(&h->streams);
    int rc = at_mcp_new(cfg, &h->m);
    if (rc == 0 && pthread_create(&h->prober, NULL, prober_main, h) != 0) {
        at_mcp_free(h->m);
        rc = AT_EIO;
    }
    if (rc) {
        pthread_mutex_destroy(&h->mu);
        pthread_cond_destroy(&h->cv);
        at_map_release(&h->streams);
        free(h->probed);
        free(h);
        return at_diag_set(d, rc, NULL, 0, 0, "cannot start the MCP surface");
    }
    struct at_mcp_sessions *t = at_mcp_sessions(h->m);
    t->on_drop = on_session_drop;
    t->drop_arg = h;
    (void)base_url;
    *out = h;
    return 0;
}

void at_http_mcp_free(struct at_http_mcp *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stop = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->prober, NULL);
    for (size_t i = 0; i < h->nprobed; i++)
        ch_unref(&h->probed[i]->base);
    free(h->probed);
    pthread_cond_destroy(&h->cv);
    at_mcp_free(h->m);
    pthread_mutex_lock(&h->mu);
    size_t it = 0;
    void *v;
    while (at_map_next(&h->streams, &it, NULL, &v))
        ch_unref(&((struct hchan *)v)->base);
    at_map_release(&h->streams);
    pthread_mutex_unlock(&h->mu);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
