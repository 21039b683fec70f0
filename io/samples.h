/* Samples files (kind=samples): what `ddm sample` writes and `ddm eval/export/info` read.
 *
 * Layout written: one group per sampler setting, even for a single setting (the group
 * name is the caller's, e.g. "ddim-50-eta0"; samples_group_name makes the canonical one).
 * Readers also take the datasets at the root (group "", as files of other tools or older
 * ddm versions hold them: samples_find_set, samples_set_open):
 *   /<group>/images  uint8 [N,C,H,W]  chunk [min(N,64),C,H,W], fill 0
 *   /<group>/seeds   int64 [N]        the seed of each row (its noise stream)
 *   /<group>/labels  int32 [N]        class of each row, -1 = unconditional (fill -1)
 *   /<group>/done    uint8 [N]        1 once the row's image is written (fill 0)
 *   group attrs: sampler (str), steps, eta, guidance, class, nfe, settings (str: every
 *                other setting as "key=value" words), order (int: groups made before this
 *                one in the file, i.e. its place in a sweep; absent in older files)
 *   file attrs:  kind=samples, format_version, checkpoint (path), checkpoint_step,
 *                config (text of the config the checkpoint was trained with)
 *
 * Creation and row writes are collective under MPI: every rank calls every function
 * below (except the readers) with a fapl/dxpl from mpi/h5par; serially pass H5P_DEFAULT.
 * A row's image depends only on (checkpoint, setting, seed), so a resumed file holds the
 * same images/seeds/labels/done as an uninterrupted one (the HDF5 container bytes may
 * differ).
 * N = rows, C = channels, H, W = height, width.
 */
#ifndef DDM_SAMPLES_H
#define DDM_SAMPLES_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *sampler;  /* "ddpm", "ddim", ... */
    int steps;
    double eta;           /* < 0 when the sampler has none */
    double guidance;      /* 0 = none */
    int class_label;      /* -1 = none */
    int nfe;              /* network evaluations per image: informational, not compared */
    const char *settings; /* every other setting, "key=value" words; NULL = none */
    /* a task's rows: the input row each sample was made from (n, the `inputs` dataset) and
     * the input file (the group's `input` attribute); NULL = plain generation */
    const int64_t *inputs;
    const char *input_file;
} SamplesSetting;

typedef struct {
    const char *ckpt_path;
    int64_t ckpt_step;
    const char *config_text;
} SamplesSource;

typedef struct {
    hid_t file, dxpl;
    char *path;
    int is_root;
} SamplesFile;

typedef struct {
    SamplesFile *sf;
    char *name;
    hid_t group, images, seeds, labels, done;
    int64_t n;
    int c, h, w;
} SamplesGroup;

/* Canonical group name: "<sampler>-<steps>", then "-eta<eta>" when eta >= 0, "-w<g>" when
 * guidance != 0, "-c<class>" when class_label >= 0 (numbers "%g"). */
void samples_group_name(char *buf, size_t n, const SamplesSetting *set);

/* Collective. exists: whether path exists, the same on every rank (mpi/h5par_exists;
 * serially access()). Absent: creates it with the source attributes. Present: opens it
 * for writing; it must be a samples file made from the same checkpoint step and config,
 * else dies: "F: was made from checkpoint step 1000, this run uses step 2000; use another
 * --out". is_root: this process writes the data every rank holds (the seeds): rank 0. */
void samples_open(SamplesFile *sf, const char *path, int exists, const SamplesSource *src,
                  hid_t fapl, hid_t dxpl, int is_root);
void samples_close(SamplesFile *sf); /* collective */

/* Collective. Creates group `name` for n rows of (c,h,w) images with these seeds, or,
 * when it exists, checks that it was made with the same setting, seeds and image shape
 * ("F: group G was made with steps=50, this run asks steps=20; use another --out").
 * Returns the number of unfinished rows and their indices, ascending, in *todo
 * (malloc'd; todo may be NULL). */
int64_t samples_group_open(SamplesGroup *g, SamplesFile *sf, const char *name,
                           const SamplesSetting *set, const int64_t *seeds, int64_t n, int c,
                           int h, int w, int64_t **todo);
void samples_group_close(SamplesGroup *g); /* collective */

/* Collective: every rank calls, each with its own rows (any order, no repeats; nrows may
 * be 0). images (nrows,C,H,W) and labels (nrows) in the order of rows. Writes them, sets
 * done, and flushes the file (so a killed job loses at most the rows in flight). */
void samples_write_rows(SamplesGroup *g, const int64_t *rows, size_t nrows,
                        const uint8_t *images, const int32_t *labels);

/* ---- readers (serial; for info, export, eval) ---- */

/* Groups of an open samples file that hold an 'images' dataset, by name (malloc'd array
 * of malloc'd strings); returns their count. */
int samples_list_groups(hid_t file, char ***names);
void samples_free_names(char **names, int n);
/* Sort names[0..n) (groups of file) by their 'order' attribute (creation order, a sweep's
 * order). Returns 0, names untouched, when a group has none (a file from before it). */
int samples_creation_order(hid_t file, char **names, int n);

typedef struct {
    char *sampler, *settings;
    int steps, class_label, nfe;
    double eta, guidance;
    int64_t n, n_done;
    int c, h, w;
} SamplesGroupInfo;
/* path is for messages */
void samples_group_info(hid_t file, const char *path, const char *group, SamplesGroupInfo *info);
void samples_group_info_free(SamplesGroupInfo *info);
/* Rows [start, start+count) of a group; any output may be NULL. */
void samples_read_rows(hid_t file, const char *path, const char *group, int64_t start,
                       int64_t count, uint8_t *images, int64_t *seeds, int32_t *labels,
                       uint8_t *done);

/* The finished rows of a group of n rows, ascending (malloc'd); *n_done set. */
int64_t *samples_done_rows(hid_t file, const char *path, const char *group, int64_t n, int64_t *n_done);

/* ---- one set of samples, at the root or in a group (export, info) ---- */

/* 1 when group g of loc ("" = the root) holds the datasets images, seeds and done. */
int samples_is_set(hid_t loc, const char *g);
/* The group holding the set to read ("" for the root), malloc'd: want (a group name; a
 * leading '/' is ignored) or, when NULL, the root when it holds a set, else the only
 * group that does. Dies listing the groups when that does not pick exactly one. */
char *samples_find_set(hid_t f, const char *path, const char *want);

/* A set opened for reading: its shape and the per-row seeds, done flags and labels. */
typedef struct {
    const char *path;
    char group[1024];
    hid_t images;
    size_t n;
    int c, h, w;
    int64_t *seeds;
    uint8_t *done;
    int32_t *labels; /* NULL when none */
} SamplesSet;

/* Open the set in group ("" = root) of f: images must be uint8 [N,C,H,W]; seeds, done and
 * (optional) labels integer [N]; reads those three. path is for messages. */
void samples_set_open(SamplesSet *s, hid_t f, const char *path, const char *group);
/* images of rows [start, start+count) into out (count,C,H,W) */
void samples_set_read_images(const SamplesSet *s, size_t start, size_t count, uint8_t *out);
void samples_set_close(SamplesSet *s);

#endif
