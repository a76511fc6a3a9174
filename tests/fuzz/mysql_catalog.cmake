# The catalog change parser (mysql/catalog_repl.c): bytes that come from other nodes.
# Included after fuzz.cmake (file name order), which defines nn_fuzz_target().
if(COMMAND nn_fuzz_target)
    nn_fuzz_target(catalog_change fuzz_catalog_change.c nn_mysql)
endif()
