# SPDX-License-Identifier: Apache-2.0
cmake_minimum_required(VERSION 3.25)
# cmake -DJSON=<file> -DOUT_DIR=<dir> -P run_generate_regmap.cmake
#   The register-map generator as a script, for tests of its error messages.
get_filename_component(PROJECT_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
include("${CMAKE_CURRENT_LIST_DIR}/generate_regmap.cmake")
lightloop_generate_regmap(JSON "${JSON}" SV "${OUT_DIR}/board_regs_pkg.sv"
                          HEADER "${OUT_DIR}/board_regs.h" MARKDOWN "${OUT_DIR}/board-register-map.md")
