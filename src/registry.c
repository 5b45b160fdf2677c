/* registry.c: the protocols and transports compiled into the library. The
   core only walks these lists; adding a protocol or a transport is one file
   and one line here. */
#include "core/core.h"

extern const struct fm_proto fm_pair;
extern const struct fm_proto fm_req, fm_rep;
extern const struct fm_proto fm_surveyor, fm_respondent;
extern const struct fm_proto fm_pub, fm_sub, fm_push, fm_pull, fm_bus;
extern const struct fm_transport fm_inproc;
extern const struct fm_transport fm_tcp, fm_ipc;
extern const struct fm_transport fm_ws;
#ifdef FM_HAVE_TLS
extern const struct fm_transport fm_tls, fm_wss;
#endif

const struct fm_proto *const fm_protocols[] = {
    &fm_pair,
    &fm_req, &fm_rep,
    &fm_surveyor, &fm_respondent,
    &fm_pub, &fm_sub, &fm_push, &fm_pull, &fm_bus,
    NULL,
};

const struct fm_transport *const fm_transports[] = {
    &fm_inproc,
    &fm_tcp, &fm_ipc,
    &fm_ws,
#ifdef FM_HAVE_TLS
    &fm_tls,
    &fm_wss,
#endif
    NULL,
};
