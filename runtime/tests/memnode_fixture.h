// SPDX-License-Identifier: Apache-2.0
// Two-process test fixture: each test gets a `lightloop memnode` child on a
// free loopback port, over the provider the test is instantiated for.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "lightloop/runtime/memnode.h"
#include "lightloop/runtime/memnode_process.h"
#include "lightloop/runtime/remote_memory.h"

namespace lightloop::runtime::testing {

#define ASSERT_OK(expr)                                \
  do {                                                 \
    const ::lightloop::runtime::Status ll_s_ = (expr); \
    ASSERT_TRUE(ll_s_.ok()) << ll_s_.ToString();       \
  } while (0)

#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                                           \
  auto LL_CONCAT(ll_v_, __LINE__) = (expr);                                                       \
  ASSERT_TRUE(LL_CONCAT(ll_v_, __LINE__).ok()) << LL_CONCAT(ll_v_, __LINE__).status().ToString(); \
  lhs = std::move(LL_CONCAT(ll_v_, __LINE__)).value()

std::vector<char> RandomBytes(size_t n, uint64_t seed);

// One conformance suite for every target: each test runs over tcp and shm
// (nic target: a memnode process; shm with CMA off, large transfers through
// shared buffers, and shm_cma with CMA on: both of its protocols, whichever
// ChooseShmCopy would pick on this machine), over lightloop (sim target, the memnode
// in the test's process: tests that need a memnode process are skipped, each
// with its reason, kSimSkips in memnode_fixture.cpp) and over lightloop on a
// shared fabric (sim_shared: FI_LIGHTLOOP_FABRIC=shared in virtual time, a
// memnode process and the test's client on one simulated fabric run by a
// fabric daemon of the test's own, started on demand; kSharedSkips). The fpga variant is the lightloop
// provider with its fpga backend on the virtual board (FI_LIGHTLOOP_BOARD=virtual): regions in board memory,
// RMA by DMA; its skip list is the sim target's plus kFpgaSkips. The backend is chosen once per process (the
// provider's fabric is a process singleton), so a process runs lightloop or fpga tests, not both: ctest runs
// each test in its own process; a plain run skips the other kind.
class MemnodeTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // The libfabric provider: "fpga" is the lightloop provider on the board.
  std::string provider() const {
    if (GetParam() == "shm_cma") return "shm";
    return GetParam() == "fpga" || GetParam() == "sim_shared" ? "lightloop" : GetParam();
  }
  bool in_process() const { return GetParam() == "lightloop" || GetParam() == "fpga"; }
  // Starts a memnode child; returns false (with a test failure) if it could not.
  std::unique_ptr<MemnodeProcess> SpawnMemnode(const std::string& capacity = "512MiB", size_t endpoints = 0);
  RemoteMemoryClient::Options ClientOptions(const std::string& tenant = "test") const;
  std::unique_ptr<RemoteMemoryClient> Connect(const std::string& tenant = "test", size_t depth = 16,
                                              size_t max_chunk = 0);

  std::unique_ptr<MemnodeProcess> memnode_;  // nic target
  std::unique_ptr<Memnode> in_process_;      // sim target
  std::string address_;                      // the memnode's control plane
};

// Instantiates a MemnodeTest suite over tcp, shm, shm_cma, lightloop, sim_shared and fpga.
#define LIGHTLOOP_OVER_PROVIDERS(Suite)                                                                   \
  INSTANTIATE_TEST_SUITE_P(Providers, Suite,                                                              \
                           ::testing::Values("tcp", "shm", "shm_cma", "lightloop", "sim_shared", "fpga"), \
                           [](const ::testing::TestParamInfo<std::string>& i) { return i.param; })

}  // namespace lightloop::runtime::testing
