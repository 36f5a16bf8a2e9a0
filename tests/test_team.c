/* common/team.h: every part of every job runs exactly once and before team_run returns, on
 * any number of threads, with workers sleeping, spinning or slow. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <time.h>

#include "team.h"

enum { MAXP = 7 };

typedef struct {
    _Atomic int runs[MAXP];
    int job;          /* the job number the parts must see */
    int seen_job[MAXP];
    int slow;         /* part 0 sleeps this many microseconds */
} job_t;

static void s_part(void *arg, int p, int nparts) {
    job_t *j = arg;
    cr_assert(p >= 0 && p < nparts && nparts <= MAXP);
    if (p == 0 && j->slow) nanosleep(&(struct timespec){0, 1000L * j->slow}, NULL);
    j->seen_job[p] = j->job;  /* a plain write the caller reads after team_run */
    atomic_fetch_add(&j->runs[p], 1);
}

Test(team, every_part_runs_once_per_job) {
    for (int threads = 1; threads <= 4; threads++) {
        team_t *t = team_new(threads);
        cr_assert_eq(team_threads(t), threads);
        job_t j;
        for (int k = 0; k < 20000; k++) {
            int nparts = 1 + k % MAXP;
            for (int p = 0; p < MAXP; p++) atomic_store(&j.runs[p], 0);
            j.job = k;
            j.slow = k % 1000 == 0 ? 200 : 0;
            if (k % 500 == 0) team_busy(t, (k / 500) % 2);  /* spinning and sleeping workers */
            team_run(t, s_part, &j, nparts);
            for (int p = 0; p < nparts; p++) {
                cr_assert_eq(atomic_load(&j.runs[p]), 1, "threads %d job %d part %d ran %d times",
                             threads, k, p, atomic_load(&j.runs[p]));
                cr_assert_eq(j.seen_job[p], k, "part %d's write is visible", p);
            }
            for (int p = nparts; p < MAXP; p++) cr_assert_eq(atomic_load(&j.runs[p]), 0);
        }
        team_busy(t, 0);
        team_destroy(&t);
        cr_assert_null(t);
    }
}

Test(team, destroy_wakes_sleeping_workers) {
    team_t *t = team_new(3);
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);  /* long enough to sleep */
    team_destroy(&t);  /* hangs (the test times out) if a sleeper is not woken */
    t = team_new(2);
    team_busy(t, 1);
    team_destroy(&t);  /* and while they spin */
}
