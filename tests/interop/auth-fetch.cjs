// auth-fetch.cjs - preloaded (node --require) into Node tools that cannot
// be told to send a header, such as the MCP conformance runner: every
// fetch to $ATLAS_URL gets "Authorization: Bearer $ATLAS_TOKEN" unless it
// has one (atlasd needs a token on every TCP request, docs/security.md).
"use strict";
const orig = globalThis.fetch;
const token = process.env.ATLAS_TOKEN;
const base = process.env.ATLAS_URL;
if (orig && token && base) {
  globalThis.fetch = function (input, init) {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!url || !url.startsWith(base)) return orig(input, init);
    const headers = new Headers(
      (init && init.headers) || (typeof input === "object" && input.headers) || undefined,
    );
    if (!headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
    return orig(input, { ...(init || {}), headers });
  };
}
