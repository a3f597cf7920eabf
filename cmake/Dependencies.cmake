# SPDX-License-Identifier: Apache-2.0
# Every dependency comes from a Debian package (see scripts/install-deps.sh).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(LIBFABRIC REQUIRED IMPORTED_TARGET libfabric>=1.17)
add_library(lightloop::libfabric ALIAS PkgConfig::LIBFABRIC)

find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_program(LIGHTLOOP_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# Checksums of offloaded KV blocks (memory_offload).
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(LIBCRYPTO REQUIRED IMPORTED_TARGET libcrypto)  # SHA-256 of generated tokens in run reports

find_package(yaml-cpp REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)

# SystemC (TLM-2.0) and Verilator are wired in here for the sim and fpga
# targets; the libraries that use them arrive with hw_models and rtl_bridge.
pkg_check_modules(SYSTEMC REQUIRED IMPORTED_TARGET systemc>=2.3)
# Debian builds SystemC as C++17; its headers pick an API-version symbol from
# the language level, so C++20 code must say it builds against the C++17 ABI.
set_property(TARGET PkgConfig::SYSTEMC APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS SC_CPLUSPLUS=201703L)
find_package(verilator REQUIRED HINTS $ENV{VERILATOR_ROOT} /usr/share/verilator)

if(LIGHTLOOP_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
find_package(benchmark REQUIRED)
