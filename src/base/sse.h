/*
 * sse.h - Server-Sent Events framing (WHATWG HTML, "Server-sent events",
 * section 9.2.6 "Interpreting an event stream").
 *
 * The parser is fed arbitrary chunks and calls back once per dispatched
 * event with its type, data (lines joined by "\n") and id.  Lines and
 * events are bounded (AT_E2BIG).  Caller-embedded; not thread-safe.
 */
#ifndef AT_BASE_SSE_H
#define AT_BASE_SSE_H

#include "base/buf.h"

#include <stddef.h>

typedef int (*at_sse_event_fn)(void *arg, const char *event, const char *data, size_t len,
                               const char *id);

struct at_sse_parser {
    struct at_buf line;
    struct at_buf data;
    char event[64];
    char id[128];  /* the last event ID buffer: set by "id:", kept across events */
    long retry_ms; /* the last "retry:" field (the reconnection time), -1 when none */
    int has_data;
    int bom_checked;
    int last_cr;
    at_sse_event_fn cb;
    void *arg;
};

void at_sse_parser_init(struct at_sse_parser *p, size_t max_event, at_sse_event_fn cb, void *arg);
void at_sse_parser_release(struct at_sse_parser *p);
/* Feed bytes.  Returns 0, AT_E2BIG, or the first non-zero value a callback
 * returned (which stops parsing). */
int at_sse_feed(struct at_sse_parser *p, const char *buf, size_t len);

/* Append one event to out: "id: ...\nevent: ...\ndata: <line>\n...\n\n"
 * (id and event omitted when NULL). */
int at_sse_write(struct at_buf *out, const char *event, const char *id, const char *data,
                 size_t len);

#endif
