# Finds BoringSSL: Debian's android-libboringssl-dev by default, or a source build given
# with -DBORINGSSL_ROOT=<dir> (expects <dir>/include and libssl/libcrypto under <dir>,
# <dir>/lib or <dir>/build). Never falls back to the system OpenSSL: their symbols clash.
#
# Defines the imported targets BoringSSL::ssl and BoringSSL::crypto.

set(_nn_bssl_inc_hints /usr/include/android)
set(_nn_bssl_lib_hints /usr/lib/x86_64-linux-gnu/android /usr/lib/aarch64-linux-gnu/android)
if(BORINGSSL_ROOT)
    set(_nn_bssl_inc_hints ${BORINGSSL_ROOT}/include)
    set(_nn_bssl_lib_hints ${BORINGSSL_ROOT} ${BORINGSSL_ROOT}/lib ${BORINGSSL_ROOT}/build
                           ${BORINGSSL_ROOT}/build/ssl ${BORINGSSL_ROOT}/build/crypto)
endif()

# openssl/is_boringssl.h exists only in BoringSSL: it keeps us from picking up OpenSSL headers.
find_path(BORINGSSL_INCLUDE_DIR openssl/is_boringssl.h
          HINTS ${_nn_bssl_inc_hints} NO_DEFAULT_PATH)
find_library(BORINGSSL_SSL_LIBRARY NAMES ssl libssl.so.0
             HINTS ${_nn_bssl_lib_hints} NO_DEFAULT_PATH)
find_library(BORINGSSL_CRYPTO_LIBRARY NAMES crypto libcrypto.so.0
             HINTS ${_nn_bssl_lib_hints} NO_DEFAULT_PATH)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(BoringSSL
    REQUIRED_VARS BORINGSSL_INCLUDE_DIR BORINGSSL_SSL_LIBRARY BORINGSSL_CRYPTO_LIBRARY
    FAIL_MESSAGE "BoringSSL not found: install android-libboringssl-dev (Debian) or pass \
-DBORINGSSL_ROOT=<BoringSSL source build>. nodenet never links the system OpenSSL.")

if(BoringSSL_FOUND AND NOT TARGET BoringSSL::crypto)
    add_library(BoringSSL::crypto SHARED IMPORTED)
    set_target_properties(BoringSSL::crypto PROPERTIES
        IMPORTED_LOCATION ${BORINGSSL_CRYPTO_LIBRARY}
        INTERFACE_INCLUDE_DIRECTORIES ${BORINGSSL_INCLUDE_DIR})
    add_library(BoringSSL::ssl SHARED IMPORTED)
    set_target_properties(BoringSSL::ssl PROPERTIES
        IMPORTED_LOCATION ${BORINGSSL_SSL_LIBRARY}
        INTERFACE_INCLUDE_DIRECTORIES ${BORINGSSL_INCLUDE_DIR}
        INTERFACE_LINK_LIBRARIES BoringSSL::crypto)
endif()
