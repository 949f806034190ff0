/* libFuzzer target: cron expressions and TZif images.  Properties: a
 * parsed expression's next firing is later than the instant asked about
 * and, asked again from one second before it, is the same instant; a
 * parsed zone answers offsets within a day of UTC. */
#include "trigger/cron.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct at_diag d;
    if (size > 4 && memcmp(data, "TZif", 4) == 0) {
        struct at_tz *tz;
        if (at_tz_parse("fuzz", data, size, &tz, &d) == 0) {
            for (int64_t t = -4000000000LL; t < 8000000000LL; t += 700000000LL) {
                long off = at_tz_offset(tz, t);
                if (off < -90000 || off > 93600)
                    abort();
            }
            struct at_cron c;
            if (at_cron_parse("30 2 * * *", &c, &d) == 0) {
                int64_t n = at_cron_next(&c, tz, 1790000000);
                if (n >= 0 && n <= 1790000000)
                    abort();
            }
            at_tz_free(tz);
        }
        return 0;
    }
    char expr[AT_CRON_MAX_LEN + 8];
    size_t n = size < sizeof(expr) - 1 ? size : sizeof(expr) - 1;
    memcpy(expr, data, n);
    expr[n] = '\0';
    struct at_cron c;
    if (at_cron_parse(expr, &c, &d))
        return 0;
    int64_t t0 = 1790000000;
    int64_t a = at_cron_next(&c, NULL, t0);
    if (a >= 0) {
        if (a <= t0)
            abort();
        if (at_cron_next(&c, NULL, a - 1) != a)
            abort();
    }
    return 0;
}
