/* test_ipc_access.c: who may connect to an ipc:// endpoint. The options'
   values and errors; NN_IPC_PERMISSIONS visible with stat() as soon as
   nn_bind returns and enforced on a peer of another user (a forked child
   that becomes nobody, 65534); Linux abstract addresses (ipc://@name)
   round trip and leave no file; NN_IPC_PEER_UIDS / NN_IPC_PEER_GIDS
   refusing peers of other ids on a bound endpoint (counted in
   NN_STAT_ACCEPT_ERRORS) and a listener of another user on a connecting
   one. The parts played by nobody are skipped, with a message, when the
   test cannot change its user (not root). */
#include "testutil.h"

#include <nanomsg/ipc.h>
#include <nanomsg/pair.h>

#include <grp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534
#define IDS_CHECK 8

static void set_int(int s, int opt, int v)
{
    CHECK(nn_setsockopt(s, NN_SOL_SOCKET, opt, &v, sizeof(v)) == 0);
}

static int64_t stat_of(int s, int which) { return (int64_t) nn_get_statistic(s, which); }

static int sock(void)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    CHECK(s >= 0);
    set_int(s, NN_RCVTIMEO, 10000);
    set_int(s, NN_SNDTIMEO, 10000);
    set_int(s, NN_RECONNECT_IVL, 20);
    return s;
}

static bool exchange(int a, int b)
{
    char buf[8];
    return nn_send(a, "ping", 4, 0) == 4 && nn_recv(b, buf, sizeof(buf), 0) == 4 &&
           nn_send(b, "pong", 4, 0) == 4 && nn_recv(a, buf, sizeof(buf), 0) == 4 &&
           memcmp(buf, "pong", 4) == 0;
}

/* ----------------------------------------------- a peer of another user */

enum peer_result {
    PEER_CONNECT_DENIED = 10, /* connect() failed with EACCES */
    PEER_ADMITTED = 11,       /* the server's SP header came */
    PEER_CLOSED = 12,         /* the server closed without a header */
    PEER_SKIP = 77,           /* could not become nobody */
    PEER_ODD = 1,
};

/* In a forked child that became NOBODY (uid and group), connect to the
   address (a path, or @name for an abstract one), send a PAIR SP header
   and report what happened. Only system calls in the child: the parent
   has threads. */
static int peer_as_nobody(const char *where)
{
    pid_t pid = fork();
    if (pid < 0)
        return PEER_ODD;
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
            _exit(PEER_SKIP);
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        size_t n = strlen(where);
        memcpy(sun.sun_path, where, n);
        socklen_t len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + 1);
        if (where[0] == '@') {
            sun.sun_path[0] = '\0';
            len--;
        }
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *) &sun, len) != 0)
            _exit(errno == EACCES ? PEER_CONNECT_DENIED : PEER_ODD);
        static const uint8_t hdr[8] = {0, 'S', 'P', 0, 0, NN_PAIR, 0, 0};
        if (send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL) != (ssize_t) sizeof(hdr))
            _exit(PEER_CLOSED);
        uint8_t got[8];
        size_t have = 0;
        while (have < sizeof(got)) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, 20000) <= 0)
                _exit(PEER_ODD);
            ssize_t r = recv(fd, got + have, sizeof(got) - have, 0);
            if (r <= 0)
                _exit(PEER_CLOSED);
            have += (size_t) r;
        }
        _exit(memcmp(got, hdr, 8) == 0 ? PEER_ADMITTED : PEER_ODD);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : PEER_ODD;
}

static bool can_be_nobody(void)
{
    if (geteuid() == 0 && peer_as_nobody("@fm-ipc-access-probe") != PEER_SKIP)
        return true;
    printf("skipped: peers of another user (needs root to become nobody)\n");
    return false;
}

/* ------------------------------------------------------------ options */

static void test_options(void)
{
    int s = sock();
    int v = 0;
    size_t len = sizeof(v);
    CHECK(nn_getsockopt(s, NN_IPC, NN_IPC_PERMISSIONS, &v, &len) == 0);
    CHECK(len == sizeof(v) && v == -1);
    int ids[IDS_CHECK] = {0};
    len = sizeof(ids);
    CHECK(nn_getsockopt(s, NN_IPC, NN_IPC_PEER_UIDS, ids, &len) == 0);
    CHECK(len == 0);
    len = sizeof(ids);
    CHECK(nn_getsockopt(s, NN_IPC, NN_IPC_PEER_GIDS, ids, &len) == 0);
    CHECK(len == 0);
    len = sizeof(v);
    CHECK(nn_getsockopt(s, NN_IPC, NN_IPC_INBUFSZ, &v, &len) == 0);
    CHECK(v == 4096);

    v = 0640;
    CHECK(nn_setsockopt(s, NN_IPC, NN_IPC_PERMISSIONS, &v, sizeof(v)) == 0);
    v = 0;
    len = sizeof(v);
    CHECK(nn_getsockopt(s, NN_IPC, NN_IPC_PERMISSIONS, &v, &len) == 0);
    CHECK(v == 0640);
    v = 01777;
    CHECK_ERR(nn_setsockopt(s, NN_IPC, NN_IPC_PERMISSIONS, &v, sizeof(v)), EINVAL);
    v = -2;
    CHECK_ERR(nn_setsockopt(s, NN_IPC, NN_IPC_PERMISSIONS, &v, sizeof(v)), EINVAL);
    CHECK_ERR(nn_setsockopt(s, NN_IPC, NN_IPC_PERMISSIONS, &v, 2), EINVAL);

    int two[2] = {1000, 1001};
    CHECK(nn_setsockopt(s, NN_IPC, NN_IPC_PEER_UIDS, two, sizeof(two)) == 0);
    int three[3] = {5, 6, 7};
    CHECK(nn_setsockopt(s, NN_IPC, NN_IPC_PEER_GIDS, three, sizeof(three)) == 0);
    len = sizeof(ids);
    CHECK(nn_getsockopt(s, NN_IPC, NN_IPC_PEER_UIDS, ids, &len) == 0);
    CHECK(len == sizeof(two) && ids[0] == 1000 && ids[1] == 1001);
    len = sizeof(ids);
    CHECK(nn_getsockopt(s, NN_IPC, NN_IPC_PEER_GIDS, ids, &len) == 0);
    CHECK(len == sizeof(three) && ids[2] == 7);
    /* Refused, the old list staying: a partial int, too many, negative. */
    CHECK_ERR(nn_setsockopt(s, NN_IPC, NN_IPC_PEER_UIDS, two, 6), EINVAL);
    static int many[65];
    CHECK_ERR(nn_setsockopt(s, NN_IPC, NN_IPC_PEER_UIDS, many, sizeof(many)), EINVAL);
    int neg[2] = {3, -1};
    CHECK_ERR(nn_setsockopt(s, NN_IPC, NN_IPC_PEER_UIDS, neg, sizeof(neg)), EINVAL);
    len = sizeof(ids);
    CHECK(nn_getsockopt(s, NN_IPC, NN_IPC_PEER_UIDS, ids, &len) == 0);
    CHECK(len == sizeof(two) && ids[1] == 1001);
    /* 64 entries fit; length 0 empties. */
    CHECK(nn_setsockopt(s, NN_IPC, NN_IPC_PEER_UIDS, many, 64 * sizeof(int)) == 0);
    CHECK(nn_setsockopt(s, NN_IPC, NN_IPC_PEER_UIDS, two, 0) == 0);
    len = sizeof(ids);
    CHECK(nn_getsockopt(s, NN_IPC, NN_IPC_PEER_UIDS, ids, &len) == 0);
    CHECK(len == 0);
    /* The other options kept their values through the copies. */
    len = sizeof(ids);
    CHECK(nn_getsockopt(s, NN_IPC, NN_IPC_PEER_GIDS, ids, &len) == 0);
    CHECK(len == sizeof(three));
    len = sizeof(v);
    CHECK(nn_getsockopt(s, NN_IPC, NN_IPC_PERMISSIONS, &v, &len) == 0);
    CHECK(v == 0640);
    /* The stock (Windows) options still take any int. */
    v = 123456;
    CHECK(nn_setsockopt(s, NN_IPC, NN_IPC_OUTBUFSZ, &v, sizeof(v)) == 0);
    CHECK_ERR(nn_setsockopt(s, NN_IPC, 0x1004, &v, sizeof(v)), ENOPROTOOPT);
    nn_close(s);
}

/* ------------------------------------------------------- permissions */

static void test_permissions(bool nobody)
{
    char path[64], addr[80];
    snprintf(path, sizeof(path), "/tmp/fm-ipc-access-%d.ipc", (int) getpid());
    snprintf(addr, sizeof(addr), "ipc://%s", path);
    unlink(path);

    int srv = sock();
    int v = 0600;
    CHECK(nn_setsockopt(srv, NN_IPC, NN_IPC_PERMISSIONS, &v, sizeof(v)) == 0);
    CHECK(nn_bind(srv, addr) >= 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600);
    if (nobody)
        CHECK(peer_as_nobody(path) == PEER_CONNECT_DENIED);
    int cli = sock();
    CHECK(nn_connect(cli, addr) >= 0);
    CHECK(exchange(cli, srv));
    nn_close(cli);
    nn_close(srv);
    CHECK(stat(path, &st) != 0 && errno == ENOENT);

    /* Open to everyone: the same peer gets in. */
    srv = sock();
    v = 0666;
    CHECK(nn_setsockopt(srv, NN_IPC, NN_IPC_PERMISSIONS, &v, sizeof(v)) == 0);
    CHECK(nn_bind(srv, addr) >= 0);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0666);
    if (nobody)
        CHECK(peer_as_nobody(path) == PEER_ADMITTED);
    /* No file to hold bits on an abstract address: refused, not ignored. */
    char abs_addr[64];
    snprintf(abs_addr, sizeof(abs_addr), "ipc://@fm-ipc-access-perm-%d", (int) getpid());
    CHECK_ERR(nn_bind(srv, abs_addr), EINVAL);
    nn_close(srv);
}

/* ---------------------------------------------------------- abstract */

static bool in_proc_net_unix(const char *name)
{
    FILE *f = fopen("/proc/net/unix", "r");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        char *last = strrchr(line, ' ');
        if (last && strncmp(last + 1, name, strlen(name)) == 0 && last[1 + strlen(name)] == '\n')
            found = true;
    }
    fclose(f);
    return found;
}

static void test_abstract(void)
{
    char name[64], addr[80];
    snprintf(name, sizeof(name), "@fm-ipc-access-%d", (int) getpid());
    snprintf(addr, sizeof(addr), "ipc://%s", name);
    char cwd_file[128];
    snprintf(cwd_file, sizeof(cwd_file), "%s", name);

    int srv = sock();
    CHECK(nn_bind(srv, addr) >= 0);
    CHECK(in_proc_net_unix(name));
    struct stat st;
    CHECK(stat(cwd_file, &st) != 0 && errno == ENOENT);
    CHECK(stat(name + 1, &st) != 0 && errno == ENOENT);
    int cli = sock();
    CHECK(nn_connect(cli, addr) >= 0);
    CHECK(exchange(cli, srv));
    /* The name is taken while bound, by us or anyone. */
    int other = sock();
    CHECK_ERR(nn_bind(other, addr), EADDRINUSE);
    nn_close(srv);
    CHECK(WAIT_FOR(!in_proc_net_unix(name), 10));
    /* Free again at once, nothing to remove; the client dials back in. */
    CHECK(nn_bind(other, addr) >= 0);
    CHECK(exchange(cli, other));
    nn_close(cli);
    nn_close(other);

    int s = sock();
    CHECK_ERR(nn_bind(s, "ipc://@"), EINVAL);
    CHECK_ERR(nn_connect(s, "ipc://@"), EINVAL);
    char longest[140];
    memset(longest, 'n', sizeof(longest));
    memcpy(longest, "ipc://@", 7);
    longest[6 + 107] = '\0'; /* "@" and 106 bytes: the most sun_path holds */
    int eid = nn_bind(s, longest);
    CHECK(eid >= 0);
    longest[6 + 107] = 'n';
    longest[6 + 108] = '\0';
    CHECK_ERR(nn_bind(s, longest), ENAMETOOLONG);
    nn_close(s);
}

/* -------------------------------------------------- peer credentials */

static void test_peer_ids(bool nobody)
{
    char addr[80];
    snprintf(addr, sizeof(addr), "ipc://@fm-ipc-access-ids-%d", (int) getpid());
    const char *where = addr + strlen("ipc://");

    /* Root only: nobody is closed at once and counted. */
    int srv = sock();
    int root[1] = {0};
    CHECK(nn_setsockopt(srv, NN_IPC, NN_IPC_PEER_UIDS, root, sizeof(root)) == 0);
    CHECK(nn_bind(srv, addr) >= 0);
    if (nobody) {
        CHECK(peer_as_nobody(where) == PEER_CLOSED);
        CHECK(stat_of(srv, NN_STAT_ACCEPT_ERRORS) == 1);
        CHECK(stat_of(srv, NN_STAT_ACCEPTED_CONNECTIONS) == 0);
    }
    int cli = sock();
    CHECK(nn_connect(cli, addr) >= 0);
    CHECK(exchange(cli, srv));
    nn_close(cli);
    nn_close(srv);

    /* By group only: nobody's group gets in, root (group 0) does not. */
    srv = sock();
    int grp[2] = {4242, NOBODY};
    CHECK(nn_setsockopt(srv, NN_IPC, NN_IPC_PEER_GIDS, grp, sizeof(grp)) == 0);
    CHECK(nn_bind(srv, addr) >= 0);
    if (nobody)
        CHECK(peer_as_nobody(where) == PEER_ADMITTED);
    int64_t refused = stat_of(srv, NN_STAT_ACCEPT_ERRORS);
    cli = sock();
    CHECK(nn_connect(cli, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(srv, NN_STAT_ACCEPT_ERRORS) >= refused + 2, 10)); /* it redials */
    CHECK_ERR(nn_send(cli, "x", 1, NN_DONTWAIT), EAGAIN);
    nn_close(cli);
    nn_close(srv);

    /* A connecting endpoint checks the listener: ours is root's. */
    srv = sock();
    CHECK(nn_bind(srv, addr) >= 0);
    cli = sock();
    int nob[1] = {NOBODY};
    CHECK(nn_setsockopt(cli, NN_IPC, NN_IPC_PEER_UIDS, nob, sizeof(nob)) == 0);
    CHECK(nn_connect(cli, addr) >= 0);
    CHECK(WAIT_FOR(stat_of(cli, NN_STAT_CONNECT_ERRORS) >= 2, 10));
    CHECK(stat_of(cli, NN_STAT_ESTABLISHED_CONNECTIONS) == 0);
    CHECK_ERR(nn_send(cli, "x", 1, NN_DONTWAIT), EAGAIN);
    nn_close(cli);
    cli = sock();
    CHECK(nn_setsockopt(cli, NN_IPC, NN_IPC_PEER_UIDS, root, sizeof(root)) == 0);
    CHECK(nn_connect(cli, addr) >= 0);
    CHECK(exchange(cli, srv));
    nn_close(cli);
    nn_close(srv);
}

int main(void)
{
    test_options();
    bool nobody = can_be_nobody();
    test_permissions(nobody);
    test_abstract();
    test_peer_ids(nobody);
    TEST_DONE();
}
