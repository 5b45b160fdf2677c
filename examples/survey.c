/* survey.c: a survey (SURVEYOR/RESPONDENT). The surveyor asks every
   connected respondent the same question at once and collects the answers
   that come back before its deadline; a respondent that is slow, busy or
   not there simply is not counted.

     survey ask [ADDR] [QUESTION]        one survey, print the answers
     survey respond [ADDR] [NAME]        answer every survey until stopped
     survey demo                         a surveyor and three respondents, over ipc

   ADDR defaults to tcp://127.0.0.1:5559. A respondent answers with its
   NAME and the question it heard: "NAME: QUESTION". */
#include "example.h"

#include <nanomsg/survey.h>

#define DEFAULT_ADDR "tcp://127.0.0.1:5559"

static int respondent(const char *addr, const char *name)
{
    ex_stop_on_signals();
    int s = nn_socket(AF_SP, NN_RESPONDENT);
    if (s < 0)
        ex_fail("nn_socket");
    if (nn_connect(s, addr) < 0)
        ex_fail("nn_connect");
    for (;;) {
        char q[256];
        int n = nn_recv(s, q, sizeof(q), 0);
        if (n < 0)
            break;
        if (n > (int) sizeof(q))
            n = sizeof(q); /* the rest of a long question was cut off */
        char answer[320];
        int len = snprintf(answer, sizeof(answer), "%s: %.*s", name, n, q);
        if (len >= (int) sizeof(answer))
            len = sizeof(answer) - 1;
        /* Like REP, RESPONDENT sends the answer back to the surveyor
           whose survey it received last. */
        if (nn_send(s, answer, (size_t) len, 0) < 0)
            break;
    }
    int stopped = ex_stop_requested();
    if (!stopped)
        fprintf(stderr, "respondent: %s\n", nn_strerror(nn_errno()));
    nn_close(s);
    return stopped ? 0 : 1;
}

/* Sends one survey and prints the answers until the deadline passes.
   Up to `max` distinct answers are stored in seen[] (no duplicates);
   returns how many answers arrived, or -1 on an error. */
static int ask(int s, const char *question, char seen[][64], int *nseen, int max)
{
    if (nn_send(s, question, strlen(question), 0) < 0)
        ex_fail("nn_send");
    int answers = 0;
    for (;;) {
        char *a = NULL;
        int n = nn_recv(s, &a, NN_MSG, 0);
        if (n < 0) {
            /* The deadline ends the survey: ETIMEDOUT is its normal end,
               and answers to this survey arriving later are dropped. */
            if (nn_errno() == ETIMEDOUT)
                return answers;
            fprintf(stderr, "surveyor: %s\n", nn_strerror(nn_errno()));
            return -1;
        }
        printf("  %.*s\n", n, a);
        answers++;
        if (seen && n < 64) {
            int i = 0;
            while (i < *nseen && !(strlen(seen[i]) == (size_t) n && memcmp(seen[i], a, n) == 0))
                i++;
            if (i == *nseen && *nseen < max) {
                memcpy(seen[i], a, n);
                seen[i][n] = '\0';
                ++*nseen;
            }
        }
        nn_freemsg(a);
    }
}

static int open_surveyor(const char *addr, int deadline_ms)
{
    int s = nn_socket(AF_SP, NN_SURVEYOR);
    if (s < 0)
        ex_fail("nn_socket");
    if (nn_bind(s, addr) < 0)
        ex_fail("nn_bind");
    /* How long answers are awaited after each survey (1 s by default). */
    if (nn_setsockopt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &deadline_ms, sizeof(deadline_ms)) < 0)
        ex_fail("nn_setsockopt");
    return s;
}

struct respondent_args {
    const char *addr, *name;
};

static int respondent_role(void *arg)
{
    struct respondent_args *a = arg;
    return respondent(a->addr, a->name);
}

static int demo(void)
{
    char addr[128];
    ex_demo_addr(addr, sizeof(addr), "survey", 0);
    const char *names[3] = {"ann", "bob", "cat"};
    struct respondent_args args[3];
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (struct respondent_args){addr, names[i]};
        kids[i] = ex_spawn(respondent_role, &args[i]);
    }

    /* Respondents that have not connected yet miss a survey, so ask again
       until each of them has answered once. */
    int s = open_surveyor(addr, 500);
    char seen[3][64];
    int nseen = 0, rounds = 0, failures = 0;
    double deadline = ex_now() + 30.0;
    while (nseen < 3 && ex_now() < deadline) {
        printf("survey %d:\n", ++rounds);
        if (ask(s, "are you there?", seen, &nseen, 3) < 0) {
            failures++;
            break;
        }
    }
    nn_close(s);
    for (int i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof(want), "%s: are you there?", names[i]);
        int found = 0;
        for (int j = 0; j < nseen; j++)
            found |= strcmp(seen[j], want) == 0;
        if (!found) {
            fprintf(stderr, "demo: no answer \"%s\"\n", want);
            failures++;
        }
        failures += ex_stop_child(kids[i]) != 0;
    }
    ex_demo_unlink(addr);
    puts(failures ? "survey demo failed" : "survey demo ok");
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *role = argc > 1 ? argv[1] : "";
    const char *addr = argc > 2 ? argv[2] : DEFAULT_ADDR;
    if (strcmp(role, "respond") == 0)
        return respondent(addr, argc > 3 ? argv[3] : "respondent");
    if (strcmp(role, "ask") == 0) {
        /* A survey's answers can only come from respondents already
           connected when it goes out: wait a moment for them first. */
        int s = open_surveyor(addr, 1000);
        ex_pause_ms(500);
        int n = ask(s, argc > 3 ? argv[3] : "are you there?", NULL, NULL, 0);
        nn_close(s);
        printf("%d answer(s)\n", n < 0 ? 0 : n);
        return n < 0 ? 1 : 0;
    }
    if (strcmp(role, "demo") == 0)
        return demo();
    fprintf(stderr, "usage: %s ask [ADDR] [QUESTION] | respond [ADDR] [NAME] | demo\n", argv[0]);
    return 2;
}
