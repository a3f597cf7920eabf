// SPDX-License-Identifier: Apache-2.0
#include "lightloop/workloads/accelerator.h"

#include <fstream>
#include <nlohmann/json.hpp>

namespace lightloop::workloads {
namespace {

namespace rt = lightloop::runtime;

// FLOPs of attention for one token over `context` tokens: QK^T and AV,
// 2 x heads x head_dim each, per layer.
double AttentionFlops(const ModelShape& m, double context) {
  return 4.0 * static_cast<double>(m.layers * m.heads * m.head_dim) * context;
}

}  // namespace

rt::StatusOr<Accelerator> ReadAccelerator(const std::string& path) {
  std::ifstream in(path);
  if (!in) return rt::NotFound(path + ": cannot open the accelerator preset");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return rt::InvalidArgument(path + ": not a JSON object");
  for (const char* key : {"bf16_tflops", "fp8_tflops", "hbm_tb_s", "hbm_gb"}) {
    if (!j.contains(key) || !j[key].is_number() || j[key].get<double>() <= 0) {
      return rt::InvalidArgument(path + ": key '" + key + "' must be a positive number");
    }
  }
  Accelerator a;
  a.name = j.value("name", path);
  a.bf16_flops = j["bf16_tflops"].get<double>() * 1e12;
  a.fp8_flops = j["fp8_tflops"].get<double>() * 1e12;
  a.hbm_bytes_per_s = j["hbm_tb_s"].get<double>() * 1e12;
  a.hbm_bytes = j["hbm_gb"].get<double>() * 1e9;
  return a;
}

StepCost Roofline(const ModelShape& m, const Accelerator& a, double flops, double bytes) {
  StepCost c;
  c.flops = flops;
  c.bytes = bytes;
  double peak = m.dtype_bytes == 1 ? a.fp8_flops : a.bf16_flops;
  double compute_s = flops / peak, memory_s = bytes / a.hbm_bytes_per_s;
  c.memory_bound = memory_s >= compute_s;
  c.seconds = std::max(compute_s, memory_s);
  return c;
}

StepCost DecodeStep(const ModelShape& m, const Accelerator& a, const std::vector<uint64_t>& contexts) {
  double tokens = static_cast<double>(contexts.size()), flops = 0, kv = 0;
  for (uint64_t ctx : contexts) {
    flops += AttentionFlops(m, static_cast<double>(ctx));
    kv += static_cast<double>(m.kv_bytes_per_token()) * static_cast<double>(ctx + 1);  // read all, write one
  }
  flops += 2.0 * static_cast<double>(m.active_parameters()) * tokens;
  double weights = static_cast<double>(m.active_parameters() * static_cast<uint64_t>(m.dtype_bytes));
  return Roofline(m, a, flops, weights + kv);
}

StepCost PrefillStep(const ModelShape& m, const Accelerator& a, uint64_t tokens, uint64_t cached) {
  double n = static_cast<double>(tokens), c = static_cast<double>(cached);
  // Token i (0-based) attends to cached + i + 1 tokens: the sum is n * cached + n (n + 1) / 2.
  double attention = AttentionFlops(m, c * n + n * (n + 1) / 2);
  double flops = 2.0 * static_cast<double>(m.active_parameters()) * n + attention;
  double weights = static_cast<double>(m.active_parameters() * static_cast<uint64_t>(m.dtype_bytes));
  double kv = static_cast<double>(m.kv_bytes_per_token()) * (c + n);  // read the cached, write the new
  return Roofline(m, a, flops, weights + kv);
}

StepCost BatchStep(const ModelShape& m, const Accelerator& a, const std::vector<StepWork>& work) {
  double flops = 0, kv = 0, tokens = 0;
  for (const StepWork& w : work) {
    double n = static_cast<double>(w.tokens), c = static_cast<double>(w.cached);
    tokens += n;
    flops += AttentionFlops(m, c * n + n * (n + 1) / 2);
    kv += static_cast<double>(m.kv_bytes_per_token()) * (c + n);
  }
  flops += 2.0 * static_cast<double>(m.active_parameters()) * tokens;
  double weights =
      work.empty() ? 0 : static_cast<double>(m.active_parameters() * static_cast<uint64_t>(m.dtype_bytes));
  return Roofline(m, a, flops, weights + kv);
}

Accelerator Replicate(const Accelerator& a, int count) {
  if (count <= 1) return a;
  Accelerator r = a;
  r.name = std::to_string(count) + " x " + a.name;
  r.bf16_flops *= count;
  r.fp8_flops *= count;
  r.hbm_bytes_per_s *= count;
  r.hbm_bytes *= count;
  return r;
}

}  // namespace lightloop::workloads
