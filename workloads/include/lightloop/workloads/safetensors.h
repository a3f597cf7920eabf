// SPDX-License-Identifier: Apache-2.0
// Tensors in the safetensors format (Hugging Face): an 8-byte little-endian
// header length, a JSON header naming each tensor's dtype, shape and byte
// range (`__metadata__` is ignored), then the bytes. F32, F16 and BF16
// tensors are read as float32; any other dtype is an error naming the tensor.
// A sharded model (`model.safetensors.index.json` with a `weight_map` from
// tensor name to file) reads as one map. Writes go to `path.tmp`, then a
// rename: a reader never sees a half-written file.
//
//   LL_ASSIGN_OR_RETURN(TensorMap w, ReadSafetensorsDir("models/tiny"));
//   const Tensor& e = w.at("model.embed_tokens.weight");   // e.shape = {vocab, hidden}
//   LL_RETURN_IF_ERROR(WriteSafetensors("out.safetensors", w, Dtype::kBF16));
#pragma once

#include <bit>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lightloop/runtime/status.h"

namespace lightloop::workloads {

// The dtypes read and written; the names are safetensors' ("F32", ...).
enum class Dtype { kF32, kF16, kBF16 };
const char* DtypeName(Dtype dtype);
int64_t DtypeBytes(Dtype dtype);

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major, shape's product values
  int64_t numel() const;
};
using TensorMap = std::map<std::string, Tensor>;

// Every tensor of one file. Errors name the file and the tensor or key.
runtime::StatusOr<TensorMap> ReadSafetensors(const std::string& path);
// A model folder: `dir/model.safetensors.index.json` when it exists (each
// shard read once, only the tensors its weight_map assigns to it), else
// `dir/model.safetensors`.
runtime::StatusOr<TensorMap> ReadSafetensorsDir(const std::string& dir);
// Writes `tensors` (in name order) as `dtype`, rounding to nearest even.
// Each tensor's data size must match its shape.
runtime::Status WriteSafetensors(const std::string& path, const TensorMap& tensors,
                                 Dtype dtype = Dtype::kF32);

// Conversions. float -> half formats round to nearest, ties to even;
// overflow gives infinity, NaN stays a (quiet) NaN, F16 subnormals are exact.
inline float Bf16ToFloat(uint16_t h) {
  return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}
inline uint16_t FloatToBf16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
float F16ToFloat(uint16_t h);
uint16_t FloatToF16(float f);

}  // namespace lightloop::workloads
