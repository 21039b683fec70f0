/* The variational bound over a dataset on P ranks (see nllpass.h). */
#include "mpi/nllpass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/progress.h"
#include "io/dataset.h"
#include "io/fsio.h"
#include "io/h5.h"
#include "mpi/dist.h"

/* Rank 0's progress line: its own share of the work, scaled to all ranks */
static void progress_line(const NllPass *p, Progress *pg, long done, long total)
{
    if (!dist_is_root() || p->progress_every <= 0 || done >= total || !progress_due(pg, p->progress_every))
        return;
    const double dt = ddm_now() - pg->t0, P = dist_size(), K = p->plan->n;
    char eta[32];
    progress_eta(pg, done, total, eta, sizeof eta);
    printf("nll: ~%.0f/%lld images (%.1f%%; rank 0's share x %d ranks)  %.2f img/s  %.1f NFE/s  ETA %s\n",
           (double)p->n * done / total, (long long)p->n, 100.0 * done / total, dist_size(),
           dt > 0 ? P * done / K / dt : 0, dt > 0 ? P * done / dt : 0, eta);
    fflush(stdout);
}

/* rank 0 writes the test dump from the gathered rows */
static void write_dump(const NllPass *p, const char *tmp, const float *noise, const float *out, const double *terms,
                       size_t D)
{
    const int K = p->plan->n;
    hid_t f = h5_create(tmp, H5P_DEFAULT);
    h5_set_kind(f, "nll-dump");
    const hsize_t big[3] = {(hsize_t)p->n, (hsize_t)K, (hsize_t)D}, tdims[2] = {(hsize_t)p->n, NLL_NTERMS},
                  kd[1] = {(hsize_t)K};
    h5_write_f32(f, "noise", noise, 3, big);
    h5_write_f32(f, "out", out, 3, big);
    h5_write_f64(f, "terms", terms, 2, tdims);
    double *t = xmalloc(sizeof(double) * (size_t)K);
    for (int j = 0; j < K; j++) t[j] = p->plan->t[j];
    h5_write_f64(f, "t", t, 1, kd);
    h5_write_f64(f, "weight", p->plan->weight, 1, kd);
    free(t);
    h5_attr_set_str(f, "data", p->data);
    h5_attr_set_str(f, "model", p->dump_model ? p->dump_model : "");
    h5_attr_set_str(f, "weights", p->dump_weights ? p->dump_weights : "");
    h5_attr_set_i64(f, "seed", (int64_t)p->seed);
    h5_attr_set_i64(f, "clip", p->clip);
    h5_attr_set_i64(f, "T", p->plan->T);
    h5_attr_set_str(f, "terms_order", "prior, kl_beta, kl_beta_tilde, decoder (nats)");
    h5_close(f);
    fsio_commit(tmp, p->dump);
}

void nllpass_run(const NllPass *p, NllPassResult *r)
{
    memset(r, 0, sizeof *r);
    const int P = dist_size(), rank = dist_rank(), K = p->plan->n;
    const size_t D = p->den->D;
    const int64_t lo = p->n * rank / P, hi = p->n * (rank + 1) / P, nloc = hi - lo;
    DDM_ASSERT(p->batch >= 1 && K >= 1 && p->n >= 1, "nllpass: batch %d, %d steps, %lld images", p->batch, K,
               (long long)p->n);
    char *tmp = p->dump && dist_is_root() ? fsio_claim_tmp(p->dump) : NULL; /* unwritable: fail first */
    const size_t Bmax = (size_t)p->batch;
    uint8_t *u8 = xmalloc(Bmax * D);
    double *x0 = xmalloc(sizeof(double) * Bmax * D), *scratch = xmalloc(sizeof(double) * 2 * D);
    float *noise = xalloc_floats(Bmax * D), *xin = xalloc_floats(Bmax * D), *out = xalloc_floats(Bmax * D);
    float *tcond = xalloc_floats(Bmax);
    uint64_t *keys = xmalloc(sizeof(uint64_t) * Bmax);
    double *terms = xcalloc((size_t)(nloc > 0 ? nloc : 1) * NLL_NTERMS, sizeof(double));
    const size_t row = (size_t)K * D; /* a dump row: one image's K steps */
    float *dn = NULL, *dout = NULL;
    if (p->dump) {
        dn = xalloc_floats((size_t)(nloc > 0 ? nloc : 1) * row);
        dout = xalloc_floats((size_t)(nloc > 0 ? nloc : 1) * row);
    }
    DatasetFile ds;
    dataset_open(&ds, p->data);
    Progress pg;
    progress_start(&pg, 0);
    const long total = (long)(nloc * K);
    long done = 0;
    const double t0 = ddm_now();
    for (int64_t i0 = lo; i0 < hi; i0 += (int64_t)Bmax) {
        dist_heartbeat();
        const int B = (int)(hi - i0 < (int64_t)Bmax ? hi - i0 : (int64_t)Bmax);
        dataset_read_images(&ds, (size_t)i0, (size_t)B, u8);
        for (size_t v = 0; v < (size_t)B * D; v++) x0[v] = u8[v] / 127.5 - 1.0;
        for (int b = 0; b < B; b++) {
            keys[b] = (uint64_t)(i0 + b); /* the image's slot: the same in any batch */
            terms[(size_t)(i0 - lo + b) * NLL_NTERMS + NLL_PRIOR] = nll_prior(p->s, x0 + (size_t)b * D, D);
        }
        denoiser_begin(p->den, keys, NULL, 0, B);
        for (int j = 0; j < K; j++) {
            const int t = p->plan->t[j];
            for (int b = 0; b < B; b++) {
                nll_noise(noise + (size_t)b * D, p->seed, keys[b], t, D);
                nll_input(p->s, t, xin + (size_t)b * D, x0 + (size_t)b * D, noise + (size_t)b * D, D);
                tcond[b] = (float)(t - 1); /* core/sched.h: vp conditioning = level k = t-1 */
            }
            denoiser_output(p->den, out, xin, tcond);
            for (int b = 0; b < B; b++) {
                const size_t ib = (size_t)(i0 - lo + b);
                nll_step(p->s, t, p->plan->weight[j], p->clip, x0 + (size_t)b * D, noise + (size_t)b * D,
                         out + (size_t)b * D, scratch, D, terms + ib * NLL_NTERMS);
                if (p->dump) {
                    memcpy(dn + ib * row + (size_t)j * D, noise + (size_t)b * D, sizeof(float) * D);
                    memcpy(dout + ib * row + (size_t)j * D, out + (size_t)b * D, sizeof(float) * D);
                }
            }
            done += B;
            progress_line(p, &pg, done, total);
        }
    }
    dataset_close(&ds);
    double tmin, tmax;
    dist_minmax_d(ddm_now() - t0, &tmin, &tmax);
    r->seconds = tmax;
    r->nfe = p->n * K;
    int64_t ntot = 0;
    r->terms = dist_allgather_rows_d(terms, nloc, NLL_NTERMS, &ntot);
    DDM_ASSERT(ntot == p->n, "nllpass: gathered %lld images' terms, expected %lld", (long long)ntot, (long long)p->n);
    if (p->dump) {
        DDM_ASSERT(row <= 2147483647u, "--nll-dump: %zu values an image: too many to gather", row);
        int64_t n1 = 0, n2 = 0;
        float *an = dist_allgather_rows(dn, nloc, (int)row, &n1), *ao = dist_allgather_rows(dout, nloc, (int)row, &n2);
        if (tmp) write_dump(p, tmp, an, ao, r->terms, D);
        free(an);
        free(ao);
    }
    free(tmp);
    free(dn);
    free(dout);
    free(u8);
    free(x0);
    free(scratch);
    free(noise);
    free(xin);
    free(out);
    free(tcond);
    free(keys);
    free(terms);
}

void nllpass_result_free(NllPassResult *r)
{
    free(r->terms);
    r->terms = NULL;
}
