/* Feature extractors (io/features.h). */
#define _GNU_SOURCE /* realpath, st_mtim */
#include "io/features.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/common.h"
#include "core/strbuf.h"
#include "io/h5.h"
#include "io/inception_io.h"

uint64_t features_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static void parse_classifier(FeatExtractor *e, const char *path, double ema)
{
    e->kind = FEAT_CLASSIFIER;
    ModelLoadOptions o = {ema > 0 ? "ema" : "raw", ema, TASK_CLASSIFIER, NULL, 1};
    model_load(&e->model, path, &o);
    const char *ckpt = e->model.path;
    e->C = e->model.clf.in_ch;
    e->S = e->model.clf.image_size;
    e->d = e->model.clf.feat_dim;
    e->k = e->model.clf.num_classes;
    struct stat st;
    if (stat(ckpt, &st) != 0) ddm_die("%s: %s", ckpt, strerror(errno));
    char wts[48];
    if (e->model.ema_rate >= 0) snprintf(wts, sizeof wts, "ema-%.10g", e->model.ema_rate);
    else snprintf(wts, sizeof wts, "model");
    e->key = strbuf_printf("classifier:%s step=%lld weights=%s mtime=%lld.%09ld", ckpt, (long long)e->model.step, wts,
                        (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    snprintf(e->tag, sizeof e->tag, "classifier-%08llx", (unsigned long long)(features_hash(e->key) & 0xffffffffu));
    e->desc = strbuf_printf("classifier %s (step %lld, %s weights, %d features, %d classes)", ckpt,
                         (long long)e->model.step, wts, e->d, e->k);
}

static void parse_inception(FeatExtractor *e, const char *path)
{
    e->kind = FEAT_INCEPTION;
    e->weights = realpath(path, NULL);
    if (!e->weights) ddm_die("%s: %s", path, strerror(errno));
    hid_t f = h5_open(e->weights, H5F_ACC_RDONLY, H5P_DEFAULT);
    h5_require_kind(f, e->weights, INCEPTION_KIND);
    h5_close(f);
    struct stat st;
    if (stat(e->weights, &st) != 0) ddm_die("%s: %s", e->weights, strerror(errno));
    e->d = INCEPTION_DIM;
    e->k = 0; /* the file's fc logits are not used: no Inception Score */
    e->key = strbuf_printf("inception:%s size=%lld mtime=%lld.%09ld", e->weights, (long long)st.st_size,
                        (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    snprintf(e->tag, sizeof e->tag, "inception-%08llx", (unsigned long long)(features_hash(e->key) & 0xffffffffu));
    e->desc = strbuf_printf("inception %s (pool3, %d features, images resized to %dx%d)", e->weights, INCEPTION_DIM,
                         INCEPTION_SIZE, INCEPTION_SIZE);
}

void features_parse(FeatExtractor *e, const char *spec, double ema)
{
    memset(e, 0, sizeof *e);
    if (!strcmp(spec, "pixels")) {
        if (ema >= 0) ddm_die("--ema is for the classifier extractor, not for pixels");
        e->kind = FEAT_PIXELS;
        e->key = xstrdup("pixels");
        snprintf(e->tag, sizeof e->tag, "pixels");
        e->desc = xstrdup("pixels");
        return;
    }
    const char *colon = strchr(spec, ':');
    size_t sl = colon ? (size_t)(colon - spec) : strlen(spec);
    if (sl == 10 && !strncmp(spec, "classifier", 10)) {
        if (!colon || !colon[1])
            ddm_die("--features %s: give the classifier as classifier:CKPT.h5 or classifier:RUN_DIR", spec);
        parse_classifier(e, colon + 1, ema);
        return; /* the network is built by features_load */
    }
    if (sl == 9 && !strncmp(spec, "inception", 9)) {
        if (!colon || !colon[1])
            ddm_die("--features %s: give the weights file as inception:WEIGHTS.h5 (made by "
                    "tests/ref/convert_inception.py from pytorch-fid's weights)", spec);
        if (ema >= 0) ddm_die("--ema is for the classifier extractor, not for inception");
        parse_inception(e, colon + 1);
        return; /* the network is loaded by features_load */
    }
    ddm_die("--features %s: unknown feature scheme '%.*s' (known: classifier:CKPT.h5|RUN_DIR, pixels, "
            "inception:WEIGHTS.h5)", spec, (int)sl, spec);
}

void features_load(FeatExtractor *e)
{
    if (e->kind == FEAT_INCEPTION) e->inc = inception_load(e->weights);
    if (e->kind != FEAT_CLASSIFIER) return;
    if (!e->model.weights) model_load_weights(&e->model); /* else given (mpi/model_bcast) */
    e->net = classifier_init(&e->model.clf, FEATURES_BLOCK, 0);
    memcpy(classifier_params(e->net), e->model.weights, sizeof(float) * e->model.n_params);
    free(e->model.weights);
    e->model.weights = NULL;
    e->d = classifier_config(e->net)->feat_dim;
    e->x = xalloc_floats((size_t)FEATURES_BLOCK * e->C * e->S * e->S);
}

void features_free(FeatExtractor *e)
{
    if (e->net) classifier_free(e->net);
    if (e->inc) inception_free(e->inc);
    model_load_free(&e->model);
    free(e->weights);
    free(e->x);
    free(e->key);
    free(e->desc);
}

void features_check_images(const FeatExtractor *e, const char *what, int c, int h, int w)
{
    if (e->kind == FEAT_INCEPTION && c != 1 && c != 3)
        ddm_die("%s: images have %d channels, the Inception network takes 1 (gray, repeated) or 3", what, c);
    if (e->kind != FEAT_CLASSIFIER) return;
    if (c != e->C)
        ddm_die("%s: images have %d channel%s, the classifier %s takes %d", what, c, c == 1 ? "" : "s",
                e->model.path, e->C);
    if (h > e->S || w > e->S)
        ddm_die("%s: images are %dx%d, the classifier %s takes at most %dx%d (smaller ones are padded; "
                "ddm eval does not downscale)", what, h, w, e->model.path, e->S, e->S);
}

void features_check_pair(const FeatExtractor *e, const char *sname, int sc, int sh, int sw, const char *rname,
                       int rc, int rh, int rw)
{
    if (rc > 0 && sc != rc)
        ddm_die("%s has %d-channel images, the reference %s has %d-channel images: they cannot be compared",
                sname, sc, rname, rc);
    if (e->kind == FEAT_PIXELS && rh > 0 && (sh != rh || sw != rw))
        ddm_die("%s has %dx%d images, the reference %s has %dx%d: --features pixels needs equal sizes "
                "(the classifier extractor pads smaller images; or prep the reference with --pad/--resize)",
                sname, sh, sw, rname, rh, rw);
    features_check_images(e, sname, sc, sh, sw);
    if (rc > 0) features_check_images(e, rname, rc, rh, rw);
}

void features_run(FeatExtractor *e, const uint8_t *img, int B, int C, int H, int W, float *feat, float *probs)
{
    if (e->kind == FEAT_PIXELS) {
        const size_t n = (size_t)B * C * H * W;
        for (size_t i = 0; i < n; i++) feat[i] = (float)img[i] * (1.0f / 255.0f);
        return;
    }
    if (e->kind == FEAT_INCEPTION) {
        inception_features(e->inc, feat, img, B, C, H, W);
        return;
    }
    classifier_input_u8(e->x, img, B, C, H, W, e->S);
    classifier_eval(e->net, feat, probs, e->x, B);
}
