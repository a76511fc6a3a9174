# libnodenet (lib/): the exported symbols, the installed package built against out of
# tree, and an embedder that also links OpenSSL 3 (libmariadb).
set(_nn_lib_dir ${CMAKE_CURRENT_SOURCE_DIR}/lib)
add_test(NAME lib_exports_only_the_api_and_no_boringssl
         COMMAND bash ${_nn_lib_dir}/lib_symbols_test.sh $<TARGET_FILE:nodenet_shared>
                 ${CMAKE_ARCHIVE_OUTPUT_DIRECTORY}/libnodenet.a
                 ${CMAKE_SOURCE_DIR}/lib/exports.txt)
set_tests_properties(lib_exports_only_the_api_and_no_boringssl PROPERTIES LABELS unit TIMEOUT 60)

add_test(NAME lib_installed_package_builds_and_runs_embedders
         COMMAND bash ${_nn_lib_dir}/lib_install_test.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
# Under the sanitizers the embedders are built with the same runtime as the library.
set(_nn_lib_embed_flags "")
if(NODENET_SANITIZE)
    set(_nn_lib_embed_flags "-fsanitize=${NODENET_SANITIZE} -fno-omit-frame-pointer")
endif()
set_tests_properties(lib_installed_package_builds_and_runs_embedders PROPERTIES
                     LABELS integration TIMEOUT 600
                     ENVIRONMENT "NN_EMBED_FLAGS=${_nn_lib_embed_flags}")

# The embedder links the build tree's libnodenet.so the way an installed one would be
# linked: public headers only. Not under the sanitizers: their runtimes refuse
# RTLD_DEEPBIND, and without it BoringSSL's libcrypto binds to OpenSSL's (see
# lib/boringssl_dl.c).
pkg_check_modules(NN_LIB_MARIADB IMPORTED_TARGET libmariadb)
if(NN_LIB_MARIADB_FOUND AND NOT NODENET_SANITIZE)
    add_executable(embed_openssl ${_nn_lib_dir}/embed_openssl.c)
    target_include_directories(embed_openssl PRIVATE ${CMAKE_SOURCE_DIR}/include
                               ${CMAKE_BINARY_DIR}/include)
    target_link_libraries(embed_openssl PRIVATE nodenet_shared PkgConfig::NN_LIB_MARIADB
                          PkgConfig::PROTOBUFC Threads::Threads)
    add_test(NAME lib_embedder_with_openssl_runs_tls_on_both_sides
             COMMAND bash ${_nn_lib_dir}/embed_openssl_test.sh $<TARGET_FILE:embed_openssl>
                     ${CMAKE_SOURCE_DIR}/deploy/gen-certs)
    set_tests_properties(lib_embedder_with_openssl_runs_tls_on_both_sides PROPERTIES
                         LABELS integration TIMEOUT 180)
    # The same embedder with libnodenet.a linked in: its BoringSSL stubs are local symbols,
    # so the executable's references to OpenSSL's names still go to OpenSSL 3.
    add_executable(embed_openssl_static ${_nn_lib_dir}/embed_openssl.c)
    target_include_directories(embed_openssl_static PRIVATE ${CMAKE_SOURCE_DIR}/include
                               ${CMAKE_BINARY_DIR}/include)
    target_link_libraries(embed_openssl_static PRIVATE nodenet_static_lib
                          PkgConfig::NN_LIB_MARIADB PkgConfig::PROTOBUFC Threads::Threads)
    add_test(NAME lib_static_embedder_with_openssl_runs_tls_on_both_sides
             COMMAND bash ${_nn_lib_dir}/embed_openssl_test.sh
                     $<TARGET_FILE:embed_openssl_static> ${CMAKE_SOURCE_DIR}/deploy/gen-certs)
    set_tests_properties(lib_static_embedder_with_openssl_runs_tls_on_both_sides PROPERTIES
                         LABELS integration TIMEOUT 180)
endif()

# Events (peer ready/down, certificate reloaded, draining) and a protobuf-c service,
# through the public API.
set(_nn_lib_proto_out ${CMAKE_CURRENT_BINARY_DIR}/lib_proto)
file(MAKE_DIRECTORY ${_nn_lib_proto_out})
add_custom_command(OUTPUT ${_nn_lib_proto_out}/greeter.pb-c.c ${_nn_lib_proto_out}/greeter.pb-c.h
    COMMAND ${PROTOC_C} --proto_path=${_nn_lib_dir} --c_out=${_nn_lib_proto_out}
            ${_nn_lib_dir}/greeter.proto
    DEPENDS ${_nn_lib_dir}/greeter.proto COMMENT "protoc-c greeter.proto")
add_executable(lib_events_test ${_nn_lib_dir}/events_test.c
               ${_nn_lib_proto_out}/greeter.pb-c.c)
set_source_files_properties(${_nn_lib_proto_out}/greeter.pb-c.c PROPERTIES
                            COMPILE_OPTIONS "-Wno-error")
target_include_directories(lib_events_test PRIVATE ${CMAKE_SOURCE_DIR}/include
                           ${CMAKE_BINARY_DIR}/include ${_nn_lib_proto_out})
target_link_libraries(lib_events_test PRIVATE nodenet_shared PkgConfig::PROTOBUFC Threads::Threads)
add_test(NAME lib_events_reach_subscribers_and_protobuf_services_answer
         COMMAND bash ${_nn_lib_dir}/events_test.sh $<TARGET_FILE:lib_events_test>
                 ${CMAKE_SOURCE_DIR}/deploy/gen-certs)
set_tests_properties(lib_events_reach_subscribers_and_protobuf_services_answer PROPERTIES
                     LABELS integration TIMEOUT 180)

# include/nodenet/mysql.h forwards mysql/mysql.h's structs: same layout, same constants.
add_executable(lib_mysql_face_layout ${_nn_lib_dir}/mysql_face_layout_public.c
               ${_nn_lib_dir}/mysql_face_layout_internal.c)
set_source_files_properties(${_nn_lib_dir}/mysql_face_layout_public.c PROPERTIES
                            INCLUDE_DIRECTORIES
                            "${CMAKE_SOURCE_DIR}/include;${CMAKE_BINARY_DIR}/include")
set_source_files_properties(${_nn_lib_dir}/mysql_face_layout_internal.c PROPERTIES
                            INCLUDE_DIRECTORIES "${CMAKE_SOURCE_DIR}")
target_include_directories(lib_mysql_face_layout PRIVATE ${_nn_lib_dir})
target_link_libraries(lib_mysql_face_layout PRIVATE PkgConfig::PROTOBUFC)
add_test(NAME lib_mysql_face_matches_the_library COMMAND lib_mysql_face_layout)
set_tests_properties(lib_mysql_face_matches_the_library PROPERTIES LABELS unit TIMEOUT 60)
