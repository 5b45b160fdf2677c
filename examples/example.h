/* example.h: the plumbing every example shares, kept out of the examples so
   that each of them shows only its messaging pattern: reporting errors,
   stopping a blocking program cleanly on SIGINT/SIGTERM, and, for the demo
   modes, running roles in child processes over a private ipc address. */
#ifndef FM_EXAMPLE_H
#define FM_EXAMPLE_H

/* Include this first: it asks for POSIX (sigwait, kill, fork) on top of C11. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <nanomsg/nn.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Report the failed call with nanomsg's description of the error, and end
   the process: an example has nothing better to do. */
static inline void ex_fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, nn_strerror(nn_errno()));
    exit(1);
}

/* ------------------------------------------------------- clean stopping */

/* A program blocked in nn_recv or nn_device is best stopped through
   nn_term(), which wakes every blocking call with an error. A signal
   handler must not call it, so the signals are blocked everywhere and one
   thread waits for them with sigwait(). ex_stopping tells a loop that the
   error it just got was the requested stop, not a failure. */
static atomic_int ex_stopping;
static sigset_t ex_stop_set;

/* Call before the first nanomsg call, so that the threads the library
   starts inherit the mask and the signal cannot land on one of them. */
static inline void ex_block_stop_signals(void)
{
    sigemptyset(&ex_stop_set);
    sigaddset(&ex_stop_set, SIGINT);
    sigaddset(&ex_stop_set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &ex_stop_set, NULL);
}

static inline void *ex_signal_waiter(void *arg)
{
    int sig;
    (void) arg;
    if (sigwait(&ex_stop_set, &sig) == 0) {
        atomic_store(&ex_stopping, 1);
        nn_term();
    }
    return NULL;
}

/* Block the stop signals (if not done yet) and start their waiter. */
static inline void ex_stop_on_signals(void)
{
    pthread_t t;
    ex_block_stop_signals();
    if (pthread_create(&t, NULL, ex_signal_waiter, NULL) != 0) {
        perror("pthread_create");
        exit(1);
    }
    pthread_detach(t);
}

static inline int ex_stop_requested(void)
{
    return atomic_load(&ex_stopping);
}

/* --------------------------------------------------------- demo support */

/* An ipc address of our own, so that parallel demos never meet. */
static inline void ex_demo_addr(char *buf, size_t len, const char *name, int n)
{
    snprintf(buf, len, "ipc:///tmp/femtomsg-ex-%s-%ld-%d.ipc", name, (long) getpid(), n);
}

/* The socket file an ipc:// address names, removed once the demo ends. */
static inline void ex_demo_unlink(const char *addr)
{
    if (strncmp(addr, "ipc://", 6) == 0)
        unlink(addr + 6);
}

/* Run role(arg) in a child process that exits with its result. The stop
   signals are blocked before fork() so that a SIGTERM sent early stays
   pending until the child's waiter takes it; nothing of nanomsg may have
   been used in the parent yet (the library's threads do not survive a
   fork). */
static inline pid_t ex_spawn(int (*role)(void *), void *arg)
{
    sigset_t old;
    pthread_sigmask(SIG_SETMASK, NULL, &old);
    ex_block_stop_signals();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0)
        exit(role(arg));
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pid;
}

static inline double ex_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static inline void ex_pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The child's exit status, or -1 if it is still running (or was killed). */
static inline int ex_poll_child(pid_t pid, int *done)
{
    int status;
    *done = 0;
    if (waitpid(pid, &status, WNOHANG) != pid)
        return -1;
    *done = 1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Wait up to `seconds` for a child to end; kill it past that. Returns its
   exit status, or -1 if it had to be killed or died of a signal. */
static inline int ex_reap(pid_t pid, double seconds)
{
    double end = ex_now() + seconds;
    int done, rc;
    while ((rc = ex_poll_child(pid, &done)), !done) {
        if (ex_now() > end) {
            fprintf(stderr, "demo: child %ld did not exit, killing it\n", (long) pid);
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return -1;
        }
        ex_pause_ms(5);
    }
    return rc;
}

/* Ask a long-running role to stop, and collect its status. */
static inline int ex_stop_child(pid_t pid)
{
    kill(pid, SIGTERM);
    return ex_reap(pid, 20.0);
}

#endif
