# SPDX-License-Identifier: Apache-2.0
# lightloop_proto_library(<target> PROTO <file.proto>)
#   Generates protobuf and gRPC C++ sources into the build tree and builds them
#   into a static library that re-exports protobuf and gRPC.
function(lightloop_proto_library target)
  cmake_parse_arguments(ARG "" "PROTO" "" ${ARGN})
  get_filename_component(proto_abs ${ARG_PROTO} ABSOLUTE)
  get_filename_component(proto_dir ${proto_abs} DIRECTORY)
  get_filename_component(proto_name ${proto_abs} NAME_WE)
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/generated/lightloop/proto)
  set(outputs
      ${out_dir}/${proto_name}.pb.cc ${out_dir}/${proto_name}.pb.h
      ${out_dir}/${proto_name}.grpc.pb.cc ${out_dir}/${proto_name}.grpc.pb.h)
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND protobuf::protoc
            --proto_path=${proto_dir} --cpp_out=${out_dir} --grpc_out=${out_dir}
            --plugin=protoc-gen-grpc=${LIGHTLOOP_GRPC_CPP_PLUGIN} ${proto_abs}
    DEPENDS ${proto_abs}
    COMMENT "protoc ${proto_name}.proto")
  add_library(${target} STATIC ${outputs})
  target_include_directories(${target} PUBLIC ${CMAKE_CURRENT_BINARY_DIR}/generated)
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf gRPC::grpc++)
endfunction()

# lightloop_test(<name> [NO_GTEST_MAIN] SOURCES ... LIBS ... LABELS ...)
#   One GoogleTest executable; every TEST becomes its own CTest entry (and so
#   its own process, which SystemC-based tests rely on).
function(lightloop_test name)
  if(NOT LIGHTLOOP_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "NO_GTEST_MAIN" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gmock)
  if(NOT ARG_NO_GTEST_MAIN)  # SystemC tests bring their own sc_main
    target_link_libraries(${name} PRIVATE GTest::gtest_main)
  endif()
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  # The code under test keeps -O2; the tests' own code (gtest macros, mostly)
  # compiles a third faster at -O1, and a CI build starts from scratch.
  if(CMAKE_BUILD_TYPE STREQUAL "RelWithDebInfo")
    target_compile_options(${name} PRIVATE -O1)
  endif()
  gtest_discover_tests(${name}
    DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()
