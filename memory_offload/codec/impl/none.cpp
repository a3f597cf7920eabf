// SPDX-License-Identifier: Apache-2.0
// `none`: the block's bytes as they are.
#include <cstring>

#include "lightloop/memory_offload/kv_codec.h"

namespace lightloop::memory_offload {
namespace {

class NoCodec : public KvCodec {
 public:
  bool lossless() const override { return true; }
  size_t EncodedBytes(size_t values) const override { return values * 2; }
  void Encode(const uint16_t* in, size_t values, unsigned char* out) const override {
    std::memcpy(out, in, values * 2);
  }
  void Decode(const unsigned char* in, size_t values, uint16_t* out) const override {
    std::memcpy(out, in, values * 2);
  }
};

}  // namespace

LIGHTLOOP_REGISTER_KV_CODEC("none", NoCodec);

}  // namespace lightloop::memory_offload
