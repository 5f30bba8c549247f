# SPDX-License-Identifier: MIT
#
# uk_add_rig_test(NAME SCRIPT): register a bash test that needs the rig (a
# real pcscd with the vpcd reader and ukey-vkey keys). The test runs after the
# `rig` fixture (rig.start) and before its cleanup (rig.stop); the vpcd lock
# keeps rig tests from running at the same time, since they share the readers.
# SCRIPT is relative to the calling directory. The script gets:
#   UK_RIG_DIR   rig directory (pid files, logs, key states)
#   UK_RIG_LIB   tests/rig/rig.sh, to source for rig_card_start & co.
#   UK_VKEY      the ukey-vkey program
#   UK_RIG_WAIT  the uk-rig-wait program
#   UK_SOURCE_DIR, UK_BUILD_DIR  the source and build trees
# The top level includes this file (or tests/rig/CMakeLists.txt does) before
# any conformance test is added.
include_guard(GLOBAL)

function(uk_rig_environment out_var)
    set(${out_var}
        "UK_RIG_DIR=${CMAKE_BINARY_DIR}/rig"
        "UK_RIG_LIB=${CMAKE_CURRENT_FUNCTION_LIST_DIR}/rig.sh"
        "UK_VKEY=$<TARGET_FILE:ukey-vkey>"
        "UK_RIG_WAIT=$<TARGET_FILE:uk-rig-wait>"
        "UK_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
        "UK_BUILD_DIR=${CMAKE_BINARY_DIR}"
        PARENT_SCOPE)
endfunction()

function(uk_add_rig_test name script)
    if(NOT IS_ABSOLUTE "${script}")
        set(script "${CMAKE_CURRENT_SOURCE_DIR}/${script}")
    endif()
    uk_rig_environment(env)
    add_test(NAME ${name} COMMAND bash "${script}")
    set_tests_properties(${name} PROPERTIES
        FIXTURES_REQUIRED rig
        RESOURCE_LOCK vpcd
        LABELS integration
        TIMEOUT 300)
    set_property(TEST ${name} PROPERTY ENVIRONMENT ${env})
endfunction()
