/* The sampling farm's work distribution: see mpi/farm.h. */
#include "mpi/farm.h"

#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "mpi/dist.h"

/* displacements in the window (int64 units) */
#define FARM_IMAGES 0
#define FARM_NFE 1
#define FARM_ROUND0 2

static int item_cmp(const void *a, const void *b)
{
    const FarmItem *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1; /* longest first */
    if (x->group != y->group) return x->group < y->group ? -1 : 1;
    return (x->first > y->first) - (x->first < y->first);
}

void farm_plan(Farm *f, int n_groups, const int64_t *todo_count, const int64_t *nfe_per_image,
               int batch, int items_per_rank, int ranks)
{
    DDM_ASSERT(batch >= 1 && items_per_rank >= 1 && ranks >= 1 && n_groups >= 0,
               "farm_plan: batch %d, items_per_rank %d, ranks %d", batch, items_per_rank, ranks);
    memset(f, 0, sizeof *f);
    f->win = MPI_WIN_NULL;
    f->t_begin = -1;
    f->n_groups = n_groups;
    int64_t *n_g = xcalloc((size_t)(n_groups ? n_groups : 1), sizeof *n_g);
    int64_t total = 0;
    for (int g = 0; g < n_groups; g++) {
        n_g[g] = (todo_count[g] + batch - 1) / batch;
        total += n_g[g];
    }
    f->n_items = total;
    const int64_t per_round = (int64_t)ranks * items_per_rank;
    f->n_rounds = total > 0 ? (total + per_round - 1) / per_round : 0;
    f->items = xcalloc((size_t)(total ? total : 1), sizeof *f->items);
    f->round_start = xcalloc((size_t)f->n_rounds + 1, sizeof *f->round_start);
    int64_t k = 0;
    const int64_t R = f->n_rounds;
    for (int64_t r = 0; r < R; r++) {
        f->round_start[r] = k;
        for (int g = 0; g < n_groups; g++) {
            /* group g's items spread evenly over the rounds */
            int64_t i0 = r * n_g[g] / R, i1 = (r + 1) * n_g[g] / R;
            for (int64_t i = i0; i < i1; i++) {
                FarmItem *it = &f->items[k++];
                it->group = g;
                it->first = i * batch;
                int64_t left = todo_count[g] - it->first;
                it->count = (int)(left < batch ? left : batch);
                it->cost = (double)nfe_per_image[g] * it->count;
            }
        }
        qsort(f->items + f->round_start[r], (size_t)(k - f->round_start[r]), sizeof *f->items,
              item_cmp);
    }
    f->round_start[R] = k;
    DDM_ASSERT(k == total, "farm_plan: %lld items placed of %lld", (long long)k, (long long)total);
    free(n_g);
}

void farm_start(Farm *f)
{
    MPI_Comm comm = g_dist.comm != MPI_COMM_NULL ? g_dist.comm : MPI_COMM_WORLD;
    MPICHECK(MPI_Comm_rank(comm, &f->rank));
    MPICHECK(MPI_Comm_size(comm, &f->size));
    const int64_t words = FARM_ROUND0 + f->n_rounds;
    MPI_Aint bytes = f->rank == 0 ? (MPI_Aint)(words * (int64_t)sizeof(int64_t)) : 0;
    MPICHECK(MPI_Win_allocate(bytes, (int)sizeof(int64_t), MPI_INFO_NULL, comm, &f->base,
                              &f->win));
    if (f->rank == 0) {
        /* a local store into window memory: inside an exclusive epoch on ourselves */
        MPICHECK(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, f->win));
        memset(f->base, 0, (size_t)bytes);
        MPICHECK(MPI_Win_unlock(0, f->win));
    }
    MPICHECK(MPI_Barrier(comm));
    MPICHECK(MPI_Win_lock_all(MPI_MODE_NOCHECK, f->win));
    f->t0 = ddm_now();
}

int farm_next(Farm *f, int64_t r, int64_t *item)
{
    DDM_ASSERT(r >= 0 && r < f->n_rounds, "farm_next: round %lld of %lld", (long long)r,
               (long long)f->n_rounds);
    const int64_t n = f->round_start[r + 1] - f->round_start[r];
    const int64_t one = 1;
    int64_t got = n;
    double t = ddm_now();
    MPICHECK(MPI_Fetch_and_op(&one, &got, MPI_INT64_T, 0, FARM_ROUND0 + r, MPI_SUM, f->win));
    MPICHECK(MPI_Win_flush(0, f->win)); /* also completes earlier farm_done reports */
    f->wait += ddm_now() - t;
    if (got >= n) return 0;
    *item = f->round_start[r] + got;
    f->my_items++;
    return 1;
}

void farm_done(Farm *f, int64_t images, int64_t nfe)
{
    int64_t v[2] = {images, nfe};
    f->my_images += images;
    f->my_nfe += nfe;
    MPICHECK(MPI_Accumulate(v, 2, MPI_INT64_T, 0, FARM_IMAGES, 2, MPI_INT64_T, MPI_SUM, f->win));
}

void farm_poll(Farm *f)
{
    if (f->rank != 0 || f->size < 2 || f->win == MPI_WIN_NULL) return;
    int flag = 0;
    /* any call into the library runs Open MPI's progress engine; this one is cheap and
     * matches nothing (the job sends no point-to-point messages) */
    MPICHECK(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, g_dist.comm, &flag, MPI_STATUS_IGNORE));
}

void farm_totals(Farm *f, int64_t *images, int64_t *nfe)
{
    if (f->rank != 0 || f->win == MPI_WIN_NULL) {
        *images = f->my_images;
        *nfe = f->my_nfe;
        return;
    }
    int64_t v[2] = {0, 0}, dummy[2] = {0, 0};
    MPICHECK(MPI_Get_accumulate(dummy, 2, MPI_INT64_T, v, 2, MPI_INT64_T, 0, FARM_IMAGES, 2,
                                MPI_INT64_T, MPI_NO_OP, f->win));
    MPICHECK(MPI_Win_flush(0, f->win));
    *images = v[0];
    *nfe = v[1];
}

void farm_busy_begin(Farm *f) { f->t_begin = ddm_now(); }

void farm_busy_end(Farm *f)
{
    if (f->t_begin >= 0) f->busy += ddm_now() - f->t_begin;
    f->t_begin = -1;
}

void farm_finish(Farm *f)
{
    if (f->win != MPI_WIN_NULL) {
        MPICHECK(MPI_Win_unlock_all(f->win));
        MPICHECK(MPI_Win_free(&f->win));
        f->win = MPI_WIN_NULL;
        f->base = NULL;
    }
    f->wall = ddm_now() - f->t0;
}

void farm_busy_fractions(const Farm *f, double *frac, double *min, double *mean)
{
    double mine = f->wall > 0 ? f->busy / f->wall : 0.0;
    MPI_Comm comm = g_dist.comm != MPI_COMM_NULL ? g_dist.comm : MPI_COMM_WORLD;
    int rank = 0, size = 1;
    MPICHECK(MPI_Comm_rank(comm, &rank));
    MPICHECK(MPI_Comm_size(comm, &size));
    double *all = rank == 0 ? (frac ? frac : xmalloc(sizeof(double) * (size_t)size)) : NULL;
    MPICHECK(MPI_Gather(&mine, 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, 0, comm));
    double mm[2] = {0, 0};
    if (rank == 0) {
        mm[0] = all[0];
        for (int i = 0; i < size; i++) {
            if (all[i] < mm[0]) mm[0] = all[i];
            mm[1] += all[i] / size;
        }
        if (all != frac) free(all);
    }
    MPICHECK(MPI_Bcast(mm, 2, MPI_DOUBLE, 0, comm));
    *min = mm[0];
    *mean = mm[1];
}

int farm_round_has_group(const Farm *f, int64_t r, int g)
{
    for (int64_t i = f->round_start[r]; i < f->round_start[r + 1]; i++)
        if (f->items[i].group == g) return 1;
    return 0;
}

void farm_free(Farm *f)
{
    free(f->items);
    free(f->round_start);
    f->items = NULL;
    f->round_start = NULL;
}
