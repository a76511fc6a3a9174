# node's mysql2 client against a nodenet node (tests/integration/mysql_mysql2_test.sh).
# mysql2 is installed with npm once into the build dir; without node, npm or a registry
# the test reports SKIP (exit 77).
find_program(NN_NODEJS NAMES node)
if(TARGET nodenet AND NN_NODEJS)
    add_test(NAME mysql_mysql2
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/mysql_mysql2_test.sh
                     ${CMAKE_CURRENT_SOURCE_DIR}/integration/mysql_mysql2_client.js
                     ${CMAKE_BINARY_DIR}/mysql2-cache)
    set_tests_properties(mysql_mysql2 PROPERTIES LABELS integration TIMEOUT 420
                         SKIP_RETURN_CODE 77
                         ENVIRONMENT "NODENET_BIN=$<TARGET_FILE:nodenet>;GEN_CERTS=${CMAKE_SOURCE_DIR}/deploy/gen-certs")
endif()
