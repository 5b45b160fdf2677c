/* test_fidelity_print_errors.c: what NN_PRINT_ERRORS prints (nn_env(7)),
   seen on the standard error of a child process of this test, which runs
   with the variable set:
     - the line's form: "nanomsg: socket.<name>[<address without the
       scheme>]: Error: <nn_strerror text>", as stock prints it;
     - an error other than the endpoint's last one is printed at once;
     - the same error again is printed at most once a second, with the
       number of times it happened since the last line, so a peer that
       stays down neither floods the log nor falls silent;
   and, in a second child, that printing an endpoint's error while another
   thread renames the socket (NN_SOCKET_NAME) is free of data races (the
   check bites under ThreadSanitizer, whose report fails the child). */
#include "test_api_util.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

static int64_t st(int s, int stat) { return (int64_t) nn_get_statistic(s, stat); }

/* Child 1: one connecting ipc endpoint whose error changes twice. Prints
   "<connect errors> <elapsed ms>" on stdout. */
static int child_repeats(const char *path)
{
    char addr[NN_SOCKADDR_MAX];
    snprintf(addr, sizeof(addr), "ipc://%s", path);
    unlink(path);
    int c = nn_socket(AF_SP, NN_PAIR);
    int ivl = 10;
    nn_setsockopt(c, NN_SOL_SOCKET, NN_RECONNECT_IVL, &ivl, sizeof(ivl));
    nn_setsockopt(c, NN_SOL_SOCKET, NN_SOCKET_NAME, "fidchild", 8);
    double t0 = tu_now();
    if (nn_connect(c, addr) < 0)
        return 2;
    /* ENOENT for a while: long enough for a reminder with its count. */
    if (!WAIT_FOR(st(c, NN_STAT_CONNECT_ERRORS) >= 5 && tu_now() - t0 > 1.6, 20))
        return 3;
    /* A plain file there: ECONNREFUSED, a new error. */
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    if (fd < 0)
        return 4;
    close(fd);
    int64_t e = st(c, NN_STAT_CONNECT_ERRORS);
    if (!WAIT_FOR(st(c, NN_STAT_CONNECT_ERRORS) >= e + 3, 20))
        return 5;
    /* Gone again: ENOENT, new once more. */
    unlink(path);
    e = st(c, NN_STAT_CONNECT_ERRORS);
    if (!WAIT_FOR(st(c, NN_STAT_CONNECT_ERRORS) >= e + 3, 20))
        return 6;
    printf("%lld %.0f\n", (long long) st(c, NN_STAT_CONNECT_ERRORS), (tu_now() - t0) * 1e3);
    fflush(stdout);
    nn_close(c);
    return 0;
}

/* Child 2: endpoints print their first error (each its own, at once) on
   the loop threads while this thread keeps renaming the socket. */
static atomic_int renaming = 1;
static void *renamer(void *arg)
{
    int s = *(int *) arg;
    char name[32];
    for (unsigned i = 0; atomic_load(&renaming); i++) {
        int n = snprintf(name, sizeof(name), "name-%u-%s", i, i % 2 ? "long-long-long" : "x");
        nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, name, (size_t) n);
    }
    return NULL;
}

static int child_rename(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    pthread_t th;
    pthread_create(&th, NULL, renamer, &s);
    int n = under_sanitizer() ? 100 : 300;
    for (int i = 0; i < n; i++) {
        char addr[NN_SOCKADDR_MAX];
        snprintf(addr, sizeof(addr), "ipc:///tmp/fm-fid-none-%d-%d.ipc", (int) getpid(), i);
        int eid = nn_connect(s, addr);
        if (eid < 0)
            return 2;
    }
    bool all = WAIT_FOR(st(s, NN_STAT_CURRENT_EP_ERRORS) == n, 20);
    atomic_store(&renaming, 0);
    pthread_join(th, NULL);
    nn_close(s);
    return all ? 0 : 3;
}

/* Run this program as a child with NN_PRINT_ERRORS=1; its stderr goes to
   errfile, its stdout to outfile. Returns the exit status, -1 if it did
   not exit normally. */
static int run_child(const char *mode, const char *arg, const char *outfile, const char *errfile)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return -1;
    self[n] = 0;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, outfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    static char *env[256];
    int k = 0;
    env[k++] = "NN_PRINT_ERRORS=1";
    for (char **e = environ; *e && k < 254; e++)
        if (strncmp(*e, "NN_PRINT_ERRORS=", 16) != 0)
            env[k++] = *e;
    env[k] = NULL;
    char *argv[] = {self, (char *) mode, (char *) arg, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, self, &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void check_repeats(void)
{
    char path[128], out[128], err[128];
    snprintf(path, sizeof(path), "/tmp/fm-fidpe-%d.ipc", (int) getpid());
    snprintf(out, sizeof(out), "/tmp/fm-fidpe-%d.out", (int) getpid());
    snprintf(err, sizeof(err), "/tmp/fm-fidpe-%d.err", (int) getpid());
    int rc = run_child("--child-repeats", path, out, err);
    CHECK(rc == 0);
    long long errors = 0;
    double ms = 0;
    FILE *f = fopen(out, "r");
    CHECK(f && fscanf(f, "%lld %lf", &errors, &ms) == 2);
    if (f)
        fclose(f);

    char prefix[256];
    snprintf(prefix, sizeof(prefix), "nanomsg: socket.fidchild[%s]: Error: ", path);
    const char *enoent = nn_strerror(ENOENT), *refused = nn_strerror(ECONNREFUSED);
    /* Phases: 0 first ENOENT, 1 its reminders, 2 ECONNREFUSED, 3 ENOENT. */
    int phase = -1, lines = 0, reminders = 0;
    long long counted = 0;
    char line[512];
    f = fopen(err, "r");
    CHECK(f != NULL);
    while (f && fgets(line, sizeof(line), f)) {
        lines++;
        line[strcspn(line, "\n")] = 0;
        bool ok = strncmp(line, prefix, strlen(prefix)) == 0;
        const char *what = line + (ok ? strlen(prefix) : 0);
        unsigned times = 0;
        const char *paren = strstr(what, " (");
        if (paren && sscanf(paren, " (%u times since the last report)", &times) != 1)
            ok = false;
        size_t wl = paren ? (size_t) (paren - what) : strlen(what);
        bool is_enoent = wl == strlen(enoent) && strncmp(what, enoent, wl) == 0;
        bool is_refused = wl == strlen(refused) && strncmp(what, refused, wl) == 0;
        if (phase < 0 && is_enoent && !times) {
            phase = 0;
        } else if (phase >= 0 && phase <= 1 && is_enoent && times >= 1) {
            phase = 1;
            reminders++;
            counted += times;
        } else if (phase >= 0 && phase <= 1 && is_refused && !times) {
            phase = 2;
        } else if (phase == 2 && is_refused && times >= 1) {
            counted += times;
        } else if (phase == 2 && is_enoent && !times) {
            phase = 3;
        } else if (phase == 3 && is_enoent && times >= 1) {
            counted += times;
        } else {
            ok = false;
        }
        if (!ok)
            fprintf(stderr, "unexpected line %d (phase %d): %s\n", lines, phase, line);
        CHECK(ok);
    }
    if (f)
        fclose(f);
    CHECK(phase == 3);
    /* A reminder came for the first error, and each line stands for many
       attempts: at most the three changes plus one a second. */
    CHECK(reminders >= 1);
    CHECK(lines <= 3 + (int) (ms / 1000) + 1);
    CHECK(counted + 3 <= errors);
    printf("  %lld failed attempts in %.0f ms printed as %d lines (%d reminders)\n", errors, ms,
           lines, reminders);
    unlink(out);
    unlink(err);
    unlink(path);
}

static void check_rename_race(void)
{
    char out[128];
    snprintf(out, sizeof(out), "/tmp/fm-fidpe-%d.rename", (int) getpid());
    int rc = run_child("--child-rename", "", "/dev/null", out);
    if (rc != 0) {
        FILE *f = fopen(out, "r");
        char line[512];
        int shown = 0;
        while (f && fgets(line, sizeof(line), f) && shown++ < 40)
            if (strncmp(line, "nanomsg: ", 9) != 0)
                fputs(line, stderr);
        if (f)
            fclose(f);
    }
    CHECK(rc == 0);
    unlink(out);
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--child-repeats") == 0)
        return child_repeats(argv[2]);
    if (argc > 1 && strcmp(argv[1], "--child-rename") == 0)
        return child_rename();
    check_repeats();
    check_rename_race();
    TEST_DONE();
}
