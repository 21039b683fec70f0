/* The small CNN classifier of core/classifier.h: forward, backward, loss, evaluation.
 *
 * B = batch, C = in_ch, S = image size, S2 = S/2, S3 = S/4 (rounded up: stride-2 convs
 * with padding 1), c1 = ch, c2 = 2ch, c3 = 4ch, G = groups, F = feat_dim, K = classes.
 */
#include "core/classifier.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/pixels.h"
#include "core/layers.h"
#include "core/rng.h"

#define CLS_MAX_TENSORS 16

/* one pointer per tensor, into the parameter block or the gradient block */
typedef struct {
    float *conv1_w; /* (c1, C, 3, 3) */
    float *conv1_b; /* (c1) */
    float *norm1_w, *norm1_b; /* (c1) */
    float *conv2_w; /* (c2, c1, 3, 3) */
    float *conv2_b; /* (c2) */
    float *norm2_w, *norm2_b; /* (c2) */
    float *conv3_w; /* (c3, c2, 3, 3) */
    float *conv3_b; /* (c3) */
    float *norm3_w, *norm3_b; /* (c3) */
    float *fc1_w;   /* (F, c3) */
    float *fc1_b;   /* (F) */
    float *fc2_w;   /* (K, F) */
    float *fc2_b;   /* (K) */
} ClsParams;

struct Classifier {
    ClassifierConfig cfg;
    int max_batch, training, last_B;
    int S, S2, S3;
    int n_tensors;
    ClassifierTensor tensors[CLS_MAX_TENSORS];
    size_t n_params;
    float *params, *grads;

    ClsParams p; /* pointers into params */
    ClsParams g; /* the same tensors in grads (NULL for an inference net) */

    /* activations, sized for max_batch */
    float *in;              /* (B, C, S, S) copy of the input */
    float *c1, *a1;         /* (B, c1, S, S) conv1 out, silu(gn(conv1 out)) */
    float *m1, *r1;         /* (B, G) */
    float *c2, *a2;         /* (B, c2, S2, S2) */
    float *m2, *r2;
    float *c3, *a3;         /* (B, c3, S3, S3) */
    float *m3, *r3;
    float *pool;            /* (B, c3) */
    float *h1;              /* (B, F) fc1 out before SiLU */
    float *feat;            /* (B, F) features */
    float *logits;          /* (B, K) for classifier_eval */
    float *scratch;         /* conv scratch */

    /* activation gradients (training nets only) */
    float *d_c1, *d_a1, *d_c2, *d_a2, *d_c3, *d_a3, *d_pool, *d_h1, *d_feat;
};

void classifier_config_default(ClassifierConfig *cfg)
{
    cfg->in_ch = 1;
    cfg->image_size = 32;
    cfg->num_classes = 10;
    cfg->ch = 32;
    cfg->groups = 8;
    cfg->feat_dim = 128;
}

const char *classifier_config_check(const ClassifierConfig *cfg)
{
    if (cfg->in_ch < 1 || cfg->in_ch > 64) return "in_ch must be in [1, 64]";
    if (cfg->image_size < 4 || cfg->image_size > 1024) return "image_size must be in [4, 1024]";
    if (cfg->num_classes < 2) return "num_classes must be at least 2";
    if (cfg->ch < 1 || cfg->feat_dim < 1) return "ch and feat_dim must be positive";
    if (cfg->groups < 1 || cfg->ch % cfg->groups != 0) return "ch must be a multiple of groups";
    return NULL;
}

static int half_size(int s) { return (s + 2 - 3) / 2 + 1; } /* 3x3, stride 2, pad 1 */

static void add_tensor(Classifier *net, const char *name, int ndim, int s0, int s1, int s2,
                         int s3)
{
    DDM_ASSERT(net->n_tensors < CLS_MAX_TENSORS, "classifier: too many tensors");
    ClassifierTensor *t = &net->tensors[net->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    int sh[4] = {s0, s1, s2, s3};
    t->size = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = sh[i];
        t->size *= (size_t)sh[i];
    }
    t->offset = net->n_params;
    net->n_params += t->size;
}

static void layout(Classifier *net)
{
    const ClassifierConfig *c = &net->cfg;
    const int c1 = c->ch, c2 = 2 * c->ch, c3 = 4 * c->ch;
    add_tensor(net, "conv1.weight", 4, c1, c->in_ch, 3, 3);
    add_tensor(net, "conv1.bias", 1, c1, 0, 0, 0);
    add_tensor(net, "norm1.weight", 1, c1, 0, 0, 0);
    add_tensor(net, "norm1.bias", 1, c1, 0, 0, 0);
    add_tensor(net, "conv2.weight", 4, c2, c1, 3, 3);
    add_tensor(net, "conv2.bias", 1, c2, 0, 0, 0);
    add_tensor(net, "norm2.weight", 1, c2, 0, 0, 0);
    add_tensor(net, "norm2.bias", 1, c2, 0, 0, 0);
    add_tensor(net, "conv3.weight", 4, c3, c2, 3, 3);
    add_tensor(net, "conv3.bias", 1, c3, 0, 0, 0);
    add_tensor(net, "norm3.weight", 1, c3, 0, 0, 0);
    add_tensor(net, "norm3.bias", 1, c3, 0, 0, 0);
    add_tensor(net, "fc1.weight", 2, c->feat_dim, c3, 0, 0);
    add_tensor(net, "fc1.bias", 1, c->feat_dim, 0, 0, 0);
    add_tensor(net, "fc2.weight", 2, c->num_classes, c->feat_dim, 0, 0);
    add_tensor(net, "fc2.bias", 1, c->num_classes, 0, 0, 0);
}

/* the tensor pointers of a block laid out as net->tensors (in the table's order) */
static void point_tensors(ClsParams *t, float *block, const Classifier *net)
{
    float **p[CLS_MAX_TENSORS] = {
        &t->conv1_w, &t->conv1_b, &t->norm1_w, &t->norm1_b,
        &t->conv2_w, &t->conv2_b, &t->norm2_w, &t->norm2_b,
        &t->conv3_w, &t->conv3_b, &t->norm3_w, &t->norm3_b,
        &t->fc1_w, &t->fc1_b, &t->fc2_w, &t->fc2_b,
    };
    for (int i = 0; i < net->n_tensors; i++) *p[i] = block + net->tensors[i].offset;
}

Classifier *classifier_init(const ClassifierConfig *cfg, int max_batch, int training)
{
    const char *why = classifier_config_check(cfg);
    if (why) ddm_die("classifier config: %s", why);
    DDM_ASSERT(max_batch > 0, "classifier_init: max_batch %d", max_batch);
    Classifier *net = xcalloc(1, sizeof *net);
    net->cfg = *cfg;
    net->max_batch = max_batch;
    net->training = training;
    net->S = cfg->image_size;
    net->S2 = half_size(net->S);
    net->S3 = half_size(net->S2);
    layout(net);
    net->params = xalloc_floats(net->n_params);
    memset(net->params, 0, sizeof(float) * net->n_params);
    if (training) {
        net->grads = xalloc_floats(net->n_params);
        memset(net->grads, 0, sizeof(float) * net->n_params);
    }
    point_tensors(&net->p, net->params, net);
    if (training) point_tensors(&net->g, net->grads, net);

    const size_t B = (size_t)max_batch, C = (size_t)cfg->in_ch, G = (size_t)cfg->groups;
    const size_t c1 = (size_t)cfg->ch, c2 = 2 * c1, c3 = 4 * c1, F = (size_t)cfg->feat_dim;
    const size_t P1 = (size_t)net->S * net->S, P2 = (size_t)net->S2 * net->S2,
                 P3 = (size_t)net->S3 * net->S3;
    net->in = xalloc_floats(B * C * P1);
    net->c1 = xalloc_floats(B * c1 * P1);
    net->a1 = xalloc_floats(B * c1 * P1);
    net->c2 = xalloc_floats(B * c2 * P2);
    net->a2 = xalloc_floats(B * c2 * P2);
    net->c3 = xalloc_floats(B * c3 * P3);
    net->a3 = xalloc_floats(B * c3 * P3);
    net->m1 = xalloc_floats(B * G);
    net->r1 = xalloc_floats(B * G);
    net->m2 = xalloc_floats(B * G);
    net->r2 = xalloc_floats(B * G);
    net->m3 = xalloc_floats(B * G);
    net->r3 = xalloc_floats(B * G);
    net->pool = xalloc_floats(B * c3);
    net->h1 = xalloc_floats(B * F);
    net->feat = xalloc_floats(B * F);
    net->logits = xalloc_floats(B * (size_t)cfg->num_classes);
    size_t sc = conv2d_scratch_floats(max_batch, cfg->in_ch, net->S, net->S, (int)c1, 3, 1, 1);
    size_t s2 = conv2d_scratch_floats(max_batch, (int)c1, net->S, net->S, (int)c2, 3, 2, 1);
    size_t s3 = conv2d_scratch_floats(max_batch, (int)c2, net->S2, net->S2, (int)c3, 3, 2, 1);
    if (s2 > sc) sc = s2;
    if (s3 > sc) sc = s3;
    net->scratch = xalloc_floats(sc ? sc : 1);
    if (training) {
        net->d_c1 = xalloc_floats(B * c1 * P1);
        net->d_a1 = xalloc_floats(B * c1 * P1);
        net->d_c2 = xalloc_floats(B * c2 * P2);
        net->d_a2 = xalloc_floats(B * c2 * P2);
        net->d_c3 = xalloc_floats(B * c3 * P3);
        net->d_a3 = xalloc_floats(B * c3 * P3);
        net->d_pool = xalloc_floats(B * c3);
        net->d_h1 = xalloc_floats(B * F);
        net->d_feat = xalloc_floats(B * F);
    }
    return net;
}

void classifier_free(Classifier *net)
{
    if (!net) return;
    float *bufs[] = {net->params, net->grads, net->in, net->c1, net->a1, net->c2, net->a2,
                     net->c3, net->a3, net->m1, net->r1, net->m2, net->r2, net->m3, net->r3,
                     net->pool, net->h1, net->feat, net->logits, net->scratch, net->d_c1,
                     net->d_a1, net->d_c2, net->d_a2, net->d_c3, net->d_a3, net->d_pool,
                     net->d_h1, net->d_feat};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(net);
}

const ClassifierConfig *classifier_config(const Classifier *net) { return &net->cfg; }
size_t classifier_num_params(const Classifier *net) { return net->n_params; }
float *classifier_params(Classifier *net) { return net->params; }
float *classifier_grads(Classifier *net) { return net->grads; }
int classifier_num_tensors(const Classifier *net) { return net->n_tensors; }

const ClassifierTensor *classifier_tensor(const Classifier *net, int i)
{
    DDM_ASSERT(i >= 0 && i < net->n_tensors, "classifier_tensor: index %d of %d", i,
               net->n_tensors);
    return &net->tensors[i];
}

const ClassifierTensor *classifier_find_tensor(const Classifier *net, const char *name)
{
    for (int i = 0; i < net->n_tensors; i++)
        if (strcmp(net->tensors[i].name, name) == 0) return &net->tensors[i];
    return NULL;
}

void classifier_init_weights(Classifier *net, uint64_t seed)
{
    for (int i = 0; i < net->n_tensors; i++) {
        const ClassifierTensor *t = &net->tensors[i];
        float *p = net->params + t->offset;
        const int is_norm = strncmp(t->name, "norm", 4) == 0;
        const int is_bias = strstr(t->name, ".bias") != NULL;
        if (is_norm) {
            for (size_t j = 0; j < t->size; j++) p[j] = is_bias ? 0.0f : 1.0f;
            continue;
        }
        /* fan_in from the weight of the same layer: the tensor itself, or the one before */
        const ClassifierTensor *w = is_bias ? &net->tensors[i - 1] : t;
        size_t fan_in = 1;
        for (int k = 1; k < w->ndim; k++) fan_in *= (size_t)w->shape[k];
        const float bound = 1.0f / sqrtf((float)fan_in);
        Rng r;
        rng_init(&r, seed, (uint64_t)i);
        for (size_t j = 0; j < t->size; j++) p[j] = bound * (2.0f * rng_uniform(&r) - 1.0f);
    }
}

void classifier_zero_grad(Classifier *net)
{
    if (net->grads) memset(net->grads, 0, sizeof(float) * net->n_params);
}

void classifier_forward(Classifier *net, float *logits, float *feat, const float *x, int B)
{
    DDM_ASSERT(B > 0 && B <= net->max_batch, "classifier_forward: batch %d (max %d)", B,
               net->max_batch);
    const ClassifierConfig *c = &net->cfg;
    const int C = c->in_ch, G = c->groups, c1 = c->ch, c2 = 2 * c->ch, c3 = 4 * c->ch;
    const int F = c->feat_dim, K = c->num_classes;
    const int S = net->S, S2 = net->S2, S3 = net->S3, P3 = S3 * S3;
    net->last_B = B;
    memcpy(net->in, x, sizeof(float) * (size_t)B * C * S * S);

    const ClsParams *p = &net->p;
    float *sc = net->scratch;
    conv2d_forward(net->c1, net->in, p->conv1_w, p->conv1_b, B, C, S, S, c1, 3, 1, 1, sc);
    groupnorm_silu_forward(net->a1, net->m1, net->r1, net->c1, p->norm1_w, p->norm1_b, B, c1,
                           S * S, G);
    conv2d_forward(net->c2, net->a1, p->conv2_w, p->conv2_b, B, c1, S, S, c2, 3, 2, 1, sc);
    groupnorm_silu_forward(net->a2, net->m2, net->r2, net->c2, p->norm2_w, p->norm2_b, B, c2,
                           S2 * S2, G);
    conv2d_forward(net->c3, net->a2, p->conv3_w, p->conv3_b, B, c2, S2, S2, c3, 3, 2, 1, sc);
    groupnorm_silu_forward(net->a3, net->m3, net->r3, net->c3, p->norm3_w, p->norm3_b, B, c3,
                           P3, G);
    /* global average pool */
    for (size_t bc = 0; bc < (size_t)B * c3; bc++) {
        const float *a = net->a3 + bc * P3;
        double s = 0.0;
        for (int q = 0; q < P3; q++) s += a[q];
        net->pool[bc] = (float)(s / P3);
    }
    linear_forward(net->h1, net->pool, p->fc1_w, p->fc1_b, B, c3, F);
    silu_forward(net->feat, net->h1, (size_t)B * F);
    linear_forward(logits, net->feat, p->fc2_w, p->fc2_b, B, F, K);
    if (feat) memcpy(feat, net->feat, sizeof(float) * (size_t)B * F);
}

float classifier_loss(float *dlogits, const float *logits, const int *labels, int B, int K)
{
    double loss = 0.0;
    for (int b = 0; b < B; b++) {
        const float *l = logits + (size_t)b * K;
        const int y = labels[b];
        DDM_ASSERT(y >= 0 && y < K, "classifier_loss: label %d of sample %d not in [0,%d)", y,
                   b, K);
        double m = l[0];
        for (int k = 1; k < K; k++) m = l[k] > m ? l[k] : m;
        double s = 0.0;
        for (int k = 0; k < K; k++) s += exp((double)l[k] - m);
        const double lse = m + log(s);
        loss += lse - (double)l[y];
        if (dlogits)
            for (int k = 0; k < K; k++)
                dlogits[(size_t)b * K + k] =
                    (float)((exp((double)l[k] - lse) - (k == y ? 1.0 : 0.0)) / B);
    }
    return (float)(loss / B);
}

void classifier_backward(Classifier *net, float *dx, const float *dlogits)
{
    DDM_ASSERT(net->training, "classifier_backward on an inference net");
    DDM_ASSERT(net->last_B > 0, "classifier_backward before a forward");
    const ClassifierConfig *c = &net->cfg;
    const int B = net->last_B;
    const int C = c->in_ch, G = c->groups, c1 = c->ch, c2 = 2 * c->ch, c3 = 4 * c->ch;
    const int F = c->feat_dim, K = c->num_classes;
    const int S = net->S, S2 = net->S2, S3 = net->S3, P3 = S3 * S3;
    const size_t P1 = (size_t)S * S, P2 = (size_t)S2 * S2;
    /* the layer backwards accumulate: start the activation gradients at zero */
    memset(net->d_feat, 0, sizeof(float) * (size_t)B * F);
    memset(net->d_h1, 0, sizeof(float) * (size_t)B * F);
    memset(net->d_pool, 0, sizeof(float) * (size_t)B * c3);
    memset(net->d_c3, 0, sizeof(float) * (size_t)B * c3 * P3);
    memset(net->d_a2, 0, sizeof(float) * (size_t)B * c2 * P2);
    memset(net->d_c2, 0, sizeof(float) * (size_t)B * c2 * P2);
    memset(net->d_a1, 0, sizeof(float) * (size_t)B * c1 * P1);
    memset(net->d_c1, 0, sizeof(float) * (size_t)B * c1 * P1);

    const ClsParams *p = &net->p, *g = &net->g;
    float *sc = net->scratch;
    linear_backward(net->d_feat, g->fc2_w, g->fc2_b, dlogits, net->feat, p->fc2_w, B, F, K);
    silu_backward(net->d_h1, net->d_feat, net->h1, (size_t)B * F);
    linear_backward(net->d_pool, g->fc1_w, g->fc1_b, net->d_h1, net->pool, p->fc1_w, B, c3, F);
    /* average pool: every position gets d_pool / P3 */
    for (size_t bc = 0; bc < (size_t)B * c3; bc++) {
        const float v = net->d_pool[bc] / (float)P3;
        float *d = net->d_a3 + bc * P3;
        for (int q = 0; q < P3; q++) d[q] = v;
    }
    groupnorm_silu_backward(net->d_c3, g->norm3_w, g->norm3_b, net->d_a3, net->c3, net->m3,
                            net->r3, p->norm3_w, p->norm3_b, B, c3, P3, G);
    conv2d_backward(net->d_a2, g->conv3_w, g->conv3_b, net->d_c3, net->a2, p->conv3_w, B, c2,
                    S2, S2, c3, 3, 2, 1, sc);
    groupnorm_silu_backward(net->d_c2, g->norm2_w, g->norm2_b, net->d_a2, net->c2, net->m2,
                            net->r2, p->norm2_w, p->norm2_b, B, c2, (int)P2, G);
    conv2d_backward(net->d_a1, g->conv2_w, g->conv2_b, net->d_c2, net->a1, p->conv2_w, B, c1, S,
                    S, c2, 3, 2, 1, sc);
    groupnorm_silu_backward(net->d_c1, g->norm1_w, g->norm1_b, net->d_a1, net->c1, net->m1,
                            net->r1, p->norm1_w, p->norm1_b, B, c1, (int)P1, G);
    conv2d_backward(dx, g->conv1_w, g->conv1_b, net->d_c1, net->in, p->conv1_w, B, C, S, S, c1,
                    3, 1, 1, sc);
}

void classifier_softmax(float *probs, const float *logits, int B, int K)
{
    for (int b = 0; b < B; b++) {
        const float *l = logits + (size_t)b * K;
        float *p = probs + (size_t)b * K;
        double m = l[0], s = 0.0;
        for (int k = 1; k < K; k++) m = l[k] > m ? l[k] : m;
        for (int k = 0; k < K; k++) s += exp((double)l[k] - m);
        for (int k = 0; k < K; k++) p[k] = (float)(exp((double)l[k] - m) / s);
    }
}

void classifier_eval(Classifier *net, float *feat, float *probs, const float *x, int B)
{
    const ClassifierConfig *c = &net->cfg;
    const size_t in_sz = (size_t)c->in_ch * net->S * net->S;
    for (int b0 = 0; b0 < B; b0 += net->max_batch) {
        const int nb = B - b0 < net->max_batch ? B - b0 : net->max_batch;
        classifier_forward(net, net->logits, feat ? feat + (size_t)b0 * c->feat_dim : NULL,
                           x + (size_t)b0 * in_sz, nb);
        if (probs)
            classifier_softmax(probs + (size_t)b0 * c->num_classes, net->logits, nb,
                               c->num_classes);
    }
}

void classifier_features(Classifier *net, float *feat, const float *x, int B)
{
    classifier_eval(net, feat, NULL, x, B);
}

void classifier_probs(Classifier *net, float *probs, const float *x, int B)
{
    classifier_eval(net, NULL, probs, x, B);
}

void classifier_input_u8(float *x, const uint8_t *img, int B, int C, int H, int W, int S)
{
    DDM_ASSERT(H <= S && W <= S, "classifier input: %dx%d images do not fit %dx%d", H, W, S, S);
    const int oy = (S - H) / 2, ox = (S - W) / 2;
    for (size_t bc = 0; bc < (size_t)B * C; bc++) {
        float *o = x + bc * S * S;
        const uint8_t *p = img + bc * H * W;
        for (int i = 0; i < S * S; i++) o[i] = -1.0f;
        for (int i = 0; i < H; i++) pixels_from_uint8_f32(o + (size_t)(oy + i) * S + ox, p + (size_t)i * W, (size_t)W);
    }
}
