// SPDX-License-Identifier: Apache-2.0
// The shape every scaled codec shares: values in groups, each group stored
// as its float scale (max |value| / the format's max) and one code per
// value, 8 or 4 bits. A format supplies `kMax`, `kBits`, Encode(v / scale)
// and Decode(code).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>

#include "lightloop/memory_offload/kv_codec.h"

namespace lightloop::memory_offload {

template <typename Format>
class ScaledCodec : public KvCodec {
 public:
  explicit ScaledCodec(size_t group = 0) : group_(group) {}
  bool lossless() const override { return false; }
  void SetScaleGroup(size_t values) override {
    if (!Format::kFixedGroup) group_ = values;
  }
  size_t EncodedBytes(size_t values) const override {
    size_t bytes = 0;
    for (size_t at = 0; at < values; at += GroupAt(at, values)) bytes += 4 + CodeBytes(GroupAt(at, values));
    return bytes;
  }
  void Encode(const uint16_t* in, size_t values, unsigned char* out) const override {
    for (size_t at = 0; at < values;) {
      size_t g = GroupAt(at, values);
      float max_abs = 0;
      for (size_t i = 0; i < g; ++i) max_abs = std::max(max_abs, std::fabs(Bf16ToFloat(in[at + i])));
      float scale = max_abs > 0 ? max_abs / Format::kMax : 1.0f;
      std::memcpy(out, &scale, 4);
      out += 4;
      std::memset(out, 0, CodeBytes(g));
      for (size_t i = 0; i < g; ++i) Put(out, i, Format::Encode(Bf16ToFloat(in[at + i]) / scale));
      out += CodeBytes(g);
      at += g;
    }
  }
  void Decode(const unsigned char* in, size_t values, uint16_t* out) const override {
    for (size_t at = 0; at < values;) {
      size_t g = GroupAt(at, values);
      float scale;
      std::memcpy(&scale, in, 4);
      in += 4;
      for (size_t i = 0; i < g; ++i) out[at + i] = FloatToBf16(Format::Decode(Get(in, i)) * scale);
      in += CodeBytes(g);
      at += g;
    }
  }

 private:
  size_t GroupAt(size_t at, size_t values) const {
    size_t g = group_ == 0 ? values : group_;
    return std::min(g, values - at);
  }
  static size_t CodeBytes(size_t g) { return Format::kBits == 8 ? g : (g + 1) / 2; }
  static void Put(unsigned char* codes, size_t i, uint8_t code) {
    if (Format::kBits == 8) {
      codes[i] = code;
    } else {
      codes[i / 2] |= static_cast<unsigned char>((code & 0xf) << (i % 2 ? 4 : 0));
    }
  }
  static uint8_t Get(const unsigned char* codes, size_t i) {
    return Format::kBits == 8 ? codes[i] : static_cast<uint8_t>((codes[i / 2] >> (i % 2 ? 4 : 0)) & 0xf);
  }
  size_t group_;
};

}  // namespace lightloop::memory_offload
