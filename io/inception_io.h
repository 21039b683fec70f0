/* Inception weights files (kind=inception_weights): the FID Inception of pytorch-fid for
 * `ddm eval --features inception:WEIGHTS.h5` (core/inception.h).
 *
 * Layout (written by tests/ref/convert_inception.py from pytorch-fid's
 * pt_inception-2015-12-05-6726825d.pth, or with --random SEED for tests):
 *   /inception/<state_dict key>   float32, PyTorch's shape, e.g.
 *                                 /inception/Mixed_6b.branch7x7_2.conv.weight [128,128,1,7]
 *   attributes: kind = "inception_weights", format_version = 1, source (text: where the
 *               weights came from)
 * Every tensor of the core/inception.h table must be there with its shape; others
 * (fc.weight, fc.bias, num_batches_tracked) are ignored.
 */
#ifndef DDM_INCEPTION_IO_H
#define DDM_INCEPTION_IO_H

#include "core/inception.h"

#define INCEPTION_KIND "inception_weights"
#define INCEPTION_GROUP "inception"

/* Read the weights, fold the BatchNorms: a network ready for inception_features. Dies
 * naming the file and the problem (missing file, wrong kind, a missing tensor or one of
 * the wrong shape, a bad statistic). Serial HDF5; under MPI every rank may call it. */
Inception *inception_load(const char *path);

/* The file's source attribute (malloc'd), or NULL when it has none. */
char *inception_load_source(const char *path);

#endif
