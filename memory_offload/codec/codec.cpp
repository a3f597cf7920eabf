// SPDX-License-Identifier: Apache-2.0
// The codec registry and the number formats the codecs share.
#include <cmath>
#include <cstring>

#include "lightloop/memory_offload/kv_codec.h"
#include "registry.h"

namespace lightloop::memory_offload {

bool RegisterKvCodec(const std::string& name, std::function<std::unique_ptr<KvCodec>()> factory) {
  return NamedRegistry<KvCodec>::Get().Add(name, std::move(factory));
}

std::vector<std::string> KvCodecs() {
  return NamedRegistry<KvCodec>::Get().Names();
}

runtime::StatusOr<std::unique_ptr<KvCodec>> MakeKvCodec(const std::string& name) {
  return NamedRegistry<KvCodec>::Get().Make(name, "codec");
}

float Bf16ToFloat(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (std::isnan(f)) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);  // round to nearest, ties to even
  return static_cast<uint16_t>(bits >> 16);
}

namespace {

struct Fp8Format {
  int mantissa_bits, bias;
  float max;
};

Fp8Format FormatOf(int exponent_bits) {
  // E4M3 (bias 7) keeps its top exponent for numbers: max 1.75 x 2^8; E5M2
  // (bias 15) reserves it for inf/NaN: max 1.75 x 2^15.
  return exponent_bits == 4 ? Fp8Format{3, 7, 448.0f} : Fp8Format{2, 15, 57344.0f};
}

}  // namespace

uint8_t FloatToFp8(float f, int exponent_bits) {
  const Fp8Format fmt = FormatOf(exponent_bits);
  const int m = fmt.mantissa_bits;
  uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (std::isnan(a) || a == 0) return sign;
  a = std::min(a, fmt.max);
  int e;
  std::frexp(a, &e);  // a = frac * 2^e, frac in [0.5, 1)
  int exp = e - 1;    // a = 1.x * 2^exp
  int biased = exp + fmt.bias;
  uint32_t mant;
  if (biased >= 1) {
    mant = static_cast<uint32_t>(std::nearbyint((std::ldexp(a, -exp) - 1.0f) * static_cast<float>(1 << m)));
    if (mant == (1u << m)) {  // rounded up to the next power of two
      mant = 0;
      ++biased;
    }
  } else {  // subnormal: mant x 2^(1 - bias - m)
    mant = static_cast<uint32_t>(std::nearbyint(std::ldexp(a, fmt.bias - 1 + m)));
    biased = mant == (1u << m) ? 1 : 0;
    if (biased == 1) mant = 0;
  }
  return static_cast<uint8_t>(sign | (biased << m) | mant);
}

float Fp8ToFloat(uint8_t v, int exponent_bits) {
  const Fp8Format fmt = FormatOf(exponent_bits);
  const int m = fmt.mantissa_bits;
  float sign = (v & 0x80) ? -1.0f : 1.0f;
  int biased = (v >> m) & ((1 << (7 - m)) - 1);
  uint32_t mant = v & ((1u << m) - 1);
  if (biased == 0) return sign * std::ldexp(static_cast<float>(mant), 1 - fmt.bias - m);
  return sign * std::ldexp(1.0f + static_cast<float>(mant) / static_cast<float>(1 << m), biased - fmt.bias);
}

}  // namespace lightloop::memory_offload
