#!/usr/bin/python3
"""make-gguf.py - write a tiny LLaMA-architecture GGUF model that llama.cpp's
llama-server loads and serves deterministically.

The model has its own small vocabulary (SentencePiece-style "llama"
tokenizer: control tokens, the 256 byte-fallback tokens, and the pieces of
its replies) and hand-set weights: every attention and feed-forward weight
is zero, so the hidden state at the last position is the embedding of the
last token; embeddings are one-hot and the output matrix maps each token of
a reply to the next one.  The chat template ends the prompt with
<|assistant|> (or <|call|> when the request has tools), so every answer is
the same fixed reply (or the same tool call), whatever the sampler settings:
the winning logit is ~100 above the rest.

    make-gguf.py OUT.gguf [--reply "Hello from tiny."] [--name tiny]

Python 3 standard library only.  GGUF v3: see ggml/docs/gguf.md.
"""
import argparse
import struct

GGUF_MAGIC = 0x46554747
T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY, T_UINT64 = 4, 5, 6, 7, 8, 9, 10
GGML_F32 = 0
TOK_NORMAL, TOK_UNKNOWN, TOK_CONTROL, TOK_BYTE = 1, 2, 3, 6

CONTROL = ["<unk>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|tool|>",
           "<|end|>", "<|call|>"]

TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' and message.get('tool_calls') -%}"
    "<|assistant|>{%- for tc in message['tool_calls'] -%}"
    "<tool_call>\n{\"name\": \"{{ tc['function']['name'] }}\", \"arguments\": "
    "{{ tc['function']['arguments'] if tc['function']['arguments'] is string "
    "else tc['function']['arguments'] | tojson }}}\n</tool_call>"
    "{%- endfor -%}<|end|>"
    "{%- else -%}"
    "<|{{ message['role'] }}|>"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for p in message['content'] -%}{{ p['text'] }}{%- endfor -%}{%- endif -%}"
    "<|end|>"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{%- if tools -%}<|call|>{%- else -%}<|assistant|>{%- endif -%}"
    "{%- endif -%}"
)


def pieces_of(text):
    """Split a reply into word pieces with SentencePiece spaces (U+2581);
    repeated pieces get no second token (the chain needs distinct ones), so
    the reply must not repeat a piece."""
    out, cur = [], ""
    for ch in text:
        if ch == " " and cur:
            out.append(cur)
            cur = "\u2581"
        elif ch == " ":
            cur += "\u2581"
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


def w_str(b, s):
    data = s.encode("utf-8")
    b += struct.pack("<Q", len(data)) + data


def w_kv(b, key, typ, val):
    w_str(b, key)
    b += struct.pack("<I", typ)
    if typ == T_STRING:
        w_str(b, val)
    elif typ == T_UINT32:
        b += struct.pack("<I", val)
    elif typ == T_INT32:
        b += struct.pack("<i", val)
    elif typ == T_FLOAT32:
        b += struct.pack("<f", val)
    elif typ == T_BOOL:
        b += struct.pack("<?", val)
    elif typ == T_UINT64:
        b += struct.pack("<Q", val)
    else:
        raise ValueError(typ)


def w_arr(b, key, elem, vals):
    w_str(b, key)
    b += struct.pack("<IIQ", T_ARRAY, elem, len(vals))
    for v in vals:
        if elem == T_STRING:
            w_str(b, v)
        elif elem == T_FLOAT32:
            b += struct.pack("<f", v)
        elif elem == T_INT32:
            b += struct.pack("<i", v)


def build(reply, tool_reply, name):
    vocab, types = list(CONTROL), [TOK_UNKNOWN] + [TOK_CONTROL] * (len(CONTROL) - 1)
    for i in range(256):
        vocab.append("<0x%02X>" % i)
        types.append(TOK_BYTE)
    chains = []
    for text, start in ((reply, "<|assistant|>"), (tool_reply, "<|call|>")):
        ids = [vocab.index(start)]
        for p in pieces_of(text) if text is reply else tool_reply:
            if p in vocab:
                raise SystemExit("make-gguf: piece %r repeats; use distinct words" % p)
            vocab.append(p)
            types.append(TOK_NORMAL)
            ids.append(len(vocab) - 1)
        ids.append(2)  # </s>
        chains.append(ids)
    n_vocab = len(vocab)
    # one embedding dimension per token that leads somewhere, dim 0 for the rest
    lead = [t for ch in chains for t in ch[:-1]]
    n_embd = 64
    while n_embd < len(lead) + 1:
        n_embd += 64
    dim = {t: i + 1 for i, t in enumerate(lead)}
    nxt = {0: 2}
    for ch in chains:
        for a, b in zip(ch, ch[1:]):
            nxt[dim[a]] = b
    n_head, n_ff = 4, 64
    scale = 20.0

    def zeros(n):
        return bytes(4 * n)

    emb = bytearray(4 * n_embd * n_vocab)
    for t in range(n_vocab):
        struct.pack_into("<f", emb, 4 * (t * n_embd + dim.get(t, 0)), 1.0)
    out = bytearray(4 * n_embd * n_vocab)
    for d, t in nxt.items():
        struct.pack_into("<f", out, 4 * (t * n_embd + d), scale)
    ones = struct.pack("<%df" % n_embd, *([1.0] * n_embd))
    tensors = [
        ("token_embd.weight", [n_embd, n_vocab], bytes(emb)),
        ("output_norm.weight", [n_embd], ones),
        ("output.weight", [n_embd, n_vocab], bytes(out)),
        ("blk.0.attn_norm.weight", [n_embd], ones),
        ("blk.0.attn_q.weight", [n_embd, n_embd], zeros(n_embd * n_embd)),
        ("blk.0.attn_k.weight", [n_embd, n_embd], zeros(n_embd * n_embd)),
        ("blk.0.attn_v.weight", [n_embd, n_embd], zeros(n_embd * n_embd)),
        ("blk.0.attn_output.weight", [n_embd, n_embd], zeros(n_embd * n_embd)),
        ("blk.0.ffn_norm.weight", [n_embd], ones),
        ("blk.0.ffn_gate.weight", [n_embd, n_ff], zeros(n_embd * n_ff)),
        ("blk.0.ffn_up.weight", [n_embd, n_ff], zeros(n_embd * n_ff)),
        ("blk.0.ffn_down.weight", [n_ff, n_embd], zeros(n_embd * n_ff)),
    ]
    kv = bytearray()
    nkv = 0

    def add(key, typ, val):
        nonlocal nkv
        w_kv(kv, key, typ, val)
        nkv += 1

    def add_arr(key, elem, vals):
        nonlocal nkv
        w_arr(kv, key, elem, vals)
        nkv += 1

    add("general.architecture", T_STRING, "llama")
    add("general.name", T_STRING, name)
    add("general.alignment", T_UINT32, 32)
    add("llama.context_length", T_UINT32, 8192)
    add("llama.embedding_length", T_UINT32, n_embd)
    add("llama.block_count", T_UINT32, 1)
    add("llama.feed_forward_length", T_UINT32, n_ff)
    add("llama.attention.head_count", T_UINT32, n_head)
    add("llama.attention.head_count_kv", T_UINT32, n_head)
    add("llama.rope.dimension_count", T_UINT32, n_embd // n_head)
    add("llama.attention.layer_norm_rms_epsilon", T_FLOAT32, 1e-5)
    add("llama.vocab_size", T_UINT32, n_vocab)
    add("tokenizer.ggml.model", T_STRING, "llama")
    add_arr("tokenizer.ggml.tokens", T_STRING, vocab)
    add_arr("tokenizer.ggml.scores", T_FLOAT32, [0.0] * n_vocab)
    add_arr("tokenizer.ggml.token_type", T_INT32, types)
    add("tokenizer.ggml.bos_token_id", T_UINT32, 1)
    add("tokenizer.ggml.eos_token_id", T_UINT32, 2)
    add("tokenizer.ggml.unknown_token_id", T_UINT32, 0)
    add("tokenizer.ggml.add_bos_token", T_BOOL, False)
    add("tokenizer.ggml.add_eos_token", T_BOOL, False)
    add("tokenizer.ggml.add_space_prefix", T_BOOL, False)
    add("tokenizer.chat_template", T_STRING, TEMPLATE)

    head = bytearray(struct.pack("<IIQQ", GGUF_MAGIC, 3, len(tensors), nkv))
    head += kv
    offset = 0
    for tname, dims, data in tensors:
        w_str(head, tname)
        head += struct.pack("<I", len(dims))
        for dd in dims:
            head += struct.pack("<Q", dd)
        head += struct.pack("<IQ", GGML_F32, offset)
        offset += (len(data) + 31) // 32 * 32
    head += bytes((32 - len(head) % 32) % 32)
    body = bytearray()
    for _, _, data in tensors:
        body += data
        body += bytes((32 - len(data) % 32) % 32)
    return bytes(head + body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--reply", default="Hello from tiny.")
    ap.add_argument("--name", default="tiny")
    a = ap.parse_args()
    tool = ["<tool_call>", "\n", "{\"name\":", "\u2581\"get_weather\",", "\u2581\"arguments\":",
            "\u2581{\"city\":", "\u2581\"Paris\"}}", "\n</tool_call>"]
    with open(a.out, "wb") as f:
        f.write(build(a.reply, tool, a.name))


if __name__ == "__main__":
    main()
