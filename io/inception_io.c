/* Reading Inception weights files (see inception_io.h). */
#include "io/inception_io.h"

#include <stdio.h>
#include <stdlib.h>

#include "io/h5.h"

Inception *inception_load(const char *path)
{
    hid_t f = h5_open(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    h5_require_kind(f, path, INCEPTION_KIND);
    Inception *net = inception_create();
    float *p = inception_params(net);
    const int nt = inception_num_tensors(net);
    for (int i = 0; i < nt; i++) {
        const TensorInfo *t = inception_tensor(net, i);
        char name[128];
        snprintf(name, sizeof name, "%s/%s", INCEPTION_GROUP, t->name);
        if (!h5_exists(f, name))
            ddm_die("%s: has no dataset '/%s' (not an Inception weights file made by "
                    "tests/ref/convert_inception.py?)", path, name);
        hsize_t dims[4];
        for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
        h5_read_f32(f, path, name, p + t->offset, t->ndim, dims);
    }
    h5_close(f);
    inception_prepare(net, path);
    return net;
}

char *inception_load_source(const char *path)
{
    hid_t f = h5_open(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    char *s = NULL;
    if (!h5_attr_get_str(f, "source", &s)) s = NULL;
    h5_close(f);
    return s;
}
