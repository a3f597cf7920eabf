// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/link/photonic_link.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace lightloop::hw_models {
namespace {

using ::testing::HasSubstr;

PhotonicLinkParams LoadPreset(const std::string& name) {
  ConfigReader top = ConfigReader::Load(std::string(LIGHTLOOP_HW_PRESETS) + "/links/" + name);
  ConfigReader link = top.Section("link");
  EXPECT_EQ(link.Choice({"impl", {"photonic_wdm"}, "photonic_wdm", ""}), "photonic_wdm");
  PhotonicLinkParams p = ReadPhotonicLink(link);
  link.Finish();
  top.Finish();
  return p;
}

TEST(PhotonicLinkTest, OpticalIoPresetClosedForm) {
  LinkClosedForm link(LoadPreset("optical_io_16x32g.yaml"));
  EXPECT_EQ(link.lanes(), 16);
  // 16 x 32 Gb/s = 512 Gb/s line; framing 248/256; no encoding, no FEC.
  EXPECT_NEAR(link.PayloadGBps(), 512.0 * 248 / 256 / 8, 1e-9);
  // 64 KiB = 265 flits of 248 B (264.26 rounded up) = 67840 B = 542720 bits over 512 bits/ns.
  EXPECT_NEAR(link.SerializationNs(65536), 542720.0 / 512, 1e-9);
  // + 2 x 5 ns SerDes + 0 FEC + 2 m x 4.9 ns/m.
  EXPECT_NEAR(link.TransferLatencyNs(65536), 542720.0 / 512 + 10 + 9.8, 1e-9);
  EXPECT_NEAR(link.PjPerBit(), 4.5, 1e-12);
  EXPECT_NEAR(link.SymbolRateGBaud(), 32, 1e-12);
}

TEST(PhotonicLinkTest, Pam4PresetCountsEncodingAndFecOverhead) {
  LinkClosedForm link(LoadPreset("pam4_8x112g_rs544.yaml"));
  double eff = (64.0 / 66) * (514.0 / 544) * (248.0 / 256);
  EXPECT_NEAR(link.Efficiency(), eff, 1e-12);
  EXPECT_NEAR(link.PayloadGBps(), 8 * 112 * eff / 8, 1e-9);
  // One byte still costs a whole flit.
  double one_flit_ns = 256 * 8 / ((64.0 / 66) * (514.0 / 544)) / (8 * 112);
  EXPECT_NEAR(link.SerializationNs(1), one_flit_ns, 1e-9);
  EXPECT_NEAR(link.SerializationNs(248), one_flit_ns, 1e-9);
  EXPECT_NEAR(link.SerializationNs(249), 2 * one_flit_ns, 1e-9);
  EXPECT_NEAR(link.TransferLatencyNs(1), one_flit_ns + 20 + 20 + 9.8, 1e-9);
  EXPECT_NEAR(link.SymbolRateGBaud(), 56, 1e-12);
}

TEST(PhotonicLinkTest, DefaultsNeedNoKeys) {
  ConfigReader empty = ConfigReader::Parse("{}", "empty.yaml");
  PhotonicLinkParams p = ReadPhotonicLink(empty);
  EXPECT_EQ(p.wavelengths, 16);
  EXPECT_DOUBLE_EQ(p.ns_per_m, 4.9);
  EXPECT_TRUE(p.initially_up);
  EXPECT_EQ(empty.declared().size(), 22u);  // every parameter is declared for the reference
}

TEST(PhotonicLinkTest, InitiallyUpIsAFlag) {
  ConfigReader r = ConfigReader::Parse("initially_up: false\nwarmup_us: 3\n", "link.yaml");
  PhotonicLinkParams p = ReadPhotonicLink(r);
  r.Finish();
  EXPECT_FALSE(p.initially_up);
  EXPECT_DOUBLE_EQ(p.warmup_us, 3);
  ConfigReader bad = ConfigReader::Parse("\ninitially_up: sometimes\n", "link.yaml");
  try {
    ReadPhotonicLink(bad);
    ADD_FAILURE() << "no error for a bad flag";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("link.yaml:2:1: key 'initially_up': expected true or false"));
  }
}

TEST(PhotonicLinkTest, BadValuesNameFileLineAndKey) {
  auto error_of = [](const std::string& yaml) -> std::string {
    ConfigReader r = ConfigReader::Parse(yaml, "node.yaml");
    try {
      ConfigReader link = r.Section("link");
      ReadPhotonicLink(link);
      link.Finish();
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_THAT(error_of("link:\n  fec: rs545\n"),
              HasSubstr("node.yaml:2:3: key 'link.fec': 'rs545' is not one of"));
  EXPECT_THAT(error_of("link:\n  wavelengths: 0\n"), HasSubstr("key 'link.wavelengths': 0 is out of range"));
  EXPECT_THAT(error_of("link:\n  flit_bytes: 64\n  header_bytes: 64\n"),
              HasSubstr("node.yaml:3:3: key 'link.header_bytes': 64 leaves no payload in a 64-byte flit"));
  EXPECT_THAT(error_of("link:\n  gbps_per_wavelenth: 50\n"),
              HasSubstr("(did you mean 'gbps_per_wavelength'?)"));
}

TEST(PhotonicLinkTest, FlitErrorsFromBerWithAndWithoutFec) {
  PhotonicLinkParams p;  // 256-byte flits, no encoding: 2048 line bits
  p.ber = 4.9e-7;
  EXPECT_NEAR(LinkClosedForm(p).FlitErrorProbability(), 1 - std::pow(1 - 4.9e-7, 2048), 1e-12);
  p.ber = 2e-4;  // the KP4 operating point
  double raw = LinkClosedForm(p).FlitErrorProbability();
  EXPECT_GT(raw, 0.3);  // without FEC, a third of the flits are hit
  p.fec = Fec::kRs544;
  double kp4 = LinkClosedForm(p).FlitErrorProbability();
  p.fec = Fec::kRs528;
  double kr4 = LinkClosedForm(p).FlitErrorProbability();
  EXPECT_LT(kp4, 1e-9);  // RS(544,514) corrects 15 symbols per codeword
  EXPECT_GT(kr4, kp4);   // RS(528,514) only 7
  p.ber = 0;
  EXPECT_EQ(LinkClosedForm(p).FlitErrorProbability(), 0.0);
}

TEST(PhotonicLinkTest, GoBackNReplaysTheRoundTripCappedByCredits) {
  PhotonicLinkParams p;  // 4 ns flits; one way 2 x 5 ns + 1 m x 4.9 ns = 14.9 ns
  LinkClosedForm link(p);
  EXPECT_DOUBLE_EQ(link.FlitNs(), 4.0);
  EXPECT_EQ(link.ReplayFlits(), 9);  // ceil((2 x 14.9 + 4) / 4)
  p.credits = 4;
  EXPECT_EQ(LinkClosedForm(p).ReplayFlits(), 4);
  p.credits = 64;
  p.ber = 4.9e-7;
  LinkClosedForm lossy(p);
  EXPECT_NEAR(lossy.ExpectedGoodputGBps(), lossy.PayloadGBps() / (1 + lossy.FlitErrorProbability() * 9),
              1e-12);
}

TEST(PhotonicLinkTest, FewCreditsOnALongFibreLimitTheGoodput) {
  PhotonicLinkParams p;  // 4 ns flits of 248 payload bytes; 62 GB/s
  p.fibre_m = 100;       // one way 2 x 5 ns + 490 ns = 500 ns
  p.credit_return_ns = 10;
  p.credits = 8;
  LinkClosedForm link(p);
  // A flit's credit is back 4 + 500 + 10 ns after the flit started: 8 flits
  // per 514 ns instead of 128.5.
  EXPECT_DOUBLE_EQ(link.CreditRoundTripNs(), 514.0);
  EXPECT_NEAR(link.CreditLimitedGBps(), 8 * 248.0 / 514, 1e-12);
  EXPECT_NEAR(link.ExpectedGoodputGBps(), 8 * 248.0 / 514, 1e-12);
  // The limit goes exactly where credits x flit time reaches the round trip.
  p.credits = 128;  // 512 ns < 514 ns
  EXPECT_LT(LinkClosedForm(p).CreditLimitedGBps(), LinkClosedForm(p).PayloadGBps());
  p.credits = 129;  // 516 ns
  EXPECT_DOUBLE_EQ(LinkClosedForm(p).CreditLimitedGBps(), LinkClosedForm(p).PayloadGBps());
  // Replays come on top of the credit limit.
  p.credits = 8;
  p.ber = 4.9e-7;
  LinkClosedForm lossy(p);
  EXPECT_EQ(lossy.ReplayFlits(), 8);
  EXPECT_NEAR(lossy.ExpectedGoodputGBps(), lossy.CreditLimitedGBps() / (1 + lossy.FlitErrorProbability() * 8),
              1e-12);
}

TEST(PhotonicLinkTest, DefaultCreditsDoNotLimitThePresets) {
  for (const char* name : {"optical_io_16x32g.yaml", "pam4_8x112g_rs544.yaml"}) {
    LinkClosedForm link(LoadPreset(name));
    EXPECT_DOUBLE_EQ(link.CreditLimitedGBps(), link.PayloadGBps()) << name;
  }
}

}  // namespace
}  // namespace lightloop::hw_models
