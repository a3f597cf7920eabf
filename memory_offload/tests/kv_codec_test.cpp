// SPDX-License-Identifier: Apache-2.0
// Codecs on the offload path: FP8 against the formats' reference values,
// exact round trip for `none`, and the error bound of every lossy codec on
// odd sizes, per block and per head.
#include "lightloop/memory_offload/kv_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace lightloop::memory_offload {
namespace {

TEST(Fp8, E4m3MatchesTheFormat) {
  EXPECT_EQ(FloatToFp8(1.0f, 4), 0x38);
  EXPECT_EQ(FloatToFp8(-2.0f, 4), 0xC0);
  EXPECT_EQ(FloatToFp8(448.0f, 4), 0x7E);  // the largest finite value
  EXPECT_EQ(FloatToFp8(1000.0f, 4), 0x7E) << "saturates";
  EXPECT_EQ(FloatToFp8(std::ldexp(1.0f, -6), 4), 0x08);  // smallest normal
  EXPECT_EQ(FloatToFp8(std::ldexp(1.0f, -9), 4), 0x01);  // smallest subnormal
  EXPECT_EQ(FloatToFp8(0.0f, 4), 0x00);
  // Ties go to the even mantissa: 1.0625 between 1.0 and 1.125, 1.1875
  // between 1.125 and 1.25.
  EXPECT_EQ(FloatToFp8(1.0625f, 4), 0x38);
  EXPECT_EQ(FloatToFp8(1.1875f, 4), 0x3A);
  EXPECT_FLOAT_EQ(Fp8ToFloat(0x7E, 4), 448.0f);
  EXPECT_FLOAT_EQ(Fp8ToFloat(0x01, 4), std::ldexp(1.0f, -9));
}

TEST(Fp8, E5m2MatchesTheFormat) {
  EXPECT_EQ(FloatToFp8(1.0f, 5), 0x3C);
  EXPECT_EQ(FloatToFp8(57344.0f, 5), 0x7B);
  EXPECT_EQ(FloatToFp8(1e9f, 5), 0x7B) << "saturates";
  EXPECT_EQ(FloatToFp8(std::ldexp(1.0f, -14), 5), 0x04);  // smallest normal
  EXPECT_EQ(FloatToFp8(std::ldexp(1.0f, -16), 5), 0x01);  // smallest subnormal
  EXPECT_FLOAT_EQ(Fp8ToFloat(0xBC, 5), -1.0f);
}

TEST(Fp8, EveryFiniteCodeRoundTrips) {
  for (int e : {4, 5}) {
    for (int code = 0; code < 256; ++code) {
      int exponent = (code >> (7 - e)) & ((1 << e) - 1);
      bool special = e == 4 ? (code & 0x7F) == 0x7F : exponent == 31;
      if (special) continue;
      EXPECT_EQ(FloatToFp8(Fp8ToFloat(static_cast<uint8_t>(code), e), e), code)
          << "e" << e << " code " << code;
    }
  }
}

std::vector<uint16_t> RandomValues(size_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> normal(0, 1);
  std::vector<uint16_t> v(n);
  for (size_t i = 0; i < n; ++i) {
    float x = normal(g) * (i % 97 == 0 ? 40.0f : 1.0f);  // some outliers, as in real KV
    if (i % 31 == 0) x *= 1e-4f;                         // and some tiny values
    v[i] = FloatToBf16(x);
  }
  return v;
}

// Worst error a value may have: the codec's step at this value, plus the
// bf16 rounding of the decoded value.
double Bound(const std::string& codec, float x, float scale) {
  double a = std::fabs(x) / scale, step;
  if (codec == "fp8_e4m3") {
    step = a >= std::ldexp(1.0, -6) ? std::ldexp(1.0, std::ilogb(a) - 3) : std::ldexp(1.0, -9);
  } else if (codec == "fp8_e5m2") {
    step = a >= std::ldexp(1.0, -14) ? std::ldexp(1.0, std::ilogb(a) - 2) : std::ldexp(1.0, -16);
  } else {
    step = 1.0;  // int8 and int4: one code
  }
  return step / 2 * scale + std::fabs(x) * std::ldexp(1.0, -8) + 1e-30;
}

class LossyCodec : public ::testing::TestWithParam<std::string> {};

TEST_P(LossyCodec, ErrorStaysWithinHalfAStep) {
  const std::string name = GetParam();
  auto codec_or = MakeKvCodec(name);
  ASSERT_TRUE(codec_or.ok()) << codec_or.status().ToString();
  KvCodec& codec = **codec_or;
  EXPECT_FALSE(codec.lossless());
  for (size_t group : {size_t{0}, size_t{128}}) {  // per block, per head of 128
    codec.SetScaleGroup(group);
    size_t effective = name == "int4" ? 64 : group;
    for (size_t n : {1, 63, 64, 65, 1000, 4097}) {
      SCOPED_TRACE("group " + std::to_string(group) + " n " + std::to_string(n));
      std::vector<uint16_t> in = RandomValues(n, n + group), out(n);
      std::vector<unsigned char> wire(codec.EncodedBytes(n) + 8, 0xEE);
      codec.Encode(in.data(), n, wire.data());
      EXPECT_EQ(wire[codec.EncodedBytes(n)], 0xEE) << "wrote past EncodedBytes";
      codec.Decode(wire.data(), n, out.data());
      size_t g = effective == 0 ? n : effective;
      for (size_t at = 0; at < n; at += g) {
        size_t len = std::min(g, n - at);
        float max_abs = 0;
        for (size_t i = 0; i < len; ++i) max_abs = std::max(max_abs, std::fabs(Bf16ToFloat(in[at + i])));
        float scale = max_abs > 0 ? max_abs / (name == "fp8_e4m3"   ? 448.0f
                                               : name == "fp8_e5m2" ? 57344.0f
                                               : name == "int8"     ? 127.0f
                                                                    : 7.0f)
                                  : 1.0f;
        for (size_t i = 0; i < len; ++i) {
          float x = Bf16ToFloat(in[at + i]), y = Bf16ToFloat(out[at + i]);
          ASSERT_LE(std::fabs(x - y), Bound(name, x, scale))
              << "value " << at + i << ": " << x << " -> " << y;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, LossyCodec, ::testing::Values("fp8_e4m3", "fp8_e5m2", "int8", "int4"));

TEST(KvCodecs, NoneIsExactAndTheOthersAreSmaller) {
  auto none = MakeKvCodec("none");
  ASSERT_TRUE(none.ok());
  std::vector<uint16_t> in = RandomValues(1001, 5), out(1001);
  std::vector<unsigned char> wire((*none)->EncodedBytes(in.size()));
  (*none)->Encode(in.data(), in.size(), wire.data());
  (*none)->Decode(wire.data(), in.size(), out.data());
  EXPECT_EQ(in, out);
  EXPECT_TRUE((*none)->lossless());
  EXPECT_EQ((*MakeKvCodec("fp8_e4m3"))->EncodedBytes(1000), 1004u);
  EXPECT_EQ((*MakeKvCodec("int8"))->EncodedBytes(1000), 1004u);
  EXPECT_EQ((*MakeKvCodec("int4"))->EncodedBytes(65), 4u + 32 + 4 + 1) << "groups of 64, two codes a byte";
  EXPECT_THAT(KvCodecs(), ::testing::ElementsAre("fp8_e4m3", "fp8_e5m2", "int4", "int8", "none"));
  auto bad = MakeKvCodec("fp4");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().ToString(), ::testing::HasSubstr("codec 'fp4' is not one of: fp8_e4m3"));
}

}  // namespace
}  // namespace lightloop::memory_offload
