// SPDX-License-Identifier: Apache-2.0
// The shm copy choice (CMA or SAR). The choice is made once per process, so
// each test needs its own process, as ctest runs them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "lightloop/runtime/fabric.h"

namespace lightloop::runtime {
namespace {

TEST(ShmCopy, SarWhenCmaMovesLessThanHalfOfMemcpy) {
  EXPECT_TRUE(PreferSar(4.6, 18.0));  // the 2-core CI guest: pinning pages is costly
  EXPECT_FALSE(PreferSar(12.0, 18.0));
  EXPECT_FALSE(PreferSar(9.0, 18.0));  // exactly half keeps CMA's single copy
  EXPECT_TRUE(PreferSar(0.0, 18.0));   // process_vm_readv refused
}

TEST(ShmCopy, TheUsersSettingIsKept) {
  setenv("FI_SHM_DISABLE_CMA", "0", 1);
  const ShmCopyChoice& c = ChooseShmCopy();
  EXPECT_TRUE(c.cma);
  EXPECT_FALSE(c.probed);
  EXPECT_NE(c.why.find("FI_SHM_DISABLE_CMA=0"), std::string::npos) << c.why;
  EXPECT_STREQ(std::getenv("FI_SHM_DISABLE_CMA"), "0");
}

TEST(ShmCopy, TheUsersSarIsKept) {
  setenv("FI_SHM_DISABLE_CMA", "yes", 1);
  EXPECT_FALSE(ChooseShmCopy().cma);
  EXPECT_FALSE(ChooseShmCopy().probed);
}

TEST(ShmCopy, TheProbeMeasuresAndSetsTheEnvironmentForSar) {
  unsetenv("FI_SHM_DISABLE_CMA");
  const ShmCopyChoice& c = ChooseShmCopy();
  ASSERT_TRUE(c.probed) << c.why;
  EXPECT_GT(c.memcpy_gbps, 0.1);
  EXPECT_GE(c.cma_gbps, 0.0);
  EXPECT_EQ(c.cma, !PreferSar(c.cma_gbps, c.memcpy_gbps));
  const char* env = std::getenv("FI_SHM_DISABLE_CMA");
  if (c.cma) {
    EXPECT_EQ(env, nullptr);
  } else {
    ASSERT_NE(env, nullptr);
    EXPECT_STREQ(env, "1");
  }
  EXPECT_NE(c.why.find("process_vm_readv"), std::string::npos) << c.why;
  EXPECT_EQ(&ChooseShmCopy(), &c);  // once per process
}

TEST(ShmCopy, FindProviderChoosesBeforeLibfabricStarts) {
  unsetenv("FI_SHM_DISABLE_CMA");
  auto info = FindProvider({.provider = "shm"});
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_TRUE(ChooseShmCopy().probed) << ChooseShmCopy().why;
}

TEST(ShmCopy, TooLateOnceLibfabricHasStarted) {
  unsetenv("FI_SHM_DISABLE_CMA");
  auto info = FindProvider({.provider = "tcp"});
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  const ShmCopyChoice& c = ChooseShmCopy();
  EXPECT_FALSE(c.probed);
  EXPECT_TRUE(c.cma);
  EXPECT_NE(c.why.find("started"), std::string::npos) << c.why;
  EXPECT_EQ(std::getenv("FI_SHM_DISABLE_CMA"), nullptr);
}

}  // namespace
}  // namespace lightloop::runtime
