/* Samplers as a registry, a driver that runs them, and the sample tasks applications plug in.
 *
 * B = samples in the batch, D = values per sample (C*H*W), n = B*D.
 *
 * A sampler is a table (SamplerDef, one file each under core/samplers/, one line in the
 * registry in core/sampler.c): its name, citation, option rows (core/opt.h: default, unit,
 * help), the processes it runs on, its default step count, its NFE, its level plan and its
 * step. The driver (sampler_run_task) owns the initial state, the start level and the loop;
 * a sample task (SampleTask) bends the loop: its own initial state at its own start level,
 * a hook after every step, a jump back to a noisier level. Plain generation is the task
 * NULL (sampler_run).
 *
 * The state. Every sampler moves a state x (B,D) through the plan's levels 0..N (level 0
 * the noisiest, level N the end, N = plan steps): before step i the state is at level i,
 * whose marginal is x = a[i] x0 + sg[i] eps (a sample of q(x_level | x0)). Most samplers
 * keep x in the process's own variable (vp: a = sqrt(ab), sg = sqrt(1-ab); ve: a = 1,
 * sg = sigma); the Karras-family ODE solvers keep xbar = x / s(sigma) (a = 1, sg = sigma;
 * sched.h). Tasks only see (a, sg), so one task serves every sampler.
 *
 * Sample identity: every random draw of sample j comes from its own Philox stream keyed by
 * (seeds[j], stream): the initial noise from SAMPLER_STREAM_INIT, step i's draws from
 * streams the sampler derives from i (plus 2^40 per jump back, so a revisited step draws
 * new noise), in a fixed order within the step. No draw and no arithmetic mixes samples,
 * so a sample depends only on (model, config, seed, label, task input), never on batch
 * size, batch position, rank or thread count.
 *
 * The output is x0 in data space, float (B,D); core/pixels.h maps [-1,1] to bytes.
 */
#ifndef DDM_SAMPLER_H
#define DDM_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "core/denoiser.h"
#include "core/opt.h"
#include "core/rng.h"
#include "core/sched.h"

/* ddpm reverse variance: beta_t or the posterior beta~_t (Ho et al. 2020, sec. 3.2) */
typedef enum { SIGMA2_BETA = 0, SIGMA2_BETA_TILDE = 1 } SamplerSigma2;
typedef enum {
    PREDICTOR_REVERSE_DIFFUSION = 0, PREDICTOR_EULER_MARUYAMA = 1, PREDICTOR_NONE = 2
} SamplerPredictor;

typedef struct SamplerDef SamplerDef;

/* One sampler setting: which sampler and the value of every option any sampler has (each
 * sampler's rows say which are its own and their defaults). */
typedef struct {
    const SamplerDef *def;
    int steps;            /* 0: the sampler's default (sampler_steps) */
    double guidance;      /* classifier-free w, 0 = off (every sampler) */
    double eta;           /* ddim: 0 = deterministic, 1 = DDPM-like (DDIM eq. 16) */
    int skip;             /* SchedSkip: ddpm, ddim, pc (vp) subsequence spacing */
    int sigma2;           /* SamplerSigma2: ddpm */
    int clip;             /* ddpm, ddim: clip x0-hat to [-1,1] (images) */
    double eps;           /* langevin: step scale at sigma_min */
    int steps_per_level;  /* langevin */
    int denoise;          /* langevin, pc: finish with a noise-free step */
    double snr;           /* pc corrector signal-to-noise ratio r */
    int corrector_steps;  /* pc: M */
    int predictor;        /* SamplerPredictor: pc */
    double rho;           /* Karras family: sigma spacing exponent */
    double sigma_max;     /* Karras family: start at min(sigma_max, the schedule's); 0 = the
                             schedule's (vp linear 157, vp cosine 2e4, ve sigma_max) */
    int order;            /* unipc: 1..3 */
    int variant;          /* unipc: B(h) = h (bh1) or e^h - 1 (bh2) */
    double lr;            /* pnp: the learning rate lambda of Algorithm 1 */
    double t_start, t_end; /* pnp: the time schedule, from t_start T down to t_end T */
    int prior_weight;     /* pnp: 0 none (Algorithm 1 as written), 1 sigma: the prior term
                             times sqrt(1-ab_t) / (2 sqrt(ab_t)) */
} SamplerConfig;

/* The levels a run passes, N steps and N+1 levels (see the top of the file). */
typedef struct {
    int N;                /* steps (the sampler's plan may add a final one, e.g. denoise) */
    double prior_std;     /* the state's initial noise is prior_std * N(0, I) */
    double *a, *sg;       /* (N+1) state marginal x = a x0 + sg eps at each level */
    double *sigma;        /* (N+1) VE-equivalent noise level (sched.h), 0 = data */
    double *tcond;        /* (N+1) network conditioning at each level */
    int *k;               /* (N+1) discrete level index of the schedule, -1 when off-grid */
    double *aux;          /* (N+1) * SAMPLER_AUX per-level values of the sampler's own */
    int tweedie;          /* the last step is a Tweedie denoise (sampler_plan_tweedie) */
    double *block;        /* the one allocation behind the arrays */
} SamplerPlan;
#define SAMPLER_AUX 4

/* A batch being made: what a step and a task see. */
typedef struct {
    const SamplerConfig *sc;
    const Schedule *s;
    const SamplerPlan *plan;
    Denoiser *den;
    const uint64_t *seeds;
    int B;
    size_t D, n;
    uint64_t stream_offset; /* added to every step stream: 2^40 per jump back so far */
    int first;              /* the first step since the start or the last jump: multistep
                               solvers start over there (their history is of other levels) */
    float *eps, *x0, *z, *tmp; /* (B,D) scratch for the steps */
    float *priv;            /* the sampler's own values (SamplerDef.priv_per_value per value) */
    double state[16];       /* and scalars (e.g. the levels of a multistep history) */
} SampleRun;

struct SamplerDef {
    const char *name;
    const char *cite;          /* the paper and algorithm or equation the step implements */
    unsigned processes;        /* bit (1 << PROC_VP) | (1 << PROC_VE) */
    const OptSpec *opts;       /* its own options (into SamplerConfig), NULL-name ended,
                                  in the order they are described */
    /* default steps when sc->steps = 0: default_steps(), else steps_default, else the
     * schedule's levels */
    int (*default_steps)(const SamplerConfig *sc, const Schedule *s);
    int steps_default;
    /* network evaluations per sample of N steps, unguided; NULL: N */
    long long (*nfe)(const SamplerConfig *sc, const Schedule *s, int N);
    /* checks beyond the option rows' ranges; NULL = none. 0 or -1 + message */
    int (*check)(const SamplerConfig *sc, const Schedule *s, int N, char *err, size_t errlen);
    /* the levels of N steps: fills every array of p (allocated by the driver) */
    void (*plan)(const SamplerConfig *sc, const Schedule *s, int N, SamplerPlan *p);
    /* step i: the state x from level i to level i+1 */
    void (*step)(SampleRun *r, int i, float *x);
    /* the reverse of step i, deterministic: the state x from level i+1 back to level i
     * (the encoder: data -> latent, sampler_encode). NULL: the sampler cannot run
     * backwards (its steps draw noise, or keep a history of noisier levels). */
    void (*step_back)(SampleRun *r, int i, float *x);
    /* floats of private state per value of the batch (e.g. a multistep history), 0 = none */
    int priv_per_value;
};

/* ---- the registry */
int sampler_count(void);
const SamplerDef *sampler_def(int i);
const SamplerDef *sampler_find(const char *name);
/* "ddpm, ddim, langevin, pc, ode, dpmpp2m, unipc" */
void sampler_names(char *buf, size_t n);

/* ---- settings */
/* Defaults for a sampler name. 0, or -1 with "unknown sampler 'x'; one of ..." in err. */
int sampler_config_init(SamplerConfig *sc, const char *name, char *err, size_t errlen);
/* One option from text: "steps", "guidance" or one of the sampler's own rows. 0, or -1
 * with "unknown option 'x' for sampler ddim; it takes steps, eta, ..." / "bad value ...". */
int sampler_config_set(SamplerConfig *sc, const char *key, const char *value, char *err,
                       size_t errlen);
/* Does the setting fit the process and the schedule? 0, or -1 with a message. */
int sampler_config_check(const SamplerConfig *sc, const Schedule *s, char *err, size_t errlen);
/* Effective number of steps (sc->steps, else the sampler's default). */
int sampler_steps(const SamplerConfig *sc, const Schedule *s);
/* Network evaluations per sample (a guided evaluation counts 2). */
long long sampler_nfe(const SamplerConfig *sc, const Schedule *s);
/* "ddim steps=50 eta=0 skip=uniform clip=1 guidance=0": name, steps, own rows, guidance */
void sampler_config_describe(const SamplerConfig *sc, const Schedule *s, char *buf, size_t n);
const char *sampler_name(const SamplerConfig *sc);
/* every sampler with its rows, for --help */
void sampler_print_help(FILE *f);
/* Every option name of the registry once (steps, guidance, then each sampler's own rows in
 * registry order): rows[i] (the first sampler's row of that name) and owners[i], the
 * samplers that have it ("all" for steps and guidance; "ddpm, ddim, pc"). Returns the
 * count (at most max). */
int sampler_all_options(const OptSpec **rows, char (*owners)[96], int max);

/* ---- plans */
void sampler_plan_init(SamplerPlan *p, const SamplerConfig *sc, const Schedule *s);
void sampler_plan_free(SamplerPlan *p);
/* Level L at discrete schedule level k (vp: the table's a, sg), or at the data (k < 0). */
void sampler_plan_set_k(SamplerPlan *p, const Schedule *s, int L, int k);

/* ---- pieces several samplers share (core/sampler.c) */
/* The vp chain on the timestep subsequence tau of N steps (sc->skip; DDIM sec. 4.2):
 * level L < N at k = tau[N-1-L], level N the data. */
void sampler_plan_tau(const SamplerConfig *sc, const Schedule *s, int N, SamplerPlan *p);
/* "steps N exceed the model's T timesteps" for samplers on tau; 0 or -1 + message */
int sampler_check_tau(const SamplerConfig *sc, const Schedule *s, int N, char *err,
                      size_t errlen);
/* r->eps, r->x0 of the network at x on level L, x0 clipped to [-1,1] when sc->clip (eps
 * then recomputed from the clipped x0, so both stay consistent with x) */
void sampler_eval_clipped(SampleRun *r, const float *x, int L);

/* The Karras family (ode, dpmpp2m, unipc; core/samplers/ode.c): the denoiser
 * D(xbar; sigma) = x0^ of the network at x = s(sigma) xbar (Karras et al. 2022, eq. 7 and
 * Table 1) into den (n values; uses r->tmp), their option rows (rho, sigma_max) and check. */
void sampler_karras_denoise(SampleRun *r, float *den, const float *xbar, double sigma);
extern const OptSpec sampler_karras_opts[];
int sampler_check_karras(const SamplerConfig *sc, const Schedule *s, int N, char *err,
                         size_t errlen);
/* Heun's step of the probability-flow ODE from s0 to s1 (Karras et al. 2022, Alg. 1 lines
 * 4-8): x in place, den = D(x; s0) given (may be r->x0), d and x1 scratch (n values). */
void sampler_heun_update(SampleRun *r, float *x, const float *den, float *d, float *x1,
                         double s0, double s1);
/* DPM-Solver++(2M) (Lu et al. 2022, Alg. 2) from s0 to s1 > 0 in xbar: x <- (s1/s0) x -
 * (e^-h - 1) Dc, h = log(s0/s1), Dc = den (first order: old NULL) or (1 + 1/2r) den -
 * 1/2r old with r = log(sp/s0)/h, sp the level before s0. n values. */
void sampler_dpmpp2m_update(float *x, const float *den, const float *old, double sp, double s0,
                            double s1, size_t n);

/* A final noise-free step: x0^ by Tweedie's formula (x0^ = E[x0 | x], Robbins 1956 /
 * Efron 2011; NCSNv2's last step) at the level the plan ends on. The plan gains a step
 * (its level N+1 is the data); the sampler's step calls sampler_tweedie_step first, which
 * does that step and returns 1 at it, 0 elsewhere. */
void sampler_plan_tweedie(SamplerPlan *p);
int sampler_tweedie_step(SampleRun *r, int i, float *x);

/* ---- tasks */
typedef struct {
    const char *name;
    void *ctx;
    /* The initial state x (B,D) of the batch: return the level it is at (0 = the plan's
     * noisiest). NULL: x = prior_std * N(0,I) from SAMPLER_STREAM_INIT at level 0. */
    int (*init)(void *ctx, const SampleRun *r, float *x);
    /* After step i (x now at level i+1): may change x; returns the level to go on from:
     * i+1 to go on, a level j <= i to jump back (the driver moves x from level i+1 to j
     * by the forward process, sampler_q_forward, with fresh noise). NULL: go on. */
    int (*after_step)(void *ctx, const SampleRun *r, int i, float *x);
    int max_jumps;        /* bound on jumps per batch (a task's own schedule), 0 = none */
} SampleTask;

/* Run the sampler on B samples: x0_out (B,D), seeds (B), labels (B) or NULL, under task
 * (NULL: plain generation). The denoiser's condition is set here (denoiser_begin). */
void sampler_run_task(const SamplerConfig *sc, const Schedule *s, Denoiser *den,
                      const SampleTask *task, float *x0_out, const uint64_t *seeds,
                      const int *labels, int B);
void sampler_run(const SamplerConfig *sc, const Schedule *s, Denoiser *den, float *x0_out,
                 const uint64_t *seeds, const int *labels, int B);

/* ---- the encoder: the deterministic sampler run backwards (DDIM inversion, Song et al.
 * 2021 sec. 4.3; the probability-flow ODE from the data up, Song et al. 2021 (SDE) sec. 4.3
 * and D.2). Every level's state is a function of the data alone, so decoding the level-0
 * state with the same setting and labels gives the data back up to the solver's error. */
/* Can this setting encode? The sampler has step_back and, when it has eta, eta = 0. 0, or
 * -1 with "sampler ddpm cannot run backwards (encode); ddim (eta 0) and ode can". */
int sampler_check_encode(const SamplerConfig *sc, const Schedule *s, char *err, size_t errlen);
/* The sampler's names that can encode: "ddim and ode" */
void sampler_encode_names(char *buf, size_t n);
/* x (r->B, r->D): the data (the plan's level N, which must be the data: a = 1, sg = 0) in,
 * the state at level 0 out, under the denoiser's current labels and guidance (r->den).
 * Steps back from level N-1 to 0 on a copy of r (its scratch is used). */
void sampler_encode_run(const SampleRun *r, float *x);
/* Encode B data-space images x (B,D) in place to the plan's level-0 state with labels (B)
 * or NULL, seeds (B) as the network slots' keys (no draw is made). Per sample: a row's
 * latent does not depend on the batch, its position or the rank. Dies on a setting that
 * cannot encode. */
void sampler_encode(const SamplerConfig *sc, const Schedule *s, Denoiser *den, float *x,
                    const uint64_t *seeds, const int *labels, int B);

/* ---- noise, levels, the forward process */
#define SAMPLER_STREAM_INIT UINT64_MAX
/* z (B,D): D standard normals per sample from the stream (seeds[j], stream) */
void sampler_draw_normals(float *z, const uint64_t *seeds, uint64_t stream, int B, size_t D);
/* Karras et al. 2022 eq. 5: sig[0..N-1] from smax to smin, sig[N] = 0 (N+1 values) */
void sampler_karras_sigmas(double *sig, int N, double smin, double smax, double rho);
/* The Karras-family start: min(sc->sigma_max, the schedule's) (sc->sigma_max = 0: the
 * schedule's), and the N+1 levels of a Karras plan (a = 1, sg = sigma, state xbar). */
void sampler_plan_karras(const SamplerConfig *sc, const Schedule *s, int N, SamplerPlan *p);
/* N ascending ve levels: the trained ones when N = L, else geometric smin..smax */
void sampler_ve_levels(const Schedule *s, int N, double *sig);
/* q(x_t | x_0) (Ho et al. 2020, eq. 4; the ve marginal of Song et al. 2021 eq. 30):
 * x = a x0 + sg z, n values. */
void sampler_q_sample(float *x, const float *x0, const float *z, double a, double sg, size_t n);
/* The forward process between two levels (a1, sg1) -> (a2, sg2), noisier: q(x_2 | x_1) =
 * N((a2/a1) x1, (sg2^2 - (a2/a1)^2 sg1^2) I) (Ho et al. 2020 eq. 2 over several steps;
 * RePaint's jump back, Lugmayr et al. 2022 Alg. 1 line 13). x in place, z standard normals. */
void sampler_q_forward(float *x, const float *z, double a1, double sg1, double a2, double sg2,
                       size_t n);
/* the network at x and plan level L: eps, x0, score (each may be NULL) */
void sampler_eval_level(SampleRun *r, const float *x, int L, float *eps, float *x0,
                        float *score);

/* Elementwise loops are parallel only when large: a parallel region costs more than the
 * arithmetic of a small batch, and far more when the cores are oversubscribed. */
#define SAMPLER_PAR_MIN (1 << 16)

/* ---- update rules on n values (one sample or many), each in its sampler's file.
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
