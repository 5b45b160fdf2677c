/* loop_threads.h: the library's loop threads ("fm-loop-<n>" in
   /proc/self/task), their voluntary context switches and blocked signals,
   for tests that check which loops woke up and how often, and what
   signals they take. */
#ifndef FM_LOOP_THREADS_H
#define FM_LOOP_THREADS_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct loop_thread {
    int tid;
    long switches;
    unsigned long long sigblk; /* bit n-1: signal n blocked */
};

/* The loop threads of this process and their voluntary context switches. */
static inline int loop_threads(struct loop_thread *out, int cap)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < cap) {
        if (de->d_name[0] == '.')
            continue;
        char path[300], comm[32] = "";
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (!fgets(comm, sizeof(comm), f))
            comm[0] = '\0';
        fclose(f);
        if (strncmp(comm, "fm-loop-", 8) != 0)
            continue;
        out[n].tid = atoi(de->d_name);
        out[n].switches = -1;
        out[n].sigblk = 0;
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", de->d_name);
        if ((f = fopen(path, "r"))) {
            char line[128];
            while (fgets(line, sizeof(line), f)) {
                if (sscanf(line, "SigBlk: %llx", &out[n].sigblk) == 1)
                    continue;
                if (sscanf(line, "voluntary_ctxt_switches: %ld", &out[n].switches) == 1)
                    break; /* (after SigBlk in the file) */
            }
            fclose(f);
        }
        n++;
    }
    closedir(d);
    return n;
}

/* All of their voluntary switches: how often they went to sleep, so how
   often they were woken. */
static inline long loop_wakeups(void)
{
    struct loop_thread t[64];
    int n = loop_threads(t, 64);
    if (n < 0)
        return -1;
    long total = 0;
    for (int i = 0; i < n; i++)
        total += t[i].switches > 0 ? t[i].switches : 0;
    return total;
}

#endif
