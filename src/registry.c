/* registry.c: the protocols and transports compiled into the library. The
   core only walks these lists; adding a protocol or a transport is one file
   and one line here. */
#include "core/core.h"

extern const struct fm_proto fm_pair;
extern const struct fm_transport fm_inproc;

const struct fm_proto *const fm_protocols[] = {
    &fm_pair,
    NULL,
};

const struct fm_transport *const fm_transports[] = {
    &fm_inproc,
    NULL,
};
