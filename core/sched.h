/* Noise schedules and processes: VP (DDPM, discrete beta_t) and VE (NCSN, geometric sigmas).
 *
 * Index convention, both processes: a discrete noise level is k = 0..n-1, larger k = more
 * noise. For vp, k is the DDPM timestep minus one (paper t = 1..T is k = 0..T-1, as in the
 * reference DDPM code); for ve, k = 0 is sigma_min and k = L-1 is sigma_max (NCSN numbers
 * its levels the other way round: sigma_1 largest).
 *
 * Every level also has a VE-equivalent noise level sigma (Karras et al. 2022, eq. 4-5:
 * x = s(sigma) * (x0 + sigma * eps)):
 *   vp: sigma = sqrt((1 - alpha_bar) / alpha_bar), s = sqrt(alpha_bar) = 1/sqrt(1+sigma^2)
 *   ve: sigma = sigma_k,                            s = 1
 * and a marginal x = a*x0 + sg*eps with a = s, sg = s*sigma (vp: a = sqrt(ab), sg = sqrt(1-ab)).
 *
 * Network conditioning (the float "t" the U-Net embeds) -- the train job and the samplers
 * must agree on it, so it is defined here only (sched_tcond / sched_sigma):
 *   vp: tcond = k, the timestep index 0..T-1; between grid points log(sigma) is linear in
 *       tcond, so any sigma in [sigma(0), sigma(T-1)] has a fractional tcond (ODE samplers).
 *   ve: tcond = (L-1) * log(sigma/sigma_min) / log(sigma_max/sigma_min), i.e. the level
 *       index k counted from sigma_min, continued log-linearly between and beyond levels
 *       (= (L-1) * t of the VE SDE, Song et al. 2021 eq. 30, sigma(t) = smin (smax/smin)^t).
 */
#ifndef DDM_SCHED_H
#define DDM_SCHED_H

#include <stddef.h>

typedef enum { PROC_VP = 0, PROC_VE = 1 } SchedProcess;
typedef enum { SCHED_LINEAR = 0, SCHED_COSINE = 1 } SchedKind;
/* What the network outputs. vp: eps, x0 or v (Salimans & Ho 2022, v = a*eps - sg*x0).
 * ve: only eps, which there means the NCSN output sigma*score = -eps (see diffusion.h). */
typedef enum { PRED_EPS = 0, PRED_X0 = 1, PRED_V = 2 } SchedPred;
/* per-image loss weight: simple = 1 (Ho et al. 2020 eq. 14); vlb = normalised lambda_t */
typedef enum { LOSS_SIMPLE = 0, LOSS_VLB = 1 } SchedLoss;

/* The [diffusion] section of the config. */
typedef struct {
    SchedProcess process;          /* vp */
    SchedKind schedule;            /* linear (vp) */
    int timesteps;                 /* T = 1000 (vp) */
    double beta_start, beta_end;   /* 1e-4, 0.02 (vp linear) */
    SchedPred prediction;          /* eps */
    double sigma_min, sigma_max;   /* 0.01, 50 (ve; NCSNv2 / score-SDE CIFAR-10) */
    int num_scales;                /* L = 232 (ve; NCSNv2 CIFAR-10) */
    SchedLoss loss;                /* simple */
} SchedConfig;

void sched_config_default(SchedConfig *cfg);
/* NULL when valid, else a static message saying what is wrong */
const char *sched_config_check(const SchedConfig *cfg);
/* Set one [diffusion] key from its string value (process, schedule, timesteps, beta_start,
 * beta_end, prediction, sigma_min, sigma_max, num_scales, loss). 0 on success; else -1
 * with a message in err ("unknown key ...", "bad value ..."). */
int sched_config_set(SchedConfig *cfg, const char *key, const char *value, char *err,
                     size_t errlen);
const char *sched_process_name(SchedProcess p);   /* "vp" | "ve" */
const char *sched_kind_name(SchedKind k);         /* "linear" | "cosine" */
const char *sched_pred_name(SchedPred p);         /* "eps" | "x0" | "v" */
const char *sched_loss_name(SchedLoss l);         /* "simple" | "vlb" */

typedef struct {
    SchedConfig cfg;
    int n;                      /* discrete levels: T (vp) or L (ve) */
    /* vp only (NULL for ve), index k = 0..T-1 (paper t = k+1): */
    double *beta;               /* beta_t */
    double *alpha;              /* 1 - beta_t */
    double *alpha_bar;          /* prod_{s<=t} alpha_s */
    double *alpha_bar_prev;     /* alpha_bar_{t-1}, alpha_bar_prev[0] = 1 */
    double *sqrt_alpha_bar, *sqrt_one_minus_alpha_bar;
    double *beta_tilde;         /* posterior variance (1-ab_{t-1})/(1-ab_t) beta_t, DDPM eq. 7 */
    double *post_coef_x0;       /* sqrt(ab_{t-1}) beta_t / (1-ab_t), DDPM eq. 7 */
    double *post_coef_xt;       /* sqrt(alpha_t) (1-ab_{t-1}) / (1-ab_t), DDPM eq. 7 */
    double *vlb_lambda;         /* beta^2/(2 sigma^2 alpha (1-ab)), sigma^2 = beta (raw) */
    double *vlb_weight;         /* vlb_lambda / mean(vlb_lambda): mean 1 over t */
    /* both processes, index k = 0..n-1, ascending: */
    double *sigma;              /* VE-equivalent noise level (see top of file) */
    double *log_sigma;
    double *block;              /* the one allocation behind all arrays */
} Schedule;

/* Builds the tables; dies (ddm_die) with sched_config_check's message on a bad config. */
void sched_init(Schedule *s, const SchedConfig *cfg);
void sched_free(Schedule *s);

double sched_sigma_min(const Schedule *s);   /* sigma[0] */
double sched_sigma_max(const Schedule *s);   /* sigma[n-1] */
/* network conditioning value of a noise level, and back (see top of file) */
double sched_tcond(const Schedule *s, double sigma);
double sched_sigma(const Schedule *s, double tcond);
/* marginal x = a*x0 + sg*eps at VE-equivalent level sigma (sigma = 0: a = 1, sg = 0) */
void sched_marginal(const Schedule *s, double sigma, double *a, double *sg);
/* the same at discrete level k (exact table values for vp) */
void sched_marginal_k(const Schedule *s, int k, double *a, double *sg);

/* Continuous-time SDEs, t in [0,1] (Song et al. 2021, App. B). Discrete level k sits at
 * t = (k+1)/T (vp) or t = k/(L-1) (ve).
 * vp linear: beta(t) = bmin + t (bmax - bmin), bmin = T*beta_start, bmax = T*beta_end
 *   (eq. 32-33, the N -> inf limit of the discrete chain); alpha_bar(t) = exp(-int beta).
 * vp cosine: alpha_bar(t) = f(t)/f(0), f(t) = cos^2((t+s)/(1+s) pi/2) (Nichol & Dhariwal
 *   2021, eq. 17), beta(t) = -d log alpha_bar / dt = pi/(1+s) tan((t+s)/(1+s) pi/2).
 * ve: sigma(t) = smin (smax/smin)^t, g(t)^2 = d sigma^2/dt = 2 log(smax/smin) sigma(t)^2
 *   (eq. 30-31).
 * The samplers do not use these: they work from the discrete tables (exact for whatever
 * schedule the network was trained on, including respaced subsequences); these are for
 * reference and for the tests that tie the two together. */
double sched_vpsde_beta(const Schedule *s, double t);
double sched_vpsde_alpha_bar(const Schedule *s, double t);
double sched_vesde_sigma(const Schedule *s, double t);
double sched_vesde_g2(const Schedule *s, double t);

/* Timestep subsequences for respaced sampling (DDIM sec. 4.2): N levels, strictly
 * increasing, tau_0 = 0 and tau_{N-1} = n-1 (so x_T ~ N(0,I) is used at the level it
 * approximates; N = 1 gives {n-1}). uniform: round(i (n-1)/(N-1)) ("linspace" spacing);
 * quadratic: round((i/(N-1))^2 (n-1)) (denser at low noise, DDIM sec. D.2 uses squares
 * too), repeats pushed apart. DDIM's own reference rule stops at 0.9T-0.8T; ours reaches
 * the top level. Returns N; needs 1 <= steps <= n. */
typedef enum { SKIP_UNIFORM = 0, SKIP_QUADRATIC = 1 } SchedSkip;
int sched_subsequence(const Schedule *s, int steps, SchedSkip skip, int *tau);

#endif
