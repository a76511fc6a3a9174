# mysql/ integration tests: a real nodenet node (build/bin/nodenet) with certificates from
# deploy/gen-certs, driven by the mariadb CLI, a libmariadb client and PyMySQL.
# The libmariadb client is its own executable: it links OpenSSL 3 through libmariadb and
# never a nodenet library.
pkg_check_modules(LIBMARIADB IMPORTED_TARGET libmariadb)
find_program(NN_MARIADB_CLI NAMES mariadb mysql)
set(_nn_mysql_it ${CMAKE_CURRENT_SOURCE_DIR}/integration)
if(TARGET nodenet AND NN_MARIADB_CLI)
    set(_nn_mysql_env NODENET_BIN=$<TARGET_FILE:nodenet>
                      GEN_CERTS=${CMAKE_SOURCE_DIR}/deploy/gen-certs)
    add_test(NAME mysql_cli COMMAND bash ${_nn_mysql_it}/mysql_cli_test.sh)
    set_tests_properties(mysql_cli PROPERTIES LABELS integration TIMEOUT 300
                         ENVIRONMENT "${_nn_mysql_env}")
    if(LIBMARIADB_FOUND)
        add_executable(mysql_client_test ${_nn_mysql_it}/mysql_client_test.c)
        target_link_libraries(mysql_client_test PRIVATE PkgConfig::LIBMARIADB)
        add_test(NAME mysql_clients
                 COMMAND bash ${_nn_mysql_it}/mysql_clients_test.sh
                         $<TARGET_FILE:mysql_client_test> ${_nn_mysql_it}/mysql_pymysql_test.py)
        set_tests_properties(mysql_clients PROPERTIES LABELS integration TIMEOUT 300
                             ENVIRONMENT "${_nn_mysql_env}")
    endif()
endif()

# The handler interface as an engine embeds it: a fixture server (links nodenet, no
# client library) driven by the mariadb CLI.
add_executable(mysql_fixture ${_nn_mysql_it}/mysql_fixture_main.c)
target_link_libraries(mysql_fixture PRIVATE nn_mysql)
if(NN_MARIADB_CLI)
    add_test(NAME mysql_engine COMMAND bash ${_nn_mysql_it}/mysql_engine_test.sh
                                       $<TARGET_FILE:mysql_fixture>)
    set_tests_properties(mysql_engine PROPERTIES LABELS integration TIMEOUT 120)
endif()

# The command surface an engine gets (typed results, multi-statements, a 1 GiB result to a
# slow reader, a client that pipelines and never reads), with PyMySQL against the fixture.
add_test(NAME mysql_surface COMMAND /usr/bin/python3 ${_nn_mysql_it}/mysql_surface_test.py
                                    $<TARGET_FILE:mysql_fixture>)
set_tests_properties(mysql_surface PROPERTIES LABELS integration TIMEOUT 600 SKIP_RETURN_CODE 77)

# Prepared statements through libmariadb's mysql_stmt_*: binary rows of every type,
# parameters, long data, cursors fetched in batches, the statement limit, change user and
# reset. Its own program (libmariadb links OpenSSL 3).
if(LIBMARIADB_FOUND)
    add_executable(mysql_stmt_test ${_nn_mysql_it}/mysql_stmt_test.c)
    target_link_libraries(mysql_stmt_test PRIVATE PkgConfig::LIBMARIADB)
    add_test(NAME mysql_stmt COMMAND bash ${_nn_mysql_it}/mysql_fixture_run.sh
                                     $<TARGET_FILE:mysql_fixture> $<TARGET_FILE:mysql_stmt_test>)
    set_tests_properties(mysql_stmt PROPERTIES LABELS integration TIMEOUT 120)
endif()

# Protocol compression (zlib, zstd) over TLS, and a compression bomb.
if(TARGET nodenet AND NN_MARIADB_CLI)
    add_test(NAME mysql_compress COMMAND bash ${_nn_mysql_it}/mysql_compress_test.sh)
    set_tests_properties(mysql_compress PROPERTIES LABELS integration TIMEOUT 300
                         ENVIRONMENT "${_nn_mysql_env}")
endif()

# The TLS status variables against MariaDB serving the same certificate.
if(TARGET nodenet AND NN_MARIADB_CLI)
    add_test(NAME mysql_ssl_status_matches_mariadb
             COMMAND bash ${_nn_mysql_it}/mysql_ssl_status_test.sh)
    set_tests_properties(mysql_ssl_status_matches_mariadb PROPERTIES LABELS integration
                         TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT "${_nn_mysql_env}")
endif()
