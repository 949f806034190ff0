/* Unit tests: the CLI's table printer (src/cli/table.c): widths from the
 * content so nothing is cut, alignment of long versions, wrapping at a
 * column's maximum, UTF-8 widths, and cells that cannot drive the terminal.
 * The CLI is an executable, not part of atlas_core, so its one source file
 * is compiled into this test. */
#include "cli/table.c" /* NOLINT(bugprone-suspicious-include): the CLI is not a library */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Print t into a heap string (caller frees). */
static char *render(const struct cli_table *t)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    cli_table_print(t, f);
    fclose(f);
    return out;
}

/* The n-th line of text (0-based) as a heap string, or NULL. */
static char *line_of(const char *text, int n)
{
    const char *p = text;
    for (; n > 0 && p; n--) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p || !*p)
        return NULL;
    const char *e = strchr(p, '\n');
    return strndup(p, e ? (size_t)(e - p) : strlen(p));
}

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

/* Column (in code points) where needle starts in line, or -1. */
static long col_of(const char *line, const char *needle)
{
    const char *p = strstr(line, needle);
    return p ? (long)cli_text_width(line, (size_t)(p - line)) : -1;
}

static const struct cli_col agent_cols[] = {
    {"NAME", CLI_LEFT, 0},
    {"VERSION", CLI_LEFT, 0},
    {"DESCRIPTION", CLI_LEFT, 30},
};

static void test_names_never_cut_versions_align(void **state)
{
    (void)state;
    const char *longname = "a-very-long-agent-name-that-goes-on-and-on-for-more-than-sixty-chars";
    assert_true(strlen(longname) > 60);
    struct cli_table t;
    cli_table_init(&t, agent_cols, 3);
    cli_table_row(&t);
    cli_table_cell(&t, "%s", longname);
    cli_table_cell(&t, "%s", "1.10.0-beta.12+build.5");
    cli_table_cell(&t, "%s", "first");
    cli_table_row(&t);
    cli_table_cell(&t, "%s", "echo");
    cli_table_cell(&t, "%s", "1.0.0");
    cli_table_cell(&t, "%s", "second");
    char *out = render(&t);
    assert_int_equal(count_lines(out), 3);
    char *h = line_of(out, 0), *r1 = line_of(out, 1), *r2 = line_of(out, 2);
    assert_non_null(strstr(r1, longname));
    assert_non_null(strstr(r1, "1.10.0-beta.12+build.5"));
    /* every VERSION and DESCRIPTION cell starts in its header's column */
    long vc = col_of(h, "VERSION"), dc = col_of(h, "DESCRIPTION");
    assert_int_equal(vc, (long)strlen(longname) + 2);
    assert_int_equal(col_of(r1, "1.10.0-beta"), vc);
    assert_int_equal(col_of(r2, "1.0.0"), vc);
    assert_int_equal(dc, vc + (long)strlen("1.10.0-beta.12+build.5") + 2);
    assert_int_equal(col_of(r1, "first"), dc);
    assert_int_equal(col_of(r2, "second"), dc);
    /* no trailing blanks */
    assert_int_not_equal(h[strlen(h) - 1], ' ');
    free(h);
    free(r1);
    free(r2);
    free(out);
    cli_table_release(&t);
    cli_table_release(&t); /* a released table is a no-op */
}

static void test_wrap_at_max(void **state)
{
    (void)state;
    const char *desc = "Counts the words and the characters of a text, "
                       "with an optional top-N list of the most frequent words";
    struct cli_table t;
    cli_table_init(&t, agent_cols, 3);
    cli_table_row(&t);
    cli_table_cell(&t, "word-count");
    cli_table_cell(&t, "1.0.0");
    cli_table_cell(&t, "%s", desc);
    cli_table_row(&t);
    cli_table_cell(&t, "x");
    cli_table_cell(&t, "2.0.0");
    cli_table_cell(&t, "%s", "an-unbroken-word-longer-than-thirty-columns-in-all");
    char *out = render(&t);
    char *h = line_of(out, 0);
    long dc = col_of(h, "DESCRIPTION");
    /* the words come back in order, each line within 30 columns */
    struct at_buf words;
    at_buf_init(&words, 1 << 16);
    int i = 1;
    for (;; i++) {
        char *l = line_of(out, i);
        assert_non_null(l);
        if (i > 1 && l[0] != ' ') { /* the next row */
            free(l);
            break;
        }
        /* continuation lines leave the other columns blank */
        if (i > 1)
            assert_int_equal(strspn(l, " "), (size_t)dc);
        assert_true(strlen(l) > (size_t)dc);
        const char *cell = l + dc;
        assert_true(cli_text_width(cell, strlen(cell)) <= 30);
        at_buf_printf(&words, "%s%s", words.len ? " " : "", cell);
        free(l);
    }
    int desc_lines = i - 1;
    assert_true(desc_lines >= 3);
    assert_string_equal(at_buf_str(&words), desc);
    at_buf_release(&words);
    /* a word longer than the maximum is broken, not cut */
    assert_non_null(strstr(out, "an-unbroken-word-longer-than-t\n"));
    assert_non_null(strstr(out, "hirty-columns-in-all\n"));
    free(h);
    free(out);
    cli_table_release(&t);
}

static void test_right_align_and_no_header(void **state)
{
    (void)state;
    static const struct cli_col cols[] = {{NULL, CLI_LEFT, 0}, {NULL, CLI_RIGHT, 0}};
    struct cli_table t;
    cli_table_init(&t, cols, 2);
    cli_table_row(&t);
    cli_table_cell(&t, "a");
    cli_table_cell(&t, "%d", 5);
    cli_table_row(&t);
    cli_table_cell(&t, "bb");
    cli_table_cell(&t, "%d", 12345);
    cli_table_row(&t); /* a row with no cells prints as an empty line */
    char *out = render(&t);
    assert_string_equal(out, "a       5\n"
                             "bb  12345\n"
                             "\n");
    free(out);
    cli_table_release(&t);
}

static void test_utf8_widths(void **state)
{
    (void)state;
    assert_int_equal(cli_text_width("abc", 3), 3);
    assert_int_equal(cli_text_width("café", strlen("café")), 4); /* é: 2 bytes, 1 column */
    assert_int_equal(cli_text_width("e\xCC\x81", 3), 1);         /* e + combining acute */
    assert_int_equal(cli_text_width("日本", strlen("日本")), 4); /* wide */
    assert_int_equal(cli_text_width("└─ █", strlen("└─ █")), 4); /* box drawing: narrow */
    assert_int_equal(cli_text_width("\xFF", 1), 1);              /* invalid: one '?' */
    static const struct cli_col cols[] = {{"NAME", CLI_LEFT, 0}, {"X", CLI_LEFT, 0}};
    struct cli_table t;
    cli_table_init(&t, cols, 2);
    cli_table_row(&t);
    cli_table_cell(&t, "résumé-日本");
    cli_table_cell(&t, "1");
    cli_table_row(&t);
    cli_table_cell(&t, "plain");
    cli_table_cell(&t, "2");
    char *out = render(&t);
    char *h = line_of(out, 0), *r1 = line_of(out, 1), *r2 = line_of(out, 2);
    /* "résumé-日本" is 11 columns: X starts at 13 in every line */
    assert_int_equal(col_of(h, "X"), 13);
    assert_int_equal(col_of(r1, "1"), 13);
    assert_int_equal(col_of(r2, "2"), 13);
    free(h);
    free(r1);
    free(r2);
    free(out);
    cli_table_release(&t);
}

static void test_hostile_cells(void **state)
{
    (void)state;
    static const struct cli_col cols[] = {{"A", CLI_LEFT, 0}, {"B", CLI_LEFT, 0}};
    struct cli_table t;
    cli_table_init(&t, cols, 2);
    cli_table_row(&t);
    cli_table_cell(&t, "\x1b[31mred\x1b[0m\x07");
    cli_table_cell(&t, "bad\xFF\xC0\xAFutf8\r");
    cli_table_row(&t);
    cli_table_cell(&t, "two\nlines");
    cli_table_cell(&t, "tab\there");
    cli_table_cell(&t, "a third cell is ignored");
    char *out = render(&t);
    assert_null(strchr(out, '\x1b'));
    assert_null(strchr(out, '\x07'));
    assert_null(strchr(out, '\r'));
    assert_null(strchr(out, '\t'));
    assert_null(strstr(out, "ignored"));
    assert_non_null(strstr(out, "?[31mred?[0m?"));
    assert_non_null(strstr(out, "bad???utf8"));
    /* a newline in a cell starts a continuation line */
    assert_non_null(strstr(out, "two            tab here\nlines\n"));
    free(out);
    cli_table_release(&t);
}

static void test_empty_and_many_rows(void **state)
{
    (void)state;
    struct cli_table t;
    cli_table_init(&t, agent_cols, 3);
    char *out = render(&t);
    assert_string_equal(out, "NAME  VERSION  DESCRIPTION\n");
    free(out);
    for (int i = 0; i < 1000; i++) { /* grows past the first allocation */
        cli_table_row(&t);
        cli_table_cell(&t, "agent-%d", i);
        cli_table_cell(&t, "%d.0.0", i);
    }
    out = render(&t);
    assert_int_equal(count_lines(out), 1001);
    char *last = line_of(out, 1000);
    assert_string_equal(last, "agent-999  999.0.0");
    free(last);
    free(out);
    cli_table_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_never_cut_versions_align),
        cmocka_unit_test(test_wrap_at_max),
        cmocka_unit_test(test_right_align_and_no_header),
        cmocka_unit_test(test_utf8_widths),
        cmocka_unit_test(test_hostile_cells),
        cmocka_unit_test(test_empty_and_many_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
