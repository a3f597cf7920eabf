// SPDX-License-Identifier: Apache-2.0
// `int8` (one scale per block or per head) and `int4` (groups of 64):
// symmetric integers, value = code x scale.
#include "codec/scaled_codec.h"

namespace lightloop::memory_offload {
namespace {

template <int kBitsPerValue>
struct SymmetricInt {
  static constexpr bool kFixedGroup = kBitsPerValue == 4;
  static constexpr int kBits = kBitsPerValue;
  static constexpr int kLimit = (1 << (kBitsPerValue - 1)) - 1;  // 127 or 7
  static constexpr float kMax = static_cast<float>(kLimit);
  static uint8_t Encode(float v) {
    float q = std::nearbyint(std::clamp(v, -kMax, kMax));
    return static_cast<uint8_t>(static_cast<int8_t>(q)) & ((1u << kBits) - 1);
  }
  static float Decode(uint8_t code) {
    int v = code;
    if (v & (1 << (kBits - 1))) v -= 1 << kBits;  // sign-extend
    return static_cast<float>(v);
  }
};

class Int4 : public ScaledCodec<SymmetricInt<4>> {
 public:
  Int4() : ScaledCodec(64) {}
};

}  // namespace

LIGHTLOOP_REGISTER_KV_CODEC("int8", ScaledCodec<SymmetricInt<8>>);
LIGHTLOOP_REGISTER_KV_CODEC("int4", Int4);

}  // namespace lightloop::memory_offload
