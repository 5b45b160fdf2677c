/* consumer.c: a program written only against the installed headers. */
#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
    if (a < 0 || b < 0 || nn_bind(a, "inproc://consumer") < 0 ||
        nn_connect(b, "inproc://consumer") < 0)
        return 1;
    char buf[8] = {0};
    if (nn_send(a, "hi", 2, 0) != 2 || nn_recv(b, buf, sizeof(buf), 0) != 2 || strcmp(buf, "hi"))
        return 2;
    nn_close(a);
    nn_close(b);
    puts("consumer ok");
    return 0;
}
