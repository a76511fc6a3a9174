# The driver matrix (issue 11): real drivers from Debian and npm against a bare node, over
# TLS with the server certificate verified and a REQUIRE X509 account with a client
# certificate (tests/integration/drivers_test.sh). drivers_<driver>_text: the connect path
# and text queries (with the driver's client-side parameters); drivers_<driver>_prepared: the
# driver's server-side prepared statements. Each skips (77) and says why when its driver is
# not installed.
find_program(NN_MARIADB_CLI_FOR_DRIVERS NAMES mariadb mysql)
if(TARGET nodenet AND NN_MARIADB_CLI_FOR_DRIVERS)
    set(_nn_drv_it ${CMAKE_CURRENT_SOURCE_DIR}/integration)
    set(_nn_drv_env "NODENET_BIN=$<TARGET_FILE:nodenet>"
                    "GEN_CERTS=${CMAKE_SOURCE_DIR}/deploy/gen-certs"
                    "NN_GOCACHE=${CMAKE_BINARY_DIR}/drivers-gocache")
    set(_nn_drv_client "${CMAKE_BINARY_DIR}/drivers-no-libmariadb")
    # Its own lookup: this file is read before mysql.cmake.
    pkg_check_modules(NN_DRV_LIBMARIADB IMPORTED_TARGET libmariadb)
    if(NN_DRV_LIBMARIADB_FOUND)
        # Its own executable: libmariadb links OpenSSL 3, so never a nodenet library.
        add_executable(drivers_libmariadb ${_nn_drv_it}/drivers_libmariadb.c)
        target_link_libraries(drivers_libmariadb PRIVATE PkgConfig::NN_DRV_LIBMARIADB)
        set(_nn_drv_client $<TARGET_FILE:drivers_libmariadb>)
    endif()
    function(nn_driver_test driver mode timeout)
        add_test(NAME drivers_${driver}_${mode}
                 COMMAND bash ${_nn_drv_it}/drivers_test.sh ${driver} ${mode} ${ARGN})
        set_tests_properties(drivers_${driver}_${mode} PROPERTIES
                             LABELS "integration;drivers" TIMEOUT ${timeout}
                             SKIP_RETURN_CODE 77 ENVIRONMENT "${_nn_drv_env}")
    endfunction()
    foreach(mode text prepared)
        nn_driver_test(libmariadb ${mode} 180 ${_nn_drv_client})
        nn_driver_test(mysql2 ${mode} 420 ${CMAKE_BINARY_DIR}/mysql2-cache)
        nn_driver_test(go ${mode} 600)
        nn_driver_test(java ${mode} 300)
        nn_driver_test(php ${mode} 180)
    endforeach()
    # PyMySQL and mysqlclient have no server-side prepared statements (their parameters are
    # always quoted into the text): one test each.
    nn_driver_test(pymysql text 180)
    nn_driver_test(mysqlclient text 180)
    # Random statements of the admin grammar (fixed seed): every one answered, the session
    # never dropped, and under a sanitizer build no report from the node.
    nn_driver_test(sqlrandom text 600)
endif()
