// SPDX-License-Identifier: Apache-2.0
// Sampling and the random-weight model writer: everything seeded goes
// through splitmix64, so the same seed gives the same result everywhere.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>

#include "lightloop/workloads/llama.h"
#include "splitmix64.h"

namespace lightloop::workloads {
namespace {

namespace rt = lightloop::runtime;

// Uniform in [0, 1) with 53 random bits.
double Uniform(uint64_t& state) {
  return static_cast<double>(SplitMix64(state) >> 11) * 0x1p-53;
}

// Box-Muller, one value per call (std::normal_distribution differs between
// standard libraries).
double Normal(uint64_t& state) {
  const double u = 1.0 - Uniform(state), v = Uniform(state);
  return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * M_PI * v);
}

Tensor RandomTensor(std::vector<int64_t> shape, double mean, double stddev, uint64_t& state) {
  Tensor t{.shape = std::move(shape), .data = {}};
  t.data.resize(static_cast<size_t>(t.numel()));
  for (float& f : t.data) f = static_cast<float>(mean + stddev * Normal(state));
  return t;
}

nlohmann::json ConfigJson(const RandomModelSpec& s) {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", s.hidden_size},
          {"intermediate_size", s.intermediate_size},
          {"num_hidden_layers", s.layers},
          {"num_attention_heads", s.heads},
          {"num_key_value_heads", s.kv_heads},
          {"head_dim", s.head_dim},
          {"vocab_size", s.vocab_size},
          {"max_position_embeddings", 4096},
          {"rope_theta", s.rope_theta},
          {"rms_norm_eps", s.rms_norm_eps},
          {"hidden_act", "silu"},
          {"tie_word_embeddings", s.tie_word_embeddings},
          {"torch_dtype", s.dtype == Dtype::kF32   ? "float32"
                          : s.dtype == Dtype::kF16 ? "float16"
                                                   : "bfloat16"},
          {"_name_or_path", "lightloop-random-llama"}};
}

TensorMap RandomWeights(const RandomModelSpec& s) {
  uint64_t state = s.seed;
  const int64_t h = s.hidden_size, q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim,
                m = s.intermediate_size;
  auto linear = [&](int64_t out, int64_t in) {
    return RandomTensor({out, in}, 0.0, 1.0 / std::sqrt(static_cast<double>(in)), state);
  };
  auto norm = [&] { return RandomTensor({h}, 1.0, 0.1, state); };
  TensorMap w;
  w["model.embed_tokens.weight"] = RandomTensor({s.vocab_size, h}, 0.0, 1.0, state);
  for (int64_t i = 0; i < s.layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    w[p + "input_layernorm.weight"] = norm();
    w[p + "self_attn.q_proj.weight"] = linear(q, h);
    w[p + "self_attn.k_proj.weight"] = linear(kv, h);
    w[p + "self_attn.v_proj.weight"] = linear(kv, h);
    w[p + "self_attn.o_proj.weight"] = linear(h, q);
    w[p + "post_attention_layernorm.weight"] = norm();
    w[p + "mlp.gate_proj.weight"] = linear(m, h);
    w[p + "mlp.up_proj.weight"] = linear(m, h);
    w[p + "mlp.down_proj.weight"] = linear(h, m);
  }
  w["model.norm.weight"] = norm();
  if (!s.tie_word_embeddings) w["lm_head.weight"] = linear(s.vocab_size, h);
  return w;
}

}  // namespace

int32_t Greedy(std::span<const float> logits) {
  // max_element keeps the first of equal values: the lowest index.
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

int32_t Sample(std::span<const float> logits, float temperature, int top_k, uint64_t& rng_state) {
  if (temperature <= 0.0f || logits.size() <= 1) return Greedy(logits);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  const size_t k = top_k <= 0 ? order.size() : std::min(order.size(), static_cast<size_t>(top_k));
  std::partial_sort(
      order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
      [&](int32_t a, int32_t b) { return logits[a] != logits[b] ? logits[a] > logits[b] : a < b; });
  std::vector<double> weight(k);
  double total = 0;
  for (size_t i = 0; i < k; ++i) {
    weight[i] = std::exp((static_cast<double>(logits[order[i]]) - logits[order[0]]) / temperature);
    total += weight[i];
  }
  double u = Uniform(rng_state) * total;
  for (size_t i = 0; i < k; ++i) {
    if (u < weight[i]) return order[i];
    u -= weight[i];
  }
  return order[k - 1];
}

rt::Status WriteRandomModel(const std::string& dir, const RandomModelSpec& spec) {
  if (spec.heads % spec.kv_heads != 0 || spec.head_dim % 2 != 0) {
    return rt::InvalidArgument(dir + ": heads must be a multiple of kv_heads and head_dim even");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return rt::PermissionDenied(dir + ": cannot create: " + ec.message());
  const std::filesystem::path d(dir);
  LL_RETURN_IF_ERROR(WriteSafetensors((d / "model.safetensors").string(), RandomWeights(spec), spec.dtype));
  const std::string config = ConfigJson(spec).dump(2) + "\n";
  const std::string tmp = (d / "config.json.tmp").string();
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return rt::PermissionDenied(tmp + ": cannot create");
  const bool ok = std::fwrite(config.data(), 1, config.size(), f) == config.size();
  if (std::fclose(f) != 0 || !ok || std::rename(tmp.c_str(), (d / "config.json").c_str()) != 0) {
    std::remove(tmp.c_str());
    return rt::Internal((d / "config.json").string() + ": write failed");
  }
  return rt::Status::Ok();
}

}  // namespace lightloop::workloads
