// SPDX-License-Identifier: Apache-2.0
// Codecs on the offload path: what a KV block looks like in the remote
// tier. Values are bf16 (stored as uint16_t). By name:
//   none       the bytes as they are (exact);
//   fp8_e4m3   FP8, 4 exponent bits, 3 mantissa bits (max 448), scaled;
//   fp8_e5m2   FP8, 5 exponent bits, 2 mantissa bits (max 57344), scaled;
//   int8       symmetric 8-bit integers, scaled;
//   int4       symmetric 4-bit integers in groups of 64 values.
// The scaled codecs keep one float scale per group of values: the whole
// block by default (per block), or SetScaleGroup(head_dim) for one scale
// per head. Encoding rounds to nearest (ties to even).
//
//   LL_ASSIGN_OR_RETURN(auto codec, MakeKvCodec("fp8_e4m3"));
//   std::vector<unsigned char> wire(codec->EncodedBytes(n));
//   codec->Encode(values, n, wire.data());
//   codec->Decode(wire.data(), n, values_back);
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lightloop/runtime/status.h"

namespace lightloop::memory_offload {

class KvCodec {
 public:
  virtual ~KvCodec() = default;
  virtual bool lossless() const = 0;
  // Values per scale; 0: one scale for everything encoded at once.
  virtual void SetScaleGroup(size_t values) { (void)values; }
  virtual size_t EncodedBytes(size_t values) const = 0;
  virtual void Encode(const uint16_t* in, size_t values, unsigned char* out) const = 0;
  virtual void Decode(const unsigned char* in, size_t values, uint16_t* out) const = 0;
};

runtime::StatusOr<std::unique_ptr<KvCodec>> MakeKvCodec(const std::string& name);
std::vector<std::string> KvCodecs();
bool RegisterKvCodec(const std::string& name, std::function<std::unique_ptr<KvCodec>()> factory);

// bf16 <-> float, round to nearest even.
float Bf16ToFloat(uint16_t v);
uint16_t FloatToBf16(float f);
// One FP8 value (sign, `exponent_bits`, the rest mantissa) <-> float; the
// encoder saturates at the format's largest finite value.
uint8_t FloatToFp8(float f, int exponent_bits);
float Fp8ToFloat(uint8_t v, int exponent_bits);

#define LIGHTLOOP_CODEC_CAT2(a, b) a##b
#define LIGHTLOOP_CODEC_CAT(a, b) LIGHTLOOP_CODEC_CAT2(a, b)
#define LIGHTLOOP_REGISTER_KV_CODEC(name, ...)                                                    \
  [[maybe_unused]] static const bool LIGHTLOOP_CODEC_CAT(lightloop_codec_registered_, __LINE__) = \
      ::lightloop::memory_offload::RegisterKvCodec(name, [] { return std::make_unique<__VA_ARGS__>(); })

}  // namespace lightloop::memory_offload
