/* A named tensor inside a flat float block: the unit of checkpoints and conversion.
 * Every network (U-Net, classifier) describes its parameters as a table of these. */
#ifndef DDM_TENSOR_H
#define DDM_TENSOR_H

#include <stddef.h>

typedef struct {
    char name[80];  /* PyTorch-style, e.g. "down.0.block.0.conv1.weight" */
    int ndim;
    int shape[4];
    size_t offset;  /* in floats, into the block */
    size_t size;    /* floats */
} TensorInfo;

#endif
