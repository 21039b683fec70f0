/* The stop flag set by SIGTERM/SIGUSR1 (core/stopsig.h). */
#define _POSIX_C_SOURCE 200809L
#include "core/stopsig.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t g_stop_signal = 0;

static void on_stop_signal(int sig) { g_stop_signal = sig; }

void stopsig_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

int stopsig_received(void) { return g_stop_signal; }
