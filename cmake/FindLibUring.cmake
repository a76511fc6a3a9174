find_path(LIBURING_INCLUDE_DIR liburing.h)
find_library(LIBURING_LIBRARY NAMES uring)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LibUring REQUIRED_VARS LIBURING_INCLUDE_DIR LIBURING_LIBRARY
    FAIL_MESSAGE "liburing not found: install liburing-dev")
if(LibUring_FOUND AND NOT TARGET LibUring::uring)
    add_library(LibUring::uring UNKNOWN IMPORTED)
    set_target_properties(LibUring::uring PROPERTIES IMPORTED_LOCATION ${LIBURING_LIBRARY}
        INTERFACE_INCLUDE_DIRECTORIES ${LIBURING_INCLUDE_DIR})
endif()
