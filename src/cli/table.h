/*
 * table.h - the one table printer of the `atlas` command.
 *
 * A table is columns (a header, an alignment, an optional maximum width)
 * and rows of text cells.  Column widths come from the content, measured
 * in terminal columns (UTF-8 aware: wide East Asian characters count two,
 * combining marks none), so names, ids and versions are never cut and long
 * versions line up with short ones.  A column with a maximum wraps longer
 * cells onto continuation lines, at a space where it can, instead of
 * cutting them; a column without one never wraps (except at a newline in
 * the cell).  Control characters and invalid UTF-8 from the daemon are
 * shown as '?' so a cell cannot move the cursor or change the terminal.
 *
 * Usage: cli_table_init, then per row cli_table_row and one cli_table_cell
 * per column, then cli_table_print and cli_table_release.  Not thread-safe
 * (the CLI is single-threaded).
 */
#ifndef AT_CLI_TABLE_H
#define AT_CLI_TABLE_H

#include <stddef.h>
#include <stdio.h>

enum cli_align { CLI_LEFT = 0, CLI_RIGHT = 1 };

struct cli_col {
    const char *head;     /* header text ("NAME"); all NULL: no header row */
    enum cli_align align; /* CLI_RIGHT for numbers and durations */
    size_t max;           /* wrap cells wider than this many columns; 0: never */
};

struct cli_table {
    const struct cli_col *cols; /* borrowed: must outlive the table */
    size_t ncols;
    char **cells;     /* nrows * ncols cells, row-major, owned, sanitised */
    size_t nrows;     /* rows started */
    size_t cap;       /* rows allocated */
    size_t filled;    /* cells given in the last row */
    const char *sep;  /* between columns: two spaces unless changed */
    const char *lead; /* before the first column: "" unless changed */
};

/* Start an empty table over cols[0..ncols) (borrowed). */
void cli_table_init(struct cli_table *t, const struct cli_col *cols, size_t ncols);

/* Free the cells; a zeroed or released table is a no-op. */
void cli_table_release(struct cli_table *t);

/* Start a new row; cells not given for the previous row stay empty. */
void cli_table_row(struct cli_table *t);

/* The next cell of the current row, printf-formatted.  Cells past ncols are
 * ignored; a cell before any cli_table_row starts a row. */
void cli_table_cell(struct cli_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print the header (when the columns have one) and every row to f: widths
 * from the content, columns separated by t->sep, no trailing blanks. */
void cli_table_print(const struct cli_table *t, FILE *f);

/* Terminal columns of the UTF-8 text s[0..len): code points, wide
 * characters two, combining marks and zero-width characters none. */
size_t cli_text_width(const char *s, size_t len);

#endif
