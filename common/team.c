#include "team.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc.h"

enum { MAX_WORKERS = 63 };

struct team {
    int threads;
    pthread_t workers[MAX_WORKERS];
    /* The job, published like a seqlock: the caller makes seq odd, writes the fields, makes seq
       even again (release); a worker reads the fields between two equal even readings of seq.
       nparts 0 is a job with nothing to do (team_busy uses it to wake sleeping workers). */
    _Atomic(team_fn_t) fn;
    _Atomic(void *) arg;
    _Atomic int nparts;
    _Atomic long base;         /* ticket of part 0 of the current job */
    _Atomic long ticket;       /* next unclaimed ticket: part = ticket - base */
    _Atomic int done;          /* parts finished in the current job */
    _Atomic uint32_t seq;      /* the futex word */
    _Atomic int busy, quit;
    _Atomic int sleepers;      /* workers in (or about to enter) futex wait */
};

static void s_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();  /* spin politely: frees the core's resources for its sibling */
#endif
}

static void s_futex_wait(_Atomic uint32_t *w, uint32_t val) {
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void s_futex_wake_all(_Atomic uint32_t *w) {
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, MAX_WORKERS, NULL, NULL, 0);
}

/* Claims and runs parts of the job whose part 0 is ticket base until none is left. A claim
   succeeds only while the ticket is inside [base, base + nparts): a thread still holding an
   older job's base can never claim a newer job's ticket, because all of the older job's
   tickets were claimed before the newer job was published. */
static void s_work(team_t *t, long base, int nparts, team_fn_t fn, void *arg) {
    long c = atomic_load_explicit(&t->ticket, memory_order_relaxed);
    while (c >= base && c < base + nparts) {
        if (atomic_compare_exchange_weak_explicit(&t->ticket, &c, c + 1, memory_order_acquire,
                                                  memory_order_relaxed)) {
            fn(arg, (int)(c - base), nparts);
            atomic_fetch_add_explicit(&t->done, 1, memory_order_release);
            c = atomic_load_explicit(&t->ticket, memory_order_relaxed);
        }
    }
}

static void *s_worker(void *arg) {
    team_t *t = arg;
    uint32_t seen = 0;  /* seq at team_new: a job published before this thread ran is seen */
    for (;;) {
        uint32_t now;
        int spins = 0;
        while ((now = atomic_load_explicit(&t->seq, memory_order_acquire)) == seen || (now & 1)) {
            if ((now & 1) || atomic_load_explicit(&t->busy, memory_order_relaxed) ||
                ++spins < 2000) {
                s_pause();
                continue;
            }
            atomic_fetch_add(&t->sleepers, 1);
            if (atomic_load(&t->seq) == seen && !atomic_load(&t->busy))
                s_futex_wait(&t->seq, seen);
            atomic_fetch_sub(&t->sleepers, 1);
            spins = 0;
        }
        team_fn_t fn = atomic_load_explicit(&t->fn, memory_order_relaxed);
        void *job = atomic_load_explicit(&t->arg, memory_order_relaxed);
        int nparts = atomic_load_explicit(&t->nparts, memory_order_relaxed);
        long base = atomic_load_explicit(&t->base, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&t->seq, memory_order_relaxed) != now) continue;  /* torn */
        seen = now;
        if (atomic_load_explicit(&t->quit, memory_order_acquire)) return NULL;
        if (nparts) s_work(t, base, nparts, fn, job);
    }
}

static void s_publish(team_t *t, team_fn_t fn, void *arg, int nparts, long base) {
    atomic_fetch_add_explicit(&t->seq, 1, memory_order_relaxed);  /* odd: being written */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&t->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&t->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&t->nparts, nparts, memory_order_relaxed);
    atomic_store_explicit(&t->base, base, memory_order_relaxed);
    /* even: published. seq_cst, like the worker's sleepers increment: either the worker sees
       the new seq before it sleeps or this sees the worker counted as a sleeper and wakes it. */
    atomic_fetch_add_explicit(&t->seq, 1, memory_order_seq_cst);
    if (atomic_load(&t->sleepers)) s_futex_wake_all(&t->seq);
}

team_t *team_new(int threads) {
    RL_ASSERT(threads >= 1 && threads <= MAX_WORKERS + 1, "team of %d threads", threads);
    team_t *t = rl_calloc(1, sizeof *t);
    t->threads = threads;
    for (int i = 0; i < threads - 1; i++)
        RL_ASSERT(pthread_create(&t->workers[i], NULL, s_worker, t) == 0, "pthread_create");
    return t;
}


void team_destroy(team_t **self_p) {
    team_t *t = *self_p;
    if (!t) return;
    atomic_store_explicit(&t->quit, 1, memory_order_release);
    atomic_store(&t->busy, 0);
    s_publish(t, NULL, NULL, 0, 0);
    for (int i = 0; i < t->threads - 1; i++) pthread_join(t->workers[i], NULL);
    free(t);
    *self_p = NULL;
}

int team_threads(const team_t *t) { return t->threads; }

void team_busy(team_t *t, int busy) {
    atomic_store(&t->busy, busy);
    if (busy && atomic_load(&t->sleepers)) s_publish(t, NULL, NULL, 0, 0);  /* wake to spin */
}

void team_run(team_t *t, team_fn_t fn, void *arg, int nparts) {
    if (t->threads == 1 || nparts == 1) {
        for (int p = 0; p < nparts; p++) fn(arg, p, nparts);
        return;
    }
    long base = atomic_load_explicit(&t->ticket, memory_order_relaxed);
    atomic_store_explicit(&t->done, 0, memory_order_relaxed);
    s_publish(t, fn, arg, nparts, base);  /* release: the caller's writes are visible too */
    s_work(t, base, nparts, fn, arg);
    int spins = 0;
    while (atomic_load_explicit(&t->done, memory_order_acquire) < nparts)
        if (++spins % 4096 == 0) sched_yield(); else s_pause();
}
