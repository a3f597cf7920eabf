// SPDX-License-Identifier: Apache-2.0
// Runs the `lightloop` program as a user would (LIGHTLOOP_BIN, with
// FI_PROVIDER, FI_LIGHTLOOP_CONFIG and FI_LIGHTLOOP_BOARD cleared so the environment does not
// change what a test asks for) and reads what it wrote.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace lightloop::testbench {

struct CommandResult {
  int code;
  std::string out;  // stdout and stderr
};

// Runs `script` with sh: its exit code and everything it printed (stdout
// and stderr).
inline CommandResult Shell(const std::string& script) {
  std::string out;
  FILE* p = popen(("(" + script + ") 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  std::array<char, 512> buf;
  while (fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// `env`: NAME=value settings for this run ("" none).
inline CommandResult Lightloop(const std::string& args, const std::string& env = "") {
  return Shell("env -u FI_PROVIDER -u FI_LIGHTLOOP_CONFIG -u FI_LIGHTLOOP_BOARD " + env + " " +
               std::string(LIGHTLOOP_BIN) + " " + args + " 2>&1");  // after any redirect in `args`
}

// Runs `lightloop <args> --json FILE` and returns the JSON (empty, with a
// test failure, when the program failed).
inline nlohmann::json LightloopJson(const std::string& args) {
  std::filesystem::path json = std::filesystem::temp_directory_path() /
                               ("ll-" + std::to_string(getpid()) + "-" + std::to_string(rand()) + ".json");
  CommandResult r = Lightloop(args + " --json " + json.string());
  EXPECT_EQ(r.code, 0) << r.out;
  if (r.code != 0) return {};
  std::ifstream in(json);
  nlohmann::json j = nlohmann::json::parse(in);
  std::filesystem::remove(json);
  return j;
}

// A fixture with a scratch folder of its own (per process and test), for
// scenario, suite and report files, removed afterwards.
class ScratchDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ll-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Writes `text` to `name` in the folder; its path.
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  static std::string Read(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // DIR/report.json, or null when there is none.
  static nlohmann::json Report(const std::filesystem::path& dir) {
    std::ifstream in(dir / "report.json");
    return in ? nlohmann::json::parse(in) : nlohmann::json();
  }
  std::filesystem::path dir_;
};

}  // namespace lightloop::testbench
