/*
 * sem.c - semaphores, health, Retry-After and backoff (see sem.h).
 */
#include "llm/sem.h"

#include "base/err.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void at_llm_sem_init(struct at_llm_sem *s, int limit, size_t max_wait)
{
    memset(s, 0, sizeof(*s));
    s->limit = limit > 0 ? limit : 1;
    s->max_wait = max_wait;
}

int at_llm_sem_acquire(struct at_llm_sem *s, struct at_llm_waiter *w, int64_t now_ns)
{
    w->next = w->prev = NULL;
    w->queued = 0;
    /* FIFO: nobody jumps a queue that is not empty */
    if (s->in_use < s->limit && !s->head) {
        s->in_use++;
        if (s->in_use > s->peak_in_use)
            s->peak_in_use = s->in_use;
        s->acquired++;
        return 0;
    }
    if (s->waiting >= s->max_wait) {
        s->rejected++;
        return AT_EBUSY;
    }
    w->enqueued_ns = now_ns;
    w->queued = 1;
    w->prev = s->tail;
    if (s->tail)
        s->tail->next = w;
    else
        s->head = w;
    s->tail = w;
    s->waiting++;
    return AT_AGAIN;
}

static void unlink_waiter(struct at_llm_sem *s, struct at_llm_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        s->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        s->tail = w->prev;
    w->next = w->prev = NULL;
    w->queued = 0;
    s->waiting--;
}

struct at_llm_waiter *at_llm_sem_release(struct at_llm_sem *s, int64_t now_ns, int64_t *waited_ns)
{
    if (s->in_use > 0)
        s->in_use--;
    struct at_llm_waiter *w = s->head;
    if (!w || s->in_use >= s->limit)
        return NULL;
    unlink_waiter(s, w);
    s->in_use++;
    if (s->in_use > s->peak_in_use)
        s->peak_in_use = s->in_use;
    s->acquired++;
    s->queued_total++;
    int64_t waited = now_ns - w->enqueued_ns;
    if (waited < 0)
        waited = 0;
    s->queue_ns_sum += waited;
    if (waited > s->queue_ns_max)
        s->queue_ns_max = waited;
    if (waited_ns)
        *waited_ns = waited;
    return w;
}

void at_llm_sem_remove(struct at_llm_sem *s, struct at_llm_waiter *w)
{
    if (w->queued)
        unlink_waiter(s, w);
}

void at_llm_health_init(struct at_llm_health *h)
{
    memset(h, 0, sizeof(*h));
}

int at_llm_health_usable(struct at_llm_health *h, int64_t now_ns, int *probe)
{
    *probe = 0;
    if (!h->down)
        return 1;
    if (h->probing || now_ns < h->next_probe_ns)
        return 0;
    h->probing = 1;
    *probe = 1;
    return 1;
}

void at_llm_health_success(struct at_llm_health *h, int probe)
{
    if (probe)
        h->probing = 0;
    h->failures = 0;
    h->down = 0;
    h->probe_every_ns = 0;
}

void at_llm_health_failure(struct at_llm_health *h, int probe, int threshold,
                           int64_t probe_interval_ns, int64_t now_ns)
{
    if (probe)
        h->probing = 0;
    h->failures++;
    if (!h->down && h->failures >= threshold) {
        h->down = 1;
        h->downs++;
        h->probe_every_ns = probe_interval_ns;
    } else if (h->down && probe) {
        /* a failed probe: wait longer next time, up to 8x */
        if (h->probe_every_ns < probe_interval_ns * 8)
            h->probe_every_ns *= 2;
    }
    if (h->down)
        h->next_probe_ns = now_ns + h->probe_every_ns;
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

long long at_llm_retry_after_ms(const char *v, size_t len, int64_t now_wall_s)
{
    while (len && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len &&
           (v[len - 1] == ' ' || v[len - 1] == '\t' || v[len - 1] == '\r' || v[len - 1] == '\n'))
        len--;
    if (len == 0)
        return -1;
    if (isdigit((unsigned char)v[0])) {
        /* delay-seconds = 1*DIGIT; some servers send a fraction ("1.5") */
        long long ms = 0;
        size_t i = 0;
        for (; i < len && isdigit((unsigned char)v[i]); i++) {
            if (ms > 86400LL * 365)
                return -1; /* over a year: not a delay anyone means */
            ms = ms * 10 + (v[i] - '0');
        }
        ms *= 1000;
        if (i < len && v[i] == '.') {
            long long scale = 100;
            for (i++; i < len && isdigit((unsigned char)v[i]); i++) {
                ms += (v[i] - '0') * scale;
                scale /= 10;
            }
        }
        return i == len ? ms : -1;
    }
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    char buf[64];
    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    char wd[4], mon[4], tz[4];
    int day, year, hh, mm, ss;
    /* NOLINTNEXTLINE(cert-err34-c): field widths of at most 4 digits cannot overflow an int */
    if (sscanf(buf, "%3s, %2d %3s %4d %2d:%2d:%2d %3s", wd, &day, mon, &year, &hh, &mm, &ss, tz) !=
            8 ||
        strcmp(tz, "GMT") != 0)
        return -1;
    int mi = -1;
    for (int i = 0; i < 12; i++)
        if (strcmp(mon, months[i]) == 0)
            mi = i;
    if (mi < 0 || day < 1 || day > 31 || year < 1970 || year > 9999 || hh > 23 || mm > 59 ||
        ss > 60 || hh < 0 || mm < 0 || ss < 0)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mi;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    int64_t t = (int64_t)timegm(&tm);
    return t > now_wall_s ? (t - now_wall_s) * 1000 : 0;
}

long long at_llm_backoff_ms(int attempt, long long base_ms, long long cap_ms, uint32_t rnd)
{
    if (base_ms <= 0)
        return 0;
    long long hi = base_ms;
    for (int i = 0; i < attempt && hi < cap_ms; i++)
        hi *= 2;
    if (hi > cap_ms)
        hi = cap_ms;
    long long lo = base_ms / 2;
    if (lo > hi)
        lo = hi;
    return lo + (long long)(rnd % (uint32_t)(hi - lo + 1));
}
