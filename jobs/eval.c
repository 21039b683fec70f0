/* ddm eval: score samples against a reference set (FID, KID, Inception Score, improved
 * precision/recall), and the accuracy of the evaluation classifier (--task accuracy).
 *
 * Work split over P ranks:
 *  - features (io/features, mpi/featpass): the rows used (finished samples, reference
 *    images) are cut into P consecutive parts; each rank reads only its part, runs the
 *    extractor and adds to float64 FeatStats; one reduction (fid_stats_allreduce) gives
 *    every rank the statistics of the union;
 *  - KID and precision/recall need the feature rows themselves: they are gathered to every
 *    rank (dist_allgather_rows, in row order) and the pairwise work is split (mpi/pairwise);
 *  - the Fréchet distance runs on ScaLAPACK over all ranks (mpi/fid);
 *  - the Inception Score (classifier softmax, 10 splits) is computed on rank 0 from the
 *    gathered probabilities.
 * The reference statistics (and up to --ref-features rows of reference features) are
 * cached in a stats file beside the reference dataset, keyed by extractor and dataset
 * (mpi/featpass featref_*). Results: one JSON line per group (io/json, appended fsynced),
 * tables written atomically (io/fsio), the plot by io/plot.
 *
 * Input checks run on rank 0 first (the others wait), so a bad input is reported once.
 * N = images, D = feature width, K = classes, P = ranks.
 */
#define _GNU_SOURCE
#include <hdf5.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/metrics.h"
#include "core/netslots.h"
#include "core/nll.h"
#include "core/strbuf.h"
#include "io/dataset.h"
#include "io/features.h"
#include "io/fsio.h"
#include "io/h5.h"
#include "io/json.h"
#include "io/model_load.h"
#include "io/plot.h"
#include "io/samples.h"
#include "io/stats.h"
#include "jobs/cli.h"
#include "jobs/jobs.h"
#include "mpi/dist.h"
#include "mpi/fid.h"
#include "mpi/featpass.h"
#include "mpi/model_bcast.h"
#include "mpi/nllpass.h"
#include "mpi/pairwise.h"

#define REF_FEATURES_CAP 10000  /* reference feature rows kept for KID and P/R */
#define PROGRESS_EVERY 10.0     /* seconds between progress lines */

enum { M_FID = 1, M_KID = 2, M_IS = 4, M_PR = 8, M_NLL = 16 };

static const char SYNOPSIS[] =
    "--samples FILE.h5 --ref REF.h5 [--features SPEC] [--metrics fid,kid,is,pr] [options]\n"
    "       ddm eval --task accuracy --features classifier:CKPT --ref TEST.h5\n"
    "       ddm eval --metrics nll --model CKPT.h5|RUN_DIR --data DATA.h5 [--nll-steps K] "
    "[--nll-var beta|beta_tilde|both] [--max-n N]";
static const char DESCRIPTION[] =
    "Score the finished samples (done=1) of each sampler group of FILE.h5 against a\n"
    "reference: a dataset file (from 'ddm prep') or a stats file (a cache written by this\n"
    "command). FILE.h5 may also be a dataset file, scored as one group 'data': a held-out\n"
    "split gives the floor of a metric, 'ddm prep --from noise:N' the ceiling.\n"
    "Features (--features):\n"
    "  classifier:CKPT.h5|RUN_DIR  penultimate activations (D = 128) and class\n"
    "                              probabilities of a classifier trained with\n"
    "                              'ddm train --task classifier' (smaller images are padded:\n"
    "                              28x28 -> 32x32)\n"
    "  pixels                      the pixel values / 255 (D = C*H*W; no Inception Score)\n"
    "  inception:WEIGHTS.h5        pytorch-fid's Inception-v3 pool3 features (D = 2048; any\n"
    "                              size, resized to 299x299; 1 or 3 channels; slow on CPU:\n"
    "                              ~0.2 s per image per core; no Inception Score)\n"
    "Metrics: fid (pytorch-fid's mu/sigma, unbiased covariance), kid (clean-fid's subsets,\n"
    "cubic kernel), is (the classifier's softmax, 10 splits of a pseudo-random order keyed on\n"
    "the values, so the order of the images does not matter), pr (improved precision/recall,\n"
    "k = 3).\n"
    "With classifier features, samples drawn for a class (--class, --class-per-seed) also get\n"
    "their class match: the share the classifier assigns to the requested class; the outputs\n"
    "of a sample task (ddm sample --task) whose input file has labels get their input match:\n"
    "the share assigned to the class of the input each was made from.\n"
    "The reference statistics are cached beside a reference dataset, in\n"
    "REF.stats-<extractor>.h5 (reused while extractor and dataset are unchanged), with the\n"
    "feature rows of up to --ref-features reference images (evenly spread) for KID and P/R.\n"
    "One JSON line per group is printed and appended to --out; a file of several groups (a\n"
    "sweep) also gets a Markdown and CSV table and a plot of FID against NFE (gnuplot).\n"
    "--task accuracy prints the accuracy of a classifier on a labeled dataset (--ref).\n"
    "--metrics nll (alone) scores a vp diffusion model (--model) on a dataset (--data, images\n"
    "of the model's shape; pixels u8/127.5 - 1) with its variational bound, the negative ELBO\n"
    "of Ho et al. 2020 eq. 5, in bits per dimension (nats / (C*H*W ln 2)):\n"
    "  L_T (analytic) + the KL terms t = 2..T (x_t drawn once per image and step from the\n"
    "  image's own noise stream, keyed by --seed, image index and t) + L_0 (the discretized\n"
    "  Gaussian decoder: bins of 2/255, edge bins open, tails from libm's erfc),\n"
    "with the reverse variance beta_t and/or beta~_t (--nll-var; L_0 uses beta~_2 for both,\n"
    "as Ho et al.'s code). Printed: the mean and its standard error over the images, the\n"
    "split of the terms, the cost. The bound costs K network evaluations an image (K =\n"
    "--nll-steps, default T); K < T is an ESTIMATE, not the bound: t = 1 (L_0) and K-1 evenly\n"
    "spaced steps, each standing for a stretch of consecutive KL terms, scaled by its length\n"
    "(low for a trained model: its largest KL terms are at the first few steps). A\n"
    "class-conditional model is scored under the null label (unconditionally). The numbers\n"
    "do not depend on the ranks, threads or --batch. ve models have no such bound here.";

typedef struct {
    char *samples, *ref, *features, *metrics, *group, *out, *table, *plot, *npz, *task;
    char *model, *data, *nll_var, *nll_dump;
    long max_n, ref_features, seed;
    int kid_subsets, kid_subset_size, threads, allow_partial, no_cache, verbose;
    int nll_steps, nll_clip, batch;
    double ema;
} EvalArgs;

static int parse_metrics(const char *spec, int *mask)
{
    *mask = 0;
    char *s = xstrdup(spec), *save = NULL;
    for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        if (!strcmp(t, "fid")) *mask |= M_FID;
        else if (!strcmp(t, "kid")) *mask |= M_KID;
        else if (!strcmp(t, "is")) *mask |= M_IS;
        else if (!strcmp(t, "pr")) *mask |= M_PR;
        else if (!strcmp(t, "all")) *mask |= M_FID | M_KID | M_IS | M_PR;
        else if (!strcmp(t, "nll")) *mask |= M_NLL;
        else ddm_die("--metrics %s: unknown metric '%s' (known: fid, kid, is, pr, all, nll)", spec, t);
    }
    free(s);
    if (!*mask) ddm_die("--metrics '%s': names no metric (known: fid, kid, is, pr, nll)", spec);
    if ((*mask & M_NLL) && *mask != M_NLL)
        ddm_die("--metrics %s: nll goes alone (it scores a model on data; the others score samples)", spec);
    return *mask;
}


/* ---------------------------------------------------------------- samples groups */

typedef struct {
    char *name;
    SamplesGroupInfo info;
    /* results (NaN = not computed) */
    int64_t n, n_ref_rows;
    double fid, kid, kid_std, is, is_std, precision, recall, seconds;
    double class_match; /* share of samples the classifier puts in their requested class */
    double input_match; /* a task's outputs: share put in the class of the input they came from */
    int kid_subsets, kid_subset_size;
} GroupResult;

/* The share of the used rows (rows[0..n)) the classifier (probs, n x K) puts in the class
 * the row was drawn for (core/metrics.h metrics_class_match). Rank 0 calls it. */
static double class_match(hid_t f, DatasetFile *ds, const char *path, const char *group, const int64_t *rows,
                          int64_t n, const float *probs, int K)
{
    if (n <= 0 || (ds && ds->labels < 0)) return NAN;
    const int64_t last = rows[n - 1] + 1;
    int32_t *lab = xmalloc(sizeof(int32_t) * (size_t)last);
    if (ds) dataset_read_labels(ds, 0, (size_t)last, lab);
    else samples_read_rows(f, path, group, 0, last, NULL, NULL, lab, NULL);
    for (int64_t i = 0; i < n; i++) lab[i] = lab[rows[i]]; /* rows ascending: in place */
    double m = metrics_class_match(probs, lab, (size_t)n, K);
    free(lab);
    return m;
}


/* A task's group (an `inputs` dataset and the `input` attribute, io/samples.h): the share
 * of the used rows the classifier puts in the labelled class of the input each was made
 * from (RePaint's completions against their originals' labels). NaN for other groups and
 * for input files without labels. Rank 0 calls it. */
static double input_match(hid_t f, const char *path, const char *group, const int64_t *rows, int64_t n,
                          const float *probs, int K)
{
    if (n <= 0 || !group) return NAN;
    char *ip = strbuf_printf("%s/inputs", group);
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    char *in_path = NULL;
    const int has = g >= 0 && h5_exists(f, ip) && h5_attr_get_str(g, "input", &in_path) == 1;
    if (g >= 0) H5Gclose(g);
    double m = NAN;
    if (has) {
        const int64_t last = rows[n - 1] + 1;
        int64_t *idx = xmalloc(sizeof(int64_t) * (size_t)last);
        hid_t d = H5Dopen2(f, ip, H5P_DEFAULT);
        if (d < 0 || H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, idx) < 0)
            ddm_die("%s: cannot read %s", path, ip); /* the whole dataset: rows <= its length */
        H5Dclose(d);
        DatasetFile ds;
        dataset_open(&ds, in_path);
        if (ds.labels >= 0) {
            int32_t *lab = xmalloc(sizeof(int32_t) * ds.n), *want = xmalloc(sizeof(int32_t) * (size_t)n);
            dataset_read_labels(&ds, 0, ds.n, lab);
            for (int64_t i = 0; i < n; i++) {
                const int64_t r = idx[rows[i]];
                if (r < 0 || (size_t)r >= ds.n)
                    ddm_die("%s: group %s row %lld names input %lld; %s has %zu", path, group,
                            (long long)rows[i], (long long)r, in_path, ds.n);
                want[i] = lab[r];
            }
            m = metrics_class_match(probs, want, (size_t)n, K);
            free(lab);
            free(want);
        }
        dataset_close(&ds);
        free(idx);
    }
    free(in_path);
    free(ip);
    return m;
}

static void fmt_eta(char *buf, size_t n, double eta)
{
    if (eta >= 0) snprintf(buf, n, "%g", eta);
    else snprintf(buf, n, "-");
}

static void result_json(JsonLine *j, const GroupResult *g, const EvalArgs *a, const FeatExtractor *e,
                        const FeatRef *r)
{
    const SamplesGroupInfo *i = &g->info;
    json_begin(j);
    json_str(j, "samples", a->samples);
    json_str(j, "group", g->name);
    json_str(j, "sampler", i->sampler);
    json_int(j, "steps", i->steps);
    json_num(j, "eta", "%.10g", i->eta >= 0 ? i->eta : NAN);
    json_num(j, "guidance", "%.10g", i->guidance);
    json_int(j, "nfe", i->nfe);
    json_str(j, "features", e->key);
    json_str(j, "ref", r->path);
    json_int(j, "n", g->n);
    json_int(j, "n_ref", r->st.n);
    const char *names[] = {"fid", "kid", "kid_std", "is", "is_std", "precision", "recall", "class_match",
                           "input_match"};
    const double vals[] = {g->fid, g->kid, g->kid_std, g->is, g->is_std, g->precision, g->recall, g->class_match,
                           g->input_match};
    for (int k = 0; k < 9; k++) json_num(j, names[k], "%.10g", vals[k]);
    json_num(j, "seconds", "%.3f", g->seconds);
    json_num(j, "ref_seconds", "%.3f", r->seconds);
    json_bool(j, "ref_cached", r->from_cache || r->is_stats);
    json_int(j, "n_ref_features", g->n_ref_rows);
    json_int(j, "kid_subsets", g->kid_subsets);
    json_int(j, "kid_subset_size", g->kid_subset_size);
    json_int(j, "pr_k", PR_K);
    json_int(j, "ranks", dist_size());
    json_int(j, "threads", ddm_threads());
    json_end(j);
}

/* ---------------------------------------------------------------- table and plot */

static void fmt_val(char *buf, size_t n, double v, const char *fmt, const char *none)
{
    if (isfinite(v)) snprintf(buf, n, fmt, v);
    else snprintf(buf, n, "%s", none);
}

static void write_tables(const char *prefix, const GroupResult *g, int ng, const EvalArgs *a, const FeatExtractor *e)
{
    StrBuf md, csv;
    strbuf_init(&md);
    strbuf_init(&csv);
    strbuf_add(&md, "Samples `%s` against `%s`; features: %s.\n\n", a->samples, a->ref, e->desc);
    strbuf_add(&md, "| group | sampler | steps | eta | w | NFE | n | FID | KID | IS | P | R | class match |\n");
    strbuf_add(&md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    strbuf_add(&csv, "group,sampler,steps,eta,guidance,NFE,n,FID,KID,IS,P,R,class_match\n");
    for (int i = 0; i < ng; i++) {
        const SamplesGroupInfo *in = &g[i].info;
        const double v[6] = {g[i].fid, g[i].kid, g[i].is, g[i].precision, g[i].recall, g[i].class_match};
        char eta[32], val[32];
        fmt_eta(eta, sizeof eta, in->eta);
        strbuf_add(&md, "| %s | %s | %d | %s | %g | %d | %lld |", g[i].name, in->sampler, in->steps, eta, in->guidance,
                   in->nfe, (long long)g[i].n);
        if (in->eta < 0) eta[0] = '\0';
        strbuf_add(&csv, "%s,%s,%d,%s,%.10g,%d,%lld", g[i].name, in->sampler, in->steps, eta, in->guidance, in->nfe,
                   (long long)g[i].n);
        for (int k = 0; k < 6; k++) { /* FID KID IS P R class match: "-" / "" when not computed */
            fmt_val(val, sizeof val, v[k], k == 1 ? "%.6f" : "%.4f", "-");
            strbuf_add(&md, " %s |", val);
            fmt_val(val, sizeof val, v[k], "%.6g", "");
            strbuf_add(&csv, ",%s", val);
        }
        strbuf_add(&md, "\n");
        strbuf_add(&csv, "\n");
    }
    char *mdp = strbuf_printf("%s.md", prefix), *csvp = strbuf_printf("%s.csv", prefix);
    fsio_write_atomic(mdp, md.s, md.n);
    fsio_write_atomic(csvp, csv.s, csv.n);
    printf("eval: table: %s, %s\n", mdp, csvp);
    free(mdp);
    free(csvp);
    strbuf_free(&md);
    strbuf_free(&csv);
}

/* FID against NFE, one line per sampler setting family (sampler, eta, guidance) */
static void write_plot(const char *png, const GroupResult *g, int ng, const EvalArgs *a, const FeatExtractor *e)
{
    PlotPoint *pts = xcalloc((size_t)ng, sizeof *pts);
    char **fam = xcalloc((size_t)ng, sizeof(char *));
    for (int i = 0; i < ng; i++) {
        const SamplesGroupInfo *in = &g[i].info;
        StrBuf name;
        strbuf_init(&name);
        strbuf_add(&name, "%s", in->sampler);
        if (in->eta >= 0) strbuf_add(&name, " eta=%g", in->eta);
        if (in->guidance != 0) strbuf_add(&name, " w=%g", in->guidance);
        fam[i] = name.s;
        pts[i] = (PlotPoint){fam[i], in->nfe, g[i].fid};
    }
    char *base = xstrdup(a->samples);
    char *title = strbuf_printf("FID vs NFE: %s (features: %s)", basename(base),
                             e->kind == FEAT_PIXELS ? "pixels" : "classifier");
    int nf = plot_lines(png, title, "NFE (network evaluations per image)", "FID", pts, ng);
    if (nf > 0) printf("eval: plot: %s (FID vs NFE, %d line%s, gnuplot)\n", png, nf, nf == 1 ? "" : "s");
    for (int i = 0; i < ng; i++) free(fam[i]);
    free(fam);
    free(pts);
    free(title);
    free(base);
}

/* ---------------------------------------------------------------- --task accuracy */

static int run_accuracy(const EvalArgs *a, FeatExtractor *e)
{
    if (e->kind != FEAT_CLASSIFIER)
        ddm_die("--task accuracy needs --features classifier:CKPT.h5|RUN_DIR");
    FeatSet s;
    memset(&s, 0, sizeof s);
    s.path = a->ref;
    s.label = xstrdup("the test set");
    s.is_dataset = 1;
    if (dist_is_root()) { /* checks first, then the other ranks start */
        featref_kind(a->ref);
        DatasetFile ds;
        dataset_open(&ds, a->ref);
        if (ds.labels < 0) ddm_die("%s: has no /labels: the accuracy needs labeled images", a->ref);
        if (ds.classes > e->k)
            ddm_die("%s: has %d classes, the classifier %s knows %d", a->ref, ds.classes, e->model.path, e->k);
        features_check_images(e, a->ref, ds.c, ds.h, ds.w);
        dataset_close(&ds);
        dist_root_first_release(1);
    }
    model_bcast_weights(&e->model); /* rank 0 reads, all get them */
    features_load(e);
    dataset_open(&s.ds, a->ref);
    s.c = s.ds.c;
    s.h = s.ds.h;
    s.w = s.ds.w;
    s.n = a->max_n > 0 && a->max_n < (long)s.ds.n ? a->max_n : (int64_t)s.ds.n;
    double t0 = ddm_now();
    int64_t lo, hi;
    featpass_part(s.n, &lo, &hi);
    const int K = e->k;
    const size_t img = (size_t)s.c * s.h * s.w;
    uint8_t *buf = xmalloc(img * FEATURES_BLOCK);
    float *feat = xalloc_floats((size_t)FEATURES_BLOCK * e->d), *probs = xalloc_floats((size_t)FEATURES_BLOCK * K);
    int32_t *lab = xmalloc(sizeof(int32_t) * FEATURES_BLOCK);
    /* per class: [0,K) correct, [K,2K) count */
    long long *cnt = xcalloc((size_t)2 * K, sizeof(long long));
    for (int64_t i0 = lo; i0 < hi; i0 += FEATURES_BLOCK) {
        const int B = (int)(hi - i0 < FEATURES_BLOCK ? hi - i0 : FEATURES_BLOCK);
        featset_read(&s, i0, i0 + B, buf);
        dataset_read_labels(&s.ds, (size_t)i0, (size_t)B, lab);
        features_run(e, buf, B, s.c, s.h, s.w, feat, probs);
        for (int b = 0; b < B; b++) {
            const int best = metrics_argmax(probs + (size_t)b * K, K);
            if (lab[b] < 0 || lab[b] >= K) ddm_die("%s: row %lld has label %d, outside [0,%d)", a->ref,
                                                   (long long)(i0 + b), lab[b], K);
            cnt[K + lab[b]]++;
            cnt[lab[b]] += best == lab[b];
        }
    }
    dist_allreduce_sum_ll(cnt, (size_t)2 * K);
    if (dist_is_root()) {
        long long right = 0, all = 0;
        for (int k = 0; k < K; k++) {
            right += cnt[k];
            all += cnt[K + k];
        }
        double acc = all ? (double)right / (double)all : 0;
        char **names = dataset_class_names(&s.ds);
        printf("eval: accuracy %.4f (%lld of %lld) on %s with %s, %.1f s\n", acc, right, all, a->ref, e->desc,
               ddm_now() - t0);
        printf("eval: per class:");
        for (int k = 0; k < K; k++)
            if (cnt[K + k]) printf(" %d%s%s%s %.3f", k, names ? " (" : "", names && k < s.ds.classes ? names[k] : "",
                                   names ? ")" : "", (double)cnt[k] / (double)cnt[K + k]);
        printf("\n");
        if (names) dataset_free_names(names, s.ds.classes);
        JsonLine j;
        json_begin(&j);
        json_str(&j, "task", "accuracy");
        json_str(&j, "ref", a->ref);
        json_str(&j, "features", e->key);
        json_int(&j, "n", all);
        json_int(&j, "correct", right);
        json_num(&j, "accuracy", "%.10g", acc);
        json_num(&j, "seconds", "%.3f", ddm_now() - t0);
        json_end(&j);
        printf("%s\n", j.b.s);
        if (a->out) fsio_append_line(a->out, j.b.s);
        json_free(&j);
        fflush(stdout);
    }
    free(cnt);
    free(lab);
    free(buf);
    free(feat);
    free(probs);
    dataset_close(&s.ds);
    free(s.label);
    return 0;
}

/* ---------------------------------------------------------------- --metrics nll */

enum { NLL_VAR_BETA = 1, NLL_VAR_TILDE = 2 };

/* mean and standard error of x[0..n) (NaN error for n < 2), summed in index order */
static void mean_se(const double *x, int64_t n, double *mean, double *se)
{
    double s = 0, v = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) v += (x[i] - *mean) * (x[i] - *mean);
    *se = n > 1 ? sqrt(v / (double)(n - 1) / (double)n) : NAN;
}

typedef struct {
    double bpd[2], se[2];                 /* beta, beta~ */
    double prior, kl[2], decoder;         /* mean terms, bits/dim */
} NllSummary;

static void nll_summarize(NllSummary *o, const double *terms, int64_t n, size_t D)
{
    double *v = xmalloc(sizeof(double) * (size_t)n);
    const int kl[2] = {NLL_KL_BETA, NLL_KL_TILDE};
    for (int c = 0; c < 2; c++) {
        for (int64_t i = 0; i < n; i++) {
            const double *t = terms + (size_t)i * NLL_NTERMS;
            v[i] = nll_bits_per_dim(t[NLL_PRIOR] + t[kl[c]] + t[NLL_DECODER], D);
        }
        mean_se(v, n, &o->bpd[c], &o->se[c]);
    }
    double *m[4] = {&o->prior, &o->kl[0], &o->kl[1], &o->decoder}, unused;
    const int which[4] = {NLL_PRIOR, NLL_KL_BETA, NLL_KL_TILDE, NLL_DECODER};
    for (int k = 0; k < 4; k++) {
        for (int64_t i = 0; i < n; i++) v[i] = nll_bits_per_dim(terms[(size_t)i * NLL_NTERMS + which[k]], D);
        mean_se(v, n, m[k], &unused);
    }
    free(v);
}

static int run_nll(const EvalArgs *a)
{
    const int root = dist_is_root();
    int var = NLL_VAR_BETA | NLL_VAR_TILDE;
    if (a->nll_var && !strcmp(a->nll_var, "beta")) var = NLL_VAR_BETA;
    else if (a->nll_var && !strcmp(a->nll_var, "beta_tilde")) var = NLL_VAR_TILDE;
    else if (a->nll_var && strcmp(a->nll_var, "both"))
        ddm_die("--nll-var %s: want beta, beta_tilde or both", a->nll_var);
    if (!a->model) ddm_die("--metrics nll needs --model CKPT.h5|RUN_DIR (the diffusion model to score)");
    if (!a->data) ddm_die("--metrics nll needs --data DATA.h5 (a dataset file from ddm prep)");
    if (a->samples || a->ref || a->features || a->task || a->group)
        ddm_die("--metrics nll scores --model on --data: --samples, --ref, --features, --task and --group "
                "are not used");
    if (a->batch < 0) ddm_die("--batch %d: must be >= 1", a->batch);
    if (a->out) {
        fsio_refuse_overwrite("ddm eval", a->out, a->data, "the --data file");
        fsio_refuse_overwrite("ddm eval", a->out, a->model, "the --model file");
    }
    const double ema = a->ema > 0 ? a->ema : 0;
    if (a->ema != -1 && !(a->ema > 0 && a->ema < 1)) ddm_die("--ema %g: want a rate in (0,1), e.g. 0.999", a->ema);
    ModelLoadOptions mo = {"ema", ema, TASK_DIFFUSION, "ddm eval", 0};
    int64_t n = 0;
    if (root) { /* every check on rank 0 first, then the others start */
        ModelLoadOptions mc = mo;
        mc.no_weights = 1;
        mc.who = NULL;
        LoadedModel m;
        model_load(&m, a->model, &mc);
        if (m.sched.process != PROC_VP)
            ddm_die("%s: a ve model: the variational bound (--metrics nll) is for vp models only (the discrete "
                    "DDPM chain)", m.path);
        NllPlan plan;
        char err[256];
        const int T = m.sched.timesteps;
        if (nll_plan_init(&plan, T, a->nll_steps != -1 ? a->nll_steps : T, err, sizeof err))
            ddm_die("--nll-steps %d: %s", a->nll_steps, err);
        nll_plan_free(&plan);
        DatasetFile ds;
        dataset_open(&ds, a->data);
        const UNetConfig *uc = &m.unet;
        if (ds.c != uc->in_ch || ds.h != uc->image_size || ds.w != uc->image_size)
            ddm_die("%s: images are %dx%dx%d (CxHxW); the model %s takes %dx%dx%d (ddm prep --pad/--resize)", a->data,
                    ds.c, ds.h, ds.w, m.path, uc->in_ch, uc->image_size, uc->image_size);
        if (uc->cond_ch > 0)
            ddm_die("%s: a model conditioned on an image (SR3, model.cond_channels): its bound needs the condition "
                    "images; --metrics nll scores unconditioned models", m.path);
        if (ds.n == 0) ddm_die("%s: holds no images", a->data);
        dataset_close(&ds);
        model_load_free(&m);
        fflush(stdout);
        dist_root_first_release(1);
    }
    LoadedModel m;
    model_bcast_load(&m, a->model, &mo);
    Schedule s;
    sched_init(&s, &m.sched);
    NllPlan plan;
    nll_plan_init(&plan, s.n, a->nll_steps != -1 ? a->nll_steps : s.n, NULL, 0);
    {
        DatasetFile ds;
        dataset_open(&ds, a->data);
        n = a->max_n > 0 && a->max_n < (long)ds.n ? a->max_n : (int64_t)ds.n;
        dataset_close(&ds);
    }
    const int threads = ddm_threads();
    const int batch = a->batch > 0 ? a->batch : NETSLOTS_WIDTH * threads;
    NetSlots slots;
    netslots_init(&slots, &m.unet, m.weights, threads);
    free(m.weights);
    m.weights = NULL;
    Denoiser den;
    netslots_denoiser(&den, &slots, &s);
    const size_t D = slots.D;
    char wword[64];
    model_load_weights_word(&m, wword, sizeof wword);
    const int estimate = plan.n < s.n;
    if (root) {
        printf("eval: nll of %s (step %lld, %s weights, %s, %s schedule, T = %d) on %s: %lld images of %dx%dx%d\n",
               m.path, (long long)m.step, wword, sched_pred_name(s.cfg.prediction), sched_kind_name(s.cfg.schedule),
               s.n, a->data, (long long)n, m.unet.in_ch, m.unet.image_size, m.unet.image_size);
        if (estimate)
            printf("eval: nll: %d of %d steps: t = 1 and %d step%s each standing for ~%.1f KL terms: an ESTIMATE "
                   "of the bound\n", plan.n, s.n, plan.n - 1, plan.n > 2 ? "s" : "", (double)(s.n - 1) / (plan.n - 1));
        else
            printf("eval: nll: every step t = 1..%d (the bound itself)\n", s.n);
        printf("eval: nll: %lld network evaluations; seed %ld%s; %d rank%s x %d thread%s, batch %d\n",
               (long long)n * plan.n, a->seed, a->nll_clip ? ", x0 clipped to [-1,1]" : "", dist_size(),
               dist_size() == 1 ? "" : "s", threads, threads == 1 ? "" : "s", batch);
        fflush(stdout);
    }
    NllPass p = {a->data, n, &s, &plan, &den, a->nll_clip, (uint64_t)a->seed, batch, PROGRESS_EVERY,
                 a->nll_dump, m.path, wword};
    NllPassResult r;
    nllpass_run(&p, &r);
    if (root) {
        NllSummary o;
        nll_summarize(&o, r.terms, n, D);
        const char *nm[2] = {"beta", "beta~"};
        char line[512];
        int off = snprintf(line, sizeof line, "eval: nll: bits/dim");
        for (int c = 1; c >= 0; c--)
            if (var & (c ? NLL_VAR_TILDE : NLL_VAR_BETA))
                off += snprintf(line + off, sizeof line - (size_t)off, "  %s %.6f +- %.6f", c ? "beta~" : "beta",
                                o.bpd[c], o.se[c]);
        printf("%s  (mean +- standard error over %lld images%s)\n", line, (long long)n, estimate ? "; estimate" : "");
        off = snprintf(line, sizeof line, "eval: nll: terms (bits/dim): L_T %.6g", o.prior);
        for (int c = 1; c >= 0; c--)
            if (var & (c ? NLL_VAR_TILDE : NLL_VAR_BETA))
                off += snprintf(line + off, sizeof line - (size_t)off, "  KL terms (%s) %.6f", nm[c], o.kl[c]);
        printf("%s  L_0 %.6f\n", line, o.decoder);
        printf("eval: nll: cost %lld network evaluations (%d an image), %.1f s, %.3f images/s, %.1f evaluations/s\n",
               (long long)r.nfe, plan.n, r.seconds, r.seconds > 0 ? n / r.seconds : 0,
               r.seconds > 0 ? r.nfe / r.seconds : 0);
        if (a->nll_dump) printf("eval: nll: wrote %s (test dump)\n", a->nll_dump);
        JsonLine j;
        json_begin(&j);
        json_str(&j, "metric", "nll");
        json_str(&j, "data", a->data);
        json_str(&j, "model", m.path);
        json_int(&j, "model_step", m.step);
        json_str(&j, "weights", wword);
        json_int(&j, "n", n);
        json_int(&j, "dims", (long long)D);
        json_int(&j, "T", s.n);
        json_int(&j, "nll_steps", plan.n);
        json_bool(&j, "estimate", estimate);
        json_str(&j, "nll_var", var == 3 ? "both" : var == NLL_VAR_BETA ? "beta" : "beta_tilde");
        json_bool(&j, "clip", a->nll_clip);
        json_int(&j, "seed", a->seed);
        const double keep_b = (var & NLL_VAR_BETA) ? 1 : NAN, keep_t = (var & NLL_VAR_TILDE) ? 1 : NAN;
        json_num(&j, "bpd_beta", "%.17g", o.bpd[0] * keep_b);
        json_num(&j, "bpd_beta_se", "%.17g", o.se[0] * keep_b);
        json_num(&j, "bpd_beta_tilde", "%.17g", o.bpd[1] * keep_t);
        json_num(&j, "bpd_beta_tilde_se", "%.17g", o.se[1] * keep_t);
        json_num(&j, "prior_bpd", "%.17g", o.prior);
        json_num(&j, "kl_beta_bpd", "%.17g", o.kl[0] * keep_b);
        json_num(&j, "kl_beta_tilde_bpd", "%.17g", o.kl[1] * keep_t);
        json_num(&j, "decoder_bpd", "%.17g", o.decoder);
        json_int(&j, "nfe", r.nfe);
        json_int(&j, "nfe_per_image", plan.n);
        json_num(&j, "seconds", "%.3f", r.seconds);
        json_num(&j, "images_per_s", "%.4g", r.seconds > 0 ? n / r.seconds : NAN);
        json_int(&j, "ranks", dist_size());
        json_int(&j, "threads", threads);
        json_int(&j, "batch", batch);
        json_end(&j);
        printf("%s\n", j.b.s);
        char *out = a->out ? xstrdup(a->out) : NULL;
        if (!out) {
            char *d = fsio_dir_of(a->data);
            out = strbuf_printf("%s/results.jsonl", d);
            free(d);
        }
        fsio_append_line(out, j.b.s);
        printf("eval: results appended to %s\n", out);
        json_free(&j);
        free(out);
        if (a->table) {
            StrBuf md, csv;
            strbuf_init(&md);
            strbuf_init(&csv);
            strbuf_add(&md, "| model | data | n | steps | bits/dim (beta~) | bits/dim (beta) | L_T | KL terms (beta~) | "
                            "KL terms (beta) | L_0 | NFE | seconds |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            strbuf_add(&md, "| %s | %s | %lld | %d of %d | %.4f +- %.4f | %.4f +- %.4f | %.3g | %.4f | %.4f | %.4f | %lld | "
                       "%.1f |\n", m.path, a->data, (long long)n, plan.n, s.n, o.bpd[1], o.se[1], o.bpd[0], o.se[0],
                       o.prior, o.kl[1], o.kl[0], o.decoder, (long long)r.nfe, r.seconds);
            strbuf_add(&csv, "model,data,n,steps,T,bpd_beta_tilde,bpd_beta_tilde_se,bpd_beta,bpd_beta_se,prior_bpd,"
                             "kl_beta_tilde_bpd,kl_beta_bpd,decoder_bpd,nfe,seconds\n");
            strbuf_add(&csv, "%s,%s,%lld,%d,%d,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%lld,%.3f\n", m.path,
                       a->data, (long long)n, plan.n, s.n, o.bpd[1], o.se[1], o.bpd[0], o.se[0], o.prior, o.kl[1],
                       o.kl[0], o.decoder, (long long)r.nfe, r.seconds);
            char *mdp = strbuf_printf("%s.md", a->table), *csvp = strbuf_printf("%s.csv", a->table);
            fsio_write_atomic(mdp, md.s, md.n);
            fsio_write_atomic(csvp, csv.s, csv.n);
            printf("eval: table: %s, %s\n", mdp, csvp);
            free(mdp);
            free(csvp);
            strbuf_free(&md);
            strbuf_free(&csv);
        }
        fflush(stdout);
    }
    nllpass_result_free(&r);
    denoiser_free(&den);
    netslots_free(&slots);
    nll_plan_free(&plan);
    sched_free(&s);
    model_load_free(&m);
    return 0;
}

/* ---------------------------------------------------------------- the job */

/* Rank 0's checks of the samples side: the groups to evaluate, each finished enough. */
static char **pick_groups(hid_t f, const EvalArgs *a, int *ng)
{
    char **all = NULL;
    int n = samples_list_groups(f, &all);
    if (n == 0) ddm_die("%s: holds no sampler groups (groups with an 'images' dataset)", a->samples);
    if (!a->group) {
        *ng = n;
        return all;
    }
    char **out = xcalloc((size_t)n + 1, sizeof(char *));
    int k = 0;
    char *s = xstrdup(a->group), *save = NULL;
    for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == '/') t++;
        int j = 0;
        while (j < n && strcmp(all[j], t)) j++;
        if (j == n) {
            StrBuf b;
            strbuf_init(&b);
            strbuf_join(&b, all, n, ", ");
            ddm_die("%s: has no sampler group '%s' (groups: %s)", a->samples, t, b.s);
        }
        if (k < n) out[k++] = xstrdup(t);
    }
    free(s);
    samples_free_names(all, n);
    *ng = k;
    return out;
}

int job_eval(int argc, char **argv)
{
    dist_init(&argc, &argv);
    cli_quiet = !dist_is_root();
    EvalArgs a;
    memset(&a, 0, sizeof a);
    a.ref_features = REF_FEATURES_CAP;
    a.ema = -1;
    a.kid_subsets = KID_SUBSETS;
    a.kid_subset_size = KID_SUBSET_SIZE;
    a.nll_steps = -1; /* T */
    const CliOpt opts[] = {
        {"samples", CLI_STR, &a.samples, "FILE.h5", "samples file made by 'ddm sample' (every group, or --group), or a dataset file (one group 'data')", 0},
        {"ref", CLI_STR, &a.ref, "REF.h5", "reference: a dataset file, or a stats file written by ddm eval (required, except for --metrics nll)", 0},
        {"features", CLI_STR, &a.features, "SPEC", "classifier:CKPT.h5|RUN_DIR, pixels or inception:WEIGHTS.h5 (default pixels)", 0},
        {"metrics", CLI_STR, &a.metrics, "LIST", "comma list of fid,kid,is,pr (default: all the extractor allows; is needs the classifier), or nll alone (see above)", 0},
        {"group", CLI_STR, &a.group, "NAME[,NAME]", "evaluate only these sampler groups (default: every group)", 0},
        {"out", CLI_STR, &a.out, "FILE.jsonl", "append one JSON line per group (default: results.jsonl beside the samples file; nll: beside the --data file)", 0},
        {"table", CLI_STR, &a.table, "PREFIX", "sweep table PREFIX.md and PREFIX.csv (default: SAMPLES-eval beside the samples file; written for several groups; nll: a one-row table, only when given)", 0},
        {"plot", CLI_STR, &a.plot, "FILE.png", "plot of FID against NFE (default: PREFIX.png; written for several groups; needs gnuplot)", 0},
        {"npz", CLI_STR, &a.npz, "FILE.npz", "also write the samples' mu/sigma as pytorch-fid's .npz (several groups: FILE-GROUP.npz)", 0},
        {"max-n", CLI_LONG, &a.max_n, "N", "use at most the first N finished samples, and at most N reference feature rows for KID and P/R; nll: the first N images of --data (default 0 = all)", 0},
        {"ref-features", CLI_LONG, &a.ref_features, "N", "reference feature rows kept in the cache for KID and P/R, evenly spread (default 10000)", 0},
        {"kid-subsets", CLI_INT, &a.kid_subsets, "N", "KID: number of subsets (default 100)", 0},
        {"kid-subset-size", CLI_INT, &a.kid_subset_size, "M", "KID: rows per subset, capped at the set sizes (default 1000)", 0},
        {"seed", CLI_LONG, &a.seed, "S", "KID: seed of the subset draws; nll: of the noise streams (default 0)", 0},
        {"ema", CLI_DOUBLE, &a.ema, "RATE", "classifier: use the EMA weights of this rate (default: the trained weights /model, or the EMA copy of a slim checkpoint); nll model: this EMA copy (default: as ddm sample, the first rate of train.ema present, else the largest, else the raw weights)", 0},
        {"allow-partial", CLI_FLAG, &a.allow_partial, NULL, "score the finished rows of an unfinished samples file", 0},
        {"no-cache", CLI_FLAG, &a.no_cache, NULL, "neither read nor write the reference statistics cache", 0},
        {"threads", CLI_INT, &a.threads, "T", "threads per rank (default 0 = OMP_NUM_THREADS, else all the rank has)", 0},
        {"task", CLI_STR, &a.task, "NAME", "score (default) or accuracy (classifier accuracy on the labeled --ref)", 0},
        {"verbose", CLI_FLAG, &a.verbose, NULL, "more detail (FID terms, timings)", 0},
        {"model", CLI_STR, &a.model, "CKPT.h5|RUN_DIR", "nll: the diffusion model (vp), a checkpoint or a run folder (its newest checkpoint)", 0},
        {"data", CLI_STR, &a.data, "DATA.h5", "nll: the dataset to score (ddm prep; uint8 images of the model's shape)", 0},
        {"nll-steps", CLI_INT, &a.nll_steps, "K", "nll: network evaluations per image, 2..T: t = 1 and K-1 steps standing for stretches of KL terms; K < T is an estimate of the bound (default T: the bound itself)", 0},
        {"nll-var", CLI_STR, &a.nll_var, "beta|beta_tilde|both", "nll: the reverse process variance sigma_t^2 reported (default both)", 0},
        {"nll-clip", CLI_FLAG, &a.nll_clip, NULL, "nll: clip the network's x0 to [-1,1] before the means (improved-diffusion's clip_denoised; default off)", 0},
        {"batch", CLI_INT, &a.batch, "N", "nll: images per network batch (default 8 x threads; the numbers do not depend on it)", 0},
        {"nll-dump", CLI_STR, &a.nll_dump, "FILE.h5", "nll, for tests (tests/ref/nll_ref.py): write every image's noise and network output at every step and its terms (N x K x C*H*W floats twice: small runs only)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    /* rank 0 parses and checks first; the others follow once it has not died */
    if (!dist_root_first_wait() || cli_parse("eval", SYNOPSIS, DESCRIPTION, opts, argc, argv, NULL, NULL)) {
        dist_root_first_release(0); /* rank 0 printed the help: all stop */
        dist_finalize();
        return 0;
    }
    ddm_set_threads(a.threads);
    const int root = dist_is_root();
    const int accuracy = a.task && !strcmp(a.task, "accuracy");
    if (a.task && !accuracy && strcmp(a.task, "score"))
        ddm_die("--task %s: unknown task (score or accuracy)", a.task);
    if (a.max_n < 0) ddm_die("--max-n must be >= 0, not %ld", a.max_n);
    if (a.out) { /* JSON lines appended to an HDF5 input would corrupt it (issue 16) */
        fsio_refuse_overwrite("ddm eval", a.out, a.samples, "the --samples file");
        fsio_refuse_overwrite("ddm eval", a.out, a.ref, "the --ref file");
    }
    int mask = 0;
    if (a.metrics) parse_metrics(a.metrics, &mask);
    if (mask & M_NLL) {
        int rc = run_nll(&a);
        dist_finalize();
        return rc;
    }
    if (a.model || a.data || a.nll_steps != -1 || a.nll_var || a.nll_clip || a.batch || a.nll_dump)
        ddm_die("--model, --data, --batch and --nll-* go with --metrics nll");
    if (!a.ref) ddm_die("--ref REF.h5 is required (see 'ddm eval --help')");
    if (a.ref_features < 0) ddm_die("--ref-features must be >= 0, not %ld", a.ref_features);
    if (a.kid_subsets < 1) ddm_die("--kid-subsets must be >= 1, not %d", a.kid_subsets);
    if (a.kid_subset_size < 2) ddm_die("--kid-subset-size must be >= 2, not %d", a.kid_subset_size);
    if (a.max_n > 0 && a.max_n <= PR_K) ddm_die("--max-n %ld: too few rows for the metrics (at least %d)", a.max_n, PR_K + 1);
    if (accuracy && !a.features) ddm_die("--task accuracy needs --features classifier:CKPT.h5|RUN_DIR");
    FeatExtractor e;
    features_parse(&e, a.features ? a.features : "pixels", a.ema);
    if (!a.metrics) mask = M_FID | M_KID | M_PR | (e.k > 0 ? M_IS : 0);
    if ((mask & M_IS) && e.k == 0)
        ddm_die("--metrics %s: the Inception Score needs class probabilities: use --features classifier:CKPT "
                "(the '%s' extractor has none)", a.metrics, e.key);

    if (accuracy) {
        int rc = run_accuracy(&a, &e);
        features_free(&e);
        dist_finalize();
        return rc;
    }
    if (!a.samples) ddm_die("--samples FILE.h5 is required (see 'ddm eval --help')");
    const int need_rows = (mask & (M_KID | M_PR)) != 0;
    if (need_rows && a.ref_features <= PR_K)
        ddm_die("--ref-features %ld: KID and precision/recall need more than %d reference feature rows", a.ref_features, PR_K);

    /* ---- the samples file: groups, finished rows, shapes. A dataset file (ddm prep) is
     * one group "data" of finished rows: the floor (a held-out split) or the ceiling
     * (noise) of a metric. ---- */
    hid_t sf = h5_open(a.samples, H5F_ACC_RDONLY, H5P_DEFAULT);
    char *skind = h5_get_kind(sf);
    const int sds_open = skind && !strcmp(skind, "dataset");
    free(skind);
    DatasetFile sds;
    memset(&sds, 0, sizeof sds);
    int ng = 0;
    char **groups = NULL;
    if (sds_open) {
        h5_close(sf);
        sf = H5I_INVALID_HID;
        dataset_open(&sds, a.samples);
        if (a.group && strcmp(a.group, "data"))
            ddm_die("%s: a dataset file has one group, 'data', not '%s'", a.samples, a.group);
        ng = 1;
        groups = xmalloc(sizeof(char *));
        groups[0] = xstrdup("data");
    } else {
        h5_require_kind(sf, a.samples, "samples");
        groups = pick_groups(sf, &a, &ng);
    }
    GroupResult *res = xcalloc((size_t)ng, sizeof *res);
    int64_t **rows = xcalloc((size_t)ng, sizeof *rows);
    for (int i = 0; i < ng; i++) {
        GroupResult *g = &res[i];
        g->name = groups[i];
        int64_t nd = 0;
        if (sds_open) {
            SamplesGroupInfo *in = &g->info;
            in->sampler = xstrdup("data");
            in->eta = -1;
            in->class_label = -1;
            in->n = in->n_done = (int64_t)sds.n;
            in->c = sds.c;
            in->h = sds.h;
            in->w = sds.w;
            nd = in->n;
            rows[i] = xmalloc(sizeof(int64_t) * (size_t)(nd > 0 ? nd : 1));
            for (int64_t r = 0; r < nd; r++) rows[i][r] = r;
        } else {
            samples_group_info(sf, a.samples, g->name, &g->info);
            rows[i] = samples_done_rows(sf, a.samples, g->name, g->info.n, &nd);
        }
        if (nd == 0)
            ddm_die("%s: group %s: 0 of %lld rows done: nothing to evaluate", a.samples, g->name,
                    (long long)g->info.n);
        if (nd < g->info.n && !a.allow_partial)
            ddm_die("%s: group %s: %lld of %lld rows done; finish it with 'ddm sample' (it resumes), or pass "
                    "--allow-partial to score the finished rows", a.samples, g->name, (long long)nd,
                    (long long)g->info.n);
        if (nd < g->info.n && root)
            ddm_warn("%s: group %s: %lld of %lld rows done; scoring the finished ones (--allow-partial)",
                     a.samples, g->name, (long long)nd, (long long)g->info.n);
        g->n = a.max_n > 0 && a.max_n < nd ? a.max_n : nd;
        if (g->n < 2) ddm_die("%s: group %s: %lld finished sample: FID needs at least 2", a.samples, g->name,
                              (long long)g->n);
        if ((mask & M_PR) && g->n <= PR_K)
            ddm_die("%s: group %s: %lld samples: precision/recall needs more than %d", a.samples, g->name,
                    (long long)g->n, PR_K);
        if ((mask & M_IS) && g->n < IS_SPLITS)
            ddm_die("%s: group %s: %lld samples: the Inception Score needs at least %d (one per split)", a.samples,
                    g->name, (long long)g->n, IS_SPLITS);
        if (g->info.nfe <= 0 && !sds_open) g->info.nfe = g->info.steps;
        if (e.kind == FEAT_PIXELS) {
            const int d = g->info.c * g->info.h * g->info.w;
            if (i > 0 && d != e.d)
                ddm_die("%s: group %s has %dx%dx%d images, group %s %d values per image: --features pixels needs "
                        "equal sizes", a.samples, g->name, g->info.c, g->info.h, g->info.w, res[0].name, e.d);
            e.d = d;
        }
        char what[1200];
        snprintf(what, sizeof what, "%s (group %s)", a.samples, g->name);
        features_check_images(&e, what, g->info.c, g->info.h, g->info.w);
    }

    /* ---- the reference: a stats file, or a dataset (with its cache) ---- */
    FeatRef ref;
    memset(&ref, 0, sizeof ref);
    ref.path = a.ref;
    int64_t ref_n = 0;
    char *dskey = NULL;
    int cache_ok = 0;
    if (root) {
        ref.is_stats = featref_kind(a.ref);
        int rc = 0, rh = 0, rw = 0;
        if (ref.is_stats) {
            StatsData h;
            const char *why;
            if (!stats_peek(a.ref, &h, &why)) ddm_die("%s: %s", a.ref, why);
            featref_check_stats(&h, a.ref, &e, need_rows);
            rc = h.c;
            rh = h.h;
            rw = h.w;
            stats_free(&h);
        } else {
            DatasetFile ds;
            dataset_open(&ds, a.ref);
            rc = ds.c;
            rh = ds.h;
            rw = ds.w;
            ref_n = (int64_t)ds.n;
            dataset_close(&ds);
            if (ref_n < 2) ddm_die("%s: %lld images: FID needs at least 2", a.ref, (long long)ref_n);
            if (need_rows && ref_n <= PR_K)
                ddm_die("%s: %lld images: KID and precision/recall need more than %d", a.ref, (long long)ref_n, PR_K);
        }
        for (int i = 0; i < ng; i++) {
            char what[1200];
            snprintf(what, sizeof what, "%s (group %s)", a.samples, res[i].name);
            features_check_pair(&e, what, res[i].info.c, res[i].info.h, res[i].info.w, a.ref, rc, rh, rw);
        }
        if (!ref.is_stats && !a.no_cache) {
            ref.cache = featref_cache_path(a.ref, &e);
            dskey = featref_dataset_key(a.ref, (size_t)ref_n);
            cache_ok = featref_cache_usable(ref.cache, &e, dskey, a.ref_features, ref_n);
        }
        fflush(stdout);
        dist_root_first_release(1); /* the checks passed: the other ranks start */
    } else {
        ref.is_stats = featref_kind(a.ref);
        if (!ref.is_stats) {
            DatasetFile ds;
            dataset_open(&ds, a.ref);
            ref_n = (int64_t)ds.n;
            dataset_close(&ds);
            if (!a.no_cache) {
                ref.cache = featref_cache_path(a.ref, &e);
                dskey = featref_dataset_key(a.ref, (size_t)ref_n);
            }
        }
    }
    dist_bcast(&cache_ok, sizeof cache_ok, 0);
    if (e.kind == FEAT_CLASSIFIER) model_bcast_weights(&e.model); /* rank 0 reads, all get them */
    features_load(&e);

    if (root) {
        printf("eval: %s: %d group%s; reference %s; features: %s; metrics:%s%s%s%s; %d rank%s x %d thread%s\n",
               a.samples, ng, ng == 1 ? "" : "s", a.ref, e.desc, mask & M_FID ? " fid" : "", mask & M_KID ? " kid" : "",
               mask & M_IS ? " is" : "", mask & M_PR ? " pr" : "", dist_size(), dist_size() == 1 ? "" : "s",
               ddm_threads(), ddm_threads() == 1 ? "" : "s");
        fflush(stdout);
    }
    featref_load(&ref, &e, dskey, cache_ok, need_rows, a.ref_features, ref_n);
    const int D = e.d;

    /* reference rows for KID and P/R: at most --max-n of the stored ones, evenly spread */
    float *ref_rows = NULL;
    int64_t n_ref_rows = 0;
    if (need_rows) {
        n_ref_rows = ref.st.n_feat;
        if (a.max_n > 0 && a.max_n < n_ref_rows) {
            n_ref_rows = a.max_n;
            int64_t *sel = featpass_spread_rows(ref.st.n_feat, n_ref_rows);
            ref_rows = xalloc_floats((size_t)n_ref_rows * D);
            for (int64_t j = 0; j < n_ref_rows; j++)
                memcpy(ref_rows + (size_t)j * D, ref.st.features + (size_t)sel[j] * D, sizeof(float) * (size_t)D);
            free(sel);
        } else {
            ref_rows = ref.st.features;
        }
        if (n_ref_rows <= PR_K) ddm_die("%s: %lld reference feature rows: too few for KID and P/R", a.ref,
                                        (long long)n_ref_rows);
    }

    /* ---- each group ---- */
    char *out_path = a.out ? xstrdup(a.out) : NULL;
    if (!out_path) {
        char *d = fsio_dir_of(a.samples);
        out_path = strbuf_printf("%s/results.jsonl", d);
        free(d);
    }
    double *mu = xmalloc(sizeof(double) * (size_t)D), *sigma = xmalloc(sizeof(double) * (size_t)D * D);
    float *ref_radii = NULL; /* k-NN radii of the reference rows, for P/R */
    for (int gi = 0; gi < ng; gi++) {
        GroupResult *g = &res[gi];
        g->fid = g->kid = g->kid_std = g->is = g->is_std = g->precision = g->recall = g->class_match = g->input_match = NAN;
        double t0 = ddm_now();
        FeatSet s;
        memset(&s, 0, sizeof s);
        s.path = a.samples;
        s.label = strbuf_printf("group %s", g->name);
        s.file = sf;
        if (sds_open) {
            s.is_dataset = 1;
            s.ds = sds;
        }
        s.group = g->name;
        s.c = g->info.c;
        s.h = g->info.h;
        s.w = g->info.w;
        s.n = g->n;
        s.rows = rows[gi];
        FeatStats fs;
        featstats_init(&fs, D);
        float *keep = NULL, *probs = NULL;
        int64_t nkeep = 0;
        const int64_t nloc = featpass_extract(&e, &s, &fs, NULL, 0, 1, need_rows ? &keep : NULL, &nkeep,
                                          e.k > 0 ? &probs : NULL);
        fid_stats_allreduce(&fs, g_dist.comm);
        featstats_mean_cov(&fs, mu, sigma);
        featstats_free(&fs);
        double t_feat = ddm_now() - t0;
        FidInfo fi;
        memset(&fi, 0, sizeof fi);
        if (mask & M_FID)
            g->fid = fid_frechet(mu, sigma, g->n, ref.st.mu, ref.st.sigma, ref.st.n, D, g_dist.comm, !root, &fi);
        if (need_rows) {
            int64_t nall = 0;
            float *all = dist_allgather_rows(keep, nkeep, D, &nall);
            DDM_ASSERT(nall == g->n, "gathered %lld sample rows, expected %lld", (long long)nall, (long long)g->n);
            if (mask & M_KID) {
                KidResult kr;
                pairwise_kid(&kr, all, (size_t)nall, ref_rows, (size_t)n_ref_rows, D, a.kid_subset_size,
                             a.kid_subsets, (uint64_t)a.seed, g_dist.comm);
                g->kid = kr.mean;
                g->kid_std = kr.std;
                g->kid_subsets = kr.subsets;
                g->kid_subset_size = kr.subset_size;
            }
            if (mask & M_PR) {
                PrResult pr;
                if (!ref_radii) /* once for every group */
                    ref_radii = pairwise_knn_radii(ref_rows, (size_t)n_ref_rows, D, PR_K, g_dist.comm);
                pairwise_precision_recall(&pr, ref_rows, (size_t)n_ref_rows, ref_radii, all, (size_t)nall, D, PR_K,
                                          g_dist.comm);
                g->precision = pr.precision;
                g->recall = pr.recall;
            }
            g->n_ref_rows = n_ref_rows;
            free(all);
        }
        if (e.k > 0) { /* a classifier: IS and the share of the requested class */
            int64_t np = 0;
            float *allp = dist_allgather_rows(probs, nloc, e.k, &np);
            DDM_ASSERT(np == g->n, "gathered %lld probability rows, expected %lld", (long long)np, (long long)g->n);
            if (root && (mask & M_IS)) metrics_inception_score(&g->is, &g->is_std, allp, (size_t)np, e.k, IS_SPLITS);
            if (root) /* only rank 0 reports: the labels are read there alone */
                g->class_match = class_match(sf, sds_open ? &sds : NULL, a.samples, g->name, rows[gi], g->n, allp, e.k);
            if (root && !sds_open)
                g->input_match = input_match(sf, a.samples, g->name, rows[gi], g->n, allp, e.k);
            free(allp);
        }
        free(keep);
        free(probs);
        g->seconds = ddm_now() - t0;
        free(s.label);
        if (!root) continue;

        const SamplesGroupInfo *in = &g->info;
        char eta[32], line[1024];
        fmt_eta(eta, sizeof eta, in->eta);
        int off = sds_open
                      ? snprintf(line, sizeof line, "eval: %s (the dataset file's images): %lld images vs %lld:",
                                 g->name, (long long)g->n, (long long)ref.st.n)
                      : snprintf(line, sizeof line, "eval: %s (%s, %d steps, eta %s%s, NFE %d): %lld samples vs %lld:",
                                 g->name, in->sampler, in->steps, eta, in->guidance != 0 ? ", guided" : "", in->nfe,
                                 (long long)g->n, (long long)ref.st.n);
        if (mask & M_FID) off += snprintf(line + off, sizeof line - (size_t)off, "  FID %.4f", g->fid);
        if (mask & M_KID)
            off += snprintf(line + off, sizeof line - (size_t)off, "  KID %.6f +- %.6f", g->kid, g->kid_std);
        if (mask & M_IS) off += snprintf(line + off, sizeof line - (size_t)off, "  IS %.3f +- %.3f", g->is, g->is_std);
        if (mask & M_PR)
            off += snprintf(line + off, sizeof line - (size_t)off, "  precision %.4f recall %.4f", g->precision,
                            g->recall);
        if (isfinite(g->class_match))
            off += snprintf(line + off, sizeof line - (size_t)off, "  class match %.4f", g->class_match);
        if (isfinite(g->input_match))
            off += snprintf(line + off, sizeof line - (size_t)off, "  input match %.4f", g->input_match);
        snprintf(line + off, sizeof line - (size_t)off, "  (%.1f s, features %.1f s)", g->seconds, t_feat);
        printf("%s\n", line);
        if (a.verbose && (mask & M_FID))
            printf("eval:   FID terms: |mu1-mu2|^2 %.6g, tr S1 + tr S2 %.6g, tr sqrt %.6g; grid %dx%d, %.3f s\n",
                   fi.mean_term, fi.trace_term, fi.trsqrt, fi.nprow, fi.npcol, fi.seconds);
        JsonLine j;
        result_json(&j, g, &a, &e, &ref);
        printf("%s\n", j.b.s);
        fsio_append_line(out_path, j.b.s);
        json_free(&j);
        if (a.npz) {
            char *p = xstrdup(a.npz);
            if (ng > 1) {
                char *base = fsio_strip_suffix(a.npz, ".npz");
                free(p);
                p = strbuf_printf("%s-%s.npz", base, g->name);
                free(base);
            }
            stats_write_npz(p, mu, sigma, D); /* atomic; its temporary is removed on death */
            printf("eval: wrote %s (mu [%d], sigma [%d,%d] float64, pytorch-fid's format)\n", p, D, D, D);
            free(p);
        }
        fflush(stdout);
    }
    if (root) {
        printf("eval: results appended to %s\n", out_path);
        if (ng > 1 || a.table || a.plot) {
            char *prefix = a.table ? xstrdup(a.table) : NULL;
            if (!prefix) {
                char *b = fsio_strip_suffix(a.samples, ".h5");
                prefix = strbuf_printf("%s-eval", b);
                free(b);
            }
            write_tables(prefix, res, ng, &a, &e);
            char *png = a.plot ? xstrdup(a.plot) : strbuf_printf("%s.png", prefix);
            if (mask & M_FID) write_plot(png, res, ng, &a, &e);
            else printf("eval: no plot: FID was not computed (--metrics)\n");
            free(png);
            free(prefix);
        }
        fflush(stdout);
    }

    for (int i = 0; i < ng; i++) {
        samples_group_info_free(&res[i].info);
        free(res[i].name);
        free(rows[i]);
    }
    free(groups);
    free(res);
    free(rows);
    free(ref_radii);
    if (ref_rows != ref.st.features) free(ref_rows);
    stats_free(&ref.st);
    free(ref.cache);
    free(dskey);
    free(out_path);
    free(mu);
    free(sigma);
    if (sds_open) dataset_close(&sds);
    h5_close(sf);
    features_free(&e);
    dist_finalize();
    return 0;
}

