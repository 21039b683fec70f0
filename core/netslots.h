/* The network in fixed 8-image slots: what makes a sample independent of its batch.
 *
 * OpenBLAS's sgemm rounds one column (row) of a product differently depending on the
 * product's width (height), and core/ puts the batch into the GEMM shapes (Winograd convs:
 * batch x tiles columns; linear: batch rows), so one image's network output changes in
 * the last bits with the batch it is in, and threads split GEMMs by the thread count.
 * So the network is called in fixed-width slots (NETSLOTS_WIDTH images, the image of seed
 * s in slot s % NETSLOTS_WIDTH, empty slots zero), one call per thread, each thread with
 * its own single-threaded U-Net: an image's arithmetic is the same whatever the batch,
 * rank, resume state or thread count. The width is part of every sampling setting.
 * A model with condition channels (SR3) gets each image's condition row concatenated
 * after it in its slot: the row of its sample, whichever half of a guided call it is in.
 */
#ifndef DDM_NETSLOTS_H
#define DDM_NETSLOTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/denoiser.h"
#include "core/unet.h"

#define NETSLOTS_WIDTH 8

typedef struct {
    UNet **nets;            /* one per thread, NETSLOTS_WIDTH wide, single-threaded */
    UNet **vnets;           /* the same as training nets, made on the first gradient call
                               (plug-and-play priors: denoiser_prior_grad) */
    UNetConfig uc;
    float *vdx, *vdo;       /* per thread: NETSLOTS_WIDTH x (D + Dc), NETSLOTS_WIDTH x D */
    int n_nets;
    int num_classes;
    size_t D;               /* image values per sample */
    size_t Dc;              /* condition image values per sample (cond_ch x S x S; 0 = none) */
    const float *cond;      /* (n, Dc) of the batch being made (denoiser_set_cond) */
    const uint64_t *seeds;  /* of the batch being made */
    int n;
    int *plan;              /* call c, slot r -> image index, or -1 */
    float *xs, *ts, *os;    /* per thread: NETSLOTS_WIDTH x (D + Dc, 1, D) */
    int *ls;
    int blas_saved;
    /* called between network calls (e.g. to keep a work queue moving, print progress) */
    void (*between)(void *ctx);
    void *between_ctx;
} NetSlots;

/* threads networks with these weights (unet_num_params floats); OpenBLAS runs serial and
 * nested OpenMP regions are off until netslots_free. */
void netslots_init(NetSlots *ns, const UNetConfig *uc, const float *weights, int threads);
void netslots_free(NetSlots *ns);
/* The slot plan of a call of B images whose keys are keys[b % nkeys] (a guided call holds
 * the batch twice): the k-th image of residue r = key % NETSLOTS_WIDTH goes to call k,
 * slot r. *plan (realloc'd) gets calls x NETSLOTS_WIDTH image indices, -1 for an empty
 * slot; returns the number of calls. core/clsguide.c plans the classifier's calls alike. */
int netslots_plan(int **plan, const uint64_t *keys, int nkeys, int B);
/* A denoiser over the slots (fn, batch_fn, vjp_fn and ctx set; the caller keeps ns
 * alive). The gradient (vjp_fn) runs each slot call forward and backward on training
 * nets made on first use, one per thread. */
void netslots_denoiser(Denoiser *d, NetSlots *ns, const Schedule *s);

#endif
