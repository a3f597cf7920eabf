// SPDX-License-Identifier: Apache-2.0
// The roofline of shape mode: decode is bound by HBM (weights and KV),
// long prefills by FLOPs, with the numbers the presets and model shapes give.
#include "lightloop/workloads/accelerator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lightloop::workloads {
namespace {

const std::string kDir = std::string(LIGHTLOOP_WORKLOADS_DIR);

TEST(Accelerator, DecodeIsMemoryBoundAndPrefillComputeBound) {
  auto m = ReadModelShape(kDir + "/models/llama-3-8b.json");
  auto h100 = ReadAccelerator(kDir + "/accelerators/h100-sxm.json");
  ASSERT_TRUE(m.ok() && h100.ok());
  // One sequence at 1024 tokens: the weights (16.06 GB) and its KV cross HBM once.
  StepCost decode = DecodeStep(*m, *h100, {1024});
  EXPECT_TRUE(decode.memory_bound);
  double bytes = 8.03e9 * 2 + 131072.0 * 1025;
  EXPECT_NEAR(decode.bytes, bytes, bytes * 0.01);
  EXPECT_NEAR(decode.seconds, bytes / 3.35e12, 1e-5);
  // 4096 new tokens: 2 x params x tokens plus attention, at 989 TFLOP/s.
  StepCost prefill = PrefillStep(*m, *h100, 4096);
  EXPECT_FALSE(prefill.memory_bound);
  double flops = 2 * 8.03e9 * 4096 + 4.0 * 32 * 32 * 128 * (4096.0 * 4097 / 2);
  EXPECT_NEAR(prefill.flops, flops, flops * 0.01);
  EXPECT_NEAR(prefill.seconds, flops / 989.4e12, prefill.seconds * 0.01);
}

TEST(Accelerator, MoreBandwidthMakesDecodeFaster) {
  auto m = ReadModelShape(kDir + "/models/llama-3-70b.json");
  auto h100 = ReadAccelerator(kDir + "/accelerators/h100-sxm.json");
  auto h200 = ReadAccelerator(kDir + "/accelerators/h200.json");
  auto mi300x = ReadAccelerator(kDir + "/accelerators/mi300x.json");
  ASSERT_TRUE(m.ok() && h100.ok() && h200.ok() && mi300x.ok());
  std::vector<uint64_t> batch(32, 2048);
  double t100 = DecodeStep(*m, *h100, batch).seconds, t200 = DecodeStep(*m, *h200, batch).seconds;
  EXPECT_NEAR(t100 / t200, 4.8 / 3.35, 0.01) << "memory-bound: the ratio of the bandwidths";
  EXPECT_LT(DecodeStep(*m, *mi300x, batch).seconds, t200);
  EXPECT_EQ(mi300x->hbm_bytes, 192e9);
}

TEST(Accelerator, MixtralDecodeReadsOnlyTheActiveExperts) {
  auto m = ReadModelShape(kDir + "/models/mixtral-8x7b.json");
  auto h100 = ReadAccelerator(kDir + "/accelerators/h100-sxm.json");
  ASSERT_TRUE(m.ok() && h100.ok());
  StepCost c = DecodeStep(*m, *h100, {1});
  EXPECT_NEAR(c.bytes / 1e9, 12.88 * 2, 0.3);
}

TEST(Accelerator, BadPresetNamesTheKey) {
  auto a = ReadAccelerator(kDir + "/models/llama-3-8b.json");
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.status().ToString(),
              ::testing::HasSubstr("llama-3-8b.json: key 'bf16_tflops' must be a positive number"));
}

}  // namespace
}  // namespace lightloop::workloads
