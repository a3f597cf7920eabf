// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/config/config_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace lightloop::hw_models {
namespace {

using ::testing::HasSubstr;

const NumberParam kRate{"gbps_per_wavelength", "Gb/s", 32, 1, 1000, "line rate per wavelength"};
const NumberParam kLanes{"wavelengths", "", 16, 1, 256, "lanes per fibre", true};
const ChoiceParam kFec{"fec", {"none", "rs528", "rs544"}, "none", "forward error correction"};
const FlagParam kUp{"up", true, "link state at start"};

// Runs `read` on `yaml` and returns the ConfigError it throws.
template <typename F>
ConfigError ErrorOf(const std::string& yaml, F read) {
  try {
    ConfigReader r = ConfigReader::Parse(yaml, "link.yaml");
    read(r);
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "no ConfigError for:\n" << yaml;
  return ConfigError({}, "", "");
}

TEST(ConfigReaderTest, ReadsValuesAndAppliesDefaults) {
  ConfigReader top = ConfigReader::Parse("link:\n  gbps_per_wavelength: 112\n  fec: rs544\n", "link.yaml");
  ConfigReader link = top.Section("link");
  EXPECT_DOUBLE_EQ(link.Number(kRate), 112);
  EXPECT_EQ(link.Integer(kLanes), 16);  // default
  EXPECT_EQ(link.Choice(kFec), "rs544");
  EXPECT_TRUE(link.Flag(kUp));
  link.Finish();
  top.Finish();
  ASSERT_EQ(top.declared().size(), 4u);
  EXPECT_EQ(top.declared()[0].key, "link.gbps_per_wavelength");
  EXPECT_EQ(top.declared()[0].unit, "Gb/s");
  EXPECT_EQ(top.declared()[1].type, "integer");
}

TEST(ConfigReaderTest, TextIsDeclaredAndReadAsIs) {
  const TextParam kMap{"mapping", "ro-ch", "fields joined by '-'", "address mapping"};
  ConfigReader top = ConfigReader::Parse("mapping: ch-ro\nbanks: 1073741824\n", "m.yaml");
  EXPECT_EQ(top.Text(kMap), "ch-ro");
  top.Integer({"banks", "", 1, 1, 1 << 30, "banks"});
  top.Finish();
  ASSERT_EQ(top.declared().size(), 2u);
  EXPECT_EQ(top.declared()[0].type, "text");
  EXPECT_EQ(top.declared()[0].default_text, "ro-ch");
  EXPECT_EQ(top.declared()[0].range, "fields joined by '-'");
  EXPECT_EQ(top.declared()[1].range, "1 .. 1073741824") << "whole numbers in full";
  EXPECT_EQ(ConfigReader::Parse("", "m.yaml").Text(kMap), "ro-ch");  // default
  EXPECT_THAT(ErrorOf("mapping: [a, b]\n", [&](ConfigReader& r) { r.Text(kMap); }).what(),
              HasSubstr("link.yaml:1:1: key 'mapping': expected text: fields joined by '-'"));
}

TEST(ConfigReaderTest, UnknownKeySuggestsTheClosestOne) {
  ConfigError e = ErrorOf("link:\n  gbps_per_wavelength: 112\n  wavelenghts: 8\n", [](ConfigReader& r) {
    ConfigReader link = r.Section("link");
    link.Number(kRate);
    link.Integer(kLanes);
    link.Finish();
  });
  EXPECT_EQ(e.key(), "link.wavelenghts");
  EXPECT_EQ(e.where().line, 3);
  EXPECT_EQ(e.where().column, 3);
  EXPECT_THAT(e.what(),
              HasSubstr("link.yaml:3:3: key 'link.wavelenghts': unknown key (did you mean 'wavelengths'?)"));
}

TEST(ConfigReaderTest, UnknownKeyWithNothingCloseHasNoSuggestion) {
  ConfigError e = ErrorOf("colour: blue\n", [](ConfigReader& r) {
    r.Number(kRate);
    r.Finish();
  });
  EXPECT_THAT(e.what(), HasSubstr("key 'colour': unknown key"));
  EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("did you mean")));
}

TEST(ConfigReaderTest, WrongTypesNameTheKeyAndLine) {
  ConfigError e = ErrorOf("\ngbps_per_wavelength: fast\n", [](ConfigReader& r) { r.Number(kRate); });
  EXPECT_EQ(e.where().line, 2);
  EXPECT_THAT(e.what(), HasSubstr("key 'gbps_per_wavelength': expected a number in Gb/s, got 'fast'"));
  e = ErrorOf("gbps_per_wavelength: [1, 2]\n", [](ConfigReader& r) { r.Number(kRate); });
  EXPECT_THAT(e.what(), HasSubstr("got 'a list'"));
  e = ErrorOf("wavelengths: 2.5\n", [](ConfigReader& r) { r.Integer(kLanes); });
  EXPECT_THAT(e.what(), HasSubstr("expected a whole number"));
  e = ErrorOf("up: maybe\n", [](ConfigReader& r) { r.Flag(kUp); });
  EXPECT_THAT(e.what(), HasSubstr("key 'up': expected true or false"));
  e = ErrorOf("link: 5\n", [](ConfigReader& r) { r.Section("link"); });
  EXPECT_THAT(e.what(), HasSubstr("key 'link': expected a mapping"));
}

TEST(ConfigReaderTest, RangesAreCheckedOnBothSides) {
  auto read = [](ConfigReader& r) { r.Number(kRate); };
  EXPECT_THAT(ErrorOf("gbps_per_wavelength: 0.5\n", read).what(),
              HasSubstr("0.5 is out of range [1, 1000] Gb/s"));
  EXPECT_THAT(ErrorOf("gbps_per_wavelength: 1000.5\n", read).what(), HasSubstr("out of range"));
  ConfigReader edge = ConfigReader::Parse("gbps_per_wavelength: 1000\n", "x.yaml");
  EXPECT_DOUBLE_EQ(edge.Number(kRate), 1000);
  ConfigReader low = ConfigReader::Parse("gbps_per_wavelength: 1\n", "x.yaml");
  EXPECT_DOUBLE_EQ(low.Number(kRate), 1);
}

TEST(ConfigReaderTest, ChoicesAreListedWithASuggestion) {
  ConfigError e = ErrorOf("fec: rs545\n", [](ConfigReader& r) { r.Choice(kFec); });
  EXPECT_THAT(e.what(), HasSubstr("'rs545' is not one of: none, rs528, rs544 (did you mean 'rs544'?)"));
}

TEST(ConfigReaderTest, MalformedYamlAndMissingFilesAreErrors) {
  ConfigError e = ErrorOf("link:\n  fec: [rs544\n", [](ConfigReader&) {});
  EXPECT_THAT(e.what(), HasSubstr("link.yaml:"));
  EXPECT_THAT(e.what(), HasSubstr("malformed YAML"));
  EXPECT_GT(e.where().line, 0);
  EXPECT_THAT(ErrorOf("- a\n- b\n", [](ConfigReader&) {}).what(), HasSubstr("must be a mapping"));
  try {
    ConfigReader::Load("/nonexistent/dir/node.yaml");
    ADD_FAILURE() << "no error for a missing file";
  } catch (const ConfigError& err) {
    EXPECT_THAT(err.what(), HasSubstr("/nonexistent/dir/node.yaml: cannot open the file"));
  }
}

TEST(ConfigReaderTest, LoadsFromAFile) {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("ll-config-test-" + std::to_string(getpid()) + ".yaml");
  std::ofstream(path) << "link:\n  fec: rs528\n";
  ConfigReader top = ConfigReader::Load(path.string());
  EXPECT_EQ(top.Section("link").Choice(kFec), "rs528");
  ConfigError e = ErrorOf("", [&](ConfigReader&) {
    ConfigReader again = ConfigReader::Load(path.string());
    again.Section("link").Choice({"fec", {"none"}, "none", ""});
  });
  EXPECT_EQ(e.where().file, path.string());
  EXPECT_EQ(e.where().line, 2);
  std::filesystem::remove(path);
}

TEST(ConfigReaderTest, RequiredSectionMissingIsAnError) {
  EXPECT_THAT(ErrorOf("other: {}\n", [](ConfigReader& r) { r.Section("link"); }).what(),
              HasSubstr("key 'link': this section is required"));
  ConfigReader r = ConfigReader::Parse("other: 1\n", "x.yaml");
  EXPECT_FALSE(r.Has("link"));
  ConfigReader optional = r.Section("link", false);
  EXPECT_DOUBLE_EQ(optional.Number(kRate), 32);
  EXPECT_EQ(ClosestMatch("fibres", {"fibre_m", "fibres_count"}), "fibre_m");
}

TEST(ConfigReaderTest, SequencesGiveOneReaderPerItem) {
  ConfigReader top = ConfigReader::Parse(
      "links:\n"
      "  - {wavelengths: 8}\n"
      "  - wavelengths: 4\n"
      "    fec: rs544\n",
      "node.yaml");
  std::vector<ConfigReader> items = top.Sequence("links");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].Integer(kLanes), 8);
  EXPECT_EQ(items[0].Choice(kFec), "none");
  EXPECT_EQ(items[1].Integer(kLanes), 4);
  EXPECT_EQ(items[1].Choice(kFec), "rs544");
  EXPECT_EQ(items[1].path(), "links[1]");
  for (const ConfigReader& item : items) item.Finish();
  top.Finish();  // `links` was read
  // Declared once for all items, without the index.
  ASSERT_EQ(top.declared().size(), 2u);
  EXPECT_EQ(top.declared()[0].key, "links[].wavelengths");
  EXPECT_EQ(top.declared()[1].key, "links[].fec");
  EXPECT_TRUE(top.Sequence("absent").empty());
}

TEST(ConfigReaderTest, SequenceErrorsNameTheItem) {
  ConfigError e =
      ErrorOf("link:\n  lanes:\n    - {wavelengths: 8}\n    - {wavelengths: 0}\n", [](ConfigReader& r) {
        for (ConfigReader& item : r.Section("link").Sequence("lanes")) item.Integer(kLanes);
      });
  EXPECT_THAT(e.what(), HasSubstr("link.yaml:4:8: key 'link.lanes[1].wavelengths': 0 is out of range"));
  e = ErrorOf("lanes:\n  - {wavelenghts: 8}\n", [](ConfigReader& r) {
    for (ConfigReader& item : r.Sequence("lanes")) {
      item.Integer(kLanes);
      item.Finish();
    }
  });
  EXPECT_THAT(e.what(), HasSubstr("link.yaml:2:6: key 'lanes[0].wavelenghts': unknown key (did you mean"));
  e = ErrorOf("lanes:\n  - {wavelengths: 8}\n  - 16\n", [](ConfigReader& r) { r.Sequence("lanes"); });
  EXPECT_THAT(e.what(), HasSubstr("link.yaml:3:5: key 'lanes[1]': expected a mapping of keys to values"));
  e = ErrorOf("lanes: {wavelengths: 8}\n", [](ConfigReader& r) { r.Sequence("lanes"); });
  EXPECT_THAT(e.what(), HasSubstr("link.yaml:1:1: key 'lanes': expected a list"));
}

}  // namespace
}  // namespace lightloop::hw_models
