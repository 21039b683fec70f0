/* Samplers: from noise to data with a trained denoiser, for vp and ve processes.
 *
 * B = samples in the batch, D = values per sample (C*H*W).
 *
 * Sample identity: every random draw of sample j comes from its own Philox stream keyed
 * by (seeds[j], stream): the initial noise from stream SAMPLER_STREAM_INIT, the draws of
 * sampler step s (s = 0 at the noisiest step, counting every network-evaluating step, for
 * langevin every inner step) from stream s, in a fixed order within the step. No draw and
 * no arithmetic mixes samples, so a sample depends only on (model, config, seed, label),
 * never on batch size, batch position, rank or thread count (as long as the network's
 * output for one sample does not depend on the rest of its batch).
 *
 * The output is x0 in data space, float (B,D); sampler_to_uint8 maps [-1,1] to bytes.
 */
#ifndef DDM_SAMPLERS_H
#define DDM_SAMPLERS_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/sched.h"

/* The network: out (B,D) = raw output of the configured prediction (diffusion.h) at
 * x (B,D) conditioned on tcond (B) (sched.h: the level index, fractional between levels)
 * and labels (B) in 0..num_classes (num_classes = the null label), or labels = NULL for
 * an unconditional model. */
typedef void (*DenoiseFn)(void *ctx, float *out, const float *x, const float *tcond,
                          const int *labels, int B);

/* A network plus classifier-free guidance (Ho & Salimans 2022, eq. 6):
 *   eps~ = (1+w) eps(x, c) - w eps(x, null).
 * The guided combination is applied to the raw outputs: every prediction type is affine in
 * eps at fixed x with the same coefficients, and (1+w) - w = 1, so combining outputs is
 * exactly combining eps (or x0, or v, or scores). */
typedef struct {
    DenoiseFn fn;
    void *ctx;
    size_t D;
    int num_classes;      /* 0: unconditional (guidance not allowed) */
    int batched_guidance; /* 1: a guided evaluation is one call of 2B (the network must take
                             batch 2B); 0: two calls of B. Fixed per model, not per batch. */
    long long nfe;        /* network evaluations per sample so far (guided: 2 per step) */
    long long calls;      /* calls of fn */
    float *buf;           /* scratch for guidance: 2 * 2B*D + 2B floats */
    int *lab;             /* 2B labels */
    size_t cap;           /* B the scratch holds */
} SamplerModel;

void sampler_model_init(SamplerModel *m, DenoiseFn fn, void *ctx, size_t D, int num_classes);
void sampler_model_free(SamplerModel *m);
/* out (B,D) = the (guided when w != 0) raw output. labels NULL means unconditional (the
 * network gets labels = NULL); guidance w != 0 needs labels and num_classes > 0. */
void sampler_model_eval(SamplerModel *m, float *out, const float *x, const float *tcond,
                        const int *labels, int B, double w);

typedef enum {
    SAMPLER_DDPM = 0, SAMPLER_DDIM, SAMPLER_LANGEVIN, SAMPLER_PC, SAMPLER_ODE, SAMPLER_DPMPP2M,
    SAMPLER_COUNT
} SamplerKind;
/* ddpm reverse variance: beta_t or the posterior beta~_t (Ho et al. 2020, sec. 3.2) */
typedef enum { SIGMA2_BETA = 0, SIGMA2_BETA_TILDE = 1 } SamplerSigma2;
typedef enum {
    PREDICTOR_REVERSE_DIFFUSION = 0, PREDICTOR_EULER_MARUYAMA = 1, PREDICTOR_NONE = 2
} SamplerPredictor;

typedef struct {
    SamplerKind kind;
    int steps;            /* 0: the sampler's default (sampler_steps) */
    double eta;           /* ddim: 0 = deterministic, 1 = DDPM-like (DDIM eq. 16) */
    SchedSkip skip;       /* ddpm, ddim, pc (vp): subsequence spacing, uniform */
    SamplerSigma2 sigma2; /* ddpm: beta */
    double eps;           /* langevin: step scale at sigma_min, 6.2e-6 (NCSNv2 CIFAR-10) */
    int steps_per_level;  /* langevin: 5 (NCSNv2 CIFAR-10) */
    double snr;           /* pc corrector signal-to-noise ratio r, 0.16 (Song et al. 2021) */
    int corrector_steps;  /* pc: M = 1 */
    SamplerPredictor predictor; /* pc: reverse diffusion */
    double rho;           /* ode, dpmpp2m: Karras spacing exponent, 7 */
    double sigma_max;     /* ode, dpmpp2m: start at min(sigma_max, the schedule's), 80 (EDM);
                             0 = the schedule's (vp linear 157, vp cosine 2e4, ve sigma_max).
                             From the cosine schedule's 2e4, 18 Karras steps leave too few
                             where the data's modes separate (sigma ~ 1). */
    double guidance;      /* w, 0 = off */
    int denoise;          /* langevin, pc: 1 = finish without noise (see sampler_run), 1 */
    int clip;             /* ddpm, ddim: clip x0-hat to [-1,1] (images), 0 */
} SamplerConfig;

const char *sampler_name(SamplerKind k); /* "ddpm" ... */
/* Defaults for a sampler name. 0, or -1 with "unknown sampler 'x'; one of ddpm, ddim,
 * langevin, pc, ode, dpmpp2m" in err. */
int sampler_config_init(SamplerConfig *sc, const char *name, char *err, size_t errlen);
/* One option from strings: steps, eta, skip (uniform|quadratic), sigma2 (beta|beta_tilde),
 * eps, steps_per_level, snr, corrector_steps, predictor (reverse_diffusion|
 * euler_maruyama|none), rho, sigma_max, guidance, denoise (0|1), clip (0|1). 0 or -1 with a message. */
int sampler_config_set(SamplerConfig *sc, const char *key, const char *value, char *err,
                       size_t errlen);
/* Does the config fit the process and schedule? ddpm, ddim: vp only; langevin: ve only;
 * pc, ode, dpmpp2m: both. Also ranges (steps <= T for the vp subsequence samplers, ...).
 * 0, or -1 with a message. */
int sampler_config_check(const SamplerConfig *sc, const Schedule *s, char *err,
                         size_t errlen);
/* Effective number of steps: ddpm T, ddim 50, pc n (T or L), ode 18 (EDM), dpmpp2m 20,
 * langevin L levels, unless sc->steps > 0. */
int sampler_steps(const SamplerConfig *sc, const Schedule *s);
/* Network evaluations per sample (a guided evaluation counts 2):
 *   ddpm, ddim: N; langevin: N*steps_per_level (+1 denoise); pc: N*(M + 1) (predictor
 *   none: N*M, +1 denoise); ode (Heun): 2N - 1; dpmpp2m: N. */
long long sampler_nfe(const SamplerConfig *sc, const Schedule *s);
/* "ddim steps=50 eta=0 skip=uniform guidance=0", the options that matter for the kind */
void sampler_config_describe(const SamplerConfig *sc, const Schedule *s, char *buf, size_t n);

/* Run one sampler on B samples: x0_out (B,D), seeds (B), labels (B) or NULL.
 * ddpm: ancestral sampling (Ho et al. 2020, Alg. 2) on the subsequence tau (N = T: every
 *   step), betas of a subsequence 1 - ab_tau_i/ab_tau_{i-1} (Nichol & Dhariwal 2021 sec. 4).
 * ddim: DDIM eq. 12 with sigma of eq. 16 times eta, on tau.
 * langevin (ve): annealed Langevin dynamics (Song & Ermon 2019, Alg. 1) over N geometric
 *   levels sigma_max..sigma_min (N = L: the trained levels), alpha_i = eps sigma_i^2 /
 *   sigma_min^2; denoise: a final x0-hat = x + sigma_min^2 s (Tweedie; NCSNv2's last step).
 * pc: predictor-corrector (Song et al. 2021, Alg. 2 ve / Alg. 3 vp) with the Langevin
 *   corrector (Alg. 4/5); per level: M corrector steps, then the predictor to the next
 *   level; the last predictor step (to the data) adds no noise when denoise = 1.
 *   vp levels: tau as ddim; ve levels: N geometric sigmas (N = L: the trained ones) and 0.
 *   The corrector's step 2 alpha (r |z| / |s|)^2 uses THIS sample's norms (the paper's
 *   reference code averages norms over the batch, which would tie samples together).
 * ode: probability-flow ODE, Heun (Karras et al. 2022, Alg. 1 with S_churn = 0) on
 *   Karras sigmas (eq. 5, rho) from sigma_max (capped by sc->sigma_max) to the schedule's
 *   sigma_min, then 0, in the VE-equivalent
 *   variable xbar = x / s(sigma) (vp: sigma = sqrt((1-ab)/ab), s = sqrt(ab)).
 * dpmpp2m: DPM-Solver++(2M) (Lu et al. 2022, Alg. 2) on the same sigmas, data prediction,
 *   lambda = -log sigma; first order at the first and last step.
 * Initial state: vp x_T ~ N(0,I) (ode/dpmpp2m: xbar = n sqrt(1+sigma_max^2), n ~ N(0,I));
 *   ve x ~ N(0, sigma_max^2 I). The network's NFE are added to m->nfe. */
void sampler_run(const SamplerConfig *sc, const Schedule *s, SamplerModel *m, float *x0_out,
                 const uint64_t *seeds, const int *labels, int B);

/* Stream id of the initial noise. */
#define SAMPLER_STREAM_INIT UINT64_MAX
/* z (B,D): D standard normals per sample from the stream (seeds[j], stream) */
void sampler_draw_normals(float *z, const uint64_t *seeds, uint64_t stream, int B, size_t D);
/* Karras et al. 2022 eq. 5: sig[0..N-1] from smax to smin, sig[N] = 0 (N+1 values) */
void sampler_karras_sigmas(double *sig, int N, double smin, double smax, double rho);

/* Bytes from data-space floats, identical everywhere: u = (x + 1) * 127.5, rounded half
 * up (floor(u + 0.5)), clamped to [0,255]; NaN gives 0. And back: x = u / 127.5 - 1. */
void sampler_to_uint8(uint8_t *out, const float *x, size_t n);
void sampler_from_uint8(float *x, const uint8_t *in, size_t n);

/* ---- Update rules on n values (one sample or many), exposed for the tests.
 * z may be NULL (no noise). */
/* DDPM: x <- c0 x0^ + ct x + sigma z (posterior mean, DDPM eq. 7; equals Alg. 2 line 4) */
void sampler_ddpm_update(float *x, const float *x0, const float *z, double c0, double ct,
                         double sigma, size_t n);
/* DDIM eq. 12: x <- sqrt(ab_prev) x0^ + sqrt(1 - ab_prev - sigma^2) eps^ + sigma z */
void sampler_ddim_update(float *x, const float *x0, const float *eps, const float *z,
                         double ab_prev, double sigma, size_t n);
/* Langevin (NCSN Alg. 1 line 6): x <- x + alpha/2 s + sqrt(alpha) z */
void sampler_langevin_update(float *x, const float *score, const float *z, double alpha,
                             size_t n);
/* reverse diffusion, vp (Song et al. 2021 Alg. 3 lines 3-5):
 *   x <- (2 - sqrt(1-beta)) x + beta s + sqrt(beta) z */
void sampler_rd_vp_update(float *x, const float *score, const float *z, double beta, size_t n);
/* reverse diffusion, ve (Alg. 2 lines 3-5): x <- x + d s + sqrt(d) z, d = sig_i^2 - sig_{i-1}^2;
 * also the ve Euler-Maruyama step with d = g^2 dt */
void sampler_rd_ve_update(float *x, const float *score, const float *z, double d, size_t n);
/* Euler-Maruyama on the reverse vp SDE (Song et al. 2021 eq. 6 with f = -beta x/2,
 * g^2 = beta, beta(t) dt = beta of the step): x <- x + beta (x/2 + s) + sqrt(beta) z */
void sampler_em_vp_update(float *x, const float *score, const float *z, double beta, size_t n);
/* Langevin corrector (Song et al. 2021 Alg. 4/5): e = 2 alpha (snr |z| / |s|)^2,
 * x <- x + e s + sqrt(2 e) z; the norms are over these n values. Returns e (0 if |s| = 0). */
double sampler_corrector_update(float *x, const float *score, const float *z, double snr,
                                double alpha, size_t n);

#endif
