// SPDX-License-Identifier: Apache-2.0
// Model presets against the models' published sizes, and bad configs.
#include "lightloop/workloads/model_shape.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace lightloop::workloads {
namespace {

const std::string kModels = std::string(LIGHTLOOP_WORKLOADS_DIR) + "/models/";

TEST(ModelShape, PresetsMatchThePublishedSizes) {
  struct Expect {
    const char* file;
    double billions;
    uint64_t kv_per_token;
  };
  for (const Expect& e : {Expect{"llama-3-8b.json", 8.03, 131072}, Expect{"llama-3-70b.json", 70.6, 327680},
                          Expect{"mixtral-8x7b.json", 46.7, 131072}, Expect{"qwen2-7b.json", 7.62, 57344}}) {
    SCOPED_TRACE(e.file);
    auto m = ReadModelShape(kModels + e.file);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_NEAR(static_cast<double>(m->parameters()) / 1e9, e.billions, e.billions * 0.01);
    EXPECT_EQ(m->kv_bytes_per_token(), e.kv_per_token);
    EXPECT_EQ(m->head_dim, 128);
  }
  auto mixtral = ReadModelShape(kModels + "mixtral-8x7b.json");
  ASSERT_TRUE(mixtral.ok());
  EXPECT_NEAR(static_cast<double>(mixtral->active_parameters()) / 1e9, 12.9, 0.13) << "two of eight experts";
}

TEST(ModelShape, BadConfigsNameTheKey) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("ll-model-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto error_of = [&](const std::string& text) {
    std::ofstream(dir / "config.json") << text;
    auto m = ReadModelShape((dir / "config.json").string());
    return m.ok() ? std::string("no error") : m.status().ToString();
  };
  EXPECT_THAT(error_of(R"({"hidden_size": 64})"),
              ::testing::HasSubstr("config.json: key 'num_hidden_layers' is missing"));
  EXPECT_THAT(error_of(R"({"hidden_size": 64, "num_hidden_layers": "two", "num_attention_heads": 4,
                          "intermediate_size": 128, "vocab_size": 100})"),
              ::testing::HasSubstr("key 'num_hidden_layers' must be a positive integer"));
  EXPECT_THAT(
      error_of(
          R"({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 3,
                          "intermediate_size": 128, "vocab_size": 100})"),
      ::testing::HasSubstr("key 'num_key_value_heads' must divide num_attention_heads"));
  EXPECT_THAT(error_of(R"({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                          "intermediate_size": 128, "vocab_size": 100, "torch_dtype": "int3"})"),
              ::testing::HasSubstr("key 'torch_dtype': 'int3' is not bfloat16"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lightloop::workloads
