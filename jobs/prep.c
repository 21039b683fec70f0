/* ddm prep: import a dataset (Fashion-MNIST, IDX files, a folder of PNGs) into a dataset
 * HDF5 file. One process does the work (rank 0); under mpirun the other ranks wait. The
 * output is written to FILE.h5.tmp-PID and renamed into place; on any error the
 * temporary is removed, so FILE.h5 is either complete or untouched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/pixels.h"
#include "core/progress.h"
#include "core/resize.h"
#include "io/dataset.h"
#include "io/fsio.h"
#include "io/import.h"
#include "jobs/cli.h"
#include "jobs/jobs.h"
#include "mpi/dist.h"

#define BLOCK 256 /* images per write */

/* ---- the job ------------------------------------------------------------------------ */

static const char SYNOPSIS[] = "--from SRC --out FILE.h5 [--split train|test] [--pad N] "
                               "[--resize N] [--limit N] [--degrade F]";
static const char DESCRIPTION[] =
    "Import a dataset into a ddm dataset file (/images uint8 [N,C,H,W], /labels int32 [N]).\n"
    "SRC is one of:\n"
    "  fashion-mnist          Debian's dataset-fashion-mnist (" IMPORT_FMNIST_DIR ",\n"
    "                         or the folder in $DDM_FASHION_MNIST); 10 named classes\n"
    "  idx:IMAGES[,LABELS]    MNIST-format IDX files, gzipped or not; classes = max label + 1\n"
    "  png-dir:DIR            a folder of PNGs; with sub-folders, each sub-folder is a class\n"
    "                         (sorted by name; class_names = folder names). 1 channel when\n"
    "                         every PNG is gray, else 3 (RGB; alpha dropped)\n"
    "  noise:N[,CxHxW]        N images of uniform random bytes (default 1x32x32; the same\n"
    "                         every time): the ceiling of FID and friends, via ddm eval\n"
    "  mask:KIND,N[,CxHxW]    N inpainting masks for ddm sample --task repaint --mask (255 =\n"
    "                         known, 0 = to fill): centre (the centre square), half (the\n"
    "                         right half) or strokes (4 random strokes, the same every time)\n"
    "Each image is resized first (--resize), then padded (--pad), then degraded (--degrade:\n"
    "the SR3 condition, block mean by F and bicubic back up; as a dataset, the bicubic\n"
    "baseline of super-resolution for ddm eval). Runs on one process\n"
    "(rank 0); the output appears only when complete.";

int job_prep(int argc, char **argv)
{
    if (!dist_root_only(&argc, &argv)) return 0; /* one process imports; a failure aborts all */
    char *from = NULL, *out = NULL, *split = "train";
    int pad = 0, resize = 0, degrade = 0;
    long limit = 0;
    const CliOpt opts[] = {
        {"from", CLI_STR, &from, "SRC", "what to import: fashion-mnist, idx:IMAGES[,LABELS], png-dir:DIR, noise:N[,CxHxW], mask:KIND,N[,CxHxW]", 1},
        {"out", CLI_STR, &out, "FILE.h5", "the dataset file to write (replaced atomically)", 1},
        {"split", CLI_STR, &split, "train|test", "fashion-mnist split: train (60000) or test (10000); default train", 0},
        {"pad", CLI_INT, &pad, "N", "zero pixels added on each side, e.g. 28->32 with 2; default 0", 0},
        {"resize", CLI_INT, &resize, "N", "resize to NxN pixels, bilinear (half-pixel centres, no antialias); default 0 = keep", 0},
        {"limit", CLI_LONG, &limit, "N", "keep only the first N images; default 0 = all", 0},
        {"degrade", CLI_INT, &degrade, "F", "write each image degraded as SR3's condition: mean over FxF blocks, then bicubic back to full size (F divides the size after --resize/--pad); default 0 = off", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    if (cli_parse("prep", SYNOPSIS, DESCRIPTION, opts, argc, argv, NULL, NULL)) return dist_finish(0);
    if (pad < 0 || pad > 4096) ddm_die("ddm prep: --pad must be 0..4096 pixels, not %d", pad);
    if (resize < 0 || resize > 16384)
        ddm_die("ddm prep: --resize must be 1..16384 pixels (0: keep), not %d", resize);
    if (degrade < 0 || degrade == 1)
        ddm_die("ddm prep: --degrade must be >= 2 (0: off), not %d", degrade);
    if (limit < 0) ddm_die("ddm prep: --limit must be >= 0 (0: all), not %ld", limit);
    if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0)
        ddm_die("ddm prep: --split must be train or test, not '%s'", split);
    int is_fm = strcmp(from, "fashion-mnist") == 0;
    int is_idx = strncmp(from, "idx:", 4) == 0, is_png = strncmp(from, "png-dir:", 8) == 0;
    int is_noise = strncmp(from, "noise:", 6) == 0 || strncmp(from, "mask:", 5) == 0;
    if (!is_fm && !is_idx && !is_png && !is_noise)
        ddm_die("ddm prep: --from '%s': unknown source (fashion-mnist, idx:IMAGES[,LABELS], "
                "png-dir:DIR, noise:N[,CxHxW], mask:KIND,N[,CxHxW])",
                from);
    for (int i = 1; i < argc; i++)
        if (!is_fm && (strcmp(argv[i], "--split") == 0 || strncmp(argv[i], "--split=", 8) == 0))
            ddm_die("ddm prep: --split is only for --from fashion-mnist");
    if ((is_idx && !from[4]) || (is_png && !from[8]))
        ddm_die("ddm prep: --from '%s': the path is missing", from);

    if (is_idx) { /* replacing its own input (issue 16) */
        char *p = xstrdup(from + 4), *c = strchr(p, ',');
        if (c) {
            *c = '\0';
            fsio_refuse_overwrite("ddm prep", out, c + 1, "the labels input");
        }
        fsio_refuse_overwrite("ddm prep", out, p, "the images input");
        free(p);
    }
    char *tmp = fsio_claim_tmp(out); /* an unwritable output fails before any reading */
    double t0 = ddm_now();
    ImportSource src;
    import_open(&src, from, split, (size_t)limit, resize);

    int rh = resize ? resize : src.h, rw = resize ? resize : src.w;
    int C = src.c, H = rh + 2 * pad, W = rw + 2 * pad;
    if (degrade && (H % degrade || W % degrade)) {
        import_free(&src);
        ddm_die("ddm prep: --degrade %d must divide the image size %dx%d (after --resize/--pad)",
                degrade, H, W);
    }
    {
        char extra[128] = "";
        size_t off = 0;
        if (resize) off += (size_t)snprintf(extra + off, sizeof extra - off, "; resize %d", resize);
        if (pad) off += (size_t)snprintf(extra + off, sizeof extra - off, "; pad %d", pad);
        if (limit) off += (size_t)snprintf(extra + off, sizeof extra - off, "; limit %ld", limit);
        if (degrade)
            snprintf(extra + off, sizeof extra - off, "; degrade %d (SR3: block mean, bicubic up)",
                     degrade);
        size_t n = strlen(src.source) + strlen(extra) + 1;
        src.source = xrealloc(src.source, n);
        strcat(src.source, extra);
    }
    printf("prep: %s: %zu images, %dx%d -> %d x %d x %d, %d classes\n", from, src.n, src.w,
           src.h, C, H, W, src.classes);
    fflush(stdout);

    DatasetFile ds;
    dataset_create(&ds, tmp, src.n, C, H, W, src.labels != NULL);
    size_t img = (size_t)C * H * W;
    uint8_t *block = xmalloc(img * BLOCK);
    uint8_t *rs = xmalloc((size_t)C * rh * rw);
    float *fa = degrade ? xalloc_floats(img) : NULL, *fb = degrade ? xalloc_floats(img) : NULL;
    size_t *counts = xcalloc(src.classes > 0 ? (size_t)src.classes : 1, sizeof(size_t));
    Progress last;
    progress_start(&last, 0);
    for (size_t b0 = 0; b0 < src.n; b0 += BLOCK) {
        size_t nb = src.n - b0 < BLOCK ? src.n - b0 : BLOCK;
        for (size_t j = 0; j < nb; j++) {
            int h, w;
            uint8_t *raw = import_row(&src, b0 + j, &h, &w);
            const uint8_t *cur = raw;
            if (resize && (h != rh || w != rw)) {
                resize_bilinear_u8(rs, raw, C, h, w, rh, rw);
                cur = rs;
            }
            if (pad) dataset_pad(block + j * img, cur, C, rh, rw, pad);
            else memcpy(block + j * img, cur, img);
            if (degrade) { /* in data space, as the SR3 trainer and task degrade */
                pixels_from_uint8(fa, block + j * img, img);
                degrade_superres(fb, fa, C, H, W, degrade);
                pixels_to_uint8(block + j * img, fb, img);
            }
            free(raw);
        }
        if (src.labels)
            for (size_t j = 0; j < nb; j++) {
                int32_t l = src.labels[b0 + j];
                if (l < 0 || l >= src.classes)
                    ddm_die("%s: label %d of image %zu is outside 0..%d", from, l, b0 + j,
                            src.classes - 1);
                counts[l]++;
            }
        dataset_write_rows(&ds, b0, nb, block, src.labels ? src.labels + b0 : NULL);
        progress_report(&last, "prep: writing images", (long)(b0 + nb), (long)src.n, 2.0);
    }
    dataset_set_meta(&ds, src.classes, src.source, (const char *const *)src.class_names);
    dataset_close(&ds);
    fsio_commit(tmp, out);

    printf("prep: wrote %s: images uint8 [%zu,%d,%d,%d]", out, src.n, C, H, W);
    if (src.classes > 0) {
        size_t lo = (size_t)-1, hi = 0;
        for (int k = 0; k < src.classes; k++) {
            if (counts[k] < lo) lo = counts[k];
            if (counts[k] > hi) hi = counts[k];
        }
        printf(", %d classes (%zu..%zu images each)", src.classes, lo, hi);
    } else {
        printf(", no labels");
    }
    printf(", %.1f s\n", ddm_now() - t0);
    free(counts);
    free(rs);
    free(fa);
    free(fb);
    free(block);
    free(tmp);
    import_free(&src);
    return dist_finish(0);
}
