/* The sampling farm's work distribution: (setting, batch of rows) items handed out
 * dynamically to the ranks in ROUNDS, through a shared counter per round that every rank
 * bumps with MPI_Fetch_and_op on a window held by rank 0 (passive target, lock_all), so
 * no rank has to serve requests and rank 0 works like the others.
 *
 * Rounds. A round is a small set of items (about items_per_rank per rank). Within a
 * round each rank takes the next item from the round's counter until the round is
 * exhausted; then the caller flushes what every rank finished in one collective write
 * (io/samples) and the next round starts. A round is also the resume granularity: a job
 * killed mid-round loses at most that round's images.
 *
 * Plan (farm_plan, the same on every rank, a pure function of its inputs):
 *   - each group's rows to do are cut into items of at most `batch` rows, in row order;
 *   - R = ceil(items / (P * items_per_rank)) rounds; every group's items are spread
 *     evenly over the rounds (round r gets items [r n_g / R, (r+1) n_g / R) of group g),
 *     so every round holds about the same mix of cheap and costly settings and its first
 *     round holds the first rows of every group;
 *   - within a round, items are ordered by descending cost (network evaluations x rows:
 *     longest first), so cheap items fill the gaps at the end of the round.
 * Which rank makes an item never changes what the item's images are: the caller makes an
 * image from (checkpoint, setting, seed) only.
 *
 * Progress of one-sided operations. The epoch is lock_all with MPI_MODE_NOCHECK: without
 * it Open MPI's osc components send lock requests that rank 0 must answer (measured: a
 * fetch waited 2 s for a rank 0 busy computing). With it, osc rdma/ucx with atomics do
 * the fetch without rank 0; osc pt2pt still needs rank 0 to enter the MPI library, so
 * rank 0 calls farm_poll between network evaluations (the job's DenoiseFn does), which
 * bounds another rank's wait for an item by one network call of rank 0.
 *
 * The window also holds two counters every rank adds to as it finishes items: images
 * made and network evaluations (per image, summed), which rank 0 reads for its progress
 * line while the round is still running.
 */
#ifndef DDM_FARM_H
#define DDM_FARM_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int group;      /* setting index */
    int64_t first;  /* index of the item's first row in the group's todo list */
    int count;      /* rows: todo[first .. first+count) */
    double cost;    /* network evaluations per image x rows */
} FarmItem;

typedef struct {
    /* the plan */
    FarmItem *items;      /* all items, round after round */
    int64_t n_items;
    int64_t *round_start; /* items of round r: [round_start[r], round_start[r+1]) */
    int64_t n_rounds;
    int n_groups;
    /* the shared counters */
    MPI_Win win;
    int64_t *base;        /* rank 0: [0] images, [1] NFE, [2 + r] next item of round r */
    int rank, size;
    /* this rank's accounting */
    double busy;          /* seconds inside farm_busy_begin/end */
    double t_begin;       /* of the busy interval in progress (< 0: none) */
    double t0;            /* farm_start */
    double wall;          /* farm_finish - farm_start */
    double wait;          /* seconds waiting for the counter */
    int64_t my_items, my_images, my_nfe;
} Farm;

/* Build the plan (no communication). todo_count[g] rows to do in group g, nfe_per_image[g]
 * the cost of one image of group g; batch >= 1 rows per item; items_per_rank >= 1;
 * ranks = the number of ranks the rounds are sized for. */
void farm_plan(Farm *f, int n_groups, const int64_t *todo_count, const int64_t *nfe_per_image,
               int batch, int items_per_rank, int ranks);

/* Collective over g_dist.comm: the window and its counters (zeroed). Call after farm_plan. */
void farm_start(Farm *f);

/* Take the next item of round r: 1 and *item (an index into f->items), or 0 when the
 * round has no item left for this rank. Completes this rank's earlier farm_done reports. */
int farm_next(Farm *f, int64_t r, int64_t *item);

/* Report a finished item: images made and the network evaluations they took. */
void farm_done(Farm *f, int64_t images, int64_t nfe);

/* Rank 0: let MPI progress the other ranks' operations on the window (cheap; call it
 * often while computing). Other ranks: nothing. */
void farm_poll(Farm *f);

/* Rank 0: the images and NFE reported by all ranks so far (reports of items still being
 * made are not in it). Other ranks: their own. */
void farm_totals(Farm *f, int64_t *images, int64_t *nfe);

/* Time accounting: bracket the computing (not waiting, not writing). */
void farm_busy_begin(Farm *f);
void farm_busy_end(Farm *f);

/* Collective: free the window; sets f->wall. Then farm_report may be called. */
void farm_finish(Farm *f);

/* Collective: busy fraction per rank (busy / wall), gathered on rank 0: fills frac[P]
 * (rank 0 only; may be NULL elsewhere) and returns on every rank min and mean. */
void farm_busy_fractions(const Farm *f, double *frac, double *min, double *mean);

/* Items of round r belonging to group g exist? (the same answer on every rank) */
int farm_round_has_group(const Farm *f, int64_t r, int g);

void farm_free(Farm *f);

#endif
