/* BoringSSL, reached only through a table filled by dlopen, so that an embedder that links
 * OpenSSL elsewhere (libmariadb links OpenSSL 3) never sees it.
 *
 * Why: Debian ships BoringSSL only as shared libraries whose unversioned symbols carry
 * OpenSSL's names. A plain DT_NEEDED puts both libraries in the global scope, and the
 * dynamic linker then binds references by name across them (BoringSSL's own libcrypto
 * binding X509_CINF_it to OpenSSL's was seen with LD_DEBUG=bindings, and it crashes).
 * Loaded with RTLD_LOCAL | RTLD_DEEPBIND, the BoringSSL group resolves its own symbols
 * first and none of them enters the global scope.
 *
 * How: for every BoringSSL function the modules call (gen_boringssl_list.sh lists them
 * from the archives at build time), this file defines a hidden symbol of the same name
 * that jumps through a pointer, the way a PLT entry does. The module sources are compiled
 * once against BoringSSL's own headers and call SSL_new() as always; inside libnodenet
 * those calls bind to the hidden stubs at link time, so the library has no DT_NEEDED on
 * BoringSSL and exports none of its names (the library's link uses --no-undefined, so a
 * missing stub is a link error, not a runtime surprise). A jump keeps every argument
 * register and the stack as the caller left them, so one stub serves any prototype,
 * variadic ones included.
 *
 * The table is filled once, by a constructor (or by nn_node_new() if that comes first).
 * If BoringSSL cannot be loaded, every stub points at bssl_missing(), which aborts with
 * the reason, and nn_boringssl_ready() reports it to nn_node_new() first, so an embedder
 * gets an error rather than the abort. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib_internal.h"

#ifndef NN_BORINGSSL_SSL_PATH
#error "NN_BORINGSSL_SSL_PATH must name BoringSSL's libssl.so.0"
#endif

static char load_error[512];

__attribute__((noreturn)) static void bssl_missing(void) {
    fprintf(stderr, "nodenet: BoringSSL is not loaded: %s\n", load_error);
    abort();
}

#define NN_BSSL_FN(name)                                                                           \
    __attribute__((visibility("hidden"))) void (*nn_bssl_ptr_##name)(void) = bssl_missing;
#include "boringssl_symbols.h"
#undef NN_BSSL_FN

/* One stub per function: a global but hidden label, so that the link binds the modules'
 * calls to it and the version script keeps it out of the dynamic table. */
#if defined(__x86_64__)
/* With -fcf-protection the object is marked IBT-ready, and a module may take a stub's
 * address (a free function passed as a callback): the stub must then be a valid indirect
 * branch target. */
#if defined(__CET__) && (__CET__ & 1)
#define NN_BSSL_ENDBR "\tendbr64\n"
#else
#define NN_BSSL_ENDBR ""
#endif
#define NN_BSSL_FN(name)                                                                           \
    __asm__(".text\n.globl " #name "\n.hidden " #name "\n.type " #name ",@function\n"              \
            ".p2align 4\n" #name ":\n" NN_BSSL_ENDBR "\tjmp *nn_bssl_ptr_" #name                   \
            "(%rip)\n.size " #name ",.-" #name "\n");
#elif defined(__aarch64__)
#define NN_BSSL_FN(name)                                                                           \
    __asm__(".text\n.globl " #name "\n.hidden " #name "\n.type " #name ",%function\n"              \
            ".p2align 2\n" #name ":\n\tadrp x16, nn_bssl_ptr_" #name "\n"                          \
            "\tldr x16, [x16, #:lo12:nn_bssl_ptr_" #name "]\n\tbr x16\n.size " #name ",.-" #name   \
            "\n");
#else
#error "libnodenet's BoringSSL stubs exist for x86_64 and aarch64 only"
#endif
#include "boringssl_symbols.h"
#undef NN_BSSL_FN

static int loaded;

/* AddressSanitizer (and the other sanitizer runtimes) refuse RTLD_DEEPBIND: a library that
 * binds malloc to libc's own would bypass their interceptors. Sanitizer builds therefore
 * load with RTLD_LOCAL only, which is enough unless OpenSSL is in the same process (the
 * OpenSSL coexistence test is not run under the sanitizers). */
#ifdef NN_NO_DEEPBIND
#define BSSL_DLOPEN_FLAGS (RTLD_NOW | RTLD_LOCAL)
#else
#define BSSL_DLOPEN_FLAGS (RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND)
#endif

static void bssl_load(void) {
    /* NODENET_BORINGSSL lets a packager who moved BoringSSL say where it is now. */
    const char *path = getenv("NODENET_BORINGSSL");
    if (path == NULL || path[0] == '\0') {
        path = NN_BORINGSSL_SSL_PATH;
    }
    void *handle = dlopen(path, BSSL_DLOPEN_FLAGS);
    if (handle == NULL) {
        const char *why = dlerror();
        snprintf(load_error, sizeof(load_error), "%s", why != NULL ? why : path);
        return;
    }
    /* Resolve everything before publishing anything: all or nothing. */
    const char *missing = NULL;
#define NN_BSSL_FN(name)                                                                           \
    void *name##_sym = dlsym(handle, #name);                                                       \
    if (name##_sym == NULL && missing == NULL) {                                                   \
        missing = #name;                                                                           \
    }
#include "boringssl_symbols.h"
#undef NN_BSSL_FN
    if (missing != NULL) {
        snprintf(load_error, sizeof(load_error), "%s: no symbol %s", path, missing);
        dlclose(handle);
        return;
    }
    /* Object to function pointer through memcpy: ISO C has no cast between them. */
#define NN_BSSL_FN(name) memcpy(&nn_bssl_ptr_##name, &name##_sym, sizeof(name##_sym));
#include "boringssl_symbols.h"
#undef NN_BSSL_FN
    loaded = 1;
}

static pthread_once_t load_once = PTHREAD_ONCE_INIT;

/* At load time, before any thread of ours exists; nn_boringssl_ready() also runs it, for
 * an embedder whose own constructors (libnodenet.a linked in) call the API first. */
__attribute__((constructor)) static void bssl_load_at_start(void) {
    pthread_once(&load_once, bssl_load);
}

int nn_boringssl_ready(nn_err *err) {
    pthread_once(&load_once, bssl_load);
    if (loaded) {
        return 0;
    }
    return nn_err_set(err, ELIBACC, "cannot load BoringSSL: %s", load_error);
}
