// SPDX-License-Identifier: Apache-2.0
// The accelerator of shape mode: a roofline. A step's compute time is the
// longer of its FLOPs at the peak for its dtype and its HBM bytes at the
// memory bandwidth. Presets in workloads/accelerators/ (H100 SXM, H200,
// MI300X) carry their datasheet sources.
//
//   LL_ASSIGN_OR_RETURN(Accelerator h100, ReadAccelerator("workloads/accelerators/h100-sxm.json"));
//   StepCost c = DecodeStep(llama8b, h100, {1024, 2048});   // two sequences decoding
//   double seconds = c.seconds;
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lightloop/runtime/status.h"
#include "lightloop/workloads/model_shape.h"

namespace lightloop::workloads {

struct Accelerator {
  std::string name;
  double bf16_flops = 0;  // per second, dense
  double fp8_flops = 0;
  double hbm_bytes_per_s = 0;
  double hbm_bytes = 0;
};

runtime::StatusOr<Accelerator> ReadAccelerator(const std::string& path);

struct StepCost {
  double flops = 0;
  double bytes = 0;  // HBM traffic: weights once, KV read (and written)
  double seconds = 0;
  bool memory_bound = false;
};

// The roofline of `flops` and `bytes` for the model's dtype.
StepCost Roofline(const ModelShape& m, const Accelerator& a, double flops, double bytes);
// One decode step: a token for each sequence, `contexts` the tokens each
// attends to.
StepCost DecodeStep(const ModelShape& m, const Accelerator& a, const std::vector<uint64_t>& contexts);
// Prefill of `tokens` new tokens after `cached` tokens already in the KV cache.
StepCost PrefillStep(const ModelShape& m, const Accelerator& a, uint64_t tokens, uint64_t cached = 0);

// One step of continuous batching: each sequence computes `tokens` new
// tokens after `cached` (a decode is {1, context}, a prefill chunk
// {chunk, done so far}); the weights are read once for the whole batch.
struct StepWork {
  uint64_t tokens = 0;
  uint64_t cached = 0;
};
StepCost BatchStep(const ModelShape& m, const Accelerator& a, const std::vector<StepWork>& work);

// `count` accelerators serving one model (tensor parallel): FLOP/s, HBM
// bandwidth and capacity times count; the name says so.
Accelerator Replicate(const Accelerator& a, int count);

}  // namespace lightloop::workloads
