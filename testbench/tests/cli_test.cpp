// SPDX-License-Identifier: Apache-2.0
// The `lightloop` program as a user runs it.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace lightloop::testbench {
namespace {

struct CommandResult {
  int code;
  std::string out;
};

CommandResult Lightloop(const std::string& args) {
  std::string out;
  FILE* p = popen((std::string(LIGHTLOOP_BIN) + " " + args + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  std::array<char, 512> buf;
  while (fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(CliTest, HelpListsTheSubcommands) {
  CommandResult r = Lightloop("--help");
  EXPECT_EQ(r.code, 0);
  for (const char* cmd : {"memnode", "bench", "info", "model"})
    EXPECT_NE(r.out.find(cmd), std::string::npos) << r.out;
  r = Lightloop("bench transport --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--sizes"), std::string::npos) << r.out;
}

TEST(CliTest, UnknownSubcommandOrFlagIsAUsageError) {
  EXPECT_EQ(Lightloop("frobnicate").code, 2);
  CommandResult r = Lightloop("memnode --capacty 1GiB");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--capacty"), std::string::npos) << r.out;
  EXPECT_EQ(Lightloop("bench transport --depth 0").code, 2);
}

TEST(CliTest, BadSizesNameTheFlag) {
  CommandResult r = Lightloop("bench transport --sizes 4K,12bananas");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("--sizes: '12bananas' is not a size"), std::string::npos) << r.out;
}

TEST(CliTest, InfoListsUsableProviders) {
  CommandResult r = Lightloop("info");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("shm"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tcp"), std::string::npos) << r.out;
}

TEST(CliTest, BenchTransportWritesItsJson) {
  std::filesystem::path json =
      std::filesystem::temp_directory_path() / ("ll-bench-" + std::to_string(getpid()) + ".json");
  CommandResult r = Lightloop(
      "bench transport --provider shm --sizes 4K,1M --depth 2 --min-time-ms 10 --latency-iterations 20 "
      "--json " +
      json.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("vs memcpy"), std::string::npos) << r.out;
  std::ifstream in(json);
  nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["provider"], "shm");
  EXPECT_GT(j["baseline"]["memcpy_gbps"].get<double>(), 0.0);
  EXPECT_EQ(j["results"].size(), 6u);
  EXPECT_EQ(j["results"][4]["size"], 1048576);
  EXPECT_FALSE(std::filesystem::exists(json.string() + ".tmp"));
  std::filesystem::remove(json);
}

TEST(CliTest, ModelRunsEveryNodePreset) {
  int presets = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(LIGHTLOOP_HW_PRESETS) + "/nodes")) {
    std::filesystem::path json =
        std::filesystem::temp_directory_path() / ("ll-model-run-" + std::to_string(getpid()) + ".json");
    CommandResult r = Lightloop("model --config " + entry.path().string() +
                                " --pattern random --op mix:0.7 --size 64K --count 2000 --depth 16 --json " +
                                json.string());
    ASSERT_EQ(r.code, 0) << entry.path() << "\n" << r.out;
    std::ifstream in(json);
    nlohmann::json j = nlohmann::json::parse(in);
    for (const char* key : {"gbps", "link_utilization", "sim_wall_s"}) EXPECT_TRUE(j.contains(key)) << key;
    EXPECT_LE(j["latency_ns"]["p50"].get<double>(), j["latency_ns"]["p99"].get<double>());
    EXPECT_GE(j["latency_ns"]["p50"].get<double>(), j["closed_form"]["latency_ns"].get<double>());
    EXPECT_GT(j["closed_form"]["gbps"].get<double>(), 0.0);
    EXPECT_GT(j["energy"]["joules"].get<double>(), 0.0);
    std::filesystem::remove(json);
    ++presets;
  }
  EXPECT_GE(presets, 2);
}

TEST(CliTest, ModelNamesTheBadInput) {
  std::filesystem::path bad =
      std::filesystem::temp_directory_path() / ("ll-bad-node-" + std::to_string(getpid()) + ".yaml");
  std::ofstream(bad) << "link:\n  wavelengths: lots\nmemory: {}\n";
  CommandResult r = Lightloop("model --config " + bad.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(bad.string() + ":2:3: key 'link.wavelengths': expected a number"), std::string::npos)
      << r.out;
  std::filesystem::remove(bad);
  r = Lightloop("model --config " + std::string(LIGHTLOOP_HW_PRESETS) +
                "/nodes/pam4_fixed.yaml --op mix:1.5");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("--op: 'mix:1.5'"), std::string::npos) << r.out;
  EXPECT_EQ(Lightloop("model --config x.yaml --pattern zigzag").code, 2);
}

TEST(CliTest, BenchModelReportsSpeedAgainstTheBareLoop) {
  std::filesystem::path json =
      std::filesystem::temp_directory_path() / ("ll-model-" + std::to_string(getpid()) + ".json");
  CommandResult r =
      Lightloop("bench model --transactions 100000 --stream-bytes 256MiB --json " + json.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("of the baseline"), std::string::npos) << r.out;
  std::ifstream in(json);
  nlohmann::json j = nlohmann::json::parse(in);
  for (const char* key : {"txn_per_s", "gb_per_s_64k", "baseline_txn_per_s"}) {
    EXPECT_GT(j[key].get<double>(), 0.0) << key;
  }
  // The stream saturates the default link: 16 x 32 Gb/s, 248 payload bytes per 256-byte flit.
  double closed_form = 16 * 32 * (248.0 / 256) / 8;
  EXPECT_NEAR(j["simulated_gbps_64k"].get<double>(), closed_form, closed_form * 0.01);
  std::filesystem::remove(json);
  EXPECT_EQ(Lightloop("bench model --stream-bytes 1KiB").code, 1);
}

}  // namespace
}  // namespace lightloop::testbench
