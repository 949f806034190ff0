/*
 * session.h - MCP sessions (MCP 2025-11-25 basic/transports, "Session
 * Management") and the event log that makes SSE streams resumable
 * ("Resumability and Redelivery").
 *
 * A session is created by a successful initialize and named by an
 * unguessable id (Mcp-Session-Id).  It remembers the negotiated revision,
 * the client's capabilities, the logging level, resource subscriptions, and
 * the last events sent on each of its SSE streams, so a client that lost a
 * stream can ask for what it missed with Last-Event-ID.  Stateless
 * requests (2026-07-28) have no session.
 *
 * The table is bounded (max sessions; AT_EBUSY beyond, after expiring idle
 * ones) and sessions idle longer than idle_ms are dropped.  Sessions are
 * reference-counted; every function here is thread-safe.
 */
#ifndef AT_MCP_SESSION_H
#define AT_MCP_SESSION_H

#include "base/map.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define AT_MCP_SESSION_ID_MAX 48
/* Events kept per session for redelivery, and their total size. */
#define AT_MCP_EVLOG_MAX 512
#define AT_MCP_EVLOG_BYTES (4u << 20)
#define AT_MCP_MAX_SUBSCRIPTIONS 256

struct at_mcp_event {
    unsigned stream;
    unsigned long seq;
    char *text; /* the JSON-RPC message */
};

struct at_mcp_session {
    atomic_int refs;
    char id[AT_MCP_SESSION_ID_MAX];
    pthread_mutex_t mu;
    char proto[16];        /* negotiated revision */
    json_t *client_info;   /* mu */
    json_t *client_caps;   /* mu */
    int initialized;       /* notifications/initialized seen (mu) */
    int log_level;         /* logging/setLevel, -1 when unset (mu) */
    int64_t last_used_ms;  /* mu */
    int closed;            /* DELETE or expiry (mu) */
    json_t *subscriptions; /* {uri: true} (mu) */
    unsigned next_stream;  /* mu */
    /* ring of recent events (mu) */
    struct at_mcp_event log[AT_MCP_EVLOG_MAX];
    size_t log_start, log_len, log_bytes;
    void *transport; /* transport-owned per-session state (the transport's lock) */
};

struct at_mcp_sessions {
    pthread_mutex_t mu;
    struct at_map map; /* id -> session (one reference) */
    size_t count, max;
    int64_t idle_ms;
    void (*on_drop)(struct at_mcp_session *s, void *arg); /* transport hook, may be NULL */
    void *drop_arg;
};

void at_mcp_sessions_init(struct at_mcp_sessions *t, size_t max, int64_t idle_ms);
/* Drop every session (calls on_drop for each). */
void at_mcp_sessions_release(struct at_mcp_sessions *t);

/* Create a session speaking proto.  Returns 0 and a reference, or AT_EBUSY
 * when the table is full of live sessions. */
int at_mcp_session_create(struct at_mcp_sessions *t, const char *proto,
                          struct at_mcp_session **out);
/* Find a live session by id and mark it used.  Returns a reference or NULL. */
struct at_mcp_session *at_mcp_session_find(struct at_mcp_sessions *t, const char *id);
/* End a session (DELETE).  Returns 0 or AT_ENOENT. */
int at_mcp_session_close(struct at_mcp_sessions *t, const char *id);
/* Expire sessions idle longer than idle_ms; returns how many. */
size_t at_mcp_sessions_expire(struct at_mcp_sessions *t, int64_t now_ms);
size_t at_mcp_sessions_count(struct at_mcp_sessions *t);

struct at_mcp_session *at_mcp_session_ref(struct at_mcp_session *s);
void at_mcp_session_unref(struct at_mcp_session *s);

/* A new stream number for an SSE stream of this session (never 0). */
unsigned at_mcp_session_new_stream(struct at_mcp_session *s);
/* Remember an event sent on stream; returns its sequence number (> 0).
 * Old events are dropped beyond AT_MCP_EVLOG_MAX / AT_MCP_EVLOG_BYTES. */
unsigned long at_mcp_session_log(struct at_mcp_session *s, unsigned stream, const char *text);
/* Call fn for each remembered event of stream with seq > after, oldest
 * first (under the session lock: fn must not call back into s).  Returns
 * how many, or -1 when events after `after` were already dropped. */
long at_mcp_session_replay(struct at_mcp_session *s, unsigned stream, unsigned long after,
                           void (*fn)(const struct at_mcp_event *ev, void *arg), void *arg);

/* Event ids on the wire: "<stream>-<seq>".  Parse returns 0 or AT_EINVAL. */
void at_mcp_event_id(unsigned stream, unsigned long seq, char *out, size_t n);
int at_mcp_event_id_parse(const char *s, unsigned *stream, unsigned long *seq);

/* Resource subscriptions (resources/subscribe).  0, or AT_ELIMIT. */
int at_mcp_session_subscribe(struct at_mcp_session *s, const char *uri, int on);

#endif
