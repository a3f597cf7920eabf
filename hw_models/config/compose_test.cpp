// SPDX-License-Identifier: Apache-2.0
// ConfigReader::Compose: includes merge key by key under the including
// file, at any level, recursively; overrides come last; every error still
// names the file, line and column the key was written at; the resolved
// (effective) tree has every parameter read.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "lightloop/hw_models/config/config_reader.h"

namespace lightloop::hw_models {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const NumberParam kBlocks{"local_blocks", "blocks", 0, 0, 1e6, "local tier", true};
const NumberParam kSeqs{"max_seqs", "", 8, 1, 1000, "sequences", true};
const ChoiceParam kMode{"mode", {"functional", "shape"}, "functional", "mode"};
const TextParam kName{"name", "", "text", "name"};

class ComposeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ll-compose-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "frag");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  // The ConfigError reading `path` throws.
  ConfigError ErrorOf(const std::string& path, const ComposeOptions& o = {}) {
    try {
      ConfigReader top = ConfigReader::Compose(path, o);
      ConfigReader kv = top.Section("kv", false);
      kv.Integer(kBlocks);
      kv.Integer(kSeqs);
      kv.Finish();
      top.Text(kName);
      top.Finish();
    } catch (const ConfigError& e) {
      return e;
    }
    ADD_FAILURE() << "no error for " << path;
    return ConfigError({}, "", "");
  }
  fs::path dir_;
};

TEST_F(ComposeTest, TheFileOverridesItsFragmentsWhichOverrideEachOtherInOrder) {
  Write("frag/a.yaml", "name: a\nkv: {local_blocks: 10, max_seqs: 3}\n");
  Write("frag/b.yaml", "kv: {local_blocks: 20}\n");
  std::string top = Write("top.yaml", "include: [frag/a.yaml, frag/b.yaml]\nname: top\n");
  ConfigReader r = ConfigReader::Compose(top, {});
  EXPECT_EQ(r.Text(kName), "top");
  ConfigReader kv = r.Section("kv");
  EXPECT_EQ(kv.Integer(kBlocks), 20);  // b over a
  EXPECT_EQ(kv.Integer(kSeqs), 3);     // a's, merged key by key
  kv.Finish();
  r.Finish();  // `include` is consumed
}

TEST_F(ComposeTest, ASectionIncludesAFragmentAtItsOwnLevel) {
  Write("frag/kv.yaml", "local_blocks: 7\nmax_seqs: 2\n");
  std::string top = Write("top.yaml", "kv:\n  include: frag/kv.yaml\n  max_seqs: 5\n");
  ConfigReader r = ConfigReader::Compose(top, {});
  ConfigReader kv = r.Section("kv");
  EXPECT_EQ(kv.Integer(kBlocks), 7);
  EXPECT_EQ(kv.Integer(kSeqs), 5);
}

TEST_F(ComposeTest, SearchFoldersFindFragmentsNotBesideTheFile) {
  fs::create_directories(dir_ / "lib" / "workloads");
  Write("lib/workloads/w.yaml", "kv: {max_seqs: 9}\n");
  std::string top = Write("top.yaml", "include: workloads/w.yaml\n");
  ComposeOptions o;
  o.search = {(dir_ / "lib").string()};
  ConfigReader r = ConfigReader::Compose(top, o);
  EXPECT_EQ(r.Section("kv").Integer(kSeqs), 9);
  ConfigError e = ErrorOf(top);  // without the search folder
  EXPECT_THAT(e.what(), HasSubstr("top.yaml:1:10"));
  EXPECT_THAT(e.what(), HasSubstr("no fragment 'workloads/w.yaml'"));
}

TEST_F(ComposeTest, ErrorsNameTheFragmentAndLineTheKeyCameFrom) {
  Write("frag/a.yaml", "# a fragment\nkv:\n  local_blocks: -4\n");
  std::string top = Write("top.yaml", "include: frag/a.yaml\nname: x\n");
  ConfigError e = ErrorOf(top);
  EXPECT_THAT(e.what(), HasSubstr("frag/a.yaml:3:3"));
  EXPECT_EQ(e.key(), "kv.local_blocks");
  Write("frag/b.yaml", "kv:\n  max_seq: 4\n");
  top = Write("top2.yaml", "include: frag/b.yaml\n");
  e = ErrorOf(top);
  EXPECT_THAT(e.what(), HasSubstr("frag/b.yaml:2:3"));
  EXPECT_THAT(e.what(), HasSubstr("did you mean 'max_seqs'"));
}

TEST_F(ComposeTest, CyclesAndMalformedFragmentsAreErrors) {
  Write("frag/a.yaml", "include: b.yaml\n");
  Write("frag/b.yaml", "include: a.yaml\n");
  EXPECT_THAT(ErrorOf(Write("top.yaml", "include: frag/a.yaml\n")).what(), HasSubstr("include cycle"));
  Write("frag/bad.yaml", "kv: {local_blocks: [1, 2\n");
  ConfigError e = ErrorOf(Write("top2.yaml", "include: frag/bad.yaml\n"));
  EXPECT_THAT(e.what(), HasSubstr("bad.yaml"));
  EXPECT_THAT(e.what(), HasSubstr("malformed YAML"));
  EXPECT_THAT(ErrorOf(Write("top3.yaml", "include: {a: 1}\n")).what(), HasSubstr("expected a path"));
}

TEST_F(ComposeTest, OverridesComeLastAndTheirErrorsNameWhereTheyWereWritten) {
  std::string top = Write("top.yaml", "kv: {local_blocks: 10}\n");
  ComposeOptions o;
  o.overrides = {{"kv.local_blocks", YAML::Node(30), {"sweep.yaml", 4, 7}},
                 {"kv.max_seqs", YAML::Node(6), {"sweep.yaml", 5, 7}}};
  ConfigReader r = ConfigReader::Compose(top, o);
  ConfigReader kv = r.Section("kv");
  EXPECT_EQ(kv.Integer(kBlocks), 30);
  EXPECT_EQ(kv.Integer(kSeqs), 6);
  o.overrides = {{"kv.local_blocks", YAML::Node(-1), {"sweep.yaml", 4, 7}}};
  ConfigError e = ErrorOf(top, o);
  EXPECT_THAT(e.what(), HasSubstr("sweep.yaml:4:7"));
  o.overrides = {{"kv.local_blocks.x", YAML::Node(1), {"sweep.yaml", 4, 7}}};
  EXPECT_THAT(ErrorOf(top, o).what(), HasSubstr("'kv.local_blocks' is not a section"));
}

TEST_F(ComposeTest, TheEffectiveTreeHasEveryValueReadIncludingDefaults) {
  ConfigReader r = ConfigReader::Compose(Write("top.yaml", "kv: {local_blocks: 12}\n"), {});
  ConfigReader kv = r.Section("kv");
  kv.Integer(kBlocks);
  kv.Integer(kSeqs);
  r.Choice(kMode);
  r.SetEffective("name", "resolved");
  const YAML::Node& e = r.Effective();
  EXPECT_EQ(e["kv"]["local_blocks"].as<int>(), 12);
  EXPECT_EQ(e["kv"]["max_seqs"].as<int>(), 8);  // the default, written out
  EXPECT_EQ(e["mode"].as<std::string>(), "functional");
  EXPECT_EQ(e["name"].as<std::string>(), "resolved");
  // Read back, it gives the same values.
  ConfigReader again = ConfigReader::Parse(YAML::Dump(e), "resolved.yaml");
  EXPECT_EQ(again.Section("kv").Integer(kBlocks), 12);
}

}  // namespace
}  // namespace lightloop::hw_models
