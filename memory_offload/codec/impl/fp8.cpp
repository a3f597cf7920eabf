// SPDX-License-Identifier: Apache-2.0
// `fp8_e4m3` and `fp8_e5m2`: scaled FP8 (the OCP 8-bit floating point
// formats), one scale per block or per head.
#include "codec/scaled_codec.h"

namespace lightloop::memory_offload {
namespace {

template <int kExponentBits>
struct Fp8 {
  static constexpr bool kFixedGroup = false;
  static constexpr int kBits = 8;
  static constexpr float kMax = kExponentBits == 4 ? 448.0f : 57344.0f;
  static uint8_t Encode(float v) { return FloatToFp8(v, kExponentBits); }
  static float Decode(uint8_t code) { return Fp8ToFloat(code, kExponentBits); }
};

}  // namespace

LIGHTLOOP_REGISTER_KV_CODEC("fp8_e4m3", ScaledCodec<Fp8<4>>);
LIGHTLOOP_REGISTER_KV_CODEC("fp8_e5m2", ScaledCodec<Fp8<5>>);

}  // namespace lightloop::memory_offload
