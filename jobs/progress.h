/* Compatibility include for jobs/sample.c, which is being rewritten by its owner: the
 * progress module now lives in core/progress.h. Remove once nothing includes this. */
#include "core/progress.h"
