// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/config/config_reference.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace lightloop::hw_models {
namespace {

using ::testing::HasSubstr;

const std::string kCheckedIn = LIGHTLOOP_CONFIG_REFERENCE;

TEST(ConfigReferenceTest, EveryParameterHasADocString) {
  std::vector<ConfigSectionReference> sections = ConfigReferenceSections();
  ASSERT_EQ(sections.size(), 5u);
  for (const ConfigSectionReference& s : sections) {
    EXPECT_FALSE(s.params.empty()) << s.heading;
    for (const ParamInfo& p : s.params) {
      EXPECT_FALSE(p.doc.empty()) << s.heading << ": `" << p.key << "` has no doc string";
      EXPECT_FALSE(p.type.empty()) << s.heading << ": " << p.key;
    }
  }
}

TEST(ConfigReferenceTest, ListsTheKeysOfEverySectionKind) {
  std::string md = ConfigReferenceMarkdown();
  for (const char* row :
       {"| `interleave_bytes` | integer | B | 4096 |", "| `credits` | integer | flits | 64 |",
        "| `tRCD` | integer | tCK | 39 |", "| `mapping` | text |", "| `latency_ns` | number | ns | 90 |",
        "| `schedule[].at_us` | number | us | 0 |", "| `fec` | choice |  | none | none, rs528, rs544 |"}) {
    EXPECT_THAT(md, HasSubstr(row));
  }
}

// hw_models' sections begin the reference; the CLI, which registers the
// models of other folders too (rtl_bridge's link), checks the whole file.
TEST(ConfigReferenceTest, TheCheckedInReferenceIsUpToDate) {
  std::ifstream in(kCheckedIn);
  ASSERT_TRUE(in) << "cannot open " << kCheckedIn;
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_TRUE(text.str().rfind(BuiltInConfigReferenceMarkdown(), 0) == 0)
      << kCheckedIn << " differs from the parameter declarations. Regenerate it from the repository root:\n"
      << "  cmake --build build --target lightloop && build/bin/lightloop info --config-reference > "
         "docs/config-reference.md";
}

}  // namespace
}  // namespace lightloop::hw_models
