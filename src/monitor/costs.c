/*
 * costs.c - token and cost numbers from the store, made safe (costs.h).
 */
#include "monitor/costs.h"

#include "base/clock.h"

#include <float.h>
#include <limits.h>
#include <math.h>

long long at_monitor_tokens(const json_t *v)
{
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        return n > 0 ? (long long)n : 0;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (!(x > 0)) /* NaN too */
            return 0;
        /* LLONG_MAX is not a double: 2^63 is the first value out of range */
        if (x >= 9223372036854775808.0)
            return LLONG_MAX;
        return (long long)x;
    }
    return 0;
}

long long at_monitor_tokens_add(long long a, long long b)
{
    long long r;
    if (__builtin_add_overflow(a, b, &r))
        return LLONG_MAX;
    return r < 0 ? 0 : r;
}

double at_monitor_cost(const json_t *v)
{
    double x = json_is_number(v) ? json_number_value(v) : 0;
    return isfinite(x) && x > 0 ? x : 0;
}

static double cost_add(double a, double b)
{
    double r = a + b;
    return isfinite(r) ? r : DBL_MAX;
}

json_t *at_monitor_costs_json(const char *by, json_t *rows, int64_t since_ms)
{
    if (!json_is_array(rows)) {
        json_decref(rows);
        rows = json_array();
    }
    long long calls = 0, in = 0, out = 0;
    double cost = 0;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (!json_is_object(row))
            continue;
        long long c = at_monitor_tokens(json_object_get(row, "calls"));
        long long ri = at_monitor_tokens(json_object_get(row, "tokens_in"));
        long long ro = at_monitor_tokens(json_object_get(row, "tokens_out"));
        double rc = at_monitor_cost(json_object_get(row, "cost_usd"));
        json_object_set_new(row, "calls", json_integer(c));
        json_object_set_new(row, "tokens_in", json_integer(ri));
        json_object_set_new(row, "tokens_out", json_integer(ro));
        json_object_set_new(row, "tokens", json_integer(at_monitor_tokens_add(ri, ro)));
        json_object_set_new(row, "cost_usd", json_real(rc));
        calls = at_monitor_tokens_add(calls, c);
        in = at_monitor_tokens_add(in, ri);
        out = at_monitor_tokens_add(out, ro);
        cost = cost_add(cost, rc);
    }
    json_t *o = json_object();
    json_object_set_new(o, "by", json_string(by ? by : "all"));
    json_object_set_new(o, "rows", rows);
    json_t *t = json_object();
    json_object_set_new(t, "calls", json_integer(calls));
    json_object_set_new(t, "tokens_in", json_integer(in));
    json_object_set_new(t, "tokens_out", json_integer(out));
    json_object_set_new(t, "tokens", json_integer(at_monitor_tokens_add(in, out)));
    json_object_set_new(t, "cost_usd", json_real(cost));
    json_object_set_new(o, "total", t);
    if (since_ms) {
        char buf[48];
        json_object_set_new(o, "since", json_string(at_time_iso8601(since_ms, buf, sizeof(buf))));
    }
    return o;
}
