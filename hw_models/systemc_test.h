// SPDX-License-Identifier: Apache-2.0
// Base fixture for SystemC tests: a fresh simulation context per test, so
// that several tests can build and run models in one process (as with
// DRAMSys's SystemCTest). ctest also runs each test in its own process.
#pragma once

#include <gtest/gtest.h>

#include <systemc>

namespace lightloop::hw_models {

class SystemCTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sc_core::sc_curr_simcontext = new sc_core::sc_simcontext();
    sc_core::sc_default_global_context = sc_core::sc_curr_simcontext;
  }
};

}  // namespace lightloop::hw_models
