// SPDX-License-Identifier: Apache-2.0
// safetensors: round trips in every dtype, the half-precision conversions on
// known values, sharded models, and every malformed file an error that names
// the file (and the tensor) instead of a crash.
#include "lightloop/workloads/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

namespace lightloop::workloads {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ll-safetensors-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // A file with this header text and `data_bytes` zero bytes after it.
  std::string WriteRaw(const std::string& header, size_t data_bytes, uint64_t declared_len = 0) {
    std::string bytes;
    const uint64_t len = declared_len ? declared_len : header.size();
    for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
    bytes += header;
    bytes.append(data_bytes, '\0');
    const std::string path = Path("bad.safetensors");
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::string ErrorOf(const std::string& path) {
    auto r = ReadSafetensors(path);
    return r.ok() ? "no error" : r.status().ToString();
  }

  fs::path dir_;
};

TensorMap Sample() {
  TensorMap t;
  t["a.weight"] = {.shape = {2, 3}, .data = {1.0f, -2.5f, 0.0f, 3.140625f, -0.5f, 1024.0f}};
  t["b"] = {.shape = {4}, .data = {0.25f, -8.0f, 65504.0f, 6.103515625e-05f}};
  t["scalar"] = {.shape = {}, .data = {7.0f}};
  t["empty"] = {.shape = {0, 5}, .data = {}};
  return t;
}

TEST_F(SafetensorsTest, RoundTripsEveryDtypeExactlyForRepresentableValues) {
  for (Dtype dtype : {Dtype::kF32, Dtype::kBF16, Dtype::kF16}) {
    SCOPED_TRACE(DtypeName(dtype));
    TensorMap in = Sample();
    if (dtype == Dtype::kBF16) in["b"].data = {0.25f, -8.0f, 65536.0f, 0x1p-100f};  // bf16 values
    ASSERT_TRUE(WriteSafetensors(Path("m.safetensors"), in, dtype).ok());
    EXPECT_FALSE(fs::exists(Path("m.safetensors.tmp")));
    EXPECT_EQ(fs::file_size(Path("m.safetensors")) % 2, 0u);
    auto out = ReadSafetensors(Path("m.safetensors"));
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_EQ(out->size(), in.size());
    for (const auto& [name, t] : in) {
      EXPECT_EQ(out->at(name).shape, t.shape) << name;
      EXPECT_EQ(out->at(name).data, t.data) << name;
    }
  }
}

TEST_F(SafetensorsTest, WritesTheHeaderOtherReadersExpect) {
  ASSERT_TRUE(
      WriteSafetensors(Path("m.safetensors"), {{"x", {.shape = {2}, .data = {1.0f, 2.0f}}}}, Dtype::kBF16)
          .ok());
  std::ifstream in(Path("m.safetensors"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ((8 + len) % 8, 0u) << "data section 8-byte aligned";
  EXPECT_THAT(bytes.substr(8, len), HasSubstr(R"("x":{"data_offsets":[0,4],"dtype":"BF16","shape":[2]})"));
  EXPECT_EQ(bytes.substr(8 + len), std::string("\x80\x3f\x00\x40", 4))
      << "1.0 and 2.0 in bf16, little-endian";
}

TEST_F(SafetensorsTest, RoundsToNearestEvenIntoBf16) {
  EXPECT_EQ(FloatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBf16(-2.5f), 0xc020);
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x3f808000u)), 0x3f80) << "tie, even stays";
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x3f818000u)), 0x3f82) << "tie, odd rounds up";
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x3f808001u)), 0x3f81) << "above the tie";
  EXPECT_EQ(FloatToBf16(std::numeric_limits<float>::max()), 0x7f80) << "overflows to inf";
  EXPECT_EQ(FloatToBf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(std::bit_cast<float>(0x7f800001u))))) << "low-payload NaN";
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x00010000u)), 0x0001) << "float subnormal";
  EXPECT_EQ(Bf16ToFloat(0xc020), -2.5f);
}

TEST_F(SafetensorsTest, ConvertsF16KnownValues) {
  EXPECT_EQ(FloatToF16(1.0f), 0x3c00);
  EXPECT_EQ(FloatToF16(-2.5f), 0xc100);
  EXPECT_EQ(FloatToF16(65504.0f), 0x7bff) << "largest finite";
  EXPECT_EQ(FloatToF16(65519.0f), 0x7bff) << "below the tie stays finite";
  EXPECT_EQ(FloatToF16(65520.0f), 0x7c00) << "the tie rounds to even: inf";
  EXPECT_EQ(FloatToF16(1e10f), 0x7c00);
  EXPECT_EQ(FloatToF16(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(FloatToF16(std::numeric_limits<float>::quiet_NaN()) & 0x7e00, 0x7e00);
  EXPECT_EQ(FloatToF16(6.103515625e-05f), 0x0400) << "smallest normal";
  EXPECT_EQ(FloatToF16(0x1p-24f), 0x0001) << "smallest subnormal";
  EXPECT_EQ(FloatToF16(0x1p-25f), 0x0000) << "half of it: tie to even (zero)";
  EXPECT_EQ(FloatToF16(0x1.8p-24f), 0x0002) << "1.5 ulp: tie to even (2)";
  EXPECT_EQ(FloatToF16(0x1.4p-24f), 0x0001);
  EXPECT_EQ(FloatToF16(-0x1p-24f), 0x8001);
  EXPECT_EQ(FloatToF16(0x1.ff8p-15f), 0x03ff) << "largest subnormal";
  EXPECT_EQ(FloatToF16(0x1.ffcp-15f), 0x0400) << "largest subnormal + half ulp: tie, up into the normals";
  EXPECT_EQ(FloatToF16(1.0f + 0x1p-11f), 0x3c00) << "tie at 1.0, even stays";
  EXPECT_EQ(FloatToF16(1.0f + 0x3p-11f), 0x3c02) << "tie, odd rounds up";
  EXPECT_EQ(FloatToF16(-0.0f), 0x8000);
  EXPECT_EQ(F16ToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(F16ToFloat(0x03ff), 0x3ffp-24f);
  EXPECT_EQ(F16ToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(F16ToFloat(0xc100), -2.5f);
  EXPECT_EQ(F16ToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(F16ToFloat(0x7e00)));
  EXPECT_TRUE(std::signbit(F16ToFloat(0x8000)));
  for (uint32_t h = 0; h < 0x10000; ++h) {  // every non-NaN half survives the round trip
    const float f = F16ToFloat(static_cast<uint16_t>(h));
    if (!std::isnan(f)) {
      ASSERT_EQ(FloatToF16(f), h) << std::hex << h;
    }
  }
}

TEST_F(SafetensorsTest, ReadsAShardedModelThroughItsIndex) {
  TensorMap a, b;
  a["x"] = {.shape = {2}, .data = {1, 2}};
  a["unlisted"] = {.shape = {1}, .data = {9}};
  b["y"] = {.shape = {1, 1}, .data = {3}};
  ASSERT_TRUE(WriteSafetensors(Path("model-00001-of-00002.safetensors"), a).ok());
  ASSERT_TRUE(WriteSafetensors(Path("model-00002-of-00002.safetensors"), b, Dtype::kBF16).ok());
  std::ofstream(Path("model.safetensors.index.json"))
      << R"({"metadata": {"total_size": 12}, "weight_map": {"x": "model-00001-of-00002.safetensors",
            "y": "model-00002-of-00002.safetensors"}})";
  auto all = ReadSafetensorsDir(dir_.string());
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 2u);
  EXPECT_EQ(all->at("x").data, (std::vector<float>{1, 2}));
  EXPECT_EQ(all->at("y").shape, (std::vector<int64_t>{1, 1}));

  std::ofstream(Path("model.safetensors.index.json"))
      << R"({"weight_map": {"z": "model-00002-of-00002.safetensors"}})";
  auto missing = ReadSafetensorsDir(dir_.string());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(),
              HasSubstr("tensor 'z' is mapped to model-00002-of-00002.safetensors"));
  std::ofstream(Path("model.safetensors.index.json")) << R"({"weight_map": {"x": "nowhere.safetensors"}})";
  EXPECT_THAT(ReadSafetensorsDir(dir_.string()).status().message(), HasSubstr("nowhere.safetensors"));
  std::ofstream(Path("model.safetensors.index.json")) << R"({"weights": {}})";
  EXPECT_THAT(ReadSafetensorsDir(dir_.string()).status().message(),
              HasSubstr("model.safetensors.index.json: key 'weight_map' missing"));
}

TEST_F(SafetensorsTest, MalformedFilesAreErrorsNamingFileAndTensor) {
  const std::string name = "bad.safetensors";
  std::ofstream(Path(name), std::ios::binary) << "abc";
  EXPECT_THAT(ErrorOf(Path(name)), HasSubstr(name + ": 3 bytes, no header"));
  EXPECT_THAT(ErrorOf(WriteRaw("{}", 0, 1000)), HasSubstr(name + ": header length 1000 beyond the file's"));
  EXPECT_THAT(ErrorOf(WriteRaw(R"({"x": {"dtype": "F32", "sha)", 0)),
              HasSubstr(name + ": header is not a JSON object"));
  EXPECT_THAT(ErrorOf(WriteRaw("[1, 2]", 0)), HasSubstr("header is not a JSON object"));
  EXPECT_THAT(ErrorOf(WriteRaw(R"({"w": {"dtype": "I8", "shape": [2], "data_offsets": [0, 2]}})", 2)),
              HasSubstr(name + ": tensor 'w': dtype 'I8' is not supported"));
  EXPECT_THAT(ErrorOf(WriteRaw(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}})", 8)),
              HasSubstr(name + ": tensor 'w': data_offsets [0, 16) outside the 8-byte data section"));
  EXPECT_THAT(ErrorOf(WriteRaw(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}})", 8)),
              HasSubstr("tensor 'w': 'data_offsets' must be two non-negative integers"));
  EXPECT_THAT(ErrorOf(WriteRaw(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", 8)),
              HasSubstr("tensor 'w': data_offsets [8, 0) outside"));
  EXPECT_THAT(ErrorOf(WriteRaw(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8)),
              HasSubstr(name + ": tensor 'w': shape needs 12 bytes of F32, data_offsets give 8"));
  EXPECT_THAT(ErrorOf(WriteRaw(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296],
                                        "data_offsets": [0, 8]}})",
                               8)),
              HasSubstr("tensor 'w': shape too large"));
  EXPECT_THAT(ErrorOf(WriteRaw(R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 8)),
              HasSubstr("tensor 'w': 'shape' must hold non-negative integers"));
  EXPECT_THAT(ErrorOf(WriteRaw(R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", 8)),
              HasSubstr("tensor 'w': 'dtype' missing"));
  EXPECT_THAT(ErrorOf(WriteRaw(R"({"w": 5})", 8)), HasSubstr("tensor 'w': entry must be an object"));
  EXPECT_THAT(ErrorOf(WriteRaw(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                  "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                               8)),
              HasSubstr(name + ": tensor 'b' overlaps tensor 'a'"));
  EXPECT_THAT(ErrorOf(Path("absent.safetensors")), HasSubstr("absent.safetensors: cannot open"));
  EXPECT_THAT(ReadSafetensorsDir(dir_.string() + "/nothing").status().message(),
              HasSubstr("nothing/model.safetensors: cannot open"));
}

TEST_F(SafetensorsTest, IgnoresMetadataAndAcceptsAnEmptyFile) {
  auto r = ReadSafetensors(WriteRaw(
      R"({"__metadata__": {"format": "pt"}, "w": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}})",
      2));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->size(), 1u);
  EXPECT_EQ(r->at("w").data, std::vector<float>{0.0f});
  auto empty = ReadSafetensors(WriteRaw("{}", 0));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_F(SafetensorsTest, WriterRefusesMismatchedDataAndLeavesNoFile) {
  TensorMap bad;
  bad["w"] = {.shape = {2, 2}, .data = {1, 2, 3}};
  auto s = WriteSafetensors(Path("m.safetensors"), bad);
  EXPECT_THAT(s.message(), HasSubstr("m.safetensors: tensor 'w' holds 3 values, its shape 4"));
  EXPECT_FALSE(fs::exists(Path("m.safetensors")));
  EXPECT_FALSE(fs::exists(Path("m.safetensors.tmp")));
  EXPECT_THAT(WriteSafetensors(Path("no/such/dir/m.safetensors"), Sample()).message(),
              HasSubstr("cannot create"));
}

}  // namespace
}  // namespace lightloop::workloads
