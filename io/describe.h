/* `ddm info`: say what any HDF5 file holds, on stdout. Generic first (kind, root
 * attributes, every dataset with dtype, shape and layout; summarized per group when there
 * are many), then what a kind adds: label counts and pixel statistics for a dataset, rows
 * done for a samples set (at the root or in each sampler group of a sweep). */
#ifndef DDM_DESCRIBE_H
#define DDM_DESCRIBE_H

/* all: list every dataset however many. Dies naming path when it is not a readable HDF5
 * file. */
void describe_file(const char *path, int all);
/* ddm info --verify: read every dataset of path whole (HDF5 checks the Fletcher32 checksums
 * of those that have one), print one line per damaged dataset and a summary; returns the
 * number of damaged datasets. */
int describe_verify(const char *path);

#endif
