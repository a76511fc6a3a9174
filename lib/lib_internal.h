/* lib/lib_internal.h: private to lib/, the shared and static libnodenet around the modules. */
#ifndef NODENET_LIB_INTERNAL_H
#define NODENET_LIB_INTERNAL_H

#include "net/net.h"

/* 0 when BoringSSL was loaded (lib/boringssl_dl.c); otherwise negative with err saying why. */
int nn_boringssl_ready(nn_err *err);

#endif
