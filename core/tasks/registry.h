/* The task registry: one line per sample task, TASK(name) for the TaskDef task_<name>_def
 * defined in core/tasks/<name>.c. The order is the order of --help and of error messages.
 * Included by core/task.c only. */
TASK(sdedit)
TASK(repaint)
TASK(ilvr)
TASK(ddib)
TASK(superres)
