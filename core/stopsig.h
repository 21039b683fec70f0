/* Preemption: Slurm sends SIGTERM (or, with --signal, SIGUSR1) before it ends a job. A
 * long job installs the handler once, polls the flag at a safe point (after a step or a
 * round; under MPI through dist_any so every rank stops at the same point), saves its
 * state and exits with DDM_EXIT_REQUEUE, on which the batch scripts requeue it. */
#ifndef DDM_STOPSIG_H
#define DDM_STOPSIG_H

/* exit status of a job stopped by a signal after saving its state: "requeue me" */
#define DDM_EXIT_REQUEUE 99

/* Catch SIGTERM and SIGUSR1 (only a flag is set; the process goes on). */
void stopsig_install(void);
/* The last signal caught (SIGTERM or SIGUSR1), 0 when none. */
int stopsig_received(void);

#endif
