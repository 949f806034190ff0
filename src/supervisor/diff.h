/*
 * diff.h - unified diffs of texts (the certification package's "diff",
 * docs/supervisor.md): "--- a\n+++ b\n@@ -l,n +l,n @@\n" hunks with 3 lines
 * of context, from a longest common subsequence of lines.  Bounded: texts
 * of more than AT_DIFF_MAX_LINES lines each are not diffed.  Thread-safe.
 */
#ifndef AT_SUPERVISOR_DIFF_H
#define AT_SUPERVISOR_DIFF_H

#define AT_DIFF_MAX_LINES 4000

/* The unified diff of a (named a_name; NULL text: /dev/null, empty) and b,
 * "" when they are equal, NULL when too large.  Caller frees. */
char *at_diff_unified(const char *a_name, const char *a, const char *b_name, const char *b);

#endif
