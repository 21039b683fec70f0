/* The sampler registry: one line per sampler, SAMPLER(name) for the SamplerDef
 * sampler_<name>_def defined in core/samplers/<name>.c. The order is the order of
 * `ddm sample --help` and of error messages. Included by core/sampler.c only. */
SAMPLER(ddpm)
SAMPLER(ddim)
SAMPLER(langevin)
SAMPLER(pc)
SAMPLER(ode)
SAMPLER(dpmpp2m)
SAMPLER(unipc)
SAMPLER(pnp)
