/* ddm merge: one samples file from the files of a Slurm job array, each element of which
 * sampled a disjoint set of seeds with the same checkpoint and settings into its own
 * file. The result holds, per group, the union of the seeds in ascending order (the rows
 * `ddm sample --seeds` over the union would make), every finished row copied with its
 * image and label and marked done, and the attributes of the inputs: its datasets and
 * attributes equal those of one job over all the seeds. Unfinished input rows stay
 * unfinished (fill values), so `ddm sample` over the union of the seeds completes the
 * merged file.
 *
 * Runs on rank 0 (serial HDF5); under mpirun the other ranks wait. The output is written
 * to OUT.tmp-PID and renamed at the end: an error leaves no half-written file.
 * N = rows, C = channels, H, W = height, width. */
#define _GNU_SOURCE
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/common.h"
#include "core/strbuf.h"
#include "io/fsio.h"
#include "io/h5.h"
#include "io/samples.h"
#include "jobs/cli.h"
#include "jobs/jobs.h"
#include "mpi/dist.h"

#define MERGE_ROWS 1024 /* rows per read and write */

static const char SYNOPSIS[] = "--out FILE.h5 IN1.h5 IN2.h5 ...";
static const char DESCRIPTION[] =
    "Merge the samples files of a job array (each element sampled a disjoint seed range\n"
    "with the same checkpoint and settings) into FILE.h5: per group, the union of the\n"
    "seeds in ascending order with their images, labels and done flags, and the inputs'\n"
    "attributes, as one 'ddm sample' run over all the seeds would have written them.\n"
    "Refuses inputs made from different checkpoints or settings, with other groups, or\n"
    "holding the same seed twice. A task's groups (ddm sample --task: rows = inputs x\n"
    "seeds) merge by (input, seed): the same input file in every file, the merged rows the\n"
    "inputs x the union of the seeds, input-major.\n"
    "Unfinished rows stay unfinished (re-run 'ddm sample'\n"
    "with the union of the seeds on FILE.h5 to complete them). FILE.h5 must not exist.";

typedef struct {
    const char *path;
    hid_t f;
    char *ckpt, *config;
    int64_t step;
    int ng;
    char **groups;
} Input;

typedef struct {
    int64_t seed;
    int input;
} SeedOf;

static int seedof_cmp(const void *a, const void *b)
{
    const SeedOf *x = a, *y = b;
    if (x->seed != y->seed) return (x->seed > y->seed) - (x->seed < y->seed);
    return (x->input > y->input) - (x->input < y->input);
}

static void open_input(Input *in, const char *path)
{
    memset(in, 0, sizeof *in);
    in->path = path;
    in->f = h5_open(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    h5_require_kind(in->f, path, "samples");
    if (!h5_attr_get_str(in->f, "checkpoint", &in->ckpt)) in->ckpt = xstrdup("");
    if (!h5_attr_get_str(in->f, "config", &in->config)) in->config = xstrdup("");
    in->step = -1;
    h5_attr_get_i64(in->f, "checkpoint_step", &in->step);
    in->ng = samples_list_groups(in->f, &in->groups);
    if (in->ng == 0) ddm_die("%s: holds no samples group", path);
}

/* The order groups were created in (the order of a sweep's sections): the groups' 'order'
 * attributes, or in files from before them (io/samples.h) the addresses of their object
 * headers, which the HDF5 allocator hands out in creation order. Creating them in that
 * order makes the merged file's bytes those of a single job's file. */
static void creation_order(Input *in)
{
    if (!samples_creation_order(in->f, in->groups, in->ng)) h5_order_by_address(in->f, in->groups, in->ng);
}

static void close_input(Input *in)
{
    h5_close(in->f);
    free(in->ckpt);
    free(in->config);
    samples_free_names(in->groups, in->ng);
}

/* The inputs must come from one checkpoint and hold the same groups. */
static void check_sources(Input *in, int n)
{
    for (int i = 1; i < n; i++) {
        if (in[i].step != in[0].step || strcmp(in[i].ckpt, in[0].ckpt))
            ddm_die("%s was made from checkpoint %s (step %lld), %s from %s (step %lld): they "
                    "cannot be merged",
                    in[i].path, in[i].ckpt, (long long)in[i].step, in[0].path, in[0].ckpt,
                    (long long)in[0].step);
        if (strcmp(in[i].config, in[0].config))
            ddm_die("%s and %s were made from checkpoints trained with different configs: they "
                    "cannot be merged", in[i].path, in[0].path);
        int same = in[i].ng == in[0].ng;
        for (int g = 0; same && g < in[0].ng; g++) same = !strcmp(in[i].groups[g], in[0].groups[g]);
        if (!same) {
            StrBuf a, b;
            strbuf_init(&a);
            strbuf_init(&b);
            strbuf_join(&a, in[i].groups, in[i].ng, ", ");
            strbuf_join(&b, in[0].groups, in[0].ng, ", ");
            ddm_die("%s holds the groups [%s], %s holds [%s]: they cannot be merged", in[i].path,
                    a.s, in[0].path, b.s);
        }
    }
}

static void differ(const Input *a, const Input *b, const char *group, const char *key,
                   const char *va, const char *vb)
{
    ddm_die("group %s: %s was made with %s=%s, %s with %s=%s: they cannot be merged", group,
            a->path, key, va, b->path, key, vb);
}

/* Every input's group must have been made with the same setting and image shape. */
static void check_group(const Input *in, int n, const char *group, SamplesGroupInfo *info)
{
    for (int i = 0; i < n; i++) samples_group_info(in[i].f, in[i].path, group, &info[i]);
    char x[64], y[64];
    for (int i = 1; i < n; i++) {
        const SamplesGroupInfo *p = &info[i], *q = &info[0];
        if (strcmp(p->sampler, q->sampler)) differ(&in[i], &in[0], group, "sampler", p->sampler, q->sampler);
        const double pv[4] = {p->steps, p->eta, p->guidance, p->class_label};
        const double qv[4] = {q->steps, q->eta, q->guidance, q->class_label};
        static const char *const key[4] = {"steps", "eta", "guidance", "class"};
        for (int k = 0; k < 4; k++)
            if (pv[k] != qv[k]) {
                snprintf(x, sizeof x, "%.10g", pv[k]);
                snprintf(y, sizeof y, "%.10g", qv[k]);
                differ(&in[i], &in[0], group, key[k], x, y);
            }
        if (strcmp(p->settings, q->settings))
            ddm_die("group %s: %s was made with the settings '%s', %s with '%s': they cannot be "
                    "merged", group, in[i].path, p->settings, in[0].path, q->settings);
        if (p->c != q->c || p->h != q->h || p->w != q->w)
            ddm_die("group %s: %s holds images [%d,%d,%d], %s [%d,%d,%d]: they cannot be merged",
                    group, in[i].path, p->c, p->h, p->w, in[0].path, q->c, q->h, q->w);
    }
}

static int64_t find_row(const int64_t *seeds, int64_t n, int64_t seed)
{
    int64_t lo = 0, hi = n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (seeds[mid] == seed) return mid;
        if (seeds[mid] < seed) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* A task's group (rows inputs x seeds, input-major: io/samples.h): its per-row inputs
 * (malloc'd) and input file, or NULL when the group is plain generation. */
static int64_t *task_rows(const Input *in, const char *group, int64_t n, char **input_file)
{
    char where[512];
    snprintf(where, sizeof where, "%s/inputs", group);
    *input_file = NULL;
    if (H5Lexists(in->f, where, H5P_DEFAULT) <= 0) return NULL;
    int64_t *inp = xmalloc(sizeof *inp * (size_t)(n ? n : 1));
    hid_t d = H5Dopen2(in->f, where, H5P_DEFAULT);
    hsize_t dims[8];
    if (d < 0 || h5_shape(in->f, where, dims) != 1 || (int64_t)dims[0] != n ||
        H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, inp) < 0)
        ddm_die("%s: %s is not %lld input rows", in->path, where, (long long)n);
    H5Dclose(d);
    hid_t g = H5Gopen2(in->f, group, H5P_DEFAULT);
    if (g < 0 || h5_attr_get_str(g, "input", input_file) != 1)
        ddm_die("%s: group %s has input rows but no 'input' attribute (the input file)", in->path, group);
    H5Gclose(g);
    return inp;
}

/* One group: the union of the seeds, then every finished input row copied. A task's
 * group (rows = inputs x seeds, input-major) needs the same input file and inputs in
 * every file; the merged rows are the inputs x the union of the seeds. Returns the rows
 * done. */
static int64_t merge_group(SamplesFile *sf, const Input *in, int n, const char *group,
                           int64_t *n_rows)
{
    SamplesGroupInfo *info = xcalloc((size_t)n, sizeof *info);
    check_group(in, n, group, info);
    int64_t **inp = xcalloc((size_t)n, sizeof *inp);
    char **ifile = xcalloc((size_t)n, sizeof *ifile);
    int64_t n_in = 1; /* inputs per file (1: plain generation) */
    for (int i = 0; i < n; i++) {
        inp[i] = task_rows(&in[i], group, info[i].n, &ifile[i]);
        if (!inp[i] != !inp[0])
            ddm_die("group %s: %s holds a task's outputs (rows inputs x seeds), %s plain samples: "
                    "they cannot be merged", group, in[inp[i] ? i : 0].path, in[inp[i] ? 0 : i].path);
        if (!inp[i]) continue;
        if (strcmp(ifile[i], ifile[0]))
            ddm_die("group %s: %s was made from the inputs %s, %s from %s: they cannot be merged",
                    group, in[i].path, ifile[i], in[0].path, ifile[0]);
        /* input-major: input r / n_seeds of the file, every input 0..n_in-1 */
        const int64_t last = info[i].n ? inp[i][info[i].n - 1] : -1;
        const int64_t ni = last + 1;
        int ok = ni > 0 && info[i].n % ni == 0;
        for (int64_t r = 0; ok && r < info[i].n; r++) ok = inp[i][r] == r / (info[i].n / ni);
        if (!ok)
            ddm_die("%s: group %s: its input rows are not inputs x seeds in input-major order", in[i].path,
                    group);
        if (i == 0) n_in = ni;
        else if (ni != n_in)
            ddm_die("group %s: %s holds %lld inputs, %s %lld: they cannot be merged", group, in[i].path,
                    (long long)ni, in[0].path, (long long)n_in);
    }
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += info[i].n / n_in;
    SeedOf *all = xmalloc(sizeof *all * (size_t)(total ? total : 1));
    int64_t k = 0;
    for (int i = 0; i < n; i++) { /* a file's seeds: the rows of its first input */
        const int64_t ns = info[i].n / n_in;
        int64_t *s = xmalloc(sizeof *s * (size_t)(ns ? ns : 1));
        samples_read_rows(in[i].f, in[i].path, group, 0, ns, NULL, s, NULL, NULL);
        for (int64_t r = 0; r < ns; r++) all[k++] = (SeedOf){s[r], i};
        free(s);
    }
    qsort(all, (size_t)total, sizeof *all, seedof_cmp);
    int64_t *useeds = xmalloc(sizeof *useeds * (size_t)(total ? total : 1));
    for (int64_t r = 0; r < total; r++) {
        if (r > 0 && all[r].seed == all[r - 1].seed) {
            if (all[r].input == all[r - 1].input)
                ddm_die("group %s: %s holds seed %lld twice", group, in[all[r].input].path,
                        (long long)all[r].seed);
            ddm_die("group %s: seed %lld is in both %s and %s: the inputs overlap", group,
                    (long long)all[r].seed, in[all[r - 1].input].path, in[all[r].input].path);
        }
        useeds[r] = all[r].seed;
    }
    free(all);
    const int64_t rows_out = total * n_in;
    int64_t *seeds = useeds, *inputs = NULL;
    if (inp[0]) { /* rows: input r / total, seed useeds[r % total] */
        seeds = xmalloc(sizeof *seeds * (size_t)rows_out);
        inputs = xmalloc(sizeof *inputs * (size_t)rows_out);
        for (int64_t r = 0; r < rows_out; r++) {
            seeds[r] = useeds[r % total];
            inputs[r] = r / total;
        }
    }

    SamplesSetting set = {info[0].sampler, info[0].steps, info[0].eta, info[0].guidance,
                          info[0].class_label, info[0].nfe, info[0].settings, inputs, ifile[0]};
    SamplesGroup g;
    samples_group_open(&g, sf, group, &set, seeds, rows_out, info[0].c, info[0].h, info[0].w, NULL);
    const size_t D = (size_t)info[0].c * info[0].h * info[0].w;
    uint8_t *img = xmalloc(MERGE_ROWS * D), *done = xmalloc(MERGE_ROWS);
    int64_t *s = xmalloc(sizeof *s * MERGE_ROWS), *rows = xmalloc(sizeof *rows * MERGE_ROWS);
    int32_t *lab = xmalloc(sizeof *lab * MERGE_ROWS);
    int64_t n_done = 0;
    for (int i = 0; i < n; i++)
        for (int64_t r0 = 0; r0 < info[i].n; r0 += MERGE_ROWS) {
            int64_t m = info[i].n - r0 < MERGE_ROWS ? info[i].n - r0 : MERGE_ROWS;
            samples_read_rows(in[i].f, in[i].path, group, r0, m, img, s, lab, done);
            size_t w = 0;
            for (int64_t r = 0; r < m; r++) {
                if (!done[r]) continue;
                const int64_t col = find_row(useeds, total, s[r]);
                DDM_ASSERT(col >= 0, "merge: seed %lld lost", (long long)s[r]);
                rows[w] = inp[i] ? inp[i][r0 + r] * total + col : col;
                if ((int64_t)w != r) memcpy(img + w * D, img + (size_t)r * D, D);
                lab[w] = lab[r];
                w++;
            }
            samples_write_rows(&g, rows, w, img, lab);
            n_done += (int64_t)w;
        }
    samples_group_close(&g);
    free(img); free(done); free(s); free(rows); free(lab);
    if (seeds != useeds) free(seeds);
    free(useeds);
    free(inputs);
    for (int i = 0; i < n; i++) {
        samples_group_info_free(&info[i]);
        free(inp[i]);
        free(ifile[i]);
    }
    free(inp);
    free(ifile);
    free(info);
    *n_rows = rows_out;
    return n_done;
}

int job_merge(int argc, char **argv)
{
    dist_init(&argc, &argv);
    cli_quiet = !dist_is_root();
    char *out = NULL;
    const CliOpt opts[] = {
        {"out", CLI_STR, &out, "FILE.h5", "the merged samples file (must not exist)", 1},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    int npos = 0;
    char **pos = NULL;
    if (cli_parse("merge", SYNOPSIS, DESCRIPTION, opts, argc, argv, &npos, &pos)) {
        dist_finalize();
        return 0;
    }
    if (dist_is_root()) {
        if (npos < 1) ddm_die("ddm merge: no input files (usage: ddm merge %s)", SYNOPSIS);
        struct stat st;
        if (stat(out, &st) == 0)
            ddm_die("--out %s: exists; ddm merge does not overwrite (remove it or choose another "
                    "name)", out);
        for (int i = 0; i < npos; i++)
            for (int j = 0; j < i; j++)
                if (!strcmp(pos[i], pos[j])) ddm_die("%s is given twice", pos[i]);
        Input *in = xcalloc((size_t)npos, sizeof *in);
        for (int i = 0; i < npos; i++) open_input(&in[i], pos[i]);
        check_sources(in, npos);
        creation_order(&in[0]);

        char *tmp = fsio_claim_tmp(out);
        SamplesFile sf;
        SamplesSource src = {in[0].ckpt, in[0].step, in[0].config};
        samples_open(&sf, tmp, 0, &src, H5P_DEFAULT, H5P_DEFAULT, 1);
        printf("ddm merge: %d file%s from %s (step %lld)\n", npos, npos > 1 ? "s" : "",
               in[0].ckpt, (long long)in[0].step);
        for (int g = 0; g < in[0].ng; g++) {
            int64_t rows = 0, done = merge_group(&sf, in, npos, in[0].groups[g], &rows);
            printf("  %-20s %lld rows, %lld done\n", in[0].groups[g], (long long)rows,
                   (long long)done);
            if (done < rows)
                ddm_warn("group %s: %lld rows are not done; 'ddm sample' with the union of the "
                         "seeds on %s makes them", in[0].groups[g], (long long)(rows - done), out);
        }
        samples_close(&sf);
        fsio_commit(tmp, out);
        free(tmp);
        printf("ddm merge: wrote %s\n", out);
        fflush(stdout);
        for (int i = 0; i < npos; i++) close_input(&in[i]);
        free(in);
    }
    free(pos);
    return dist_finish(0);
}
