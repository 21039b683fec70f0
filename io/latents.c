/* Latents files (io/latents.h). */
#include "io/latents.h"

#include "io/h5.h"

void latents_write(const char *path, const LatentsMeta *m, const float *x, const int32_t *labels,
                   int64_t n, int C, int H, int W)
{
    hid_t f = h5_create(path, H5P_DEFAULT);
    h5_set_kind(f, "latents");
    h5_attr_set_str(f, "checkpoint", m->ckpt_path);
    h5_attr_set_i64(f, "checkpoint_step", m->ckpt_step);
    if (m->config_text) h5_attr_set_str(f, "config", m->config_text);
    h5_attr_set_str(f, "input", m->input_file);
    h5_attr_set_str(f, "sampler", m->sampler);
    h5_attr_set_i64(f, "steps", m->steps);
    h5_attr_set_str(f, "state", m->state);
    h5_attr_set_f64(f, "a", m->a);
    h5_attr_set_f64(f, "sg", m->sg);
    h5_attr_set_f64(f, "sigma", m->sigma);
    h5_attr_set_f64(f, "prior_std", m->prior_std);
    const hsize_t dims[4] = {(hsize_t)n, (hsize_t)C, (hsize_t)H, (hsize_t)W};
    h5_write_f32(f, "latents", x, 4, dims);
    hid_t s = H5Screate_simple(1, dims, NULL);
    H5OK(s);
    hid_t d = H5Dcreate2(f, "labels", H5T_STD_I32LE, s, H5P_DEFAULT, h5_untimed_dcpl(), H5P_DEFAULT);
    H5OK(d);
    H5OK(H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels));
    H5OK(H5Dclose(d));
    H5OK(H5Sclose(s));
    h5_close(f);
}
