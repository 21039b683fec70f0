/* ddm sample: the sampling farm. Seeds x sampler settings from one checkpoint into one
 * samples file (io/samples.h), on P ranks, resumable (DESIGN.md; issue "ddm sample").
 *
 * Image identity: an image depends only on (checkpoint, weights, setting, seed). The
 * samplers key every draw by (seed, step); the label of a row comes from the setting and
 * its seed (--class-per-seed: seed % num_classes), never from its position; batches are
 * cut from each setting's unfinished rows, and which rank makes them does not matter.
 *
 * Flow: rank 0 checks everything (options, seeds, sweep, checkpoint, settings, labels,
 * the output folder) and loads the weights; then it broadcasts what the others need, so
 * a setup error is printed once and no output file is created. Then every rank opens the
 * samples file collectively, and the farm (mpi/farm.h) hands out (setting, batch) items
 * round by round; each round ends with one collective write per setting it touched.
 *
 * The network is called in fixed-width slots (NET_SLOTS images, the image of seed s in
 * slot s % NET_SLOTS, empty slots zero), one call per thread, each thread with its own
 * single-threaded U-Net. The reason: OpenBLAS's sgemm rounds one column (row) of a
 * product differently depending on the product's width (height), and core/ puts the
 * batch into the GEMM shapes (Winograd convs: batch x tiles columns; linear: batch rows),
 * so one image's network output changes in the last bits with the batch it is in, and
 * threads split GEMMs by the thread count. With a fixed call shape and a slot fixed by the
 * seed, an image's arithmetic is the same whatever the batch, rank, resume state or
 * thread count. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/common.h"
#include "core/layers.h"
#include "core/netslots.h"
#include "core/sampler.h"
#include "core/sched.h"
#include "core/trainer.h"
#include "core/unet.h"
#include "io/ckpt.h"
#include "io/config.h"
#include "io/h5.h"
#include "io/png.h"
#include "io/samples.h"
#include "jobs/cli.h"
#include "jobs/jobs.h"
#include "jobs/progress.h"
#include "mpi/dist.h"
#include "mpi/farm.h"
#include "mpi/h5par.h"

/* exit status after a signal: the round was flushed; the batch script requeues on it */
#define SAMPLE_EXIT_REQUEUE 99
#define SAMPLE_MAX_SEEDS 100000000LL
#define GRID_MAX 64
/* images per network call; part of every setting (an image depends on it) */
#define NET_SLOTS NETSLOTS_WIDTH

static volatile sig_atomic_t g_stop_signal = 0;
static void on_stop_signal(int sig) { g_stop_signal = sig; }

static const char SYNOPSIS[] =
    "--ckpt RUN_DIR|CKPT.h5 --out FILE.h5 --seeds A-B[,C-D...] [--sampler NAME] [--steps N] "
    "[--eta E] [--guidance W] [--class K|--class-per-seed] [--batch N] [--sweep FILE.ini] ...";
static const char DESCRIPTION[] =
    "Generate one image per seed and sampler setting from a checkpoint (EMA weights by\n"
    "default) into the samples file FILE.h5: a group per setting with images, seeds,\n"
    "labels and done. An image depends only on the checkpoint, the setting and its seed,\n"
    "never on the number of ranks, the batch size or the rank that made it.\n"
    "Work items (setting, batch of seeds) are handed out dynamically to all ranks in\n"
    "rounds; each round ends with one collective write. Re-running the same command on an\n"
    "unfinished FILE.h5 makes only the missing images. On SIGTERM or SIGUSR1 every rank\n"
    "finishes the round, it is written and the job exits with status 99 (requeue me).\n"
    "--sweep FILE.ini: one INI section per setting, the section name is the group name:\n"
    "  [ddim-10]\n  sampler = ddim\n  steps = 10\n  eta = 0\n"
    "keys: sampler, steps, eta, skip, sigma2, eps, steps_per_level, snr, corrector_steps,\n"
    "predictor, rho, sigma_max, denoise, clip, guidance, class (K, per_seed or none); sampler\n"
    "options given on the command line are every section's defaults. Writes a PNG grid of\n"
    "the first images of each setting (OUT without .h5 + -GROUP.png, or --grid).";

typedef struct {
    char *ckpt, *out, *seeds, *sweep, *grid, *weights, *ema_rate, *cls;
    char *sampler, *steps, *eta, *skip, *sigma2, *eps, *spl, *snr, *corr, *predictor, *rho,
        *denoise, *clip, *guidance, *sigma_max;
    int class_per_seed, batch, threads, items_per_rank, verbose;
    double progress_every;
} Args;

/* ------------------------------------------------------------------ seeds */

typedef struct {
    int64_t a, b;
} SeedRange;

static int range_cmp(const void *x, const void *y)
{
    const SeedRange *p = x, *q = y;
    return (p->a > q->a) - (p->a < q->a);
}

static int parse_i64(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 19) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "A-B[,C-D...]" (inclusive; a bare "N" is N-N) into ascending seeds: 0 or -1 + err */
static int seeds_parse(const char *spec, int64_t **seeds, int64_t *n, char *err, size_t errlen)
{
    SeedRange *r = NULL;
    int nr = 0;
    const char *p = spec;
    while (1) {
        size_t len = strcspn(p, ",");
        const char *dash = memchr(p, '-', len);
        SeedRange x;
        int bad = dash ? (parse_i64(p, (size_t)(dash - p), &x.a) ||
                          parse_i64(dash + 1, len - (size_t)(dash - p) - 1, &x.b))
                       : parse_i64(p, len, &x.a);
        if (!dash) x.b = x.a;
        if (bad) {
            snprintf(err, errlen,
                     "--seeds %s: bad range '%.*s' (want A-B or N: whole numbers >= 0, "
                     "ranges separated by commas)",
                     spec, (int)len, p);
            free(r);
            return -1;
        }
        if (x.b < x.a) {
            if (len == strlen(spec)) snprintf(err, errlen, "--seeds %s: end before start", spec);
            else snprintf(err, errlen, "--seeds %s: %.*s: end before start", spec, (int)len, p);
            free(r);
            return -1;
        }
        r = xrealloc(r, sizeof *r * (size_t)(nr + 1));
        r[nr++] = x;
        if (!p[len]) break;
        p += len + 1;
    }
    qsort(r, (size_t)nr, sizeof *r, range_cmp);
    int64_t total = 0;
    for (int i = 0; i < nr; i++) {
        if (i > 0 && r[i].a <= r[i - 1].b) {
            snprintf(err, errlen, "--seeds %s: seed %lld is in two ranges", spec,
                     (long long)r[i].a);
            free(r);
            return -1;
        }
        total += r[i].b - r[i].a + 1;
        if (total > SAMPLE_MAX_SEEDS) {
            snprintf(err, errlen, "--seeds %s: more than %lld seeds", spec,
                     (long long)SAMPLE_MAX_SEEDS);
            free(r);
            return -1;
        }
    }
    *seeds = xmalloc(sizeof **seeds * (size_t)total);
    int64_t k = 0;
    for (int i = 0; i < nr; i++)
        for (int64_t s = r[i].a; s <= r[i].b; s++) (*seeds)[k++] = s;
    *n = total;
    free(r);
    return 0;
}

/* ------------------------------------------------------------------ settings */

typedef struct {
    char key[32], value[128], where[480];
} Kv;

typedef struct {
    char name[128], where[320];
    Kv *kv;
    int n;
} Section;

enum { LABELS_NONE = 0, LABELS_NULL, LABELS_FIXED, LABELS_PER_SEED };

typedef struct {
    char name[128];
    SamplerConfig sc;
    int label_mode, class_label;
    char settings[640];
    SamplesSetting set;
    long long nfe;
    int steps;
    /* while running */
    SamplesGroup g;
    int64_t *todo, ntodo;
    int64_t *p_rows; /* this rank's finished rows of the round */
    uint8_t *p_img;
    int32_t *p_lab;
    size_t p_n, p_cap;
} Setting;

static void kv_add(Kv **kv, int *n, const char *key, const char *value, const char *where)
{
    *kv = xrealloc(*kv, sizeof **kv * (size_t)(*n + 1));
    Kv *k = &(*kv)[(*n)++];
    snprintf(k->key, sizeof k->key, "%s", key);
    snprintf(k->value, sizeof k->value, "%s", value);
    snprintf(k->where, sizeof k->where, "%s", where);
    for (char *c = k->key; *c; c++)
        if (*c == '-') *c = '_';
}

/* Lines of an INI sweep: [section] headers and key = value assignments (several per
 * line allowed when separated by blanks). */
static int sweep_parse(const char *text, const char *path, Section **out, int *nout, char *err,
                       size_t errlen)
{
    Section *sec = NULL;
    int ns = 0, lineno = 0;
    const char *p = text;
    char where[320];
    while (*p) {
        size_t len = strcspn(p, "\n");
        lineno++;
        char *line = xmalloc(len + 1), *norm = xmalloc(len + 1);
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (p[len] == '\n');
        /* comments: # or ; at the start or after a blank */
        for (char *c = line; *c; c++)
            if ((*c == '#' || *c == ';') && (c == line || c[-1] == ' ' || c[-1] == '\t')) {
                *c = '\0';
                break;
            }
        /* blanks around '=' removed, tabs and CR to spaces */
        size_t m = 0;
        for (char *c = line; *c; c++) {
            char ch = (*c == '\t' || *c == '\r') ? ' ' : *c;
            if (ch == ' ') {
                char *d = c;
                while (*d == ' ' || *d == '\t' || *d == '\r') d++;
                if (*d == '=' || (m > 0 && norm[m - 1] == '=')) continue;
            }
            norm[m++] = ch;
        }
        norm[m] = '\0';
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        char *tok = strtok(norm, " ");
        int rc = 0;
        while (tok && !rc) {
            if (tok[0] == '[') {
                size_t tl = strlen(tok);
                if (tl < 3 || tok[tl - 1] != ']' || memchr(tok + 1, '/', tl - 2) ||
                    memchr(tok + 1, '[', tl - 2)) {
                    snprintf(err, errlen, "%s: bad section header '%s' (want [NAME], no '/')",
                             where, tok);
                    rc = -1;
                    break;
                }
                tok[tl - 1] = '\0';
                if (tok[1] == '.') {
                    snprintf(err, errlen, "%s: section name '%s' may not start with '.'", where,
                             tok + 1);
                    rc = -1;
                    break;
                }
                for (int i = 0; i < ns; i++)
                    if (!strcmp(sec[i].name, tok + 1)) {
                        snprintf(err, errlen, "%s: section [%s] appears twice (%s)", where,
                                 tok + 1, sec[i].where);
                        rc = -1;
                    }
                if (rc) break;
                if (strlen(tok + 1) >= sizeof sec->name) {
                    snprintf(err, errlen, "%s: section name too long", where);
                    rc = -1;
                    break;
                }
                sec = xrealloc(sec, sizeof *sec * (size_t)(ns + 1));
                memset(&sec[ns], 0, sizeof sec[ns]);
                snprintf(sec[ns].name, sizeof sec[ns].name, "%s", tok + 1);
                snprintf(sec[ns].where, sizeof sec[ns].where, "%s", where);
                ns++;
            } else {
                char *eq = strchr(tok, '=');
                if (!eq || eq == tok || !eq[1]) {
                    snprintf(err, errlen, "%s: expected key = value, got '%s'", where, tok);
                    rc = -1;
                    break;
                }
                if (!ns) {
                    snprintf(err, errlen, "%s: '%s' before the first [section]", where, tok);
                    rc = -1;
                    break;
                }
                *eq = '\0';
                if (strlen(tok) >= sizeof sec->kv->key || strlen(eq + 1) >= sizeof sec->kv->value) {
                    snprintf(err, errlen, "%s: key or value too long", where);
                    rc = -1;
                    break;
                }
                char w[480];
                snprintf(w, sizeof w, "%s [%s]", where, sec[ns - 1].name);
                kv_add(&sec[ns - 1].kv, &sec[ns - 1].n, tok, eq + 1, w);
            }
            tok = strtok(NULL, " ");
        }
        free(line);
        free(norm);
        if (rc) {
            for (int i = 0; i < ns; i++) free(sec[i].kv);
            free(sec);
            return -1;
        }
    }
    if (!ns) {
        snprintf(err, errlen, "%s: no [section]: a sweep needs one section per setting", path);
        free(sec);
        return -1;
    }
    *out = sec;
    *nout = ns;
    return 0;
}

/* The model facts a setting is checked against. */
typedef struct {
    const Schedule *sched;
    int num_classes;
    const char *weights_word; /* "ema:0.9999" | "raw" */
} ModelFacts;

/* Drop the words the group attributes already hold from a describe string. */
static void settings_words(char *out, size_t n, const char *describe)
{
    size_t off = 0;
    out[0] = '\0';
    const char *p = strchr(describe, ' '); /* the sampler name goes first */
    while (p && *p) {
        p += strspn(p, " ");
        size_t wl = strcspn(p, " ");
        if (!wl) break;
        if (strncmp(p, "steps=", 6) && strncmp(p, "eta=", 4) && strncmp(p, "guidance=", 9) &&
            off < n)
            off += (size_t)snprintf(out + off, n - off, "%s%.*s", off ? " " : "", (int)wl, p);
        p += wl;
    }
}

/* A setting from key/values applied in order. name NULL: the canonical group name. */
static int setting_build(Setting *st, const char *name, const Kv *kv, int n,
                         const ModelFacts *mf, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    const Schedule *s = mf->sched;
    const char *sampler = s->cfg.process == PROC_VP ? "ddim" : "ode", *sampler_where = NULL;
    const char *cls = NULL, *cls_where = NULL;
    char e[400];
    for (int i = 0; i < n; i++) {
        if (!strcmp(kv[i].key, "sampler")) {
            sampler = kv[i].value;
            sampler_where = kv[i].where;
        } else if (!strcmp(kv[i].key, "class")) {
            cls = kv[i].value;
            cls_where = kv[i].where;
        }
    }
    if (sampler_config_init(&st->sc, sampler, e, sizeof e)) {
        snprintf(err, errlen, "%s: %s", sampler_where ? sampler_where : "--sampler", e);
        return -1;
    }
    /* images live in [-1,1]: clip the predicted x0 of ddpm/ddim there by default (as
     * improved-diffusion's clip_denoised); unclipped, the 1/sqrt(alpha_bar) amplification
     * at high noise leaves speckle in few-thousand-step models. --clip 0 turns it off. */
    for (int i = 0; i < n; i++) {
        if (!strcmp(kv[i].key, "sampler") || !strcmp(kv[i].key, "class")) continue;
        if (sampler_config_set(&st->sc, kv[i].key, kv[i].value, e, sizeof e)) {
            snprintf(err, errlen, "%s: %s", kv[i].where, e);
            return -1;
        }
    }
    const char *ctx = name ? name : "";
    if (sampler_config_check(&st->sc, s, e, sizeof e)) {
        if (name) snprintf(err, errlen, "setting [%s]: %s", ctx, e);
        else snprintf(err, errlen, "%s", e);
        return -1;
    }
    /* labels */
    const int nc = mf->num_classes;
    st->class_label = -1;
    st->label_mode = nc > 0 ? LABELS_NULL : LABELS_NONE;
    if (cls && strcmp(cls, "none") != 0) {
        if (nc <= 0) {
            snprintf(err, errlen, "%s: the model is unconditional (model.num_classes = 0): it "
                     "takes no class label", cls_where);
            return -1;
        }
        if (!strcmp(cls, "per_seed") || !strcmp(cls, "per-seed")) {
            st->label_mode = LABELS_PER_SEED;
        } else {
            char *end;
            errno = 0;
            long k = strtol(cls, &end, 10);
            if (end == cls || *end || errno) {
                snprintf(err, errlen, "%s: bad class '%s' (want a class number, per_seed or none)",
                         cls_where, cls);
                return -1;
            }
            if (k < 0 || k >= nc) {
                snprintf(err, errlen, "%s: class %ld out of range: the model has classes 0..%d",
                         cls_where, k, nc - 1);
                return -1;
            }
            st->label_mode = LABELS_FIXED;
            st->class_label = (int)k;
        }
    }
    if (st->sc.guidance != 0) {
        char who[160];
        if (name) snprintf(who, sizeof who, "setting [%s]: guidance %g", ctx, st->sc.guidance);
        else snprintf(who, sizeof who, "--guidance %g", st->sc.guidance);
        if (nc <= 0) {
            snprintf(err, errlen, "%s: the model is unconditional (model.num_classes = 0); "
                     "classifier-free guidance needs a class-conditional model", who);
            return -1;
        }
        if (st->label_mode == LABELS_NULL) {
            snprintf(err, errlen, "%s needs a class to guide toward: --class K or "
                     "--class-per-seed%s", who, name ? " (or class = K | per_seed)" : "");
            return -1;
        }
    }
    st->steps = sampler_steps(&st->sc, s);
    st->nfe = sampler_nfe(&st->sc, s);
    char desc[512], words[512];
    sampler_config_describe(&st->sc, s, desc, sizeof desc);
    settings_words(words, sizeof words, desc);
    static const char *const LAB[] = {"none", "null", "fixed", "per_seed"};
    snprintf(st->settings, sizeof st->settings, "%s labels=%s weights=%s net_slots=%d", words,
             LAB[st->label_mode], mf->weights_word, NET_SLOTS);
    st->set.sampler = sampler_name(&st->sc);
    st->set.steps = st->steps;
    st->set.eta = opt_find(st->sc.def->opts, -1, NULL, "eta") ? st->sc.eta : -1.0;
    st->set.guidance = st->sc.guidance;
    st->set.class_label = st->class_label;
    st->set.nfe = st->nfe > INT_MAX ? INT_MAX : (int)st->nfe;
    st->set.settings = st->settings;
    if (name) snprintf(st->name, sizeof st->name, "%s", name);
    else samples_group_name(st->name, sizeof st->name, &st->set);
    return 0;
}

/* The command line's sampler options, in a fixed order. */
static int cli_kvs(const Args *a, Kv **kv)
{
    int n = 0;
    *kv = NULL;
    struct {
        const char *key, *opt, *val;
    } t[] = {
        {"sampler", "--sampler", a->sampler},
        {"steps", "--steps", a->steps},
        {"eta", "--eta", a->eta},
        {"skip", "--skip", a->skip},
        {"sigma2", "--sigma2", a->sigma2},
        {"eps", "--eps", a->eps},
        {"steps_per_level", "--steps-per-level", a->spl},
        {"snr", "--snr", a->snr},
        {"corrector_steps", "--corrector-steps", a->corr},
        {"predictor", "--predictor", a->predictor},
        {"rho", "--rho", a->rho},
        {"sigma_max", "--sigma-max", a->sigma_max},
        {"denoise", "--denoise", a->denoise},
        {"clip", "--clip", a->clip},
        {"guidance", "--guidance", a->guidance},
        {"class", "--class", a->cls},
        {"class", "--class-per-seed", a->class_per_seed ? "per_seed" : NULL},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].val) {
            char w[64];
            snprintf(w, sizeof w, "%s %s", t[i].opt, t[i].val);
            if (!strcmp(t[i].opt, "--class-per-seed")) snprintf(w, sizeof w, "--class-per-seed");
            kv_add(kv, &n, t[i].key, t[i].val, w);
        }
    return n;
}

/* All settings: one from the command line, or one per sweep section. */
static int settings_build(const Args *a, const char *sweep_text, const ModelFacts *mf,
                          Setting **out, int *nout, char *err, size_t errlen)
{
    Kv *base = NULL;
    int nb = cli_kvs(a, &base);
    if (a->cls && a->class_per_seed) {
        snprintf(err, errlen, "--class and --class-per-seed exclude each other");
        free(base);
        return -1;
    }
    int rc = 0;
    if (!sweep_text) {
        *out = xcalloc(1, sizeof **out);
        *nout = 1;
        rc = setting_build(*out, NULL, base, nb, mf, err, errlen);
    } else {
        Section *sec = NULL;
        int ns = 0;
        rc = sweep_parse(sweep_text, a->sweep, &sec, &ns, err, errlen);
        if (!rc) {
            *out = xcalloc((size_t)ns, sizeof **out);
            *nout = ns;
            for (int i = 0; i < ns && !rc; i++) {
                int n = nb + sec[i].n;
                Kv *kv = xmalloc(sizeof *kv * (size_t)(n ? n : 1));
                if (nb) memcpy(kv, base, sizeof *kv * (size_t)nb);
                if (sec[i].n) memcpy(kv + nb, sec[i].kv, sizeof *kv * (size_t)sec[i].n);
                rc = setting_build(&(*out)[i], sec[i].name, kv, n, mf, err, errlen);
                free(kv);
            }
            for (int i = 0; i < ns; i++) free(sec[i].kv);
            free(sec);
        }
    }
    /* two settings with one group name would write into each other */
    for (int i = 0; !rc && i < *nout; i++)
        for (int j = 0; j < i && !rc; j++)
            if (!strcmp((*out)[i].name, (*out)[j].name)) {
                snprintf(err, errlen, "two settings have the group name '%s'", (*out)[i].name);
                rc = -1;
            }
    free(base);
    return rc;
}

/* ------------------------------------------------------------------ setup (rank 0) */

/* What rank 0 decides and broadcasts. */
typedef struct {
    char *ckpt_path;    /* resolved, absolute */
    int64_t ckpt_step;
    char *config_text;
    char *sweep_text;   /* NULL without --sweep */
    double ema_rate;    /* < 0: raw weights */
} Source;

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) ddm_die("%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) buf = xrealloc(buf, cap *= 2);
    }
    if (ferror(f)) ddm_die("%s: read error", path);
    fclose(f);
    buf[n] = '\0';
    if (strlen(buf) != n) ddm_die("%s: not a text file", path);
    return buf;
}

static void check_out_folder(const char *out)
{
    char *d = xstrdup(out);
    char *slash = strrchr(d, '/');
    const char *dir = ".";
    if (slash) {
        if (slash == d) slash[1] = '\0';
        else *slash = '\0';
        dir = d;
    }
    struct stat st;
    if (stat(dir, &st) != 0) ddm_die("--out %s: folder %s does not exist", out, dir);
    if (!S_ISDIR(st.st_mode)) ddm_die("--out %s: %s is not a folder", out, dir);
    /* try it (access() says yes to root on folders nobody can write to) */
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/.ddm-sample-probe-%ld", dir, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) ddm_die("--out %s: folder %s is not writable: %s", out, dir, strerror(errno));
    close(fd);
    unlink(probe);
    if (stat(out, &st) == 0) {
        if (S_ISDIR(st.st_mode)) ddm_die("--out %s: is a folder, want a file name", out);
        /* an existing file must be a samples file: io/samples checks the rest */
        hid_t f = h5_try_open(out, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (f < 0) ddm_die("%s: exists and is not an HDF5 file (or is truncated); use another --out", out);
        char *kind = h5_get_kind(f);
        h5_close(f);
        if (!kind || strcmp(kind, "samples"))
            ddm_die("%s: exists and is %s%s%s, not a samples file; use another --out", out,
                    kind ? "a ddm '" : "not a ddm file", kind ? kind : "", kind ? "' file" : "");
        free(kind);
        if (access(out, W_OK) != 0) ddm_die("%s: exists and is not writable", out);
    }
    free(d);
}

static void choose_weights(const Args *a, const char *path, const DdmConfig *cfg, Source *src)
{
    src->ema_rate = -1;
    if (!a->weights || !strcmp(a->weights, "ema")) {
        double rates[CKPT_MAX_EMA * 2];
        int n = ckpt_ema_rates(path, rates, CKPT_MAX_EMA * 2);
        if (a->ema_rate) {
            char *end;
            double r = strtod(a->ema_rate, &end);
            if (end == a->ema_rate || *end || !(r > 0 && r < 1))
                ddm_die("--ema-rate %s: want a rate in (0,1), e.g. 0.9999", a->ema_rate);
            src->ema_rate = r; /* ckpt_load_weights lists the rates present when absent */
            return;
        }
        if (n == 0) {
            printf("ddm sample: %s holds no EMA weights (train.ema empty): using the raw weights\n",
                   path);
            return;
        }
        /* the first rate of train.ema (what the train job's previews use), else the largest */
        src->ema_rate = rates[n - 1];
        for (int i = 0; i < n && cfg->train.n_ema > 0; i++)
            if (rates[i] == cfg->train.ema[0]) src->ema_rate = rates[i];
    } else if (!strcmp(a->weights, "raw")) {
        if (a->ema_rate) ddm_die("--ema-rate goes with --weights ema, not raw");
    } else {
        ddm_die("--weights %s: want ema or raw", a->weights);
    }
}

static void bcast_str(char **s)
{
    int64_t n = dist_is_root() ? (*s ? (int64_t)strlen(*s) + 1 : 0) : 0;
    dist_bcast(&n, sizeof n, 0);
    if (!dist_is_root()) *s = n ? xmalloc((size_t)n) : NULL;
    if (n) dist_bcast(*s, (size_t)n, 0);
}

static void bcast_floats(float *x, size_t n)
{
    const size_t chunk = (size_t)1 << 26; /* floats per call: counts are int bytes */
    for (size_t off = 0; off < n; off += chunk)
        dist_bcast(x + off, sizeof(float) * (n - off < chunk ? n - off : chunk), 0);
}

/* ------------------------------------------------------------------ the network */

/* rank 0's progress line, and the farm kept moving between network calls */
typedef struct {
    NetSlots slots;
    Farm *farm;
    int report;
    Progress prog;
    double every, last;
    int64_t done_before, total;
} NetCtx;

/* when: 1 = now, 0 = after a round, -1 = between network calls; at most one line per
 * c->every seconds except when 1; c->every = 0: after every round only */
static void print_progress(NetCtx *c, int when)
{
    double t = ddm_now();
    if (!c->report) return;
    if (when < 0 && c->every <= 0) return;
    if (when <= 0 && t - c->last < c->every) return;
    c->last = t;
    int64_t made = 0, nfe = 0;
    farm_totals(c->farm, &made, &nfe);
    double dt = t - c->prog.t0;
    double ips = dt > 0 ? made / dt : 0, nps = dt > 0 ? nfe / dt : 0;
    char eta[32];
    long done = (long)(c->done_before + made);
    progress_eta(&c->prog, done, (long)c->total, eta, sizeof eta);
    printf("images %lld/%lld (%.1f%%)  %.2f img/s  %.1f NFE/s  ETA %s\n", (long long)done,
           (long long)c->total, c->total ? 100.0 * done / c->total : 100.0, ips, nps, eta);
    fflush(stdout);
}

/* between network calls: the farm's window and rank 0's progress line */
static void net_between(void *ctx)
{
    NetCtx *c = ctx;
    farm_poll(c->farm);
    print_progress(c, -1);
}

/* ------------------------------------------------------------------ grids */

static void write_grids(const char *out, const char *grid, const Setting *st, int ns,
                        int64_t n_rows, int c, int h, int w, int num_classes)
{
    hid_t f = h5_open(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    const size_t D = (size_t)c * h * w;
    for (int i = 0; i < ns; i++) {
        /* one class per row (--class-per-seed, up to 16 classes): the first finished
         * images of each class, 10 a row (gray where a class has fewer) */
        const int by_class = st[i].label_mode == LABELS_PER_SEED && num_classes >= 2 && num_classes <= 16;
        const int per_row = 10;
        const int64_t cap = by_class ? (int64_t)num_classes * per_row : GRID_MAX;
        const int64_t n = n_rows < cap ? n_rows : cap;
        uint8_t *img = xmalloc((size_t)n * D), *done = xmalloc((size_t)n);
        int32_t *lab = xmalloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
        samples_read_rows(f, out, st[i].name, 0, n, img, NULL, lab, done);
        int k = 0, cols = 0;
        if (by_class) {
            uint8_t *g = xmalloc((size_t)cap * D);
            memset(g, 128, (size_t)cap * D);
            int *fill = xcalloc((size_t)num_classes, sizeof(int));
            for (int64_t r = 0; r < n; r++) {
                const int l = lab[r];
                if (!done[r] || l < 0 || l >= num_classes || fill[l] >= per_row) continue;
                memcpy(g + ((size_t)l * per_row + (size_t)fill[l]++) * D, img + (size_t)r * D, D);
                k++;
            }
            free(fill);
            free(img);
            img = g;
            if (k > 0) k = (int)cap;
            cols = per_row;
        } else {
            for (int64_t r = 0; r < n; r++)
                if (done[r]) memmove(img + (size_t)k++ * D, img + (size_t)r * D, D);
        }
        free(lab);
        char path[4096];
        if (grid && ns == 1) {
            snprintf(path, sizeof path, "%s", grid);
        } else {
            const char *base = grid ? grid : out;
            const char *ext = grid ? ".png" : ".h5";
            size_t bl = strlen(base), el = strlen(ext);
            if (bl > el && !strcmp(base + bl - el, ext)) bl -= el;
            snprintf(path, sizeof path, "%.*s-%s.png", (int)bl, base, st[i].name);
        }
        if (k > 0) {
            pngio_write_grid(path, img, k, c, h, w, cols);
            if (by_class)
                printf("ddm sample: grid of %s, one class per row: %s\n", st[i].name, path);
            else
                printf("ddm sample: grid of the first %d images of %s: %s\n", k, st[i].name, path);
        }
        free(img);
        free(done);
    }
    h5_close(f);
}

/* ------------------------------------------------------------------ cleanup on error */

static char *g_created; /* the samples file this run created, until its first flush */
static void remove_created(void)
{
    if (g_created) unlink(g_created);
}

/* ------------------------------------------------------------------ the job */

/* this rank's finished rows of the round, kept until the round's collective write */
static void pending_add(Setting *st, const int64_t *rows, const uint8_t *img,
                        const int32_t *lab, size_t n, size_t D)
{
    if (st->p_n + n > st->p_cap) {
        size_t cap = st->p_cap ? st->p_cap : 64;
        while (cap < st->p_n + n) cap *= 2;
        st->p_rows = xrealloc(st->p_rows, cap * sizeof *st->p_rows);
        st->p_img = xrealloc(st->p_img, cap * D);
        st->p_lab = xrealloc(st->p_lab, cap * sizeof *st->p_lab);
        st->p_cap = cap;
    }
    memcpy(st->p_rows + st->p_n, rows, n * sizeof *rows);
    memcpy(st->p_img + st->p_n * D, img, n * D);
    memcpy(st->p_lab + st->p_n, lab, n * sizeof *lab);
    st->p_n += n;
}


/* Everything the stages of the job share. */
typedef struct {
    Args a;
    int P, T;
    Source src;
    int64_t *seeds, n_seeds;
    UNetConfig uc;
    Schedule sched;
    Setting *st;
    int ns;
    NetCtx nc;
    size_t D;
    SamplesFile sf;
    hid_t fapl, dxpl;
    int64_t total_rows, total_todo;
    Farm farm;
} SampleJob;

/* Rank 0 checks every input and loads the weights, then every rank builds the same
 * settings and networks. Nothing is written. */
static void job_setup(SampleJob *j)
{
    Args *a = &j->a;
    char err[1024];
    Source *src = &j->src;
    if (dist_is_root()) {
        if (a->batch < 1) ddm_die("--batch %d: must be >= 1", a->batch);
        if (a->items_per_rank < 1) ddm_die("--items-per-rank %d: must be >= 1", a->items_per_rank);
        if (!(a->progress_every >= 0)) ddm_die("--progress-every: must be >= 0");
        if (seeds_parse(a->seeds, &j->seeds, &j->n_seeds, err, sizeof err)) ddm_die("%s", err);
        if (a->sweep) src->sweep_text = read_text(a->sweep);
        if (a->grid && strlen(a->grid) > 4 && strcmp(a->grid + strlen(a->grid) - 4, ".png"))
            ddm_die("--grid %s: want a .png file name", a->grid);
        check_out_folder(a->out);
        char *resolved = ckpt_resolve(a->ckpt);
        char *abs = realpath(resolved, NULL);
        src->ckpt_path = abs ? abs : xstrdup(resolved);
        free(resolved);
        CkptMeta meta;
        memset(&meta, 0, sizeof meta);
        ckpt_read_meta(src->ckpt_path, &meta);
        if (!meta.config_text || !meta.config_text[0])
            ddm_die("%s: the checkpoint holds no config text", src->ckpt_path);
        src->config_text = xstrdup(meta.config_text);
        src->ckpt_step = meta.step;
        ckpt_meta_free(&meta);
    }
    bcast_str(&src->sweep_text);
    bcast_str(&src->config_text);
    bcast_str(&src->ckpt_path);
    dist_bcast(&src->ckpt_step, sizeof src->ckpt_step, 0);

    DdmConfig cfg;
    config_defaults(&cfg);
    if (config_parse_text(&cfg, src->config_text, src->ckpt_path, err, sizeof err))
        ddm_die("%s", err);
    if (cfg.train.task != TASK_DIFFUSION)
        ddm_die("%s: is a checkpoint of the evaluation classifier (train.task = classifier), "
                "not of a diffusion model", src->ckpt_path);
    if (dist_is_root()) choose_weights(a, src->ckpt_path, &cfg, src);
    dist_bcast(&src->ema_rate, sizeof src->ema_rate, 0);
    config_to_unet(&cfg, &j->uc);
    const char *uerr = unet_config_check(&j->uc);
    if (uerr) ddm_die("%s: model config: %s", src->ckpt_path, uerr);
    SchedConfig scfg;
    config_to_sched(&cfg, &scfg);
    sched_init(&j->sched, &scfg);
    char weights_word[64];
    if (src->ema_rate < 0) {
        snprintf(weights_word, sizeof weights_word, "raw");
    } else {
        char r[32];
        ckpt_ema_name(r, sizeof r, src->ema_rate);
        snprintf(weights_word, sizeof weights_word, "ema:%s", r);
    }
    ModelFacts mf = {&j->sched, j->uc.num_classes, weights_word};
    /* rank 0 first, so an error is printed once; the others follow the same path */
    if (dist_is_root() && settings_build(a, src->sweep_text, &mf, &j->st, &j->ns, err, sizeof err))
        ddm_die("%s", err);
    dist_barrier();
    if (!dist_is_root()) {
        if (settings_build(a, src->sweep_text, &mf, &j->st, &j->ns, err, sizeof err))
            ddm_die("%s", err);
        if (seeds_parse(a->seeds, &j->seeds, &j->n_seeds, err, sizeof err)) ddm_die("%s", err);
    }

    /* the weights: rank 0 reads them, every rank gets them */
    UNet *probe = unet_init(&j->uc, 1, 0);
    const size_t np = unet_num_params(probe);
    float *weights = xalloc_floats(np);
    if (dist_is_root())
        ckpt_load_weights(src->ckpt_path, unet_tensor(probe, 0), unet_num_tensors(probe), weights,
                          src->ema_rate, NULL);
    bcast_floats(weights, np);
    unet_free(probe);
    j->T = ddm_threads();
    netslots_init(&j->nc.slots, &j->uc, weights, j->T);
    free(weights);
    j->D = j->nc.slots.D;
}

static void print_header(const SampleJob *j)
{
    const Args *a = &j->a;
    const UNetConfig *uc = &j->uc;
    char wdesc[64];
    if (j->src.ema_rate < 0) snprintf(wdesc, sizeof wdesc, "raw weights");
    else snprintf(wdesc, sizeof wdesc, "EMA %.10g weights", j->src.ema_rate);
    printf("ddm sample: %s (step %lld, %s), %s model, %d setting%s x %lld seed%s = %lld images "
           "of %dx%dx%d; %d rank%s x %d thread%s, batch %d\n",
           j->src.ckpt_path, (long long)j->src.ckpt_step, wdesc,
           sched_process_name(j->sched.cfg.process), j->ns, j->ns > 1 ? "s" : "",
           (long long)j->n_seeds, j->n_seeds > 1 ? "s" : "", (long long)j->total_rows, uc->in_ch,
           uc->image_size, uc->image_size, j->P, j->P > 1 ? "s" : "", j->T, j->T > 1 ? "s" : "",
           a->batch);
    for (int i = 0; i < j->ns; i++) {
        const Setting *st = &j->st[i];
        char desc[512], cls[64] = "";
        sampler_config_describe(&st->sc, &j->sched, desc, sizeof desc);
        if (st->label_mode == LABELS_FIXED) snprintf(cls, sizeof cls, ", class %d", st->class_label);
        if (st->label_mode == LABELS_PER_SEED)
            snprintf(cls, sizeof cls, ", class = seed %% %d", uc->num_classes);
        if (st->label_mode == LABELS_NULL) snprintf(cls, sizeof cls, ", no class (null label)");
        printf("  %-20s %s, %lld NFE per image%s\n", st->name, desc, st->nfe, cls);
    }
    if (a->batch % NET_SLOTS)
        printf("ddm sample: note: --batch %d is not a multiple of %d: some network calls run with "
               "empty slots\n", a->batch, NET_SLOTS);
    if (j->T > 1 && a->batch < NET_SLOTS * j->T)
        printf("ddm sample: note: --batch %d makes %d network calls per step for %d threads; "
               "--batch %d keeps every thread busy\n",
               a->batch, (a->batch + NET_SLOTS - 1) / NET_SLOTS, j->T, NET_SLOTS * j->T);
    if (j->total_todo == 0)
        printf("ddm sample: nothing to do: all %lld images are in %s\n", (long long)j->total_rows,
               a->out);
    else if (j->total_todo < j->total_rows)
        printf("ddm sample: resuming %s: %lld of %lld images already done; making the %lld "
               "missing\n", a->out, (long long)(j->total_rows - j->total_todo),
               (long long)j->total_rows, (long long)j->total_todo);
    fflush(stdout);
}

/* Collective: create or reopen the samples file and its groups; the rows to do. */
static void job_open(SampleJob *j)
{
    const int exists = h5par_exists(j->a.out);
    if (!exists) {
        g_created = j->a.out;
        ddm_set_cleanup_hook(remove_created);
    }
    j->fapl = h5par_fapl();
    j->dxpl = h5par_dxpl_collective();
    SamplesSource ss = {j->src.ckpt_path, j->src.ckpt_step, j->src.config_text};
    samples_open(&j->sf, j->a.out, exists, &ss, j->fapl, j->dxpl, dist_is_root());
    const int C = j->uc.in_ch, S = j->uc.image_size;
    j->total_rows = j->n_seeds * j->ns;
    j->total_todo = 0;
    for (int i = 0; i < j->ns; i++) {
        Setting *st = &j->st[i];
        st->ntodo = samples_group_open(&st->g, &j->sf, st->name, &st->set, j->seeds, j->n_seeds,
                                       C, S, S, &st->todo);
        j->total_todo += st->ntodo;
    }
    if (dist_is_root()) print_header(j);
}

/* One item's images: labels from the setting and the seeds, then the sampler. */
typedef struct {
    float *x;
    uint8_t *img;
    uint64_t *seeds;
    int *lab;        /* what the network gets */
    int32_t *slab;   /* what the file gets: -1 = none */
    int64_t *rows;
    int64_t nonfinite;
} ItemBuf;

static void make_item(SampleJob *j, ItemBuf *b, Denoiser *model, const FarmItem *item)
{
    Setting *s = &j->st[item->group];
    const int B = item->count, nc = j->uc.num_classes;
    for (int k = 0; k < B; k++) {
        int64_t row = s->todo[item->first + k], seed = j->seeds[row];
        b->rows[k] = row;
        b->seeds[k] = (uint64_t)seed;
        switch (s->label_mode) {
        case LABELS_NULL: b->lab[k] = nc; b->slab[k] = -1; break;
        case LABELS_FIXED: b->lab[k] = b->slab[k] = s->class_label; break;
        case LABELS_PER_SEED: b->lab[k] = b->slab[k] = (int)(seed % nc); break;
        default: b->lab[k] = 0; b->slab[k] = -1; break;
        }
    }
    farm_busy_begin(&j->farm);
    sampler_run(&s->sc, &j->sched, model, b->x, b->seeds,
                s->label_mode == LABELS_NONE ? NULL : b->lab, B);
    const size_t n = (size_t)B * j->D;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(b->x[i])) b->nonfinite++;
    sampler_to_uint8(b->img, b->x, n);
    farm_busy_end(&j->farm);
    pending_add(s, b->rows, b->img, b->slab, (size_t)B, j->D);
    farm_done(&j->farm, B, (int64_t)s->nfe * B);
}

/* The rounds. Returns 1 when a signal stopped the job before the end. */
static int job_run(SampleJob *j, int64_t *nonfinite)
{
    Args *a = &j->a;
    int64_t *todo_count = xcalloc((size_t)j->ns, sizeof *todo_count);
    int64_t *nfe_img = xcalloc((size_t)j->ns, sizeof *nfe_img);
    for (int i = 0; i < j->ns; i++) {
        todo_count[i] = j->st[i].ntodo;
        nfe_img[i] = j->st[i].nfe;
    }
    farm_plan(&j->farm, j->ns, todo_count, nfe_img, a->batch, a->items_per_rank, j->P);
    free(todo_count);
    free(nfe_img);
    if (dist_is_root() && j->farm.n_rounds > 0) {
        printf("ddm sample: %lld work items in %lld rounds\n", (long long)j->farm.n_items,
               (long long)j->farm.n_rounds);
        fflush(stdout);
    }
    NetCtx *nc = &j->nc;
    nc->farm = &j->farm;
    nc->report = dist_is_root();
    nc->every = a->progress_every;
    nc->done_before = j->total_rows - j->total_todo;
    nc->total = j->total_rows;
    nc->slots.between = net_between;
    nc->slots.between_ctx = nc;
    Denoiser model;
    netslots_denoiser(&model, &nc->slots, &j->sched);
    ItemBuf b;
    memset(&b, 0, sizeof b);
    const size_t bn = (size_t)a->batch;
    b.x = xalloc_floats(bn * j->D);
    b.img = xmalloc(bn * j->D);
    b.seeds = xmalloc(sizeof *b.seeds * bn);
    b.lab = xmalloc(sizeof *b.lab * bn);
    b.slab = xmalloc(sizeof *b.slab * bn);
    b.rows = xmalloc(sizeof *b.rows * bn);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    int stopped = 0;
    farm_start(&j->farm);
    progress_start(&nc->prog, (long)nc->done_before);
    nc->last = ddm_now();
    for (int64_t r = 0; r < j->farm.n_rounds; r++) {
        int64_t it;
        while (farm_next(&j->farm, r, &it)) {
            make_item(j, &b, &model, &j->farm.items[it]);
            farm_poll(&j->farm);
        }
        /* the round's collective writes: every setting the round touched, in order */
        for (int g = 0; g < j->ns; g++) {
            Setting *s = &j->st[g];
            if (!farm_round_has_group(&j->farm, r, g)) continue;
            samples_write_rows(&s->g, s->p_rows, s->p_n, s->p_img, s->p_lab);
            s->p_n = 0;
        }
        g_created = NULL; /* the file holds finished images now: never delete it */
        print_progress(nc, r + 1 == j->farm.n_rounds);
        if (dist_any(g_stop_signal != 0)) {
            stopped = r + 1 < j->farm.n_rounds;
            break;
        }
    }
    farm_finish(&j->farm);
    g_created = NULL;
    ddm_set_cleanup_hook(NULL);
    *nonfinite = b.nonfinite;
    free(b.x); free(b.img); free(b.seeds); free(b.lab); free(b.slab); free(b.rows);
    denoiser_free(&model);
    return stopped;
}

/* Collective: the summary line (rank 0), with the busy fraction of every rank. */
static void job_summary(SampleJob *j, int stopped, int64_t nonfinite, double *made)
{
    Farm *f = &j->farm;
    double fr_min = 0, fr_mean = 0;
    double *frac = dist_is_root() ? xcalloc((size_t)j->P, sizeof(double)) : NULL;
    farm_busy_fractions(f, frac, &fr_min, &fr_mean);
    double sums[3] = {(double)f->my_images, (double)f->my_nfe, (double)nonfinite};
    dist_allreduce_sum_d(sums, 3);
    *made = sums[0];
    if (j->a.verbose)
        printf("rank %d: %lld items, %lld images, busy %.2fs of %.2fs (%.3f), waited %.3fs for "
               "items\n", dist_rank(), (long long)f->my_items, (long long)f->my_images, f->busy,
               f->wall, f->wall > 0 ? f->busy / f->wall : 0, f->wait);
    if (dist_is_root()) {
        if (sums[2] > 0)
            ddm_warn("%.0f pixel values were NaN or infinite (written as 0): the model or the "
                     "sampler settings diverge", sums[2]);
        if (f->n_rounds > 0) {
            char d[32], per[1024] = "";
            format_duration(f->wall, d, sizeof d);
            size_t off = 0;
            for (int i = 0; i < j->P && i < 64 && off < sizeof per; i++)
                off += (size_t)snprintf(per + off, sizeof per - off, "%s%.3f", i ? " " : "",
                                        frac[i]);
            printf("ddm sample: %s %.0f images in %s: %.2f img/s, %.1f NFE/s, busy fraction min "
                   "%.3f mean %.3f (per rank: %s%s)\n", stopped ? "stopped after" : "done:",
                   sums[0], d, f->wall > 0 ? sums[0] / f->wall : 0,
                   f->wall > 0 ? sums[1] / f->wall : 0, fr_min, fr_mean, per,
                   j->P > 64 ? " ..." : "");
        }
        fflush(stdout);
    }
    free(frac);
}

int job_sample(int argc, char **argv)
{
    dist_init(&argc, &argv);
    cli_quiet = !dist_is_root();
    SampleJob j;
    memset(&j, 0, sizeof j);
    Args a;
    memset(&a, 0, sizeof a);
    a.batch = 64;
    a.items_per_rank = 4;
    a.progress_every = 5;
    const CliOpt opts[] = {
        {"ckpt", CLI_STR, &a.ckpt, "RUN_DIR|CKPT.h5", "checkpoint file, or a run folder (its newest checkpoint)", 1},
        {"out", CLI_STR, &a.out, "FILE.h5", "samples file; when it exists, only its unfinished images are made", 1},
        {"seeds", CLI_STR, &a.seeds, "A-B[,C-D...]", "seeds, inclusive ranges or single numbers: one image per seed and setting", 1},
        {"sampler", CLI_STR, &a.sampler, "NAME", "ddpm, ddim, langevin, pc, ode or dpmpp2m (default ddim on vp models, ode on ve)", 0},
        {"steps", CLI_STR, &a.steps, "N", "sampler steps (default: ddpm T, ddim 50, pc T or L, langevin L, ode 18, dpmpp2m 20)", 0},
        {"eta", CLI_STR, &a.eta, "E", "ddim: 0 = deterministic .. 1 = DDPM-like (default 0)", 0},
        {"skip", CLI_STR, &a.skip, "uniform|quadratic", "timestep subsequence of ddpm, ddim, pc on vp (default uniform)", 0},
        {"sigma2", CLI_STR, &a.sigma2, "beta|beta_tilde", "ddpm reverse variance (default beta)", 0},
        {"eps", CLI_STR, &a.eps, "E", "langevin step scale at sigma_min (default 6.2e-6)", 0},
        {"steps-per-level", CLI_STR, &a.spl, "N", "langevin steps per noise level (default 5)", 0},
        {"snr", CLI_STR, &a.snr, "R", "pc corrector signal-to-noise ratio (default 0.16)", 0},
        {"corrector-steps", CLI_STR, &a.corr, "M", "pc corrector steps per level (default 1)", 0},
        {"predictor", CLI_STR, &a.predictor, "NAME", "pc predictor: reverse_diffusion, euler_maruyama or none (default reverse_diffusion)", 0},
        {"rho", CLI_STR, &a.rho, "R", "ode, dpmpp2m: Karras sigma spacing exponent (default 7)", 0},
        {"sigma-max", CLI_STR, &a.sigma_max, "S", "ode, dpmpp2m: start at min(S, the schedule's sigma_max) (default 80; 0 = the schedule's)", 0},
        {"denoise", CLI_STR, &a.denoise, "0|1", "langevin, pc: finish with a noise-free step (default 1)", 0},
        {"clip", CLI_STR, &a.clip, "0|1", "ddpm, ddim: clip the predicted x0 to [-1,1] (default 1)", 0},
        {"guidance", CLI_STR, &a.guidance, "W", "classifier-free guidance weight w (default 0 = off; needs a class)", 0},
        {"class", CLI_STR, &a.cls, "K", "class of every image, 0..num_classes-1 (default: none, the null label)", 0},
        {"class-per-seed", CLI_FLAG, &a.class_per_seed, NULL, "class of each image = its seed % num_classes", 0},
        {"batch", CLI_INT, &a.batch, "N", "images of one setting per work item; multiples of 8 fill the network's 8-image calls (default 64)", 0},
        {"weights", CLI_STR, &a.weights, "ema|raw", "EMA weights (default) or the raw trained ones", 0},
        {"ema-rate", CLI_STR, &a.ema_rate, "R", "which EMA copy (default: the first rate of train.ema, else the largest)", 0},
        {"sweep", CLI_STR, &a.sweep, "FILE.ini", "several settings, one INI section each (see above)", 0},
        {"grid", CLI_STR, &a.grid, "FILE.png", "PNG grid of the first 64 images, or with --class-per-seed one class per row, 10 a row (several settings: FILE-GROUP.png; default OUT without .h5 + -GROUP.png)", 0},
        {"threads", CLI_INT, &a.threads, "T", "threads per rank (default 0 = what the rank may use)", 0},
        {"items-per-rank", CLI_INT, &a.items_per_rank, "N", "work items per rank in a round, the unit of writing and resuming (default 4)", 0},
        {"progress-every", CLI_DOUBLE, &a.progress_every, "S", "at most one progress line per S seconds (default 5; 0 = one after every round)", 0},
        {"verbose", CLI_FLAG, &a.verbose, NULL, "every rank prints its own summary line", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    if (cli_parse("sample", SYNOPSIS, DESCRIPTION, opts, argc, argv, NULL, NULL)) {
        dist_finalize();
        return 0;
    }
    j.a = a;
    j.P = dist_size();
    ddm_set_threads(a.threads);

    job_setup(&j);
    job_open(&j);
    int64_t nonfinite = 0;
    double made = 0;
    const int stopped = job_run(&j, &nonfinite);
    job_summary(&j, stopped, nonfinite, &made);
    for (int i = 0; i < j.ns; i++) samples_group_close(&j.st[i].g);
    samples_close(&j.sf);
    h5par_close(j.dxpl);
    h5par_close(j.fapl);

    int exit_code = 0;
    if (stopped) {
        if (dist_is_root()) {
            printf("ddm sample: signal received: the round was written (%lld of %lld images in "
                   "%s); exiting with status %d so the job is requeued\n",
                   (long long)(j.total_rows - j.total_todo + (int64_t)made),
                   (long long)j.total_rows, a.out, SAMPLE_EXIT_REQUEUE);
            fflush(stdout);
        }
        exit_code = SAMPLE_EXIT_REQUEUE;
    } else if (dist_is_root()) {
        write_grids(a.out, a.grid, j.st, j.ns, j.n_seeds, j.uc.in_ch, j.uc.image_size,
                    j.uc.image_size, j.uc.num_classes);
        fflush(stdout);
    }
    dist_barrier();

    for (int i = 0; i < j.ns; i++) {
        Setting *s = &j.st[i];
        free(s->todo); free(s->p_rows); free(s->p_img); free(s->p_lab);
    }
    free(j.st);
    farm_free(&j.farm);
    netslots_free(&j.nc.slots);
    sched_free(&j.sched);
    free(j.seeds);
    free(j.src.ckpt_path); free(j.src.config_text); free(j.src.sweep_text);
    dist_finalize();
    return exit_code;
}
