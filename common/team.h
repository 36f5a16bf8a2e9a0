/* A fork-join team for the learner's update: the calling thread plus threads - 1 workers run
 * the parts 0..nparts-1 of one job and team_run returns when all are done.
 *
 * Parts are claimed, not assigned: whichever thread is free takes the next unclaimed part, so a
 * worker the OS has descheduled costs nothing but its own part (the caller takes the rest), and
 * what a part computes never depends on which thread ran it. Results are therefore the same for
 * any number of threads, given the same nparts.
 *
 * Workers spin between the jobs of a busy period (team_busy(t, 1) .. team_busy(t, 0)), where
 * jobs come every few microseconds and a sleep/wake would cost more than the job, and sleep on
 * a futex outside it. No allocation after team_new. Not reentrant: one caller thread. */
#ifndef METASAC_TEAM_H
#define METASAC_TEAM_H

typedef struct team team_t;
typedef void (*team_fn_t)(void *arg, int part, int nparts);

/* threads >= 1 (1: no workers, team_run runs the parts in order on the caller). */
team_t *team_new(int threads);
void team_destroy(team_t **self_p);
int team_threads(const team_t *t);

/* Runs fn(arg, p, nparts) for every p in [0, nparts), then returns. */
void team_run(team_t *t, team_fn_t fn, void *arg, int nparts);

/* Marks the start (1) and the end (0) of a period of frequent jobs. */
void team_busy(team_t *t, int busy);

#endif
