/*
 * metrics.h - a small metric registry with Prometheus text exposition
 * (format version 0.0.4: "# HELP", "# TYPE", one line per series, label
 * values escaped, histograms as _bucket{le=...}/_sum/_count).
 *
 * Families are created on first use and keep their order of creation;
 * series are identified by their label text (built with
 * at_metrics_labels).  A family holds at most AT_METRICS_MAX_SERIES
 * series; further label sets are counted under the series
 * {overflow="true"} so a hostile agent or model name cannot grow memory
 * without bound.  Thread-safe (one mutex).
 */
#ifndef AT_MONITOR_METRICS_H
#define AT_MONITOR_METRICS_H

#include "base/buf.h"

#include <stddef.h>

#define AT_METRICS_MAX_SERIES 2000
#define AT_METRICS_MAX_LABELS 512 /* bytes of label text */

struct at_metrics;

struct at_metrics *at_metrics_new(void);
void at_metrics_free(struct at_metrics *m);

/* Label text for a series: pairs of name, value, then NULL:
 * at_metrics_labels(out, n, "agent", a, "state", s, NULL) writes
 * `agent="a",state="s"` with \\, \" and \n escaped.  Returns out. */
char *at_metrics_labels(char *out, size_t n, ...);

/* Counters only go up (v >= 0); gauges are set; histograms observe a value
 * into the default buckets (seconds: 1 ms .. 300 s). */
void at_metrics_inc(struct at_metrics *m, const char *name, const char *help, const char *labels,
                    double v);
void at_metrics_set(struct at_metrics *m, const char *name, const char *help, const char *labels,
                    double v);
void at_metrics_observe(struct at_metrics *m, const char *name, const char *help,
                        const char *labels, double v);
/* Current value of a counter or gauge series (0 when absent; tests). */
double at_metrics_get(struct at_metrics *m, const char *name, const char *labels);

/* Append the exposition of every family to b. */
void at_metrics_format(struct at_metrics *m, struct at_buf *b);

#endif
