/* nanocat.c: the nanocat command-line tool (send and receive messages on any
   scalability-protocol socket), option for option, message for message and
   exit code for exit code what the stock nanocat 1.1 prints and does. It only
   uses the public nn_* API. Exit codes: 0 done, 1 bad command line, 2 data
   file unreadable, 3 a socket call failed. Where the stock tool misbehaves
   (it asserts on an empty --file, spins on a directory, mixes up repeated
   -X/-x/-L/-l addresses, aborts on a negative --delay and truncates
   --recv-timeout to whole seconds) this one does what the option says. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nanomsg/bus.h>
#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>

/* Option bits. An option sets some, conflicts with options that set others,
   and may require that some option setting one of its required bits was
   given. All socket types share NC_TYPE so that any two of them conflict and
   one of them is mandatory; NC_READS / NC_WRITES say what the type can do. */
enum {
    NC_TYPE = 1u << 0,
    NC_READS = 1u << 1,
    NC_WRITES = 1u << 2,
    NC_SUBSCRIBES = 1u << 3,
    NC_DATA = 1u << 4,
    NC_ENDPOINT = 1u << 5,
};
#define NC_MANDATORY (NC_TYPE | NC_ENDPOINT)

enum nc_kind {
    K_VERBOSE, K_SILENT, K_HELP, K_TYPE,
    K_BIND, K_CONNECT, K_BIND_IPC, K_CONNECT_IPC, K_BIND_LOCAL, K_CONNECT_LOCAL,
    K_RECV_TIMEOUT, K_SEND_TIMEOUT, K_SOCKET_NAME, K_SUBSCRIBE,
    K_FORMAT, K_FORMAT_IS, K_INTERVAL, K_DELAY, K_DATA, K_FILE,
};

enum nc_format { F_NO, F_RAW, F_ASCII, F_QUOTED, F_MSGPACK, F_HEX };
static const char *const nc_format_names[] = {
    "no", "raw", "ascii", "quoted", "msgpack", "hex", NULL,
};

struct nc_opt {
    const char *name;
    char letter; /* short form, 0 if none */
    enum nc_kind kind;
    int value; /* socket type or format */
    const char *group;
    const char *meta; /* NULL: takes no argument */
    unsigned sets, conflicts, requires;
    const char *help;
};

#define NC_TYPE_OPT(n, proto, rw, extra, help)                                       \
    {n, 0, K_TYPE, proto, "Socket Types", NULL, NC_TYPE | (rw), NC_TYPE, extra, help}
#define NC_FMT_OPT(n, l, f, help)                                                    \
    {n, l, K_FORMAT_IS, f, "Input Options", NULL, 0, 0, NC_READS, help}

static const struct nc_opt nc_opts[] = {
    {"verbose", 'v', K_VERBOSE, 0, "Generic", NULL, 0, 0, 0,
     "Increase verbosity of the nanocat"},
    {"silent", 'q', K_SILENT, 0, "Generic", NULL, 0, 0, 0,
     "Decrease verbosity of the nanocat"},
    {"help", 'h', K_HELP, 0, "Generic", NULL, 0, 0, 0, "This help text"},

    NC_TYPE_OPT("push", NN_PUSH, NC_WRITES, NC_DATA, "Use NN_PUSH socket type"),
    NC_TYPE_OPT("pull", NN_PULL, NC_READS, 0, "Use NN_PULL socket type"),
    NC_TYPE_OPT("pub", NN_PUB, NC_WRITES, NC_DATA, "Use NN_PUB socket type"),
    NC_TYPE_OPT("sub", NN_SUB, NC_READS | NC_SUBSCRIBES, 0, "Use NN_SUB socket type"),
    NC_TYPE_OPT("req", NN_REQ, NC_READS | NC_WRITES, NC_DATA, "Use NN_REQ socket type"),
    NC_TYPE_OPT("rep", NN_REP, NC_READS | NC_WRITES, 0, "Use NN_REP socket type"),
    NC_TYPE_OPT("surveyor", NN_SURVEYOR, NC_READS | NC_WRITES, NC_DATA,
                "Use NN_SURVEYOR socket type"),
    NC_TYPE_OPT("respondent", NN_RESPONDENT, NC_READS | NC_WRITES, 0,
                "Use NN_RESPONDENT socket type"),
    NC_TYPE_OPT("bus", NN_BUS, NC_READS | NC_WRITES, 0, "Use NN_BUS socket type"),
    NC_TYPE_OPT("pair", NN_PAIR, NC_READS | NC_WRITES, 0, "Use NN_PAIR socket type"),

    {"bind", 0, K_BIND, 0, "Socket Options", "ADDR", NC_ENDPOINT, 0, 0,
     "Bind socket to the address ADDR"},
    {"connect", 0, K_CONNECT, 0, "Socket Options", "ADDR", NC_ENDPOINT, 0, 0,
     "Connect socket to the address ADDR"},
    {"bind-ipc", 'X', K_BIND_IPC, 0, "Socket Options", "PATH", NC_ENDPOINT, 0, 0,
     "Bind socket to the ipc address \"ipc://PATH\"."},
    {"connect-ipc", 'x', K_CONNECT_IPC, 0, "Socket Options", "PATH", NC_ENDPOINT, 0, 0,
     "Connect socket to the ipc address \"ipc://PATH\"."},
    {"bind-local", 'L', K_BIND_LOCAL, 0, "Socket Options", "PORT", NC_ENDPOINT, 0, 0,
     "Bind socket to the tcp address \"tcp://127.0.0.1:PORT\"."},
    {"connect-local", 'l', K_CONNECT_LOCAL, 0, "Socket Options", "PORT", NC_ENDPOINT, 0,
     0, "Connect socket to the tcp address \"tcp://127.0.0.1:PORT\"."},
    {"recv-timeout", 0, K_RECV_TIMEOUT, 0, "Socket Options", "SEC", 0, 0, NC_READS,
     "Set timeout for receiving a message"},
    {"send-timeout", 0, K_SEND_TIMEOUT, 0, "Socket Options", "SEC", 0, 0, NC_WRITES,
     "Set timeout for sending a message"},
    {"socket-name", 0, K_SOCKET_NAME, 0, "Socket Options", "NAME", 0, 0, 0,
     "Name of the socket for statistics"},

    {"subscribe", 0, K_SUBSCRIBE, 0, "SUB Socket Options", "PREFIX", 0, 0, NC_SUBSCRIBES,
     "Subscribe to the prefix PREFIX. Note: socket will be subscribed to everything "
     "(empty prefix) if no prefixes are specified on the command-line."},

    {"format", 0, K_FORMAT, 0, "Input Options", "FORMAT", 0, 0, NC_READS,
     "Use echo format FORMAT (same as the options below)"},
    NC_FMT_OPT("raw", 0, F_RAW, "Dump message as is (Note: no delimiters are printed)"),
    NC_FMT_OPT("ascii", 'A', F_ASCII,
               "Print ASCII part of message delimited by newline. All non-ascii "
               "characters replaced by dot."),
    NC_FMT_OPT("quoted", 'Q', F_QUOTED,
               "Print each message on separate line in double quotes with C-like "
               "character escaping"),
    NC_FMT_OPT("msgpack", 0, F_MSGPACK,
               "Print each message as msgpacked string (raw type). This is useful for "
               "programmatic parsing."),
    NC_FMT_OPT("hex", 0, F_HEX,
               "Print each message on separate line in double quotes with hex values"),

    {"interval", 'i', K_INTERVAL, 0, "Output Options", "SEC", 0, 0, NC_WRITES,
     "Send message (or request) every SEC seconds"},
    {"delay", 'd', K_DELAY, 0, "Output Options", "SEC", 0, 0, 0,
     "Wait for SEC seconds before sending message (useful for one-shot PUB sockets)"},
    {"data", 'D', K_DATA, 0, "Output Options", "DATA", NC_DATA, NC_DATA, NC_WRITES,
     "Send DATA to the socket and quit for PUB, PUSH, PAIR, BUS socket. Use DATA to "
     "reply for REP or  RESPONDENT socket. Send DATA as request for REQ or SURVEYOR "
     "socket."},
    {"file", 'F', K_FILE, 0, "Output Options", "PATH", NC_DATA, NC_DATA, NC_WRITES,
     "Same as --data but get data from file PATH"},
};
#define NC_NOPTS ((int) (sizeof nc_opts / sizeof nc_opts[0]))

/* Everything the command line decides. Kept global so that the exits from
   deep inside the parser leave nothing unreachable behind. */
static struct {
    const char *prog;
    unsigned set;
    char *given_as[NC_NOPTS]; /* how each given option was spelled, for messages */
    int type;
    int verbosity;
    char **binds, **connects;
    int nbinds, nconnects;
    int has_recv_timeout, has_send_timeout;
    float recv_timeout, send_timeout;
    const char *socket_name;
    char **subscriptions;
    int nsubscriptions;
    enum nc_format format;
    float interval, delay;
    char *data;
    size_t data_len;
} nc;

static void *nc_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "%s: Memory error while parsing command-line\n", nc.prog);
        exit(1);
    }
    return p;
}

static char *nc_concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = nc_alloc(la + lb + 1);
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

static void nc_push(char ***list, int *n, char *item)
{
    char **grown = realloc(*list, (size_t) (*n + 1) * sizeof **list);
    if (!grown) {
        fprintf(stderr, "%s: Memory error while parsing command-line\n", nc.prog);
        exit(1);
    }
    grown[(*n)++] = item;
    *list = grown;
}

/* ------------------------------------------------------------------ help */

#define NC_HELP_COL 24
#define NC_HELP_WIDTH 80

static void nc_print_help(FILE *f)
{
    fprintf(f, "Usage:\n    %s ", nc.prog);
    int first = 1;
    for (int i = 0; i < NC_NOPTS; i++)
        if (nc_opts[i].sets & NC_MANDATORY) {
            fprintf(f, "%s--%s", first ? "{" : "|", nc_opts[i].name);
            first = 0;
        }
    fputs("} ", f);
    first = 1;
    for (int i = 0; i < NC_NOPTS; i++)
        if (nc_opts[i].letter && !nc_opts[i].meta && !(nc_opts[i].sets & NC_MANDATORY)) {
            fprintf(f, first ? "[-%c" : "%c", nc_opts[i].letter);
            first = 0;
        }
    if (!first)
        fputs("] ", f);
    for (int i = 0; i < NC_NOPTS; i++)
        if (nc_opts[i].letter && nc_opts[i].meta && !(nc_opts[i].sets & NC_MANDATORY))
            fprintf(f, "[-%c %s] ", nc_opts[i].letter, nc_opts[i].meta);
    fputs("[options] \n\nA command-line interface to nanomsg\n", f);

    const char *group = NULL;
    for (int i = 0; i < NC_NOPTS; i++) {
        const struct nc_opt *o = &nc_opts[i];
        if (!group || strcmp(group, o->group) != 0) {
            group = o->group;
            fprintf(f, "\n%s:\n", group);
        }
        int col = fprintf(f, " --%s", o->name);
        if (o->letter)
            col += fprintf(f, ",-%c", o->letter);
        if (o->meta)
            col += fprintf(f, " %s", o->meta);
        if (col > NC_HELP_COL - 2) {
            fputc('\n', f);
            col = 0;
        }
        fprintf(f, "%*s", NC_HELP_COL - col, "");
        col = NC_HELP_COL;

        /* Greedy word wrap; splitting on single spaces keeps any doubled
           space of the text where it was. */
        const char *w = o->help;
        int at_line_start = 1;
        for (;;) {
            const char *end = strchr(w, ' ');
            int len = end ? (int) (end - w) : (int) strlen(w);
            if (!at_line_start && col + 1 + len >= NC_HELP_WIDTH) {
                fprintf(f, "\n%*s", NC_HELP_COL, "");
                col = NC_HELP_COL;
                at_line_start = 1;
            }
            if (!at_line_start) {
                fputc(' ', f);
                col++;
            }
            fwrite(w, 1, (size_t) len, f);
            col += len;
            at_line_start = 0;
            if (!end)
                break;
            w = end + 1;
        }
        fputc('\n', f);
    }
}

/* --------------------------------------------------------------- parsing */

static void nc_usage_error_head(int idx)
{
    fprintf(stderr, "%s: Option %s ", nc.prog, nc.given_as[idx]);
}

/* The options setting any of `mask`, long form then short form. */
static void nc_list_options(unsigned mask)
{
    for (int i = 0; i < NC_NOPTS; i++)
        if (nc_opts[i].sets & mask) {
            fprintf(stderr, "    --%s\n", nc_opts[i].name);
            if (nc_opts[i].letter)
                fprintf(stderr, "    -%c\n", nc_opts[i].letter);
        }
}

static float nc_float_arg(int idx, const char *arg)
{
    char *end;
    float v = strtof(arg, &end);
    if (end == arg || *end) {
        nc_usage_error_head(idx);
        fputs("requires float point argument\n", stderr);
        exit(1);
    }
    return v;
}

static void nc_read_file(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "Error opening file ``%s'': %s\n", path, strerror(errno));
        exit(2);
    }
    size_t cap = 4096, len = 0;
    char *buf = nc_alloc(cap);
    for (;;) {
        if (len == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                fprintf(stderr, "%s: Memory error while parsing command-line\n", nc.prog);
                exit(1);
            }
            buf = grown;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                fprintf(stderr, "Error reading file ``%s'': %s\n", path, strerror(errno));
                exit(2);
            }
            if (feof(f))
                break;
        }
    }
    if (f != stdin)
        fclose(f);
    nc.data = buf;
    nc.data_len = len;
}

static void nc_process(int idx, const char *arg, char *spelling)
{
    const struct nc_opt *o = &nc_opts[idx];
    int seen_before = nc.given_as[idx] != NULL;
    free(nc.given_as[idx]);
    nc.given_as[idx] = spelling;

    if (o->conflicts & nc.set) {
        nc_usage_error_head(idx);
        fputs("conflicts with the following options:\n", stderr);
        for (int i = 0; i < NC_NOPTS; i++)
            if (nc.given_as[i] && (nc_opts[i].sets & o->conflicts) &&
                (i != idx || seen_before))
                fprintf(stderr, "    %s \n", nc.given_as[i]);
        exit(1);
    }
    nc.set |= o->sets;

    switch (o->kind) {
    case K_VERBOSE: nc.verbosity++; break;
    case K_SILENT: nc.verbosity--; break;
    case K_HELP:
        nc_print_help(stdout);
        exit(0);
    case K_TYPE: nc.type = o->value; break;
    case K_BIND: nc_push(&nc.binds, &nc.nbinds, nc_concat(arg, "")); break;
    case K_CONNECT: nc_push(&nc.connects, &nc.nconnects, nc_concat(arg, "")); break;
    case K_BIND_IPC: nc_push(&nc.binds, &nc.nbinds, nc_concat("ipc://", arg)); break;
    case K_CONNECT_IPC:
        nc_push(&nc.connects, &nc.nconnects, nc_concat("ipc://", arg));
        break;
    case K_BIND_LOCAL:
        nc_push(&nc.binds, &nc.nbinds, nc_concat("tcp://127.0.0.1:", arg));
        break;
    case K_CONNECT_LOCAL:
        nc_push(&nc.connects, &nc.nconnects, nc_concat("tcp://127.0.0.1:", arg));
        break;
    case K_RECV_TIMEOUT:
        nc.recv_timeout = nc_float_arg(idx, arg);
        nc.has_recv_timeout = 1;
        break;
    case K_SEND_TIMEOUT:
        nc.send_timeout = nc_float_arg(idx, arg);
        nc.has_send_timeout = 1;
        break;
    case K_SOCKET_NAME: nc.socket_name = arg; break;
    case K_SUBSCRIBE:
        nc_push(&nc.subscriptions, &nc.nsubscriptions, nc_concat(arg, ""));
        break;
    case K_FORMAT: {
        int f;
        for (f = 0; nc_format_names[f]; f++)
            if (strcmp(arg, nc_format_names[f]) == 0)
                break;
        if (!nc_format_names[f]) {
            fprintf(stderr, "%s: Invalid value ``%s'' for %s . Options are:\n", nc.prog, arg,
                    nc.given_as[idx]);
            for (f = 0; nc_format_names[f]; f++)
                fprintf(stderr, "    %s\n", nc_format_names[f]);
            exit(1);
        }
        nc.format = (enum nc_format) f;
        break;
    }
    case K_FORMAT_IS: nc.format = (enum nc_format) o->value; break;
    case K_INTERVAL: nc.interval = nc_float_arg(idx, arg); break;
    case K_DELAY: nc.delay = nc_float_arg(idx, arg); break;
    case K_DATA:
        nc.data_len = strlen(arg);
        nc.data = nc_alloc(nc.data_len);
        memcpy(nc.data, arg, nc.data_len);
        break;
    case K_FILE: nc_read_file(arg); break;
    }
}

static char *nc_spell_short(int idx)
{
    const char *name = nc_opts[idx].name;
    char *s = nc_alloc(strlen(name) + 8);
    sprintf(s, "-%c (--%s)", nc_opts[idx].letter, name);
    return s;
}

/* A long option as typed: an abbreviation shows the rest in brackets. */
static char *nc_spell_long(int idx, const char *token, size_t typed)
{
    const char *name = nc_opts[idx].name;
    if (typed >= strlen(name))
        return nc_concat(token, "");
    char *s = nc_alloc(typed + strlen(name) + 5);
    sprintf(s, "--%.*s[%s]", (int) typed, name, name + typed);
    return s;
}

static void nc_long_option(const char *token, int argc, char **argv, int *i)
{
    const char *name = token + 2;
    const char *eq = strchr(name, '=');
    size_t typed = eq ? (size_t) (eq - name) : strlen(name);
    int found = -1, matches = 0;
    if (typed > 0) {
        for (int k = 0; k < NC_NOPTS; k++) {
            if (strncmp(nc_opts[k].name, name, typed) != 0)
                continue;
            if (nc_opts[k].name[typed] == '\0') {
                found = k;
                matches = 1;
                break;
            }
            if (matches++ == 0)
                found = k;
        }
    }
    if (matches == 0) {
        fprintf(stderr, "%s: Unknown option ``%s''\n", nc.prog, token);
        exit(1);
    }
    if (matches > 1) {
        fprintf(stderr, "%s: Ambiguous option ``%s'':\n", nc.prog, token);
        for (int k = 0; k < NC_NOPTS; k++)
            if (strncmp(nc_opts[k].name, name, typed) == 0)
                fprintf(stderr, "    %s\n", nc_opts[k].name);
        exit(1);
    }
    char *spelling = nc_spell_long(found, token, typed);
    const char *arg = NULL;
    if (!nc_opts[found].meta) {
        if (eq) {
            fprintf(stderr, "%s: Option %s does not accept argument\n", nc.prog, spelling);
            exit(1);
        }
    } else if (eq) {
        arg = eq + 1;
    } else if (*i + 1 < argc) {
        arg = argv[++*i];
    } else {
        fprintf(stderr, "%s: Option %s requires an argument\n", nc.prog, spelling);
        exit(1);
    }
    nc_process(found, arg, spelling);
}

static void nc_short_options(const char *token, int argc, char **argv, int *i)
{
    for (const char *p = token + 1; *p; p++) {
        int k;
        for (k = 0; k < NC_NOPTS; k++)
            if (nc_opts[k].letter == *p)
                break;
        if (k == NC_NOPTS) {
            fprintf(stderr, "%s: Unknown option ``-%c''\n", nc.prog, *p);
            exit(1);
        }
        char *spelling = nc_spell_short(k);
        if (!nc_opts[k].meta) {
            nc_process(k, NULL, spelling);
            continue;
        }
        const char *arg;
        if (p[1])
            arg = p + 1;
        else if (*i + 1 < argc)
            arg = argv[++*i];
        else {
            fprintf(stderr, "%s: Option %s requires an argument\n", nc.prog, spelling);
            exit(1);
        }
        nc_process(k, arg, spelling);
        return;
    }
}

static void nc_parse(int argc, char **argv)
{
    nc.prog = argv[0] ? argv[0] : "nanocat";
    nc.interval = -1;

    /* Installed as nn_<type>, the name itself chooses the socket type. */
    const char *base = strrchr(nc.prog, '/');
    base = base ? base + 1 : nc.prog;
    if (strncmp(base, "nn_", 3) == 0)
        for (int k = 0; k < NC_NOPTS; k++)
            if (nc_opts[k].kind == K_TYPE && strcmp(base + 3, nc_opts[k].name) == 0) {
                char *s = nc_concat(nc.prog, " (executable)");
                nc_process(k, NULL, s);
                break;
            }

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-') {
            if (a[2])
                nc_long_option(a, argc, argv, &i);
        } else if (a[0] == '-') {
            nc_short_options(a, argc, argv, &i);
        } else {
            fprintf(stderr, "%s: Unexpected argument ``%s''\n", nc.prog, a);
            exit(1);
        }
    }

    for (int k = 0; k < NC_NOPTS; k++) {
        unsigned req = nc_opts[k].requires;
        if (nc.given_as[k] && req && !(nc.set & req)) {
            nc_usage_error_head(k);
            fputs("requires at least one of the following options:\n", stderr);
            nc_list_options(req);
            exit(1);
        }
    }
    unsigned missing = NC_MANDATORY & ~nc.set;
    if (missing) {
        fprintf(stderr, "%s: At least one of the following required:\n", nc.prog);
        nc_list_options(missing);
        exit(1);
    }
}

/* --------------------------------------------------------------- running */

static void nc_fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, nn_strerror(errno));
    exit(3);
}

static int64_t nc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nc_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t) (ms / 1000), (long) (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int nc_seconds_to_ms(float sec)
{
    double ms = (double) sec * 1000;
    if (ms != ms)
        return 0;
    if (ms >= (double) INT_MAX)
        return INT_MAX;
    if (ms <= (double) INT_MIN)
        return INT_MIN;
    return (int) ms;
}

static void nc_print(const unsigned char *p, size_t n)
{
    switch (nc.format) {
    case F_NO: return;
    case F_RAW: fwrite(p, 1, n, stdout); break;
    case F_ASCII:
        for (size_t i = 0; i < n; i++)
            putchar(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.');
        putchar('\n');
        break;
    case F_QUOTED:
        putchar('"');
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '\n')
                fputs("\\n", stdout);
            else if (p[i] == '\r')
                fputs("\\r", stdout);
            else if (p[i] == '"' || p[i] == '\\')
                printf("\\%c", p[i]);
            else if (p[i] >= 0x20 && p[i] < 0x7f)
                putchar(p[i]);
            else
                printf("\\x%02x", p[i]);
        }
        fputs("\"\n", stdout);
        break;
    case F_MSGPACK:
        /* bin 8 / bin 16 / bin 32 header, big-endian length */
        if (n < 0x100) {
            putchar(0xc4);
            putchar((int) n);
        } else if (n < 0x10000) {
            putchar(0xc5);
            putchar((int) (n >> 8));
            putchar((int) (n & 0xff));
        } else {
            putchar(0xc6);
            for (int shift = 24; shift >= 0; shift -= 8)
                putchar((int) ((n >> shift) & 0xff));
        }
        fwrite(p, 1, n, stdout);
        break;
    case F_HEX:
        putchar('"');
        for (size_t i = 0; i < n; i++)
            printf("\\x%02x", p[i]);
        fputs("\"\n", stdout);
        break;
    }
    fflush(stdout);
}

static void nc_send(int s)
{
    if (nn_send(s, nc.data, nc.data_len, 0) >= 0)
        return;
    if (errno == EAGAIN)
        fprintf(stderr, "Message not sent (EAGAIN)\n");
    else
        nc_fail("Can't send");
}

/* One receive: 1 a message was printed, 0 the wait is over (timed out, or
   nothing more can come in this state), -1 try again. */
static int nc_recv_one(int s, int timeout_ends_it)
{
    void *msg;
    int n = nn_recv(s, &msg, NN_MSG, 0);
    if (n < 0) {
        if (errno == EAGAIN)
            return -1;
        if (timeout_ends_it && (errno == ETIMEDOUT || errno == EFSM))
            return 0;
        nc_fail("Can't recv");
    }
    nc_print(msg, (size_t) n);
    nn_freemsg(msg);
    return 1;
}

static void nc_recv_loop(int s)
{
    while (nc_recv_one(s, 1) != 0) {
    }
}

static void nc_send_loop(int s)
{
    for (;;) {
        int64_t start = nc_now_ms();
        nc_send(s);
        if (nc.interval < 0)
            return;
        nc_sleep_ms(start + nc_seconds_to_ms(nc.interval) - nc_now_ms());
    }
}

/* Send, then print what comes back until the next send is due. */
static void nc_rw_loop(int s)
{
    for (;;) {
        int64_t start = nc_now_ms();
        nc_send(s);
        if (nc.interval < 0) {
            nc_recv_loop(s);
            return;
        }
        int64_t next = start + nc_seconds_to_ms(nc.interval);
        for (;;) {
            int64_t left = next - nc_now_ms();
            if (left <= 0)
                break;
            int tmo = (int) left;
            if (nc.has_recv_timeout && nc_seconds_to_ms(nc.recv_timeout) < tmo)
                tmo = nc_seconds_to_ms(nc.recv_timeout);
            if (nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo) < 0)
                nc_fail("Can't set recv timeout");
            if (nc_recv_one(s, 1) == 0)
                break;
        }
        nc_sleep_ms(next - nc_now_ms());
    }
}

/* Answer every request with the data; running out of requests is an error. */
static void nc_resp_loop(int s)
{
    for (;;) {
        int got = nc_recv_one(s, 0);
        if (got < 0)
            continue;
        nc_send(s);
    }
}

int main(int argc, char **argv)
{
    nc_parse(argc, argv);

    int s = nn_socket(AF_SP, nc.type);
    if (s < 0)
        nc_fail("Can't create socket");
    if (nc.has_recv_timeout) {
        int ms = nc_seconds_to_ms(nc.recv_timeout);
        if (nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms) < 0)
            nc_fail("Can't set recv timeout");
    }
    if (nc.has_send_timeout) {
        int ms = nc_seconds_to_ms(nc.send_timeout);
        if (nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &ms, sizeof ms) < 0)
            nc_fail("Can't set send timeout");
    }
    if (nc.socket_name &&
        nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, nc.socket_name,
                      strlen(nc.socket_name)) < 0)
        nc_fail("Can't set socket name");
    if (nc.type == NN_SUB) {
        if (nc.nsubscriptions == 0 && nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) < 0)
            nc_fail("Can't subscribe");
        for (int k = 0; k < nc.nsubscriptions; k++)
            if (nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, nc.subscriptions[k],
                              strlen(nc.subscriptions[k])) < 0)
                nc_fail("Can't subscribe");
    }
    for (int k = 0; k < nc.nbinds; k++)
        if (nn_bind(s, nc.binds[k]) < 0)
            nc_fail("Can't bind");
    for (int k = 0; k < nc.nconnects; k++)
        if (nn_connect(s, nc.connects[k]) < 0)
            nc_fail("Can't connect");

    if (nc.delay > 0)
        nc_sleep_ms(nc_seconds_to_ms(nc.delay));

    int has_data = (nc.set & NC_DATA) != 0;
    switch (nc.type) {
    case NN_PUSH:
    case NN_PUB: nc_send_loop(s); break;
    case NN_REQ:
    case NN_SURVEYOR: nc_rw_loop(s); break;
    case NN_REP:
    case NN_RESPONDENT:
        if (has_data)
            nc_resp_loop(s);
        else
            nc_recv_loop(s);
        break;
    case NN_BUS:
    case NN_PAIR:
        if (has_data)
            nc_rw_loop(s);
        else
            nc_recv_loop(s);
        break;
    default: nc_recv_loop(s); break;
    }
    nn_close(s);
    return 0;
}
