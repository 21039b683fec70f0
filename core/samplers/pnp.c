/* pnp: plug-and-play priors (Graikos et al. 2022, Algorithm 1; the seed's "As Plug-and-Play
 * Priors"): a point estimate of p(x | y) under the DDPM prior and a constraint c(x, y), by
 * gradient steps
 *     x <- x - lambda grad_x [ ||eps - eps_theta(sqrt(ab_t) x + sqrt(1 - ab_t) eps, t)||^2
 *                              - log c(x, y) ]
 * over a time schedule t_1 > ... > t_N (linear from t_start T down to t_end T), a fresh eps
 * each step, from x ~ N(0, I). The first term's gradient runs back through the whole
 * network (denoiser_prior_grad). The constraint is the denoiser's classifier (denoiser
 * grad_fn: a clean classifier's log p(y | x), scaled by classifier_scale, toward the
 * sample's class); known pixels under a mask come from the repaint task (--task repaint
 * --resample 1), which here sets them exactly after every step: x is the data itself at
 * every level of the plan (a = 1, sg = 0), i.e. c is the indicator of the known pixels.
 * With clip = 1, x is clipped to [-1, 1] after each step (the images' range).
 *
 * prior_weight: the gradient of the prior term is about 2 ab_t / sqrt(1 - ab_t) (x - x0^)
 * (x0^ the network's denoised estimate), so one learning rate is far too small at large t
 * and unstable at small t (x 66 at ab = 0.999). "sigma" (the default) weights the term by
 * w(t) = sqrt(1 - ab_t) / (2 sqrt(ab_t)), which makes a step move x a fraction of about lr
 * toward x0^ at every t (a time weighting of the loss, as the weighted ELBO terms of Ho et
 * al. 2020 and the w(t) of score distillation); "none" runs Algorithm 1 as printed. */
#include <math.h>
#include <string.h>

#include "core/common.h"
#include "core/sampler.h"

/* the schedule's level of step i, kept in the plan's aux */
static int level(const SamplerPlan *p, int i) { return (int)p->aux[(size_t)i * SAMPLER_AUX]; }

static void plan(const SamplerConfig *sc, const Schedule *s, int N, SamplerPlan *p)
{
    const int T = s->n;
    for (int i = 0; i <= N; i++) sampler_plan_set_k(p, s, i, -1); /* x is the data */
    for (int i = 0; i < N; i++) {
        const double f = N > 1 ? (double)i / (N - 1) : 0.0;
        const double t = sc->t_start + (sc->t_end - sc->t_start) * f; /* in (0, 1] */
        int k = (int)lround(t * T) - 1;
        k = k < 0 ? 0 : k > T - 1 ? T - 1 : k;
        p->aux[(size_t)i * SAMPLER_AUX] = k;
    }
}

static void step(SampleRun *r, int i, float *x)
{
    const Schedule *s = r->s;
    Denoiser *d = r->den;
    const int k = level(r->plan, i);
    const double ab = s->alpha_bar[k], ca = sqrt(ab), cs = sqrt(1.0 - ab);
    const size_t n = r->n;
    /* lines 3-4: eps ~ N(0, I) from the sample's stream, x_t = sqrt(ab) x + sqrt(1-ab) eps */
    sampler_draw_normals(r->z, r->seeds, r->stream_offset + (uint64_t)i, r->B, r->D);
    for (size_t j = 0; j < n; j++) r->tmp[j] = (float)(ca * x[j] + cs * r->z[j]);
    /* line 5: grad_x ||eps - eps_theta(x_t)||^2 = sqrt(ab) grad_{x_t} */
    denoiser_prior_grad(d, r->eps, r->x0, r->tmp, sched_tcond(s, s->sigma[k]), r->z);
    const float *gc = NULL;
    if (d->targets && d->grad_scale != 0) { /* - log c = - log p(y | x) */
        d->grad_fn(d->grad_ctx, r->priv, x, d->tc, d->targets, d->keys, d->B);
        d->grad_calls++;
        gc = r->priv;
    }
    const double lr = r->sc->lr, w = d->grad_scale;
    const double wp = r->sc->prior_weight ? cs / (2.0 * ca) : 1.0;
    for (size_t j = 0; j < n; j++) {
        double g = wp * ca * r->x0[j] - (gc ? w * gc[j] : 0.0);
        double v = x[j] - lr * g;
        if (r->sc->clip) v = v < -1 ? -1 : v > 1 ? 1 : v;
        x[j] = (float)v;
    }
}

static int check(const SamplerConfig *sc, const Schedule *s, int N, char *err, size_t errlen)
{
    (void)N;
    if (s->cfg.prediction != PRED_EPS) {
        snprintf(err, errlen, "sampler pnp: the prior term is ||eps - eps_theta||^2: it needs an "
                 "eps-prediction model (this one predicts %s)", sched_pred_name(s->cfg.prediction));
        return -1;
    }
    if (sc->guidance != 0) {
        snprintf(err, errlen, "sampler pnp takes no classifier-free guidance (guidance %g): "
                 "its constraint is the classifier (--prior-classifier, classifier_scale)",
                 sc->guidance);
        return -1;
    }
    if (!(sc->t_end <= sc->t_start)) {
        snprintf(err, errlen, "sampler pnp: t_end %g above t_start %g: the schedule runs from "
                 "noisy to clean", sc->t_end, sc->t_start);
        return -1;
    }
    return 0;
}

#define OFF(f) offsetof(SamplerConfig, f)
static const OptSpec OPTS[] = {
    {NULL, "lr", OPT_F64, OFF(lr), 0, NULL, "0.2", "LAMBDA", "",
     "learning rate of each gradient step (Algorithm 1's lambda)", 1e-12, 1e6, 0, 0},
    {NULL, "t_start", OPT_F64, OFF(t_start), 0, NULL, "0.7", "T", "fraction of T",
     "first time of the schedule, as a fraction of the model's T", 1e-9, 1, 0, 0},
    {NULL, "t_end", OPT_F64, OFF(t_end), 0, NULL, "0.02", "T", "fraction of T",
     "last time of the schedule (linear from t_start)", 1e-9, 1, 0, 0},
    {NULL, "prior_weight", OPT_CHOICE, OFF(prior_weight), 0, "none|sigma", "sigma", NULL, "",
     "time weighting of the prior term: sigma = sqrt(1-ab)/(2 sqrt(ab)), none = as printed",
     0, 0, 0, 0},
    {NULL, "clip", OPT_BOOL, OFF(clip), 0, NULL, "1", "0|1", "",
     "clip x to [-1,1] after each step (images)", 0, 0, 0, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0},
};

const SamplerDef sampler_pnp_def = {
    .name = "pnp",
    .cite = "Graikos et al. 2022 (plug-and-play priors), Algorithm 1; each step a forward and a "
            "backward pass of the network",
    .processes = 1u << PROC_VP,
    .opts = OPTS,
    .steps_default = 100,
    .check = check,
    .plan = plan,
    .step = step,
    .priv_per_value = 1,
};
