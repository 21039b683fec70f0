/* The reference U-Net (core/unet.h): module tree, memory plan, forward and backward.
 *
 * B = batch, S = side of a feature map (H = W = S), HW = S*S, C = channels,
 * E = 4*ch (time-embedding width), N = attention positions (HW).
 *
 * Memory. Parameters and gradients are two blocks laid out as the tensor table. Every
 * activation lives in one arena at an offset planned once by unet_init: the forward (and,
 * for a training net, the backward) is walked once with `planning` set, which runs no math
 * but records each buffer request and its lifetime on a tape; the buffers are then placed
 * offline (place_tape) and later walks replay the tape. A training net keeps everything
 * its backward reads (KEEP buffers are never freed) and reuses only working buffers; an
 * inference net frees every buffer after its last reader, so only the skips (a stack:
 * pushed by the down path, popped by the up path) and a few working buffers are alive.
 * Buffers are sized for plan_batch images (max_batch; for an inference net at most
 * UNET_INFER_CHUNK, the forward walking a larger batch chunk by chunk); a smaller batch
 * uses the front of each.
 *
 * What the backward reads: every conv input (the silu(groupnorm) outputs included, so the
 * backward recomputes nothing but a2*mask under dropout), GroupNorm inputs and mean/rstd,
 * q, k, v, the attention probabilities, dropout masks. GroupNorm+SiLU pairs use the fused layer: its output is
 * the conv's input and its backward needs only the norm's input and statistics.
 */
#include "core/unet.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/layers.h"
#include "core/rng.h"

/* Images per walk of an inference net: a sampler's batch of 256 runs as 8 walks of 32.
 * Memory follows the chunk, not the batch, while every conv GEMM keeps >= 2048 columns
 * (32 images x 8x8 positions at the lowest resolution): measured at B=256 with 2 threads,
 * chunks of 32, 64 and 256 run at the same speed (within noise). */
#define UNET_INFER_CHUNK 32

/* ---- module tree */

enum { INIT_UNIFORM, INIT_ONES, INIT_ZEROS, INIT_NORMAL };
typedef struct { int init; int fan_in; } TensorInit;

typedef struct {
    int cin, cout, S;
    int cskip;          /* up path: channels of the concatenated skip (cin = h + skip) */
    int index;          /* position in forward order: the dropout stream */
    /* weight tensor indices (bias = index + 1); nin = -1 when the skip is the identity */
    int norm1, conv1, temb_proj, norm2, conv2, nin;
    /* activation offsets, set by the forward walk */
    size_t x, a1, mean1, rstd1, h1, a2, mean2, rstd2, mask, out;
    size_t tp, dtp;     /* temb_proj output (B,cout) and its gradient */
} ResBlock;

typedef struct {
    int C, S;
    int norm, q, k, v, proj_out;
    size_t x, n, mean, rstd, qa, ka, va, att, o, out;
} AttnBlock;

typedef struct {
    int w;              /* conv weight tensor index */
    int C, S;           /* channels; side of the map BEFORE resampling */
    size_t in, up, out; /* conv input (for an upsample: the 2x map) and output */
} Resample;

typedef struct {
    int S, C;           /* side and output channels of the level */
    int attn;           /* 1 when the level has attention */
    ResBlock *down;     /* num_res_blocks */
    AttnBlock *down_attn;
    ResBlock *up;       /* num_res_blocks + 1 */
    AttnBlock *up_attn;
    Resample downsample, upsample;
} Level;

/* ---- memory plan */

enum { WORK = 0, KEEP = 1 };
/* one buffer request: size, lifetime [t0, t1) in walk events, placement */
typedef struct { size_t off, n; long t0, t1; int keep; } TapeEntry;

enum { K_CONV3, K_CONV1, K_GN, K_SILU, K_ATTN, K_LINEAR, K_OTHER, K_N };
static const char *const kind_names[K_N] = {
    "conv3x3", "conv1x1", "groupnorm", "silu", "attention", "linear", "other"};

struct UNet {
    UNetConfig cfg;
    int max_batch, training;
    int plan_batch;     /* images per walk: max_batch, or an inference net's chunk */
    int has_mask;       /* training net with dropout > 0: ResBlocks keep a dropout mask */

    UNetTensor *tensors;
    TensorInit *tinit;
    int n_tensors, cap_tensors;
    size_t n_params;
    float *params, *grads;

    Level levels[UNET_MAX_LEVELS];
    ResBlock *blocks;   /* all ResBlocks, forward order */
    AttnBlock *attns;   /* all attention blocks */
    int n_blocks, n_attns;
    ResBlock *mid1, *mid2;
    AttnBlock *mid_attn;
    int temb0, temb1, label_emb, conv_in, norm_out, conv_out;

    /* skips (forward push order) */
    int n_skips;
    int *skip_c, *skip_s;
    size_t *skip, *dskip;

    /* non-module activations */
    size_t xin, temb_sin, t1, ta1, temb, stemb, hfin, aout, mean_out, rstd_out;
    size_t pooled;      /* UNET_HEAD_POOL: the pooled features (B, middle channels) */
    size_t d_stemb;
    int *labels;        /* (plan_batch) label indices of the last walk */

    /* plan */
    int planning;
    TapeEntry *tape;
    int tape_len, tape_cap, tape_pos, tape_fwd_end;
    long clock;         /* planning: events so far */
    size_t scratch_need;

    float *act;
    size_t act_floats;
    float *scratch;
    size_t scratch_floats;

    /* last forward */
    int fwd_B, fwd_done, fwd_dropout;

    UNetTiming timing[K_N];
};

/* ---- config */

void unet_config_default(UNetConfig *c)
{
    memset(c, 0, sizeof *c);
    c->ch = 32;
    c->n_levels = 3;
    c->ch_mult[0] = 1;
    c->ch_mult[1] = 2;
    c->ch_mult[2] = 2;
    c->num_res_blocks = 2;
    c->n_attn = 1;
    c->attn_res[0] = 8;
    c->groups = 8;
    c->dropout = 0.0f;
    c->num_classes = 0;
    c->image_size = 32;
    c->in_ch = 1;
    c->out_ch = 1;
    c->cond_ch = 0;
}

const char *unet_config_check(const UNetConfig *c)
{
    if (c->ch < 2 || c->ch % 2) return "model.ch must be an even number >= 2";
    if (c->n_levels < 1 || c->n_levels > UNET_MAX_LEVELS)
        return "model.ch_mult must have 1 to 8 entries";
    if (c->num_res_blocks < 0 || c->num_res_blocks > 64)
        return "model.num_res_blocks must be in [0, 64]";
    if (c->n_attn < 0 || c->n_attn > UNET_MAX_LEVELS)
        return "model.attn_resolutions must have at most 8 entries";
    if (c->groups < 1) return "model.groups must be >= 1";
    if (c->ch % c->groups) return "model.ch must be a multiple of model.groups";
    for (int l = 0; l < c->n_levels; l++)
        if (c->ch_mult[l] < 1) return "model.ch_mult entries must be >= 1";
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f)) return "model.dropout must be in [0, 1)";
    if (c->num_classes < 0) return "model.num_classes must be >= 0";
    if (c->in_ch < 1 || c->out_ch < 1) return "model.channels must be >= 1";
    if (c->cond_ch < 0) return "model.cond_channels must be >= 0";
    if (c->image_size < 1) return "model.image_size must be >= 1";
    if (c->head != UNET_HEAD_IMAGE && c->head != UNET_HEAD_POOL) return "unknown U-Net head";
    if (c->head == UNET_HEAD_POOL && c->num_classes != 0)
        return "a pooled (classifier) head takes no label embedding";
    if (c->image_size % (1 << (c->n_levels - 1)))
        return "model.image_size must be divisible by 2^(levels-1)";
    for (int i = 0; i < c->n_attn; i++)
        if (c->attn_res[i] < 1) return "model.attn_resolutions entries must be >= 1";
    return NULL;
}

static int has_attn(const UNetConfig *c, int S)
{
    for (int i = 0; i < c->n_attn; i++)
        if (c->attn_res[i] == S) return 1;
    return 0;
}

/* ---- tensor table */

static int add_tensor(UNet *net, int init, int fan_in, int ndim, const int *shape,
                      const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int add_tensor(UNet *net, int init, int fan_in, int ndim, const int *shape,
                      const char *fmt, ...)
{
    if (net->n_tensors == net->cap_tensors) {
        net->cap_tensors = net->cap_tensors ? 2 * net->cap_tensors : 256;
        net->tensors = xrealloc(net->tensors, sizeof *net->tensors * net->cap_tensors);
        net->tinit = xrealloc(net->tinit, sizeof *net->tinit * net->cap_tensors);
    }
    UNetTensor *t = &net->tensors[net->n_tensors];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    DDM_ASSERT(len > 0 && len < (int)sizeof t->name, "unet: tensor name too long");
    t->ndim = ndim;
    t->size = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->size *= (size_t)shape[i];
    }
    t->offset = net->n_params;
    net->n_params += t->size;
    net->tinit[net->n_tensors] = (TensorInit){init, fan_in};
    return net->n_tensors++;
}

/* prefix.weight (OC,C,K,K), prefix.bias (OC); returns the weight's index */
static int add_conv(UNet *net, const char *prefix, int C, int OC, int K)
{
    int fan = C * K * K;
    int ws[4] = {OC, C, K, K}, bs[1] = {OC};
    int w = add_tensor(net, INIT_UNIFORM, fan, 4, ws, "%s.weight", prefix);
    add_tensor(net, INIT_UNIFORM, fan, 1, bs, "%s.bias", prefix);
    return w;
}

static int add_linear(UNet *net, const char *prefix, int IN, int OUT)
{
    int ws[2] = {OUT, IN}, bs[1] = {OUT};
    int w = add_tensor(net, INIT_UNIFORM, IN, 2, ws, "%s.weight", prefix);
    add_tensor(net, INIT_UNIFORM, IN, 1, bs, "%s.bias", prefix);
    return w;
}

static int add_gn(UNet *net, const char *prefix, int C)
{
    int s[1] = {C};
    int w = add_tensor(net, INIT_ONES, 0, 1, s, "%s.weight", prefix);
    add_tensor(net, INIT_ZEROS, 0, 1, s, "%s.bias", prefix);
    return w;
}

static void add_resblock(UNet *net, ResBlock *rb, const char *prefix)
{
    char p[80];
    const int E = 4 * net->cfg.ch;
    snprintf(p, sizeof p, "%s.norm1", prefix);
    rb->norm1 = add_gn(net, p, rb->cin);
    snprintf(p, sizeof p, "%s.conv1", prefix);
    rb->conv1 = add_conv(net, p, rb->cin, rb->cout, 3);
    snprintf(p, sizeof p, "%s.temb_proj", prefix);
    rb->temb_proj = add_linear(net, p, E, rb->cout);
    snprintf(p, sizeof p, "%s.norm2", prefix);
    rb->norm2 = add_gn(net, p, rb->cout);
    snprintf(p, sizeof p, "%s.conv2", prefix);
    rb->conv2 = add_conv(net, p, rb->cout, rb->cout, 3);
    rb->nin = -1;
    if (rb->cin != rb->cout) {
        snprintf(p, sizeof p, "%s.nin_shortcut", prefix);
        rb->nin = add_conv(net, p, rb->cin, rb->cout, 1);
    }
}

static void add_attn(UNet *net, AttnBlock *ab, const char *prefix)
{
    char p[80];
    snprintf(p, sizeof p, "%s.norm", prefix);
    ab->norm = add_gn(net, p, ab->C);
    snprintf(p, sizeof p, "%s.q", prefix);
    ab->q = add_conv(net, p, ab->C, ab->C, 1);
    snprintf(p, sizeof p, "%s.k", prefix);
    ab->k = add_conv(net, p, ab->C, ab->C, 1);
    snprintf(p, sizeof p, "%s.v", prefix);
    ab->v = add_conv(net, p, ab->C, ab->C, 1);
    snprintf(p, sizeof p, "%s.proj_out", prefix);
    ab->proj_out = add_conv(net, p, ab->C, ab->C, 1);
}

/* Shapes first (the up path's input channels come from popping the skip stack), then the
 * tensors in PyTorch's named_parameters() order: temb, label_emb, conv_in, down.0..n-1,
 * mid, up.0..n-1 (each level: blocks, attns, resample), norm_out, conv_out. */
static void build(UNet *net)
{
    const UNetConfig *c = &net->cfg;
    const int n = c->n_levels, nrb = c->num_res_blocks, E = 4 * c->ch;
    const int enc = c->head == UNET_HEAD_POOL; /* no up path */
    char p[80];

    net->n_skips = 1 + n * nrb + (n - 1);
    net->skip_c = xcalloc((size_t)net->n_skips, sizeof(int));
    net->skip_s = xcalloc((size_t)net->n_skips, sizeof(int));
    net->skip = xcalloc((size_t)net->n_skips, sizeof(size_t));
    net->dskip = xcalloc((size_t)net->n_skips, sizeof(size_t));

    int n_blocks = n * nrb + 2 + (enc ? 0 : n * (nrb + 1)), n_attns = 1;
    for (int l = 0; l < n; l++)
        if (has_attn(c, c->image_size >> l)) n_attns += nrb + (enc ? 0 : nrb + 1);
    net->blocks = xcalloc((size_t)n_blocks, sizeof(ResBlock));
    net->attns = xcalloc((size_t)n_attns, sizeof(AttnBlock));

    /* shapes, in forward order */
    int nb = 0, na = 0, ns = 0, cur = c->ch;
    net->skip_c[ns] = cur;
    net->skip_s[ns++] = c->image_size;
    for (int l = 0; l < n; l++) {
        Level *lv = &net->levels[l];
        lv->S = c->image_size >> l;
        lv->C = c->ch * c->ch_mult[l];
        lv->attn = has_attn(c, lv->S);
        lv->down = &net->blocks[nb];
        lv->down_attn = lv->attn ? &net->attns[na] : NULL;
        for (int i = 0; i < nrb; i++) {
            ResBlock *rb = &net->blocks[nb];
            rb->cin = cur;
            rb->cout = lv->C;
            rb->S = lv->S;
            rb->index = nb++;
            cur = lv->C;
            if (lv->attn) {
                net->attns[na].C = cur;
                net->attns[na++].S = lv->S;
            }
            net->skip_c[ns] = cur;
            net->skip_s[ns++] = lv->S;
        }
        if (l != n - 1) {
            lv->downsample.C = cur;
            lv->downsample.S = lv->S;
            net->skip_c[ns] = cur;
            net->skip_s[ns++] = lv->S / 2;
        }
    }
    net->mid1 = &net->blocks[nb];
    net->mid1->cin = net->mid1->cout = cur;
    net->mid1->S = c->image_size >> (n - 1);
    net->mid1->index = nb++;
    net->mid_attn = &net->attns[na++];
    net->mid_attn->C = cur;
    net->mid_attn->S = net->mid1->S;
    net->mid2 = &net->blocks[nb];
    *net->mid2 = *net->mid1;
    net->mid2->index = nb++;
    int top = enc ? 0 : ns;
    for (int l = n - 1; l >= 0 && !enc; l--) {
        Level *lv = &net->levels[l];
        lv->up = &net->blocks[nb];
        lv->up_attn = lv->attn ? &net->attns[na] : NULL;
        for (int i = 0; i < nrb + 1; i++) {
            ResBlock *rb = &net->blocks[nb];
            rb->cskip = net->skip_c[--top];
            rb->cin = cur + rb->cskip;
            rb->cout = lv->C;
            rb->S = lv->S;
            rb->index = nb++;
            cur = lv->C;
            if (lv->attn) {
                net->attns[na].C = cur;
                net->attns[na++].S = lv->S;
            }
        }
        if (l != 0) {
            lv->upsample.C = cur;
            lv->upsample.S = lv->S;
        }
    }
    DDM_ASSERT(nb == n_blocks && na == n_attns && ns == net->n_skips && top == 0,
               "unet: module count mismatch");
    net->n_blocks = nb;
    net->n_attns = na;

    /* tensors, in named_parameters() order */
    net->temb0 = add_linear(net, "temb.dense.0", c->ch, E);
    net->temb1 = add_linear(net, "temb.dense.1", E, E);
    net->label_emb = -1;
    if (c->num_classes > 0) {
        int s[2] = {c->num_classes + 1, E};
        net->label_emb = add_tensor(net, INIT_NORMAL, 0, 2, s, "label_emb.weight");
    }
    net->conv_in = add_conv(net, "conv_in", c->in_ch + c->cond_ch, c->ch, 3);
    for (int l = 0; l < n; l++) {
        Level *lv = &net->levels[l];
        for (int i = 0; i < nrb; i++) {
            snprintf(p, sizeof p, "down.%d.block.%d", l, i);
            add_resblock(net, &lv->down[i], p);
        }
        for (int i = 0; lv->attn && i < nrb; i++) {
            snprintf(p, sizeof p, "down.%d.attn.%d", l, i);
            add_attn(net, &lv->down_attn[i], p);
        }
        if (l != n - 1) {
            snprintf(p, sizeof p, "down.%d.downsample.conv", l);
            lv->downsample.w = add_conv(net, p, lv->downsample.C, lv->downsample.C, 3);
        }
    }
    add_resblock(net, net->mid1, "mid.block_1");
    add_attn(net, net->mid_attn, "mid.attn_1");
    add_resblock(net, net->mid2, "mid.block_2");
    for (int l = 0; l < n && !enc; l++) {
        Level *lv = &net->levels[l];
        for (int i = 0; i < nrb + 1; i++) {
            snprintf(p, sizeof p, "up.%d.block.%d", l, i);
            add_resblock(net, &lv->up[i], p);
        }
        for (int i = 0; lv->attn && i < nrb + 1; i++) {
            snprintf(p, sizeof p, "up.%d.attn.%d", l, i);
            add_attn(net, &lv->up_attn[i], p);
        }
        if (l != 0) {
            snprintf(p, sizeof p, "up.%d.upsample.conv", l);
            lv->upsample.w = add_conv(net, p, lv->upsample.C, lv->upsample.C, 3);
        }
    }
    net->norm_out = add_gn(net, "norm_out", cur);
    if (enc) net->conv_out = add_linear(net, "head", cur, c->out_ch); /* the logits */
    else net->conv_out = add_conv(net, "conv_out", cur, c->out_ch, 3);
}

/* ---- planning allocator and tape */

/* A buffer of per_sample floats per image (sized for plan_batch, 64-byte aligned). KEEP
 * buffers of a training net are never freed: its backward reads them. While planning the
 * returned value is a handle (the tape index) that F() takes back; the walk stores
 * handles in the same fields as offsets, and a real walk overwrites them all. */
static size_t A(UNet *net, size_t per_sample, int keep)
{
    size_t n = (per_sample * (size_t)net->plan_batch + 15) & ~(size_t)15;
    if (!net->planning) {
        DDM_ASSERT(net->tape_pos < net->tape_len && net->tape[net->tape_pos].n == n,
                   "unet: walk differs from its plan (buffer %d)", net->tape_pos);
        return net->tape[net->tape_pos++].off;
    }
    if (net->tape_len == net->tape_cap) {
        net->tape_cap = net->tape_cap ? 2 * net->tape_cap : 512;
        net->tape = xrealloc(net->tape, sizeof *net->tape * net->tape_cap);
    }
    net->tape[net->tape_len] = (TapeEntry){0, n, net->clock++, LONG_MAX, keep && net->training};
    return (size_t)net->tape_len++;
}

static void F(UNet *net, size_t handle)
{
    if (!net->planning) return;
    DDM_ASSERT(handle < (size_t)net->tape_len && net->tape[handle].t1 == LONG_MAX,
               "unet: plan frees a buffer it does not hold (%zu)", handle);
    if (!net->tape[handle].keep) net->tape[handle].t1 = net->clock++;
}

static int by_size_desc(const void *a, const void *b)
{
    const TapeEntry *x = *(TapeEntry *const *)a, *y = *(TapeEntry *const *)b;
    if (x->n != y->n) return x->n < y->n ? 1 : -1;
    return x->t0 < y->t0 ? -1 : x->t0 > y->t0;
}

static int by_offset(const void *a, const void *b)
{
    const TapeEntry *x = *(TapeEntry *const *)a, *y = *(TapeEntry *const *)b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Offsets for the recorded lifetimes: largest buffers first, each at the lowest offset
 * free of the already placed buffers alive at the same time (the "greedy by size"
 * heuristic of offline memory planners; for the default net, training or inference, it
 * meets the lower bound max_t sum(live sizes) exactly). Returns the arena size in floats. */
static size_t place_tape(UNet *net)
{
    const int n = net->tape_len;
    TapeEntry **order = xmalloc(sizeof *order * (size_t)(n ? n : 1));
    TapeEntry **placed = xmalloc(sizeof *placed * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) order[i] = &net->tape[i];
    qsort(order, (size_t)n, sizeof *order, by_size_desc);
    size_t top = 0;
    for (int i = 0; i < n; i++) {
        TapeEntry *e = order[i];
        int m = 0;
        for (int j = 0; j < i; j++)
            if (order[j]->t0 < e->t1 && e->t0 < order[j]->t1) placed[m++] = order[j];
        qsort(placed, (size_t)m, sizeof *placed, by_offset);
        size_t off = 0;
        for (int j = 0; j < m; j++) {
            if (placed[j]->off >= off + e->n) break;
            if (placed[j]->off + placed[j]->n > off) off = placed[j]->off + placed[j]->n;
        }
        e->off = off;
        if (off + e->n > top) top = off + e->n;
    }
    free(order);
    free(placed);
    return top;
}

/* pointer to an arena buffer; NULL while planning (no arena yet) */
static float *P(UNet *net, size_t off) { return net->act ? net->act + off : NULL; }
static const float *Wt(const UNet *net, int ti) { return net->params + net->tensors[ti].offset; }
static float *Gr(UNet *net, int ti) { return net->grads + net->tensors[ti].offset; }

/* ---- layer calls: skipped while planning (where convs report their scratch), timed */

static void tm(UNet *net, int kind, int bwd, double t0, double flops)
{
    double dt = ddm_now() - t0;
    if (bwd) net->timing[kind].bwd_s += dt;
    else net->timing[kind].fwd_s += dt;
    net->timing[kind].flops += flops;
}

static void need_scratch(UNet *net, size_t n)
{
    if (n > net->scratch_need) net->scratch_need = n;
}

/* conv K x K (pad K/2) from tensor wi; S = input side */
static void conv_f(UNet *net, float *out, const float *in, int wi, int B, int C, int S, int OC,
                   int K, int stride)
{
    const int pad = K / 2, So = (S + 2 * pad - K) / stride + 1;
    if (net->planning) {
        need_scratch(net, conv2d_scratch_floats(B, C, S, S, OC, K, stride, pad));
        return;
    }
    double t0 = ddm_now();
    conv2d_forward(out, in, Wt(net, wi), Wt(net, wi + 1), B, C, S, S, OC, K, stride, pad,
                   net->scratch);
    tm(net, K == 3 ? K_CONV3 : K_CONV1, 0, t0, 2.0 * B * OC * C * K * K * (double)So * So);
}

static void conv_b(UNet *net, float *din, const float *dout, const float *in, int wi, int B,
                   int C, int S, int OC, int K, int stride)
{
    const int pad = K / 2, So = (S + 2 * pad - K) / stride + 1;
    if (net->planning) {
        need_scratch(net, conv2d_scratch_floats(B, C, S, S, OC, K, stride, pad));
        return;
    }
    double t0 = ddm_now();
    conv2d_backward(din, Gr(net, wi), Gr(net, wi + 1), dout, in, Wt(net, wi), B, C, S, S, OC, K,
                    stride, pad, net->scratch);
    tm(net, K == 3 ? K_CONV3 : K_CONV1, 1, t0,
       (din ? 4.0 : 2.0) * B * OC * C * K * K * (double)So * So);
}

static void gn_f(UNet *net, float *out, float *mean, float *rstd, const float *in, int ti, int B,
                 int C, int HW)
{
    if (net->planning) return;
    double t0 = ddm_now();
    groupnorm_forward(out, mean, rstd, in, Wt(net, ti), Wt(net, ti + 1), B, C, HW,
                      net->cfg.groups);
    tm(net, K_GN, 0, t0, 8.0 * B * C * HW);
}

static void gn_b(UNet *net, float *din, const float *dout, const float *in, const float *mean,
                 const float *rstd, int ti, int B, int C, int HW)
{
    if (net->planning) return;
    double t0 = ddm_now();
    groupnorm_backward(din, Gr(net, ti), Gr(net, ti + 1), dout, in, mean, rstd, Wt(net, ti), B,
                       C, HW, net->cfg.groups);
    tm(net, K_GN, 1, t0, 12.0 * B * C * HW);
}

/* fused silu(groupnorm(in)), timed as groupnorm */
static void gns_f(UNet *net, float *out, float *mean, float *rstd, const float *in, int ti,
                  int B, int C, int HW)
{
    if (net->planning) return;
    double t0 = ddm_now();
    groupnorm_silu_forward(out, mean, rstd, in, Wt(net, ti), Wt(net, ti + 1), B, C, HW,
                           net->cfg.groups);
    tm(net, K_GN, 0, t0, 13.0 * B * C * HW);
}

static void gns_b(UNet *net, float *din, const float *dout, const float *in, const float *mean,
                  const float *rstd, int ti, int B, int C, int HW)
{
    if (net->planning) return;
    double t0 = ddm_now();
    groupnorm_silu_backward(din, Gr(net, ti), Gr(net, ti + 1), dout, in, mean, rstd,
                            Wt(net, ti), Wt(net, ti + 1), B, C, HW, net->cfg.groups);
    tm(net, K_GN, 1, t0, 20.0 * B * C * HW);
}

static void silu_f(UNet *net, float *out, const float *in, size_t n, int bwd)
{
    if (net->planning) return;
    double t0 = ddm_now();
    silu_forward(out, in, n);
    tm(net, K_SILU, bwd, t0, 5.0 * n);
}

static void silu_b(UNet *net, float *din, const float *dout, const float *in, size_t n)
{
    if (net->planning) return;
    double t0 = ddm_now();
    silu_backward(din, dout, in, n);
    tm(net, K_SILU, 1, t0, 8.0 * n);
}

static void lin_f(UNet *net, float *out, const float *in, int wi, int B, int IN, int OUT)
{
    if (net->planning) return;
    double t0 = ddm_now();
    linear_forward(out, in, Wt(net, wi), Wt(net, wi + 1), B, IN, OUT);
    tm(net, K_LINEAR, 0, t0, 2.0 * B * IN * OUT);
}

static void lin_b(UNet *net, float *din, const float *dout, const float *in, int wi, int B,
                  int IN, int OUT)
{
    if (net->planning) return;
    double t0 = ddm_now();
    linear_backward(din, Gr(net, wi), Gr(net, wi + 1), dout, in, Wt(net, wi), B, IN, OUT);
    tm(net, K_LINEAR, 1, t0, (din ? 4.0 : 2.0) * B * IN * OUT);
}

static void att_f(UNet *net, float *out, float *att, const float *q, const float *k,
                  const float *v, int B, int C, int N)
{
    if (net->planning) return;
    double t0 = ddm_now();
    attention_forward(out, att, q, k, v, B, C, N);
    tm(net, K_ATTN, 0, t0, 4.0 * B * C * (double)N * N + 5.0 * B * (double)N * N);
}

static void att_b(UNet *net, float *dq, float *dk, float *dv, const float *dout, const float *att,
                  const float *q, const float *k, const float *v, int B, int C, int N)
{
    if (net->planning) {
        need_scratch(net, attention_scratch_floats(B, C, N));
        return;
    }
    double t0 = ddm_now();
    attention_backward(dq, dk, dv, dout, att, q, k, v, B, C, N, net->scratch);
    tm(net, K_ATTN, 1, t0, 8.0 * B * C * (double)N * N + 5.0 * B * (double)N * N);
}

/* "other": data movement and elementwise glue */
static void zero_o(UNet *net, float *p, size_t n, int bwd)
{
    if (net->planning || !p) return;
    double t0 = ddm_now();
    memset(p, 0, sizeof(float) * n);
    tm(net, K_OTHER, bwd, t0, 0);
}

static void copy_o(UNet *net, float *dst, const float *src, size_t n, int bwd)
{
    if (net->planning) return;
    double t0 = ddm_now();
    memcpy(dst, src, sizeof(float) * n);
    tm(net, K_OTHER, bwd, t0, 0);
}

static void add_o(UNet *net, float *acc, const float *x, size_t n, int bwd)
{
    if (net->planning) return;
    double t0 = ddm_now();
    add_inplace(acc, x, n);
    tm(net, K_OTHER, bwd, t0, (double)n);
}

static void addch_f(UNet *net, float *h, const float *v, int B, int C, int HW)
{
    if (net->planning) return;
    double t0 = ddm_now();
    add_channel_forward(h, v, B, C, HW);
    tm(net, K_OTHER, 0, t0, (double)B * C * HW);
}

static void addch_b(UNet *net, float *dv, const float *dh, int B, int C, int HW)
{
    if (net->planning) return;
    double t0 = ddm_now();
    add_channel_backward(dv, dh, B, C, HW);
    tm(net, K_OTHER, 1, t0, (double)B * C * HW);
}

/* ---- forward walk (also the plan) */

/* ResBlock: x (B,cin,HW) -> out (B,cout,HW), an arena buffer the caller frees */
static size_t res_f(UNet *net, ResBlock *rb, size_t x, int B, int drop, uint64_t seed)
{
    const int HW = rb->S * rb->S;
    const size_t nin = (size_t)rb->cin * HW, nout = (size_t)rb->cout * HW;
    const int G = net->cfg.groups, tr = net->training;

    rb->x = x;
    rb->mean1 = A(net, G, KEEP);
    rb->rstd1 = A(net, G, KEEP);
    rb->a1 = A(net, nin, KEEP);
    gns_f(net, P(net, rb->a1), P(net, rb->mean1), P(net, rb->rstd1), P(net, x), rb->norm1, B,
          rb->cin, HW);
    rb->h1 = A(net, nout, KEEP);
    conv_f(net, P(net, rb->h1), P(net, rb->a1), rb->conv1, B, rb->cin, rb->S, rb->cout, 3, 1);
    F(net, rb->a1);
    F(net, rb->mean1);
    F(net, rb->rstd1);

    addch_f(net, P(net, rb->h1), P(net, rb->tp), B, rb->cout, HW);
    F(net, rb->tp);

    rb->mean2 = A(net, G, KEEP);
    rb->rstd2 = A(net, G, KEEP);
    rb->a2 = A(net, nout, KEEP);
    gns_f(net, P(net, rb->a2), P(net, rb->mean2), P(net, rb->rstd2), P(net, rb->h1), rb->norm2,
          B, rb->cout, HW);
    size_t d2 = rb->a2; /* conv2's input */
    if (net->has_mask) {
        rb->mask = A(net, nout, KEEP);
        d2 = A(net, nout, WORK);
        if (drop) {
            if (!net->planning) {
                double t0 = ddm_now();
                dropout_forward(P(net, d2), P(net, rb->mask), P(net, rb->a2), (size_t)B * nout,
                                net->cfg.dropout, seed, (uint64_t)rb->index);
                tm(net, K_OTHER, 0, t0, (double)B * nout);
            }
        } else {
            copy_o(net, P(net, d2), P(net, rb->a2), (size_t)B * nout, 0);
        }
    }
    /* an inference net writes conv2 over h1, which nothing reads any more */
    rb->out = tr ? A(net, nout, KEEP) : rb->h1;
    conv_f(net, P(net, rb->out), P(net, d2), rb->conv2, B, rb->cout, rb->S, rb->cout, 3, 1);
    if (d2 != rb->a2) F(net, d2);
    F(net, rb->a2);
    F(net, rb->mean2);
    F(net, rb->rstd2);

    if (rb->nin >= 0) {
        size_t s = A(net, nout, WORK);
        conv_f(net, P(net, s), P(net, x), rb->nin, B, rb->cin, rb->S, rb->cout, 1, 1);
        add_o(net, P(net, rb->out), P(net, s), (size_t)B * nout, 0);
        F(net, s);
    } else {
        add_o(net, P(net, rb->out), P(net, x), (size_t)B * nout, 0);
    }
    return rb->out;
}

/* Attention: x (B,C,N) -> out = x + proj_out(attn(q,k,v)) */
static size_t attn_f(UNet *net, AttnBlock *ab, size_t x, int B)
{
    const int N = ab->S * ab->S, C = ab->C, S = ab->S;
    const size_t n = (size_t)C * N;

    ab->x = x;
    ab->mean = A(net, net->cfg.groups, KEEP);
    ab->rstd = A(net, net->cfg.groups, KEEP);
    ab->n = A(net, n, KEEP);
    gn_f(net, P(net, ab->n), P(net, ab->mean), P(net, ab->rstd), P(net, x), ab->norm, B, C, N);
    ab->qa = A(net, n, KEEP);
    ab->ka = A(net, n, KEEP);
    ab->va = A(net, n, KEEP);
    conv_f(net, P(net, ab->qa), P(net, ab->n), ab->q, B, C, S, C, 1, 1);
    conv_f(net, P(net, ab->ka), P(net, ab->n), ab->k, B, C, S, C, 1, 1);
    conv_f(net, P(net, ab->va), P(net, ab->n), ab->v, B, C, S, C, 1, 1);
    F(net, ab->n);
    F(net, ab->mean);
    F(net, ab->rstd);
    ab->att = A(net, (size_t)N * N, KEEP);
    ab->o = A(net, n, KEEP);
    att_f(net, P(net, ab->o), P(net, ab->att), P(net, ab->qa), P(net, ab->ka), P(net, ab->va), B,
          C, N);
    F(net, ab->qa);
    F(net, ab->ka);
    F(net, ab->va);
    F(net, ab->att);
    ab->out = A(net, n, KEEP);
    conv_f(net, P(net, ab->out), P(net, ab->o), ab->proj_out, B, C, S, C, 1, 1);
    F(net, ab->o);
    add_o(net, P(net, ab->out), P(net, x), (size_t)B * n, 0);
    return ab->out;
}

/* The classifier head after the middle (UNET_HEAD_POOL): h (B,Cm,Sm,Sm) -> gn -> silu ->
 * mean over the Sm x Sm positions (pooled, B x Cm) -> linear into the caller's out (B,K). */
static void pool_head_f(UNet *net, float *out, size_t h, int B)
{
    const int Cm = net->mid2->cout, HW = net->mid2->S * net->mid2->S;
    net->hfin = h;
    net->mean_out = A(net, net->cfg.groups, KEEP);
    net->rstd_out = A(net, net->cfg.groups, KEEP);
    net->aout = A(net, (size_t)Cm * HW, WORK);
    gns_f(net, P(net, net->aout), P(net, net->mean_out), P(net, net->rstd_out), P(net, h),
          net->norm_out, B, Cm, HW);
    F(net, h);
    net->pooled = A(net, (size_t)Cm, KEEP);
    if (!net->planning) {
        double t0 = ddm_now();
        const float *a = P(net, net->aout);
        float *pl = P(net, net->pooled);
        for (size_t bc = 0; bc < (size_t)B * Cm; bc++) {
            double sum = 0;
            for (int i = 0; i < HW; i++) sum += a[bc * HW + i];
            pl[bc] = (float)(sum / HW);
        }
        tm(net, K_OTHER, 0, t0, (double)B * Cm * HW);
    }
    F(net, net->aout);
    lin_f(net, out, P(net, net->pooled), net->conv_out, B, Cm, net->cfg.out_ch);
    F(net, net->pooled);
    F(net, net->mean_out);
    F(net, net->rstd_out);
    F(net, net->stemb);
}

/* Its backward: dout (B,K) -> the gradient at the middle's output (a fresh buffer). */
static size_t pool_head_b(UNet *net, const float *dout, int B)
{
    const int Cm = net->mid2->cout, HW = net->mid2->S * net->mid2->S;
    size_t dp = A(net, (size_t)Cm, WORK);
    zero_o(net, P(net, dp), (size_t)B * Cm, 1);
    lin_b(net, P(net, dp), dout, P(net, net->pooled), net->conv_out, B, Cm, net->cfg.out_ch);
    size_t tb = A(net, (size_t)Cm * HW, WORK);
    if (!net->planning) {
        double t0 = ddm_now();
        const float *d = P(net, dp);
        float *o = P(net, tb);
        for (size_t bc = 0; bc < (size_t)B * Cm; bc++)
            for (int i = 0; i < HW; i++) o[bc * HW + i] = d[bc] / (float)HW;
        tm(net, K_OTHER, 1, t0, (double)B * Cm * HW);
    }
    F(net, dp);
    size_t g = A(net, (size_t)Cm * HW, WORK);
    zero_o(net, P(net, g), (size_t)B * Cm * HW, 1);
    gns_b(net, P(net, g), P(net, tb), P(net, net->hfin), P(net, net->mean_out),
          P(net, net->rstd_out), net->norm_out, B, Cm, HW);
    F(net, tb);
    return g;
}

static void walk_forward(UNet *net, float *out, const float *x, const float *t,
                         const int *labels, int B, int drop, uint64_t seed)
{
    const UNetConfig *c = &net->cfg;
    const int n = c->n_levels, nrb = c->num_res_blocks, E = 4 * c->ch;
    const int S0 = c->image_size, HW0 = S0 * S0;

    /* time (and label) embedding; stemb = silu(temb) is what every temb_proj reads */
    const int cin = c->in_ch + c->cond_ch; /* the image and its condition channels */
    net->xin = A(net, (size_t)cin * HW0, KEEP);
    copy_o(net, P(net, net->xin), x, (size_t)B * cin * HW0, 0);
    net->temb_sin = A(net, (size_t)c->ch, KEEP);
    if (!net->planning) {
        double t0 = ddm_now();
        timestep_embedding(P(net, net->temb_sin), t, B, c->ch);
        tm(net, K_OTHER, 0, t0, 0);
    }
    net->t1 = A(net, (size_t)E, KEEP);
    lin_f(net, P(net, net->t1), P(net, net->temb_sin), net->temb0, B, c->ch, E);
    F(net, net->temb_sin);
    net->ta1 = A(net, (size_t)E, KEEP);
    silu_f(net, P(net, net->ta1), P(net, net->t1), (size_t)B * E, 0);
    F(net, net->t1);
    net->temb = A(net, (size_t)E, KEEP);
    lin_f(net, P(net, net->temb), P(net, net->ta1), net->temb1, B, E, E);
    F(net, net->ta1);
    if (c->num_classes > 0) {
        size_t lab = A(net, (size_t)E, WORK);
        if (!net->planning) {
            double t0 = ddm_now();
            for (int b = 0; b < B; b++) {
                int y = labels ? labels[b] : c->num_classes;
                DDM_ASSERT(y >= 0 && y <= c->num_classes,
                           "unet_forward: label %d of image %d is outside [0, %d]", y, b,
                           c->num_classes);
                net->labels[b] = y;
            }
            embedding_forward(P(net, lab), Wt(net, net->label_emb), net->labels, B, E);
            tm(net, K_OTHER, 0, t0, 0);
        }
        add_o(net, P(net, net->temb), P(net, lab), (size_t)B * E, 0);
        F(net, lab);
    }
    net->stemb = A(net, (size_t)E, KEEP);
    silu_f(net, P(net, net->stemb), P(net, net->temb), (size_t)B * E, 0);
    F(net, net->temb);
    /* every temb_proj up front: small GEMMs back to back run at full speed, while one
     * squeezed between OpenMP loops waits for the BLAS threads to get the cores */
    for (int i = 0; i < net->n_blocks; i++) {
        ResBlock *rb = &net->blocks[i];
        rb->tp = A(net, (size_t)rb->cout, WORK);
        lin_f(net, P(net, rb->tp), P(net, net->stemb), rb->temb_proj, B, E, rb->cout);
    }

    /* down path; every output pushed on the skip stack stays alive until the up path */
    int ns = 0;
    size_t h = A(net, (size_t)c->ch * HW0, KEEP);
    conv_f(net, P(net, h), P(net, net->xin), net->conv_in, B, cin, S0, c->ch, 3, 1);
    F(net, net->xin);
    net->skip[ns++] = h;
    for (int l = 0; l < n; l++) {
        Level *lv = &net->levels[l];
        for (int i = 0; i < nrb; i++) {
            h = res_f(net, &lv->down[i], h, B, drop, seed);
            if (lv->attn) {
                size_t a = attn_f(net, &lv->down_attn[i], h, B);
                F(net, h);
                h = a;
            }
            net->skip[ns++] = h;
        }
        if (l != n - 1) {
            Resample *r = &lv->downsample;
            r->in = h;
            r->out = A(net, (size_t)r->C * (r->S / 2) * (r->S / 2), KEEP);
            conv_f(net, P(net, r->out), P(net, h), r->w, B, r->C, r->S, r->C, 3, 2);
            h = r->out;
            net->skip[ns++] = h;
        }
    }

    /* middle: h is the top skip, which stays */
    size_t m = res_f(net, net->mid1, h, B, drop, seed);
    h = attn_f(net, net->mid_attn, m, B);
    F(net, m);
    m = h;
    h = res_f(net, net->mid2, m, B, drop, seed);
    F(net, m);
    if (c->head == UNET_HEAD_POOL) {
        pool_head_f(net, out, h, B);
        for (int i = 0; i < ns; i++) F(net, net->skip[i]);
        return;
    }

    /* up path: each block reads concat(h, popped skip) */
    for (int l = n - 1; l >= 0; l--) {
        Level *lv = &net->levels[l];
        const int HW = lv->S * lv->S;
        for (int i = 0; i < nrb + 1; i++) {
            ResBlock *rb = &lv->up[i];
            size_t s = net->skip[--ns];
            const int ch_h = rb->cin - rb->cskip;
            size_t cat = A(net, (size_t)rb->cin * HW, KEEP);
            if (!net->planning) {
                double t0 = ddm_now();
                concat_forward(P(net, cat), P(net, h), P(net, s), B, ch_h, rb->cskip, HW);
                tm(net, K_OTHER, 0, t0, 0);
            }
            F(net, h);
            F(net, s);
            h = res_f(net, rb, cat, B, drop, seed);
            F(net, cat);
            if (lv->attn) {
                size_t a = attn_f(net, &lv->up_attn[i], h, B);
                F(net, h);
                h = a;
            }
        }
        if (l != 0) {
            Resample *r = &lv->upsample;
            const size_t n2x = (size_t)r->C * 4 * HW;
            r->in = h;
            r->up = A(net, n2x, KEEP);
            if (!net->planning) {
                double t0 = ddm_now();
                upsample2x_forward(P(net, r->up), P(net, h), B, r->C, r->S, r->S);
                tm(net, K_OTHER, 0, t0, 0);
            }
            F(net, h);
            r->out = A(net, n2x, KEEP);
            conv_f(net, P(net, r->out), P(net, r->up), r->w, B, r->C, 2 * r->S, r->C, 3, 1);
            F(net, r->up);
            h = r->out;
        }
    }
    DDM_ASSERT(ns == 0, "unet: skip stack not empty");

    /* out: gn -> silu -> conv3x3 into the caller's buffer */
    const int C0 = net->levels[0].C;
    const size_t nfin = (size_t)C0 * HW0;
    net->hfin = h;
    net->mean_out = A(net, c->groups, KEEP);
    net->rstd_out = A(net, c->groups, KEEP);
    net->aout = A(net, nfin, KEEP);
    gns_f(net, P(net, net->aout), P(net, net->mean_out), P(net, net->rstd_out), P(net, h),
          net->norm_out, B, C0, HW0);
    F(net, h);
    conv_f(net, out, P(net, net->aout), net->conv_out, B, C0, S0, c->out_ch, 3, 1);
    F(net, net->aout);
    F(net, net->mean_out);
    F(net, net->rstd_out);
    F(net, net->stemb);
}

/* ---- backward walk (training nets; also planned) */

/* gout (B,cout,HW) is consumed (freed); returns din (B,cin,HW), a fresh buffer */
static size_t res_b(UNet *net, ResBlock *rb, size_t gout, int B)
{
    const int HW = rb->S * rb->S;
    const size_t nin = (size_t)rb->cin * HW, nout = (size_t)rb->cout * HW;
    const size_t bin = (size_t)B * nin, bout = (size_t)B * nout;

    size_t gin = A(net, nin, WORK);
    zero_o(net, P(net, gin), bin, 1);
    if (rb->nin >= 0)
        conv_b(net, P(net, gin), P(net, gout), P(net, rb->x), rb->nin, B, rb->cin, rb->S,
               rb->cout, 1, 1);
    else
        add_o(net, P(net, gin), P(net, gout), bin, 1);

    /* conv2; with dropout its input a2 * mask is recomputed into tm */
    size_t in2 = rb->a2, tmk = 0;
    if (net->has_mask) tmk = A(net, nout, WORK);
    if (net->fwd_dropout) {
        zero_o(net, P(net, tmk), bout, 1);
        if (!net->planning)
            dropout_backward(P(net, tmk), P(net, rb->a2), P(net, rb->mask), bout);
        in2 = tmk;
    }
    size_t tb = A(net, nout, WORK);
    zero_o(net, P(net, tb), bout, 1);
    conv_b(net, P(net, tb), P(net, gout), P(net, in2), rb->conv2, B, rb->cout, rb->S, rb->cout,
           3, 1);
    F(net, gout);
    if (net->fwd_dropout) {
        /* d a2 = d(dropout out) * mask, through tmk (the masked input is spent) */
        zero_o(net, P(net, tmk), bout, 1);
        if (!net->planning) {
            double t0 = ddm_now();
            dropout_backward(P(net, tmk), P(net, tb), P(net, rb->mask), bout);
            tm(net, K_OTHER, 1, t0, (double)bout);
        }
        copy_o(net, P(net, tb), P(net, tmk), bout, 1);
    }
    if (net->has_mask) F(net, tmk);

    /* norm2 + silu: ta = d h1 */
    size_t ta = A(net, nout, WORK);
    zero_o(net, P(net, ta), bout, 1);
    gns_b(net, P(net, ta), P(net, tb), P(net, rb->h1), P(net, rb->mean2), P(net, rb->rstd2),
          rb->norm2, B, rb->cout, HW);
    F(net, tb);

    rb->dtp = A(net, (size_t)rb->cout, WORK); /* temb_proj's backward runs at the end */
    zero_o(net, P(net, rb->dtp), (size_t)B * rb->cout, 1);
    addch_b(net, P(net, rb->dtp), P(net, ta), B, rb->cout, HW);

    /* conv1, then norm1 + silu into gin */
    size_t tc = A(net, nin, WORK);
    zero_o(net, P(net, tc), bin, 1);
    conv_b(net, P(net, tc), P(net, ta), P(net, rb->a1), rb->conv1, B, rb->cin, rb->S, rb->cout,
           3, 1);
    F(net, ta);
    gns_b(net, P(net, gin), P(net, tc), P(net, rb->x), P(net, rb->mean1), P(net, rb->rstd1),
          rb->norm1, B, rb->cin, HW);
    F(net, tc);
    return gin;
}

static size_t attn_b(UNet *net, AttnBlock *ab, size_t gout, int B)
{
    const int N = ab->S * ab->S, C = ab->C, S = ab->S;
    const size_t n = (size_t)C * N, bn = (size_t)B * n;

    size_t gin = A(net, n, WORK);
    copy_o(net, P(net, gin), P(net, gout), bn, 1); /* the residual */
    size_t dout = A(net, n, WORK);
    zero_o(net, P(net, dout), bn, 1);
    conv_b(net, P(net, dout), P(net, gout), P(net, ab->o), ab->proj_out, B, C, S, C, 1, 1);
    F(net, gout);
    size_t dq = A(net, n, WORK), dk = A(net, n, WORK), dv = A(net, n, WORK);
    zero_o(net, P(net, dq), bn, 1);
    zero_o(net, P(net, dk), bn, 1);
    zero_o(net, P(net, dv), bn, 1);
    att_b(net, P(net, dq), P(net, dk), P(net, dv), P(net, dout), P(net, ab->att), P(net, ab->qa),
          P(net, ab->ka), P(net, ab->va), B, C, N);
    F(net, dout);
    size_t dn = A(net, n, WORK);
    zero_o(net, P(net, dn), bn, 1);
    conv_b(net, P(net, dn), P(net, dq), P(net, ab->n), ab->q, B, C, S, C, 1, 1);
    conv_b(net, P(net, dn), P(net, dk), P(net, ab->n), ab->k, B, C, S, C, 1, 1);
    conv_b(net, P(net, dn), P(net, dv), P(net, ab->n), ab->v, B, C, S, C, 1, 1);
    F(net, dq);
    F(net, dk);
    F(net, dv);
    gn_b(net, P(net, gin), P(net, dn), P(net, ab->x), P(net, ab->mean), P(net, ab->rstd),
         ab->norm, B, C, N);
    F(net, dn);
    return gin;
}

static void walk_backward(UNet *net, float *dx, const float *dout, int B)
{
    const UNetConfig *c = &net->cfg;
    const int n = c->n_levels, nrb = c->num_res_blocks, E = 4 * c->ch;
    const int S0 = c->image_size, HW0 = S0 * S0, C0 = net->levels[0].C;
    const size_t nfin = (size_t)C0 * HW0;

    net->d_stemb = A(net, (size_t)E, WORK);
    zero_o(net, P(net, net->d_stemb), (size_t)B * E, 1);
    const int enc = c->head == UNET_HEAD_POOL;
    size_t g;
    int ns = 0;
    if (enc) {
        g = pool_head_b(net, dout, B);
        goto middle;
    }

    /* out: conv_out, then norm_out + silu */
    size_t tb = A(net, nfin, WORK);
    zero_o(net, P(net, tb), (size_t)B * nfin, 1);
    conv_b(net, P(net, tb), dout, P(net, net->aout), net->conv_out, B, C0, S0, c->out_ch, 3, 1);
    g = A(net, nfin, WORK);
    zero_o(net, P(net, g), (size_t)B * nfin, 1);
    gns_b(net, P(net, g), P(net, tb), P(net, net->hfin), P(net, net->mean_out),
          P(net, net->rstd_out), net->norm_out, B, C0, HW0);
    F(net, tb);

    /* up path, reversed; each concat hands its skip's share to dskip */
    for (int l = 0; l < n; l++) {
        Level *lv = &net->levels[l];
        const int HW = lv->S * lv->S;
        if (l != 0) {
            Resample *r = &lv->upsample;
            const size_t n2x = (size_t)r->C * 4 * HW;
            size_t gu = A(net, n2x, WORK);
            zero_o(net, P(net, gu), (size_t)B * n2x, 1);
            conv_b(net, P(net, gu), P(net, g), P(net, r->up), r->w, B, r->C, 2 * r->S, r->C, 3, 1);
            F(net, g);
            g = A(net, (size_t)r->C * HW, WORK);
            zero_o(net, P(net, g), (size_t)B * r->C * HW, 1);
            if (!net->planning) {
                double t0 = ddm_now();
                upsample2x_backward(P(net, g), P(net, gu), B, r->C, r->S, r->S);
                tm(net, K_OTHER, 1, t0, (double)B * n2x);
            }
            F(net, gu);
        }
        for (int i = nrb; i >= 0; i--) {
            ResBlock *rb = &lv->up[i];
            if (lv->attn) g = attn_b(net, &lv->up_attn[i], g, B);
            size_t gcat = res_b(net, rb, g, B);
            const int ch_h = rb->cin - rb->cskip;
            g = A(net, (size_t)ch_h * HW, WORK);
            zero_o(net, P(net, g), (size_t)B * ch_h * HW, 1);
            size_t ds = net->dskip[ns] = A(net, (size_t)rb->cskip * HW, WORK);
            zero_o(net, P(net, ds), (size_t)B * rb->cskip * HW, 1);
            if (!net->planning) {
                double t0 = ddm_now();
                concat_backward(P(net, g), P(net, ds), P(net, gcat), B, ch_h, rb->cskip, HW);
                tm(net, K_OTHER, 1, t0, 0);
            }
            F(net, gcat);
            ns++;
        }
    }
    DDM_ASSERT(ns == net->n_skips, "unet: backward skip count");

middle:
    /* middle */
    g = res_b(net, net->mid2, g, B);
    g = attn_b(net, net->mid_attn, g, B);
    g = res_b(net, net->mid1, g, B);

    /* down path, reversed; skip i's gradient joins where its producer is reached */
    for (int l = n - 1; l >= 0; l--) {
        Level *lv = &net->levels[l];
        const int HW = lv->S * lv->S;
        if (l != n - 1) {
            Resample *r = &lv->downsample;
            if (!enc) {
                size_t ds = net->dskip[--ns];
                add_o(net, P(net, g), P(net, ds), (size_t)B * r->C * (HW / 4), 1);
                F(net, ds);
            }
            size_t gi = A(net, (size_t)r->C * HW, WORK);
            zero_o(net, P(net, gi), (size_t)B * r->C * HW, 1);
            conv_b(net, P(net, gi), P(net, g), P(net, r->in), r->w, B, r->C, r->S, r->C, 3, 2);
            F(net, g);
            g = gi;
        }
        for (int i = nrb - 1; i >= 0; i--) {
            if (!enc) {
                size_t ds = net->dskip[--ns];
                add_o(net, P(net, g), P(net, ds), (size_t)B * lv->C * HW, 1);
                F(net, ds);
            }
            if (lv->attn) g = attn_b(net, &lv->down_attn[i], g, B);
            g = res_b(net, &lv->down[i], g, B);
        }
    }
    if (!enc) {
        size_t ds = net->dskip[--ns];
        add_o(net, P(net, g), P(net, ds), (size_t)B * c->ch * HW0, 1);
        F(net, ds);
    }
    conv_b(net, dx, P(net, g), P(net, net->xin), net->conv_in, B, c->in_ch + c->cond_ch, S0,
           c->ch, 3, 1);
    F(net, g);

    /* temb_proj of every block, back to back (see the forward) */
    for (int i = 0; i < net->n_blocks; i++) {
        ResBlock *rb = &net->blocks[i];
        lin_b(net, P(net, net->d_stemb), P(net, rb->dtp), P(net, net->stemb), rb->temb_proj, B,
              E, rb->cout);
        F(net, rb->dtp);
    }

    /* time embedding: stemb = silu(temb), temb = dense1(silu(dense0(sin))) [+ label_emb] */
    size_t dt = A(net, (size_t)E, WORK);
    zero_o(net, P(net, dt), (size_t)B * E, 1);
    silu_b(net, P(net, dt), P(net, net->d_stemb), P(net, net->temb), (size_t)B * E);
    F(net, net->d_stemb);
    if (c->num_classes > 0 && !net->planning) {
        double t0 = ddm_now();
        embedding_backward(Gr(net, net->label_emb), P(net, dt), net->labels, B, E);
        tm(net, K_OTHER, 1, t0, 0);
    }
    size_t da = A(net, (size_t)E, WORK);
    zero_o(net, P(net, da), (size_t)B * E, 1);
    lin_b(net, P(net, da), P(net, dt), P(net, net->ta1), net->temb1, B, E, E);
    zero_o(net, P(net, dt), (size_t)B * E, 1);
    silu_b(net, P(net, dt), P(net, da), P(net, net->t1), (size_t)B * E);
    lin_b(net, NULL, P(net, dt), P(net, net->temb_sin), net->temb0, B, c->ch, E);
    F(net, da);
    F(net, dt);
}

/* ---- public interface */


UNet *unet_init(const UNetConfig *cfg, int max_batch, int training)
{
    const char *err = unet_config_check(cfg);
    if (err) ddm_die("unet: %s", err);
    DDM_ASSERT(max_batch >= 1, "unet_init: max_batch %d < 1", max_batch);
    UNet *net = xcalloc(1, sizeof *net);
    net->cfg = *cfg;
    net->max_batch = max_batch;
    net->plan_batch = training || max_batch < UNET_INFER_CHUNK ? max_batch : UNET_INFER_CHUNK;
    net->training = training ? 1 : 0;
    net->has_mask = net->training && cfg->dropout > 0;
    build(net);
    for (int k = 0; k < K_N; k++) net->timing[k].kind = kind_names[k];

    /* plan: walk forward (and backward) without math, at the largest batch */
    net->planning = 1;
    walk_forward(net, NULL, NULL, NULL, NULL, net->plan_batch, 0, 0);
    net->tape_fwd_end = net->tape_len;
    if (net->training) walk_backward(net, NULL, NULL, net->plan_batch);
    net->planning = 0;
    net->act_floats = place_tape(net);
    net->act = xalloc_floats(net->act_floats ? net->act_floats : 16);
    net->scratch_floats = net->scratch_need;
    net->scratch = net->scratch_floats ? xalloc_floats(net->scratch_floats) : NULL;
    net->labels = xcalloc((size_t)net->plan_batch, sizeof(int));
    net->params = xalloc_floats(net->n_params);
    memset(net->params, 0, sizeof(float) * net->n_params);
    if (net->training) {
        net->grads = xalloc_floats(net->n_params);
        memset(net->grads, 0, sizeof(float) * net->n_params);
    }
    return net;
}

void unet_free(UNet *net)
{
    if (!net) return;
    free(net->tensors);
    free(net->tinit);
    free(net->params);
    free(net->grads);
    free(net->blocks);
    free(net->attns);
    free(net->skip_c);
    free(net->skip_s);
    free(net->skip);
    free(net->dskip);
    free(net->labels);
    free(net->tape);
    free(net->act);
    free(net->scratch);
    free(net);
}

const UNetConfig *unet_config(const UNet *net) { return &net->cfg; }
size_t unet_num_params(const UNet *net) { return net->n_params; }
float *unet_params(UNet *net) { return net->params; }
float *unet_grads(UNet *net) { return net->grads; }
int unet_num_tensors(const UNet *net) { return net->n_tensors; }

const UNetTensor *unet_tensor(const UNet *net, int i)
{
    DDM_ASSERT(i >= 0 && i < net->n_tensors, "unet_tensor: index %d out of [0,%d)", i,
               net->n_tensors);
    return &net->tensors[i];
}

const UNetTensor *unet_find_tensor(const UNet *net, const char *name)
{
    for (int i = 0; i < net->n_tensors; i++)
        if (strcmp(net->tensors[i].name, name) == 0) return &net->tensors[i];
    return NULL;
}

size_t unet_activation_bytes(const UNet *net)
{
    return sizeof(float) * (net->act_floats + net->scratch_floats) +
           sizeof(int) * (size_t)net->plan_batch;
}

void unet_init_weights(UNet *net, uint64_t seed)
{
    for (int i = 0; i < net->n_tensors; i++) {
        const UNetTensor *t = &net->tensors[i];
        float *p = net->params + t->offset;
        Rng r;
        rng_init(&r, seed, (uint64_t)i);
        switch (net->tinit[i].init) {
        case INIT_UNIFORM: {
            /* kaiming_uniform(a=sqrt(5)) and PyTorch's bias rule: both U(-1/sqrt(fan_in), +) */
            const float bound = 1.0f / sqrtf((float)net->tinit[i].fan_in);
            for (size_t j = 0; j < t->size; j++) p[j] = bound * (2.0f * rng_uniform(&r) - 1.0f);
            break;
        }
        case INIT_ONES:
            for (size_t j = 0; j < t->size; j++) p[j] = 1.0f;
            break;
        case INIT_ZEROS:
            memset(p, 0, sizeof(float) * t->size);
            break;
        case INIT_NORMAL:
            rng_fill_normal(&r, p, t->size);
            break;
        }
    }
}

void unet_forward(UNet *net, float *out, const float *x, const float *t, const int *labels,
                  int B, int training, uint64_t dropout_seed)
{
    DDM_ASSERT(B >= 1 && B <= net->max_batch, "unet_forward: batch %d outside [1, %d]", B,
               net->max_batch);
    const int drop = training && net->cfg.dropout > 0;
    DDM_ASSERT(!drop || net->training,
               "unet_forward: dropout (training=1) needs a net built with training=1");
    /* an inference net walks the batch in chunks of plan_batch images */
    const UNetConfig *c = &net->cfg;
    const size_t in_sz = (size_t)(c->in_ch + c->cond_ch) * c->image_size * c->image_size;
    const size_t out_sz = (size_t)c->out_ch *
                          (c->head == UNET_HEAD_POOL ? 1 : (size_t)c->image_size * c->image_size);
    for (int b0 = 0; b0 < B; b0 += net->plan_batch) {
        const int nb = B - b0 < net->plan_batch ? B - b0 : net->plan_batch;
        net->tape_pos = 0;
        walk_forward(net, out + b0 * out_sz, x + b0 * in_sz, t + b0, labels ? labels + b0 : NULL,
                     nb, drop, dropout_seed);
        DDM_ASSERT(net->tape_pos == net->tape_fwd_end, "unet: forward differs from its plan");
    }
    net->fwd_B = B;
    net->fwd_done = 1;
    net->fwd_dropout = drop;
}

void unet_backward(UNet *net, float *dx, const float *dout)
{
    DDM_ASSERT(net->training, "unet_backward on an inference net (built with training=0)");
    DDM_ASSERT(net->fwd_done, "unet_backward without a forward");
    net->tape_pos = net->tape_fwd_end;
    walk_backward(net, dx, dout, net->fwd_B);
    DDM_ASSERT(net->tape_pos == net->tape_len, "unet: backward differs from its plan");
}

void unet_zero_grad(UNet *net)
{
    if (net->grads) memset(net->grads, 0, sizeof(float) * net->n_params);
}

int unet_timing(const UNet *net, const UNetTiming **rows)
{
    *rows = net->timing;
    return K_N;
}

void unet_timing_reset(UNet *net)
{
    for (int k = 0; k < K_N; k++) {
        net->timing[k].fwd_s = net->timing[k].bwd_s = 0;
        net->timing[k].flops = 0;
    }
}
