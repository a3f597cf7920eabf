// SPDX-License-Identifier: Apache-2.0
// Trace readers on the checked-in samples: arrivals, lengths, prefix
// blocks, windows, sampling and scaling, and bad rows named by file:line.
#include "lightloop/workloads/trace.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace lightloop::workloads {
namespace {

const std::string kDir = std::string(LIGHTLOOP_WORKLOADS_DIR) + "/traces/";

TEST(Trace, AzureSampleReads) {
  auto rs = ReadTrace(kDir + "azure_conv_sample.csv");
  ASSERT_TRUE(rs.ok()) << rs.status().ToString();
  ASSERT_EQ(rs->size(), 200u);
  // The first rows: 18:15:46.6805900 374 44, then 18:15:50.9951690 396 109.
  EXPECT_EQ((*rs)[0].arrival_s, 0);
  EXPECT_EQ((*rs)[0].input_tokens, 374u);
  EXPECT_EQ((*rs)[0].output_tokens, 44u);
  EXPECT_NEAR((*rs)[1].arrival_s, 50.9951690 - 46.6805900, 1e-6);
  EXPECT_EQ((*rs)[1].input_tokens, 396u);
  for (size_t i = 1; i < rs->size(); ++i) EXPECT_GE((*rs)[i].arrival_s, (*rs)[i - 1].arrival_s);
}

TEST(Trace, MooncakeSampleCarriesPrefixBlocks) {
  auto rs = ReadTrace(kDir + "mooncake_conversation_sample.jsonl");
  ASSERT_TRUE(rs.ok()) << rs.status().ToString();
  ASSERT_EQ(rs->size(), 200u);
  const Request& first = (*rs)[0];
  EXPECT_EQ(first.input_tokens, 6758u);
  EXPECT_EQ(first.output_tokens, 500u);
  // 512 tokens a block: ceil(6758 / 512) = 14 blocks.
  EXPECT_EQ(first.hash_ids.size(), 14u);
  EXPECT_EQ((*rs)[1].hash_ids[0], first.hash_ids[0]) << "a shared first block: a common prefix";
}

TEST(Trace, WindowSampleAndScale) {
  auto all = ReadTrace(kDir + "azure_conv_sample.csv");
  ASSERT_TRUE(all.ok());
  auto window = ReadTrace(kDir + "azure_conv_sample.csv",
                          {.window_start_s = 10, .window_end_s = 60, .time_scale = 0.5});
  ASSERT_TRUE(window.ok());
  size_t expected = 0;
  for (const Request& r : *all) expected += r.arrival_s >= 10 && r.arrival_s < 60;
  ASSERT_EQ(window->size(), expected);
  for (const Request& r : *window) {
    EXPECT_GE(r.arrival_s, 0);
    EXPECT_LT(r.arrival_s, 25.0);
    EXPECT_NEAR(r.arrival_s, ((*all)[r.id].arrival_s - 10) * 0.5, 1e-9) << "request " << r.id;
  }
  auto half = ReadTrace(kDir + "azure_conv_sample.csv", {.sample = 0.5, .seed = 3});
  ASSERT_TRUE(half.ok());
  EXPECT_GT(half->size(), 70u);
  EXPECT_LT(half->size(), 130u);
  auto again = ReadTrace(kDir + "azure_conv_sample.csv", {.sample = 0.5, .seed = 3});
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), half->size()) << "the same seed, the same sample";
  auto ten = ReadTrace(kDir + "azure_conv_sample.csv", {.max_requests = 10});
  ASSERT_TRUE(ten.ok());
  EXPECT_EQ(ten->size(), 10u);
}

TEST(Trace, BadRowsNameFileAndLine) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("ll-trace-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto error_of = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    auto r = ReadTrace((dir / name).string());
    return r.ok() ? std::string("no error") : r.status().ToString();
  };
  EXPECT_THAT(error_of("a.csv",
                       "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6,374,44\n2023-11-16 "
                       "18:15:47,lots,1\n"),
              ::testing::HasSubstr("a.csv:3: ContextTokens 'lots' is not a count"));
  EXPECT_THAT(error_of("b.csv", "when,in,out\n"), ::testing::HasSubstr("b.csv:1: expected the header"));
  EXPECT_THAT(error_of("c.jsonl",
                       "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n{\"timestamp\": 1}\n"),
              ::testing::HasSubstr("c.jsonl:2: key 'input_length' must be a number >= 0"));
  EXPECT_THAT(error_of("d.jsonl", "not json\n"), ::testing::HasSubstr("d.jsonl:1: not a JSON object"));
  EXPECT_THAT(error_of("e.txt", ""), ::testing::HasSubstr("a trace is .csv (Azure) or .jsonl (Mooncake)"));
  std::filesystem::remove_all(dir);
}

// The full Azure conversation trace, as published (workloads/traces/azure_conv.csv).
TEST(Trace, FullAzureConversationTraceMatchesItsSummary) {
  const std::string conv = std::string(LIGHTLOOP_WORKLOADS_DIR) + "/traces/azure_conv.csv";
  auto rs = ReadTrace(conv);
  ASSERT_TRUE(rs.ok()) << rs.status().ToString();
  TraceSummary s = Summarize(*rs);
  EXPECT_EQ(s.requests, 19366u);
  EXPECT_NEAR(s.span_s, 3502, 1);
  EXPECT_NEAR(s.mean_input, 1155, 1);
  EXPECT_NEAR(s.mean_output, 211, 1);
}

}  // namespace
}  // namespace lightloop::workloads
