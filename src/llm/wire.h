/*
 * wire.h - what the gateway reads from and writes to backends: usage in
 * OpenAI and Anthropic responses, streamed chunks (token counting, usage,
 * first-token detection), token estimates, and the translation between the
 * OpenAI chat completions API and the Anthropic messages API.
 *
 * Parsers of upstream bytes are hostile-input code: bounded, never trust a
 * field's type.  Fuzzed by tests/fuzz/fuzz_llm_wire.c.  Pure functions and
 * caller-embedded state: thread-compatible (one state, one thread).
 */
#ifndef AT_LLM_WIRE_H
#define AT_LLM_WIRE_H

#include "base/buf.h"

#include <jansson.h>
#include <limits.h>
#include <stddef.h>

/* The most tokens one call may report in either direction.  No model reads
 * or writes anywhere near 10^12 tokens in one call; a number beyond it (or
 * below 0) is a backend's bug or a hostile answer, and the gateway counts
 * its own estimate instead.  It also keeps every sum of a few million
 * calls far from 2^63. */
#define AT_LLM_MAX_CALL_TOKENS 1000000000000LL

/* a + b for token counts (both >= 0), saturating at LLONG_MAX instead of
 * overflowing: a counter that reaches it stays there (and any budget is
 * spent), it never wraps negative. */
static inline long long at_llm_tokens_add(long long a, long long b)
{
    long long r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? LLONG_MAX : LLONG_MIN;
    return r;
}

struct at_llm_usage {
    long long tokens_in;
    long long tokens_out;
    int reported;     /* both numbers came from the backend */
    int out_of_range; /* the backend reported numbers outside 0..AT_LLM_MAX_CALL_TOKENS */
};

/* Usage of a complete response: OpenAI's usage.prompt_tokens /
 * completion_tokens or Anthropic's usage.input_tokens / output_tokens
 * (plus its cache counts).  Returns 1 when found (u filled), 0 otherwise:
 * absent, not integers, or out of range (negative, or a total above
 * AT_LLM_MAX_CALL_TOKENS; u->out_of_range is then set, the rest of u
 * unchanged). */
int at_llm_usage_from_json(const json_t *resp, struct at_llm_usage *u);

/* A rough token count of text for when a backend reports none: one token
 * per 4 bytes, at least 1 for non-empty text. */
long long at_llm_estimate_text(const char *s, size_t len);
/* Input tokens of an OpenAI request body: the messages' text (string or
 * parts), tool definitions, plus 4 per message. */
long long at_llm_estimate_request(const json_t *body);
/* Output tokens of a complete OpenAI response's choices (content, tool
 * calls, reasoning). */
long long at_llm_estimate_response(const json_t *resp);

/* Accounting of one OpenAI-style stream (chat.completion.chunk events). */
struct at_llm_stream_acc {
    long long chunks_out;      /* chunks that carried output (content, reasoning, tool args) */
    long long chars_out;       /* bytes of that output */
    struct at_llm_usage usage; /* last usage object seen */
    int have_usage;
    int usage_out_of_range; /* a usage object was out of range (ignored) */
    int first_token;        /* set once output arrived */
    int done;               /* "[DONE]" seen */
    int usage_only;         /* the last chunk had usage and no choices */
    char model[128];
    char finish_reason[32];
};

/* Account one SSE data payload.  Returns 1 when it carried output (the
 * first such call is the time to first token), 0 when not, AT_EPARSE when
 * it is not JSON (still counted as nothing; streams go on). */
int at_llm_stream_chunk(struct at_llm_stream_acc *a, const char *data, size_t len);

/* Final usage of a stream: reported when the backend sent usage, else
 * estimated (tokens_in from est_in, tokens_out from the chunks: one per
 * output chunk, or the text estimate when larger). */
void at_llm_stream_usage(const struct at_llm_stream_acc *a, long long est_in,
                         struct at_llm_usage *u);

/* ---- Anthropic messages API (https://docs.anthropic.com/en/api/messages) ---- */

/* The messages request for an OpenAI chat request (model replaced by
 * `model`; system messages to `system`; tools, tool calls and tool results
 * to their blocks; max_tokens defaulting to 4096).  Caller decrefs. */
json_t *at_llm_anthropic_request(const json_t *openai, const char *model, int stream);

/* An OpenAI chat.completion for a messages response; NULL when resp is not
 * one.  Caller decrefs. */
json_t *at_llm_anthropic_response(const json_t *resp);

/* Streaming translation: Anthropic SSE events in, OpenAI chunk payloads
 * (JSON text, one per call of emit) out. */
struct at_llm_anth_stream {
    char id[96];
    char model[128];
    long long created;
    long long tokens_in, tokens_out;
    int tool_index; /* OpenAI tool_calls index of the current tool_use block */
    int block_is_tool;
    int include_usage; /* emit a final usage chunk */
    int finished;
};
typedef void (*at_llm_emit_fn)(void *arg, const char *json, size_t len);

void at_llm_anth_stream_init(struct at_llm_anth_stream *s, int include_usage);
/* Translate one event; returns 0, or AT_EPARSE for data that is not JSON
 * (ignored), or AT_EAGENT when the event is an error (its message then goes
 * out as an OpenAI error chunk). */
int at_llm_anth_stream_event(struct at_llm_anth_stream *s, const char *event, const char *data,
                             size_t len, at_llm_emit_fn emit, void *arg);

/* The OpenAI `finish_reason` for an Anthropic stop_reason. */
const char *at_llm_anthropic_finish(const char *stop_reason);

#endif
