// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/transport_bench.h"

#include <gtest/gtest.h>

namespace lightloop::testbench {
namespace {

TransportBenchOptions SmallRun(const std::string& provider) {
  TransportBenchOptions o;
  o.provider = provider;
  o.memnode_binary = LIGHTLOOP_BIN;
  o.sizes = {4096, 65536 + 3};
  o.depth = 4;
  o.min_time = std::chrono::milliseconds(20);
  o.latency_iterations = 50;
  return o;
}

class TransportBenchTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TransportBenchTest, MeasuresEveryPointAgainstTheMemcpyBaseline) {
  auto report = RunTransportBench(SmallRun(GetParam()));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->provider.substr(0, report->provider.find(';')), GetParam());
  EXPECT_GT(report->memcpy_gbps, 0.0);
  // 64-byte latency for write and read, then each size for write and read.
  ASSERT_EQ(report->results.size(), 6u);
  EXPECT_EQ(report->results[0].size, 64u);
  EXPECT_EQ(report->results[0].depth, 1u);
  EXPECT_GE(report->results[0].operations, 50u);
  EXPECT_EQ(report->results[5].op, "read");
  EXPECT_EQ(report->results[5].size, 65539u);
  for (const TransportResult& r : report->results) {
    EXPECT_GT(r.gbps, 0.0) << r.op << " " << r.size;
    EXPECT_GT(r.lat_us_p50, 0.0);
    EXPECT_LE(r.lat_us_p50, r.lat_us_p99);
    EXPECT_DOUBLE_EQ(r.ratio_vs_memcpy, r.gbps / report->memcpy_gbps);
  }
  nlohmann::json j = ToJson(*report);
  EXPECT_EQ(j["provider"], report->provider);
  EXPECT_DOUBLE_EQ(j["baseline"]["memcpy_gbps"].get<double>(), report->memcpy_gbps);
  ASSERT_EQ(j["results"].size(), 6u);
  for (const char* key : {"op", "size", "depth", "gbps", "lat_us_p50", "lat_us_p99", "ratio_vs_memcpy"}) {
    EXPECT_TRUE(j["results"][2].contains(key)) << key;
  }
  std::string table = FormatTable(*report);
  EXPECT_NE(table.find("baseline: single-core memcpy"), std::string::npos) << table;
  EXPECT_NE(table.find("4KiB"), std::string::npos) << table;
}

TEST(TransportBenchOptionsTest, RejectsEmptyAndZeroSizes) {
  TransportBenchOptions o = SmallRun("shm");
  o.sizes = {};
  EXPECT_EQ(RunTransportBench(o).status().code(), runtime::StatusCode::kInvalidArgument);
  o.sizes = {4096, 0};
  EXPECT_EQ(RunTransportBench(o).status().code(), runtime::StatusCode::kInvalidArgument);
  o.sizes = {4096};
  o.depth = 0;
  EXPECT_EQ(RunTransportBench(o).status().code(), runtime::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Providers, TransportBenchTest, ::testing::Values("tcp", "shm"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace lightloop::testbench
