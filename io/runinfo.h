/* A training run folder summed up for `ddm info RUN_DIR`: the task and steps of its
 * config.ini, its checkpoints (steps, the newest's images seen, training time and EMA
 * rates), and from metrics.jsonl the last step, loss (raw and smoothed), learning rate,
 * speed, the ETA to train.max_steps, resumes seen and the Slurm jobs and requeues the
 * train job recorded (slurm_job, slurm_restarts). */
#ifndef DDM_RUNINFO_H
#define DDM_RUNINFO_H

/* Prints the summary of dir on stdout; -1 (nothing printed) when dir has no config.ini. */
int runinfo_describe(const char *dir);

/* RUN_DIR/curves.png from metrics.jsonl: the loss (overall, smoothed, by timestep quartile;
 * a classifier's accuracy by quartile), the learning rate and images/s against the step,
 * three panels (io/plot.h, gnuplot). 1 when written; 0 when there is nothing to plot
 * yet; -1 when no plot could be written (no gnuplot: warned by io/plot). */
int runinfo_curves(const char *dir);

#endif
